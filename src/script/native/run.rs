//! Evaluating the subset's tree on one lead, as Rhai would; [`Bail`] wherever Rhai
//! would fail or do something not reproduced here.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::rc::Rc;

use super::{Bail, Expr, Flow, Helper, Method, NativeFn, Op, Stmt, Truth, Val};
use crate::date::Date;
use crate::lead::Value;

/// Variables a run keeps on the stack; a function with more has them on the heap.
pub(super) const INLINE_LOCALS: usize = 8;

/// One run of a function on one lead.
pub(super) struct Run<'a, 'v, 'r> {
    pub function: &'a NativeFn,
    pub values: &'a [Option<Cow<'v, Value>>],
    pub as_of: Date,
    pub locals: &'r mut [Val<'a>],
}

impl<'a> Run<'a, '_, '_> {
    pub fn block(&mut self, block: &'a [Stmt]) -> Result<Flow<'a>, Bail> {
        let mut last = Val::Unit;
        for stmt in block {
            last = match stmt {
                Stmt::Nothing => Val::Unit,
                Stmt::Expr(e) => self.expr(e)?,
                Stmt::Let(slot, e) => {
                    let value = self.expr(e)?;
                    self.set(*slot, value)?;
                    Val::Unit
                }
                Stmt::Assign(slot, op, e) => {
                    let value = self.expr(e)?;
                    let value = match op {
                        None => value,
                        Some(op) => {
                            let old = self.locals.get(*slot).ok_or(Bail)?.clone();
                            self.arithmetic(*op, old, value)?
                        }
                    };
                    self.set(*slot, value)?;
                    Val::Unit
                }
                Stmt::If(parts) => {
                    let (cond, then, otherwise) = &**parts;
                    let branch = match self.expr(cond)?.as_bool() {
                        Some(true) => then,
                        Some(false) => otherwise,
                        None => return Err(Bail),
                    };
                    match self.block(branch)? {
                        Flow::Value(v) => v,
                        done @ Flow::Return(_) => return Ok(done),
                    }
                }
                Stmt::For(slot, parts) => {
                    let (items, body) = &**parts;
                    match self.expr(items)? {
                        Val::Array(items) => {
                            for item in items.iter() {
                                self.set(*slot, item.clone())?;
                                if let done @ Flow::Return(_) = self.block(body)? {
                                    return Ok(done);
                                }
                            }
                        }
                        Val::Texts(items) => {
                            for item in items {
                                self.set(*slot, Val::Literal(item))?;
                                if let done @ Flow::Return(_) = self.block(body)? {
                                    return Ok(done);
                                }
                            }
                        }
                        _ => return Err(Bail),
                    }
                    Val::Unit
                }
                Stmt::Return(value) => {
                    let value = match value {
                        Some(e) => self.expr(e)?,
                        None => Val::Unit,
                    };
                    return Ok(Flow::Return(value));
                }
            };
        }
        Ok(Flow::Value(last))
    }

    fn set(&mut self, slot: usize, value: Val<'a>) -> Result<(), Bail> {
        *self.locals.get_mut(slot).ok_or(Bail)? = value;
        Ok(())
    }

    fn expr(&mut self, expr: &'a Expr) -> Result<Val<'a>, Bail> {
        Ok(match expr {
            Expr::Unit => Val::Unit,
            Expr::Bool(b) => Val::bool(*b),
            Expr::Int(n) => Val::Int(*n),
            Expr::Float(x) => Val::float(*x),
            Expr::Str(s) => Val::Literal(s),
            Expr::Local(slot) => self.locals.get(*slot).ok_or(Bail)?.clone(),
            Expr::Field(index) => self.field(*index)?,
            Expr::Not(e) => match self.expr(e)?.as_bool() {
                Some(b) => Val::bool(!b),
                None => return Err(Bail),
            },
            Expr::Neg(e) => match self.expr(e)? {
                Val::Int(n) => Val::Int(n.checked_neg().ok_or(Bail)?),
                other => Val::float(-other.as_f64().ok_or(Bail)?),
            },
            Expr::Binary(op, pair) => {
                let lhs = self.operand(&pair.0)?;
                let rhs = self.operand(&pair.1)?;
                self.binary(*op, lhs, rhs)?
            }
            // `&&` stops at the first false, `||` at the first true.
            Expr::And(parts) => self.short_circuit(parts, false)?,
            Expr::Or(parts) => self.short_circuit(parts, true)?,
            Expr::Coalesce(parts) => {
                let mut value = Val::Unit;
                for part in parts.iter() {
                    value = self.expr(part)?;
                    if !matches!(value, Val::Unit) {
                        break;
                    }
                }
                value
            }
            Expr::Method(method, receiver, args) => {
                let receiver = self.operand(receiver)?;
                let arg = match args.first() {
                    Some(a) => Some(self.operand(a)?),
                    None => None,
                };
                if let (Method::SubString, Some(length)) = (method, args.get(1)) {
                    let length = self.expr(length)?;
                    self.sub_string(receiver, arg, Some(length))?
                } else {
                    self.method(*method, receiver, arg)?
                }
            }
            Expr::Helper(helper, args) => {
                let arg = match args.first() {
                    Some(a) => Some(self.expr(a)?),
                    None => None,
                };
                self.helper(*helper, arg)?
            }
            Expr::Interpolated(parts) => {
                let mut text = String::with_capacity(64);
                for part in parts.iter() {
                    let part = self.expr(part)?;
                    match part {
                        // What `{n}` writes, without the formatting machinery.
                        Val::Int(n) => text.push_str(itoa::Buffer::new().format(n)),
                        Val::Float(_) => {
                            let x = part.as_f64().ok_or(Bail)?;
                            let _ = write!(text, "{}", rhai::FloatWrapper::new(x));
                        }
                        Val::Bool(t) => {
                            text.push_str(if t == Truth::True { "true" } else { "false" })
                        }
                        Val::Unit => {}
                        _ => text.push_str(part.text().ok_or(Bail)?),
                    }
                }
                self.made(text)?
            }
            Expr::Texts(items) => self.check_data(Val::Texts(items))?,
            Expr::Array(items) => {
                let items = items
                    .iter()
                    .map(|i| self.expr(i))
                    .collect::<Result<Vec<_>, _>>()?;
                self.check_data(Val::Array(Rc::new(items)))?
            }
            Expr::Map(entries) => {
                let entries = entries
                    .iter()
                    .map(|(key, e)| Ok((&**key, self.expr(e)?)))
                    .collect::<Result<Vec<_>, _>>()?;
                self.check_data(Val::Map(Rc::new(entries)))?
            }
            Expr::Block(block) => match self.block(block)? {
                Flow::Value(v) => v,
                // A `return` inside a block used as a value ends the whole function:
                // rare enough to leave to Rhai.
                Flow::Return(_) => return Err(Bail),
            },
        })
    }

    /// [`Run::expr`] with its commonest operands, literals and variables, read in place:
    /// most sides of a comparison and most method arguments and receivers are one, and
    /// a call to `expr` costs more than reading them.
    #[inline(always)]
    fn operand(&mut self, expr: &'a Expr) -> Result<Val<'a>, Bail> {
        match expr {
            Expr::Int(n) => Ok(Val::Int(*n)),
            Expr::Str(s) => Ok(Val::Literal(s)),
            Expr::Local(slot) => self.locals.get(*slot).cloned().ok_or(Bail),
            other => self.expr(other),
        }
    }

    /// A field's value as the Rhai view of the lead holds it: missing and null are `()`.
    fn field(&self, index: usize) -> Result<Val<'a>, Bail> {
        let slot = *self.function.slots.get(index).ok_or(Bail)?;
        let values: &'a [Option<Cow<'_, Value>>] = self.values;
        let value = match values.get(slot).and_then(|v| v.as_deref()) {
            None | Some(Value::Null) => return Ok(Val::Unit),
            Some(value) => value,
        };
        Ok(match value {
            Value::Bool(b) => Val::bool(*b),
            Value::Int(n) => Val::Int(*n),
            Value::Float(x) => Val::float(*x),
            Value::Text(s) => {
                self.check_size(s.len())?;
                Val::Field(s)
            }
            _ => return Err(Bail),
        })
    }

    fn check_size(&self, len: usize) -> Result<(), Bail> {
        let limit = self.function.limits.max_string_size;
        if limit > 0 && len > limit {
            Err(Bail)
        } else {
            Ok(())
        }
    }

    /// Rhai's check on an array or map it builds: the items and entries inside it, and
    /// the bytes of all its text, each within its limit.
    fn check_data(&self, value: Val<'a>) -> Result<Val<'a>, Bail> {
        let (items, entries, bytes) = data_size(&value);
        // At the limit already counts as over: Rhai's checks differ by one from place to
        // place, and leaving a run to Rhai is always safe.
        let over = |size: usize, limit: usize| limit > 0 && size >= limit;
        let limits = &self.function.limits;
        if over(items, limits.max_array_size)
            || over(entries, limits.max_map_size)
            || over(bytes, limits.max_string_size)
        {
            return Err(Bail);
        }
        Ok(value)
    }

    fn made(&self, text: String) -> Result<Val<'a>, Bail> {
        self.check_size(text.len())?;
        Ok(Val::Made(Rc::new(text)))
    }

    fn binary(&self, op: Op, lhs: Val<'a>, rhs: Val<'a>) -> Result<Val<'a>, Bail> {
        use std::cmp::Ordering;
        // Two integers, two texts, and `()` against anything: what the general path
        // below decides for them, without its checks for floats and mixed kinds.
        let order = match (&lhs, &rhs) {
            (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
            (Val::Unit, other) | (other, Val::Unit) => return unit_comparison(op, other),
            _ => match (lhs.text(), rhs.text()) {
                (Some(a), Some(b)) => Some(a.cmp(b)),
                _ => None,
            },
        };
        if let Some(order) = order {
            let holds = match op {
                Op::Eq => order.is_eq(),
                Op::Ne => order.is_ne(),
                Op::Lt => order.is_lt(),
                Op::Le => order.is_le(),
                Op::Gt => order.is_gt(),
                Op::Ge => order.is_ge(),
                Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Rem => {
                    return self.arithmetic(op, lhs, rhs);
                }
            };
            return Ok(Val::bool(holds));
        }
        // Rhai compares infinities and NaN in ways of its own (infinity is not above 10):
        // left to it.
        if [&lhs, &rhs]
            .iter()
            .any(|v| v.as_f64().is_some_and(|x| !x.is_finite()))
        {
            return Err(Bail);
        }
        let order = match (&lhs, &rhs) {
            (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
            _ => match (as_float(&lhs), as_float(&rhs)) {
                (Some(a), Some(b)) => Some(tolerant_order(a, b)),
                _ => match (lhs.text(), rhs.text()) {
                    (Some(a), Some(b)) => Some(a.cmp(b)),
                    _ => None,
                },
            },
        };
        let compare = |wanted: fn(Ordering) -> bool| -> Result<Val<'a>, Bail> {
            match order {
                Some(o) => Ok(Val::bool(wanted(o))),
                None if same_kind(&lhs, &rhs) => Err(Bail),
                // Values of different types are never equal, and never order.
                None => Ok(Val::bool(false)),
            }
        };
        match op {
            Op::Eq | Op::Ne => {
                let equal = match (&lhs, &rhs) {
                    (Val::Unit, Val::Unit) => true,
                    (Val::Bool(a), Val::Bool(b)) => a == b,
                    _ if order.is_some() => order == Some(Ordering::Equal),
                    _ if same_kind(&lhs, &rhs) => return Err(Bail),
                    _ => false,
                };
                Ok(Val::bool(equal == (op == Op::Eq)))
            }
            Op::Lt => compare(Ordering::is_lt),
            Op::Le => compare(Ordering::is_le),
            Op::Gt => compare(Ordering::is_gt),
            Op::Ge => compare(Ordering::is_ge),
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Rem => self.arithmetic(op, lhs, rhs),
        }
    }

    fn arithmetic(&self, op: Op, lhs: Val<'a>, rhs: Val<'a>) -> Result<Val<'a>, Bail> {
        if op == Op::Add
            && let (Some(a), Some(b)) = (lhs.text(), rhs.text())
        {
            let mut text = String::with_capacity(a.len() + b.len());
            text.push_str(a);
            text.push_str(b);
            return self.made(text);
        }
        match (lhs, rhs) {
            (Val::Int(a), Val::Int(b)) => {
                let n = match op {
                    Op::Add => a.checked_add(b),
                    Op::Sub => a.checked_sub(b),
                    Op::Mul => a.checked_mul(b),
                    Op::Div => a.checked_div(b),
                    Op::Rem => a.checked_rem(b),
                    _ => None,
                };
                n.map(Val::Int).ok_or(Bail)
            }
            (a, b) => {
                let (Some(a), Some(b)) = (as_float(&a), as_float(&b)) else {
                    return Err(Bail);
                };
                if matches!(op, Op::Div | Op::Rem) && b == 0.0 {
                    return Err(Bail);
                }
                let x = match op {
                    Op::Add => a + b,
                    Op::Sub => a - b,
                    Op::Mul => a * b,
                    Op::Div => a / b,
                    _ => a % b,
                };
                if x.is_finite() {
                    Ok(Val::float(x))
                } else {
                    Err(Bail)
                }
            }
        }
    }

    /// Booleans evaluated in order until one equals `stop`, which is the result;
    /// `!stop` when none does. Anything but a boolean is left to Rhai.
    fn short_circuit(&mut self, parts: &'a [Expr], stop: bool) -> Result<Val<'a>, Bail> {
        for part in parts {
            match self.expr(part)?.as_bool() {
                Some(b) if b == stop => return Ok(Val::bool(stop)),
                Some(_) => {}
                None => return Err(Bail),
            }
        }
        Ok(Val::bool(!stop))
    }

    fn method(
        &self,
        method: Method,
        receiver: Val<'a>,
        arg: Option<Val<'a>>,
    ) -> Result<Val<'a>, Bail> {
        if let Val::Array(_) | Val::Texts(_) = receiver {
            return match (method, arg) {
                (Method::Contains, Some(item)) => self.array_contains(&receiver, item),
                _ => Err(Bail),
            };
        }
        if let Some(x) = receiver.as_f64() {
            return match method {
                Method::Abs => Ok(Val::float(x.abs())),
                // Rhai's range check: values beyond i64 are an overflow error.
                Method::ToInt if x >= i64::MIN as f64 && x <= i64::MAX as f64 => {
                    Ok(Val::Int(x.trunc() as i64))
                }
                Method::ToFloat => Ok(Val::float(x)),
                _ => Err(Bail),
            };
        }
        if let Val::Int(n) = receiver {
            return match method {
                Method::Abs => n.checked_abs().map(Val::Int).ok_or(Bail),
                Method::ToInt => Ok(Val::Int(n)),
                Method::ToFloat => Ok(Val::float(n as f64)),
                _ => Err(Bail),
            };
        }
        let Some(text) = receiver.text() else {
            return Err(Bail);
        };
        let text_arg = || arg.as_ref().and_then(Val::text).ok_or(Bail);
        Ok(match method {
            // Text without capitals is its own lower case: no copy (Rhai's result is
            // the same text).
            Method::ToLower if text.is_ascii() && !text.bytes().any(|b| b.is_ascii_uppercase()) => {
                receiver
            }
            // ASCII text's cases are ASCII's: the same text, without Unicode's tables.
            Method::ToLower if text.is_ascii() => self.made(text.to_ascii_lowercase())?,
            Method::ToLower => self.made(text.to_lowercase())?,
            Method::ToUpper if text.is_ascii() => self.made(text.to_ascii_uppercase())?,
            Method::ToUpper => self.made(text.to_uppercase())?,
            Method::Len => Val::Int(i64::try_from(char_count(text)).map_err(|_| Bail)?),
            Method::IsEmpty => Val::bool(text.is_empty()),
            Method::Contains => Val::bool(find_text(text, text_arg()?).is_some()),
            Method::StartsWith => Val::bool(text.starts_with(text_arg()?)),
            Method::EndsWith => Val::bool(text.ends_with(text_arg()?)),
            Method::IndexOf => {
                let needle = text_arg()?;
                Val::Int(match find_text(text, needle) {
                    // Nothing is found in empty text, not even empty text.
                    Some(_) if text.is_empty() => -1,
                    Some(at) => i64::try_from(char_count(&text[..at])).map_err(|_| Bail)?,
                    None => -1,
                })
            }
            Method::SubString => self.sub_string(receiver.clone(), arg, None)?,
            Method::ToInt | Method::ToFloat | Method::Abs => return Err(Bail),
        })
    }

    /// `text.sub_string(start)` and `text.sub_string(start, length)`, in characters: a
    /// start below 0 counts from the end, and what lies beyond the text is left out.
    fn sub_string(
        &self,
        text: Val<'a>,
        start: Option<Val<'a>>,
        length: Option<Val<'a>>,
    ) -> Result<Val<'a>, Bail> {
        let (Some(whole), Some(Val::Int(start))) = (text.text(), start) else {
            return Err(Bail);
        };
        let length = match length {
            None => None,
            Some(Val::Int(n)) => Some(n),
            Some(_) => return Err(Bail),
        };
        let empty = Val::Empty;
        if length.is_some_and(|n| n <= 0) {
            return Ok(empty);
        }
        let count = i64::try_from(char_count(whole)).map_err(|_| Bail)?;
        let from = if start < 0 {
            count.saturating_add(start).max(0)
        } else {
            start
        };
        if from >= count {
            return Ok(empty);
        }
        let to = match length {
            Some(n) => from.saturating_add(n).min(count),
            None => count,
        };
        let at = byte_offset(whole, usize::try_from(from).map_err(|_| Bail)?);
        let end = at + byte_offset(&whole[at..], usize::try_from(to - from).map_err(|_| Bail)?);
        if at == 0 && end == whole.len() {
            return Ok(text);
        }
        self.made(whole[at..end].to_string())
    }

    /// `item in array`: whether any item is `==` to it, as Rhai compares.
    fn array_contains(&self, array: &Val<'a>, item: Val<'a>) -> Result<Val<'a>, Bail> {
        let equal = |candidate: Val<'a>| {
            self.binary(Op::Eq, candidate, item.clone())
                .map(|v| v.as_bool() == Some(true))
        };
        match array {
            Val::Array(items) => {
                for candidate in items.iter() {
                    if equal(candidate.clone())? {
                        return Ok(Val::bool(true));
                    }
                }
            }
            Val::Texts(items) => {
                for candidate in items.iter() {
                    if equal(Val::Literal(candidate))? {
                        return Ok(Val::bool(true));
                    }
                }
            }
            _ => return Err(Bail),
        }
        Ok(Val::bool(false))
    }

    fn helper(&self, helper: Helper, arg: Option<Val<'a>>) -> Result<Val<'a>, Bail> {
        Ok(match (helper, arg) {
            (Helper::AsOf, None) => self.made(self.as_of.to_string())?,
            (Helper::DaysSince, Some(Val::Unit)) => Val::Unit,
            (Helper::DaysSince, Some(date)) => match Date::parse(date.text().ok_or(Bail)?) {
                Some(then) => Val::Int(self.as_of.days_since(then)),
                None => Val::Unit,
            },
            (Helper::IsBlank, Some(Val::Unit)) => Val::bool(true),
            (Helper::IsBlank, Some(text)) => Val::bool(text.text().ok_or(Bail)?.trim().is_empty()),
            _ => return Err(Bail),
        })
    }
}

/// A comparison of `()` with `other`, as the general path of [`Run::binary`] decides it:
/// `()` equals only `()` and orders with nothing; `()` against `()` in order, and a float
/// that is not finite, are left to Rhai.
fn unit_comparison<'a>(op: Op, other: &Val<'a>) -> Result<Val<'a>, Bail> {
    if other.as_f64().is_some_and(|x| !x.is_finite()) {
        return Err(Bail);
    }
    let both = matches!(other, Val::Unit);
    match op {
        Op::Eq => Ok(Val::bool(both)),
        Op::Ne => Ok(Val::bool(!both)),
        Op::Lt | Op::Le | Op::Gt | Op::Ge if !both => Ok(Val::bool(false)),
        _ => Err(Bail),
    }
}

/// How Rhai orders two numbers when one is a float: equal when they differ by at most
/// one machine epsilon relative to the larger magnitude (absolute when either is 0), so
/// `0.1 + 0.2 == 0.3`. Both are finite here.
fn tolerant_order(x: f64, y: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let scale = if x * y == 0.0 {
        1.0
    } else {
        x.abs().max(y.abs())
    };
    let difference = (x - y) / scale;
    if difference > f64::EPSILON {
        Ordering::Greater
    } else if difference < -f64::EPSILON {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

/// Items of arrays, entries of maps and bytes of text in a value, nested ones included.
fn data_size(value: &Val<'_>) -> (usize, usize, usize) {
    let add =
        |a: (usize, usize, usize), b: (usize, usize, usize)| (a.0 + b.0, a.1 + b.1, a.2 + b.2);
    match value {
        Val::Empty | Val::Literal(_) | Val::Field(_) | Val::Made(_) => {
            (0, 0, value.text().map_or(0, str::len))
        }
        Val::Array(items) => items.iter().map(data_size).fold((items.len(), 0, 0), add),
        Val::Texts(items) => (items.len(), 0, items.iter().map(|s| s.len()).sum()),
        Val::Map(entries) => entries
            .iter()
            .map(|(_, v)| data_size(v))
            .fold((0, entries.len(), 0), add),
        Val::Unit | Val::Bool(_) | Val::Int(_) | Val::Float(_) => (0, 0, 0),
    }
}

/// Where `needle` first starts in `text`, in bytes, as `str::find` says: `memchr` for a
/// needle of one byte; for a longer one, each place of its first byte compared in turn
/// in short text, `memmem` in long text. `str::find` sets up a two-way searcher on every
/// call, which costs more than searching an email. A match of valid UTF-8 in valid UTF-8
/// always starts on a character boundary.
fn find_text(text: &str, needle: &str) -> Option<usize> {
    let haystack = text.as_bytes();
    match needle.as_bytes() {
        [] => Some(0),
        [byte] => memchr::memchr(*byte, haystack),
        // Short text (an email, a company): where the first byte is, compared there.
        [first, rest @ ..] if haystack.len() <= SHORT_TEXT => {
            let mut from = 0;
            while let Some(at) = memchr::memchr(*first, &haystack[from..]) {
                let at = from + at;
                if haystack[at + 1..].starts_with(rest) {
                    return Some(at);
                }
                from = at + 1;
            }
            None
        }
        bytes => memchr::memmem::find(haystack, bytes),
    }
}

/// Text up to this long is searched byte by byte for a needle's first byte: at most this
/// many comparisons, each of the needle's length, cheaper than a searcher's set-up.
const SHORT_TEXT: usize = 64;

/// Characters in text (Rhai counts characters, not bytes).
fn char_count(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

/// Where the character numbered `chars` starts, in bytes (the end when there are fewer).
fn byte_offset(text: &str, chars: usize) -> usize {
    if text.is_ascii() {
        chars.min(text.len())
    } else {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(at, _)| at)
    }
}

fn as_float(value: &Val<'_>) -> Option<f64> {
    match value {
        Val::Int(n) => Some(*n as f64),
        Val::Float(_) => value.as_f64(),
        _ => None,
    }
}

/// True when both values are of a kind whose comparison Rhai decides by itself (two
/// arrays, two maps, a float that is not a number): left to Rhai.
fn same_kind(lhs: &Val<'_>, rhs: &Val<'_>) -> bool {
    let array = |v: &Val<'_>| matches!(v, Val::Array(_) | Val::Texts(_));
    std::mem::discriminant(lhs) == std::mem::discriminant(rhs)
        || (as_float(lhs).is_some() && as_float(rhs).is_some())
        || (lhs.text().is_some() && rhs.text().is_some())
        || (array(lhs) && array(rhs))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::find_text;

    proptest! {
        /// Short and long text, needles of every length, from an alphabet small enough
        /// for near misses and with characters of two and three bytes.
        #[test]
        fn finding_text_agrees_with_str_find(
            text in "[ab@.é€]{0,150}",
            needle in "[ab@.é€]{0,5}",
        ) {
            prop_assert_eq!(find_text(&text, &needle), text.find(needle.as_str()));
        }
    }
}

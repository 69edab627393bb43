//! Rhai functions run without the Rhai interpreter.
//!
//! Most rules users write in Rhai read a few fields, compare them, call a string method
//! or two and return a map. Rhai runs such a rule by walking its syntax tree with
//! dynamic values: every call resolves its function by hash, every value is boxed, and
//! the lead is a map looked up by name. That is most of the cost of a rule folder with
//! Rhai in it (about two thirds of the instructions per lead on
//! `benches/models/heavy`).
//!
//! [`NativeFn::compile`] (`compile.rs`) translates a function whose every statement and
//! expression is in a small, closed subset (listed on [`Expr`] and [`Stmt`]) into a tree
//! of its own, with variables and fields resolved to indexes and methods to an enum;
//! anything outside the subset leaves the function to Rhai. [`NativeFn::run_rule`]
//! (`run.rs`) evaluates it on the lead's values where they lie.
//!
//! The subset only ever gives what Rhai would. Wherever Rhai would fail or do something
//! not reproduced here (an overflow, a method on a type it does not handle, a sandbox
//! limit in reach), the run stops with [`Bail`] and the caller runs the function in
//! Rhai, which gives the result or the error, worded as always. The tests (`tests.rs`)
//! run both over the same scripts, random programs and leads.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use rhai::AST;

use super::{Limits, ScriptOutcome};
use crate::date::Date;
use crate::lead::{Slot, Value};

mod compile;
mod run;
#[cfg(test)]
mod tests;

/// The run met something only Rhai does: run the function in Rhai instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bail;

/// A Rhai function translated into the subset this module evaluates.
#[derive(Debug)]
pub(crate) struct NativeFn {
    body: Block,
    /// Local variables, counted (each `let` and `for` has a slot of its own).
    locals: usize,
    /// The lead fields read, by the names the script uses.
    fields: Vec<String>,
    /// Their slots, once resolved ([`NativeFn::resolve`]).
    slots: Vec<Slot>,
    /// The sandbox's size limits: a run that comes to one leaves the call to Rhai, which
    /// enforces them.
    limits: Limits,
}

type Block = Box<[Stmt]>;

/// Statements of the subset.
#[derive(Debug)]
enum Stmt {
    /// `let name = value;`
    Let(usize, Expr),
    /// `name = value;`, or `name += value;` and the like with the operator.
    Assign(usize, Option<Op>, Expr),
    /// `if cond { } else { }`: an `if` without `else` has an empty branch.
    If(Box<(Expr, Block, Block)>),
    /// `for name in array { }`
    For(usize, Box<(Expr, Block)>),
    /// `return value;` or `return;`
    Return(Option<Expr>),
    /// An expression; its value is the block's if it comes last.
    Expr(Expr),
    /// An empty statement.
    Nothing,
}

/// Expressions of the subset.
#[derive(Debug)]
enum Expr {
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A text literal, shared: a rule's `signals` and `score` take it without a copy.
    Str(Arc<str>),
    Local(usize),
    /// `lead.name` or `lead["name"]`: an index into [`NativeFn::fields`].
    Field(usize),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(Op, Box<(Expr, Expr)>),
    And(Box<[Expr]>),
    Or(Box<[Expr]>),
    /// `a ?? b`: the first value that is not `()`.
    Coalesce(Box<[Expr]>),
    /// `receiver.method(args)`; `item in container` is `container.contains(item)`.
    Method(Method, Box<Expr>, Box<[Expr]>),
    /// `days_since(date)`, `is_blank(text)`, `as_of()`.
    Helper(Helper, Box<[Expr]>),
    /// `` `text ${value} text` ``.
    Interpolated(Box<[Expr]>),
    Array(Box<[Expr]>),
    /// An array of text literals, built once (`["rivalsoft.com", "competico.io"]`).
    Texts(Box<[Arc<str>]>),
    Map(Box<[(Box<str>, Expr)]>),
    /// A block used as a value (`if` as an expression).
    Block(Block),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    ToLower,
    ToUpper,
    Len,
    IsEmpty,
    Contains,
    StartsWith,
    EndsWith,
    IndexOf,
    SubString,
    ToInt,
    ToFloat,
    Abs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Helper {
    AsOf,
    DaysSince,
    IsBlank,
}

/// A value during a run. Text borrows the lead's values and the function's literals
/// where it can; text a run makes is shared, so reading a variable copies nothing.
///
/// Why the shape: every payload is one word of integer or pointer (a truth value and a
/// float are kept as words, text as a reference to a string rather than a slice of
/// one), so a `Result<Val, Bail>` is a pair of scalars that a call returns in two
/// registers. With a `bool`, an `f64` or a nested enum in it, it came back through the
/// stack, written in parts and read back whole, which the processor cannot forward
/// from the stores to the load: a timer-sampled profile put that wait on every return
/// from `Run::expr` and `Run::block`, about half the interpreter's time (BENCHMARKS.md,
/// issue 14, session 8). Build and read values with [`Val::bool`], [`Val::float`],
/// [`Val::as_bool`], [`Val::as_f64`] and [`Val::text`].
#[derive(Debug, Clone)]
#[expect(
    clippy::borrowed_box,
    reason = "a reference to a box or an `Arc` is one word, a `&str` or a slice two (see above)"
)]
enum Val<'a> {
    Unit,
    Bool(Truth),
    Int(i64),
    Float(FloatBits),
    /// `""`.
    Empty,
    /// A text literal of the function.
    Literal(&'a Arc<str>),
    /// A field's text, where the lead holds it.
    Field(&'a String),
    /// Text a run made: shared, and taken back without a copy when it is last used
    /// (a rule's reason).
    Made(Rc<String>),
    Array(Rc<Vec<Val<'a>>>),
    /// An array of text literals, as compiled.
    Texts(&'a Box<[Arc<str>]>),
    Map(Rc<Vec<(&'a str, Val<'a>)>>),
}

/// A truth value one word wide (see [`Val`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
enum Truth {
    False = 0,
    True = 1,
}

/// A float kept as its bits, one integer word (see [`Val`]).
#[derive(Debug, Clone, Copy)]
struct FloatBits(u64);

impl<'a> Val<'a> {
    fn bool(b: bool) -> Val<'a> {
        Val::Bool(if b { Truth::True } else { Truth::False })
    }

    fn float(x: f64) -> Val<'a> {
        Val::Float(FloatBits(x.to_bits()))
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Val::Bool(t) => Some(*t == Truth::True),
            _ => None,
        }
    }

    /// The float of a `Float` (not of an `Int`; `run::as_float` reads both).
    fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Float(FloatBits(bits)) => Some(f64::from_bits(*bits)),
            _ => None,
        }
    }

    /// The text of a text value.
    fn text(&self) -> Option<&str> {
        match self {
            Val::Empty => Some(""),
            Val::Literal(s) => Some(s),
            Val::Field(s) => Some(s),
            Val::Made(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a text value as an owned string, without a copy when the run made
    /// it and nothing else holds it.
    fn into_text(self) -> Option<String> {
        match self {
            Val::Made(s) => Some(Rc::try_unwrap(s).unwrap_or_else(|shared| (*shared).clone())),
            other => other.text().map(str::to_string),
        }
    }
}

/// Where a block's run ended: at its end with its value, or at a `return`.
enum Flow<'a> {
    Value(Val<'a>),
    Return(Val<'a>),
}

impl NativeFn {
    /// Translates a function of one parameter (the lead), or `None` when it uses
    /// anything outside the subset or could come near a sandbox limit.
    pub fn compile(
        ast: &AST,
        param: &str,
        script_fns: &[&str],
        limits: &Limits,
    ) -> Option<NativeFn> {
        let (body, locals, fields) = compile::translate(ast, param, script_fns, limits)?;
        Some(NativeFn {
            body,
            locals,
            fields,
            slots: Vec::new(),
            limits: *limits,
        })
    }

    /// The lead fields the function reads, by name.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// Gives each field read its slot, in the order of [`NativeFn::fields`].
    pub fn resolve(&mut self, slots: Vec<Slot>) {
        self.slots = slots;
    }

    /// Runs the function as a rule: what it returned, as Rhai's result would be read.
    ///
    /// # Errors
    /// [`Bail`] when only Rhai can say: the caller runs the function in Rhai.
    pub fn run_rule(
        &self,
        values: &[Option<Cow<'_, Value>>],
        as_of: Date,
    ) -> Result<Option<ScriptOutcome>, Bail> {
        let result = self.run(values, as_of)?;
        rule_outcome(result)
    }

    /// Runs the function as an `expr:` condition.
    ///
    /// # Errors
    /// [`Bail`] when only Rhai can say, a result that is not a boolean included.
    pub fn run_condition(
        &self,
        values: &[Option<Cow<'_, Value>>],
        as_of: Date,
    ) -> Result<bool, Bail> {
        match self.run(values, as_of)? {
            Val::Bool(t) => Ok(t == Truth::True),
            _ => Err(Bail),
        }
    }

    fn run<'a>(
        &'a self,
        values: &'a [Option<Cow<'_, Value>>],
        as_of: Date,
    ) -> Result<Val<'a>, Bail> {
        if self.slots.len() != self.fields.len() {
            return Err(Bail);
        }
        // Variables on the stack, in an array no larger than needed: every slot of it is
        // dropped after the run, used or not (an `expr:` condition has none).
        match self.locals {
            0 => self.run_in::<0>(values, as_of),
            1..=4 => self.run_in::<4>(values, as_of),
            5..=run::INLINE_LOCALS => self.run_in::<{ run::INLINE_LOCALS }>(values, as_of),
            _ => {
                let mut heap = vec![Val::Unit; self.locals];
                self.run_on(values, as_of, &mut heap)
            }
        }
    }

    /// [`NativeFn::run`] with its variables in an array of `N` on the stack.
    fn run_in<'a, const N: usize>(
        &'a self,
        values: &'a [Option<Cow<'_, Value>>],
        as_of: Date,
    ) -> Result<Val<'a>, Bail> {
        let mut locals: [Val<'a>; N] = std::array::from_fn(|_| Val::Unit);
        self.run_on(values, as_of, &mut locals)
    }

    fn run_on<'a>(
        &'a self,
        values: &'a [Option<Cow<'_, Value>>],
        as_of: Date,
        locals: &mut [Val<'a>],
    ) -> Result<Val<'a>, Bail> {
        let mut run = run::Run {
            function: self,
            values,
            as_of,
            locals,
        };
        match run.block(&self.body)? {
            Flow::Value(v) | Flow::Return(v) => Ok(v),
        }
    }
}

/// What a rule returned, read as [`super::outcome`] reads Rhai's result; anything it
/// would reject is left to it, so its error is worded as always.
fn rule_outcome(result: Val<'_>) -> Result<Option<ScriptOutcome>, Bail> {
    match result {
        Val::Unit => Ok(None),
        Val::Bool(t) => Ok((t == Truth::True).then(ScriptOutcome::default)),
        Val::Int(points) => Ok(Some(ScriptOutcome {
            points,
            ..ScriptOutcome::default()
        })),
        Val::Map(entries) => {
            map_outcome(Rc::try_unwrap(entries).unwrap_or_else(|shared| (*shared).clone()))
                .map(Some)
        }
        _ => Err(Bail),
    }
}

fn map_outcome(entries: Vec<(&str, Val<'_>)>) -> Result<ScriptOutcome, Bail> {
    let mut out = ScriptOutcome::default();
    for (index, (key, _)) in entries.iter().enumerate() {
        // A key given twice keeps its last value in Rhai's map: left to Rhai.
        if entries[..index].iter().any(|(k, _)| k == key) {
            return Err(Bail);
        }
    }
    for (key, value) in entries {
        match key {
            "points" => match value {
                Val::Unit => {}
                Val::Int(n) => out.points = n,
                _ => return Err(Bail),
            },
            "signals" => out.signals = signals(&value)?,
            "reason" => out.reason = optional_text(value, "reason")?,
            "disqualify" => out.disqualify = optional_text(value, "disqualify")?,
            "score" => out.score = optional_name(value, "score")?,
            _ => return Err(Bail),
        }
    }
    Ok(out)
}

fn signals(value: &Val<'_>) -> Result<Vec<Arc<str>>, Bail> {
    match value {
        Val::Unit => Ok(Vec::new()),
        Val::Texts(items) => Ok(items.to_vec()),
        Val::Literal(s) => Ok(vec![Arc::clone(s)]),
        Val::Array(items) => items
            .iter()
            .map(|item| item.text().map(Arc::from).ok_or(Bail))
            .collect(),
        one => one.text().map(|s| vec![Arc::from(s)]).ok_or(Bail),
    }
}

/// [`optional_text`] as a shared name: a literal's own, without a copy.
fn optional_name(value: Val<'_>, key: &str) -> Result<Option<Arc<str>>, Bail> {
    match value {
        Val::Literal(s) => Ok(Some(Arc::clone(s))),
        other => Ok(optional_text(other, key)?.map(Arc::from)),
    }
}

fn optional_text(value: Val<'_>, key: &str) -> Result<Option<String>, Bail> {
    match value {
        Val::Unit => Ok(None),
        Val::Bool(t) => Ok((t == Truth::True).then(|| key.to_string())),
        text => text.into_text().map(Some).ok_or(Bail),
    }
}

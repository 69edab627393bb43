//! Compiled conditions: [`Predicate::test`] reads a lead's values by slot and answers,
//! with no parsing and no allocation (Rhai `expr` conditions excepted).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Ordering;

use crate::date::Date;
use crate::lead::{Lead, Schema, Slot, Value};
use crate::rules::pattern::Pattern;
use crate::script::{ExprId, ScriptHost};

/// What a condition sees while it is tested: the lead by slot, the as-of date, and the
/// Rhai view of the lead, built once on first use and shared by every script.
pub(crate) struct Env<'a> {
    pub values: &'a [Option<Cow<'a, Value>>],
    pub as_of: Date,
    pub scripts: &'a ScriptHost,
    /// The whole lead, when it was read as one (the fast JSON path reads slots only).
    lead: Option<&'a Lead>,
    schema: &'a Schema,
    map: OnceCell<rhai::Dynamic>,
}

impl<'a> Env<'a> {
    pub fn new(
        values: &'a [Option<Cow<'a, Value>>],
        as_of: Date,
        scripts: &'a ScriptHost,
        lead: Option<&'a Lead>,
        schema: &'a Schema,
    ) -> Self {
        Env {
            values,
            as_of,
            scripts,
            lead,
            schema,
            map: OnceCell::new(),
        }
    }

    /// The value in a slot; a null counts as missing.
    pub fn value(&self, slot: Slot) -> Option<&Value> {
        match self.values.get(slot)?.as_deref() {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// The lead as a Rhai object map (declared fields under their canonical names, with
    /// coerced values).
    pub fn lead_map(&self) -> &rhai::Dynamic {
        self.map.get_or_init(|| {
            crate::script::lead_to_dynamic(self.lead, self.schema, self.values, self.scripts.view())
        })
    }
}

/// Text compared without regard to case or surrounding blanks: stored trimmed and
/// lowercased once, at load.
#[derive(Debug, Clone)]
pub(crate) struct Folded(String);

impl Folded {
    pub fn new(text: &str) -> Folded {
        Folded(text.trim().to_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn equals(&self, text: &str) -> bool {
        let text = text.trim();
        self.equals_trimmed(text, text.is_ascii())
    }

    /// [`Folded::equals`] for text already trimmed and checked for ASCII, so a list of
    /// candidates (`in:`) does that once, not once per candidate.
    fn equals_trimmed(&self, text: &str, ascii: bool) -> bool {
        if ascii {
            return text.eq_ignore_ascii_case(&self.0);
        }
        text.chars().flat_map(char::to_lowercase).eq(self.0.chars())
    }

    fn found_in(&self, text: &str, place: Place) -> bool {
        let text = text.trim();
        let needle = self.0.as_str();
        if text.is_ascii() && needle.is_ascii() {
            let (h, n) = (text.as_bytes(), needle.as_bytes());
            return match place {
                Place::Start => h.len() >= n.len() && h[..n.len()].eq_ignore_ascii_case(n),
                Place::End => h.len() >= n.len() && h[h.len() - n.len()..].eq_ignore_ascii_case(n),
                Place::Anywhere => {
                    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
                }
            };
        }
        let lower = text.to_lowercase();
        match place {
            Place::Start => lower.starts_with(needle),
            Place::End => lower.ends_with(needle),
            Place::Anywhere => lower.contains(needle),
        }
    }
}

/// Where `contains`, `starts_with` and `ends_with` look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Start,
    End,
    Anywhere,
}

/// A scalar a field is compared with, already in the form comparisons need.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Text(Folded),
    Number(f64),
    Bool(bool),
}

impl Operand {
    /// Whether `value` equals this operand; `None` when the types cannot be compared.
    fn equals(&self, value: &Value) -> Option<bool> {
        match self {
            Operand::Number(n) => value.as_f64().map(|x| x == *n),
            Operand::Bool(b) => value.as_bool().map(|x| x == *b),
            Operand::Text(t) => match value {
                Value::Text(s) => Some(t.equals(s)),
                // A number field against `eq: "100"`: compare as numbers when the text is one.
                Value::Int(_) | Value::Float(_) => {
                    let n = crate::lead::parse_number(t.as_str())?;
                    value.as_f64().map(|x| x == n)
                }
                Value::Bool(b) => Value::Text(t.as_str().to_string())
                    .as_bool()
                    .map(|x| x == *b),
                _ => None,
            },
        }
    }
}

/// An ordered bound: a number or a date.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound {
    Number(f64),
    Date(Date),
}

impl Bound {
    fn compare(self, value: &Value) -> Option<Ordering> {
        match self {
            Bound::Number(n) => value.as_f64().and_then(|x| x.partial_cmp(&n)),
            Bound::Date(d) => value.as_date().map(|x| x.cmp(&d)),
        }
    }
}

/// The ordering a `gt`/`gte`/`lt`/`lte` condition accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Order {
    fn accepts(self, ord: Ordering) -> bool {
        match self {
            Order::Gt => ord == Ordering::Greater,
            Order::Gte => ord != Ordering::Less,
            Order::Lt => ord == Ordering::Less,
            Order::Lte => ord != Ordering::Greater,
        }
    }
}

/// What a comparison checks on one field's value.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    Eq(Operand),
    Ne(Operand),
    In(Vec<Operand>),
    NotIn(Vec<Operand>),
    Compare(Order, Bound),
    Between(Bound, Bound),
    Matches(Pattern),
    Text(Place, Folded),
    Exists(bool),
    Empty(bool),
    WithinDays(i64),
    OlderThanDays(i64),
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub(crate) enum Predicate {
    Field {
        slot: Slot,
        test: Test,
        /// The condition as written (`budget gte 10000`), for explanations.
        label: String,
    },
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    Not(Box<Predicate>),
    Expr(ExprId),
}

impl Predicate {
    /// [`Predicate::test`], with a condition on one field (most rules' whole condition)
    /// decided right here, in the caller's code: no call and no `Result` to unpack per
    /// rule.
    ///
    /// # Errors
    /// As [`Predicate::test`].
    #[inline]
    pub fn test_here(&self, env: &Env<'_>) -> Result<bool, String> {
        match self {
            Predicate::Field { slot, test, .. } => Ok(test.holds(env.value(*slot), env.as_of)),
            _ => self.test(env),
        }
    }

    /// Whether the condition holds for the lead in `env`.
    ///
    /// # Errors
    /// Only a Rhai `expr` can fail (a script error or a non-boolean result).
    pub fn test(&self, env: &Env<'_>) -> Result<bool, String> {
        match self {
            Predicate::Field { slot, test, .. } => Ok(test.holds(env.value(*slot), env.as_of)),
            Predicate::All(parts) => {
                for p in parts {
                    if !p.test_here(env)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Predicate::Any(parts) => {
                for p in parts {
                    if p.test_here(env)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Predicate::Not(inner) => inner.test_here(env).map(|b| !b),
            Predicate::Expr(id) => {
                env.scripts
                    .eval_expr(*id, env.values, || env.lead_map(), env.as_of)
            }
        }
    }
}

impl Test {
    /// Whether the test holds for a field's value (`None`: missing or null).
    pub fn holds(&self, value: Option<&Value>, as_of: Date) -> bool {
        match self {
            Test::Exists(want) => value.is_some() == *want,
            Test::Empty(want) => value.is_none_or(Value::is_empty) == *want,
            _ => value.is_some_and(|v| self.compares(v, as_of)),
        }
    }

    // A comparison on a present value; wrong types never match, for `ne` and `not_in` too.
    fn compares(&self, value: &Value, as_of: Date) -> bool {
        match self {
            Test::Eq(op) => op.equals(value) == Some(true),
            Test::Ne(op) => op.equals(value) == Some(false),
            Test::In(ops) => match value {
                Value::Text(text) => {
                    let text = text.trim();
                    let ascii = text.is_ascii();
                    ops.iter().any(|op| match op {
                        Operand::Text(folded) => folded.equals_trimmed(text, ascii),
                        _ => op.equals(value) == Some(true),
                    })
                }
                _ => ops.iter().any(|op| op.equals(value) == Some(true)),
            },
            Test::NotIn(ops) => {
                let answers: Vec<Option<bool>> = ops.iter().map(|op| op.equals(value)).collect();
                answers.iter().any(Option::is_some) && !answers.contains(&Some(true))
            }
            Test::Compare(order, bound) => bound.compare(value).is_some_and(|o| order.accepts(o)),
            Test::Between(lo, hi) => {
                lo.compare(value).is_some_and(|o| o != Ordering::Less)
                    && hi.compare(value).is_some_and(|o| o != Ordering::Greater)
            }
            Test::Matches(re) => value.as_text().is_some_and(|s| re.is_match(s)),
            Test::Text(place, needle) => match value {
                Value::Text(s) => needle.found_in(s, *place),
                Value::List(items) if *place == Place::Anywhere => items
                    .iter()
                    .any(|item| item.as_text().is_some_and(|s| needle.equals(s))),
                _ => false,
            },
            Test::WithinDays(days) => value
                .as_date()
                .is_some_and(|d| (0..=*days).contains(&as_of.days_since(d))),
            Test::OlderThanDays(days) => {
                value.as_date().is_some_and(|d| as_of.days_since(d) > *days)
            }
            // `holds` answers presence tests before calling `compares`.
            Test::Exists(_) | Test::Empty(_) => false,
        }
    }
}

/// How a condition came out on one lead, part by part: what `explain` shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConditionTrace {
    /// The condition as written (`budget gte 10000`, `all`, `not`, `expr lead.x > 1`).
    pub condition: String,
    /// Whether it held (false when it failed).
    pub holds: bool,
    /// The field's value the condition saw (`null` when missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saw: Option<Value>,
    /// Why it could not be evaluated, for a failing `expr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The parts of `all`, `any` and `not`, each evaluated (no short-circuit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<ConditionTrace>,
}

impl Predicate {
    /// Evaluates every part of the condition and records what each saw.
    pub fn trace(&self, env: &Env<'_>) -> ConditionTrace {
        let node = |condition: &str, holds: bool, parts: Vec<ConditionTrace>| ConditionTrace {
            condition: condition.to_string(),
            holds,
            saw: None,
            error: None,
            parts,
        };
        match self {
            Predicate::Field { slot, test, label } => ConditionTrace {
                saw: Some(env.value(*slot).cloned().unwrap_or_default()),
                ..node(label, test.holds(env.value(*slot), env.as_of), Vec::new())
            },
            Predicate::All(ps) => {
                let parts: Vec<_> = ps.iter().map(|p| p.trace(env)).collect();
                node("all", parts.iter().all(|p| p.holds), parts)
            }
            Predicate::Any(ps) => {
                let parts: Vec<_> = ps.iter().map(|p| p.trace(env)).collect();
                node("any", parts.iter().any(|p| p.holds), parts)
            }
            Predicate::Not(inner) => {
                let part = inner.trace(env);
                let holds = part.error.is_none() && !part.holds;
                node("not", holds, vec![part])
            }
            Predicate::Expr(id) => {
                let label = format!("expr {}", env.scripts.expr_source(*id));
                match self.test(env) {
                    Ok(holds) => node(&label, holds, Vec::new()),
                    Err(e) => ConditionTrace {
                        error: Some(e),
                        ..node(&label, false, Vec::new())
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::Text(s.to_string())
    }

    fn day(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn holds(test: &Test, value: Option<Value>) -> bool {
        test.holds(value.as_ref(), day("2024-06-30"))
    }

    #[test]
    fn text_equality_ignores_case_and_blanks() {
        let t = Test::Eq(Operand::Text(Folded::new("Web Form")));
        assert!(holds(&t, Some(text("  web form "))));
        assert!(holds(&t, Some(text("WEB FORM"))));
        assert!(!holds(&t, Some(text("webform"))));
        let unicode = Test::Eq(Operand::Text(Folded::new("ÉCOLE")));
        assert!(holds(&unicode, Some(text("école"))));
    }

    #[test]
    fn missing_values_never_compare_not_even_ne() {
        let ne = Test::Ne(Operand::Text(Folded::new("x")));
        let not_in = Test::NotIn(vec![Operand::Text(Folded::new("x"))]);
        for t in [&ne, &not_in] {
            assert!(!holds(t, None));
        }
        assert!(holds(&ne, Some(text("y"))));
        assert!(!holds(&ne, Some(text("X "))));
    }

    #[test]
    fn wrong_types_do_not_match() {
        let gte = Test::Compare(Order::Gte, Bound::Number(10.0));
        assert!(!holds(&gte, Some(text("lots"))));
        assert!(!holds(&Test::Ne(Operand::Number(5.0)), Some(text("five"))));
        let re = Test::Matches(Pattern::new("1", 1 << 20).unwrap());
        assert!(!holds(&re, Some(Value::Int(1))));
    }

    #[test]
    fn numeric_text_compares_as_numbers() {
        let gte = Test::Compare(Order::Gte, Bound::Number(10000.0));
        assert!(holds(&gte, Some(text("12000"))));
        assert!(!holds(&gte, Some(text("9999.5"))));
        assert!(holds(
            &Test::Eq(Operand::Number(100.0)),
            Some(text(" 100.0 "))
        ));
        assert!(holds(
            &Test::Eq(Operand::Text(Folded::new("100"))),
            Some(Value::Int(100))
        ));
    }

    #[test]
    fn in_and_not_in_take_lists() {
        let ops = vec![Operand::Text(Folded::new("a")), Operand::Number(2.0)];
        assert!(holds(&Test::In(ops.clone()), Some(text("A"))));
        assert!(holds(&Test::In(ops.clone()), Some(Value::Int(2))));
        assert!(holds(&Test::NotIn(ops.clone()), Some(text("b"))));
        assert!(!holds(&Test::NotIn(ops), Some(text("a"))));
    }

    #[test]
    fn between_is_inclusive_for_numbers_and_dates() {
        let t = Test::Between(Bound::Number(1.0), Bound::Number(3.0));
        assert!(holds(&t, Some(Value::Int(1))) && holds(&t, Some(Value::Float(3.0))));
        assert!(!holds(&t, Some(Value::Int(4))));
        let d = Test::Between(
            Bound::Date(day("2024-01-01")),
            Bound::Date(day("2024-01-31")),
        );
        assert!(holds(&d, Some(text("2024-01-31T23:00:00Z"))));
        assert!(!holds(&d, Some(text("2024-02-01"))));
    }

    #[test]
    fn within_days_counts_back_from_as_of_and_ignores_future_dates() {
        let t = Test::WithinDays(30);
        assert!(holds(&t, Some(text("2024-06-30"))));
        assert!(holds(&t, Some(text("2024-05-31"))));
        assert!(!holds(&t, Some(text("2024-05-30"))));
        assert!(!holds(&t, Some(text("2024-07-01"))));
        assert!(!holds(&t, Some(text("not a date"))));
    }

    #[test]
    fn exists_and_empty_treat_null_and_blank() {
        assert!(holds(&Test::Exists(true), Some(text(""))));
        assert!(holds(&Test::Exists(false), None));
        assert!(holds(&Test::Empty(true), Some(text("  "))));
        assert!(holds(&Test::Empty(true), Some(Value::List(vec![]))));
        assert!(holds(&Test::Empty(true), None));
        assert!(holds(&Test::Empty(false), Some(Value::Int(0))));
    }

    #[test]
    fn contains_starts_and_ends_with() {
        let c = Test::Text(Place::Anywhere, Folded::new("Edu"));
        assert!(holds(&c, Some(text("someone@school.EDU"))));
        assert!(holds(&c, Some(Value::List(vec![text("x"), text("edu")]))));
        assert!(!holds(&c, Some(Value::List(vec![text("education")]))));
        assert!(holds(
            &Test::Text(Place::Start, Folded::new("vp")),
            Some(text("VP Sales"))
        ));
        assert!(holds(
            &Test::Text(Place::End, Folded::new(".edu")),
            Some(text("a@b.edu "))
        ));
        assert!(holds(
            &Test::Text(Place::End, Folded::new("ÜBER")),
            Some(text("stadt über"))
        ));
        assert!(!holds(
            &Test::Text(Place::Start, Folded::new("x")),
            Some(Value::Int(1))
        ));
    }

    #[test]
    fn booleans_read_text_forms() {
        let t = Test::Eq(Operand::Bool(true));
        assert!(holds(&t, Some(text("Yes"))));
        assert!(holds(&t, Some(Value::Bool(true))));
        assert!(!holds(&t, Some(text("maybe"))));
    }
}

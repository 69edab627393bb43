//! `ConditionDoc` -> [`Predicate`]: fields resolved to slots, operands checked and
//! converted, regexes built, expressions compiled; once, at load. Also compiles reason
//! templates (`"budget of {budget}"`).

use std::path::Path;

use crate::date::Date;
use crate::diagnostic::{Diagnostic, Span, did_you_mean};
use crate::lead::{Schema, Slot, Value};
use crate::rules::pattern::Pattern;
use crate::rules::predicate::{Bound, Folded, Operand, Order, Place, Predicate, Test};
use crate::rules::raw::{ConditionDoc, Op, Spanned};
use crate::rules::yaml::{Node, NodeKind};
use crate::script::ScriptHost;

/// Largest compiled regex, in bytes: a pattern bigger than this is a mistake, and would
/// make every lead slow.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles conditions and templates of one file, collecting problems.
pub(crate) struct Compiler<'a> {
    pub path: &'a Path,
    pub schema: &'a mut Schema,
    pub scripts: &'a mut ScriptHost,
    pub problems: Vec<Diagnostic>,
}

impl Compiler<'_> {
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.problems
            .push(Diagnostic::error(self.path, span, message));
    }

    fn error_with_help(&mut self, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.problems
            .push(Diagnostic::error(self.path, span, message).with_help(help));
    }

    /// Compiles a condition; `None` after reporting a problem in it.
    pub fn condition(&mut self, doc: &ConditionDoc) -> Option<Predicate> {
        match doc {
            ConditionDoc::Compare { field, op, operand } => {
                let slot = self.field(field);
                let test = self.test(op, operand)?;
                let label = format!("{} {} {}", field.value, op.value.name(), node_text(operand));
                Some(Predicate::Field { slot, test, label })
            }
            ConditionDoc::All(parts) => self.all_of(parts).map(Predicate::All),
            ConditionDoc::Any(parts) => self.all_of(parts).map(Predicate::Any),
            ConditionDoc::Not(inner) => self.condition(inner).map(|p| Predicate::Not(Box::new(p))),
            ConditionDoc::Expr(expr) => match self.scripts.compile_expr(self.path, expr) {
                Ok(id) => Some(Predicate::Expr(id)),
                Err(d) => {
                    self.problems.push(d);
                    None
                }
            },
        }
    }

    // Compiles every part, so each bad one is reported, not just the first.
    fn all_of(&mut self, parts: &[ConditionDoc]) -> Option<Vec<Predicate>> {
        let compiled: Vec<Option<Predicate>> = parts.iter().map(|p| self.condition(p)).collect();
        compiled.into_iter().collect()
    }

    /// The slot of a field named in a rule; warns when a declared schema lacks it.
    pub fn field(&mut self, name: &Spanned<String>) -> Slot {
        if self.schema.has_declarations() && self.schema.lookup(&name.value).is_none() {
            let declared: Vec<&str> = self
                .schema
                .fields()
                .iter()
                .filter(|f| f.declared)
                .map(|f| f.name.as_ref())
                .collect();
            let mut warning = Diagnostic::warning(
                self.path,
                name.span,
                format!("field `{}` is not declared in `fields`", name.value),
            );
            warning.help = Some(match did_you_mean(&name.value, declared) {
                Some(near) => format!("did you mean `{near}`?"),
                None => "declare it under `fields:` to give it a type and aliases".to_string(),
            });
            self.problems.push(warning);
        }
        self.schema.slot_for(&name.value)
    }

    fn test(&mut self, op: &Spanned<Op>, operand: &Node) -> Option<Test> {
        let name = op.value.name();
        match op.value {
            Op::Eq => self.operand(name, operand).map(Test::Eq),
            Op::Ne => self.operand(name, operand).map(Test::Ne),
            Op::In | Op::NotIn => {
                let NodeKind::Seq(items) = &operand.kind else {
                    self.error_with_help(
                        operand.span,
                        format!("`{name}` takes a list, found {}", operand.kind_name()),
                        format!("write `{name}: [a, b]`"),
                    );
                    return None;
                };
                if items.is_empty() {
                    self.error(operand.span, format!("`{name}` needs at least one value"));
                    return None;
                }
                let ops: Option<Vec<Operand>> =
                    items.iter().map(|i| self.operand(name, i)).collect();
                let ops = ops?;
                Some(if op.value == Op::In {
                    Test::In(ops)
                } else {
                    Test::NotIn(ops)
                })
            }
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                let order = match op.value {
                    Op::Gt => Order::Gt,
                    Op::Gte => Order::Gte,
                    Op::Lt => Order::Lt,
                    _ => Order::Lte,
                };
                self.bound(name, operand).map(|b| Test::Compare(order, b))
            }
            Op::Between => self.between(operand),
            Op::Matches => {
                let pattern = self.text(name, operand)?;
                match Pattern::new(&pattern, REGEX_SIZE_LIMIT) {
                    Ok(re) => Some(Test::Matches(re)),
                    Err(e) => {
                        self.error(
                            operand.span,
                            format!("invalid regex: {}", regex_message(&e)),
                        );
                        None
                    }
                }
            }
            Op::Contains => self
                .text(name, operand)
                .map(|t| Test::Text(Place::Anywhere, Folded::new(&t))),
            Op::StartsWith => self
                .text(name, operand)
                .map(|t| Test::Text(Place::Start, Folded::new(&t))),
            Op::EndsWith => self
                .text(name, operand)
                .map(|t| Test::Text(Place::End, Folded::new(&t))),
            Op::Exists => self.flag(name, operand).map(Test::Exists),
            Op::Empty => self.flag(name, operand).map(Test::Empty),
            Op::WithinDays | Op::OlderThanDays => match operand.kind {
                NodeKind::Int(n) if n >= 0 && op.value == Op::WithinDays => {
                    Some(Test::WithinDays(n))
                }
                NodeKind::Int(n) if n >= 0 => Some(Test::OlderThanDays(n)),
                _ => {
                    self.error(
                        operand.span,
                        format!(
                            "`{name}` takes a whole number of days, found {}",
                            operand.kind_name()
                        ),
                    );
                    None
                }
            },
        }
    }

    fn operand(&mut self, op: &str, node: &Node) -> Option<Operand> {
        match &node.kind {
            NodeKind::Str(s) => Some(Operand::Text(Folded::new(s))),
            NodeKind::Int(n) => Some(Operand::Number(*n as f64)),
            NodeKind::Float(x) => Some(Operand::Number(*x)),
            NodeKind::Bool(b) => Some(Operand::Bool(*b)),
            NodeKind::Null => {
                self.error_with_help(
                    node.span,
                    format!("`{op}` cannot compare with null"),
                    "test for a missing value with `exists: false` or `empty: true`",
                );
                None
            }
            _ => {
                self.error(
                    node.span,
                    format!(
                        "`{op}` takes text, a number or true/false, found {}",
                        node.kind_name()
                    ),
                );
                None
            }
        }
    }

    fn bound(&mut self, op: &str, node: &Node) -> Option<Bound> {
        match &node.kind {
            NodeKind::Int(n) => Some(Bound::Number(*n as f64)),
            NodeKind::Float(x) => Some(Bound::Number(*x)),
            NodeKind::Str(s) if Date::parse(s).is_some() => Date::parse(s).map(Bound::Date),
            _ => {
                self.error_with_help(
                    node.span,
                    format!(
                        "`{op}` takes a number or a date, found {}",
                        node.kind_name()
                    ),
                    "write a number like `10000` or a date like `2024-01-31`",
                );
                None
            }
        }
    }

    fn between(&mut self, node: &Node) -> Option<Test> {
        let items = match &node.kind {
            NodeKind::Seq(items) if items.len() == 2 => items,
            _ => {
                self.error_with_help(
                    node.span,
                    format!("`between` takes two bounds, found {}", node.kind_name()),
                    "write `between: [low, high]` (both included)",
                );
                return None;
            }
        };
        let lo = self.bound("between", &items[0]);
        let hi = self.bound("between", &items[1]);
        let (lo, hi) = (lo?, hi?);
        let ordered = match (lo, hi) {
            (Bound::Number(a), Bound::Number(b)) => a <= b,
            (Bound::Date(a), Bound::Date(b)) => a <= b,
            _ => {
                self.error(
                    node.span,
                    "`between` bounds must both be numbers or both be dates",
                );
                return None;
            }
        };
        if !ordered {
            self.error_with_help(
                node.span,
                "`between` bounds are reversed",
                "write the lower bound first",
            );
            return None;
        }
        Some(Test::Between(lo, hi))
    }

    fn text(&mut self, op: &str, node: &Node) -> Option<String> {
        match &node.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(n) => Some(n.to_string()),
            NodeKind::Float(x) => Some(x.to_string()),
            _ => {
                self.error(
                    node.span,
                    format!("`{op}` takes text, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn flag(&mut self, op: &str, node: &Node) -> Option<bool> {
        match node.kind {
            NodeKind::Bool(b) => Some(b),
            _ => {
                self.error(
                    node.span,
                    format!("`{op}` takes true or false, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    /// Compiles a reason template: `{field}` takes the lead's value, `{{` is a `{`.
    pub fn template(&mut self, text: &Spanned<String>) -> Option<Template> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.value.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    if name.trim().is_empty() || !text.value.contains('}') {
                        self.error_with_help(
                            text.span,
                            "unclosed or empty `{` in template",
                            "write `{field}` for a value, `{{` for a brace",
                        );
                        return None;
                    }
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    let slot = self.field(&Spanned {
                        value: name.trim().to_string(),
                        span: text.span,
                    });
                    pieces.push(Piece::Field(slot));
                }
                _ => literal.push(c),
            }
        }
        pieces.push(Piece::Text(literal));
        pieces.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
        Some(Template { pieces })
    }
}

/// A condition's operand as written, for explanations.
fn node_text(node: &Node) -> String {
    match &node.kind {
        NodeKind::Null => "null".to_string(),
        NodeKind::Bool(b) => b.to_string(),
        NodeKind::Int(n) => n.to_string(),
        NodeKind::Float(x) => x.to_string(),
        NodeKind::Str(s) => format!("'{s}'"),
        NodeKind::Seq(items) => format!(
            "[{}]",
            items.iter().map(node_text).collect::<Vec<_>>().join(", ")
        ),
        NodeKind::Map(_) => "{...}".to_string(),
    }
}

fn regex_message(err: &regex::Error) -> String {
    match err {
        regex::Error::CompiledTooBig(limit) => {
            format!("the pattern is too large (over {limit} bytes compiled)")
        }
        // The syntax error's own text has a multi-line drawing; keep its last line.
        other => other
            .to_string()
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("syntax error")
            .trim_start_matches("error: ")
            .to_string(),
    }
}

/// A reason or disqualification text with `{field}` placeholders.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Field(Slot),
}

impl Template {
    /// True when the template names no field: it renders the same text for every lead.
    pub fn is_fixed(&self) -> bool {
        self.pieces
            .iter()
            .all(|piece| matches!(piece, Piece::Text(_)))
    }

    /// Fills in the lead's values (a missing value reads `(none)`) into `out`, replacing
    /// what it held: bulk scoring renders each lead's reasons into the strings the
    /// previous lead's verdict left.
    pub fn render_into<'v>(&self, out: &mut String, value: impl Fn(Slot) -> Option<&'v Value>) {
        use std::fmt::Write as _;
        out.clear();
        for piece in &self.pieces {
            match (piece, piece_value(piece, &value)) {
                (Piece::Text(t), _) => out.push_str(t),
                (Piece::Field(_), Some(Value::Text(t))) => out.push_str(t),
                // What `{v}` writes, without the formatting machinery: most reasons
                // name a count or an amount.
                (Piece::Field(_), Some(Value::Int(n))) => {
                    out.push_str(itoa::Buffer::new().format(*n));
                }
                (Piece::Field(_), Some(v)) => {
                    let _ = write!(out, "{v}");
                }
                (Piece::Field(_), None) => out.push_str("(none)"),
            }
        }
    }
}

fn piece_value<'v>(piece: &Piece, value: &impl Fn(Slot) -> Option<&'v Value>) -> Option<&'v Value> {
    match piece {
        Piece::Field(slot) => value(*slot),
        Piece::Text(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::Date;
    use crate::lead::{FieldType, Lead};
    use crate::rules::predicate::Env;
    use crate::rules::raw::Decoder;
    use crate::rules::yaml;
    use crate::script::{Limits, ScriptHost};

    /// Compiles a condition and tests it on a lead: `holds("{field: budget, gte: 10000}", json!({"budget": "12000"}), true)`.
    fn holds(condition: &str, lead: serde_json::Value, want: bool) {
        let (node, _) = yaml::parse(condition).unwrap();
        let mut decoder = Decoder::new(Path::new("t.yaml"));
        let doc = decoder
            .condition(&node.unwrap(), 0)
            .expect("condition decodes");
        let mut schema = Schema::default();
        let mut scripts = ScriptHost::new(Limits::default());
        let mut compiler = Compiler {
            path: Path::new("t.yaml"),
            schema: &mut schema,
            scripts: &mut scripts,
            problems: Vec::new(),
        };
        let predicate = compiler.condition(&doc).expect("condition compiles");
        let lead = Lead::from_json(lead).unwrap();
        let bound = schema.bind(&lead);
        let as_of = Date::parse("2024-06-30").unwrap();
        let env = Env::new(&bound.values, as_of, &scripts, Some(&lead), &schema);
        assert_eq!(predicate.test(&env), Ok(want), "{condition} on {lead:?}");
        assert_eq!(
            predicate.test_here(&env),
            Ok(want),
            "{condition} on {lead:?}"
        );
    }

    fn problems(condition: &str) -> Vec<String> {
        let (node, _) = yaml::parse(condition).unwrap();
        let mut decoder = Decoder::new(Path::new("t.yaml"));
        let Some(doc) = decoder.condition(&node.unwrap(), 0) else {
            return decoder.problems.into_iter().map(|d| d.message).collect();
        };
        let mut schema = Schema::default();
        let mut scripts = ScriptHost::new(Limits::default());
        let mut compiler = Compiler {
            path: Path::new("t.yaml"),
            schema: &mut schema,
            scripts: &mut scripts,
            problems: Vec::new(),
        };
        compiler.condition(&doc);
        compiler.problems.into_iter().map(|d| d.message).collect()
    }

    use serde_json::json;

    #[test]
    fn every_operator_on_matching_and_missing_values() {
        holds(
            "{field: budget, gte: 10000}",
            json!({"budget": "12000"}),
            true,
        );
        holds(
            "{field: budget, gt: 10000}",
            json!({"budget": 10000}),
            false,
        );
        holds(
            "{field: budget, lt: 10000}",
            json!({"budget": 9999.5}),
            true,
        );
        holds("{field: budget, lte: 10000}", json!({}), false);
        holds("{field: source, eq: Web}", json!({"source": " web "}), true);
        holds("{field: source, ne: Web}", json!({"source": "Event"}), true);
        holds("{field: source, ne: Web}", json!({"source": null}), false);
        holds(
            "{field: source, in: [web, event]}",
            json!({"source": "EVENT"}),
            true,
        );
        holds("{field: source, not_in: [web, event]}", json!({}), false);
        holds(
            "{field: employees, between: [50, 500]}",
            json!({"employees": 500}),
            true,
        );
        holds(
            "{field: title, matches: '(?i)\\bvp\\b'}",
            json!({"title": "VP of Sales"}),
            true,
        );
        holds("{field: title, matches: 'x'}", json!({"title": 1}), false);
        holds(
            "{field: email, ends_with: .edu}",
            json!({"email": "a@uni.EDU"}),
            true,
        );
        holds(
            "{field: email, starts_with: info@}",
            json!({"email": "Info@acme.com"}),
            true,
        );
        holds(
            "{field: notes, contains: pricing}",
            json!({"notes": "asked about Pricing tiers"}),
            true,
        );
        holds(
            "{field: email, exists: true}",
            json!({"email": null}),
            false,
        );
        holds("{field: email, empty: true}", json!({"email": "  "}), true);
        holds(
            "{field: seen, within_days: 30}",
            json!({"seen": "2024-06-01"}),
            true,
        );
        holds(
            "{field: seen, gte: 2024-06-01}",
            json!({"seen": "2024-06-02"}),
            true,
        );
        holds(
            "{field: seen, gte: 2024-06-01}",
            json!({"seen": "soon"}),
            false,
        );
    }

    #[test]
    fn combinators_and_not_of_missing() {
        holds("{not: {field: budget, gte: 1}}", json!({}), true);
        holds(
            "{all: [{field: a, eq: 1}, {field: b, eq: 2}]}",
            json!({"a": 1, "b": 2}),
            true,
        );
        holds(
            "{all: [{field: a, eq: 1}, {field: b, eq: 2}]}",
            json!({"a": 1}),
            false,
        );
        holds(
            "{any: [{field: a, eq: 1}, {field: b, eq: 2}]}",
            json!({"b": "2"}),
            true,
        );
        holds(
            "{expr: 'lead.a + lead.b == 3'}",
            json!({"a": 1, "b": 2}),
            true,
        );
        holds("{expr: 'lead.missing > 3'}", json!({}), false);
    }

    #[test]
    fn operand_mistakes_are_reported() {
        assert_eq!(
            problems("{field: a, matches: '(unclosed'}"),
            vec!["invalid regex: unclosed group"]
        );
        assert_eq!(
            problems("{field: a, gte: lots}"),
            vec!["`gte` takes a number or a date, found text"]
        );
        assert_eq!(
            problems("{field: a, in: web}"),
            vec!["`in` takes a list, found text"]
        );
        assert_eq!(
            problems("{field: a, between: [5, 1]}"),
            vec!["`between` bounds are reversed"]
        );
        assert_eq!(
            problems("{field: a, eq: null}"),
            vec!["`eq` cannot compare with null"]
        );
        assert_eq!(
            problems("{field: a, exists: yes}"),
            vec!["`exists` takes true or false, found text"]
        );
        assert_eq!(
            problems("{field: a, within_days: -1}"),
            vec!["`within_days` takes a whole number of days, found a number"]
        );
        assert_eq!(
            problems("{all: [{field: a, gte: x}, {field: b, matches: '['}]}").len(),
            2,
            "both bad parts are reported"
        );
    }

    #[test]
    fn huge_regexes_are_refused() {
        let found = problems("{field: a, matches: '\\w{1000}\\w{1000}\\w{1000}'}");
        assert!(found[0].contains("too large"), "{found:?}");
    }

    #[test]
    fn templates_fill_in_values() {
        let mut schema = Schema::default();
        schema
            .declare("budget", Some(FieldType::Number), &[])
            .unwrap();
        let mut scripts = ScriptHost::new(Limits::default());
        let mut compiler = Compiler {
            path: Path::new("t.yaml"),
            schema: &mut schema,
            scripts: &mut scripts,
            problems: Vec::new(),
        };
        let t = compiler
            .template(&Spanned {
                value: "budget of {budget} {{ok}} from {src}".to_string(),
                span: Span::default(),
            })
            .unwrap();
        assert_eq!(compiler.problems.len(), 1, "`src` is not declared");
        let budget = Value::Int(12000);
        // Into a string an earlier lead's reason left, as bulk scoring renders.
        let mut rendered = "stale".to_string();
        t.render_into(&mut rendered, |slot| (slot == 0).then_some(&budget));
        assert_eq!(rendered, "budget of 12000 {ok} from (none)");
        // Every kind of value as it displays, integers at their extremes included
        // (they are written without the formatting machinery).
        for value in [
            Value::Int(0),
            Value::Int(-7),
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::Float(2.5),
            Value::Float(-0.0),
            Value::Bool(true),
            Value::Text("ten".to_string()),
            Value::Null,
        ] {
            t.render_into(&mut rendered, |slot| (slot == 0).then_some(&value));
            assert_eq!(rendered, format!("budget of {value} {{ok}} from (none)"));
        }
    }
}

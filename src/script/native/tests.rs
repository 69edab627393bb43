//! The translated runs against Rhai itself: a corpus, the shipped scripts, random typed
//! programs and `expr:` conditions over random leads.

use std::path::Path;

use proptest::prelude::*;

use super::super::{ScriptHost, ScriptRule, lead_to_dynamic};
use super::*;
use crate::lead::Schema;

const CORPUS: &str = include_str!("../../../fixtures/native/corpus.rhai");
const HEAVY: &str = include_str!("../../../benches/models/heavy/checks.rhai");
const STARTER: &str = include_str!("../../../rules/engagement.rhai");

/// Random Rhai expressions of the subset, typed so most of them run: numbers, text
/// and booleans over the number fields a and b and the text fields s and t. Every
/// operation is in parentheses, so precedence never decides.
struct Program(u64);

impl Program {
    fn next(&mut self, below: u64) -> u64 {
        // xorshift64*: a fixed sequence per seed, so a failure reproduces.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % below
    }

    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[self.next(from.len() as u64) as usize]
    }

    fn number(&mut self, depth: u32) -> String {
        let leaf = depth == 0 || self.next(3) == 0;
        if leaf {
            return self
                .pick(&[
                    "lead.a",
                    "lead.b",
                    "3",
                    "-7",
                    "0",
                    "100",
                    "2.5",
                    "0.1",
                    "1e10",
                    "9223372036854775807",
                ])
                .to_string();
        }
        let d = depth - 1;
        match self.next(7) {
            0 => {
                let op = self.pick(&["+", "-", "*", "/", "%"]);
                format!("({} {op} {})", self.number(d), self.number(d))
            }
            1 => format!("(-{})", self.number(d)),
            2 => format!("({}).len()", self.text(d)),
            3 => format!("({}).index_of({})", self.text(d), self.text(d)),
            4 => format!(
                "({}).{}()",
                self.number(d),
                self.pick(&["to_int", "to_float", "abs"])
            ),
            5 => match self.next(2) {
                0 => format!("days_since({})", self.text(d)),
                _ => format!(
                    "({} ?? {})",
                    self.pick(&["lead.a", "lead.b", "()"]),
                    self.number(d)
                ),
            },
            _ => format!(
                "(if {} {{ {} }} else {{ {} }})",
                self.boolean(d),
                self.number(d),
                self.number(d)
            ),
        }
    }

    fn text(&mut self, depth: u32) -> String {
        let leaf = depth == 0 || self.next(3) == 0;
        if leaf {
            return self
                .pick(&[
                    "lead.s", "lead.t", "\"\"", "\"a\"", "\"@\"", "\".edu\"", "\"Ab\"", "\"é\"",
                    "as_of()",
                ])
                .to_string();
        }
        let d = depth - 1;
        match self.next(5) {
            0 => format!(
                "({}).{}()",
                self.text(d),
                self.pick(&["to_lower", "to_upper"])
            ),
            1 => match self.next(2) {
                0 => format!("({}).sub_string({})", self.text(d), self.number(d)),
                _ => format!(
                    "({}).sub_string({}, {})",
                    self.text(d),
                    self.number(d),
                    self.number(d)
                ),
            },
            2 => format!("({} + {})", self.text(d), self.text(d)),
            3 => {
                let inner = match self.next(3) {
                    0 => self.number(d),
                    1 => self.text(d),
                    _ => self.boolean(d),
                };
                format!("`<${{{inner}}}>`")
            }
            _ => format!(
                "(if {} {{ {} }} else {{ {} }})",
                self.boolean(d),
                self.text(d),
                self.text(d)
            ),
        }
    }

    fn boolean(&mut self, depth: u32) -> String {
        let leaf = depth == 0 || self.next(4) == 0;
        if leaf {
            return self
                .pick(&["true", "false", "(lead.a == ())", "(lead.s != ())"])
                .to_string();
        }
        let d = depth - 1;
        let compare = ["==", "!=", "<", "<=", ">", ">="];
        match self.next(8) {
            0 => format!(
                "({} {} {})",
                self.number(d),
                self.pick(&compare),
                self.number(d)
            ),
            1 => format!(
                "({} {} {})",
                self.text(d),
                self.pick(&compare),
                self.text(d)
            ),
            2 => format!(
                "({} {} {})",
                self.number(d),
                self.pick(&["==", "!="]),
                self.text(d)
            ),
            3 => format!(
                "({} {} {})",
                self.boolean(d),
                self.pick(&["&&", "||"]),
                self.boolean(d)
            ),
            4 => format!("(!{})", self.boolean(d)),
            5 => format!(
                "({}).{}({})",
                self.text(d),
                self.pick(&["contains", "starts_with", "ends_with"]),
                self.text(d)
            ),
            6 => match self.next(3) {
                0 => format!("({} in {})", self.text(d), self.text(d)),
                1 => format!("({} in [\"a\", \"@\", {}])", self.text(d), self.text(d)),
                _ => format!(
                    "({} in [1, 2.5, \"a\", {}])",
                    self.number(d),
                    self.number(d)
                ),
            },
            _ => format!("is_blank({})", self.text(d)),
        }
    }
}

fn number_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        (-20i64..200).prop_map(|n| Some(Value::Int(n))),
        Just(Some(Value::Int(i64::MAX))),
        (-100.0f64..1000.0).prop_map(|x| Some(Value::Float(x))),
        Just(Some(Value::Float(0.1))),
    ]
}

fn text_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        "[a-zA-Z@.é ]{0,8}".prop_map(|s| Some(Value::Text(s))),
        Just(Some(Value::Text("2026-01-15".to_string()))),
        Just(Some(Value::Text("Ann@Uni.EDU".to_string()))),
    ]
}

/// `expr:` conditions, each in the subset.
const CONDITIONS: [&str; 6] = [
    "lead.a > 3 && lead.s.contains(\"@\")",
    "lead.a == lead.b || lead.t != ()",
    "lead.s.to_lower().ends_with(\".edu\")",
    "days_since(lead.t) > 30",
    "lead.a",
    "lead.a * 2 >= lead.b",
];

/// A host with the corpus, the heavy model's and the starter's rules compiled, and
/// each lead field's slot.
fn host(limits: Limits, files: &[&str]) -> (ScriptHost, Vec<ScriptRule>, Schema) {
    let mut host = ScriptHost::new(limits);
    let mut rules = Vec::new();
    for (number, source) in files.iter().enumerate() {
        let path = format!("{number}.rhai");
        let path = Path::new(&path);
        rules.extend(host.compile_file(Path::new(path), source).unwrap());
    }
    let mut schema = Schema::default();
    host.resolve_reads(&mut schema);
    (host, rules, schema)
}

fn value() -> impl Strategy<Value = Option<Value>> {
    let text = prop_oneof![
        "[a-zA-Z@._ -]{0,10}",
        "\\PC{0,5}",
        Just("ann@uni.edu".to_string()),
        Just("X@RivalSoft.com".to_string()),
        Just("Test Co".to_string()),
        Just("n/a".to_string()),
        Just("2026-10-01".to_string()),
        Just("ß@Straße.de".to_string()),
    ];
    let int = prop_oneof![
        -5i64..60,
        Just(i64::MAX),
        Just(i64::MIN),
        Just(0),
        any::<i64>()
    ];
    let float = prop_oneof![
        -100.0f64..100.0,
        Just(1e20),
        Just(-0.0),
        Just(0.1),
        Just(1.5e-7),
        Just(123_456_789.0),
        Just(9.3e18),
        Just(f64::NAN),
        Just(f64::INFINITY),
        any::<f64>(),
    ];
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        any::<bool>().prop_map(|b| Some(Value::Bool(b))),
        int.prop_map(|n| Some(Value::Int(n))),
        float.prop_map(|x| Some(Value::Float(x))),
        text.prop_map(|s| Some(Value::Text(s))),
        Just(Some(Value::List(vec![Value::Int(1)]))),
    ]
}

/// Values by slot, with the corpus fields and the heavy and starter fields set.
fn lead(schema: &mut Schema, given: &[(&str, Option<Value>)]) -> Vec<Option<Cow<'static, Value>>> {
    let slots: Vec<(Slot, &Option<Value>)> = given
        .iter()
        .map(|(name, v)| (schema.slot_for(name), v))
        .collect();
    let mut values = vec![None; schema.fields().len()];
    for (slot, value) in slots {
        values[slot] = value.clone().map(Cow::Owned);
    }
    values
}

/// Runs every rule both ways; returns how many native runs gave a result.
fn compare(
    host: &ScriptHost,
    rules: &[ScriptRule],
    schema: &Schema,
    values: &[Option<Cow<'_, Value>>],
) -> usize {
    let as_of = Date::parse("2026-11-27").unwrap();
    let map = lead_to_dynamic(None, schema, values, host.view());
    let mut ran = 0;
    for rule in rules {
        let Some(Some(native)) = host.rule_natives.get(rule.number) else {
            continue;
        };
        if let Ok(fast) = native.run_rule(values, as_of) {
            ran += 1;
            let slow = host.call_rule(rule, &map, as_of);
            assert_eq!(Ok(fast), slow, "rule {} on {values:?}", rule.name);
        }
    }
    ran
}

#[test]
fn the_subset_is_run_natively_and_the_rest_left_to_rhai() {
    let (host, rules, _) = host(Limits::default(), &[CORPUS, HEAVY, STARTER]);
    for rule in &rules {
        let native = host.rule_natives[rule.number].is_some();
        assert_eq!(
            native,
            !rule.name.starts_with("rhai_"),
            "rule {}",
            rule.name
        );
    }
}

/// Every rule of the subset gives a result natively on some ordinary lead, so the
/// comparison above is not met only by runs left to Rhai; a rule that can only fail
/// never does.
#[test]
fn every_native_rule_runs_without_rhai_on_ordinary_leads() {
    let (host, rules, mut schema) = host(Limits::default(), &[CORPUS, HEAVY, STARTER]);
    let text = |s: &str| Some(Value::Text(s.to_string()));
    let leads = [
        [
            Some(Value::Int(3)),
            Some(Value::Int(2)),
            text("Ann@Uni.edu"),
            text("uni"),
        ],
        [
            Some(Value::Float(2.5)),
            Some(Value::Float(0.5)),
            text("2026-10-01"),
            text("b"),
        ],
        [None, Some(Value::Bool(true)), text("a"), text("a")],
        [Some(Value::Bool(false)), None, text("x"), text(" ")],
        [Some(Value::Int(1)), Some(Value::Int(7)), text("b"), None],
        [
            Some(Value::Bool(true)),
            Some(Value::Bool(true)),
            text("x"),
            text("y"),
        ],
    ];
    let as_of = Date::parse("2026-11-27").unwrap();
    for rule in rules.iter().filter(|r| !r.name.starts_with("rhai_")) {
        let native = host.rule_natives[rule.number].as_ref().unwrap();
        let fails = rule.name.starts_with("fails_");
        let ran = leads.iter().any(|[a, b, s, t]| {
            let values = lead(
                &mut schema,
                &[
                    ("a", a.clone()),
                    ("b", b.clone()),
                    ("s", s.clone()),
                    ("t", t.clone()),
                    ("email", text("ann@rivalsoft.com")),
                    ("page_views", Some(Value::Int(60))),
                    ("budget", Some(Value::Float(12_345.0))),
                    ("company", text("Test")),
                    ("annual_revenue", Some(Value::Float(2e8))),
                    ("pricing_discussed", Some(Value::Bool(true))),
                    ("last_activity_at", text("2026-10-01")),
                ],
            );
            native.run_rule(&values, as_of).is_ok()
        });
        assert_eq!(ran, !fails, "rule {} ran natively: {ran}", rule.name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn native_runs_agree_with_rhai(
        a in value(), b in value(), s in value(), t in value(),
        email in value(), page_views in value(), budget in value(),
    ) {
        let (host, rules, mut schema) = host(Limits::default(), &[CORPUS, HEAVY, STARTER]);
        let values = lead(&mut schema, &[
            ("a", a), ("b", b), ("s", s), ("t", t),
            ("email", email), ("page_views", page_views), ("budget", budget),
        ]);
        compare(&host, &rules, &schema, &values);
    }

    #[test]
    fn random_programs_agree_with_rhai(
        seed in any::<u64>(),
        a in number_value(), b in number_value(), s in text_value(), t in text_value(),
    ) {
        let mut program = Program(seed | 1);
        let (value, test) = match program.next(3) {
            0 => (program.number(4), program.boolean(3)),
            1 => (program.text(4), program.boolean(3)),
            _ => (program.boolean(4), program.boolean(3)),
        };
        let source = format!(
            "fn r(lead) {{ let v = {value}; if {test} {{ return #{{ points: 1, reason: `${{v}}` }}; }} v }}"
        );
        let mut host = ScriptHost::new(Limits::default());
        // Rhai refuses some programs when it folds their constants (`-"a"`):
        // nothing to compare.
        let Ok(rules) = host.compile_file(Path::new("r.rhai"), &source) else {
            return Ok(());
        };
        let mut schema = Schema::default();
        host.resolve_reads(&mut schema);
        let values = lead(&mut schema, &[("a", a), ("b", b), ("s", s), ("t", t)]);
        let native = host.rule_natives[rules[0].number].as_ref();
        prop_assert!(native.is_some(), "not translated: {}", source);
        if let Some(Ok(fast)) = native.map(|n| n.run_rule(&values, Date::UNIX_EPOCH)) {
            let map = lead_to_dynamic(None, &schema, &values, host.view());
            let slow = host.call_rule(&rules[0], &map, Date::UNIX_EPOCH);
            prop_assert_eq!(Ok(fast), slow, "{} on {:?}", source, values);
        }
    }

    #[test]
    fn native_conditions_agree_with_rhai(
        a in value(), b in value(), s in value(), t in value(),
    ) {
        let mut host = ScriptHost::new(Limits::default());
        let ids: Vec<_> = CONDITIONS
            .iter()
            .map(|source| {
                let doc = crate::rules::raw::ExprDoc {
                    source: source.to_string(),
                    span: crate::diagnostic::Span::new(1, 1, 1),
                    col_offset: 0,
                };
                host.compile_expr(Path::new("r.yaml"), &doc).unwrap()
            })
            .collect();
        let mut schema = Schema::default();
        host.resolve_reads(&mut schema);
        let values = lead(&mut schema, &[("a", a), ("b", b), ("s", s), ("t", t)]);
        let map = lead_to_dynamic(None, &schema, &values, host.view());
        let as_of = Date::parse("2026-11-27").unwrap();
        for (id, source) in ids.into_iter().zip(CONDITIONS) {
            let native = host.expr_natives[id].as_ref().unwrap();
            if let Ok(fast) = native.run_condition(&values, as_of) {
                let (_, ast, shares) = &host.exprs[id];
                let slow = host
                    .call(ast, super::super::EXPR_FN, shares, &map, as_of)
                    .map(|v| v.as_bool());
                prop_assert_eq!(Ok(Ok(fast)), slow, "{} on {:?}", source, values);
            }
        }
    }

    #[test]
    fn native_runs_leave_every_limit_to_rhai(
        a in value(), b in value(), s in value(), t in value(),
    ) {
        let limits = Limits {
            max_string_size: 16,
            max_array_size: 4,
            max_map_size: 6,
            ..Limits::default()
        };
        let (host, rules, mut schema) = host(limits, &[CORPUS]);
        let values = lead(&mut schema, &[("a", a), ("b", b), ("s", s), ("t", t)]);
        compare(&host, &rules, &schema, &values);
    }
}

/// A value of a run is two words (a tag and one word of integer or pointer), so a
/// `Result<Val, Bail>` is returned in registers, not through the stack (see [`Val`]).
#[test]
fn a_value_of_a_run_is_two_words() {
    assert_eq!(std::mem::size_of::<Val<'_>>(), 16);
    assert_eq!(std::mem::size_of::<Result<Val<'_>, Bail>>(), 16);
}

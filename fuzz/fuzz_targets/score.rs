//! Any lead (fields the starter rules read, and others, with values of every kind)
//! scored with the starter rules: deterministic, JSON that parses, never in a stage whose
//! requirements it misses, and the same verdict by the bulk path as by the ordinary one.

#![no_main]

mod common;

use arbitrary::Arbitrary;
use leadscore::io::InputFormat;
use leadscore::{Lead, Scorer};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

/// Field names the starter rules read (and their Salesforce aliases), and some they don't.
const FIELDS: [&str; 18] = [
    "id",
    "email",
    "phone",
    "linkedin",
    "title",
    "budget",
    "Budget__c",
    "employees",
    "pain_points",
    "demo_requested",
    "timeline",
    "pricing_discussed",
    "do_not_contact",
    "page_views",
    "last_activity",
    "country",
    "Title",
    "notes",
];

/// Texts the rules compare against, so generated leads reach deep into them.
const TEXTS: [&str; 12] = [
    "VP Sales",
    "Head of Growth",
    "student",
    "immediately",
    "this quarter",
    "yes",
    "no",
    "true",
    "2026-11-01",
    "2020-01-01",
    "12000",
    "",
];

#[derive(Debug, Arbitrary)]
enum FuzzValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Known(u8),
    Text(String),
    List(Vec<u8>),
}

impl FuzzValue {
    fn to_json(&self) -> Value {
        match self {
            FuzzValue::Null => Value::Null,
            FuzzValue::Bool(b) => json!(b),
            FuzzValue::Int(n) => json!(n),
            // NaN and infinities have no JSON form: serde_json makes them null.
            FuzzValue::Float(x) => json!(x),
            FuzzValue::Known(i) => json!(TEXTS[usize::from(*i) % TEXTS.len()]),
            FuzzValue::Text(text) => json!(text),
            FuzzValue::List(items) => Value::Array(
                items
                    .iter()
                    .map(|i| json!(TEXTS[usize::from(*i) % TEXTS.len()]))
                    .collect(),
            ),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct FuzzLead {
    fields: Vec<(u8, FuzzValue)>,
    other: Option<(String, FuzzValue)>,
}

impl FuzzLead {
    fn to_json(&self) -> Map<String, Value> {
        let mut object: Map<String, Value> = self
            .fields
            .iter()
            .map(|(i, v)| {
                (
                    FIELDS[usize::from(*i) % FIELDS.len()].to_string(),
                    v.to_json(),
                )
            })
            .collect();
        if let Some((name, value)) = &self.other {
            object.insert(name.clone(), value.to_json());
        }
        object
    }
}

/// The starter stage policy: (stage, min score, required signals, disqualified).
const STAGES: [(&str, i64, &[&str], bool); 4] = [
    ("disqualified", 0, &[], true),
    (
        "ready_to_convert",
        70,
        &["need", "budget", "pricing_discussed"],
        false,
    ),
    ("prospect", 40, &["need", "budget"], false),
    ("lead", 0, &[], false),
];

fuzz_target!(|input: FuzzLead| {
    let object = input.to_json();
    let Ok(lead) = Lead::from_json(Value::Object(object.clone())) else {
        return;
    };
    let scorer: &Scorer = common::starter();
    let verdict = scorer.score(&lead, common::as_of());
    assert_eq!(
        verdict,
        scorer.score(&lead, common::as_of()),
        "not deterministic"
    );
    common::check_verdict(&verdict);

    let Some(&(_, min, requires, disqualified)) = STAGES.iter().find(|s| s.0 == &*verdict.stage)
    else {
        panic!("not a starter stage: {}", verdict.stage);
    };
    assert_eq!(disqualified, verdict.disqualified.is_some());
    if !disqualified {
        assert!(verdict.score >= min, "{} below {min}", verdict.score);
        for signal in requires {
            assert!(
                verdict.signals.iter().any(|s| &**s == *signal),
                "{} without {signal}",
                verdict.stage
            );
        }
    } else {
        assert_eq!(verdict.next, None);
    }

    // The same lead as a line of JSON Lines goes the bulk path: same verdict.
    let line = Value::Object(object).to_string();
    common::read_and_score(line.as_bytes(), InputFormat::Jsonl);
});

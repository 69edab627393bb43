//! Laws that hold for any lead and any input, checked on generated data (proptest):
//! scoring is deterministic, adding a matching rule with positive points never lowers a
//! score, reordering records only reorders verdicts, a lead never lands in a stage whose
//! requirements it misses, the bulk path (JSON straight into the rules' slots) gives the
//! verdict of reading the whole record, and no input bytes or rule text can crash the
//! reader, the loader or the pipeline, or lose a record.

use std::io::Cursor;
use std::path::PathBuf;

use leadscore::io::{InputFormat, ReadOptions, RecordReader};
use leadscore::{Date, Lead, Outcome, Pipeline, Rules, Scorer, Value};
use proptest::prelude::*;

fn starter() -> Scorer {
    Scorer::new(Rules::load_dir("rules").expect("the starter rules load"))
}

fn with_extra_rule(points: i64) -> Scorer {
    let mut sources = sources("rules");
    sources.push((
        PathBuf::from("rules/zz_extra.yaml"),
        format!("rules:\n  - id: always\n    when: {{ expr: \"true\" }}\n    points: {points}\n"),
    ));
    Scorer::new(Rules::from_sources(sources).expect("the rules load"))
}

/// The rule files of a folder, as `(path, text)`.
fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    std::fs::read_dir(dir)
        .expect("rules folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "rhai")
                )
        })
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable rule file");
            (p, text)
        })
        .collect()
}

fn classic() -> Scorer {
    Scorer::new(
        Rules::from_sources(sources("fixtures/classic_rules")).expect("the classic rules load"),
    )
}

/// The classic rules with a score dimension declared and two rules counting in it:
/// an annotation that must change nothing but add the `scores` and `score` keys.
fn classic_with_a_dimension() -> Scorer {
    let annotated = sources("fixtures/classic_rules")
        .into_iter()
        .map(|(path, text)| {
            let text = text
                .replace(
                    "settings:\n",
                    "settings:\n  scores: { fit: { min: 0, max: 30 } }\n",
                )
                .replace(
                    "    points: 20\n    signals: [budget]\n",
                    "    points: 20\n    score: fit\n    signals: [budget]\n",
                )
                .replace(
                    "    points: 20\n    signals: [authority]\n",
                    "    points: 20\n    score: fit\n    signals: [authority]\n",
                );
            (path, text)
        })
        .collect();
    Scorer::new(Rules::from_sources(annotated).expect("the annotated rules load"))
}

/// A verdict's JSON without the `scores` object and the matched rules' `score` keys.
fn without_dimensions(line: &str) -> String {
    let mut line = line.replace(",\"score\":\"fit\"", "");
    if let Some(start) = line.find(",\"scores\":{") {
        let end = line[start..]
            .find('}')
            .map_or(line.len(), |i| start + i + 1);
        line.replace_range(start..end, "");
    }
    line
}

fn timed() -> Scorer {
    Scorer::new(Rules::load_dir("fixtures/timed/rules").expect("the timed rules load"))
}

fn as_of() -> Date {
    Date::parse("2026-11-27").unwrap_or(Date::UNIX_EPOCH)
}

const FIELDS: [&str; 16] = [
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
    "last_activity_at",
    "lead_source",
];

fn value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        (-5_000i64..200_000).prop_map(serde_json::Value::from),
        (-1.0e6f64..1.0e6).prop_map(serde_json::Value::from),
        prop::sample::select(vec![
            "",
            " ",
            "12000",
            "lots",
            "yes",
            "no",
            "VP Sales",
            "Student",
            "this quarter",
            "Partner Referral",
            "ana@acme.com",
            "kid@state.EDU",
            "x@rivalsoft.com",
            "a@gmail.com",
            "2026-11-20",
            "2026-03-01",
            "2027-01-01",
            "not a date",
            "é ü 日本",
            "reporting pain",
        ])
        .prop_map(serde_json::Value::from),
        "[ -~]{0,12}".prop_map(serde_json::Value::from),
    ]
}

fn lead_json() -> impl Strategy<Value = serde_json::Value> {
    prop::collection::vec((prop::sample::select(FIELDS.to_vec()), value()), 0..12).prop_map(
        |pairs| {
            serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        },
    )
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

fn run_pipeline(scorer: &Scorer, text: String, threads: usize) -> Vec<Outcome> {
    let reader = RecordReader::new(
        Box::new(Cursor::new(text.into_bytes())),
        InputFormat::Jsonl,
        "p",
        &ReadOptions::default(),
    );
    let mut out = Vec::new();
    Pipeline::new(scorer, as_of())
        .threads(threads)
        .run(reader, &mut |o: Outcome| {
            out.push(o);
            Ok(())
        })
        .expect("writing to memory");
    out
}

proptest! {
    // Cases from PROPTEST_CASES (default 256): raise it for a longer, fuzz-like run.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn the_same_lead_always_gets_the_same_verdict(json in lead_json()) {
        let scorer = starter();
        let lead = Lead::from_json(json).expect("an object");
        let first = scorer.score(&lead, as_of()).to_json_line();
        prop_assert_eq!(scorer.clone().score(&lead, as_of()).to_json_line(), first.clone());
        let again = std::thread::scope(|s| s.spawn(|| scorer.score(&lead, as_of()).to_json_line()).join());
        prop_assert_eq!(again.expect("thread"), first);
    }

    #[test]
    fn the_bulk_path_agrees_with_reading_the_whole_record(json in lead_json(), depth in 0usize..140) {
        let scorer = starter();
        // Plus a field no rule reads, nested `depth` deep: past serde_json's recursion
        // limit both paths must refuse the record (the bulk path once scored it).
        let mut text = json.to_string();
        let comma = if text.len() > 2 { "," } else { "" };
        let unread = format!("\"zz_unread\": {}1{}{comma}", "[".repeat(depth), "]".repeat(depth));
        text.insert_str(1, &unread);
        let mut reader = RecordReader::new(
            Box::new(Cursor::new(text.into_bytes())),
            InputFormat::Jsonl,
            "p",
            &ReadOptions::default(),
        );
        let raw = reader.next_raw().expect("one record");
        let bulk = scorer.score_record(raw.clone(), as_of());
        let ordinary = raw
            .parse()
            .lead
            .and_then(|lead| scorer.try_score(&lead, as_of()).map_err(|e| e.reason));
        match (bulk.result, ordinary) {
            (Ok(verdict), Ok(mut expected)) => {
                expected.name_by(&bulk.position);
                prop_assert_eq!(verdict.to_json_line(), expected.to_json_line());
            }
            (Err(_), Err(_)) => {}
            (bulk, ordinary) => prop_assert!(false, "bulk {:?}\nordinary {:?}", bulk, ordinary),
        }
    }

    #[test]
    fn a_matching_rule_with_positive_points_never_lowers_the_score(json in lead_json(), points in 1i64..60) {
        let lead = Lead::from_json(json).expect("an object");
        let before = starter().score(&lead, as_of());
        let after = with_extra_rule(points).score(&lead, as_of());
        prop_assert!(after.score >= before.score, "{} < {}", after.score, before.score);
    }

    #[test]
    fn a_lead_never_lands_in_a_stage_whose_requirements_it_misses(json in lead_json()) {
        let verdict = starter().score(&Lead::from_json(json).expect("an object"), as_of());
        let (_, min, requires, disqualified) = STAGES
            .iter()
            .find(|s| s.0 == &*verdict.stage)
            .copied()
            .expect("a starter stage");
        prop_assert!(verdict.score >= min);
        for signal in requires {
            prop_assert!(verdict.signals.iter().any(|s| &**s == *signal), "{} lacks {}", verdict.stage, signal);
        }
        prop_assert_eq!(disqualified, verdict.disqualified.is_some());
        if verdict.disqualified.is_some() {
            prop_assert_eq!(verdict.next, None);
        }
    }

    #[test]
    fn declaring_dimensions_changes_nothing_but_adds_their_keys(json in lead_json()) {
        let lead = Lead::from_json(json).expect("an object");
        let plain = classic().score(&lead, as_of()).to_json_line();
        let annotated = classic_with_a_dimension().score(&lead, as_of()).to_json_line();
        prop_assert!(annotated.contains("\"scores\":{\"fit\":"), "{}", annotated);
        prop_assert_eq!(without_dimensions(&annotated), plain.as_str());
        prop_assert!(!plain.contains("\"grade\"") && !plain.contains("\"transition\""));
    }

    #[test]
    fn a_lead_never_lands_in_a_stage_whose_dimension_or_grade_it_misses(
        json in lead_json(),
        fit_extra in prop::sample::select(vec![0i64, 5_000, 20_000]),
        days in -30i64..200,
    ) {
        let mut json = json;
        if let Some(object) = json.as_object_mut() {
            object.insert("budget".into(), serde_json::json!(fit_extra));
            object.insert("pain".into(), serde_json::json!("x"));
            object.insert("pricing_discussed".into(), serde_json::json!(true));
            let seen = Date::from_unix_days(as_of().unix_days() - days).unwrap_or(Date::UNIX_EPOCH);
            object.insert("last_activity_at".into(), serde_json::json!(seen.to_string()));
        }
        let verdict = timed().score(&Lead::from_json(json).expect("an object"), as_of());
        let grade = verdict.grade.clone().flatten();
        match &*verdict.stage {
            "ready_to_convert" => {
                prop_assert!(verdict.scores.get("engagement").unwrap_or(0) >= 20);
                prop_assert!(matches!(grade.as_deref(), Some("A" | "B")), "{:?}", grade);
            }
            "prospect" => prop_assert!(verdict.scores.get("fit").unwrap_or(0) >= 20),
            _ => {}
        }
        // Decay never raises a rule's points.
        for m in &verdict.matched {
            if let Some(decay) = m.decay {
                prop_assert!(m.points.abs() <= decay.points.abs(), "{:?}", m);
                prop_assert!(m.points == 0 || m.points.signum() == decay.points.signum());
                prop_assert!(decay.age_days >= 0);
            }
        }
    }

    #[test]
    fn reordering_records_reorders_verdicts_and_changes_nothing_else(
        leads in prop::collection::vec(lead_json(), 1..40),
        seed in any::<u64>(),
    ) {
        let scorer = starter();
        let lines: Vec<String> = leads
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut l = l.clone();
                l["id"] = serde_json::Value::from(format!("R-{i}"));
                l.to_string()
            })
            .collect();
        let mut order: Vec<usize> = (0..lines.len()).collect();
        // A seeded shuffle (Fisher-Yates with SplitMix64).
        let mut state = seed;
        for i in (1..order.len()).rev() {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let j = (state ^ (state >> 31)) as usize % (i + 1);
            order.swap(i, j);
        }
        let text = |idx: &[usize]| idx.iter().map(|&i| lines[i].clone() + "\n").collect::<String>();
        let straight: Vec<String> = run_pipeline(&scorer, text(&(0..lines.len()).collect::<Vec<_>>()), 2)
            .into_iter()
            .map(|o| o.result.map(|v| v.to_json_line()).unwrap_or_default())
            .collect();
        let shuffled = run_pipeline(&scorer, text(&order), 3);
        prop_assert_eq!(shuffled.len(), lines.len());
        for (k, outcome) in shuffled.into_iter().enumerate() {
            let got = outcome.result.map(|v| v.to_json_line()).unwrap_or_default();
            prop_assert_eq!(&got, &straight[order[k]]);
        }
    }

    #[test]
    fn no_bytes_crash_a_reader_and_every_record_is_accounted_for(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        format in prop::sample::select(vec![InputFormat::Json, InputFormat::Jsonl, InputFormat::Csv]),
    ) {
        let scorer = starter();
        let records: Vec<_> = RecordReader::new(Box::new(Cursor::new(bytes.clone())), format, "f", &ReadOptions::default()).collect();
        let reader = RecordReader::new(Box::new(Cursor::new(bytes)), format, "f", &ReadOptions::default());
        let mut outcomes = Vec::new();
        Pipeline::new(&scorer, as_of()).threads(2).run(reader, &mut |o: Outcome| {
            outcomes.push(o);
            Ok(())
        }).expect("writing to memory");
        // read = scored + rejected: one outcome per record, in order.
        prop_assert_eq!(outcomes.len(), records.len());
        for (o, r) in outcomes.iter().zip(&records) {
            prop_assert_eq!(&o.position, &r.position);
            if r.lead.is_err() {
                prop_assert!(o.result.is_err());
            }
        }
    }

    #[test]
    fn no_rule_text_crashes_the_loader(text in "[ -~\n]{0,300}", rhai in "[ -~\n]{0,120}") {
        let _ = Rules::from_sources(vec![
            (PathBuf::from("a.yaml"), text),
            (PathBuf::from("b.rhai"), rhai),
        ]);
    }

    #[test]
    fn mutated_starter_rules_load_or_fail_with_positions(cut in 0usize..4000, insert in "[ -~]{0,3}") {
        let original = std::fs::read_to_string("rules/bant.yaml").expect("starter rules");
        let at = original.char_indices().map(|(i, _)| i).nth(cut % original.chars().count()).unwrap_or(0);
        let mutated = format!("{}{}{}", &original[..at], insert, &original[at..]);
        if let Err(e) = Rules::from_sources(vec![(PathBuf::from("bant.yaml"), mutated)]) {
            for d in e.diagnostics() {
                prop_assert!(d.span.line >= 1 && d.span.col >= 1, "{d}");
            }
        }
    }
}

#[test]
fn numbers_that_do_not_fit_and_non_finite_values_are_handled() {
    let scorer = starter();
    let outcome = |text: &str| {
        let mut outcomes = run_pipeline(&scorer, format!("{text}\n"), 1);
        assert_eq!(outcomes.len(), 1, "{text}");
        outcomes.remove(0).result
    };
    // Out of range for any float, not JSON, not a number: rejected with a reason.
    for text in [
        r#"{"id": "big", "email": "a@b.co", "budget": 1e400}"#,
        r#"{"id": "nan", "email": "a@b.co", "budget": NaN}"#,
        r#"{"id": "inf", "email": "a@b.co", "budget": "Infinity"}"#,
    ] {
        let rejection = outcome(text).expect_err(text);
        assert!(
            !rejection.reason.is_empty() && rejection.raw == text,
            "{rejection:?}"
        );
    }
    // Wider than an i64 but a fine float: a very large budget.
    let huge =
        outcome(r#"{"id": "huge", "email": "a@b.co", "budget": 123456789012345678901234567890}"#)
            .unwrap();
    assert!(
        huge.matched.iter().any(|m| &*m.rule == "budget_confirmed"),
        "{huge:?}"
    );
    assert_eq!(Value::Float(f64::NAN).to_json(), serde_json::Value::Null);
}

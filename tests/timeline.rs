//! `leadscore timeline` on a hand-computed history (`fixtures/timeline/`: each expected
//! change of stage is explained in a comment above it), its rejects, `--until`,
//! `--summary` and `--sort`; and laws over generated histories: a timeline's last stage
//! is the stage of the fully merged lead scored at its last date, and the order leads
//! are interleaved in does not change the output.

mod common;

use std::collections::BTreeMap;

use common::*;
use leadscore::timeline::Timeline;
use leadscore::{Date, Lead, Rules, Scorer};
use proptest::prelude::*;

const RULES: &str = "fixtures/timeline/rules";
const HISTORY: &str = "fixtures/timeline/history.jsonl";

/// The JSON lines of an expected-output fixture, without its `#` comments.
fn expected(path: &str) -> String {
    let text = std::fs::read_to_string(root().join(path)).expect("fixture");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn eq_text(want: &str, got: &str) {
    assert!(want == got, "--- expected\n{want}\n--- got\n{got}\n");
}

#[test]
fn a_history_gives_the_hand_computed_changes_of_stage_in_time_order() {
    let out = leadscore(&["timeline", "--rules", RULES, HISTORY]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    eq_text(&expected("fixtures/timeline/expected.txt"), &stdout(&out));
    assert_eq!(
        stderr(&out),
        "read 8 records: 8 merged, 0 rejected; 3 leads, 7 changes of stage\n"
    );
}

#[test]
fn until_shows_the_day_a_date_condition_lapses() {
    let out = leadscore(&[
        "timeline",
        "--rules",
        RULES,
        "--until",
        "2026-03-31",
        HISTORY,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    eq_text(
        &expected("fixtures/timeline/expected_until.txt"),
        &stdout(&out),
    );
    // Up to the day before, nothing has lapsed yet.
    let out = leadscore(&[
        "timeline",
        "--rules",
        RULES,
        "--until",
        "2026-03-17",
        HISTORY,
    ]);
    eq_text(&expected("fixtures/timeline/expected.txt"), &stdout(&out));
}

/// From expected.txt. Days from first seen: A-1 (first 02-02) lead 0, prospect 3 (02-05),
/// ready 29 (03-03); B-7 (02-03) prospect 0, lead 7, disqualified 7; C-3 lead 0.
/// Tipping rules (added by the update that first moved the lead into the stage; a
/// first record brings a lead in, it does not tip it): disqualified opted_out (B-7);
/// ready_to_convert pricing_discussed and recent_activity once each (A-1; a tie: the
/// first in rule order); prospect budget_confirmed (A-1; B-7 arrived a prospect); lead
/// none (A-1 and C-3 arrived there, B-7 fell back with no rule added).
#[test]
fn summary_counts_leads_days_and_tipping_rules_per_stage() {
    let out = leadscore(&["timeline", "--rules", RULES, "--summary", HISTORY]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    eq_text(
        "3 leads, 8 updates, 7 changes of stage
STAGE              LEADS  MEDIAN DAYS  P90 DAYS  MOST OFTEN TIPPED BY
disqualified           1            7         7  opted_out (1 leads)
ready_to_convert       1           29        29  pricing_discussed (1 leads)
prospect               2            0         3  budget_confirmed (1 leads)
lead                   3            0         7  -
",
        &stdout(&out),
    );
    let out = leadscore(&[
        "timeline",
        "--rules",
        RULES,
        "--summary",
        "-f",
        "json",
        HISTORY,
    ]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["stages"][2]["stage"], "prospect");
    assert_eq!(json["stages"][2]["median_days"], 0);
    assert_eq!(json["stages"][2]["p90_days"], 3);
    assert_eq!(json["stages"][2]["tipped_by"]["rule"], "budget_confirmed");
    assert_eq!(json["updates"], 8);
}

#[test]
fn bad_records_are_reported_counted_and_kept_and_the_rest_replayed() {
    let rejects = Temp::new("timeline-rejects.jsonl");
    let out = leadscore(&[
        "timeline",
        "--rules",
        RULES,
        "--rejects",
        rejects.path().to_str().expect("a UTF-8 path"),
        "fixtures/timeline/bad.jsonl",
    ]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    for line in [
        "fixtures/timeline/bad.jsonl:2: rejected: no id: the record has no `id`",
        "fixtures/timeline/bad.jsonl:3: rejected: no time: the record has no `updated_at`",
        "fixtures/timeline/bad.jsonl:4: rejected: `updated_at` is not a date or an RFC 3339 time",
        "fixtures/timeline/bad.jsonl:5: rejected: field `budget`: expected a number, found the text \"a lot\"",
        "fixtures/timeline/bad.jsonl:6: rejected: out of order: lead A-1 already has an update at 2026-02-02",
        "fixtures/timeline/bad.jsonl:7: rejected: ",
        "read 8 records: 2 merged, 6 rejected; 1 leads, 2 changes of stage",
    ] {
        assert!(err.contains(line), "missing `{line}` in\n{err}");
    }
    let kept = std::fs::read_to_string(rejects.path()).expect("rejects file");
    assert_eq!(kept.lines().count(), 6, "{kept}");
    assert!(kept.contains("last tuesday"), "{kept}");
    // Line 1 (need: a lead), then line 8 (budget 20000: 50 with need and budget).
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let stages: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["at"].as_str().unwrap(), l["to"].as_str().unwrap()))
        .collect();
    assert_eq!(stages, [("2026-02-02", "lead"), ("2026-02-05", "prospect")]);
}

#[test]
fn sort_replays_input_in_any_order_and_without_it_late_updates_are_refused() {
    let text = std::fs::read_to_string(root().join(HISTORY)).expect("history");
    let lines: Vec<&str> = text.lines().collect();
    // Neither sorted by time nor grouped by lead; B-7's two updates at the same time
    // keep their order, and B-7 still comes before C-3.
    let shuffled: String = [5, 4, 6, 7, 2, 8, 1, 3]
        .iter()
        .map(|n| format!("{}\n", lines[n - 1]))
        .collect();
    let out = leadscore_with_stdin(
        &["timeline", "--rules", RULES, "--sort", "--input", "jsonl"],
        shuffled.as_bytes(),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    eq_text(&expected("fixtures/timeline/expected.txt"), &stdout(&out));
    let out = leadscore_with_stdin(&["timeline", "--rules", RULES, "-"], shuffled.as_bytes());
    assert_eq!(code(&out), 1);
    // A-1's updates of 02-05, 02-02 and 02-20 all come after its 03-03 one.
    assert!(stderr(&out).contains("stdin:5: rejected: out of order: lead A-1 already has an update at 2026-03-03T10:00:00Z; sort the input by time (or use --sort)"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("5 merged, 3 rejected"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn csv_histories_name_time_and_fields_by_their_columns() {
    let csv = "LeadId,LastModifiedDate,pain_points,Budget__c,last_activity_at\n\
               A-1,2026-02-02 09:00:00,manual reporting,,2026-02-02\n\
               A-1,2026-02-05 15:30:00,,25000,\n";
    let out = leadscore_with_stdin(
        &[
            "timeline",
            "--rules",
            RULES,
            "--input",
            "csv",
            "--time-field",
            "LastModifiedDate",
        ],
        csv.as_bytes(),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // An empty cell leaves the earlier value: pain_points and the activity date stay.
    eq_text(
        "{\"id\":\"A-1\",\"at\":\"2026-02-02 09:00:00\",\"from\":null,\"to\":\"lead\",\"score\":45,\"gained\":[\"need\"],\"lost\":[],\"rules_added\":[\"need_stated\",\"recent_activity\"],\"rules_removed\":[]}\n\
         {\"id\":\"A-1\",\"at\":\"2026-02-05 15:30:00\",\"from\":\"lead\",\"to\":\"prospect\",\"score\":70,\"gained\":[\"budget\"],\"lost\":[],\"rules_added\":[\"budget_confirmed\"],\"rules_removed\":[]}\n",
        &stdout(&out),
    );
}

#[test]
fn without_a_time_field_timeline_says_how_to_name_one() {
    let out = leadscore(&["timeline", HISTORY]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no time field: set `settings.event_time: { field: NAME }` in the rules, or pass --time-field NAME"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn until_scores_every_day_when_a_script_reads_the_date_and_finds_the_same_day() {
    // The fixture rules with `recent_activity` as a Rhai rule: leadscore cannot see
    // which days matter to a script, so it scores each day up to --until, and must find
    // what the YAML version finds by working out the days.
    let dir = Temp::new("timeline-rhai-rules");
    std::fs::create_dir_all(dir.path()).expect("temp folder");
    let yaml = std::fs::read_to_string(root().join(RULES).join("rules.yaml")).expect("rules");
    let block = "  - id: recent_activity\n    when: { field: last_activity_at, within_days: 14 }\n    points: 20\n";
    assert!(yaml.contains(block));
    std::fs::write(dir.path().join("rules.yaml"), yaml.replace(block, "")).expect("write");
    std::fs::write(
        dir.path().join("z_recent.rhai"),
        "fn recent_activity(lead) {\n    let days = days_since(lead.last_activity_at);\n    if days != () && days >= 0 && days <= 14 { 20 }\n}\n",
    )
    .expect("write");
    let rules = dir.path().to_str().expect("a UTF-8 path");
    let out = leadscore(&[
        "timeline",
        "--rules",
        rules,
        "--until",
        "2026-03-31",
        HISTORY,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    eq_text(
        &expected("fixtures/timeline/expected_until.txt"),
        &stdout(&out),
    );
}

// --- laws over generated histories ------------------------------------------------------

fn fixture_scorer() -> Scorer {
    Scorer::new(Rules::load_dir(root().join(RULES)).expect("fixture rules load"))
}

fn starter_scorer() -> Scorer {
    Scorer::new(Rules::load_dir(root().join("rules")).expect("starter rules load"))
}

/// One update: a few fields, each set or removed (null).
fn update() -> impl Strategy<Value = BTreeMap<String, serde_json::Value>> {
    use serde_json::{Value, json};
    let value = prop_oneof![
        Just(("pain_points", json!("manual reporting"))),
        Just(("pain_points", Value::Null)),
        (0u64..40_000).prop_map(|b| ("budget", json!(b))),
        Just(("budget", Value::Null)),
        any::<bool>().prop_map(|b| ("pricing_discussed", json!(b))),
        // Days before the update (made a date by `concrete`): recent or lapsing activity.
        (0u32..30).prop_map(|d| ("last_activity_at", json!(d))),
        (0u32..30).prop_map(|d| ("last_activity_at", json!(d))),
        (10_000u64..40_000).prop_map(|b| ("budget", json!(b))),
        Just(("pricing_discussed", json!(true))),
        Just(("last_activity_at", Value::Null)),
        any::<bool>().prop_map(|b| ("do_not_contact", json!(b))),
        Just(("title", json!("VP Sales"))),
        Just(("email", json!("ana@acme.com"))),
        (0u64..30).prop_map(|n| ("page_views", json!(n))),
    ];
    proptest::collection::vec(value, 0..5).prop_map(|fields| {
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    })
}

/// Histories of up to 4 leads: (lead number, day offset, fields), in time order per lead.
fn history() -> impl Strategy<Value = Vec<(usize, u32, BTreeMap<String, serde_json::Value>)>> {
    proptest::collection::vec((0usize..4, 0u32..5, update()), 1..25).prop_map(|items| {
        // Each update is a few days after the one before it (distinct seconds too).
        let mut day = 0;
        items
            .into_iter()
            .map(|(lead, gap, fields)| {
                day += gap;
                (lead, day, fields)
            })
            .collect()
    })
}

fn date(day: u32) -> Date {
    Date::from_unix_days(20_454 + i64::from(day)).expect("a date")
}

/// The fields of an update on `day`, with a number of days under `last_activity_at`
/// turned into the date that many days before.
fn concrete(
    day: u32,
    fields: &BTreeMap<String, serde_json::Value>,
) -> BTreeMap<String, serde_json::Value> {
    fields
        .iter()
        .map(|(k, v)| match v.as_u64() {
            Some(ago) if k == "last_activity_at" => {
                let d = Date::from_unix_days(date(day).unix_days() - ago as i64).expect("a date");
                (k.clone(), d.to_string().into())
            }
            _ => (k.clone(), v.clone()),
        })
        .collect()
}

fn record(n: usize, lead: usize, day: u32, fields: &BTreeMap<String, serde_json::Value>) -> Lead {
    let mut map = serde_json::Map::new();
    map.insert("id".into(), format!("L-{lead}").into());
    map.insert(
        "updated_at".into(),
        format!("{}T00:00:{:02}Z", date(day), n % 60).into(),
    );
    for (k, v) in concrete(day, fields) {
        map.insert(k, v);
    }
    Lead::from_json(serde_json::Value::Object(map)).expect("an object")
}

fn replay(scorer: &Scorer, records: impl IntoIterator<Item = Lead>) -> Timeline {
    let mut timeline = Timeline::new(scorer, Some("updated_at")).expect("a time field");
    for r in records {
        timeline.add(r).expect("a good record");
    }
    timeline
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_last_stage_is_the_fully_merged_lead_scored_at_its_last_date(history in history()) {
        for scorer in [fixture_scorer(), starter_scorer()] {
            let records = history.iter().enumerate().map(|(n, (lead, day, f))| record(n, *lead, *day, f));
            let mut timeline = replay(&scorer, records);
            for lead in 0..4 {
                let mine: Vec<_> = history.iter().filter(|(l, ..)| *l == lead).collect();
                let Some((_, last_day, _)) = mine.last() else { continue };
                let mut merged = serde_json::Map::new();
                merged.insert("id".into(), format!("L-{lead}").into());
                for (_, day, fields) in &mine {
                    for (k, v) in concrete(*day, fields) {
                        if v.is_null() { merged.remove(&k); } else { merged.insert(k, v); }
                    }
                }
                let as_of = date(*last_day);
                let want = scorer.score(&Lead::from_json(serde_json::Value::Object(merged)).expect("object"), as_of);
                let id = format!("L-{lead}");
                let last = timeline.transitions().iter().rev().find(|t| t.id.to_string() == id).map(|t| t.to.clone());
                prop_assert_eq!(last.as_deref(), Some(&*want.stage), "lead {}", id);
            }
        }
    }

    #[test]
    fn how_leads_are_interleaved_does_not_change_the_output(history in history(), seed in any::<u64>()) {
        let scorer = fixture_scorer();
        let records: Vec<(usize, Lead)> = history.iter().enumerate().map(|(n, (lead, day, f))| (*lead, record(n, *lead, *day, f))).collect();
        let mut sorted = replay(&scorer, records.iter().map(|(_, r)| r.clone()));
        // Grouped by lead, leads in an order from the seed, each lead's updates in order.
        let mut order: Vec<usize> = (0..4).collect();
        order.sort_by_key(|l| (seed >> (l * 8)) & 0xff);
        let grouped = order.iter().flat_map(|l| records.iter().filter(move |(lead, _)| lead == l).map(|(_, r)| r.clone()));
        let mut grouped = replay(&scorer, grouped);
        let lines = |t: &mut Timeline| t.transitions().iter().map(|x| x.to_json_line()).collect::<Vec<_>>();
        prop_assert_eq!(lines(&mut sorted), lines(&mut grouped));
    }
}

#[test]
fn until_finds_the_day_decay_drops_a_lead_and_lines_carry_the_scores() {
    // fixtures/timed/rules: `active` gives 30 engagement points, halving every 30 days
    // from last_activity_at (2026-11-01); ready_to_convert needs 20 engagement. 18 days
    // on, 30 x 0.5^(18/30) = 19.8 rounds to 20 (still ready); 19 days on, 19.3 rounds to
    // 19: the lead drops to prospect on 2026-11-20, and no day before.
    let out = leadscore(&[
        "timeline",
        "--rules",
        "fixtures/timed/rules",
        "--time-field",
        "updated_at",
        "--until",
        "2026-12-31",
        "fixtures/timeline/decay.jsonl",
    ]);
    assert_code(&out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(
            "{\"id\":\"H-1\",\"at\":\"2026-11-01T09:00:00Z\",\"from\":null,\"to\":\"ready_to_convert\",\
             \"score\":100,\"scores\":{\"fit\":50,\"engagement\":30,\"intent\":0},"
        ),
        "{text}"
    );
    assert_eq!(
        lines[1],
        "{\"id\":\"H-1\",\"at\":\"2026-11-20\",\"from\":\"ready_to_convert\",\"to\":\"prospect\",\
         \"score\":89,\"scores\":{\"fit\":50,\"engagement\":19,\"intent\":0},\
         \"gained\":[],\"lost\":[],\"rules_added\":[],\"rules_removed\":[]}"
    );
}

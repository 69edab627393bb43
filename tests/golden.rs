//! Rule folders over the sample leads, against golden verdict files. The classic rules
//! (the starter folder before score dimensions, grades, decay and transitions) must keep
//! their recorded verdicts byte for byte: folders that do not opt into new keys never
//! change. The starter rules, which use them all, have golden files of their own.

mod common;

use common::{assert_golden, code, leadscore, stderr, stdout};

const AS_OF: &str = "2026-11-27";

const CLASSIC: &str = "fixtures/classic_rules";

/// `leadscore score` of `input` with `rules` as of [`AS_OF`] gives the golden file.
fn scores_as_recorded(rules: &str, input: &str, golden: &str) {
    let out = leadscore(&["score", "--rules", rules, "--as-of", AS_OF, input]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_golden(golden, &stdout(&out));
}

#[test]
fn classic_rules_score_the_jsonl_fixtures_as_recorded() {
    scores_as_recorded(
        CLASSIC,
        "fixtures/leads.jsonl",
        "fixtures/expected/leads.jsonl",
    );
}

#[test]
fn classic_rules_score_the_salesforce_csv_as_recorded() {
    scores_as_recorded(
        CLASSIC,
        "fixtures/leads.csv",
        "fixtures/expected/leads_csv.jsonl",
    );
}

#[test]
fn starter_rules_score_the_jsonl_fixtures_as_recorded() {
    scores_as_recorded(
        "rules",
        "fixtures/leads.jsonl",
        "fixtures/expected/starter.jsonl",
    );
}

#[test]
fn starter_rules_score_the_salesforce_csv_as_recorded() {
    scores_as_recorded(
        "rules",
        "fixtures/leads.csv",
        "fixtures/expected/starter_csv.jsonl",
    );
}

#[test]
fn timed_rules_score_their_leads_as_recorded() {
    scores_as_recorded(
        "fixtures/timed/rules",
        "fixtures/timed/leads.jsonl",
        "fixtures/expected/timed.jsonl",
    );
}

#[test]
fn timed_rules_explain_a_lead_as_recorded() {
    let out = leadscore(&[
        "explain",
        "--rules",
        "fixtures/timed/rules",
        "--as-of",
        AS_OF,
        "--id",
        "T-2",
        "fixtures/timed/leads.jsonl",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_golden("fixtures/expected/timed_explain.txt", &stdout(&out));
}

#[test]
fn broken_time_keys_are_all_reported_as_recorded() {
    let out = leadscore(&["check", "--rules", "fixtures/bad_time_rules"]);
    assert_eq!(code(&out), 2);
    assert_golden("fixtures/expected/bad_time_rules.txt", &stderr(&out));
}

#[test]
fn csv_columns_map_through_aliases_to_the_same_verdicts_as_json() {
    let json = stdout(&leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "fixtures/leads.jsonl",
    ]));
    let csv = stdout(&leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "fixtures/leads.csv",
    ]));
    let strip_position = |s: &str| {
        s.replace("fixtures/leads.jsonl:15", "#")
            .replace("fixtures/leads.csv:16", "#")
    };
    assert_eq!(strip_position(&json), strip_position(&csv));
}

#[test]
fn every_stage_appears_in_the_fixture_verdicts() {
    let out = stdout(&leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "fixtures/leads.jsonl",
    ]));
    for stage in ["lead", "prospect", "ready_to_convert", "disqualified"] {
        let needle = format!("\"stage\":\"{stage}\"");
        assert!(out.contains(&needle), "no {stage} verdict in:\n{out}");
    }
}

#[test]
fn bad_rules_are_all_reported_as_recorded() {
    let out = leadscore(&["check", "--rules", "fixtures/bad_rules"]);
    assert_eq!(code(&out), 2);
    assert_golden("fixtures/expected/bad_rules.txt", &stderr(&out));
}

#[test]
fn output_is_byte_identical_across_runs() {
    let first = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "fixtures/leads.jsonl",
        "fixtures/leads.csv",
    ]);
    for _ in 0..3 {
        let again = leadscore(&[
            "score",
            "--as-of",
            AS_OF,
            "fixtures/leads.jsonl",
            "fixtures/leads.csv",
        ]);
        assert_eq!(first.stdout, again.stdout);
    }
}

//! The command line as a new user meets it: every subcommand run as the real binary, with
//! exact exit codes and the text on standard output and standard error.
//!
//! Small inputs live in `fixtures/cli/`; anything a test writes goes to a uniquely named
//! path under the system temp folder and is removed when the test ends.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const AS_OF: &str = "2026-11-27";

/// The starter rules before score dimensions, grades, decay and transitions: tests of the
/// command line's mechanics (formats, explain's layout) use them, so their figures stay
/// those of plain points.
const CLASSIC: &str = "fixtures/classic_rules";

/// How long a test waits on a child process before calling it hung.
const DEADLINE: Duration = Duration::from_secs(20);

/// Every rule of the starter rules folder, in the order `explain` lists them.
const STARTER_RULES: [&str; 19] = [
    "need_stated",
    "demo_requested",
    "budget_confirmed",
    "large_company",
    "decision_maker",
    "influencer",
    "buying_soon",
    "pricing_discussed",
    "no_contact",
    "opted_out",
    "cannot_afford",
    "student",
    "competitor",
    "engaged_visitor",
    "pricing_follow_up",
    "recent_activity",
    "gone_quiet",
    "personal_email",
    "referred",
];

const STAGES_LINE: &str = "the stages are: disqualified, ready_to_convert, prospect, lead";

// --- helpers ----------------------------------------------------------------------------

/// `leadscore ARGS` set up like the shared helpers (crate root, no colour, no
/// `LEADSCORE_RULES`), for tests that need environment variables or live pipes.
fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadscore"));
    cmd.args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("LEADSCORE_RULES");
    cmd
}

/// Runs `leadscore ARGS` with extra environment variables and empty standard input.
fn leadscore_env(args: &[&str], vars: &[(&str, &str)]) -> Output {
    command(args)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the leadscore binary runs")
}

/// Every line of JSON Lines text, parsed.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\nin:\n{text}"))
        })
        .collect()
}

/// The `id` of each verdict in JSON Lines output.
fn ids(text: &str) -> Vec<String> {
    json_lines(text)
        .iter()
        .map(|v| match &v["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// The rule names of a verdict's `matched` entries.
fn matched(verdict: &Value) -> Vec<&str> {
    verdict["matched"]
        .as_array()
        .expect("matched is a list")
        .iter()
        .map(|m| m["rule"].as_str().expect("a matched rule has a name"))
        .collect()
}

/// Asserts the exit code, showing both streams when it differs.
/// Scores ARGS with the starter rules at `AS_OF`, quietly, and returns the verdict ids.
fn scored_ids(args: &[&str]) -> Vec<String> {
    let mut all = vec!["score", "--quiet", "--as-of", AS_OF];
    all.extend_from_slice(args);
    let out = leadscore(&all);
    assert_code(&out, 0);
    ids(&stdout(&out))
}

/// Waits for `child`, killing it and failing the test after `DEADLINE`.
fn wait_or_kill(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            return status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("leadscore did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `leadscore ARGS` with standard output a pipe whose reader is already closed, so
/// the first write fails with a broken pipe; returns the exit code and standard error.
fn run_with_closed_stdout(args: &[&str]) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut child = command(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("the leadscore binary runs");
    let mut err = child.stderr.take().expect("stderr is piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let status = wait_or_kill(&mut child);
    let text = errors.join().expect("stderr reader finishes");
    (status.code().unwrap_or(-1), text)
}

// --- score: input formats ---------------------------------------------------------------

#[test]
fn score_reads_a_json_file_holding_one_object() {
    assert_eq!(scored_ids(&["fixtures/cli/object.json"]), ["J-1"]);
}

#[test]
fn score_reads_a_json_file_of_objects_one_after_another() {
    assert_eq!(scored_ids(&["fixtures/cli/objects.json"]), ["J-1", "J-2"]);
}

#[test]
fn score_reads_a_json_array() {
    assert_eq!(scored_ids(&["fixtures/cli/array.json"]), ["A-1", "A-2"]);
}

#[test]
fn score_reads_json_lines() {
    assert_eq!(scored_ids(&["fixtures/cli/two.jsonl"]), ["T-1", "T-2"]);
}

#[test]
fn score_sniffs_a_semicolon_csv_delimiter_and_keeps_commas_inside_cells() {
    let out = leadscore(&["score", "--as-of", AS_OF, "fixtures/cli/semicolon.csv"]);
    assert_code(&out, 0);
    let verdicts = json_lines(&stdout(&out));
    assert_eq!(ids(&stdout(&out)), ["S-1", "S-2"]);
    // Budget__c and Pain_Points__c came through their aliases and the declared types.
    assert_eq!(
        matched(&verdicts[0]),
        ["need_stated", "budget_confirmed", "decision_maker"]
    );
    assert_eq!(
        verdicts[0]["matched"][0]["reason"],
        "stated need: slow reports, late invoices"
    );
    assert_eq!(stderr(&out), "read 2 records: 2 scored, 0 rejected\n");
}

#[test]
fn regression_bom_in_csv_header() {
    let raw = std::fs::read(root().join("fixtures/cli/bom.csv")).expect("fixture");
    assert!(
        raw.starts_with(b"\xef\xbb\xbfId,"),
        "fixtures/cli/bom.csv lost its byte order mark"
    );
    let out = leadscore(&["score", "--as-of", AS_OF, "fixtures/cli/bom.csv"]);
    assert_code(&out, 0);
    // With the BOM glued to `Id` the lead would have no id and be named by its position.
    let verdicts = json_lines(&stdout(&out));
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0]["id"], "B-1");
    assert_eq!(verdicts[0]["stage"], "prospect");
}

#[test]
fn score_input_flag_forces_the_format_of_a_file_with_an_unhelpful_extension() {
    // `.txt` reads as CSV by extension, so JSON Lines exported as `.txt` is rejected...
    let guessed = leadscore(&["score", "--as-of", AS_OF, "fixtures/cli/export.txt"]);
    assert_code(&guessed, 1);
    // ...and `--input jsonl` (or its alias `ndjson`) reads it as what it is.
    for name in ["jsonl", "ndjson"] {
        let forced = leadscore(&[
            "score",
            "--as-of",
            AS_OF,
            "--input",
            name,
            "fixtures/cli/export.txt",
        ]);
        assert_code(&forced, 0);
        assert_eq!(ids(&stdout(&forced)), ["T-1", "T-2"], "--input {name}");
        assert_eq!(stderr(&forced), "read 2 records: 2 scored, 0 rejected\n");
    }
}

#[test]
fn score_delimiter_flag_overrides_the_sniffed_one() {
    // The header has more `,` than `|`, so sniffing picks `,`; the flag says `|`.
    let csv = b"Id|Email|Note,one,two,three\nD-1|ana@acme.com|a, b, c\n";
    let sniffed = leadscore_with_stdin(&["score", "--as-of", AS_OF, "--input", "csv"], csv);
    assert_code(&sniffed, 1);
    let out = leadscore_with_stdin(
        &[
            "score",
            "--as-of",
            AS_OF,
            "--input",
            "csv",
            "--delimiter",
            "|",
        ],
        csv,
    );
    assert_code(&out, 0);
    assert_eq!(ids(&stdout(&out)), ["D-1"]);
    let bad = leadscore_with_stdin(&["score", "--input", "csv", "--delimiter", "é"], csv);
    assert_code(&bad, 2);
    assert!(
        stderr(&bad).contains("not a single-byte character"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn score_input_flag_forces_the_format_of_standard_input() {
    let csv = b"Id,Email,Budget__c\nI-1,ana@acme.com,25000\n";
    let out = leadscore_with_stdin(&["score", "--as-of", AS_OF, "--input", "csv"], csv);
    assert_code(&out, 0);
    let verdicts = json_lines(&stdout(&out));
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0]["id"], "I-1");
    assert_eq!(matched(&verdicts[0]), ["budget_confirmed"]);
}

#[test]
fn score_reads_standard_input_when_no_file_is_given() {
    let input = std::fs::read(root().join("fixtures/cli/two.jsonl")).expect("fixture");
    let out = leadscore_with_stdin(&["score", "--as-of", AS_OF], &input);
    assert_code(&out, 0);
    assert_eq!(ids(&stdout(&out)), ["T-1", "T-2"]);
    assert_eq!(stderr(&out), "read 2 records: 2 scored, 0 rejected\n");
}

#[test]
fn score_reads_standard_input_for_a_dash() {
    let input = std::fs::read(root().join("fixtures/cli/two.jsonl")).expect("fixture");
    let out = leadscore_with_stdin(&["score", "--as-of", AS_OF, "-"], &input);
    assert_code(&out, 0);
    assert_eq!(ids(&stdout(&out)), ["T-1", "T-2"]);
}

#[test]
fn score_names_a_lead_without_id_by_its_position_in_standard_input() {
    let out = leadscore_with_stdin(
        &["score", "--as-of", AS_OF, "-"],
        b"{\"id\": \"X-1\", \"email\": \"a@acme.com\"}\n{\"email\": \"b@acme.com\"}\n",
    );
    assert_code(&out, 0);
    assert_eq!(ids(&stdout(&out)), ["X-1", "stdin:2"]);
}

// --- score: output formats --------------------------------------------------------------

#[test]
fn score_format_jsonl_writes_one_verdict_per_line() {
    let out = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "--format",
        "jsonl",
        "fixtures/cli/two.jsonl",
    ]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2);
    let verdicts = json_lines(&text);
    assert_eq!(verdicts[0]["id"], "T-1");
    assert_eq!(verdicts[0]["score"], 75);
    assert_eq!(verdicts[0]["stage"], "ready_to_convert");
    assert_eq!(verdicts[0]["next"], Value::Null);
    assert_eq!(verdicts[1]["id"], "T-2");
    assert_eq!(verdicts[1]["stage"], "lead");
    assert_eq!(
        verdicts[1]["next"],
        json!({"stage": "prospect", "missing": ["need", "budget"], "points_needed": 40})
    );
}

#[test]
fn score_format_json_writes_one_array() {
    let out = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "--format",
        "json",
        "fixtures/cli/two.jsonl",
    ]);
    assert_code(&out, 0);
    let all: Value = serde_json::from_str(&stdout(&out)).expect("stdout is one JSON value");
    let list = all.as_array().expect("a JSON array");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], "T-1");
    assert_eq!(list[1]["id"], "T-2");
}

#[test]
fn score_format_json_of_no_records_is_an_empty_array() {
    let out = leadscore(&["score", "--format", "json", "fixtures/cli/empty.jsonl"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "[]\n");
}

#[test]
fn score_format_csv_writes_a_header_and_one_row_per_verdict() {
    let out = leadscore(&[
        "score",
        "--rules",
        CLASSIC,
        "--as-of",
        AS_OF,
        "--format",
        "csv",
        "fixtures/cli/two.jsonl",
    ]);
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        "id,score,stage,signals,matched,disqualified,next_stage,missing,points_needed,errors\n\
         T-1,75,ready_to_convert,authority;budget;need;pricing_discussed,\
         need_stated;budget_confirmed;decision_maker;pricing_discussed,,,,,\n\
         T-2,0,lead,,,,prospect,need;budget,40,\n"
    );
}

#[test]
fn score_format_table_writes_aligned_columns() {
    let out = leadscore(&[
        "score",
        "--rules",
        CLASSIC,
        "--as-of",
        AS_OF,
        "--format",
        "table",
        "fixtures/cli/two.jsonl",
    ]);
    assert_code(&out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two rows:\n{text}");
    let words = |line: &str| {
        line.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(words(lines[0]), "ID SCORE STAGE");
    assert_eq!(words(lines[1]), "T-1 75 ready_to_convert");
    assert_eq!(words(lines[2]), "T-2 0 lead");
    assert!(lines[2].ends_with("prospect: need, budget (+40)"), "{text}");
    let stage_column = lines[0].find("STAGE").expect("a STAGE column");
    assert_eq!(
        lines[1].find("ready_to_convert"),
        Some(stage_column),
        "{text}"
    );
}

#[test]
fn score_writes_json_lines_when_stdout_is_not_a_terminal() {
    let default = leadscore(&["score", "--as-of", AS_OF, "fixtures/cli/two.jsonl"]);
    let jsonl = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "--format",
        "jsonl",
        "fixtures/cli/two.jsonl",
    ]);
    assert_code(&default, 0);
    assert_eq!(stdout(&default), stdout(&jsonl));
}

#[test]
fn score_output_flag_writes_verdicts_to_the_file_not_stdout() {
    let file = Temp::new("score_output_flag.csv");
    let out = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "--format",
        "csv",
        "-o",
        file.str(),
        "fixtures/cli/two.jsonl",
    ]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "read 2 records: 2 scored, 0 rejected\n");
    let on_stdout = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "--format",
        "csv",
        "fixtures/cli/two.jsonl",
    ]);
    assert_eq!(file.read(), stdout(&on_stdout));
}

#[test]
fn score_output_flag_defaults_to_json_lines() {
    let file = Temp::new("score_output_default.out");
    let out = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "-o",
        file.str(),
        "fixtures/cli/two.jsonl",
    ]);
    assert_code(&out, 0);
    assert_eq!(ids(&file.read()), ["T-1", "T-2"]);
}

// --- score: options ---------------------------------------------------------------------

#[test]
fn score_stage_keeps_only_leads_in_that_stage() {
    let out = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "--stage",
        "ready_to_convert",
        "fixtures/leads.jsonl",
    ]);
    assert_code(&out, 0);
    assert_eq!(ids(&stdout(&out)), ["L-1001", "L-1002", "L-1005"]);
    assert_eq!(
        stderr(&out),
        "read 15 records: 15 scored, 0 rejected, 3 in the chosen stage written\n"
    );
}

#[test]
fn score_unknown_stage_is_a_usage_error_listing_the_stages() {
    let out = leadscore(&["score", "--stage", "hot", "fixtures/leads.jsonl"]);
    assert_code(&out, 2);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!("error: no stage `hot` in the rules; {STAGES_LINE}\n")
    );
}

#[test]
fn score_rules_flag_picks_the_rules_folder() {
    let out = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "--rules",
        "fixtures/looping_rules",
        "fixtures/cli/two.jsonl",
    ]);
    assert_code(&out, 0);
    for verdict in json_lines(&stdout(&out)) {
        assert_eq!(matched(&verdict), ["has_email"], "{verdict}");
    }
}

#[test]
fn score_reads_the_rules_folder_from_leadscore_rules() {
    let out = leadscore_env(
        &["score", "--as-of", AS_OF, "fixtures/cli/two.jsonl"],
        &[("LEADSCORE_RULES", "fixtures/looping_rules")],
    );
    assert_code(&out, 0);
    for verdict in json_lines(&stdout(&out)) {
        assert_eq!(matched(&verdict), ["has_email"], "{verdict}");
    }
}

#[test]
fn score_rules_flag_wins_over_leadscore_rules() {
    let out = leadscore_env(
        &[
            "score",
            "--as-of",
            AS_OF,
            "--rules",
            "rules",
            "fixtures/cli/two.jsonl",
        ],
        &[("LEADSCORE_RULES", "fixtures/looping_rules")],
    );
    assert_code(&out, 0);
    let verdicts = json_lines(&stdout(&out));
    assert_eq!(verdicts[0]["stage"], "ready_to_convert");
    assert_eq!(verdicts[0]["errors"], json!([]));
}

#[test]
fn score_as_of_decides_a_within_days_rule() {
    // The lead was last active on 2026-11-02; `recent_activity` wants 30 days at most.
    let at = |date: &str| {
        let out = leadscore(&[
            "score",
            "--rules",
            CLASSIC,
            "--as-of",
            date,
            "fixtures/cli/activity.jsonl",
        ]);
        assert_code(&out, 0);
        json_lines(&stdout(&out)).remove(0)
    };
    let recent = at("2026-11-27");
    assert_eq!(matched(&recent), ["recent_activity"]);
    assert_eq!(recent["score"], 10);
    let later = at("2026-12-27");
    assert_eq!(matched(&later), Vec::<&str>::new());
    assert_eq!(later["score"], 0);
    // An activity dated after the as-of date is not recent (it has not happened yet).
    assert!(!matched(&at("2026-11-01")).contains(&"recent_activity"));
}

#[test]
fn score_invalid_as_of_is_a_usage_error() {
    let out = leadscore(&["score", "--as-of", "2026-13-01", "fixtures/cli/two.jsonl"]);
    assert_code(&out, 2);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("`2026-13-01` is not a date; write it as YYYY-MM-DD"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn score_missing_input_file_is_a_usage_error_naming_it() {
    let out = leadscore(&["score", "fixtures/cli/no_such_file.jsonl"]);
    assert_code(&out, 2);
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("error: cannot read fixtures/cli/no_such_file.jsonl: ")
            && lines[0].ends_with("; check the path"),
        "{err}"
    );
    assert_eq!(lines[1], "read 0 records: 0 scored, 0 rejected");
}

#[test]
fn score_goes_on_past_a_missing_file_and_still_counts() {
    let out = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "fixtures/cli/no_such_file.jsonl",
        "fixtures/cli/two.jsonl",
    ]);
    assert_code(&out, 2);
    assert_eq!(ids(&stdout(&out)), ["T-1", "T-2"]);
    assert!(
        stderr(&out).ends_with("read 2 records: 2 scored, 0 rejected\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn score_missing_rules_folder_is_a_usage_error_naming_it() {
    let out = leadscore(&[
        "score",
        "--rules",
        "fixtures/no_such_rules",
        "fixtures/cli/two.jsonl",
    ]);
    assert_code(&out, 2);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "error: fixtures/no_such_rules does not exist; check the path \
         (for rules: --rules DIR or LEADSCORE_RULES)\n"
    );
}

#[test]
fn score_quiet_prints_no_summary() {
    let out = leadscore(&[
        "score",
        "--quiet",
        "--as-of",
        AS_OF,
        "fixtures/cli/two.jsonl",
    ]);
    assert_code(&out, 0);
    assert_eq!(stderr(&out), "");
    assert_eq!(ids(&stdout(&out)), ["T-1", "T-2"]);
}

#[test]
fn score_quiet_still_reports_rejected_records_and_exits_1() {
    let out = leadscore(&["score", "-q", "--as-of", AS_OF, "fixtures/mixed.jsonl"]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 4, "{err}");
    assert!(err.lines().all(|l| l.contains(": rejected: ")), "{err}");
}

// --- score: bad input -------------------------------------------------------------------

const MIXED: [&str; 2] = ["fixtures/mixed.jsonl", "fixtures/mixed.csv"];

/// Scores both mixed fixtures, keeping the rejects in `rejects` when given.
fn score_mixed(rejects: Option<&Temp>) -> Output {
    let mut args = vec!["score", "--as-of", AS_OF];
    if let Some(file) = rejects {
        args.extend(["--rejects", file.str()]);
    }
    args.extend(MIXED);
    leadscore(&args)
}

/// The bad records of the mixed fixtures: source, line, record number and reason.
const MIXED_REJECTS: [(&str, u64, u64, &str); 7] = [
    (
        "fixtures/mixed.jsonl",
        2,
        2,
        "malformed JSON: EOF while parsing a value at column 47",
    ),
    (
        "fixtures/mixed.jsonl",
        4,
        3,
        "a lead must be a JSON object, found an array",
    ),
    (
        "fixtures/mixed.jsonl",
        5,
        4,
        "field `budget`: expected a number, found the text \"lots\"",
    ),
    ("fixtures/mixed.jsonl", 6, 5, "invalid UTF-8 at column 25"),
    (
        "fixtures/mixed.csv",
        3,
        2,
        "row has 3 fields but the header has 4",
    ),
    (
        "fixtures/mixed.csv",
        4,
        3,
        "field `budget`: expected a number, found the text \"lots\"",
    ),
    (
        "fixtures/mixed.csv",
        7,
        5,
        "row has 5 fields but the header has 4",
    ),
];

/// Line `line` (from 1) of a fixture, as text (lossy where it is not UTF-8).
fn fixture_line(path: &str, line: u64) -> String {
    let bytes = std::fs::read(root().join(path)).expect("fixture");
    let text = bytes
        .split(|&b| b == b'\n')
        .nth(line as usize - 1)
        .expect("the line exists");
    String::from_utf8_lossy(text).into_owned()
}

#[test]
fn mixed_input_exits_1_and_counts_every_record() {
    let out = score_mixed(None);
    assert_code(&out, 1);
    let err = stderr(&out);
    let summary = err.lines().last().expect("a summary line");
    assert_eq!(summary, "read 11 records: 4 scored, 7 rejected");
    let numbers: Vec<u64> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [read, scored, rejected] = numbers[..] else {
        panic!("three counts in {summary:?}")
    };
    assert_eq!(read, scored + rejected);
}

#[test]
fn mixed_input_writes_exactly_the_good_verdicts_in_input_order() {
    let out = score_mixed(None);
    assert_code(&out, 1);
    assert_eq!(ids(&stdout(&out)), ["M-1", "M-6", "C-1", "C-4"]);
    // C-4 is a quoted CSV cell across two lines with an escaped quote: kept whole.
    let verdicts = json_lines(&stdout(&out));
    assert_eq!(
        verdicts[3]["matched"][1]["reason"],
        "title Head of \"Growth\",\nEMEA"
    );
}

#[test]
fn mixed_input_rejects_file_keeps_each_bad_record_whole() {
    let rejects = Temp::new("mixed_rejects.jsonl");
    let out = score_mixed(Some(&rejects));
    assert_code(&out, 1);
    let got = json_lines(&rejects.read());
    let want: Vec<Value> = MIXED_REJECTS
        .iter()
        .map(|&(source, line, record, reason)| {
            json!({
                "source": source,
                "line": line,
                "record": record,
                "reason": reason,
                "raw": fixture_line(source, line),
            })
        })
        .collect();
    assert_eq!(got.len(), 7, "{}", rejects.read());
    for (got, want) in got.iter().zip(&want) {
        assert_eq!(got, want);
    }
}

#[test]
fn mixed_input_reports_each_rejection_on_stderr_with_file_and_line() {
    let out = score_mixed(None);
    assert_code(&out, 1);
    let mut want: String = MIXED_REJECTS
        .iter()
        .map(|(source, line, _, reason)| format!("{source}:{line}: rejected: {reason}\n"))
        .collect();
    want.push_str("read 11 records: 4 scored, 7 rejected\n");
    assert_eq!(stderr(&out), want);
}

#[test]
fn score_empty_input_file_reads_0_records_and_exits_0() {
    let out = leadscore(&["score", "fixtures/cli/empty.jsonl"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "read 0 records: 0 scored, 0 rejected\n");
}

#[test]
fn score_empty_standard_input_reads_0_records_and_exits_0() {
    let out = leadscore(&["score"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "read 0 records: 0 scored, 0 rejected\n");
}

// --- score: failing Rhai rules ----------------------------------------------------------

#[test]
fn rhai_rules_that_loop_or_throw_never_lose_a_lead() {
    let vip = b"{\"id\": \"V-1\", \"email\": \"vip@acme.com\", \"vip\": true}\n";
    let out = leadscore_with_stdin(
        &[
            "score",
            "--as-of",
            AS_OF,
            "--rules",
            "fixtures/looping_rules",
            "fixtures/leads.jsonl",
            "-",
        ],
        vip,
    );
    assert_code(&out, 0);
    assert_eq!(stderr(&out), "read 16 records: 16 scored, 0 rejected\n");
    let verdicts = json_lines(&stdout(&out));
    assert_eq!(verdicts.len(), 16);
    for verdict in &verdicts {
        let errors = verdict["errors"].as_array().expect("errors is a list");
        assert_eq!(errors[0]["rule"], "spins_forever", "{verdict}");
        let message = errors[0]["message"].as_str().expect("a message");
        assert!(
            message.starts_with("stopped after 100000 operations"),
            "{message}"
        );
    }
    let last = &verdicts[15];
    assert_eq!(last["id"], "V-1");
    assert_eq!(matched(last), ["has_email"]);
    assert_eq!(last["errors"][1]["rule"], "throws_on_vip");
    let message = last["errors"][1]["message"].as_str().expect("a message");
    assert!(
        message.contains("vip data is not allowed here"),
        "{message}"
    );
    // Only the VIP lead trips the throwing rule.
    for verdict in &verdicts[..15] {
        assert_eq!(
            verdict["errors"].as_array().map(Vec::len),
            Some(1),
            "{verdict}"
        );
    }
}

// --- explain ----------------------------------------------------------------------------

#[test]
fn explain_by_id_lists_every_rule_the_stage_decision_and_next() {
    let out = leadscore(&[
        "explain",
        "--rules",
        CLASSIC,
        "--as-of",
        AS_OF,
        "--id",
        "L-1003",
        "fixtures/leads.jsonl",
    ]);
    assert_code(&out, 0);
    assert_eq!(stderr(&out), "");
    let text = stdout(&out);
    assert!(
        text.starts_with("lead L-1003: score 70, stage prospect\n"),
        "{text}"
    );
    let listed: Vec<&str> = text
        .lines()
        .filter_map(|line| {
            let rest = line
                .strip_prefix("  + ")
                .or_else(|| line.strip_prefix("  - "))?;
            rest.split_whitespace().next()
        })
        .collect();
    assert_eq!(listed, STARTER_RULES, "{text}");
    assert!(
        text.contains(
            "stage decision, from the top:\n\
             \x20 disqualified: no, no rule disqualifies the lead\n\
             \x20 ready_to_convert: no, missing signal `pricing_discussed`\n\
             \x20 prospect: yes\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("next: ready_to_convert needs pricing_discussed and 0 more points\n"),
        "{text}"
    );
}

#[test]
fn explain_format_json_has_the_verdict_rules_and_stages() {
    let out = leadscore(&[
        "explain",
        "--as-of",
        AS_OF,
        "--id",
        "L-1003",
        "--format",
        "json",
        "fixtures/leads.jsonl",
    ]);
    assert_code(&out, 0);
    let value: Value = serde_json::from_str(&stdout(&out)).expect("stdout is JSON");
    let object = value.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["rules", "stages", "verdict"]);
    assert_eq!(value["verdict"]["id"], "L-1003");
    assert_eq!(value["verdict"]["stage"], "prospect");
    let rules: Vec<&str> = value["rules"]
        .as_array()
        .expect("rules is a list")
        .iter()
        .map(|r| r["rule"].as_str().expect("a rule name"))
        .collect();
    assert_eq!(rules, STARTER_RULES);
    let stages: Vec<(&str, bool)> = value["stages"]
        .as_array()
        .expect("stages is a list")
        .iter()
        .map(|s| (s["stage"].as_str().expect("a stage"), s["holds"] == true))
        .collect();
    assert_eq!(
        stages,
        [
            ("disqualified", false),
            ("ready_to_convert", false),
            ("prospect", true)
        ]
    );
}

#[test]
fn explain_unknown_id_is_a_usage_error() {
    let out = leadscore(&["explain", "--id", "L-9999", "fixtures/leads.jsonl"]);
    assert_code(&out, 2);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "error: no lead with id `L-9999` in fixtures/leads.jsonl\n"
    );
}

#[test]
fn explain_without_id_explains_the_first_lead() {
    let out = leadscore(&[
        "explain",
        "--rules",
        CLASSIC,
        "--as-of",
        AS_OF,
        "fixtures/leads.jsonl",
    ]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.starts_with("lead L-1001: score 100, stage ready_to_convert\n"),
        "{text}"
    );
}

#[test]
fn explain_reads_standard_input() {
    let lead = b"{\"id\": \"X-1\", \"email\": \"ana@acme.com\", \"budget\": 20000}\n";
    for args in [
        &["explain", "--rules", CLASSIC, "--as-of", AS_OF][..],
        &["explain", "--rules", CLASSIC, "--as-of", AS_OF, "-"],
    ] {
        let out = leadscore_with_stdin(args, lead);
        assert_code(&out, 0);
        let text = stdout(&out);
        assert!(
            text.starts_with("lead X-1: score 20, stage lead\n"),
            "{args:?}:\n{text}"
        );
        assert!(
            text.ends_with("next: prospect needs need and 20 more points\n"),
            "{args:?}:\n{text}"
        );
    }
}

#[test]
fn explain_empty_input_is_a_usage_error() {
    let out = leadscore(&["explain", "fixtures/cli/empty.jsonl"]);
    assert_code(&out, 2);
    assert_eq!(stderr(&out), "error: no lead in fixtures/cli/empty.jsonl\n");
}

#[test]
fn explain_names_a_lead_without_id_by_its_position() {
    let out = leadscore_with_stdin(
        &["explain", "--rules", CLASSIC, "--as-of", AS_OF],
        b"{\"email\": \"a@acme.com\"}\n",
    );
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.starts_with("lead stdin:1: score 0, stage lead\n"),
        "{text}"
    );
}

// --- check ------------------------------------------------------------------------------

#[test]
fn check_passes_the_starter_rules_with_an_ok_line() {
    let out = leadscore(&["check"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "ok rules: 19 rules, 4 stages (0 errors and 0 warnings)\n"
    );
}

#[test]
fn check_names_the_rhai_rules_the_interpreter_runs() {
    // `loop` and `throw` are outside the subset leadscore runs without Rhai.
    let out = leadscore(&["check", "--rules", "fixtures/looping_rules"]);
    assert_code(&out, 0);
    assert_eq!(
        stderr(&out),
        "note: 2 Rhai rules run in the Rhai interpreter, several times slower than the rest: spins_forever, throws_on_vip (README, \"Fast Rhai rules\")\n\
         ok fixtures/looping_rules: 3 rules, 4 stages (0 errors and 0 warnings)\n"
    );
}

#[test]
fn check_counts_bad_rules_and_tells_errors_from_warnings() {
    let out = leadscore(&["check", "--rules", "fixtures/bad_rules"]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert_eq!(
        err.lines().last(),
        Some("error: fixtures/bad_rules: 8 errors and 1 warning"),
        "{err}"
    );
    let headlines = |label: &str| -> Vec<&str> {
        err.lines()
            .filter(|l| l.starts_with(label) && !l.starts_with("error: fixtures/bad_rules:"))
            .collect()
    };
    assert_eq!(
        headlines("warning: "),
        ["warning: field `budjet` is not declared in `fields`"]
    );
    assert_eq!(headlines("error: ").len(), 8, "{err}");
}

#[test]
fn check_reports_a_malformed_test_file() {
    let dir = Temp::new("check_malformed_test");
    let init = leadscore(&["init", dir.str()]);
    assert_code(&init, 0);
    std::fs::write(
        dir.path().join("tests/broken.yaml"),
        "as_of: 2026-11-27\ncases:\n  - name: typo\n    lead: { email: a@acme.com }\n    expct: { stage: lead }\n",
    )
    .expect("test file written");
    let out = leadscore(&["check", "--rules", dir.str()]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.starts_with("error: unknown key `expct` in a test case\n"),
        "{err}"
    );
    assert!(
        err.contains(&format!(" --> {}/tests/broken.yaml:5:5\n", dir.str())),
        "{err}"
    );
    assert!(err.contains("error: test case has no `expect`\n"), "{err}");
    assert!(
        err.ends_with(&format!("error: {}: 2 errors and 0 warnings\n", dir.str())),
        "{err}"
    );
}

#[test]
fn check_reports_a_test_file_that_is_not_yaml() {
    let dir = Temp::new("check_not_yaml_test");
    assert_code(&leadscore(&["init", dir.str()]), 0);
    std::fs::write(
        dir.path().join("tests/broken.yaml"),
        "cases:\n  - name: unclosed\n    lead: { email: a@acme.com\n",
    )
    .expect("test file written");
    let out = leadscore(&["check", "--rules", dir.str()]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.starts_with("error: invalid YAML: "), "{err}");
    assert!(err.contains("/tests/broken.yaml:"), "{err}");
    assert!(
        err.ends_with(&format!("error: {}: 1 error and 0 warnings\n", dir.str())),
        "{err}"
    );
}

#[test]
fn check_missing_rules_folder_is_a_usage_error() {
    let out = leadscore(&["check", "--rules", "fixtures/no_such_rules"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).starts_with("error: fixtures/no_such_rules does not exist"),
        "{}",
        stderr(&out)
    );
}

// --- test -------------------------------------------------------------------------------

#[test]
fn test_passes_the_starter_rules() {
    let out = leadscore(&["test"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "24 passed, 0 failed\n");
}

#[test]
fn test_failing_case_exits_1_and_shows_expected_and_actual() {
    let dir = Temp::new("test_failing_case");
    assert_code(&leadscore(&["init", dir.str()]), 0);
    std::fs::write(
        dir.path().join("tests/failing.yaml"),
        "as_of: 2026-11-27\n\
         cases:\n\
         \x20 - name: a student is ready to convert\n\
         \x20   lead: { email: jmiles@state.edu, budget: 50000, pain_points: thesis }\n\
         \x20   expect: { stage: ready_to_convert, score: 99 }\n",
    )
    .expect("test file written");
    let out = leadscore(&["test", "--rules", dir.str()]);
    assert_code(&out, 1);
    assert_eq!(
        stdout(&out),
        format!(
            "FAIL a student is ready to convert ({}/tests/failing.yaml:3)\n\
             \x20 stage: expected ready_to_convert, got disqualified\n\
             \x20 score: expected 99, got 40\n\
             24 passed, 1 failed\n",
            dir.str()
        )
    );
}

// --- init -------------------------------------------------------------------------------

#[test]
fn init_creates_a_folder_that_check_and_test_pass() {
    let dir = Temp::new("init_creates");
    let out = leadscore(&["init", dir.str()]);
    assert_code(&out, 0);
    assert!(
        stderr(&out).starts_with(&format!("created {} with 8 files;", dir.str())),
        "{}",
        stderr(&out)
    );
    let check = leadscore(&["check", "--rules", dir.str()]);
    assert_code(&check, 0);
    assert_eq!(
        stderr(&check),
        format!(
            "ok {}: 19 rules, 4 stages (0 errors and 0 warnings)\n",
            dir.str()
        )
    );
    let test = leadscore(&["test", "--rules", dir.str()]);
    assert_code(&test, 0);
    assert_eq!(stdout(&test), "24 passed, 0 failed\n");
}

#[test]
fn init_refuses_a_non_empty_folder() {
    let dir = Temp::new("init_refuses");
    std::fs::create_dir_all(dir.path()).expect("folder created");
    std::fs::write(dir.path().join("notes.txt"), "mine").expect("file written");
    let out = leadscore(&["init", dir.str()]);
    assert_code(&out, 2);
    assert_eq!(
        stderr(&out),
        format!(
            "error: {} already exists and is not empty; name a new folder, e.g. `leadscore init my-rules`\n",
            dir.str()
        )
    );
    let entries = std::fs::read_dir(dir.path()).expect("folder").count();
    assert_eq!(entries, 1, "init wrote into the existing folder");
}

#[test]
fn init_fills_an_existing_empty_folder() {
    let dir = Temp::new("init_empty_folder");
    std::fs::create_dir_all(dir.path()).expect("folder created");
    assert_code(&leadscore(&["init", dir.str()]), 0);
    assert_code(&leadscore(&["check", "--rules", dir.str()]), 0);
}

// --- completions, version, help ---------------------------------------------------------

#[test]
fn completions_bash_prints_a_script_for_leadscore() {
    let out = leadscore(&["completions", "bash"]);
    assert_code(&out, 0);
    let script = stdout(&out);
    assert!(script.starts_with("_leadscore() {\n"), "{script}");
    assert!(script.contains("complete -F _leadscore"), "{script}");
    assert_eq!(stderr(&out), "");
}

#[test]
fn completions_exist_for_every_documented_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = leadscore(&["completions", shell]);
        assert_code(&out, 0);
        assert!(stdout(&out).contains("leadscore"), "{shell}");
    }
}

#[test]
fn version_prints_the_package_version() {
    let out = leadscore(&["--version"]);
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        format!("leadscore {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_of_every_subcommand_shows_an_example() {
    for sub in ["score", "explain", "check", "test", "init", "completions"] {
        let out = leadscore(&[sub, "--help"]);
        assert_code(&out, 0);
        assert!(
            stdout(&out).contains("Example"),
            "{sub} --help:\n{}",
            stdout(&out)
        );
    }
    let top = leadscore(&["--help"]);
    assert_code(&top, 0);
    assert!(stdout(&top).contains("Examples:"), "{}", stdout(&top));
}

#[test]
fn no_subcommand_is_a_usage_error() {
    let out = leadscore(&[]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("Usage: leadscore <COMMAND>"),
        "{}",
        stderr(&out)
    );
}

// --- pipes ------------------------------------------------------------------------------

#[test]
fn score_into_a_reader_that_closes_early_ends_quietly_with_0() {
    let input = Temp::new("broken_pipe_input.jsonl");
    let mut leads = String::with_capacity(50_000 * 48);
    for i in 0..50_000 {
        leads.push_str(&format!(
            "{{\"id\": \"P-{i}\", \"email\": \"p{i}@acme.com\", \"budget\": {i}}}\n"
        ));
    }
    std::fs::write(input.path(), leads).expect("input written");
    let mut child = command(&["score", "--as-of", AS_OF, input.str()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the leadscore binary runs");
    let mut err = child.stderr.take().expect("stderr is piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let mut first = String::new();
    {
        let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
        out.read_line(&mut first).expect("a first verdict");
    } // the reader goes away here, like `| head -1`
    assert!(first.starts_with("{\"id\":\"P-0\""), "{first}");
    let status = wait_or_kill(&mut child);
    let errors = errors.join().expect("stderr reader finishes");
    assert_eq!(status.code(), Some(0), "stderr:\n{errors}");
    assert!(!errors.contains("panicked"), "{errors}");
    assert!(!errors.contains("error"), "{errors}");
}

#[test]
fn score_into_a_closed_pipe_ends_quietly_with_0() {
    let (code, errors) =
        run_with_closed_stdout(&["score", "--as-of", AS_OF, "fixtures/leads.jsonl"]);
    assert_eq!(code, 0, "stderr:\n{errors}");
    assert!(!errors.contains("panicked"), "{errors}");
}

#[test]
fn explain_into_a_closed_pipe_ends_quietly_with_0() {
    let (code, errors) =
        run_with_closed_stdout(&["explain", "--as-of", AS_OF, "fixtures/leads.jsonl"]);
    assert_eq!(code, 0, "stderr:\n{errors}");
    assert_eq!(errors, "");
}

#[test]
fn test_into_a_closed_pipe_ends_quietly_with_0() {
    let (code, errors) = run_with_closed_stdout(&["test"]);
    assert_eq!(code, 0, "stderr:\n{errors}");
    assert_eq!(errors, "");
}

#[test]
fn completions_into_a_closed_pipe_ends_quietly_with_0() {
    let (code, errors) = run_with_closed_stdout(&["completions", "bash"]);
    assert_eq!(code, 0, "stderr:\n{errors}");
    assert_eq!(errors, "");
}

#[test]
fn score_streams_the_first_verdict_before_the_input_ends() {
    let mut child = command(&["score", "--as-of", AS_OF])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the leadscore binary runs");
    let mut input = child.stdin.take().expect("stdin is piped");
    let output = child.stdout.take().expect("stdout is piped");
    let (lines, verdicts) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    input
        .write_all(b"{\"id\": \"F-1\", \"email\": \"a@acme.com\"}\n")
        .expect("first lead written");
    input.flush().expect("first lead flushed");
    let first = verdicts.recv_timeout(DEADLINE);
    // Whatever happened, let the child finish before asserting, so nothing is left behind.
    let rest = input.write_all(b"{\"id\": \"F-2\", \"email\": \"b@acme.com\"}\n");
    drop(input);
    let status = wait_or_kill(&mut child);
    reader.join().expect("stdout reader finishes");
    rest.expect("second lead written");
    let first = first.unwrap_or_else(|_| {
        panic!("no verdict within {DEADLINE:?} of the first lead while the input stayed open")
    });
    assert!(first.starts_with("{\"id\":\"F-1\""), "{first}");
    let second = verdicts.recv().expect("a second verdict");
    assert!(second.starts_with("{\"id\":\"F-2\""), "{second}");
    assert_eq!(status.code(), Some(0));
}

// --- time: scores, grades, transitions --------------------------------------------------

/// The ids of the verdicts `score --changed ARG` keeps from the sample leads.
fn changed(arg: &[&str]) -> Vec<String> {
    // The files first: a bare `--changed` followed by a file would take it as its value.
    let mut args = vec!["score", "-q", "--as-of", AS_OF, "fixtures/leads.jsonl"];
    args.extend_from_slice(arg);
    let out = leadscore(&args);
    assert_code(&out, 0);
    json_lines(&stdout(&out))
        .iter()
        .map(|v| v["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn score_changed_keeps_the_leads_whose_stage_differs_from_the_crm_s() {
    // lead_status in fixtures/leads.jsonl: L-1001 Working (prospect) and decided ready: up;
    // L-1003 Qualified (ready) decided prospect, L-1012 Working decided disqualified: down;
    // L-1007 Open (lead) and L-1013 Closed - Not Converted agree with the rules; the
    // other ten have no status: new.
    assert_eq!(changed(&["--changed", "up"]), ["L-1001"]);
    assert_eq!(changed(&["--changed", "down"]), ["L-1003", "L-1012"]);
    assert_eq!(changed(&["--changed", "new"]).len(), 10);
    assert_eq!(changed(&["--changed", "any"]).len(), 13);
    let any = changed(&["--changed"]);
    assert_eq!(any.len(), 13);
    assert!(
        !any.iter().any(|id| id == "L-1007" || id == "L-1013"),
        "{any:?}"
    );
    assert_eq!(
        changed(&["--changed", "up", "--stage", "prospect"]),
        Vec::<String>::new()
    );
}

#[test]
fn score_changed_says_so_in_the_summary() {
    let out = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "--changed",
        "down",
        "fixtures/leads.jsonl",
    ]);
    assert_code(&out, 0);
    assert_eq!(
        stderr(&out),
        "read 15 records: 15 scored, 0 rejected, 2 with a changed stage written\n"
    );
}

#[test]
fn score_changed_without_a_current_stage_setting_is_a_usage_error() {
    let out = leadscore(&[
        "score",
        "--rules",
        CLASSIC,
        "--changed",
        "up",
        "fixtures/leads.jsonl",
    ]);
    assert_code(&out, 2);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("current_stage"), "{}", stderr(&out));
}

#[test]
fn score_verdicts_carry_scores_grade_and_transition_in_every_format() {
    let jsonl = leadscore(&["score", "--as-of", AS_OF, "fixtures/leads.jsonl"]);
    let first = json_lines(&stdout(&jsonl)).remove(0);
    assert_eq!(first["scores"], json!({"fit": 60, "engagement": 26}));
    assert_eq!(first["grade"], "A");
    assert_eq!(
        first["transition"],
        json!({"from": "prospect", "to": "ready_to_convert", "direction": "up"})
    );
    let csv = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "--format",
        "csv",
        "fixtures/leads.jsonl",
    ]);
    let text = stdout(&csv);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "id,score,score_fit,score_engagement,grade,stage,transition_from,transition,\
             signals,matched,disqualified,next_stage,missing,points_needed,errors"
        )
    );
    assert!(
        lines
            .next()
            .is_some_and(|row| row.starts_with("L-1001,100,60,26,A,ready_to_convert,prospect,up,")),
        "{text}"
    );
    let table = leadscore(&[
        "score",
        "--as-of",
        AS_OF,
        "--format",
        "table",
        "fixtures/leads.jsonl",
    ]);
    assert!(
        stdout(&table).contains("\nL-1001                100 A  ready_to_convert"),
        "{}",
        stdout(&table)
    );
}

#[test]
fn score_csv_of_no_records_still_has_the_rules_columns() {
    let out = leadscore(&["score", "--format", "csv", "fixtures/cli/empty.jsonl"]);
    assert_code(&out, 0);
    assert!(stdout(&out).starts_with(
        "id,score,score_fit,score_engagement,grade,stage,transition_from,transition,"
    ));
}

#[test]
fn decay_fades_engagement_as_the_as_of_date_moves_on() {
    // fixtures/cli/activity.jsonl: last active 2026-11-02; recent_activity gives 20
    // engagement points, halved every 30 days, and stops after 90 days.
    let engagement = |date: &str| {
        let out = leadscore(&["score", "--as-of", date, "fixtures/cli/activity.jsonl"]);
        assert_code(&out, 0);
        json_lines(&stdout(&out)).remove(0)["scores"]["engagement"].clone()
    };
    assert_eq!(engagement("2026-11-02"), 20);
    assert_eq!(engagement("2026-12-02"), 10);
    assert_eq!(engagement("2027-01-01"), 5);
    assert_eq!(engagement("2027-02-01"), 0);
    // Before the activity happened, `within_days` does not hold.
    assert_eq!(engagement("2026-10-01"), 0);
}

#[test]
fn score_stamp_names_the_rules_and_leaves_the_rest_byte_identical() {
    let plain = leadscore(&["score", "--as-of", AS_OF, "fixtures/leads.jsonl"]);
    let stamped = leadscore(&["score", "--stamp", "--as-of", AS_OF, "fixtures/leads.jsonl"]);
    assert_eq!(stamped.status.code(), plain.status.code());
    let hash = leadscore::Rules::hash_dir(root().join("rules")).unwrap();
    let stamp = format!(",\"rules\":{{\"hash\":\"{hash}\"}}}}");
    let (plain, stamped) = (stdout(&plain), stdout(&stamped));
    assert_eq!(plain.lines().count(), stamped.lines().count());
    for (plain, stamped) in plain.lines().zip(stamped.lines()) {
        // The stamp is one more key at the end; nothing else moves.
        let unstamped = stamped.strip_suffix(&stamp).map(|s| format!("{s}}}"));
        assert_eq!(unstamped.as_deref(), Some(plain), "{stamped}");
    }
    // A table has no room for it.
    let table = leadscore(&[
        "score",
        "--stamp",
        "--format",
        "table",
        "fixtures/leads.jsonl",
    ]);
    assert_eq!(table.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&table.stderr).contains("use --format jsonl or json"));
}

#[test]
fn score_stamp_carries_settings_version() {
    let dir = std::env::temp_dir().join(format!("leadscore-stamp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("r.yaml"),
        "settings: { version: \"2026-03\" }\nrules:\n  - id: any\n    when: { field: budget, gte: 1 }\n    points: 5\nstages:\n  - id: lead\n",
    )
    .unwrap();
    let out = leadscore_with_stdin(
        &[
            "score",
            "--stamp",
            "--rules",
            dir.to_str().unwrap(),
            "--format",
            "json",
        ],
        b"{\"id\": 1, \"budget\": 3}\n",
    );
    let verdicts: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(verdicts[0]["rules"]["version"], "2026-03");
    let hash = leadscore::Rules::hash_dir(&dir).unwrap();
    assert_eq!(verdicts[0]["rules"]["hash"], hash.as_str());
    std::fs::remove_dir_all(&dir).unwrap();
}

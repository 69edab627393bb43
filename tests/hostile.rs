//! Hostile rule folders and hostile inputs, kept in `fixtures/hostile/`: each gives a
//! clear error or a verdict, never a crash or a hang past its bound, and every record is
//! accounted for (read = scored + rejected).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::root;

/// Longest any single run may take, even in a debug build on a busy machine.
const BOUND: Duration = Duration::from_secs(60);

/// Runs the binary with a time bound; a run past it is killed and fails the test.
fn bounded(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_leadscore"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            panic!("leadscore {args:?} ran past {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn entries(dir: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn assert_no_crash(out: &Output, what: &str) {
    let err = text(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{what} crashed:\n{err}"
    );
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "{what}: exit {:?}\n{err}",
        out.status.code()
    );
}

/// Rule folders that load (their hostility shows when scoring).
const LOADS: [&str; 2] = ["rhai_recursion", "top_level_loop"];

#[test]
fn hostile_rule_folders_give_clear_errors_with_positions() {
    for dir in entries("fixtures/hostile/rules") {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let out = bounded(&["check", "--rules", &relative(&dir)]);
        assert_no_crash(&out, &name);
        let err = text(&out.stderr);
        if LOADS.contains(&name.as_str()) {
            assert_eq!(out.status.code(), Some(0), "{name}:\n{err}");
            continue;
        }
        assert_eq!(out.status.code(), Some(2), "{name} should not load:\n{err}");
        let located = format!("--> {}/", relative(&dir));
        assert!(
            err.contains("error: ") && err.contains(&located),
            "{name}: no located error:\n{err}"
        );
    }
}

#[test]
fn a_rule_that_recurses_forever_costs_one_error_per_lead_and_loses_none() {
    let out = bounded(&[
        "score",
        "--rules",
        "fixtures/hostile/rules/rhai_recursion",
        "--as-of",
        "2026-11-27",
        "fixtures/leads.jsonl",
    ]);
    assert_no_crash(&out, "rhai_recursion");
    let verdicts = text(&out.stdout);
    assert_eq!(verdicts.lines().count(), 15);
    for line in verdicts.lines() {
        assert!(line.contains(r#"{"rule":"forever","message":"stopped: calls nested too deep (settings.limits.max_call_depth is 32)"}"#), "{line}");
        assert!(line.contains(r#"{"rule":"fine","points":1}"#), "{line}");
    }
}

#[test]
fn a_huge_rule_file_is_refused_before_it_is_read() {
    let dir = std::env::temp_dir().join(format!("leadscore-hostile-huge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut yaml = String::from("rules:\n");
    while yaml.len() < 5 * 1024 * 1024 {
        yaml.push_str("  # padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(dir.join("huge.yaml"), yaml).unwrap();
    let out = bounded(&["check", "--rules", dir.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("rule files are limited to 4194304"),
        "{}",
        text(&out.stderr)
    );
}

/// Parses `read N records: S scored, R rejected` from standard error.
fn counts(stderr: &str) -> (usize, usize, usize) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("read "))
        .unwrap_or_else(|| panic!("no summary in:\n{stderr}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

fn score_accounts_for_every_record(input: &str) {
    let rejects = std::env::temp_dir().join(format!(
        "leadscore-hostile-rejects-{}-{}.jsonl",
        std::process::id(),
        input.replace('/', "_")
    ));
    let out = bounded(&[
        "score",
        "--as-of",
        "2026-11-27",
        "--rejects",
        rejects.to_str().unwrap(),
        input,
    ]);
    assert_no_crash(&out, input);
    let (read, scored, rejected) = counts(&text(&out.stderr));
    assert_eq!(read, scored + rejected, "{input}");
    assert_eq!(text(&out.stdout).lines().count(), scored, "{input}");
    let kept = std::fs::read_to_string(&rejects).unwrap_or_default();
    std::fs::remove_file(&rejects).ok();
    assert_eq!(
        kept.lines().count(),
        rejected,
        "{input}: --rejects holds every rejected record"
    );
    let expected_exit = if rejected > 0 { 1 } else { 0 };
    assert_eq!(out.status.code(), Some(expected_exit), "{input}");
}

#[test]
fn hostile_inputs_are_scored_or_rejected_and_counted() {
    for input in entries("fixtures/hostile/inputs") {
        score_accounts_for_every_record(&relative(&input));
    }
}

#[test]
fn a_line_of_many_megabytes_is_rejected_and_the_next_is_read() {
    let path = std::env::temp_dir().join(format!(
        "leadscore-hostile-long-{}.jsonl",
        std::process::id()
    ));
    let long = format!(
        "{{\"id\": \"long\", \"notes\": \"{}\"}}\n",
        "x".repeat(20 * 1024 * 1024)
    );
    std::fs::write(
        &path,
        format!("{long}{{\"id\": \"after\", \"email\": \"a@b.co\"}}\n"),
    )
    .unwrap();
    let out = bounded(&["score", "--as-of", "2026-11-27", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(counts(&text(&out.stderr)), (2, 1, 1));
    assert!(
        text(&out.stderr).contains("the record is larger than the limit"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains(r#""id":"after""#));
}

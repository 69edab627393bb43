//! What every fuzz target shares: the starter rules (compiled into the binary, so a target
//! runs from any folder), sample leads, and the checks that must hold for any input.

#![allow(dead_code)] // each target uses only part of it

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::OnceLock;

use leadscore::io::{InputFormat, ReadOptions, RecordReader};
use leadscore::{Date, Lead, Outcome, Pipeline, Rules, Scorer, Verdict};

/// The starter `rules/` folder, file by file.
pub const STARTER: [(&str, &str); 6] = [
    (
        "rules/fields.yaml",
        include_str!("../../../rules/fields.yaml"),
    ),
    ("rules/bant.yaml", include_str!("../../../rules/bant.yaml")),
    (
        "rules/engagement.yaml",
        include_str!("../../../rules/engagement.yaml"),
    ),
    (
        "rules/engagement.rhai",
        include_str!("../../../rules/engagement.rhai"),
    ),
    (
        "rules/disqualifiers.yaml",
        include_str!("../../../rules/disqualifiers.yaml"),
    ),
    (
        "rules/stages.yaml",
        include_str!("../../../rules/stages.yaml"),
    ),
];

/// The sample leads of the README, one JSON object per line.
pub const SAMPLE_LEADS: &str = include_str!("../../../fixtures/leads.jsonl");

/// The starter rules as sources for [`Rules::from_sources`].
pub fn starter_sources() -> Vec<(PathBuf, String)> {
    sources_named(|_| true)
}

/// The starter's field declarations and stage policy, without its rules: the frame a
/// fuzzed rule file fits in. (The starter rules' regexes would cost most of each run.)
pub fn frame_sources() -> Vec<(PathBuf, String)> {
    sources_named(|path| matches!(path, "rules/fields.yaml" | "rules/stages.yaml"))
}

fn sources_named(keep: impl Fn(&str) -> bool) -> Vec<(PathBuf, String)> {
    STARTER
        .iter()
        .filter(|(path, _)| keep(path))
        .map(|(path, text)| (PathBuf::from(path), (*text).to_string()))
        .collect()
}

/// The starter rules, compiled once per fuzzing process.
pub fn starter() -> &'static Scorer {
    static SCORER: OnceLock<Scorer> = OnceLock::new();
    SCORER.get_or_init(|| match Rules::from_sources(starter_sources()) {
        Ok(rules) => Scorer::new(rules),
        Err(e) => panic!("the starter rules must load:\n{e}"),
    })
}

/// A fixed as-of date, so every run of an input scores the same.
pub fn as_of() -> Date {
    Date::parse("2026-11-27").unwrap_or(Date::UNIX_EPOCH)
}

/// The sample leads, parsed.
pub fn sample_leads() -> &'static [Lead] {
    static LEADS: OnceLock<Vec<Lead>> = OnceLock::new();
    LEADS.get_or_init(|| {
        SAMPLE_LEADS
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .filter_map(|json| Lead::from_json(json).ok())
            .collect()
    })
}

/// Loads rule sources; when they load, scores the sample leads with them. Problems must
/// carry real positions and render without panicking.
pub fn load_and_score(sources: Vec<(PathBuf, String)>) {
    match Rules::from_sources(sources) {
        Err(e) => {
            for d in e.diagnostics() {
                assert!(d.span.line >= 1 && d.span.col >= 1, "no position: {d}");
                let _ = d.render();
            }
            let _ = e.to_string();
        }
        Ok(rules) => {
            let scorer = Scorer::new(rules);
            for lead in sample_leads() {
                let verdict = scorer.score(lead, as_of());
                assert_eq!(verdict, scorer.score(lead, as_of()), "not deterministic");
                check_verdict(&verdict);
            }
        }
    }
}

/// What holds for every verdict: it renders as JSON that parses back.
pub fn check_verdict(verdict: &Verdict) {
    let line = verdict.to_json_line();
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&line) {
        panic!("verdict JSON does not parse ({e}): {line}");
    }
}

fn record_reader(bytes: &[u8], format: InputFormat) -> RecordReader {
    RecordReader::new(
        Box::new(Cursor::new(bytes.to_vec())),
        format,
        "fuzz",
        &ReadOptions::default(),
    )
}

/// Reads `bytes` as `format` and scores every record with the starter rules, three ways:
/// the bulk path ([`Scorer::score_record`], JSON straight into slots), the ordinary one
/// (parse the whole record, then [`Scorer::try_score`]), and the parallel [`Pipeline`]
/// on two threads. All must agree, and every record must be numbered in order.
pub fn read_and_score(bytes: &[u8], format: InputFormat) {
    let scorer = starter();
    let mut reader = record_reader(bytes, format);
    let mut sequential: Vec<String> = Vec::new();
    let mut count = 0u64;
    let mut last_line = 0u64;
    while let Some(raw) = reader.next_raw() {
        count += 1;
        let position = raw.position().clone();
        assert_eq!(position.record, count, "records numbered in order");
        assert!(position.line >= last_line, "lines go backwards: {position}");
        last_line = position.line;

        let bulk = scorer.score_record(raw.clone(), as_of());
        assert_eq!(bulk.position, position);
        sequential.push(summary(&bulk));
        let record = raw.parse();
        let ordinary = record
            .lead
            .ok()
            .map(|lead| scorer.try_score(&lead, as_of()));
        match (&bulk.result, ordinary) {
            (Ok(verdict), Some(Ok(mut expected))) => {
                expected.name_by(&position);
                check_verdict(verdict);
                assert_eq!(
                    verdict.to_json_line(),
                    expected.to_json_line(),
                    "the bulk path disagrees at {position}"
                );
            }
            (Err(rejection), None | Some(Err(_))) => {
                assert!(!rejection.reason.is_empty(), "a rejection without a reason");
            }
            (bulk, ordinary) => panic!(
                "the bulk path and the ordinary one disagree at {position}:\n\
                 bulk: {bulk:?}\nordinary: {ordinary:?}"
            ),
        }
    }
    // The pipeline: the same outcomes, in the same order, none lost or added.
    let mut parallel: Vec<String> = Vec::new();
    let written = Pipeline::new(scorer, as_of()).threads(2).run(
        record_reader(bytes, format),
        &mut |o: Outcome| {
            parallel.push(summary(&o));
            Ok(())
        },
    );
    assert!(written.is_ok(), "writing to memory failed");
    assert_eq!(parallel, sequential, "the pipeline disagrees");
}

/// An outcome as one line: where, and its verdict or why it was rejected.
fn summary(outcome: &Outcome) -> String {
    match &outcome.result {
        Ok(verdict) => format!("{} {}", outcome.position, verdict.to_json_line()),
        Err(rejection) => format!("{} rejected: {}", outcome.position, rejection.reason),
    }
}

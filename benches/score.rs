//! Criterion benches for leadscore. Every group measures leadscore beside its baseline in
//! the same run, so ratios can be read on a noisy machine:
//!
//! - `score/*`: per-lead evaluation of the classic rules (the starter folder before score
//!   dimensions; YAML only, Rhai only, both) against the same YAML rules hand-written in
//!   plain Rust;
//! - `time/*`: the starter rules with their score dimensions, grade, decay and current
//!   stage, against the same rules with those keys taken out;
//! - `rhai/*`: a Rhai rule compiled once against compiled for every lead;
//! - `load/rules_dir`: loading and compiling the starter rules folder;
//! - `io/*`: reading JSON Lines and CSV;
//! - `bulk/*`: parse, score and write generated JSON Lines and CSV, against a bare
//!   serde_json read-and-write of the same bytes;
//! - `timeline/*`: replaying a generated history of lead updates, beside `score` of the
//!   same records (each scored as a lead of its own).
//!
//! `cargo bench` runs them all; BENCHMARKS.md has figures and ratios.

#[path = "../examples/support/synth.rs"]
mod synth;

mod baseline;

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use leadscore::io::{InputFormat, OutputFormat, ReadOptions, RecordReader, VerdictWriter};
use leadscore::timeline::Timeline;
use leadscore::{Date, Lead, Outcome, Pipeline, Rules, Scorer};

const LEADS: u64 = 10_000;
const BULK_LEADS: u64 = 100_000;

fn as_of() -> Date {
    Date::parse("2026-11-27").unwrap_or(Date::UNIX_EPOCH)
}

/// The starter rules, or the subset of their files chosen by `keep`.
fn starter_rules(keep: impl Fn(&str) -> bool) -> Scorer {
    rules_in("rules", keep, |text| text.to_string())
}

/// The classic rules (what the hand-written baseline mirrors), or a subset of their files.
fn classic_rules(keep: impl Fn(&str) -> bool) -> Scorer {
    rules_in("fixtures/classic_rules", keep, |text| text.to_string())
}

/// The rule files of `dir` chosen by `keep`, each passed through `edit`.
fn rules_in(dir: &str, keep: impl Fn(&str) -> bool, edit: impl Fn(&str) -> String) -> Scorer {
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(dir).expect("run benches from the crate root") {
        let path = entry.expect("readable rules folder").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let rule_file = name.ends_with(".yaml") || name.ends_with(".rhai");
        if path.is_file() && rule_file && keep(&name) {
            let text = std::fs::read_to_string(&path).expect("readable rule file");
            sources.push((PathBuf::from(&path), edit(&text)));
        }
    }
    Scorer::new(Rules::from_sources(sources).expect("the rules load"))
}

/// A starter rule file without the keys of the time dimension: no `score:` on rules, no
/// `scores`, `grade` or `current_stage` settings (they close `fields.yaml`).
fn without_time_keys(text: &str) -> String {
    let text = match text.find("  # Two scores beside the total") {
        Some(cut) => &text[..cut],
        None => text,
    };
    text.lines()
        .filter(|line| !matches!(line.trim(), "score: fit" | "score: engagement"))
        .map(|line| line.replace("score: \"engagement\", ", "") + "\n")
        .collect()
}

fn jsonl(count: u64) -> Vec<u8> {
    let mut out = Vec::new();
    synth::write_jsonl(&mut out, count, 42).expect("writing to memory");
    out
}

fn csv(count: u64) -> Vec<u8> {
    let mut out = Vec::new();
    synth::write_csv(&mut out, count, 42).expect("writing to memory");
    out
}

fn leads(text: &[u8]) -> Vec<Lead> {
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("generated leads are JSON objects"))
        .collect()
}

fn score_all(scorer: &Scorer, leads: &[Lead]) -> i64 {
    leads.iter().map(|l| scorer.score(l, as_of()).score).sum()
}

fn per_lead(c: &mut Criterion) {
    let text = jsonl(LEADS);
    let leads = leads(&text);
    let typed: Vec<baseline::TypedLead> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("typed lead"))
        .collect();
    let yaml_only = classic_rules(|name| !name.ends_with(".rhai"));
    let rhai_only = classic_rules(|name| name.ends_with(".rhai") || name == "fields.yaml");
    let both = classic_rules(|_| true);
    let hand = baseline::HandRules::new();
    // Check the answer: the hand-written rules must say what the YAML rules say.
    for (lead, t) in leads.iter().zip(&typed) {
        assert_eq!(
            hand.score(t, as_of()),
            yaml_only.score(lead, as_of()),
            "{lead:?}"
        );
    }
    let mut g = c.benchmark_group("score");
    g.throughput(Throughput::Elements(LEADS));
    g.sample_size(20);
    g.bench_function("hand_written_rust/10k", |b| {
        b.iter(|| {
            typed
                .iter()
                .map(|t| hand.score(black_box(t), as_of()).score)
                .sum::<i64>()
        })
    });
    g.bench_function("yaml_only/10k", |b| {
        b.iter(|| score_all(&yaml_only, black_box(&leads)))
    });
    g.bench_function("rhai_only/10k", |b| {
        b.iter(|| score_all(&rhai_only, black_box(&leads)))
    });
    g.bench_function("with_rhai/10k", |b| {
        b.iter(|| score_all(&both, black_box(&leads)))
    });
    g.finish();
}

/// What score dimensions, a grade, decay and the current stage add per lead: the starter
/// rules against the same rules without those keys.
fn time(c: &mut Criterion) {
    let leads = leads(&jsonl(LEADS));
    let with = starter_rules(|_| true);
    let without = rules_in("rules", |_| true, without_time_keys);
    assert!(without.rules().score_dimensions().next().is_none());
    assert!(with.rules().score_dimensions().count() == 2);
    let mut g = c.benchmark_group("time");
    g.throughput(Throughput::Elements(LEADS));
    g.sample_size(20);
    g.bench_function("without_time_keys/10k", |b| {
        b.iter(|| score_all(&without, black_box(&leads)))
    });
    g.bench_function("with_time_keys/10k", |b| {
        b.iter(|| score_all(&with, black_box(&leads)))
    });
    g.finish();
}

const RHAI_RULE: &str = r#"
fn engaged_visitor(lead) {
    if lead.page_views >= 10 {
        #{ points: 10, signals: ["need"], reason: `${lead.page_views} page views` }
    }
}
"#;

fn rhai(c: &mut Criterion) {
    let engine = rhai::Engine::new();
    let maps: Vec<rhai::Dynamic> = (0..1000)
        .map(|i| {
            let mut map = rhai::Map::new();
            map.insert("page_views".into(), rhai::Dynamic::from_int(i % 40));
            rhai::Dynamic::from_map(map)
        })
        .collect();
    let call = |ast: &rhai::AST, lead: &rhai::Dynamic| {
        engine
            .call_fn::<rhai::Dynamic>(
                &mut rhai::Scope::new(),
                ast,
                "engaged_visitor",
                (lead.clone(),),
            )
            .expect("the rule runs")
    };
    let compiled = engine.compile(RHAI_RULE).expect("the rule compiles");
    let mut g = c.benchmark_group("rhai");
    g.throughput(Throughput::Elements(maps.len() as u64));
    g.sample_size(20);
    g.bench_function("compiled_once/1k", |b| {
        b.iter(|| {
            maps.iter()
                .filter(|m| call(&compiled, black_box(m)).is_unit())
                .count()
        })
    });
    g.bench_function("compiled_per_lead/1k", |b| {
        b.iter(|| {
            maps.iter()
                .filter(|m| {
                    let ast = engine
                        .compile(black_box(RHAI_RULE))
                        .expect("the rule compiles");
                    call(&ast, m).is_unit()
                })
                .count()
        })
    });
    g.finish();
}

fn load(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    g.sample_size(20);
    g.bench_function("rules_dir", |b| {
        b.iter(|| Rules::load_dir(black_box("rules")).map(|r| r.rule_ids().count()))
    });
    g.finish();
}

fn reader(text: &[u8], format: InputFormat) -> RecordReader {
    RecordReader::new(
        Box::new(std::io::Cursor::new(text.to_vec())),
        format,
        "bench",
        &ReadOptions::default(),
    )
}

fn io(c: &mut Criterion) {
    let jsonl = jsonl(LEADS);
    let csv = csv(LEADS);
    let mut g = c.benchmark_group("io");
    g.throughput(Throughput::Elements(LEADS));
    g.sample_size(20);
    g.bench_function("jsonl_read/10k", |b| {
        b.iter(|| {
            reader(black_box(&jsonl), InputFormat::Jsonl)
                .filter(|r| r.lead.is_ok())
                .count()
        })
    });
    g.bench_function("csv_read/10k", |b| {
        b.iter(|| {
            reader(black_box(&csv), InputFormat::Csv)
                .filter(|r| r.lead.is_ok())
                .count()
        })
    });
    g.finish();
}

/// Parses each line into a `serde_json::Value` and writes it back: the bulk baseline.
fn serde_roundtrip(text: &[u8]) -> usize {
    let mut out = Vec::with_capacity(text.len());
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let value: serde_json::Value = serde_json::from_slice(line).expect("valid JSON");
        serde_json::to_writer(&mut out, &value).expect("writing to memory");
        out.push(b'\n');
    }
    out.len()
}

fn score_stream(scorer: &Scorer, text: &[u8], format: InputFormat, threads: usize) -> usize {
    let mut writer = VerdictWriter::new(Vec::with_capacity(text.len() * 2), OutputFormat::Jsonl);
    Pipeline::new(scorer, as_of())
        .threads(threads)
        .run(reader(text, format), &mut |o: Outcome| match o.result {
            Ok(v) => writer.write(&v),
            Err(_) => Ok(()),
        })
        .expect("writing to memory");
    writer.finish().map(|out| out.len()).unwrap_or(0)
}

fn bulk(c: &mut Criterion) {
    let scorer = starter_rules(|_| true);
    let jsonl = jsonl(BULK_LEADS);
    let csv = csv(BULK_LEADS);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut g = c.benchmark_group("bulk");
    g.throughput(Throughput::Elements(BULK_LEADS));
    g.sample_size(10);
    g.bench_function("serde_json_roundtrip_baseline/100k", |b| {
        b.iter(|| serde_roundtrip(black_box(&jsonl)))
    });
    for threads in [1, cores] {
        g.bench_with_input(
            BenchmarkId::new("jsonl_score", format!("100k/{threads}t")),
            &threads,
            |b, &t| b.iter(|| score_stream(&scorer, black_box(&jsonl), InputFormat::Jsonl, t)),
        );
    }
    g.bench_with_input(
        BenchmarkId::new("csv_score", format!("100k/{cores}t")),
        &cores,
        |b, &t| b.iter(|| score_stream(&scorer, black_box(&csv), InputFormat::Csv, t)),
    );
    g.finish();
    let _ = std::io::stderr().flush();
}

/// Replays a history read from `text` (read, merge, score, write the changes of stage):
/// what `leadscore timeline` does, to memory. Returns the bytes written.
fn replay(scorer: &Scorer, text: &[u8]) -> usize {
    let mut timeline = Timeline::new(scorer, Some("updated_at")).expect("a time field");
    let mut reader = reader(text, InputFormat::Jsonl);
    while let Some(raw) = reader.next_raw() {
        if let Ok(lead) = raw.parse().lead {
            let _ = timeline.add(lead);
        }
    }
    let mut out = Vec::with_capacity(text.len() / 4);
    for t in timeline.transitions() {
        out.extend_from_slice(t.to_json_line().as_bytes());
        out.push(b'\n');
    }
    out.len()
}

fn timeline(c: &mut Criterion) {
    let scorer = starter_rules(|_| true);
    let mut history = Vec::new();
    synth::write_history(&mut history, BULK_LEADS, synth::HistoryFormat::Jsonl, 42)
        .expect("writing to memory");
    // Check the answer: every record replays, and changes of stage come out.
    let mut check = Timeline::new(&scorer, Some("updated_at")).expect("a time field");
    for line in history.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let lead: Lead = serde_json::from_slice(line).expect("generated updates are JSON");
        check.add(lead).expect("generated updates replay");
    }
    assert!(check.transitions().len() as u64 > BULK_LEADS / 10);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut g = c.benchmark_group("timeline");
    g.throughput(Throughput::Elements(BULK_LEADS));
    g.sample_size(10);
    for threads in [1, cores] {
        g.bench_with_input(
            BenchmarkId::new("score_same_records", format!("100k/{threads}t")),
            &threads,
            |b, &t| b.iter(|| score_stream(&scorer, black_box(&history), InputFormat::Jsonl, t)),
        );
    }
    g.bench_function("replay/100k", |b| {
        b.iter(|| replay(&scorer, black_box(&history)))
    });
    g.finish();
}

criterion_group!(benches, per_lead, time, rhai, load, io, bulk, timeline);
criterion_main!(benches);

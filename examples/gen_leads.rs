//! Generates a large, realistic, deterministic lead file for benchmarks and demos.
//!
//! ```sh
//! cargo run --release --example gen_leads -- 1000000 jsonl 42 > /tmp/leads-1m.jsonl
//! cargo run --release --example gen_leads -- 1000000 csv > /tmp/leads-1m.csv
//! cargo run --release --example gen_leads -- 200000 jsonl 42 --cardinality high > /tmp/leads-hc.jsonl
//! ```
//! Arguments: COUNT (default 100000), FORMAT `jsonl` or `csv` (default jsonl), SEED
//! (default 42), and `--cardinality low|high` (or a fourth argument `low` or `high`;
//! default low). The same arguments always give the same bytes.
//!
//! `low` is the original generator (names, companies, titles and emails from small
//! arrays); its output never changes, as the figures in BENCHMARKS.md depend on it.
//! `high` gives every lead its own email, draws companies, titles and pain points from
//! thousands of combinations and budgets, employees, revenue and page views from wide
//! log-normal ranges, and adds `industry` and `annual_revenue`: caches keyed by field
//! values see what a real lead base gives them.

#[path = "support/synth.rs"]
mod synth;

use std::io::{BufWriter, Write};
use synth::Cardinality;

fn main() -> std::io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut cardinality = None;
    if let Some(at) = args.iter().position(|a| a.starts_with("--cardinality")) {
        let flag = args.remove(at);
        cardinality = match flag.strip_prefix("--cardinality=") {
            Some(value) => Some(value.to_string()),
            None if at < args.len() => Some(args.remove(at)),
            None => None,
        };
        if cardinality.is_none() {
            usage("--cardinality needs a value: low or high");
        }
    }
    let count = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let format = args.get(1).map_or("jsonl", String::as_str);
    let seed = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(42);
    let cardinality = match cardinality.as_deref().or(args.get(3).map(String::as_str)) {
        None | Some("low") => Cardinality::Low,
        Some("high") => Cardinality::High,
        Some(other) => usage(&format!("unknown cardinality `{other}`; use low or high")),
    };
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match format {
        "csv" => synth::write_csv_with(&mut out, count, seed, cardinality)?,
        "jsonl" => synth::write_jsonl_with(&mut out, count, seed, cardinality)?,
        other => usage(&format!("unknown format `{other}`; use jsonl or csv")),
    }
    out.flush()
}

fn usage(message: &str) -> ! {
    eprintln!("{message}");
    eprintln!("usage: gen_leads [COUNT] [jsonl|csv] [SEED] [--cardinality low|high]");
    std::process::exit(2);
}

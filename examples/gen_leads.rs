//! Generates a large, realistic, deterministic lead file for benchmarks and demos.
//!
//! ```sh
//! cargo run --release --example gen_leads -- 1000000 jsonl 42 > /tmp/leads-1m.jsonl
//! cargo run --release --example gen_leads -- 1000000 csv > /tmp/leads-1m.csv
//! ```
//! Arguments: COUNT (default 100000), FORMAT `jsonl` or `csv` (default jsonl), SEED
//! (default 42). The same arguments always give the same bytes.

#[path = "support/synth.rs"]
mod synth;

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let format = args.get(1).map_or("jsonl", String::as_str);
    let seed = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(42);
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match format {
        "csv" => synth::write_csv(&mut out, count, seed)?,
        "jsonl" => synth::write_jsonl(&mut out, count, seed)?,
        other => {
            eprintln!("unknown format `{other}`; use jsonl or csv");
            std::process::exit(2);
        }
    }
    out.flush()
}

//! Generates a realistic, deterministic event history of lead updates for
//! `leadscore timeline`: several updates per lead over weeks, needs, budgets and
//! pricing talks appearing over time, some leads going quiet; in time order.
//!
//! ```sh
//! cargo run --release --example gen_history -- 1000000 jsonl 42 > /tmp/history-1m.jsonl
//! leadscore timeline --time-field updated_at /tmp/history-1m.jsonl
//! cargo run --release --example gen_history -- 10000 csv > history.csv
//! leadscore timeline --time-field LastModifiedDate history.csv
//! ```
//! Arguments: EVENTS (default 100000), FORMAT `jsonl` or `csv` (default jsonl), SEED
//! (default 42). The same arguments always give the same bytes.

#[path = "support/synth.rs"]
mod synth;

use std::io::{BufWriter, Write};

use synth::HistoryFormat;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let events = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let format = match args.get(1).map_or("jsonl", String::as_str) {
        "jsonl" => HistoryFormat::Jsonl,
        "csv" => HistoryFormat::Csv,
        other => {
            eprintln!("unknown format `{other}`; use jsonl or csv");
            std::process::exit(2);
        }
    };
    let seed = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(42);
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    synth::write_history(&mut out, events, format, seed)?;
    out.flush()
}

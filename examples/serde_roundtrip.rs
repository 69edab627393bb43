//! The bulk-scoring baseline: read JSON Lines into `serde_json::Value`s and write them
//! back, one thread, no scoring. `leadscore score` is measured against this.
//!
//! ```sh
//! cargo run --release --example serde_roundtrip < /tmp/leads-1m.jsonl > /dev/null
//! ```

use std::io::{BufRead, BufWriter, Write};

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    for line in stdin.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line)?;
        serde_json::to_writer(&mut out, &value)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

//! The CSV bulk-scoring baseline: read CSV rows with the csv crate into one reused
//! `ByteRecord` and write them back with `csv::Writer`, one thread, no scoring.
//! `leadscore score` on CSV input is measured against this.
//!
//! ```sh
//! cargo run --release --example csv_roundtrip < /tmp/leads.csv > /dev/null
//! ```

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(stdin);
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_writer(stdout);
    let mut row = csv::ByteRecord::new();
    while reader.read_byte_record(&mut row)? {
        writer.write_byte_record(&row)?;
    }
    writer.flush()?;
    Ok(std::io::stdout().flush()?)
}

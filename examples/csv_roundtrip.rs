//! The CSV bulk baseline: read each row with the `csv` crate into a reused `ByteRecord`
//! and write it back, one thread, no scoring. `leadscore score` of a CSV file is measured
//! against this, as it is against `serde_roundtrip` for JSON Lines.
//!
//! ```sh
//! cargo run --release --example csv_roundtrip < /tmp/leads-1m.csv > /dev/null
//! ```
//!
//! `ByteRecord` skips UTF-8 validation: the fastest competent read-and-write the crate
//! offers, so the ratio is against the crate at its best.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The header row is copied like any other row.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .buffer_capacity(1 << 16)
        .from_reader(std::io::stdin().lock());
    let mut writer = csv::WriterBuilder::new()
        .buffer_capacity(1 << 16)
        .from_writer(std::io::stdout().lock());
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record)? {
        writer.write_byte_record(&record)?;
    }
    writer.flush()?;
    Ok(())
}

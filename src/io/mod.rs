//! Reading leads and writing verdicts: streaming JSON, JSON Lines and CSV readers that
//! turn input into [`Record`]s one at a time, and writers for verdicts and rejects.
//!
//! A record that cannot become a [`Lead`] is not an error that stops the run: it comes
//! out as a [`Record`] whose `lead` is `Err(reason)`, with its [`Position`] and original
//! text, so the caller can count it, report it and write it to a rejects file.

mod csv;
mod json;
mod jsonl;
mod output;
mod scan;

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use crate::lead::{Bound, Lead, Schema};

pub(crate) use jsonl::{BlockRecord, LineBlock};
pub use output::{OutputFormat, RejectWriter, Rows, VerdictWriter};

/// The byte order mark some tools put at the start of UTF-8 files.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Buffer size for input files: large reads keep system calls rare on big exports.
const INPUT_BUFFER: usize = 64 * 1024;

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// One JSON object, an array of objects, or objects one after another.
    Json,
    /// One JSON object per line (JSON Lines, NDJSON).
    Jsonl,
    /// Comma-separated values with a header row (or `;`, tab, `|`).
    Csv,
}

impl InputFormat {
    /// The format for a name: `json`, `jsonl` (or `ndjson`), `csv`.
    pub fn from_name(name: &str) -> Option<InputFormat> {
        match name {
            "json" => Some(InputFormat::Json),
            "jsonl" | "ndjson" => Some(InputFormat::Jsonl),
            "csv" => Some(InputFormat::Csv),
            _ => None,
        }
    }
}

/// Where a record came from: used to name it in errors and as its id when it has none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    /// The input's name: its path as given, or `stdin`.
    pub source: Arc<str>,
    /// The 1-based line where the record starts.
    pub line: u64,
    /// The 1-based number of the record in its source (rejected records count too).
    pub record: u64,
}

impl fmt::Display for Position {
    /// Renders `source:line`, e.g. `leads.csv:4`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source, self.line)
    }
}

/// One record read from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Where the record starts.
    pub position: Position,
    /// The lead, or why the record is not one (a lowercase sentence).
    pub lead: Result<Lead, String>,
    /// The record's original text without its line ending, so a rejected record can be
    /// written out whole. Invalid UTF-8 is replaced with U+FFFD; a record over
    /// [`ReadOptions::max_record_bytes`] keeps only its first kilobyte.
    pub raw: String,
}

/// How to read the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// The CSV field delimiter; `None` picks the most frequent of `,` `;` tab `|` in the
    /// header line (outside quotes), `,` when there is none.
    pub csv_delimiter: Option<u8>,
    /// Records longer than this many bytes are rejected without being held in memory.
    pub max_record_bytes: usize,
}

impl Default for ReadOptions {
    /// Sniffed delimiter, 16 MiB per record.
    fn default() -> ReadOptions {
        ReadOptions {
            csv_delimiter: None,
            max_record_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Reads records one at a time from JSON, JSON Lines or CSV input.
///
/// Never holds more than one record in memory. A read error ends the iteration after
/// one last rejected record that names it.
pub struct RecordReader {
    inner: Inner,
}

enum Inner {
    Json(json::JsonRecords),
    Jsonl(jsonl::JsonlRecords),
    Csv(csv::CsvRecords),
}

impl RecordReader {
    /// Reads `reader` as `format`, naming records after `source` (a path or `stdin`).
    pub fn new(
        reader: Box<dyn BufRead + Send>,
        format: InputFormat,
        source: &str,
        options: &ReadOptions,
    ) -> RecordReader {
        let source: Arc<str> = Arc::from(source);
        let inner = match format {
            InputFormat::Json => Inner::Json(json::JsonRecords::new(reader, source, options)),
            InputFormat::Jsonl => Inner::Jsonl(jsonl::JsonlRecords::new(reader, source, options)),
            InputFormat::Csv => Inner::Csv(csv::CsvRecords::new(reader, source, options)),
        };
        RecordReader { inner }
    }
}

impl fmt::Debug for RecordReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = match self.inner {
            Inner::Json(_) => InputFormat::Json,
            Inner::Jsonl(_) => InputFormat::Jsonl,
            Inner::Csv(_) => InputFormat::Csv,
        };
        f.debug_struct("RecordReader")
            .field("format", &format)
            .finish()
    }
}

impl RecordReader {
    /// The next record cut from the input, not parsed yet: cutting must be sequential,
    /// parsing can happen on another thread ([`RawRecord::parse`]).
    pub fn next_raw(&mut self) -> Option<RawRecord> {
        match &mut self.inner {
            Inner::Json(records) => records.next(),
            Inner::Jsonl(records) => records.next(),
            Inner::Csv(records) => records.next(),
        }
    }
}

impl RecordReader {
    /// The next records, a block of JSON lines at a time for JSON Lines input (the
    /// lines are cut but not copied one by one), else one record: bulk scoring's read.
    pub(crate) fn next_cutting(&mut self) -> Option<Cutting> {
        match &mut self.inner {
            Inner::Jsonl(records) => records.next_block().map(Cutting::Block),
            _ => self.next_raw().map(Cutting::Record),
        }
    }
}

/// Records as [`RecordReader::next_cutting`] cuts them.
pub(crate) enum Cutting {
    /// Whole lines of JSON Lines input.
    Block(LineBlock),
    /// One record of any other input.
    Record(RawRecord),
}

impl Iterator for RecordReader {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        self.next_raw().map(RawRecord::parse)
    }
}

/// A record cut from the input but not parsed yet.
#[derive(Debug, Clone)]
pub struct RawRecord {
    position: Position,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    /// Decided while cutting (a rejection, or nothing left to parse).
    Done {
        lead: Result<Lead, String>,
        raw: String,
    },
    /// A JSON Lines line, without its ending.
    JsonLine(Vec<u8>),
    /// A JSON value starting at `line:column` of the input.
    JsonValue {
        text: Vec<u8>,
        line: u64,
        column: u64,
    },
    /// A CSV row and the header it is read under.
    CsvRow {
        header: Arc<csv::Header>,
        row: ::csv::ByteRecord,
        delimiter: u8,
    },
}

impl RawRecord {
    /// A JSON Lines line, cut from its block to be parsed on its own.
    pub(crate) fn json_line(position: Position, text: Vec<u8>) -> RawRecord {
        RawRecord {
            position,
            body: Body::JsonLine(text),
        }
    }

    /// Where the record starts.
    pub fn position(&self) -> &Position {
        &self.position
    }

    /// The record's JSON text, when it is JSON and valid UTF-8.
    pub fn json_text(&self) -> Option<&str> {
        match &self.body {
            Body::JsonLine(bytes) | Body::JsonValue { text: bytes, .. } => {
                std::str::from_utf8(bytes).ok()
            }
            _ => None,
        }
    }

    /// Binds the record straight to the schema's slots, without building a lead (JSON
    /// skips the fields the rules do not read; CSV copies only their cells). `None` when
    /// it cannot be (not a JSON object, a CSV row that would be rejected): the ordinary
    /// path, [`RawRecord::parse`], says why.
    pub(crate) fn bind(&self, schema: &Schema) -> Option<Bound<'static>> {
        match &self.body {
            Body::JsonLine(_) | Body::JsonValue { .. } => bind_json(schema, self.json_text()?),
            Body::CsvRow { header, row, .. } => csv::bind_row(schema, header, row),
            Body::Done { .. } => None,
        }
    }

    /// Parses the record into a lead, or the reason it is not one.
    pub fn parse(self) -> Record {
        let (lead, raw) = match self.body {
            Body::Done { lead, raw } => (lead, raw),
            Body::JsonLine(bytes) => jsonl::parse_line(bytes),
            Body::JsonValue { text, line, column } => json::parse_value(text, line, column),
            Body::CsvRow {
                header,
                row,
                delimiter,
            } => csv::parse_row(&header, &row, delimiter),
        };
        Record {
            position: self.position,
            lead,
            raw,
        }
    }
}

/// Binds one JSON object's text straight to the schema's slots: the fast scanner for
/// the common shape, serde_json for the rest. `None` when the text is not one JSON
/// object (parsing it the ordinary way says why).
pub(crate) fn bind_json(schema: &Schema, text: &str) -> Option<Bound<'static>> {
    let values = scan::object_into_slots(
        text,
        schema.fields().len(),
        schema.mapping(),
        |key| schema.lookup(key),
        |slot| schema.needs_value(slot),
    );
    match values {
        Some(values) => Some(schema.coerce_in_place(values)),
        None => schema.bind_json(text).ok(),
    }
}

/// Picks the input format: by extension first (`.json`; `.jsonl`, `.ndjson`; `.csv`,
/// `.tsv`, `.txt`), else by the first bytes of the input, `head`.
///
/// By content, after a byte order mark and blanks: `[` is JSON; `{` is JSON Lines when
/// the first line alone is a JSON value, else JSON (one pretty-printed object);
/// anything else is CSV.
pub fn detect_format(path: Option<&Path>, head: &[u8]) -> InputFormat {
    path.and_then(format_from_extension)
        .unwrap_or_else(|| format_from_content(head))
}

fn format_from_extension(path: &Path) -> Option<InputFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "json" => Some(InputFormat::Json),
        "jsonl" | "ndjson" => Some(InputFormat::Jsonl),
        "csv" | "tsv" | "txt" => Some(InputFormat::Csv),
        _ => None,
    }
}

fn format_from_content(head: &[u8]) -> InputFormat {
    let head = head.strip_prefix(BOM).unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    let rest = match start {
        Some(i) => &head[i..],
        None => return InputFormat::Csv,
    };
    match rest[0] {
        b'[' => InputFormat::Json,
        b'{' => {
            let first_line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
            if serde_json::from_slice::<serde::de::IgnoredAny>(first_line).is_ok() {
                InputFormat::Jsonl
            } else {
                InputFormat::Json
            }
        }
        _ => InputFormat::Csv,
    }
}

/// Opens `path` (`-` is standard input) for reading records, detecting the format from
/// the extension and first bytes when `format` is `None`. The source is named by the
/// path as given, or `stdin`.
///
/// # Errors
/// When the file cannot be opened or its first bytes cannot be read.
pub fn open_input(
    path: &str,
    format: Option<InputFormat>,
    options: &ReadOptions,
) -> io::Result<RecordReader> {
    let (mut reader, source, file_path): (Box<dyn BufRead + Send>, &str, Option<&Path>) =
        if path == "-" {
            let stdin = BufReader::with_capacity(INPUT_BUFFER, io::stdin());
            (Box::new(stdin), "stdin", None)
        } else {
            let file = BufReader::with_capacity(INPUT_BUFFER, File::open(path)?);
            (Box::new(file), path, Some(Path::new(path)))
        };
    let format = match format {
        Some(format) => format,
        None => detect_format(file_path, reader.fill_buf()?),
    };
    Ok(RecordReader::new(reader, format, source, options))
}

/// Builds a record that needs no more parsing.
fn record(
    source: &Arc<str>,
    line: u64,
    record: u64,
    lead: Result<Lead, String>,
    raw: String,
) -> RawRecord {
    unparsed(source, line, record, Body::Done { lead, raw })
}

/// Builds a record from its position and body.
fn unparsed(source: &Arc<str>, line: u64, record: u64, body: Body) -> RawRecord {
    RawRecord {
        position: Position {
            source: Arc::clone(source),
            line,
            record,
        },
        body,
    }
}

/// The text of a record's bytes for `Record::raw`, lossy when not UTF-8.
fn raw_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What an oversized record keeps as its raw text: enough to find it in the input.
fn raw_prefix(bytes: &[u8]) -> String {
    const KEEP: usize = 1024;
    raw_text(&bytes[..bytes.len().min(KEEP)])
}

/// The reason for a record over the size limit.
fn too_large(limit: usize) -> String {
    format!("the record is larger than the limit of {limit} bytes")
}

/// The reason for a failed read, which also ends the input.
fn read_failed(error: &io::Error) -> String {
    format!("cannot read the input: {error}")
}

/// serde_json's message without its " at line L column C" suffix, which callers
/// replace with a position in the whole input.
fn json_message(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match full.strip_suffix(&suffix) {
        Some(message) => message.to_string(),
        None => full,
    }
}

/// Parses JSON text straight into a lead (no intermediate `serde_json::Value`).
/// `Err((reason, syntax))`: `syntax` is true for malformed JSON, false for JSON that
/// is not a lead (an array, say), whose reason needs no position.
fn lead_from_json_text(text: &str) -> Result<Lead, (String, Option<serde_json::Error>)> {
    serde_json::from_str::<Lead>(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => (json_message(&e), None),
        _ => (json_message(&e), Some(e)),
    })
}

/// Helpers shared by the readers' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{InputFormat, ReadOptions, Record, RecordReader};
    use crate::lead::Value;

    /// Input handed out a few bytes per read, as a slow pipe gives it.
    pub struct Trickle {
        pub bytes: Vec<u8>,
        pub at: usize,
        pub per_read: usize,
    }

    impl std::io::Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.per_read.min(buf.len()).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// Every record of `input` read as `format`.
    pub fn read_as(
        format: InputFormat,
        source: &str,
        input: &[u8],
        options: &ReadOptions,
    ) -> Vec<Record> {
        let reader = Box::new(std::io::Cursor::new(input.to_vec()));
        RecordReader::new(reader, format, source, options).collect()
    }

    /// Each record as (line, record number, Ok(id) or Err(reason)).
    pub fn summary_ids(records: &[Record]) -> Vec<(u64, u64, Result<String, String>)> {
        records
            .iter()
            .map(|r| {
                let id = r
                    .lead
                    .as_ref()
                    .map(|lead| lead.get("id").map_or("-".to_string(), Value::to_string));
                (r.position.line, r.position.record, id.map_err(Clone::clone))
            })
            .collect()
    }

    /// An expected success.
    pub fn ok(text: &str) -> Result<String, String> {
        Ok(text.to_string())
    }

    /// An expected rejection.
    pub fn err(reason: &str) -> Result<String, String> {
        Err(reason.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(name: Option<&str>, head: &str) -> InputFormat {
        detect_format(name.map(Path::new), head.as_bytes())
    }

    #[test]
    fn detects_formats_by_extension_first() {
        assert_eq!(detect(Some("a.json"), "id,name"), InputFormat::Json);
        assert_eq!(detect(Some("a.JSONL"), "["), InputFormat::Jsonl);
        assert_eq!(detect(Some("a.ndjson"), ""), InputFormat::Jsonl);
        assert_eq!(detect(Some("dir/a.csv"), "{}"), InputFormat::Csv);
        assert_eq!(detect(Some("a.tsv"), "["), InputFormat::Csv);
        assert_eq!(detect(Some("a.txt"), "["), InputFormat::Csv);
    }

    #[test]
    fn detects_formats_by_content_otherwise() {
        assert_eq!(detect(None, "  \n[{\"id\": 1}]"), InputFormat::Json);
        assert_eq!(
            detect(Some("leads"), "{\"id\": 1}\n{\"id\": 2}"),
            InputFormat::Jsonl
        );
        assert_eq!(detect(None, "\u{feff}{\"id\": 1}\r\n"), InputFormat::Jsonl);
        assert_eq!(detect(None, "{\n  \"id\": 1\n}\n"), InputFormat::Json);
        assert_eq!(detect(Some("x.dat"), "id,name\n1,a\n"), InputFormat::Csv);
        assert_eq!(detect(None, ""), InputFormat::Csv);
        assert_eq!(detect(None, " \n "), InputFormat::Csv);
    }

    #[test]
    fn names_formats() {
        assert_eq!(InputFormat::from_name("json"), Some(InputFormat::Json));
        assert_eq!(InputFormat::from_name("jsonl"), Some(InputFormat::Jsonl));
        assert_eq!(InputFormat::from_name("csv"), Some(InputFormat::Csv));
        assert_eq!(InputFormat::from_name("CSV"), None);
    }

    #[test]
    fn readers_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<RecordReader>();
        assert_send::<Record>();
    }

    #[test]
    fn positions_display_as_source_and_line() {
        let position = Position {
            source: Arc::from("leads.csv"),
            line: 4,
            record: 3,
        };
        assert_eq!(position.to_string(), "leads.csv:4");
    }

    #[test]
    fn json_messages_lose_their_position_suffix() {
        let error = serde_json::from_str::<serde_json::Value>("{\"a\": }").unwrap_err();
        assert_eq!(json_message(&error), "expected value");
    }

    #[test]
    fn open_input_detects_and_names_a_file() {
        let path = std::env::temp_dir().join(format!("leadscore-io-{}.data", std::process::id()));
        std::fs::write(&path, "{\"id\": \"L1\"}\n{\"id\": \"L2\"}\n").unwrap();
        let name = path.to_string_lossy().into_owned();
        let records: Vec<Record> = open_input(&name, None, &ReadOptions::default())
            .unwrap()
            .collect();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].position.to_string(), format!("{name}:2"));
        assert!(open_input("/nonexistent/leads.csv", None, &ReadOptions::default()).is_err());
    }
}

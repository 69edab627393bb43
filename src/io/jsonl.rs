//! JSON Lines input: one lead per line, each line parsed on its own so a bad line
//! rejects only itself and every line keeps its number.

use std::io::{self, BufRead, Read};
use std::sync::Arc;

use super::{BOM, Body, RawRecord, ReadOptions};

/// Records from JSON Lines input, one per non-blank line.
pub(super) struct JsonlRecords {
    input: Box<dyn BufRead + Send>,
    source: Arc<str>,
    max_bytes: usize,
    /// Lines consumed so far.
    line: u64,
    /// Records produced so far.
    record: u64,
    buf: Vec<u8>,
    done: bool,
}

/// One physical line as read.
enum Line {
    /// A line is in `buf`, its ending included.
    Text,
    /// The line was over the limit; `buf` holds its start and the rest was skipped.
    TooLong,
    End,
}

impl JsonlRecords {
    pub(super) fn new(
        input: Box<dyn BufRead + Send>,
        source: Arc<str>,
        options: &ReadOptions,
    ) -> Self {
        JsonlRecords {
            input,
            source,
            max_bytes: options.max_record_bytes,
            line: 0,
            record: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// Reads the next line into `buf`, holding at most `max_bytes` + 1 bytes of it.
    fn read_line(&mut self) -> io::Result<Line> {
        self.buf.clear();
        let limit = u64::try_from(self.max_bytes)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let n = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(Line::End);
        }
        if self.buf.last() != Some(&b'\n') && self.buf.len() > self.max_bytes {
            self.input.skip_until(b'\n')?;
            return Ok(Line::TooLong);
        }
        Ok(Line::Text)
    }

    fn make(&mut self, lead: Result<crate::lead::Lead, String>, raw: String) -> RawRecord {
        self.record += 1;
        super::record(&self.source, self.line, self.record, lead, raw)
    }
}

impl Iterator for JsonlRecords {
    type Item = RawRecord;

    fn next(&mut self) -> Option<RawRecord> {
        while !self.done {
            let read = self.read_line();
            self.line += 1;
            match read {
                Err(e) => {
                    self.done = true;
                    return Some(self.make(Err(super::read_failed(&e)), String::new()));
                }
                Ok(Line::End) => self.done = true,
                Ok(Line::TooLong) => {
                    let raw = super::raw_prefix(&self.buf);
                    return Some(self.make(Err(super::too_large(self.max_bytes)), raw));
                }
                Ok(Line::Text) => {
                    let text = line_text(&self.buf, self.line == 1);
                    if text.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    self.record += 1;
                    let body = Body::JsonLine(text.to_vec());
                    return Some(super::unparsed(&self.source, self.line, self.record, body));
                }
            }
        }
        None
    }
}

/// The line without its ending (`\n` or `\r\n`), and without a BOM on the first line.
fn line_text(bytes: &[u8], first: bool) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    match first {
        true => bytes.strip_prefix(BOM).unwrap_or(bytes),
        false => bytes,
    }
}

/// Parses one line: the lead (or why not) and the line as text.
pub(super) fn parse_line(bytes: Vec<u8>) -> (Result<crate::lead::Lead, String>, String) {
    match String::from_utf8(bytes) {
        Ok(text) => {
            let lead =
                super::lead_from_json_text(&text).map_err(|(message, syntax)| match syntax {
                    Some(e) => format!("malformed JSON: {message} at column {}", e.column()),
                    None => message,
                });
            (lead, text)
        }
        Err(e) => {
            let reason = format!(
                "invalid UTF-8 at column {}",
                e.utf8_error().valid_up_to() + 1
            );
            (Err(reason), super::raw_text(e.as_bytes()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::InputFormat;
    use crate::io::Record;
    use crate::lead::Value;

    use crate::io::testing::{ok, read_as, summary_ids as summary};

    fn read_with(input: &[u8], options: &ReadOptions) -> Vec<Record> {
        read_as(InputFormat::Jsonl, "leads.jsonl", input, options)
    }

    fn read(input: &[u8]) -> Vec<Record> {
        read_with(input, &ReadOptions::default())
    }

    #[test]
    fn reads_one_lead_per_line() {
        let records = read(b"{\"id\": \"L1\", \"budget\": 12000}\n{\"id\": \"L2\"}\n");
        assert_eq!(summary(&records), vec![(1, 1, ok("L1")), (2, 2, ok("L2"))]);
        let lead = records[0].lead.as_ref().unwrap();
        assert_eq!(lead.get("budget"), Some(&Value::Int(12000)));
        assert_eq!(records[0].raw, "{\"id\": \"L1\", \"budget\": 12000}");
        assert_eq!(records[1].position.to_string(), "leads.jsonl:2");
    }

    #[test]
    fn a_bad_line_rejects_only_itself() {
        let records = read(b"{\"id\": 1}\n{\"id\": 2,, }\n{\"id\": 3}");
        assert_eq!(
            summary(&records),
            vec![
                (1, 1, ok("1")),
                (
                    2,
                    2,
                    Err("malformed JSON: key must be a string at column 10".to_string())
                ),
                (3, 3, ok("3")),
            ]
        );
        assert_eq!(records[1].raw, "{\"id\": 2,, }");
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        let records = read(b"\n{\"id\": 1}\n   \n\t\n{\"id\": 2}\n\n");
        assert_eq!(summary(&records), vec![(2, 1, ok("1")), (5, 2, ok("2"))]);
    }

    #[test]
    fn crlf_line_endings_are_stripped() {
        let records = read(b"{\"id\": 1}\r\n{\"id\": 2}\r\n");
        assert_eq!(summary(&records), vec![(1, 1, ok("1")), (2, 2, ok("2"))]);
        assert_eq!(records[1].raw, "{\"id\": 2}");
    }

    #[test]
    fn regression_bom_in_jsonl() {
        let records = read(b"\xEF\xBB\xBF{\"id\": 1}\n");
        assert_eq!(summary(&records), vec![(1, 1, ok("1"))]);
        assert_eq!(records[0].raw, "{\"id\": 1}");
    }

    #[test]
    fn invalid_utf8_rejects_only_its_line() {
        let records = read(b"{\"id\": 1}\n{\"id\": \"\xff\xfe\"}\n{\"id\": 3}\n");
        assert_eq!(
            summary(&records),
            vec![
                (1, 1, ok("1")),
                (2, 2, Err("invalid UTF-8 at column 9".to_string())),
                (3, 3, ok("3")),
            ]
        );
        assert_eq!(records[1].raw, "{\"id\": \"\u{fffd}\u{fffd}\"}");
    }

    #[test]
    fn a_line_that_is_not_an_object_is_rejected() {
        let records = read(b"[1, 2]\n\"text\"\n");
        assert_eq!(
            summary(&records),
            vec![
                (
                    1,
                    1,
                    Err("a lead must be a JSON object, found an array".to_string())
                ),
                (
                    2,
                    2,
                    Err("a lead must be a JSON object, found a string".to_string())
                ),
            ]
        );
    }

    #[test]
    fn two_objects_on_one_line_are_rejected() {
        let records = read(b"{\"id\": 1} {\"id\": 2}\n");
        assert_eq!(
            summary(&records),
            vec![(
                1,
                1,
                Err("malformed JSON: trailing characters at column 11".to_string())
            )]
        );
    }

    #[test]
    fn deep_nesting_is_a_rejection_not_a_crash() {
        let mut input = b"{\"a\": ".to_vec();
        input.extend_from_slice(&"[".repeat(10_000).into_bytes());
        input.extend_from_slice(&"]".repeat(10_000).into_bytes());
        input.extend_from_slice(b"}\n{\"id\": 2}\n");
        let records = read(&input);
        assert_eq!(records.len(), 2);
        let reason = records[0].lead.as_ref().unwrap_err();
        assert!(
            reason.starts_with("malformed JSON: recursion limit exceeded"),
            "{reason}"
        );
        assert_eq!(summary(&records)[1], (2, 2, ok("2")));
    }

    #[test]
    fn long_lines_are_read_whole() {
        let long = "x".repeat(3_000_000);
        let input = format!("{{\"id\": 1, \"note\": \"{long}\"}}\n{{\"id\": 2}}\n");
        let records = read(input.as_bytes());
        assert_eq!(summary(&records), vec![(1, 1, ok("1")), (2, 2, ok("2"))]);
    }

    #[test]
    fn lines_over_the_limit_are_rejected_and_skipped() {
        let options = ReadOptions {
            max_record_bytes: 20,
            ..ReadOptions::default()
        };
        let long = "x".repeat(5000);
        let input = format!("{{\"id\": 1}}\n{{\"id\": 2, \"note\": \"{long}\"}}\n{{\"id\": 3}}\n");
        let records = read_with(input.as_bytes(), &options);
        assert_eq!(
            summary(&records),
            vec![
                (1, 1, ok("1")),
                (
                    2,
                    2,
                    Err("the record is larger than the limit of 20 bytes".to_string())
                ),
                (3, 3, ok("3")),
            ]
        );
        assert_eq!(records[1].raw, "{\"id\": 2, \"note\": \"xx");
        // A line exactly at the limit is read.
        let records = read_with(b"{\"id\": 1, \"a\": \"12\"}\n", &options);
        assert!(records[0].lead.is_ok());
    }

    #[test]
    fn empty_input_gives_no_records() {
        assert!(read(b"").is_empty());
        assert!(read(b"\n\r\n").is_empty());
    }
}

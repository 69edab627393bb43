//! JSON input, streamed: a byte scanner cuts a top-level array (or objects one after
//! another) into element texts, and each element is parsed on its own, so a bad element
//! rejects only itself and a large array never sits in memory whole.

use std::io::{self, BufRead};
use std::sync::Arc;

use super::{BOM, Body, RawRecord, ReadOptions};
use crate::lead::Lead;

/// Records from JSON input: one per array element or top-level value.
pub(super) struct JsonRecords {
    input: Box<dyn BufRead + Send>,
    source: Arc<str>,
    max_bytes: usize,
    /// 1-based line and column of the next byte to read.
    line: u64,
    column: u64,
    /// Records produced so far.
    record: u64,
    in_array: bool,
    started: bool,
    done: bool,
}

/// What ends the value being scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An array element: ends before a `,` or `]` outside any bracket or string.
    Element,
    /// A top-level object or string: ends with its closing `}` or `"`.
    Unit,
    /// A top-level number, word or stray byte: ends before a blank or structural byte.
    Scalar,
}

/// What one byte does to the value being scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    More,
    StopBefore,
    StopAfter,
    Mismatch,
}

/// How a scan ended.
enum Outcome {
    Complete,
    /// The input ended inside the value.
    Eof,
    /// A closing bracket that does not match: the structure is broken from here on.
    Mismatch {
        byte: u8,
        line: u64,
        column: u64,
    },
}

/// Bracket and string state of the value being scanned.
struct Scan {
    kind: Kind,
    /// The closing byte each open bracket expects, innermost last.
    stack: Vec<u8>,
    in_string: bool,
    escaped: bool,
    /// Bytes scanned so far.
    seen: u64,
}

impl Scan {
    fn new(kind: Kind) -> Scan {
        Scan {
            kind,
            stack: Vec::new(),
            in_string: false,
            escaped: false,
            seen: 0,
        }
    }

    fn step(&mut self, b: u8) -> Step {
        let step = if self.in_string {
            self.step_in_string(b)
        } else if self.kind == Kind::Scalar {
            self.step_in_scalar(b)
        } else {
            self.step_in_structure(b)
        };
        self.seen += 1;
        step
    }

    fn step_in_string(&mut self, b: u8) -> Step {
        if self.escaped {
            self.escaped = false;
        } else if b == b'\\' {
            self.escaped = true;
        } else if b == b'"' {
            self.in_string = false;
            return self.after_close();
        }
        Step::More
    }

    fn step_in_scalar(&self, b: u8) -> Step {
        let boundary = b.is_ascii_whitespace() || b",[]{}\"".contains(&b);
        // A stray structural byte is a (bad) value of its own, so the scan moves on.
        if boundary && self.seen > 0 {
            Step::StopBefore
        } else {
            Step::More
        }
    }

    fn step_in_structure(&mut self, b: u8) -> Step {
        match b {
            b'"' => self.in_string = true,
            b'{' => self.stack.push(b'}'),
            b'[' => self.stack.push(b']'),
            b'}' | b']' => return self.close(b),
            b',' if self.stack.is_empty() && self.kind == Kind::Element => {
                return Step::StopBefore;
            }
            _ => {}
        }
        Step::More
    }

    fn close(&mut self, b: u8) -> Step {
        match self.stack.last() {
            Some(&expected) if expected == b => {
                self.stack.pop();
                self.after_close()
            }
            None if self.kind == Kind::Element && b == b']' => Step::StopBefore,
            _ => Step::Mismatch,
        }
    }

    fn after_close(&self) -> Step {
        if self.stack.is_empty() && self.kind == Kind::Unit {
            Step::StopAfter
        } else {
            Step::More
        }
    }

    /// What was expected instead of a mismatched closing bracket.
    fn expected(&self) -> &'static str {
        match self.stack.last() {
            Some(b'}') => "`}`",
            Some(_) => "`]`",
            None => "`,` or `]`",
        }
    }

    /// Why the input cannot end here.
    fn unclosed(&self) -> &'static str {
        match (self.kind, self.stack.first()) {
            (Kind::Element, _) => "malformed JSON: the array is not closed",
            (_, Some(b'}')) => "malformed JSON: the object is not closed",
            (_, Some(_)) => "malformed JSON: the array is not closed",
            (_, None) => "malformed JSON: the string is not closed",
        }
    }
}

impl JsonRecords {
    pub(super) fn new(
        input: Box<dyn BufRead + Send>,
        source: Arc<str>,
        options: &ReadOptions,
    ) -> Self {
        JsonRecords {
            input,
            source,
            max_bytes: options.max_record_bytes,
            line: 1,
            column: 1,
            record: 0,
            in_array: false,
            started: false,
            done: false,
        }
    }

    fn make(&mut self, line: u64, lead: Result<Lead, String>, raw: String) -> RawRecord {
        self.record += 1;
        super::record(&self.source, line, self.record, lead, raw)
    }

    fn skip_bom(&mut self) -> io::Result<()> {
        let buf = self.input.fill_buf()?;
        if buf.starts_with(BOM) {
            self.input.consume(BOM.len());
        }
        Ok(())
    }

    /// Skips blanks; returns the next byte without consuming it, `None` at the end.
    fn skip_blanks(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let blanks = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
            let next = buf.get(blanks).copied();
            for &b in &buf[..blanks] {
                advance(&mut self.line, &mut self.column, b);
            }
            self.input.consume(blanks);
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    fn consume_byte(&mut self, b: u8) {
        advance(&mut self.line, &mut self.column, b);
        self.input.consume(1);
    }

    /// Reads the next record, `None` at the end of the input.
    fn read_next(&mut self) -> io::Result<Option<RawRecord>> {
        if !self.started {
            self.started = true;
            self.skip_bom()?;
        }
        loop {
            let next = self.skip_blanks()?;
            let kind = match (self.in_array, next) {
                (true, None) => {
                    self.done = true;
                    let reason = "malformed JSON: the array is not closed".to_string();
                    return Ok(Some(self.make(self.line, Err(reason), String::new())));
                }
                (true, Some(b)) if b == b']' || b == b',' => {
                    // `,` separates elements; a trailing or doubled one is let pass.
                    self.in_array = b == b',';
                    self.consume_byte(b);
                    continue;
                }
                (true, Some(_)) => Kind::Element,
                (false, None) => return Ok(None),
                (false, Some(b'[')) => {
                    self.in_array = true;
                    self.consume_byte(b'[');
                    continue;
                }
                (false, Some(b'{' | b'"')) => Kind::Unit,
                (false, Some(_)) => Kind::Scalar,
            };
            return self.read_value(kind).map(Some);
        }
    }

    /// Scans one value of `kind` and turns it into a record.
    fn read_value(&mut self, kind: Kind) -> io::Result<RawRecord> {
        let (line, column) = (self.line, self.column);
        let mut scan = Scan::new(kind);
        let mut text = Vec::new();
        let mut overflow = false;
        let outcome = self.scan(&mut scan, &mut text, &mut overflow)?;
        while text.last().is_some_and(u8::is_ascii_whitespace) {
            text.pop();
        }
        let lead = match outcome {
            _ if overflow => Err(super::too_large(self.max_bytes)),
            Outcome::Complete => return Ok(self.complete(line, column, text)),
            Outcome::Eof if kind == Kind::Scalar => return Ok(self.complete(line, column, text)),
            Outcome::Eof => Err(scan.unclosed().to_string()),
            Outcome::Mismatch { byte, line, column } => Err(format!(
                "malformed JSON: found `{}` where {} was expected at line {line} column {column}",
                char::from(byte),
                scan.expected()
            )),
        };
        if !matches!(outcome, Outcome::Complete) {
            self.done = true;
        }
        let raw = match overflow {
            true => super::raw_prefix(&text),
            false => super::raw_text(&text),
        };
        Ok(self.make(line, lead, raw))
    }

    /// A complete value, to be parsed later.
    fn complete(&mut self, line: u64, column: u64, text: Vec<u8>) -> RawRecord {
        self.record += 1;
        super::unparsed(
            &self.source,
            line,
            self.record,
            Body::JsonValue { text, line, column },
        )
    }

    /// Feeds bytes to `scan` until the value ends, keeping them in `text` up to the
    /// size limit (past it, `overflow` is set and the bytes are only scanned).
    fn scan(
        &mut self,
        scan: &mut Scan,
        text: &mut Vec<u8>,
        overflow: &mut bool,
    ) -> io::Result<Outcome> {
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(Outcome::Eof);
            }
            let mut used = buf.len();
            let mut outcome = None;
            for (i, &b) in buf.iter().enumerate() {
                let step = scan.step(b);
                if step == Step::StopBefore {
                    used = i;
                    outcome = Some(Outcome::Complete);
                    break;
                }
                let (line, column) = (self.line, self.column);
                advance(&mut self.line, &mut self.column, b);
                if step != Step::More {
                    used = i + 1;
                    outcome = Some(match step {
                        Step::Mismatch => Outcome::Mismatch {
                            byte: b,
                            line,
                            column,
                        },
                        _ => Outcome::Complete,
                    });
                    break;
                }
            }
            keep(text, &buf[..used], self.max_bytes, overflow);
            self.input.consume(used);
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
    }
}

impl Iterator for JsonRecords {
    type Item = RawRecord;

    fn next(&mut self) -> Option<RawRecord> {
        if self.done {
            return None;
        }
        match self.read_next() {
            Ok(record) => record,
            Err(e) => {
                self.done = true;
                let reason = super::read_failed(&e);
                Some(self.make(self.line, Err(reason), String::new()))
            }
        }
    }
}

fn advance(line: &mut u64, column: &mut u64, b: u8) {
    if b == b'\n' {
        *line += 1;
        *column = 1;
    } else {
        *column += 1;
    }
}

/// Appends `bytes` to `text` while it stays within `max` bytes.
fn keep(text: &mut Vec<u8>, bytes: &[u8], max: usize, overflow: &mut bool) {
    if *overflow {
        return;
    }
    if text.len() + bytes.len() > max {
        *overflow = true;
        let room = max.saturating_sub(text.len());
        text.extend_from_slice(&bytes[..room.min(bytes.len())]);
    } else {
        text.extend_from_slice(bytes);
    }
}

/// Line and column in the input of byte `offset` of a value starting at `line:column`.
fn locate(text: &[u8], offset: usize, line: u64, column: u64) -> (u64, u64) {
    let before = &text[..offset.min(text.len())];
    match before.iter().rposition(|&b| b == b'\n') {
        Some(newline) => {
            let lines = before.iter().filter(|&&b| b == b'\n').count() as u64;
            (line + lines, (offset - newline) as u64)
        }
        None => (line, column + offset as u64),
    }
}

/// Parses a value that starts at `line:column` of the input: the lead (or why not) and
/// the value as text.
pub(super) fn parse_value(text: Vec<u8>, line: u64, column: u64) -> (Result<Lead, String>, String) {
    match String::from_utf8(text) {
        Ok(raw) => (parse_element(&raw, line, column), raw),
        Err(e) => {
            let (l, c) = locate(e.as_bytes(), e.utf8_error().valid_up_to(), line, column);
            let reason = format!("invalid UTF-8 at line {l} column {c}");
            (Err(reason), super::raw_text(e.as_bytes()))
        }
    }
}

fn parse_element(text: &str, line: u64, column: u64) -> Result<Lead, String> {
    super::lead_from_json_text(text).map_err(|(message, syntax)| {
        let Some(e) = syntax else { return message };
        if e.line() == 0 {
            return format!("malformed JSON: {message}");
        }
        let (l, c) = if e.line() == 1 {
            (line, column + e.column().saturating_sub(1) as u64)
        } else {
            (line + e.line() as u64 - 1, e.column() as u64)
        };
        format!("malformed JSON: {message} at line {l} column {c}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Record;
    use crate::io::{InputFormat, RecordReader};
    use crate::lead::Value;

    use crate::io::testing::{err, ok, read_as, summary_ids as summary};

    fn read_with(input: &[u8], options: &ReadOptions) -> Vec<Record> {
        read_as(InputFormat::Json, "leads.json", input, options)
    }

    fn read(input: &str) -> Vec<Record> {
        read_with(input.as_bytes(), &ReadOptions::default())
    }

    #[test]
    fn reads_an_array_element_by_element() {
        let records = read("[\n  {\"id\": \"L1\", \"budget\": 12000},\n  {\"id\": \"L2\"}\n]\n");
        assert_eq!(summary(&records), vec![(2, 1, ok("L1")), (3, 2, ok("L2"))]);
        assert_eq!(records[0].raw, "{\"id\": \"L1\", \"budget\": 12000}");
        let lead = records[0].lead.as_ref().unwrap();
        assert_eq!(lead.get("budget"), Some(&Value::Int(12000)));
    }

    #[test]
    fn strings_may_hold_brackets_commas_and_escaped_quotes() {
        let records = read(r#"[{"id": "a,]}[{", "note": "say \"hi\" \\"}, {"id": "b"}]"#);
        assert_eq!(
            summary(&records),
            vec![(1, 1, ok("a,]}[{")), (1, 2, ok("b"))]
        );
        let lead = records[0].lead.as_ref().unwrap();
        assert_eq!(
            lead.get("note"),
            Some(&Value::Text("say \"hi\" \\".to_string()))
        );
    }

    #[test]
    fn a_bad_element_rejects_only_itself() {
        let records = read("[\n{\"id\": 1},\n{\"a\": },\n{\"id\": 3}\n]");
        assert_eq!(
            summary(&records),
            vec![
                (2, 1, ok("1")),
                (
                    3,
                    2,
                    err("malformed JSON: expected value at line 3 column 7")
                ),
                (4, 3, ok("3")),
            ]
        );
        assert_eq!(records[1].raw, "{\"a\": }");
    }

    #[test]
    fn errors_in_later_lines_of_an_element_point_into_the_input() {
        let records = read("[{\"id\": 1},\n  {\n    \"id\": 2,\n    \"x\": tru }]");
        assert_eq!(
            summary(&records)[1],
            (
                2,
                2,
                err("malformed JSON: expected ident at line 4 column 13")
            )
        );
    }

    #[test]
    fn a_truncated_array_ends_with_one_rejection() {
        let records = read("[{\"id\": 1}, {\"id\": 2, \"note\": \"unfinished");
        assert_eq!(
            summary(&records),
            vec![
                (1, 1, ok("1")),
                (1, 2, err("malformed JSON: the array is not closed"))
            ]
        );
        assert_eq!(records[1].raw, "{\"id\": 2, \"note\": \"unfinished");
        let records = read("[{\"id\": 1},\n");
        assert_eq!(
            summary(&records),
            vec![
                (1, 1, ok("1")),
                (2, 2, err("malformed JSON: the array is not closed"))
            ]
        );
    }

    #[test]
    fn a_mismatched_bracket_stops_the_input() {
        let records = read("[{\"id\": 1},\n {\"id\": [2}, {\"id\": 3}]");
        assert_eq!(
            summary(&records),
            vec![
                (1, 1, ok("1")),
                (
                    2,
                    2,
                    err("malformed JSON: found `}` where `]` was expected at line 2 column 11")
                ),
            ]
        );
        assert_eq!(records[1].raw, "{\"id\": [2}");
    }

    #[test]
    fn reads_a_single_object() {
        let records = read("\u{feff}{\n  \"id\": \"L1\",\n  \"tags\": [\"a\", \"b\"]\n}\n");
        assert_eq!(summary(&records), vec![(1, 1, ok("L1"))]);
    }

    #[test]
    fn a_truncated_object_is_rejected() {
        let records = read("{\"id\": \"L1\",\n \"x\": [1, 2");
        assert_eq!(
            summary(&records),
            vec![(1, 1, err("malformed JSON: the object is not closed"))]
        );
    }

    #[test]
    fn reads_concatenated_objects() {
        let records = read("{\"id\": 1}{\"id\": 2}\n\n{\n\"id\": 3\n}\n[{\"id\": 4}]");
        assert_eq!(
            summary(&records),
            vec![
                (1, 1, ok("1")),
                (1, 2, ok("2")),
                (3, 3, ok("3")),
                (6, 4, ok("4"))
            ]
        );
    }

    #[test]
    fn elements_that_are_not_objects_are_rejected() {
        let records = read("[1, \"x\", [2], null, {\"id\": 5}]");
        assert_eq!(
            summary(&records),
            vec![
                (1, 1, err("a lead must be a JSON object, found a number")),
                (1, 2, err("a lead must be a JSON object, found a string")),
                (1, 3, err("a lead must be a JSON object, found an array")),
                (1, 4, err("a lead must be a JSON object, found null")),
                (1, 5, ok("5")),
            ]
        );
    }

    #[test]
    fn top_level_scalars_are_rejected_and_reading_goes_on() {
        let records = read("42 {\"id\": 1} \"text\"");
        assert_eq!(
            summary(&records),
            vec![
                (1, 1, err("a lead must be a JSON object, found a number")),
                (1, 2, ok("1")),
                (1, 3, err("a lead must be a JSON object, found a string")),
            ]
        );
    }

    #[test]
    fn missing_commas_reject_the_joined_elements() {
        let records = read("[{\"id\": 1} {\"id\": 2}, {\"id\": 3},]");
        assert_eq!(
            summary(&records),
            vec![
                (
                    1,
                    1,
                    err("malformed JSON: trailing characters at line 1 column 12")
                ),
                (1, 2, ok("3")),
            ]
        );
    }

    #[test]
    fn deep_nesting_is_a_rejection_not_a_crash() {
        let deep = "[".repeat(10_000);
        let records = read(&deep);
        assert_eq!(
            summary(&records),
            vec![(1, 1, err("malformed JSON: the array is not closed"))]
        );
        let balanced = format!("[{{\"a\": {deep}{}}}, {{\"id\": 2}}]", "]".repeat(10_000));
        let records = read(&balanced);
        assert_eq!(records.len(), 2);
        let reason = records[0].lead.as_ref().unwrap_err();
        assert!(
            reason.starts_with("malformed JSON: recursion limit exceeded"),
            "{reason}"
        );
        assert_eq!(summary(&records)[1], (1, 2, ok("2")));
    }

    #[test]
    fn invalid_utf8_rejects_only_its_element() {
        let records = read_with(
            b"[{\"id\": 1},\n {\"id\": \"\xff\xfe\"}, {\"id\": 3}]",
            &ReadOptions::default(),
        );
        assert_eq!(
            summary(&records),
            vec![
                (1, 1, ok("1")),
                (2, 2, err("invalid UTF-8 at line 2 column 10")),
                (2, 3, ok("3")),
            ]
        );
    }

    #[test]
    fn elements_over_the_limit_are_rejected_and_skipped() {
        let options = ReadOptions {
            max_record_bytes: 12,
            ..ReadOptions::default()
        };
        let input = b"[{\"id\": 1}, {\"id\": 2, \"note\": \"long, long [text]\"}, {\"id\": 3}]";
        let records = read_with(input, &options);
        assert_eq!(
            summary(&records),
            vec![
                (1, 1, ok("1")),
                (1, 2, err("the record is larger than the limit of 12 bytes")),
                (1, 3, ok("3")),
            ]
        );
        assert_eq!(records[1].raw, "{\"id\": 2, \"n");
    }

    #[test]
    fn empty_input_and_empty_arrays_give_no_records() {
        assert!(read("").is_empty());
        assert!(read(" \n ").is_empty());
        assert!(read("[]").is_empty());
        assert!(read("[ ]\n").is_empty());
    }

    #[test]
    fn reads_across_buffer_boundaries() {
        let elements: Vec<String> = (0..500)
            .map(|i| format!("{{\"id\": {i}, \"s\": \"a\\\"]\"}}"))
            .collect();
        let input = format!("[{}]", elements.join(",\n"));
        let reader = Box::new(io::BufReader::with_capacity(
            7,
            io::Cursor::new(input.into_bytes()),
        ));
        let records: Vec<Record> =
            RecordReader::new(reader, InputFormat::Json, "x", &ReadOptions::default()).collect();
        assert_eq!(records.len(), 500);
        assert!(records.iter().all(|r| r.lead.is_ok()));
        assert_eq!(records[499].position.line, 500);
    }
}

//! JSON Lines input: one lead per line, each line parsed on its own so a bad line
//! rejects only itself and every line keeps its number.
//!
//! The input is read in blocks of whole lines ([`LineBlock`]). Bulk scoring hands each
//! block to a worker as it is, and the worker scores the lines where they lie: the
//! reading thread neither copies each line into an allocation of its own nor hands
//! lines over one by one. Reading record by record takes the same blocks apart.

use std::io::{self, BufRead};
use std::sync::{Arc, Mutex};

use super::{BOM, Position, RawRecord, ReadOptions};

/// Bytes asked of the input per read: about a thousand leads of a few hundred bytes.
const BLOCK_BYTES: usize = 256 * 1024;

/// Whole lines read from the input, and where each record among them lies.
#[derive(Debug)]
pub(crate) struct LineBlock {
    source: Arc<str>,
    max_bytes: usize,
    /// Shared by the pieces of a block split into batches ([`LineBlock::split`]).
    bytes: Arc<ReadBuffer>,
    cuts: Vec<Cut>,
    /// The read error that ended the input, after the last cut: (line, record, reason).
    failure: Option<(u64, u64, String)>,
}

/// One record of a block: a line's text between `start` and `end` (without its ending
/// or a byte order mark), or, for a line over the size limit (`too_long`), the first
/// `max_bytes + 1` bytes of it, which its rejection keeps.
#[derive(Debug, Clone, Copy)]
struct Cut {
    start: usize,
    end: usize,
    line: u64,
    record: u64,
    too_long: bool,
}

/// A record of a [`LineBlock`], as [`LineBlock::for_each`] hands it out.
pub(crate) enum BlockRecord<'a> {
    /// A line to parse: its text without its ending, and where it is.
    Line(&'a [u8], Position),
    /// A record decided while cutting (a line over the size limit, a read error).
    Decided(RawRecord),
}

impl LineBlock {
    /// Hands out each record of the block, in input order.
    pub(crate) fn for_each(&self, mut each: impl FnMut(BlockRecord<'_>)) {
        for cut in &self.cuts {
            each(self.record_of(cut));
        }
        if let Some(failure) = self.failure_record() {
            each(BlockRecord::Decided(failure));
        }
    }

    /// How many records the block holds.
    pub(crate) fn len(&self) -> usize {
        self.cuts.len() + usize::from(self.failure.is_some())
    }

    /// The block in pieces of at most `most` records, in input order, sharing its
    /// bytes: a read of short lines holds thousands of leads, too many for one worker.
    pub(crate) fn split(self, most: usize) -> Vec<LineBlock> {
        let most = most.max(1);
        if self.len() <= most {
            return vec![self];
        }
        let mut pieces: Vec<LineBlock> = self
            .cuts
            .chunks(most)
            .map(|cuts| LineBlock {
                source: Arc::from(&*self.source),
                max_bytes: self.max_bytes,
                bytes: Arc::clone(&self.bytes),
                cuts: cuts.to_vec(),
                failure: None,
            })
            .collect();
        if let Some(last) = pieces.last_mut() {
            last.failure = self.failure;
        }
        pieces
    }

    fn record_of(&self, cut: &Cut) -> BlockRecord<'_> {
        let text = &self.bytes[cut.start..cut.end];
        if cut.too_long {
            return BlockRecord::Decided(super::record(
                &self.source,
                cut.line,
                cut.record,
                Err(super::too_large(self.max_bytes)),
                super::raw_prefix(text),
            ));
        }
        let position = Position {
            source: Arc::clone(&self.source),
            line: cut.line,
            record: cut.record,
        };
        BlockRecord::Line(text, position)
    }

    /// The record of a cut, owning its line: for reading record by record.
    fn raw_record(&self, cut: &Cut) -> RawRecord {
        match self.record_of(cut) {
            BlockRecord::Line(text, position) => RawRecord::json_line(position, text.to_vec()),
            BlockRecord::Decided(raw) => raw,
        }
    }

    fn failure_record(&self) -> Option<RawRecord> {
        let (line, record, reason) = self.failure.as_ref()?;
        Some(super::record(
            &self.source,
            *line,
            *record,
            Err(reason.clone()),
            String::new(),
        ))
    }
}

/// Cuts JSON Lines input into [`LineBlock`]s.
struct LineCutter {
    input: Box<dyn BufRead + Send>,
    source: Arc<str>,
    max_bytes: usize,
    /// Lines consumed so far.
    line: u64,
    /// Records cut so far.
    record: u64,
    /// The start of a line whose end is not read yet.
    carry: Vec<u8>,
    /// Buffers of blocks already scored, for the next reads.
    spares: Spares,
    done: bool,
}

impl LineCutter {
    /// The next block holding at least one record, `None` at the end of the input.
    fn next_block(&mut self) -> Option<LineBlock> {
        while !self.done {
            let block = self.read_block();
            if block.len() > 0 {
                return Some(block);
            }
        }
        None
    }

    /// Every whole line of one read, with the line the carry began. More reads follow
    /// only while no line has ended, so a slow stream's lines come out as they arrive.
    /// At the end of the input, the last line even without its ending.
    fn read_block(&mut self) -> LineBlock {
        let mut bytes = ReadBuffer::new(&self.spares);
        bytes.extend_from_slice(&self.carry);
        self.carry.clear();
        let mut cuts = Vec::new();
        // Bytes before `scanned` hold no line end.
        let mut scanned = 0;
        while memchr::memchr(b'\n', &bytes[scanned..]).is_none() {
            scanned = bytes.len();
            if bytes.len() > self.max_bytes {
                return self.cut_open_line_over_limit(bytes);
            }
            match bytes.read_from(&mut *self.input) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(_) => {}
                // The line being read ends with the input, unread.
                Err(e) => return self.failed(&e),
            }
        }
        if !self.done {
            let ended = memchr::memrchr(b'\n', &bytes).map_or(0, |at| at + 1);
            self.carry.extend_from_slice(&bytes[ended..]);
            bytes.truncate(ended);
        }
        self.cut_lines(&bytes, &mut cuts);
        self.block(bytes, cuts, None)
    }

    fn block(&self, bytes: ReadBuffer, cuts: Vec<Cut>, failure: Option<String>) -> LineBlock {
        LineBlock {
            // A name of its own per block: each lead's position holds it, and a count
            // shared by every worker would bounce between their cores.
            source: Arc::from(&*self.source),
            max_bytes: self.max_bytes,
            bytes: Arc::new(bytes),
            cuts,
            failure: failure.map(|reason| (self.line, self.record, reason)),
        }
    }

    /// Cuts each line of `bytes` into a record; blank lines are counted, not cut.
    fn cut_lines(&mut self, bytes: &[u8], cuts: &mut Vec<Cut>) {
        let mut start = 0;
        while start < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
            self.line += 1;
            let (from, to) = text_bounds(&bytes[start..end], self.line == 1);
            if !bytes[start + from..start + to]
                .iter()
                .all(u8::is_ascii_whitespace)
            {
                self.record += 1;
                let too_long = end - start > self.max_bytes;
                let (start, end) = match too_long {
                    true => (start, start + self.max_bytes + 1),
                    false => (start + from, start + to),
                };
                cuts.push(Cut {
                    start,
                    end,
                    line: self.line,
                    record: self.record,
                    too_long,
                });
            }
            start = end + 1;
        }
    }

    /// A line still open past the size limit: rejected from its first bytes, and the
    /// rest of it skipped unread into memory.
    fn cut_open_line_over_limit(&mut self, mut bytes: ReadBuffer) -> LineBlock {
        bytes.truncate(self.max_bytes + 1);
        if let Err(e) = self.input.skip_until(b'\n') {
            return self.failed(&e);
        }
        self.line += 1;
        self.record += 1;
        let cut = Cut {
            start: 0,
            end: bytes.len(),
            line: self.line,
            record: self.record,
            too_long: true,
        };
        self.block(bytes, vec![cut], None)
    }

    /// Ends the input with a read error, a record of its own on the next line.
    fn failed(&mut self, error: &io::Error) -> LineBlock {
        self.line += 1;
        self.record += 1;
        self.done = true;
        self.block(
            ReadBuffer::default(),
            Vec::new(),
            Some(super::read_failed(error)),
        )
    }
}

/// How many read buffers wait for reuse at most: more than a pipeline keeps in flight.
const SPARE_BUFFERS: usize = 64;

/// Read buffers of blocks already scored, shared by the reader and whichever thread
/// drops a block last.
#[derive(Debug, Clone, Default)]
struct Spares(Arc<Mutex<Vec<Vec<u8>>>>);

impl Spares {
    fn take(&self) -> Vec<u8> {
        let spare = self.0.lock().ok().and_then(|mut spares| spares.pop());
        spare.unwrap_or_else(|| vec![0; BLOCK_BYTES])
    }

    fn put(&self, bytes: Vec<u8>) {
        if let Ok(mut spares) = self.0.lock()
            && spares.len() < SPARE_BUFFERS
        {
            spares.push(bytes);
        }
    }
}

/// The bytes of one block: a buffer whose memory is all initialised, of which the
/// first `filled` bytes are input. Dropped, it goes back to its [`Spares`], so reading
/// does not allocate, nor zero, a quarter of a megabyte per block.
#[derive(Debug, Default)]
struct ReadBuffer {
    bytes: Vec<u8>,
    filled: usize,
    home: Option<Spares>,
}

impl ReadBuffer {
    fn new(spares: &Spares) -> ReadBuffer {
        ReadBuffer {
            bytes: spares.take(),
            filled: 0,
            home: Some(spares.clone()),
        }
    }

    /// Appends what one read of `input` gives: how many bytes, 0 at the end.
    fn read_from(&mut self, input: &mut dyn BufRead) -> io::Result<usize> {
        if self.filled == self.bytes.len() {
            self.bytes.resize(self.filled + BLOCK_BYTES, 0);
        }
        loop {
            match input.read(&mut self.bytes[self.filled..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
                Ok(n) => {
                    self.filled += n;
                    return Ok(n);
                }
            }
        }
    }

    fn extend_from_slice(&mut self, more: &[u8]) {
        let end = self.filled + more.len();
        if end > self.bytes.len() {
            self.bytes.resize(end, 0);
        }
        self.bytes[self.filled..end].copy_from_slice(more);
        self.filled = end;
    }

    fn truncate(&mut self, len: usize) {
        self.filled = self.filled.min(len);
    }
}

impl std::ops::Deref for ReadBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.filled]
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        // Only buffers of the usual size: one grown for a long line is let go.
        if let Some(home) = &self.home
            && self.bytes.len() == BLOCK_BYTES
        {
            home.put(std::mem::take(&mut self.bytes));
        }
    }
}

/// Where a line's text lies within it: without a `\r` before its end, and without a
/// byte order mark on the first line of the input.
fn text_bounds(line: &[u8], first: bool) -> (usize, usize) {
    let end = line.len() - usize::from(line.ends_with(b"\r"));
    let start = match first && line[..end].starts_with(BOM) {
        true => BOM.len(),
        false => 0,
    };
    (start, end)
}

/// Records from JSON Lines input, one per non-blank line.
pub(super) struct JsonlRecords {
    cutter: LineCutter,
    /// The block being handed out, and how many of its cuts are.
    block: Option<LineBlock>,
    handed: usize,
}

impl JsonlRecords {
    pub(super) fn new(
        input: Box<dyn BufRead + Send>,
        source: Arc<str>,
        options: &ReadOptions,
    ) -> Self {
        JsonlRecords {
            cutter: LineCutter {
                input,
                source,
                max_bytes: options.max_record_bytes,
                line: 0,
                record: 0,
                carry: Vec::new(),
                spares: Spares::default(),
                done: false,
            },
            block: None,
            handed: 0,
        }
    }

    /// The records not handed out yet, a block of them at a time; `None` at the end.
    pub(super) fn next_block(&mut self) -> Option<LineBlock> {
        if let Some(mut block) = self.block.take() {
            block.cuts.drain(..self.handed);
            self.handed = 0;
            if block.len() > 0 {
                return Some(block);
            }
        }
        self.cutter.next_block()
    }
}

impl Iterator for JsonlRecords {
    type Item = RawRecord;

    fn next(&mut self) -> Option<RawRecord> {
        loop {
            if let Some(block) = &mut self.block {
                if let Some(cut) = block.cuts.get(self.handed) {
                    self.handed += 1;
                    return Some(block.raw_record(cut));
                }
                let failure = block.failure_record();
                self.block = None;
                if failure.is_some() {
                    return failure;
                }
            }
            self.block = Some(self.cutter.next_block()?);
            self.handed = 0;
        }
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

    use crate::io::testing::{Trickle, ok, read_as, summary_ids as summary};

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

    #[test]
    fn a_blocks_buffer_is_read_into_again_once_the_block_is_dropped() {
        let line = "{\"id\": 1, \"note\": \"a line of about a hundred bytes, so that a block holds a few thousand\"}\n";
        let input = line.repeat(3 * BLOCK_BYTES / line.len());
        let mut records = JsonlRecords::new(
            Box::new(io::Cursor::new(input.into_bytes())),
            Arc::from("t"),
            &ReadOptions::default(),
        );
        let first = records.next_block().unwrap();
        let at = first.bytes.bytes.as_ptr();
        let pieces = first.split(100);
        assert!(pieces.len() > 1);
        drop(pieces);
        let second = records.next_block().unwrap();
        assert_eq!(second.bytes.bytes.as_ptr(), at, "the first block's buffer");
        // Lines cut from a reused buffer are the new lines: the first whole line of the
        // second block follows on from where the first block left off.
        let mut first_line = 0;
        second.for_each(|record| {
            if let BlockRecord::Line(text, position) = record
                && first_line == 0
            {
                first_line = position.line;
                assert_eq!(text, line.trim_end().as_bytes());
            }
        });
        assert!(first_line > 1000, "{first_line}");
    }

    /// What reading `input` line by line gives: for each non-blank line, its line and
    /// record numbers, and its text (or, over the limit, the rejection and the prefix).
    fn line_by_line(input: &[u8], max: usize) -> Vec<(u64, u64, Result<String, String>)> {
        let mut pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        if pieces.last().is_some_and(|p| p.is_empty()) {
            pieces.pop();
        }
        let mut out = Vec::new();
        for (i, piece) in pieces.into_iter().enumerate() {
            let text = piece.strip_suffix(b"\r").unwrap_or(piece);
            let text = match i {
                0 => text.strip_prefix(BOM).unwrap_or(text),
                _ => text,
            };
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record = out.len() as u64 + 1;
            out.push((
                i as u64 + 1,
                record,
                match piece.len() > max {
                    true => Err(String::from_utf8_lossy(&piece[..max + 1]).into_owned()),
                    false => Ok(String::from_utf8_lossy(text).into_owned()),
                },
            ));
        }
        out
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Whatever the line endings, blank lines, byte order mark, lines over the limit
        /// and however the input arrives, each record is the line a line-by-line reading
        /// finds, at the same line and record number.
        #[test]
        fn blocks_cut_the_lines_a_line_by_line_reading_finds(
            lines in proptest::collection::vec(proptest::sample::select(vec![
                "{\"id\": 1}", "", "  \t", "x", "{\"id\": \"a long one, over the limit\"}",
                "{\"id\": 2}\r", "\r", "\u{feff}{\"id\": 3}", "{\"n\": \"\u{e9}\"}",
            ]), 0..12),
            bom in any::<bool>(),
            newline_at_end in any::<bool>(),
            per_read in 1usize..40,
            max in 10usize..30,
        ) {
            let mut input = if bom { BOM.to_vec() } else { Vec::new() };
            input.extend_from_slice(lines.join("\n").as_bytes());
            if newline_at_end {
                input.push(b'\n');
            }
            let expected = line_by_line(&input, max);
            let reader = Trickle { bytes: input, at: 0, per_read };
            let options = ReadOptions { max_record_bytes: max, ..ReadOptions::default() };
            let mut records = JsonlRecords::new(
                Box::new(io::BufReader::with_capacity(7, reader)),
                Arc::from("t"),
                &options,
            );
            let got: Vec<_> = std::iter::from_fn(|| records.next())
                .map(|raw| {
                    let record = raw.parse();
                    let text = match &record.lead {
                        Err(reason) if reason.starts_with("the record is larger") => Err(record.raw),
                        _ => Ok(record.raw),
                    };
                    (record.position.line, record.position.record, text)
                })
                .collect();
            prop_assert_eq!(got, expected);
        }
    }
}

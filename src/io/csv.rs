//! CSV input: a header row names the fields, each later row is one lead of text values;
//! the delimiter is sniffed from the header when not given, and a bad row rejects only
//! itself.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, Cursor, Read};
use std::sync::{Arc, OnceLock};

use super::{BOM, Body, RawRecord, ReadOptions};
use crate::lead::{Bound, Lead, Schema, Slot, Value};

/// The delimiters sniffing chooses among, preferred in this order on a tie.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

type Input = Newlines<io::Chain<Cursor<Vec<u8>>, Box<dyn BufRead + Send>>>;

/// Notes where the newlines are in what the CSV parser reads.
///
/// The csv crate dates a record from the end of the one before, so blank lines and
/// `\r\n` endings put it on the wrong line. The line where it ends is right, though;
/// the start line follows from it once we know whether its last byte is a newline.
struct Newlines<R> {
    inner: R,
    /// Bytes read so far.
    read: u64,
    /// Newlines read but not yet passed by the parser, ascending by offset.
    newlines: VecDeque<Newline>,
    /// The last three bytes read, oldest first.
    tail: [u8; 3],
}

/// A newline in the input and the three bytes before it.
#[derive(Clone, Copy)]
struct Newline {
    offset: u64,
    before: [u8; 3],
}

impl<R: Read> Read for Newlines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = &buf[..n];
        // The byte `back` (1 to 3) before `i`, reaching back into the previous read.
        let byte_at = |i: usize, back: usize| match i.checked_sub(back) {
            Some(j) => read[j],
            None => self.tail[3 - (back - i)],
        };
        // memchr: most bytes are not newlines, and this sees every byte of the input.
        for i in memchr::memchr_iter(b'\n', read) {
            let before = [byte_at(i, 3), byte_at(i, 2), byte_at(i, 1)];
            self.newlines.push_back(Newline {
                offset: self.read + i as u64,
                before,
            });
        }
        self.tail = [byte_at(n, 3), byte_at(n, 2), byte_at(n, 1)];
        self.read += n as u64;
        Ok(n)
    }
}

impl<R> Newlines<R> {
    fn new(inner: R) -> Self {
        Newlines {
            inner,
            read: 0,
            newlines: VecDeque::new(),
            tail: [0; 3],
        }
    }

    /// The newline at `offset`, if that byte is one; forgets newlines before it.
    fn newline_at(&mut self, offset: u64) -> Option<Newline> {
        while self.newlines.front().is_some_and(|n| n.offset < offset) {
            self.newlines.pop_front();
        }
        self.newlines
            .front()
            .filter(|n| n.offset == offset)
            .copied()
    }
}

/// Records from CSV input, one per row after the header.
pub(super) struct CsvRecords {
    reader: ::csv::Reader<Input>,
    source: Arc<str>,
    delimiter: u8,
    /// The header; `None` until it is read.
    header: Option<Arc<Header>>,
    row: ::csv::ByteRecord,
    /// Records produced so far.
    record: u64,
    done: bool,
}

impl CsvRecords {
    pub(super) fn new(
        mut input: Box<dyn BufRead + Send>,
        source: Arc<str>,
        options: &ReadOptions,
    ) -> Self {
        // The first line is read ahead to sniff the delimiter, then put back in front.
        let mut head = Vec::new();
        let limit = u64::try_from(options.max_record_bytes).unwrap_or(u64::MAX);
        // A read error here shows again, and is reported, when the reader reads on.
        let _ = (&mut input).take(limit).read_until(b'\n', &mut head);
        if head.starts_with(BOM) {
            head.drain(..BOM.len());
        }
        let delimiter = options
            .csv_delimiter
            .unwrap_or_else(|| sniff_delimiter(&head));
        let reader = ::csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .delimiter(delimiter)
            .from_reader(Newlines::new(Cursor::new(head).chain(input)));
        CsvRecords {
            reader,
            source,
            delimiter,
            header: None,
            row: ::csv::ByteRecord::new(),
            record: 0,
            done: false,
        }
    }

    fn make(&mut self, line: u64, lead: Result<Lead, String>, raw: String) -> RawRecord {
        self.record += 1;
        super::record(&self.source, line, self.record, lead, raw)
    }

    /// Reads the next row into `self.row`; false at the end of the input.
    fn read_row(&mut self) -> Result<bool, ::csv::Error> {
        self.reader.read_byte_record(&mut self.row)
    }

    /// Reads the header row; false when the input is empty.
    fn read_header(&mut self) -> Result<bool, ::csv::Error> {
        if !self.read_row()? {
            return Ok(false);
        }
        let names = self
            .row
            .iter()
            .map(|name| String::from_utf8_lossy(name).trim().to_string())
            .collect::<Vec<_>>();
        self.header = Some(Arc::new(Header::new(names)));
        Ok(true)
    }

    /// The line where the row just read starts: where it ends, less the newlines in
    /// its fields and its line ending.
    fn start_line(&mut self) -> u64 {
        let end = self.reader.position();
        let (end_line, end_byte) = (end.line(), end.byte());
        // The fields lie end to end in one slice: one count over it, not one per field.
        let inside = memchr::memchr_iter(b'\n', self.row.as_slice()).count();
        let last_field_ends_in_newline = self
            .row
            .iter()
            .next_back()
            .is_some_and(|f| f.ends_with(b"\n"));
        let ending = match end_byte {
            0 => None,
            _ => self.reader.get_mut().newline_at(end_byte - 1),
        }
        .is_some_and(|newline| {
            // A quote left open at the end of the input takes the last newline into
            // the field. When the field's text ends in a newline, a quote closing it
            // stands right after that newline, before the line ending (`\n"` or
            // `\n"\r`); a quote anywhere else is part of the text (`""`, an escaped
            // quote), and the quote is still open.
            let [a, b, c] = newline.before;
            let closed = [b, c] == *b"\n\"" || [a, b, c] == *b"\n\"\r";
            !last_field_ends_in_newline || closed
        });
        end_line
            .saturating_sub(inside as u64 + u64::from(ending))
            .max(1)
    }

    fn read_next(&mut self) -> Result<Option<RawRecord>, ::csv::Error> {
        if self.header.is_none() && !self.read_header()? {
            return Ok(None);
        }
        if !self.read_row()? {
            return Ok(None);
        }
        let line = self.start_line();
        let Some(header) = self.header.clone() else {
            let raw = raw_row(&self.row, self.delimiter);
            return Ok(Some(self.make(
                line,
                Err("the header row is missing".to_string()),
                raw,
            )));
        };
        self.record += 1;
        // A copy sized to the row, while `self.row` keeps its grown buffers: reading into
        // a fresh record would grow it field by field, row after row.
        let body = Body::CsvRow {
            header,
            row: self.row.clone(),
            delimiter: self.delimiter,
        };
        Ok(Some(super::unparsed(&self.source, line, self.record, body)))
    }
}

impl Iterator for CsvRecords {
    type Item = RawRecord;

    fn next(&mut self) -> Option<RawRecord> {
        if self.done {
            return None;
        }
        match self.read_next() {
            Ok(Some(record)) => Some(record),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                let line = e.position().map_or(0, ::csv::Position::line);
                let reason = format!("cannot read the input: {e}");
                Some(self.make(line, Err(reason), String::new()))
            }
        }
    }
}

/// The most frequent delimiter outside quotes in the header line; `,` when none occurs.
fn sniff_delimiter(header: &[u8]) -> u8 {
    let mut counts = [0usize; DELIMITERS.len()];
    let mut quoted = false;
    for &b in header {
        if b == b'"' {
            quoted = !quoted;
        } else if let Some(i) = DELIMITERS.iter().position(|&d| d == b && !quoted) {
            counts[i] += 1;
        }
    }
    let mut best = 0;
    for (i, &count) in counts.iter().enumerate() {
        if count > counts[best] {
            best = i;
        }
    }
    DELIMITERS[best]
}

/// The header row: column names, trimmed, and which columns share a name.
#[derive(Debug)]
pub(super) struct Header {
    names: Vec<String>,
    /// For each column, the first column with the same name.
    first: Vec<usize>,
    /// Whether any name is repeated.
    repeats: bool,
    /// The columns mapped to the slots of the schema binding the rows: worked out for
    /// the first row bound, then reused by every row under this header.
    columns: OnceLock<Columns>,
}

impl Header {
    fn new(names: Vec<String>) -> Header {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let first: Vec<usize> = names
            .iter()
            .enumerate()
            .map(|(i, name)| *seen.entry(name.as_str()).or_insert(i))
            .collect();
        let repeats = first.iter().enumerate().any(|(i, &f)| f != i);
        Header {
            names,
            first,
            repeats,
            columns: OnceLock::new(),
        }
    }
}

/// A header's columns mapped to one schema's slots.
#[derive(Debug)]
struct Columns {
    /// The schema's field names, by slot: which schema the mapping is for. Held, so
    /// no other schema's names can take their addresses while the mapping lives.
    fields: Vec<Arc<str>>,
    /// `(column, slot)` for each column the schema knows by name, in column order.
    read: Vec<(usize, Slot)>,
    /// For each slot, the one column that can fill it: set when no name repeats and
    /// no two columns go to one slot, so a row needs no sorting out of which cell wins.
    by_slot: Option<Vec<Option<usize>>>,
}

impl Columns {
    fn new(schema: &Schema, header: &Header) -> Columns {
        // A blank header names no field: typically a trailing delimiter in the export.
        let read: Vec<(usize, Slot)> = header
            .names
            .iter()
            .enumerate()
            .filter(|(_, name)| !name.is_empty())
            .filter_map(|(column, name)| Some((column, schema.lookup(name)?)))
            // A field nothing reads, declared as text or untyped, takes any cell: its
            // cells need not be copied.
            .filter(|&(_, slot)| schema.needs_value(slot))
            .collect();
        let mut by_slot = vec![None; schema.fields().len()];
        let mut shared = header.repeats;
        for &(column, slot) in &read {
            shared |= by_slot[slot].replace(column).is_some();
        }
        Columns {
            fields: schema
                .fields()
                .iter()
                .map(|f| Arc::clone(&f.name))
                .collect(),
            read,
            by_slot: (!shared).then_some(by_slot),
        }
    }

    /// True when this mapping was made for `schema`.
    fn fits(&self, schema: &Schema) -> bool {
        self.fields.len() == schema.fields().len()
            && self
                .fields
                .iter()
                .zip(schema.fields())
                .all(|(name, field)| Arc::ptr_eq(name, &field.name))
    }
}

/// Parses a row read under `header`: the lead (or why not) and the row as CSV text.
pub(super) fn parse_row(
    header: &Header,
    row: &::csv::ByteRecord,
    delimiter: u8,
) -> (Result<Lead, String>, String) {
    (lead_from_row(&header.names, row), raw_row(row, delimiter))
}

/// Binds a row straight to the schema's slots, without building a lead: only the cells
/// of fields the rules know are copied. The same values as binding the parsed lead;
/// `None` when the row would be rejected (ragged, invalid UTF-8), for the ordinary path
/// to say why.
pub(super) fn bind_row(
    schema: &Schema,
    header: &Header,
    row: &::csv::ByteRecord,
) -> Option<Bound<'static>> {
    if row.len() != header.names.len() {
        return None;
    }
    // One pass over the whole row decides for most rows: an ASCII row is valid text
    // and can be cut anywhere. Otherwise each named cell is checked, read or not, as
    // the ordinary path rejects any.
    let all = row.as_slice();
    let ascii = all
        .is_ascii()
        .then(|| std::str::from_utf8(all).ok())
        .flatten();
    if ascii.is_none() && !named_cells_are_utf8(header, row) {
        return None;
    }
    let text = |column: usize| -> Option<&str> {
        let range = row.range(column).filter(|r| !r.is_empty())?;
        match ascii {
            Some(all) => all.get(range),
            None => std::str::from_utf8(&all[range]).ok(),
        }
    };
    let fresh;
    let columns = match header.columns.get_or_init(|| Columns::new(schema, header)) {
        columns if columns.fits(schema) => columns,
        _ => {
            fresh = Columns::new(schema, header);
            &fresh
        }
    };
    if let Some(by_slot) = &columns.by_slot {
        let texts = by_slot.iter().map(|column| column.and_then(text));
        return Some(coerce_texts(schema, texts));
    }
    // A lead keeps a repeated name where its first non-empty cell was, with its last
    // value, and of a field's aliases the one placed last wins: so each cell goes with
    // its name's place in this row, and a slot keeps the text of the latest place.
    let mut placed: Vec<usize> = if header.repeats {
        vec![usize::MAX; row.len()]
    } else {
        Vec::new()
    };
    let mut cells: Vec<Option<(&str, usize)>> = vec![None; schema.fields().len()];
    for &(column, slot) in &columns.read {
        let Some(text) = text(column) else {
            continue;
        };
        let place = if header.repeats {
            let first = &mut placed[header.first[column]];
            *first = (*first).min(column);
            *first
        } else {
            column
        };
        match cells[slot] {
            Some((_, latest)) if latest > place => {}
            _ => cells[slot] = Some((text, place)),
        }
    }
    let texts = cells.into_iter().map(|cell| cell.map(|(text, _)| text));
    Some(coerce_texts(schema, texts))
}

/// Each slot's text coerced to its field's type, as [`Schema::coerce_slots`] does with
/// the texts as values, but with a `String` only for a value kept as text, and each
/// value written straight into its place (a value built first and moved in afterwards
/// was copied back through the stack, a load that waited on the stores that built it).
fn coerce_texts<'t>(
    schema: &Schema,
    texts: impl Iterator<Item = Option<&'t str>>,
) -> Bound<'static> {
    let mut bound = Bound {
        values: Vec::with_capacity(schema.fields().len()),
        misfits: Vec::new(),
    };
    for (field, text) in schema.fields().iter().zip(texts) {
        let Some(text) = text else {
            bound.values.push(None);
            continue;
        };
        match field.ty.map_or(Ok(None), |ty| ty.coerce_text(text)) {
            Ok(None) => bound
                .values
                .push(Some(Cow::Owned(Value::Text(crate::lead::owned_text(text))))),
            Ok(Some(value)) => bound.values.push(Some(Cow::Owned(value))),
            Err(why) => {
                bound.misfits.push((Arc::clone(&field.name), why));
                bound.values.push(None);
            }
        }
    }
    bound
}

/// True when every cell under a non-blank name is empty or valid UTF-8.
fn named_cells_are_utf8(header: &Header, row: &::csv::ByteRecord) -> bool {
    header
        .names
        .iter()
        .zip(row)
        .all(|(name, cell)| name.is_empty() || cell.is_empty() || std::str::from_utf8(cell).is_ok())
}

/// A lead from a row: text values under the header names; empty cells are left out.
fn lead_from_row(header: &[String], row: &::csv::ByteRecord) -> Result<Lead, String> {
    if row.len() != header.len() {
        return Err(format!(
            "row has {} but the header has {}",
            fields(row.len()),
            header.len()
        ));
    }
    let mut lead = Lead::new();
    for (name, cell) in header.iter().zip(row) {
        // A blank header names no field: typically a trailing delimiter in the export.
        if cell.is_empty() || name.is_empty() {
            continue;
        }
        let text =
            std::str::from_utf8(cell).map_err(|_| format!("invalid UTF-8 in column `{name}`"))?;
        lead.insert(name.as_str(), Value::Text(text.to_string()));
    }
    Ok(lead)
}

fn fields(n: usize) -> String {
    match n {
        1 => "1 field".to_string(),
        _ => format!("{n} fields"),
    }
}

/// The row as CSV text again, quoted where needed, without a line ending.
fn raw_row(row: &::csv::ByteRecord, delimiter: u8) -> String {
    let mut out = Vec::new();
    for (i, field) in row.iter().enumerate() {
        if i > 0 {
            out.push(delimiter);
        }
        let needs_quotes = field
            .iter()
            .any(|&b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r');
        // A lone empty field must be quoted, or the row would read back as blank.
        if needs_quotes || (row.len() == 1 && field.is_empty()) {
            out.push(b'"');
            for &b in field {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(field);
        }
    }
    super::raw_text(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::InputFormat;
    use crate::io::Record;

    fn read_with(input: &[u8], options: &ReadOptions) -> Vec<Record> {
        crate::io::testing::read_as(InputFormat::Csv, "leads.csv", input, options)
    }

    fn read(input: &str) -> Vec<Record> {
        read_with(input.as_bytes(), &ReadOptions::default())
    }

    /// Each record as (line, record number, Ok(fields as `k=v` joined by `|`) or Err).
    fn summary(records: &[Record]) -> Vec<(u64, u64, Result<String, String>)> {
        records
            .iter()
            .map(|r| {
                let fields = r.lead.as_ref().map(|lead| {
                    let pairs: Vec<String> =
                        lead.fields().map(|(k, v)| format!("{k}={v}")).collect();
                    pairs.join("|")
                });
                (
                    r.position.line,
                    r.position.record,
                    fields.map_err(Clone::clone),
                )
            })
            .collect()
    }

    fn ok(fields: &str) -> Result<String, String> {
        Ok(fields.to_string())
    }

    fn err(reason: &str) -> Result<String, String> {
        Err(reason.to_string())
    }

    #[test]
    fn reads_rows_as_text_fields_named_by_the_header() {
        let records = read("id, budget ,name\nL1,12000,Ann\nL2,500,Bob\n");
        assert_eq!(
            summary(&records),
            vec![
                (2, 1, ok("id=L1|budget=12000|name=Ann")),
                (3, 2, ok("id=L2|budget=500|name=Bob")),
            ]
        );
        let lead = records[0].lead.as_ref().unwrap();
        assert_eq!(lead.get("budget"), Some(&Value::Text("12000".to_string())));
        assert_eq!(records[1].raw, "L2,500,Bob");
        assert_eq!(records[1].position.to_string(), "leads.csv:3");
    }

    #[test]
    fn quoted_fields_may_hold_newlines_and_quotes() {
        let input = "id,note\nL1,\"two\nlines\"\nL2,\"say \"\"hi\"\"\"\nL3,x\n";
        let records = read(input);
        assert_eq!(
            summary(&records),
            vec![
                (2, 1, ok("id=L1|note=two\nlines")),
                (4, 2, ok("id=L2|note=say \"hi\"")),
                (5, 3, ok("id=L3|note=x")),
            ]
        );
        assert_eq!(records[0].raw, "L1,\"two\nlines\"");
        assert_eq!(records[1].raw, "L2,\"say \"\"hi\"\"\"");
    }

    #[test]
    fn ragged_rows_are_rejected() {
        let records = read("a,b,c,d\n1,2,3,4\n1,2,3,4,5\n1\n1,2,3,4\n");
        assert_eq!(
            summary(&records),
            vec![
                (2, 1, ok("a=1|b=2|c=3|d=4")),
                (3, 2, err("row has 5 fields but the header has 4")),
                (4, 3, err("row has 1 field but the header has 4")),
                (5, 4, ok("a=1|b=2|c=3|d=4")),
            ]
        );
        assert_eq!(records[1].raw, "1,2,3,4,5");
    }

    #[test]
    fn empty_cells_are_missing_values() {
        let records = read("id,email,budget\nL1,,\nL2, ,10\n");
        assert_eq!(
            summary(&records),
            vec![(2, 1, ok("id=L1")), (3, 2, ok("id=L2|email= |budget=10"))]
        );
        assert_eq!(records[0].raw, "L1,,");
    }

    #[test]
    fn sniffs_the_delimiter_from_the_header() {
        let records = read("age;\"job\";y\n30;\"admin., x\";no\n");
        assert_eq!(
            summary(&records),
            vec![(2, 1, ok("age=30|job=admin., x|y=no"))]
        );
        assert_eq!(records[0].raw, "30;admin., x;no");
        let records = read("a\tb\n1\t2\n");
        assert_eq!(summary(&records), vec![(2, 1, ok("a=1|b=2"))]);
        let records = read("a|b\n1|2\n");
        assert_eq!(summary(&records), vec![(2, 1, ok("a=1|b=2"))]);
        let records = read("\"a;b\",c\n1,2\n");
        assert_eq!(summary(&records), vec![(2, 1, ok("a;b=1|c=2"))]);
    }

    #[test]
    fn a_given_delimiter_is_used_as_is() {
        let options = ReadOptions {
            csv_delimiter: Some(b';'),
            ..ReadOptions::default()
        };
        let records = read_with(b"a,b;c\n1,2;3\n", &options);
        assert_eq!(summary(&records), vec![(2, 1, ok("a,b=1,2|c=3"))]);
    }

    #[test]
    fn sniffs_delimiters_by_frequency() {
        assert_eq!(sniff_delimiter(b"a,b;c;d\n"), b';');
        assert_eq!(sniff_delimiter(b"a,b;c\n"), b',');
        assert_eq!(sniff_delimiter(b"\"x;y;z\",a\n"), b',');
        assert_eq!(sniff_delimiter(b"name\n"), b',');
        assert_eq!(sniff_delimiter(b""), b',');
    }

    #[test]
    fn regression_bom_in_csv_header() {
        let records = read("\u{feff}id,name\r\nL1,Ann\r\n");
        assert_eq!(summary(&records), vec![(2, 1, ok("id=L1|name=Ann"))]);
    }

    #[test]
    fn invalid_utf8_rejects_only_its_row() {
        let records = read_with(b"id,name\nL1,\xff\xfe\nL2,Bob\n", &ReadOptions::default());
        assert_eq!(
            summary(&records),
            vec![
                (2, 1, err("invalid UTF-8 in column `name`")),
                (3, 2, ok("id=L2|name=Bob"))
            ]
        );
        assert_eq!(records[0].raw, "L1,\u{fffd}\u{fffd}");
    }

    #[test]
    fn duplicate_header_names_keep_the_later_column() {
        let records = read("id,email,email\nL1,a@x.co,b@x.co\nL2,c@x.co,\n");
        assert_eq!(
            summary(&records),
            vec![
                (2, 1, ok("id=L1|email=b@x.co")),
                (3, 2, ok("id=L2|email=c@x.co"))
            ]
        );
    }

    #[test]
    fn blank_lines_are_not_rows() {
        let records = read("\nid\n\nL1\n\n\nL2\n");
        assert_eq!(
            summary(&records),
            vec![(4, 1, ok("id=L1")), (7, 2, ok("id=L2"))]
        );
    }

    #[test]
    fn line_numbers_hold_with_crlf_blank_lines_and_quoted_newlines() {
        let input = "id,note\r\n\r\nL1,\"a\r\nb\nc\"\r\n\r\nL2,x\r\nL3,\"\n\"\nL4,y";
        let records = read(input);
        assert_eq!(
            summary(&records),
            vec![
                (3, 1, ok("id=L1|note=a\r\nb\nc")),
                (7, 2, ok("id=L2|note=x")),
                (8, 3, ok("id=L3|note=\n")),
                (10, 4, ok("id=L4|note=y")),
            ]
        );
    }

    /// Hands out one byte per read, so every newline sits at a read boundary.
    struct ByteByByte<'a>(&'a [u8]);

    impl Read for ByteByByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((&byte, rest)), Some(slot)) => {
                    *slot = byte;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn newlines_remember_the_three_bytes_before_them_across_reads() {
        let input = b"\nab\n\"\r\n";
        for chunked in [false, true] {
            let mut newlines = Newlines::new(if chunked {
                Box::new(ByteByByte(input)) as Box<dyn Read>
            } else {
                Box::new(&input[..])
            });
            io::copy(&mut newlines, &mut io::sink()).unwrap();
            let seen: Vec<(u64, [u8; 3])> = newlines
                .newlines
                .iter()
                .map(|n| (n.offset, n.before))
                .collect();
            assert_eq!(seen, vec![(0, [0, 0, 0]), (3, *b"\nab"), (6, *b"\n\"\r")]);
        }
    }

    #[test]
    fn a_quote_left_open_at_the_end_is_dated_from_its_own_line() {
        // The last row's quote never closes: the csv crate takes the rest of the input
        // as the field, and the row still starts on line 3 (or 4 after a newline in it).
        let records = read("id,note\nL1,a\nL2,\"b");
        assert_eq!(records[1].position.line, 3);
        let records = read("id,note\nL1,a\nL2,\"b\nc");
        assert_eq!(records[1].position.line, 3);
        let records = read("id,note\nL1,a\nL2,\"b\n");
        assert_eq!(records[1].position.line, 3);
        // An escaped quote before that last newline does not close the field (found by
        // fuzzing: the row was dated line 2, before the row above it).
        for ending in ["\n", "\r\n"] {
            let records = read(&format!("id,note\nL1,a\nL2,\"b \"\"{ending}"));
            assert_eq!(records[1].position.line, 3, "{ending:?}");
        }
    }

    #[test]
    fn line_numbers_hold_across_buffer_refills() {
        let mut input = String::from("id,note\n");
        for i in 0..3000 {
            input.push_str(&format!("L{i},\"two\nlines\"\n\n"));
        }
        let records = read(&input);
        assert_eq!(records.len(), 3000);
        for (i, record) in records.iter().enumerate() {
            assert_eq!(record.position.line, 2 + 3 * i as u64, "{}", record.raw);
        }
    }

    #[test]
    fn empty_input_gives_no_records() {
        assert!(read("").is_empty());
        assert!(read("id,name\n").is_empty());
        assert!(read("\u{feff}").is_empty());
    }

    /// A schema with typed fields, aliases and an undeclared field.
    fn schema() -> Schema {
        use crate::lead::FieldType;
        let mut schema = Schema::default();
        let aliases = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        for (name, ty, alias) in [
            ("id", FieldType::String, aliases(&["Id"])),
            (
                "phone",
                FieldType::String,
                aliases(&["Phone", "MobilePhone"]),
            ),
            ("budget", FieldType::Number, aliases(&["Budget__c"])),
            ("demo", FieldType::Bool, aliases(&[])),
            ("seen", FieldType::Date, aliases(&[])),
        ] {
            schema.declare(name, Some(ty), &alias).unwrap();
            // Read, as a rule would read it: these tests bind every field.
            schema.slot_for(name);
        }
        schema.slot_for("note");
        schema
    }

    #[test]
    fn cells_of_a_field_nothing_reads_are_not_copied_unless_their_type_may_refuse_them() {
        use crate::lead::FieldType;
        let mut schema = Schema::default();
        schema
            .declare("nick", Some(FieldType::String), &[])
            .unwrap();
        schema.declare("memo", None, &[]).unwrap();
        schema
            .declare("seats", Some(FieldType::Integer), &[])
            .unwrap();
        schema.slot_for("budget");
        let reader = Box::new(Cursor::new(
            b"nick,memo,seats,budget\nAl,x,lots,5\n".to_vec(),
        ));
        let mut records = CsvRecords::new(reader, Arc::from("t.csv"), &ReadOptions::default());
        let bound = records.next().unwrap().bind(&schema).unwrap();
        assert_eq!(bound.values[0], None);
        assert_eq!(bound.values[1], None);
        // Not read either, but an integer field refuses `lots`: the lead is refused.
        assert_eq!(&*bound.misfits[0].0, "seats");
        assert_eq!(
            bound.values[3].as_deref(),
            Some(&Value::Text("5".to_string()))
        );
    }

    /// Binds every row of `input` both ways, straight from the row and through the
    /// parsed lead, and checks that they agree; the straight way's values, or `None`.
    fn bind_both_ways(schema: &Schema, input: &[u8]) -> Vec<Option<Vec<Option<Value>>>> {
        let reader = Box::new(Cursor::new(input.to_vec()));
        let records = CsvRecords::new(reader, Arc::from("t.csv"), &ReadOptions::default());
        let mut out = Vec::new();
        for raw in records {
            let straight = raw.bind(schema);
            let lead = raw.parse().lead;
            match (&straight, &lead) {
                (Some(bound), Ok(lead)) => {
                    let ordinary = schema.bind(lead);
                    let values = |b: &Bound<'_>| -> Vec<Option<Value>> {
                        b.values.iter().map(|v| v.as_deref().cloned()).collect()
                    };
                    assert_eq!(values(bound), values(&ordinary), "{lead:?}");
                    assert_eq!(bound.misfits, ordinary.misfits);
                }
                (None, Err(_)) => {}
                _ => panic!(
                    "binding straight gave {:?}, parsing {lead:?}",
                    straight.is_some()
                ),
            }
            out.push(straight.map(|b| b.values.iter().map(|v| v.as_deref().cloned()).collect()));
        }
        out
    }

    fn text(s: &str) -> Option<Value> {
        Some(Value::Text(s.to_string()))
    }

    #[test]
    fn rows_bind_straight_to_slots_as_their_leads_do() {
        let schema = schema();
        let input = "Id,Phone,x,Budget__c,demo,,seen,note\n\
                     L1,555,,12000,yes,junk,2026-01-02,caf\u{e9}\n\
                     L2,,,lots,maybe,,soon,\n\
                     L3,1,2\n";
        let bound = bind_both_ways(&schema, input.as_bytes());
        assert_eq!(
            bound,
            vec![
                Some(vec![
                    text("L1"),
                    text("555"),
                    Some(Value::Int(12000)),
                    Some(Value::Bool(true)),
                    text("2026-01-02"),
                    text("caf\u{e9}"),
                ]),
                Some(vec![text("L2"), None, None, None, None, None]),
                None,
            ]
        );
    }

    #[test]
    fn aliases_and_repeated_names_bind_as_their_leads_do() {
        let schema = schema();
        // Two aliases of one field: the one placed last in the row wins, empty or not.
        let input = "Id,MobilePhone,Phone\nL1,1,2\nL2,1,\nL3,,2\n";
        let bound = bind_both_ways(&schema, input.as_bytes());
        let phones: Vec<Option<Value>> = bound.into_iter().map(|b| b.unwrap()[1].clone()).collect();
        assert_eq!(phones, vec![text("2"), text("1"), text("2")]);
        // A repeated name keeps its first non-empty place and its last value.
        let input = "Phone,Id,MobilePhone,Phone\n1,L1,2,3\n,L2,2,3\n1,L3,2,\n";
        let bound = bind_both_ways(&schema, input.as_bytes());
        let phones: Vec<Option<Value>> = bound.into_iter().map(|b| b.unwrap()[1].clone()).collect();
        assert_eq!(phones, vec![text("2"), text("3"), text("2")]);
    }

    #[test]
    fn invalid_utf8_binds_only_where_the_lead_would_be_read() {
        let schema = schema();
        // Under a blank name the bytes are never read; under any other name, read or
        // not, they reject the row. A character split across two cells is invalid in
        // both, though the row's bytes end to end are valid UTF-8.
        let input = b"Id,,x,note\nL1,\xff,,\xc3\xa9\nL2,,\xff,\nL3,,\xc3,\xa9\n";
        let bound = bind_both_ways(&schema, input);
        assert_eq!(bound.len(), 3);
        assert!(bound[0].is_some());
        assert!(bound[1].is_none());
        assert!(bound[2].is_none());
    }

    #[test]
    fn one_header_binds_for_two_schemas() {
        // The header keeps the mapping for the first schema; another is mapped anew.
        let first = schema();
        let mut second = Schema::default();
        second.slot_for("Phone");
        second.slot_for("Id");
        let reader = Box::new(Cursor::new(b"Id,Phone\nL1,555\n".to_vec()));
        let mut records = CsvRecords::new(reader, Arc::from("t.csv"), &ReadOptions::default());
        let raw = records.next().unwrap();
        for _ in 0..2 {
            let a = raw.bind(&first).unwrap();
            assert_eq!(a.values[0].as_deref(), Some(&Value::Text("L1".to_string())));
            assert_eq!(
                a.values[1].as_deref(),
                Some(&Value::Text("555".to_string()))
            );
            let b = raw.bind(&second).unwrap();
            assert_eq!(
                b.values[0].as_deref(),
                Some(&Value::Text("555".to_string()))
            );
            assert_eq!(b.values[1].as_deref(), Some(&Value::Text("L1".to_string())));
        }
    }

    #[test]
    fn a_lone_empty_field_is_quoted_in_raw() {
        let mut row = ::csv::ByteRecord::new();
        row.push_field(b"");
        assert_eq!(raw_row(&row, b','), "\"\"");
    }
}

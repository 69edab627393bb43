//! Output: verdicts as JSON Lines, a JSON array, CSV or a terminal table, written as
//! they come; and rejected records as JSON Lines, with their position and text.

use std::fmt::{self, Write as _};
use std::io::{self, Write};

use serde::Serialize;

use super::Position;
use crate::rules::Rules;
use crate::verdict::Verdict;

/// Output formats for verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per line.
    Jsonl,
    /// One JSON array, one verdict per line.
    Json,
    /// CSV with a header row; lists joined with `;`.
    Csv,
    /// A fixed-width table for people at a terminal.
    Table,
}

impl OutputFormat {
    /// The format for a name: `jsonl` (or `ndjson`), `json`, `csv`, `table`.
    pub fn from_name(name: &str) -> Option<OutputFormat> {
        match name {
            "jsonl" | "ndjson" => Some(OutputFormat::Jsonl),
            "json" => Some(OutputFormat::Json),
            "csv" => Some(OutputFormat::Csv),
            "table" => Some(OutputFormat::Table),
            _ => None,
        }
    }
}

/// The CSV header row.
const CSV_HEADER: [&str; 10] = [
    "id",
    "score",
    "stage",
    "signals",
    "matched",
    "disqualified",
    "next_stage",
    "missing",
    "points_needed",
    "errors",
];

/// Table columns: title and width in characters. NEXT, the last, is not padded.
const TABLE_ID: usize = 20;
const TABLE_SCORE: usize = 5;
const TABLE_STAGE: usize = 18;
const TABLE_SIGNALS: usize = 32;
const TABLE_NEXT: usize = 60;

/// Writes verdicts one at a time in an [`OutputFormat`]; nothing is collected.
pub struct VerdictWriter<W: Write> {
    sink: Sink<W>,
    /// One verdict's JSON, reused from verdict to verdict.
    line: Vec<u8>,
    /// CSV columns for the keys the rules opt into; taken from the first verdict
    /// unless [`VerdictWriter::for_rules`] gave them.
    extra: Option<ExtraColumns>,
    /// `,"rules":{...}`, written before each JSON verdict's closing brace.
    stamp: Option<Vec<u8>>,
}

/// CSV columns beyond [`CSV_HEADER`]: one per score dimension (`score_fit`) after
/// `score`, then `grade`; `transition_from` and `transition` after `stage`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ExtraColumns {
    dimensions: Vec<String>,
    grade: bool,
    transition: bool,
}

impl ExtraColumns {
    fn of(verdict: &Verdict) -> ExtraColumns {
        ExtraColumns {
            dimensions: verdict.scores.iter().map(|(n, _)| n.to_string()).collect(),
            grade: verdict.grade.is_some(),
            transition: verdict.transition.is_some(),
        }
    }

    fn header(&self) -> Vec<String> {
        let mut header = Vec::with_capacity(CSV_HEADER.len() + self.dimensions.len() + 3);
        for column in CSV_HEADER {
            header.push(column.to_string());
            if column == "score" {
                header.extend(self.dimensions.iter().map(|d| format!("score_{d}")));
                if self.grade {
                    header.push("grade".to_string());
                }
            }
            if column == "stage" && self.transition {
                header.push("transition_from".to_string());
                header.push("transition".to_string());
            }
        }
        header
    }
}

enum Sink<W: Write> {
    Jsonl(W),
    Json { out: W, written: bool },
    Csv { out: W, started: bool },
    Table { out: W, started: bool },
}

/// Renders verdicts as the rows a [`VerdictWriter`] writes, byte for byte: JSON Lines
/// (stamped alike), a JSON array's elements, CSV rows or table lines. It works from any thread, so verdicts can
/// be rendered on the thread that scored them
/// ([`Pipeline::run_rendered`](crate::Pipeline::run_rendered)) and the writer only
/// writes bytes ([`VerdictWriter::write_rendered`]).
#[derive(Debug, Clone)]
pub struct Rows {
    kind: RowKind,
}

#[derive(Debug, Clone)]
enum RowKind {
    Json {
        stamp: Option<Vec<u8>>,
    },
    /// A JSON array's element: `,\n` and the verdict; the writer opens the array with
    /// `[\n` in place of the first `,\n`.
    JsonElement {
        stamp: Option<Vec<u8>>,
    },
    Csv(ExtraColumns),
    Table,
}

impl Rows {
    /// What each row starts with before the verdict's id, for rows that depend on the
    /// id only there (JSON rows: the id is the first key, written as JSON); `None` for
    /// CSV and table rows. See [`Render::id_start`](crate::Render::id_start).
    pub fn id_start(&self) -> Option<&'static [u8]> {
        match &self.kind {
            RowKind::Json { .. } => Some(b"{\"id\":"),
            RowKind::JsonElement { .. } => Some(b",\n{\"id\":"),
            RowKind::Csv(_) | RowKind::Table => None,
        }
    }

    /// Appends one verdict's row, its line ending included.
    pub fn write_row(&self, verdict: &Verdict, out: &mut Vec<u8>) {
        match &self.kind {
            RowKind::Json { stamp } => {
                write_stamped(verdict, stamp.as_deref(), out);
                out.push(b'\n');
            }
            RowKind::JsonElement { stamp } => {
                out.extend_from_slice(b",\n");
                write_stamped(verdict, stamp.as_deref(), out);
            }
            RowKind::Csv(extra) => write_csv_row(verdict, extra, out),
            RowKind::Table => {
                out.extend_from_slice(table_row(verdict).as_bytes());
                out.push(b'\n');
            }
        }
    }
}

/// Appends one CSV record and its `\n`, quoted as the csv crate's default writer quotes:
/// a field holding a comma, a quote or a line break is quoted, its quotes doubled.
fn write_csv_record<T: AsRef<[u8]>>(fields: impl IntoIterator<Item = T>, out: &mut Vec<u8>) {
    let mut row = CsvRow::new(out);
    for field in fields {
        row.cell(field.as_ref());
    }
    row.end();
}

/// A verdict's JSON appended to `out`, with the `rules` stamp as its last key when given.
fn write_stamped(verdict: &Verdict, stamp: Option<&[u8]>, out: &mut Vec<u8>) {
    verdict.write_json(out);
    if let Some(stamp) = stamp
        && out.last() == Some(&b'}')
    {
        out.pop();
        out.extend_from_slice(stamp);
        out.push(b'}');
    }
}

impl<W: Write> VerdictWriter<W> {
    /// A writer of `format` to `out`. Wrap `out` in a `BufWriter` for files and pipes.
    pub fn new(out: W, format: OutputFormat) -> Self {
        let sink = match format {
            OutputFormat::Jsonl => Sink::Jsonl(out),
            OutputFormat::Json => Sink::Json {
                out,
                written: false,
            },
            OutputFormat::Csv => Sink::Csv {
                out,
                started: false,
            },
            OutputFormat::Table => Sink::Table {
                out,
                started: false,
            },
        };
        VerdictWriter {
            sink,
            line: Vec::with_capacity(1024),
            extra: None,
            stamp: None,
        }
    }

    /// Stamps every JSON verdict (`jsonl` and `json`) with the rules that made it: a last
    /// key `"rules": {"hash": ..., "version": ...}` (`version` only when given). The CSV
    /// and table formats are not stamped.
    ///
    /// ```
    /// use leadscore::io::{OutputFormat, VerdictWriter};
    /// let scorer = leadscore::Scorer::new(leadscore::Rules::load_dir("rules")?);
    /// let lead = leadscore::Lead::from_json(serde_json::json!({"id": "L-1"}))?;
    /// let verdict = scorer.score(&lead, leadscore::Date::parse("2026-01-15").unwrap());
    /// let mut out = VerdictWriter::new(Vec::new(), OutputFormat::Jsonl).stamp("sha256:ab", Some("v2"));
    /// out.write(&verdict)?;
    /// let text = String::from_utf8(out.finish()?)?;
    /// assert!(text.ends_with(",\"rules\":{\"hash\":\"sha256:ab\",\"version\":\"v2\"}}\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stamp(mut self, hash: &str, version: Option<&str>) -> Self {
        let rules = match version {
            Some(version) => serde_json::json!({ "hash": hash, "version": version }),
            None => serde_json::json!({ "hash": hash }),
        };
        let mut stamp = b",\"rules\":".to_vec();
        stamp.extend_from_slice(rules.to_string().as_bytes());
        self.stamp = Some(stamp);
        self
    }

    /// One verdict's JSON into `self.line`, stamped when asked.
    fn render_json(&mut self, verdict: &Verdict) {
        self.line.clear();
        write_stamped(verdict, self.stamp.as_deref(), &mut self.line);
    }

    /// A renderer of exactly the rows this writer writes, to render verdicts on the
    /// threads that scored them
    /// ([`Pipeline::run_rendered`](crate::Pipeline::run_rendered)): JSON Lines, table
    /// lines, a JSON array's elements, and CSV rows once the columns are fixed
    /// ([`VerdictWriter::for_rules`]). `None` for CSV whose columns come from its first
    /// verdict.
    pub fn rows(&self) -> Option<Rows> {
        let stamp = self.stamp.clone();
        let kind = match &self.sink {
            Sink::Jsonl(_) => RowKind::Json { stamp },
            Sink::Json { .. } => RowKind::JsonElement { stamp },
            Sink::Csv { .. } => RowKind::Csv(self.extra.clone()?),
            Sink::Table { .. } => RowKind::Table,
        };
        Some(Rows { kind })
    }

    /// Writes rows made by [`VerdictWriter::rows`] as they are, after the CSV or table
    /// header when none is written yet; a JSON array is opened before its first element.
    ///
    /// # Errors
    /// When `out` fails.
    pub fn write_rendered(&mut self, rows: &[u8]) -> io::Result<()> {
        self.start()?;
        match &mut self.sink {
            Sink::Jsonl(out) | Sink::Csv { out, .. } | Sink::Table { out, .. } => {
                out.write_all(rows)
            }
            Sink::Json { out, written } => match rows.strip_prefix(b",\n") {
                Some(first) if !*written => {
                    *written = true;
                    out.write_all(b"[\n")?;
                    out.write_all(first)
                }
                _ => out.write_all(rows),
            },
        }
    }

    /// Writes the CSV or table header, once, before the first row.
    fn start(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Csv { out, started } if !*started => {
                *started = true;
                self.line.clear();
                let extra = self.extra.get_or_insert_with(ExtraColumns::default);
                write_csv_record(extra.header(), &mut self.line);
                out.write_all(&self.line)
            }
            Sink::Table { out, started } if !*started => {
                *started = true;
                writeln!(out, "{}", table_header())
            }
            _ => Ok(()),
        }
    }

    /// Fixes the CSV columns from the rules (a column per score dimension, the grade,
    /// the transition), so that even an output without verdicts has the full header.
    pub fn for_rules(mut self, rules: &Rules) -> Self {
        self.extra = Some(ExtraColumns {
            dimensions: rules.score_dimensions().map(str::to_string).collect(),
            grade: rules.grades_leads(),
            transition: rules.current_stage_field().is_some(),
        });
        self
    }

    /// Writes one verdict.
    ///
    /// # Errors
    /// When `out` fails (a closed pipe shows as `ErrorKind::BrokenPipe`).
    pub fn write(&mut self, verdict: &Verdict) -> io::Result<()> {
        match &mut self.sink {
            Sink::Jsonl(_) => {
                self.render_json(verdict);
                self.line.push(b'\n');
                let Sink::Jsonl(out) = &mut self.sink else {
                    return Ok(());
                };
                out.write_all(&self.line)
            }
            Sink::Json { .. } => {
                self.render_json(verdict);
                let Sink::Json { out, written } = &mut self.sink else {
                    return Ok(());
                };
                out.write_all(if *written { b",\n" } else { b"[\n" })?;
                *written = true;
                out.write_all(&self.line)
            }
            Sink::Csv { .. } => {
                if self.extra.is_none() {
                    self.extra = Some(ExtraColumns::of(verdict));
                }
                self.start()?;
                let (Sink::Csv { out, .. }, Some(extra)) = (&mut self.sink, &self.extra) else {
                    return Ok(());
                };
                self.line.clear();
                write_csv_row(verdict, extra, &mut self.line);
                out.write_all(&self.line)
            }
            Sink::Table { .. } => {
                self.start()?;
                let Sink::Table { out, .. } = &mut self.sink else {
                    return Ok(());
                };
                writeln!(out, "{}", table_row(verdict))
            }
        }
    }

    /// Flushes what was written so far through to `out` and flushes `out`.
    ///
    /// # Errors
    /// When `out` fails.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Jsonl(out)
            | Sink::Json { out, .. }
            | Sink::Csv { out, .. }
            | Sink::Table { out, .. } => out.flush(),
        }
    }

    /// Ends the output (closes the JSON array, writes a header when there were no
    /// verdicts), flushes it and gives `out` back.
    ///
    /// # Errors
    /// When `out` fails.
    pub fn finish(mut self) -> io::Result<W> {
        self.start()?;
        match self.sink {
            Sink::Jsonl(mut out) | Sink::Csv { mut out, .. } | Sink::Table { mut out, .. } => {
                out.flush()?;
                Ok(out)
            }
            Sink::Json { mut out, written } => {
                out.write_all(if written { b"\n]\n" } else { b"[]\n" })?;
                out.flush()?;
                Ok(out)
            }
        }
    }
}

/// Appends the verdict's CSV row, its cells in the order of `extra`'s header, quoted as
/// [`write_csv_record`] quotes them. Cells are written straight into `out`; only a cell
/// joined from a list is put together first, in one buffer reused along the row.
fn write_csv_row(verdict: &Verdict, extra: &ExtraColumns, out: &mut Vec<u8>) {
    let mut row = CsvRow::new(out);
    row.display(&verdict.id);
    row.display(verdict.score);
    for dimension in &extra.dimensions {
        match verdict.scores.get(dimension) {
            Some(points) => row.display(points),
            None => row.cell(b""),
        }
    }
    if extra.grade {
        let grade = verdict.grade.as_ref().and_then(|g| g.as_deref());
        row.cell(grade.unwrap_or_default().as_bytes());
    }
    row.cell(verdict.stage.as_bytes());
    if extra.transition {
        let transition = verdict.transition.as_ref().and_then(Option::as_ref);
        let from = transition.and_then(|t| t.from.as_deref());
        row.cell(from.unwrap_or_default().as_bytes());
        row.cell(transition.map_or("", |t| t.direction.as_str()).as_bytes());
    }
    let next = verdict.next.as_ref();
    row.joined(verdict.signals.iter().map(|s| &**s), ";");
    row.joined(verdict.matched.iter().map(|m| &*m.rule), ";");
    row.cell(
        verdict
            .disqualified
            .as_deref()
            .unwrap_or_default()
            .as_bytes(),
    );
    row.cell(next.map_or("", |n| &*n.stage).as_bytes());
    row.joined(
        next.into_iter()
            .flat_map(|n| n.missing.iter().map(|m| &**m)),
        ";",
    );
    match next {
        Some(next) => row.display(next.points_needed),
        None => row.cell(b""),
    }
    row.scratch.clear();
    for (i, error) in verdict.errors.iter().enumerate() {
        if i > 0 {
            row.scratch.push_str("; ");
        }
        let _ = write!(row.scratch, "{}: {}", error.rule, error.message);
    }
    row.cell_from_scratch();
    row.end();
}

/// One CSV record being written into `out`.
struct CsvRow<'a> {
    csv: csv_core::Writer,
    out: &'a mut Vec<u8>,
    cells: usize,
    scratch: String,
}

impl<'a> CsvRow<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        CsvRow {
            csv: csv_core::Writer::new(),
            out,
            cells: 0,
            scratch: String::new(),
        }
    }

    /// Writes one cell, quoted when it must be.
    fn cell(&mut self, mut text: &[u8]) {
        let mut buf = [0u8; 512];
        if self.cells > 0 {
            // Also closes the quotes of the cell before, when it was quoted.
            let (_, n) = self.csv.delimiter(&mut buf);
            self.out.extend_from_slice(&buf[..n]);
        }
        self.cells += 1;
        loop {
            let (result, read, n) = self.csv.field(text, &mut buf);
            self.out.extend_from_slice(&buf[..n]);
            text = &text[read..];
            if result == csv_core::WriteResult::InputEmpty {
                return;
            }
        }
    }

    /// Writes a value as its `Display` shows it.
    fn display(&mut self, value: impl fmt::Display) {
        self.scratch.clear();
        let _ = write!(self.scratch, "{value}");
        self.cell_from_scratch();
    }

    /// Writes `items` joined by `separator`, as one cell.
    fn joined<'s>(&mut self, items: impl Iterator<Item = &'s str>, separator: &str) {
        self.scratch.clear();
        for (i, item) in items.enumerate() {
            if i > 0 {
                self.scratch.push_str(separator);
            }
            self.scratch.push_str(item);
        }
        self.cell_from_scratch();
    }

    fn cell_from_scratch(&mut self) {
        let scratch = std::mem::take(&mut self.scratch);
        self.cell(scratch.as_bytes());
        self.scratch = scratch;
    }

    /// Ends the record with its `\n`.
    fn end(mut self) {
        let mut buf = [0u8; 4];
        let (_, n) = self.csv.terminator(&mut buf);
        self.out.extend_from_slice(&buf[..n]);
    }
}

fn table_header() -> String {
    table_line("ID", "SCORE", "STAGE", "SIGNALS", "NEXT / WHY")
}

fn table_row(verdict: &Verdict) -> String {
    let signals = match verdict.signals.is_empty() {
        true => "-".to_string(),
        false => verdict.signals.join(", "),
    };
    let score = match verdict.grade.as_ref().and_then(|g| g.as_deref()) {
        Some(grade) => format!("{} {grade}", verdict.score),
        None => verdict.score.to_string(),
    };
    table_line(
        &verdict.id.to_string(),
        &score,
        &verdict.stage,
        &signals,
        &next_cell(verdict),
    )
}

/// The NEXT cell: `prospect: need, budget (+10)`, the reason when disqualified, or `-`
/// at the top.
fn next_cell(verdict: &Verdict) -> String {
    if let Some(reason) = &verdict.disqualified {
        return format!("disqualified: {reason}");
    }
    let Some(next) = &verdict.next else {
        return "-".to_string();
    };
    let mut cell = next.stage.to_string();
    if !next.missing.is_empty() {
        let _ = write!(cell, ": {}", next.missing.join(", "));
    }
    if next.points_needed > 0 {
        let _ = write!(cell, " (+{})", next.points_needed);
    }
    cell
}

fn table_line(id: &str, score: &str, stage: &str, signals: &str, next: &str) -> String {
    format!(
        "{:<TABLE_ID$}  {:>TABLE_SCORE$}  {:<TABLE_STAGE$}  {:<TABLE_SIGNALS$}  {}",
        fit(id, TABLE_ID),
        fit(score, TABLE_SCORE),
        fit(stage, TABLE_STAGE),
        fit(signals, TABLE_SIGNALS),
        fit(next, TABLE_NEXT),
    )
}

/// `text` on one line in at most `width` characters, cut with `…` when longer.
fn fit(text: &str, width: usize) -> String {
    let one_line = text.chars().map(|c| if c.is_control() { ' ' } else { c });
    if text.chars().count() <= width {
        return one_line.collect();
    }
    let mut cut: String = one_line.take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Writes rejected records as JSON Lines:
/// `{"source":"leads.jsonl","line":3,"record":3,"reason":"...","raw":"..."}`.
pub struct RejectWriter<W: Write> {
    out: W,
}

#[derive(Serialize)]
struct RejectLine<'a> {
    source: &'a str,
    line: u64,
    record: u64,
    reason: &'a str,
    raw: &'a str,
}

impl<W: Write> RejectWriter<W> {
    /// A writer of rejects to `out`.
    pub fn new(out: W) -> Self {
        RejectWriter { out }
    }

    /// Writes one rejected record: where it was, why, and its original text.
    ///
    /// # Errors
    /// When `out` fails.
    pub fn write(&mut self, position: &Position, reason: &str, raw: &str) -> io::Result<()> {
        let line = RejectLine {
            source: &position.source,
            line: position.line,
            record: position.record,
            reason,
            raw,
        };
        serde_json::to_writer(&mut self.out, &line)?;
        self.out.write_all(b"\n")
    }

    /// Flushes the output and gives it back.
    ///
    /// # Errors
    /// When `out` fails.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::Value;
    use crate::verdict::{Match, Next, RuleFailure};
    use std::sync::Arc;

    proptest::proptest! {
        /// The CSV rows rendered on the workers are the csv crate's default writer's
        /// bytes, whatever the cells hold.
        #[test]
        fn csv_records_are_the_csv_crates_bytes(
            fields in proptest::collection::vec("(?s).{0,12}|[,\"\r\n a]{0,6}", 1..8)
        ) {
            let mut ours = Vec::new();
            write_csv_record(&fields, &mut ours);
            let mut theirs = ::csv::Writer::from_writer(Vec::new());
            theirs.write_record(&fields).unwrap();
            proptest::prop_assert_eq!(ours, theirs.into_inner().unwrap());
        }
    }

    /// Rows rendered elsewhere and written in batches (an empty one among them) are the
    /// bytes the writer writes verdict by verdict, in every format, stamped or not.
    #[test]
    fn rendered_rows_are_what_the_writer_writes() {
        let mut other = verdict();
        other.id = Value::Text("L2, \"quoted\"".to_string());
        other.disqualified = Some("student\nline".to_string());
        let verdicts = [verdict(), other, verdict()];
        let rules = crate::Rules::load_dir("rules").unwrap();
        for format in ["jsonl", "json", "csv", "table"] {
            for stamped in [false, true] {
                let writer = || {
                    let w =
                        VerdictWriter::new(Vec::new(), OutputFormat::from_name(format).unwrap())
                            .for_rules(&rules);
                    match stamped {
                        true => w.stamp("sha256:ab", None),
                        false => w,
                    }
                };
                let mut direct = writer();
                for v in &verdicts {
                    direct.write(v).unwrap();
                }
                let mut rendered = writer();
                let rows = rendered.rows().unwrap();
                let mut batches = vec![Vec::new(), Vec::new(), Vec::new()];
                rows.write_row(&verdicts[0], &mut batches[1]);
                rows.write_row(&verdicts[1], &mut batches[1]);
                rows.write_row(&verdicts[2], &mut batches[2]);
                for batch in &batches {
                    rendered.write_rendered(batch).unwrap();
                }
                assert_eq!(
                    String::from_utf8(rendered.finish().unwrap()).unwrap(),
                    String::from_utf8(direct.finish().unwrap()).unwrap(),
                    "{format}, stamped: {stamped}"
                );
                // Nothing rendered: the same empty output (a header, `[]`).
                let mut empty = writer();
                empty.write_rendered(&[]).unwrap();
                assert_eq!(
                    empty.finish().unwrap(),
                    writer().finish().unwrap(),
                    "{format}"
                );
            }
        }
    }

    fn verdict() -> Verdict {
        Verdict {
            id: Value::Text("L1".to_string()),
            score: 35,
            scores: Default::default(),
            grade: None,
            stage: Arc::from("lead"),
            transition: None,
            signals: vec![Arc::from("authority"), Arc::from("fit")],
            matched: vec![
                Match {
                    rule: Arc::from("is_cto"),
                    points: 25,
                    signals: vec![Arc::from("authority")],
                    reason: Some("title is CTO".to_string()),
                    disqualify: None,
                    score: None,
                    decay: None,
                },
                Match {
                    rule: Arc::from("saas"),
                    points: 10,
                    signals: vec![],
                    reason: None,
                    disqualify: None,
                    score: None,
                    decay: None,
                },
            ],
            disqualified: None,
            next: Some(Next {
                stage: Arc::from("prospect"),
                missing: vec![Arc::from("need"), Arc::from("budget")],
                points_needed: 10,
                scores_needed: Default::default(),
                grade_needed: None,
            }),
            errors: vec![RuleFailure {
                rule: "field:budget".to_string(),
                message: "expected a number, found the text \"lots\"".to_string(),
            }],
        }
    }

    /// A verdict at the top stage with nothing matched.
    fn plain(id: Value) -> Verdict {
        Verdict {
            id,
            score: 0,
            scores: Default::default(),
            grade: None,
            stage: Arc::from("cold"),
            transition: None,
            signals: vec![],
            matched: vec![],
            disqualified: None,
            next: None,
            errors: vec![],
        }
    }

    fn render(format: OutputFormat, verdicts: &[Verdict]) -> String {
        let mut writer = VerdictWriter::new(Vec::new(), format);
        for verdict in verdicts {
            writer.write(verdict).unwrap();
        }
        String::from_utf8(writer.finish().unwrap()).unwrap()
    }

    const JSON_LINE: &str = concat!(
        r#"{"id":"L1","score":35,"stage":"lead","signals":["authority","fit"],"#,
        r#""matched":[{"rule":"is_cto","points":25,"signals":["authority"],"reason":"title is CTO"},"#,
        r#"{"rule":"saas","points":10}],"disqualified":null,"#,
        r#""next":{"stage":"prospect","missing":["need","budget"],"points_needed":10},"#,
        r#""errors":[{"rule":"field:budget","message":"expected a number, found the text \"lots\""}]}"#,
    );

    #[test]
    fn names_formats() {
        assert_eq!(OutputFormat::from_name("jsonl"), Some(OutputFormat::Jsonl));
        assert_eq!(OutputFormat::from_name("ndjson"), Some(OutputFormat::Jsonl));
        assert_eq!(OutputFormat::from_name("json"), Some(OutputFormat::Json));
        assert_eq!(OutputFormat::from_name("csv"), Some(OutputFormat::Csv));
        assert_eq!(OutputFormat::from_name("table"), Some(OutputFormat::Table));
        assert_eq!(OutputFormat::from_name("yaml"), None);
    }

    #[test]
    fn writes_json_lines() {
        let out = render(OutputFormat::Jsonl, &[verdict(), plain(Value::Int(7))]);
        let plain_line = r#"{"id":7,"score":0,"stage":"cold","signals":[],"matched":[],"disqualified":null,"next":null,"errors":[]}"#;
        assert_eq!(out, format!("{JSON_LINE}\n{plain_line}\n"));
        assert_eq!(verdict().to_json_line(), JSON_LINE);
    }

    #[test]
    fn writes_a_json_array_one_verdict_per_line() {
        let out = render(OutputFormat::Json, &[verdict(), verdict()]);
        assert_eq!(out, format!("[\n{JSON_LINE},\n{JSON_LINE}\n]\n"));
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed.as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn an_empty_json_array_is_one_line() {
        assert_eq!(render(OutputFormat::Json, &[]), "[]\n");
        assert_eq!(render(OutputFormat::Jsonl, &[]), "");
    }

    #[test]
    fn writes_csv_with_lists_joined() {
        let out = render(OutputFormat::Csv, &[verdict(), plain(Value::Int(7))]);
        let want = concat!(
            "id,score,stage,signals,matched,disqualified,next_stage,missing,points_needed,errors\n",
            "L1,35,lead,authority;fit,is_cto;saas,,prospect,need;budget,10,",
            "\"field:budget: expected a number, found the text \"\"lots\"\"\"\n",
            "7,0,cold,,,,,,,\n",
        );
        assert_eq!(out, want);
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let mut v = plain(Value::Text("a,b \"c\"\nd".to_string()));
        v.disqualified = Some("student; no budget".to_string());
        v.errors = vec![
            RuleFailure {
                rule: "r1".to_string(),
                message: "x".to_string(),
            },
            RuleFailure {
                rule: "r2".to_string(),
                message: "y".to_string(),
            },
        ];
        let out = render(OutputFormat::Csv, &[v]);
        let rows: Vec<&str> = out.splitn(2, '\n').collect();
        assert_eq!(
            rows[1],
            "\"a,b \"\"c\"\"\nd\",0,cold,,,student; no budget,,,,r1: x; r2: y\n"
        );
        assert_eq!(
            render(OutputFormat::Csv, &[]),
            "id,score,stage,signals,matched,disqualified,next_stage,missing,points_needed,errors\n"
        );
    }

    #[test]
    fn writes_a_fixed_width_table() {
        let mut long = plain(Value::Text("a-very-long-lead-identifier-0001".to_string()));
        long.score = -5;
        long.signals = (0..10)
            .map(|i| Arc::from(format!("signal{i}").as_str()))
            .collect();
        let out = render(OutputFormat::Table, &[verdict(), long]);
        let want = concat!(
            "ID                    SCORE  STAGE               SIGNALS                           NEXT / WHY\n",
            "L1                       35  lead                authority, fit                    prospect: need, budget (+10)\n",
            "a-very-long-lead-id…     -5  cold                signal0, signal1, signal2, sign…  -\n",
        );
        assert_eq!(out, want);
    }

    #[test]
    fn table_cells_stay_on_one_line() {
        assert_eq!(fit("a\nb", 10), "a b");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abcd", 4), "abcd");
        assert_eq!(render(OutputFormat::Table, &[]).lines().count(), 1);
    }

    #[test]
    fn next_cells_leave_out_what_is_not_needed() {
        let mut v = verdict();
        v.next = Some(Next {
            stage: Arc::from("sql"),
            missing: vec![],
            points_needed: 0,
            scores_needed: Default::default(),
            grade_needed: None,
        });
        assert_eq!(next_cell(&v), "sql");
        v.next = Some(Next {
            stage: Arc::from("sql"),
            missing: vec![],
            points_needed: 3,
            scores_needed: Default::default(),
            grade_needed: None,
        });
        assert_eq!(next_cell(&v), "sql (+3)");
    }

    #[test]
    fn writes_rejects_as_json_lines() {
        let position = Position {
            source: Arc::from("leads.jsonl"),
            line: 3,
            record: 2,
        };
        let mut writer = RejectWriter::new(Vec::new());
        writer
            .write(
                &position,
                "malformed JSON: expected value at column 7",
                "{\"a\": }",
            )
            .unwrap();
        let out = String::from_utf8(writer.finish().unwrap()).unwrap();
        assert_eq!(
            out,
            concat!(
                r#"{"source":"leads.jsonl","line":3,"record":2,"#,
                r#""reason":"malformed JSON: expected value at column 7","raw":"{\"a\": }"}"#,
                "\n"
            )
        );
    }
}

//! Shared by `convert`, `report` and `diff`: read the input files in order, score each
//! record with one or more rule sets keeping the lead beside its verdicts, and report
//! and count rejected records the way `score` does.
//!
//! Records are read and scored on one thread, in input order: these commands need each
//! lead's own fields (company, email, the outcome column) next to its verdict, which the
//! parallel [`leadscore::Pipeline`] does not hand back.

use std::io;

use leadscore::io::{InputFormat, Position, open_input};
use leadscore::{Date, Lead, Scorer, Verdict};

use super::score::{read_options, rejection_notice};
use super::{Exit, Failure, is_broken_pipe};

/// Where the leads come from.
#[derive(Debug, clap::Args)]
pub struct InputArgs {
    /// Input files; none or `-` reads standard input.
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,
    /// Input format; by default from the file extension, else from the content.
    #[arg(long, value_name = "FORMAT", value_parser = ["json", "jsonl", "ndjson", "csv"])]
    pub input: Option<String>,
    /// CSV delimiter (one character); by default sniffed from the header.
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<char>,
}

impl InputArgs {
    /// The files to read; standard input (`-`) when none is given.
    pub fn files(&self) -> Vec<String> {
        if self.files.is_empty() {
            vec!["-".to_string()]
        } else {
            self.files.clone()
        }
    }

    /// The forced input format, if any.
    pub fn format(&self) -> Option<InputFormat> {
        self.input.as_deref().and_then(InputFormat::from_name)
    }
}

/// What happened to the records: read = scored + rejected.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub read: u64,
    pub rejected: u64,
    /// Input files that could not be opened.
    pub unreadable: u64,
    /// The reader of our output went away (`| head`).
    pub closed: bool,
}

impl Tally {
    /// 2 when a file could not be read, 1 when records were rejected, else 0.
    pub fn exit(&self) -> Exit {
        if self.unreadable > 0 {
            Exit::Usage
        } else if self.rejected > 0 {
            Exit::Partial
        } else {
            Exit::Ok
        }
    }
}

/// Reads every input in order and scores each record with every scorer; `each` gets
/// the record's position, the lead and one verdict per scorer. A lead without an id is
/// named by its position, as `score` does. A record that cannot be read, or that any
/// scorer refuses (a value that does not fit its declared type), is reported on
/// standard error and counted as rejected.
///
/// An error from `each` stops the run: a broken pipe quietly (`closed`), any other as
/// a failure to write the output.
pub fn score_each(
    input: &InputArgs,
    scorers: &[&Scorer],
    as_of: Date,
    mut each: impl FnMut(&Position, &Lead, Vec<Verdict>) -> io::Result<()>,
) -> Result<Tally, Failure> {
    let format = input.format();
    let options = read_options(input.delimiter)?;
    let files = input.files();
    let mut tally = Tally::default();
    for file in &files {
        let reader = match open_input(file, format, &options) {
            Ok(reader) => reader,
            Err(e) => {
                tally.unreadable += 1;
                eprintln!("error: cannot read {file}: {e}; check the path");
                continue;
            }
        };
        for record in reader {
            tally.read += 1;
            let scored = record.lead.and_then(|lead| {
                let verdicts = scorers
                    .iter()
                    .map(|s| s.try_score(&lead, as_of).map_err(|e| e.reason))
                    .collect::<Result<Vec<Verdict>, String>>()?;
                Ok((lead, verdicts))
            });
            let result = match scored {
                Ok((lead, mut verdicts)) => {
                    for verdict in &mut verdicts {
                        verdict.name_by(&record.position);
                    }
                    each(&record.position, &lead, verdicts)
                }
                Err(reason) => {
                    tally.rejected += 1;
                    if let Some(line) =
                        rejection_notice(tally.rejected, &record.position, &reason, "")
                    {
                        eprintln!("{line}");
                    }
                    Ok(())
                }
            };
            match result {
                Ok(()) => {}
                Err(e) if is_broken_pipe(&e) => {
                    tally.closed = true;
                    return Ok(tally);
                }
                Err(e) => return Err(Failure::usage(format!("cannot write the output: {e}"))),
            }
        }
    }
    Ok(tally)
}

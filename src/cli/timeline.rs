//! `leadscore timeline`: replay a history of lead records and write each change of
//! stage, in time order, or a summary per stage.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use leadscore::io::{Position, Record, RejectWriter, open_input};
use leadscore::timeline::Timeline;
use leadscore::{Date, Lead};

use super::batch::InputArgs;
use super::score::{create, read_options, rejection_notice};
use super::{Exit, Failure, RulesArgs, is_broken_pipe, parse_date, write_stdout};

/// Records handed from the reading thread to the replaying one at a time.
const BATCH: usize = 256;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadscore timeline --time-field updated_at history.jsonl
  leadscore timeline --until 2026-06-30 --summary history.csv

Each line: {\"id\",\"at\",\"from\",\"to\",\"score\",\"gained\",\"lost\",\"rules_added\",\"rules_removed\"}.
A lead's updates must come in time order (an export sorted by time, or grouped by lead);
--sort orders any input first, holding every record in memory.")]
pub struct TimelineArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    rules: RulesArgs,
    /// The field giving each record's time (a date or an RFC 3339 time); default the
    /// rules' `settings.event_time`.
    #[arg(long, value_name = "FIELD")]
    time_field: Option<String>,
    /// Also score each lead on every later day up to DATE on which its verdict can
    /// change without an update (decay, `within_days`, `older_than_days`).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    until: Option<Date>,
    /// Print per stage how many leads reached it, in how many days, and which rule most
    /// often tipped them into it, instead of the changes.
    #[arg(long)]
    summary: bool,
    /// Format of the summary.
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "table", value_parser = ["table", "json"], requires = "summary")]
    format: String,
    /// Read the whole input and order it by time before replaying it (memory grows with
    /// the number of records).
    #[arg(long)]
    sort: bool,
    /// Write each rejected record, whole, with its reason, to FILE (JSON Lines).
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// No summary line on standard error (rejected records are still reported).
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Where rejected records go, and the counts: read = merged + rejected.
struct Rejects {
    file: Option<RejectWriter<BufWriter<std::fs::File>>>,
    read: u64,
    rejected: u64,
}

impl Rejects {
    fn reject(&mut self, position: &Position, reason: &str, raw: &str) -> Result<(), Failure> {
        self.rejected += 1;
        if let Some(line) = rejection_notice(
            self.rejected,
            position,
            reason,
            "; use --rejects FILE to keep them",
        ) {
            eprintln!("{line}");
        }
        if let Some(file) = &mut self.file {
            file.write(position, reason, raw)
                .map_err(|e| Failure::usage(format!("cannot write the rejects: {e}")))?;
        }
        Ok(())
    }
}

pub fn run(args: &TimelineArgs) -> Result<Exit, Failure> {
    let scorer = args.rules.load()?;
    let mut timeline =
        Timeline::new(&scorer, args.time_field.as_deref()).map_err(Failure::usage)?;
    let options = read_options(args.input.delimiter)?;
    let mut rejects = Rejects {
        file: match &args.rejects {
            Some(path) => Some(RejectWriter::new(BufWriter::new(create(path)?))),
            None => None,
        },
        read: 0,
        rejected: 0,
    };
    // With --sort: every readable record with its time, merged once all are read.
    let mut held: Vec<((i64, u32), Position, Lead, String)> = Vec::new();
    let mut unreadable = 0;
    // One thread reads and parses records, in order, handing them over in batches;
    // this one merges and scores them in that order (a lead's state lives here only).
    let files = args.input.files();
    let format = args.input.format();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Record>>(8);
    let replayed = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut unreadable = 0u64;
            for file in &files {
                let reader = match open_input(file, format, &options) {
                    Ok(reader) => reader,
                    Err(e) => {
                        unreadable += 1;
                        eprintln!("error: cannot read {file}: {e}; check the path");
                        continue;
                    }
                };
                let mut batch = Vec::with_capacity(BATCH);
                for record in reader {
                    batch.push(record);
                    if batch.len() == BATCH
                        && tx
                            .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                            .is_err()
                    {
                        return unreadable;
                    }
                }
                if !batch.is_empty() && tx.send(batch).is_err() {
                    return unreadable;
                }
            }
            unreadable
        });
        let mut replay = || -> Result<(), Failure> {
            for record in rx.iter().flatten() {
                rejects.read += 1;
                let lead = match record.lead {
                    Ok(lead) => lead,
                    Err(reason) => {
                        rejects.reject(&record.position, &reason, &record.raw)?;
                        continue;
                    }
                };
                if args.sort {
                    match timeline.time_of(&lead) {
                        Ok(time) => held.push((time.instant(), record.position, lead, record.raw)),
                        Err(reason) => rejects.reject(&record.position, &reason, &record.raw)?,
                    }
                } else if let Err(reason) = timeline.add(lead) {
                    rejects.reject(&record.position, &reason, &record.raw)?;
                }
            }
            Ok(())
        };
        let replayed = replay();
        // On a failure the receiver goes away here, and the reader stops at its next batch.
        drop(rx);
        unreadable = reader.join().unwrap_or(1);
        replayed
    });
    replayed?;
    // A stable sort: equal times keep input order.
    held.sort_by_key(|(time, ..)| *time);
    for (_, position, lead, raw) in held {
        if let Err(reason) = timeline.add(lead) {
            rejects.reject(&position, &reason, &raw)?;
        }
    }
    if let Some(date) = args.until {
        timeline.until(date);
    }
    if let Some(file) = rejects.file.take() {
        file.finish()
            .and_then(|mut f| f.flush())
            .map_err(|e| Failure::usage(format!("cannot write the rejects: {e}")))?;
    }
    if args.summary {
        let summary = timeline.summary();
        let text = match args.format.as_str() {
            "json" => summary.to_json() + "\n",
            _ => summary.to_table(),
        };
        write_stdout(&text)?;
    } else {
        write_transitions(&mut timeline)?;
    }
    if !args.quiet {
        eprintln!(
            "read {} records: {} merged, {} rejected; {} leads, {} changes of stage",
            rejects.read,
            timeline.updates(),
            rejects.rejected,
            timeline.leads(),
            timeline.transitions().len()
        );
    }
    // The process ends here: freeing every lead one by one would only cost time.
    std::mem::forget(timeline);
    Ok(if unreadable > 0 {
        Exit::Usage
    } else if rejects.rejected > 0 {
        Exit::Partial
    } else {
        Exit::Ok
    })
}

fn write_transitions(timeline: &mut Timeline) -> Result<(), Failure> {
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut line = Vec::with_capacity(512);
    let written = timeline
        .transitions()
        .iter()
        .try_for_each(|t| {
            line.clear();
            t.write_json(&mut line);
            line.push(b'\n');
            out.write_all(&line)
        })
        .and_then(|()| out.flush());
    match written {
        Err(e) if !is_broken_pipe(&e) => {
            Err(Failure::usage(format!("cannot write the output: {e}")))
        }
        _ => Ok(()),
    }
}

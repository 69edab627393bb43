//! `leadscore score`: read leads from files or standard input, score them, stream the
//! verdicts out in input order; report and keep every rejected record; count everything.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use leadscore::io::{
    OutputFormat, Position, ReadOptions, RejectWriter, Rows, VerdictWriter, open_input,
};
use leadscore::{Direction, Outcome, Pipeline, RenderedBatch, Rules, Scorer, Verdict};

use super::batch::InputArgs;
use super::{AsOfArgs, Exit, Failure, RulesArgs, is_broken_pipe};

/// Rejections printed on standard error before the rest are only counted (all of them
/// still go to `--rejects`).
pub(super) const MAX_REPORTED_REJECTS: u64 = 20;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadscore score fixtures/leads.jsonl
  leadscore score --format table fixtures/leads.csv
  cat leads.jsonl | leadscore score --stage ready_to_convert --rejects rejects.jsonl > ready.jsonl
  leadscore score --changed up crm-export.csv      # leads the rules move above the CRM's stage")]
pub struct ScoreArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    as_of: AsOfArgs,
    /// Output format; default `table` on a terminal, `jsonl` otherwise.
    #[arg(long, short = 'f', value_name = "FORMAT", value_parser = ["jsonl", "json", "csv", "table"])]
    format: Option<String>,
    /// Write verdicts to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Keep only leads in this stage.
    #[arg(long, value_name = "STAGE")]
    stage: Option<String>,
    /// Keep only leads whose stage differs from the one the CRM holds
    /// (`settings.current_stage`); `up`, `down` or `new` for one direction. Alone, put it
    /// after the files (or write `--changed any`).
    #[arg(long, value_name = "DIRECTION", num_args = 0..=1, default_missing_value = "any",
          value_parser = ["any", "up", "down", "new"])]
    changed: Option<String>,
    /// Write each rejected record, whole, with its reason, to FILE (JSON Lines).
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// No progress bar and no summary (rejected records are still reported).
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Stamp each verdict with the rules that made it: `"rules": {"hash", "version"}`
    /// (the hash `leadscore serve` shows; `version` from `settings.version`). JSON
    /// formats only; the default format becomes `jsonl`.
    #[arg(long)]
    stamp: bool,
    /// Worker threads for parsing and scoring; default one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

/// What happened to the records: read = scored + rejected, always.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub read: u64,
    pub scored: u64,
    pub rejected: u64,
    pub written: u64,
}

pub fn run(args: &ScoreArgs) -> Result<Exit, Failure> {
    let scorer = args.rules.load()?;
    check_stage(&scorer, args.stage.as_deref())?;
    let changed = Changed::from_arg(&scorer, args.changed.as_deref())?;
    let input = args.input.format();
    let options = read_options(args.input.delimiter)?;
    let format = output_format(args);
    if args.stamp && !matches!(format, OutputFormat::Jsonl | OutputFormat::Json) {
        return Err(Failure::usage(
            "--stamp adds a `rules` key to JSON verdicts; use --format jsonl or json",
        ));
    }
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(create(path)?),
        None => Box::new(io::stdout().lock()),
    };
    let mut verdicts = VerdictWriter::new(BufWriter::with_capacity(1 << 16, out), format)
        .for_rules(scorer.rules());
    if args.stamp {
        let hash = Rules::hash_dir(&args.rules.rules).map_err(|e| {
            Failure::usage(format!("cannot read {}: {e}", args.rules.rules.display()))
        })?;
        verdicts = verdicts.stamp(&hash, scorer.rules().version());
    }
    let mut sink = Sink {
        verdicts,
        rejects: match &args.rejects {
            Some(path) => Some(RejectWriter::new(BufWriter::new(create(path)?))),
            None => None,
        },
        stage: args.stage.clone(),
        changed,
        counts: Counts::default(),
        progress: progress_bar(args.quiet),
    };
    let pipeline = match args.threads {
        Some(n) => Pipeline::new(&scorer, args.as_of.date()).threads(usize::from(n)),
        None => Pipeline::new(&scorer, args.as_of.date()),
    };
    // Rows are rendered on the worker threads; the writer thread only writes bytes.
    let rendered = sink.verdicts.rows().map(|rows| Filtered {
        rows,
        stage: sink.stage.clone(),
        changed: sink.changed,
    });
    let files = args.input.files();
    let mut unreadable = 0;
    let mut outcome = Ok(());
    for file in &files {
        let reader = match open_input(file, input, &options) {
            Ok(reader) => reader,
            Err(e) => {
                unreadable += 1;
                sink.progress
                    .suspend(|| eprintln!("error: cannot read {file}: {e}; check the path"));
                continue;
            }
        };
        outcome = match &rendered {
            Some(rendered) => pipeline.run_rendered(reader, rendered, &mut sink),
            None => pipeline.run(reader, &mut sink),
        };
        if outcome.is_err() {
            break;
        }
    }
    sink.progress.finish_and_clear();
    let counts = sink.counts;
    let finished = outcome.and_then(|()| sink.finish());
    match finished {
        Err(e) if is_broken_pipe(&e) => return Ok(Exit::Ok),
        Err(e) => return Err(Failure::usage(format!("cannot write the output: {e}"))),
        Ok(()) => {}
    }
    if !args.quiet {
        let filter = match (args.stage.is_some(), changed.is_some()) {
            (false, false) => None,
            (true, false) => Some("in the chosen stage"),
            (false, true) => Some("with a changed stage"),
            (true, true) => Some("in the chosen stage with a changed stage"),
        };
        eprintln!("{}", summary(&counts, filter));
    }
    Ok(if unreadable > 0 {
        Exit::Usage
    } else if counts.rejected > 0 {
        Exit::Partial
    } else {
        Exit::Ok
    })
}

/// The line standard error gets for the `count`th rejection: the first
/// [`MAX_REPORTED_REJECTS`] are shown, then one line says the rest are only counted
/// (with `hint`, e.g. where they can be kept).
pub(super) fn rejection_notice(
    count: u64,
    position: &Position,
    reason: &str,
    hint: &str,
) -> Option<String> {
    if count <= MAX_REPORTED_REJECTS {
        Some(format!("{position}: rejected: {reason}"))
    } else if count == MAX_REPORTED_REJECTS + 1 {
        Some(format!("(further rejections are counted, not shown{hint})"))
    } else {
        None
    }
}

pub(super) fn create(path: &std::path::Path) -> Result<File, Failure> {
    File::create(path).map_err(|e| Failure::usage(format!("cannot create {}: {e}", path.display())))
}

/// Where verdicts and rejects go, and the counts.
struct Sink {
    verdicts: VerdictWriter<BufWriter<Box<dyn Write>>>,
    rejects: Option<RejectWriter<BufWriter<File>>>,
    stage: Option<String>,
    changed: Option<Changed>,
    counts: Counts,
    progress: ProgressBar,
}

/// `--changed`: which transitions to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Changed {
    Any,
    Only(Direction),
}

impl Changed {
    fn from_arg(scorer: &Scorer, arg: Option<&str>) -> Result<Option<Changed>, Failure> {
        let Some(arg) = arg else { return Ok(None) };
        if scorer.rules().current_stage_field().is_none() {
            return Err(Failure::usage(
                "--changed compares with the stage the CRM holds, but the rules do not say where \
                 to read it; add `current_stage: { field: lead_status, map: { ... } }` under `settings`",
            ));
        }
        Ok(Some(match arg {
            "up" => Changed::Only(Direction::Up),
            "down" => Changed::Only(Direction::Down),
            "new" => Changed::Only(Direction::New),
            _ => Changed::Any,
        }))
    }

    fn keeps(self, verdict: &Verdict) -> bool {
        match verdict.transition.as_ref().and_then(Option::as_ref) {
            None => false,
            Some(t) => self == Changed::Any || self == Changed::Only(t.direction),
        }
    }
}

impl leadscore::Sink for Sink {
    fn take(&mut self, outcome: Outcome) -> io::Result<()> {
        self.counts.read += 1;
        if self.counts.read.is_multiple_of(1024) {
            self.progress.set_position(self.counts.read);
        }
        match outcome.result {
            Ok(verdict) => {
                self.counts.scored += 1;
                if keeps(self.stage.as_deref(), self.changed, &verdict) {
                    self.counts.written += 1;
                    self.verdicts.write(&verdict)?;
                }
            }
            Err(rejection) => self.reject(&outcome.position, &rejection.reason, &rejection.raw)?,
        }
        Ok(())
    }

    /// Nothing more is ready: flush, so verdicts of a slow stream are not held back.
    fn idle(&mut self) -> io::Result<()> {
        self.verdicts.flush()
    }
}

impl leadscore::RenderedSink for Sink {
    fn take_batch(&mut self, batch: RenderedBatch) -> io::Result<()> {
        let before = self.counts.read;
        self.counts.read += batch.scored + batch.rejected.len() as u64;
        if before / 1024 != self.counts.read / 1024 {
            self.progress.set_position(self.counts.read);
        }
        self.counts.scored += batch.scored;
        self.counts.written += batch.written;
        self.verdicts.write_rendered(&batch.bytes)?;
        for outcome in batch.rejected {
            if let Err(rejection) = outcome.result {
                self.reject(&outcome.position, &rejection.reason, &rejection.raw)?;
            }
        }
        Ok(())
    }

    fn idle(&mut self) -> io::Result<()> {
        self.verdicts.flush()
    }
}

/// Whether `--stage` and `--changed` keep a verdict.
fn keeps(stage: Option<&str>, changed: Option<Changed>, verdict: &Verdict) -> bool {
    stage.is_none_or(|s| s == &*verdict.stage) && changed.is_none_or(|c| c.keeps(verdict))
}

/// Verdicts that pass the filters, rendered as rows (JSON Lines, a JSON array's
/// elements, CSV, table lines) on the worker that scored them.
struct Filtered {
    rows: Rows,
    stage: Option<String>,
    changed: Option<Changed>,
}

impl leadscore::Render for Filtered {
    fn render(&self, verdict: &Verdict, out: &mut Vec<u8>) -> bool {
        let kept = keeps(self.stage.as_deref(), self.changed, verdict);
        if kept {
            self.rows.write_row(verdict, out);
        }
        kept
    }

    fn id_start(&self) -> Option<&[u8]> {
        // The filters read the stage and the transition, never the id.
        self.rows.id_start()
    }
}

impl Sink {
    fn reject(&mut self, position: &Position, reason: &str, raw: &str) -> io::Result<()> {
        self.counts.rejected += 1;
        if let Some(line) = rejection_notice(
            self.counts.rejected,
            position,
            reason,
            "; use --rejects FILE to keep them",
        ) {
            self.progress.suspend(|| eprintln!("{line}"));
        }
        if let Some(rejects) = &mut self.rejects {
            rejects.write(position, reason, raw)?;
        }
        Ok(())
    }

    fn finish(self) -> io::Result<()> {
        let mut out = self.verdicts.finish()?;
        out.flush()?;
        if let Some(rejects) = self.rejects {
            rejects.finish()?.flush()?;
        }
        Ok(())
    }
}

fn summary(counts: &Counts, filter: Option<&str>) -> String {
    let records = if counts.read == 1 {
        "record"
    } else {
        "records"
    };
    let mut text = format!(
        "read {} {records}: {} scored, {} rejected",
        counts.read, counts.scored, counts.rejected
    );
    if let Some(filter) = filter {
        text.push_str(&format!(", {} {filter} written", counts.written));
    }
    text
}

fn check_stage(scorer: &Scorer, stage: Option<&str>) -> Result<(), Failure> {
    let Some(stage) = stage else { return Ok(()) };
    let stages: Vec<&str> = scorer.rules().stage_ids().collect();
    if stages.contains(&stage) {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "no stage `{stage}` in the rules; the stages are: {}",
            stages.join(", ")
        )))
    }
}

pub(super) fn read_options(delimiter: Option<char>) -> Result<ReadOptions, Failure> {
    let csv_delimiter = match delimiter {
        None => None,
        Some(c) if c.is_ascii() => Some(c as u8),
        Some(c) => {
            return Err(Failure::usage(format!(
                "the delimiter `{c}` is not a single-byte character"
            )));
        }
    };
    Ok(ReadOptions {
        csv_delimiter,
        ..ReadOptions::default()
    })
}

fn output_format(args: &ScoreArgs) -> OutputFormat {
    match args.format.as_deref().and_then(OutputFormat::from_name) {
        Some(f) => f,
        None if !args.stamp && args.output.is_none() && io::stdout().is_terminal() => {
            OutputFormat::Table
        }
        None => OutputFormat::Jsonl,
    }
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {human_pos} records read ({per_sec})")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

//! `leadscore calibrate`: learn the rules' points (and, with a target, the stages'
//! `min_score`) from past leads with a known outcome; report out-of-fold figures and,
//! with `--write`, a copy of the rules folder with only those numbers changed.

use std::path::PathBuf;

use leadscore::calibrate::{CalibrateBuilder, DEFAULT_FOLDS, Options, ReadyTarget, read_rules_dir};

use super::batch::{InputArgs, score_each};
use super::{AsOfArgs, Exit, Failure, RulesArgs, write_stdout};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadscore calibrate --rules examples/x-education/rules --outcome Converted \\
      ../shared/data/x-education-leads/Leads.csv
  leadscore calibrate --rules rules --outcome won --ready-precision 0.8 \\
      --write proposed-rules history.csv
  leadscore diff --rules rules --against proposed-rules history.csv

Each rule's match is a feature of a regularised logistic regression of the outcome; the
weights become integer points in the rules' current score range, and a rule whose weight
is within 1.96 standard errors of zero is proposed at 0. Every AUC, lift, precision and
recall is measured out of fold: points learned on k-1 folds score the fold they never
saw. Outcome values are read as `report --outcome` reads them.")]
pub struct CalibrateArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    as_of: AsOfArgs,
    /// The field holding the known outcome (e.g. `Converted`, `won`).
    #[arg(long, value_name = "FIELD")]
    outcome: String,
    /// Folds for cross-validation.
    #[arg(long, value_name = "K", default_value_t = DEFAULT_FOLDS)]
    folds: usize,
    /// Seeds the shuffle that deals leads into folds (same seed, same figures).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Propose the ready stage's min_score so that this share of ready leads converts
    /// (0 to 1); lower stages keep the share of leads they hold now.
    #[arg(long, value_name = "P", conflicts_with = "ready_share", value_parser = share)]
    ready_precision: Option<f64>,
    /// Propose the ready stage's min_score so that at most this share of leads is
    /// ready (0 to 1); lower stages keep the share of leads they hold now.
    #[arg(long, value_name = "S", value_parser = share)]
    ready_share: Option<f64>,
    /// The lowest stage counted as qualified (default: the stage just above the default
    /// one).
    #[arg(long, value_name = "STAGE")]
    qualified: Option<String>,
    /// Write a copy of the rules folder to OUT_DIR (new or empty) with only the proposed
    /// `points:` (and `min_score:`, with a target) changed; review it with `leadscore diff`.
    #[arg(long, value_name = "OUT_DIR")]
    write: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "table", value_parser = ["table", "json"])]
    format: String,
    /// Also write the backtest charts (ROC, gains, outcome rate per band; current and
    /// proposed points) as one self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "`{text}` is not a share between 0 and 1 (e.g. 0.8)"
        )),
    }
}

pub fn run(args: &CalibrateArgs) -> Result<Exit, Failure> {
    let scorer = args.rules.load()?;
    let sources = read_rules_dir(&args.rules.rules)?;
    let options = Options {
        folds: args.folds,
        seed: args.seed,
        target: match (args.ready_precision, args.ready_share) {
            (Some(p), _) => Some(ReadyTarget::Precision(p)),
            (_, Some(s)) => Some(ReadyTarget::Share(s)),
            _ => None,
        },
        qualified: args.qualified.clone(),
    };
    let as_of = args.as_of.date();
    let mut builder =
        CalibrateBuilder::new(scorer.rules(), &sources, &args.outcome, as_of, options);
    let tally = score_each(&args.input, &[&scorer], as_of, |_, lead, verdicts| {
        if let Some(verdict) = verdicts.first() {
            builder.add(lead, verdict);
        }
        Ok(())
    })?;
    for _ in 0..tally.rejected {
        builder.reject();
    }
    let calibration = builder.finish().map_err(Failure::usage)?;
    if let Some(path) = &args.html {
        let title = match args.input.files.as_slice() {
            [] => "leadscore calibrate".to_string(),
            files => format!("leadscore calibrate: {}", files.join(", ")),
        };
        std::fs::write(path, calibration.to_html(&title))
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    let mut text = match args.format.as_str() {
        "json" => calibration.to_json() + "\n",
        _ => calibration.to_table(),
    };
    if let Some(out) = &args.write {
        let written = calibration.write(&args.rules.rules, out)?;
        let line = format!(
            "wrote the proposal to {} ({} file{} changed); review it with: leadscore diff --rules {} --against {} FILE...",
            out.display(),
            written.len(),
            if written.len() == 1 { "" } else { "s" },
            args.rules.rules.display(),
            out.display()
        );
        if args.format == "json" {
            eprintln!("{line}");
        } else {
            text.push_str(&format!("\n{line}\n"));
        }
    }
    write_stdout(&text)?;
    Ok(tally.exit())
}

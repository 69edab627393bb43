//! `leadscore diff`: what a rule change does to a batch, scored by the old and the new
//! rules side by side.

use std::path::PathBuf;

use leadscore::diff::{DEFAULT_SAMPLES, DEFAULT_TOP, DiffBuilder};
use leadscore::{Rules, Scorer};

use super::batch::{InputArgs, score_each};
use super::{AsOfArgs, Exit, Failure, RulesArgs, write_stdout};

#[derive(Debug, clap::Args)]
#[command(after_help = "Example:
  leadscore diff --rules rules --against my-rules fixtures/leads.jsonl

Prints the stage-to-stage transition matrix (rows: old stage, columns: new stage), each
change of stage with sample lead ids, score changes and the largest moves, and the rules
whose match counts changed.")]
pub struct DiffArgs {
    #[command(flatten)]
    input: InputArgs,
    /// The current rules (OLD).
    #[command(flatten)]
    rules: RulesArgs,
    /// The changed rules folder (NEW).
    #[arg(long, value_name = "DIR")]
    against: PathBuf,
    #[command(flatten)]
    as_of: AsOfArgs,
    /// Sample lead ids shown per change of stage.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SAMPLES)]
    samples: usize,
    /// Largest score moves listed.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TOP)]
    top: usize,
    /// Output format.
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

pub fn run(args: &DiffArgs) -> Result<Exit, Failure> {
    let old = args.rules.load()?;
    let new = Scorer::new(Rules::load_dir(&args.against)?);
    let mut builder = DiffBuilder::new(old.rules(), new.rules())
        .samples(args.samples)
        .top(args.top);
    let tally = score_each(
        &args.input,
        &[&old, &new],
        args.as_of.date(),
        |_, _, verdicts| {
            if let [old, new] = verdicts.as_slice() {
                builder.add(old, new);
            }
            Ok(())
        },
    )?;
    for _ in 0..tally.rejected {
        builder.reject();
    }
    let diff = builder.finish();
    let text = match args.format.as_str() {
        "json" => diff.to_json() + "\n",
        _ => diff.to_table(),
    };
    write_stdout(&text)?;
    Ok(tally.exit())
}

//! `leadscore report`: funnel metrics for a batch, against the published benchmarks and,
//! with `--outcome`, against what really happened; as a table, JSON, or an HTML page.

use std::path::PathBuf;

use leadscore::calibrate::{CalibrateBuilder, Options, read_rules_dir};
use leadscore::report::ReportBuilder;

use super::batch::{InputArgs, score_each};
use super::{AsOfArgs, Exit, Failure, RulesArgs, write_stdout};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadscore report fixtures/leads.jsonl
  leadscore report --rules examples/x-education/rules --outcome Converted \\
      --html report.html ../shared/data/x-education-leads/Leads.csv
  leadscore report --rules examples/x-education/rules --outcome Converted --folds 5 \\
      ../shared/data/x-education-leads/Leads.csv

With --outcome FIELD, these values count as positive (ignoring case): 1, true, t, yes, y,
won, closed won, closed-won, converted, success (and the number 1); any other value is
negative; a lead with no value is left out of the outcome metrics and counted.")]
pub struct ReportArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    as_of: AsOfArgs,
    /// The field holding the known outcome (e.g. `Converted`): adds the base rate, outcome
    /// rate and lift per stage, precision and recall of "qualified", and the ROC AUC.
    #[arg(long, value_name = "FIELD")]
    outcome: Option<String>,
    /// The lowest stage counted as qualified; default the stage just above the default
    /// one (`prospect` in the starter rules).
    #[arg(long, value_name = "STAGE")]
    qualified: Option<String>,
    /// Output format.
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "table", value_parser = ["table", "json"])]
    format: String,
    /// Also write the report as one self-contained HTML page with charts to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// With --outcome: also cross-validate over K folds, comparing the rules' points
    /// with points re-fitted on each K-1 folds and measured on the one left out (as
    /// `leadscore calibrate` does), and with a logistic regression on the rule matches.
    #[arg(long, value_name = "K", requires = "outcome")]
    folds: Option<usize>,
    /// Seeds the shuffle that deals leads into folds (with --folds).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "folds")]
    seed: u64,
}

pub fn run(args: &ReportArgs) -> Result<Exit, Failure> {
    let scorer = args.rules.load()?;
    let mut builder = ReportBuilder::new(scorer.rules());
    if let Some(field) = &args.outcome {
        builder = builder.with_outcome(field);
    }
    if let Some(stage) = &args.qualified {
        builder = builder.with_qualified(stage).map_err(Failure::usage)?;
    }
    let as_of = args.as_of.date();
    let sources = match args.folds {
        Some(_) => read_rules_dir(&args.rules.rules)?,
        None => Vec::new(),
    };
    let mut refit = match (args.folds, &args.outcome) {
        (Some(folds), Some(field)) => Some(CalibrateBuilder::new(
            scorer.rules(),
            &sources,
            field,
            as_of,
            Options {
                folds,
                seed: args.seed,
                target: None,
                qualified: args.qualified.clone(),
            },
        )),
        _ => None,
    };
    let tally = score_each(&args.input, &[&scorer], as_of, |_, lead, verdicts| {
        if let Some(verdict) = verdicts.first() {
            builder.add(lead, verdict);
            if let Some(refit) = &mut refit {
                refit.add(lead, verdict);
            }
        }
        Ok(())
    })?;
    for _ in 0..tally.rejected {
        builder.reject();
    }
    let cross_validated = refit
        .map(|r| r.finish().map_err(Failure::usage))
        .transpose()?;
    let report = builder.finish();
    if let (Some(field), Some(o)) = (&args.outcome, &report.outcome)
        && o.labelled == 0
        && report.leads.scored > 0
    {
        eprintln!(
            "warning: no lead has a value in `{field}`; check the column name (it is matched ignoring case, spaces and underscores)"
        );
    }
    if let Some(path) = &args.html {
        let title = match args.input.files.as_slice() {
            [] => "leadscore report".to_string(),
            files => format!("leadscore report: {}", files.join(", ")),
        };
        std::fs::write(path, report.to_html(&title))
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    let text = match (args.format.as_str(), &cross_validated) {
        ("json", None) => report.to_json() + "\n",
        ("json", Some(c)) => {
            // The report's JSON with one more key.
            let mut value: serde_json::Value =
                serde_json::from_str(&report.to_json()).unwrap_or_default();
            if let serde_json::Value::Object(map) = &mut value {
                map.insert(
                    "cross_validated".into(),
                    serde_json::to_value(&c.cross_validated).unwrap_or_default(),
                );
            }
            serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
        }
        (_, None) => report.to_table(),
        (_, Some(c)) => report.to_table() + c.cross_validated_table().as_str(),
    };
    write_stdout(&text)?;
    Ok(tally.exit())
}

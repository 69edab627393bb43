//! `leadscore convert`: one opportunity per lead ready to convert, attached to an
//! existing account when one matches, written as JSON Lines or CSV; counts on stderr.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use leadscore::convert::{Account, Conversion, Converter, Opportunity};
use leadscore::io::{ReadOptions, open_input};

use super::batch::{InputArgs, score_each};
use super::score::{MAX_REPORTED_REJECTS, create};
use super::{AsOfArgs, Exit, Failure, RulesArgs};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadscore convert fixtures/leads.jsonl
  leadscore convert --accounts accounts.csv --format csv -o opportunities.csv leads.csv

Each lead in the top stage that is not disqualified (`ready_to_convert` in the starter
rules) becomes one opportunity. Its amount comes from `settings.amount` in the rules
(default: the lead's `budget`). With --accounts, it attaches to the existing account whose
domain is the lead's email domain (free mail never matches) or whose name is the lead's
company name once case, punctuation and legal suffixes (Inc, LLC, GmbH, ...) are ignored;
otherwise to a new account (`new-1`, `new-2`, ...), one per company.")]
pub struct ConvertArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    as_of: AsOfArgs,
    /// Existing accounts: CSV, JSON or JSON Lines with `id`, `name`, and optionally
    /// `domain` or `website`.
    #[arg(long, value_name = "FILE")]
    accounts: Option<String>,
    /// Output format.
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "jsonl", value_parser = ["jsonl", "csv"])]
    format: String,
    /// Write opportunities to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Convert leads of this stage instead of the top stage that is not disqualified.
    #[arg(long, value_name = "STAGE")]
    stage: Option<String>,
    /// No summary (rejected records and amount warnings are still reported).
    #[arg(long, short = 'q')]
    quiet: bool,
}

pub fn run(args: &ConvertArgs) -> Result<Exit, Failure> {
    let scorer = args.rules.load()?;
    let accounts = match &args.accounts {
        Some(path) => read_accounts(path)?,
        None => Vec::new(),
    };
    let as_of = args.as_of.date();
    let mut converter = Converter::new(&scorer, accounts, as_of);
    if let Some(stage) = &args.stage {
        converter = converter.with_stage(stage).map_err(Failure::usage)?;
    }
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(create(path)?),
        None => Box::new(io::stdout().lock()),
    };
    let mut writer = OpportunityWriter::new(BufWriter::new(out), args.format == "csv")
        .map_err(|e| Failure::usage(format!("cannot write the output: {e}")))?;
    let mut warned = 0u64;
    let tally = score_each(
        &args.input,
        &[&scorer],
        as_of,
        |position, lead, verdicts| {
            let Some(verdict) = verdicts.first() else {
                return Ok(());
            };
            match converter.convert(lead, verdict) {
                Conversion::NotReady => Ok(()),
                Conversion::Converted {
                    opportunity,
                    amount_problem,
                } => {
                    if let Some(problem) = amount_problem {
                        warned += 1;
                        if warned <= MAX_REPORTED_REJECTS {
                            eprintln!("{position}: warning: {problem}");
                        }
                    }
                    writer.write(&opportunity)
                }
            }
        },
    )?;
    match writer.finish() {
        Err(e) if super::is_broken_pipe(&e) => return Ok(Exit::Ok),
        Err(e) => return Err(Failure::usage(format!("cannot write the output: {e}"))),
        Ok(()) => {}
    }
    if tally.closed {
        return Ok(Exit::Ok);
    }
    let counts = converter.counts();
    if !args.quiet {
        eprintln!(
            "read {} lead{}: {} converted, {} not ready, {} rejected; {} new account{}, {} existing",
            tally.read,
            if tally.read == 1 { "" } else { "s" },
            counts.converted,
            counts.not_ready,
            tally.rejected,
            counts.new_accounts,
            if counts.new_accounts == 1 { "" } else { "s" },
            counts.existing_accounts,
        );
        if counts.without_amount > 0 {
            eprintln!(
                "warning: {} opportunit{} without an amount (null); see `settings.amount` in the rules",
                counts.without_amount,
                if counts.without_amount == 1 {
                    "y"
                } else {
                    "ies"
                }
            );
        }
    }
    Ok(tally.exit())
}

/// Reads existing accounts; a record without an id or a name is skipped with a warning.
fn read_accounts(path: &str) -> Result<Vec<Account>, Failure> {
    let reader = open_input(path, None, &ReadOptions::default())
        .map_err(|e| Failure::usage(format!("cannot read the accounts in {path}: {e}")))?;
    let mut accounts = Vec::new();
    for record in reader {
        match record.lead.and_then(|fields| Account::from_record(&fields)) {
            Ok(account) => accounts.push(account),
            Err(reason) => eprintln!("{}: skipped account: {reason}", record.position),
        }
    }
    Ok(accounts)
}

/// Writes opportunities as JSON Lines or CSV (with a header, even when there are none).
struct OpportunityWriter {
    jsonl: Option<BufWriter<Box<dyn Write>>>,
    csv: Option<csv::Writer<BufWriter<Box<dyn Write>>>>,
}

impl OpportunityWriter {
    fn new(out: BufWriter<Box<dyn Write>>, csv: bool) -> io::Result<OpportunityWriter> {
        if !csv {
            return Ok(OpportunityWriter {
                jsonl: Some(out),
                csv: None,
            });
        }
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(Opportunity::CSV_HEADER)?;
        Ok(OpportunityWriter {
            jsonl: None,
            csv: Some(writer),
        })
    }

    fn write(&mut self, opportunity: &Opportunity) -> io::Result<()> {
        if let Some(out) = &mut self.jsonl {
            writeln!(out, "{}", opportunity.to_json_line())?;
        }
        if let Some(out) = &mut self.csv {
            out.write_record(opportunity.csv_row())?;
        }
        Ok(())
    }

    fn finish(self) -> io::Result<()> {
        if let Some(mut out) = self.jsonl {
            out.flush()?;
        }
        if let Some(out) = self.csv {
            out.into_inner().map_err(|e| e.into_error())?.flush()?;
        }
        Ok(())
    }
}

//! `leadscore explain`: one lead, every rule in order and why, and the stage decision.

use leadscore::io::{InputFormat, ReadOptions, open_input};

use super::{AsOfArgs, Exit, Failure, RulesArgs, write_stdout};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadscore explain fixtures/leads.jsonl --id L-1003
  echo '{\"email\": \"ana@acme.com\", \"budget\": 20000}' | leadscore explain --format json")]
pub struct ExplainArgs {
    /// The file holding the lead; none or `-` reads standard input.
    #[arg(value_name = "FILE", default_value = "-")]
    file: String,
    /// The id of the lead to explain; default the first lead in the input.
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    as_of: AsOfArgs,
    /// Input format; by default from the file extension, else from the content.
    #[arg(long, value_name = "FORMAT", value_parser = ["json", "jsonl", "ndjson", "csv"])]
    input: Option<String>,
    /// `text` for people, `json` for tools.
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

pub fn run(args: &ExplainArgs) -> Result<Exit, Failure> {
    let scorer = args.rules.load()?;
    let as_of = args.as_of.date();
    let format = args.input.as_deref().and_then(InputFormat::from_name);
    let reader = open_input(&args.file, format, &ReadOptions::default())
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", args.file)))?;
    for record in reader {
        let Ok(lead) = &record.lead else {
            if args.id.is_none() {
                let reason = record.lead.err().unwrap_or_default();
                return Err(Failure::usage(format!(
                    "{}: the first record is not a lead: {reason}",
                    record.position
                )));
            }
            continue;
        };
        let mut explanation = scorer.explain(lead, as_of);
        explanation.verdict.name_by(&record.position);
        if let Some(id) = &args.id
            && explanation.verdict.id.to_string() != *id
        {
            continue;
        }
        let text = if args.format == "json" {
            serde_json::to_string_pretty(&explanation).map_err(|e| Failure::usage(e.to_string()))?
                + "\n"
        } else {
            explanation.render()
        };
        write_stdout(&text)?;
        return Ok(Exit::Ok);
    }
    Err(Failure::usage(match &args.id {
        Some(id) => format!("no lead with id `{id}` in {}", args.file),
        None => format!("no lead in {}", args.file),
    }))
}

//! `leadscore replay`: score every lead of a decision log again with a rules folder, as
//! of its logged date, and report per rules hash which verdicts are identical and which
//! differ.

use std::io::BufRead;
use std::path::PathBuf;

use leadscore::Rules;
use leadscore::replay::{DEFAULT_SAMPLES, ReplayBuilder};

use super::{Exit, Failure, RulesArgs, write_stdout};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadscore replay --rules rules /var/log/leadscore/decisions.jsonl
  leadscore replay --rules candidate-rules --format json decisions.jsonl.1 decisions.jsonl

Exit status: 0 when every verdict replays identically, 1 when any differs or a line
cannot be replayed, 2 when the rules or a log file cannot be read.")]
pub struct ReplayArgs {
    #[command(flatten)]
    rules: RulesArgs,
    /// Decision logs written by `leadscore serve --decision-log` (rotated ones too).
    #[arg(value_name = "LOG", required = true)]
    logs: Vec<PathBuf>,
    /// Differing decisions listed per rules hash.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SAMPLES)]
    samples: usize,
    /// Output format.
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

pub fn run(args: &ReplayArgs) -> Result<Exit, Failure> {
    let scorer = args.rules.load()?;
    let hash = Rules::hash_dir(&args.rules.rules)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", args.rules.rules.display())))?;
    let mut builder = ReplayBuilder::new(&scorer, &hash).samples(args.samples);
    for path in &args.logs {
        let file = std::fs::File::open(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
        let mut line = Vec::new();
        for n in 1.. {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    let place = format!("{}:{n}", path.display());
                    return Err(Failure::usage(format!("cannot read {place}: {e}")));
                }
            }
            if line.trim_ascii().is_empty() {
                continue;
            }
            // Bytes that are not UTF-8 make the line fail as JSON, with its position.
            let text = String::from_utf8_lossy(&line);
            builder.add(&format!("{}:{n}", path.display()), &text);
        }
    }
    let replay = builder.finish();
    let text = match args.format.as_str() {
        "json" => serde_json::to_string_pretty(&replay).unwrap_or_default() + "\n",
        _ => replay.render(),
    };
    write_stdout(&text)?;
    Ok(if replay.any_differ() || replay.rejected > 0 {
        Exit::Partial
    } else {
        Exit::Ok
    })
}

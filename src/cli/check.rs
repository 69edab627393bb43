//! `leadscore check`: load and lint the rules folder and its tests; print every problem
//! like a compiler, errors and warnings told apart.

use leadscore::{Error, Rules, TestSuite};

use super::style::Style;
use super::{Exit, Failure, RulesArgs};

#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  leadscore check --rules rules")]
pub struct CheckArgs {
    #[command(flatten)]
    rules: RulesArgs,
}

pub fn run(args: &CheckArgs) -> Result<Exit, Failure> {
    let style = Style::stderr();
    let dir = &args.rules.rules;
    let (loaded, mut diagnostics) = match Rules::load_dir(dir) {
        Ok(rules) => {
            let warnings = rules.warnings().to_vec();
            (Some(rules), warnings)
        }
        Err(Error::Rules(diagnostics)) => (None, diagnostics),
        Err(other) => return Err(other.into()),
    };
    match TestSuite::load_dir(dir.join("tests")) {
        Ok(_) => {}
        Err(Error::Rules(mut problems)) => diagnostics.append(&mut problems),
        Err(other) => return Err(other.into()),
    }
    for d in &diagnostics {
        eprintln!("{}", style.diagnostic(d));
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let counted = format!(
        "{} and {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    match loaded {
        Some(rules) if errors == 0 => {
            let summary = format!(
                "{}: {} rules, {} stages ({counted})",
                dir.display(),
                rules.rule_ids().count(),
                rules.stage_ids().count()
            );
            let interpreted: Vec<&str> = rules.interpreted_rules().collect();
            if !interpreted.is_empty() {
                eprintln!(
                    "note: {} in the Rhai interpreter, several times slower than the rest: {} (README, \"Fast Rhai rules\")",
                    if interpreted.len() == 1 {
                        "1 Rhai rule runs".to_string()
                    } else {
                        format!("{} Rhai rules run", interpreted.len())
                    },
                    interpreted.join(", ")
                );
            }
            eprintln!("{} {summary}", style.ok("ok"));
            Ok(Exit::Ok)
        }
        _ => {
            eprintln!("{}: {}: {counted}", style.error("error"), dir.display());
            Ok(Exit::Usage)
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

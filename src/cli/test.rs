//! `leadscore test`: run the rule test cases kept in the rules folder's `tests/`.

use std::path::PathBuf;

use leadscore::TestSuite;

use super::style::Style;
use super::{AsOfArgs, Exit, Failure, RulesArgs, write_stdout};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  leadscore test --rules rules\n\nA test file (rules/tests/*.yaml):\n  as_of: 2026-11-27\n  cases:\n    - name: a VP with budget and a need is a prospect\n      lead: { email: ana@acme.com, budget: 25000, pain_points: reporting }\n      expect: { stage: prospect, score: { min: 40 }, signals: [need, budget] }"
)]
pub struct TestArgs {
    #[command(flatten)]
    rules: RulesArgs,
    /// The folder of test files; default the rules folder's `tests/`.
    #[arg(long, value_name = "DIR")]
    tests: Option<PathBuf>,
    /// The as-of date for cases whose file sets none; default today (UTC).
    #[command(flatten)]
    as_of: AsOfArgs,
}

pub fn run(args: &TestArgs) -> Result<Exit, Failure> {
    let scorer = args.rules.load()?;
    let dir = args
        .tests
        .clone()
        .unwrap_or_else(|| args.rules.rules.join("tests"));
    let suite = match TestSuite::load_dir(&dir) {
        Ok(suite) => suite,
        Err(leadscore::Error::Rules(problems)) => {
            let style = Style::stderr();
            let shown: String = problems
                .iter()
                .map(|d| style.diagnostic(d) + "\n")
                .collect();
            return Err(Failure::usage(format!(
                "{shown}could not load the rule tests in {}: {} problems",
                dir.display(),
                problems.len()
            )));
        }
        Err(other) => return Err(other.into()),
    };
    if suite.cases().is_empty() {
        eprintln!(
            "no test cases in {}; add a *.yaml file there (see `leadscore test --help`)",
            dir.display()
        );
    }
    let report = suite.run(&scorer, args.as_of.date());
    let style = Style::stdout();
    let text = report.render();
    let colored = if report.failures.is_empty() {
        style.ok(text.trim_end())
    } else {
        text.replace("FAIL", &style.error("FAIL"))
            .trim_end()
            .to_string()
    };
    write_stdout(&(colored + "\n"))?;
    Ok(if report.failures.is_empty() {
        Exit::Ok
    } else {
        Exit::Partial
    })
}

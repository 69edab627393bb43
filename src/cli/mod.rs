//! Defines leadscore's command line: clap arguments per subcommand, turned into library
//! values and calls. Only [`main`] picks exit codes: 0 all scored, 1 records rejected or
//! tests failed, 2 rules or usage error.

mod batch;
mod calibrate;
mod check;
mod convert;
mod diff;
mod explain;
mod init;
mod replay;
mod report;
mod schema;
mod score;
#[cfg(feature = "service")]
mod serve;
mod style;
mod test;
mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use leadscore::{Date, Error, Rules, Scorer};
use style::Style;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything went through.
    Ok = 0,
    /// Some records were rejected, or some rule tests failed.
    Partial = 1,
    /// The rules could not be loaded, or the command was used wrongly.
    Usage = 2,
}

/// A failure that ends the command, with the sentence to print.
#[derive(Debug)]
pub struct Failure {
    message: String,
    exit: Exit,
}

impl Failure {
    /// A usage or rules failure (exit 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            exit: Exit::Usage,
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        let style = Style::stderr();
        let message = match &err {
            Error::Rules(diagnostics) => {
                let mut text: String = diagnostics
                    .iter()
                    .map(|d| style.diagnostic(d) + "\n")
                    .collect();
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                text.push_str(&format!(
                    "could not load the rules: {errors} error{}; run `leadscore check` after fixing them",
                    if errors == 1 { "" } else { "s" }
                ));
                text
            }
            Error::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
                format!(
                    "{} does not exist; check the path (for rules: --rules DIR or LEADSCORE_RULES)",
                    path.display()
                )
            }
            other => other.to_string(),
        };
        Failure {
            message,
            exit: Exit::Usage,
        }
    }
}

/// Scores leads against a team's qualification rules: YAML rules, Rhai scripts and a
/// stage policy kept in a rules folder.
#[derive(Debug, Parser)]
#[command(name = "leadscore", version, about, long_about = None)]
#[command(
    after_help = "Examples:\n  leadscore score fixtures/leads.jsonl\n  leadscore explain fixtures/leads.jsonl --id L-1003\n  leadscore init my-rules && leadscore check --rules my-rules && leadscore test --rules my-rules"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score leads from files or standard input (JSON, JSON Lines or CSV).
    Score(score::ScoreArgs),
    /// Show, for one lead, every rule and why it matched or not, and the stage decision.
    Explain(explain::ExplainArgs),
    /// Load and lint the rules folder; report every problem at once.
    Check(check::CheckArgs),
    /// Run the rule test cases in the rules folder's tests/ subfolder.
    Test(test::TestArgs),
    /// Write a commented starter rules folder that `check` and `test` pass.
    Init(init::InitArgs),
    /// Turn leads ready to convert into opportunities, attached to accounts.
    Convert(convert::ConvertArgs),
    /// Funnel metrics for a batch; with --outcome, how well the rules pick real winners.
    Report(report::ReportArgs),
    /// What a rule change does to a batch: stage transitions and score moves.
    Diff(diff::DiffArgs),
    /// Learn the rules' points from past leads with a known outcome, with out-of-fold
    /// figures; write the proposal to a copy of the rules folder.
    Calibrate(calibrate::CalibrateArgs),
    /// Replay a history of lead updates: when each lead changed stage, and how long it took.
    Timeline(timeline::TimelineArgs),
    /// Score a decision log again and report, per rules hash, which verdicts differ.
    Replay(replay::ReplayArgs),
    /// Print the JSON Schema of rule files, for editors to validate and complete them.
    Schema(schema::SchemaArgs),
    /// Serve scoring over HTTP, reloading the rules when they change.
    #[cfg(feature = "service")]
    Serve(serve::ServeArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  leadscore completions bash > /etc/bash_completion.d/leadscore"
    )]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// The rules folder and as-of date, shared by the subcommands that score.
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// The rules folder.
    #[arg(
        long,
        value_name = "DIR",
        env = "LEADSCORE_RULES",
        default_value = "rules"
    )]
    pub rules: PathBuf,
}

impl RulesArgs {
    /// Loads the rules, printing their warnings.
    pub fn load(&self) -> Result<Scorer, Failure> {
        let rules = Rules::load_dir(&self.rules)?;
        Ok(Scorer::new(rules))
    }
}

/// The date relative dates (`within_days`, `days_since`) are measured from.
#[derive(Debug, clap::Args)]
pub struct AsOfArgs {
    /// Score as of this date (YYYY-MM-DD); default today (UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<Date>,
}

impl AsOfArgs {
    /// The given date, or today's.
    pub fn date(&self) -> Date {
        self.as_of.unwrap_or_else(today)
    }
}

fn parse_date(text: &str) -> Result<Date, String> {
    text.parse()
}

/// Today in UTC: the only place leadscore reads the clock.
fn today() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Date::from_unix_days((secs / 86_400) as i64).unwrap_or(Date::UNIX_EPOCH)
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Score(a) => score::run(&a),
        Command::Explain(a) => explain::run(&a),
        Command::Check(a) => check::run(&a),
        Command::Test(a) => test::run(&a),
        Command::Init(a) => init::run(&a),
        Command::Convert(a) => convert::run(&a),
        Command::Report(a) => report::run(&a),
        Command::Diff(a) => diff::run(&a),
        Command::Calibrate(a) => calibrate::run(&a),
        Command::Timeline(a) => timeline::run(&a),
        Command::Replay(a) => replay::run(&a),
        Command::Schema(a) => schema::run(&a),
        #[cfg(feature = "service")]
        Command::Serve(a) => serve::run(&a),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Args::command(), "leadscore", &mut script);
            write_stdout(&String::from_utf8_lossy(&script)).map(|()| Exit::Ok)
        }
    };
    let exit = match result {
        Ok(exit) => exit,
        Err(failure) => {
            let style = Style::stderr();
            if failure.message.starts_with("error") || failure.message.starts_with("\x1b[") {
                eprintln!("{}", failure.message);
            } else {
                eprintln!("{}: {}", style.error("error"), failure.message);
            }
            failure.exit
        }
    };
    ExitCode::from(exit as u8)
}

/// Writes `text` to standard output. A reader that went away (`| head`) is not a
/// failure; any other write error is.
pub fn write_stdout(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if !is_broken_pipe(&e) => {
            Err(Failure::usage(format!("cannot write the output: {e}")))
        }
        _ => Ok(()),
    }
}

/// True when an I/O error means the reader of our output went away (`| head`): not a
/// failure, as in other Unix tools.
pub fn is_broken_pipe(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::BrokenPipe
}

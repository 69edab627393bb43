//! `leadscore schema`: print the JSON Schema of the rule file format, for editors.

use super::{Exit, Failure, write_stdout};

#[derive(Debug, clap::Args)]
#[command(after_help = "Example:
  leadscore schema > rules/leadscore.schema.json
  (then start a rule file with `# yaml-language-server: $schema=leadscore.schema.json`)")]
pub struct SchemaArgs {}

pub fn run(_: &SchemaArgs) -> Result<Exit, Failure> {
    write_stdout(&leadscore::Rules::json_schema()).map(|()| Exit::Ok)
}

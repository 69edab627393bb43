//! `leadscore init`: write the starter rules folder, the same one this project ships and
//! tests, so it passes `check` and `test` out of the box.

use std::path::{Path, PathBuf};

use super::{Exit, Failure};

/// The starter files, relative to the new folder.
const STARTER: [(&str, &str); 8] = [
    ("fields.yaml", include_str!("../../rules/fields.yaml")),
    ("bant.yaml", include_str!("../../rules/bant.yaml")),
    (
        "engagement.yaml",
        include_str!("../../rules/engagement.yaml"),
    ),
    (
        "disqualifiers.yaml",
        include_str!("../../rules/disqualifiers.yaml"),
    ),
    (
        "engagement.rhai",
        include_str!("../../rules/engagement.rhai"),
    ),
    ("stages.yaml", include_str!("../../rules/stages.yaml")),
    // The rule files name it in their `yaml-language-server` line, for editors.
    (
        "leadscore.schema.json",
        include_str!("../../rules/leadscore.schema.json"),
    ),
    (
        "tests/starter.yaml",
        include_str!("../../rules/tests/starter.yaml"),
    ),
];

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  leadscore init my-rules\n  leadscore check --rules my-rules && leadscore test --rules my-rules"
)]
pub struct InitArgs {
    /// The folder to create.
    #[arg(value_name = "DIR", default_value = "rules")]
    dir: PathBuf,
}

pub fn run(args: &InitArgs) -> Result<Exit, Failure> {
    let dir = &args.dir;
    if dir.exists() && std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_some()) {
        return Err(Failure::usage(format!(
            "{} already exists and is not empty; name a new folder, e.g. `leadscore init my-rules`",
            dir.display()
        )));
    }
    for (name, text) in STARTER {
        write(&dir.join(name), text)?;
    }
    eprintln!(
        "created {} with {} files; next: leadscore check --rules {0}, then leadscore test --rules {0}",
        dir.display(),
        STARTER.len()
    );
    Ok(Exit::Ok)
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::usage(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(path, text)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))
}

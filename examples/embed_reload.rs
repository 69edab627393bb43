//! Embedding with reload: keep the scorer in use behind a lock, load new rules on the
//! side, and swap them in only when they load without errors. Scoring threads clone the
//! current `Scorer` (an `Arc` clone) and finish on the rules they started with.
//! (`leadscore serve` does the same with `arc-swap`, plus a file watcher.)
//!
//! ```sh
//! cargo run --example embed_reload
//! ```

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use leadscore::{Date, Lead, Rules, Scorer};

/// The rules in use, swapped whole.
struct Current {
    scorer: RwLock<Scorer>,
}

impl Current {
    /// The scorer to use for one request: a cheap clone that a reload cannot change.
    fn get(&self) -> Scorer {
        match self.scorer.read() {
            Ok(scorer) => scorer.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Loads `dir`; swaps it in only if it loads. On error the old rules stay.
    fn reload(&self, dir: &Path) -> Result<(), leadscore::Error> {
        let fresh = Scorer::new(Rules::load_dir(dir)?); // checked before the swap
        match self.scorer.write() {
            Ok(mut scorer) => *scorer = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A scratch copy of the starter rules, so this example can edit them.
    let dir = scratch_copy("rules")?;
    let current = Current {
        scorer: RwLock::new(Scorer::new(Rules::load_dir(&dir)?)),
    };
    let as_of = Date::parse("2026-11-27").ok_or("bad date")?;
    let lead = Lead::from_json(serde_json::json!({
        "email": "maria@alpinefoods.es", "budget": 25000, "pain_points": "supplier delays"
    }))?;
    let stage = |c: &Current| c.get().score(&lead, as_of).stage.to_string();
    println!("before:        {}", stage(&current));

    // A good edit: raise the budget threshold. The lead no longer qualifies.
    edit(&dir, "gte: 10000", "gte: 50000")?;
    current.reload(&dir)?;
    println!("after an edit: {}", stage(&current));

    // A broken edit: refused, and the rules in use stay.
    edit(&dir, "gte: 50000", "gtee: 50000")?;
    match current.reload(&dir) {
        Ok(()) => println!("unexpected: the broken rules loaded"),
        Err(e) => {
            let first = e.diagnostics().iter().find(|d| d.is_error());
            println!(
                "refused:       {}",
                first.map_or(e.to_string(), |d| format!("{} {}", d.location(), d.message))
            );
        }
    }
    println!("still:         {}", stage(&current));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn edit(dir: &Path, from: &str, to: &str) -> std::io::Result<()> {
    let path = dir.join("bant.yaml");
    let text = std::fs::read_to_string(&path)?;
    std::fs::write(&path, text.replacen(from, to, 1))
}

fn scratch_copy(from: &str) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("leadscore-embed-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        if let (true, Some(name)) = (path.is_file(), path.file_name()) {
            std::fs::copy(&path, dir.join(name))?;
        }
    }
    Ok(dir)
}

//! What names a rules folder in a verdict stamp: the hash of its rule files, and
//! `settings.version` when the folder sets one. `leadscore serve` shows the same hash at
//! `/v1/rules` and in `X-Leadscore-Rules`, and the decision log records it, so a stamped
//! verdict can be traced to the exact files that made it.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Rules, is_rule_file};

impl Rules {
    /// `settings.version`, when the rules set one.
    ///
    /// ```
    /// let rules = leadscore::Rules::from_sources(vec![(
    ///     "s.yaml".into(),
    ///     "settings: { version: \"2026-03\" }\nstages:\n  - id: lead\n".into(),
    /// )])?;
    /// assert_eq!(rules.version(), Some("2026-03"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn version(&self) -> Option<&str> {
        self.settings.version.as_deref()
    }

    /// `sha256:` and the hex digest of the rule files of `dir` (the files
    /// [`Rules::load_dir`] reads), in name order: each file's name, a NUL, its length (8
    /// bytes, little-endian) and its bytes. Any edit to a rule file changes it; other
    /// files (notes, `tests/`) do not.
    ///
    /// ```
    /// let hash = leadscore::Rules::hash_dir("rules")?;
    /// assert!(hash.starts_with("sha256:") && hash.len() == 71);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// When the folder or a file in it cannot be read.
    pub fn hash_dir(dir: impl AsRef<Path>) -> io::Result<String> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|p| p.is_file() && is_rule_file(p))
            .collect();
        paths.sort();
        let mut hasher = Sha256::new();
        for path in paths {
            // A file removed between the listing and here is simply not part of the folder.
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let name = path
                .file_name()
                .map(|n| n.as_encoded_bytes())
                .unwrap_or(b"");
            hasher.update(name);
            hasher.update([0]);
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
        Ok(hex("sha256:", &hasher.finalize()))
    }
}

/// `prefix` and the bytes in lowercase hex.
pub(crate) fn hex(prefix: &str, bytes: &[u8]) -> String {
    let mut out = String::with_capacity(prefix.len() + bytes.len() * 2);
    out.push_str(prefix);
    for byte in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_rule_files_only() {
        let dir = std::env::temp_dir().join(format!("leadscore-hash-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tests")).unwrap();
        std::fs::write(dir.join("a.yaml"), "rules: []\n").unwrap();
        let first = Rules::hash_dir(&dir).unwrap();
        assert!(first.starts_with("sha256:") && first.len() == 71, "{first}");
        std::fs::write(dir.join("notes.txt"), "x").unwrap();
        std::fs::write(dir.join(".a.yaml.swp"), "x").unwrap();
        std::fs::write(dir.join("tests/t.yaml"), "x").unwrap();
        assert_eq!(Rules::hash_dir(&dir).unwrap(), first);
        std::fs::write(dir.join("a.yaml"), "rules: [] \n").unwrap();
        assert_ne!(Rules::hash_dir(&dir).unwrap(), first);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_version_comes_from_settings() {
        let load = |settings: &str| {
            Rules::from_sources(vec![(
                "s.yaml".into(),
                format!("{settings}stages:\n  - id: lead\n"),
            )])
        };
        assert_eq!(load("").unwrap().version(), None);
        let rules = load("settings: { version: \"v7\" }\n").unwrap();
        assert_eq!(rules.version(), Some("v7"));
        let Err(crate::Error::Rules(problems)) = load("settings: { version: 7 }\n") else {
            panic!("an unquoted number is not a version");
        };
        assert!(
            problems[0].message.contains("expected a version in quotes"),
            "{problems:?}"
        );
    }
}

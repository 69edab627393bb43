//! Reading a rules folder's files and writing a proposal: a copy of the folder in
//! which only the changed numbers differ.

use std::path::{Path, PathBuf};

use super::Calibration;
use crate::error::Error;
use crate::rules::Rules;

/// Reads a rules folder's files as [`Rules::load_dir`] loads them (`*.yaml`, `*.yml`,
/// `*.rhai` directly in `dir`, by name), for [`CalibrateBuilder::new`](super::CalibrateBuilder::new).
///
/// # Errors
/// [`Error::Io`] when the folder or a file cannot be read.
pub fn read_rules_dir(dir: impl AsRef<Path>) -> Result<Vec<(PathBuf, String)>, Error> {
    let dir = dir.as_ref();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.is_file() && crate::rules::is_rule_file(p))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(io(&p))?;
            Ok((p, text))
        })
        .collect()
}

impl Calibration {
    /// Writes the proposal: a copy of `rules_dir` (with its subfolders, such as
    /// `tests/`) at `out_dir`, where only the changed numbers differ. Returns the files
    /// changed. The copy is loaded back as a check.
    ///
    /// # Errors
    /// [`Error::Io`] when `out_dir` exists and is not empty (a proposal never
    /// overwrites anything) or when copying fails; [`Error::Rules`] if the written
    /// rules do not load (which would be a bug: only numbers change).
    pub fn write(&self, rules_dir: &Path, out_dir: &Path) -> Result<Vec<PathBuf>, Error> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        if out_dir
            .read_dir()
            .is_ok_and(|mut entries| entries.next().is_some())
        {
            return Err(Error::Io {
                path: out_dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the folder exists and is not empty; write the proposal to a new folder",
                ),
            });
        }
        copy_dir(rules_dir, out_dir)?;
        let mut written = Vec::new();
        for (path, text) in &self.changed_files {
            let relative = path.strip_prefix(rules_dir).unwrap_or(path);
            let target = out_dir.join(relative.file_name().map_or(relative, Path::new));
            std::fs::write(&target, text).map_err(io(&target))?;
            written.push(target);
        }
        Rules::load_dir(out_dir)?;
        Ok(written)
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(from)
        .map_err(io(from))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for entry in entries {
        let Some(name) = entry.file_name() else {
            continue;
        };
        let target = to.join(name);
        if entry.is_dir() {
            copy_dir(&entry, &target)?;
        } else {
            std::fs::copy(&entry, &target).map_err(io(&entry))?;
        }
    }
    Ok(())
}

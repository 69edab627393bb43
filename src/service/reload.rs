//! Hot reload: load a rules folder into a [`Snapshot`] named by the hash of its files,
//! and watch the folder (file events, debounced, and SIGHUP) to load and check new rules
//! before they are swapped in. A broken edit never takes effect.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::date::Date;
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::rules::Rules;
use crate::scorer::Scorer;

use super::Service;

/// Quiet time after the last file event before reloading: an editor's save is often
/// several events (write, rename, chmod), and a `git checkout` touches many files.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Loads tried when the folder keeps changing while it is read.
const LOAD_ATTEMPTS: usize = 5;

/// Loaded rules and what names them.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub scorer: Scorer,
    /// `sha256:` and the hex digest of the rule files' names and contents.
    pub hash: String,
    /// When the rules were loaded, RFC 3339 UTC.
    pub loaded_at: String,
    /// The same, in Unix seconds.
    pub loaded_unix: u64,
}

/// A reload that was refused, as `/v1/rules` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadFailure {
    /// When the reload was tried, RFC 3339 UTC.
    pub at: String,
    /// The hash of the refused folder contents, when they could be read.
    pub hash: Option<String>,
    /// What went wrong, in one line.
    pub message: String,
    /// Every problem, errors and warnings, with `file:line:col`.
    pub diagnostics: Vec<Problem>,
}

/// One problem in a rule file, as the service reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `error` or `warning`.
    pub severity: String,
    /// `file:line:col`.
    pub location: String,
    /// What is wrong.
    pub message: String,
    /// A likely fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The problem rendered with its source line and a caret, as `leadscore check` prints it.
    pub rendered: String,
}

impl From<&Diagnostic> for Problem {
    fn from(d: &Diagnostic) -> Problem {
        Problem {
            severity: d.severity.to_string(),
            location: d.location(),
            message: d.message.clone(),
            help: d.help.clone(),
            rendered: d.render(),
        }
    }
}

/// Loads the folder and names it by its hash. The hash is taken before and after the
/// load, and the load retried if they differ, so the hash always names what was loaded.
pub(crate) fn load(dir: &Path) -> Result<Snapshot, (Error, Option<String>)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let before = hash_dir(dir).map_err(|e| (io_error(dir, e), None))?;
        let loaded = Rules::load_dir(dir);
        let after = hash_dir(dir).map_err(|e| (io_error(dir, e), None))?;
        if before != after && attempt < LOAD_ATTEMPTS {
            continue;
        }
        let (loaded_unix, loaded_at) = now();
        return match loaded {
            Ok(rules) => Ok(Snapshot {
                scorer: Scorer::new(rules),
                hash: after,
                loaded_at,
                loaded_unix,
            }),
            Err(e) => Err((e, Some(after))),
        };
    }
}

fn io_error(dir: &Path, source: io::Error) -> Error {
    Error::Io {
        path: dir.to_path_buf(),
        source,
    }
}

/// The files `Rules::load_dir` reads: `*.yaml`, `*.yml`, `*.rhai` directly in the
/// folder, not hidden.
fn is_rule_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = path.extension().and_then(|e| e.to_str());
    !name.starts_with('.') && matches!(ext, Some("yaml" | "yml" | "rhai"))
}

/// `sha256:HEX` of the rule files in name order: each file's name, a NUL, its length
/// (8 bytes, little-endian) and its bytes.
pub(crate) fn hash_dir(dir: &Path) -> io::Result<String> {
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
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    Ok(hex)
}

/// Now, in Unix seconds and as RFC 3339 UTC (`2026-01-15T09:30:00Z`).
pub(crate) fn now() -> (u64, String) {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs, rfc3339(secs))
}

/// Formats Unix seconds as RFC 3339 UTC.
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let date = Date::from_unix_days(days).unwrap_or(Date::UNIX_EPOCH);
    let (year, month, day) = date.ymd();
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Watches the rules folder and reloads on changes and on SIGHUP, until dropped.
///
/// Made by [`Service::watch`].
#[derive(Debug)]
pub struct Watcher {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching; must run inside a tokio runtime. A folder that cannot be watched is
/// logged, and SIGHUP still reloads.
pub(crate) fn watch(service: &Service) -> Watcher {
    let (tx, rx) = mpsc::channel::<()>(1);
    let folder = absolute(service.rules_dir());
    let watcher = start_watching(&folder, tx.clone());
    let hangup = hangup(tx);
    let service = service.clone();
    let task = tokio::spawn(async move {
        // Owned here so the signal listener lives as long as the task.
        let _hangup = hangup;
        reload_loop(service, rx, watcher, folder).await;
    });
    Watcher { task }
}

/// The folder as the watcher names it in events: joined to the working directory, with
/// symlinks left alone (a symlink switched to a new release is a replaced folder too).
fn absolute(dir: &Path) -> PathBuf {
    std::env::current_dir().map_or_else(|_| dir.to_path_buf(), |cwd| cwd.join(dir))
}

/// Watches the folder for its rule files, and the folder's parent for the folder itself
/// being removed, created or renamed: a watch follows the folder it was put on, so after
/// `rm -rf rules && cp -r new rules`, a `git checkout` or a symlink switch, only the
/// parent still sees what happens at the folder's path.
fn start_watching(folder: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let target = folder.to_path_buf();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.as_ref().map_or(true, |e| relevant(e, &target)) {
            // A full channel already holds a pending reload, which will see this change.
            let _ = tx.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(
                dir = %folder.display(),
                "cannot watch the rules folder ({e}); reload with SIGHUP"
            );
            return None;
        }
    };
    if let Err(e) = watcher.watch(folder, notify::RecursiveMode::NonRecursive) {
        tracing::warn!(
            dir = %folder.display(),
            "cannot watch the rules folder ({e}); reload with SIGHUP"
        );
    }
    if let Some(parent) = folder.parent()
        && let Err(e) = watcher.watch(parent, notify::RecursiveMode::NonRecursive)
    {
        tracing::warn!(
            dir = %parent.display(),
            "cannot watch the folder holding the rules ({e}); after replacing the rules folder, reload with SIGHUP"
        );
    }
    Some(watcher)
}

/// Watches the folder afresh before a load: the old watch may be on a folder that was
/// removed or renamed away. Watching before loading loses nothing: a change made before
/// the watch is in the load, one made after it is an event.
fn rewatch(watcher: &mut notify::RecommendedWatcher, folder: &Path) {
    use notify::Watcher as _;
    // Fails when the watch went with a removed folder; nothing to undo then.
    let _ = watcher.unwatch(folder);
    if let Err(e) = watcher.watch(folder, notify::RecursiveMode::NonRecursive) {
        // A missing folder: the load reports it, and the parent's watch sees it return.
        tracing::debug!(dir = %folder.display(), "cannot watch the rules folder: {e}");
    }
}

/// File events that may change the rules: a rule file in the folder written, created,
/// renamed or removed, or the folder itself (seen from its parent). Reads are not (our
/// own load would retrigger itself), nor anything else in the parent folder.
fn relevant(event: &notify::Event, folder: &Path) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    let kind = matches!(
        event.kind,
        EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Remove(_)
            | EventKind::Any
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    );
    kind && (event.paths.is_empty()
        || event
            .paths
            .iter()
            .any(|p| p == folder || (p.parent() == Some(folder) && is_rule_file(p))))
}

#[cfg(unix)]
fn hangup(tx: mpsc::Sender<()>) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(mut hup) => Some(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the rules");
                let _ = tx.try_send(());
            }
        })),
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP: {e}");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup(_: mpsc::Sender<()>) -> Option<tokio::task::JoinHandle<()>> {
    None
}

async fn reload_loop(
    service: Service,
    mut rx: mpsc::Receiver<()>,
    mut watcher: Option<notify::RecommendedWatcher>,
    folder: PathBuf,
) {
    while rx.recv().await.is_some() {
        // Wait for the folder to go quiet.
        while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
        if let Some(watcher) = watcher.as_mut() {
            rewatch(watcher, &folder);
        }
        let svc = service.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || svc.reload()).await {
            tracing::error!("the reload task failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_768_469_445), "2026-01-15T09:30:45Z");
    }

    #[test]
    fn the_hash_covers_rule_files_only() {
        let dir = std::env::temp_dir().join(format!("leadscore-hash-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tests")).unwrap();
        std::fs::write(dir.join("a.yaml"), "rules: []\n").unwrap();
        let first = hash_dir(&dir).unwrap();
        assert!(first.starts_with("sha256:") && first.len() == 71, "{first}");
        std::fs::write(dir.join("notes.txt"), "x").unwrap();
        std::fs::write(dir.join(".a.yaml.swp"), "x").unwrap();
        std::fs::write(dir.join("tests/t.yaml"), "x").unwrap();
        assert_eq!(hash_dir(&dir).unwrap(), first);
        std::fs::write(dir.join("a.yaml"), "rules: [] \n").unwrap();
        assert_ne!(hash_dir(&dir).unwrap(), first);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_the_folder_and_its_rule_files_trigger_a_reload() {
        use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, ModifyKind};
        use notify::{Event, EventKind};
        let folder = Path::new("/srv/app/./rules");
        let event = |kind: EventKind, path: &str| Event::new(kind).add_path(PathBuf::from(path));
        let create = EventKind::Create(CreateKind::Folder);
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        for (event, want) in [
            // The folder created again, seen from its parent.
            (event(create, "/srv/app/rules"), true),
            (event(write, "/srv/app/rules/bant.yaml"), true),
            (event(write, "/srv/app/rules/score.rhai"), true),
            // The parent's other entries: a log written next to the folder must not
            // reload (each reload logs).
            (event(write, "/srv/app/serve.log"), false),
            (event(create, "/srv/app/rules2"), false),
            (event(write, "/srv/app/bant.yaml"), false),
            (event(write, "/srv/app/rules/notes.txt"), false),
            (event(write, "/srv/app/rules/tests/t.yaml"), false),
            // Our own reads.
            (
                event(
                    EventKind::Access(AccessKind::Open(AccessMode::Any)),
                    "/srv/app/rules",
                ),
                false,
            ),
            // An overflow: anything may have changed.
            (Event::new(EventKind::Any), true),
        ] {
            assert_eq!(relevant(&event, folder), want, "{event:?}");
        }
    }
}

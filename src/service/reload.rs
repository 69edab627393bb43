//! Hot reload: load a rules folder into a [`Snapshot`] named by the hash of its files,
//! and watch the folder (file events, debounced, and SIGHUP) to load and check new rules
//! before they are swapped in. A broken edit never takes effect.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use axum::http::HeaderValue;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::date::Date;
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::rules::Rules;
use crate::scorer::Scorer;

use super::metrics::Metrics;
use super::{RulesStatus, lock};

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
    /// The hash as the `X-Leadscore-Rules` header value, made once.
    pub header: HeaderValue,
}

/// A rules folder served: the rules in use, swapped whole when the folder reloads, and
/// the last refused reload.
#[derive(Debug)]
pub(crate) struct RuleSet {
    /// The rule set's name in `--rules NAME=DIR`; `None` for the unnamed one.
    pub name: Option<Arc<str>>,
    pub dir: PathBuf,
    /// The rules in use. A request takes a reference when it starts and keeps it, so a
    /// reload never changes the rules under a request in flight.
    pub current: ArcSwap<Snapshot>,
    last_failure: Mutex<Option<ReloadFailure>>,
    /// One reload at a time, so a slow load cannot overwrite a newer one.
    reloading: Mutex<()>,
}

impl RuleSet {
    /// Loads the folder; broken rules are an error.
    pub(crate) fn load(name: Option<Arc<str>>, dir: &Path) -> Result<RuleSet, Error> {
        let snapshot = load(dir).map_err(|(e, _)| e)?;
        Ok(RuleSet {
            name,
            dir: dir.to_path_buf(),
            current: ArcSwap::from_pointee(snapshot),
            last_failure: Mutex::new(None),
            reloading: Mutex::new(()),
        })
    }

    /// Loads the folder again and swaps it in when it loads without errors and differs
    /// from the rules in use: `Ok(true)`. `Ok(false)`: unchanged. An error keeps the
    /// rules in use, logs every problem and keeps the failure for [`RuleSet::status`].
    /// `metrics`, when given, counts the reload or the refusal before either is visible,
    /// so whoever sees the new rules (or the failure) also sees it counted.
    pub(crate) fn reload(&self, metrics: Option<&Metrics>) -> Result<bool, Error> {
        let _one_at_a_time = lock(&self.reloading);
        let dir = self.dir.display().to_string();
        let current_hash = self.current.load().hash.clone();
        match load(&self.dir) {
            Ok(snapshot) if snapshot.hash == current_hash => {
                if lock(&self.last_failure).take().is_some() {
                    tracing::info!(dir, hash = %current_hash, "the rules folder is back to the rules in use");
                } else {
                    tracing::debug!(dir, hash = %current_hash, "the rules folder is unchanged");
                }
                Ok(false)
            }
            Ok(snapshot) => {
                for warning in snapshot.scorer.rules().warnings() {
                    tracing::warn!(location = %warning.location(), "{}", warning.message);
                }
                tracing::info!(
                    dir,
                    hash = %snapshot.hash,
                    previous = %current_hash,
                    rules = snapshot.scorer.rules().rule_ids().count(),
                    "reloaded the rules"
                );
                // Clear the error before the swap: a status read in between then shows
                // the old rules without an error, never the new rules with a stale one.
                *lock(&self.last_failure) = None;
                if let Some(metrics) = metrics {
                    metrics.reloaded();
                }
                self.current.store(Arc::new(snapshot));
                Ok(true)
            }
            Err((error, hash)) => {
                let failure = failure(&error, hash);
                for d in error.diagnostics() {
                    let help = d.help.as_deref().unwrap_or("");
                    match d.is_error() {
                        true => tracing::error!(location = %d.location(), help, "{}", d.message),
                        false => tracing::warn!(location = %d.location(), help, "{}", d.message),
                    }
                }
                tracing::error!(
                    dir,
                    keeping = %current_hash,
                    "reload refused, the rules in use stay: {}",
                    failure.message
                );
                if let Some(metrics) = metrics {
                    metrics.reload_failed();
                }
                *lock(&self.last_failure) = Some(failure);
                Err(error)
            }
        }
    }

    /// What is loaded, as `GET /v1/rules` shows it.
    pub(crate) fn status(&self) -> RulesStatus {
        let snapshot = self.current.load_full();
        let rules = snapshot.scorer.rules();
        RulesStatus {
            name: self.name.as_deref().map(str::to_string),
            dir: self.dir.display().to_string(),
            hash: snapshot.hash.clone(),
            loaded_at: snapshot.loaded_at.clone(),
            rules: rules.rule_ids().count(),
            rule_ids: rules.rule_ids().map(str::to_string).collect(),
            stages: rules.stage_ids().map(str::to_string).collect(),
            warnings: rules.warnings().iter().map(Problem::from).collect(),
            last_reload_error: lock(&self.last_failure).clone(),
        }
    }
}

fn failure(error: &Error, hash: Option<String>) -> ReloadFailure {
    let (_, at) = now();
    let diagnostics: Vec<Problem> = error.diagnostics().iter().map(Problem::from).collect();
    let message = match error {
        Error::Rules(d) => {
            let errors = d.iter().filter(|d| d.is_error()).count();
            let first = d.iter().find(|d| d.is_error());
            format!(
                "{errors} error{} in the rules{}",
                if errors == 1 { "" } else { "s" },
                first.map_or(String::new(), |d| format!(
                    ", first: {}: {}",
                    d.location(),
                    d.message
                ))
            )
        }
        other => other.to_string(),
    };
    ReloadFailure {
        at,
        hash,
        message,
        diagnostics,
    }
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
        let before = Rules::hash_dir(dir).map_err(|e| (io_error(dir, e), None))?;
        let loaded = Rules::load_dir(dir);
        let after = Rules::hash_dir(dir).map_err(|e| (io_error(dir, e), None))?;
        if before != after && attempt < LOAD_ATTEMPTS {
            continue;
        }
        let (loaded_unix, loaded_at) = now();
        return match loaded {
            Ok(rules) => Ok(Snapshot {
                scorer: Scorer::new(rules),
                // A hash is `sha256:` and hex digits: always a valid header value.
                header: HeaderValue::from_str(&after)
                    .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
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

/// Now, in Unix seconds and as RFC 3339 UTC (`2026-01-15T09:30:00Z`).
pub(crate) fn now() -> (u64, String) {
    let secs = unix_now();
    (secs, rfc3339(secs))
}

/// Now, in Unix seconds (without the text of [`now`], which per request is waste).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

/// Watches the rules folders and reloads on changes and on SIGHUP, until dropped.
///
/// Made by [`Service::watch`](super::Service::watch).
#[derive(Debug)]
pub struct Watcher {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Watcher {
    /// Keeps `other`'s watches too.
    pub(crate) fn also(&mut self, mut other: Watcher) {
        self.tasks.append(&mut other.tasks);
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts watching `dir`, calling `reload` (on a blocking thread) after changes and on
/// SIGHUP; must run inside a tokio runtime. A folder that cannot be watched is logged,
/// and SIGHUP still reloads.
pub(crate) fn watch(dir: &Path, reload: impl Fn() + Send + Sync + 'static) -> Watcher {
    let (tx, rx) = mpsc::channel::<()>(1);
    let folder = absolute(dir);
    let watcher = start_watching(&folder, tx.clone());
    let hangup = hangup(tx);
    let reload = Arc::new(reload);
    let task = tokio::spawn(async move {
        // Owned here so the signal listener lives as long as the task.
        let _hangup = hangup;
        reload_loop(reload, rx, watcher, folder).await;
    });
    Watcher { tasks: vec![task] }
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
    reload: Arc<impl Fn() + Send + Sync + 'static>,
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
        let reload = Arc::clone(&reload);
        if let Err(e) = tokio::task::spawn_blocking(move || reload()).await {
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

//! The HTTP scoring service behind `leadscore serve`: routes that score and explain leads,
//! report the loaded rules and metrics, and hot reload of the rules folder that never
//! lets a broken edit take effect. Built on axum and tokio; on by default as the
//! `service` cargo feature.
//!
//! ```no_run
//! use leadscore::service::{Config, Service, shutdown_signal};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let service = Service::load(Config::new("rules"))?; // Err lists every problem, file:line:col
//! let _watcher = service.watch();                     // reload when a rule file changes
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! service.serve(listener, shutdown_signal()?).await?; // until SIGTERM or SIGINT
//! # Ok(())
//! # }
//! ```
//!
//! Routes: `POST /v1/score` (one lead, a JSON array, or JSON Lines), `POST /v1/explain`,
//! `GET /v1/rules`, `GET /healthz`, `GET /metrics`. [`Service::router`] gives them as an
//! axum `Router` to mount in a larger application.

mod budget;
mod connection;
mod metrics;
mod reload;
mod routes;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::date::Date;
use crate::error::Error;
use budget::BodyBudget;
use metrics::Metrics;
use reload::Snapshot;

pub use reload::{Problem, ReloadFailure, Watcher};

/// The default limit on a request body: 10 MiB.
pub const DEFAULT_MAX_BODY: usize = 10 * 1024 * 1024;

/// Longest a request may take, body upload included, by default: a client that sends
/// its body too slowly gets a 408 instead of holding a connection and a task forever.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Connections open at once, by default. More wait in the kernel's listen backlog until
/// one closes, so a flood of connections cannot use up the process's file descriptors.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Bytes of request bodies held at once across all requests, by default: 25 bodies of the
/// largest default size, however many connections are open.
pub const DEFAULT_MAX_BODY_TOTAL: usize = 256 * 1024 * 1024;

/// How long a connection may stay open without a request in progress, by default: time
/// to send a request's headers, to send the next request on a kept-alive connection, or
/// for a response to make progress. Past it the connection is closed, so clients that
/// dribble their headers (slowloris) or sit idle cannot hold the connection slots.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long requests in flight may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How the service runs. Made by [`Config::new`], then adjusted field by field (it may
/// gain fields, so it cannot be written as a struct literal outside the crate).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The rules folder.
    pub rules_dir: PathBuf,
    /// Score as of this date; `None` is today (UTC), read per request.
    pub as_of: Option<Date>,
    /// Request bodies over this many bytes are refused with 413.
    pub max_body: usize,
    /// Bytes of request bodies held at once across all requests; a request whose body
    /// does not fit waits for room (bounded by `request_timeout`).
    pub max_body_total: usize,
    /// Requests still unanswered after this long (a slow client) get a 408.
    pub request_timeout: std::time::Duration,
    /// Connections served at once; more wait, not accepted, until one closes.
    pub max_connections: usize,
    /// Connections without a request in progress for this long are closed.
    pub idle_timeout: Duration,
}

impl Config {
    /// Serves `rules_dir` as of today, with the default limits and timeouts.
    pub fn new(rules_dir: impl Into<PathBuf>) -> Config {
        Config {
            rules_dir: rules_dir.into(),
            as_of: None,
            max_body: DEFAULT_MAX_BODY,
            max_body_total: DEFAULT_MAX_BODY_TOTAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// The scoring service: the rules in use, swapped atomically on reload, and the
/// counters. Cheap to clone: clones share everything.
#[derive(Clone)]
pub struct Service {
    state: Arc<State>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("config", &self.state.config)
            .field("hash", &self.state.current.load().hash)
            .finish()
    }
}

pub(crate) struct State {
    config: Config,
    /// The rules in use. A request takes a reference when it starts and keeps it, so a
    /// reload never changes the rules under a request in flight.
    current: ArcSwap<Snapshot>,
    last_failure: Mutex<Option<ReloadFailure>>,
    /// One reload at a time, so a slow load cannot overwrite a newer one.
    reloading: Mutex<()>,
    metrics: Metrics,
    /// Room for request bodies across all requests.
    bodies: BodyBudget,
}

/// What is loaded, as `GET /v1/rules` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct RulesStatus {
    /// The rules folder.
    pub dir: String,
    /// `sha256:` and the digest of the rule files' names and contents.
    pub hash: String,
    /// When these rules were loaded, RFC 3339 UTC.
    pub loaded_at: String,
    /// The number of rules.
    pub rules: usize,
    /// Rule ids in evaluation order.
    pub rule_ids: Vec<String>,
    /// Stage ids, top to bottom.
    pub stages: Vec<String>,
    /// Problems that do not stop the rules from working.
    pub warnings: Vec<Problem>,
    /// The last refused reload, if the folder has not been loaded successfully since.
    pub last_reload_error: Option<ReloadFailure>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Service {
    /// Loads the rules folder and makes a service for it.
    ///
    /// # Errors
    /// [`Error::Rules`] with every problem, or [`Error::Io`], when the folder does not
    /// load: the service never starts on broken rules.
    pub fn load(config: Config) -> Result<Service, Error> {
        let snapshot = reload::load(&config.rules_dir).map_err(|(e, _)| e)?;
        Ok(Service {
            state: Arc::new(State {
                bodies: BodyBudget::new(config.max_body_total),
                config,
                current: ArcSwap::from_pointee(snapshot),
                last_failure: Mutex::new(None),
                reloading: Mutex::new(()),
                metrics: Metrics::default(),
            }),
        })
    }

    /// The rules folder served.
    pub fn rules_dir(&self) -> &Path {
        &self.state.config.rules_dir
    }

    /// Loads the folder again and, when it loads without errors and differs from the
    /// rules in use, swaps it in; requests in flight finish on the rules they started
    /// with. Blocks while loading (call it from a blocking thread in async code).
    ///
    /// Returns `Ok(true)` when new rules took effect, `Ok(false)` when the folder is
    /// unchanged.
    ///
    /// # Errors
    /// When the new rules do not load: the rules in use stay, and the problems are
    /// logged and shown by [`Service::status`] until a later reload succeeds.
    pub fn reload(&self) -> Result<bool, Error> {
        let _one_at_a_time = lock(&self.state.reloading);
        let dir = &self.state.config.rules_dir;
        let current_hash = self.state.current.load().hash.clone();
        match reload::load(dir) {
            Ok(snapshot) if snapshot.hash == current_hash => {
                if lock(&self.state.last_failure).take().is_some() {
                    tracing::info!(hash = %current_hash, "the rules folder is back to the rules in use");
                } else {
                    tracing::debug!(hash = %current_hash, "the rules folder is unchanged");
                }
                Ok(false)
            }
            Ok(snapshot) => {
                for warning in snapshot.scorer.rules().warnings() {
                    tracing::warn!(location = %warning.location(), "{}", warning.message);
                }
                tracing::info!(
                    hash = %snapshot.hash,
                    previous = %current_hash,
                    rules = snapshot.scorer.rules().rule_ids().count(),
                    "reloaded the rules"
                );
                // Clear the error before the swap: a status read in between then shows
                // the old rules without an error, never the new rules with a stale one.
                *lock(&self.state.last_failure) = None;
                self.state.current.store(Arc::new(snapshot));
                self.state.metrics.reloaded();
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
                    keeping = %current_hash,
                    "reload refused, the rules in use stay: {}",
                    failure.message
                );
                *lock(&self.state.last_failure) = Some(failure);
                self.state.metrics.reload_failed();
                Err(error)
            }
        }
    }

    /// What is loaded: hash, load time, rules, stages, warnings and the last refused
    /// reload.
    pub fn status(&self) -> RulesStatus {
        let snapshot = self.state.current.load_full();
        let rules = snapshot.scorer.rules();
        RulesStatus {
            dir: self.state.config.rules_dir.display().to_string(),
            hash: snapshot.hash.clone(),
            loaded_at: snapshot.loaded_at.clone(),
            rules: rules.rule_ids().count(),
            rule_ids: rules.rule_ids().map(str::to_string).collect(),
            stages: rules.stage_ids().map(str::to_string).collect(),
            warnings: rules.warnings().iter().map(Problem::from).collect(),
            last_reload_error: lock(&self.state.last_failure).clone(),
        }
    }

    /// Watches the rules folder and reloads when a rule file changes (after a short
    /// quiet time) or the process gets SIGHUP, until the returned [`Watcher`] is
    /// dropped. Must be called inside a tokio runtime.
    pub fn watch(&self) -> Watcher {
        reload::watch(self)
    }

    /// The routes, as an axum `Router` with its state applied. Served by your own
    /// server, the connection cap and idle timeout of [`Service::serve`] are yours to set.
    pub fn router(&self) -> axum::Router {
        routes::router(Arc::clone(&self.state))
    }

    /// Serves HTTP on `listener` until `shutdown` completes, then stops accepting
    /// connections and lets requests in flight finish (for at most 30 seconds).
    ///
    /// At most [`Config::max_connections`] connections are served at once (more wait in
    /// the listen backlog), and a connection without a request in progress for
    /// [`Config::idle_timeout`] is closed. Request heads over hyper's limits (100
    /// headers, about 400 KiB) get a 431.
    ///
    /// # Errors
    /// When accepting connections fails for good.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let config = &self.state.config;
        let listener =
            connection::Listener::new(listener, config.max_connections, config.idle_timeout);
        let app = self
            .router()
            .into_make_service_with_connect_info::<connection::Activity>();
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing requests in flight");
            let _ = stopping_tx.send(());
        });
        let deadline = async move {
            match stopping_rx.await {
                Ok(()) => tokio::time::sleep(SHUTDOWN_GRACE).await,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            served = server => served,
            () = deadline => {
                tracing::warn!("requests still in flight after {}s; stopping anyway", SHUTDOWN_GRACE.as_secs());
                Ok(())
            }
        }
    }
}

impl State {
    /// The as-of date for a request: the pinned one, or today (UTC). The service's only
    /// clock read for scoring.
    fn as_of(&self) -> Date {
        self.config.as_of.unwrap_or_else(|| {
            let (secs, _) = reload::now();
            Date::from_unix_days((secs / 86_400) as i64).unwrap_or(Date::UNIX_EPOCH)
        })
    }
}

fn failure(error: &Error, hash: Option<String>) -> ReloadFailure {
    let (_, at) = reload::now();
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

/// Completes on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is
/// called, so a signal that arrives before the future is polled is not lost.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

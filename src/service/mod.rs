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
//! `GET /v1/rules`, `GET /v1/shadow`, `POST /v1/shadow/reset`, `GET /healthz`,
//! `GET /metrics`; with named rule sets ([`Config::named`]) `/v1/NAME/score`,
//! `/v1/NAME/explain`, `/v1/NAME/rules`. [`Service::router`] gives them as an axum
//! `Router` to mount in a larger application.
//!
//! For production, [`Config`] also takes bearer token files (`auth`), a TLS certificate
//! (`tls`), a decision log written off the request path (`decisions`), and candidate
//! rules scored beside the rules in use (`shadow`); each is a module here.

mod auth;
mod budget;
mod connection;
mod decisions;
mod metrics;
mod reload;
mod routes;
mod shadow;
mod tls;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;

use crate::date::Date;
use crate::error::Error;
use auth::TokenFile;
use budget::BodyBudget;
use decisions::DecisionLog;
use metrics::Metrics;
use reload::{RuleSet, Snapshot};
use shadow::Shadow;
use tls::Tls;

pub use decisions::DecisionLogConfig;
pub use reload::{Problem, ReloadFailure, Watcher};
pub use shadow::ShadowStatus;

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
    /// The rules folder, served at `/v1/score`, `/v1/explain`, `/v1/rules`; not served
    /// when `rule_sets` is not empty.
    pub rules_dir: PathBuf,
    /// Named rule sets, each served at `/v1/NAME/score`, `/v1/NAME/explain` and
    /// `/v1/NAME/rules` and reloaded on its own (made by [`Config::named`]).
    pub rule_sets: Vec<(String, PathBuf)>,
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
    /// Bearer tokens that `/v1/*` routes require, one per line; `None` leaves them open.
    pub token_file: Option<PathBuf>,
    /// Bearer tokens that `/metrics` requires; `None` leaves it open.
    pub metrics_token_file: Option<PathBuf>,
    /// Where to log every decision, and how.
    pub decision_log: Option<DecisionLogConfig>,
    /// A candidate rules folder to score every lead with too, off the response path
    /// (compared with `rules_dir`, or with the first named rule set).
    pub shadow_dir: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain and private key (PEM files), read again
    /// on SIGHUP.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Config {
    /// Serves `rules_dir` as of today, with the default limits and timeouts.
    pub fn new(rules_dir: impl Into<PathBuf>) -> Config {
        Config {
            rules_dir: rules_dir.into(),
            rule_sets: Vec::new(),
            as_of: None,
            max_body: DEFAULT_MAX_BODY,
            max_body_total: DEFAULT_MAX_BODY_TOTAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            token_file: None,
            metrics_token_file: None,
            decision_log: None,
            shadow_dir: None,
            tls: None,
        }
    }
}

impl Config {
    /// Serves several rule sets, `(name, folder)`, each at `/v1/NAME/...`, with the
    /// default limits and timeouts. Names are letters, digits, `-` and `_`.
    pub fn named(rule_sets: Vec<(String, PathBuf)>) -> Config {
        let first = rule_sets
            .first()
            .map(|(_, dir)| dir.clone())
            .unwrap_or_default();
        let mut config = Config::new(first);
        config.rule_sets = rule_sets;
        config
    }
}

/// Whether `name` can name a rule set in a route.
pub fn is_rule_set_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
            .field("hash", &self.state.rules.current.load().hash)
            .finish()
    }
}

pub(crate) struct State {
    config: Config,
    /// The rules in use, swapped whole on reload: the unnamed rule set, or the first
    /// named one.
    rules: Arc<RuleSet>,
    /// The named rule sets (`rules` first), in the order given; empty when unnamed.
    named: Vec<Arc<RuleSet>>,
    metrics: Metrics,
    /// Room for request bodies across all requests.
    bodies: BodyBudget,
    /// The tokens `/v1/*` routes require.
    tokens: Option<TokenFile>,
    /// The tokens `/metrics` requires.
    metrics_tokens: Option<TokenFile>,
    /// Where decisions are logged.
    decisions: Option<Arc<DecisionLog>>,
    /// The candidate rules scored beside the rules in use.
    shadow: Option<Shadow>,
    /// The certificate and key, for HTTPS.
    tls: Option<Arc<Tls>>,
}

/// What is loaded, as `GET /v1/rules` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct RulesStatus {
    /// The rule set's name, when the service serves several (`--rules NAME=DIR`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
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
    /// Loads the rules folder (and the token files, the candidate rules, the decision
    /// log, as configured) and makes a service for it.
    ///
    /// # Errors
    /// [`Error::Rules`] with every problem, or [`Error::Io`], when the folder does not
    /// load, a token file cannot be read or holds no token, or the decision log cannot
    /// be opened: the service never starts half-configured.
    pub fn load(config: Config) -> Result<Service, Error> {
        let mut named = Vec::new();
        for (name, dir) in &config.rule_sets {
            if !is_rule_set_name(name)
                || named
                    .iter()
                    .any(|s: &Arc<RuleSet>| s.name.as_deref() == Some(name))
            {
                return Err(Error::Io {
                    path: dir.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "`{name}` cannot name a rule set: use letters, digits, - and _, each name once"
                        ),
                    ),
                });
            }
            named.push(Arc::new(RuleSet::load(
                Some(Arc::from(name.as_str())),
                dir,
            )?));
        }
        let rules = match named.first() {
            Some(first) => Arc::clone(first),
            None => Arc::new(RuleSet::load(None, &config.rules_dir)?),
        };
        let tokens = config
            .token_file
            .as_deref()
            .map(TokenFile::load)
            .transpose()?;
        let metrics_tokens = config
            .metrics_token_file
            .as_deref()
            .map(TokenFile::load)
            .transpose()?;
        let decisions = match &config.decision_log {
            Some(log) => Some(Arc::new(DecisionLog::start(log.clone()).map_err(
                |source| Error::Io {
                    path: log.path.clone(),
                    source,
                },
            )?)),
            None => None,
        };
        let tls = match &config.tls {
            Some((cert, key)) => Some(Arc::new(Tls::load(cert, key)?)),
            None => None,
        };
        let shadow = match &config.shadow_dir {
            Some(dir) => Some(Shadow::start(RuleSet::load(None, dir)?, decisions.clone())?),
            None => None,
        };
        Ok(Service {
            state: Arc::new(State {
                bodies: BodyBudget::new(config.max_body_total),
                config,
                rules,
                named,
                metrics: Metrics::default(),
                tokens,
                metrics_tokens,
                decisions,
                shadow,
                tls,
            }),
        })
    }

    /// The rules folder served.
    pub fn rules_dir(&self) -> &Path {
        &self.state.config.rules_dir
    }

    /// Reads the token files and the TLS certificate again, then loads the rules folder
    /// again and, when it loads
    /// without errors and differs from the rules in use, swaps it in; requests in flight
    /// finish on the rules they started with. Blocks while loading (call it from a
    /// blocking thread in async code).
    ///
    /// Returns `Ok(true)` when new rules took effect, `Ok(false)` when the folder is
    /// unchanged.
    ///
    /// # Errors
    /// When the new rules do not load: the rules in use stay, and the problems are
    /// logged and shown by [`Service::status`] until a later reload succeeds.
    pub fn reload(&self) -> Result<bool, Error> {
        self.reload_credentials();
        self.state.reload(&self.state.rules)
    }

    /// Reads the token files and the certificate again; a file that cannot be read or
    /// holds no token, or a broken certificate, keeps what is in use, and says so in the
    /// log.
    fn reload_credentials(&self) {
        if let Some(tls) = &self.state.tls {
            match tls.reload() {
                Ok(()) => {
                    tracing::info!(cert = %tls.cert_path().display(), "read the TLS certificate")
                }
                Err(e) => tracing::error!("keeping the TLS certificate in use: {e}"),
            }
        }
        let files = [&self.state.tokens, &self.state.metrics_tokens];
        for file in files.into_iter().flatten() {
            match file.reload() {
                Ok(n) => {
                    tracing::info!(file = %file.path().display(), tokens = n, "read the token file")
                }
                Err(e) => tracing::error!("keeping the tokens in use: {e}"),
            }
        }
    }

    /// Whether [`Service::serve`] speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.state.tls.is_some()
    }

    /// What is loaded: hash, load time, rules, stages, warnings and the last refused
    /// reload (of the first rule set, when there are several).
    pub fn status(&self) -> RulesStatus {
        self.state.rules.status()
    }

    /// What each named rule set has loaded, in the order given; empty when the service
    /// serves one unnamed folder.
    pub fn rule_sets(&self) -> Vec<RulesStatus> {
        self.state.named.iter().map(|set| set.status()).collect()
    }

    /// What shadow scoring has found since it started or was last reset; `None` when
    /// the service has no candidate rules.
    pub fn shadow(&self) -> Option<ShadowStatus> {
        self.state.shadow.as_ref().map(Shadow::status)
    }

    /// Watches the rules folder (and the candidate rules folder) and reloads when a rule
    /// file changes (after a short quiet time) or the process gets SIGHUP, until the
    /// returned [`Watcher`] is dropped. SIGHUP also reads the token files again. Must be
    /// called inside a tokio runtime.
    pub fn watch(&self) -> Watcher {
        let service = self.clone();
        let mut watcher = reload::watch(&self.state.rules.dir, move || {
            let _ = service.reload();
        });
        for set in self.state.named.iter().skip(1) {
            let (state, set) = (Arc::clone(&self.state), Arc::clone(set));
            watcher.also(reload::watch(&set.dir.clone(), move || {
                let _ = state.reload(&set);
            }));
        }
        if let Some(shadow) = &self.state.shadow {
            let service = self.clone();
            watcher.also(reload::watch(&shadow.rules().dir, move || {
                if let Some(shadow) = &service.state.shadow {
                    let _ = shadow.rules().reload(None);
                }
            }));
        }
        watcher
    }

    /// The routes, as an axum `Router` with its state applied. Served by your own
    /// server, the connection cap and idle timeout of [`Service::serve`] are yours to set.
    pub fn router(&self) -> axum::Router {
        routes::router(Arc::clone(&self.state))
    }

    /// Serves HTTP on `listener` until `shutdown` completes, then stops accepting
    /// connections, lets requests in flight finish (for at most 30 seconds) and writes
    /// out the decision log.
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
        let listener = connection::Listener::new(
            listener,
            self.state.tls.clone(),
            config.max_connections,
            config.idle_timeout,
        );
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
        let served = tokio::select! {
            served = server => served,
            () = deadline => {
                tracing::warn!("requests still in flight after {}s; stopping anyway", SHUTDOWN_GRACE.as_secs());
                Ok(())
            }
        };
        let state = Arc::clone(&self.state);
        let _ = tokio::task::spawn_blocking(move || state.flush_logs()).await;
        served
    }
}

impl State {
    /// Reloads one rule set and counts it.
    fn reload(&self, set: &RuleSet) -> Result<bool, Error> {
        set.reload(Some(&self.metrics))
    }

    /// The named rule set `name`.
    fn rule_set(&self, name: &str) -> Option<&Arc<RuleSet>> {
        self.named.iter().find(|s| s.name.as_deref() == Some(name))
    }

    /// The as-of date for a request: the pinned one, or today (UTC). The service's only
    /// clock read for scoring.
    fn as_of(&self) -> Date {
        self.config.as_of.unwrap_or_else(|| {
            let secs = reload::unix_now();
            Date::from_unix_days((secs / 86_400) as i64).unwrap_or(Date::UNIX_EPOCH)
        })
    }

    /// Whether scored leads go anywhere after the response: the decision log or the
    /// candidate rules.
    fn keeps_decisions(&self) -> bool {
        self.decisions.is_some() || self.shadow.is_some()
    }

    /// Hands a scored lead to shadow scoring (which logs it after) or to the decision
    /// log. Never waits.
    fn decided(
        &self,
        set: &Arc<RuleSet>,
        production: &Arc<Snapshot>,
        decision: decisions::Decision,
    ) {
        // The candidate rules stand in for the first rule set only.
        let shadow = self
            .shadow
            .as_ref()
            .filter(|_| Arc::ptr_eq(set, &self.rules));
        match (shadow, &self.decisions) {
            (Some(shadow), _) => shadow.offer(Arc::clone(production), decision),
            (None, Some(log)) => log.record(decision),
            (None, None) => {}
        }
    }

    /// Writes out what shadow scoring and the decision log still hold (at shutdown).
    fn flush_logs(&self) {
        let patience = Duration::from_secs(10);
        if let Some(shadow) = &self.shadow {
            shadow.flush(patience);
        }
        if let Some(log) = &self.decisions {
            log.flush(patience);
        }
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

//! `leadscore serve`: run the HTTP scoring service on a folder of rules, with hot reload,
//! until SIGTERM or SIGINT. Flags become a [`leadscore::service::Config`]; the library
//! does the rest.

use std::io::Write;
use std::net::SocketAddr;

use std::path::PathBuf;

use leadscore::service::{
    Config, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_MAX_BODY_TOTAL,
    DEFAULT_MAX_CONNECTIONS, DecisionLogConfig, Service, is_rule_set_name, shutdown_signal,
};

use super::{AsOfArgs, Exit, Failure};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadscore serve --rules rules --listen 127.0.0.1:8080
  curl -s localhost:8080/v1/score -H 'Content-Type: application/json' -d '{\"email\": \"ana@acme.com\", \"budget\": 25000}'

  leadscore serve --token-file /etc/leadscore/tokens --decision-log /var/log/leadscore/decisions.jsonl
  leadscore serve --rules rules --shadow candidate-rules   # then: curl localhost:8080/v1/shadow

  leadscore serve --rules emea=rules/emea --rules us=rules/us   # /v1/emea/score, /v1/us/score

Routes: POST /v1/score, POST /v1/explain, GET /v1/rules, GET /v1/shadow, POST /v1/shadow/reset,
GET /healthz, GET /metrics; with named rule sets, POST /v1/NAME/score, POST /v1/NAME/explain,
GET /v1/NAME/rules, and GET /v1/rules lists them.
The rules reload when a rule file changes or on SIGHUP; a broken edit never takes effect.
SIGHUP also reads the token files again.
The first line on standard output is `listening on http://ADDR` (https with --tls-cert; useful
with port 0).")]
pub struct ServeArgs {
    /// The rules folder; or NAME=DIR, repeated, to serve several rule sets, each at
    /// /v1/NAME/score, /v1/NAME/explain and /v1/NAME/rules.
    #[arg(long, value_name = "DIR|NAME=DIR", env = "LEADSCORE_RULES", default_value = "rules",
          action = clap::ArgAction::Append)]
    rules: Vec<String>,
    #[command(flatten)]
    as_of: AsOfArgs,
    /// The address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Largest request body, in bytes (or with KiB, MiB, GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value_t = DEFAULT_MAX_BODY)]
    max_body: usize,
    /// Bytes of request bodies held at once across all requests (or with KiB, MiB, GiB).
    /// A request whose body does not fit waits for room, within --request-timeout; a body
    /// larger than the total runs alone.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value_t = DEFAULT_MAX_BODY_TOTAL)]
    max_body_total: usize,
    /// Seconds a request may take, body upload included, before it gets a 408.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    request_timeout: u64,
    /// Connections served at once. More are not accepted: they wait in the system's
    /// listen backlog and are served in turn as connections close, so a flood of
    /// connections cannot use up the process's file descriptors.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_connections: usize,
    /// Seconds a connection may stay open without a request in progress (sending a
    /// request's headers, idle between requests, or not reading its response) before it
    /// is closed; a request in progress is bounded by --request-timeout instead.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Threads answering requests (default: one per core, or TOKIO_WORKER_THREADS).
    /// Arrays and JSON Lines bodies of many leads are scored on other threads either
    /// way. Fewer threads spend less CPU per request handing work between them
    /// (BENCHMARKS.md); one core's worth of single-lead requests is the most a single
    /// thread answers.
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    workers: Option<usize>,
    /// Require `Authorization: Bearer <token>` on every /v1/ route, the token being one
    /// of the lines of FILE (`#` starts a comment line). Read again on SIGHUP and on every
    /// rules reload.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Require a bearer token from FILE on /metrics too (else /metrics is open).
    #[arg(long, value_name = "FILE")]
    metrics_token: Option<PathBuf>,
    /// Append one JSON line per scored lead to FILE: time, request id, the lead, the
    /// as-of date, the rules hash and the verdict (`leadscore replay` reads it).
    #[arg(long, value_name = "FILE")]
    decision_log: Option<PathBuf>,
    /// Log only these lead fields (comma-separated) instead of the whole lead.
    #[arg(
        long,
        value_name = "FIELDS",
        value_delimiter = ',',
        requires = "decision_log"
    )]
    decision_log_fields: Option<Vec<String>>,
    /// Log these lead fields (comma-separated) as `sha256:HEX` of their value.
    #[arg(
        long,
        value_name = "FIELDS",
        value_delimiter = ',',
        requires = "decision_log"
    )]
    decision_log_redact: Vec<String>,
    /// Rotate the decision log before it grows past SIZE (FILE becomes FILE.1, ...).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "100MiB", requires = "decision_log")]
    decision_log_max_size: usize,
    /// Rotated decision logs kept (FILE.1 .. FILE.N); older ones are deleted.
    #[arg(long, value_name = "N", default_value_t = 5, requires = "decision_log")]
    decision_log_keep: usize,
    /// Score every lead with the candidate rules in DIR too, after answering, and show
    /// how they differ at GET /v1/shadow. DIR reloads like --rules.
    #[arg(long, value_name = "DIR")]
    shadow: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key. Read again on
    /// SIGHUP, so a renewed certificate takes effect without a restart.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Log level or filter (error, warn, info, debug, trace); default RUST_LOG, else info.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log format: one line of text or of JSON per event.
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

pub fn run(args: &ServeArgs) -> Result<Exit, Failure> {
    init_logs(args)?;
    let mut config = match rule_sets(&args.rules)? {
        RuleSets::One(dir) => Config::new(dir),
        RuleSets::Named(sets) => {
            if args.shadow.is_some() {
                return Err(Failure::usage(
                    "--shadow compares with one rules folder; give a single --rules DIR with it",
                ));
            }
            Config::named(sets)
        }
    };
    config.as_of = args.as_of.as_of;
    config.max_body = args.max_body;
    config.max_body_total = args.max_body_total;
    config.request_timeout = std::time::Duration::from_secs(args.request_timeout.max(1));
    config.max_connections = args.max_connections;
    config.idle_timeout = std::time::Duration::from_secs(args.idle_timeout);
    config.token_file = args.token_file.clone();
    config.metrics_token_file = args.metrics_token.clone();
    config.shadow_dir = args.shadow.clone();
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some((cert.clone(), key.clone()));
    }
    if let Some(path) = &args.decision_log {
        let mut log = DecisionLogConfig::new(path);
        log.fields = args.decision_log_fields.clone();
        log.redact = args.decision_log_redact.clone();
        log.max_size = args.decision_log_max_size as u64;
        log.keep = args.decision_log_keep;
        config.decision_log = Some(log);
    }
    let service = Service::load(config)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // Without --workers, tokio's own default: one per core, or TOKIO_WORKER_THREADS.
    if let Some(workers) = args.workers {
        builder.worker_threads(workers);
    }
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}")))?;
    let workers = runtime.metrics().num_workers();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Failure::usage(format!("cannot listen on {}: {e}", args.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::usage(format!("cannot listen on {}: {e}", args.listen)))?;
        // Signal handlers first, so a signal right after the line below is not lost.
        let shutdown = shutdown_signal()
            .map_err(|e| Failure::usage(format!("cannot install signal handlers: {e}")))?;
        let _watcher = service.watch();
        let status = service.status();
        for set in service.rule_sets() {
            tracing::info!(rules = set.rules, hash = %set.hash, dir = %set.dir, "serving the rule set {} at /v1/{}/",
                set.name.as_deref().unwrap_or(""), set.name.as_deref().unwrap_or(""));
        }
        let scheme = if service.is_tls() { "https" } else { "http" };
        tracing::info!(
            rules = status.rules,
            hash = %status.hash,
            dir = %status.dir,
            workers,
            "listening on {scheme}://{addr}"
        );
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on {scheme}://{addr}").and_then(|()| stdout.flush());
        drop(stdout);
        service
            .serve(listener, shutdown)
            .await
            .map_err(|e| Failure::usage(format!("the server stopped: {e}")))?;
        tracing::info!("stopped");
        Ok(Exit::Ok)
    })
}

/// What `--rules` names: one folder, or named rule sets.
#[derive(Debug, PartialEq, Eq)]
enum RuleSets {
    One(PathBuf),
    Named(Vec<(String, PathBuf)>),
}

/// `--rules DIR` once, or `--rules NAME=DIR` any number of times (not both).
fn rule_sets(values: &[String]) -> Result<RuleSets, Failure> {
    let named = |value: &str| {
        value
            .split_once('=')
            .filter(|(name, _)| is_rule_set_name(name) && !std::path::Path::new(value).is_dir())
            .map(|(name, dir)| (name.to_string(), PathBuf::from(dir)))
    };
    match values {
        [one] if named(one).is_none() => Ok(RuleSets::One(PathBuf::from(one))),
        _ => {
            let mut sets: Vec<(String, PathBuf)> = Vec::new();
            for value in values {
                let Some((name, dir)) = named(value) else {
                    return Err(Failure::usage(format!(
                        "--rules `{value}`: with several rule sets, name each one: --rules NAME=DIR (NAME of letters, digits, - and _)"
                    )));
                };
                if sets.iter().any(|(n, _)| *n == name) {
                    return Err(Failure::usage(format!(
                        "the rule set `{name}` is given twice"
                    )));
                }
                sets.push((name, dir));
            }
            Ok(RuleSets::Named(sets))
        }
    }
}

fn init_logs(args: &ServeArgs) -> Result<(), Failure> {
    use tracing_subscriber::EnvFilter;
    let filter = match &args.log_level {
        Some(level) => EnvFilter::try_new(level)
            .map_err(|e| Failure::usage(format!("invalid --log-level `{level}`: {e}")))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let logs = tracing_subscriber::fmt()
        .with_timer(LogTime)
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false);
    let installed = match args.log_format.as_str() {
        "json" => logs.json().try_init(),
        _ => logs.try_init(),
    };
    installed.map_err(|e| Failure::usage(format!("cannot set up logging: {e}")))
}

/// The time on log lines, byte for byte as tracing-subscriber's `SystemTime` writes it
/// (`2026-12-02T06:17:47.123456Z`), with the date and time of day made once per second
/// per thread instead of on every line: each request logs a line.
struct LogTime;

impl tracing_subscriber::fmt::time::FormatTime for LogTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        use std::cell::Cell;
        thread_local! {
            /// The second last written, and its text up to the fraction.
            static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
        }
        let now = std::time::SystemTime::now();
        let Ok(since) = now.duration_since(std::time::UNIX_EPOCH) else {
            return tracing_subscriber::fmt::time::SystemTime.format_time(w);
        };
        let secs = since.as_secs();
        let (cached, mut text) = SECOND.get();
        if cached != secs {
            match second_text(secs) {
                Some(made) => text = made,
                None => return tracing_subscriber::fmt::time::SystemTime.format_time(w),
            }
            SECOND.set((secs, text));
        }
        // ASCII digits and separators.
        w.write_str(std::str::from_utf8(&text).unwrap_or_default())?;
        write_fraction(w, since.subsec_micros())
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of Unix seconds, for years 0 to 9999.
fn second_text(secs: u64) -> Option<[u8; 19]> {
    let days = i64::try_from(secs / 86_400).ok()?;
    let (year, month, day) = leadscore::Date::from_unix_days(days)?.ymd();
    let year = u32::try_from(year).ok().filter(|y| *y <= 9999)?;
    let rest = (secs % 86_400) as u32;
    let mut text = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, rest / 3600);
    put(14, 2, rest / 60 % 60);
    put(17, 2, rest % 60);
    Some(text)
}

/// `.ffffffZ`: microseconds, six digits.
fn write_fraction(w: &mut impl std::fmt::Write, micros: u32) -> std::fmt::Result {
    let mut text = *b".000000Z";
    let mut n = micros;
    for i in (1..7).rev() {
        text[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    w.write_str(std::str::from_utf8(&text).unwrap_or_default())
}

/// `1048576`, `512KiB`, `10MiB`, `1GiB` (also `K`, `M`, `G`, and `KB`/`MB`/`GB` read as
/// binary units too: a body limit does not need decimal precision).
fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. 10MiB or 1048576"))?;
    let scale: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}`; use KiB, MiB or GiB")),
    };
    n.checked_mul(scale)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::{RuleSets, parse_size, rule_sets};

    #[test]
    fn rules_name_one_folder_or_several_sets() {
        let parse = |values: &[&str]| {
            rule_sets(&values.iter().map(|v| v.to_string()).collect::<Vec<_>>())
                .map_err(|f| f.message)
        };
        assert_eq!(parse(&["rules"]).unwrap(), RuleSets::One("rules".into()));
        assert_eq!(
            parse(&["emea=rules/emea", "us=/srv/us"]).unwrap(),
            RuleSets::Named(vec![
                ("emea".into(), "rules/emea".into()),
                ("us".into(), "/srv/us".into())
            ])
        );
        assert_eq!(
            parse(&["emea=rules/emea"]).unwrap(),
            RuleSets::Named(vec![("emea".into(), "rules/emea".into())])
        );
        assert!(
            parse(&["rules", "us=x"])
                .unwrap_err()
                .contains("name each one")
        );
        assert!(parse(&["a=x", "a=y"]).unwrap_err().contains("given twice"));
        assert!(parse(&["a b=x", "c=y"]).is_err());
    }

    #[test]
    fn log_times_are_written_as_tracing_subscriber_writes_them() {
        use tracing_subscriber::fmt::format::Writer;
        use tracing_subscriber::fmt::time::FormatTime;
        // The same instant both ways: retried when a second boundary falls between.
        for _ in 0..100 {
            let (mut ours, mut theirs) = (String::new(), String::new());
            super::LogTime
                .format_time(&mut Writer::new(&mut ours))
                .unwrap();
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut theirs))
                .unwrap();
            assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
            if ours[..19] == theirs[..19] {
                assert!(ours.ends_with('Z') && ours.as_bytes()[19] == b'.', "{ours}");
                break;
            }
        }
        for (secs, text) in [
            (0, "1970-01-01T00:00:00"),
            (1_768_469_445, "2026-01-15T09:30:45"),
            (951_782_400, "2000-02-29T00:00:00"),
            (253_402_300_799, "9999-12-31T23:59:59"),
        ] {
            assert_eq!(
                super::second_text(secs).as_ref().map(|t| &t[..]),
                Some(text.as_bytes())
            );
        }
        assert_eq!(super::second_text(253_402_300_800), None);
        let mut fraction = String::new();
        super::write_fraction(&mut fraction, 4_321).unwrap();
        assert_eq!(fraction, ".004321Z");
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }
}

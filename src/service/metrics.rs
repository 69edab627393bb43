//! The service's counters and their Prometheus text rendering: requests by route and
//! status, a latency histogram per route, leads scored by stage, reloads and reload
//! failures. A small hand-written registry: a few maps behind short-held locks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Latencies of one route.
#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Requests per bucket (not cumulative); the last slot is above every bound.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let slot = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        self.counts[slot] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Requests {
    by_status: BTreeMap<(&'static str, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
}

/// A rule set's name (`None` for the unnamed one) and a stage.
type StageKey = (Option<Arc<str>>, Arc<str>);

/// Everything `/metrics` reports.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<Requests>,
    /// Leads scored, by rule set (when named) and stage.
    stages: Mutex<BTreeMap<StageKey, u64>>,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    /// Requests refused for a missing or wrong token, by reason.
    refused: Mutex<BTreeMap<&'static str, u64>>,
}

/// Counters kept elsewhere (the decision log, shadow scoring), read when rendering: a
/// metric name, its help, and each series as its labels (`agree="true"`, or empty) and
/// value.
#[derive(Debug)]
pub(crate) struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub series: Vec<(String, u64)>,
}

/// A poisoned lock only means a panic elsewhere while counting: the counts are still
/// usable, and metrics must never take the service down.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Metrics {
    /// Counts one request on `route` (a route pattern, never a raw path, so the number
    /// of series stays bounded).
    pub fn request(&self, route: &'static str, status: u16, elapsed: Duration) {
        let mut requests = lock(&self.requests);
        *requests.by_status.entry((route, status)).or_default() += 1;
        requests
            .latency
            .entry(route)
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Counts scored leads by stage, for a named rule set or the unnamed one.
    pub fn leads(&self, rule_set: Option<&Arc<str>>, stages: &[(Arc<str>, u64)]) {
        if stages.is_empty() {
            return;
        }
        let mut counts = lock(&self.stages);
        for (stage, n) in stages {
            *counts
                .entry((rule_set.cloned(), Arc::clone(stage)))
                .or_default() += n;
        }
    }

    /// Counts a reload that took effect.
    pub fn reloaded(&self) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a reload that was refused (the previous rules stay).
    pub fn reload_failed(&self) {
        self.reload_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request refused for its token (`missing` or `invalid`).
    pub fn refused(&self, reason: &'static str) {
        *lock(&self.refused).entry(reason).or_default() += 1;
    }

    /// The Prometheus text exposition format (version 0.0.4), with the current `gauges`
    /// (name, help, value) and the `counters` kept elsewhere.
    pub fn render(
        &self,
        rules_loaded_at: u64,
        gauges: &[(&str, &str, u64)],
        counters: &[Family],
    ) -> String {
        let mut out = String::with_capacity(4096);
        let (requests, latency) = {
            let requests = lock(&self.requests);
            (requests.by_status.clone(), requests.latency.clone())
        };
        let stages = lock(&self.stages).clone();

        header(
            &mut out,
            "leadscore_http_requests_total",
            "counter",
            "HTTP requests by route and status.",
        );
        for ((route, status), n) in &requests {
            let _ = writeln!(
                out,
                "leadscore_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }

        let name = "leadscore_http_request_duration_seconds";
        header(
            &mut out,
            name,
            "histogram",
            "Time from receiving a request to its response, by route.",
        );
        for (route, h) in &latency {
            let route = escape(route);
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", h.count);
        }

        header(
            &mut out,
            "leadscore_leads_scored_total",
            "counter",
            "Leads scored, by the stage they landed in.",
        );
        for ((rule_set, stage), n) in &stages {
            let _ = match rule_set {
                Some(set) => writeln!(
                    out,
                    "leadscore_leads_scored_total{{rule_set=\"{}\",stage=\"{}\"}} {n}",
                    escape(set),
                    escape(stage)
                ),
                None => writeln!(
                    out,
                    "leadscore_leads_scored_total{{stage=\"{}\"}} {n}",
                    escape(stage)
                ),
            };
        }

        for (name, help, value) in [
            (
                "leadscore_rules_reloads_total",
                "Rule reloads that took effect.",
                self.reloads.load(Ordering::Relaxed),
            ),
            (
                "leadscore_rules_reload_failures_total",
                "Rule reloads refused because the new rules have errors (the previous rules stay).",
                self.reload_failures.load(Ordering::Relaxed),
            ),
        ] {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
        let name = "leadscore_auth_failures_total";
        header(
            &mut out,
            name,
            "counter",
            "Requests refused with 401: no bearer token (missing) or a wrong one (invalid).",
        );
        for (reason, n) in lock(&self.refused).iter() {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {n}");
        }
        for family in counters {
            header(&mut out, family.name, "counter", family.help);
            for (labels, value) in &family.series {
                let _ = match labels.is_empty() {
                    true => writeln!(out, "{} {value}", family.name),
                    false => writeln!(out, "{}{{{labels}}} {value}", family.name),
                };
            }
        }
        let name = "leadscore_rules_loaded_timestamp_seconds";
        header(
            &mut out,
            name,
            "gauge",
            "When the rules in use were loaded (Unix time).",
        );
        let _ = writeln!(out, "{name} {rules_loaded_at}");
        for (name, help, value) in gauges {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("/v1/score", 200, Duration::from_micros(300));
        m.request("/v1/score", 200, Duration::from_millis(3));
        m.request("/v1/score", 400, Duration::from_micros(50));
        m.leads(None, &[(Arc::from("prospect"), 2), (Arc::from("lead"), 1)]);
        m.leads(None, &[(Arc::from("prospect"), 1)]);
        m.leads(Some(&Arc::from("emea")), &[(Arc::from("lead"), 4)]);
        m.reloaded();
        m.reload_failed();
        m.reload_failed();
        m.refused("invalid");
        m.refused("missing");
        m.refused("invalid");
        let family = Family {
            name: "leadscore_c_total",
            help: "A counter.",
            series: vec![("agree=\"true\"".into(), 4), ("agree=\"false\"".into(), 1)],
        };
        let text = m.render(1_700_000_000, &[("leadscore_g", "A gauge.", 7)], &[family]);
        for line in [
            "leadscore_http_requests_total{route=\"/v1/score\",status=\"200\"} 2",
            "leadscore_http_requests_total{route=\"/v1/score\",status=\"400\"} 1",
            "leadscore_http_request_duration_seconds_bucket{route=\"/v1/score\",le=\"0.0001\"} 1",
            "leadscore_http_request_duration_seconds_bucket{route=\"/v1/score\",le=\"0.0005\"} 2",
            "leadscore_http_request_duration_seconds_bucket{route=\"/v1/score\",le=\"0.005\"} 3",
            "leadscore_http_request_duration_seconds_bucket{route=\"/v1/score\",le=\"+Inf\"} 3",
            "leadscore_http_request_duration_seconds_count{route=\"/v1/score\"} 3",
            "leadscore_leads_scored_total{stage=\"lead\"} 1",
            "leadscore_leads_scored_total{stage=\"prospect\"} 3",
            "leadscore_leads_scored_total{rule_set=\"emea\",stage=\"lead\"} 4",
            "leadscore_rules_reloads_total 1",
            "leadscore_rules_reload_failures_total 2",
            "leadscore_rules_loaded_timestamp_seconds 1700000000",
            "leadscore_auth_failures_total{reason=\"invalid\"} 2",
            "leadscore_auth_failures_total{reason=\"missing\"} 1",
            "leadscore_c_total{agree=\"true\"} 4",
            "leadscore_c_total{agree=\"false\"} 1",
            "leadscore_g 7",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

//! Shadow rules (`--shadow DIR`): a candidate rules folder, reloaded like the main one,
//! that scores every lead too, on its own thread after the response has gone. Leads
//! reach it through a bounded queue; when the queue is full the lead is skipped and
//! counted, so the candidate never slows the answers. What it finds is `diff`'s summary
//! (the stage transition matrix production to candidate, score changes, rules whose
//! matches differ, sample lead ids), kept since start or the last reset. A lead bound
//! for the decision log goes through here first, so its line carries both verdicts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use serde::Serialize;

use crate::analysis::diff::{Diff, DiffBuilder};
use crate::error::Error;

use super::decisions::{Decision, DecisionLog, ShadowVerdict};
use super::lock;
use super::metrics::Family;
use super::reload::{RuleSet, Snapshot};
use super::{ReloadFailure, reload};

/// Leads waiting for the candidate rules, at most.
const QUEUE: usize = 4096;

/// A lead scored by production, waiting for the candidate.
struct Job {
    production: Arc<Snapshot>,
    decision: Decision,
}

enum Message {
    Job(Box<Job>),
    Flush(Sender<()>),
}

/// The comparison so far.
struct Summary {
    since: String,
    production: String,
    candidate: String,
    builder: DiffBuilder,
}

#[derive(Debug, Default)]
struct Counts {
    agree: AtomicU64,
    differ: AtomicU64,
    skipped: AtomicU64,
}

/// The candidate rules and the thread that scores with them.
pub(crate) struct Shadow {
    rules: Arc<RuleSet>,
    tx: Sender<Message>,
    summary: Arc<Mutex<Option<Summary>>>,
    counts: Arc<Counts>,
    decisions: Option<Arc<DecisionLog>>,
}

impl std::fmt::Debug for Shadow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shadow")
            .field("dir", &self.rules.dir)
            .finish()
    }
}

/// What `GET /v1/shadow` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowStatus {
    /// The candidate rules folder.
    pub dir: String,
    /// When this comparison started (service start, a reset, or either rule set
    /// reloading), RFC 3339 UTC; `None` before the first lead.
    pub since: Option<String>,
    /// The hash of the rules in use that the comparison is against.
    pub production: Option<String>,
    /// The hash of the candidate rules.
    pub candidate: Option<String>,
    /// Leads whose candidate verdict is identical to production's, since start.
    pub agree: u64,
    /// Leads whose candidate verdict differs, since start.
    pub differ: u64,
    /// Leads not shadow-scored because the queue was full, since start.
    pub skipped: u64,
    /// The comparison: what `leadscore diff --format json` prints, production as old
    /// and candidate as new.
    pub diff: Option<Diff>,
    /// The candidate folder's last refused reload.
    pub last_reload_error: Option<ReloadFailure>,
}

impl Shadow {
    /// Starts the thread that scores with `rules`; leads go on to `decisions` after.
    pub(crate) fn start(
        rules: RuleSet,
        decisions: Option<Arc<DecisionLog>>,
    ) -> Result<Shadow, Error> {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let shadow = Shadow {
            rules: Arc::new(rules),
            tx,
            summary: Arc::new(Mutex::new(None)),
            counts: Arc::new(Counts::default()),
            decisions,
        };
        let worker = Worker {
            rules: Arc::clone(&shadow.rules),
            summary: Arc::clone(&shadow.summary),
            counts: Arc::clone(&shadow.counts),
            decisions: shadow.decisions.clone(),
        };
        std::thread::Builder::new()
            .name("shadow".into())
            .spawn(move || worker.run(rx))
            .map_err(|source| Error::Io {
                path: shadow.rules.dir.clone(),
                source,
            })?;
        Ok(shadow)
    }

    pub(crate) fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Queues a lead scored by `production`; when the queue is full the lead is
    /// skipped (counted, and logged as skipped).
    pub(crate) fn offer(&self, production: Arc<Snapshot>, decision: Decision) {
        let job = Box::new(Job {
            production,
            decision,
        });
        if let Err(TrySendError::Full(m) | TrySendError::Disconnected(m)) =
            self.tx.try_send(Message::Job(job))
        {
            self.counts.skipped.fetch_add(1, Ordering::Relaxed);
            if let (Message::Job(job), Some(log)) = (m, &self.decisions) {
                let mut decision = job.decision;
                decision.shadow = Some(ShadowVerdict::Skipped);
                log.record(decision);
            }
        }
    }

    /// Starts the comparison afresh.
    pub(crate) fn reset(&self) {
        *lock(&self.summary) = None;
    }

    /// Waits (at most `patience`) until the leads queued so far are scored.
    pub(crate) fn flush(&self, patience: Duration) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.tx.send_timeout(Message::Flush(tx), patience).is_ok() {
            let _ = rx.recv_timeout(patience);
        }
    }

    pub(crate) fn status(&self) -> ShadowStatus {
        let summary = lock(&self.summary);
        let c = &self.counts;
        ShadowStatus {
            dir: self.rules.dir.display().to_string(),
            since: summary.as_ref().map(|s| s.since.clone()),
            production: summary.as_ref().map(|s| s.production.clone()),
            candidate: summary.as_ref().map(|s| s.candidate.clone()),
            agree: c.agree.load(Ordering::Relaxed),
            differ: c.differ.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            diff: summary.as_ref().map(|s| s.builder.clone().finish()),
            last_reload_error: self.rules.status().last_reload_error,
        }
    }

    /// `leadscore_shadow_total{agree}` and the skipped count, for `/metrics`.
    pub(crate) fn families(&self) -> Vec<Family> {
        let c = &self.counts;
        vec![
            Family {
                name: "leadscore_shadow_total",
                help: "Leads scored by the candidate rules, by whether its verdict is identical to production's.",
                series: vec![
                    ("agree=\"true\"".into(), c.agree.load(Ordering::Relaxed)),
                    ("agree=\"false\"".into(), c.differ.load(Ordering::Relaxed)),
                ],
            },
            Family {
                name: "leadscore_shadow_skipped_total",
                help: "Leads not scored by the candidate rules because its queue was full.",
                series: vec![(String::new(), c.skipped.load(Ordering::Relaxed))],
            },
        ]
    }
}

struct Worker {
    rules: Arc<RuleSet>,
    summary: Arc<Mutex<Option<Summary>>>,
    counts: Arc<Counts>,
    decisions: Option<Arc<DecisionLog>>,
}

impl Worker {
    fn run(self, rx: Receiver<Message>) {
        loop {
            let message = match rx.try_recv() {
                Ok(m) => m,
                // Nap rather than wait on the queue, so requests never wake this thread
                // (see the decision log's writer).
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    std::thread::sleep(super::decisions::NAP);
                    continue;
                }
                Err(crossbeam_channel::TryRecvError::Disconnected) => break,
            };
            match message {
                Message::Job(job) => self.score(*job),
                Message::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    fn score(&self, job: Job) {
        let Job {
            production,
            mut decision,
        } = job;
        let candidate = self.rules.current.load_full();
        let mut verdict = candidate.scorer.score(&decision.lead, decision.as_of);
        verdict.name_by(&decision.record);
        let counter = match verdict == decision.verdict {
            true => &self.counts.agree,
            false => &self.counts.differ,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        {
            let mut summary = lock(&self.summary);
            let current = summary
                .as_ref()
                .is_some_and(|s| s.production == production.hash && s.candidate == candidate.hash);
            if !current {
                // A reload on either side changes what is compared: start afresh.
                *summary = Some(Summary {
                    since: reload::now().1,
                    production: production.hash.clone(),
                    candidate: candidate.hash.clone(),
                    builder: DiffBuilder::new(production.scorer.rules(), candidate.scorer.rules()),
                });
            }
            if let Some(s) = summary.as_mut() {
                s.builder.add(&decision.verdict, &verdict);
            }
        }
        if let Some(log) = &self.decisions {
            decision.shadow = Some(ShadowVerdict::Scored(
                Arc::from(candidate.hash.as_str()),
                Box::new(verdict),
            ));
            log.record(decision);
        }
    }
}

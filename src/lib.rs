//! leadscore: a fast, rule-based lead qualification scorer.
//!
//! A team keeps its qualification policy in a `rules/` folder: YAML rules that sales-ops
//! edits, Rhai scripts for logic YAML cannot say, and a stage policy (lead -> prospect ->
//! ready_to_convert, or disqualified). leadscore compiles the folder once and scores each
//! lead: its score, its stage, the rules that matched and why, and what is missing for
//! the next stage.
//!
//! ```
//! use leadscore::{Date, Lead, Rules, Scorer};
//!
//! let scorer = Scorer::new(Rules::load_dir("rules")?); // Err lists every problem, file:line:col
//! let lead = Lead::from_json(serde_json::json!({
//!     "id": "L-1", "email": "ana@acme.com", "budget": 25000,
//!     "title": "Head of Operations", "pain_points": "manual reporting",
//! }))?;
//! let verdict = scorer.score(&lead, Date::parse("2026-01-15").unwrap()); // never fails
//! println!("{} {} {:?}", verdict.score, verdict.stage, verdict.next);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Scorer`] is `Send + Sync` and cheap to clone: load once, score from any number of
//! threads. Scoring reads no clock: the as-of date is a parameter, so the same rules and
//! lead always give byte-identical verdicts.
//!
//! - Many threads: `examples/embed_threads.rs` loads once and scores from several
//!   threads with `std::thread::scope`.
//! - New rules without a restart: `examples/embed_reload.rs` loads a changed folder on
//!   the side and swaps it in only when it loads without errors.
//! - Over HTTP: the [`service`] module (cargo feature `service`, on by default) is what
//!   `leadscore serve` runs: routes to score and explain leads, metrics, and hot reload.
//! - Streams of records: [`Pipeline`] and the readers and writers in [`io`].
//! - Editors: [`Rules::json_schema`] is the JSON Schema of rule files.
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

pub mod analysis;
mod columns;
mod date;
mod diagnostic;
mod dimension;
mod error;
mod explain;
pub mod io;
mod lead;
mod pipeline;
mod rules;
mod ruletest;
mod scorer;
mod script;
#[cfg(feature = "service")]
pub mod service;
mod shape;
mod stage;
mod transition;
mod verdict;

pub use analysis::{calibrate, convert, diff, replay, report, timeline};
pub use date::{Date, Timestamp};
pub use diagnostic::{Diagnostic, Severity, Span};
pub use error::Error;
pub use explain::{Explanation, RuleTrace, StageTrace};
pub use lead::{FieldType, Lead, LeadError, Value};
pub use pipeline::{Outcome, Pipeline, Rejection, Render, RenderedBatch, RenderedSink, Sink};
pub use rules::{ConditionTrace, Rules};
pub use ruletest::{TestCase, TestFailure, TestReport, TestSuite};
pub use scorer::Scorer;
pub use script::{DEFAULT_MAX_OPERATIONS, Limits};
pub use verdict::{Decayed, Direction, Match, Next, RuleFailure, Scores, Transition, Verdict};

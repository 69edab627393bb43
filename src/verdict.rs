//! The verdict for one lead: the JSON contract every output format is built from.

use std::sync::Arc;

use serde::Serialize;

use crate::lead::Value;

/// What the rules say about one lead. Serializes to the documented JSON object, keys in
/// this order, so the same rules and lead always give byte-identical output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The lead's id field, or where it was read (`leads.csv:4`) when it has none.
    pub id: Value,
    /// Sum of matched points, clamped to the `settings.score` range.
    pub score: i64,
    /// The stage chosen by the stage policy (e.g. `prospect`).
    pub stage: Arc<str>,
    /// Signals given by matched rules, sorted, each once.
    pub signals: Vec<Arc<str>>,
    /// Matched rules, in rule order.
    pub matched: Vec<Match>,
    /// The first disqualification reason, when a matched rule disqualifies.
    pub disqualified: Option<String>,
    /// The stage just above this one and what the lead lacks for it; `None` at the top
    /// and when disqualified.
    pub next: Option<Next>,
    /// Rules that failed on this lead (a script error, a bad field value). A failed rule
    /// counts as not matched; the lead is still scored.
    pub errors: Vec<RuleFailure>,
}

/// One matched rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    /// The rule id (a YAML `id` or a Rhai function name).
    pub rule: Arc<str>,
    /// Points the rule gave (may be negative).
    pub points: i64,
    /// Signals the rule gave.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<Arc<str>>,
    /// Why it matched, with the lead's values filled in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The disqualification reason, when the rule disqualifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disqualify: Option<String>,
}

/// The next stage up and what stands between the lead and it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Next {
    /// The stage id.
    pub stage: Arc<str>,
    /// Signals the stage requires that the lead lacks, in the stage's order.
    pub missing: Vec<Arc<str>>,
    /// Points still needed to reach the stage's `min_score` (0 when reached).
    pub points_needed: i64,
}

/// A rule that could not be evaluated on this lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFailure {
    /// The rule id, `stage:<id>` for a stage condition, or `field:<name>` for a value
    /// that does not fit its declared type.
    pub rule: String,
    /// What went wrong.
    pub message: String,
}

impl Verdict {
    /// The verdict as one line of JSON (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Serializing plain data to a String cannot fail: no maps with non-string keys,
        // no I/O. Fall back to a null rather than panic, to keep the promise anyway.
        serde_json::to_string(self).unwrap_or_else(|_| "null".to_string())
    }
}

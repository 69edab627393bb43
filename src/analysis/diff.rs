//! What a rule change does to a batch: every lead scored by the old rules and by the
//! new ones, compared as a stage-to-stage transition matrix, score changes (mean, how
//! many went up, down or stayed, the largest moves), sample leads for each change of
//! stage, and how often each rule matched before and after.
//!
//! ```
//! use leadscore::diff::DiffBuilder;
//! use leadscore::{Date, Lead, Rules, Scorer};
//!
//! let old = Scorer::new(Rules::load_dir("rules")?);
//! let new = Scorer::new(Rules::from_sources(vec![(
//!     "r.yaml".into(),
//!     "rules:\n  - id: any_budget\n    when: { field: budget, gte: 1 }\n    points: 50\n    signals: [need, budget]\n".into(),
//! )])?);
//! let lead = Lead::from_json(serde_json::json!({"id": "L-1", "email": "a@acme.com", "budget": 5000}))?;
//! let as_of = Date::parse("2026-01-15").unwrap();
//! let mut builder = DiffBuilder::new(old.rules(), new.rules());
//! builder.add(&old.score(&lead, as_of), &new.score(&lead, as_of));
//! let diff = builder.finish();
//! assert_eq!(diff.changes[0].from.as_ref(), "lead");
//! assert_eq!(diff.changes[0].to.as_ref(), "prospect");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::lead::Value;
use crate::rules::Rules;
use crate::verdict::Verdict;

/// Sample lead ids kept per change of stage, unless set otherwise.
pub const DEFAULT_SAMPLES: usize = 3;

/// Largest score moves listed, unless set otherwise.
pub const DEFAULT_TOP: usize = 5;

/// Records compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct DiffCounts {
    /// Records read (compared + rejected).
    pub read: u64,
    /// Leads scored by both rule sets.
    pub compared: u64,
    /// Records rejected (unreadable, or refused by either rule set).
    pub rejected: u64,
    /// Leads whose stage changed.
    pub changed_stage: u64,
}

/// Leads that moved from one stage to another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageChange {
    /// The stage under the old rules.
    pub from: Arc<str>,
    /// The stage under the new rules.
    pub to: Arc<str>,
    /// How many leads made this move.
    pub leads: u64,
    /// The first few of them, in input order.
    pub samples: Vec<Value>,
}

/// One lead's score move.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreMove {
    /// The lead id.
    pub id: Value,
    /// Its old score.
    pub old: i64,
    /// Its new score.
    pub new: i64,
    /// new - old.
    pub change: i64,
    /// Its old stage.
    pub old_stage: Arc<str>,
    /// Its new stage.
    pub new_stage: Arc<str>,
}

/// How scores changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreChanges {
    /// The mean of new - old (0 for no leads).
    pub mean_change: f64,
    /// Leads whose score went up.
    pub up: u64,
    /// Leads whose score went down.
    pub down: u64,
    /// Leads whose score stayed.
    pub same: u64,
    /// The largest moves either way, largest first (input order breaks ties).
    pub largest: Vec<ScoreMove>,
}

/// How often a rule matched under each rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleChange {
    /// The rule id.
    pub rule: Arc<str>,
    /// Leads it matched under the old rules (`None`: not in the old rules).
    pub old: Option<u64>,
    /// Leads it matched under the new rules (`None`: not in the new rules).
    pub new: Option<u64>,
}

/// The comparison of two rule sets on one batch. Serializes to the JSON
/// `leadscore diff --format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// Records read, compared, rejected; leads that changed stage.
    pub leads: DiffCounts,
    /// The old rules' stages: the matrix's rows.
    pub old_stages: Vec<Arc<str>>,
    /// The new rules' stages: the matrix's columns.
    pub new_stages: Vec<Arc<str>>,
    /// `matrix[row][column]`: leads in old stage `row` and new stage `column`.
    pub matrix: Vec<Vec<u64>>,
    /// Each change of stage that happened, in matrix order, with sample leads.
    pub changes: Vec<StageChange>,
    /// How scores moved.
    pub scores: ScoreChanges,
    /// Rules whose match count differs (added and removed rules included), old rules'
    /// order first.
    pub rules: Vec<RuleChange>,
}

/// Collects pairs of verdicts, old and new, into a [`Diff`].
#[derive(Debug, Clone)]
pub struct DiffBuilder {
    old_stages: Vec<Arc<str>>,
    new_stages: Vec<Arc<str>>,
    samples: usize,
    top: usize,
    counts: DiffCounts,
    matrix: Vec<Vec<u64>>,
    cell_samples: BTreeMap<(usize, usize), Vec<Value>>,
    total_change: i128,
    up: u64,
    down: u64,
    same: u64,
    /// (|change|, input order, move), largest kept.
    largest: Vec<(i64, u64, ScoreMove)>,
    rules: Vec<Arc<str>>,
    rule_index: BTreeMap<Arc<str>, usize>,
    old_matches: Vec<Option<u64>>,
    new_matches: Vec<Option<u64>>,
}

impl DiffBuilder {
    /// A builder comparing verdicts of `old` rules with verdicts of `new` rules.
    pub fn new(old: &Rules, new: &Rules) -> DiffBuilder {
        let old_stages: Vec<Arc<str>> = old.policy.stages.iter().map(|s| s.id.clone()).collect();
        let new_stages: Vec<Arc<str>> = new.policy.stages.iter().map(|s| s.id.clone()).collect();
        let mut rules: Vec<Arc<str>> = Vec::new();
        let mut rule_index = BTreeMap::new();
        for rule in old.rules.iter().chain(&new.rules) {
            if !rule_index.contains_key(&rule.id) {
                rule_index.insert(rule.id.clone(), rules.len());
                rules.push(rule.id.clone());
            }
        }
        let known = |set: &Rules| -> Vec<Option<u64>> {
            rules
                .iter()
                .map(|id| set.rules.iter().any(|r| r.id == *id).then_some(0))
                .collect()
        };
        DiffBuilder {
            matrix: vec![vec![0; new_stages.len()]; old_stages.len()],
            old_matches: known(old),
            new_matches: known(new),
            old_stages,
            new_stages,
            samples: DEFAULT_SAMPLES,
            top: DEFAULT_TOP,
            counts: DiffCounts::default(),
            cell_samples: BTreeMap::new(),
            total_change: 0,
            up: 0,
            down: 0,
            same: 0,
            largest: Vec::new(),
            rules,
            rule_index,
        }
    }

    /// Keeps up to `n` sample lead ids per change of stage.
    pub fn samples(mut self, n: usize) -> DiffBuilder {
        self.samples = n;
        self
    }

    /// Lists the `n` largest score moves.
    pub fn top(mut self, n: usize) -> DiffBuilder {
        self.top = n;
        self
    }

    /// Counts one lead, given its verdict under the old rules and under the new ones.
    pub fn add(&mut self, old: &Verdict, new: &Verdict) {
        let order = self.counts.read;
        self.counts.read += 1;
        self.counts.compared += 1;
        let row = position(&self.old_stages, &old.stage);
        let column = position(&self.new_stages, &new.stage);
        self.matrix[row][column] += 1;
        if old.stage != new.stage {
            self.counts.changed_stage += 1;
            let samples = self.cell_samples.entry((row, column)).or_default();
            if samples.len() < self.samples {
                samples.push(old.id.clone());
            }
        }
        let change = new.score - old.score;
        self.total_change += i128::from(change);
        match change.cmp(&0) {
            std::cmp::Ordering::Greater => self.up += 1,
            std::cmp::Ordering::Less => self.down += 1,
            std::cmp::Ordering::Equal => self.same += 1,
        }
        if change != 0 && self.top > 0 {
            let size = change.saturating_abs();
            let smallest = self.largest.last().map_or(0, |l| l.0);
            if self.largest.len() < self.top || size > smallest {
                self.largest.push((
                    size,
                    order,
                    ScoreMove {
                        id: old.id.clone(),
                        old: old.score,
                        new: new.score,
                        change,
                        old_stage: old.stage.clone(),
                        new_stage: new.stage.clone(),
                    },
                ));
                self.largest
                    .sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                self.largest.truncate(self.top);
            }
        }
        for (verdict, counts) in [(old, &mut self.old_matches), (new, &mut self.new_matches)] {
            for m in &verdict.matched {
                if let Some(&i) = self.rule_index.get(&m.rule)
                    && let Some(n) = &mut counts[i]
                {
                    *n += 1;
                }
            }
        }
    }

    /// Counts one rejected record.
    pub fn reject(&mut self) {
        self.counts.read += 1;
        self.counts.rejected += 1;
    }

    /// The comparison.
    pub fn finish(self) -> Diff {
        let mut changes = Vec::new();
        for (row, cells) in self.matrix.iter().enumerate() {
            for (column, &leads) in cells.iter().enumerate() {
                if leads == 0 || self.old_stages[row] == self.new_stages[column] {
                    continue;
                }
                changes.push(StageChange {
                    from: self.old_stages[row].clone(),
                    to: self.new_stages[column].clone(),
                    leads,
                    samples: self
                        .cell_samples
                        .get(&(row, column))
                        .cloned()
                        .unwrap_or_default(),
                });
            }
        }
        let compared = self.counts.compared;
        let mean_change = if compared == 0 {
            0.0
        } else {
            ((self.total_change as f64 / compared as f64) * 1e6).round() / 1e6
        };
        let rules = self
            .rules
            .iter()
            .zip(self.old_matches.iter().zip(&self.new_matches))
            .filter(|(_, (old, new))| old != new)
            .map(|(rule, (&old, &new))| RuleChange {
                rule: rule.clone(),
                old,
                new,
            })
            .collect();
        Diff {
            leads: self.counts,
            old_stages: self.old_stages,
            new_stages: self.new_stages,
            matrix: self.matrix,
            changes,
            scores: ScoreChanges {
                mean_change,
                up: self.up,
                down: self.down,
                same: self.same,
                largest: self.largest.into_iter().map(|l| l.2).collect(),
            },
            rules,
        }
    }
}

/// The index of a stage; a stage the rules do not list (which a verdict of these rules
/// never has) counts as the default, the last.
fn position(stages: &[Arc<str>], stage: &str) -> usize {
    stages
        .iter()
        .position(|s| &**s == stage)
        .unwrap_or(stages.len().saturating_sub(1))
}

impl Diff {
    /// The comparison as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "null".to_string())
    }

    /// The comparison as plain-text tables for a terminal.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let c = &self.leads;
        let _ = writeln!(
            out,
            "leads: {} read, {} compared, {} rejected; {} changed stage\n",
            c.read, c.compared, c.rejected, c.changed_stage
        );
        crate::analysis::matrix::render(
            &mut out,
            "OLD \\ NEW",
            &self.old_stages,
            &self.new_stages,
            &self.matrix,
        );
        out.push_str("\nSTAGE CHANGES\n");
        if self.changes.is_empty() {
            out.push_str("(none)\n");
        }
        for change in &self.changes {
            let samples: Vec<String> = change.samples.iter().map(Value::to_string).collect();
            let _ = writeln!(
                out,
                "{} -> {}: {} (e.g. {})",
                change.from,
                change.to,
                change.leads,
                samples.join(", ")
            );
        }
        let s = &self.scores;
        let _ = writeln!(
            out,
            "\nSCORES: mean change {:+.2}; {} up, {} down, {} same",
            s.mean_change, s.up, s.down, s.same
        );
        if !s.largest.is_empty() {
            out.push_str("largest moves:\n");
        }
        for m in &s.largest {
            let _ = writeln!(
                out,
                "  {}: {} -> {} ({:+}), {} -> {}",
                m.id, m.old, m.new, m.change, m.old_stage, m.new_stage
            );
        }
        if !self.rules.is_empty() {
            let _ = writeln!(out, "\n{:<28} {:>8} {:>8}", "RULE", "OLD", "NEW");
            let count = |n: Option<u64>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
            for r in &self.rules {
                let _ = writeln!(
                    out,
                    "{:<28} {:>8} {:>8}",
                    r.rule,
                    count(r.old),
                    count(r.new)
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::Date;
    use crate::lead::Lead;
    use crate::scorer::Scorer;
    use serde_json::json;
    use std::path::PathBuf;

    fn scorer(text: &str) -> Scorer {
        Scorer::new(Rules::from_sources(vec![(PathBuf::from("r.yaml"), text.to_string())]).unwrap())
    }

    #[test]
    fn transitions_samples_and_largest_moves() {
        let old = scorer(
            "rules:\n  - id: budget\n    when: { field: budget, gte: 10000 }\n    points: 40\n    signals: [budget, need]\n",
        );
        let new = scorer(
            "rules:\n  - id: budget\n    when: { field: budget, gte: 5000 }\n    points: 40\n    signals: [budget, need]\n  - id: big\n    when: { field: budget, gte: 50000 }\n    points: 30\n    signals: [pricing_discussed]\n",
        );
        let mut builder = DiffBuilder::new(old.rules(), new.rules()).samples(2).top(2);
        for (id, budget) in [
            ("a", 6000),
            ("b", 7000),
            ("c", 8000),
            ("d", 60000),
            ("e", 100),
        ] {
            let lead = Lead::from_json(json!({"id": id, "budget": budget})).unwrap();
            let as_of = Date::UNIX_EPOCH;
            builder.add(&old.score(&lead, as_of), &new.score(&lead, as_of));
        }
        builder.reject();
        let diff = builder.finish();
        assert_eq!(
            diff.leads,
            DiffCounts {
                read: 6,
                compared: 5,
                rejected: 1,
                changed_stage: 4
            }
        );
        // Rows and columns: disqualified, ready_to_convert, prospect, lead.
        assert_eq!(
            diff.matrix,
            vec![
                vec![0, 0, 0, 0],
                vec![0, 0, 0, 0],
                vec![0, 1, 0, 0],
                vec![0, 0, 3, 1]
            ]
        );
        assert_eq!(diff.changes.len(), 2);
        assert_eq!(
            (
                &*diff.changes[0].from,
                &*diff.changes[0].to,
                diff.changes[0].leads
            ),
            ("prospect", "ready_to_convert", 1)
        );
        assert_eq!(
            diff.changes[1].samples,
            [Value::Text("a".into()), Value::Text("b".into())]
        );
        // a, b, c: 0 -> 40; d: 40 -> 70; e stays at 0.
        assert_eq!(
            (diff.scores.up, diff.scores.down, diff.scores.same),
            (4, 0, 1)
        );
        assert_eq!(diff.scores.mean_change, 30.0);
        let largest: Vec<String> = diff
            .scores
            .largest
            .iter()
            .map(|m| m.id.to_string())
            .collect();
        assert_eq!(largest, ["a", "b"], "ties keep input order");
        assert_eq!(
            diff.rules,
            vec![
                RuleChange {
                    rule: Arc::from("budget"),
                    old: Some(1),
                    new: Some(4)
                },
                RuleChange {
                    rule: Arc::from("big"),
                    old: None,
                    new: Some(1)
                },
            ]
        );
    }
}

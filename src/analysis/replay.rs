//! Replaying a decision log (`leadscore serve --decision-log`): every logged lead is
//! scored again by a rules folder, as of its logged date, and its new verdict compared
//! with the logged one. Grouped by the hash of the rules that made each decision, this
//! proves a verdict came from the rules it names (the group whose hash is the folder's
//! must be all identical) and shows what a rule change would have done to real traffic
//! (the other groups).
//!
//! ```
//! use leadscore::replay::ReplayBuilder;
//! use leadscore::{Rules, Scorer};
//!
//! let scorer = Scorer::new(Rules::load_dir("rules")?);
//! let hash = Rules::hash_dir("rules")?;
//! let line = format!(
//!     r#"{{"request_id":"r1","record":"request:1","as_of":"2026-11-27","rules":"{hash}","lead":{{"id":"L-1"}},"verdict":{{}}}}"#
//! );
//! let mut builder = ReplayBuilder::new(&scorer, &hash);
//! builder.add("decisions.jsonl:1", &line);
//! let replay = builder.finish();
//! // The logged verdict `{}` is not what the rules say: the line is counted as differing.
//! assert_eq!(replay.groups[0].differing, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value as Json;

use crate::date::Date;
use crate::lead::Lead;
use crate::scorer::Scorer;

/// Differences listed per rules hash, unless set otherwise.
pub const DEFAULT_SAMPLES: usize = 20;

/// Rejected lines listed, at most.
const MAX_REJECTS: usize = 100;

/// A logged verdict's stage and score, or the replayed one's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outline {
    /// The stage.
    pub stage: Option<String>,
    /// The score.
    pub score: Option<i64>,
}

impl Outline {
    fn of(verdict: &Json) -> Outline {
        Outline {
            stage: verdict["stage"].as_str().map(str::to_string),
            score: verdict["score"].as_i64(),
        }
    }
}

/// One decision whose replayed verdict differs from the logged one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Where it was logged: `file:line`.
    pub source: String,
    /// The request it was part of.
    pub request_id: Option<String>,
    /// The lead's id (the verdict's `id`).
    pub id: Json,
    /// The as-of date it was scored (and replayed) with.
    pub as_of: String,
    /// The logged verdict's stage and score.
    pub logged: Outline,
    /// The replayed verdict's stage and score.
    pub replayed: Outline,
    /// The verdict keys whose values differ (`score`, `stage`, `matched`, ...).
    pub keys: Vec<String>,
}

/// The decisions made by one set of rules (one hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RulesGroup {
    /// The hash the decisions were logged with.
    pub rules: String,
    /// Whether this is the hash of the rules replayed with: then every verdict should
    /// be identical.
    pub replayed_rules: bool,
    /// Decisions replayed.
    pub decisions: u64,
    /// Decisions whose replayed verdict is identical.
    pub identical: u64,
    /// Decisions whose replayed verdict differs.
    pub differing: u64,
    /// The first differences, in log order.
    pub differences: Vec<Difference>,
}

/// A log line that could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// `file:line`.
    pub source: String,
    /// Why.
    pub reason: String,
}

/// The outcome of a replay. Serializes to what `leadscore replay --format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replay {
    /// The hash of the rules replayed with.
    pub rules: String,
    /// Log lines read (replayed + rejected).
    pub read: u64,
    /// Decisions replayed.
    pub replayed: u64,
    /// Decisions whose replayed verdict is identical, over all groups.
    pub identical: u64,
    /// Decisions whose replayed verdict differs, over all groups.
    pub differing: u64,
    /// Lines that could not be replayed.
    pub rejected: u64,
    /// One group per rules hash, in the order the log first names them.
    pub groups: Vec<RulesGroup>,
    /// The first rejected lines.
    pub rejects: Vec<Rejected>,
}

/// Replays decision log lines one at a time into a [`Replay`].
#[derive(Debug)]
pub struct ReplayBuilder<'s> {
    scorer: &'s Scorer,
    replay: Replay,
    index: BTreeMap<String, usize>,
    samples: usize,
}

impl<'s> ReplayBuilder<'s> {
    /// A replay with `scorer`, whose rules have the hash `rules` (from
    /// [`Rules::hash_dir`](crate::Rules::hash_dir)).
    pub fn new(scorer: &'s Scorer, rules: &str) -> ReplayBuilder<'s> {
        ReplayBuilder {
            scorer,
            replay: Replay {
                rules: rules.to_string(),
                read: 0,
                replayed: 0,
                identical: 0,
                differing: 0,
                rejected: 0,
                groups: Vec::new(),
                rejects: Vec::new(),
            },
            index: BTreeMap::new(),
            samples: DEFAULT_SAMPLES,
        }
    }

    /// Lists up to `n` differences per rules hash.
    pub fn samples(mut self, n: usize) -> ReplayBuilder<'s> {
        self.samples = n;
        self
    }

    /// Replays one log line; `source` names it (`decisions.jsonl:12`). A line that is
    /// not a decision is counted as rejected, with the reason.
    pub fn add(&mut self, source: &str, line: &str) {
        self.replay.read += 1;
        if let Err(reason) = self.replay_line(source, line) {
            self.replay.rejected += 1;
            if self.replay.rejects.len() < MAX_REJECTS {
                self.replay.rejects.push(Rejected {
                    source: source.to_string(),
                    reason,
                });
            }
        }
    }

    fn replay_line(&mut self, source: &str, line: &str) -> Result<(), String> {
        let mut logged: Json =
            serde_json::from_str(line).map_err(|e| format!("not a JSON line: {e}"))?;
        let text = |logged: &Json, key: &str| -> Result<String, String> {
            logged[key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("no `{key}` (text) in the decision"))
        };
        let rules = text(&logged, "rules")?;
        let as_of_text = text(&logged, "as_of")?;
        let as_of: Date = as_of_text.parse().map_err(|e| format!("`as_of`: {e}"))?;
        if !logged["verdict"].is_object() {
            return Err("no `verdict` (an object) in the decision".into());
        }
        let lead = Lead::from_json(logged["lead"].take()).map_err(|e| format!("`lead`: {e}"))?;
        let mut verdict = self.scorer.score(&lead, as_of);
        if let Some(record) = logged["record"].as_str() {
            verdict.name_by(record);
        }
        let replayed: Json = serde_json::from_str(&verdict.to_json_line())
            .map_err(|e| format!("cannot read the replayed verdict: {e}"))?;
        let logged_verdict = &logged["verdict"];

        let group = match self.index.get(&rules) {
            Some(&i) => i,
            None => {
                self.index.insert(rules.clone(), self.replay.groups.len());
                self.replay.groups.push(RulesGroup {
                    replayed_rules: rules == self.replay.rules,
                    rules,
                    decisions: 0,
                    identical: 0,
                    differing: 0,
                    differences: Vec::new(),
                });
                self.replay.groups.len() - 1
            }
        };
        let group = &mut self.replay.groups[group];
        self.replay.replayed += 1;
        group.decisions += 1;
        if *logged_verdict == replayed {
            self.replay.identical += 1;
            group.identical += 1;
            return Ok(());
        }
        self.replay.differing += 1;
        group.differing += 1;
        if group.differences.len() < self.samples {
            group.differences.push(Difference {
                source: source.to_string(),
                request_id: logged["request_id"].as_str().map(str::to_string),
                id: replayed["id"].clone(),
                as_of: as_of_text,
                logged: Outline::of(logged_verdict),
                replayed: Outline::of(&replayed),
                keys: differing_keys(logged_verdict, &replayed),
            });
        }
        Ok(())
    }

    /// The replay.
    pub fn finish(self) -> Replay {
        self.replay
    }
}

/// The keys of two verdicts whose values differ: the verdict's own keys in its order,
/// then any others by name.
fn differing_keys(logged: &Json, replayed: &Json) -> Vec<String> {
    const ORDER: [&str; 11] = [
        "id",
        "score",
        "scores",
        "grade",
        "stage",
        "transition",
        "signals",
        "matched",
        "disqualified",
        "next",
        "errors",
    ];
    let empty = serde_json::Map::new();
    let old = logged.as_object().unwrap_or(&empty);
    let new = replayed.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = old
        .keys()
        .chain(new.keys().filter(|k| !old.contains_key(*k)))
        .filter(|k| old.get(*k) != new.get(*k))
        .collect();
    let rank = |k: &str| ORDER.iter().position(|o| *o == k).unwrap_or(ORDER.len());
    keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    keys.into_iter().cloned().collect()
}

impl Replay {
    /// Whether any decision replayed differently.
    pub fn any_differ(&self) -> bool {
        self.differing > 0
    }

    /// The replay as text for a terminal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "replayed {} decision{} with rules {}: {} identical, {} differ{}",
            self.replayed,
            if self.replayed == 1 { "" } else { "s" },
            self.rules,
            self.identical,
            self.differing,
            match self.rejected {
                0 => String::new(),
                n => format!(", {n} line{} rejected", if n == 1 { "" } else { "s" }),
            }
        );
        for group in &self.groups {
            let _ = writeln!(
                out,
                "\nlogged by {}{}\n  {:>8} decisions  {:>8} identical  {:>8} differ",
                group.rules,
                if group.replayed_rules {
                    " (the rules replayed with)"
                } else {
                    ""
                },
                group.decisions,
                group.identical,
                group.differing
            );
            if group.differences.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "  {:<24} {:<16} {:<24} {:<10} {:<28} DIFFERS IN",
                "LOGGED AT", "LEAD", "REQUEST", "AS OF", "STAGE, SCORE"
            );
            for d in &group.differences {
                let outline = |o: &Outline| {
                    format!(
                        "{} {}",
                        o.stage.as_deref().unwrap_or("?"),
                        o.score.map_or("?".to_string(), |s| s.to_string())
                    )
                };
                let id = match &d.id {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let _ = writeln!(
                    out,
                    "  {:<24} {:<16} {:<24} {:<10} {:<28} {}",
                    d.source,
                    id,
                    d.request_id.as_deref().unwrap_or("-"),
                    d.as_of,
                    format!("{} -> {}", outline(&d.logged), outline(&d.replayed)),
                    d.keys.join(", ")
                );
            }
            if group.differing > group.differences.len() as u64 {
                let _ = writeln!(
                    out,
                    "  ... and {} more",
                    group.differing - group.differences.len() as u64
                );
            }
        }
        for r in &self.rejects {
            let _ = writeln!(out, "\n{}: rejected: {}", r.source, r.reason);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rules;

    fn scorer(points: i64) -> Scorer {
        Scorer::new(
            Rules::from_sources(vec![(
                "r.yaml".into(),
                format!(
                    "rules:\n  - id: big_budget\n    when: {{ field: budget, gte: 10000 }}\n    points: {points}\n\
                     stages:\n  - id: hot\n    min_score: 50\n  - id: cold\n"
                ),
            )])
            .unwrap(),
        )
    }

    fn line(scorer: &Scorer, rules: &str, lead: Json) -> String {
        let as_of: Date = "2026-11-27".parse().unwrap();
        let mut verdict = scorer.score(&Lead::from_json(lead.clone()).unwrap(), as_of);
        verdict.name_by("request:1");
        let verdict: Json = serde_json::from_str(&verdict.to_json_line()).unwrap();
        serde_json::json!({
            "time": "2026-11-27T10:00:00Z", "request_id": "r-1", "record": "request:1",
            "as_of": "2026-11-27", "rules": rules, "lead": lead, "verdict": verdict,
        })
        .to_string()
    }

    #[test]
    fn identical_verdicts_and_a_changed_rule_are_told_apart() {
        let (old, new) = (scorer(60), scorer(40));
        let rich = serde_json::json!({"id": "L-1", "budget": 20000});
        let poor = serde_json::json!({"budget": 10});
        let mut builder = ReplayBuilder::new(&new, "sha256:new");
        builder.add("log:1", &line(&old, "sha256:old", rich.clone()));
        builder.add("log:2", &line(&old, "sha256:old", poor.clone()));
        builder.add("log:3", &line(&new, "sha256:new", rich));
        builder.add("log:4", "{not json");
        builder.add("log:5", r#"{"rules": "sha256:new", "as_of": "2026-13-01"}"#);
        let replay = builder.finish();
        assert_eq!(
            (
                replay.read,
                replay.replayed,
                replay.identical,
                replay.differing,
                replay.rejected
            ),
            (5, 3, 2, 1, 2)
        );
        let old_group = &replay.groups[0];
        assert_eq!(
            (old_group.rules.as_str(), old_group.replayed_rules),
            ("sha256:old", false)
        );
        assert_eq!((old_group.identical, old_group.differing), (1, 1));
        let d = &old_group.differences[0];
        assert_eq!(d.source, "log:1");
        assert_eq!(d.id, serde_json::json!("L-1"));
        assert_eq!(
            d.logged,
            Outline {
                stage: Some("hot".into()),
                score: Some(60)
            }
        );
        assert_eq!(
            d.replayed,
            Outline {
                stage: Some("cold".into()),
                score: Some(40)
            }
        );
        assert_eq!(d.keys, ["score", "stage", "matched", "next"]);
        let new_group = &replay.groups[1];
        assert!(new_group.replayed_rules);
        assert_eq!((new_group.identical, new_group.differing), (1, 0));
        assert!(
            replay.rejects[1].reason.contains("as_of"),
            "{:?}",
            replay.rejects
        );
        let text = replay.render();
        assert!(text.contains("hot 60 -> cold 40"), "{text}");
        assert!(text.contains("log:4: rejected: not a JSON line"), "{text}");
    }
}

//! [`Explanation`]: every rule on one lead, matched or not and why, and the stage
//! decision step by step. What `leadscore explain` prints.

use std::fmt::Write as _;

use serde::Serialize;

use crate::date::Date;
use crate::lead::Lead;
use crate::rules::RuleKind;
use crate::rules::predicate::{ConditionTrace, Env};
use crate::scorer::{Outcome, Scorer, evaluate};
use crate::stage::Facts;
use crate::verdict::{Decayed, Verdict};

/// Why a lead got its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The verdict itself, as `score` gives it.
    pub verdict: Verdict,
    /// Every rule, in evaluation order.
    pub rules: Vec<RuleTrace>,
    /// Every stage from the top, until the one chosen.
    pub stages: Vec<StageTrace>,
}

/// One rule on one lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTrace {
    /// The rule id.
    pub rule: String,
    /// Where it is written, `file:line:col`.
    pub at: String,
    /// The rule's description, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it matched.
    pub matched: bool,
    /// Points it gave (when matched, after decay) or would give (YAML rules, when not).
    pub points: i64,
    /// The score dimension its points count in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
    /// The points before decay and the age that faded them, when it matched and decays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decay: Option<Decayed>,
    /// Why a rule whose condition holds still did not count (a decayed rule without
    /// its date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Signals it gave or would give.
    pub signals: Vec<String>,
    /// Its reason, when it matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its disqualification reason, when it matched and disqualifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disqualify: Option<String>,
    /// Why it failed on this lead, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For YAML rules: the condition, part by part, with the values it saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<ConditionTrace>,
}

/// One step of the stage decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageTrace {
    /// The stage id.
    pub stage: String,
    /// The stage's description, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the lead meets it.
    pub holds: bool,
    /// Why not, one entry per unmet requirement.
    pub unmet: Vec<String>,
}

impl Scorer {
    /// Scores a lead and explains the result: every rule, matched or not, and each stage
    /// checked from the top until the one chosen.
    ///
    /// ```
    /// use leadscore::{Date, Lead, Rules, Scorer};
    /// let scorer = Scorer::new(Rules::load_dir("rules")?);
    /// let lead = Lead::from_json(serde_json::json!({"email": "a@acme.com", "budget": 20000}))?;
    /// let why = scorer.explain(&lead, Date::parse("2026-01-15").unwrap());
    /// assert_eq!(why.rules.len(), scorer.rules().rule_ids().count());
    /// assert_eq!(why.stages.last().map(|s| s.stage.as_str()), Some(&*why.verdict.stage));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn explain(&self, lead: &Lead, as_of: Date) -> Explanation {
        let verdict = self.score(lead, as_of);
        let rules = self.rules();
        let bound = rules.schema.bind(lead);
        let env = Env::new(
            &bound.values,
            as_of,
            &rules.scripts,
            Some(lead),
            &rules.schema,
        );
        let traces = rules
            .rules
            .iter()
            .map(|rule| {
                let mut trace = RuleTrace {
                    rule: rule.id.to_string(),
                    at: format!(
                        "{}:{}:{}",
                        rule.path.display(),
                        rule.span.line,
                        rule.span.col
                    ),
                    description: rule.description.clone(),
                    matched: false,
                    points: rule.points,
                    score: rule
                        .dimension
                        .map(|index| rules.settings.dimension_names[index].to_string()),
                    decay: None,
                    note: None,
                    signals: rule.signals.iter().map(|s| s.to_string()).collect(),
                    reason: None,
                    disqualify: None,
                    error: None,
                    condition: match &rule.kind {
                        RuleKind::Yaml(p) => Some(p.trace(&env)),
                        RuleKind::Script(_) => None,
                    },
                };
                match evaluate(rule, rules, &env) {
                    Outcome::Matched(m, _) => {
                        trace.matched = true;
                        trace.points = m.points;
                        trace.score = m.score.map(|s| s.to_string());
                        trace.decay = m.decay;
                        trace.signals = m.signals.iter().map(|s| s.to_string()).collect();
                        trace.reason = m.reason;
                        trace.disqualify = m.disqualify;
                    }
                    Outcome::NotMatched => {
                        if let (Some(decay), Some(condition)) = (&rule.decay, &trace.condition)
                            && condition.holds
                        {
                            let field = &rules.schema.field(decay.slot).name;
                            trace.note = Some(format!(
                                "not counted: no date in `{field}` to decay the points by"
                            ));
                        }
                    }
                    Outcome::Failed(e) => trace.error = Some(e),
                }
                trace
            })
            .collect();
        let facts = Facts {
            score: verdict.score,
            signals: &verdict.signals,
            disqualified: verdict.disqualified.is_some(),
            scores: verdict.scores.points(),
            grade: verdict.grade.as_ref().and_then(|g| g.as_deref()),
        };
        let mut stages = Vec::new();
        for index in 0..rules.policy.stages.len() {
            let (check, _) = rules.policy.check(index, &facts, &env);
            let holds = check.holds;
            stages.push(StageTrace {
                stage: rules.policy.stages[index].id.to_string(),
                description: rules.policy.stages[index].description.clone(),
                holds,
                unmet: check.unmet,
            });
            if holds {
                break;
            }
        }
        Explanation {
            verdict,
            rules: traces,
            stages,
        }
    }
}

impl Explanation {
    /// The explanation for people: rules with a mark (`+` matched, `-` not, `!` failed),
    /// the condition tree with the values seen, then the stage decision.
    pub fn render(&self) -> String {
        let v = &self.verdict;
        let mut out = String::new();
        let _ = write!(out, "lead {}: score {}", v.id, v.score);
        for (name, points) in v.scores.iter() {
            let _ = write!(out, ", {name} {points}");
        }
        if let Some(grade) = &v.grade {
            let _ = write!(out, ", grade {}", grade.as_deref().unwrap_or("none"));
        }
        let _ = writeln!(out, ", stage {}", v.stage);
        if let Some(transition) = &v.transition {
            let _ = match transition {
                Some(t) => writeln!(
                    out,
                    "transition: {} -> {} ({})",
                    t.from.as_deref().unwrap_or("none"),
                    t.to,
                    t.direction.as_str()
                ),
                None => writeln!(
                    out,
                    "transition: none, the CRM already has it in {}",
                    v.stage
                ),
            };
        }
        if let Some(reason) = &v.disqualified {
            let _ = writeln!(out, "disqualified: {reason}");
        }
        let _ = writeln!(out, "\nrules, in order:");
        for rule in &self.rules {
            let mark = match (&rule.error, rule.matched) {
                (Some(_), _) => '!',
                (None, true) => '+',
                (None, false) => '-',
            };
            let points = if rule.matched || rule.condition.is_some() {
                format!("{:+} points", rule.points)
            } else {
                "no match".to_string()
            };
            let _ = write!(out, "  {mark} {:<24} {points}", rule.rule);
            if let Some(score) = &rule.score {
                let _ = write!(out, " to {score}");
            }
            if let Some(decay) = &rule.decay {
                let _ = write!(
                    out,
                    " (decayed from {:+}, {} days old)",
                    decay.points, decay.age_days
                );
            }
            if !rule.signals.is_empty() {
                let _ = write!(out, "  [{}]", rule.signals.join(", "));
            }
            let _ = writeln!(out, "  ({})", rule.at);
            for text in [&rule.reason, &rule.disqualify, &rule.error, &rule.note]
                .into_iter()
                .flatten()
            {
                let _ = writeln!(out, "      {text}");
            }
            if let Some(condition) = &rule.condition {
                render_condition(&mut out, condition, 3);
            }
        }
        let _ = writeln!(out, "\nstage decision, from the top:");
        for stage in &self.stages {
            if stage.holds {
                let _ = writeln!(out, "  {}: yes", stage.stage);
            } else {
                let _ = writeln!(out, "  {}: no, {}", stage.stage, stage.unmet.join("; "));
            }
        }
        let _ = match &v.next {
            Some(next) => {
                let missing = if next.missing.is_empty() {
                    "no signals".to_string()
                } else {
                    next.missing
                        .iter()
                        .map(|s| s.as_ref())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let _ = write!(
                    out,
                    "\nnext: {} needs {missing} and {} more points",
                    next.stage, next.points_needed
                );
                for (name, needed) in next.scores_needed.iter() {
                    let _ = write!(out, ", {needed} more {name}");
                }
                if let Some(grades) = &next.grade_needed {
                    let grades: Vec<&str> = grades.iter().map(|g| g.as_ref()).collect();
                    let _ = write!(out, ", a grade of {}", grades.join(" or "));
                }
                writeln!(out)
            }
            None => writeln!(out, "\nnext: none (top stage or disqualified)"),
        };
        if !v.errors.is_empty() {
            let _ = writeln!(out, "\nerrors:");
            for e in &v.errors {
                let _ = writeln!(out, "  {}: {}", e.rule, e.message);
            }
        }
        out
    }
}

fn render_condition(out: &mut String, trace: &ConditionTrace, depth: usize) {
    let indent = "  ".repeat(depth);
    let verdict = if trace.holds { "yes" } else { "no" };
    let _ = write!(out, "{indent}{} -> {verdict}", trace.condition);
    if let Some(saw) = &trace.saw {
        let _ = write!(out, " (saw {})", shown(saw));
    }
    if let Some(error) = &trace.error {
        let _ = write!(out, " (failed: {error})");
    }
    let _ = writeln!(out);
    for part in &trace.parts {
        render_condition(out, part, depth + 1);
    }
}

fn shown(value: &crate::lead::Value) -> String {
    match value {
        crate::lead::Value::Null => "nothing".to_string(),
        crate::lead::Value::Text(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rules;
    use std::path::PathBuf;

    const RULES: &str = "rules:\n  - id: big\n    when: { all: [ { field: budget, gte: 10000 }, { not: { field: email, ends_with: .edu } } ] }\n    points: 50\n    signals: [budget]\n  - id: need\n    when: { field: pain, exists: true }\n    points: 10\n    signals: [need]\n";

    fn explain(lead: serde_json::Value) -> Explanation {
        let rules =
            Rules::from_sources(vec![(PathBuf::from("r.yaml"), RULES.to_string())]).unwrap();
        let lead = Lead::from_json(lead).unwrap();
        Scorer::new(rules).explain(&lead, Date::parse("2024-01-01").unwrap())
    }

    #[test]
    fn every_rule_is_listed_with_what_it_saw() {
        let e = explain(serde_json::json!({"id": "a", "budget": 20000, "email": "x@y.com"}));
        assert_eq!(e.rules.len(), 2);
        assert!(e.rules[0].matched && !e.rules[1].matched);
        let cond = e.rules[0].condition.as_ref().unwrap();
        assert_eq!(cond.parts[0].condition, "budget gte 10000");
        assert_eq!(cond.parts[0].saw, Some(crate::Value::Int(20000)));
        assert_eq!(cond.parts[1].parts[0].condition, "email ends_with '.edu'");
        assert_eq!(
            e.rules[1].condition.as_ref().unwrap().saw,
            Some(crate::Value::Null)
        );
    }

    #[test]
    fn the_stage_decision_is_shown_step_by_step() {
        let e = explain(serde_json::json!({"budget": 20000}));
        let steps: Vec<(&str, bool)> = e
            .stages
            .iter()
            .map(|s| (s.stage.as_str(), s.holds))
            .collect();
        assert_eq!(
            steps,
            [
                ("disqualified", false),
                ("ready_to_convert", false),
                ("prospect", false),
                ("lead", true)
            ]
        );
        assert_eq!(e.stages[2].unmet, ["missing signal `need`"]);
        let text = e.render();
        assert!(
            text.contains("prospect: no, missing signal `need`"),
            "{text}"
        );
        assert!(
            text.contains("next: prospect needs need and 0 more points"),
            "{text}"
        );
        assert!(text.contains("+ big"), "{text}");
    }
}

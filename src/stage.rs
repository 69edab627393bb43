//! The stage policy: stages top to bottom, the first that matches wins, the last is the
//! default; and `next`, what a lead lacks to climb one stage.

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::rules::predicate::{Env, Predicate};
use crate::verdict::{Next, RuleFailure, Scores, assign_name};

/// One stage: a lead is in it when its score reaches `min_score`, it has every signal in
/// `requires`, and `when` holds; a `disqualified` stage takes disqualified leads only.
#[derive(Debug, Clone)]
pub(crate) struct Stage {
    pub id: Arc<str>,
    pub description: Option<String>,
    pub disqualified: bool,
    pub min_score: Option<i64>,
    pub requires: Vec<Arc<str>>,
    pub when: Option<Predicate>,
    /// Minimum points per dimension (`min_scores:`): (dimension index, minimum).
    pub min_scores: Vec<(usize, i64)>,
    /// The names of those dimensions, in the same order.
    pub min_score_names: Arc<[Arc<str>]>,
    /// The grades the stage accepts (`grades:`); `None` accepts any.
    pub grades: Option<Vec<Arc<str>>>,
}

impl Stage {
    fn plain(id: &str, min_score: Option<i64>, requires: &[&str]) -> Stage {
        Stage {
            id: Arc::from(id),
            description: None,
            disqualified: false,
            min_score,
            requires: requires.iter().map(|s| Arc::from(*s)).collect(),
            when: None,
            min_scores: Vec::new(),
            min_score_names: Arc::from(Vec::new()),
            grades: None,
        }
    }

    /// True when the stage sets no condition at all.
    pub fn is_unconditional(&self) -> bool {
        !self.disqualified
            && self.min_score.is_none()
            && self.requires.is_empty()
            && self.when.is_none()
            && self.min_scores.is_empty()
            && self.grades.is_none()
    }

    /// True when every lead that meets `later` also meets this stage, so that, placed
    /// above it, this stage takes all of `later`'s leads. (A `when:` here could say no,
    /// so a stage with one covers nothing.)
    pub fn covers(&self, later: &Stage) -> bool {
        let min_covered = match (self.min_score, later.min_score) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => mine <= theirs,
            (Some(_), None) => false,
        };
        let dimensions_covered = self.min_scores.iter().all(|(dim, mine)| {
            later
                .min_scores
                .iter()
                .any(|(other, theirs)| other == dim && mine <= theirs)
        });
        let grades_covered = match (&self.grades, &later.grades) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => theirs.iter().all(|g| mine.contains(g)),
            (Some(_), None) => false,
        };
        self.when.is_none()
            && (!self.disqualified || later.disqualified)
            && min_covered
            && dimensions_covered
            && grades_covered
            && self.requires.iter().all(|s| later.requires.contains(s))
    }
}

/// What the stage decision looks at besides the lead's fields.
pub(crate) struct Facts<'a> {
    pub score: i64,
    /// Sorted, unique.
    pub signals: &'a [Arc<str>],
    pub disqualified: bool,
    /// Points per dimension, by dimension index.
    pub scores: &'a [i64],
    /// The lead's grade, when the rules grade.
    pub grade: Option<&'a str>,
}

impl Facts<'_> {
    /// Whether the lead has `signal`. A scan, not a binary search: a lead has a few
    /// signals, and `==` tells most names apart by their length without reading them,
    /// where ordering them calls `memcmp` every time (3% of the time of bulk scoring in
    /// a timer profile, BENCHMARKS.md, issue 14, session 8).
    fn has(&self, signal: &str) -> bool {
        self.signals.iter().any(|s| **s == *signal)
    }

    fn dimension(&self, index: usize) -> i64 {
        self.scores.get(index).copied().unwrap_or(0)
    }

    fn graded_one_of(&self, grades: &[Arc<str>]) -> bool {
        self.grade
            .is_some_and(|grade| grades.iter().any(|g| **g == *grade))
    }
}

/// A requirement of a stage that a lead misses.
enum Unmet<'a> {
    NotDisqualified,
    Score {
        score: i64,
        min: i64,
    },
    Dimension {
        name: &'a str,
        score: i64,
        min: i64,
    },
    Grade {
        grade: Option<&'a str>,
        accepted: &'a [Arc<str>],
    },
    Signal(&'a str),
    When,
    WhenFailed(String),
}

impl std::fmt::Display for Unmet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unmet::NotDisqualified => f.write_str("no rule disqualifies the lead"),
            Unmet::Score { score, min } => write!(f, "score {score} is below {min}"),
            Unmet::Dimension { name, score, min } => {
                write!(f, "{name} score {score} is below {min}")
            }
            Unmet::Grade { grade, accepted } => {
                let accepted: Vec<&str> = accepted.iter().map(|g| g.as_ref()).collect();
                match grade {
                    Some(grade) => write!(f, "grade {grade} is not one of {}", accepted.join(", ")),
                    None => write!(f, "no grade, needs one of {}", accepted.join(", ")),
                }
            }
            Unmet::Signal(signal) => write!(f, "missing signal `{signal}`"),
            Unmet::When => f.write_str("its `when` condition does not hold"),
            Unmet::WhenFailed(message) => write!(f, "its `when` condition failed: {message}"),
        }
    }
}

/// The outcome of checking one stage against a lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageCheck {
    pub holds: bool,
    /// Each unmet requirement, in words (`score 35 below 40`, `missing signal need`).
    pub unmet: Vec<String>,
}

/// The ordered stages.
#[derive(Debug, Clone)]
pub(crate) struct StagePolicy {
    pub stages: Vec<Stage>,
}

impl StagePolicy {
    /// lead -> prospect -> ready_to_convert, or disqualified: the policy when no file
    /// declares stages.
    pub fn default_policy() -> StagePolicy {
        let mut disqualified = Stage::plain("disqualified", None, &[]);
        disqualified.disqualified = true;
        StagePolicy {
            stages: vec![
                disqualified,
                Stage::plain(
                    "ready_to_convert",
                    Some(70),
                    &["need", "budget", "pricing_discussed"],
                ),
                Stage::plain("prospect", Some(40), &["need", "budget"]),
                Stage::plain("lead", None, &[]),
            ],
        }
    }

    /// Checks one stage, telling `unmet` each requirement the lead misses (nothing is
    /// allocated unless a caller wants words), cheapest first; the check stops when
    /// `unmet` says `Break`. The last stage always holds (it is the default).
    fn evaluate(
        &self,
        index: usize,
        facts: &Facts<'_>,
        env: &Env<'_>,
        mut unmet: impl FnMut(Unmet<'_>) -> ControlFlow<()>,
    ) -> bool {
        let stage = &self.stages[index];
        if index + 1 == self.stages.len() {
            return true;
        }
        let mut holds = true;
        // True when the check should stop here.
        let mut miss = |u: Unmet<'_>| {
            holds = false;
            unmet(u).is_break()
        };
        if stage.disqualified && !facts.disqualified && miss(Unmet::NotDisqualified) {
            return false;
        }
        if let Some(min) = stage.min_score
            && facts.score < min
            && miss(Unmet::Score {
                score: facts.score,
                min,
            })
        {
            return false;
        }
        for ((index, min), name) in stage.min_scores.iter().zip(stage.min_score_names.iter()) {
            let score = facts.dimension(*index);
            if score < *min
                && miss(Unmet::Dimension {
                    name,
                    score,
                    min: *min,
                })
            {
                return false;
            }
        }
        if let Some(accepted) = &stage.grades
            && !facts.graded_one_of(accepted)
            && miss(Unmet::Grade {
                grade: facts.grade,
                accepted,
            })
        {
            return false;
        }
        for signal in &stage.requires {
            if !facts.has(signal) && miss(Unmet::Signal(signal)) {
                return false;
            }
        }
        if let Some(when) = &stage.when {
            let _ = match when.test(env) {
                Ok(true) => false,
                Ok(false) => miss(Unmet::When),
                Err(message) => miss(Unmet::WhenFailed(message)),
            };
        }
        holds
    }

    /// Whether a lead meets every requirement of a stage but its `min_score`: what
    /// `calibrate` needs to place a lead under proposed points.
    pub fn meets_all_but_score(&self, index: usize, facts: &Facts<'_>, env: &Env<'_>) -> bool {
        let mut other = false;
        self.evaluate(index, facts, env, |u| {
            other = !matches!(u, Unmet::Score { .. });
            if other {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        !other
    }

    /// Checks one stage and says, in words, each requirement the lead misses.
    pub fn check(
        &self,
        index: usize,
        facts: &Facts<'_>,
        env: &Env<'_>,
    ) -> (StageCheck, Option<RuleFailure>) {
        let mut unmet = Vec::new();
        let mut failure = None;
        let holds = self.evaluate(index, facts, env, |u| {
            unmet.push(u.to_string());
            if let Unmet::WhenFailed(message) = u {
                failure = Some(self.failure(index, message));
            }
            ControlFlow::Continue(())
        });
        (StageCheck { holds, unmet }, failure)
    }

    fn failure(&self, index: usize, message: String) -> RuleFailure {
        RuleFailure {
            rule: format!("stage:{}", self.stages[index].id),
            message,
        }
    }

    /// The first stage that holds, and any failure met on the way.
    pub fn choose(&self, facts: &Facts<'_>, env: &Env<'_>) -> (usize, Vec<RuleFailure>) {
        let mut failures = Vec::new();
        for index in 0..self.stages.len() {
            // Only the first unmet requirement matters here, except that a failing
            // `when:` is reported even when another requirement is unmet.
            let to_when = self.stages[index].when.is_some();
            let holds = self.evaluate(index, facts, env, |u| {
                if let Unmet::WhenFailed(message) = u {
                    failures.push(self.failure(index, message));
                }
                if to_when {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            });
            if holds {
                return (index, failures);
            }
        }
        // The last stage always holds, and a policy is never empty.
        (self.stages.len().saturating_sub(1), failures)
    }

    /// The stage just above `chosen` (disqualified stages are not a step up) and what the
    /// lead lacks for it, into `out` over what it held, in the room its list of missing
    /// signals already has (bulk scoring keeps one verdict per worker); `None` at the
    /// top and for disqualified leads.
    pub(crate) fn next_into(&self, chosen: usize, facts: &Facts<'_>, out: &mut Option<Next>) {
        let above = if facts.disqualified || self.stages[chosen].disqualified {
            None
        } else {
            self.stages[..chosen].iter().rev().find(|s| !s.disqualified)
        };
        let Some(above) = above else {
            *out = None;
            return;
        };
        let next = out.get_or_insert_with(|| Next {
            stage: above.id.clone(),
            missing: Vec::new(),
            points_needed: 0,
            scores_needed: Scores::new(above.min_score_names.clone(), Vec::new()),
            grade_needed: None,
        });
        assign_name(&mut next.stage, &above.id);
        next.missing.clear();
        next.missing
            .extend(above.requires.iter().filter(|s| !facts.has(s)).cloned());
        next.points_needed = above.min_score.map_or(0, |min| (min - facts.score).max(0));
        next.scores_needed = Scores::new(
            above.min_score_names.clone(),
            above
                .min_scores
                .iter()
                .map(|(index, min)| (min - facts.dimension(*index)).max(0))
                .collect(),
        );
        next.grade_needed = above
            .grades
            .as_ref()
            .filter(|accepted| !facts.graded_one_of(accepted))
            .cloned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::Date;
    use crate::lead::{Lead, Schema};
    use crate::script::{Limits, ScriptHost};

    fn decide(score: i64, signals: &[&str], disqualified: bool) -> (String, Option<Next>) {
        let policy = StagePolicy::default_policy();
        let mut signals: Vec<Arc<str>> = signals.iter().map(|s| Arc::from(*s)).collect();
        signals.sort();
        let facts = Facts {
            score,
            signals: &signals,
            disqualified,
            scores: &[],
            grade: None,
        };
        let scripts = ScriptHost::new(Limits::default());
        let lead = Lead::new();
        let schema = Schema::default();
        let env = Env::new(
            &[],
            Date::parse("2024-01-01").unwrap(),
            &scripts,
            Some(&lead),
            &schema,
        );
        let (chosen, failures) = policy.choose(&facts, &env);
        assert!(failures.is_empty());
        // Decided over what an earlier lead left, as bulk scoring does: nothing of it
        // may show.
        let mut next = Some(Next {
            stage: Arc::from("stale"),
            missing: vec![Arc::from("stale")],
            points_needed: 99,
            scores_needed: Scores::default(),
            grade_needed: Some(vec![Arc::from("Z")]),
        });
        policy.next_into(chosen, &facts, &mut next);
        (policy.stages[chosen].id.to_string(), next)
    }

    fn next(stage: &str, missing: &[&str], points_needed: i64) -> Option<Next> {
        Some(Next {
            stage: Arc::from(stage),
            missing: missing.iter().map(|s| Arc::from(*s)).collect(),
            points_needed,
            scores_needed: Scores::default(),
            grade_needed: None,
        })
    }

    #[test]
    fn a_new_lead_needs_need_budget_and_points() {
        assert_eq!(
            decide(10, &[], false),
            ("lead".into(), next("prospect", &["need", "budget"], 30))
        );
        assert_eq!(
            decide(50, &["budget"], false),
            ("lead".into(), next("prospect", &["need"], 0))
        );
    }

    #[test]
    fn a_prospect_looks_to_ready_to_convert() {
        assert_eq!(
            decide(45, &["budget", "need"], false),
            (
                "prospect".into(),
                next("ready_to_convert", &["pricing_discussed"], 25)
            )
        );
    }

    #[test]
    fn ready_to_convert_is_the_top() {
        assert_eq!(
            decide(90, &["budget", "need", "pricing_discussed"], false),
            ("ready_to_convert".into(), None)
        );
    }

    #[test]
    fn pricing_without_qualification_is_not_ready() {
        assert_eq!(decide(90, &["pricing_discussed", "need"], false).0, "lead");
    }

    #[test]
    fn a_signal_is_had_by_its_name_not_its_length() {
        // `deed` and `budgeT` have the lengths of `need` and `budget`, not their names.
        assert_eq!(
            decide(90, &["budgeT", "deed", "pricing_discussed"], false),
            ("lead".into(), next("prospect", &["need", "budget"], 0))
        );
    }

    #[test]
    fn disqualified_wins_and_has_no_next() {
        assert_eq!(
            decide(90, &["budget", "need", "pricing_discussed"], true),
            ("disqualified".into(), None)
        );
    }

    use proptest::prelude::*;

    proptest! {
        /// Choosing a stage stops at the first unmet requirement of a stage without a
        /// `when:`; it picks the stage that checking each one in full picks.
        #[test]
        fn the_chosen_stage_is_the_first_whose_full_check_holds(
            score in prop_oneof![proptest::sample::select(vec![9i64, 10, 39, 40, 69, 70]), -10i64..120],
            signals in proptest::sample::subsequence(vec!["a", "b", "budget", "need", "pricing_discussed"], 0..5),
            disqualified in any::<bool>(),
            fit in prop_oneof![proptest::sample::select(vec![29i64, 30]), 0i64..60],
            grade in proptest::sample::select(vec![None, Some("A"), Some("B")]),
        ) {
            let mut policy = StagePolicy::default_policy();
            let mut graded = Stage::plain("graded", Some(10), &["a"]);
            graded.min_scores = vec![(0, 30)];
            graded.min_score_names = Arc::from(vec![Arc::from("fit")]);
            graded.grades = Some(vec![Arc::from("A")]);
            policy.stages.insert(1, graded);
            let signals: Vec<Arc<str>> = signals.iter().map(|s| Arc::from(*s)).collect();
            let scores = [fit];
            let facts = Facts { score, signals: &signals, disqualified, scores: &scores, grade };
            let scripts = ScriptHost::new(Limits::default());
            let schema = Schema::default();
            let env = Env::new(&[], Date::UNIX_EPOCH, &scripts, None, &schema);
            let first_holding = (0..policy.stages.len())
                .find(|&i| policy.check(i, &facts, &env).0.holds);
            prop_assert_eq!(Some(policy.choose(&facts, &env).0), first_holding);
        }
    }
}

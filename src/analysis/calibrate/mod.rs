//! `leadscore calibrate`: learn a rules folder's points from past leads with a known
//! outcome. Each rule's match on each lead is a feature (a Rhai rule's is whether it
//! applied; disqualifying rules included); an L2-penalised logistic regression of the
//! outcome on those features gives each rule's weight and its standard error; the weights
//! are rescaled to integer points in the rules' current score range, a rule whose effect
//! is not distinguishable from zero proposed at 0. With a target, each stage's
//! `min_score` is proposed too. Every figure that judges the proposal is measured out of
//! fold: points learned on k-1 folds, scored on the fold they never saw.
//!
//! ```
//! use leadscore::calibrate::{CalibrateBuilder, Options};
//! use leadscore::{Date, Lead, Rules, Scorer};
//! let sources = vec![(
//!     "rules.yaml".into(),
//!     "rules:\n  - id: big\n    when: { field: budget, gte: 10000 }\n    points: 50\n".to_string(),
//! )];
//! let scorer = Scorer::new(Rules::from_sources(sources.clone())?);
//! let as_of = Date::UNIX_EPOCH;
//! let mut builder = CalibrateBuilder::new(scorer.rules(), &sources, "won", as_of, Options::default());
//! for i in 0..40 {
//!     let lead = Lead::from_json(serde_json::json!({
//!         "budget": if i % 2 == 0 { 20000 } else { 10 }, "won": i % 2 == 0 || i % 5 == 0,
//!     }))?;
//!     builder.add(&lead, &scorer.score(&lead, as_of));
//! }
//! let calibration = builder.finish()?;
//! assert_eq!(calibration.rules[0].rule, "big");
//! assert!(calibration.rules[0].coefficient.unwrap() > 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod fit;
mod folds;
mod measure;
mod propose;
mod render;
mod rewrite;
mod write;

pub use write::read_rules_dir;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::analysis::convert::field_value;
use crate::analysis::report::outcome_of;
use crate::date::Date;
use crate::diagnostic::Span;
use crate::lead::Lead;
use crate::rules::predicate::Env;
use crate::rules::{RuleKind, Rules};
use crate::stage::Facts;
use crate::verdict::Verdict;
use measure::{ceiling_figures, figures};
use propose::{Context, Proposal, propose};
use rewrite::{Edit, NumberSite};

/// Folds used when none are asked for.
pub const DEFAULT_FOLDS: usize = 5;

/// How far from zero (in standard errors) a rule's weight must be to get points: the
/// usual two-sided 95% level.
pub const Z_CUTOFF: f64 = 1.96;

/// What the ready stage (the top stage that is not disqualified) should achieve; its
/// `min_score` is proposed to meet it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum ReadyTarget {
    /// The smallest `min_score` at which this share of ready leads (0 to 1) converted.
    Precision(f64),
    /// The smallest `min_score` at which at most this share of all leads (0 to 1) is
    /// ready.
    Share(f64),
}

/// How to calibrate.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Folds for the cross-validated figures (at least 2).
    pub folds: usize,
    /// Seeds the shuffle that deals leads into folds.
    pub seed: u64,
    /// Also propose stage `min_score` values for this target.
    pub target: Option<ReadyTarget>,
    /// The lowest stage counted as qualified (default: the one just above the default
    /// stage), as in `report`.
    pub qualified: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            folds: DEFAULT_FOLDS,
            seed: 0,
            target: None,
            qualified: None,
        }
    }
}

/// One scored lead with an outcome, as the fit sees it.
#[derive(Debug, Clone)]
struct Row {
    /// Indices of the rules it matched, ascending.
    features: Vec<usize>,
    positive: bool,
    /// The score and stage index the current rules gave.
    score: i64,
    stage: usize,
    /// Points of matched rules whose points are not rewritten (Rhai rules, inline
    /// mappings without `points:`): they stay as the rules give them.
    fixed_points: i64,
    /// Per stage: whether everything but `min_score` holds (disqualification, signals,
    /// `when`).
    eligible: Vec<bool>,
}

/// How a rule's points can be written back.
#[derive(Debug, Clone, PartialEq)]
enum Site {
    /// Replace the value at this position of this file.
    Value(PathBuf, Span),
    /// Insert `points:` after the id key at this position.
    Insert(PathBuf, Span),
    /// Left as written, for the reason given.
    Fixed(&'static str),
}

impl Site {
    fn writable(&self) -> bool {
        !matches!(self, Site::Fixed(_))
    }
}

/// Collects scored leads with their outcome, then calibrates on [`finish`](Self::finish).
/// Holds one small row per lead with an outcome (matched rule indices and a few numbers).
#[derive(Debug)]
pub struct CalibrateBuilder<'r> {
    rules: &'r Rules,
    sources: Vec<(PathBuf, String)>,
    outcome: String,
    as_of: Date,
    options: Options,
    sites: Vec<Site>,
    stage_sites: Vec<Option<(PathBuf, NumberSite)>>,
    rows: Vec<Row>,
    scored: u64,
    unlabelled: u64,
    rejected: u64,
    /// Per rule: (times matched, sum of points given), for Rhai rules' mean points.
    given: Vec<(u64, i64)>,
    rule_index: BTreeMap<Arc<str>, usize>,
}

/// One rule's calibration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleCalibration {
    /// The rule id.
    pub rule: String,
    /// Where the rule is written (`rules/fit.yaml:12:5`).
    pub at: String,
    /// Leads with an outcome the rule matched.
    pub matched: u64,
    /// Their share of the leads with an outcome.
    pub matched_share: f64,
    /// The outcome rate among the leads it matched.
    pub rate_matched: Option<f64>,
    /// The outcome rate among the leads it did not match.
    pub rate_unmatched: Option<f64>,
    /// The points it gives now (a Rhai rule: the mean of what it gave).
    pub current_points: i64,
    /// The points proposed.
    pub proposed_points: i64,
    /// Its fitted log-odds weight; none for a rule that matches every lead (the
    /// intercept is its weight, and its points carry the offset that keeps the score
    /// range).
    pub coefficient: Option<f64>,
    /// The weight's standard error.
    pub std_error: Option<f64>,
    /// True when the weight is within [`Z_CUTOFF`] standard errors of zero: proposed at 0.
    pub not_distinguishable: bool,
    /// Whether `--write` writes its proposed points (Rhai rules are reported, never
    /// edited).
    pub written: bool,
    /// Why it is proposed as it is, or why it is not written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One stage's threshold, now and proposed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageCalibration {
    /// The stage id.
    pub stage: String,
    /// Its `min_score` now.
    pub current_min_score: Option<i64>,
    /// The proposed `min_score` (the current one when no target was given).
    pub proposed_min_score: Option<i64>,
    /// Share of leads with an outcome in the stage now.
    pub share_current: f64,
    /// Share of leads with an outcome in the stage under the proposal (in sample: the
    /// proposal was learned on these leads).
    pub share_proposed: f64,
}

/// How well one way of scoring ranks the history, measured out of fold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// ROC AUC of the scores against the outcome.
    pub auc: Option<f64>,
    /// Share of leads in the ready stage.
    pub ready_share: f64,
    /// The outcome rate in the ready stage.
    pub ready_rate: Option<f64>,
    /// The ready stage's outcome rate over the base rate.
    pub ready_lift: Option<f64>,
    /// Of the qualified leads, the share with a positive outcome.
    pub qualified_precision: Option<f64>,
    /// Of the positive leads, the share qualified.
    pub qualified_recall: Option<f64>,
}

/// The cross-validated comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrossValidated {
    /// Folds.
    pub folds: usize,
    /// The seed that dealt them.
    pub seed: u64,
    /// The rules as written (nothing is learned from the history, so these are also
    /// their in-sample figures).
    pub current: Figures,
    /// Points (and thresholds, with a target) learned without the fold they score.
    pub proposed: Figures,
    /// A plain logistic regression on the same rule features, unrounded and unclamped:
    /// about the most any points on these rules can do. Its ready and qualified groups
    /// are its top-ranked leads in the same shares as the proposal's.
    pub ceiling: Figures,
}

/// What calibrate found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// The outcome field.
    pub outcome: String,
    /// Leads scored.
    pub scored: u64,
    /// Records rejected before scoring.
    pub rejected: u64,
    /// Scored leads with no outcome value (left out).
    pub unlabelled: u64,
    /// Leads with an outcome value.
    pub labelled: u64,
    /// Of them, positive.
    pub positives: u64,
    /// The positive share.
    pub base_rate: f64,
    /// The ready stage (the top stage that is not disqualified).
    pub ready_stage: Option<String>,
    /// The lowest stage counted as qualified.
    pub qualified_stage: Option<String>,
    /// The target the thresholds were proposed for.
    pub target: Option<ReadyTarget>,
    /// Per rule, in rule order.
    pub rules: Vec<RuleCalibration>,
    /// Per stage, top to bottom.
    pub stages: Vec<StageCalibration>,
    /// Out-of-fold figures.
    pub cross_validated: CrossValidated,
    /// What the reader should know (a threshold that misses its target, a score range
    /// the proposal cannot keep, rules left as written).
    pub notes: Vec<String>,
    /// The rule files the proposal changes, with their new text.
    #[serde(skip)]
    pub changed_files: Vec<(PathBuf, String)>,
    /// Out-of-fold (score, outcome) pairs, for the charts.
    #[serde(skip)]
    pub(crate) curves: render::Curves,
}

impl<'r> CalibrateBuilder<'r> {
    /// A builder for verdicts of `rules` scored as of `as_of`, loaded from `sources`
    /// (each rule file's path and text, as [`read_rules_dir`] reads them: the proposal
    /// is written by editing these texts), reading the outcome from the field
    /// `outcome` as `report` does.
    pub fn new(
        rules: &'r Rules,
        sources: &[(PathBuf, String)],
        outcome: &str,
        as_of: Date,
        options: Options,
    ) -> CalibrateBuilder<'r> {
        let rule_index = rules
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        let mut points_sites: BTreeMap<(&Path, String), NumberSite> = BTreeMap::new();
        let mut stage_sites: BTreeMap<String, (PathBuf, NumberSite)> = BTreeMap::new();
        for (path, text) in sources {
            if is_rhai(path) {
                continue;
            }
            for site in rewrite::points_sites(text) {
                points_sites.insert((path.as_path(), site.id.clone()), site);
            }
            for site in rewrite::min_score_sites(text) {
                stage_sites.insert(site.id.clone(), (path.clone(), site));
            }
        }
        let text_of = |path: &Path| {
            sources
                .iter()
                .find(|(p, _)| p == path)
                .map_or("", |(_, t)| t.as_str())
        };
        let sites = rules
            .rules
            .iter()
            .map(|rule| match &rule.kind {
                RuleKind::Script(_) => {
                    Site::Fixed("a Rhai rule: its script sets its points; edit it by hand")
                }
                RuleKind::Yaml(_) => {
                    match points_sites.get(&(rule.path.as_ref(), rule.id.to_string())) {
                        Some(NumberSite {
                            value: Some(span), ..
                        }) => Site::Value(rule.path.to_path_buf(), *span),
                        Some(site) => {
                            let probe = Edit::InsertAfter(site.id_key, "points: 0".into());
                            match rewrite::apply(text_of(&rule.path), &[probe]) {
                                Ok(_) => Site::Insert(rule.path.to_path_buf(), site.id_key),
                                Err(_) => Site::Fixed(
                                    "written inline ({ ... }) without `points:`; add it by hand",
                                ),
                            }
                        }
                        None => Site::Fixed("not found in the rule files given"),
                    }
                }
            })
            .collect();
        let stage_sites = rules
            .policy
            .stages
            .iter()
            .map(|s| stage_sites.get(s.id.as_ref()).cloned())
            .collect();
        CalibrateBuilder {
            rules,
            sources: sources.to_vec(),
            outcome: outcome.to_string(),
            as_of,
            options,
            sites,
            stage_sites,
            rows: Vec::new(),
            scored: 0,
            unlabelled: 0,
            rejected: 0,
            given: vec![(0, 0); rules.rules.len()],
            rule_index,
        }
    }

    /// Adds one scored lead and its verdict from these rules.
    pub fn add(&mut self, lead: &Lead, verdict: &Verdict) {
        self.scored += 1;
        let rules = self.rules;
        let bound = rules.schema.bind(lead);
        let Some(positive) = field_value(rules, &bound, lead, &self.outcome).and_then(outcome_of)
        else {
            self.unlabelled += 1;
            return;
        };
        let mut features = Vec::with_capacity(verdict.matched.len());
        let mut fixed_points = 0i64;
        for m in &verdict.matched {
            if let Some(&i) = self.rule_index.get(&m.rule) {
                features.push(i);
                self.given[i].0 += 1;
                self.given[i].1 = self.given[i].1.saturating_add(m.points);
                if !self.sites[i].writable() {
                    fixed_points = fixed_points.saturating_add(m.points);
                }
            }
        }
        features.sort_unstable();
        features.dedup();
        // The stage requirements besides the score, checked as the stage policy does.
        let env = Env::new(
            &bound.values,
            self.as_of,
            &rules.scripts,
            Some(lead),
            &rules.schema,
        );
        // Dimension minimums and grades are taken as the current points leave them.
        let facts = Facts {
            score: verdict.score,
            signals: &verdict.signals,
            disqualified: verdict.disqualified.is_some(),
            scores: verdict.scores.points(),
            grade: verdict.grade.as_ref().and_then(|g| g.as_deref()),
        };
        let stages = &rules.policy.stages;
        let eligible = (0..stages.len())
            .map(|index| rules.policy.meets_all_but_score(index, &facts, &env))
            .collect();
        let stage = stages
            .iter()
            .position(|s| s.id == verdict.stage)
            .unwrap_or(stages.len().saturating_sub(1));
        self.rows.push(Row {
            features,
            positive,
            score: verdict.score,
            stage,
            fixed_points,
            eligible,
        });
    }

    /// Counts one record rejected before scoring.
    pub fn reject(&mut self) {
        self.rejected += 1;
    }

    /// Fits, cross-validates and proposes.
    ///
    /// # Errors
    /// A sentence saying why the history cannot be calibrated on: no lead with an
    /// outcome, no positive or no negative outcome, fewer leads of either outcome than
    /// folds, fewer than two folds, or a rule that never matches.
    pub fn finish(self) -> Result<Calibration, String> {
        let rules = self.rules;
        let field = &self.outcome;
        let k = self.options.folds;
        if k < 2 {
            return Err(format!(
                "--folds {k}: cross-validation needs at least 2 folds (5 is usual)"
            ));
        }
        let labelled = self.rows.len() as u64;
        let positives = self.rows.iter().filter(|r| r.positive).count() as u64;
        let negatives = labelled - positives;
        if labelled == 0 {
            return Err(format!(
                "no lead has a value in `{field}` ({} scored); check the column name (it is matched ignoring case, spaces and underscores)",
                self.scored
            ));
        }
        if positives == 0 || negatives == 0 {
            let (none, all) = if positives == 0 {
                ("positive", "negative")
            } else {
                ("negative", "positive")
            };
            return Err(format!(
                "no lead has a {none} outcome in `{field}`: all {labelled} are {all}, so there is nothing to tell apart; positive values are 1, true, yes, won, converted (see `leadscore report --help`)"
            ));
        }
        if labelled < k as u64 {
            return Err(format!(
                "{labelled} leads with an outcome are fewer than the {k} folds; add history or use fewer --folds"
            ));
        }
        if positives.min(negatives) < k as u64 {
            let (few, n) = if positives < negatives {
                ("positive", positives)
            } else {
                ("negative", negatives)
            };
            return Err(format!(
                "only {n} leads have a {few} outcome, fewer than the {k} folds: some folds would have none; add history or use fewer --folds"
            ));
        }
        let matched_counts = {
            let mut counts = vec![(0u64, 0u64); rules.rules.len()];
            for row in &self.rows {
                for &j in &row.features {
                    counts[j].0 += 1;
                    counts[j].1 += u64::from(row.positive);
                }
            }
            counts
        };
        let never: Vec<String> = rules
            .rules
            .iter()
            .zip(&matched_counts)
            .filter(|(_, c)| c.0 == 0)
            .map(|(r, _)| format!("`{}` ({})", r.id, at(r)))
            .collect();
        if !never.is_empty() {
            return Err(format!(
                "rule{} {} never match{} a lead with an outcome, so the history says nothing about {} points; remove {} or calibrate on history where {} match{}",
                if never.len() == 1 { "" } else { "s" },
                never.join(", "),
                if never.len() == 1 { "es" } else { "" },
                if never.len() == 1 { "its" } else { "their" },
                if never.len() == 1 { "it" } else { "them" },
                if never.len() == 1 { "it" } else { "they" },
                if never.len() == 1 { "es" } else { "" },
            ));
        }
        let stages = &rules.policy.stages;
        let ladder: Vec<usize> = (0..stages.len())
            .filter(|&i| !stages[i].disqualified)
            .collect();
        let qualified_pos = match &self.options.qualified {
            None => ladder.len().saturating_sub(2),
            Some(name) => ladder
                .iter()
                .position(|&i| &*stages[i].id == name)
                .ok_or_else(|| {
                    format!(
                        "`{name}` is not a stage leads qualify for; the stages are: {}",
                        ladder
                            .iter()
                            .map(|&i| &*stages[i].id)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?,
        };
        let cx = Context {
            sites: &self.sites,
            min_scores: stages.iter().map(|s| s.min_score).collect(),
            score_min: rules.settings.score_min,
            score_max: rules.settings.score_max,
            ladder,
            target: self.options.target,
        };
        let all: Vec<&Row> = self.rows.iter().collect();
        let full = propose(&cx, &all);

        // Out of fold: each fold scored by a proposal learned on the others.
        let outcomes: Vec<bool> = self.rows.iter().map(|r| r.positive).collect();
        let fold_of = folds::assign(&outcomes, k, self.options.seed);
        let n = self.rows.len();
        let mut oof_score = vec![0i64; n];
        let mut oof_stage = vec![0usize; n];
        let mut oof_odds = vec![0f64; n];
        for f in 0..k {
            let train: Vec<&Row> = (0..n)
                .filter(|&i| fold_of[i] != f)
                .map(|i| &self.rows[i])
                .collect();
            let proposal = propose(&cx, &train);
            for i in (0..n).filter(|&i| fold_of[i] == f) {
                let row = &self.rows[i];
                oof_score[i] = cx.score(row, &proposal.points);
                oof_stage[i] = cx.stage(row, oof_score[i], &proposal.min_scores);
                oof_odds[i] = proposal.fit.log_odds(&row.features);
            }
        }
        let current_scores: Vec<i64> = self.rows.iter().map(|r| r.score).collect();
        let current_stages: Vec<usize> = self.rows.iter().map(|r| r.stage).collect();
        let current = figures(
            &cx,
            qualified_pos,
            &current_scores,
            &current_stages,
            &outcomes,
        );
        let proposed = figures(&cx, qualified_pos, &oof_score, &oof_stage, &outcomes);
        let ceiling = ceiling_figures(&cx, qualified_pos, &oof_odds, &oof_stage, &outcomes);

        let base_rate = positives as f64 / labelled as f64;
        let rule_rows = rules
            .rules
            .iter()
            .enumerate()
            .map(|(j, rule)| {
                let (m, pos) = matched_counts[j];
                let current_points = match &rule.kind {
                    RuleKind::Yaml(_) => rule.points,
                    RuleKind::Script(_) => {
                        let (times, sum) = self.given[j];
                        if times == 0 {
                            0
                        } else {
                            (sum as f64 / times as f64).round() as i64
                        }
                    }
                };
                let constant = full.constant[j];
                let note = match &self.sites[j] {
                    Site::Fixed(why) => Some(format!("not written: {why}")),
                    _ if constant => Some(
                        "matches every lead: its points set where the score range starts"
                            .to_string(),
                    ),
                    _ if full.not_distinguishable[j] => {
                        Some("not distinguishable from zero: proposed at 0".to_string())
                    }
                    _ => None,
                };
                RuleCalibration {
                    rule: rule.id.to_string(),
                    at: at(rule),
                    matched: m,
                    matched_share: round(m as f64 / labelled as f64),
                    rate_matched: ratio(pos, m),
                    rate_unmatched: ratio(positives - pos, labelled - m),
                    current_points,
                    proposed_points: full.points[j],
                    coefficient: (!constant).then(|| round(full.fit.coef[j])),
                    std_error: (!constant).then(|| round(full.fit.se[j])),
                    not_distinguishable: full.not_distinguishable[j],
                    written: self.sites[j].writable(),
                    note,
                }
            })
            .collect();

        let in_sample: Vec<(i64, usize)> = self
            .rows
            .iter()
            .map(|row| {
                let s = cx.score(row, &full.points);
                (s, cx.stage(row, s, &full.min_scores))
            })
            .collect();
        let stage_rows = stages
            .iter()
            .enumerate()
            .map(|(i, stage)| StageCalibration {
                stage: stage.id.to_string(),
                current_min_score: stage.min_score,
                proposed_min_score: full.min_scores[i],
                share_current: round(
                    current_stages.iter().filter(|&&s| s == i).count() as f64 / labelled as f64,
                ),
                share_proposed: round(
                    in_sample.iter().filter(|&&(_, s)| s == i).count() as f64 / labelled as f64,
                ),
            })
            .collect();

        let mut notes = full.notes.clone();
        let changed_files = self.edits(&full, &mut notes);
        let curves = render::Curves::new(&current_scores, &oof_score, &outcomes);
        Ok(Calibration {
            outcome: field.clone(),
            scored: self.scored,
            rejected: self.rejected,
            unlabelled: self.unlabelled,
            labelled,
            positives,
            base_rate: round(base_rate),
            ready_stage: cx.ready().map(|i| stages[i].id.to_string()),
            qualified_stage: cx
                .ladder
                .get(qualified_pos)
                .map(|&i| stages[i].id.to_string()),
            target: self.options.target,
            rules: rule_rows,
            stages: stage_rows,
            cross_validated: CrossValidated {
                folds: k,
                seed: self.options.seed,
                current,
                proposed,
                ceiling,
            },
            notes,
            changed_files,
            curves,
        })
    }

    /// The proposal as edited rule files: only the numbers change.
    fn edits(&self, full: &Proposal, notes: &mut Vec<String>) -> Vec<(PathBuf, String)> {
        let mut by_file: BTreeMap<PathBuf, Vec<Edit>> = BTreeMap::new();
        for (j, site) in self.sites.iter().enumerate() {
            let points = full.points[j];
            match site {
                Site::Value(path, span) => by_file
                    .entry(path.clone())
                    .or_default()
                    .push(Edit::Replace(*span, points.to_string())),
                Site::Insert(path, span) if points != 0 => by_file
                    .entry(path.clone())
                    .or_default()
                    .push(Edit::InsertAfter(*span, format!("points: {points}"))),
                _ => {}
            }
        }
        if self.options.target.is_some() {
            for (i, stage) in self.rules.policy.stages.iter().enumerate() {
                let (Some(proposed), Some((path, site))) =
                    (full.min_scores[i], &self.stage_sites[i])
                else {
                    continue;
                };
                if stage.min_score == Some(proposed) {
                    continue;
                }
                let edit = match site.value {
                    Some(span) => Edit::Replace(span, proposed.to_string()),
                    None => Edit::InsertAfter(site.id_key, format!("min_score: {proposed}")),
                };
                by_file.entry(path.clone()).or_default().push(edit);
            }
        }
        let mut changed = Vec::new();
        for (path, edits) in by_file {
            let Some((_, text)) = self.sources.iter().find(|(p, _)| *p == path) else {
                continue;
            };
            match rewrite::apply(text, &edits) {
                Ok(new) if new != *text => changed.push((path, new)),
                Ok(_) => {}
                Err(span) => notes.push(format!(
                    "{}:{}:{}: cannot add a key to an inline mapping; edit it by hand",
                    path.display(),
                    span.line,
                    span.col
                )),
            }
        }
        changed
    }
}

fn at(rule: &crate::rules::Rule) -> String {
    format!(
        "{}:{}:{}",
        rule.path.display(),
        rule.span.line,
        rule.span.col
    )
}

fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round(part as f64 / whole as f64))
}

fn is_rhai(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("rhai")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scorer::Scorer;
    use serde_json::json;

    const RULES: &str = "fields:\n  won: { type: bool }\nrules:\n  - id: base\n    when: { expr: \"true\" }\n    points: 30\n  - id: demo\n    when: { field: demo, eq: true }\n    points: 30\n    signals: [intent]\n  - id: budget\n    when: { field: budget, gte: 1000 }\n    points: 25\n    signals: [budget]\n  - id: spam\n    when: { field: email, ends_with: \"@spam.test\" }\n    disqualify: spam\nstages:\n  - id: out\n    disqualified: true\n  - id: hot\n    min_score: 80\n    requires: [intent]\n    when: { field: country, eq: ES }\n  - id: warm\n    min_score: 55\n  - id: cold\n";

    fn builder_with(leads: &[serde_json::Value]) -> (Vec<Row>, Context<'static>) {
        let sources = vec![(PathBuf::from("r.yaml"), RULES.to_string())];
        let scorer = Scorer::new(Rules::from_sources(sources.clone()).unwrap());
        let as_of = Date::UNIX_EPOCH;
        let mut builder =
            CalibrateBuilder::new(scorer.rules(), &sources, "won", as_of, Options::default());
        for lead in leads {
            let lead = Lead::from_json(lead.clone()).unwrap();
            builder.add(&lead, &scorer.score(&lead, as_of));
        }
        let sites: &'static [Site] = Box::leak(builder.sites.clone().into_boxed_slice());
        let stages = &scorer.rules().policy.stages;
        let cx = Context {
            sites,
            min_scores: stages.iter().map(|s| s.min_score).collect(),
            score_min: 0,
            score_max: 100,
            ladder: (0..stages.len())
                .filter(|&i| !stages[i].disqualified)
                .collect(),
            target: None,
        };
        (builder.rows, cx)
    }

    #[test]
    fn stage_from_eligibility_agrees_with_the_stage_policy() {
        // Every combination of the fields the rules and the stage `when` read.
        let mut leads = Vec::new();
        for bits in 0..32u32 {
            leads.push(json!({
                "demo": bits & 1 != 0,
                "budget": if bits & 2 != 0 { 5000 } else { 10 },
                "email": if bits & 4 != 0 { "a@spam.test" } else { "a@b.test" },
                "country": if bits & 8 != 0 { "ES" } else { "FR" },
                "won": bits & 16 != 0,
            }));
        }
        let (rows, cx) = builder_with(&leads);
        assert_eq!(rows.len(), 32);
        for row in &rows {
            assert_eq!(
                cx.stage(row, row.score, &cx.min_scores),
                row.stage,
                "{row:?}"
            );
        }
        // And with the points changed, as a rewritten folder would score.
        let points = vec![10, 60, 20, 0];
        for row in &rows {
            let score = cx.score(row, &points);
            let expected = row.features.iter().map(|&j| points[j]).sum::<i64>();
            assert_eq!(score, expected.clamp(0, 100));
        }
    }

    #[test]
    fn rules_without_points_or_written_inline_are_sited_for_insertion_or_left() {
        let (_, cx) = builder_with(&[]);
        assert!(matches!(cx.sites[0], Site::Value(..)));
        // `spam` has no `points:` and is a block mapping: a line can be inserted.
        assert!(matches!(cx.sites[3], Site::Insert(..)));
    }
}

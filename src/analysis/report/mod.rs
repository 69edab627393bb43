//! Funnel metrics for a batch of scored leads: leads per stage, the rates at which leads
//! reach the qualified and ready stages set against published conversion benchmarks,
//! the score distribution, rule matches and missing signals; and, given a historical
//! outcome column, how well the rules pick the leads that really converted (base rate,
//! lift by stage, precision and recall of "qualified", ROC AUC of the score).
//!
//! ```
//! use leadscore::report::ReportBuilder;
//! use leadscore::{Date, Lead, Rules, Scorer};
//!
//! let scorer = Scorer::new(Rules::load_dir("rules")?);
//! let mut builder = ReportBuilder::new(scorer.rules()).with_outcome("won");
//! for (budget, won) in [(25000, true), (0, false), (40000, false)] {
//!     let lead = Lead::from_json(serde_json::json!({
//!         "email": "a@acme.com", "budget": budget, "pain_points": "x", "won": won,
//!     }))?;
//!     builder.add(&lead, &scorer.score(&lead, Date::parse("2026-01-15").unwrap()));
//! }
//! let report = builder.finish();
//! assert_eq!(report.leads.scored, 3);
//! assert_eq!(report.outcome.unwrap().positives, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::analysis::matrix::Transitions;
use crate::convert::field_value;
use crate::lead::{Lead, Value};
use crate::rules::Rules;
use crate::verdict::Verdict;

mod html;

/// Published lead-to-opportunity conversion benchmarks: the average, the top quarter's
/// and the top tenth's rate (2.35%, 5.31%, 11.45%).
pub const BENCHMARKS: [(&str, f64); 3] = [
    ("average", 0.0235),
    ("top quarter", 0.0531),
    ("top tenth", 0.1145),
];

/// Where the benchmark figures come from, shown under the benchmark chart.
pub(super) const BENCHMARK_NOTE: &str = "The benchmark figures (2.35%, 5.31%, 11.45%) are widely quoted as lead-to-opportunity rates; they trace back to WordStream's analysis of conversion rates in Google Ads accounts, so take the comparison as a rough guide, not a like-for-like one.";

/// Outcome values that count as positive (compared after trimming, ignoring case);
/// any other value is negative, and a missing or blank one leaves the lead out of the
/// outcome metrics. Booleans count as themselves and numbers are positive when 1.
pub const POSITIVE_OUTCOMES: [&str; 10] = [
    "1",
    "true",
    "t",
    "yes",
    "y",
    "won",
    "closed won",
    "closed-won",
    "converted",
    "success",
];

/// Whether an outcome value is positive; `None` for a missing or blank value.
///
/// ```
/// use leadscore::{Value, report::outcome_of};
/// assert_eq!(outcome_of(&Value::Text("Won".into())), Some(true));
/// assert_eq!(outcome_of(&Value::Int(0)), Some(false));
/// assert_eq!(outcome_of(&Value::Text(" ".into())), None);
/// ```
pub fn outcome_of(value: &Value) -> Option<bool> {
    match value {
        Value::Null | Value::List(_) | Value::Map(_) => None,
        Value::Bool(b) => Some(*b),
        Value::Int(n) => Some(*n == 1),
        Value::Float(x) => Some(*x == 1.0),
        Value::Text(s) => {
            let text = s.trim().to_lowercase();
            if text.is_empty() {
                return None;
            }
            let number = text.parse::<f64>().ok();
            Some(POSITIVE_OUTCOMES.contains(&text.as_str()) || number == Some(1.0))
        }
    }
}

/// The ROC AUC of scores against outcomes, by Mann-Whitney: the share of (positive,
/// negative) pairs in which the positive lead scores higher, a tie counting half.
/// `counts` maps each score to (positives, negatives); `None` without both kinds.
///
/// ```
/// use std::collections::BTreeMap;
/// // Scores 10 (negative), 20 (one positive, one negative), 30 (positive):
/// // pairs (30,10) (30,20) (20,10) win, (20,20) ties: (3 + 0.5) / 4.
/// let counts = BTreeMap::from([(10, (0, 1)), (20, (1, 1)), (30, (1, 0))]);
/// assert_eq!(leadscore::report::auc(&counts), Some(0.875));
/// ```
pub fn auc(counts: &BTreeMap<i64, (u64, u64)>) -> Option<f64> {
    let positives: u64 = counts.values().map(|c| c.0).sum();
    let negatives: u64 = counts.values().map(|c| c.1).sum();
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut below = 0u64;
    let mut wins = 0.0f64;
    for &(pos, neg) in counts.values() {
        wins += pos as f64 * (below as f64 + neg as f64 / 2.0);
        below += neg;
    }
    Some(wins / (positives as f64 * negatives as f64))
}

/// How many records were read, scored and rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct LeadCounts {
    /// Records read (scored + rejected).
    pub read: u64,
    /// Leads scored.
    pub scored: u64,
    /// Records rejected.
    pub rejected: u64,
}

/// Leads in one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageCount {
    /// The stage id.
    pub stage: Arc<str>,
    /// Leads in it.
    pub leads: u64,
    /// Their share of scored leads.
    pub share: f64,
}

/// Leads at or above one stage of the ladder (the stages that are not disqualified).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunnelStep {
    /// The stage id.
    pub stage: Arc<str>,
    /// Leads in this stage or a higher one.
    pub leads: u64,
    /// Their share of scored leads: the lead-to-stage rate.
    pub rate: f64,
    /// The outcome rate among them, with `--outcome`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome_rate: Option<f64>,
}

/// Where the ready rate stands against [`BENCHMARKS`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Benchmarks {
    /// The average lead-to-opportunity rate.
    pub average: f64,
    /// The top quarter's rate.
    pub top_quarter: f64,
    /// The top tenth's rate.
    pub top_tenth: f64,
    /// The batch's lead-to-ready rate.
    pub rate: f64,
    /// `below average`, `average`, `top quarter` or `top tenth`.
    pub standing: &'static str,
}

/// One bin of the score histogram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreBin {
    /// Lowest score in the bin.
    pub from: i64,
    /// Highest score in the bin (included).
    pub to: i64,
    /// Leads in the bin.
    pub leads: u64,
    /// Leads with a positive outcome, with `--outcome`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positive: Option<u64>,
    /// Leads with a negative outcome, with `--outcome`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative: Option<u64>,
}

/// The score distribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// The mean score (0 for no leads).
    pub mean: f64,
    /// Bins of 10 points from the lowest possible score to the highest.
    pub bins: Vec<ScoreBin>,
}

/// How often one rule matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleCount {
    /// The rule id.
    pub rule: Arc<str>,
    /// Leads it matched.
    pub matched: u64,
    /// Their share of scored leads.
    pub share: f64,
}

/// How often one signal was missing for the next stage (from `verdict.next.missing`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingCount {
    /// The signal.
    pub signal: Arc<str>,
    /// Leads that lack it for their next stage.
    pub leads: u64,
    /// Their share of scored leads.
    pub share: f64,
}

/// Outcome rate and lift of one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageOutcome {
    /// The stage id.
    pub stage: Arc<str>,
    /// Leads in it with an outcome value.
    pub leads: u64,
    /// Of which positive.
    pub positives: u64,
    /// positives / leads.
    pub rate: Option<f64>,
    /// rate / base rate.
    pub lift: Option<f64>,
}

/// "Qualified" (the qualified stage or higher) taken as a prediction of the outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// The stages counted as qualified, top first.
    pub stages: Vec<Arc<str>>,
    /// Labelled leads that are qualified.
    pub flagged: u64,
    /// Qualified leads with a positive outcome.
    pub true_positives: u64,
    /// true positives / flagged.
    pub precision: Option<f64>,
    /// true positives / positives.
    pub recall: Option<f64>,
}

/// Metrics against a historical outcome column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeReport {
    /// The outcome field.
    pub field: String,
    /// Leads with an outcome value.
    pub labelled: u64,
    /// Leads without one (left out of these metrics).
    pub unlabelled: u64,
    /// Labelled leads with a positive outcome.
    pub positives: u64,
    /// positives / labelled.
    pub base_rate: Option<f64>,
    /// Outcome rate and lift per stage, in policy order.
    pub stages: Vec<StageOutcome>,
    /// Precision and recall of "qualified".
    pub qualified: Classification,
    /// ROC AUC of the score (Mann-Whitney, ties counted half).
    pub auc: Option<f64>,
}

/// The report on one batch. Serializes to the JSON `leadscore report --format json`
/// prints; rates are fractions (0.25 is 25%).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Records read, scored, rejected.
    pub leads: LeadCounts,
    /// Leads per stage, in policy order.
    pub stages: Vec<StageCount>,
    /// Leads in a disqualified stage: out of the funnel.
    pub disqualified: u64,
    /// The stage counted as qualified (`prospect` in the starter rules).
    pub qualified_stage: Arc<str>,
    /// The top stage that is not disqualified (`ready_to_convert`).
    pub ready_stage: Arc<str>,
    /// Leads at or above each ladder stage, from the lowest stage above the default up.
    pub funnel: Vec<FunnelStep>,
    /// Share of leads at or above the qualified stage.
    pub lead_to_qualified: f64,
    /// Share of leads in the ready stage.
    pub lead_to_ready: f64,
    /// The ready rate against published benchmarks.
    pub benchmarks: Benchmarks,
    /// The score distribution.
    pub scores: Scores,
    /// How often each rule matched, in rule order.
    pub rules: Vec<RuleCount>,
    /// The signals most often missing for the next stage, most frequent first.
    pub missing: Vec<MissingCount>,
    /// Metrics against the outcome, with `--outcome`.
    pub outcome: Option<OutcomeReport>,
    /// The stage the CRM holds against the decided one, when the rules read it
    /// (`settings.current_stage`); no key otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transitions: Option<Transitions>,
    /// Leads with an outcome per score: score -> (positives, negatives), for the
    /// backtest charts.
    #[serde(skip)]
    pub(crate) outcome_counts: BTreeMap<i64, (u64, u64)>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    leads: u64,
    labelled: u64,
    positives: u64,
}

/// Collects verdicts (and, for the outcome, their leads) into a [`Report`]. Memory
/// does not grow with the batch: only counts are kept.
#[derive(Debug)]
pub struct ReportBuilder<'r> {
    rules: &'r Rules,
    /// Indices of the stages that are not disqualified, top first.
    ladder: Vec<usize>,
    /// Position in `ladder` of the qualified stage.
    qualified: usize,
    outcome: Option<String>,
    counts: LeadCounts,
    stages: Vec<Tally>,
    rule_index: BTreeMap<Arc<str>, usize>,
    rule_counts: Vec<u64>,
    missing: BTreeMap<Arc<str>, u64>,
    /// Per score: (leads, positives, negatives).
    scores: BTreeMap<i64, (u64, u64, u64)>,
    unlabelled: u64,
    transitions: Option<Transitions>,
}

impl<'r> ReportBuilder<'r> {
    /// A builder for verdicts of these rules. The qualified stage is the one just above
    /// the default (last) stage among those that are not disqualified (`prospect` in
    /// the starter rules).
    pub fn new(rules: &'r Rules) -> ReportBuilder<'r> {
        let stages = &rules.policy.stages;
        let ladder: Vec<usize> = (0..stages.len())
            .filter(|&i| !stages[i].disqualified)
            .collect();
        let rule_index: BTreeMap<Arc<str>, usize> = rules
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        ReportBuilder {
            rules,
            qualified: ladder.len().saturating_sub(2),
            ladder,
            outcome: None,
            counts: LeadCounts::default(),
            stages: vec![Tally::default(); stages.len()],
            rule_counts: vec![0; rules.rules.len()],
            rule_index,
            missing: BTreeMap::new(),
            scores: BTreeMap::new(),
            unlabelled: 0,
            transitions: rules.current_stage_field().map(|_| Transitions::new(rules)),
        }
    }

    /// Reads the outcome from this field of each lead: its key as written, else a
    /// field name or alias of the rules, else a key differing only in case, spaces and
    /// underscores. See [`outcome_of`] for the values that count as positive.
    pub fn with_outcome(mut self, field: &str) -> ReportBuilder<'r> {
        self.outcome = Some(field.to_string());
        self
    }

    /// Counts `stage` and the stages above it as qualified.
    ///
    /// # Errors
    /// Names the possible stages when `stage` is not one of the ladder's.
    pub fn with_qualified(mut self, stage: &str) -> Result<ReportBuilder<'r>, String> {
        let stages = &self.rules.policy.stages;
        match self.ladder.iter().position(|&i| &*stages[i].id == stage) {
            Some(at) => {
                self.qualified = at;
                Ok(self)
            }
            None => Err(format!(
                "`{stage}` is not a stage leads qualify for; the stages are: {}",
                self.ladder
                    .iter()
                    .map(|&i| &*stages[i].id)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// Counts one scored lead.
    pub fn add(&mut self, lead: &Lead, verdict: &Verdict) {
        self.counts.read += 1;
        self.counts.scored += 1;
        if let Some(transitions) = &mut self.transitions {
            transitions.add(verdict);
        }
        let stages = &self.rules.policy.stages;
        let stage = stages
            .iter()
            .position(|s| s.id == verdict.stage)
            .unwrap_or(stages.len().saturating_sub(1));
        for m in &verdict.matched {
            if let Some(&i) = self.rule_index.get(&m.rule) {
                self.rule_counts[i] += 1;
            }
        }
        if let Some(next) = &verdict.next {
            for signal in &next.missing {
                *self.missing.entry(signal.clone()).or_default() += 1;
            }
        }
        let outcome = self.outcome.as_deref().and_then(|field| {
            let bound = self.rules.schema.bind(lead);
            field_value(self.rules, &bound, lead, field).and_then(outcome_of)
        });
        let tally = &mut self.stages[stage];
        tally.leads += 1;
        let entry = self.scores.entry(verdict.score).or_default();
        entry.0 += 1;
        match outcome {
            Some(positive) => {
                tally.labelled += 1;
                if positive {
                    tally.positives += 1;
                    entry.1 += 1;
                } else {
                    entry.2 += 1;
                }
            }
            None => self.unlabelled += 1,
        }
    }

    /// Counts one rejected record.
    pub fn reject(&mut self) {
        self.counts.read += 1;
        self.counts.rejected += 1;
    }

    /// The report.
    pub fn finish(self) -> Report {
        let rules = self.rules;
        let policy = &rules.policy.stages;
        let scored = self.counts.scored;
        let share = |n: u64| ratio(n, scored).unwrap_or(0.0);
        let stages = policy
            .iter()
            .zip(&self.stages)
            .map(|(s, t)| StageCount {
                stage: s.id.clone(),
                leads: t.leads,
                share: share(t.leads),
            })
            .collect();
        // Leads at or above each ladder stage: running sums from the top.
        let mut at_or_above = Vec::with_capacity(self.ladder.len());
        let mut running = Tally::default();
        for &i in &self.ladder {
            let t = self.stages[i];
            running.leads += t.leads;
            running.labelled += t.labelled;
            running.positives += t.positives;
            at_or_above.push(running);
        }
        let with_outcome = self.outcome.is_some();
        let step = |pos: usize| {
            let t = at_or_above.get(pos).copied().unwrap_or_default();
            FunnelStep {
                stage: self
                    .ladder
                    .get(pos)
                    .map_or_else(|| Arc::from(""), |&i| policy[i].id.clone()),
                leads: t.leads,
                rate: share(t.leads),
                outcome_rate: if with_outcome {
                    ratio(t.positives, t.labelled)
                } else {
                    None
                },
            }
        };
        let above_default = self.ladder.len().saturating_sub(1).max(1);
        let funnel: Vec<FunnelStep> = (0..above_default).rev().map(step).collect();
        let qualified = step(self.qualified);
        let ready = step(0);
        let outcome = self
            .outcome
            .as_ref()
            .map(|field| self.outcome_report(field, &at_or_above));
        let disqualified = policy
            .iter()
            .zip(&self.stages)
            .filter(|(s, _)| s.disqualified)
            .map(|(_, t)| t.leads)
            .sum();
        Report {
            leads: self.counts,
            stages,
            disqualified,
            qualified_stage: qualified.stage.clone(),
            ready_stage: ready.stage.clone(),
            funnel,
            lead_to_qualified: qualified.rate,
            lead_to_ready: ready.rate,
            benchmarks: benchmarks(ready.rate),
            scores: self.scores(),
            rules: rules
                .rules
                .iter()
                .zip(&self.rule_counts)
                .map(|(r, &n)| RuleCount {
                    rule: r.id.clone(),
                    matched: n,
                    share: share(n),
                })
                .collect(),
            missing: {
                let mut missing: Vec<MissingCount> = self
                    .missing
                    .iter()
                    .map(|(s, &n)| MissingCount {
                        signal: s.clone(),
                        leads: n,
                        share: share(n),
                    })
                    .collect();
                // Most frequent first; the BTreeMap order breaks ties by name.
                missing.sort_by_key(|m| std::cmp::Reverse(m.leads));
                missing
            },
            outcome_counts: self
                .scores
                .iter()
                .filter(|(_, c)| c.1 + c.2 > 0)
                .map(|(&s, c)| (s, (c.1, c.2)))
                .collect(),
            outcome,
            transitions: self.transitions,
        }
    }

    fn scores(&self) -> Scores {
        let (min, max) = (self.rules.settings.score_min, self.rules.settings.score_max);
        let low = min.div_euclid(10) * 10;
        let count = ((max - low + 9) / 10).max(1) as usize;
        let count = count.min(1000);
        let with_outcome = self.outcome.is_some();
        let mut bins: Vec<ScoreBin> = (0..count)
            .map(|i| {
                let from = low + 10 * i as i64;
                ScoreBin {
                    from,
                    to: if i + 1 == count { max } else { from + 9 },
                    leads: 0,
                    positive: with_outcome.then_some(0),
                    negative: with_outcome.then_some(0),
                }
            })
            .collect();
        let mut total = 0i128;
        for (&score, &(leads, pos, neg)) in &self.scores {
            total += i128::from(score) * i128::from(leads);
            let i = ((score - low).max(0) / 10) as usize;
            let bin = &mut bins[i.min(count - 1)];
            bin.leads += leads;
            if let Some(p) = &mut bin.positive {
                *p += pos;
            }
            if let Some(n) = &mut bin.negative {
                *n += neg;
            }
        }
        let mean = if self.counts.scored == 0 {
            0.0
        } else {
            total as f64 / self.counts.scored as f64
        };
        Scores {
            mean: round(mean),
            bins,
        }
    }

    fn outcome_report(&self, field: &str, at_or_above: &[Tally]) -> OutcomeReport {
        let policy = &self.rules.policy.stages;
        let labelled: u64 = self.stages.iter().map(|t| t.labelled).sum();
        let positives: u64 = self.stages.iter().map(|t| t.positives).sum();
        let base_rate = ratio(positives, labelled);
        let stages = policy
            .iter()
            .zip(&self.stages)
            .map(|(s, t)| {
                let rate = ratio(t.positives, t.labelled);
                StageOutcome {
                    stage: s.id.clone(),
                    leads: t.labelled,
                    positives: t.positives,
                    rate,
                    // From the counts, not the rounded rates: 0.75 / (5/12) is 1.8.
                    lift: (t.labelled > 0 && positives > 0).then(|| {
                        round(
                            (t.positives as f64 * labelled as f64)
                                / (t.labelled as f64 * positives as f64),
                        )
                    }),
                }
            })
            .collect();
        let flagged = at_or_above.get(self.qualified).copied().unwrap_or_default();
        let counts: BTreeMap<i64, (u64, u64)> = self
            .scores
            .iter()
            .map(|(&s, &(_, p, n))| (s, (p, n)))
            .collect();
        OutcomeReport {
            field: field.to_string(),
            labelled,
            unlabelled: self.unlabelled,
            positives,
            base_rate,
            stages,
            qualified: Classification {
                stages: self.ladder[..=self.qualified.min(self.ladder.len().saturating_sub(1))]
                    .iter()
                    .map(|&i| policy[i].id.clone())
                    .collect(),
                flagged: flagged.labelled,
                true_positives: flagged.positives,
                precision: ratio(flagged.positives, flagged.labelled),
                recall: ratio(flagged.positives, positives),
            },
            auc: auc(&counts).map(round),
        }
    }
}

/// Rounds to 6 decimals, so JSON shows `0.385390`-like figures, not float noise.
fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

pub(super) fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round(part as f64 / whole as f64))
}

fn benchmarks(rate: f64) -> Benchmarks {
    let [(_, average), (_, top_quarter), (_, top_tenth)] = BENCHMARKS;
    let standing = if rate >= top_tenth {
        "top tenth"
    } else if rate >= top_quarter {
        "top quarter"
    } else if rate >= average {
        "average"
    } else {
        "below average"
    };
    Benchmarks {
        average,
        top_quarter,
        top_tenth,
        rate,
        standing,
    }
}

// ---- rendering ----

/// `12.3%`, or `-` for no value.
pub(super) fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{:.1}%", x * 100.0))
}

pub(super) fn fixed(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

impl Benchmarks {
    /// The standing in words: `in the top tenth (at or above 11.45%)`.
    pub fn describe(&self) -> String {
        match self.standing {
            "top tenth" => format!("in the top tenth (at or above {})", pct2(self.top_tenth)),
            "top quarter" => format!(
                "in the top quarter (at or above {}, below the top tenth's {})",
                pct2(self.top_quarter),
                pct2(self.top_tenth)
            ),
            "average" => format!(
                "at or above the average ({}), below the top quarter's {}",
                pct2(self.average),
                pct2(self.top_quarter)
            ),
            _ => format!("below the average ({})", pct2(self.average)),
        }
    }
}

pub(super) fn pct2(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

impl Report {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "null".to_string())
    }

    /// The report as plain-text tables for a terminal.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let c = &self.leads;
        let _ = writeln!(
            out,
            "leads: {} read, {} scored, {} rejected\n",
            c.read, c.scored, c.rejected
        );
        let _ = writeln!(out, "{:<24} {:>8} {:>7}", "STAGE", "LEADS", "SHARE");
        for s in &self.stages {
            let _ = writeln!(
                out,
                "{:<24} {:>8} {:>7}",
                s.stage,
                s.leads,
                percent(Some(s.share))
            );
        }
        if let Some(transitions) = &self.transitions {
            out.push_str("\nTRANSITIONS: THE CRM'S STAGE AGAINST THE DECIDED ONE\n");
            transitions.render(&mut out);
        }
        let with_outcome = self.outcome.is_some();
        let _ = write!(
            out,
            "\n{:<24} {:>8} {:>7}",
            "FUNNEL (AT OR ABOVE)", "LEADS", "RATE"
        );
        if with_outcome {
            let _ = write!(out, " {:>9}", "CONVERTED");
        }
        out.push('\n');
        let _ = write!(out, "{:<24} {:>8} {:>7}", "all leads", c.scored, "100.0%");
        if let Some(o) = &self.outcome {
            let _ = write!(out, " {:>9}", percent(o.base_rate));
        }
        out.push('\n');
        for f in &self.funnel {
            let _ = write!(
                out,
                "{:<24} {:>8} {:>7}",
                f.stage,
                f.leads,
                percent(Some(f.rate))
            );
            if with_outcome {
                let _ = write!(out, " {:>9}", percent(f.outcome_rate));
            }
            out.push('\n');
        }
        let b = &self.benchmarks;
        let _ = writeln!(
            out,
            "\nlead -> {}: {}; lead -> {}: {}",
            self.qualified_stage,
            percent(Some(self.lead_to_qualified)),
            self.ready_stage,
            percent(Some(self.lead_to_ready)),
        );
        let _ = writeln!(
            out,
            "benchmarks, lead to opportunity: average {}, top quarter {}, top tenth {}\n  lead -> {} at {} is {}",
            pct2(b.average),
            pct2(b.top_quarter),
            pct2(b.top_tenth),
            self.ready_stage,
            percent(Some(b.rate)),
            b.describe()
        );
        let _ = write!(
            out,
            "\nSCORES (mean {:.1})\n{:<10} {:>8}",
            self.scores.mean, "SCORE", "LEADS"
        );
        if with_outcome {
            let _ = write!(out, " {:>9} {:>9}", "CONVERTED", "RATE");
        }
        out.push('\n');
        let widest = self
            .scores
            .bins
            .iter()
            .map(|b| b.leads)
            .max()
            .unwrap_or(0)
            .max(1);
        for bin in &self.scores.bins {
            let _ = write!(
                out,
                "{:<10} {:>8}",
                format!("{}-{}", bin.from, bin.to),
                bin.leads
            );
            if let (Some(p), Some(n)) = (bin.positive, bin.negative) {
                let _ = write!(out, " {:>9} {:>9}", p, percent(ratio(p, p + n)));
            }
            let bar = (bin.leads * 40).div_ceil(widest) as usize;
            let _ = writeln!(out, " {}", "#".repeat(bar));
        }
        let _ = writeln!(out, "\n{:<28} {:>8} {:>7}", "RULE", "MATCHED", "SHARE");
        for r in &self.rules {
            let _ = writeln!(
                out,
                "{:<28} {:>8} {:>7}",
                r.rule,
                r.matched,
                percent(Some(r.share))
            );
        }
        let _ = writeln!(
            out,
            "\n{:<28} {:>8} {:>7}",
            "MISSING FOR NEXT STAGE", "LEADS", "SHARE"
        );
        if self.missing.is_empty() {
            let _ = writeln!(out, "(none)");
        }
        for m in &self.missing {
            let _ = writeln!(
                out,
                "{:<28} {:>8} {:>7}",
                m.signal,
                m.leads,
                percent(Some(m.share))
            );
        }
        if let Some(o) = &self.outcome {
            let _ = writeln!(
                out,
                "\nOUTCOME `{}`: {} leads with a value ({} without), {} positive; base rate {}",
                o.field,
                o.labelled,
                o.unlabelled,
                o.positives,
                percent(o.base_rate)
            );
            let _ = writeln!(
                out,
                "{:<24} {:>8} {:>9} {:>7} {:>6}",
                "STAGE", "LEADS", "CONVERTED", "RATE", "LIFT"
            );
            for s in &o.stages {
                let _ = writeln!(
                    out,
                    "{:<24} {:>8} {:>9} {:>7} {:>6}",
                    s.stage,
                    s.leads,
                    s.positives,
                    percent(s.rate),
                    fixed(s.lift, 2)
                );
            }
            let q = &o.qualified;
            let _ = writeln!(
                out,
                "qualified ({} or better): {} flagged, precision {}, recall {}",
                self.qualified_stage,
                q.flagged,
                percent(q.precision),
                percent(q.recall)
            );
            let _ = writeln!(
                out,
                "ROC AUC of the score: {} (0.5 is chance, 1.0 a perfect ranking)",
                fixed(o.auc, 3)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::Date;
    use crate::scorer::Scorer;
    use serde_json::json;
    use std::path::PathBuf;

    fn counts(pairs: &[(i64, u64, u64)]) -> BTreeMap<i64, (u64, u64)> {
        pairs.iter().map(|&(s, p, n)| (s, (p, n))).collect()
    }

    #[test]
    fn auc_counts_ties_half() {
        // Perfect ranking, perfectly wrong ranking, all tied.
        assert_eq!(auc(&counts(&[(10, 0, 3), (90, 2, 0)])), Some(1.0));
        assert_eq!(auc(&counts(&[(10, 2, 0), (90, 0, 3)])), Some(0.0));
        assert_eq!(auc(&counts(&[(50, 4, 7)])), Some(0.5));
        // Scores: positives 30, 20; negatives 20, 10, 10. Pairs (pos, neg):
        // 30 beats all three (3), 20 ties one 20 (0.5) and beats two 10s (2): 5.5 / 6.
        assert_eq!(
            auc(&counts(&[(10, 0, 2), (20, 1, 1), (30, 1, 0)])),
            Some(5.5 / 6.0)
        );
        // No positives or no negatives: undefined.
        assert_eq!(auc(&counts(&[(10, 0, 2)])), None);
        assert_eq!(auc(&counts(&[])), None);
    }

    #[test]
    fn outcome_values() {
        for yes in [
            "1",
            "true",
            "TRUE",
            " yes ",
            "Y",
            "won",
            "Closed Won",
            "1.0",
        ] {
            assert_eq!(outcome_of(&Value::Text(yes.into())), Some(true), "{yes}");
        }
        for no in ["0", "false", "no", "lost", "2", "maybe"] {
            assert_eq!(outcome_of(&Value::Text(no.into())), Some(false), "{no}");
        }
        assert_eq!(outcome_of(&Value::Int(1)), Some(true));
        assert_eq!(outcome_of(&Value::Int(2)), Some(false));
        assert_eq!(outcome_of(&Value::Bool(true)), Some(true));
        assert_eq!(outcome_of(&Value::Float(1.0)), Some(true));
        assert_eq!(outcome_of(&Value::Null), None);
        assert_eq!(outcome_of(&Value::Text("".into())), None);
    }

    const RULES: &str = "rules:\n  - id: budget\n    when: { field: budget, gte: 10000 }\n    points: 40\n    signals: [budget]\n  - id: need\n    when: { field: pain, exists: true }\n    points: 30\n    signals: [need]\n  - id: pricing\n    when: { field: pricing, eq: true }\n    points: 20\n    signals: [pricing_discussed]\n  - id: student\n    when: { field: email, ends_with: .edu }\n    disqualify: student\n";

    fn report(leads: &[serde_json::Value], outcome: bool) -> Report {
        let rules =
            Rules::from_sources(vec![(PathBuf::from("r.yaml"), RULES.to_string())]).unwrap();
        let scorer = Scorer::new(rules);
        let mut builder = ReportBuilder::new(scorer.rules());
        if outcome {
            builder = builder.with_outcome("won");
        }
        for lead in leads {
            let lead = Lead::from_json(lead.clone()).unwrap();
            builder.add(&lead, &scorer.score(&lead, Date::UNIX_EPOCH));
        }
        builder.reject();
        builder.finish()
    }

    #[test]
    fn lift_precision_and_recall() {
        // ready (90): won, won, lost; prospect (70): won, lost; lead (40): lost x3, and
        // one without an outcome. Base rate 3/8; ready rate 2/3, lift (2/3)/(3/8) = 16/9;
        // qualified (prospect or better) flags 5 of which 3 won: precision 3/5, recall 3/3.
        let ready = json!({"budget": 20000, "pain": "x", "pricing": true});
        let prospect = json!({"budget": 20000, "pain": "x"});
        let lead = json!({"budget": 20000});
        let with = |mut v: serde_json::Value, won: serde_json::Value| {
            v["won"] = won;
            v
        };
        let r = report(
            &[
                with(ready.clone(), json!(1)),
                with(ready.clone(), json!("yes")),
                with(ready, json!(0)),
                with(prospect.clone(), json!(true)),
                with(prospect, json!("no")),
                with(lead.clone(), json!(0)),
                with(lead.clone(), json!(0)),
                with(lead.clone(), json!(0)),
                lead,
            ],
            true,
        );
        assert_eq!((r.leads.read, r.leads.scored, r.leads.rejected), (10, 9, 1));
        let o = r.outcome.unwrap();
        assert_eq!((o.labelled, o.unlabelled, o.positives), (8, 1, 3));
        assert_eq!(o.base_rate, Some(0.375));
        let ready = &o.stages[1];
        assert_eq!(
            (&*ready.stage, ready.leads, ready.positives),
            ("ready_to_convert", 3, 2)
        );
        assert_eq!(ready.lift, Some(round(16.0 / 9.0)));
        assert_eq!(o.stages[3].lift, Some(0.0), "no lead in `lead` won");
        assert_eq!(o.stages[0].lift, None, "nobody was disqualified");
        assert_eq!(o.qualified.flagged, 5);
        assert_eq!(o.qualified.precision, Some(0.6));
        assert_eq!(o.qualified.recall, Some(1.0));
        // Scores: positives 90, 90, 70; negatives 90, 70, 40, 40, 40.
        // 90s: each beats 70 and three 40s (4) and ties the 90 (0.5): 2 x 4.5 = 9.
        // 70: beats three 40s (3), ties the 70 (0.5): 3.5. (9 + 3.5) / 15.
        assert_eq!(o.auc, Some(round(12.5 / 15.0)));
    }

    #[test]
    fn funnel_rates_bins_rules_and_missing_signals() {
        let r = report(
            &[
                json!({"budget": 20000, "pain": "x", "pricing": true}),
                json!({"budget": 20000, "pain": "x"}),
                json!({"budget": 20000}),
                json!({"pain": "x", "email": "kid@uni.edu"}),
            ],
            false,
        );
        assert_eq!(r.outcome, None);
        let stages: Vec<(&str, u64)> = r.stages.iter().map(|s| (&*s.stage, s.leads)).collect();
        assert_eq!(
            stages,
            [
                ("disqualified", 1),
                ("ready_to_convert", 1),
                ("prospect", 1),
                ("lead", 1)
            ]
        );
        assert_eq!(
            (&*r.qualified_stage, r.lead_to_qualified),
            ("prospect", 0.5)
        );
        assert_eq!(
            (&*r.ready_stage, r.lead_to_ready),
            ("ready_to_convert", 0.25)
        );
        assert_eq!(r.benchmarks.standing, "top tenth");
        let funnel: Vec<(&str, u64)> = r.funnel.iter().map(|f| (&*f.stage, f.leads)).collect();
        assert_eq!(funnel, [("prospect", 2), ("ready_to_convert", 1)]);
        assert_eq!(r.scores.bins.len(), 10);
        assert_eq!((r.scores.bins[9].from, r.scores.bins[9].to), (90, 100));
        let bins: Vec<u64> = r.scores.bins.iter().map(|b| b.leads).collect();
        assert_eq!(bins, [0, 0, 0, 1, 1, 0, 0, 1, 0, 1]);
        assert_eq!(r.scores.mean, 57.5);
        let rules: Vec<u64> = r.rules.iter().map(|c| c.matched).collect();
        assert_eq!(rules, [3, 3, 1, 1]);
        // prospect lacks pricing_discussed; the `lead` lacks need.
        let missing: Vec<(&str, u64)> = r.missing.iter().map(|m| (&*m.signal, m.leads)).collect();
        assert_eq!(missing, [("need", 1), ("pricing_discussed", 1)]);
    }

    #[test]
    fn benchmark_standing() {
        assert_eq!(benchmarks(0.0).standing, "below average");
        assert_eq!(benchmarks(0.0235).standing, "average");
        assert_eq!(benchmarks(0.06).standing, "top quarter");
        assert_eq!(benchmarks(0.1145).standing, "top tenth");
    }

    #[test]
    fn html_is_escaped_and_self_contained() {
        let r = report(
            &[json!({"budget": 20000, "won": 1}), json!({"won": 0})],
            true,
        );
        let html = r.to_html("<leads & more>");
        assert!(html.contains("<title>&lt;leads &amp; more&gt;</title>"));
        for id in ["funnel", "benchmarks", "scores", "lift"] {
            assert!(html.contains(&format!("<svg id=\"{id}\"")), "{id}");
        }
        assert!(!html.contains("<script"));
        assert!(!html.contains("http"), "nothing is fetched: no URL at all");
    }
}

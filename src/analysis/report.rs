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

use crate::convert::field_value;
use crate::lead::{Lead, Value};
use crate::rules::Rules;
use crate::verdict::Verdict;

/// Published lead-to-opportunity conversion benchmarks: the average, the top quarter's
/// and the top tenth's rate (2.35%, 5.31%, 11.45%).
pub const BENCHMARKS: [(&str, f64); 3] = [
    ("average", 0.0235),
    ("top quarter", 0.0531),
    ("top tenth", 0.1145),
];

/// Where the benchmark figures come from, shown under the benchmark chart.
const BENCHMARK_NOTE: &str = "The benchmark figures (2.35%, 5.31%, 11.45%) are widely quoted as lead-to-opportunity rates; they trace back to WordStream's analysis of conversion rates in Google Ads accounts, so take the comparison as a rough guide, not a like-for-like one.";

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
            outcome,
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

fn ratio(part: u64, whole: u64) -> Option<f64> {
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
fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{:.1}%", x * 100.0))
}

fn fixed(x: Option<f64>, digits: usize) -> String {
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

fn pct2(x: f64) -> String {
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

    /// The report as one self-contained HTML page: inline CSS and inline SVG charts (the
    /// funnel against the benchmarks, the score distribution split by outcome, lift by
    /// stage), no scripts, nothing fetched from the network.
    pub fn to_html(&self, title: &str) -> String {
        let mut body = String::new();
        let c = &self.leads;
        let _ = write!(
            body,
            "<h1>{}</h1>\n<p class=\"sub\">{} leads read, {} scored, {} rejected.</p>\n",
            esc(title),
            c.read,
            c.scored,
            c.rejected
        );
        if let Some(o) = &self.outcome {
            let _ = writeln!(
                body,
                "<div class=\"cards\">{}{}{}{}{}</div>",
                card(
                    "base rate",
                    &percent(o.base_rate),
                    &format!("`{}`", o.field)
                ),
                card("ROC AUC", &fixed(o.auc, 3), "of the score"),
                card(
                    "precision",
                    &percent(o.qualified.precision),
                    &format!("{} or better", self.qualified_stage)
                ),
                card(
                    "recall",
                    &percent(o.qualified.recall),
                    &format!("{} or better", self.qualified_stage)
                ),
                card(
                    &format!("lead &rarr; {}", esc(&self.ready_stage)),
                    &percent(Some(self.lead_to_ready)),
                    self.benchmarks.standing
                ),
            );
        }
        body.push_str("<h2>Funnel</h2>\n");
        body.push_str(&self.funnel_svg());
        let _ = writeln!(
            body,
            "<p class=\"sub\">Disqualified, out of the funnel: {} ({}).</p>",
            self.disqualified,
            percent(ratio(self.disqualified, self.leads.scored))
        );
        body.push_str(&self.benchmark_svg());
        let _ = write!(
            body,
            "<p>lead &rarr; {}: <b>{}</b> is {} of the published lead-to-opportunity benchmarks.</p>\n<p class=\"sub\">{}</p>\n",
            esc(&self.ready_stage),
            percent(Some(self.lead_to_ready)),
            esc(&self.benchmarks.describe()),
            BENCHMARK_NOTE
        );
        body.push_str("<h2>Score distribution</h2>\n");
        body.push_str(&self.scores_svg());
        if let Some(o) = &self.outcome {
            body.push_str("<h2>Lift by stage</h2>\n");
            body.push_str(&lift_svg(o));
            body.push_str(&outcome_table(o));
        }
        body.push_str("<h2>Leads per stage</h2>\n<table><tr><th>stage</th><th>leads</th><th>share</th></tr>\n");
        for s in &self.stages {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.stage),
                s.leads,
                percent(Some(s.share))
            );
        }
        body.push_str("</table>\n<h2>Rules</h2>\n<table><tr><th>rule</th><th>matched</th><th>share</th></tr>\n");
        for r in &self.rules {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.rule),
                r.matched,
                percent(Some(r.share))
            );
        }
        body.push_str("</table>\n<h2>Missing for the next stage</h2>\n<table><tr><th>signal</th><th>leads</th><th>share</th></tr>\n");
        for m in &self.missing {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&m.signal),
                m.leads,
                percent(Some(m.share))
            );
        }
        body.push_str("</table>\n");
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n{body}<p class=\"sub\">Made by leadscore report.</p>\n</main>\n</body>\n</html>\n",
            esc(title)
        )
    }

    fn funnel_svg(&self) -> String {
        let total = self.leads.scored.max(1) as f64;
        let mut rows: Vec<(String, u64, f64)> =
            vec![("all leads".to_string(), self.leads.scored, 1.0)];
        rows.extend(
            self.funnel
                .iter()
                .map(|f| (format!("{} or better", f.stage), f.leads, f.rate)),
        );
        let (width, row, top) = (720.0, 46.0, 10.0);
        let height = top * 2.0 + row * rows.len() as f64;
        let mut svg = svg_open(
            "funnel",
            width,
            height,
            "The funnel: leads at or above each stage",
        );
        for (i, (label, leads, rate)) in rows.iter().enumerate() {
            let w = (width - 40.0) * (*leads as f64 / total);
            let w = w.max(3.0);
            let x = (width - w) / 2.0;
            let y = top + row * i as f64;
            let _ = write!(
                svg,
                "<rect class=\"bar f{}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"3\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}: {} ({})</text>\n",
                i.min(3),
                row - 8.0,
                width / 2.0,
                y + row / 2.0,
                esc(label),
                leads,
                percent(Some(*rate))
            );
        }
        svg.push_str("</svg>\n");
        svg
    }

    fn benchmark_svg(&self) -> String {
        let b = &self.benchmarks;
        let rows = [
            (
                format!("this batch: lead → {}", self.ready_stage),
                b.rate,
                true,
            ),
            ("benchmark: average".to_string(), b.average, false),
            ("benchmark: top quarter".to_string(), b.top_quarter, false),
            ("benchmark: top tenth".to_string(), b.top_tenth, false),
        ];
        let max = rows.iter().map(|r| r.1).fold(0.0f64, f64::max).max(0.01) * 1.15;
        let (width, label_w, row) = (720.0, 260.0, 26.0);
        let height = row * rows.len() as f64 + 10.0;
        let mut svg = svg_open(
            "benchmarks",
            width,
            height,
            "The lead to ready rate against the published benchmarks",
        );
        for (i, (label, value, ours)) in rows.iter().enumerate() {
            let y = 5.0 + row * i as f64;
            let w = ((width - label_w - 70.0) * value / max).max(2.0);
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n<rect class=\"bar {}\" x=\"{label_w}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"2\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
                label_w - 8.0,
                y + row / 2.0,
                esc(label),
                if *ours { "ours" } else { "bench" },
                y + 3.0,
                row - 6.0,
                label_w + w + 6.0,
                y + row / 2.0,
                pct2(*value)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }

    fn scores_svg(&self) -> String {
        let bins = &self.scores.bins;
        let with_outcome = self.outcome.is_some();
        let max = bins.iter().map(|b| b.leads).max().unwrap_or(0).max(1) as f64;
        let (width, height, left, bottom, top) = (720.0, 300.0, 50.0, 40.0, 30.0);
        let plot_h = height - bottom - top;
        let slot = (width - left - 10.0) / bins.len().max(1) as f64;
        let mut svg = svg_open(
            "scores",
            width,
            height,
            if with_outcome {
                "Score distribution, split by outcome"
            } else {
                "Score distribution"
            },
        );
        let base = top + plot_h;
        let _ = write!(
            svg,
            "<line class=\"axis\" x1=\"{left}\" y1=\"{base}\" x2=\"{:.1}\" y2=\"{base}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n<text x=\"{:.1}\" y=\"{base}\" text-anchor=\"end\">0</text>\n",
            width - 10.0,
            left - 6.0,
            top + 4.0,
            max as u64,
            left - 6.0,
        );
        for (i, bin) in bins.iter().enumerate() {
            let x = left + slot * i as f64 + slot * 0.1;
            let w = slot * 0.8;
            let cx = x + w / 2.0;
            let mut y = base;
            let parts: Vec<(&str, u64)> = match (bin.positive, bin.negative) {
                (Some(p), Some(n)) => {
                    let unlabelled = bin.leads - p - n;
                    vec![("neg", n), ("pos", p), ("unk", unlabelled)]
                }
                _ => vec![("all", bin.leads)],
            };
            for (class, n) in parts {
                if n == 0 {
                    continue;
                }
                let h = plot_h * n as f64 / max;
                y -= h;
                let _ = writeln!(
                    svg,
                    "<rect class=\"bar {class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\"><title>{}-{}: {n}</title></rect>",
                    bin.from, bin.to
                );
            }
            let _ = write!(
                svg,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"small\">{}</text>\n<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"small\">{}-{}</text>\n",
                y - 4.0,
                bin.leads,
                base + 16.0,
                bin.from,
                bin.to
            );
        }
        if with_outcome {
            let _ = write!(
                svg,
                "<rect class=\"bar pos\" x=\"{left}\" y=\"6\" width=\"12\" height=\"12\"/><text x=\"{:.1}\" y=\"12\">converted</text>\n<rect class=\"bar neg\" x=\"{:.1}\" y=\"6\" width=\"12\" height=\"12\"/><text x=\"{:.1}\" y=\"12\">not converted</text>\n",
                left + 18.0,
                left + 120.0,
                left + 138.0
            );
            let unlabelled = self.outcome.as_ref().is_some_and(|o| o.unlabelled > 0);
            if unlabelled {
                let _ = writeln!(
                    svg,
                    "<rect class=\"bar unk\" x=\"{:.1}\" y=\"6\" width=\"12\" height=\"12\"/><text x=\"{:.1}\" y=\"12\">no outcome value</text>",
                    left + 260.0,
                    left + 278.0
                );
            }
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">score</text>",
            left + (width - left) / 2.0,
            height - 4.0
        );
        svg.push_str("</svg>\n");
        svg
    }
}

fn lift_svg(o: &OutcomeReport) -> String {
    let rows: Vec<&StageOutcome> = o.stages.iter().filter(|s| s.leads > 0).collect();
    let max = rows.iter().filter_map(|s| s.lift).fold(1.0f64, f64::max) * 1.15;
    let (width, label_w, row) = (720.0, 200.0, 30.0);
    let height = row * rows.len().max(1) as f64 + 30.0;
    let plot_w = width - label_w - 190.0;
    let mut svg = svg_open(
        "lift",
        width,
        height,
        "Lift by stage: each stage's outcome rate over the base rate",
    );
    for (i, s) in rows.iter().enumerate() {
        let y = 5.0 + row * i as f64;
        let lift = s.lift.unwrap_or(0.0);
        let w = (plot_w * lift / max).max(2.0);
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n<rect class=\"bar {}\" x=\"{label_w}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"2\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">lift {} ({} of {} converted)</text>\n",
            label_w - 8.0,
            y + row / 2.0,
            esc(&s.stage),
            if lift >= 1.0 { "up" } else { "down" },
            y + 4.0,
            row - 8.0,
            label_w + w + 6.0,
            y + row / 2.0,
            fixed(s.lift, 2),
            percent(s.rate),
            s.leads
        );
    }
    let x1 = label_w + plot_w / max;
    let _ = write!(
        svg,
        "<line class=\"ref\" x1=\"{x1:.1}\" y1=\"0\" x2=\"{x1:.1}\" y2=\"{:.1}\"/>\n<text x=\"{x1:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"small\">base rate {} (lift 1)</text>\n</svg>\n",
        height - 20.0,
        height - 6.0,
        percent(o.base_rate)
    );
    svg
}

fn outcome_table(o: &OutcomeReport) -> String {
    let mut t = format!(
        "<table><tr><th>stage</th><th>leads with `{}`</th><th>converted</th><th>rate</th><th>lift</th></tr>\n",
        esc(&o.field)
    );
    for s in &o.stages {
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.stage),
            s.leads,
            s.positives,
            percent(s.rate),
            fixed(s.lift, 2)
        );
    }
    let _ = writeln!(
        t,
        "</table>\n<p>{} leads with a value, {} without; qualified ({}): {} flagged, {} of them converted.</p>",
        o.labelled,
        o.unlabelled,
        esc(&o
            .qualified
            .stages
            .iter()
            .map(|s| s.as_ref())
            .collect::<Vec<_>>()
            .join(", ")),
        o.qualified.flagged,
        o.qualified.true_positives
    );
    t
}

fn card(label: &str, value: &str, note: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"label\">{label}</div><div class=\"value\">{}</div><div class=\"note\">{}</div></div>",
        esc(value),
        esc(note)
    )
}

fn svg_open(id: &str, width: f64, height: f64, label: &str) -> String {
    format!(
        "<svg id=\"{id}\" class=\"chart\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{}\">\n<title>{}</title>\n",
        esc(label),
        esc(label)
    )
}

/// Escapes text for HTML and SVG.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #1d2733; background: #f6f7f9; margin: 0; }
main { max-width: 780px; margin: 0 auto; padding: 24px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #e3e6ea; padding-bottom: 4px; }
.sub { color: #5b6776; margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid #e3e6ea; border-radius: 6px; padding: 8px 12px; min-width: 120px; }
.card .label { color: #5b6776; font-size: 12px; }
.card .value { font-size: 22px; font-weight: 600; }
.card .note { color: #5b6776; font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid #eef0f2; }
td:not(:first-child), th:not(:first-child) { text-align: right; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 8px 0; font-size: 13px; }
svg text { fill: #1d2733; dominant-baseline: middle; }
svg text.small { font-size: 11px; }
.bar.f0 { fill: #c6dbef; } .bar.f1 { fill: #9ecae1; } .bar.f2 { fill: #6baed6; } .bar.f3 { fill: #4292c6; }
.bar.ours { fill: #e6550d; } .bar.bench { fill: #bdbdbd; }
.bar.pos { fill: #e6550d; } .bar.neg { fill: #9ecae1; } .bar.unk { fill: #d9d9d9; } .bar.all { fill: #6baed6; }
.bar.up { fill: #31a354; } .bar.down { fill: #de2d26; }
.axis { stroke: #5b6776; } .ref { stroke: #1d2733; stroke-dasharray: 4 3; }
";

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

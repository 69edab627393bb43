//! Replays a history of lead records (snapshots or partial updates, each with a lead id
//! and a time) and finds when each lead changed stage: every update is merged into the
//! lead as known so far and scored as of its date, and each change of stage becomes a
//! [`Transition`]. [`Timeline::until`] carries every lead on to a later date, so decay
//! and date conditions show as transitions on the day they happen; [`Summary`] says how
//! many leads reached each stage, how long that took, and which rule most often tipped
//! them into it.
//!
//! ```
//! use leadscore::timeline::Timeline;
//! use leadscore::{Lead, Rules, Scorer};
//!
//! let scorer = Scorer::new(Rules::load_dir("rules")?);
//! let mut timeline = Timeline::new(&scorer, Some("updated_at"))?;
//! let update = |v: serde_json::Value| Lead::from_json(v);
//! timeline.add(update(serde_json::json!({
//!     "id": "L-1", "updated_at": "2026-01-05", "email": "ana@acme.com",
//!     "title": "Head of Operations", "pain_points": "manual reporting"}))?)?;
//! timeline.add(update(serde_json::json!({"id": "L-1", "updated_at": "2026-01-20", "budget": 25000}))?)?;
//! let transitions = timeline.transitions();
//! assert_eq!(transitions[0].from, None); // the first verdict: a change from nothing
//! assert_eq!(transitions.last().unwrap().to.as_ref(), "prospect");
//! assert_eq!(transitions.last().unwrap().rules_added[0].as_ref(), "budget_confirmed");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Memory: one entry per distinct lead (its merged fields, the stage, signals and rules
//! of its last verdict, the stages it reached) and the transitions found, which are
//! kept until the end so they come out in time order whatever order the input had. No
//! record is kept after it is merged. A lead's updates must therefore come in time
//! order (as in an export sorted by time, or grouped by lead and sorted within each
//! lead); an update older than one already merged for the same lead is refused
//! ([`Timeline::add`] says why), and the command line's `--sort` orders the input first.

use std::fmt::Write as _;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::date::{Date, Timestamp};
use crate::lead::{Lead, Slot, Value, describe};
use crate::rules::predicate::{Predicate, Test};
use crate::rules::{RuleKind, Rules};
use crate::scorer::Scorer;
use crate::verdict::{
    Scores, Verdict, write_int, write_opt_str, write_str, write_strs, write_value,
};

/// One change of stage of one lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// The lead's id.
    pub id: Value,
    /// The update's time as given in the record (`YYYY-MM-DD` for a change found by
    /// [`Timeline::until`]).
    pub at: String,
    /// The stage before; `None` for the lead's first verdict.
    pub from: Option<Arc<str>>,
    /// The stage after.
    pub to: Arc<str>,
    /// The score after.
    pub score: i64,
    /// Points per score dimension after, when the rules declare dimensions (no key
    /// otherwise).
    #[serde(skip_serializing_if = "Scores::is_empty")]
    pub scores: Scores,
    /// Signals the lead has now and did not have at its previous verdict, sorted.
    pub gained: Vec<Arc<str>>,
    /// Signals the lead had at its previous verdict and lost, sorted.
    pub lost: Vec<Arc<str>>,
    /// Rules matched now and not at the previous verdict, in rule order.
    pub rules_added: Vec<Arc<str>>,
    /// Rules matched at the previous verdict and not now, in rule order.
    pub rules_removed: Vec<Arc<str>>,
    /// Instant, then order of discovery: the output order.
    #[serde(skip)]
    order: ((i64, u32), u64),
}

impl Transition {
    /// The transition as one line of JSON (no trailing newline), keys in the documented
    /// order: `id, at, from, to, score, scores` (with dimensions), `gained, lost,
    /// rules_added, rules_removed`.
    pub fn to_json_line(&self) -> String {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        // Every piece written is a `str`, a number or ASCII.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends the transition as one line of JSON to `out` (no newline): byte for byte
    /// what `serde_json` writes for it, without its per-value machinery. This is the
    /// one place the line is written.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        write_value(out, &self.id);
        out.extend_from_slice(b",\"at\":");
        write_str(out, &self.at);
        out.extend_from_slice(b",\"from\":");
        write_opt_str(out, self.from.as_deref());
        out.extend_from_slice(b",\"to\":");
        write_str(out, &self.to);
        out.extend_from_slice(b",\"score\":");
        write_int(out, self.score);
        if !self.scores.is_empty() {
            out.extend_from_slice(b",\"scores\":");
            self.scores.write_json(out);
        }
        for (key, items) in [
            (&b",\"gained\":"[..], &self.gained),
            (b",\"lost\":", &self.lost),
            (b",\"rules_added\":", &self.rules_added),
            (b",\"rules_removed\":", &self.rules_removed),
        ] {
            out.extend_from_slice(key);
            write_strs(out, items);
        }
        out.push(b'}');
    }
}

/// The stage, score, signals and rules of a lead's last verdict.
#[derive(Debug)]
struct Seen {
    stage: Arc<str>,
    signals: Vec<Arc<str>>,
    rules: Vec<Arc<str>>,
}

/// One lead as known so far.
#[derive(Debug)]
struct LeadState {
    id: Value,
    /// The merged fields: every field the rules read (all of them when a script reads
    /// the lead as a whole), under the rules' names.
    lead: Lead,
    first_seen: Date,
    last: Timestamp,
    last_at: String,
    seen: Option<Seen>,
    /// Stage index and days from first seen, for each stage the lead reached, once.
    reached: Vec<(usize, i64)>,
}

/// How the verdict of a lead whose fields do not change can change with the as-of date.
#[derive(Debug, Clone)]
enum DateDependence {
    /// Only through `within_days`/`older_than_days` conditions: (field slot, days).
    Known(Vec<(Slot, i64)>),
    /// Through something leadscore cannot see into (a Rhai script or expression):
    /// every day has to be scored.
    Unknown,
}

/// Replays a history of lead records. See the [module documentation](self).
#[derive(Debug)]
pub struct Timeline {
    scorer: Scorer,
    time_field: Arc<str>,
    time_slot: Option<Slot>,
    id_slot: Slot,
    /// Keep fields the rules do not know (a script reads the lead as a whole).
    keep_all_fields: bool,
    dependence: DateDependence,
    leads: Vec<LeadState>,
    index: FxHashMap<IdKey, usize>,
    transitions: Vec<Transition>,
    stages: Vec<Arc<str>>,
    rule_ids: Vec<Arc<str>>,
    rule_index: FxHashMap<Arc<str>, usize>,
    /// Per stage, per rule: leads it tipped into the stage.
    tips: Vec<Vec<u64>>,
    updates: u64,
}

/// A lead id as a map key: text and numbers kept apart (`"7"` is not `7`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum IdKey {
    Text(String),
    Other(String),
}

impl IdKey {
    fn of(value: &Value) -> IdKey {
        match value {
            Value::Text(s) => IdKey::Text(s.clone()),
            other => IdKey::Other(serde_json::to_string(other).unwrap_or_default()),
        }
    }
}

impl Timeline {
    /// A timeline scored by `scorer`, reading each record's time from `time_field`, or
    /// else from the rules' `settings.event_time`. The field may be named by any of its
    /// aliases.
    ///
    /// # Errors
    /// When neither names a time field.
    pub fn new(scorer: &Scorer, time_field: Option<&str>) -> Result<Timeline, String> {
        let rules = scorer.rules();
        let Some(name) = time_field.or_else(|| rules.event_time_field()) else {
            return Err(
                "no time field: set `settings.event_time: { field: NAME }` in the rules, or pass --time-field NAME"
                    .to_string(),
            );
        };
        let time_slot = rules.schema.lookup(name);
        let time_field: Arc<str> = match time_slot {
            Some(slot) => rules.schema.field(slot).name.clone(),
            None => name.into(),
        };
        let rule_ids: Vec<Arc<str>> = rules.rules.iter().map(|r| r.id.clone()).collect();
        let rule_index = rule_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let stages: Vec<Arc<str>> = rules.policy.stages.iter().map(|s| s.id.clone()).collect();
        Ok(Timeline {
            scorer: scorer.clone(),
            time_field,
            time_slot,
            id_slot: rules.settings.id_slot,
            keep_all_fields: !rules.scripts.reads_named_fields(),
            dependence: date_dependence(rules),
            leads: Vec::new(),
            index: FxHashMap::default(),
            transitions: Vec::new(),
            tips: vec![vec![0; rule_ids.len()]; stages.len()],
            stages,
            rule_ids,
            rule_index,
            updates: 0,
        })
    }

    /// The field each record's time is read from, as the rules name it.
    pub fn time_field(&self) -> &str {
        &self.time_field
    }

    /// The time of a record: its time field read as a date or an RFC 3339 time.
    ///
    /// # Errors
    /// When the record has no time, or one that is neither.
    pub fn time_of(&self, lead: &Lead) -> Result<Timestamp, String> {
        let schema = &self.scorer.rules().schema;
        let mut found = None;
        for (key, value) in lead.fields() {
            if self.is_time(key, schema.lookup(key)) {
                found = Some(value);
            }
        }
        self.read_time(found)
    }

    fn read_time(&self, found: Option<&Value>) -> Result<Timestamp, String> {
        let field = &self.time_field;
        match found {
            Some(value) if !value.is_empty() => {
                value.as_text().and_then(Timestamp::parse).ok_or_else(|| {
                    format!(
                        "`{field}` is not a date or an RFC 3339 time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ), found {}",
                        describe(value)
                    )
                })
            }
            _ => Err(format!("no time: the record has no `{field}`")),
        }
    }

    fn is_time(&self, key: &str, slot: Option<Slot>) -> bool {
        match self.time_slot {
            Some(time) => slot == Some(time),
            None => key == &*self.time_field,
        }
    }

    /// Merges one record into its lead and scores the lead as of the record's date; a
    /// change of stage (or the lead's first verdict) adds a [`Transition`]. A field in
    /// the record replaces the lead's earlier value; an explicit null removes it.
    ///
    /// # Errors
    /// The reason to refuse the record, which then changes nothing: it has no id, no
    /// time or an unreadable one, it is older than an update already merged for the
    /// same lead, or a value does not fit its declared type.
    pub fn add(&mut self, record: Lead) -> Result<(), String> {
        let rules = self.scorer.rules();
        let schema = &rules.schema;
        // One look-up per field: the slot, or none for a field the rules do not know.
        let slots: Vec<Option<Slot>> = record.fields().map(|(k, _)| schema.lookup(k)).collect();
        let (mut id, mut time, mut misfits) = (None, None, Vec::new());
        for ((key, value), &slot) in record.fields().zip(&slots) {
            if slot == Some(self.id_slot) {
                id = Some(value);
            }
            if self.is_time(key, slot) {
                time = Some(value);
            }
            // Earlier values fit already: only this record's can be refused, before
            // anything is merged (as `Scorer::try_score` words it).
            if let Some(slot) = slot {
                let field = schema.field(slot);
                if let (Some(ty), false) = (field.ty, *value == Value::Null)
                    && let Err(why) = ty.coerce(value)
                {
                    misfits.push(format!("field `{}`: {why}", field.name));
                }
            }
        }
        let at = time
            .and_then(Value::as_text)
            .unwrap_or_default()
            .to_string();
        let time = self.read_time(time)?;
        let id = match id {
            Some(v) if !v.is_empty() => v.clone(),
            _ => {
                return Err(format!(
                    "no id: the record has no `{}`",
                    rules.settings.id_field
                ));
            }
        };
        if !misfits.is_empty() {
            return Err(misfits.join("; "));
        }
        let key = IdKey::of(&id);
        let index = match self.index.get(&key) {
            Some(&i) => {
                let state = &self.leads[i];
                if time.instant() < state.last.instant() {
                    return Err(format!(
                        "out of order: lead {id} already has an update at {}; sort the input by time (or use --sort)",
                        state.last_at
                    ));
                }
                i
            }
            None => {
                self.leads.push(LeadState {
                    id,
                    lead: Lead::new(),
                    first_seen: time.date(),
                    last: time,
                    last_at: String::new(),
                    seen: None,
                    reached: Vec::new(),
                });
                self.index.insert(key, self.leads.len() - 1);
                self.leads.len() - 1
            }
        };
        let state = &mut self.leads[index];
        for ((key, value), slot) in record.into_iter().zip(slots) {
            let name = match slot {
                Some(slot) if *schema.field(slot).name == *key => key,
                Some(slot) => schema.field(slot).name.to_string(),
                None if self.keep_all_fields => key,
                None => continue,
            };
            if value == Value::Null {
                state.lead.remove(&name);
            } else {
                state.lead.replace(name, value);
            }
        }
        let verdict = self.scorer.score(&state.lead, time.date());
        state.last = time;
        state.last_at.clone_from(&at);
        self.updates += 1;
        self.observe(index, &verdict, at, time.date(), time.instant());
        Ok(())
    }

    /// Records a lead's new verdict: a transition when its stage changed.
    fn observe(
        &mut self,
        index: usize,
        verdict: &Verdict,
        at: String,
        date: Date,
        instant: (i64, u32),
    ) {
        let state = &mut self.leads[index];
        let changed = state.seen.as_ref().is_none_or(|s| s.stage != verdict.stage);
        if changed {
            let (signals, rules): (&[Arc<str>], &[Arc<str>]) = match &state.seen {
                Some(seen) => (&seen.signals, &seen.rules),
                None => (&[], &[]),
            };
            let now: Vec<Arc<str>> = verdict.matched.iter().map(|m| m.rule.clone()).collect();
            let transition = Transition {
                id: state.id.clone(),
                at,
                from: state.seen.as_ref().map(|s| s.stage.clone()),
                to: verdict.stage.clone(),
                score: verdict.score,
                scores: verdict.scores.clone(),
                gained: missing_from(&verdict.signals, signals),
                lost: missing_from(signals, &verdict.signals),
                rules_added: missing_from(&now, rules),
                rules_removed: missing_from(rules, &now),
                order: (instant, self.transitions.len() as u64),
            };
            if let Some(stage) = self.stages.iter().position(|s| *s == verdict.stage)
                && !state.reached.iter().any(|(s, _)| *s == stage)
            {
                state
                    .reached
                    .push((stage, date.days_since(state.first_seen)));
                // An update moved it in (a lead's first record only brings it in).
                if transition.from.is_some() {
                    for rule in &transition.rules_added {
                        if let Some(&r) = self.rule_index.get(rule) {
                            self.tips[stage][r] += 1;
                        }
                    }
                }
            }
            self.transitions.push(transition);
        }
        // Updated in place: a lead's vectors keep their room from one update to the next.
        let seen = state.seen.get_or_insert_with(|| Seen {
            stage: verdict.stage.clone(),
            signals: Vec::new(),
            rules: Vec::new(),
        });
        if changed {
            seen.stage = verdict.stage.clone();
        }
        seen.signals.clear();
        seen.signals.extend(verdict.signals.iter().cloned());
        seen.rules.clear();
        seen.rules
            .extend(verdict.matched.iter().map(|m| m.rule.clone()));
    }

    /// Scores every lead once more on each later day up to `date` on which its verdict
    /// can change with no new update (decay, `within_days`, `older_than_days`, a script
    /// reading `as_of()`), and adds the transitions found, dated that day. A lead last
    /// updated on or after `date` is left as it is.
    ///
    /// With only `within_days`/`older_than_days` conditions, the days a verdict can
    /// change are those a condition starts or stops holding, worked out from the lead's
    /// dates; with Rhai scripts or expressions (which may call `as_of()` or
    /// `days_since`), every day is scored.
    pub fn until(&mut self, date: Date) {
        for index in 0..self.leads.len() {
            let state = &self.leads[index];
            let from = state.last.date();
            if from >= date {
                continue;
            }
            let days: Vec<Date> = match &self.dependence {
                DateDependence::Unknown => (1..=date.days_since(from))
                    .filter_map(|n| Date::from_unix_days(from.unix_days() + n))
                    .collect(),
                DateDependence::Known(tests) => {
                    let bound = self.scorer.rules().schema.bind(&state.lead);
                    let mut days: Vec<Date> = tests
                        .iter()
                        .filter_map(|&(slot, n)| {
                            bound.values.get(slot)?.as_ref()?.as_date().map(|d| (d, n))
                        })
                        .flat_map(|(d, n)| [d.unix_days(), d.unix_days() + n + 1])
                        .filter(|&day| day > from.unix_days() && day <= date.unix_days())
                        .filter_map(Date::from_unix_days)
                        .collect();
                    days.sort_unstable();
                    days.dedup();
                    days
                }
            };
            let last = state.last.instant();
            for day in days {
                let verdict = self.scorer.score(&self.leads[index].lead, day);
                // A change found on a day sorts at that day's midnight UTC, and never
                // before the lead's own last update.
                let instant = (day.unix_days() * 86_400, 0).max(last);
                self.observe(index, &verdict, day.to_string(), day, instant);
            }
        }
    }

    /// The transitions found so far, in time order (equal times in the order the
    /// updates came).
    pub fn transitions(&mut self) -> &[Transition] {
        self.transitions.sort_by_key(|t| t.order);
        &self.transitions
    }

    /// Distinct leads seen.
    pub fn leads(&self) -> usize {
        self.leads.len()
    }

    /// Records merged (refused ones are not counted).
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Per stage: how many leads reached it, how long that took, and which rule most
    /// often tipped them into it.
    pub fn summary(&self) -> Summary {
        let mut days: Vec<Vec<i64>> = vec![Vec::new(); self.stages.len()];
        for state in &self.leads {
            for &(stage, d) in &state.reached {
                days[stage].push(d);
            }
        }
        let stages = self
            .stages
            .iter()
            .zip(days)
            .zip(&self.tips)
            .map(|((stage, mut days), tips)| {
                days.sort_unstable();
                let mut top: Option<(usize, u64)> = None;
                for (rule, &n) in tips.iter().enumerate() {
                    if n > 0 && top.is_none_or(|(_, best)| n > best) {
                        top = Some((rule, n));
                    }
                }
                StageSummary {
                    stage: stage.clone(),
                    leads: days.len() as u64,
                    median_days: percentile(&days, 50),
                    p90_days: percentile(&days, 90),
                    tipped_by: top.map(|(rule, leads)| Tip {
                        rule: self.rule_ids[rule].clone(),
                        leads,
                    }),
                }
            })
            .collect();
        Summary {
            leads: self.leads.len() as u64,
            updates: self.updates,
            transitions: self.transitions.len() as u64,
            stages,
        }
    }
}

/// Items of `a` not in `b`, in `a`'s order.
fn missing_from(a: &[Arc<str>], b: &[Arc<str>]) -> Vec<Arc<str>> {
    a.iter().filter(|x| !b.contains(x)).cloned().collect()
}

/// The nearest-rank percentile of sorted values: the smallest value with at least `p`
/// percent of the values at or below it.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// How verdicts depend on the as-of date once a lead's fields are fixed. A decayed rule
/// (its own decay or its dimension's) changes its points day by day, so it makes this
/// `Unknown`, like a script.
fn date_dependence(rules: &Rules) -> DateDependence {
    let mut tests = Vec::new();
    let mut known = true;
    for rule in &rules.rules {
        known &= rule.decay.is_none();
        match &rule.kind {
            RuleKind::Yaml(p) => known &= collect_date_tests(p, &mut tests),
            RuleKind::Script(_) => known = false,
        }
    }
    for stage in &rules.policy.stages {
        if let Some(p) = &stage.when {
            known &= collect_date_tests(p, &mut tests);
        }
    }
    if known {
        tests.sort_unstable();
        tests.dedup();
        DateDependence::Known(tests)
    } else {
        DateDependence::Unknown
    }
}

/// Adds the date-relative tests in `p`; false when it holds a Rhai expression.
fn collect_date_tests(p: &Predicate, out: &mut Vec<(Slot, i64)>) -> bool {
    match p {
        Predicate::Field { slot, test, .. } => {
            if let Test::WithinDays(n) | Test::OlderThanDays(n) = test {
                out.push((*slot, *n));
            }
            true
        }
        Predicate::All(parts) | Predicate::Any(parts) => {
            parts.iter().all(|p| collect_date_tests(p, out))
        }
        Predicate::Not(inner) => collect_date_tests(inner, out),
        Predicate::Expr(_) => false,
    }
}

/// What a replayed history says per stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Distinct leads.
    pub leads: u64,
    /// Records merged.
    pub updates: u64,
    /// Changes of stage found (first verdicts included).
    pub transitions: u64,
    /// One entry per stage, in the stage policy's order.
    pub stages: Vec<StageSummary>,
}

/// How leads reached one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageSummary {
    /// The stage id.
    pub stage: Arc<str>,
    /// Leads that were in this stage at some point.
    pub leads: u64,
    /// Median whole days from a lead's first update to its first verdict in this
    /// stage (nearest rank); `None` when no lead reached it.
    pub median_days: Option<i64>,
    /// 90th percentile of the same days (nearest rank).
    pub p90_days: Option<i64>,
    /// The rule that most often tipped a lead into this stage.
    pub tipped_by: Option<Tip>,
}

/// A rule and the number of leads it tipped into a stage: leads moved into the stage by
/// an update (not by their first record), the first time they reached it, with this
/// rule newly matching (in `rules_added` of that transition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tip {
    /// The rule id.
    pub rule: Arc<str>,
    /// Leads it tipped.
    pub leads: u64,
}

impl Summary {
    /// The summary as one JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The summary as a table for people.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} leads, {} updates, {} changes of stage",
            self.leads, self.updates, self.transitions
        );
        let width = self
            .stages
            .iter()
            .map(|s| s.stage.len())
            .chain([5])
            .max()
            .unwrap_or(5);
        let _ = writeln!(
            out,
            "{:<width$}  {:>6}  {:>11}  {:>8}  MOST OFTEN TIPPED BY",
            "STAGE", "LEADS", "MEDIAN DAYS", "P90 DAYS"
        );
        let days = |d: Option<i64>| d.map_or("-".to_string(), |d| d.to_string());
        for s in &self.stages {
            let tip = s.tipped_by.as_ref().map_or("-".to_string(), |t| {
                format!("{} ({} leads)", t.rule, t.leads)
            });
            let _ = writeln!(
                out,
                "{:<width$}  {:>6}  {:>11}  {:>8}  {tip}",
                s.stage,
                s.leads,
                days(s.median_days),
                days(s.p90_days),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: &str = "\
settings:
  event_time: { field: updated_at }
rules:
  - id: need
    when: { field: pain, exists: true }
    points: 30
    signals: [need]
  - id: budget
    when: { field: budget, gte: 10000 }
    points: 30
    signals: [budget]
  - id: active
    when: { field: last_seen, within_days: 10 }
    points: 20
stages:
  - id: prospect
    min_score: 60
    requires: [need, budget]
  - id: lead
";

    fn timeline(rules: &str) -> Timeline {
        let rules = Rules::from_sources(vec![("r.yaml".into(), rules.into())]).unwrap();
        Timeline::new(&Scorer::new(rules), None).unwrap()
    }

    fn add(t: &mut Timeline, v: serde_json::Value) -> Result<(), String> {
        t.add(Lead::from_json(v).unwrap())
    }

    fn lines(t: &mut Timeline) -> Vec<String> {
        t.transitions()
            .iter()
            .map(Transition::to_json_line)
            .collect()
    }

    #[test]
    fn first_verdict_then_each_change_of_stage() {
        let mut t = timeline(RULES);
        add(
            &mut t,
            json!({"id": "a", "updated_at": "2026-01-01", "pain": "x"}),
        )
        .unwrap();
        add(
            &mut t,
            json!({"id": "a", "updated_at": "2026-01-02", "title": "cto"}),
        )
        .unwrap();
        add(
            &mut t,
            json!({"id": "a", "updated_at": "2026-01-05T10:00:00Z", "budget": 20000}),
        )
        .unwrap();
        add(
            &mut t,
            json!({"id": "a", "updated_at": "2026-01-09", "pain": null}),
        )
        .unwrap();
        assert_eq!(
            lines(&mut t),
            vec![
                r#"{"id":"a","at":"2026-01-01","from":null,"to":"lead","score":30,"gained":["need"],"lost":[],"rules_added":["need"],"rules_removed":[]}"#,
                r#"{"id":"a","at":"2026-01-05T10:00:00Z","from":"lead","to":"prospect","score":60,"gained":["budget"],"lost":[],"rules_added":["budget"],"rules_removed":[]}"#,
                r#"{"id":"a","at":"2026-01-09","from":"prospect","to":"lead","score":30,"gained":[],"lost":["need"],"rules_added":[],"rules_removed":["need"]}"#,
            ]
        );
        assert_eq!((t.leads(), t.updates()), (1, 4));
    }

    #[test]
    fn output_is_in_time_order_across_leads_and_equal_times_keep_input_order() {
        let mut t = timeline(RULES);
        // Grouped by lead: b's first update is earlier than a's second.
        add(&mut t, json!({"id": "a", "updated_at": "2026-01-01"})).unwrap();
        add(
            &mut t,
            json!({"id": "a", "updated_at": "2026-01-03", "pain": "x", "budget": 1e5}),
        )
        .unwrap();
        add(&mut t, json!({"id": "b", "updated_at": "2026-01-02"})).unwrap();
        add(&mut t, json!({"id": 7, "updated_at": "2026-01-01"})).unwrap();
        let order: Vec<(String, String)> = t
            .transitions()
            .iter()
            .map(|x| (x.id.to_string(), x.at.clone()))
            .collect();
        assert_eq!(
            order,
            [
                ("a", "2026-01-01"),
                ("7", "2026-01-01"),
                ("b", "2026-01-02"),
                ("a", "2026-01-03")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn refused_records_change_nothing() {
        let rules = format!("fields:\n  budget: {{ type: number }}\n{RULES}");
        let mut t = timeline(&rules);
        assert_eq!(
            add(&mut t, json!({"updated_at": "2026-01-01"})).unwrap_err(),
            "no id: the record has no `id`"
        );
        assert_eq!(
            add(&mut t, json!({"id": " ", "updated_at": "2026-01-01"})).unwrap_err(),
            "no id: the record has no `id`"
        );
        assert_eq!(
            add(&mut t, json!({"id": "a"})).unwrap_err(),
            "no time: the record has no `updated_at`"
        );
        assert_eq!(
            add(&mut t, json!({"id": "a", "updated_at": 20260101})).unwrap_err(),
            "`updated_at` is not a date or an RFC 3339 time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ), found the number 20260101"
        );
        assert_eq!(
            add(
                &mut t,
                json!({"id": "a", "updated_at": "2026-01-01", "budget": "lots"})
            )
            .unwrap_err(),
            "field `budget`: expected a number, found the text \"lots\""
        );
        assert_eq!(t.leads(), 0);
        add(
            &mut t,
            json!({"id": "a", "updated_at": "2026-01-02", "pain": "x", "budget": 5}),
        )
        .unwrap();
        // A misfit in a later update leaves the lead as it was (budget 5, not "lots").
        assert!(
            add(
                &mut t,
                json!({"id": "a", "updated_at": "2026-01-03", "budget": "lots", "pain": null})
            )
            .is_err()
        );
        assert_eq!(
            add(
                &mut t,
                json!({"id": "a", "updated_at": "2026-01-01T23:00:00Z"})
            )
            .unwrap_err(),
            "out of order: lead a already has an update at 2026-01-02; sort the input by time (or use --sort)"
        );
        add(
            &mut t,
            json!({"id": "a", "updated_at": "2026-01-04", "budget": 50000}),
        )
        .unwrap();
        let last = t.transitions().last().unwrap().clone();
        assert_eq!((last.to.as_ref(), last.score), ("prospect", 60));
        assert_eq!(t.updates(), 2);
    }

    #[test]
    fn until_finds_the_day_a_date_condition_stops_holding() {
        // Here a prospect needs recent activity too: 30 + 30 + 20 = 80.
        let mut t = timeline(&RULES.replace("min_score: 60", "min_score: 70"));
        add(
            &mut t,
            json!({"id": "a", "updated_at": "2026-01-01", "pain": "x", "budget": 100, "last_seen": "2026-01-01"}),
        )
        .unwrap();
        add(
            &mut t,
            json!({"id": "a", "updated_at": "2026-01-03", "budget": 10000}),
        )
        .unwrap();
        t.until(Date::parse("2026-03-01").unwrap());
        let last = t.transitions().last().unwrap().clone();
        // active holds through 01-11 (10 days after 01-01) and stops on 01-12.
        assert_eq!(last.at, "2026-01-12");
        assert_eq!(
            (last.from.as_deref(), last.to.as_ref()),
            (Some("prospect"), "lead")
        );
        assert_eq!(last.rules_removed, vec![Arc::from("active")]);
        assert!(matches!(t.dependence, DateDependence::Known(_)));
    }

    #[test]
    fn until_scans_day_by_day_when_an_expression_reads_the_date() {
        let rules = RULES
            .replace(
                "when: { field: last_seen, within_days: 10 }",
                "when: { expr: \"days_since(lead.last_seen) <= 10\" }",
            )
            .replace("min_score: 60", "min_score: 70");
        let mut t = timeline(&rules);
        assert!(matches!(t.dependence, DateDependence::Unknown));
        add(
            &mut t,
            json!({"id": "a", "updated_at": "2026-01-03", "pain": "x", "budget": 10000, "last_seen": "2026-01-01"}),
        )
        .unwrap();
        t.until(Date::parse("2026-02-01").unwrap());
        let last = t.transitions().last().unwrap().clone();
        assert_eq!((last.at.as_str(), last.to.as_ref()), ("2026-01-12", "lead"));
    }

    #[test]
    fn a_decayed_rule_makes_until_scan_day_by_day() {
        let own = RULES.replace(
            "    points: 20\n",
            "    points: 20\n    decay: { field: last_seen, half_life_days: 30 }\n",
        );
        assert!(matches!(timeline(&own).dependence, DateDependence::Unknown));
        let dimension = RULES
            .replace(
                "  event_time: { field: updated_at }\n",
                "  event_time: { field: updated_at }\n  scores: { e: { decay: { field: last_seen, half_life_days: 30 } } }\n",
            )
            .replace("    points: 20\n", "    points: 20\n    score: e\n");
        assert!(matches!(
            timeline(&dimension).dependence,
            DateDependence::Unknown
        ));
    }

    #[test]
    fn summary_counts_days_to_each_stage_and_the_tipping_rule() {
        let mut t = timeline(RULES);
        for (id, start, reach) in [
            ("a", "2026-01-01", "2026-01-03"),
            ("b", "2026-01-01", "2026-01-11"),
            ("c", "2026-01-02", "2026-01-02"),
        ] {
            add(&mut t, json!({"id": id, "updated_at": start, "pain": "x"})).unwrap();
            add(
                &mut t,
                json!({"id": id, "updated_at": reach, "budget": 20000}),
            )
            .unwrap();
        }
        add(&mut t, json!({"id": "d", "updated_at": "2026-01-01"})).unwrap();
        let summary = t.summary();
        let prospect = &summary.stages[0];
        assert_eq!(prospect.stage.as_ref(), "prospect");
        assert_eq!(prospect.leads, 3);
        // Days 0, 2, 10: median 2, 90th percentile 10.
        assert_eq!(
            (prospect.median_days, prospect.p90_days),
            (Some(2), Some(10))
        );
        // c reached it with both rules on its second record; budget tipped all three.
        assert_eq!(
            prospect.tipped_by,
            Some(Tip {
                rule: "budget".into(),
                leads: 3
            })
        );
        let lead = &summary.stages[1];
        // Every lead's first verdict is `lead`: arriving there is not being tipped.
        assert_eq!((lead.leads, lead.median_days), (4, Some(0)));
        assert_eq!(lead.tipped_by, None);
        assert!(
            summary
                .to_table()
                .contains("prospect       3            2        10  budget (3 leads)"),
            "{}",
            summary.to_table()
        );
    }

    #[test]
    fn lines_are_what_serde_json_writes() {
        let mut t = timeline(RULES);
        add(
            &mut t,
            json!({"id": "a \"quoted\"\n", "updated_at": "2026-01-01", "pain": "x"}),
        )
        .unwrap();
        add(
            &mut t,
            json!({"id": 17, "updated_at": "2026-01-01\t", "pain": "x", "budget": 20000}),
        )
        .unwrap();
        for x in t.transitions() {
            assert_eq!(x.to_json_line(), serde_json::to_string(x).unwrap());
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[4], 90), Some(4));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&(1..=10).collect::<Vec<_>>(), 90), Some(9));
        assert_eq!(percentile(&(1..=11).collect::<Vec<_>>(), 90), Some(10));
    }

    #[test]
    fn fields_go_by_their_aliases_and_unknown_ones_are_not_kept() {
        let rules = format!(
            "fields:\n  budget: {{ type: number, aliases: [Budget__c] }}\n  updated_at: {{ aliases: [LastModifiedDate] }}\n{RULES}"
        );
        let mut t = timeline(&rules);
        add(&mut t, json!({"id": "a", "LastModifiedDate": "2026-01-01", "pain": "x", "Budget__c": "20000", "notes": "long text"})).unwrap();
        add(
            &mut t,
            json!({"id": "a", "updated_at": "2026-01-02", "budget": null}),
        )
        .unwrap();
        let state = &t.leads[0];
        assert_eq!(state.lead.get("notes"), None);
        assert_eq!(state.lead.get("budget"), None);
        assert_eq!(t.transitions().last().unwrap().to.as_ref(), "lead");
    }
}

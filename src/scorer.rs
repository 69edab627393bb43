//! [`Scorer`]: compiled rules plus the stage policy, shared by any number of threads.
//! The embedding API: load once, score anywhere.

use std::borrow::Cow;
use std::sync::Arc;

use crate::date::Date;
use crate::io::{Position, RawRecord};
use crate::pipeline::{Outcome as RecordOutcome, Rejection};

use crate::dimension::{Faded, dimension_scores};
use crate::lead::{Bound, Lead, LeadError, Value};
use crate::rules::compile::Template;
use crate::rules::predicate::Env;
use crate::rules::{Rule, RuleKind, Rules};
use crate::shape::{ShapeRow, ShapeRows, verdicts_follow_matches};
use crate::stage::Facts;
use crate::verdict::{
    Decayed, Match, RuleFailure, Scores, Verdict, assign_name, assign_names, assign_opt_name,
};

/// Matches, dimension points and signals a verdict makes room for at once: more than
/// most leads need, so their vectors are allocated once, not grown.
const MATCHES_ROOM: usize = 8;

/// Scores leads against loaded [`Rules`]. Cheap to clone (the rules sit behind an
/// `Arc`), `Send + Sync`: one per pipeline, shared by every thread.
///
/// ```
/// use leadscore::{Date, Lead, Rules, Scorer};
/// let scorer = Scorer::new(Rules::load_dir("rules")?);
/// let lead = Lead::from_json(serde_json::json!({
///     "id": "L-1", "email": "ana@acme.com", "budget": 50000, "title": "VP Sales"
/// }))?;
/// let verdict = scorer.score(&lead, Date::parse("2026-01-15").unwrap());
/// println!("{} {} {:?}", verdict.score, verdict.stage, verdict.next);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Scorer {
    rules: Arc<Rules>,
    /// Whether a verdict follows from which rules matched ([`crate::shape`]).
    shaped: bool,
}

/// What a bulk-scoring worker keeps from one lead to the next: the last verdict, whose
/// vectors and strings the next lead's is decided into, and matches it did not need.
#[derive(Default)]
pub(crate) struct Reuse {
    verdict: Option<Verdict>,
    spare: Vec<Match>,
    /// Rows rendered per verdict shape, when the worker's renderer allows it.
    rows: Option<ShapeRows>,
}

impl Reuse {
    /// Lets leads be scored by shape ([`crate::shape`]): a renderer whose rows depend
    /// on the id only through their start asks for it.
    pub(crate) fn by_shape(&mut self) {
        self.rows.get_or_insert_with(ShapeRows::default);
    }

    /// Remembers the row rendered for a shape.
    pub(crate) fn remember(&mut self, key: u64, row: ShapeRow) {
        if let Some(rows) = &mut self.rows {
            rows.remember(key, row);
        }
    }
}

#[cfg(feature = "service")]
std::thread_local! {
    /// The verdict the service's single-lead requests on this thread are decided into
    /// (it may hold the names of rules since reloaded until the next request).
    static THREAD_REUSE: std::cell::RefCell<Reuse> = std::cell::RefCell::new(Reuse::default());
}

/// A scored record: the verdict in a [`Reuse`], or an outcome of its own.
pub(crate) enum Scored<'r> {
    /// Decided into the reused verdict (valid until the next lead is scored), with its
    /// shape's key when it has a shape no lead of this worker had before.
    Reused(&'r Verdict, Option<u64>),
    /// Of a shape already rendered: the row, and the lead's id (the record's place when
    /// it has none).
    Known(&'r ShapeRow, &'r Value),
    /// Rejected, or scored another way (boxed: the rare case, and ten times the size).
    Outcome(Box<RecordOutcome>),
}

/// How one rule came out on one lead.
pub(crate) enum Outcome<M = Match> {
    /// Matched, with the index of the dimension its points count in.
    Matched(M, Option<usize>),
    NotMatched,
    Failed(String),
}

impl Scorer {
    /// A scorer for these rules.
    pub fn new(rules: Rules) -> Scorer {
        Scorer {
            shaped: verdicts_follow_matches(&rules),
            rules: Arc::new(rules),
        }
    }

    /// A scorer for another thread: the same rules compiled again from the same files.
    /// It gives the same verdicts; what it does not share with this one is what
    /// changes as leads are scored (the reference counts of the rule, signal and stage
    /// names every verdict carries, the regexes' scratch caches, the Rhai engine), so
    /// threads that each score with their own copy do not slow each other down. A
    /// `Scorer` is `Sync` and may simply be shared; on 2 cores, two threads sharing
    /// one spent a fifth to a third more CPU than one thread (BENCHMARKS.md, issue
    /// 14). Compiling costs what loading the rules did, so make one per long-lived
    /// thread, not one per lead. Falls back to sharing these rules if they do not
    /// compile again.
    ///
    /// ```
    /// use leadscore::{Date, Lead, Rules, Scorer};
    ///
    /// let scorer = Scorer::new(Rules::load_dir("rules")?);
    /// let lead: Lead = serde_json::from_str(r#"{"id": 7, "budget": 50000}"#)?;
    /// let as_of = Date::parse("2026-01-15").unwrap();
    /// let other = scorer.replica();
    /// let theirs = std::thread::scope(|s| s.spawn(|| other.score(&lead, as_of)).join());
    /// assert_eq!(theirs.ok(), Some(scorer.score(&lead, as_of)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn replica(&self) -> Scorer {
        Scorer {
            rules: self
                .rules
                .replica()
                .map_or_else(|| Arc::clone(&self.rules), Arc::new),
            shaped: self.shaped,
        }
    }

    /// Whether its verdicts follow from which rules matched ([`crate::shape`]).
    pub(crate) fn shaped(&self) -> bool {
        self.shaped
    }

    /// The rules this scorer applies.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Scores one lead as of a date. Never fails: a rule that fails on this lead, or a
    /// field value that does not fit its declared type, is listed in `errors` and
    /// counts as not matched (the value as missing).
    pub fn score(&self, lead: &Lead, as_of: Date) -> Verdict {
        let bound = self.rules.schema.bind(lead);
        self.decide(Some(lead), &bound, as_of)
    }

    /// Scores one lead, refusing it when a field value does not fit its declared type
    /// (what the command line does with such records).
    ///
    /// # Errors
    /// Names each field whose value does not fit, and why.
    pub fn try_score(&self, lead: &Lead, as_of: Date) -> Result<Verdict, LeadError> {
        self.decide_bound(Some(lead), &self.rules.schema.bind(lead), as_of)
    }

    /// Scores one record cut by a [`RecordReader`](crate::io::RecordReader) exactly as
    /// the bulk [`Pipeline`](crate::Pipeline) does (JSON and CSV read straight into the
    /// rules' field slots where they can be), for embedders who run their own threads: a
    /// verdict named after the record's place when it has no id, or a rejection that
    /// keeps the record whole.
    ///
    /// ```
    /// use leadscore::io::{InputFormat, ReadOptions, RecordReader};
    /// use leadscore::{Date, Rules, Scorer};
    /// let scorer = Scorer::new(Rules::load_dir("rules")?);
    /// let input = "{\"id\": \"L-1\", \"budget\": 50000}\nnot json\n";
    /// let mut reader = RecordReader::new(
    ///     Box::new(std::io::Cursor::new(input)),
    ///     InputFormat::Jsonl,
    ///     "leads.jsonl",
    ///     &ReadOptions::default(),
    /// );
    /// let as_of = Date::parse("2026-01-15").unwrap();
    /// let first = scorer.score_record(reader.next_raw().unwrap(), as_of);
    /// assert_eq!(first.result.unwrap().id.to_string(), "L-1");
    /// let second = scorer.score_record(reader.next_raw().unwrap(), as_of);
    /// assert_eq!(second.position.to_string(), "leads.jsonl:2");
    /// assert!(second.result.is_err()); // rejected, with the reason and the record
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn score_record(&self, raw: RawRecord, as_of: Date) -> RecordOutcome {
        let bound = self.try_score_bound(&raw, as_of);
        self.settle(raw.position().clone(), bound, |_| raw, as_of)
    }

    /// Scores one JSON line where it lies in a block of input, as
    /// [`Scorer::score_record`] scores it cut on its own: bulk scoring's path. The line
    /// is copied only to be rejected or to take the ordinary path.
    pub(crate) fn score_line(&self, text: &[u8], position: Position, as_of: Date) -> RecordOutcome {
        match self.bind_line(text) {
            Some(bound) if bound.misfits.is_empty() => {
                // Decided where it is returned: the verdict (368 bytes) is not moved
                // through an `Option` and two `Result`s on the way (memory copies of
                // about 110 instructions a lead).
                let mut outcome = RecordOutcome {
                    result: Ok(self.decide(None, &bound, as_of)),
                    position,
                };
                if let Ok(verdict) = &mut outcome.result {
                    verdict.name_by(&outcome.position);
                }
                outcome
            }
            bound => self.settle_line(text, position, bound, as_of),
        }
    }

    /// [`Scorer::score_line`], deciding a line bound straight to the slots into the
    /// verdict `reuse` keeps, over the last lead's: no verdict is allocated, moved or
    /// freed per lead (BENCHMARKS.md, issue 14, session 7).
    pub(crate) fn score_line_reusing<'r>(
        &self,
        text: &[u8],
        position: Position,
        as_of: Date,
        reuse: &'r mut Reuse,
    ) -> Scored<'r> {
        match self.bind_line(text) {
            Some(bound) if bound.misfits.is_empty() => {
                self.decide_shaped(&bound, &position, as_of, reuse)
            }
            bound => Scored::Outcome(Box::new(self.settle_line(text, position, bound, as_of))),
        }
    }

    /// [`Scorer::score_record`], deciding a record bound straight to the slots into
    /// the verdict `reuse` keeps, as [`Scorer::score_line_reusing`] does for a line.
    pub(crate) fn score_record_reusing<'r>(
        &self,
        raw: RawRecord,
        as_of: Date,
        reuse: &'r mut Reuse,
    ) -> Scored<'r> {
        match self.bind_record(&raw) {
            Some(bound) if bound.misfits.is_empty() => {
                self.decide_shaped(&bound, raw.position(), as_of, reuse)
            }
            bound => {
                let refused = bound.map(|bound| Err(misfit_error(&bound)));
                let position = raw.position().clone();
                Scored::Outcome(Box::new(self.settle(position, refused, |_| raw, as_of)))
            }
        }
    }

    /// Decides values bound to the slots into the verdict `reuse` keeps, named by
    /// `position` when the lead has no id; or, when `reuse` keeps rows by shape and
    /// one of this lead's shape is there, only names the lead.
    fn decide_shaped<'r>(
        &self,
        bound: &Bound<'_>,
        position: &Position,
        as_of: Date,
        reuse: &'r mut Reuse,
    ) -> Scored<'r> {
        let key = match reuse.rows {
            Some(_) => self.shape_key(bound, as_of),
            None => None,
        };
        let Reuse {
            verdict,
            spare,
            rows,
        } = reuse;
        let verdict = verdict.get_or_insert_with(|| self.blank_verdict());
        if let (Some(key), Some(rows)) = (key, &*rows)
            && let Some(row) = rows.get(key)
        {
            let id = bound.values.get(self.rules.settings.id_slot);
            assign_value(&mut verdict.id, id.and_then(|v| v.as_deref()));
            verdict.name_by(position);
            return Scored::Known(row, &verdict.id);
        }
        self.decide_into(None, bound, as_of, verdict, spare);
        verdict.name_by(position);
        Scored::Reused(verdict, key)
    }

    /// The lead's shape: bit `i` set when rule `i` matched. `None` when the rules'
    /// verdicts do not follow from their matches, or a rule failed on this lead.
    fn shape_key(&self, bound: &Bound<'_>, as_of: Date) -> Option<u64> {
        if !self.shaped {
            return None;
        }
        let rules = &*self.rules;
        let env = Env::new(&bound.values, as_of, &rules.scripts, None, &rules.schema);
        let mut key = 0;
        for (i, rule) in rules.rules.iter().enumerate() {
            let RuleKind::Yaml(predicate) = &rule.kind else {
                return None;
            };
            if predicate.test_here(&env).ok()? {
                key |= 1 << i;
            }
        }
        Some(key)
    }

    /// Decides values bound to the slots into the verdict `reuse` keeps.
    #[cfg(feature = "service")]
    fn decide_reusing<'r>(
        &self,
        bound: &Bound<'_>,
        as_of: Date,
        reuse: &'r mut Reuse,
    ) -> &'r mut Verdict {
        let Reuse { verdict, spare, .. } = reuse;
        let verdict = verdict.get_or_insert_with(|| self.blank_verdict());
        self.decide_into(None, bound, as_of, verdict, spare);
        verdict
    }

    fn bind_record(&self, raw: &RawRecord) -> Option<Bound<'static>> {
        self.bind_with(|schema| raw.bind(schema))
    }

    fn bind_line(&self, text: &[u8]) -> Option<Bound<'static>> {
        self.bind_with(|schema| crate::io::bind_json(schema, std::str::from_utf8(text).ok()?))
    }

    /// A line's outcome when it did not bind, or bound with values that do not fit.
    fn settle_line(
        &self,
        text: &[u8],
        position: Position,
        bound: Option<Bound<'_>>,
        as_of: Date,
    ) -> RecordOutcome {
        let refused = bound.map(|bound| Err(misfit_error(&bound)));
        let raw = |at: &Position| RawRecord::json_line(at.clone(), text.to_vec());
        self.settle(position, refused, raw, as_of)
    }

    /// The outcome of a record from what binding it straight to the slots gave: the
    /// verdict, the rejection, or (`None`) the ordinary path over `raw`, parsed, which
    /// gives the precise reason.
    fn settle(
        &self,
        position: Position,
        bound: Option<Result<Verdict, LeadError>>,
        raw: impl FnOnce(&Position) -> RawRecord,
        as_of: Date,
    ) -> RecordOutcome {
        let mut result = match bound {
            Some(Ok(verdict)) => Ok(verdict),
            Some(Err(e)) => Err(Rejection {
                reason: e.reason,
                raw: raw(&position).parse().raw,
            }),
            None => {
                let record = raw(&position).parse();
                record
                    .lead
                    .and_then(|lead| self.try_score(&lead, as_of).map_err(|e| e.reason))
                    .map_err(|reason| Rejection {
                        reason,
                        raw: record.raw,
                    })
            }
        };
        // Named where it stands: `Result::map` would move the verdict twice more.
        if let Ok(verdict) = &mut result {
            verdict.name_by(&position);
        }
        RecordOutcome { position, result }
    }

    /// Scores a record bound straight to the rules' field slots, reading only the fields
    /// the rules use (JSON skips the others unparsed, CSV copies only their cells): the
    /// bulk-scoring path. `None` when the record cannot be bound (the caller parses it
    /// the ordinary way for a precise reason) or when Rhai scripts need the whole lead.
    #[inline]
    pub(crate) fn try_score_bound(
        &self,
        raw: &RawRecord,
        as_of: Date,
    ) -> Option<Result<Verdict, LeadError>> {
        let bound = self.bind_record(raw)?;
        Some(self.decide_bound(None, &bound, as_of))
    }

    /// Scores one JSON object's text read straight into the rules' field slots, as
    /// [`Scorer::try_score`] would score it parsed, and hands the verdict to `answer`:
    /// the service's single-lead path. The verdict is decided into one this thread
    /// keeps from request to request, so a request allocates no verdict. `None` when
    /// the text is not one JSON object, or when Rhai scripts need the whole lead; the
    /// caller then parses it the ordinary way.
    #[cfg(feature = "service")]
    pub(crate) fn try_score_json_with<R>(
        &self,
        text: &str,
        as_of: Date,
        answer: impl FnOnce(Result<&mut Verdict, LeadError>) -> R,
    ) -> Option<R> {
        let bound = self.bind_with(|schema| crate::io::bind_json(schema, text))?;
        if !bound.misfits.is_empty() {
            return Some(answer(Err(misfit_error(&bound))));
        }
        Some(THREAD_REUSE.with(|reuse| match reuse.try_borrow_mut() {
            Ok(mut reuse) => answer(Ok(self.decide_reusing(&bound, as_of, &mut reuse))),
            // A lead scored from inside `answer` on this thread: a verdict of its own.
            Err(_) => answer(Ok(&mut self.decide(None, &bound, as_of))),
        }))
    }

    /// The values `bind` puts in the schema's slots; `None` when it binds nothing or
    /// when Rhai scripts need the whole lead (then nothing is bound).
    #[inline]
    fn bind_with(
        &self,
        bind: impl FnOnce(&crate::lead::Schema) -> Option<Bound<'static>>,
    ) -> Option<Bound<'static>> {
        if !self.rules.scripts.reads_named_fields() {
            return None;
        }
        bind(&self.rules.schema)
    }

    /// Decides on values bound to their slots, refusing the lead when any value does not
    /// fit its declared type.
    #[inline]
    fn decide_bound(
        &self,
        lead: Option<&Lead>,
        bound: &Bound<'_>,
        as_of: Date,
    ) -> Result<Verdict, LeadError> {
        if !bound.misfits.is_empty() {
            return Err(misfit_error(bound));
        }
        Ok(self.decide(lead, bound, as_of))
    }

    fn decide(&self, lead: Option<&Lead>, bound: &Bound<'_>, as_of: Date) -> Verdict {
        let mut verdict = self.blank_verdict();
        self.decide_into(lead, bound, as_of, &mut verdict, &mut Vec::new());
        verdict
    }

    /// A verdict to decide into, holding only names the rules already have.
    fn blank_verdict(&self) -> Verdict {
        let rules = &*self.rules;
        let scores = Scores::new(rules.settings.dimension_names.clone(), Vec::new());
        let stage = rules.policy.stages.first().map(|s| s.id.clone());
        Verdict::blank(stage.unwrap_or_else(|| Arc::from("")), scores)
    }

    /// Decides into `out`, replacing all it held, in the room its vectors and strings
    /// already have: a worker that keeps one verdict for its leads allocates next to
    /// nothing per lead. `spare` keeps the matches a lead with fewer matches than the
    /// one before did not need, with their room, for the next lead.
    fn decide_into(
        &self,
        lead: Option<&Lead>,
        bound: &Bound<'_>,
        as_of: Date,
        out: &mut Verdict,
        spare: &mut Vec<Match>,
    ) {
        let rules = &*self.rules;
        let env = Env::new(&bound.values, as_of, &rules.scripts, lead, &rules.schema);
        out.errors.clear();
        out.errors
            .extend(bound.misfits.iter().map(|(field, why)| RuleFailure {
                rule: format!("field:{field}"),
                message: why.clone(),
            }));
        let settings = &rules.settings;
        // Room for the matches of a typical lead at once, instead of growing 1, 4, 8.
        let room = rules.rules.len().min(MATCHES_ROOM);
        out.matched.reserve(room);
        // (dimension, points) of matched rules; stays empty without dimensions.
        let mut dimension_points = Vec::with_capacity(if settings.dimensions.is_empty() {
            0
        } else {
            room
        });
        let mut count = 0;
        for rule in &rules.rules {
            let (matched, spare) = (&mut out.matched, &mut *spare);
            let slot = move || {
                // Moved, not reborrowed, so the closure is `FnOnce` and the place it
                // gives may outlive its call.
                let (matched, spare) = (matched, spare);
                reuse_slot(matched, count, spare, rule)
            };
            match evaluate_into(rule, rules, &env, slot) {
                Outcome::Matched((), dimension) => {
                    if let Some(index) = dimension {
                        dimension_points.push((index, out.matched[count].points));
                    }
                    count += 1;
                }
                Outcome::NotMatched => {}
                Outcome::Failed(message) => out.errors.push(RuleFailure {
                    rule: rule.id.to_string(),
                    message,
                }),
            }
        }
        spare.extend(out.matched.drain(count..));
        let total: i64 = out
            .matched
            .iter()
            .fold(0i64, |sum, m| sum.saturating_add(m.points));
        let score = total.clamp(settings.score_min, settings.score_max);
        let scores = if settings.dimensions.is_empty() {
            Vec::new()
        } else {
            dimension_scores(&settings.dimensions, dimension_points.into_iter())
        };
        let grade = settings.grade.as_ref().map(|scale| {
            scores
                .get(scale.dimension)
                .and_then(|points| scale.grade(*points))
                .cloned()
        });
        // Sorted and unique as they go in: only the first of equal names is cloned.
        out.signals.clear();
        out.signals.reserve(MATCHES_ROOM);
        for signal in out.matched.iter().flat_map(|m| &m.signals) {
            if let Err(at) = out.signals.binary_search(signal) {
                out.signals.insert(at, Arc::clone(signal));
            }
        }
        out.disqualified = out.matched.iter().find_map(|m| m.disqualify.clone());
        let facts = Facts {
            score,
            signals: &out.signals,
            disqualified: out.disqualified.is_some(),
            scores: &scores,
            grade: grade.as_ref().and_then(|g| g.as_deref()),
        };
        let (chosen, stage_failures) = rules.policy.choose(&facts, &env);
        out.errors.extend(stage_failures);
        rules.policy.next_into(chosen, &facts, &mut out.next);
        out.transition = settings.current_stage.as_ref().map(|current| {
            let from = current
                .read(env.value(current.slot))
                .unwrap_or_else(|message| {
                    out.errors.push(RuleFailure {
                        rule: format!("field:{}", current.field),
                        message,
                    });
                    None
                });
            crate::transition::transition(&rules.policy, from, chosen)
        });
        assign_value(&mut out.id, env.value(settings.id_slot));
        out.score = score;
        out.scores = Scores::new(settings.dimension_names.clone(), scores);
        out.grade = grade;
        assign_name(&mut out.stage, &rules.policy.stages[chosen].id);
    }
}

/// The place for the next match in `matched`: the one the previous lead left at `count`,
/// a spare, or a new one.
fn reuse_slot<'m>(
    matched: &'m mut Vec<Match>,
    count: usize,
    spare: &mut Vec<Match>,
    rule: &Rule,
) -> &'m mut Match {
    if matched.len() <= count {
        let slot = spare.pop().unwrap_or_else(|| Match::blank(rule.id.clone()));
        matched.push(slot);
    }
    &mut matched[count]
}

/// `*value = new.cloned().unwrap_or_default()`, copying text into the string `value`
/// already has.
fn assign_value(value: &mut Value, new: Option<&Value>) {
    match (value, new) {
        (Value::Text(old), Some(Value::Text(new))) => old.clone_from(new),
        (value, new) => *value = new.cloned().unwrap_or_default(),
    }
}

/// `*text = template rendered`, into the string `text` already has.
fn render_into(text: &mut Option<String>, template: Option<&Template>, env: &Env<'_>) {
    match template {
        Some(template) => {
            // Room for most reasons at once, instead of growing 8, 16, 32, 64.
            let text = text.get_or_insert_with(|| String::with_capacity(64));
            template.render_into(text, |slot| env.value(slot));
        }
        None => *text = None,
    }
}

/// Names each field whose value does not fit its declared type, and why.
fn misfit_error(bound: &Bound<'_>) -> LeadError {
    let reasons: Vec<String> = bound
        .misfits
        .iter()
        .map(|(field, why)| format!("field `{field}`: {why}"))
        .collect();
    LeadError {
        reason: reasons.join("; "),
    }
}

/// Runs one rule on one lead.
pub(crate) fn evaluate(rule: &Rule, rules: &Rules, env: &Env<'_>) -> Outcome {
    let mut made = None;
    let place = &mut made;
    match evaluate_into(rule, rules, env, move || {
        place.insert(Match::blank(rule.id.clone()))
    }) {
        Outcome::Matched((), dimension) => match made {
            Some(m) => Outcome::Matched(m, dimension),
            None => Outcome::NotMatched,
        },
        Outcome::NotMatched => Outcome::NotMatched,
        Outcome::Failed(message) => Outcome::Failed(message),
    }
}

/// Runs one rule on one lead, writing a match into the place `slot` gives (asked for
/// only when the rule matches), over whatever it held.
#[inline]
fn evaluate_into<'m>(
    rule: &Rule,
    rules: &Rules,
    env: &Env<'_>,
    slot: impl FnOnce() -> &'m mut Match,
) -> Outcome<()> {
    match &rule.kind {
        RuleKind::Yaml(predicate) => match predicate.test_here(env) {
            Ok(false) => Outcome::NotMatched,
            Err(message) => Outcome::Failed(message),
            Ok(true) => {
                let (points, decay) = match &rule.decay {
                    None => (rule.points, None),
                    Some(decay) => {
                        match decay.apply(rule.points, env.value(decay.slot), env.as_of) {
                            Some(faded) => (faded.points, Some(decayed(faded))),
                            // A decayed rule without its date does not match.
                            None => return Outcome::NotMatched,
                        }
                    }
                };
                let m = slot();
                begin_match(m, rule, rules, points, rule.dimension, decay);
                assign_names(&mut m.signals, &rule.signals);
                render_into(&mut m.reason, rule.reason.as_ref(), env);
                render_into(&mut m.disqualify, rule.disqualify.as_ref(), env);
                Outcome::Matched((), rule.dimension)
            }
        },
        RuleKind::Script(script) => env.scripts.with_rule_outcome(
            script,
            env.values,
            || env.lead_map(),
            env.as_of,
            |result| match result {
                Ok(None) => Outcome::NotMatched,
                Err(message) => Outcome::Failed(message.into_owned()),
                Ok(Some(out)) => script_match(rule, rules, env, out, slot),
            },
        ),
    }
}

/// A matched Rhai rule: its points go to the dimension its map names (`score:`), and
/// fade with that dimension's decay.
fn script_match<'m>(
    rule: &Rule,
    rules: &Rules,
    env: &Env<'_>,
    out: Cow<'_, crate::script::ScriptOutcome>,
    slot: impl FnOnce() -> &'m mut Match,
) -> Outcome<()> {
    let settings = &rules.settings;
    let dimension = match &out.score {
        None => None,
        Some(name) => match settings.dimensions.iter().position(|d| *d.name == **name) {
            Some(index) => Some(index),
            None => {
                return Outcome::Failed(format!(
                    "the rule returned `score: \"{name}\"`, which is not a declared score dimension"
                ));
            }
        },
    };
    let (points, decay) = match dimension.and_then(|index| settings.dimensions[index].decay) {
        None => (out.points, None),
        Some(decay) => match decay.apply(out.points, env.value(decay.slot), env.as_of) {
            Some(faded) => (faded.points, Some(decayed(faded))),
            None => return Outcome::NotMatched,
        },
    };
    let m = slot();
    begin_match(m, rule, rules, points, dimension, decay);
    match out {
        Cow::Owned(out) => {
            m.signals = out.signals;
            m.reason = out.reason;
            m.disqualify = out.disqualify;
        }
        // A remembered result: copied into the buffers the slot's last match left, so
        // a found result allocates nothing.
        Cow::Borrowed(out) => {
            assign_names(&mut m.signals, &out.signals);
            m.reason.clone_from(&out.reason);
            m.disqualify.clone_from(&out.disqualify);
        }
    }
    Outcome::Matched((), dimension)
}

/// Writes what every matched rule's match holds, YAML or Rhai, over what `m` held: the
/// rule, its points, the dimension they count in, and their decay.
#[inline]
fn begin_match(
    m: &mut Match,
    rule: &Rule,
    rules: &Rules,
    points: i64,
    dimension: Option<usize>,
    decay: Option<Decayed>,
) {
    assign_name(&mut m.rule, &rule.id);
    m.points = points;
    assign_opt_name(
        &mut m.score,
        dimension.map(|index| &rules.settings.dimension_names[index]),
    );
    m.decay = decay;
}

fn decayed(faded: Faded) -> Decayed {
    Decayed {
        points: faded.undecayed,
        age_days: faded.age_days,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{InputFormat, ReadOptions, RecordReader};
    use serde_json::json;
    use std::path::PathBuf;

    fn scorer(files: &[(&str, &str)]) -> Scorer {
        let sources = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        match Rules::from_sources(sources) {
            Ok(rules) => Scorer::new(rules),
            Err(e) => panic!("{e}"),
        }
    }

    fn as_of() -> Date {
        Date::parse("2024-06-30").unwrap()
    }

    fn lead(value: serde_json::Value) -> Lead {
        Lead::from_json(value).unwrap()
    }

    const BANT: &str = r#"
fields:
  budget: { type: number, aliases: [Budget__c] }
rules:
  - id: budget_confirmed
    when: { field: budget, gte: 10000 }
    points: 30
    signals: [budget]
    reason: "budget of {budget}"
  - id: need
    when: { field: pain, exists: true }
    points: 30
    signals: [need]
  - id: pricing
    when: { field: pricing_discussed, eq: true }
    points: 20
    signals: [pricing_discussed]
  - id: student
    when: { field: email, ends_with: .edu }
    points: -50
    disqualify: "student email {email}"
"#;

    #[test]
    fn scores_stages_and_explains_the_next_step() {
        let s = scorer(&[("bant.yaml", BANT)]);
        let v = s.score(&lead(json!({"id": 7, "Budget__c": "12000"})), as_of());
        assert_eq!(v.score, 30);
        assert_eq!(&*v.stage, "lead");
        assert_eq!(v.matched[0].reason.as_deref(), Some("budget of 12000"));
        let next = v.next.unwrap();
        assert_eq!((&*next.stage, next.points_needed), ("prospect", 10));
        assert_eq!(next.missing, vec![Arc::from("need")]);
        assert_eq!(v.id, crate::Value::Int(7));

        let v = s.score(
            &lead(json!({"budget": 20000, "pain": "x", "pricing_discussed": "yes"})),
            as_of(),
        );
        assert_eq!((v.score, &*v.stage), (80, "ready_to_convert"));
        assert_eq!(v.signals.len(), 3);
        assert_eq!(v.next, None);
    }

    #[test]
    fn disqualified_leads_keep_their_score_and_every_rule_runs() {
        let s = scorer(&[("bant.yaml", BANT)]);
        let v = s.score(
            &lead(json!({"email": "kid@uni.edu", "budget": 50000, "pain": "y", "pricing_discussed": true})),
            as_of(),
        );
        assert_eq!(&*v.stage, "disqualified");
        assert_eq!(v.score, 30, "80 - 50, clamped at 0..100");
        assert_eq!(v.disqualified.as_deref(), Some("student email kid@uni.edu"));
        assert_eq!(v.matched.len(), 4);
        assert_eq!(v.next, None);
    }

    #[test]
    fn scores_are_clamped() {
        let s = scorer(&[(
            "a.yaml",
            "settings: { score: { min: 0, max: 10 } }\nrules:\n  - id: a\n    when: { field: x, exists: true }\n    points: 50\n  - id: b\n    when: { field: y, exists: true }\n    points: -80\n",
        )]);
        assert_eq!(s.score(&lead(json!({"x": 1})), as_of()).score, 10);
        assert_eq!(s.score(&lead(json!({"y": 1})), as_of()).score, 0);
    }

    #[test]
    fn a_failing_script_is_an_error_entry_not_a_lost_lead() {
        let s = scorer(&[(
            "a.rhai",
            "fn spin(lead) { loop { } }\nfn boom(lead) { throw \"bad data\"; }\nfn fine(lead) { 5 }\n",
        )]);
        let v = s.score(&lead(json!({"id": "x"})), as_of());
        assert_eq!(v.score, 5);
        let failed: Vec<_> = v.errors.iter().map(|e| e.rule.as_str()).collect();
        assert_eq!(failed, ["spin", "boom"]);
        assert!(
            v.errors[1].message.contains("bad data"),
            "{}",
            v.errors[1].message
        );
    }

    #[test]
    fn misfit_values_are_errors_in_score_and_rejections_in_try_score() {
        let s = scorer(&[("bant.yaml", BANT)]);
        let l = lead(json!({"budget": "a lot"}));
        let v = s.score(&l, as_of());
        assert_eq!(v.errors[0].rule, "field:budget");
        assert_eq!(v.score, 0);
        let err = s.try_score(&l, as_of()).unwrap_err();
        assert_eq!(
            err.reason,
            "field `budget`: expected a number, found the text \"a lot\""
        );
    }

    #[test]
    fn same_input_gives_byte_identical_json() {
        let s = scorer(&[
            ("bant.yaml", BANT),
            (
                "e.rhai",
                "fn e(lead) { #{ points: 1, signals: [\"z\", \"a\"] } }",
            ),
        ]);
        let l = lead(json!({"budget": 20000, "pain": "x", "email": "a@b.edu"}));
        let first = s.score(&l, as_of()).to_json_line();
        for _ in 0..10 {
            assert_eq!(s.clone().score(&l, as_of()).to_json_line(), first);
        }
    }

    #[test]
    fn regression_stage_expressions_see_the_fields_they_read() {
        let s = scorer(&[(
            "a.yaml",
            "rules:\n  - id: any\n    when: { field: email, exists: true }\n    points: 1\nstages:\n  - id: vip\n    when: { expr: 'lead.tier == \"gold\"' }\n  - id: lead\n",
        )]);
        let text = r#"{"email": "a@b.co", "tier": "gold"}"#;
        let slow = s.score(
            &Lead::from_json(serde_json::from_str(text).unwrap()).unwrap(),
            as_of(),
        );
        let fast = bound(&s, InputFormat::Jsonl, text.as_bytes())
            .remove(0)
            .unwrap()
            .unwrap();
        assert_eq!(&*slow.stage, "vip");
        assert_eq!(fast, slow);
    }

    #[test]
    fn a_failing_stage_condition_is_reported_even_when_the_score_is_short_too() {
        let s = scorer(&[(
            "a.yaml",
            "rules:\n  - id: any\n    when: { field: tier, exists: true }\n    points: 1\nstages:\n  - id: vip\n    min_score: 50\n    when: { expr: 'lead.tier.len() > 1' }\n  - id: lead\n",
        )]);
        let v = s.score(&lead(json!({"tier": 5})), as_of());
        assert_eq!(&*v.stage, "lead");
        assert_eq!(v.errors.len(), 1, "{v:?}");
        assert_eq!(v.errors[0].rule, "stage:vip");
    }

    /// Each record of `text`, scored by the bulk path.
    fn bound(
        scorer: &Scorer,
        format: InputFormat,
        text: &[u8],
    ) -> Vec<Option<Result<Verdict, LeadError>>> {
        records(format, text)
            .iter()
            .map(|raw| scorer.try_score_bound(raw, as_of()))
            .collect()
    }

    fn records(format: InputFormat, text: &[u8]) -> Vec<RawRecord> {
        let mut reader = RecordReader::new(
            Box::new(std::io::Cursor::new(text.to_vec())),
            format,
            "t",
            &ReadOptions::default(),
        );
        std::iter::from_fn(|| reader.next_raw()).collect()
    }

    #[test]
    fn a_replica_scores_as_the_original_and_shares_no_name_with_it() {
        let original = Scorer::new(Rules::load_dir("rules").unwrap());
        let replica = original.replica();
        assert!(!Arc::ptr_eq(&original.rules, &replica.rules));
        let text = std::fs::read("fixtures/leads.jsonl").unwrap();
        let mut compared = 0;
        for raw in records(InputFormat::Jsonl, &text) {
            let (a, b) = (
                original.score_record(raw.clone(), as_of()),
                replica.score_record(raw, as_of()),
            );
            match (a.result, b.result) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.to_json_line(), b.to_json_line());
                    // The names a verdict carries come from the rules that scored it.
                    for (x, y) in a.matched.iter().zip(&b.matched) {
                        assert!(!Arc::ptr_eq(&x.rule, &y.rule), "{}", x.rule);
                    }
                    assert!(!Arc::ptr_eq(&a.stage, &b.stage));
                    compared += 1;
                }
                (Err(a), Err(b)) => assert_eq!(a.reason, b.reason),
                (a, b) => panic!("{a:?} vs {b:?}"),
            }
        }
        assert!(compared > 5, "{compared}");
    }

    #[test]
    fn csv_rows_bound_to_slots_keep_the_parsed_leads_rules_for_repeated_columns() {
        let s = Scorer::new(Rules::load_dir("rules").unwrap());
        // A repeated name keeps the place of its first non-empty cell and its last
        // value; of a field's aliases, the one placed last wins.
        let csv =
            b"id,budget,Budget__c,budget\nA,,5,50000\nB,50000,5,\nC,1,50000,3\nD,x,\xff,1\nE,1\n";
        let mut bound_rows = 0;
        for raw in records(InputFormat::Csv, csv) {
            let fast = s.try_score_bound(&raw, as_of());
            bound_rows += usize::from(fast.is_some());
            let position = raw.position().clone();
            let slow = raw
                .parse()
                .lead
                .map(|lead| s.try_score(&lead, as_of()).map(|v| v.to_json_line()));
            match (fast, slow) {
                (Some(fast), Ok(slow)) => {
                    assert_eq!(fast.map(|v| v.to_json_line()), slow, "{position}")
                }
                (None, Err(_)) => {} // rejected: the ordinary path says why
                (fast, slow) => panic!("{position}: {fast:?} vs {slow:?}"),
            }
        }
        assert_eq!(
            bound_rows, 3,
            "rows A, B and C bind; D (bad UTF-8) and E (ragged) do not"
        );
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The bulk path for CSV (cells straight into slots) says exactly what scoring
        /// the parsed row says, repeated and aliased columns, blanks and bad rows included.
        #[test]
        fn reading_csv_into_slots_agrees_with_the_parsed_row(
            columns in proptest::collection::vec(proptest::sample::select(vec![
                "id", "email", "budget", "Budget__c", "Title", "title", "page_views", "", "unread",
            ]), 1..7),
            rows in proptest::collection::vec(proptest::collection::vec(proptest::sample::select(vec![
                "", "12000", "500", "lots", "VP Sales", "a@gmail.com", "ana@acme.com", "yes", "\u{e9}",
            ]), 0..8), 1..5),
        ) {
            let mut csv = columns.join(",");
            for row in &rows {
                csv.push('\n');
                csv.push_str(&row.join(","));
            }
            let scorer = Scorer::new(Rules::load_dir("rules").unwrap());
            for raw in records(InputFormat::Csv, csv.as_bytes()) {
                let fast = scorer.try_score_bound(&raw, as_of());
                let slow = raw.parse().lead.map(|lead| scorer.try_score(&lead, as_of()));
                match (fast, slow) {
                    (Some(fast), Ok(slow)) => prop_assert_eq!(fast, slow),
                    (None, Err(_)) => {}
                    (fast, slow) => prop_assert!(false, "{:?} vs {:?}", fast, slow),
                }
            }
        }

        /// The bulk path (JSON text straight into slots) says exactly what scoring the
        /// parsed lead says.
        #[test]
        fn reading_json_into_slots_agrees_with_the_parsed_lead(
            pairs in proptest::collection::vec((
                proptest::sample::select(vec!["id", "email", "budget", "Budget__c", "title", "page_views",
                    "pricing_discussed", "last_activity_at", "pain_points", "unread", "employees"]),
                proptest::prop_oneof![
                    proptest::strategy::Just(json!(null)),
                    proptest::prelude::any::<bool>().prop_map(|b| json!(b)),
                    (-10i64..50_000).prop_map(|n| json!(n)),
                    proptest::sample::select(vec!["", "12000", "lots", "VP Sales", "a@gmail.com", "2026-11-01", "yes"]).prop_map(|s| json!(s)),
                    proptest::collection::vec(0i64..3, 0..3).prop_map(|v| json!(v)),
                ],
            ), 0..10),
        ) {
            let text = serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()).to_string();
            let scorer = Scorer::new(Rules::load_dir("rules").unwrap());
            let fast = bound(&scorer, InputFormat::Jsonl, text.as_bytes()).remove(0).expect("the starter scripts read named fields");
            let slow = scorer.try_score(&Lead::from_json(serde_json::from_str(&text).unwrap()).unwrap(), as_of());
            prop_assert_eq!(fast, slow);
        }

        /// A verdict decided over the ones before it (bulk scoring keeps one per
        /// worker) is the verdict decided fresh: nothing of an earlier lead shows,
        /// whichever leads came before, with more or fewer matches, reasons,
        /// disqualifications, decay, dimensions, an id or none.
        #[test]
        fn a_verdict_decided_over_earlier_ones_is_the_one_decided_fresh(
            order in proptest::collection::vec(0usize..256, 1..80),
        ) {
            let pool = reuse_pool();
            let folders = [
                Scorer::new(Rules::load_dir("rules").unwrap()),
                Scorer::new(Rules::load_dir("benches/models/heavy").unwrap()),
                scorer(&[("bant.yaml", BANT)]),
                scorer(&[("timed.yaml", TIMED)]),
            ];
            // One verdict for every folder, as a service thread keeps one for several
            // rule sets: a lead is decided over what another folder's rules left too.
            let mut reuse = Reuse::default();
            for (n, &pick) in order.iter().enumerate() {
                let scorer = &folders[(pick / pool.len() + n) % folders.len()];
                let line = pool[pick % pool.len()].as_bytes();
                let at = |record| Position { source: Arc::from("in"), line: record, record };
                let fresh = scorer.score_line(line, at(n as u64 + 1), as_of());
                let reused = match scorer.score_line_reusing(line, at(n as u64 + 1), as_of(), &mut reuse) {
                    Scored::Reused(verdict, _) => Ok(verdict.clone()),
                    Scored::Known(..) => unreachable!("rows by shape were not asked for"),
                    Scored::Outcome(outcome) => Err(*outcome),
                };
                // A record cut on its own takes the same way, into the same verdict.
                let raw = RawRecord::json_line(at(n as u64 + 1), line.to_vec());
                let record = match scorer.score_record_reusing(raw, as_of(), &mut reuse) {
                    Scored::Reused(verdict, _) => Ok(verdict.clone()),
                    Scored::Known(..) => unreachable!("rows by shape were not asked for"),
                    Scored::Outcome(outcome) => Err(*outcome),
                };
                match &reused {
                    Ok(verdict) => prop_assert_eq!(Ok(verdict), fresh.result.as_ref()),
                    Err(outcome) => prop_assert_eq!(outcome, &fresh),
                }
                let record = record.or_else(|outcome| outcome.result);
                prop_assert_eq!(record, fresh.result);
            }
        }
    }

    /// JSON lines with every kind of verdict: the sample leads, and leads made to
    /// match much, little, nothing, with no id, disqualified or refused.
    fn reuse_pool() -> Vec<String> {
        let mut pool: Vec<String> = std::fs::read_to_string("fixtures/leads.jsonl")
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        pool.extend(
            [
                r#"{}"#,
                r#"{"budget": 50000, "pain": "x", "pricing_discussed": true, "email": "a@uni.edu"}"#,
                r#"{"id": 7, "budget": 12000, "employees": 500, "visits": 3, "seen": "2024-06-01"}"#,
                r#"{"id": "L-9", "budget": "lots"}"#,
                r#"{"id": "L-10", "visits": 1, "seen": "2023-01-01", "asked_at": "2024-06-01"}"#,
                r#"{"id": "L-11", "email": "kid@school.edu", "title": "Student", "page_views": 99}"#,
                r#"not json"#,
                r#"{"id": ["a"], "budget": 20000}"#,
            ]
            .map(str::to_string),
        );
        pool
    }

    #[test]
    fn scorer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Scorer>();
    }

    const TIMED: &str = r#"
settings:
  scores:
    fit: { max: 40 }
    engagement: { decay: { field: seen, half_life_days: 10 } }
rules:
  - id: budget
    when: { field: budget, gte: 10000 }
    points: 30
    score: fit
  - id: big
    when: { field: employees, gte: 100 }
    points: 30
    score: fit
  - id: visit
    when: { field: visits, gte: 1 }
    points: 20
    score: engagement
  - id: asked
    when: { field: asked_at, exists: true }
    points: -8
    decay: { field: asked_at, half_life_days: 10 }
"#;

    fn timed(lead_json: serde_json::Value) -> Verdict {
        scorer(&[("r.yaml", TIMED)]).score(&lead(lead_json), as_of())
    }

    #[test]
    fn dimensions_are_clamped_on_their_own_and_the_total_is_not() {
        let v = timed(json!({"budget": 20000, "employees": 500}));
        assert_eq!(
            v.scores.iter().collect::<Vec<_>>(),
            [("fit", 40), ("engagement", 0)]
        );
        assert_eq!(v.score, 60);
        assert_eq!(v.grade, None);
    }

    #[test]
    fn decay_fades_points_by_the_age_of_the_date() {
        // as of 2024-06-30: seen 10 days before, so 20 halves to 10.
        let v = timed(json!({"visits": 3, "seen": "2024-06-20"}));
        assert_eq!(v.scores.get("engagement"), Some(10));
        let m = &v.matched[0];
        assert_eq!(
            (m.points, m.decay),
            (
                10,
                Some(Decayed {
                    points: 20,
                    age_days: 10
                })
            )
        );
        assert_eq!(m.score.as_deref(), Some("engagement"));
        // Negative points fade towards zero, rounding half away from it: -8 * 0.5 = -4,
        // -8 * 0.5^(15/10) = -2.83 -> -3.
        assert_eq!(timed(json!({"asked_at": "2024-06-20"})).score, 0);
        assert_eq!(
            timed(json!({"asked_at": "2024-06-20", "budget": 20000})).score,
            26
        );
        assert_eq!(
            timed(json!({"asked_at": "2024-06-15", "budget": 20000})).score,
            27
        );
    }

    #[test]
    fn a_decayed_rule_without_a_date_does_not_match() {
        for seen in [
            json!(null),
            json!("yesterday"),
            json!(20240620),
            json!(["2024-06-20"]),
        ] {
            let v = timed(json!({"visits": 3, "seen": seen}));
            assert!(v.matched.is_empty(), "{seen}: {v:?}");
            assert_eq!(v.scores.get("engagement"), Some(0));
            assert!(v.errors.is_empty(), "{v:?}");
        }
        let v = timed(json!({"visits": 3}));
        assert!(v.matched.is_empty());
    }

    #[test]
    fn a_date_after_as_of_does_not_fade() {
        let v = timed(json!({"visits": 3, "seen": "2024-08-01"}));
        assert_eq!(
            v.matched[0].decay,
            Some(Decayed {
                points: 20,
                age_days: 0
            })
        );
        assert_eq!(v.matched[0].points, 20);
    }

    #[test]
    fn rhai_rules_name_their_dimension_and_decay_their_points() {
        let rhai = r#"
fn web(lead) {
    let points = decay(16, lead.webinar, 7);
    if points != () { #{ points: points, score: "engagement" } }
}
fn typo(lead) { if lead.x == 1 { #{ points: 5, score: "engagment" } } }
fn bad_half_life(lead) { if lead.x == 2 { decay(5, "2024-06-01", 0) } }
"#;
        let s = scorer(&[("r.yaml", TIMED), ("s.rhai", rhai)]);
        let score = |l: serde_json::Value| s.score(&lead(l), as_of());
        // webinar 14 days before: 16 * 0.25 = 4, then the engagement decay by `seen`
        // (0 days old) keeps it.
        let v = score(json!({"webinar": "2024-06-16", "seen": "2024-06-30"}));
        assert_eq!(v.scores.get("engagement"), Some(4), "{v:?}");
        // No webinar date: decay() gives (), the rule does not apply.
        let v = score(json!({"seen": "2024-06-30"}));
        assert!(v.matched.is_empty(), "{v:?}");
        let v = score(json!({"x": 1}));
        assert_eq!(v.errors.len(), 1, "{v:?}");
        assert!(
            v.errors[0].message.contains("`score: \"engagment\"`"),
            "{v:?}"
        );
        let v = score(json!({"x": 2}));
        assert!(
            v.errors[0]
                .message
                .contains("half_life_days must be more than 0"),
            "{v:?}"
        );
    }

    #[test]
    fn stages_require_dimension_points_and_grades_and_next_says_what_is_missing() {
        let rules = r#"
settings:
  scores: { fit: ~, engagement: ~ }
  grade: { score: fit, bands: [ { grade: A, min: 50 }, { grade: B, min: 20 } ] }
rules:
  - { id: fit, when: { field: fit, exists: true }, points: 30, score: fit, signals: [need] }
  - { id: eng, when: { field: eng, exists: true }, points: 10, score: engagement }
stages:
  - id: hot
    min_scores: { engagement: 25, fit: 10 }
    grades: [A]
  - id: warm
    grades: [A, B]
  - id: cold
"#;
        let s = scorer(&[("r.yaml", rules)]);
        let v = s.score(&lead(json!({"fit": 1, "eng": 1})), as_of());
        assert_eq!(
            (&*v.stage, v.grade.clone()),
            ("warm", Some(Some(Arc::from("B"))))
        );
        let next = v.next.unwrap();
        assert_eq!(
            next.scores_needed.iter().collect::<Vec<_>>(),
            [("engagement", 15), ("fit", 0)]
        );
        assert_eq!(next.grade_needed, Some(vec![Arc::from("A")]));
        let v = s.score(&lead(json!({"eng": 1})), as_of());
        assert_eq!((&*v.stage, v.grade.clone()), ("cold", Some(None)));
        assert_eq!(
            v.next.unwrap().grade_needed,
            Some(vec![Arc::from("A"), Arc::from("B")])
        );
    }
}

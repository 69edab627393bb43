//! [`Rules`]: load a rules folder in name order (YAML rules, Rhai scripts, the stage
//! policy), compile everything once, and report every problem at once.

pub(crate) mod compile;
mod dimensions;
mod pattern;
pub(crate) mod predicate;
pub use predicate::ConditionTrace;
pub(crate) mod raw;
mod stamp;
#[cfg(feature = "service")]
pub(crate) use stamp::hex;
mod schema;
pub(crate) mod yaml;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Span, attach_source_lines, did_you_mean};
use crate::dimension::{Decay, Dimension, GradeScale};
use crate::error::Error;
use crate::lead::{Schema, Slot};
use crate::script::{Limits, ScriptHost, ScriptRule};
use crate::stage::{Stage, StagePolicy};
use crate::transition::CurrentStage;
use compile::{Compiler, Template};
use predicate::Predicate;
use raw::{AmountDoc, Decoder, RuleFileDoc, SettingsDoc, StageDoc};

/// Largest rule file read: hand-written rules are a few kilobytes; anything this large
/// is a mistake (or data) and would make loading slow.
const MAX_RULE_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub id: Arc<str>,
    pub description: Option<String>,
    pub kind: RuleKind,
    pub points: i64,
    pub signals: Vec<Arc<str>>,
    pub reason: Option<Template>,
    pub disqualify: Option<Template>,
    /// The score dimension its points count in (`score:`).
    pub dimension: Option<usize>,
    /// How its points fade (its own `decay:`, else its dimension's).
    pub decay: Option<Decay>,
    /// Where the rule is written.
    pub path: Arc<Path>,
    pub span: Span,
}

/// How a rule decides whether it matches.
#[derive(Debug)]
pub(crate) enum RuleKind {
    Yaml(Predicate),
    Script(ScriptRule),
}

/// Settings from `settings:`, with defaults.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub score_min: i64,
    pub score_max: i64,
    pub id_field: String,
    pub id_slot: Slot,
    /// How `convert` estimates an opportunity's amount (default: the `budget` field).
    pub amount: Amount,
    /// Score dimensions (`scores:`), in declared order.
    pub dimensions: Vec<Dimension>,
    /// Their names, shared by every verdict's `scores`.
    pub dimension_names: Arc<[Arc<str>]>,
    /// Letter grades on one dimension (`grade:`).
    pub grade: Option<GradeScale>,
    /// Where the CRM's stage for the lead is read (`current_stage:`).
    pub current_stage: Option<CurrentStage>,
    /// The field giving each record's time in a history (`settings.event_time`).
    pub event_time: Option<Slot>,
    /// `settings.version`, shown in stamped verdicts.
    pub version: Option<String>,
}

/// The compiled `amount:` setting.
#[derive(Debug, Clone)]
pub(crate) enum Amount {
    Field(Slot),
    Expr(crate::script::ExprId),
}

/// A loaded, compiled rules folder. Build a [`Scorer`](crate::Scorer) from it.
///
/// ```
/// let rules = leadscore::Rules::load_dir("rules")?;
/// assert!(rules.rule_ids().count() > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Rules {
    pub(crate) schema: Schema,
    pub(crate) rules: Vec<Rule>,
    pub(crate) policy: StagePolicy,
    pub(crate) scripts: ScriptHost,
    pub(crate) settings: Settings,
    warnings: Vec<Diagnostic>,
    /// The files these rules were compiled from, kept for [`Rules::replica`].
    sources: Arc<[Source]>,
}

/// One file of a rules folder.
#[derive(Debug)]
struct Source {
    path: PathBuf,
    text: String,
}

impl Rules {
    /// Loads every `*.yaml`, `*.yml` and `*.rhai` file directly in `dir`, in file-name
    /// order (the `tests/` subfolder and other folders are not rules).
    ///
    /// # Errors
    /// [`Error::Io`] when the folder or a file cannot be read; [`Error::Rules`] listing
    /// every problem found (with the warnings) when any is an error.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Rules, Error> {
        let dir = dir.as_ref();
        let io = |source| Error::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|p| p.is_file() && is_rule_file(p))
            .collect();
        paths.sort();
        let mut sources = Vec::new();
        let mut unreadable = Vec::new();
        for path in paths {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            if size > MAX_RULE_FILE_BYTES {
                unreadable.push(
                    Diagnostic::error(
                        &path,
                        Span::new(1, 1, 1),
                        format!("the file is {size} bytes; rule files are limited to {MAX_RULE_FILE_BYTES}"),
                    )
                    .with_help("split it, or move data (long lists) out of the rules"),
                );
                continue;
            }
            match std::fs::read(&path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => sources.push((path, text)),
                    Err(e) => {
                        let offset = e.utf8_error().valid_up_to();
                        let before = &e.as_bytes()[..offset];
                        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
                        unreadable.push(Diagnostic::error(
                            &path,
                            Span::new(line as u32, 1, 1),
                            "the file is not valid UTF-8",
                        ));
                    }
                },
                Err(source) => return Err(Error::Io { path, source }),
            }
        }
        let mut rules = Rules::from_sources(sources);
        if !unreadable.is_empty() {
            let mut all = unreadable;
            match &mut rules {
                Err(Error::Rules(d)) => all.append(d),
                Ok(loaded) => all.append(&mut loaded.warnings),
                Err(_) => {}
            }
            rules = Err(Error::Rules(all));
        }
        if let Ok(loaded) = &rules
            && loaded.rules.is_empty()
        {
            return Err(Error::Rules(vec![
                Diagnostic::error(dir, Span::new(1, 1, 1), "the rules folder has no rules")
                    .with_help("add a *.yaml file with `rules:`, or run `leadscore init` for a starter set"),
            ]));
        }
        rules
    }

    /// Loads rules from in-memory files: `(path, text)` pairs, `*.yaml`/`*.yml` or
    /// `*.rhai` by extension, taken in path order. Paths only name the files in messages.
    ///
    /// ```
    /// let rules = leadscore::Rules::from_sources(vec![(
    ///     "rules.yaml".into(),
    ///     "rules:\n  - id: big\n    when: { field: budget, gte: 10000 }\n    points: 50\n".into(),
    /// )])?;
    /// assert_eq!(rules.rule_ids().collect::<Vec<_>>(), ["big"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Rules`] listing every problem found when any is an error.
    pub fn from_sources(sources: Vec<(PathBuf, String)>) -> Result<Rules, Error> {
        let mut sources: Vec<Source> = sources
            .into_iter()
            .map(|(path, text)| Source { path, text })
            .collect();
        sources.sort_by(|a, b| a.path.cmp(&b.path));
        Loader::default().load(&sources.into())
    }

    /// The same rules compiled again from the same files (kept in memory, not read
    /// again), for another thread to score with: see `Scorer::replica`. The copy
    /// shares nothing that changes as leads are scored: the reference counts of the
    /// names every verdict carries, the regex engines' scratch caches (the regex crate
    /// gives only the first thread to use a regex the fast path to its cache), and the
    /// Rhai engine. `None` if the files do not compile again, which cannot happen:
    /// they compiled once already.
    pub(crate) fn replica(&self) -> Option<Rules> {
        Loader::default().load(&self.sources).ok()
    }

    /// Problems that do not stop the rules from working.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Rule ids in evaluation order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.id.as_ref())
    }

    /// The Rhai rules that run in the Rhai interpreter, by id, in evaluation order: those
    /// using anything outside the subset leadscore runs without it (README, "Fast Rhai
    /// rules"). They give the same verdicts, several times slower per call.
    pub fn interpreted_rules(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().filter_map(|r| match &r.kind {
            RuleKind::Script(script) if !self.scripts.runs_natively(script) => Some(r.id.as_ref()),
            _ => None,
        })
    }

    /// Stage ids, top to bottom.
    pub fn stage_ids(&self) -> impl Iterator<Item = &str> {
        self.policy.stages.iter().map(|s| s.id.as_ref())
    }

    /// The field giving each record's time in a history (`settings.event_time.field`),
    /// as the rules name it; `None` when not set.
    pub fn event_time_field(&self) -> Option<&str> {
        self.settings
            .event_time
            .map(|slot| &*self.schema.field(slot).name)
    }

    /// The field that names a lead (`settings.id_field`, default `id`).
    pub fn id_field(&self) -> &str {
        &self.settings.id_field
    }

    /// The score dimensions (`settings.scores`), in declared order.
    pub fn score_dimensions(&self) -> impl Iterator<Item = &str> {
        self.settings.dimension_names.iter().map(|n| n.as_ref())
    }

    /// Whether verdicts carry a grade (`settings.grade`).
    pub fn grades_leads(&self) -> bool {
        self.settings.grade.is_some()
    }

    /// The field the CRM's stage is read from (`settings.current_stage`), when verdicts
    /// carry a transition.
    pub fn current_stage_field(&self) -> Option<&str> {
        self.settings
            .current_stage
            .as_ref()
            .map(|c| c.field.as_ref())
    }
}

pub(crate) fn is_rule_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'));
    let ext = path.extension().and_then(|e| e.to_str());
    !hidden && matches!(ext, Some("yaml" | "yml" | "rhai"))
}

fn is_rhai(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("rhai")
}

/// A YAML file decoded, waiting for compilation.
struct Decoded<'s> {
    source: &'s Source,
    doc: RuleFileDoc,
}

#[derive(Default)]
struct Loader {
    problems: Vec<(usize, Diagnostic)>,
}

impl Loader {
    fn report(&mut self, file: usize, diagnostics: impl IntoIterator<Item = Diagnostic>) {
        self.problems
            .extend(diagnostics.into_iter().map(|d| (file, d)));
    }

    fn load(mut self, sources: &Arc<[Source]>) -> Result<Rules, Error> {
        let decoded = self.decode_yaml(sources);
        let mut schema = Schema::default();
        self.declare_fields(&decoded, sources, &mut schema);
        let (settings_doc, settings_file) = self.merge_settings(&decoded, sources);
        let dimensions = self.dimensions(settings_doc, settings_file, &mut schema);
        let limits =
            settings_doc.map_or_else(Limits::default, |s| Limits::from_settings(&s.limits));
        let mut scripts = ScriptHost::new(limits);
        let mut rules = Vec::new();
        let mut script_signals = BTreeSet::new();
        for (index, source) in sources.iter().enumerate() {
            if is_rhai(&source.path) {
                self.compile_script(index, source, &mut scripts, &mut rules, &mut script_signals);
            } else if let Some(d) = decoded.iter().find(|d| std::ptr::eq(d.source, source)) {
                self.compile_rules(index, d, &mut schema, &mut scripts, &mut rules, &dimensions);
            }
        }
        self.check_duplicate_ids(&rules, sources);
        let grade = self.grade_scale(settings_doc, settings_file, &dimensions);
        let mut settings = self.settings(settings_doc, settings_file, &mut schema, &mut scripts);
        settings.dimension_names = dimensions.iter().map(|d| d.name.clone()).collect();
        settings.dimensions = dimensions;
        settings.grade = grade;
        let has_grade = settings_doc.is_some_and(|s| s.grade.is_some());
        let policy = self.stage_policy(
            &decoded,
            sources,
            &mut schema,
            &mut scripts,
            &settings,
            has_grade,
        );
        if let Some(policy) = &policy {
            settings.current_stage =
                self.current_stage(settings_doc, settings_file, &mut schema, policy);
        }
        // After every script and expression is compiled: the fields they read get slots.
        scripts.resolve_reads(&mut schema);
        if let Some(policy) = &policy {
            self.lint_stages(
                policy,
                &rules,
                &script_signals,
                &settings,
                &decoded,
                sources,
            );
        }
        self.finish(sources, schema, rules, policy, scripts, settings)
    }

    fn decode_yaml<'s>(&mut self, sources: &'s [Source]) -> Vec<Decoded<'s>> {
        let mut decoded = Vec::new();
        for (index, source) in sources
            .iter()
            .enumerate()
            .filter(|(_, s)| !is_rhai(&s.path))
        {
            match yaml::parse(&source.text) {
                Err(problem) => self.report(
                    index,
                    [Diagnostic::error(
                        &source.path,
                        problem.span,
                        problem.message,
                    )],
                ),
                Ok((root, problems)) => {
                    self.report(
                        index,
                        problems
                            .into_iter()
                            .map(|p| Diagnostic::error(&source.path, p.span, p.message)),
                    );
                    let mut decoder = Decoder::new(&source.path);
                    let doc = root.map(|r| decoder.file(&r)).unwrap_or_default();
                    self.report(index, decoder.problems);
                    decoded.push(Decoded { source, doc });
                }
            }
        }
        decoded
    }

    fn declare_fields(&mut self, decoded: &[Decoded<'_>], sources: &[Source], schema: &mut Schema) {
        for d in decoded {
            let index = file_index(sources, d.source);
            for field in &d.doc.fields {
                let aliases: Vec<String> = field.aliases.iter().map(|a| a.value.clone()).collect();
                if let Err(taken) = schema.declare(&field.name.value, field.ty, &aliases) {
                    let span = field
                        .aliases
                        .iter()
                        .find(|a| a.value == taken)
                        .map_or(field.name.span, |a| a.span);
                    self.report(
                        index,
                        [Diagnostic::error(
                            &d.source.path,
                            span,
                            format!("`{taken}` already names another declared field"),
                        )],
                    );
                }
            }
        }
    }

    fn merge_settings<'d>(
        &mut self,
        decoded: &'d [Decoded<'_>],
        sources: &[Source],
    ) -> (Option<&'d SettingsDoc>, usize) {
        let mut found: Option<(&SettingsDoc, usize)> = None;
        for d in decoded {
            let Some(settings) = &d.doc.settings else {
                continue;
            };
            let index = file_index(sources, d.source);
            match found {
                None => found = Some((settings, index)),
                Some((_, first)) => self.report(
                    index,
                    [Diagnostic::error(
                        &d.source.path,
                        settings.span,
                        format!(
                            "`settings` is already given in {}",
                            sources[first].path.display()
                        ),
                    )
                    .with_help("keep all settings in one file")],
                ),
            }
        }
        match found {
            Some((s, i)) => (Some(s), i),
            None => (None, 0),
        }
    }

    fn settings(
        &mut self,
        doc: Option<&SettingsDoc>,
        file: usize,
        schema: &mut Schema,
        scripts: &mut ScriptHost,
    ) -> Settings {
        let min = doc.and_then(|s| s.score_min.as_ref());
        let max = doc.and_then(|s| s.score_max.as_ref());
        let (score_min, score_max) = (min.map_or(0, |m| m.value), max.map_or(100, |m| m.value));
        if score_min > score_max {
            let span = min.or(max).map_or(Span::default(), |s| s.span);
            self.problems.push((
                file,
                Diagnostic::error(
                    PathBuf::new(),
                    span,
                    format!("score min {score_min} is above max {score_max}"),
                ),
            ));
        }
        let id_field = doc
            .and_then(|s| s.id_field.as_ref())
            .map_or("id".to_string(), |f| f.value.clone());
        let id_slot = schema.slot_for(&id_field);
        // Problems here carry no path yet: `finish` gives them the settings file's.
        let mut compiler = Compiler {
            path: Path::new(""),
            schema,
            scripts,
            problems: Vec::new(),
        };
        let amount = match doc.and_then(|s| s.amount.as_ref()) {
            None => Amount::Field(compiler.schema.slot_for("budget")),
            Some(AmountDoc::Field(name)) => Amount::Field(compiler.field(name)),
            Some(AmountDoc::Expr(expr)) => match compiler.scripts.compile_expr(Path::new(""), expr)
            {
                Ok(id) => Amount::Expr(id),
                Err(d) => {
                    compiler.problems.push(d);
                    Amount::Field(compiler.schema.slot_for("budget"))
                }
            },
        };
        let event_time = doc
            .and_then(|s| s.event_time.as_ref())
            .map(|name| compiler.field(name));
        let problems = std::mem::take(&mut compiler.problems);
        self.report(file, problems);
        Settings {
            score_min,
            score_max,
            id_field,
            id_slot,
            amount,
            dimensions: Vec::new(),
            dimension_names: Arc::from(Vec::new()),
            grade: None,
            current_stage: None,
            event_time,
            version: doc
                .and_then(|s| s.version.as_ref())
                .map(|v| v.value.clone()),
        }
    }

    /// Compiles `current_stage:` once the stage ids are known: every mapped stage must
    /// exist (problems go to the settings file).
    fn current_stage(
        &mut self,
        doc: Option<&SettingsDoc>,
        file: usize,
        schema: &mut Schema,
        policy: &StagePolicy,
    ) -> Option<CurrentStage> {
        let doc = doc?.current_stage.as_ref()?;
        let stage_ids: Vec<&str> = policy.stages.iter().map(|s| s.id.as_ref()).collect();
        let mut lookup = Vec::new();
        let mut problems = Vec::new();
        for (crm, stage) in &doc.map {
            match stage_ids.iter().position(|id| *id == stage.value) {
                Some(index) => lookup.push((predicate::Folded::new(&crm.value), index)),
                None => {
                    let help = match did_you_mean(&stage.value, stage_ids.iter().copied()) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!("stages are: {}", stage_ids.join(", ")),
                    };
                    problems.push(
                        Diagnostic::error(
                            PathBuf::new(),
                            stage.span,
                            format!(
                                "`current_stage.map` maps `{}` to unknown stage `{}`",
                                crm.value, stage.value
                            ),
                        )
                        .with_help(help),
                    );
                }
            }
        }
        // Stage ids are read as they are, after the CRM's own values.
        lookup.extend(
            stage_ids
                .iter()
                .enumerate()
                .map(|(index, id)| (predicate::Folded::new(id), index)),
        );
        self.report(file, problems);
        Some(CurrentStage {
            field: Arc::from(doc.field.value.as_str()),
            slot: schema.slot_for(&doc.field.value),
            lookup,
        })
    }

    fn compile_script(
        &mut self,
        index: usize,
        source: &Source,
        scripts: &mut ScriptHost,
        rules: &mut Vec<Rule>,
        signals: &mut BTreeSet<String>,
    ) {
        match scripts.compile_file(&source.path, &source.text) {
            Err(d) => self.report(index, [d]),
            Ok(found) => {
                signals.extend(crate::script::string_literals(&source.text));
                let path: Arc<Path> = Arc::from(source.path.as_path());
                rules.extend(found.into_iter().map(|f| Rule {
                    id: Arc::from(f.name.as_str()),
                    description: None,
                    points: 0,
                    signals: Vec::new(),
                    reason: None,
                    disqualify: None,
                    // A script names its dimension in what it returns.
                    dimension: None,
                    decay: None,
                    path: path.clone(),
                    span: f.span,
                    kind: RuleKind::Script(f),
                }));
            }
        }
    }

    fn compile_rules(
        &mut self,
        index: usize,
        decoded: &Decoded<'_>,
        schema: &mut Schema,
        scripts: &mut ScriptHost,
        rules: &mut Vec<Rule>,
        dimensions: &[Dimension],
    ) {
        let path: Arc<Path> = Arc::from(decoded.source.path.as_path());
        let mut compiler = Compiler {
            path: &decoded.source.path,
            schema,
            scripts,
            problems: Vec::new(),
        };
        for doc in &decoded.doc.rules {
            if !valid_id(&doc.id.value) {
                compiler.problems.push(
                    Diagnostic::error(
                        &decoded.source.path,
                        doc.id.span,
                        format!("rule id `{}` is not a plain name", doc.id.value),
                    )
                    .with_help("use letters, digits, `_` and `-`, starting with a letter"),
                );
            }
            let predicate = doc.when.as_ref().and_then(|w| compiler.condition(w));
            let reason = doc.reason.as_ref().and_then(|t| compiler.template(t));
            let disqualify = doc.disqualify.as_ref().and_then(|t| compiler.template(t));
            let dimension = doc.score.as_ref().and_then(|name| {
                dimensions::resolve_dimension(
                    name,
                    dimensions,
                    &decoded.source.path,
                    &mut compiler.problems,
                )
            });
            let own_decay = doc.decay.as_ref().and_then(|d| {
                dimensions::compile_decay(
                    d,
                    &decoded.source.path,
                    compiler.schema,
                    &mut compiler.problems,
                )
            });
            let decay = own_decay.or_else(|| dimension.and_then(|i| dimensions[i].decay));
            let Some(predicate) = predicate else { continue };
            rules.push(Rule {
                id: Arc::from(doc.id.value.as_str()),
                description: doc.description.clone(),
                kind: RuleKind::Yaml(predicate),
                points: doc.points,
                signals: doc
                    .signals
                    .iter()
                    .map(|s| Arc::from(s.value.as_str()))
                    .collect(),
                reason,
                disqualify,
                dimension,
                decay,
                path: path.clone(),
                span: doc.id.span,
            });
        }
        self.report(index, compiler.problems);
    }

    fn check_duplicate_ids(&mut self, rules: &[Rule], sources: &[Source]) {
        let mut seen: HashMap<&str, &Rule> = HashMap::new();
        for rule in rules {
            match seen.get(rule.id.as_ref()) {
                None => {
                    seen.insert(&rule.id, rule);
                }
                Some(first) => {
                    let index = sources
                        .iter()
                        .position(|s| *s.path == *rule.path)
                        .unwrap_or(0);
                    self.report(
                        index,
                        [Diagnostic::error(
                            rule.path.as_ref(),
                            rule.span,
                            format!(
                                "duplicate rule id `{}` (first defined at {}:{}:{})",
                                rule.id,
                                first.path.display(),
                                first.span.line,
                                first.span.col
                            ),
                        )
                        .with_help("rule ids (YAML ids and Rhai function names) must be unique across the folder")],
                    );
                }
            }
        }
    }

    fn stage_policy(
        &mut self,
        decoded: &[Decoded<'_>],
        sources: &[Source],
        schema: &mut Schema,
        scripts: &mut ScriptHost,
        settings: &Settings,
        has_grade: bool,
    ) -> Option<StagePolicy> {
        let mut declaring = decoded.iter().filter(|d| d.doc.stages.is_some());
        let Some(first) = declaring.next() else {
            return Some(StagePolicy::default_policy());
        };
        for other in declaring {
            let span = other
                .doc
                .stages
                .as_ref()
                .map_or(Span::default(), |s| s.span);
            self.report(
                file_index(sources, other.source),
                [Diagnostic::error(
                    &other.source.path,
                    span,
                    format!(
                        "`stages` is already declared in {}",
                        first.source.path.display()
                    ),
                )
                .with_help("declare the stage policy in one file")],
            );
        }
        let index = file_index(sources, first.source);
        let docs = first.doc.stages.as_ref()?;
        let mut compiler = Compiler {
            path: &first.source.path,
            schema,
            scripts,
            problems: Vec::new(),
        };
        let mut stages = Vec::new();
        let mut ok = true;
        for doc in &docs.value {
            let when = match &doc.when {
                Some(w) => {
                    let p = compiler.condition(w);
                    ok &= p.is_some();
                    p
                }
                None => None,
            };
            let min_scores = dimensions::stage_min_scores(
                &doc.min_scores,
                &settings.dimensions,
                compiler.path,
                &mut compiler.problems,
            );
            let min_score_names = min_scores
                .iter()
                .map(|(index, _)| settings.dimensions[*index].name.clone())
                .collect();
            let grades = doc.grades.as_ref().map(|written| {
                dimensions::stage_grades(
                    written,
                    settings.grade.as_ref(),
                    has_grade,
                    compiler.path,
                    &mut compiler.problems,
                )
            });
            stages.push(Stage {
                id: Arc::from(doc.id.value.as_str()),
                description: doc.description.clone(),
                disqualified: doc.disqualified,
                min_score: doc.min_score.as_ref().map(|m| m.value),
                requires: doc
                    .requires
                    .iter()
                    .map(|r| Arc::from(r.value.as_str()))
                    .collect(),
                when,
                min_scores,
                min_score_names,
                grades,
            });
        }
        let problems = std::mem::take(&mut compiler.problems);
        self.report(index, problems);
        let structural = check_stage_list(&first.source.path, docs.span, &docs.value, &stages);
        ok &= structural.is_empty();
        self.report(index, structural);
        ok.then_some(StagePolicy { stages })
    }

    fn lint_stages(
        &mut self,
        policy: &StagePolicy,
        rules: &[Rule],
        script_signals: &BTreeSet<String>,
        settings: &Settings,
        decoded: &[Decoded<'_>],
        sources: &[Source],
    ) {
        let Some(declaring) = decoded.iter().find(|d| d.doc.stages.is_some()) else {
            return;
        };
        let Some(docs) = declaring.doc.stages.as_ref() else {
            return;
        };
        let index = file_index(sources, declaring.source);
        let path = &declaring.source.path;
        let given: BTreeSet<&str> = rules
            .iter()
            .flat_map(|r| r.signals.iter().map(|s| s.as_ref()))
            .chain(script_signals.iter().map(String::as_str))
            .collect();
        let mut warnings = Vec::new();
        for (index, (stage, doc)) in policy.stages.iter().zip(&docs.value).enumerate() {
            let above = &policy.stages[..index];
            if let Some(by) = above.iter().find(|earlier| earlier.covers(stage)) {
                let warning = if by.is_unconditional() {
                    Diagnostic::warning(
                        path,
                        doc.id.span,
                        format!(
                            "stage `{}` can never be reached: `{}` above it takes every lead",
                            stage.id, by.id
                        ),
                    )
                } else {
                    Diagnostic::warning(
                        path,
                        doc.id.span,
                        format!(
                            "stage `{}` can never be reached: every lead that meets it meets `{}` above it",
                            stage.id, by.id
                        ),
                    )
                    .with_help(format!("move `{}` above `{}`", stage.id, by.id))
                };
                warnings.push(warning);
                continue;
            }
            for (signal, doc_signal) in stage.requires.iter().zip(&doc.requires) {
                if !given.contains(signal.as_ref()) {
                    warnings.push(
                        Diagnostic::warning(
                            path,
                            doc_signal.span,
                            format!(
                                "stage `{}` requires signal `{signal}`, which no rule gives",
                                stage.id
                            ),
                        )
                        .with_help("add `signals: [...]` to a rule, or return it from a Rhai rule"),
                    );
                }
            }
            if let (Some(min), Some(doc_min)) = (stage.min_score, &doc.min_score)
                && min > settings.score_max
            {
                warnings.push(Diagnostic::warning(
                    path,
                    doc_min.span,
                    format!(
                        "stage `{}` can never be reached: min_score {min} is above the highest score {}",
                        stage.id, settings.score_max
                    ),
                ));
            }
        }
        let disqualifies = rules
            .iter()
            .any(|r| r.disqualify.is_some() || matches!(r.kind, RuleKind::Script(_)));
        if disqualifies && !policy.stages.iter().any(|s| s.disqualified) {
            warnings.push(
                Diagnostic::warning(path, docs.span, "no stage has `disqualified: true`, so disqualified leads land in ordinary stages")
                    .with_help("add `- id: disqualified` with `disqualified: true` at the top"),
            );
        }
        self.report(index, warnings);
    }

    fn finish(
        mut self,
        sources: &Arc<[Source]>,
        schema: Schema,
        rules: Vec<Rule>,
        policy: Option<StagePolicy>,
        scripts: ScriptHost,
        settings: Settings,
    ) -> Result<Rules, Error> {
        // Settings problems carry no path yet: they belong to the settings file.
        for (file, d) in &mut self.problems {
            if d.path.as_os_str().is_empty()
                && let Some(source) = sources.get(*file)
            {
                d.path = source.path.clone();
            }
        }
        self.problems.sort_by_key(|(file, d)| (*file, d.span));
        let mut diagnostics = Vec::new();
        for (file, mut d) in self.problems {
            if let Some(source) = sources.get(file) {
                attach_source_lines(std::slice::from_mut(&mut d), &source.text);
            }
            diagnostics.push(d);
        }
        match policy {
            Some(policy) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(Rules {
                schema,
                rules,
                policy,
                scripts,
                settings,
                warnings: diagnostics,
                sources: Arc::clone(sources),
            }),
            _ => Err(Error::Rules(diagnostics)),
        }
    }
}

fn file_index(sources: &[Source], source: &Source) -> usize {
    sources
        .iter()
        .position(|s| std::ptr::eq(s, source))
        .unwrap_or(0)
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Structural errors in a stage list: empty, duplicate ids, a default with conditions.
fn check_stage_list(
    path: &Path,
    span: Span,
    docs: &[StageDoc],
    stages: &[Stage],
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    if docs.is_empty() {
        problems.push(
            Diagnostic::error(path, span, "`stages` is empty").with_help(
                "list at least one stage; the last one is the default, e.g. `- id: lead`",
            ),
        );
        return problems;
    }
    let mut seen: HashMap<&str, &StageDoc> = HashMap::new();
    for doc in docs {
        if !valid_id(&doc.id.value) {
            problems.push(
                Diagnostic::error(
                    path,
                    doc.id.span,
                    format!("stage id `{}` is not a plain name", doc.id.value),
                )
                .with_help("use letters, digits, `_` and `-`, starting with a letter"),
            );
        }
        if let Some(first) = seen.insert(&doc.id.value, doc) {
            problems.push(Diagnostic::error(
                path,
                doc.id.span,
                format!(
                    "duplicate stage id `{}` (first at line {})",
                    doc.id.value, first.id.span.line
                ),
            ));
        }
    }
    if let (Some(last), Some(doc)) = (stages.last(), docs.last())
        && !last.is_unconditional()
    {
        problems.push(
            Diagnostic::error(
                path,
                doc.id.span,
                format!(
                    "the last stage `{}` is the default and cannot have conditions",
                    last.id
                ),
            )
            .with_help("add a plain stage at the end, e.g. `- id: lead`"),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)]) -> Result<Rules, Error> {
        Rules::from_sources(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect(),
        )
    }

    fn problems(files: &[(&str, &str)]) -> Vec<String> {
        match load(files) {
            Ok(rules) => rules.warnings().iter().map(ToString::to_string).collect(),
            Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
        }
    }

    const RULE: &str = "rules:\n  - id: a\n    when: { field: x, exists: true }\n";

    #[test]
    fn rules_load_in_file_name_order() {
        let rules = load(&[
            ("b.yaml", "rules:\n  - id: b1\n    when: { field: x, exists: true }\n"),
            ("a.rhai", "fn a2(lead) { 1 }\nfn a1(lead) { 1 }\n"),
            ("c.yml", "rules:\n  - id: c1\n    when: { field: x, exists: true }\n  - id: c0\n    when: { field: x, exists: true }\n"),
        ])
        .unwrap();
        assert_eq!(
            rules.rule_ids().collect::<Vec<_>>(),
            ["a2", "a1", "b1", "c1", "c0"]
        );
        assert_eq!(
            rules.stage_ids().collect::<Vec<_>>(),
            ["disqualified", "ready_to_convert", "prospect", "lead"]
        );
    }

    #[test]
    fn every_problem_across_files_is_reported() {
        let found = problems(&[
            (
                "a.yaml",
                "rules:\n  - id: dup\n    when: { field: x, gtee: 1 }\n  - id: re\n    when: { field: t, matches: '(' }\n",
            ),
            ("b.yaml", "rules: [ { id: x\n"),
            (
                "c.rhai",
                "fn dup(lead) { 1 }\nfn broken(lead) { let = ; }\n",
            ),
            (
                "d.yaml",
                "rules:\n  - id: dup\n    when: { field: x, exists: true }\n",
            ),
        ]);
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(
            found[0].starts_with("a.yaml:3:23: error: unknown operator `gtee`"),
            "{}",
            found[0]
        );
        assert!(
            found[1].starts_with("a.yaml:5:32: error: invalid regex"),
            "{}",
            found[1]
        );
        assert!(
            found[2].starts_with("b.yaml:2:1: error: invalid YAML"),
            "{}",
            found[2]
        );
        assert!(found[3].starts_with("c.rhai:2:"), "{}", found[3]);
    }

    #[test]
    fn duplicate_ids_across_yaml_and_rhai() {
        let found = problems(&[("a.rhai", "fn a(lead) { 1 }\n"), ("b.yaml", RULE)]);
        assert_eq!(
            found,
            vec![
                "b.yaml:2:9: error: duplicate rule id `a` (first defined at a.rhai:1:4) (help: rule ids (YAML ids and Rhai function names) must be unique across the folder)"
            ]
        );
    }

    #[test]
    fn undeclared_fields_warn_with_a_suggestion() {
        let found = problems(&[(
            "a.yaml",
            "fields:\n  budget: number\nrules:\n  - id: a\n    when: { field: budjet, gte: 1 }\n",
        )]);
        assert_eq!(
            found,
            vec![
                "a.yaml:5:20: warning: field `budjet` is not declared in `fields` (help: did you mean `budget`?)"
            ]
        );
    }

    #[test]
    fn stage_list_mistakes() {
        let stages = "stages:\n  - id: top\n    requires: [need]\n  - id: everyone\n  - id: never\n    min_score: 500\n  - id: last\n    min_score: 1\n";
        let found = problems(&[("a.yaml", &format!("{RULE}{stages}"))]);
        assert_eq!(
            found,
            vec![
                "a.yaml:10:9: error: the last stage `last` is the default and cannot have conditions (help: add a plain stage at the end, e.g. `- id: lead`)",
            ]
        );
        let stages =
            "stages:\n  - id: top\n    requires: [need]\n  - id: everyone\n  - id: never\n";
        let found = problems(&[("a.yaml", &format!("{RULE}{stages}"))]);
        assert_eq!(
            found,
            vec![
                "a.yaml:6:16: warning: stage `top` requires signal `need`, which no rule gives (help: add `signals: [...]` to a rule, or return it from a Rhai rule)",
                "a.yaml:8:9: warning: stage `never` can never be reached: `everyone` above it takes every lead",
            ]
        );
        assert_eq!(
            problems(&[("a.yaml", &format!("{RULE}stages: []\n"))]).len(),
            1
        );
        // Listed in the wrong order, the stricter stage is never reached.
        let rule = "rules:\n  - id: r\n    when: { field: x, exists: true }\n    signals: [need, budget, pricing_discussed]\n";
        let stages = "stages:\n  - id: prospect\n    min_score: 40\n    requires: [need, budget]\n  - id: ready\n    min_score: 70\n    requires: [need, budget, pricing_discussed]\n  - id: lead\n";
        assert_eq!(
            problems(&[("a.yaml", &format!("{rule}{stages}"))]),
            vec![
                "a.yaml:9:9: warning: stage `ready` can never be reached: every lead that meets it meets `prospect` above it (help: move `ready` above `prospect`)",
            ]
        );
    }

    #[test]
    fn a_stage_covers_a_later_one_only_when_nothing_in_it_could_say_no() {
        use crate::stage::Stage;
        let stage = |min: Option<i64>, requires: &[&str], disqualified: bool| Stage {
            id: "s".into(),
            description: None,
            disqualified,
            min_score: min,
            requires: requires.iter().map(|s| (*s).into()).collect(),
            when: None,
            min_scores: Vec::new(),
            min_score_names: Arc::from(Vec::new()),
            grades: None,
        };
        let prospect = stage(Some(40), &["need"], false);
        assert!(prospect.covers(&stage(Some(70), &["need", "budget"], false)));
        assert!(prospect.covers(&stage(Some(40), &["need"], true)));
        assert!(!prospect.covers(&stage(Some(30), &["need", "budget"], false)));
        assert!(!prospect.covers(&stage(None, &["need"], false)));
        assert!(!prospect.covers(&stage(Some(70), &["budget"], false)));
        assert!(!stage(None, &[], true).covers(&stage(None, &[], false)));
        assert!(stage(None, &[], false).covers(&stage(Some(1), &["x"], true)));

        // Dimension minimums and grades: covered only by stricter ones below.
        let with = |dims: Vec<(usize, i64)>, grades: Option<Vec<&str>>| {
            let mut s = stage(None, &[], false);
            s.min_scores = dims;
            s.grades = grades.map(|g| g.into_iter().map(Arc::from).collect());
            s
        };
        let fit_20 = with(vec![(0, 20)], None);
        assert!(fit_20.covers(&with(vec![(0, 40), (1, 5)], None)));
        assert!(!fit_20.covers(&with(vec![(0, 10)], None)));
        assert!(!fit_20.covers(&with(vec![(1, 40)], None)));
        assert!(!fit_20.is_unconditional());
        let a_or_b = with(vec![], Some(vec!["A", "B"]));
        assert!(a_or_b.covers(&with(vec![], Some(vec!["A"]))));
        assert!(!a_or_b.covers(&with(vec![], Some(vec!["A", "C"]))));
        assert!(!a_or_b.covers(&with(vec![], None)));
    }

    const TIMED: &str = "settings:\n  scores: { fit: ~, engagement: { max: 50 } }\n  grade: { score: fit, bands: [ { grade: A, min: 50 }, { grade: B, min: 0 } ] }\n";

    #[test]
    fn dimensions_load_in_order_with_default_ranges() {
        let rules = load(&[("a.yaml", &format!("{TIMED}{RULE}"))]).unwrap();
        assert_eq!(
            rules.score_dimensions().collect::<Vec<_>>(),
            ["fit", "engagement"]
        );
        let dims = &rules.settings.dimensions;
        assert_eq!(
            (dims[0].min, dims[0].max, dims[1].min, dims[1].max),
            (0, 100, 0, 50)
        );
        assert!(rules.grades_leads());
        assert_eq!(rules.current_stage_field(), None);
    }

    #[test]
    fn stages_name_known_grades_and_need_a_grade_setting() {
        let stages = "stages:\n  - id: hot\n    grades: [A, Z]\n  - id: cold\n";
        let found = problems(&[("a.yaml", &format!("{TIMED}{RULE}{stages}"))]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("unknown grade `Z`"), "{found:?}");
        assert!(found[0].contains("a.yaml:9:17"), "{found:?}");

        let found = problems(&[("a.yaml", &format!("{RULE}{stages}"))]);
        assert!(
            found[0].contains("this stage requires `grades`, but no `settings.grade`"),
            "{found:?}"
        );
    }

    #[test]
    fn a_rule_s_dimension_must_be_declared() {
        let rule = "rules:\n  - id: a\n    when: { field: x, exists: true }\n    score: fit\n";
        let found = problems(&[("a.yaml", rule)]);
        assert!(
            found[0].contains("unknown score dimension `fit`"),
            "{found:?}"
        );
        assert!(found[0].contains("declare it first"), "{found:?}");
        assert!(load(&[("a.yaml", &format!("{TIMED}{rule}"))]).is_ok());
    }

    #[test]
    fn a_rule_s_own_decay_wins_over_its_dimension_s() {
        let text = "settings:\n  scores: { e: { decay: { field: seen, half_life_days: 30 } } }\n\
                    rules:\n  - id: own\n    when: { field: x, exists: true }\n    score: e\n    decay: { field: asked, half_life_days: 7 }\n\
                    \x20 - id: inherits\n    when: { field: x, exists: true }\n    score: e\n\
                    \x20 - id: none\n    when: { field: x, exists: true }\n";
        let rules = load(&[("a.yaml", text)]).unwrap();
        let decay = |i: usize| {
            rules.rules[i].decay.map(|d| {
                (
                    rules.schema.field(d.slot).name.to_string(),
                    d.half_life_days,
                )
            })
        };
        assert_eq!(decay(0), Some(("asked".to_string(), 7.0)));
        assert_eq!(decay(1), Some(("seen".to_string(), 30.0)));
        assert_eq!(decay(2), None);
    }

    #[test]
    fn current_stage_reads_through_its_field_s_aliases() {
        let text = "fields:\n  status: { aliases: [Lead Status] }\nsettings:\n  current_stage: { field: status, map: { Open: lead } }\n";
        let rules = load(&[("a.yaml", &format!("{text}{RULE}"))]).unwrap();
        assert_eq!(rules.current_stage_field(), Some("status"));
        let scorer = crate::Scorer::new(rules);
        let lead =
            crate::Lead::from_json(serde_json::json!({"Lead Status": "open", "x": 1})).unwrap();
        let v = scorer.score(&lead, crate::Date::parse("2026-01-01").unwrap());
        assert_eq!(v.transition, Some(None), "{v:?}");
    }

    #[test]
    fn stages_and_settings_belong_to_one_file() {
        let found = problems(&[
            (
                "a.yaml",
                &format!("{RULE}settings: {{ id_field: key }}\nstages:\n  - id: lead\n"),
            ),
            (
                "b.yaml",
                "settings: { id_field: id }\nstages:\n  - id: other\n",
            ),
        ]);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("`settings` is already given in a.yaml"));
        assert!(found[1].contains("`stages` is already declared in a.yaml"));
    }

    #[test]
    fn event_time_names_a_field_through_its_aliases() {
        let rules = load(&[(
            "s.yaml",
            "fields:\n  updated_at: { type: date, aliases: [LastModifiedDate] }\nsettings:\n  event_time: { field: LastModifiedDate }\n",
        )])
        .unwrap();
        assert_eq!(rules.event_time_field(), Some("updated_at"));
        assert_eq!(
            load(&[("s.yaml", "settings: {}\n")])
                .unwrap()
                .event_time_field(),
            None
        );
    }

    #[test]
    fn event_time_mistakes_point_at_the_key() {
        let found = problems(&[("s.yaml", "settings:\n  event_time: { feild: updated_at }\n")]);
        assert_eq!(
            found,
            vec![
                "s.yaml:2:17: error: unknown key `feild` in `settings.event_time` (help: known keys: field)",
                "s.yaml:2:17: error: `event_time` needs a `field` (help: e.g. `event_time: { field: updated_at }`)",
            ]
        );
        let found = problems(&[("s.yaml", "settings:\n  event_time: updated_at\n")]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("s.yaml:2:15: error: expected `event_time: { field: NAME }`"),
            "{found:?}"
        );
        let found = problems(&[("s.yaml", "settings:\n  event_time: { field: [a] }\n")]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("s.yaml:2:24: error: expected a field name"),
            "{found:?}"
        );
        let found = problems(&[(
            "s.yaml",
            "fields:\n  updated: { type: date }\nsettings:\n  event_time: { field: updatd }\n",
        )]);
        assert_eq!(
            found,
            vec![
                "s.yaml:4:24: warning: field `updatd` is not declared in `fields` (help: did you mean `updated`?)"
            ]
        );
    }

    #[test]
    fn sandbox_limits_are_read_from_settings() {
        let rules = load(&[
            ("a.rhai", "fn spin(lead) { loop { } }\n"),
            (
                "s.yaml",
                "settings:\n  limits: { max_operations: 500, max_call_depth: 8 }\n",
            ),
        ])
        .unwrap();
        let verdict = crate::Scorer::new(rules).score(&crate::Lead::new(), crate::Date::UNIX_EPOCH);
        assert!(
            verdict.errors[0]
                .message
                .starts_with("stopped after 500 operations"),
            "{:?}",
            verdict.errors
        );
        let found = problems(&[(
            "s.yaml",
            "settings:\n  limits: { max_operations: 0, max_stack: 3, max_expr_depth: 100000 }\n",
        )]);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].contains("`max_operations` must be at least 1"),
            "{found:?}"
        );
        assert!(found[1].contains("unknown key `max_stack`"), "{found:?}");
        assert!(
            found[2].contains("`max_expr_depth` can be at most 256"),
            "{found:?}"
        );
    }

    #[test]
    fn odd_rule_ids_are_refused() {
        let found = problems(&[(
            "a.yaml",
            "rules:\n  - id: my rule\n    when: { field: x, exists: true }\n",
        )]);
        assert!(
            found[0].contains("rule id `my rule` is not a plain name"),
            "{found:?}"
        );
    }

    #[test]
    fn source_lines_are_attached_for_rendering() {
        let Err(e) = load(&[(
            "a.yaml",
            "rules:\n  - id: a\n    when: { field: x, gtee: 1 }\n",
        )]) else {
            panic!("should fail")
        };
        let rendered = e.diagnostics()[0].render();
        assert!(
            rendered
                .contains("3 |     when: { field: x, gtee: 1 }\n  |                       ^^^^\n"),
            "{rendered}"
        );
    }
}

//! Rhai rules and `expr` conditions: one sandboxed [`rhai::Engine`] shared by every
//! thread; each `*.rhai` file and each expression compiled to an AST once, at load.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{AST, CallFnOptions, Dynamic, Engine, ImmutableString, Map, NativeCallContext, Scope};

use crate::date::Date;
use crate::diagnostic::{Diagnostic, Span};
use crate::lead::{Lead, Schema, Value};
use crate::rules::raw::ExprDoc;

mod native;

use native::NativeFn;

/// Operations one script call may run before it is stopped: enough for any honest rule,
/// small enough that a rule looping forever costs a few milliseconds.
pub const DEFAULT_MAX_OPERATIONS: u64 = 100_000;

/// What one Rhai call (a rule or an `expr` on one lead) may use. Defaults suit any honest
/// rule; `settings.limits` in the rules changes them. A call that breaks a limit fails
/// for that lead only, with an `errors` entry naming the rule and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Operations per call (`max_operations`, default 100,000).
    pub max_operations: u64,
    /// Nested function calls (`max_call_depth`, default 32).
    pub max_call_depth: usize,
    /// Bytes in one string (`max_string_size`, default 1 MiB).
    pub max_string_size: usize,
    /// Items in one array (`max_array_size`, default 10,000).
    pub max_array_size: usize,
    /// Entries in one map (`max_map_size`, default 10,000).
    pub max_map_size: usize,
    /// Nesting of one expression, checked when rules load (`max_expr_depth`, default 32).
    pub max_expr_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_operations: DEFAULT_MAX_OPERATIONS,
            max_call_depth: 32,
            max_string_size: 1 << 20,
            max_array_size: 10_000,
            max_map_size: 10_000,
            max_expr_depth: 32,
        }
    }
}

impl Limits {
    /// The defaults, with the limits given in `settings.limits` (each at least 1).
    pub(crate) fn from_settings(given: &[(&str, crate::rules::raw::Spanned<i64>)]) -> Limits {
        let mut limits = Limits::default();
        for (key, value) in given {
            let n = value.value.max(1);
            let size = usize::try_from(n).unwrap_or(usize::MAX);
            match *key {
                "max_operations" => limits.max_operations = n as u64,
                "max_call_depth" => limits.max_call_depth = size,
                "max_string_size" => limits.max_string_size = size,
                "max_array_size" => limits.max_array_size = size,
                "max_map_size" => limits.max_map_size = size,
                "max_expr_depth" => limits.max_expr_depth = size,
                _ => {}
            }
        }
        limits
    }
}

/// Index of a compiled `expr` condition.
pub(crate) type ExprId = usize;

/// A Rhai function that is a rule: one parameter, a name not starting with `_`.
#[derive(Debug, Clone)]
pub(crate) struct ScriptRule {
    pub file: usize,
    /// The rule's number among the host's rules, for remembering its results.
    pub number: usize,
    pub name: String,
    pub span: Span,
}

/// What a matched Rhai rule gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ScriptOutcome {
    pub points: i64,
    /// The score dimension named by `score:` in the returned map.
    pub score: Option<Arc<str>>,
    pub signals: Vec<Arc<str>>,
    pub reason: Option<String>,
    pub disqualify: Option<String>,
}

struct ScriptFile {
    path: PathBuf,
    ast: AST,
}

/// The lead fields scripts read: building the Rhai view of a lead costs per field, so
/// only these are put in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Reads {
    /// Only these fields (`lead.budget`, `lead["Lead Source"]`).
    #[default]
    None,
    Fields(std::collections::BTreeSet<String>),
    /// A script uses the lead as a whole (passes it on, iterates it): every field.
    All,
}

impl Reads {
    fn add(&mut self, field: &str) {
        match self {
            Reads::All => {}
            Reads::Fields(set) => {
                set.insert(field.to_string());
            }
            Reads::None => *self = Reads::Fields([field.to_string()].into()),
        }
    }
}

/// Whether a script function may be given the lead's shared, read-only view: set at
/// load from what the function does ([`reads_only`]), and cleared for good the first
/// time Rhai stops it changing the view, so it is not run twice on every later call. Its
/// results are the same either way: a stopped call runs again on a copy.
struct Sharing(std::sync::atomic::AtomicBool);

impl Sharing {
    fn new(shares: bool) -> Sharing {
        Sharing(std::sync::atomic::AtomicBool::new(shares))
    }

    fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn stop(&self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The engine and every compiled script.
pub(crate) struct ScriptHost {
    engine: Engine,
    files: Vec<ScriptFile>,
    /// Each `expr:` condition: its source, its AST, and whether it may share the lead.
    exprs: Vec<(String, AST, Sharing)>,
    /// Each `expr:` condition without Rhai, when it is in [`native`]'s subset.
    expr_natives: Vec<Option<NativeFn>>,
    /// Each rule (by rule number) without Rhai, when it is in [`native`]'s subset.
    rule_natives: Vec<Option<NativeFn>>,
    limits: Limits,
    reads: Reads,
    /// The fields put in the Rhai view of a lead, with their slots; `None`: all.
    view: Option<Vec<(String, crate::lead::Slot)>>,
    rule_count: usize,
    /// The fields each rule reads (by rule number), and their slots once resolved.
    rule_reads: Vec<Reads>,
    /// Whether each rule (by rule number) only reads the lead, so it may be given the
    /// lead's shared view instead of a copy of its own (see [`reads_only`]).
    rule_shares: Vec<Sharing>,
    rule_views: Vec<Option<Vec<crate::lead::Slot>>>,
    /// Tells this host's remembered results from another's on the same thread.
    id: u64,
}

/// Results remembered per thread: at most this many, then forgotten all at once.
const MEMO_CAPACITY: usize = 16_384;

static NEXT_HOST_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    static MEMO: std::cell::RefCell<Memo> = std::cell::RefCell::new(Memo::default());
    static SCOPE: std::cell::RefCell<Scope<'static>> = std::cell::RefCell::new(Scope::new());
}

/// A rule's remembered results are looked up this many times, then it is judged: one
/// found less often than one time in [`MEMO_MIN_FOUND_IN`] is not remembered for the
/// next [`MEMO_REST`] calls, then tried again.
const MEMO_WINDOW: u32 = 1_024;
/// A found result saves a script run; a key looked up in vain costs about a tenth of
/// one, and its stored result crowds out others: below one in ten found, remembering
/// costs more than it saves.
const MEMO_MIN_FOUND_IN: u32 = 10;
/// The first window after a start or a rest fills an empty memo, so it finds less than
/// later ones will: it is held to one in 32 only. Fields whose every value is new
/// (emails) still rest after one window.
const MEMO_MIN_FOUND_IN_COLD: u32 = 32;
const MEMO_REST: u32 = 16_384;

/// Rhai rule results by rule, as-of date and the values of the fields scripts read.
#[derive(Default)]
struct Memo {
    host: u64,
    results: rustc_hash::FxHashMap<Box<[u8]>, Result<Option<ScriptOutcome>, String>>,
    /// The key of the call at hand, built in one buffer kept from call to call: a
    /// lookup allocates nothing, only a remembered result does.
    key: Vec<u8>,
    /// How well remembering pays, by rule number.
    rules: Vec<RuleMemo>,
}

/// How often one rule's results were found lately. A rule reading a field with many
/// values (emails, budgets) is found almost never: building and storing its keys costs
/// more than it saves, so it rests, and runs its script every time.
#[derive(Debug, Clone, Copy, Default)]
struct RuleMemo {
    looked: u32,
    found: u32,
    /// Calls left before this rule is remembered again.
    resting: u32,
    /// The memo has had a window to fill with this rule's results since it last rested.
    warm: bool,
}

/// What the memo knew of a call: the remembered result, handed to the caller's `take`
/// (`R`, what it made of it), or `take` (`F`) given back to use on a fresh result.
enum Recall<R, F> {
    Found(R),
    /// Not known: remember the result under the key in `Memo::key`.
    Missed(F),
    /// The rule is resting: run it, remember nothing.
    Resting(F),
}

/// A remembered result as [`ScriptHost::with_rule_outcome`] hands it over.
fn borrowed(
    result: &Result<Option<ScriptOutcome>, String>,
) -> Result<Option<Cow<'_, ScriptOutcome>>, Cow<'_, str>> {
    match result {
        Ok(outcome) => Ok(outcome.as_ref().map(Cow::Borrowed)),
        Err(message) => Err(Cow::Borrowed(message)),
    }
}

/// A fresh result as [`ScriptHost::with_rule_outcome`] hands it over.
fn owned(
    result: Result<Option<ScriptOutcome>, String>,
) -> Result<Option<Cow<'static, ScriptOutcome>>, Cow<'static, str>> {
    match result {
        Ok(outcome) => Ok(outcome.map(Cow::Owned)),
        Err(message) => Err(Cow::Owned(message)),
    }
}

impl std::fmt::Debug for ScriptHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptHost")
            .field(
                "files",
                &self.files.iter().map(|s| &s.path).collect::<Vec<_>>(),
            )
            .field("exprs", &self.exprs.len())
            .finish()
    }
}

const EXPR_FN: &str = "__leadscore_expr";

impl ScriptHost {
    /// A sandboxed engine: no `eval`, no imports, no printing to our output, and a cap on
    /// operations, call depth and data sizes.
    pub fn new(limits: Limits) -> ScriptHost {
        let mut engine = Engine::new();
        engine.set_max_operations(limits.max_operations);
        engine.set_max_call_levels(limits.max_call_depth);
        // Rules and `expr` conditions all run as functions, so one depth serves both.
        engine.set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth);
        engine.set_max_string_size(limits.max_string_size);
        engine.set_max_array_size(limits.max_array_size);
        engine.set_max_map_size(limits.max_map_size);
        engine.disable_symbol("eval");
        // The string interner sits behind a lock shared by every thread; without it,
        // scripts on different threads run in parallel.
        engine.set_max_strings_interned(0);
        engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
        // Standard output carries verdicts; a stray `print` must not corrupt it.
        engine.on_print(|_| {});
        engine.on_debug(|_, _, _| {});
        register_helpers(&mut engine);
        ScriptHost {
            engine,
            files: Vec::new(),
            exprs: Vec::new(),
            reads: Reads::None,
            view: None,
            rule_count: 0,
            rule_reads: Vec::new(),
            rule_shares: Vec::new(),
            rule_views: Vec::new(),
            expr_natives: Vec::new(),
            rule_natives: Vec::new(),
            limits,
            id: NEXT_HOST_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// How deeply one expression may nest (`settings.limits.max_expr_depth`).
    fn max_expr_depth(&self) -> usize {
        self.engine.max_function_expr_depth()
    }

    /// Compiles a `*.rhai` file; returns its rule functions in source order.
    pub fn compile_file(
        &mut self,
        path: &Path,
        source: &str,
    ) -> Result<Vec<ScriptRule>, Diagnostic> {
        let ast = self
            .engine
            .compile(source)
            .map_err(|e| parse_error(path, &e, |line, col| (line, col), self.max_expr_depth()))?;
        let file = self.files.len();
        let mut rules: Vec<ScriptRule> = ast
            .iter_functions()
            .filter(|f| f.params.len() == 1 && !f.name.starts_with('_'))
            .map(|f| ScriptRule {
                file,
                number: 0,
                name: f.name.to_string(),
                span: find_fn(source, f.name).unwrap_or(Span::new(1, 1, 1)),
            })
            .collect();
        rules.sort_by_key(|r| r.span);
        for rule in &mut rules {
            rule.number = self.rule_count;
            self.rule_count += 1;
            // What this rule alone reads: the key its results are remembered by.
            // (`retain_functions`: rhai 1.27's `clone_functions_only_filtered` keeps
            // every function when filtering into an empty module.)
            let mut own = ast.clone();
            own.retain_functions(|_, _, name, arity| name == rule.name && arity == 1);
            let param: Vec<String> = own
                .iter_functions()
                .flat_map(|f| f.params.first().map(|p| p.to_string()))
                .collect();
            let mut reads = Reads::None;
            record_reads(&own, &param, &mut reads);
            self.rule_reads.push(reads);
            self.rule_shares
                .push(Sharing::new(reads_only(&own, &param, &ast)));
            self.rule_natives
                .push(native_fn(&own, &rule.name, &ast, &self.limits));
        }
        let params: Vec<String> = ast
            .iter_functions()
            .filter(|f| f.params.len() == 1 && !f.name.starts_with('_'))
            .map(|f| f.params[0].to_string())
            .collect();
        record_reads(&ast, &params, &mut self.reads);
        self.files.push(ScriptFile {
            path: path.to_path_buf(),
            ast,
        });
        Ok(rules)
    }

    /// Compiles an `expr:` condition. Only an expression is accepted (no statements, no
    /// loops); it runs as a function of `lead` so it shares the rules' sandbox.
    pub fn compile_expr(&mut self, path: &Path, expr: &ExprDoc) -> Result<ExprId, Diagnostic> {
        let at = |line: u32, col: u32| {
            if line <= 1 {
                (
                    expr.span.line,
                    expr.span.col + expr.col_offset + col.saturating_sub(1),
                )
            } else {
                (expr.span.line + line - 1, col)
            }
        };
        self.engine
            .compile_expression(&expr.source)
            .map_err(|e| parse_error(path, &e, at, self.max_expr_depth()))?;
        let wrapped = format!("fn {EXPR_FN}(lead) {{ {} }}", expr.source);
        let ast = self
            .engine
            .compile(wrapped)
            .map_err(|e| parse_error(path, &e, at, self.max_expr_depth()))?;
        let param = ["lead".to_string()];
        record_reads(&ast, &param, &mut self.reads);
        let shares = reads_only(&ast, &param, &ast);
        self.expr_natives
            .push(native_fn(&ast, EXPR_FN, &ast, &self.limits));
        self.exprs
            .push((expr.source.clone(), ast, Sharing::new(shares)));
        Ok(self.exprs.len() - 1)
    }

    /// Gives every field the scripts read a slot, so the Rhai view of a lead is built
    /// from those slots alone. Call once, after every script is compiled.
    pub fn resolve_reads(&mut self, schema: &mut Schema) {
        let mut resolve = |reads: &Reads| match reads {
            Reads::None => Some(Vec::new()),
            Reads::Fields(names) => Some(
                names
                    .iter()
                    .map(|n| (n.clone(), schema.slot_for(n)))
                    .collect(),
            ),
            Reads::All => None,
        };
        self.view = resolve(&self.reads);
        self.rule_views = self
            .rule_reads
            .iter()
            .map(|r| resolve(r).map(|v| v.into_iter().map(|(_, slot)| slot).collect()))
            .collect();
        for native in self
            .rule_natives
            .iter_mut()
            .chain(&mut self.expr_natives)
            .flatten()
        {
            let slots = native.fields().iter().map(|n| schema.slot_for(n)).collect();
            native.resolve(slots);
        }
    }

    /// True when the scripts read only named fields, so a lead read slot by slot is
    /// enough for them.
    pub fn reads_named_fields(&self) -> bool {
        self.view.is_some()
    }

    /// The fields the Rhai view of a lead holds, with their slots; `None` for all.
    pub fn view(&self) -> Option<&[(String, crate::lead::Slot)]> {
        self.view.as_deref()
    }

    /// The text of an `expr:` condition, as written.
    pub fn expr_source(&self, id: ExprId) -> &str {
        &self.exprs[id].0
    }

    /// Evaluates an `expr:` condition.
    ///
    /// # Errors
    /// A script error, or a result that is not a boolean.
    pub fn eval_expr<'a>(
        &self,
        id: ExprId,
        values: &[Option<Cow<'_, Value>>],
        lead: impl FnOnce() -> &'a Dynamic,
        as_of: Date,
    ) -> Result<bool, String> {
        if let Some(Some(native)) = self.expr_natives.get(id)
            && let Ok(holds) = native.run_condition(values, as_of)
        {
            return Ok(holds);
        }
        let (_, ast, shares) = &self.exprs[id];
        let result = self.call(ast, EXPR_FN, shares, lead(), as_of)?;
        result
            .as_bool()
            .map_err(|ty| format!("the expression gave {ty}, not true or false"))
    }

    /// Evaluates a compiled expression for its value, whatever it is (the `amount:`
    /// setting).
    ///
    /// # Errors
    /// A script error.
    pub fn eval_value(&self, id: ExprId, lead: &Dynamic, as_of: Date) -> Result<Dynamic, String> {
        let (_, ast, shares) = &self.exprs[id];
        self.call(ast, EXPR_FN, shares, lead, as_of)
    }

    /// True when the rule runs without the Rhai interpreter ([`native`]).
    pub fn runs_natively(&self, rule: &ScriptRule) -> bool {
        matches!(self.rule_natives.get(rule.number), Some(Some(_)))
    }

    /// Runs a Rhai rule: `None` when it does not apply.
    ///
    /// # Errors
    /// A script error, or a result of a shape rules may not return.
    pub fn call_rule(
        &self,
        rule: &ScriptRule,
        lead: &Dynamic,
        as_of: Date,
    ) -> Result<Option<ScriptOutcome>, String> {
        let copies = Sharing::new(false);
        let shares = self.rule_shares.get(rule.number).unwrap_or(&copies);
        let result = self.call(&self.files[rule.file].ast, &rule.name, shares, lead, as_of)?;
        outcome(result)
    }

    /// Runs a Rhai rule, remembering its result. Scripts are pure: the sandbox gives
    /// them no clock but the as-of date, no randomness and no state that outlives a
    /// call, so a rule's result depends only on the fields it reads and the date; real
    /// data repeats those values a lot (page views, dates, flags), and a remembered
    /// result costs a hash lookup instead of a script run. Only when the scripts read
    /// named fields; `lead` builds the Rhai view on a miss.
    ///
    /// The result, as [`ScriptHost::call_rule`] gives it, goes to `take`: a fresh one
    /// owned, a remembered one borrowed where the memo holds it, never copied out (a
    /// caller copies what it keeps into buffers it already has).
    pub fn with_rule_outcome<'a, R>(
        &self,
        rule: &ScriptRule,
        values: &[Option<Cow<'_, Value>>],
        lead: impl FnOnce() -> &'a Dynamic,
        as_of: Date,
        take: impl FnOnce(Result<Option<Cow<'_, ScriptOutcome>>, Cow<'_, str>>) -> R,
    ) -> R {
        // Without Rhai when the rule is in `native`'s subset and the run needs nothing
        // only Rhai does.
        let run = || {
            if let Some(Some(native)) = self.rule_natives.get(rule.number)
                && let Ok(outcome) = native.run_rule(values, as_of)
            {
                return Ok(outcome);
            }
            self.call_rule(rule, lead(), as_of)
        };
        let Some(Some(view)) = self.rule_views.get(rule.number) else {
            return take(owned(run()));
        };
        // `take` goes in, and comes back out unless a remembered result used it.
        let recall = MEMO.with(move |memo| {
            let memo = &mut *memo.borrow_mut();
            if memo.host != self.id {
                memo.host = self.id;
                memo.results.clear();
                memo.rules.clear();
            }
            if memo.rules.len() <= rule.number {
                memo.rules
                    .resize(self.rule_count.max(rule.number + 1), RuleMemo::default());
            }
            let stats = &mut memo.rules[rule.number];
            if stats.resting > 0 {
                stats.resting -= 1;
                return Recall::Resting(take);
            }
            let key = &mut memo.key;
            key.clear();
            key.extend_from_slice(&(rule.number as u64).to_le_bytes());
            key.extend_from_slice(&as_of.unix_days().to_le_bytes());
            for slot in view {
                encode_key(key, values.get(*slot).and_then(|v| v.as_deref()));
            }
            let known = memo.results.get(key.as_slice());
            stats.looked += 1;
            stats.found += u32::from(known.is_some());
            if stats.looked >= MEMO_WINDOW {
                let min_in = if stats.warm {
                    MEMO_MIN_FOUND_IN
                } else {
                    MEMO_MIN_FOUND_IN_COLD
                };
                if stats.found * min_in < stats.looked {
                    stats.resting = MEMO_REST;
                    stats.warm = false;
                } else {
                    stats.warm = true;
                }
                stats.looked = 0;
                stats.found = 0;
            }
            match known {
                Some(result) => Recall::Found(take(borrowed(result))),
                None => Recall::Missed(take),
            }
        });
        let (take, missed) = match recall {
            Recall::Found(taken) => return taken,
            Recall::Missed(take) => (take, true),
            Recall::Resting(take) => (take, false),
        };
        let result = run();
        if missed {
            MEMO.with(|memo| {
                let memo = &mut *memo.borrow_mut();
                if memo.results.len() >= MEMO_CAPACITY {
                    memo.results.clear();
                }
                let key = Box::from(memo.key.as_slice());
                // A copy: the fresh result itself goes to the caller, who keeps its
                // strings. (Keeping the fresh one here and copying into the caller's
                // buffers instead left mimalloc pages holding one short-lived block,
                // emptied and fetched again for every script that makes text: +12%
                // instructions per lead on benches/models/heavy over 5,000 leads.)
                memo.results.insert(key, result.clone());
            });
        }
        take(owned(result))
    }

    /// [`ScriptHost::with_rule_outcome`], the result copied out.
    ///
    /// # Errors
    /// As [`ScriptHost::call_rule`], remembered too.
    #[cfg(test)]
    pub fn call_rule_remembered<'a>(
        &self,
        rule: &ScriptRule,
        values: &[Option<Cow<'_, Value>>],
        lead: impl FnOnce() -> &'a Dynamic,
        as_of: Date,
    ) -> Result<Option<ScriptOutcome>, String> {
        self.with_rule_outcome(rule, values, lead, as_of, |result| {
            result
                .map(|o| o.map(Cow::into_owned))
                .map_err(Cow::into_owned)
        })
    }

    /// Calls a script function on the lead. A function that only reads the lead
    /// (`shares`) gets the lead's view itself, read-only and shared by every rule of
    /// the lead, so a call copies nothing; any other gets a copy of its own to change as
    /// it likes, as every call did before. Should a sharing call still try to change the
    /// view (a method that changes a field's value in place, `lead.title.trim()`), Rhai
    /// stops it, and the call runs again on a copy: the result is the copy's. From then
    /// on that function gets a copy at once, instead of failing first on every call.
    fn call(
        &self,
        ast: &AST,
        name: &str,
        shares: &Sharing,
        lead: &Dynamic,
        as_of: Date,
    ) -> Result<Dynamic, String> {
        let run = |lead: Dynamic| {
            let options = CallFnOptions::new()
                .eval_ast(false)
                .rewind_scope(true)
                // The as-of date rides along as whole days: no allocation per call.
                .with_tag(as_of.unix_days());
            // One scope per thread, emptied before each call, keeps its room from call to
            // call instead of allocating it anew.
            SCOPE.with(|scope| match scope.try_borrow_mut() {
                Ok(mut scope) => {
                    scope.clear();
                    self.engine.call_fn_with_options::<Dynamic>(
                        options,
                        &mut scope,
                        ast,
                        name,
                        (lead,),
                    )
                }
                Err(_) => self.engine.call_fn_with_options::<Dynamic>(
                    options,
                    &mut Scope::new(),
                    ast,
                    name,
                    (lead,),
                ),
            })
        };
        let result = if shares.get() && lead.is_shared() {
            match run(lead.clone()) {
                Err(e) if writes_to_constant(&e) => {
                    shares.stop();
                    run(lead.flatten_clone())
                }
                other => other,
            }
        } else {
            run(lead.flatten_clone())
        };
        result.map_err(|e| {
            self.limit_message(&e)
                .unwrap_or_else(|| runtime_message(&e))
        })
    }

    /// Names the sandbox limit an error broke, and its value.
    fn limit_message(&self, err: &rhai::EvalAltResult) -> Option<String> {
        use rhai::EvalAltResult as E;
        let e = &self.engine;
        let (what, key, value) = match err {
            E::ErrorTooManyOperations(_) => {
                return Some(format!(
                    "stopped after {} operations (does it loop forever? the limit is settings.limits.max_operations)",
                    e.max_operations()
                ));
            }
            E::ErrorStackOverflow(_) => (
                "calls nested too deep",
                "max_call_depth",
                e.max_call_levels(),
            ),
            E::ErrorDataTooLarge(kind, _) if kind.contains("tring") => (
                "a string grew too long",
                "max_string_size",
                e.max_string_size(),
            ),
            E::ErrorDataTooLarge(kind, _) if kind.contains("rray") => (
                "an array grew too long",
                "max_array_size",
                e.max_array_size(),
            ),
            E::ErrorDataTooLarge(_, _) => {
                ("a map grew too large", "max_map_size", e.max_map_size())
            }
            _ => return None,
        };
        Some(format!(
            "stopped: {what} (settings.limits.{key} is {value})"
        ))
    }
}

fn register_helpers(engine: &mut Engine) {
    // The as-of date is the only clock scripts see, so verdicts are reproducible.
    engine.register_fn("as_of", |ctx: NativeCallContext| -> Dynamic {
        match tag_date(&ctx) {
            Some(date) => Dynamic::from(date.to_string()),
            None => Dynamic::UNIT,
        }
    });
    engine.register_fn(
        "days_since",
        |ctx: NativeCallContext, date: ImmutableString| -> Dynamic {
            match (tag_date(&ctx), Date::parse(&date)) {
                (Some(now), Some(then)) => Dynamic::from_int(now.days_since(then)),
                _ => Dynamic::UNIT,
            }
        },
    );
    // A missing field reads as `()`; asking how long ago it was gives `()` too, not an error.
    engine.register_fn("days_since", |_: ()| Dynamic::UNIT);
    register_decay(engine);
    engine.register_fn("is_blank", |s: ImmutableString| s.trim().is_empty());
    engine.register_fn("is_blank", |_: ()| true);
}

/// `decay(points, date, half_life_days)`: the points faded by the date's age at the
/// as-of date, with the arithmetic of YAML `decay:`; `()` when the date is missing or
/// not a date (so a rule returning it does not apply), an error for a half-life that is
/// not above 0.
fn register_decay(engine: &mut Engine) {
    fn decay(
        ctx: &NativeCallContext,
        points: rhai::INT,
        date: Option<&str>,
        half_life: f64,
    ) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
        if !(half_life > 0.0 && half_life.is_finite()) {
            return Err(
                format!("decay: half_life_days must be more than 0, found {half_life}").into(),
            );
        }
        match (tag_date(ctx), date.and_then(Date::parse)) {
            (Some(as_of), Some(date)) => Ok(Dynamic::from_int(
                crate::dimension::fade(points, date, as_of, half_life).points,
            )),
            _ => Ok(Dynamic::UNIT),
        }
    }
    engine.register_fn(
        "decay",
        |ctx: NativeCallContext, points: rhai::INT, date: ImmutableString, half_life: rhai::INT| {
            decay(&ctx, points, Some(&date), half_life as f64)
        },
    );
    engine.register_fn(
        "decay",
        |ctx: NativeCallContext,
         points: rhai::INT,
         date: ImmutableString,
         half_life: rhai::FLOAT| { decay(&ctx, points, Some(&date), half_life) },
    );
    engine.register_fn(
        "decay",
        |ctx: NativeCallContext, points: rhai::INT, _: (), half_life: rhai::INT| {
            decay(&ctx, points, None, half_life as f64)
        },
    );
    engine.register_fn(
        "decay",
        |ctx: NativeCallContext, points: rhai::INT, _: (), half_life: rhai::FLOAT| {
            decay(&ctx, points, None, half_life)
        },
    );
}

/// The function `name` of `ast` (one parameter) without Rhai, when [`native`] can run it.
/// `file` is the whole file, whose functions a call may mean.
fn native_fn(ast: &AST, name: &str, file: &AST, limits: &Limits) -> Option<NativeFn> {
    let script_fns: Vec<&str> = file.iter_functions().map(|f| f.name).collect();
    let param = ast
        .iter_functions()
        .find(|f| f.name == name && f.params.len() == 1)?
        .params[0]
        .to_string();
    // The function alone: no other function, no statements outside it.
    let mut own = ast.clone();
    own.clear_statements();
    own.retain_functions(|_, _, n, arity| n == name && arity == 1);
    NativeFn::compile(&own, &param, &script_fns, limits)
}

/// Appends a value to a memo key: a tag byte, then the value's bytes (lengths
/// included, so two keys are equal only when every value is).
fn encode_key(key: &mut Vec<u8>, value: Option<&Value>) {
    match value {
        None => key.push(0),
        Some(Value::Null) => key.push(1),
        Some(Value::Bool(b)) => key.extend_from_slice(&[2, u8::from(*b)]),
        Some(Value::Int(n)) => {
            key.push(3);
            key.extend_from_slice(&n.to_le_bytes());
        }
        Some(Value::Float(x)) => {
            key.push(4);
            key.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Some(Value::Text(s)) => {
            key.push(5);
            key.extend_from_slice(&(s.len() as u64).to_le_bytes());
            key.extend_from_slice(s.as_bytes());
        }
        Some(other) => {
            let json = other.to_json().to_string();
            key.push(6);
            key.extend_from_slice(&(json.len() as u64).to_le_bytes());
            key.extend_from_slice(json.as_bytes());
        }
    }
}

/// The as-of date of the running call.
fn tag_date(ctx: &NativeCallContext) -> Option<Date> {
    ctx.tag()
        .and_then(|t| t.as_int().ok())
        .and_then(Date::from_unix_days)
}

/// Reads what a rule returned: `()`/`false` (no), `true` or points (yes), or a map.
fn outcome(result: Dynamic) -> Result<Option<ScriptOutcome>, String> {
    if result.is_unit() {
        return Ok(None);
    }
    if let Ok(b) = result.as_bool() {
        return Ok(b.then(ScriptOutcome::default));
    }
    if let Ok(points) = result.as_int() {
        return Ok(Some(ScriptOutcome {
            points,
            ..ScriptOutcome::default()
        }));
    }
    if result.is_map() {
        let map = result.cast::<Map>();
        return map_outcome(map).map(Some);
    }
    Err(format!(
        "a rule must return (), true/false, whole points or a map #{{ points, signals, reason, disqualify }}; it returned {}",
        result.type_name()
    ))
}

fn map_outcome(map: Map) -> Result<ScriptOutcome, String> {
    let mut out = ScriptOutcome::default();
    for (key, value) in map {
        match key.as_str() {
            "points" if value.is_unit() => {}
            "points" => {
                out.points = value
                    .as_int()
                    .map_err(|ty| format!("`points` must be a whole number, found {ty}"))?;
            }
            "signals" => out.signals = signal_list(value)?,
            "reason" => out.reason = optional_text(value, "reason")?,
            "disqualify" => out.disqualify = optional_text(value, "disqualify")?,
            "score" => {
                out.score = optional_text(value, "score")?.map(|name| Arc::from(name.as_str()))
            }
            other => {
                return Err(format!(
                    "unknown key `{other}` in the returned map; use points, signals, reason, disqualify or score"
                ));
            }
        }
    }
    Ok(out)
}

fn signal_list(value: Dynamic) -> Result<Vec<Arc<str>>, String> {
    if value.is_unit() {
        return Ok(Vec::new());
    }
    if value.is_string() {
        return Ok(vec![Arc::from(value.to_string().as_str())]);
    }
    let Some(items) = value.try_cast::<rhai::Array>() else {
        return Err("`signals` must be a list of names".to_string());
    };
    items
        .into_iter()
        .map(|item| {
            item.into_immutable_string()
                .map(|s| Arc::from(s.as_str()))
                .map_err(|ty| format!("`signals` must hold names, found {ty}"))
        })
        .collect()
}

fn optional_text(value: Dynamic, key: &str) -> Result<Option<String>, String> {
    if value.is_unit() {
        return Ok(None);
    }
    if let Ok(b) = value.as_bool() {
        // `disqualify: true` without words: say so plainly.
        return Ok(b.then(|| key.to_string()));
    }
    value
        .into_immutable_string()
        .map(|s| Some(s.to_string()))
        .map_err(|ty| format!("`{key}` must be text, found {ty}"))
}

/// Adds to `reads` the lead fields `ast` reads through a variable named in `params`
/// (`lead.budget`, `lead?.budget`, `lead["budget"]`); any other use of the variable
/// (passing it on, `lead.keys()`) means every field.
fn record_reads(ast: &AST, params: &[String], reads: &mut Reads) {
    use rhai::{ASTNode, Expr};
    ast.walk(&mut |path: &[ASTNode]| {
        let Some(ASTNode::Expr(Expr::Variable(var, ..))) = path.last() else {
            return true;
        };
        if !params.iter().any(|p| p.as_str() == var.1.as_str()) {
            return true;
        }
        let parent = path.len().checked_sub(2).and_then(|i| path.get(i));
        let field = match parent {
            Some(ASTNode::Expr(Expr::Dot(bin, ..))) if matches!(bin.lhs, Expr::Variable(..)) => {
                match &bin.rhs {
                    Expr::Property(p, _) => Some(p.2.to_string()),
                    Expr::Dot(inner, ..) | Expr::Index(inner, ..) => match &inner.lhs {
                        Expr::Property(p, _) => Some(p.2.to_string()),
                        _ => None,
                    },
                    _ => None,
                }
            }
            Some(ASTNode::Expr(Expr::Index(bin, ..))) if matches!(bin.lhs, Expr::Variable(..)) => {
                match &bin.rhs {
                    Expr::StringConstant(name, _) => Some(name.to_string()),
                    _ => None,
                }
            }
            _ => None,
        };
        match field {
            Some(name) => reads.add(&name),
            None => *reads = Reads::All,
        }
        true
    });
}

/// True when `ast` uses the variables named in `params` only to read fields
/// (`lead.budget`, `lead?.title.len()`, `lead["Lead Source"]`): never assigns to a field
/// or below one, never calls a function of the file as a method on a field (`this` could
/// change it), never uses the lead as a whole (passes it on, copies it into a variable,
/// captures it in a closure). Such a function may share the lead with every other rule.
/// Anything else gets a copy of its own, so nothing a script does is seen by another.
fn reads_only(ast: &AST, params: &[String], file: &AST) -> bool {
    use rhai::{ASTNode, Expr, Stmt};
    let script_fns: Vec<&str> = file.iter_functions().map(|f| f.name).collect();
    let mut only_reads = true;
    ast.walk(&mut |path: &[ASTNode]| {
        let Some(ASTNode::Expr(var @ Expr::Variable(v, ..))) = path.last() else {
            return true;
        };
        if !params.iter().any(|p| p.as_str() == v.1.as_str()) {
            return true;
        }
        let parent = path.len().checked_sub(2).and_then(|i| path.get(i));
        let chain = match parent {
            Some(ASTNode::Expr(chain @ (Expr::Dot(bin, ..) | Expr::Index(bin, ..))))
                if std::ptr::eq(&bin.lhs, *var) =>
            {
                match (chain, &bin.rhs) {
                    (Expr::Dot(..), Expr::Property(..)) => Some((*chain, None)),
                    (Expr::Dot(..), rest @ (Expr::Dot(inner, ..) | Expr::Index(inner, ..)))
                        if matches!(inner.lhs, Expr::Property(..)) =>
                    {
                        Some((*chain, Some(rest)))
                    }
                    (Expr::Index(..), Expr::StringConstant(..)) => Some((*chain, None)),
                    _ => None,
                }
            }
            _ => None,
        };
        let Some((chain, rest)) = chain else {
            only_reads = false;
            return false;
        };
        let assigned = path.len().checked_sub(3).and_then(|i| path.get(i)).is_some_and(
            |node| matches!(node, ASTNode::Stmt(Stmt::Assignment(x)) if std::ptr::eq(&x.1.lhs, chain)),
        );
        if assigned || rest.is_some_and(|rest| calls_script_method(rest, &script_fns)) {
            only_reads = false;
            return false;
        }
        true
    });
    only_reads
}

/// True when a chain after a field (`.trim().len()`, `[0].x`) calls a function defined
/// in the script as a method.
fn calls_script_method(chain: &rhai::Expr, script_fns: &[&str]) -> bool {
    use rhai::Expr;
    match chain {
        Expr::MethodCall(call, ..) => script_fns.contains(&call.name.as_str()),
        Expr::Dot(bin, ..) | Expr::Index(bin, ..) => {
            calls_script_method(&bin.lhs, script_fns) || calls_script_method(&bin.rhs, script_fns)
        }
        _ => false,
    }
}

/// True when a call failed because it tried to change a read-only value (or met the
/// shared lead locked): on the shared view of a lead, the sign to run again on a copy.
fn writes_to_constant(err: &rhai::EvalAltResult) -> bool {
    use rhai::EvalAltResult as E;
    match err {
        E::ErrorAssignmentToConstant(..)
        | E::ErrorNonPureMethodCallOnConstant(..)
        | E::ErrorDataRace(..) => true,
        E::ErrorInFunctionCall(_, _, inner, _) => writes_to_constant(inner),
        _ => false,
    }
}

/// The lead as a Rhai object map: declared fields under their canonical names with
/// coerced values, undeclared fields as they came. With a `view` (the fields scripts
/// read, by slot), only those are put in. The map is read-only and shared: built once
/// per lead, every rule that only reads it gets it without a copy (see
/// [`ScriptHost::call`]).
pub(crate) fn lead_to_dynamic(
    lead: Option<&Lead>,
    schema: &Schema,
    bound: &[Option<Cow<'_, Value>>],
    view: Option<&[(String, crate::lead::Slot)]>,
) -> Dynamic {
    Dynamic::from_map(lead_map(lead, schema, bound, view))
        .into_read_only()
        .into_shared()
}

fn lead_map(
    lead: Option<&Lead>,
    schema: &Schema,
    bound: &[Option<Cow<'_, Value>>],
    view: Option<&[(String, crate::lead::Slot)]>,
) -> Map {
    if let Some(view) = view {
        // The view is in name order: collected, the map is built in one pass instead of
        // a search per field.
        return view
            .iter()
            .filter_map(|(name, slot)| {
                let value = bound.get(*slot)?.as_deref()?;
                Some((name.as_str().into(), value_to_dynamic(value)))
            })
            .collect();
    }
    let mut map = Map::new();
    let Some(lead) = lead else {
        // Only slots were read: every field the rules know, by its canonical name.
        for (slot, field) in schema.fields().iter().enumerate() {
            if let Some(value) = bound.get(slot).and_then(|v| v.as_deref()) {
                map.insert(field.name.as_ref().into(), value_to_dynamic(value));
            }
        }
        return map;
    };
    for (key, value) in lead.fields() {
        let (name, value) = match schema.lookup(key) {
            Some(slot) => match bound.get(slot).and_then(|v| v.as_deref()) {
                Some(v) => (schema.field(slot).name.as_ref(), v),
                None => continue,
            },
            None => (key, value),
        };
        map.insert(name.into(), value_to_dynamic(value));
    }
    map
}

/// A lead value as a Rhai value.
pub(crate) fn value_to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Int(n) => Dynamic::from_int(*n),
        Value::Float(x) => Dynamic::from_float(*x),
        Value::Text(s) => ImmutableString::from(s.as_str()).into(),
        Value::List(items) => Dynamic::from_array(items.iter().map(value_to_dynamic).collect()),
        Value::Map(entries) => Dynamic::from_map(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().into(), value_to_dynamic(v)))
                .collect(),
        ),
    }
}

fn parse_error(
    path: &Path,
    err: &rhai::ParseError,
    at: impl Fn(u32, u32) -> (u32, u32),
    max_depth: usize,
) -> Diagnostic {
    let pos = err.position();
    let line = pos.line().unwrap_or(1) as u32;
    let col = pos.position().unwrap_or(1) as u32;
    let (line, col) = at(line, col);
    let span = Span::new(line, col, 1);
    match err.err_type() {
        rhai::ParseErrorType::ExprTooDeep => Diagnostic::error(
            path,
            span,
            format!(
                "rhai: expression nested too deep (settings.limits.max_expr_depth is {max_depth})"
            ),
        )
        .with_help("split it into smaller expressions or helper functions, or raise the limit"),
        other => Diagnostic::error(path, span, format!("rhai: {other}")),
    }
}

fn runtime_message(err: &rhai::EvalAltResult) -> String {
    let pos = err.position();
    let mut text = err.to_string();
    // Rhai appends "(line L, position P)"; keep one plain form.
    if let Some(cut) = text.find(" (line ") {
        text.truncate(cut);
    }
    match (pos.line(), pos.position()) {
        (Some(l), Some(c)) => format!("{text} (at line {l}, column {c})"),
        _ => text,
    }
}

/// Where `fn NAME(` is defined, skipping comments and strings.
fn find_fn(source: &str, name: &str) -> Option<Span> {
    let mut line = 1u32;
    let mut col = 1u32;
    let chars: Vec<char> = source.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match (c, next) {
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            ('/', Some('*')) => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    if chars[i] == '\n' {
                        line += 1;
                        col = 0;
                    }
                    i += 1;
                    col += 1;
                }
                i += 2;
                col += 2;
                continue;
            }
            ('"' | '`' | '\'', _) => {
                let quote = c;
                i += 1;
                col += 1;
                while i < chars.len() && chars[i] != quote {
                    if chars[i] == '\\' {
                        i += 1;
                        col += 1;
                    }
                    if chars.get(i) == Some(&'\n') {
                        line += 1;
                        col = 0;
                    }
                    i += 1;
                    col += 1;
                }
            }
            ('\n', _) => {
                line += 1;
                col = 0;
            }
            ('f', Some('n')) if i == 0 || !is_ident(chars[i - 1]) => {
                let mut j = i + 2;
                if chars.get(j).is_some_and(|c| c.is_whitespace()) {
                    while chars
                        .get(j)
                        .is_some_and(|c| c.is_whitespace() && *c != '\n')
                    {
                        j += 1;
                    }
                    let start = j;
                    while chars.get(j).copied().is_some_and(is_ident) {
                        j += 1;
                    }
                    let found: String = chars[start..j].iter().collect();
                    if found == name {
                        let name_col = col + (start - i) as u32;
                        return Some(Span::new(line, name_col, name.chars().count() as u32));
                    }
                }
            }
            _ => {}
        }
        i += 1;
        col += 1;
    }
    None
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every string literal in a script: the signals a Rhai rule could give, for linting.
pub(crate) fn string_literals(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            let mut s = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => break,
                    _ => s.push(c),
                }
            }
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_with(source: &str) -> (ScriptHost, Vec<ScriptRule>) {
        let mut host = ScriptHost::new(Limits::default());
        let rules = host.compile_file(Path::new("t.rhai"), source).unwrap();
        (host, rules)
    }

    fn run(source: &str, lead: serde_json::Value) -> Result<Option<ScriptOutcome>, String> {
        let (host, rules) = host_with(source);
        let lead = Lead::from_json(lead).unwrap();
        let map = lead_to_dynamic(Some(&lead), &Schema::default(), &[], None);
        host.call_rule(&rules[0], &map, Date::parse("2024-06-30").unwrap())
    }

    #[test]
    fn every_return_shape() {
        let lead = serde_json::json!({"views": 12});
        assert_eq!(run("fn r(lead) { }", lead.clone()), Ok(None));
        assert_eq!(run("fn r(lead) { false }", lead.clone()), Ok(None));
        assert_eq!(
            run("fn r(lead) { true }", lead.clone()),
            Ok(Some(ScriptOutcome::default()))
        );
        assert_eq!(
            run("fn r(lead) { 7 }", lead.clone())
                .unwrap()
                .unwrap()
                .points,
            7
        );
        let full = run(
            r#"fn r(lead) { #{ points: 10, signals: ["need"], reason: `${lead.views} views`, disqualify: () } }"#,
            lead.clone(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            full,
            ScriptOutcome {
                points: 10,
                score: None,
                signals: vec![Arc::from("need")],
                reason: Some("12 views".to_string()),
                disqualify: None
            }
        );
        let dq = run(r#"fn r(lead) { #{ disqualify: "student" } }"#, lead.clone())
            .unwrap()
            .unwrap();
        assert_eq!(dq.disqualify.as_deref(), Some("student"));
    }

    #[test]
    fn bad_shapes_are_errors() {
        let lead = serde_json::json!({});
        assert!(
            run("fn r(lead) { 1.5 }", lead.clone())
                .unwrap_err()
                .contains("returned f64")
        );
        assert!(
            run("fn r(lead) { #{ pionts: 1 } }", lead.clone())
                .unwrap_err()
                .contains("unknown key `pionts`")
        );
        assert!(run(r#"fn r(lead) { #{ signals: [1] } }"#, lead).is_err());
    }

    #[test]
    fn missing_fields_compare_false_instead_of_failing() {
        let src = r#"fn r(lead) { if lead.page_views >= 10 { 5 } }"#;
        assert_eq!(run(src, serde_json::json!({})), Ok(None));
        assert_eq!(
            run(src, serde_json::json!({"page_views": 10}))
                .unwrap()
                .unwrap()
                .points,
            5
        );
    }

    #[test]
    fn infinite_loops_are_stopped() {
        let err = run("fn r(lead) { loop { } }", serde_json::json!({})).unwrap_err();
        assert!(err.starts_with("stopped after 100000 operations"), "{err}");
    }

    #[test]
    fn each_sandbox_limit_is_named_when_broken() {
        let lead = serde_json::json!({});
        let cases = [
            ("fn r(lead) { r(lead) }", "max_call_depth"),
            (
                "fn r(lead) { let s = \"x\"; loop { s += s; } }",
                "max_string_size",
            ),
            (
                "fn r(lead) { let a = []; loop { a.push(1); } }",
                "max_array_size",
            ),
        ];
        for (source, limit) in cases {
            let err = run(source, lead.clone()).unwrap_err();
            assert!(err.contains(limit), "{source}: {err}");
        }
        let mut host = ScriptHost::new(Limits {
            max_map_size: 10,
            ..Limits::default()
        });
        let rules = host
            .compile_file(
                Path::new("t.rhai"),
                "fn r(lead) { let m = #{}; for i in 0..100 { m.set(`k${i}`, i); } m }",
            )
            .unwrap();
        let map = lead_to_dynamic(Some(&Lead::new()), &Schema::default(), &[], None);
        let err = host
            .call_rule(&rules[0], &map, Date::UNIX_EPOCH)
            .unwrap_err();
        assert_eq!(
            err,
            "stopped: a map grew too large (settings.limits.max_map_size is 10)"
        );
    }

    #[test]
    fn expressions_nested_past_the_limit_are_load_errors_naming_it() {
        let nested = |depth: usize| {
            format!(
                "fn r(lead) {{ {}1{} > 0 }}",
                "(".repeat(depth),
                ")".repeat(depth)
            )
        };
        let mut host = ScriptHost::new(Limits::default());
        let err = host
            .compile_file(Path::new("t.rhai"), &nested(40))
            .unwrap_err();
        assert_eq!(
            err.message,
            "rhai: expression nested too deep (settings.limits.max_expr_depth is 32)"
        );
        assert_eq!((err.span.line, err.span.col), (1, 28));
        // Each parenthesis takes two levels.
        assert!(host.compile_file(Path::new("t.rhai"), &nested(14)).is_ok());
        let mut roomy = ScriptHost::new(Limits {
            max_expr_depth: 100,
            ..Limits::default()
        });
        assert!(roomy.compile_file(Path::new("t.rhai"), &nested(40)).is_ok());
    }

    #[test]
    fn scripts_see_the_as_of_date_only() {
        let out = run(
            r#"fn r(lead) { #{ reason: `${as_of()} ${days_since(lead.seen)} ${days_since(lead.nope)}` } }"#,
            serde_json::json!({"seen": "2024-06-20"}),
        );
        assert_eq!(
            out.unwrap().unwrap().reason.as_deref(),
            Some("2024-06-30 10 ")
        );
        let mut host = ScriptHost::new(Limits::default());
        assert!(
            host.compile_file(Path::new("t.rhai"), r#"fn r(lead) { eval("1") }"#)
                .is_err()
        );
    }

    #[test]
    fn rules_are_one_parameter_functions_in_source_order() {
        let (_, rules) = host_with(
            "// fn commented(lead) {}\nfn zeta(lead) { 1 }\nfn _helper(lead) { 2 }\nfn alpha(lead) { 3 }\nfn two(a, b) { 4 }\n",
        );
        let names: Vec<_> = rules
            .iter()
            .map(|r| (r.name.as_str(), r.span.line, r.span.col))
            .collect();
        assert_eq!(names, vec![("zeta", 2, 4), ("alpha", 4, 4)]);
    }

    #[test]
    fn syntax_errors_point_into_the_file() {
        let mut host = ScriptHost::new(Limits::default());
        let err = host
            .compile_file(Path::new("t.rhai"), "fn a(lead) {\n  let x = ;\n}\n")
            .unwrap_err();
        assert_eq!(err.span.line, 2);
        assert!(err.message.starts_with("rhai: "), "{}", err.message);
    }

    #[test]
    fn expressions_map_errors_to_the_yaml_scalar() {
        let mut host = ScriptHost::new(Limits::default());
        let expr = ExprDoc {
            source: "lead.x >".to_string(),
            span: Span::new(7, 20, 10),
            col_offset: 1,
        };
        let err = host.compile_expr(Path::new("r.yaml"), &expr).unwrap_err();
        assert_eq!(err.span.line, 7);
        assert!(err.span.col > 20);
        let ok = ExprDoc {
            source: "lead.x > 1".to_string(),
            ..expr
        };
        let id = host.compile_expr(Path::new("r.yaml"), &ok).unwrap();
        let lead = Lead::from_json(serde_json::json!({"x": 2})).unwrap();
        let map = lead_to_dynamic(Some(&lead), &Schema::default(), &[], None);
        assert_eq!(
            host.eval_expr(id, &[], || &map, Date::parse("2024-01-01").unwrap()),
            Ok(true)
        );
    }

    #[test]
    fn statements_are_not_expressions() {
        let mut host = ScriptHost::new(Limits::default());
        let expr = ExprDoc {
            source: "loop { }".to_string(),
            span: Span::new(1, 1, 1),
            col_offset: 0,
        };
        assert!(host.compile_expr(Path::new("r.yaml"), &expr).is_err());
    }

    fn reads_of(source: &str) -> Reads {
        let (host, _) = host_with(source);
        host.reads.clone()
    }

    fn fields(names: &[&str]) -> Reads {
        Reads::Fields(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn finds_the_fields_scripts_read() {
        assert_eq!(
            reads_of(
                "fn r(lead) { if lead.views > 1 && lead?.budget != () { `${lead.title.len()}` } }"
            ),
            fields(&["budget", "title", "views"])
        );
        assert_eq!(
            reads_of(r#"fn r(l) { l["Lead Source"] == "web" }"#),
            fields(&["Lead Source"])
        );
        assert_eq!(
            reads_of("fn r(lead) { _h(lead) }\nfn _h(x) { x.a }"),
            Reads::All
        );
        assert_eq!(reads_of("fn r(lead) { lead.keys().len() }"), Reads::All);
        assert_eq!(reads_of("fn r(lead) { true }"), Reads::None);
    }

    #[test]
    fn each_rule_knows_the_fields_it_reads() {
        let (host, _) = host_with(
            "fn a(lead) { lead.x > 1 }\nfn b(l) { l.y == 2 }\nfn c(lead) { _h(lead) }\nfn _h(v) { v.z }",
        );
        assert_eq!(
            host.rule_reads,
            vec![fields(&["x"]), fields(&["y"]), Reads::All]
        );
        assert_eq!(host.reads, Reads::All);
    }

    #[test]
    fn the_rhai_view_holds_only_the_fields_read() {
        let mut host = ScriptHost::new(Limits::default());
        host.compile_file(Path::new("t.rhai"), "fn r(lead) { `${lead.a}${lead.b}` }")
            .unwrap();
        let mut schema = Schema::default();
        host.resolve_reads(&mut schema);
        let lead = Lead::from_json(serde_json::json!({"a": 1, "b": "x", "c": true})).unwrap();
        let bound = schema.bind(&lead);
        let map = lead_to_dynamic(Some(&lead), &schema, &bound.values, host.view()).cast::<Map>();
        let keys: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn remembered_results_match_fresh_ones() {
        let (host, rules, schema) = resolved_host_with(
            "fn r(lead) { if lead.n > 2 { #{ points: lead.n, reason: `${lead.n} at ${as_of()}` } } }",
        );
        for (n, day) in [(1, 0), (5, 0), (5, 1), (1, 0), (5, 0), (5, 1)] {
            let as_of = Date::from_unix_days(day).unwrap();
            let (fresh, remembered) = fresh_and_remembered(&host, &schema, &rules[0], n, as_of);
            assert_eq!(fresh, remembered, "n={n} day={day}");
        }
    }

    /// [`host_with`], with the fields its rules read given slots in a schema of their own.
    fn resolved_host_with(source: &str) -> (ScriptHost, Vec<ScriptRule>, Schema) {
        let (mut host, rules) = host_with(source);
        let mut schema = Schema::default();
        host.resolve_reads(&mut schema);
        (host, rules, schema)
    }

    /// The rule called on the lead `{"n": n}` fresh, then through the memo.
    fn fresh_and_remembered(
        host: &ScriptHost,
        schema: &Schema,
        rule: &ScriptRule,
        n: i64,
        as_of: Date,
    ) -> (
        Result<Option<ScriptOutcome>, String>,
        Result<Option<ScriptOutcome>, String>,
    ) {
        let lead = Lead::from_json(serde_json::json!({ "n": n })).unwrap();
        let bound = schema.bind(&lead);
        let map = lead_to_dynamic(Some(&lead), schema, &bound.values, host.view());
        let fresh = host.call_rule(rule, &map, as_of);
        let remembered = host.call_rule_remembered(rule, &bound.values, || &map, as_of);
        (fresh, remembered)
    }

    /// A failure is remembered like a result, and handed over the same: the message a
    /// fresh call gives, every time the same values come again.
    #[test]
    fn remembered_failures_match_fresh_ones() {
        let (host, rules, schema) = resolved_host_with(
            "fn r(lead) { if lead.n > 2 { throw `n is ${lead.n}`; } #{ points: 1, signals: [\"need\"], score: \"fit\" } }",
        );
        for n in [1, 5, 5, 1, 7, 5, 1] {
            let (fresh, remembered) =
                fresh_and_remembered(&host, &schema, &rules[0], n, Date::UNIX_EPOCH);
            assert_eq!(fresh.is_err(), n > 2, "n={n}: {fresh:?}");
            assert_eq!(fresh, remembered, "n={n}");
        }
    }

    #[test]
    fn a_rule_whose_results_are_rarely_found_rests_and_still_answers() {
        let (mut host, rules) = host_with(
            // `to_string` is outside `native`'s subset: these run in Rhai.
            "fn r(lead) { if lead.n.to_string() != \"\" && lead.n % 3 == 0 { #{ points: 1, reason: `${lead.n}` } } }\nfn s(lead) { lead.flag.to_string() == \"true\" }",
        );
        assert!(host.rule_natives.iter().all(Option::is_none));
        let mut schema = Schema::default();
        host.resolve_reads(&mut schema);
        let as_of = Date::UNIX_EPOCH;
        for n in 0..(MEMO_WINDOW as i64 + 100) {
            let lead = Lead::from_json(serde_json::json!({ "n": n, "flag": n % 2 == 0 })).unwrap();
            let bound = schema.bind(&lead);
            let map = lead_to_dynamic(Some(&lead), &schema, &bound.values, host.view());
            for rule in &rules {
                let fresh = host.call_rule(rule, &map, as_of);
                let remembered = host.call_rule_remembered(rule, &bound.values, || &map, as_of);
                assert_eq!(fresh, remembered, "n={n} rule={}", rule.name);
            }
        }
        // Every `n` is new: `r` rests. `flag` takes two values: `s` is remembered.
        let resting: Vec<bool> =
            MEMO.with(|memo| memo.borrow().rules.iter().map(|r| r.resting > 0).collect());
        assert_eq!(resting, [true, false]);
    }

    fn shares(source: &str) -> Vec<bool> {
        let (host, _) = host_with(source);
        host.rule_shares.iter().map(Sharing::get).collect()
    }

    #[test]
    fn only_rules_that_just_read_the_lead_share_it() {
        let reading = [
            "fn r(lead) { lead.views > 1 && lead?.budget != () }",
            r#"fn r(l) { l["Lead Source"] == "web" }"#,
            r#"fn r(lead) { lead.email.ends_with(".edu") || lead.tags[0] == "x" }"#,
            "fn r(lead) { let x = lead.views; x += 1; x }",
            "fn r(lead) { _h(lead.views) }\nfn _h(v) { v = 2; v }",
            "fn r(lead) { let m = #{}; m[lead.id] = lead.views; m.len() }",
        ];
        for source in reading {
            assert!(shares(source)[0], "{source}");
        }
        let writing = [
            "fn r(lead) { lead.views = 1; }",
            "fn r(lead) { lead.views += 1; }",
            r#"fn r(lead) { lead["views"] = 1; }"#,
            "fn r(lead) { lead.address.city = 1; }",
            "fn r(lead) { lead.tags[0] = 1; }",
            "fn r(lead) { _h(lead) }\nfn _h(v) { v.x = 1 }",
            "fn r(lead) { let l = lead; l.x = 1; }",
            "fn r(lead) { lead.keys().len() }",
            "fn r(lead) { let f = |x| lead.views == x; f.call(1) }",
            "fn r(lead) { lead.title._clean() }\nfn _clean() { this = 1; }",
        ];
        for source in writing {
            assert!(!shares(source)[0], "{source}");
        }
    }

    #[test]
    fn a_script_changing_the_lead_changes_only_its_own_copy() {
        let (mut host, rules) = host_with(
            r#"fn writes(lead) { lead.title = "changed"; lead.added = 1; `${lead.title}${lead.added}` }
            fn trims(lead) { lead.title.trim(); lead.title }
            fn pushes(lead) { lead.tags.push("x"); lead.tags.len() }
            fn reads(lead) { `${lead.title}|${lead.added}|${lead.tags.len()}` }"#,
        );
        let mut schema = Schema::default();
        host.resolve_reads(&mut schema);
        let lead = Lead::from_json(serde_json::json!({"title": " a ", "tags": ["t"]})).unwrap();
        let bound = schema.bind(&lead);
        let map = lead_to_dynamic(Some(&lead), &schema, &bound.values, host.view());
        let reason = |rule: &ScriptRule| {
            let out = host.call(
                &host.files[rule.file].ast,
                &rule.name,
                &host.rule_shares[rule.number],
                &map,
                Date::UNIX_EPOCH,
            );
            out.unwrap().to_string()
        };
        // `trims` and `pushes` only read as far as the load can tell: they share the
        // lead, Rhai stops their change, and they run again on a copy; after that they
        // get a copy at once, with the same results.
        let sharing = |host: &ScriptHost| -> Vec<bool> {
            host.rule_shares.iter().map(Sharing::get).collect()
        };
        assert_eq!(sharing(&host), [false, true, true, true]);
        for _ in 0..2 {
            assert_eq!(reason(&rules[0]), "changed1");
            assert_eq!(reason(&rules[1]), "a");
            assert_eq!(reason(&rules[2]), "2");
            assert_eq!(reason(&rules[3]), " a ||1");
            assert_eq!(sharing(&host), [false, false, false, true]);
        }
    }

    #[test]
    fn finds_string_literals() {
        assert_eq!(
            string_literals(r#"#{ signals: ["need", "x\"y"] }"#),
            vec!["need", "xy"]
        );
    }
}

//! The rule file as written: plain mirrors of the YAML (`RuleFileDoc`, `RuleDoc`,
//! `ConditionDoc`, ...) with the position of every value, decoded from the node tree.
//! Shape problems (unknown keys, wrong kinds of value) are collected, never fatal, so one
//! load reports them all.

use std::path::Path;

use crate::diagnostic::{Diagnostic, Span, did_you_mean};
use crate::lead::FieldType;
use crate::rules::yaml::{Node, NodeKind};

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// One YAML rule file.
#[derive(Debug, Default)]
pub(crate) struct RuleFileDoc {
    pub fields: Vec<FieldDoc>,
    pub settings: Option<SettingsDoc>,
    pub rules: Vec<RuleDoc>,
    pub stages: Option<Spanned<Vec<StageDoc>>>,
}

/// A declared field: `budget: { type: number, aliases: [Budget__c] }`.
#[derive(Debug)]
pub(crate) struct FieldDoc {
    pub name: Spanned<String>,
    pub ty: Option<FieldType>,
    pub aliases: Vec<Spanned<String>>,
}

/// The `settings:` section.
#[derive(Debug, Default)]
pub(crate) struct SettingsDoc {
    pub span: Span,
    pub score_min: Option<Spanned<i64>>,
    pub score_max: Option<Spanned<i64>>,
    pub id_field: Option<Spanned<String>>,
    /// Sandbox limits given, by key (`max_operations`, ...).
    pub limits: Vec<(&'static str, Spanned<i64>)>,
    pub amount: Option<AmountDoc>,
    /// `scores:`, the named score dimensions in declared order.
    pub scores: Vec<DimensionDoc>,
    /// `grade:`, letter grades on one dimension.
    pub grade: Option<GradeDoc>,
    /// `current_stage:`, where the CRM has the lead now.
    pub current_stage: Option<CurrentStageDoc>,
    /// `event_time: { field: NAME }`: the field giving each record's time in a history
    /// (`leadscore timeline`).
    pub event_time: Option<Spanned<String>>,
    /// `version:`, a name for this version of the rules.
    pub version: Option<Spanned<String>>,
}

/// One score dimension: `fit: { min: 0, max: 100, decay: {...} }`.
#[derive(Debug, Clone)]
pub(crate) struct DimensionDoc {
    pub name: Spanned<String>,
    pub min: Option<Spanned<i64>>,
    pub max: Option<Spanned<i64>>,
    pub decay: Option<DecayDoc>,
}

/// `decay: { field: last_activity_at, half_life_days: 30 }`.
#[derive(Debug, Clone)]
pub(crate) struct DecayDoc {
    pub field: Spanned<String>,
    pub half_life_days: Spanned<f64>,
}

/// `grade: { score: fit, bands: [ { grade: A, min: 80 }, ... ] }`.
#[derive(Debug, Clone)]
pub(crate) struct GradeDoc {
    pub span: Span,
    pub score: Spanned<String>,
    pub bands: Vec<BandDoc>,
}

/// One grade band: the grade a lead gets from `min` points up.
#[derive(Debug, Clone)]
pub(crate) struct BandDoc {
    pub grade: Spanned<String>,
    pub min: Spanned<i64>,
}

/// `current_stage: { field: lead_status, map: { Open: lead, ... } }`.
#[derive(Debug, Clone)]
pub(crate) struct CurrentStageDoc {
    pub field: Spanned<String>,
    /// CRM value -> stage id, in written order.
    pub map: Vec<(Spanned<String>, Spanned<String>)>,
}

/// `amount:`, how `leadscore convert` estimates an opportunity's amount.
#[derive(Debug, Clone)]
pub(crate) enum AmountDoc {
    /// `{ field: NAME }`: the lead's value of a field.
    Field(Spanned<String>),
    /// `{ expr: "..." }`: a Rhai expression over `lead`.
    Expr(ExprDoc),
}

/// One rule.
#[derive(Debug)]
pub(crate) struct RuleDoc {
    pub id: Spanned<String>,
    pub description: Option<String>,
    pub when: Option<ConditionDoc>,
    pub points: i64,
    pub signals: Vec<Spanned<String>>,
    pub reason: Option<Spanned<String>>,
    pub disqualify: Option<Spanned<String>>,
    /// `score:`, the dimension the rule's points count in.
    pub score: Option<Spanned<String>>,
    /// `decay:`, how the rule's points fade with the age of a date.
    pub decay: Option<DecayDoc>,
}

/// A condition, before its fields are resolved and its regexes built.
#[derive(Debug, Clone)]
pub(crate) enum ConditionDoc {
    Compare {
        field: Spanned<String>,
        op: Spanned<Op>,
        operand: Node,
    },
    All(Vec<ConditionDoc>),
    Any(Vec<ConditionDoc>),
    Not(Box<ConditionDoc>),
    Expr(ExprDoc),
}

/// A Rhai expression written in YAML, with how to map its positions back to the file.
#[derive(Debug, Clone)]
pub(crate) struct ExprDoc {
    pub source: String,
    pub span: Span,
    /// Characters between the scalar's start and the expression's first character
    /// (1 for a quoted scalar).
    pub col_offset: u32,
}

/// One stage of the stage policy.
#[derive(Debug)]
pub(crate) struct StageDoc {
    pub id: Spanned<String>,
    pub description: Option<String>,
    pub disqualified: bool,
    pub min_score: Option<Spanned<i64>>,
    pub requires: Vec<Spanned<String>>,
    pub when: Option<ConditionDoc>,
    /// `min_scores: { fit: 40 }`, in written order.
    pub min_scores: Vec<(Spanned<String>, Spanned<i64>)>,
    /// `grades: [A, B]`.
    pub grades: Option<Spanned<Vec<Spanned<String>>>>,
}

/// Comparison operators of `{field: NAME, OP: VALUE}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Gt,
    Gte,
    Lt,
    Lte,
    Between,
    Matches,
    Contains,
    StartsWith,
    EndsWith,
    Exists,
    Empty,
    WithinDays,
    OlderThanDays,
}

impl Op {
    pub const ALL: [(&'static str, Op); 17] = [
        ("eq", Op::Eq),
        ("ne", Op::Ne),
        ("in", Op::In),
        ("not_in", Op::NotIn),
        ("gt", Op::Gt),
        ("gte", Op::Gte),
        ("lt", Op::Lt),
        ("lte", Op::Lte),
        ("between", Op::Between),
        ("matches", Op::Matches),
        ("contains", Op::Contains),
        ("starts_with", Op::StartsWith),
        ("ends_with", Op::EndsWith),
        ("exists", Op::Exists),
        ("empty", Op::Empty),
        ("within_days", Op::WithinDays),
        ("older_than_days", Op::OlderThanDays),
    ];

    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.iter().find(|(n, _)| *n == name).map(|(_, op)| *op)
    }

    pub fn name(self) -> &'static str {
        Op::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("?", |(n, _)| n)
    }
}

pub(crate) const FILE_KEYS: [&str; 4] = ["fields", "settings", "rules", "stages"];
pub(crate) const FIELD_KEYS: [&str; 3] = ["type", "aliases", "description"];
pub(crate) const SETTINGS_KEYS: [&str; 9] = [
    "score",
    "id_field",
    "limits",
    "amount",
    "version",
    "scores",
    "grade",
    "current_stage",
    "event_time",
];
pub(crate) const DIMENSION_KEYS: [&str; 3] = ["min", "max", "decay"];
pub(crate) const DECAY_KEYS: [&str; 2] = ["field", "half_life_days"];
pub(crate) const GRADE_KEYS: [&str; 2] = ["score", "bands"];
pub(crate) const BAND_KEYS: [&str; 2] = ["grade", "min"];
pub(crate) const CURRENT_STAGE_KEYS: [&str; 2] = ["field", "map"];
pub(crate) const EVENT_TIME_KEYS: [&str; 1] = ["field"];
pub(crate) const AMOUNT_KEYS: [&str; 2] = ["field", "expr"];
pub(crate) const SCORE_KEYS: [&str; 2] = ["min", "max"];
/// The most `settings.limits.max_expr_depth` may be: parsing and running an expression
/// recurses once per level, and worker threads have ordinary stacks.
pub(crate) const MAX_EXPR_DEPTH: i64 = 256;
pub(crate) const LIMIT_KEYS: [&str; 6] = [
    "max_operations",
    "max_call_depth",
    "max_string_size",
    "max_array_size",
    "max_map_size",
    "max_expr_depth",
];
pub(crate) const RULE_KEYS: [&str; 9] = [
    "id",
    "description",
    "when",
    "points",
    "signals",
    "reason",
    "disqualify",
    "score",
    "decay",
];
pub(crate) const STAGE_KEYS: [&str; 8] = [
    "id",
    "description",
    "disqualified",
    "min_score",
    "requires",
    "when",
    "min_scores",
    "grades",
];
pub(crate) const COMBINATORS: [&str; 4] = ["all", "any", "not", "expr"];

/// Conditions nested deeper than this are refused: nobody writes them by hand, and
/// evaluating them recursively must not overflow the stack.
pub(crate) const MAX_CONDITION_DEPTH: usize = 64;

/// Decodes node trees into docs, collecting every problem.
pub(crate) struct Decoder<'p> {
    path: &'p Path,
    pub problems: Vec<Diagnostic>,
}

impl<'p> Decoder<'p> {
    pub fn new(path: &'p Path) -> Self {
        Decoder {
            path,
            problems: Vec::new(),
        }
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.problems
            .push(Diagnostic::error(self.path, span, message));
    }

    fn error_with_help(&mut self, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.problems
            .push(Diagnostic::error(self.path, span, message).with_help(help));
    }

    /// Decodes a whole rule file.
    pub fn file(&mut self, root: &Node) -> RuleFileDoc {
        let mut doc = RuleFileDoc::default();
        let Some(entries) = self.mapping(root, "a rule file") else {
            return doc;
        };
        for (key, value) in self.known_keys(entries, &FILE_KEYS, "in a rule file") {
            match key {
                "fields" => doc.fields = self.fields(value),
                "settings" => doc.settings = self.settings(value),
                "rules" => doc.rules = self.rules(value),
                "stages" => {
                    let stages = self.stages(value);
                    doc.stages = Some(Spanned::new(stages, value.span));
                }
                _ => {}
            }
        }
        doc
    }

    fn fields(&mut self, node: &Node) -> Vec<FieldDoc> {
        let Some(entries) = self.mapping(node, "`fields` (field name: { type, aliases })") else {
            return Vec::new();
        };
        let mut fields = Vec::new();
        for (key, spec) in entries {
            let Some(name) = self.text(key, "a field name") else {
                continue;
            };
            let mut field = FieldDoc {
                name,
                ty: None,
                aliases: Vec::new(),
            };
            if let NodeKind::Str(ty) = &spec.kind {
                // Shorthand: `budget: number`.
                field.ty = self.field_type(ty, spec.span);
            } else if let Some(props) = self.mapping(spec, "a field declaration") {
                for (k, v) in self.known_keys(props, &FIELD_KEYS, "in a field declaration") {
                    match k {
                        "type" => {
                            if let Some(ty) = self.text(v, "a type name") {
                                field.ty = self.field_type(&ty.value, ty.span);
                            }
                        }
                        "aliases" => field.aliases = self.text_list(v, "a list of column names"),
                        _ => {}
                    }
                }
            }
            fields.push(field);
        }
        fields
    }

    fn field_type(&mut self, name: &str, span: Span) -> Option<FieldType> {
        let ty = FieldType::from_name(name);
        if ty.is_none() {
            let help = match did_you_mean(name, FieldType::NAMES) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("use one of: {}", FieldType::NAMES.join(", ")),
            };
            self.error_with_help(span, format!("unknown field type `{name}`"), help);
        }
        ty
    }

    fn settings(&mut self, node: &Node) -> Option<SettingsDoc> {
        let entries = self.mapping(node, "`settings`")?;
        let mut settings = SettingsDoc {
            span: node.span,
            ..SettingsDoc::default()
        };
        for (key, value) in self.known_keys(entries, &SETTINGS_KEYS, "in `settings`") {
            match key {
                "score" => {
                    let Some(range) = self.mapping(value, "`score: { min, max }`") else {
                        continue;
                    };
                    for (k, v) in self.known_keys(range, &SCORE_KEYS, "in `settings.score`") {
                        let n = self.integer(v, "a whole number");
                        match k {
                            "min" => settings.score_min = n,
                            _ => settings.score_max = n,
                        }
                    }
                }
                "id_field" => settings.id_field = self.text(value, "a field name"),
                "version" => {
                    settings.version =
                        self.text(value, "a version in quotes (version: \"2026-03\")")
                }
                "limits" => {
                    let Some(limits) = self.mapping(value, "`limits`") else {
                        continue;
                    };
                    for (k, v) in self.known_keys(limits, &LIMIT_KEYS, "in `settings.limits`") {
                        match self.integer(v, "a whole number") {
                            Some(n) if n.value < 1 => {
                                self.error(n.span, format!("`{k}` must be at least 1"));
                            }
                            Some(n) if k == "max_expr_depth" && n.value > MAX_EXPR_DEPTH => {
                                self.error(
                                    n.span,
                                    format!(
                                        "`max_expr_depth` can be at most {MAX_EXPR_DEPTH} \
                                         (deeper expressions could overflow the stack)"
                                    ),
                                );
                            }
                            Some(n) => settings.limits.push((k, n)),
                            None => {}
                        }
                    }
                }
                "amount" => settings.amount = self.amount(value),
                "scores" => settings.scores = self.dimensions(value),
                "grade" => settings.grade = self.grade(value),
                "current_stage" => settings.current_stage = self.current_stage(value),
                "event_time" => settings.event_time = self.event_time(value),
                _ => {}
            }
        }
        Some(settings)
    }

    fn amount(&mut self, node: &Node) -> Option<AmountDoc> {
        let entries = self.mapping(
            node,
            "`amount: { field: NAME }` or `amount: { expr: \"...\" }`",
        )?;
        let keys = self.known_keys(entries, &AMOUNT_KEYS, "in `settings.amount`");
        if keys.len() > 1 || entries.is_empty() {
            self.error_with_help(
                node.span,
                "`amount` takes one of `field` or `expr`",
                "e.g. `amount: { field: budget }` or `amount: { expr: \"lead.seats * 1200\" }`",
            );
            return None;
        }
        let (key, value) = keys.first()?;
        if *key == "field" {
            return self.text(value, "a field name").map(AmountDoc::Field);
        }
        self.text(value, "a Rhai expression")
            .map(|text| AmountDoc::Expr(expr_doc(text)))
    }

    fn dimensions(&mut self, node: &Node) -> Vec<DimensionDoc> {
        let Some(entries) = self.mapping(node, "`scores` (dimension name: { min, max, decay })")
        else {
            return Vec::new();
        };
        let mut dimensions = Vec::new();
        for (key, spec) in entries {
            let Some(name) = self.text(key, "a dimension name") else {
                continue;
            };
            let mut dimension = DimensionDoc {
                name,
                min: None,
                max: None,
                decay: None,
            };
            if !matches!(spec.kind, NodeKind::Null)
                && let Some(props) = self.mapping(spec, "`{ min, max, decay }`")
            {
                let context = format!("in score dimension `{}`", dimension.name.value);
                for (k, v) in self.known_keys(props, &DIMENSION_KEYS, &context) {
                    match k {
                        "min" => dimension.min = self.integer(v, "a whole number"),
                        "max" => dimension.max = self.integer(v, "a whole number"),
                        _ => dimension.decay = self.decay(v),
                    }
                }
            }
            dimensions.push(dimension);
        }
        dimensions
    }

    fn decay(&mut self, node: &Node) -> Option<DecayDoc> {
        let entries = self.mapping(node, "`decay: { field: NAME, half_life_days: N }`")?;
        let mut field = None;
        let mut half_life = None;
        for (k, v) in self.known_keys(entries, &DECAY_KEYS, "in `decay`") {
            match k {
                "field" => field = self.text(v, "a date field name"),
                _ => half_life = self.number(v, "a number of days"),
            }
        }
        let help = "e.g. `decay: { field: last_activity_at, half_life_days: 30 }`";
        let (Some(field), Some(half_life_days)) = (field, half_life) else {
            self.error_with_help(
                node.span,
                "`decay` needs a `field` and a `half_life_days`",
                help,
            );
            return None;
        };
        if !(half_life_days.value > 0.0 && half_life_days.value.is_finite()) {
            self.error_with_help(
                half_life_days.span,
                "`half_life_days` must be more than 0",
                help,
            );
            return None;
        }
        Some(DecayDoc {
            field,
            half_life_days,
        })
    }

    fn grade(&mut self, node: &Node) -> Option<GradeDoc> {
        let entries = self.mapping(node, "`grade: { score: DIMENSION, bands: [...] }`")?;
        let mut score = None;
        let mut bands = Vec::new();
        for (k, v) in self.known_keys(entries, &GRADE_KEYS, "in `grade`") {
            match k {
                "score" => score = self.text(v, "a score dimension name"),
                _ => {
                    let Some(items) = self.sequence(v, "a list of `{ grade, min }` bands") else {
                        continue;
                    };
                    bands = items.iter().filter_map(|item| self.band(item)).collect();
                }
            }
        }
        let Some(score) = score else {
            self.error_with_help(
                node.span,
                "`grade` needs the `score` dimension it grades",
                "e.g. `grade: { score: fit, bands: [ { grade: A, min: 80 }, { grade: B, min: 60 } ] }`",
            );
            return None;
        };
        Some(GradeDoc {
            span: node.span,
            score,
            bands,
        })
    }

    fn band(&mut self, node: &Node) -> Option<BandDoc> {
        let entries = self.mapping(node, "a band `{ grade: A, min: 80 }`")?;
        let mut grade = None;
        let mut min = None;
        for (k, v) in self.known_keys(entries, &BAND_KEYS, "in a grade band") {
            match k {
                "grade" => grade = self.text(v, "a grade name"),
                _ => min = self.integer(v, "a whole number"),
            }
        }
        match (grade, min) {
            (Some(grade), Some(min)) => Some(BandDoc { grade, min }),
            _ => {
                self.error_with_help(
                    node.span,
                    "a grade band needs a `grade` and a `min`",
                    "e.g. `{ grade: A, min: 80 }`",
                );
                None
            }
        }
    }

    fn current_stage(&mut self, node: &Node) -> Option<CurrentStageDoc> {
        let entries = self.mapping(node, "`current_stage: { field: NAME, map: {...} }`")?;
        let mut field = None;
        let mut map = Vec::new();
        for (k, v) in self.known_keys(entries, &CURRENT_STAGE_KEYS, "in `current_stage`") {
            match k {
                "field" => field = self.text(v, "a field name"),
                _ => {
                    let Some(pairs) = self.mapping(v, "`map: { CRM value: stage id }`") else {
                        continue;
                    };
                    for (value, stage) in pairs {
                        let crm = match &value.kind {
                            NodeKind::Int(n) => Some(Spanned::new(n.to_string(), value.span)),
                            NodeKind::Bool(b) => Some(Spanned::new(b.to_string(), value.span)),
                            _ => self.text(value, "a CRM value"),
                        };
                        if let (Some(crm), Some(stage)) = (crm, self.text(stage, "a stage id")) {
                            map.push((crm, stage));
                        }
                    }
                }
            }
        }
        let Some(field) = field else {
            self.error_with_help(
                node.span,
                "`current_stage` needs the `field` that holds the CRM's stage",
                "e.g. `current_stage: { field: lead_status, map: { Open: lead, Working: prospect } }`",
            );
            return None;
        };
        Some(CurrentStageDoc { field, map })
    }

    fn event_time(&mut self, node: &Node) -> Option<Spanned<String>> {
        let entries = self.mapping(node, "`event_time: { field: NAME }`")?;
        let keys = self.known_keys(entries, &EVENT_TIME_KEYS, "in `settings.event_time`");
        let Some((_, value)) = keys.first() else {
            self.error_with_help(
                node.span,
                "`event_time` needs a `field`",
                "e.g. `event_time: { field: updated_at }`",
            );
            return None;
        };
        self.text(value, "a field name")
    }

    fn rules(&mut self, node: &Node) -> Vec<RuleDoc> {
        let Some(items) = self.sequence(node, "`rules` (a list of rules)") else {
            return Vec::new();
        };
        items.iter().filter_map(|item| self.rule(item)).collect()
    }

    fn rule(&mut self, node: &Node) -> Option<RuleDoc> {
        let entries = self.mapping(node, "a rule")?;
        let mut id = None;
        let mut rule = RuleDoc {
            id: Spanned::new(String::new(), node.span),
            description: None,
            when: None,
            points: 0,
            signals: Vec::new(),
            reason: None,
            disqualify: None,
            score: None,
            decay: None,
        };
        for (key, value) in self.known_keys(entries, &RULE_KEYS, "in a rule") {
            match key {
                "id" => id = self.text(value, "a rule id"),
                "description" => rule.description = self.text(value, "text").map(|s| s.value),
                "when" => rule.when = self.condition(value, 0),
                "points" => {
                    rule.points = self
                        .integer(value, "a whole number of points")
                        .map_or(0, |n| n.value)
                }
                "signals" => rule.signals = self.text_list(value, "a list of signal names"),
                "reason" => rule.reason = self.text(value, "text"),
                "disqualify" => rule.disqualify = self.text(value, "the reason for disqualifying"),
                "score" => rule.score = self.text(value, "a score dimension name"),
                "decay" => rule.decay = self.decay(value),
                _ => {}
            }
        }
        let Some(id) = id else {
            self.error_with_help(
                node.span,
                "rule has no `id`",
                "give every rule a unique `id: some_name`",
            );
            return None;
        };
        if rule.when.is_none() && !has_key(entries, "when") {
            self.error_with_help(
                id.span,
                format!("rule `{}` has no `when` condition", id.value),
                "add `when: { field: NAME, OP: VALUE }`, or `when: { expr: \"true\" }` for a rule that always applies",
            );
        }
        rule.id = id;
        Some(rule)
    }

    /// Decodes a condition; `None` after reporting when it is malformed.
    pub fn condition(&mut self, node: &Node, depth: usize) -> Option<ConditionDoc> {
        if depth > MAX_CONDITION_DEPTH {
            self.error(
                node.span,
                format!("conditions nested deeper than {MAX_CONDITION_DEPTH} levels"),
            );
            return None;
        }
        let entries = self.mapping(
            node,
            "a condition ({ field: NAME, OP: VALUE }, all, any, not or expr)",
        )?;
        let (first_key, first_value) = entries.first()?;
        let first = first_key.as_str().unwrap_or("");
        if entries.len() == 1 && COMBINATORS.contains(&first) {
            return self.combinator(first, first_value, depth);
        }
        let Some((_, field_node)) = entries.iter().find(|(k, _)| k.as_str() == Some("field"))
        else {
            let key = entries
                .iter()
                .find(|(k, _)| k.as_str() != Some("field"))
                .map(|(k, _)| k);
            match key.and_then(Node::as_str) {
                Some(name) if COMBINATORS.contains(&name) => self.error_with_help(
                    node.span,
                    format!("`{name}` must be alone in its condition"),
                    format!("wrap the other keys: `all: [ {{ {name}: ... }}, {{ ... }} ]`"),
                ),
                Some(name) => {
                    let help = match did_you_mean(name, COMBINATORS.into_iter().chain(["field"])) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => "a condition is `{ field: NAME, OP: VALUE }`, or all/any/not/expr"
                            .to_string(),
                    };
                    self.error_with_help(
                        key.map_or(node.span, |k| k.span),
                        format!("unknown condition `{name}`"),
                        help,
                    );
                }
                None => self.error(node.span, "a condition needs a `field` and an operator"),
            }
            return None;
        };
        let field = self.text(field_node, "a field name")?;
        let ops: Vec<&(Node, Node)> = entries
            .iter()
            .filter(|(k, _)| k.as_str() != Some("field"))
            .collect();
        let mut found = None;
        for (key, value) in &ops {
            let name = key.as_str().unwrap_or("");
            match Op::from_name(name) {
                Some(op) if found.is_none() => {
                    found = Some((Spanned::new(op, key.span), value.clone()))
                }
                Some(_) => self.error_with_help(
                    key.span,
                    format!("a condition takes one operator; `{name}` is a second one"),
                    "combine several with `all: [...]`, or use `between: [lo, hi]` for a range",
                ),
                None => {
                    let names = Op::ALL.iter().map(|(n, _)| *n);
                    let help = match did_you_mean(name, names) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!(
                            "operators are: {}",
                            Op::ALL
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    self.error_with_help(key.span, format!("unknown operator `{name}`"), help);
                }
            }
        }
        if ops.is_empty() {
            self.error_with_help(
                field.span,
                format!("condition on `{}` has no operator", field.value),
                "add one, e.g. `gte: 10000` or `exists: true`",
            );
        }
        let (op, operand) = found?;
        Some(ConditionDoc::Compare { field, op, operand })
    }

    fn combinator(&mut self, name: &str, value: &Node, depth: usize) -> Option<ConditionDoc> {
        match name {
            "all" | "any" => {
                let items = self.sequence(value, "a list of conditions")?;
                if items.is_empty() {
                    self.error(value.span, format!("`{name}` needs at least one condition"));
                    return None;
                }
                let parts: Vec<_> = items.iter().map(|c| self.condition(c, depth + 1)).collect();
                let parts: Option<Vec<_>> = parts.into_iter().collect();
                let parts = parts?;
                Some(if name == "all" {
                    ConditionDoc::All(parts)
                } else {
                    ConditionDoc::Any(parts)
                })
            }
            "not" => self
                .condition(value, depth + 1)
                .map(|c| ConditionDoc::Not(Box::new(c))),
            _ => {
                let text = self.text(value, "a Rhai expression")?;
                Some(ConditionDoc::Expr(expr_doc(text)))
            }
        }
    }

    fn stages(&mut self, node: &Node) -> Vec<StageDoc> {
        let Some(items) = self.sequence(node, "`stages` (a list of stages)") else {
            return Vec::new();
        };
        items.iter().filter_map(|item| self.stage(item)).collect()
    }

    fn stage(&mut self, node: &Node) -> Option<StageDoc> {
        let entries = self.mapping(node, "a stage")?;
        let mut id = None;
        let mut stage = StageDoc {
            id: Spanned::new(String::new(), node.span),
            description: None,
            disqualified: false,
            min_score: None,
            requires: Vec::new(),
            when: None,
            min_scores: Vec::new(),
            grades: None,
        };
        for (key, value) in self.known_keys(entries, &STAGE_KEYS, "in a stage") {
            match key {
                "id" => id = self.text(value, "a stage id"),
                "description" => stage.description = self.text(value, "text").map(|s| s.value),
                "disqualified" => stage.disqualified = self.boolean(value).unwrap_or(false),
                "min_score" => stage.min_score = self.integer(value, "a whole number"),
                "requires" => stage.requires = self.text_list(value, "a list of signal names"),
                "when" => stage.when = self.condition(value, 0),
                "min_scores" => stage.min_scores = self.min_scores(value),
                "grades" => {
                    let grades = self.text_list(value, "a list of grades");
                    stage.grades = Some(Spanned::new(grades, value.span));
                }
                _ => {}
            }
        }
        let Some(id) = id else {
            self.error_with_help(
                node.span,
                "stage has no `id`",
                "give every stage an `id`, e.g. `id: prospect`",
            );
            return None;
        };
        stage.id = id;
        Some(stage)
    }

    fn min_scores(&mut self, node: &Node) -> Vec<(Spanned<String>, Spanned<i64>)> {
        let Some(entries) = self.mapping(node, "`min_scores: { DIMENSION: points }`") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            if let (Some(name), Some(min)) = (
                self.text(key, "a score dimension name"),
                self.integer(value, "a whole number"),
            ) {
                out.push((name, min));
            }
        }
        out
    }

    // ---- primitive decoders ----

    fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match &node.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => {
                self.error(
                    node.span,
                    format!("expected {what}, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn sequence<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.kind {
            NodeKind::Seq(items) => Some(items),
            _ => {
                self.error(
                    node.span,
                    format!("expected {what}, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    /// The entries whose keys are known; unknown keys are reported with a suggestion.
    fn known_keys<'n>(
        &mut self,
        entries: &'n [(Node, Node)],
        known: &[&'static str],
        context: &str,
    ) -> Vec<(&'static str, &'n Node)> {
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(name) = key.as_str() else {
                self.error(
                    key.span,
                    format!("expected a key name {context}, found {}", key.kind_name()),
                );
                continue;
            };
            match known.iter().find(|k| **k == name) {
                Some(k) => out.push((*k, value)),
                None => {
                    let help = match did_you_mean(name, known.iter().copied()) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!("known keys: {}", known.join(", ")),
                    };
                    self.error_with_help(key.span, format!("unknown key `{name}` {context}"), help);
                }
            }
        }
        out
    }

    fn text(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match &node.kind {
            NodeKind::Str(s) if !s.trim().is_empty() => Some(Spanned::new(s.clone(), node.span)),
            NodeKind::Str(_) => {
                self.error(node.span, format!("expected {what}, found blank text"));
                None
            }
            _ => {
                self.error(
                    node.span,
                    format!("expected {what}, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    /// A list of names; a single name is taken as a list of one.
    fn text_list(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        match &node.kind {
            NodeKind::Str(_) => self.text(node, what).into_iter().collect(),
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|item| self.text(item, "a name"))
                .collect(),
            _ => {
                self.error(
                    node.span,
                    format!("expected {what}, found {}", node.kind_name()),
                );
                Vec::new()
            }
        }
    }

    fn integer(&mut self, node: &Node, what: &str) -> Option<Spanned<i64>> {
        match &node.kind {
            NodeKind::Int(n) => Some(Spanned::new(*n, node.span)),
            _ => {
                self.error(
                    node.span,
                    format!("expected {what}, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn number(&mut self, node: &Node, what: &str) -> Option<Spanned<f64>> {
        match &node.kind {
            NodeKind::Int(n) => Some(Spanned::new(*n as f64, node.span)),
            NodeKind::Float(x) => Some(Spanned::new(*x, node.span)),
            _ => {
                self.error(
                    node.span,
                    format!("expected {what}, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node) -> Option<bool> {
        match &node.kind {
            NodeKind::Bool(b) => Some(*b),
            _ => {
                self.error(
                    node.span,
                    format!("expected true or false, found {}", node.kind_name()),
                );
                None
            }
        }
    }
}

/// An expression written as a YAML scalar, quoted or not.
fn expr_doc(text: Spanned<String>) -> ExprDoc {
    let quoted = text.span.len as usize == text.value.chars().count() + 2;
    ExprDoc {
        source: text.value,
        span: text.span,
        col_offset: u32::from(quoted),
    }
}

fn has_key(entries: &[(Node, Node)], name: &str) -> bool {
    entries.iter().any(|(k, _)| k.as_str() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::yaml;

    fn decode(text: &str) -> (RuleFileDoc, Vec<Diagnostic>) {
        let (node, _) = yaml::parse(text).unwrap();
        let mut decoder = Decoder::new(Path::new("r.yaml"));
        let doc = decoder.file(&node.unwrap());
        (doc, decoder.problems)
    }

    fn problems(text: &str) -> Vec<(u32, u32, u32, String)> {
        decode(text)
            .1
            .into_iter()
            .map(|d| (d.span.line, d.span.col, d.span.len, d.message))
            .collect()
    }

    #[test]
    fn decodes_the_documented_example() {
        let (doc, problems) = decode(
            "fields:\n  budget: { type: number, aliases: [Budget, Budget__c] }\n\
             settings:\n  score: { min: 0, max: 100 }\n  id_field: id\n\
             rules:\n  - id: budget_confirmed\n    when: { field: budget, gte: 10000 }\n    points: 20\n    signals: [budget]\n    reason: \"budget of {budget}\"\n\
             stages:\n  - id: lead\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(doc.fields[0].aliases.len(), 2);
        assert_eq!(doc.rules[0].points, 20);
        assert_eq!(doc.stages.unwrap().value[0].id.value, "lead");
    }

    #[test]
    fn unknown_keys_and_operators_are_pinned_with_suggestions() {
        let (_, diags) =
            decode("rules:\n  - id: a\n    pionts: 3\n    when: { field: x, gtee: 1 }\n");
        assert_eq!(diags.len(), 2);
        assert_eq!(
            (diags[0].span, diags[0].message.as_str()),
            (Span::new(3, 5, 6), "unknown key `pionts` in a rule")
        );
        assert_eq!(diags[0].help.as_deref(), Some("did you mean `points`?"));
        assert_eq!(
            (diags[1].span, diags[1].message.as_str()),
            (Span::new(4, 23, 4), "unknown operator `gtee`")
        );
        assert_eq!(diags[1].help.as_deref(), Some("did you mean `gte`?"));
    }

    #[test]
    fn every_problem_in_a_file_is_reported() {
        let found = problems(
            "rules:\n  - id: a\n    when: { field: x, eq: 1, ne: 2 }\n  - when: { field: y, exists: true }\n  - id: c\n    points: lots\n    when: { all: [] }\n",
        );
        assert_eq!(
            found,
            vec![
                (
                    3,
                    30,
                    2,
                    "a condition takes one operator; `ne` is a second one".to_string()
                ),
                (4, 5, 4, "rule has no `id`".to_string()),
                (
                    6,
                    13,
                    4,
                    "expected a whole number of points, found text".to_string()
                ),
                (7, 18, 1, "`all` needs at least one condition".to_string()),
            ]
        );
    }

    #[test]
    fn a_rule_without_when_is_an_error() {
        let found = problems("rules:\n  - id: a\n    points: 1\n");
        assert_eq!(
            found,
            vec![(2, 9, 1, "rule `a` has no `when` condition".to_string())]
        );
    }

    #[test]
    fn quoted_expressions_know_their_offset() {
        let (doc, _) = decode("rules:\n  - id: a\n    when: { expr: \"lead.x > 1\" }\n");
        let Some(ConditionDoc::Expr(expr)) = &doc.rules[0].when else {
            panic!()
        };
        assert_eq!((expr.span.col, expr.col_offset), (19, 1));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut cond = "{ field: x, exists: true }".to_string();
        for _ in 0..70 {
            cond = format!("{{ not: {cond} }}");
        }
        let found = problems(&format!("rules:\n  - id: a\n    when: {cond}\n"));
        assert!(
            found.iter().any(|p| p.3.contains("nested deeper")),
            "{found:?}"
        );
    }
}

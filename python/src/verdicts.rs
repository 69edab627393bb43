//! Arrow out: verdicts as columns. Every verdict column is built here, from the
//! library's [`Verdict`] struct, in one place: a new verdict field is one builder, one
//! `push` line and one `finish` line.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, ListBuilder, StringBuilder, StructBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema};
use leadscore::{Rules, Value, Verdict};

/// Builders for the verdict columns, one row per pushed verdict. The columns the rules
/// opt into (`scores`, `grade`, `transition`) are there only when they declare them, as
/// the keys are in the verdict JSON.
pub struct VerdictColumns {
    id: StringBuilder,
    score: Int64Builder,
    /// One Int64 field per score dimension, in declared order.
    scores: Option<(Vec<String>, StructBuilder)>,
    grade: Option<StringBuilder>,
    stage: StringBuilder,
    /// `{from, to, direction}`, null when the stage did not change.
    transition: Option<StructBuilder>,
    signals: ListBuilder<StringBuilder>,
    next_stage: StringBuilder,
    missing: ListBuilder<StringBuilder>,
    points_needed: Int64Builder,
    disqualified: StringBuilder,
    matched: ListBuilder<StructBuilder>,
    errors: ListBuilder<StructBuilder>,
}

fn matched_fields() -> Fields {
    Fields::from(vec![
        Field::new("rule", DataType::Utf8, false),
        Field::new("points", DataType::Int64, false),
        Field::new("reason", DataType::Utf8, true),
    ])
}

fn transition_fields() -> Fields {
    Fields::from(vec![
        Field::new("from", DataType::Utf8, true),
        Field::new("to", DataType::Utf8, false),
        Field::new("direction", DataType::Utf8, false),
    ])
}

fn error_fields() -> Fields {
    Fields::from(vec![
        Field::new("rule", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, false),
    ])
}

fn strings() -> ListBuilder<StringBuilder> {
    ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new(
        "item",
        DataType::Utf8,
        false,
    )))
}

fn structs(fields: Fields) -> ListBuilder<StructBuilder> {
    ListBuilder::new(StructBuilder::from_fields(fields.clone(), 0)).with_field(Arc::new(
        Field::new("item", DataType::Struct(fields), false),
    ))
}

impl VerdictColumns {
    /// Builders for verdicts of `rules`, room for `rows` rows.
    pub fn new(rules: &Rules, rows: usize) -> VerdictColumns {
        let dimensions: Vec<String> = rules.score_dimensions().map(str::to_string).collect();
        let scores = (!dimensions.is_empty()).then(|| {
            let fields: Vec<Field> = dimensions
                .iter()
                .map(|d| Field::new(d.as_str(), DataType::Int64, false))
                .collect();
            let builder = StructBuilder::from_fields(Fields::from(fields), rows);
            (dimensions, builder)
        });
        VerdictColumns {
            id: StringBuilder::with_capacity(rows, rows * 8),
            score: Int64Builder::with_capacity(rows),
            scores,
            grade: rules
                .grades_leads()
                .then(|| StringBuilder::with_capacity(rows, rows)),
            stage: StringBuilder::with_capacity(rows, rows * 8),
            transition: rules
                .current_stage_field()
                .map(|_| StructBuilder::from_fields(transition_fields(), rows)),
            signals: strings(),
            next_stage: StringBuilder::with_capacity(rows, rows * 8),
            missing: strings(),
            points_needed: Int64Builder::with_capacity(rows),
            disqualified: StringBuilder::new(),
            matched: structs(matched_fields()),
            errors: structs(error_fields()),
        }
    }

    /// Appends one verdict as a row.
    pub fn push(&mut self, v: &Verdict) {
        match &v.id {
            Value::Null => self.id.append_null(),
            Value::Text(s) => self.id.append_value(s),
            other => self.id.append_value(other.to_string()),
        }
        self.score.append_value(v.score);
        if let Some((dimensions, item)) = &mut self.scores {
            for (i, dimension) in dimensions.iter().enumerate() {
                field_int(item, i, v.scores.get(dimension).unwrap_or(0));
            }
            item.append(true);
        }
        if let Some(grade) = &mut self.grade {
            grade.append_option(v.grade.as_ref().and_then(|g| g.as_deref()));
        }
        self.stage.append_value(&v.stage);
        if let Some(item) = &mut self.transition {
            match v.transition.as_ref().and_then(Option::as_ref) {
                Some(t) => {
                    if let Some(b) = item.field_builder::<StringBuilder>(0) {
                        b.append_option(t.from.as_deref());
                    }
                    field_str(item, 1, &t.to);
                    field_str(item, 2, t.direction.as_str());
                    item.append(true);
                }
                None => {
                    // A null row still needs a value in every child.
                    if let Some(b) = item.field_builder::<StringBuilder>(0) {
                        b.append_null();
                    }
                    field_str(item, 1, "");
                    field_str(item, 2, "");
                    item.append(false);
                }
            }
        }
        for s in &v.signals {
            self.signals.values().append_value(s);
        }
        self.signals.append(true);
        match &v.next {
            Some(next) => {
                self.next_stage.append_value(&next.stage);
                for m in &next.missing {
                    self.missing.values().append_value(m);
                }
                self.missing.append(true);
                self.points_needed.append_value(next.points_needed);
            }
            None => {
                self.next_stage.append_null();
                self.missing.append_null();
                self.points_needed.append_null();
            }
        }
        self.disqualified.append_option(v.disqualified.as_deref());
        for m in &v.matched {
            let item = self.matched.values();
            field_str(item, 0, &m.rule);
            field_int(item, 1, m.points);
            if let Some(b) = item.field_builder::<StringBuilder>(2) {
                b.append_option(m.reason.as_deref());
            }
            item.append(true);
        }
        self.matched.append(true);
        for e in &v.errors {
            let item = self.errors.values();
            field_str(item, 0, &e.rule);
            field_str(item, 1, &e.message);
            item.append(true);
        }
        self.errors.append(true);
    }

    /// The pushed verdicts as a record batch (the schema is the same for no rows).
    pub fn finish(mut self) -> RecordBatch {
        let mut columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(self.id.finish())),
            ("score", Arc::new(self.score.finish())),
        ];
        if let Some((_, scores)) = &mut self.scores {
            columns.push(("scores", Arc::new(scores.finish())));
        }
        if let Some(grade) = &mut self.grade {
            columns.push(("grade", Arc::new(grade.finish())));
        }
        columns.push(("stage", Arc::new(self.stage.finish())));
        if let Some(transition) = &mut self.transition {
            columns.push(("transition", Arc::new(transition.finish())));
        }
        columns.extend::<[(&str, ArrayRef); 7]>([
            ("signals", Arc::new(self.signals.finish())),
            ("next_stage", Arc::new(self.next_stage.finish())),
            ("missing", Arc::new(self.missing.finish())),
            ("points_needed", Arc::new(self.points_needed.finish())),
            ("disqualified", Arc::new(self.disqualified.finish())),
            ("matched", Arc::new(self.matched.finish())),
            ("errors", Arc::new(self.errors.finish())),
        ]);
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, array)| {
                let nullable = matches!(
                    *name,
                    "id" | "next_stage"
                        | "missing"
                        | "points_needed"
                        | "disqualified"
                        | "grade"
                        | "transition"
                );
                Field::new(*name, array.data_type().clone(), nullable)
            })
            .collect();
        let arrays = columns.into_iter().map(|(_, a)| a).collect();
        // The arrays are built above with exactly these types and one length each.
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .unwrap_or_else(|e| unreachable!("verdict columns disagree: {e}"))
    }
}

fn field_str(item: &mut StructBuilder, i: usize, value: &str) {
    if let Some(b) = item.field_builder::<StringBuilder>(i) {
        b.append_value(value);
    }
}

fn field_int(item: &mut StructBuilder, i: usize, value: i64) {
    if let Some(b) = item.field_builder::<Int64Builder>(i) {
        b.append_value(value);
    }
}

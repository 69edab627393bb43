//! Compiles what rules say about time and dimensions: `settings.scores` (named score
//! dimensions and their decay), `settings.grade` (bands on one dimension), a rule's
//! `score:` and `decay:`, and a stage's `min_scores:` and `grades:`. Every name is
//! resolved to an index once, at load, and every problem is reported at its place.

use std::path::Path;
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::dimension::{Decay, Dimension, GradeScale};
use crate::lead::{FieldType, Schema};

use super::Loader;
use super::raw::{DecayDoc, GradeDoc, SettingsDoc, Spanned};

impl Loader {
    /// The declared dimensions, in order (problems go to the settings file).
    pub(super) fn dimensions(
        &mut self,
        doc: Option<&SettingsDoc>,
        file: usize,
        schema: &mut Schema,
    ) -> Vec<Dimension> {
        let Some(doc) = doc else {
            return Vec::new();
        };
        let mut problems = Vec::new();
        let mut dimensions: Vec<Dimension> = Vec::new();
        for d in &doc.scores {
            let name = &d.name;
            if !super::valid_id(&name.value) {
                problems.push(
                    Diagnostic::error(
                        Path::new(""),
                        name.span,
                        format!("score dimension `{}` is not a plain name", name.value),
                    )
                    .with_help("use letters, digits, `_` and `-`, starting with a letter"),
                );
            }
            if dimensions.iter().any(|other| *other.name == *name.value) {
                problems.push(Diagnostic::error(
                    Path::new(""),
                    name.span,
                    format!("score dimension `{}` is declared twice", name.value),
                ));
            }
            let (min, max) = (d.min.as_ref(), d.max.as_ref());
            let (lo, hi) = (min.map_or(0, |m| m.value), max.map_or(100, |m| m.value));
            if lo > hi {
                let span = min.or(max).map_or(name.span, |s| s.span);
                problems.push(Diagnostic::error(
                    Path::new(""),
                    span,
                    format!(
                        "score dimension `{}`: min {lo} is above max {hi}",
                        name.value
                    ),
                ));
            }
            let decay = d
                .decay
                .as_ref()
                .and_then(|decay| compile_decay(decay, Path::new(""), schema, &mut problems));
            dimensions.push(Dimension {
                name: Arc::from(name.value.as_str()),
                min: lo,
                max: hi,
                decay,
            });
        }
        self.report(file, problems);
        dimensions
    }

    /// The grade scale, checked against the dimensions (problems go to the settings file).
    pub(super) fn grade_scale(
        &mut self,
        doc: Option<&SettingsDoc>,
        file: usize,
        dimensions: &[Dimension],
    ) -> Option<GradeScale> {
        let grade = doc?.grade.as_ref()?;
        let mut problems = Vec::new();
        let dimension = resolve_dimension(&grade.score, dimensions, Path::new(""), &mut problems);
        check_bands(grade, &mut problems);
        let ok = problems.is_empty();
        self.report(file, problems);
        Some(GradeScale {
            dimension: dimension?,
            bands: grade
                .bands
                .iter()
                .map(|b| (Arc::from(b.grade.value.as_str()), b.min.value))
                .collect(),
        })
        .filter(|_| ok)
    }
}

/// Bands must be listed from the highest minimum down, each grade once.
fn check_bands(grade: &GradeDoc, problems: &mut Vec<Diagnostic>) {
    if grade.bands.is_empty() {
        problems.push(
            Diagnostic::error(Path::new(""), grade.span, "`grade` has no `bands`").with_help(
                "list bands from the top, e.g. `bands: [ { grade: A, min: 80 }, { grade: B, min: 60 } ]`",
            ),
        );
    }
    for (i, band) in grade.bands.iter().enumerate() {
        if let Some(before) = grade.bands[..i]
            .iter()
            .find(|b| b.grade.value == band.grade.value)
        {
            problems.push(Diagnostic::error(
                Path::new(""),
                band.grade.span,
                format!(
                    "grade `{}` is listed twice (first at line {})",
                    band.grade.value, before.grade.span.line
                ),
            ));
        }
        if let Some(above) = i.checked_sub(1).and_then(|j| grade.bands.get(j))
            && band.min.value >= above.min.value
        {
            problems.push(
                Diagnostic::error(
                    Path::new(""),
                    band.min.span,
                    format!(
                        "grade bands are out of order: `{}` (min {}) is listed below `{}` (min {})",
                        band.grade.value, band.min.value, above.grade.value, above.min.value
                    ),
                )
                .with_help("list bands from the highest `min` down; the first band reached wins"),
            );
        }
    }
}

/// Resolves a dimension name written in a rule file to its index.
pub(super) fn resolve_dimension(
    name: &Spanned<String>,
    dimensions: &[Dimension],
    path: &Path,
    problems: &mut Vec<Diagnostic>,
) -> Option<usize> {
    if let Some(index) = dimensions.iter().position(|d| *d.name == *name.value) {
        return Some(index);
    }
    let help = if dimensions.is_empty() {
        format!(
            "declare it first: `settings: {{ scores: {{ {}: {{ min: 0, max: 100 }} }} }}`",
            name.value
        )
    } else {
        match did_you_mean(&name.value, dimensions.iter().map(|d| d.name.as_ref())) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!(
                "declared dimensions: {}",
                dimensions
                    .iter()
                    .map(|d| d.name.as_ref())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    };
    problems.push(
        Diagnostic::error(
            path,
            name.span,
            format!("unknown score dimension `{}`", name.value),
        )
        .with_help(help),
    );
    None
}

/// Compiles `decay: { field, half_life_days }`; the field must hold dates.
pub(super) fn compile_decay(
    doc: &DecayDoc,
    path: &Path,
    schema: &mut Schema,
    problems: &mut Vec<Diagnostic>,
) -> Option<Decay> {
    let slot = schema.slot_for(&doc.field.value);
    let field = schema.field(slot);
    if let Some(ty) = field.ty.filter(|ty| *ty != FieldType::Date) {
        problems.push(
            Diagnostic::error(
                path,
                doc.field.span,
                format!(
                    "decay needs a date, but field `{}` is declared as {}",
                    doc.field.value,
                    ty.name()
                ),
            )
            .with_help("decay by a date field, e.g. `last_activity_at` declared `type: date`"),
        );
        return None;
    }
    Some(Decay {
        slot,
        half_life_days: doc.half_life_days.value,
    })
}

/// A stage's `min_scores:` resolved to dimension indices, with their names.
pub(super) fn stage_min_scores(
    written: &[(Spanned<String>, Spanned<i64>)],
    dimensions: &[Dimension],
    path: &Path,
    problems: &mut Vec<Diagnostic>,
) -> Vec<(usize, i64)> {
    written
        .iter()
        .filter_map(|(name, min)| {
            resolve_dimension(name, dimensions, path, problems).map(|index| (index, min.value))
        })
        .collect()
}

/// A stage's `grades:`, each checked against the grade bands.
pub(super) fn stage_grades(
    written: &Spanned<Vec<Spanned<String>>>,
    scale: Option<&GradeScale>,
    has_grade_setting: bool,
    path: &Path,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Arc<str>> {
    if !has_grade_setting {
        problems.push(
            Diagnostic::error(
                path,
                written.span,
                "this stage requires `grades`, but no `settings.grade` gives leads a grade",
            )
            .with_help("add `grade: { score: fit, bands: [ { grade: A, min: 80 }, ... ] }` under `settings`"),
        );
        return Vec::new();
    }
    let known: Vec<&str> = scale.map_or_else(Vec::new, |s| {
        s.bands.iter().map(|(g, _)| g.as_ref()).collect()
    });
    let mut grades = Vec::new();
    for grade in &written.value {
        // With a broken scale its own errors say enough.
        if scale.is_some() && !known.contains(&grade.value.as_str()) {
            let help = match did_you_mean(&grade.value, known.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("grades are: {}", known.join(", ")),
            };
            problems.push(
                Diagnostic::error(path, grade.span, format!("unknown grade `{}`", grade.value))
                    .with_help(help),
            );
        }
        grades.push(Arc::from(grade.value.as_str()));
    }
    grades
}

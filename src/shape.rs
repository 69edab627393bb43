//! Verdict shapes: under rules whose verdict follows from which rules matched alone,
//! leads that matched the same rules get the same verdict but for their id. Bulk
//! scoring renders the row of each such shape once, and writes the next lead of that
//! shape as the row's start, its id, and the rest of the row as it was.
//!
//! Why: with a light model (twelve YAML rules, no reasons), summing the points,
//! sorting the signals, choosing the stage, saying what is missing and writing it all
//! as JSON cost more than testing the rules; real lead bases fall into a few thousand
//! shapes, most leads into a few hundred (BENCHMARKS.md, issue 14, session 9).
//!
//! A verdict follows from the matched rules when every rule is a YAML condition
//! (a Rhai rule's points, signals and reasons are the script's to choose), none decays
//! (its points depend on a date), no reason or disqualification names a field, no stage
//! has a `when:` condition, and no CRM stage is read. A lead whose rules fail (an
//! `expr:` error) is decided the ordinary way, and so is every lead of other rules.

use rustc_hash::FxHashMap;

use crate::rules::{RuleKind, Rules};

/// Shapes remembered per worker at most; beyond them the memory starts again (a cache
/// that outgrows the processor's caches costs more than it saves).
const MAX_SHAPES: usize = 4096;

/// True when the verdicts of `rules` follow from which of them matched (see the module
/// docs), and the matched set fits the 64 bits of a shape key.
pub(crate) fn verdicts_follow_matches(rules: &Rules) -> bool {
    let fixed = |template: &Option<crate::rules::compile::Template>| {
        template.as_ref().is_none_or(|t| t.is_fixed())
    };
    rules.rules.len() <= 64
        && rules.rules.iter().all(|rule| {
            matches!(rule.kind, RuleKind::Yaml(_))
                && rule.decay.is_none()
                && fixed(&rule.reason)
                && fixed(&rule.disqualify)
        })
        && rules.policy.stages.iter().all(|stage| stage.when.is_none())
        && rules.settings.current_stage.is_none()
}

/// A shape's row as the renderer wrote it, without its start and the id.
#[derive(Debug)]
pub(crate) struct ShapeRow {
    /// Whether the renderer wrote the verdict at all (a filter may leave it out).
    pub kept: bool,
    /// The row after the id.
    pub rest: Box<[u8]>,
}

/// The rows of the shapes one worker has rendered, by shape key (bit `i` set: rule `i`
/// matched).
#[derive(Debug, Default)]
pub(crate) struct ShapeRows {
    rows: FxHashMap<u64, ShapeRow>,
}

impl ShapeRows {
    /// The row of a shape already rendered.
    pub(crate) fn get(&self, key: u64) -> Option<&ShapeRow> {
        self.rows.get(&key)
    }

    /// Remembers a shape's row.
    pub(crate) fn remember(&mut self, key: u64, row: ShapeRow) {
        if self.rows.len() >= MAX_SHAPES {
            self.rows.clear();
        }
        self.rows.insert(key, row);
    }
}

/// The rest of a row after `start` and `id`, when the row (`written`) begins with them:
/// what a lead of the same shape shares with this one. `None` when it does not begin
/// so (a renderer that broke its word), and nothing is remembered.
pub(crate) fn rest_after_id<'w>(written: &'w [u8], start: &[u8], id: &[u8]) -> Option<&'w [u8]> {
    written.strip_prefix(start)?.strip_prefix(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn rules(yaml: &str) -> Rules {
        rules_with(yaml, None)
    }

    fn rules_with(yaml: &str, rhai: Option<&str>) -> Rules {
        let mut sources = vec![(PathBuf::from("rules.yaml"), yaml.to_string())];
        sources.extend(rhai.map(|text| (PathBuf::from("rules.rhai"), text.to_string())));
        match Rules::from_sources(sources) {
            Ok(rules) => rules,
            Err(e) => panic!("{e}"),
        }
    }

    const PLAIN: &str = r#"
rules:
  - id: budget
    when: { field: budget, gte: 10000 }
    points: 30
    signals: [budget]
    reason: a confirmed budget
"#;

    #[test]
    fn fixed_yaml_rules_make_shapes() {
        assert!(verdicts_follow_matches(&rules(PLAIN)));
    }

    #[test]
    fn anything_that_reads_the_lead_beyond_its_conditions_makes_none() {
        let cases = [
            // A reason naming a field.
            PLAIN.replace("a confirmed budget", "a budget of {budget}"),
            // A disqualification naming a field.
            format!(
                "{PLAIN}  - id: student\n    when: {{ field: email, ends_with: .edu }}\n    points: -50\n    disqualify: \"student {{email}}\"\n"
            ),
            // Decay.
            format!("{PLAIN}    decay: {{ field: last_activity_at, half_life_days: 30 }}\n"),
            // A stage with a condition of its own.
            format!(
                "{PLAIN}stages:\n  - {{ id: hot, when: {{ field: views, gte: 3 }} }}\n  - {{ id: cold }}\n"
            ),
            // The CRM's stage, read for the transition.
            format!("settings:\n  current_stage: {{ field: crm_stage }}\n{PLAIN}"),
        ];
        for yaml in cases {
            let compiled = rules(&yaml);
            assert!(!verdicts_follow_matches(&compiled), "{yaml}");
        }
        // A Rhai rule: its points, signals and reasons are the script's.
        let rhai = "fn busy(lead) { if lead.views > 3 { #{ points: 5 } } }";
        assert!(!verdicts_follow_matches(&rules_with(PLAIN, Some(rhai))));
    }

    #[test]
    fn the_rest_of_a_row_is_taken_only_after_its_start_and_id() {
        let row = br#"{"id":"L-1","score":3}"#;
        assert_eq!(
            rest_after_id(row, br#"{"id":"#, br#""L-1""#),
            Some(&br#","score":3}"#[..])
        );
        assert_eq!(rest_after_id(row, br#"{"id":"#, br#""L-2""#), None);
        assert_eq!(rest_after_id(row, b"[", br#""L-1""#), None);
    }
}

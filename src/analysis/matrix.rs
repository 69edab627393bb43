//! Stage-to-stage matrices: leads counted by the stage they came from (rows) and the stage
//! they are in (columns). `diff` fills one with the old and the new rules' stages, `report`
//! with the stage the CRM holds and the one the rules decide; both print it the same way.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::rules::Rules;
use crate::verdict::{Direction, Verdict};

/// Writes a matrix as an aligned text table, with row and column totals; `corner` names
/// the axes (`OLD \ NEW`).
pub(crate) fn render(
    out: &mut String,
    corner: &str,
    rows: &[Arc<str>],
    columns: &[Arc<str>],
    counts: &[Vec<u64>],
) {
    let first = rows
        .iter()
        .map(|s| s.len())
        .max()
        .unwrap_or(0)
        .max(corner.len());
    let widths: Vec<usize> = columns.iter().map(|s| s.len().max(6)).collect();
    let _ = write!(out, "{corner:<first$}");
    for (stage, w) in columns.iter().zip(&widths) {
        let _ = write!(out, "  {stage:>w$}");
    }
    let _ = writeln!(out, "  {:>6}", "TOTAL");
    for (stage, row) in rows.iter().zip(counts) {
        let _ = write!(out, "{stage:<first$}");
        for (n, w) in row.iter().zip(&widths) {
            let _ = write!(out, "  {n:>w$}");
        }
        let _ = writeln!(out, "  {:>6}", row.iter().sum::<u64>());
    }
    let _ = write!(out, "{:<first$}", "TOTAL");
    for (column, w) in widths.iter().enumerate() {
        let total: u64 = counts.iter().filter_map(|r| r.get(column)).sum();
        let _ = write!(out, "  {total:>w$}");
    }
    let _ = writeln!(out, "  {:>6}", counts.iter().flatten().sum::<u64>());
}

/// The label of the row for leads the CRM holds no stage for.
pub const NO_STAGE: &str = "(none)";

/// How the decided stages compare with the ones the CRM holds (`settings.current_stage`):
/// the matrix CRM stage -> decided stage, and how many leads move each way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transitions {
    /// The rows: the CRM's stages, in policy order, then `(none)`.
    pub current_stages: Vec<Arc<str>>,
    /// The columns: the decided stages, in policy order.
    pub decided_stages: Vec<Arc<str>>,
    /// `matrix[row][column]`: leads the CRM holds in `row` that the rules put in `column`.
    pub matrix: Vec<Vec<u64>>,
    /// Leads moving to a stage listed higher (or out of a disqualified one).
    pub up: u64,
    /// Leads moving to a stage listed lower (or into a disqualified one).
    pub down: u64,
    /// Leads the CRM holds no (readable) stage for.
    pub new: u64,
    /// Leads already in the stage the rules decide.
    pub unchanged: u64,
}

impl Transitions {
    /// An empty count for these rules' stages.
    pub(crate) fn new(rules: &Rules) -> Transitions {
        let stages: Vec<Arc<str>> = rules.policy.stages.iter().map(|s| s.id.clone()).collect();
        let mut current_stages = stages.clone();
        current_stages.push(Arc::from(NO_STAGE));
        Transitions {
            matrix: vec![vec![0; stages.len()]; current_stages.len()],
            current_stages,
            decided_stages: stages,
            up: 0,
            down: 0,
            new: 0,
            unchanged: 0,
        }
    }

    /// Counts one verdict (one with a `transition`; others are not counted).
    pub(crate) fn add(&mut self, verdict: &Verdict) {
        let Some(transition) = &verdict.transition else {
            return;
        };
        let position = |stages: &[Arc<str>], id: &str| stages.iter().position(|s| **s == *id);
        let Some(column) = position(&self.decided_stages, &verdict.stage) else {
            return;
        };
        let row = match transition {
            None => {
                self.unchanged += 1;
                column
            }
            Some(t) => {
                match t.direction {
                    Direction::Up => self.up += 1,
                    Direction::Down => self.down += 1,
                    Direction::New => self.new += 1,
                }
                t.from
                    .as_deref()
                    .and_then(|from| position(&self.decided_stages, from))
                    .unwrap_or(self.current_stages.len() - 1)
            }
        };
        self.matrix[row][column] += 1;
    }

    /// The matrix and the moves as text.
    pub(crate) fn render(&self, out: &mut String) {
        render(
            out,
            "CRM \\ DECIDED",
            &self.current_stages,
            &self.decided_stages,
            &self.matrix,
        );
        let _ = writeln!(
            out,
            "up {}, down {}, new {}, unchanged {}",
            self.up, self.down, self.new, self.unchanged
        );
    }
}

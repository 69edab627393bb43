//! How a [`Calibration`] reads: the table for the terminal and the HTML page with the
//! backtest charts (current and proposed points on the same axes).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Calibration, Figures, ReadyTarget};
use crate::analysis::charts::{self, Series, esc};

/// Out-of-fold counts per score, for the charts: score -> (positives, negatives).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Curves {
    pub current: BTreeMap<i64, (u64, u64)>,
    pub proposed: BTreeMap<i64, (u64, u64)>,
}

impl Curves {
    pub fn new(current: &[i64], proposed: &[i64], outcomes: &[bool]) -> Curves {
        let tally = |scores: &[i64]| {
            let mut counts: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
            for (&s, &y) in scores.iter().zip(outcomes) {
                let e = counts.entry(s).or_default();
                if y {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
            counts
        };
        Curves {
            current: tally(current),
            proposed: tally(proposed),
        }
    }
}

fn percent(x: Option<f64>) -> String {
    x.map_or("-".to_string(), |x| format!("{:.1}%", x * 100.0))
}

fn fixed(x: Option<f64>, digits: usize) -> String {
    x.map_or("-".to_string(), |x| format!("{x:.digits$}"))
}

fn lift(x: Option<f64>) -> String {
    x.map_or("-".to_string(), |x| format!("{x:.2}x"))
}

impl Calibration {
    /// The calibration as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The out-of-fold figures as a table: current points, points re-fitted without
    /// each fold, and the logistic-regression ceiling (what `report --folds` adds).
    pub fn cross_validated_table(&self) -> String {
        self.figures_table("re-fitted points")
    }

    fn figures_table(&self, learned: &str) -> String {
        let mut out = String::new();
        let cv = &self.cross_validated;
        let _ = writeln!(
            out,
            "\nOut of fold ({} folds, seed {}): each fold scored by points learned on the other {}.",
            cv.folds,
            cv.seed,
            cv.folds - 1
        );
        let ready = self.ready_stage.as_deref().unwrap_or("ready");
        let qualified = self.qualified_stage.as_deref().unwrap_or("qualified");
        let _ = writeln!(
            out,
            "  {:<22} {:>7} {:>11} {:>10} {:>10} {:>10}",
            "", "AUC", "ready share", "ready lift", "precision", "recall"
        );
        for (name, f) in [
            ("current points", &cv.current),
            (learned, &cv.proposed),
            ("ceiling (logistic)", &cv.ceiling),
        ] {
            let _ = writeln!(out, "  {}", figure_row(name, f));
        }
        let _ = writeln!(
            out,
            "  (ready: `{ready}`; precision and recall of `{qualified}` or better; the ceiling ranks by the unrounded fit)"
        );
        out
    }

    /// The calibration as a table for the terminal: the out-of-fold figures first, then
    /// per rule and per stage.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let ready = self.ready_stage.as_deref().unwrap_or("ready");
        let _ = writeln!(
            out,
            "Calibrated on {} leads with an outcome in `{}` ({} positive, base rate {}); {} scored, {} without an outcome, {} rejected.",
            self.labelled,
            self.outcome,
            self.positives,
            percent(Some(self.base_rate)),
            self.scored,
            self.unlabelled,
            self.rejected
        );
        out.push_str(&self.figures_table("proposed points"));
        let _ = writeln!(
            out,
            "\n  {:<26} {:>8} {:>9} {:>9} {:>5} {:>8} {:>15}  note",
            "rule", "matched", "rate if", "rate if", "now", "proposed", "weight ± se"
        );
        let _ = writeln!(
            out,
            "  {:<26} {:>8} {:>9} {:>9} {:>5} {:>8} {:>15}",
            "", "", "matched", "not", "", "", ""
        );
        for r in &self.rules {
            let weight = match (r.coefficient, r.std_error) {
                (Some(c), Some(se)) => format!("{c:+.2} ± {se:.2}"),
                _ => "-".to_string(),
            };
            let mark = if r.not_distinguishable { "*" } else { "" };
            let _ = writeln!(
                out,
                "  {:<26} {:>8} {:>9} {:>9} {:>5} {:>8} {:>15}  {}",
                r.rule,
                percent(Some(r.matched_share)),
                percent(r.rate_matched),
                percent(r.rate_unmatched),
                r.current_points,
                format!("{}{mark}", r.proposed_points),
                weight,
                r.note.as_deref().unwrap_or("")
            );
        }
        let _ = writeln!(
            out,
            "  (weight: log-odds effect of a match; * within {} standard errors of zero, proposed at 0)",
            super::Z_CUTOFF
        );
        let target = match self.target {
            Some(ReadyTarget::Precision(p)) => {
                format!("min_score for `{ready}` at precision {}", percent(Some(p)))
            }
            Some(ReadyTarget::Share(s)) => {
                format!("min_score for `{ready}` at a share of {}", percent(Some(s)))
            }
            None => {
                "min_score kept as written (give --ready-precision or --ready-share to propose one)"
                    .to_string()
            }
        };
        let _ = writeln!(
            out,
            "\n  {:<26} {:>9} {:>9} {:>11} {:>11}   {target}",
            "stage", "min now", "proposed", "share now", "proposed"
        );
        for s in &self.stages {
            let show = |m: Option<i64>| m.map_or("-".to_string(), |m| m.to_string());
            let _ = writeln!(
                out,
                "  {:<26} {:>9} {:>9} {:>11} {:>11}",
                s.stage,
                show(s.current_min_score),
                show(s.proposed_min_score),
                percent(Some(s.share_current)),
                percent(Some(s.share_proposed))
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "\nnote: {note}");
        }
        out
    }

    /// The calibration as one self-contained HTML page: the out-of-fold figures, the
    /// ROC, gains and calibration charts with current and proposed points on the same
    /// axes (proposed: out of fold), and the per-rule table.
    pub fn to_html(&self, title: &str) -> String {
        let mut body = String::new();
        let cv = &self.cross_validated;
        let _ = write!(
            body,
            "<h1>{}</h1>\n<p class=\"sub\">{} leads with an outcome in `{}`, {} positive (base rate {}). Every figure is out of fold: {} folds, seed {}; the proposed points for each fold were learned without it.</p>\n",
            esc(title),
            self.labelled,
            esc(&self.outcome),
            self.positives,
            percent(Some(self.base_rate)),
            cv.folds,
            cv.seed
        );
        body.push_str("<table><tr><th></th><th>AUC</th><th>ready share</th><th>ready lift</th><th>precision</th><th>recall</th></tr>\n");
        for (name, f) in [
            ("current points", &cv.current),
            ("proposed points", &cv.proposed),
            ("ceiling (logistic regression)", &cv.ceiling),
        ] {
            let _ = writeln!(
                body,
                "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                fixed(f.auc, 3),
                percent(Some(f.ready_share)),
                lift(f.ready_lift),
                percent(f.qualified_precision),
                percent(f.qualified_recall)
            );
        }
        body.push_str("</table>\n");
        let series = [
            Series {
                label: "current points",
                class: "s0",
                counts: &self.curves.current,
            },
            Series {
                label: "proposed points (out of fold)",
                class: "s1",
                counts: &self.curves.proposed,
            },
        ];
        body.push_str("<h2>ROC curve</h2>\n");
        body.push_str(&charts::roc_svg(&series));
        body.push_str("<h2>Cumulative gains</h2>\n");
        body.push_str(&charts::gains_svg(&series));
        body.push_str("<h2>Outcome rate per score band</h2>\n");
        body.push_str(&charts::calibration_svg(&series));
        body.push_str("<h2>Rules</h2>\n<table><tr><th>rule</th><th>matched</th><th>rate if matched</th><th>rate if not</th><th>points now</th><th>proposed</th><th>weight ± se</th></tr>\n");
        for r in &self.rules {
            let weight = match (r.coefficient, r.std_error) {
                (Some(c), Some(se)) => format!("{c:+.2} ± {se:.2}"),
                _ => "-".to_string(),
            };
            let _ = writeln!(
                body,
                "<tr><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td></tr>",
                esc(r.note.as_deref().unwrap_or(&r.at)),
                esc(&r.rule),
                percent(Some(r.matched_share)),
                percent(r.rate_matched),
                percent(r.rate_unmatched),
                r.current_points,
                r.proposed_points,
                if r.not_distinguishable { "*" } else { "" },
                esc(&weight)
            );
        }
        body.push_str(
            "</table>\n<p class=\"sub\">* not distinguishable from zero: proposed at 0.</p>\n",
        );
        for note in &self.notes {
            let _ = writeln!(body, "<p>Note: {}</p>", esc(note));
        }
        charts::page(title, &body, "leadscore calibrate")
    }
}

fn figure_row(name: &str, f: &Figures) -> String {
    format!(
        "{:<22} {:>7} {:>11} {:>10} {:>10} {:>10}",
        name,
        fixed(f.auc, 3),
        percent(Some(f.ready_share)),
        lift(f.ready_lift),
        percent(f.qualified_precision),
        percent(f.qualified_recall)
    )
}

//! The report's HTML page: the funnel against the benchmarks, the score distribution,
//! lift by stage and, with an outcome, the backtest charts (ROC, cumulative gains,
//! outcome rate per score band). The metrics themselves are computed in the parent
//! module; this file only draws them.

use std::fmt::Write as _;

use super::{BENCHMARK_NOTE, OutcomeReport, Report, StageOutcome, fixed, pct2, percent, ratio};
use crate::analysis::charts::{self, CHAR_W, Series, esc, svg_open};

impl Report {
    /// The report as one self-contained HTML page: inline CSS and inline SVG charts (the
    /// funnel against the benchmarks, the score distribution split by outcome, lift by
    /// stage), no scripts, nothing fetched from the network.
    pub fn to_html(&self, title: &str) -> String {
        let mut body = String::new();
        let c = &self.leads;
        let _ = write!(
            body,
            "<h1>{}</h1>\n<p class=\"sub\">{} leads read, {} scored, {} rejected.</p>\n",
            esc(title),
            c.read,
            c.scored,
            c.rejected
        );
        if let Some(o) = &self.outcome {
            let _ = writeln!(
                body,
                "<div class=\"cards\">{}{}{}{}{}</div>",
                card(
                    "base rate",
                    &percent(o.base_rate),
                    &format!("`{}`", o.field)
                ),
                card("ROC AUC", &fixed(o.auc, 3), "of the score"),
                card(
                    "precision",
                    &percent(o.qualified.precision),
                    &format!("{} or better", self.qualified_stage)
                ),
                card(
                    "recall",
                    &percent(o.qualified.recall),
                    &format!("{} or better", self.qualified_stage)
                ),
                card(
                    &format!("lead &rarr; {}", esc(&self.ready_stage)),
                    &percent(Some(self.lead_to_ready)),
                    self.benchmarks.standing
                ),
            );
        }
        body.push_str("<h2>Funnel</h2>\n");
        body.push_str(&self.funnel_svg());
        let _ = writeln!(
            body,
            "<p class=\"sub\">Disqualified, out of the funnel: {} ({}).</p>",
            self.disqualified,
            percent(ratio(self.disqualified, self.leads.scored))
        );
        body.push_str(&self.benchmark_svg());
        let _ = write!(
            body,
            "<p>lead &rarr; {}: <b>{}</b> is {} of the published lead-to-opportunity benchmarks.</p>\n<p class=\"sub\">{}</p>\n",
            esc(&self.ready_stage),
            percent(Some(self.lead_to_ready)),
            esc(&self.benchmarks.describe()),
            BENCHMARK_NOTE
        );
        body.push_str("<h2>Score distribution</h2>\n");
        body.push_str(&self.scores_svg());
        if let Some(o) = &self.outcome {
            body.push_str("<h2>Lift by stage</h2>\n");
            body.push_str(&lift_svg(o));
            body.push_str(&outcome_table(o));
            let series = [Series {
                label: "score",
                class: "s0",
                counts: &self.outcome_counts,
            }];
            body.push_str("<h2>Backtest: ROC curve</h2>\n");
            body.push_str(&charts::roc_svg(&series));
            body.push_str("<h2>Backtest: cumulative gains</h2>\n");
            body.push_str(&charts::gains_svg(&series));
            body.push_str("<h2>Backtest: outcome rate per score band</h2>\n");
            body.push_str(&charts::calibration_svg(&series));
        }
        body.push_str("<h2>Leads per stage</h2>\n<table><tr><th>stage</th><th>leads</th><th>share</th></tr>\n");
        for s in &self.stages {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.stage),
                s.leads,
                percent(Some(s.share))
            );
        }
        body.push_str("</table>\n");
        if let Some(t) = &self.transitions {
            body.push_str(&transitions_table(t));
        }
        body.push_str(
            "<h2>Rules</h2>\n<table><tr><th>rule</th><th>matched</th><th>share</th></tr>\n",
        );
        for r in &self.rules {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.rule),
                r.matched,
                percent(Some(r.share))
            );
        }
        body.push_str("</table>\n<h2>Missing for the next stage</h2>\n<table><tr><th>signal</th><th>leads</th><th>share</th></tr>\n");
        for m in &self.missing {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&m.signal),
                m.leads,
                percent(Some(m.share))
            );
        }
        body.push_str("</table>\n");
        charts::page(title, &body, "leadscore report")
    }

    fn funnel_svg(&self) -> String {
        let total = self.leads.scored.max(1) as f64;
        let mut rows: Vec<(String, u64, f64)> =
            vec![("all leads".to_string(), self.leads.scored, 1.0)];
        rows.extend(
            self.funnel
                .iter()
                .map(|f| (format!("{} or better", f.stage), f.leads, f.rate)),
        );
        let (width, row, top) = (720.0, 46.0, 10.0);
        let height = top * 2.0 + row * rows.len() as f64;
        let mut svg = svg_open(
            "funnel",
            width,
            height,
            "The funnel: leads at or above each stage",
        );
        for (i, (label, leads, rate)) in rows.iter().enumerate() {
            let w = (width - 40.0) * (*leads as f64 / total);
            let w = w.max(3.0);
            let x = (width - w) / 2.0;
            let y = top + row * i as f64;
            // The label sits above its bar, not on it: a narrow bar (a small top stage)
            // cannot hold its label, which would run off the bar.
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}: {} ({})</text>\n<rect class=\"bar f{}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"3\"/>\n",
                width / 2.0,
                y + 9.0,
                esc(label),
                leads,
                percent(Some(*rate)),
                i.min(3),
                y + 19.0,
                row - 24.0,
            );
        }
        svg.push_str("</svg>\n");
        svg
    }

    fn benchmark_svg(&self) -> String {
        let b = &self.benchmarks;
        let rows = [
            (
                format!("this batch: lead → {}", self.ready_stage),
                b.rate,
                true,
            ),
            ("benchmark: average".to_string(), b.average, false),
            ("benchmark: top quarter".to_string(), b.top_quarter, false),
            ("benchmark: top tenth".to_string(), b.top_tenth, false),
        ];
        let max = rows.iter().map(|r| r.1).fold(0.0f64, f64::max).max(0.01) * 1.15;
        let (width, label_w, row) = (720.0, 260.0, 26.0);
        let height = row * rows.len() as f64 + 10.0;
        let mut svg = svg_open(
            "benchmarks",
            width,
            height,
            "The lead to ready rate against the published benchmarks",
        );
        for (i, (label, value, ours)) in rows.iter().enumerate() {
            let y = 5.0 + row * i as f64;
            let w = ((width - label_w - 70.0) * value / max).max(2.0);
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n<rect class=\"bar {}\" x=\"{label_w}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"2\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
                label_w - 8.0,
                y + row / 2.0,
                esc(label),
                if *ours { "ours" } else { "bench" },
                y + 3.0,
                row - 6.0,
                label_w + w + 6.0,
                y + row / 2.0,
                pct2(*value)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }

    fn scores_svg(&self) -> String {
        let bins = &self.scores.bins;
        let with_outcome = self.outcome.is_some();
        let max = bins.iter().map(|b| b.leads).max().unwrap_or(0).max(1) as f64;
        let (width, height, left, bottom, top) = (720.0, 300.0, 50.0, 40.0, 30.0);
        let plot_h = height - bottom - top;
        let slot = (width - left - 10.0) / bins.len().max(1) as f64;
        let mut svg = svg_open(
            "scores",
            width,
            height,
            if with_outcome {
                "Score distribution, split by outcome"
            } else {
                "Score distribution"
            },
        );
        let base = top + plot_h;
        let _ = write!(
            svg,
            "<line class=\"axis\" x1=\"{left}\" y1=\"{base}\" x2=\"{:.1}\" y2=\"{base}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n<text x=\"{:.1}\" y=\"{base}\" text-anchor=\"end\">0</text>\n",
            width - 10.0,
            left - 6.0,
            top + 4.0,
            max as u64,
            left - 6.0,
        );
        for (i, bin) in bins.iter().enumerate() {
            let x = left + slot * i as f64 + slot * 0.1;
            let w = slot * 0.8;
            let cx = x + w / 2.0;
            let mut y = base;
            let parts: Vec<(&str, u64)> = match (bin.positive, bin.negative) {
                (Some(p), Some(n)) => {
                    let unlabelled = bin.leads - p - n;
                    vec![("neg", n), ("pos", p), ("unk", unlabelled)]
                }
                _ => vec![("all", bin.leads)],
            };
            for (class, n) in parts {
                if n == 0 {
                    continue;
                }
                let h = plot_h * n as f64 / max;
                y -= h;
                let _ = writeln!(
                    svg,
                    "<rect class=\"bar {class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\"><title>{}-{}: {n}</title></rect>",
                    bin.from, bin.to
                );
            }
            let _ = write!(
                svg,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"small\">{}</text>\n<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"small\">{}-{}</text>\n",
                y - 4.0,
                bin.leads,
                base + 16.0,
                bin.from,
                bin.to
            );
        }
        if with_outcome {
            let _ = write!(
                svg,
                "<rect class=\"bar pos\" x=\"{left}\" y=\"6\" width=\"12\" height=\"12\"/><text x=\"{:.1}\" y=\"12\">converted</text>\n<rect class=\"bar neg\" x=\"{:.1}\" y=\"6\" width=\"12\" height=\"12\"/><text x=\"{:.1}\" y=\"12\">not converted</text>\n",
                left + 18.0,
                left + 120.0,
                left + 138.0
            );
            let unlabelled = self.outcome.as_ref().is_some_and(|o| o.unlabelled > 0);
            if unlabelled {
                let _ = writeln!(
                    svg,
                    "<rect class=\"bar unk\" x=\"{:.1}\" y=\"6\" width=\"12\" height=\"12\"/><text x=\"{:.1}\" y=\"12\">no outcome value</text>",
                    left + 260.0,
                    left + 278.0
                );
            }
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">score</text>",
            left + (width - left) / 2.0,
            height - 10.0
        );
        svg.push_str("</svg>\n");
        svg
    }
}

fn lift_svg(o: &OutcomeReport) -> String {
    let rows: Vec<&StageOutcome> = o.stages.iter().filter(|s| s.leads > 0).collect();
    let max = rows.iter().filter_map(|s| s.lift).fold(1.0f64, f64::max) * 1.15;
    let values: Vec<String> = rows
        .iter()
        .map(|s| {
            format!(
                "lift {} ({} of {} converted)",
                fixed(s.lift, 2),
                percent(s.rate),
                s.leads
            )
        })
        .collect();
    // Room for the longest stage name on the left and the longest value on the right,
    // so that no label runs off the chart.
    let chars = |texts: &mut dyn Iterator<Item = usize>| texts.max().unwrap_or(0) as f64;
    let label_w =
        (chars(&mut rows.iter().map(|s| s.stage.chars().count())) * CHAR_W + 16.0).max(80.0);
    let value_w = chars(&mut values.iter().map(|v| v.chars().count())) * CHAR_W + 12.0;
    let (width, row) = (720.0, 30.0);
    let height = row * rows.len().max(1) as f64 + 34.0;
    let plot_w = (width - label_w - value_w).max(60.0);
    let mut svg = svg_open(
        "lift",
        width,
        height,
        "Lift by stage: each stage's outcome rate over the base rate",
    );
    for (i, (s, value)) in rows.iter().zip(&values).enumerate() {
        let y = 5.0 + row * i as f64;
        let lift = s.lift.unwrap_or(0.0);
        let w = (plot_w * lift / max).max(2.0);
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n<rect class=\"bar {}\" x=\"{label_w:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"2\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            label_w - 8.0,
            y + row / 2.0,
            esc(&s.stage),
            if lift >= 1.0 { "up" } else { "down" },
            y + 4.0,
            row - 8.0,
            label_w + w + 6.0,
            y + row / 2.0,
            esc(value)
        );
    }
    let x1 = label_w + plot_w / max;
    let _ = write!(
        svg,
        "<line class=\"ref\" x1=\"{x1:.1}\" y1=\"0\" x2=\"{x1:.1}\" y2=\"{:.1}\"/>\n<text x=\"{x1:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"small\">base rate {} (lift 1)</text>\n</svg>\n",
        height - 24.0,
        height - 12.0,
        percent(o.base_rate)
    );
    svg
}

fn outcome_table(o: &OutcomeReport) -> String {
    let mut t = format!(
        "<table><tr><th>stage</th><th>leads with `{}`</th><th>converted</th><th>rate</th><th>lift</th></tr>\n",
        esc(&o.field)
    );
    for s in &o.stages {
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.stage),
            s.leads,
            s.positives,
            percent(s.rate),
            fixed(s.lift, 2)
        );
    }
    let _ = writeln!(
        t,
        "</table>\n<p>{} leads with a value, {} without; qualified ({}): {} flagged, {} of them converted.</p>",
        o.labelled,
        o.unlabelled,
        esc(&o
            .qualified
            .stages
            .iter()
            .map(|s| s.as_ref())
            .collect::<Vec<_>>()
            .join(", ")),
        o.qualified.flagged,
        o.qualified.true_positives
    );
    t
}

/// The stage the CRM holds (rows) against the stage the rules decide (columns).
fn transitions_table(t: &crate::analysis::matrix::Transitions) -> String {
    let mut out = String::from(
        "<h2>Transitions: the CRM's stage against the decided one</h2>\n<table><tr><th>CRM \\ decided</th>",
    );
    for stage in &t.decided_stages {
        let _ = write!(out, "<th>{}</th>", esc(stage));
    }
    out.push_str("</tr>\n");
    for (stage, row) in t.current_stages.iter().zip(&t.matrix) {
        let _ = write!(out, "<tr><td>{}</td>", esc(stage));
        for n in row {
            let _ = write!(out, "<td>{n}</td>");
        }
        out.push_str("</tr>\n");
    }
    let _ = writeln!(
        out,
        "</table>\n<p>up {}, down {}, new {}, unchanged {}</p>",
        t.up, t.down, t.new, t.unchanged
    );
    out
}

fn card(label: &str, value: &str, note: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"label\">{label}</div><div class=\"value\">{}</div><div class=\"note\">{}</div></div>",
        esc(value),
        esc(note)
    )
}

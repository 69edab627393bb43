//! The charts a person reads a scoring backtest by, as inline SVG for the HTML pages of
//! `report` and `calibrate`: the ROC curve with its AUC, the cumulative gains curve
//! against random, and the outcome rate per score band. Each takes one or more series
//! of score -> (positives, negatives) counts, drawn on the same axes. Shared with them:
//! the page frame, its stylesheet and HTML escaping.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::report::auc;

/// One way of scoring the same leads: score -> (positives, negatives).
pub(crate) struct Series<'a> {
    /// Shown in the legend (`current points`).
    pub label: &'a str,
    /// The CSS class that colours it (`s0`, `s1`).
    pub class: &'a str,
    pub counts: &'a BTreeMap<i64, (u64, u64)>,
}

const WIDTH: f64 = 720.0;
/// Rough width of a character at the charts' 13px font, for laying out labels so that
/// none runs off the chart.
pub(crate) const CHAR_W: f64 = 7.2;

/// Plot area: left, top, width, height.
const PLOT: (f64, f64, f64, f64) = (60.0, 20.0, 420.0, 300.0);

/// Points (x, y) in 0..1 of a curve, from the highest score down.
fn curve(counts: &BTreeMap<i64, (u64, u64)>, gains: bool) -> Vec<(f64, f64)> {
    let positives: u64 = counts.values().map(|c| c.0).sum();
    let negatives: u64 = counts.values().map(|c| c.1).sum();
    let total = (positives + negatives).max(1) as f64;
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0u64, 0u64);
    for &(pos, neg) in counts.values().rev() {
        tp += pos;
        fp += neg;
        let y = tp as f64 / positives.max(1) as f64;
        let x = if gains {
            (tp + fp) as f64 / total
        } else {
            fp as f64 / negatives.max(1) as f64
        };
        points.push((x, y));
    }
    points
}

/// Draws the plot box, the percentage ticks (on x too when `x_percent`) and the axis
/// titles; the x title sits `x_label_gap` below the plot.
fn frame(svg: &mut String, x_label: &str, y_label: &str, x_percent: bool, x_label_gap: f64) {
    let (left, top, w, h) = PLOT;
    let _ = writeln!(
        svg,
        "<rect class=\"plot\" x=\"{left}\" y=\"{top}\" width=\"{w}\" height=\"{h}\"/>"
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let label = format!("{}%", i * 25);
        if x_percent {
            let _ = writeln!(
                svg,
                "<text class=\"small\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
                left + w * f,
                top + h + 14.0,
            );
        }
        let _ = writeln!(
            svg,
            "<text class=\"small\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            left - 6.0,
            top + h - h * f,
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n<text x=\"14\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">{}</text>\n",
        left + w / 2.0,
        top + h + x_label_gap,
        esc(x_label),
        top + h / 2.0,
        top + h / 2.0,
        esc(y_label)
    );
}

fn polyline(svg: &mut String, class: &str, points: &[(f64, f64)]) {
    let (left, top, w, h) = PLOT;
    let coords: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{:.1},{:.1}", left + w * x, top + h - h * y))
        .collect();
    let _ = writeln!(
        svg,
        "<polyline class=\"line {class}\" points=\"{}\"/>",
        coords.join(" ")
    );
}

/// The legend to the right of the plot: one line per entry, wrapped to fit.
fn legend(svg: &mut String, entries: &[(&str, String)]) {
    let (left, top, w, _) = PLOT;
    let x = left + w + 20.0;
    let room = ((WIDTH - x - 26.0) / CHAR_W).floor() as usize;
    let mut y = top + 8.0;
    for (class, text) in entries {
        let _ = writeln!(
            svg,
            "<rect class=\"key {class}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"14\" height=\"4\"/>",
            y - 2.0
        );
        for line in wrap(text, room) {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
                x + 20.0,
                esc(&line)
            );
            y += 17.0;
        }
        y += 6.0;
    }
}

/// Splits text into lines of at most `room` characters, at spaces.
pub(crate) fn wrap(text: &str, room: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The ROC curve of each series, with its AUC in the legend.
pub(crate) fn roc_svg(series: &[Series<'_>]) -> String {
    let mut svg = svg_open(
        "roc",
        WIDTH,
        370.0,
        "ROC curve: true positive rate against false positive rate, each score a threshold",
    );
    frame(
        &mut svg,
        "false positive rate",
        "true positive rate",
        true,
        34.0,
    );
    polyline(&mut svg, "random", &[(0.0, 0.0), (1.0, 1.0)]);
    let mut entries = Vec::new();
    for s in series {
        polyline(&mut svg, s.class, &curve(s.counts, false));
        let area = auc(s.counts).map_or("n/a".to_string(), |a| format!("{a:.3}"));
        entries.push((s.class, format!("{}: AUC {area}", s.label)));
    }
    entries.push(("random", "random order: AUC 0.500".to_string()));
    legend(&mut svg, &entries);
    svg.push_str("</svg>\n");
    svg
}

/// The cumulative gains curve of each series: the share of positive leads found among
/// the top x% of leads by score, against picking at random.
pub(crate) fn gains_svg(series: &[Series<'_>]) -> String {
    let mut svg = svg_open(
        "gains",
        WIDTH,
        370.0,
        "Cumulative gains: share of converted leads found in the top x% of leads by score",
    );
    frame(
        &mut svg,
        "top share of leads, by score",
        "converted leads found",
        true,
        34.0,
    );
    polyline(&mut svg, "random", &[(0.0, 0.0), (1.0, 1.0)]);
    let mut entries = Vec::new();
    for s in series {
        let points = curve(s.counts, true);
        polyline(&mut svg, s.class, &points);
        // What the top fifth finds, read off the curve.
        let at = found_at(&points, 0.2);
        entries.push((
            s.class,
            format!("{}: top 20% finds {:.0}%", s.label, at * 100.0),
        ));
    }
    entries.push(("random", "random: top 20% finds 20%".to_string()));
    legend(&mut svg, &entries);
    svg.push_str("</svg>\n");
    svg
}

/// The curve's height at x, interpolating between its points.
fn found_at(points: &[(f64, f64)], x: f64) -> f64 {
    for pair in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        if x <= x1 {
            return if x1 > x0 {
                y0 + (y1 - y0) * (x - x0) / (x1 - x0)
            } else {
                y1
            };
        }
    }
    points.last().map_or(0.0, |p| p.1)
}

/// Bands of the score range for the calibration chart.
const BANDS: i64 = 10;

/// The outcome rate per score band for each series, side by side per band: a good
/// score's rate climbs with the band.
pub(crate) fn calibration_svg(series: &[Series<'_>]) -> String {
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.counts.keys().copied())
        .fold((i64::MAX, i64::MIN), |(lo, hi), k| (lo.min(k), hi.max(k)));
    let (lo, hi) = if lo > hi { (0, 0) } else { (lo, hi) };
    // Equal bands covering lo..=hi, the last one ending at hi.
    let width = ((hi - lo + 1) + BANDS - 1) / BANDS;
    let width = width.max(1);
    let bands: Vec<(i64, i64)> = (0..BANDS)
        .map(|i| (lo + i * width, (lo + (i + 1) * width - 1).min(hi)))
        .filter(|&(from, _)| from <= hi)
        .collect();
    let mut svg = svg_open("calibration", WIDTH, 390.0, "Outcome rate per score band");
    let (left, top, w, h) = PLOT;
    frame(&mut svg, "score band", "converted", false, 46.0);
    let slot = w / bands.len().max(1) as f64;
    let bar = slot * 0.8 / series.len().max(1) as f64;
    for (b, &(from, to)) in bands.iter().enumerate() {
        for (k, s) in series.iter().enumerate() {
            let (pos, neg) = s
                .counts
                .range(from..=to)
                .fold((0, 0), |(p, n), (_, c)| (p + c.0, n + c.1));
            if pos + neg == 0 {
                continue;
            }
            let rate = pos as f64 / (pos + neg) as f64;
            let x = left + slot * b as f64 + slot * 0.1 + bar * k as f64;
            let bh = h * rate;
            let _ = writeln!(
                svg,
                "<rect class=\"bar {}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{bh:.1}\"><title>{}: scores {from} to {to}: {:.1}% of {} converted</title></rect>",
                s.class,
                top + h - bh,
                esc(s.label),
                rate * 100.0,
                pos + neg
            );
        }
        // Band labels on two short lines under the axis (the percentages sit above).
        let cx = left + slot * (b as f64 + 0.5);
        let _ = writeln!(
            svg,
            "<text class=\"small\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{from}-</text>\n<text class=\"small\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{to}</text>",
            top + h + 14.0,
            top + h + 26.0,
        );
    }
    let entries: Vec<(&str, String)> = series
        .iter()
        .map(|s| (s.class, format!("{}: converted share per band", s.label)))
        .collect();
    legend(&mut svg, &entries);
    svg.push_str("</svg>\n");
    svg
}

/// Opens an SVG chart with an accessible title.
pub(crate) fn svg_open(id: &str, width: f64, height: f64, label: &str) -> String {
    format!(
        "<svg id=\"{id}\" class=\"chart\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{}\">\n<title>{}</title>\n",
        esc(label),
        esc(label)
    )
}

/// Escapes text for HTML and SVG.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One self-contained page: inline CSS, no scripts, nothing fetched.
pub(crate) fn page(title: &str, body: &str, made_by: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n{body}<p class=\"sub\">Made by {made_by}.</p>\n</main>\n</body>\n</html>\n",
        esc(title)
    )
}

/// The pages' stylesheet.
pub(crate) const CSS: &str = "body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #1d2733; background: #f6f7f9; margin: 0; }
main { max-width: 780px; margin: 0 auto; padding: 24px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #e3e6ea; padding-bottom: 4px; }
.sub { color: #5b6776; margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid #e3e6ea; border-radius: 6px; padding: 8px 12px; min-width: 120px; }
.card .label { color: #5b6776; font-size: 12px; }
.card .value { font-size: 22px; font-weight: 600; }
.card .note { color: #5b6776; font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid #eef0f2; }
td { white-space: nowrap; }
td:not(:first-child), th:not(:first-child) { text-align: right; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 8px 0; font-size: 13px; font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; }
svg text { fill: #1d2733; dominant-baseline: middle; }
svg text.small { font-size: 11px; }
.bar.f0 { fill: #c6dbef; } .bar.f1 { fill: #9ecae1; } .bar.f2 { fill: #6baed6; } .bar.f3 { fill: #4292c6; }
.bar.ours { fill: #e6550d; } .bar.bench { fill: #bdbdbd; }
.bar.pos { fill: #e6550d; } .bar.neg { fill: #9ecae1; } .bar.unk { fill: #d9d9d9; } .bar.all { fill: #6baed6; }
.bar.up { fill: #31a354; } .bar.down { fill: #de2d26; }
.axis { stroke: #5b6776; } .ref { stroke: #1d2733; stroke-dasharray: 4 3; }
.plot { fill: none; stroke: #c9ced6; }
.line { fill: none; stroke-width: 2; } .line.random { stroke: #9aa3ad; stroke-dasharray: 4 3; stroke-width: 1.5; }
.line.s0 { stroke: #6baed6; } .line.s1 { stroke: #e6550d; }
.bar.s0, .key.s0 { fill: #6baed6; } .bar.s1, .key.s1 { fill: #e6550d; } .key.random { fill: #9aa3ad; }
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_lines_within_room() {
        assert_eq!(
            wrap("current points: AUC 0.870", 16),
            ["current points:", "AUC 0.870"]
        );
        assert_eq!(wrap("short", 16), ["short"]);
    }

    #[test]
    fn curves_run_from_corner_to_corner() {
        let counts = BTreeMap::from([(10, (0, 2)), (20, (1, 1)), (30, (1, 0))]);
        assert_eq!(
            curve(&counts, false),
            [(0.0, 0.0), (0.0, 0.5), (1.0 / 3.0, 1.0), (1.0, 1.0)]
        );
        let gains = curve(&counts, true);
        assert_eq!(gains.last(), Some(&(1.0, 1.0)));
        assert_eq!(gains[1], (0.2, 0.5));
        assert!((found_at(&gains, 0.2) - 0.5).abs() < 1e-12);
    }
}

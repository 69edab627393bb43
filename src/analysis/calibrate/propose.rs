//! Learning a proposal from rows: the fit, its weights turned into integer points in
//! the current score range, and (with a target) the stages' `min_score`.

use super::fit::{self, Fit, Patterns};
use super::{ReadyTarget, Row, Site, Z_CUTOFF};

/// A learned proposal: points per rule and thresholds per stage.
pub(super) struct Proposal {
    pub fit: Fit,
    /// Per rule: matched by every training lead (no weight of its own).
    pub constant: Vec<bool>,
    pub points: Vec<i64>,
    pub not_distinguishable: Vec<bool>,
    pub min_scores: Vec<Option<i64>>,
    pub notes: Vec<String>,
}

/// What a proposal is learned and applied with.
pub(super) struct Context<'a> {
    pub sites: &'a [Site],
    pub min_scores: Vec<Option<i64>>,
    pub score_min: i64,
    pub score_max: i64,
    /// Stage indices of the ladder (stages that are not disqualified), top first.
    pub ladder: Vec<usize>,
    pub target: Option<ReadyTarget>,
}

impl Context<'_> {
    pub fn ready(&self) -> Option<usize> {
        (self.ladder.len() >= 2).then(|| self.ladder[0])
    }

    pub fn score(&self, row: &Row, points: &[i64]) -> i64 {
        let sum = row
            .features
            .iter()
            .filter(|&&j| self.sites[j].writable())
            .fold(row.fixed_points, |s, &j| s.saturating_add(points[j]));
        sum.clamp(self.score_min, self.score_max)
    }

    pub fn stage(&self, row: &Row, score: i64, min_scores: &[Option<i64>]) -> usize {
        let last = row.eligible.len().saturating_sub(1);
        (0..last)
            .find(|&i| row.eligible[i] && min_scores[i].is_none_or(|m| score >= m))
            .unwrap_or(last)
    }
}

/// Learns points (and thresholds, with a target) from these rows.
pub(super) fn propose(cx: &Context<'_>, rows: &[&Row]) -> Proposal {
    let width = cx.sites.len();
    let mut counts = vec![0usize; width];
    for row in rows {
        for &j in &row.features {
            counts[j] += 1;
        }
    }
    let constant: Vec<bool> = counts.iter().map(|&c| c == rows.len()).collect();
    let kept: Vec<Vec<usize>> = rows
        .iter()
        .map(|r| {
            r.features
                .iter()
                .copied()
                .filter(|&j| !constant[j])
                .collect()
        })
        .collect();
    let patterns = Patterns::from_leads(
        kept.iter()
            .zip(rows)
            .map(|(f, r)| (f.as_slice(), r.positive)),
    );
    let fit = fit::fit(&patterns, width);
    let not_distinguishable: Vec<bool> = (0..width)
        .map(|j| !constant[j] && fit.coef[j].abs() < Z_CUTOFF * fit.se[j])
        .collect();
    let weight = |j: usize| {
        if constant[j] || not_distinguishable[j] {
            0.0
        } else {
            fit.coef[j]
        }
    };
    // Scale: the weighted sums of the written rules span the current score range.
    let mut notes = Vec::new();
    let (lo, hi) = rows.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| {
        (lo.min(r.score), hi.max(r.score))
    });
    let raw: Vec<f64> = kept
        .iter()
        .map(|f| {
            f.iter()
                .filter(|&&j| cx.sites[j].writable())
                .map(|&j| weight(j))
                .sum()
        })
        .collect();
    let (raw_lo, raw_hi) = raw
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let scale = if raw_hi > raw_lo && hi > lo {
        (hi - lo) as f64 / (raw_hi - raw_lo)
    } else {
        0.0
    };
    if scale == 0.0 {
        notes.push(
            "no rule's effect is distinguishable from zero (or every lead scores the same): every proposed points value is 0"
                .to_string(),
        );
    }
    let mut points: Vec<i64> = (0..width)
        .map(|j| (weight(j) * scale).round() as i64)
        .collect();
    // The offset: a written rule that matches every lead moves every score, so the
    // lowest proposed score lands where the lowest current one is.
    let carrier = (0..width).find(|&j| constant[j] && cx.sites[j].writable());
    let lowest = kept
        .iter()
        .map(|f| {
            f.iter()
                .filter(|&&j| cx.sites[j].writable())
                .map(|&j| points[j])
                .sum::<i64>()
        })
        .min()
        .unwrap_or(0);
    match carrier {
        Some(c) => points[c] = lo.saturating_sub(lowest),
        None if lowest != lo && scale > 0.0 => notes.push(format!(
            "no written rule matches every lead, so proposed scores start at {lowest} instead of {lo}; a baseline rule (`when: {{ expr: \"true\" }}`) would carry the difference"
        )),
        None => {}
    }
    let min_scores = match cx.target {
        Some(target) => thresholds(cx, rows, &points, target, &mut notes),
        None => cx.min_scores.clone(),
    };
    Proposal {
        fit,
        constant,
        points,
        not_distinguishable,
        min_scores,
        notes,
    }
}

/// Proposes `min_score` per stage: the ready stage's for the target; each lower stage
/// that has one keeps the share of leads it holds now.
fn thresholds(
    cx: &Context<'_>,
    rows: &[&Row],
    points: &[i64],
    target: ReadyTarget,
    notes: &mut Vec<String>,
) -> Vec<Option<i64>> {
    let mut mins = cx.min_scores.clone();
    let Some(ready) = cx.ready() else {
        return mins;
    };
    let scores: Vec<i64> = rows.iter().map(|r| cx.score(r, points)).collect();
    let n = rows.len() as f64;
    // Leads that reach the ready stage when their score is high enough: eligible, and
    // not taken by a (disqualified) stage above it.
    let reach: Vec<bool> = rows
        .iter()
        .zip(&scores)
        .map(|(r, &s)| {
            r.eligible[ready]
                && !(0..ready).any(|i| r.eligible[i] && mins[i].is_none_or(|m| s >= m))
        })
        .collect();
    let candidates = |member: &dyn Fn(usize) -> bool| -> Vec<i64> {
        let mut c: Vec<i64> = (0..rows.len())
            .filter(|&i| member(i))
            .map(|i| scores[i])
            .collect();
        c.sort_unstable();
        c.dedup();
        if let Some(&top) = c.last() {
            c.push(top.saturating_add(1));
        }
        c
    };
    let at_or_above = |member: &dyn Fn(usize) -> bool, t: i64| -> (usize, usize) {
        (0..rows.len())
            .filter(|&i| member(i) && scores[i] >= t)
            .fold((0, 0), |(c, p), i| {
                (c + 1, p + usize::from(rows[i].positive))
            })
    };
    let reaches = |i: usize| reach[i];
    let options = candidates(&reaches);
    let chosen = match target {
        ReadyTarget::Precision(p) => {
            let hit = options.iter().copied().find(|&t| {
                let (c, pos) = at_or_above(&reaches, t);
                c > 0 && pos as f64 / c as f64 >= p
            });
            hit.or_else(|| {
                let best = options
                    .iter()
                    .copied()
                    .filter(|&t| at_or_above(&reaches, t).0 > 0)
                    .max_by(|&a, &b| {
                        let prec = |t| {
                            let (c, pos) = at_or_above(&reaches, t);
                            pos as f64 / c as f64
                        };
                        prec(a).total_cmp(&prec(b)).then(b.cmp(&a))
                    });
                if let Some(t) = best {
                    let (c, pos) = at_or_above(&reaches, t);
                    notes.push(format!(
                        "no min_score reaches a precision of {:.1}% on this history; the highest is {:.1}% at min_score {t}",
                        p * 100.0,
                        pos as f64 / c as f64 * 100.0
                    ));
                }
                best
            })
        }
        ReadyTarget::Share(share) => options
            .iter()
            .copied()
            .find(|&t| at_or_above(&reaches, t).0 as f64 / n <= share),
    };
    if let Some(t) = chosen {
        mins[ready] = Some(t);
    }
    // Lower stages: keep the share at or above their threshold that they hold today,
    // never asking more than the stage above.
    let mut above = mins[ready];
    for &stage in cx.ladder.iter().skip(1) {
        let Some(current) = cx.min_scores[stage] else {
            continue;
        };
        if cx.ladder.last() == Some(&stage) {
            continue;
        }
        let eligible = |i: usize| rows[i].eligible[stage];
        let today = (0..rows.len())
            .filter(|&i| eligible(i) && rows[i].score >= current)
            .count() as f64
            / n;
        let best = candidates(&eligible)
            .into_iter()
            .filter(|&t| above.is_none_or(|cap| t <= cap))
            .min_by(|&a, &b| {
                let gap = |t| (at_or_above(&eligible, t).0 as f64 / n - today).abs();
                gap(a).total_cmp(&gap(b)).then(a.cmp(&b))
            });
        if let Some(t) = best {
            mins[stage] = Some(t);
            above = Some(t);
        }
    }
    mins
}

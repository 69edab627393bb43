//! Measuring a way of scoring against the outcomes: AUC, the ready stage's share and
//! lift, precision and recall of qualified.

use std::collections::BTreeMap;

use super::propose::Context;
use super::{Figures, ratio, round};
use crate::analysis::report::auc;

/// Figures for scores and stages against outcomes.
pub(super) fn figures(
    cx: &Context<'_>,
    qualified_pos: usize,
    scores: &[i64],
    stages: &[usize],
    outcomes: &[bool],
) -> Figures {
    let mut counts: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for (&s, &y) in scores.iter().zip(outcomes) {
        let e = counts.entry(s).or_default();
        if y {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let ready: Vec<bool> = stages.iter().map(|&s| Some(s) == cx.ready()).collect();
    let qualified: Vec<bool> = stages
        .iter()
        .map(|&s| {
            cx.ladder
                .iter()
                .position(|&i| i == s)
                .is_some_and(|p| p <= qualified_pos && cx.ladder.len() >= 2)
        })
        .collect();
    group_figures(auc(&counts), &ready, &qualified, outcomes)
}

/// The ceiling: the log-odds ranking, with groups of the proposal's sizes.
pub(super) fn ceiling_figures(
    cx: &Context<'_>,
    qualified_pos: usize,
    odds: &[f64],
    proposed_stages: &[usize],
    outcomes: &[bool],
) -> Figures {
    let mut counts: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for (&x, &y) in odds.iter().zip(outcomes) {
        // Log-odds to a fixed grid fine enough that only true ties share a key.
        let e = counts.entry((x * 1e9).round() as i64).or_default();
        if y {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let proposed = figures(
        cx,
        qualified_pos,
        &vec![0; odds.len()],
        proposed_stages,
        outcomes,
    );
    let ready_n = (proposed.ready_share * odds.len() as f64).round() as usize;
    let qualified_count = proposed_stages
        .iter()
        .filter(|&&s| {
            cx.ladder
                .iter()
                .position(|&i| i == s)
                .is_some_and(|p| p <= qualified_pos && cx.ladder.len() >= 2)
        })
        .count();
    let mut order: Vec<usize> = (0..odds.len()).collect();
    order.sort_by(|&a, &b| odds[b].total_cmp(&odds[a]).then(a.cmp(&b)));
    let mut ready = vec![false; odds.len()];
    let mut qualified = vec![false; odds.len()];
    for (rank, &i) in order.iter().enumerate() {
        ready[i] = rank < ready_n;
        qualified[i] = rank < qualified_count;
    }
    group_figures(auc(&counts), &ready, &qualified, outcomes)
}

fn group_figures(
    auc: Option<f64>,
    ready: &[bool],
    qualified: &[bool],
    outcomes: &[bool],
) -> Figures {
    let n = outcomes.len() as u64;
    let positives = outcomes.iter().filter(|&&y| y).count() as u64;
    let count = |group: &[bool]| -> (u64, u64) {
        group
            .iter()
            .zip(outcomes)
            .filter(|(g, _)| **g)
            .fold((0, 0), |(c, p), (_, &y)| (c + 1, p + u64::from(y)))
    };
    let (ready_n, ready_pos) = count(ready);
    let (qual_n, qual_pos) = count(qualified);
    let base = ratio(positives, n);
    let ready_rate = ratio(ready_pos, ready_n);
    Figures {
        auc: auc.map(round),
        ready_share: ratio(ready_n, n).unwrap_or(0.0),
        ready_rate,
        ready_lift: match (ready_rate, base) {
            (Some(r), Some(b)) if b > 0.0 => Some(round(r / b)),
            _ => None,
        },
        qualified_precision: ratio(qual_pos, qual_n),
        qualified_recall: ratio(qual_pos, positives),
    }
}

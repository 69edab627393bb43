//! The fit: an L2-penalised logistic regression of the outcome on 0/1 rule features, by
//! Newton's method. Leads are grouped by their pattern of matched rules first (a few
//! hundred patterns for thousands of leads), so each step costs patterns x features².
//! Newton gives the Hessian at the optimum with the coefficients; its inverse gives
//! their standard errors. No randomness: the same data always gives the same fit.

/// Leads grouped by which features they have, with their outcome counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Patterns {
    /// (features present, as sorted indices; positives; negatives), in first-seen order.
    pub rows: Vec<(Vec<usize>, f64, f64)>,
}

impl Patterns {
    /// Groups `(features, outcome)` pairs.
    pub fn from_leads<'a>(leads: impl IntoIterator<Item = (&'a [usize], bool)>) -> Patterns {
        let mut index: std::collections::BTreeMap<&'a [usize], usize> = Default::default();
        let mut rows: Vec<(Vec<usize>, f64, f64)> = Vec::new();
        for (features, positive) in leads {
            let at = *index.entry(features).or_insert_with(|| {
                rows.push((features.to_vec(), 0.0, 0.0));
                rows.len() - 1
            });
            if positive {
                rows[at].1 += 1.0;
            } else {
                rows[at].2 += 1.0;
            }
        }
        Patterns { rows }
    }
}

/// A fitted model: `intercept + sum(coef[j] for each feature j present)` is the log-odds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fit {
    pub intercept: f64,
    pub coef: Vec<f64>,
    /// Standard error of each coefficient: the square root of the diagonal of the inverse
    /// penalised Hessian at the optimum.
    pub se: Vec<f64>,
}

impl Fit {
    /// The log-odds for a lead with these features.
    pub fn log_odds(&self, features: &[usize]) -> f64 {
        self.intercept + features.iter().map(|&j| self.coef[j]).sum::<f64>()
    }
}

/// The L2 penalty on each coefficient (not the intercept): a unit Gaussian prior on the
/// log-odds effect of a rule, enough to keep a rule that separates its leads perfectly
/// finite and negligible against thousands of leads.
pub(crate) const PENALTY: f64 = 1.0;

const MAX_STEPS: usize = 100;

/// Fits `features` (indices below `width`) to the outcomes.
pub(crate) fn fit(patterns: &Patterns, width: usize) -> Fit {
    // Parameter 0 is the intercept, 1 + j is feature j.
    let dim = width + 1;
    let mut beta = vec![0.0; dim];
    let (pos, total) = patterns
        .rows
        .iter()
        .fold((0.0, 0.0), |(p, t), r| (p + r.1, t + r.1 + r.2));
    if total > 0.0 && pos > 0.0 && pos < total {
        beta[0] = (pos / (total - pos)).ln();
    }
    let mut objective = penalised_loglik(patterns, &beta);
    let mut hessian = vec![0.0; dim * dim];
    for _ in 0..MAX_STEPS {
        let (gradient, h) = derivatives(patterns, &beta);
        hessian = h;
        let Some(step) = solve(&hessian, &gradient, dim) else {
            break;
        };
        // Step halving keeps every step an improvement.
        let mut scale = 1.0;
        let mut accepted = false;
        for _ in 0..30 {
            let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b + scale * s).collect();
            let value = penalised_loglik(patterns, &trial);
            if value >= objective - 1e-12 {
                beta = trial;
                objective = value;
                accepted = true;
                break;
            }
            scale /= 2.0;
        }
        let size = step.iter().fold(0.0f64, |m, s| m.max(s.abs())) * scale;
        if !accepted || size < 1e-9 {
            break;
        }
    }
    let (_, h) = derivatives(patterns, &beta);
    if h.iter().all(|x| x.is_finite()) {
        hessian = h;
    }
    let inverse = invert(&hessian, dim);
    let se = (1..dim)
        .map(|j| {
            inverse
                .as_ref()
                .map_or(f64::INFINITY, |inv| inv[j * dim + j].max(0.0).sqrt())
        })
        .collect();
    Fit {
        intercept: beta[0],
        coef: beta[1..].to_vec(),
        se,
    }
}

fn eta(beta: &[f64], features: &[usize]) -> f64 {
    beta[0] + features.iter().map(|&j| beta[j + 1]).sum::<f64>()
}

/// log(1 + e^x) without overflow.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

fn penalised_loglik(patterns: &Patterns, beta: &[f64]) -> f64 {
    let fit: f64 = patterns
        .rows
        .iter()
        .map(|(features, pos, neg)| {
            let e = eta(beta, features);
            // log p = -softplus(-e), log (1 - p) = -softplus(e)
            -pos * softplus(-e) - neg * softplus(e)
        })
        .sum();
    let penalty: f64 = beta[1..].iter().map(|b| b * b).sum::<f64>() * PENALTY / 2.0;
    fit - penalty
}

/// The gradient and the negative Hessian (positive definite) of the penalised
/// log-likelihood.
fn derivatives(patterns: &Patterns, beta: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let dim = beta.len();
    let mut gradient = vec![0.0; dim];
    let mut hessian = vec![0.0; dim * dim];
    let mut present = Vec::with_capacity(dim);
    for (features, pos, neg) in &patterns.rows {
        let p = 1.0 / (1.0 + (-eta(beta, features)).exp());
        let n = pos + neg;
        let residual = pos - n * p;
        let weight = n * p * (1.0 - p);
        present.clear();
        present.push(0);
        present.extend(features.iter().map(|&j| j + 1));
        for &a in &present {
            gradient[a] += residual;
            for &b in &present {
                hessian[a * dim + b] += weight;
            }
        }
    }
    for j in 1..dim {
        gradient[j] -= PENALTY * beta[j];
        hessian[j * dim + j] += PENALTY;
    }
    // A tiny ridge on the intercept keeps the system solvable when every lead has the
    // same outcome (the caller refuses that case; this only keeps the arithmetic sane).
    hessian[0] += 1e-9;
    (gradient, hessian)
}

/// Cholesky factor of a symmetric positive definite matrix (row-major), lower triangle.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut sum = a[i * n + j];
            for k in 0..j {
                sum -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if sum <= 0.0 || !sum.is_finite() {
                    return None;
                }
                l[i * n + i] = sum.sqrt();
            } else {
                l[i * n + j] = sum / l[j * n + j];
            }
        }
    }
    Some(l)
}

fn solve_factored(l: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut y = vec![0.0; n];
    for i in 0..n {
        let mut sum = b[i];
        for k in 0..i {
            sum -= l[i * n + k] * y[k];
        }
        y[i] = sum / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let mut sum = y[i];
        for k in i + 1..n {
            sum -= l[k * n + i] * x[k];
        }
        x[i] = sum / l[i * n + i];
    }
    x
}

fn solve(a: &[f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    cholesky(a, n).map(|l| solve_factored(&l, b, n))
}

fn invert(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let l = cholesky(a, n)?;
    let mut inverse = vec![0.0; n * n];
    let mut unit = vec![0.0; n];
    for col in 0..n {
        unit.iter_mut().for_each(|u| *u = 0.0);
        unit[col] = 1.0;
        let x = solve_factored(&l, &unit, n);
        for row in 0..n {
            inverse[row * n + col] = x[row];
        }
    }
    Some(inverse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(rows: &[(&[usize], f64, f64)]) -> Patterns {
        Patterns {
            rows: rows.iter().map(|(f, p, n)| (f.to_vec(), *p, *n)).collect(),
        }
    }

    #[test]
    fn one_feature_recovers_the_log_odds_ratio() {
        // Without the feature: 1000 of 4000 positive (odds 1/3); with it: 3000 of 4000
        // (odds 3). The log odds ratio is ln 9 = 2.197; against 8000 leads the penalty
        // pulls it in by less than 0.01.
        let fit = fit(
            &patterns(&[(&[], 1000.0, 3000.0), (&[0], 3000.0, 1000.0)]),
            1,
        );
        assert!((fit.coef[0] - 9f64.ln()).abs() < 0.02, "{fit:?}");
        assert!(
            (fit.intercept - (1.0f64 / 3.0).ln()).abs() < 0.02,
            "{fit:?}"
        );
        // The textbook standard error of a log odds ratio: sqrt(1/a + 1/b + 1/c + 1/d).
        let textbook = (2.0 / 1000.0 + 2.0 / 3000.0f64).sqrt();
        assert!(
            (fit.se[0] - textbook).abs() < 0.001,
            "{fit:?} vs {textbook}"
        );
    }

    #[test]
    fn separation_stays_finite() {
        // Every lead with the feature is positive: no finite maximum without the penalty.
        let fit = fit(&patterns(&[(&[], 50.0, 50.0), (&[0], 40.0, 0.0)]), 1);
        assert!(fit.coef[0].is_finite() && fit.coef[0] > 2.0, "{fit:?}");
        assert!(fit.se[0].is_finite());
    }

    #[test]
    fn no_effect_is_within_two_standard_errors_of_zero() {
        let fit = fit(&patterns(&[(&[], 50.0, 50.0), (&[0], 49.0, 51.0)]), 1);
        assert!(fit.coef[0].abs() < 1.96 * fit.se[0], "{fit:?}");
    }

    #[test]
    fn same_data_same_fit() {
        let data = patterns(&[(&[], 10.0, 30.0), (&[0], 20.0, 5.0), (&[0, 1], 7.0, 1.0)]);
        assert_eq!(fit(&data, 2), fit(&data, 2));
    }
}

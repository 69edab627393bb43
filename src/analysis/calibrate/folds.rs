//! Folds for cross-validation: leads dealt into k folds from a seeded shuffle, positives
//! and negatives dealt separately so every fold keeps the history's base rate. The same
//! seed always deals the same folds.

/// A small deterministic generator (SplitMix64): the folds only need a reproducible,
/// well-mixed shuffle, not cryptographic randomness, and no dependency is worth that.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0), without modulo bias worth speaking of for n of a
    /// history's size (the 128-bit multiply keeps the high bits).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// The fold (below `k`) of each lead, given each lead's outcome.
pub(crate) fn assign(outcomes: &[bool], k: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64(seed);
    let mut fold = vec![0; outcomes.len()];
    let mut dealt = 0;
    for class in [true, false] {
        let mut members: Vec<usize> = (0..outcomes.len())
            .filter(|&i| outcomes[i] == class)
            .collect();
        // Fisher-Yates.
        for i in (1..members.len()).rev() {
            let j = rng.below(i + 1);
            members.swap(i, j);
        }
        // Dealing continues where the previous class stopped, so fold sizes differ by
        // at most one overall.
        for lead in members {
            fold[lead] = dealt % k;
            dealt += 1;
        }
    }
    fold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_balanced_stratified_and_seeded() {
        let outcomes: Vec<bool> = (0..103).map(|i| i % 4 == 0).collect();
        let folds = assign(&outcomes, 5, 7);
        for f in 0..5 {
            let size = folds.iter().filter(|&&x| x == f).count();
            assert!((20..=21).contains(&size), "fold {f}: {size}");
            let positives = (0..103).filter(|&i| folds[i] == f && outcomes[i]).count();
            assert!((5..=6).contains(&positives), "fold {f}: {positives}");
        }
        assert_eq!(folds, assign(&outcomes, 5, 7));
        assert_ne!(folds, assign(&outcomes, 5, 8));
    }
}

//! Score dimensions and what is read off them: named sums of points (fit: who the lead
//! is; engagement: what they did), each clamped to its own range; the letter grade of one
//! dimension; and decay, which fades a rule's points with the age of a date, so that a
//! demo asked for a year ago no longer counts as much as one asked for last week.

use std::sync::Arc;

use crate::date::Date;
use crate::lead::{Slot, Value};

/// A declared score dimension (`settings.scores`).
#[derive(Debug, Clone)]
pub(crate) struct Dimension {
    pub name: Arc<str>,
    pub min: i64,
    pub max: i64,
    /// Decay applied to every rule counting in this dimension that has none of its own.
    pub decay: Option<Decay>,
}

/// How points fade: halved every `half_life_days` since the date in a field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decay {
    pub slot: Slot,
    pub half_life_days: f64,
}

/// What decay did to one matched rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Faded {
    /// The points after decay.
    pub points: i64,
    /// The points before decay.
    pub undecayed: i64,
    /// Whole days from the date to the as-of date (0 for a date after it).
    pub age_days: i64,
}

impl Decay {
    /// Fades `points` by the age of the date in the decay's field; `None` when the field
    /// holds no date (a decayed rule without its date does not match).
    pub fn apply(&self, points: i64, value: Option<&Value>, as_of: Date) -> Option<Faded> {
        let date = value?.as_date()?;
        Some(fade(points, date, as_of, self.half_life_days))
    }
}

/// `round(points × 0.5^(age / half_life))`, rounding half away from zero, with the age
/// in whole days from `date` to `as_of` (a date after `as_of` is age 0). The one
/// arithmetic behind YAML `decay:` and the Rhai `decay()` function.
pub(crate) fn fade(points: i64, date: Date, as_of: Date, half_life_days: f64) -> Faded {
    let age_days = as_of.days_since(date).max(0);
    let factor = 0.5f64.powf(age_days as f64 / half_life_days);
    // `f64::round` rounds half away from zero; a factor never exceeds 1, so the result
    // stays within the points' own range.
    let faded = (points as f64 * factor).round() as i64;
    Faded {
        points: faded,
        undecayed: points,
        age_days,
    }
}

/// Letter grades read off one dimension: the first band from the top whose minimum the
/// dimension reaches.
#[derive(Debug, Clone)]
pub(crate) struct GradeScale {
    /// Index of the graded dimension.
    pub dimension: usize,
    /// Grade and minimum, highest minimum first.
    pub bands: Vec<(Arc<str>, i64)>,
}

impl GradeScale {
    /// The grade for a dimension's points; `None` below every band.
    pub fn grade(&self, points: i64) -> Option<&Arc<str>> {
        self.bands
            .iter()
            .find(|(_, min)| points >= *min)
            .map(|(grade, _)| grade)
    }
}

/// Sums matched points per dimension and clamps each sum to its dimension's range.
pub(crate) fn dimension_scores<'a>(
    dimensions: &[Dimension],
    points: impl Iterator<Item = (usize, i64)> + 'a,
) -> Vec<i64> {
    let mut sums = vec![0i64; dimensions.len()];
    for (index, p) in points {
        if let Some(sum) = sums.get_mut(index) {
            *sum = sum.saturating_add(p);
        }
    }
    for (sum, dimension) in sums.iter_mut().zip(dimensions) {
        *sum = (*sum).clamp(dimension.min, dimension.max);
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn faded(points: i64, date: &str, half_life: f64) -> (i64, i64) {
        let f = fade(points, day(date), day("2026-03-31"), half_life);
        (f.points, f.age_days)
    }

    #[test]
    fn points_halve_every_half_life() {
        assert_eq!(faded(20, "2026-03-31", 30.0), (20, 0));
        assert_eq!(faded(20, "2026-03-01", 30.0), (10, 30));
        assert_eq!(faded(20, "2026-01-30", 30.0), (5, 60));
        assert_eq!(faded(-20, "2026-03-01", 30.0), (-10, 30));
    }

    #[test]
    fn halves_round_away_from_zero() {
        // 15 × 0.5 = 7.5 -> 8; -15 × 0.5 = -7.5 -> -8; 5 × 0.5 = 2.5 -> 3.
        assert_eq!(faded(15, "2026-03-01", 30.0), (8, 30));
        assert_eq!(faded(-15, "2026-03-01", 30.0), (-8, 30));
        assert_eq!(faded(5, "2026-03-01", 30.0), (3, 30));
        // 10 × 0.5^(10/30) = 7.937 -> 8; 10 × 0.5^(45/30) = 3.536 -> 4.
        assert_eq!(faded(10, "2026-03-21", 30.0), (8, 10));
        assert_eq!(faded(10, "2026-02-14", 30.0), (4, 45));
    }

    #[test]
    fn a_date_after_as_of_is_age_zero() {
        assert_eq!(faded(20, "2026-06-01", 30.0), (20, 0));
    }

    #[test]
    fn fractional_half_lives_and_very_old_dates() {
        assert_eq!(faded(10, "2026-03-24", 3.5), (3, 7));
        assert_eq!(faded(100, "1990-01-01", 30.0), (0, 13238));
    }

    #[test]
    fn decay_needs_a_date_in_its_field() {
        let decay = Decay {
            slot: 0,
            half_life_days: 30.0,
        };
        let as_of = day("2026-03-31");
        let text = |s: &str| Value::Text(s.to_string());
        assert_eq!(decay.apply(10, None, as_of), None);
        assert_eq!(decay.apply(10, Some(&text("soon")), as_of), None);
        assert_eq!(decay.apply(10, Some(&Value::Int(20260301)), as_of), None);
        let f = decay.apply(10, Some(&text("2026-03-01T09:30:00Z")), as_of);
        assert_eq!(
            f.map(|f| (f.points, f.undecayed, f.age_days)),
            Some((5, 10, 30))
        );
    }

    #[test]
    fn grades_take_the_first_band_reached_from_the_top() {
        let scale = GradeScale {
            dimension: 0,
            bands: vec![
                (Arc::from("A"), 80),
                (Arc::from("B"), 60),
                (Arc::from("C"), 40),
            ],
        };
        let grade = |p| scale.grade(p).map(|g| g.to_string());
        assert_eq!(grade(95).as_deref(), Some("A"));
        assert_eq!(grade(80).as_deref(), Some("A"));
        assert_eq!(grade(79).as_deref(), Some("B"));
        assert_eq!(grade(40).as_deref(), Some("C"));
        assert_eq!(grade(39), None);
    }

    proptest::proptest! {
        #[test]
        fn decay_never_raises_points_nor_flips_their_sign(
            points in -1_000_000i64..1_000_000,
            days in -5_000i64..50_000,
            half_life in 0.01f64..10_000.0,
        ) {
            let as_of = day("2026-03-31");
            let date = Date::from_unix_days(as_of.unix_days() - days).unwrap();
            let f = fade(points, date, as_of, half_life);
            proptest::prop_assert!(f.points.abs() <= points.abs());
            proptest::prop_assert!(f.points == 0 || f.points.signum() == points.signum());
            proptest::prop_assert_eq!(f.age_days, days.max(0));
            // Older never means more points.
            let older = Date::from_unix_days(date.unix_days() - 1).unwrap();
            proptest::prop_assert!(fade(points, older, as_of, half_life).points.abs() <= f.points.abs());
        }
    }

    #[test]
    fn dimension_sums_are_clamped_to_their_own_range() {
        let dim = |name: &str, min, max| Dimension {
            name: Arc::from(name),
            min,
            max,
            decay: None,
        };
        let dims = [dim("fit", 0, 100), dim("engagement", -10, 50)];
        let points = [(0, 70), (0, 60), (1, -30), (7, 5)];
        assert_eq!(dimension_scores(&dims, points.into_iter()), vec![100, -10]);
        assert_eq!(dimension_scores(&dims, std::iter::empty()), vec![0, 0]);
    }
}

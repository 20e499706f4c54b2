//! Statistics for experiment comparison: Wilson score intervals for a proportion and the
//! pooled two-proportion z-test. Pure functions, checked against published reference values.

use serde::{Deserialize, Serialize};

/// The two-sided 95% normal quantile.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// A 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The Wilson score interval for `successes` of `trials` (95%); `None` without trials or
/// when there are more successes than trials (not a proportion).
pub fn wilson(successes: u64, trials: u64) -> Option<Interval> {
    if trials == 0 || successes > trials {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = Z_95 * Z_95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z_95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    })
}

/// A treatment's proportion against the control's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// treatment − control, in proportion points.
    pub difference: f64,
    /// difference / control; `None` when the control's proportion is 0.
    pub relative_lift: Option<f64>,
    pub z: f64,
    /// Two-sided.
    pub p_value: f64,
    /// p < 0.05.
    pub significant: bool,
}

/// The pooled two-proportion z-test of `(x1 of n1)` (treatment) against `(x0 of n0)`
/// (control). `None` when a side has no trials, is not a proportion, or both proportions are
/// 0 or 1 (no variance).
pub fn two_proportion_test(x1: u64, n1: u64, x0: u64, n0: u64) -> Option<Comparison> {
    if n1 == 0 || n0 == 0 || x1 > n1 || x0 > n0 {
        return None;
    }
    let (p1, p0) = (x1 as f64 / n1 as f64, x0 as f64 / n0 as f64);
    let pooled = (x1 + x0) as f64 / (n1 + n0) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 as f64 + 1.0 / n0 as f64)).sqrt();
    if se == 0.0 {
        return None;
    }
    let z = (p1 - p0) / se;
    let p_value = libm::erfc(z.abs() / std::f64::consts::SQRT_2);
    Some(Comparison {
        difference: p1 - p0,
        relative_lift: (p0 > 0.0).then(|| (p1 - p0) / p0),
        z,
        p_value,
        significant: p_value < 0.05,
    })
}

/// Whether the normal approximation behind the interval and the test holds: at least
/// `MIN_TRIALS` trials and `MIN_OUTCOMES` successes and failures.
pub fn large_enough(successes: u64, trials: u64) -> bool {
    trials >= MIN_TRIALS
        && successes >= MIN_OUTCOMES
        && trials.saturating_sub(successes) >= MIN_OUTCOMES
}

pub const MIN_TRIALS: u64 = 100;
pub const MIN_OUTCOMES: u64 = 10;

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    /// Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I,
    /// method 3 (Wilson score, no continuity correction).
    #[test]
    fn wilson_matches_newcombe_1998() {
        for (x, n, low, high) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ] {
            let i = wilson(x, n).unwrap();
            assert!(
                close(i.low, low, 5e-5) && close(i.high, high, 5e-5),
                "{x}/{n}: {i:?}"
            );
        }
        assert_eq!(wilson(1, 0), None);
        assert_eq!(wilson(3, 2), None);
    }

    /// Reference values from Python's `math.erfc` with the same formula (pooled standard
    /// error), and the textbook case of 200/1000 against 250/1000.
    #[test]
    fn z_test_matches_reference_values() {
        let c = two_proportion_test(250, 1000, 200, 1000).unwrap();
        assert!(close(c.z, 2.677_397_763_008_329, 1e-9), "{c:?}");
        assert!(close(c.p_value, 0.007_419_649_261_025_693, 1e-9), "{c:?}");
        assert!(c.significant);
        assert!(close(c.relative_lift.unwrap(), 0.25, 1e-12));

        let c = two_proportion_test(52, 1000, 50, 1000).unwrap();
        assert!(!c.significant && c.p_value > 0.8, "{c:?}");
        assert_eq!(two_proportion_test(0, 10, 0, 10), None);
        assert_eq!(two_proportion_test(1, 0, 1, 10), None);
    }

    #[test]
    fn small_samples_are_flagged() {
        assert!(!large_enough(5, 1000));
        assert!(!large_enough(50, 60));
        assert!(!large_enough(995, 1000));
        assert!(large_enough(50, 1000));
    }
}

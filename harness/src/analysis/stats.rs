//! Summary statistics of repeated measurements: the median with its 95% confidence interval
//! (distribution-free, from order statistics), the 90th percentile, the range, and an
//! outlier count by the Iglewicz–Hoaglin modified Z-score.

/// Modified Z-score above which a sample counts as an outlier (Iglewicz and Hoaglin).
const OUTLIER_Z: f64 = 3.5;
/// Least deviation from the median, relative to it, that can make an outlier: with tight
/// samples the MAD is tiny and a 0.5% wobble would otherwise score as one.
const OUTLIER_MIN_DEVIATION: f64 = 0.05;
/// Confidence of the median's interval.
pub const CONFIDENCE: f64 = 0.95;

/// Summary of one figure over the runs of one wrap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Samples summarised.
    pub count: usize,
    /// Median.
    pub median: f64,
    /// The median's 95% confidence interval, `None` with fewer than 6 samples (too few to
    /// reach 95% whatever the interval).
    pub median_ci: Option<(f64, f64)>,
    /// 90th percentile (linear interpolation between order statistics).
    pub p90: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Samples whose modified Z-score (Iglewicz–Hoaglin) exceeds 3.5 and that lie more than
    /// 5% off the median; none when the median absolute deviation is zero.
    pub outliers: usize,
}

impl Summary {
    /// Summarises the samples; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let count = sorted.len();
        let median = median_of_sorted(&sorted);
        Some(Summary {
            count,
            median,
            median_ci: median_interval(&sorted),
            p90: percentile_of_sorted(&sorted, 0.9),
            min: sorted[0],
            max: sorted[count - 1],
            outliers: outlier_count(&sorted, median),
        })
    }

    /// Whether the two medians' confidence intervals overlap (or either has none): then the
    /// data cannot tell the two medians apart.
    pub fn overlaps(&self, other: &Summary) -> bool {
        match (self.median_ci, other.median_ci) {
            (Some((lo, hi)), Some((other_lo, other_hi))) => lo <= other_hi && other_lo <= hi,
            _ => true,
        }
    }
}

/// The spread of positive samples on a log scale, robustly: 1.4826 times the median absolute
/// deviation of their logarithms (the standard deviation, for lognormal samples, that one
/// slow run cannot inflate). `None` with under two samples or any not above zero.
pub fn log_spread(samples: &[f64]) -> Option<f64> {
    if samples.len() < 2 || samples.iter().any(|x| *x <= 0.0) {
        return None;
    }
    let logs: Vec<f64> = samples.iter().map(|x| x.ln()).collect();
    let center = Summary::of(&logs)?.median;
    let deviations: Vec<f64> = logs.iter().map(|x| (x - center).abs()).collect();
    Some(1.4826 * Summary::of(&deviations)?.median)
}

/// The median of samples in ascending order.
pub fn median_of_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The `q` quantile (0..=1) of samples in ascending order, interpolating linearly between
/// order statistics (the common "type 7" definition).
pub fn percentile_of_sorted(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    sorted[below] + (position - below as f64) * (sorted[above] - sorted[below])
}

/// The distribution-free confidence interval of the median: `[x(k), x(n+1-k)]` with the
/// largest `k` whose coverage `1 - 2 P(Bin(n, 1/2) < k)` still reaches [`CONFIDENCE`].
fn median_interval(sorted: &[f64]) -> Option<(f64, f64)> {
    let n = sorted.len();
    let mut below = 0.0; // P(Bin(n, 1/2) < k), for k = 1, 2, ...
    let mut k = 0;
    while k < n / 2 {
        let next = below + binomial_half(n, k);
        if 1.0 - 2.0 * next < CONFIDENCE {
            break;
        }
        below = next;
        k += 1;
    }
    (k > 0).then(|| (sorted[k - 1], sorted[n - k]))
}

/// `P(Bin(n, 1/2) = k)`.
fn binomial_half(n: usize, k: usize) -> f64 {
    let ways = (1..=k).fold(1.0, |c, i| c * (n - k + i) as f64 / i as f64);
    ways * 0.5f64.powi(n as i32)
}

/// Counts samples with a modified Z-score above [`OUTLIER_Z`] that also deviate from the
/// median by more than [`OUTLIER_MIN_DEVIATION`] of it; none when the MAD is zero.
fn outlier_count(sorted: &[f64], median: f64) -> usize {
    let mut deviations: Vec<f64> = sorted.iter().map(|x| (x - median).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    let mad = median_of_sorted(&deviations);
    if mad == 0.0 {
        return 0;
    }
    sorted
        .iter()
        .filter(|x| {
            let deviation = (*x - median).abs();
            0.6745 * deviation / mad > OUTLIER_Z && deviation > OUTLIER_MIN_DEVIATION * median.abs()
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_has_no_summary() {
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn odd_count() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!(s.count, 3);
        assert_eq!(s.median, 2.0);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 3.0);
    }

    #[test]
    fn even_count_median_is_the_midpoint() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.median, 2.5);
    }

    #[test]
    fn single_sample_has_zero_spread() {
        let s = Summary::of(&[7.5]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.outliers), (7.5, 7.5, 7.5, 0));
    }

    #[test]
    fn flags_a_far_outlier_only() {
        let s = Summary::of(&[10.0, 10.2, 9.9, 10.1, 10.0, 9.8, 30.0]).unwrap();
        assert_eq!(s.outliers, 1);
        let s = Summary::of(&[10.0, 10.2, 9.9, 10.1, 10.0, 9.8, 10.3]).unwrap();
        assert_eq!(s.outliers, 0);
    }

    #[test]
    fn a_tiny_wobble_in_tight_samples_is_no_outlier() {
        // 0.221 s and 0.222 s: a huge Z-score against a tiny MAD, but half a percent off.
        let s = Summary::of(&[0.2220, 0.2221, 0.2215, 0.2220, 0.2222, 0.2230]).unwrap();
        assert_eq!(s.outliers, 0);
    }

    #[test]
    fn identical_samples_have_no_outliers() {
        assert_eq!(Summary::of(&[5.0; 10]).unwrap().outliers, 0);
    }

    #[test]
    fn median_interval_from_order_statistics() {
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = Summary::of(&ten).unwrap();
        // n = 10: [x(2), x(9)], coverage 1 - 2 * 11/1024 = 97.9%.
        assert_eq!(s.median_ci, Some((2.0, 9.0)));
        let six: Vec<f64> = (1..=6).map(f64::from).collect();
        assert_eq!(Summary::of(&six).unwrap().median_ci, Some((1.0, 6.0)));
        let five: Vec<f64> = (1..=5).map(f64::from).collect();
        assert_eq!(
            Summary::of(&five).unwrap().median_ci,
            None,
            "93.75% at best"
        );
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        // n = 100: the textbook ranks 40 and 61.
        assert_eq!(Summary::of(&hundred).unwrap().median_ci, Some((40.0, 61.0)));
    }

    #[test]
    fn the_interval_covers_the_true_median_about_95_percent_of_the_time() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(7);
        let trials = 4000;
        let covered = (0..trials)
            .filter(|_| {
                // Exponential samples: skewed, true median ln 2.
                let samples: Vec<f64> =
                    (0..12).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect();
                let (lo, hi) = Summary::of(&samples).unwrap().median_ci.unwrap();
                lo <= std::f64::consts::LN_2 && std::f64::consts::LN_2 <= hi
            })
            .count();
        let rate = covered as f64 / trials as f64;
        // n = 12 gives [x(3), x(10)], exact coverage 96.1%.
        assert!((0.945..0.975).contains(&rate), "{rate}");
    }

    #[test]
    fn ninetieth_percentile_interpolates() {
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!((Summary::of(&ten).unwrap().p90 - 9.1).abs() < 1e-12);
        assert_eq!(Summary::of(&[4.0]).unwrap().p90, 4.0);
    }

    #[test]
    fn log_spread_ignores_one_slow_run() {
        let tight = [100.0, 101.0, 99.0, 100.5, 99.5, 100.0, 400.0];
        let spread = log_spread(&tight).unwrap();
        assert!(spread < 0.01, "{spread}");
        assert_eq!(log_spread(&[5.0]), None);
        assert_eq!(log_spread(&[0.0, 1.0]), None);
    }

    #[test]
    fn intervals_overlap_or_not() {
        let low = Summary::of(&[1.0, 1.1, 1.0, 1.2, 1.1, 1.0]).unwrap();
        let high = Summary::of(&[2.0, 2.1, 2.0, 2.2, 2.1, 2.0]).unwrap();
        assert!(!low.overlaps(&high));
        assert!(low.overlaps(&low));
        assert!(
            low.overlaps(&Summary::of(&[5.0]).unwrap()),
            "no interval: cannot tell"
        );
    }
}

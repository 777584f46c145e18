//! Summary statistics of repeated measurements: median and spread, as the reports print
//! them, and hyperfine's outlier test (modified Z-score over the median absolute deviation).

/// Modified Z-score above which a sample counts as an outlier (Iglewicz and Hoaglin).
const OUTLIER_Z: f64 = 3.5;
/// Least deviation from the median, relative to it, that can make an outlier: with tight
/// samples the MAD is tiny and a 0.5% wobble would otherwise score as one.
const OUTLIER_MIN_DEVIATION: f64 = 0.05;

/// Summary of one figure over the runs of one wrap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Samples summarised.
    pub count: usize,
    /// Median.
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Samples whose modified Z-score exceeds 3.5 and that lie more than 5% off the median.
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
            min: sorted[0],
            max: sorted[count - 1],
            outliers: outlier_count(&sorted, median),
        })
    }
}

fn median_of_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
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
}

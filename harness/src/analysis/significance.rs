//! The exact tests the regression gate relies on: the Wilcoxon–Mann–Whitney rank-sum test
//! (is one side's figure shifted against the other's?) and Fisher's exact test on ok and
//! failed runs (does the candidate serve less often?).
//!
//! The rank-sum test needs no assumption about the shape of the distributions, which are
//! skewed for cold starts, and is exact for the run counts a benchmark has (its null
//! distribution is counted, not drawn), so the same data always gets the same p-value and
//! thousands of comparisons cost milliseconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Largest side for which the rank-sum distribution is counted exactly; larger samples use
/// the normal approximation, which is close by then.
const EXACT_MAX: usize = 50;

/// Two-sided p-value of the rank-sum test of `a` against `b`: the chance, if both were
/// drawn from one distribution, of a rank sum at least as far from its expectation.
/// 1 when either side is empty.
pub fn rank_sum_p_value(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let (n, m) = (a.len(), b.len());
    let u = u_statistic(a, b);
    let tied = has_ties(a, b);
    if tied || n > EXACT_MAX || m > EXACT_MAX {
        normal_p_value(a, b, u)
    } else {
        exact_p_value(n, m, u)
    }
}

/// The smallest two-sided p-value the rank-sum test can give with `n` and `m` samples: two
/// samples that do not overlap at all, `2 / C(n + m, n)`.
pub fn smallest_p_value(n: usize, m: usize) -> f64 {
    let combinations = (1..=n).fold(1.0, |c, i| c * (m + i) as f64 / i as f64);
    (2.0 / combinations).min(1.0)
}

/// Mann–Whitney's U of `a`: pairs where `a`'s value is larger, ties counting a half.
fn u_statistic(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .map(|x| {
            b.iter()
                .map(|y| match x.total_cmp(y) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                })
                .sum::<f64>()
        })
        .sum()
}

fn has_ties(a: &[f64], b: &[f64]) -> bool {
    let mut all: Vec<f64> = a.iter().chain(b).copied().collect();
    all.sort_by(f64::total_cmp);
    all.windows(2).any(|w| w[0] == w[1])
}

/// Counts, for sizes `n` and `m` without ties, how many of the `C(n + m, n)` equally likely
/// orderings give each U (the coefficients of the Gaussian binomial), and sums the tails.
fn exact_p_value(n: usize, m: usize, u: f64) -> f64 {
    let counts = cached_u_counts(n, m);
    let total: f64 = counts.iter().sum();
    let u = u.round() as usize;
    let below: f64 = counts[..=u].iter().sum();
    let above: f64 = counts[u..].iter().sum();
    (2.0 * below.min(above) / total).min(1.0)
}

/// Counted distributions of U by the two sizes.
type CountsBySizes = HashMap<(usize, usize), Arc<Vec<f64>>>;

/// [`u_counts`], counted once per pair of sizes: a nightly compares many figures of the
/// same run counts.
fn cached_u_counts(n: usize, m: usize) -> Arc<Vec<f64>> {
    static CACHE: OnceLock<Mutex<CountsBySizes>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(
        cache
            .entry((n, m))
            .or_insert_with(|| Arc::new(u_counts(n, m))),
    )
}

/// `counts[u]` = orderings of `n` and `m` values with U = u, by the recurrence
/// `c(i, j, u) = c(i - 1, j, u - j) + c(i, j - 1, u)` (is the largest value from `a` or `b`?).
fn u_counts(n: usize, m: usize) -> Vec<f64> {
    let width = n * m + 1;
    // previous[j][u] = c(i - 1, j, u); current[j][u] = c(i, j, u).
    let mut previous = vec![vec![0.0; width]; m + 1];
    for row in &mut previous {
        row[0] = 1.0; // c(0, j, 0) = 1
    }
    for _ in 1..=n {
        let mut current = vec![vec![0.0; width]; m + 1];
        current[0][0] = 1.0; // c(i, 0, 0) = 1
        for j in 1..=m {
            for u in 0..width {
                let largest_from_a = if u >= j { previous[j][u - j] } else { 0.0 };
                current[j][u] = largest_from_a + current[j - 1][u];
            }
        }
        previous = current;
    }
    previous.swap_remove(m)
}

/// The normal approximation with a continuity correction and the variance corrected for
/// ties; 1 when every value is the same.
fn normal_p_value(a: &[f64], b: &[f64], u: f64) -> f64 {
    let (n, m) = (a.len() as f64, b.len() as f64);
    let total = n + m;
    let mut all: Vec<f64> = a.iter().chain(b).copied().collect();
    all.sort_by(f64::total_cmp);
    let tie_term: f64 = all
        .chunk_by(|x, y| x == y)
        .map(|group| {
            let t = group.len() as f64;
            t * t * t - t
        })
        .sum();
    let variance = n * m / 12.0 * ((total + 1.0) - tie_term / (total * (total - 1.0)));
    if variance <= 0.0 {
        return 1.0;
    }
    let distance = ((u - n * m / 2.0).abs() - 0.5).max(0.0);
    (2.0 * upper_normal_tail(distance / variance.sqrt())).min(1.0)
}

/// `P(Z > z)` for a standard normal Z (Abramowitz and Stegun 7.1.26, error under 1.5e-7).
fn upper_normal_tail(z: f64) -> f64 {
    if z < 0.0 {
        return 1.0 - upper_normal_tail(-z);
    }
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    0.5 * poly * (-x * x).exp()
}

/// The `z` with `P(Z < z) = p` for a standard normal Z, by bisection on its tail.
pub fn normal_quantile(p: f64) -> f64 {
    let (mut low, mut high) = (-10.0, 10.0);
    for _ in 0..100 {
        let middle = (low + high) / 2.0;
        if 1.0 - upper_normal_tail(middle) < p {
            low = middle;
        } else {
            high = middle;
        }
    }
    (low + high) / 2.0
}

/// `z(1 - alpha / 2) + z(power)`: how many standard errors a shift must span to be caught.
fn standard_errors_needed(alpha: f64, power: f64) -> f64 {
    normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power)
}

/// The smallest relative shift of a figure whose logarithm spreads by `sigma` that a
/// two-sided test at `alpha` catches with probability `power`, with `n` and `m` samples: the
/// t-test on the logarithms, which the rank-sum test nearly matches (95% of its efficiency
/// on normal data, more on skewed).
pub fn resolvable_change(sigma: f64, n: usize, m: usize, alpha: f64, power: f64) -> f64 {
    let standard_error = sigma * (1.0 / n as f64 + 1.0 / m as f64).sqrt();
    (standard_errors_needed(alpha, power) * standard_error).exp() - 1.0
}

/// Runs a side at which [`resolvable_change`] comes down to `change`.
pub fn runs_to_resolve(sigma: f64, change: f64, alpha: f64, power: f64) -> usize {
    let spans = standard_errors_needed(alpha, power) * sigma / change.ln_1p();
    (2.0 * spans * spans).ceil() as usize
}

/// One-sided Fisher exact test: the probability, with both sides' totals fixed and no real
/// difference, that the candidate has at most `candidate_ok` ok runs of `candidate_runs`
/// while the baseline had `baseline_ok` of `baseline_runs`.
pub fn fisher_fewer_ok(
    baseline_ok: usize,
    baseline_runs: usize,
    candidate_ok: usize,
    candidate_runs: usize,
) -> f64 {
    let total = baseline_runs + candidate_runs;
    let ok = baseline_ok + candidate_ok;
    let ln_factorial: Vec<f64> = std::iter::once(0.0)
        .chain((1..=total).scan(0.0, |sum, i| {
            *sum += (i as f64).ln();
            Some(*sum)
        }))
        .collect();
    let ln_choose = |n: usize, k: usize| ln_factorial[n] - ln_factorial[k] - ln_factorial[n - k];
    let lowest = candidate_runs.saturating_sub(total - ok);
    (lowest..=candidate_ok)
        .map(|x| {
            (ln_choose(ok, x) + ln_choose(total - ok, candidate_runs - x)
                - ln_choose(total, candidate_runs))
            .exp()
        })
        .sum::<f64>()
        .min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_give_a_large_p() {
        let a = [200.0, 205.0, 198.0, 202.0, 201.0, 199.0, 203.0, 200.5];
        assert!(
            rank_sum_p_value(&a, &a) > 0.999,
            "every value tied with its copy"
        );
        assert_eq!(rank_sum_p_value(&[5.0; 6], &[5.0; 6]), 1.0);
        assert_eq!(rank_sum_p_value(&[], &a), 1.0);
    }

    #[test]
    fn separated_samples_reach_the_smallest_p() {
        let low: Vec<f64> = (0..10).map(f64::from).collect();
        let high: Vec<f64> = (20..30).map(f64::from).collect();
        let p = rank_sum_p_value(&low, &high);
        assert!((p - 2.0 / 184_756.0).abs() < 1e-15, "{p}");
        assert_eq!(p, smallest_p_value(10, 10));
        assert_eq!(rank_sum_p_value(&high, &low), p, "two-sided");
        assert!(
            smallest_p_value(3, 3) > 0.05,
            "too few runs to be sure of anything"
        );
        assert!(smallest_p_value(10, 6) < 0.01, "unequal counts are fine");
        assert_eq!(smallest_p_value(1, 1), 1.0);
    }

    #[test]
    fn exact_counts_match_a_table() {
        // n = m = 3: the 20 orderings give U = 0..9 with counts 1 1 2 3 3 3 3 2 1 1.
        assert_eq!(
            u_counts(3, 3),
            [1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 2.0, 1.0, 1.0]
        );
        // Unequal sizes: n = 2, m = 4 has C(6, 2) = 15 orderings.
        assert_eq!(u_counts(2, 4).iter().sum::<f64>(), 15.0);
        // U = 1 of n = m = 3 (one pair out of order): P(U <= 1) = 2/20, two-sided 0.2.
        let p = rank_sum_p_value(&[1.0, 2.0, 4.0], &[3.0, 5.0, 6.0]);
        assert!((p - 0.2).abs() < 1e-12, "{p}");
    }

    #[test]
    fn the_normal_approximation_agrees_with_the_exact_count() {
        // 12 against 12 interleaved: the exact p and the approximation differ little.
        let a: Vec<f64> = (0..12).map(|i| f64::from(i) * 2.0).collect();
        let b: Vec<f64> = (0..12).map(|i| f64::from(i) * 2.0 + 3.0).collect();
        let u = u_statistic(&a, &b);
        let (exact, normal) = (exact_p_value(12, 12, u), normal_p_value(&a, &b, u));
        assert!((exact - normal).abs() < 0.01, "{exact} vs {normal}");
        assert!(exact > 0.05 && exact < 0.9, "{exact}");
    }

    #[test]
    fn ties_use_the_corrected_normal_approximation() {
        let a = [4096.0, 4096.0, 8192.0, 8192.0, 8192.0, 12288.0];
        let b = [12288.0, 12288.0, 16384.0, 16384.0, 16384.0, 20480.0];
        let p = rank_sum_p_value(&a, &b);
        assert!(p < 0.01, "{p}");
        assert!(rank_sum_p_value(&a, &a) > 0.9);
    }

    #[test]
    fn the_normal_tail_matches_known_values() {
        assert!((upper_normal_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((upper_normal_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((upper_normal_tail(2.575_829) - 0.005).abs() < 1e-6);
    }

    #[test]
    fn quantiles_invert_the_tail() {
        assert!((normal_quantile(0.995) - 2.575_829).abs() < 1e-5);
        assert!((normal_quantile(0.95) - 1.644_854).abs() < 1e-5);
        assert!((normal_quantile(0.5)).abs() < 1e-6);
        assert!((normal_quantile(0.025) + 1.959_964).abs() < 1e-5);
    }

    #[test]
    fn what_a_run_count_resolves() {
        // A 15% spread at 10 runs a side: (2.576 + 1.645) * 0.15 * sqrt(0.2) = 0.283 in
        // logarithms, a 33% shift; 42 runs a side bring it down to 15%.
        let change = resolvable_change(0.15, 10, 10, 0.01, 0.95);
        assert!((change - 0.327).abs() < 0.002, "{change}");
        assert_eq!(runs_to_resolve(0.15, 0.15, 0.01, 0.95), 42);
        assert!(resolvable_change(0.15, 42, 42, 0.01, 0.95) <= 0.15);
        assert!(resolvable_change(0.15, 41, 41, 0.01, 0.95) > 0.15);
        assert!(
            resolvable_change(0.01, 10, 10, 0.01, 0.95) < 0.02,
            "a tight figure"
        );
    }

    #[test]
    fn fisher_matches_hand_computed_values() {
        // 10/10 ok against 9/10: P(X <= 9) = 1 - P(X = 10) = 1 - C(19,10)/C(20,10) = 0.5.
        assert!((fisher_fewer_ok(10, 10, 9, 10) - 0.5).abs() < 1e-12);
        // 10/10 against 1/10: C(11,1) C(9,9) / C(20,10) = 11 / 184756.
        let p = fisher_fewer_ok(10, 10, 1, 10);
        assert!((p - 11.0 / 184_756.0).abs() < 1e-12, "{p}");
        assert_eq!(fisher_fewer_ok(5, 10, 10, 10), 1.0);
        assert!((fisher_fewer_ok(0, 4, 0, 4) - 1.0).abs() < 1e-12);
    }
}

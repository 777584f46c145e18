//! Regression gating for nightly runs, after Firecracker's A/B rule: a figure of a wrap has
//! regressed when a permutation test on the difference of means says p < 0.01 *and* its
//! mean moved by more than 20% of the baseline's. Both revisions should be measured on the
//! same host; the rows say where each was measured.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::figure::{self, Figure};
use crate::results::ResultRow;

/// Permutations of the pooled samples drawn per test.
const PERMUTATIONS: usize = 10_000;
/// Seed of the permutations: the same data always gets the same verdict.
const SEED: u64 = 0x5348_5249_4e4b;

/// When a change counts.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Largest p-value that counts as a real difference.
    pub alpha: f64,
    /// Smallest relative change of the mean that matters (0.2 = 20%).
    pub threshold: f64,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            alpha: 0.01,
            threshold: 0.2,
        }
    }
}

/// The outcome for one figure of one wrap.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The wrap.
    pub wrap: String,
    /// The figure.
    pub figure: &'static Figure,
    /// Mean in the baseline.
    pub baseline_mean: f64,
    /// Mean in the candidate.
    pub candidate_mean: f64,
    /// `candidate / baseline - 1`.
    pub change: f64,
    /// Permutation test p-value of the difference of means.
    pub p_value: f64,
    /// Worse by more than the threshold, with p below alpha.
    pub regression: bool,
    /// Better by more than the threshold, with p below alpha.
    pub improvement: bool,
}

fn mean(samples: &[f64]) -> f64 {
    samples.iter().sum::<f64>() / samples.len() as f64
}

/// Two-sided permutation test of the difference of means; `(count + 1) / (N + 1)`.
pub fn permutation_p_value(a: &[f64], b: &[f64]) -> f64 {
    let observed = (mean(a) - mean(b)).abs();
    let mut pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut as_extreme = 0usize;
    for _ in 0..PERMUTATIONS {
        pooled.shuffle(&mut rng);
        let (x, y) = pooled.split_at(a.len());
        // A hair of tolerance: identical data must count as "as extreme".
        if (mean(x) - mean(y)).abs() >= observed - 1e-12 * observed.abs().max(1.0) {
            as_extreme += 1;
        }
    }
    (as_extreme + 1) as f64 / (PERMUTATIONS + 1) as f64
}

/// What a comparison found: the figures, and what makes them less trustworthy.
#[derive(Debug, Clone, Default)]
pub struct Verdicts {
    /// One per wrap and figure with samples on both sides.
    pub comparisons: Vec<Comparison>,
    /// Wraps that served in the baseline but never in the candidate: regressions too.
    pub stopped_serving: Vec<String>,
    /// Reasons to distrust the comparison (different hosts, accelerators, runtimes, too few
    /// runs to reach the p-value).
    pub warnings: Vec<String>,
}

impl Verdicts {
    /// Regressions: figures over the rule, and wraps that stopped serving.
    pub fn regressions(&self) -> usize {
        self.comparisons.iter().filter(|c| c.regression).count() + self.stopped_serving.len()
    }
}

/// The distinct values of a column of `rows`, in order of first appearance.
pub fn distinct<'a>(
    rows: impl IntoIterator<Item = &'a ResultRow>,
    get: fn(&ResultRow) -> &str,
) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for row in rows {
        let value = get(row);
        if !seen.iter().any(|s| s == value) {
            seen.push(value.to_string());
        }
    }
    seen
}

/// Smallest two-sided p-value a permutation test can reach with `n` and `m` samples.
fn smallest_p(n: usize, m: usize) -> f64 {
    // 2 / C(n + m, n): the observed split and its mirror are the only ones as extreme.
    let combinations = (1..=n).fold(1.0, |c, i| c * (m + i) as f64 / i as f64);
    (2.0 / combinations).min(1.0)
}

/// Compares every figure of every wrap present in both runs, over their `ok` rows.
pub fn compare(baseline: &[ResultRow], candidate: &[ResultRow], rule: Rule) -> Verdicts {
    let mut verdicts = Verdicts::default();
    let hosts = (
        distinct(baseline, |r| &r.host),
        distinct(candidate, |r| &r.host),
    );
    if hosts.0 != hosts.1 {
        verdicts.warnings.push(format!(
            "measured on different hosts ({} vs {}): an A/B comparison needs one host",
            hosts.0.join(", "),
            hosts.1.join(", ")
        ));
    }
    let wraps = distinct(
        baseline
            .iter()
            .filter(|r| candidate.iter().any(|c| c.wrap == r.wrap)),
        |r| &r.wrap,
    );
    for wrap in &wraps {
        let base: Vec<&ResultRow> = baseline.iter().filter(|r| r.wrap == *wrap).collect();
        let cand: Vec<&ResultRow> = candidate.iter().filter(|r| r.wrap == *wrap).collect();
        for (what, get) in [
            (
                "accelerator",
                (|r: &ResultRow| r.accel.as_str()) as fn(&ResultRow) -> &str,
            ),
            ("runtime", |r: &ResultRow| r.runtime_version.as_str()),
        ] {
            let (a, b) = (
                distinct(base.iter().copied(), get),
                distinct(cand.iter().copied(), get),
            );
            if a != b {
                verdicts.warnings.push(format!(
                    "{wrap}: {what} differs ({} vs {})",
                    a.join(", "),
                    b.join(", ")
                ));
            }
        }
        let ok = |rows: &[&ResultRow]| rows.iter().filter(|r| r.ok).count();
        if ok(&base) > 0 && ok(&cand) == 0 {
            verdicts.stopped_serving.push(wrap.clone());
        } else if ok(&cand) > 0 && smallest_p(ok(&base), ok(&cand)) >= rule.alpha {
            verdicts.warnings.push(format!(
                "{wrap}: {} and {} ok runs cannot reach p < {}: nothing can be flagged",
                ok(&base),
                ok(&cand),
                rule.alpha
            ));
        }
    }
    let samples = |rows: &[ResultRow], wrap: &str, figure: &Figure| -> Vec<f64> {
        rows.iter()
            .filter(|r| r.ok && r.wrap == wrap)
            .filter_map(|r| (figure.value)(r))
            .collect()
    };
    for wrap in &wraps {
        for figure in figure::ALL.iter().copied().filter(|f| f.gated) {
            let (a, b) = (
                samples(baseline, wrap, figure),
                samples(candidate, wrap, figure),
            );
            if a.is_empty() || b.is_empty() {
                continue;
            }
            let (baseline_mean, candidate_mean) = (mean(&a), mean(&b));
            let change = if baseline_mean > 0.0 {
                candidate_mean / baseline_mean - 1.0
            } else {
                0.0
            };
            let p_value = permutation_p_value(&a, &b);
            let significant = p_value < rule.alpha;
            verdicts.comparisons.push(Comparison {
                wrap: wrap.to_string(),
                figure,
                baseline_mean,
                candidate_mean,
                change,
                p_value,
                regression: significant && change > rule.threshold,
                improvement: significant && change < -rule.threshold,
            });
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::sample_row;

    fn rows(wrap: &str, ttfrs: &[f64]) -> Vec<ResultRow> {
        ttfrs
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let mut row = sample_row(wrap, i as u32 + 1);
                row.ttfr_ms = Some(t);
                row
            })
            .collect()
    }

    fn ttfr(verdicts: &Verdicts) -> &Comparison {
        verdicts
            .comparisons
            .iter()
            .find(|c| c.figure.column == figure::TTFR.column)
            .unwrap()
    }

    const BASE: [f64; 10] = [
        200.0, 205.0, 198.0, 202.0, 201.0, 199.0, 203.0, 200.0, 204.0, 197.0,
    ];

    #[test]
    fn the_same_distribution_is_no_regression() {
        let c = compare(&rows("vm", &BASE), &rows("vm", &BASE), Rule::default());
        let t = ttfr(&c);
        assert!(!t.regression && !t.improvement);
        assert!(t.p_value > 0.5, "{}", t.p_value);
        assert_eq!(t.change, 0.0);
    }

    #[test]
    fn a_large_clear_slowdown_is_a_regression() {
        let slower: Vec<f64> = BASE.iter().map(|t| t * 1.5).collect();
        let c = compare(&rows("vm", &BASE), &rows("vm", &slower), Rule::default());
        let t = ttfr(&c);
        assert!(t.regression, "{t:?}");
        assert!((t.change - 0.5).abs() < 1e-9);
        assert!(t.p_value < 0.01);
        // The other way round it is an improvement.
        let back = compare(&rows("vm", &slower), &rows("vm", &BASE), Rule::default());
        assert!(ttfr(&back).improvement && !ttfr(&back).regression);
    }

    #[test]
    fn a_clear_but_small_slowdown_is_below_the_threshold() {
        let slower: Vec<f64> = BASE.iter().map(|t| t * 1.1).collect();
        let t = ttfr(&compare(
            &rows("vm", &BASE),
            &rows("vm", &slower),
            Rule::default(),
        ))
        .clone();
        assert!(t.p_value < 0.01, "the change is real");
        assert!(!t.regression, "but under 20%");
    }

    #[test]
    fn a_large_change_in_noise_is_not_significant() {
        let base = [100.0, 400.0, 150.0];
        let noisy = [500.0, 120.0, 380.0];
        let t = ttfr(&compare(
            &rows("vm", &base),
            &rows("vm", &noisy),
            Rule::default(),
        ))
        .clone();
        assert!(t.change > 0.2);
        assert!(t.p_value >= 0.01, "{}", t.p_value);
        assert!(!t.regression);
    }

    #[test]
    fn only_wraps_in_both_runs_and_ok_rows_count() {
        let mut candidate = rows("vm", &BASE);
        candidate[0].ok = false;
        candidate[0].ttfr_ms = Some(1e9);
        candidate.extend(rows("new-wrap", &BASE));
        let c = compare(&rows("vm", &BASE), &candidate, Rule::default());
        assert!(c.comparisons.iter().all(|c| c.wrap == "vm"));
        assert!(!ttfr(&c).regression);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn a_wrap_that_stopped_serving_is_a_regression() {
        let mut candidate = rows("vm", &BASE);
        for row in &mut candidate {
            row.ok = false;
        }
        let c = compare(&rows("vm", &BASE), &candidate, Rule::default());
        assert_eq!(c.stopped_serving, vec!["vm".to_string()]);
        assert_eq!(c.regressions(), 1);
    }

    #[test]
    fn warns_about_other_hosts_accelerators_and_too_few_runs() {
        let mut candidate = rows("vm", &[200.0, 300.0]);
        for row in &mut candidate {
            row.host = "elsewhere".into();
            row.accel = "kvm".into();
        }
        let c = compare(&rows("vm", &[200.0, 210.0]), &candidate, Rule::default());
        let text = c.warnings.join("\n");
        assert!(text.contains("different hosts"), "{text}");
        assert!(
            text.contains("vm: accelerator differs (native vs kvm)"),
            "{text}"
        );
        assert!(text.contains("cannot reach p < 0.01"), "{text}");
    }

    #[test]
    fn smallest_reachable_p_values() {
        assert!((smallest_p(2, 2) - 2.0 / 6.0).abs() < 1e-12);
        assert!(smallest_p(10, 10) < 1e-4);
        assert_eq!(smallest_p(1, 1), 1.0);
    }
}

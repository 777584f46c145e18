//! The night's tests as one family: Holm's step-down correction keeps the chance of any
//! false alarm among all of a comparison's tests (every wrap's serving test and every
//! median test) under alpha, not that of each test alone. With about fifty tests a night, a
//! per-test alpha of 1% would raise some alarm on two nights in five of pure noise.

use super::{Finding, Verdict};

/// Holm-adjusted p-values of `p_values`, in their order: the smallest p times the number of
/// tests, the next times one fewer, ..., each at least the one before it, at most 1. A test
/// is rejected at family-wise level alpha exactly when its adjusted p is below alpha.
pub fn holm_adjusted(p_values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p_values.len()).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let m = p_values.len();
    let mut adjusted = vec![1.0; m];
    let mut running = 0.0_f64;
    for (rank, &index) in order.iter().enumerate() {
        running = running.max((p_values[index] * (m - rank) as f64).min(1.0));
        adjusted[index] = running;
    }
    adjusted
}

/// Sets each tested finding's adjusted p-value over the family of `findings`, and turns a
/// change its own test found back into "unchanged" when the family's correction does not
/// keep it. Returns the family's size.
pub fn correct(findings: &mut [Finding], alpha: f64) -> usize {
    let tested: Vec<usize> = (0..findings.len())
        .filter(|&i| findings[i].p_value.is_some())
        .collect();
    let p_values: Vec<f64> = tested.iter().filter_map(|&i| findings[i].p_value).collect();
    let adjusted = holm_adjusted(&p_values);
    let family = tested.len();
    for (&i, &p_adjusted) in tested.iter().zip(&adjusted) {
        let finding = &mut findings[i];
        finding.p_adjusted = Some(p_adjusted);
        if finding.by_test && finding.verdict != Verdict::Unchanged && p_adjusted >= alpha {
            finding.verdict = Verdict::Unchanged;
            finding.why = format!(
                "{}, but not among the {family} tests of the comparison (Holm-adjusted p ≥ {alpha})",
                finding.why
            );
        }
    }
    family
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_multiplies_by_the_tests_left_and_never_decreases() {
        let adjusted = holm_adjusted(&[0.04, 0.001, 0.03, 0.5]);
        let expected = [0.09, 0.004, 0.09, 0.5];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{adjusted:?}");
        }
        assert_eq!(holm_adjusted(&[0.6, 0.7]), [1.0, 1.0]);
        assert!(holm_adjusted(&[]).is_empty());
    }

    fn finding(p_value: f64, verdict: Verdict) -> Finding {
        Finding {
            wrap: "w".into(),
            figure: None,
            check: super::super::Check::Median,
            baseline: super::super::Observed::Absent,
            candidate: super::super::Observed::Absent,
            p_value: Some(p_value),
            p_adjusted: None,
            by_test: true,
            verdict,
            why: "median moved".into(),
        }
    }

    #[test]
    fn a_change_its_own_test_finds_is_kept_only_if_the_family_keeps_it() {
        let mut findings = vec![
            finding(0.0001, Verdict::Regression),
            finding(0.004, Verdict::Regression),
            finding(0.5, Verdict::Unchanged),
        ];
        let mut by_rule = finding(0.2, Verdict::Regression);
        by_rule.by_test = false;
        findings.push(by_rule);
        assert_eq!(correct(&mut findings, 0.01), 4);
        let verdicts: Vec<Verdict> = findings.iter().map(|f| f.verdict).collect();
        use Verdict::*;
        assert_eq!(verdicts, [Regression, Unchanged, Unchanged, Regression]);
        assert!(findings[1].why.contains("4 tests"), "{}", findings[1].why);
        assert_eq!(findings[0].p_adjusted, Some(0.0004));
    }

    #[test]
    fn one_test_is_its_own_family() {
        assert_eq!(holm_adjusted(&[0.004]), [0.004]);
    }
}

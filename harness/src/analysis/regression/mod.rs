//! Regression gating of nightly runs: per wrap, whether it still serves (Fisher's exact
//! test on ok runs), and per gated figure a check that suits it:
//!
//! - per-launch times and memory: the median moved by more than the figure's limit *and* the
//!   rank-sum test says the two sides differ with p < alpha, in the spirit of Firecracker's
//!   A/B rule (change above a threshold and significant). The median rather than the mean:
//!   one slow boot in ten moves a mean by tens of percent and says nothing about the other
//!   nine; the tail check below catches a minority;
//! - cold starts also by their tail: the 90th percentile rose by more than the tail limit and at
//!   least two candidate runs are slower than every baseline run by more than the limit;
//! - one-value-per-image figures (sizes) by a tolerance, never by a test on copies;
//! - any figure with an absolute budget: the candidate's median above it.
//!
//! A baseline and a candidate measured on different hosts or accelerators are not
//! comparable: [`Verdicts::mismatches`] says why, and the caller decides; different runtime
//! versions are kept apart ([`Verdicts::runtime_changes`]): a plain comparison refuses them,
//! an A/B of two revisions reports them.

pub mod budget;
pub mod family;

pub use budget::{BudgetError, Budgets, Rule};

use crate::analysis::significance::{
    fisher_fewer_ok, rank_sum_p_value, resolvable_change, runs_to_resolve, smallest_p_value,
};
use crate::analysis::stats::{Summary, log_spread};
use crate::figure::{self, Figure, Gate, Quantity};
use crate::results::{ResultRow, distinct};

/// The chance of catching a change at a figure's limit that its run counts should give.
const POWER: f64 = 0.95;

/// The least runs slower than the whole baseline that make a tail regression: one slow run
/// is the odd hiccup of a shared machine.
const TAIL_RUNS: usize = 2;

/// Which check a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The share of ok runs (Fisher's exact test), or a wrap missing altogether.
    Serving,
    /// The median, against the figure's limit and the rank-sum test.
    Median,
    /// The 90th percentile and the runs slower than the whole baseline.
    Tail,
    /// One value per image, against a tolerance.
    Tolerance,
    /// The candidate's median against an absolute budget.
    Budget,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Check::Serving => "serving",
            Check::Median => "median",
            Check::Tail => "tail (p90)",
            Check::Tolerance => "tolerance",
            Check::Budget => "budget",
        })
    }
}

/// What a check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Worse, beyond the limit and (where there is one) the test.
    Regression,
    /// Better, beyond the limit and the test.
    Improvement,
    /// No change the rules can tell.
    Unchanged,
}

/// What one side showed for a finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// Ok runs of all runs.
    Runs {
        /// Runs that served and stopped.
        ok: usize,
        /// Runs recorded.
        of: usize,
    },
    /// The samples of a figure.
    Samples(Summary),
    /// The wrap or figure is not in this side's rows.
    Absent,
}

/// The outcome of one check of one wrap.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The wrap.
    pub wrap: String,
    /// The figure; `None` for [`Check::Serving`].
    pub figure: Option<&'static Figure>,
    /// The check.
    pub check: Check,
    /// The baseline's side.
    pub baseline: Observed,
    /// The candidate's side.
    pub candidate: Observed,
    /// The p-value of the check's test, when it has one.
    pub p_value: Option<f64>,
    /// The p-value adjusted for the comparison's family of tests (Holm), when it has one.
    pub p_adjusted: Option<f64>,
    /// Whether the verdict rests on the test (a change beyond the limit that only the test
    /// can tell from chance), not on a rule of its own (a wrap that never served).
    pub by_test: bool,
    /// The conclusion.
    pub verdict: Verdict,
    /// Why, in words (the rule that fired, or what held it back).
    pub why: String,
}

/// Everything a comparison found.
#[derive(Debug, Clone, Default)]
pub struct Verdicts {
    /// One per wrap and check.
    pub findings: Vec<Finding>,
    /// Why the two sides are not comparable (host, accelerator): empty when they are.
    pub mismatches: Vec<String>,
    /// Wraps whose runtime version differs: not comparable as runs of one setup, but what
    /// an A/B of two revisions may be testing.
    pub runtime_changes: Vec<String>,
    /// What limits the comparison without making it wrong (too few runs, new wraps).
    pub warnings: Vec<String>,
    /// How many tests the family-wise correction took together (0: none, each test on its
    /// own).
    pub family: usize,
    /// The family-wise alpha: the chance of any false alarm among them.
    pub alpha: f64,
}

impl Verdicts {
    /// The findings that are regressions.
    pub fn regressions(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.verdict == Verdict::Regression)
    }
}

/// `candidate / baseline - 1`, 0 when the baseline is 0.
pub fn relative_change(baseline: f64, candidate: f64) -> f64 {
    if baseline > 0.0 {
        candidate / baseline - 1.0
    } else {
        0.0
    }
}

/// Compares the rows of one scenario on one host: every wrap of either side, every gated
/// figure, by the rules in `budgets`, the night's tests as one family (Holm).
pub fn compare(baseline: &[ResultRow], candidate: &[ResultRow], budgets: &Budgets) -> Verdicts {
    let alpha = budgets.defaults.alpha;
    let lone_alpha = alpha / family_size(baseline, candidate) as f64;
    let mut verdicts = judge_each(baseline, candidate, budgets, lone_alpha);
    verdicts.family = family::correct(&mut verdicts.findings, alpha);
    verdicts
}

/// [`compare`] with each test at alpha on its own, no family-wise correction: the first
/// pass of an A/B, whose flags are only retried, never reported as regressions.
pub fn screen(baseline: &[ResultRow], candidate: &[ResultRow], budgets: &Budgets) -> Verdicts {
    judge_each(baseline, candidate, budgets, budgets.defaults.alpha)
}

/// Every wrap's findings, each test at alpha on its own; warnings say what a lone change
/// must reach to count (`lone_alpha`).
fn judge_each(
    baseline: &[ResultRow],
    candidate: &[ResultRow],
    budgets: &Budgets,
    lone_alpha: f64,
) -> Verdicts {
    let mut verdicts = Verdicts {
        mismatches: host_mismatches(baseline, candidate),
        ..Verdicts::default()
    };
    let all = baseline.iter().chain(candidate);
    for wrap in distinct(all, |r| &r.wrap) {
        let side = |rows: &[ResultRow]| -> Vec<ResultRow> {
            rows.iter().filter(|r| r.wrap == wrap).cloned().collect()
        };
        let pair = WrapPair {
            wrap: &wrap,
            baseline: side(baseline),
            candidate: side(candidate),
            budgets,
            lone_alpha,
        };
        pair.judge(&mut verdicts);
    }
    verdicts.alpha = budgets.defaults.alpha;
    verdicts
}

/// The tests with a p-value a comparison of these rows makes (the family Holm corrects
/// over): per wrap on both sides, the serving test, and one per median-gated figure both
/// sides have samples of (guest RAM only where a guest reports it).
fn family_size(baseline: &[ResultRow], candidate: &[ResultRow]) -> usize {
    let base = distinct(baseline, |r| &r.wrap);
    let wraps = distinct(candidate, |r| &r.wrap)
        .into_iter()
        .filter(|w| base.contains(w));
    let median_gated = || {
        figure::ALL
            .iter()
            .filter(|f| matches!(f.gate, Gate::Median | Gate::MedianAndTail))
    };
    let tests: usize = wraps
        .map(|wrap| {
            let side = |rows: &[ResultRow]| -> Vec<ResultRow> {
                rows.iter().filter(|r| r.wrap == wrap).cloned().collect()
            };
            let (a, b) = (side(baseline), side(candidate));
            let both_sampled = median_gated()
                .filter(|f| !samples(&a, f).is_empty() && !samples(&b, f).is_empty())
                .count();
            1 + both_sampled
        })
        .sum();
    tests.max(1)
}

fn host_mismatches(baseline: &[ResultRow], candidate: &[ResultRow]) -> Vec<String> {
    [
        (
            "hosts",
            (|r: &ResultRow| r.host.as_str()) as fn(&ResultRow) -> &str,
        ),
        ("host CPUs", |r| &r.host_cpu),
        ("scenarios", |r| &r.scenario),
    ]
    .into_iter()
    .filter_map(|(what, get)| differs(what, baseline, candidate, get))
    .collect()
}

/// "different WHAT (a vs b)" when both sides have rows and their values of `get` differ.
fn differs(
    what: &str,
    baseline: &[ResultRow],
    candidate: &[ResultRow],
    get: fn(&ResultRow) -> &str,
) -> Option<String> {
    let (a, b) = (distinct(baseline, get), distinct(candidate, get));
    (!a.is_empty() && !b.is_empty() && a != b).then(|| {
        format!(
            "measured on different {what} ({} vs {})",
            a.join(", "),
            b.join(", ")
        )
    })
}

/// One wrap's rows on both sides.
struct WrapPair<'a> {
    wrap: &'a str,
    baseline: Vec<ResultRow>,
    candidate: Vec<ResultRow>,
    budgets: &'a Budgets,
    /// The level a lone change must reach to count: alpha on its own, alpha over the number
    /// of tests under the family's correction (Holm's first step).
    lone_alpha: f64,
}

impl WrapPair<'_> {
    fn judge(&self, verdicts: &mut Verdicts) {
        let accel: fn(&ResultRow) -> &str = |r| &r.accel;
        if let Some(m) = differs("accelerators", &self.baseline, &self.candidate, accel) {
            verdicts.mismatches.push(format!("{}: {m}", self.wrap));
        }
        let runtime: fn(&ResultRow) -> &str = |r| &r.runtime_version;
        if let Some(m) = differs("runtimes", &self.baseline, &self.candidate, runtime) {
            verdicts.runtime_changes.push(format!("{}: {m}", self.wrap));
        }
        if self.baseline.is_empty() {
            verdicts.warnings.push(format!(
                "{}: new in the candidate, nothing to compare it with",
                self.wrap
            ));
            return;
        }
        let serving = self.serving();
        let (ok_base, ok_cand) = (ok_count(&self.baseline), ok_count(&self.candidate));
        let failed = self.candidate.len() - ok_cand;
        if serving.verdict == Verdict::Unchanged && failed > 0 {
            verdicts.warnings.push(format!(
                "{}: {failed} of {} candidate runs failed ({} of {} in the baseline), too few to \
                 tell from chance: see why they failed",
                self.wrap,
                self.candidate.len(),
                self.baseline.len() - ok_base,
                self.baseline.len()
            ));
        }
        verdicts.findings.push(serving);
        if ok_cand > 0 && smallest_p_value(ok_base, ok_cand) >= self.lone_alpha {
            verdicts.warnings.push(format!(
                "{}: {ok_base} and {ok_cand} ok runs cannot reach p < {:.2e}: a lone median \
                 change cannot be flagged (serving, tail, tolerance and budget checks still \
                 apply)",
                self.wrap, self.lone_alpha
            ));
        }
        for figure in figure::ALL.iter().copied().filter(|f| f.gate != Gate::None) {
            verdicts.findings.extend(self.figure_findings(figure));
            verdicts.warnings.extend(self.resolution_warning(figure));
        }
    }

    /// Says so when the baseline's spread and the run counts cannot resolve a per-launch
    /// figure's limit: then a change at the limit is caught less often than 95% of the time.
    fn resolution_warning(&self, figure: &Figure) -> Option<String> {
        if figure.per_image() {
            return None;
        }
        let base = samples(&self.baseline, figure);
        let sigma = log_spread(&base)?;
        let n_cand = samples(&self.candidate, figure).len();
        if n_cand < 2 {
            return None;
        }
        // A change under the floor never counts: the limit is at least the floor's share.
        let median = Summary::of(&base)?.median;
        let limit = self
            .budgets
            .limit(self.wrap, self.accel(), figure)
            .max(self.floor(figure) / median);
        let resolvable = resolvable_change(sigma, base.len(), n_cand, self.lone_alpha, POWER);
        (resolvable > limit).then(|| {
            let runs = runs_to_resolve(sigma, limit, self.lone_alpha, POWER);
            format!(
                "{}: {} spreads by {:.0}% from run to run: with {} and {n_cand} runs only \
                 changes above about {:.0}% are caught {:.0}% of the time, while changes from \
                 {:.0}% count (about {runs} runs a side would catch those)",
                self.wrap,
                figure.title.to_lowercase(),
                sigma * 100.0,
                base.len(),
                resolvable * 100.0,
                POWER * 100.0,
                limit * 100.0
            )
        })
    }

    /// The least absolute change of `figure` that can count, in its column's unit.
    fn floor(&self, figure: &Figure) -> f64 {
        match figure.quantity {
            Quantity::Time => self.budgets.defaults.time_floor_ms,
            _ => 0.0,
        }
    }

    fn alpha(&self) -> f64 {
        self.budgets.defaults.alpha
    }

    /// The accelerator the candidate ran under (the baseline's if it has no rows).
    fn accel(&self) -> &str {
        self.candidate
            .first()
            .or(self.baseline.first())
            .map_or("", |r| r.accel.as_str())
    }

    fn finding(&self, figure: Option<&'static Figure>, check: Check) -> Finding {
        Finding {
            wrap: self.wrap.to_string(),
            figure,
            check,
            baseline: Observed::Absent,
            candidate: Observed::Absent,
            p_value: None,
            p_adjusted: None,
            by_test: false,
            verdict: Verdict::Unchanged,
            why: String::new(),
        }
    }

    fn serving(&self) -> Finding {
        let runs = |rows: &[ResultRow]| Observed::Runs {
            ok: ok_count(rows),
            of: rows.len(),
        };
        let (ok_base, ok_cand) = (ok_count(&self.baseline), ok_count(&self.candidate));
        let mut finding = Finding {
            baseline: runs(&self.baseline),
            ..self.finding(None, Check::Serving)
        };
        if self.candidate.is_empty() {
            if ok_base > 0 {
                finding.verdict = Verdict::Regression;
                finding.why = "served in the baseline, absent from the candidate".into();
            }
            return finding;
        }
        finding.candidate = runs(&self.candidate);
        let (n_base, n_cand) = (self.baseline.len(), self.candidate.len());
        let fewer = fisher_fewer_ok(ok_base, n_base, ok_cand, n_cand);
        let more = fisher_fewer_ok(ok_cand, n_cand, ok_base, n_base);
        finding.p_value = Some(fewer.min(more));
        if ok_base > 0 && ok_cand == 0 {
            finding.verdict = Verdict::Regression;
            finding.why = "served in the baseline, never in the candidate".into();
        } else if fewer < self.alpha() {
            finding.by_test = true;
            finding.verdict = Verdict::Regression;
            finding.why = format!("fewer ok runs (Fisher's exact test, p < {})", self.alpha());
        } else if more < self.alpha() {
            finding.by_test = true;
            finding.verdict = Verdict::Improvement;
            finding.why = format!("more ok runs (Fisher's exact test, p < {})", self.alpha());
        } else {
            finding.why = "no drop Fisher's exact test can tell from chance".into();
        }
        finding
    }

    fn figure_findings(&self, figure: &'static Figure) -> Vec<Finding> {
        let (base, cand) = if figure.per_image() {
            (
                values(&self.baseline, figure),
                values(&self.candidate, figure),
            )
        } else {
            (
                samples(&self.baseline, figure),
                samples(&self.candidate, figure),
            )
        };
        let (Some(base_summary), Some(cand_summary)) = (Summary::of(&base), Summary::of(&cand))
        else {
            return Vec::new(); // the serving check speaks for a wrap without samples
        };
        let floor = self.floor(figure);
        let pair = SamplePair {
            base: &base,
            cand: &cand,
            base_summary,
            cand_summary,
            limit: self.budgets.limit(self.wrap, self.accel(), figure),
            floor,
        };
        let mut findings = Vec::new();
        let mut add = |check, (verdict, why, p_value)| {
            findings.push(Finding {
                baseline: Observed::Samples(base_summary),
                candidate: Observed::Samples(cand_summary),
                p_value,
                by_test: p_value.is_some(),
                verdict,
                why,
                ..self.finding(Some(figure), check)
            });
        };
        match figure.gate {
            Gate::Tolerance => add(Check::Tolerance, pair.tolerance()),
            Gate::Median => add(Check::Median, pair.median(self.alpha())),
            Gate::MedianAndTail => {
                add(Check::Median, pair.median(self.alpha()));
                add(Check::Tail, pair.tail(self.budgets.defaults.tail_limit));
            }
            Gate::None => {}
        }
        if let Some(max) = self.budgets.max(self.wrap, self.accel(), figure) {
            add(Check::Budget, budget(figure, cand_summary.median, max));
        }
        findings
    }
}

/// A check's verdict, its reason and its p-value.
type Outcome = (Verdict, String, Option<f64>);

/// One figure's samples on both sides.
struct SamplePair<'a> {
    base: &'a [f64],
    cand: &'a [f64],
    base_summary: Summary,
    cand_summary: Summary,
    limit: f64,
    /// Least absolute change that counts, in the column's unit.
    floor: f64,
}

impl SamplePair<'_> {
    fn change(&self) -> f64 {
        relative_change(self.base_summary.median, self.cand_summary.median)
    }

    fn beyond(&self) -> Option<Verdict> {
        let change = self.change();
        if (self.cand_summary.median - self.base_summary.median).abs() <= self.floor {
            None
        } else if change > self.limit {
            Some(Verdict::Regression)
        } else if change < -self.limit {
            Some(Verdict::Improvement)
        } else {
            None
        }
    }

    fn median(&self, alpha: f64) -> Outcome {
        let p = rank_sum_p_value(self.base, self.cand);
        let limit = self.limit * 100.0;
        match self.beyond() {
            Some(verdict) if p < alpha => (
                verdict,
                format!("median moved beyond {limit:.0}% with p < {alpha}"),
                Some(p),
            ),
            Some(_) => (
                Verdict::Unchanged,
                format!("beyond {limit:.0}% but not significant (p ≥ {alpha})"),
                Some(p),
            ),
            None if self.floor > 0.0 => (
                Verdict::Unchanged,
                format!("within {limit:.0}% or {} ms", self.floor),
                Some(p),
            ),
            None => (Verdict::Unchanged, format!("within {limit:.0}%"), Some(p)),
        }
    }

    fn tail(&self, tail_limit: f64) -> Outcome {
        let max = self.base_summary.max;
        let slow_bar = (max * (1.0 + self.limit)).max(max + self.floor);
        let slow = self.cand.iter().filter(|&&x| x > slow_bar).count();
        let tail_rose = self.cand_summary.p90 > self.base_summary.p90 * (1.0 + tail_limit);
        let why = format!(
            "{slow} of {} runs over the baseline's slowest + {:.0}%; p90 {:+.0}%",
            self.cand.len(),
            self.limit * 100.0,
            relative_change(self.base_summary.p90, self.cand_summary.p90) * 100.0
        );
        let verdict = if tail_rose && slow >= TAIL_RUNS {
            Verdict::Regression
        } else {
            Verdict::Unchanged
        };
        (verdict, why, None)
    }

    fn tolerance(&self) -> Outcome {
        let limit = self.limit * 100.0;
        match self.beyond() {
            Some(verdict) => (verdict, format!("beyond the {limit:.0}% tolerance"), None),
            None => (
                Verdict::Unchanged,
                format!("within the {limit:.0}% tolerance"),
                None,
            ),
        }
    }
}

fn budget(figure: &Figure, median: f64, max: f64) -> Outcome {
    let budget = format!("{} {}", figure.format(max), figure.unit);
    if median > max {
        (
            Verdict::Regression,
            format!("over its budget of {budget}"),
            None,
        )
    } else {
        (
            Verdict::Unchanged,
            format!("within its budget of {budget}"),
            None,
        )
    }
}

fn ok_count(rows: &[ResultRow]) -> usize {
    rows.iter().filter(|r| r.ok).count()
}

/// A per-launch figure's samples: one per ok run.
fn samples(rows: &[ResultRow], figure: &Figure) -> Vec<f64> {
    rows.iter()
        .filter(|r| r.ok)
        .filter_map(|r| (figure.value)(r))
        .collect()
}

/// A per-image figure's distinct values (one per image build the rows saw), ok or not:
/// an image has a size whether or not it served.
fn values(rows: &[ResultRow], figure: &Figure) -> Vec<f64> {
    let mut values: Vec<f64> = rows.iter().filter_map(|r| (figure.value)(r)).collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    values
}

#[cfg(test)]
mod tests;

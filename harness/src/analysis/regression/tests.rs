//! The gate, proven on a real results file of the default scenario (measured under TCG on a
//! 2-core Debian VM) and on noise drawn from that run's own spread.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::figure::{HOST_MEMORY, IMAGE, STOP, TTFR};
use crate::results::read_results;

fn real_run() -> Vec<ResultRow> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hello-rust-results.csv"
    );
    read_results(std::path::Path::new(path)).unwrap()
}

fn judge(candidate: &[ResultRow]) -> Verdicts {
    compare(&real_run(), candidate, &Budgets::default())
}

/// The regressions, as "wrap check column".
fn regressions(verdicts: &Verdicts) -> Vec<String> {
    verdicts
        .regressions()
        .map(|f| {
            let column = f.figure.map_or("runs", |f| f.column);
            format!("{} {} {column}", f.wrap, f.check)
        })
        .collect()
}

fn planted(change: impl Fn(&mut Vec<ResultRow>)) -> Vec<String> {
    let mut candidate = real_run();
    change(&mut candidate);
    let verdicts = judge(&candidate);
    assert!(verdicts.mismatches.is_empty(), "{:?}", verdicts.mismatches);
    regressions(&verdicts)
}

#[test]
fn a_run_against_itself_has_no_regression() {
    let verdicts = judge(&real_run());
    assert!(
        regressions(&verdicts).is_empty(),
        "{:?}",
        regressions(&verdicts)
    );
    assert!(verdicts.mismatches.is_empty());
    // The only warnings say what the run counts cannot resolve: the container's first
    // response spreads by 15%, so 10 runs a side resolve about 33%, not the 15% limit.
    assert!(
        verdicts.warnings.iter().all(|w| w.contains(" spreads by ")),
        "{:?}",
        verdicts.warnings
    );
    assert!(
        verdicts
            .warnings
            .iter()
            .any(|w| w.starts_with("container: first response spreads by 15%")),
        "{:?}",
        verdicts.warnings
    );
    // Every wrap is judged on serving and every gated figure it has: first response and
    // stop, and for VMs guest RAM (the file predates the anonymous part of host memory).
    let wraps = distinct(&real_run(), |r| &r.wrap);
    assert_eq!(wraps.len(), 4);
    for wrap in &wraps {
        let checks: Vec<Check> = verdicts
            .findings
            .iter()
            .filter(|f| f.wrap == *wrap)
            .map(|f| f.check)
            .collect();
        assert!(checks.contains(&Check::Serving) && checks.contains(&Check::Tail));
        assert_eq!(checks.iter().filter(|c| **c == Check::Tolerance).count(), 2);
        let vm = wrap == "hermit" || wrap == "appliance";
        let medians = checks.iter().filter(|c| **c == Check::Median).count();
        assert_eq!(medians, 2 + usize::from(vm), "{wrap}");
    }
}

#[test]
fn nine_of_ten_hermit_runs_failing_is_a_regression() {
    let found = planted(|rows| {
        for row in rows.iter_mut().filter(|r| r.wrap == "hermit").skip(1) {
            row.ok = false;
            row.ttfr_ms = None;
        }
    });
    assert_eq!(found, ["hermit serving runs"]);
}

#[test]
fn a_missing_wrap_is_a_regression() {
    let found = planted(|rows| rows.retain(|r| r.wrap != "appliance"));
    assert_eq!(found, ["appliance serving runs"]);
}

#[test]
fn a_container_image_15_percent_larger_is_a_regression() {
    let found = planted(|rows| {
        for row in rows.iter_mut().filter(|r| r.wrap == "container") {
            row.image_bytes = row.image_bytes.map(|b| b * 115 / 100);
        }
    });
    assert_eq!(found, ["container tolerance image_bytes"]);
}

#[test]
fn three_of_ten_hermit_starts_three_times_slower_is_a_regression() {
    let found = planted(|rows| {
        for row in rows.iter_mut().filter(|r| r.wrap == "hermit").take(3) {
            row.ttfr_ms = row.ttfr_ms.map(|t| t * 3.0);
        }
    });
    assert_eq!(found, ["hermit tail (p90) ttfr_ms"]);
}

#[test]
fn another_accelerator_runtime_or_host_is_a_mismatch_not_a_regression() {
    let mut candidate = real_run();
    for row in candidate.iter_mut().filter(|r| r.wrap == "hermit") {
        row.accel = "kvm".into();
        row.ttfr_ms = row.ttfr_ms.map(|t| t / 5.0);
    }
    let container = candidate
        .iter()
        .position(|r| r.wrap == "container")
        .unwrap();
    candidate[container].runtime_version = "dockerd 27.0".into();
    let verdicts = judge(&candidate);
    assert_eq!(
        verdicts.mismatches,
        ["hermit: measured on different accelerators (tcg vs kvm)"]
    );
    assert_eq!(
        verdicts.runtime_changes,
        [
            "container: measured on different runtimes (dockerd 20.10.24+dfsg1 (API 1.41) vs \
          dockerd 27.0, dockerd 20.10.24+dfsg1 (API 1.41))"
        ]
    );
    for row in &mut candidate {
        row.host = "elsewhere".into();
    }
    let verdicts = judge(&candidate);
    assert_eq!(
        verdicts.mismatches[0],
        "measured on different hosts (vm vs elsewhere)"
    );
}

#[test]
fn unequal_run_counts_are_judged_and_too_few_are_said() {
    let mut candidate = real_run();
    candidate.retain(|r| r.wrap != "hermit" || r.run <= 6);
    for row in candidate.iter_mut().filter(|r| r.wrap == "hermit") {
        row.ttfr_ms = row.ttfr_ms.map(|t| t * 1.5);
    }
    let verdicts = judge(&candidate);
    assert_eq!(regressions(&verdicts), ["hermit median ttfr_ms"]);
    let unreachable = |verdicts: &Verdicts| {
        verdicts
            .warnings
            .iter()
            .filter(|w| w.contains("cannot reach p"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        unreachable(&verdicts).is_empty(),
        "10 against 6 can reach p < 0.01"
    );
    candidate.retain(|r| r.wrap != "hermit" || r.run <= 2);
    let verdicts = judge(&candidate);
    let warned = unreachable(&verdicts);
    assert!(
        warned[0].starts_with("hermit: 10 and 2 ok runs cannot reach p < 7.14e-4"),
        "{warned:?}"
    );
}

#[test]
fn a_budget_caps_a_figure_whatever_its_change() {
    let budgets: Budgets =
        toml::from_str("[[figure]]\nwrap = \"container\"\ncolumn = \"ttfr_ms\"\nmax = 50\n")
            .unwrap();
    let verdicts = compare(&real_run(), &real_run(), &budgets);
    assert_eq!(regressions(&verdicts), ["container budget ttfr_ms"]);
}

/// A wrap's figure in the real run, as a lognormal: the median, and the log-scale spread
/// from the median absolute deviation (robust to the run's one slow boot).
struct Spread {
    median: f64,
    sigma: f64,
}

impl Spread {
    fn of(rows: &[ResultRow], wrap: &str, figure: &Figure) -> Spread {
        let of_wrap: Vec<ResultRow> = rows.iter().filter(|r| r.wrap == wrap).cloned().collect();
        let samples = samples(&of_wrap, figure);
        let logs: Vec<f64> = samples.iter().map(|x| x.ln()).collect();
        Spread {
            median: Summary::of(&logs).unwrap().median.exp(),
            sigma: log_spread(&samples).unwrap(),
        }
    }

    fn draw(&self, rng: &mut StdRng) -> f64 {
        // Box–Muller.
        let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
        let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        self.median * (self.sigma * normal).exp()
    }
}

/// `runs` rows per wrap of the real run, every per-launch figure drawn from its spread,
/// times scaled by `slower`.
fn noisy_run(
    spreads: &[(String, [Spread; 3])],
    runs: u32,
    slower: f64,
    rng: &mut StdRng,
) -> Vec<ResultRow> {
    let real = real_run();
    let mut rows = Vec::new();
    for (wrap, [ttfr, memory, stop]) in spreads {
        let template = real.iter().find(|r| r.wrap == *wrap).unwrap();
        for run in 1..=runs {
            rows.push(ResultRow {
                run,
                ttfr_ms: Some(ttfr.draw(rng) * slower),
                // The file predates the split: its host memory's spread stands in for the
                // anonymous part's, the part the gate judges.
                host_memory_anon_bytes: Some(memory.draw(rng) as u64),
                stop_ms: Some(stop.draw(rng)),
                ..template.clone()
            });
        }
    }
    rows
}

fn spreads() -> Vec<(String, [Spread; 3])> {
    let rows = real_run();
    distinct(&rows, |r| &r.wrap)
        .into_iter()
        .map(|wrap| {
            let of = |figure| Spread::of(&rows, &wrap, figure);
            let spreads = [of(&TTFR), of(&HOST_MEMORY), of(&STOP)];
            (wrap, spreads)
        })
        .collect()
}

const SEEDS: u64 = 1000;

#[test]
fn pure_noise_raises_under_one_percent_false_alarms() {
    let spreads = spreads();
    let mut alarms = 0;
    for seed in 0..SEEDS {
        let mut rng = StdRng::seed_from_u64(seed);
        let baseline = noisy_run(&spreads, 10, 1.0, &mut rng);
        let candidate = noisy_run(&spreads, 10, 1.0, &mut rng);
        let verdicts = compare(&baseline, &candidate, &Budgets::default());
        alarms += usize::from(verdicts.regressions().next().is_some());
    }
    // Any regression of any wrap and check counts: 4 wraps, 8 checks each per comparison.
    assert!(
        alarms * 100 < SEEDS as usize,
        "{alarms} false alarms in {SEEDS}"
    );
}

/// The share of seeds in which a 30% slower first response of `wrap` is flagged, at `runs`
/// runs a side.
fn detection_rate(spreads: &[(String, [Spread; 3])], wrap: &str, runs: u32) -> f64 {
    let caught = (0..SEEDS)
        .filter(|&seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let baseline = noisy_run(spreads, runs, 1.0, &mut rng);
            let candidate = noisy_run(spreads, runs, 1.3, &mut rng);
            let verdicts = compare(&baseline, &candidate, &Budgets::default());
            verdicts
                .regressions()
                .any(|f| f.wrap == wrap && f.figure.is_some_and(|f| f.column == TTFR.column))
        })
        .count();
    caught as f64 / SEEDS as f64
}

/// Whether a lone test of the real run's family (4 wraps, each a serving test and 4 median
/// tests, Holm at the default alpha) can catch a 30% shift of a figure spreading by `sigma`
/// in 95% of cases with `runs` a side (a t-test on the logs of lognormal samples, the best
/// case), with room to spare: the change it resolves must be under 25%, since a flag also
/// needs the sampled medians to move past the 15% limit (at 20 runs the container resolves
/// 26% and is caught in 94% of seeds).
fn resolves_30_percent(sigma: f64, runs: u32) -> bool {
    let runs = runs as usize;
    let lone_alpha = Rule::default().alpha / family_size(&real_run(), &real_run()) as f64;
    resolvable_change(sigma, runs, runs, lone_alpha, POWER) < 0.25
}

#[test]
fn a_30_percent_slowdown_at_10_runs_is_caught_in_95_percent_of_seeds() {
    let spreads = spreads();
    for (wrap, [ttfr, _, _]) in &spreads {
        // The container's first response spreads by 15% (docker run's own jitter): there
        // no test of the family can reach 95% at 10 runs, more runs can.
        let runs = [10, 20, 30]
            .into_iter()
            .find(|&runs| resolves_30_percent(ttfr.sigma, runs))
            .unwrap_or(40);
        assert!(
            resolves_30_percent(ttfr.sigma, runs),
            "{wrap}: {}",
            ttfr.sigma
        );
        let rate = detection_rate(&spreads, wrap, runs);
        assert!(
            rate >= 0.95,
            "{wrap} at {runs} runs: caught in {rate} of seeds"
        );
    }
}

#[test]
fn per_image_figures_are_never_tested_on_copies() {
    let verdicts = judge(&real_run());
    let image = verdicts
        .findings
        .iter()
        .find(|f| f.wrap == "container" && f.figure.is_some_and(|f| f.column == IMAGE.column))
        .unwrap();
    assert_eq!(image.check, Check::Tolerance);
    assert_eq!(image.p_value, None);
    let Observed::Samples(summary) = image.baseline else {
        panic!("{:?}", image.baseline)
    };
    assert_eq!(summary.count, 1, "one image, one value");
}

#[test]
fn the_family_counts_exactly_the_tests_the_comparison_makes() {
    let rows = real_run();
    let verdicts = compare(&rows, &rows, &Budgets::default());
    assert_eq!(family_size(&rows, &rows), verdicts.family);
    let one_wrap: Vec<ResultRow> = rows
        .iter()
        .filter(|r| r.wrap == "native")
        .cloned()
        .collect();
    let verdicts = compare(&rows, &one_wrap, &Budgets::default());
    assert_eq!(family_size(&rows, &one_wrap), verdicts.family);
}

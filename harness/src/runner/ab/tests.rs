//! The A/B loop on a fake [`Measure`] that hands out a real run's rows (the default
//! scenario under TCG), with slowdowns planted where a test wants them.

use super::*;
use crate::results::read_results;

fn real_run() -> Vec<ResultRow> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hello-rust-results.csv"
    );
    read_results(Path::new(path)).unwrap()
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn checkout(wraps: &[&str]) -> Checkout {
    Checkout {
        root: PathBuf::from("/nowhere"),
        scenario: PathBuf::from("/nowhere/scenario.toml"),
        name: "hello-rust".into(),
        wraps: names(wraps),
    }
}

/// Hands out the real run's rows of a block's wrap, round-robin, the candidate's first
/// responses scaled by `slower` in the blocks `slow_in` says; keeps what it was asked.
struct Fake {
    real: Vec<ResultRow>,
    slower: f64,
    slow_in: fn(&Block, usize) -> bool,
    prepared: Vec<Side>,
    asked: Vec<Block>,
}

impl Fake {
    fn new(slower: f64, slow_in: fn(&Block, usize) -> bool) -> Fake {
        Fake {
            real: real_run(),
            slower,
            slow_in,
            prepared: Vec::new(),
            asked: Vec::new(),
        }
    }
}

impl Measure for Fake {
    fn prepare(&mut self, side: Side, _: &[String]) -> Result<(), AbError> {
        self.prepared.push(side);
        Ok(())
    }

    fn measure(&mut self, block: &Block) -> Result<Vec<ResultRow>, AbError> {
        let index = self.asked.len();
        let slow = block.side == Side::Candidate && (self.slow_in)(block, index);
        let of_wrap: Vec<&ResultRow> = self.real.iter().filter(|r| r.wrap == block.wrap).collect();
        let done = self
            .asked
            .iter()
            .filter(|b| b.wrap == block.wrap && b.side == block.side);
        let start: u32 = done.map(|b| b.runs).sum();
        let rows = (start..start + block.runs)
            .map(|i| {
                let mut row = of_wrap[i as usize % of_wrap.len()].clone();
                if slow {
                    row.ttfr_ms = row.ttfr_ms.map(|t| t * self.slower);
                }
                row
            })
            .collect();
        self.asked.push(block.clone());
        Ok(rows)
    }
}

const WRAPS: [&str; 4] = ["native", "container", "hermit", "appliance"];
const PLANS: [Plan; 2] = [
    Plan {
        runs: 10,
        rounds: 5,
    },
    Plan {
        runs: 20,
        rounds: 5,
    },
];

fn ab(fake: &mut Fake) -> AbOutcome {
    let (a, b) = (checkout(&WRAPS), checkout(&WRAPS));
    run_ab(fake, &a, &b, PLANS, &Budgets::default(), &mut |_, _| {}).unwrap()
}

#[test]
fn rounds_alternate_which_side_goes_first_and_split_the_runs() {
    let plan = Plan { runs: 5, rounds: 3 };
    let blocks = schedule(&names(&["a"]), &names(&["a"]), &names(&["a"]), plan);
    let seen: Vec<(Side, u32)> = blocks.iter().map(|b| (b.side, b.runs)).collect();
    use Side::*;
    assert_eq!(
        seen,
        [
            (Baseline, 2),
            (Candidate, 2),
            (Candidate, 2),
            (Baseline, 2),
            (Baseline, 1),
            (Candidate, 1)
        ]
    );
}

#[test]
fn a_wrap_of_one_side_is_measured_on_that_side_only() {
    let plan = Plan { runs: 4, rounds: 2 };
    let blocks = schedule(
        &names(&["old", "new"]),
        &names(&["old"]),
        &names(&["new"]),
        plan,
    );
    assert!(
        blocks
            .iter()
            .all(|b| (b.wrap == "old") == (b.side == Side::Baseline))
    );
    assert_eq!(blocks.len(), 4);
}

#[test]
fn an_a_a_pass_flags_nothing_and_retries_nothing() {
    let mut fake = Fake::new(1.0, |_, _| false);
    let outcome = ab(&mut fake);
    assert_eq!(fake.prepared, [Side::Baseline, Side::Candidate]);
    assert!(outcome.retry.is_none());
    assert!(outcome.confirmed().is_empty());
    assert_eq!(fake.asked.len(), WRAPS.len() * 5 * 2);
    // Runs are numbered across the rounds, 1 to 10 per wrap and side.
    let runs: Vec<u32> = outcome
        .first
        .candidate
        .iter()
        .filter(|r| r.wrap == "hermit")
        .map(|r| r.run)
        .collect();
    assert_eq!(runs, (1..=10).collect::<Vec<_>>());
}

#[test]
fn a_slowdown_in_both_passes_is_confirmed_with_more_runs() {
    let mut fake = Fake::new(1.3, |block, _| block.wrap == "hermit");
    let outcome = ab(&mut fake);
    let confirmed: Vec<String> = outcome
        .confirmed()
        .iter()
        .map(|f| format!("{} {}", f.wrap, f.check))
        .collect();
    assert_eq!(confirmed, ["hermit median"]);
    let (retry, _) = outcome.retry.as_ref().unwrap();
    assert!(retry.baseline.iter().all(|r| r.wrap == "hermit"));
    assert_eq!(retry.candidate.len(), 20, "the retry has more runs");
}

#[test]
fn a_slowdown_of_the_first_pass_alone_is_not_confirmed() {
    // Slow only in the first pass's blocks (4 wraps, 5 rounds, 2 sides: the first 40).
    let mut fake = Fake::new(1.3, |block, index| block.wrap == "hermit" && index < 40);
    let outcome = ab(&mut fake);
    assert_eq!(
        AbOutcome::flagged_wraps(&outcome.first_verdicts),
        ["hermit"]
    );
    assert!(outcome.retry.is_some());
    assert!(outcome.confirmed().is_empty());
}

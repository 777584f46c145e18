//! A/B of two revisions on one host at one time, the way Firecracker gates: each side is a
//! checkout whose own release binary measures its own scenario, and the two are measured
//! interleaved, wrap by wrap, in rounds whose order alternates (A B, B A, A B, ...), so
//! whatever the host does over the night hits both sides alike. The first pass is a screen
//! ([`regression::screen`]: each test at alpha on its own); every wrap it flags is measured
//! again, both sides, with more runs, and judged by [`regression::compare`] (the retried
//! tests as one family). Only a finding flagged in both passes counts: the retry is new
//! data, so the night's chance of a false alarm stays under alpha.

pub mod binaries;

use std::path::{Path, PathBuf};

use crate::analysis::regression::{self, Budgets, Finding, Verdict, Verdicts};
use crate::results::ResultRow;

/// One of the two revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A: the revision measured against.
    Baseline,
    /// B: the revision under test.
    Candidate,
}

impl Side {
    /// `baseline` or `candidate`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Baseline => "baseline",
            Side::Candidate => "candidate",
        }
    }
}

/// An A/B that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum AbError {
    /// A checkout lacks its release binary or scenario.
    #[error("{side}: {what} {path} does not exist: {fix}", side = side.name(), path = path.display())]
    Missing {
        /// The side.
        side: Side,
        /// What is missing.
        what: &'static str,
        /// Where it should be.
        path: PathBuf,
        /// How to get it.
        fix: &'static str,
    },
    /// A scenario file cannot be read for its wraps.
    #[error("{path}: {reason}", path = path.display())]
    Scenario {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A side's binary could not do its job (exit 2 or a signal).
    #[error("{side}'s {what} failed ({status}): {last_line} (log: {log})", side = side.name(), log = log.display())]
    Side {
        /// The side.
        side: Side,
        /// What it was asked to do.
        what: String,
        /// How it ended.
        status: String,
        /// The last line it wrote, usually its error.
        last_line: String,
        /// Everything it wrote.
        log: PathBuf,
    },
    /// The two sides ran on different hosts or accelerators.
    #[error("not comparable: {}; both sides must run on one host with one accelerator", .0.join("; "))]
    NotComparable(Vec<String>),
    /// The user interrupted; the blocks measured so far are on disk.
    #[error("interrupted: the blocks measured so far are kept in {0}")]
    Interrupted(PathBuf),
    /// Results or logs could not be read or written.
    #[error(transparent)]
    Results(#[from] crate::results::ResultsError),
    /// A folder or log could not be made.
    #[error("cannot write {path}: {cause}", path = path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        cause: std::io::Error,
    },
}

/// One checkout: its folder, the scenario it measures and that scenario's wraps.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The checkout's folder (the binary is `target/release/shrinkwrap` in it).
    pub root: PathBuf,
    /// The scenario file, absolute.
    pub scenario: PathBuf,
    /// The scenario's name.
    pub name: String,
    /// The scenario's wraps, in its order.
    pub wraps: Vec<String>,
}

/// The release binary of a checkout.
pub const BINARY: &str = "target/release/shrinkwrap";

impl Checkout {
    /// `root` with `scenario` (relative to it) and the wraps its file lists, or the first
    /// missing part.
    pub fn open(side: Side, root: &Path, scenario: &Path) -> Result<Checkout, AbError> {
        let binary = root.join(BINARY);
        if !binary.is_file() {
            return Err(AbError::Missing {
                side,
                what: "binary",
                path: binary,
                fix: "build the checkout with `cargo build --release` first",
            });
        }
        let scenario = root.join(scenario);
        if !scenario.is_file() {
            return Err(AbError::Missing {
                side,
                what: "scenario",
                path: scenario,
                fix: "name a scenario both revisions have",
            });
        }
        let (name, wraps) = scenario_wraps(&scenario)?;
        Ok(Checkout {
            root: root.to_path_buf(),
            scenario,
            name,
            wraps,
        })
    }

    /// Keeps only the wraps named in `only` (all when it is empty).
    pub fn select(&mut self, only: &[String]) {
        if !only.is_empty() {
            self.wraps.retain(|w| only.contains(w));
        }
    }
}

/// The name and wrap names of a scenario file, read loosely (any revision's format with a
/// `name` and `[[wrap]]` tables with a `name`), so an older revision's scenario still reads.
pub fn scenario_wraps(path: &Path) -> Result<(String, Vec<String>), AbError> {
    let invalid = |reason: String| AbError::Scenario {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let name = table
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or_else(|| invalid("no scenario name".into()))?
        .to_string();
    let wraps = table
        .get("wrap")
        .and_then(|w| w.as_array())
        .ok_or_else(|| invalid("no [[wrap]] tables".into()))?;
    wraps
        .iter()
        .map(|w| {
            w.get("name")
                .and_then(|n| n.as_str())
                .map(str::to_string)
                .ok_or_else(|| invalid("a [[wrap]] without a name".into()))
        })
        .collect::<Result<_, _>>()
        .map(|wraps| (name, wraps))
}

/// How many runs a side gets per wrap, in how many rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Measured runs per side and wrap.
    pub runs: u32,
    /// Rounds they are split into (each side's block of a round has `runs / rounds` runs,
    /// the first rounds one more when it does not divide).
    pub rounds: u32,
}

/// One side's launches of one wrap in one round: one invocation of its binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Whose binary.
    pub side: Side,
    /// The wrap.
    pub wrap: String,
    /// The round, from 0.
    pub round: u32,
    /// Measured runs in it.
    pub runs: u32,
}

/// The blocks of a pass, in order: wrap by wrap, round by round, the side that goes first
/// alternating from round to round (baseline first in even rounds). A wrap only one side
/// has is measured on that side alone (the comparison then says it is new or absent).
pub fn schedule(
    wraps: &[String],
    baseline: &[String],
    candidate: &[String],
    plan: Plan,
) -> Vec<Block> {
    let rounds = plan.rounds.clamp(1, plan.runs.max(1));
    let mut blocks = Vec::new();
    for wrap in wraps {
        for round in 0..rounds {
            let runs = plan.runs / rounds + u32::from(round < plan.runs % rounds);
            let order = if round % 2 == 0 {
                [Side::Baseline, Side::Candidate]
            } else {
                [Side::Candidate, Side::Baseline]
            };
            for side in order {
                let has = match side {
                    Side::Baseline => baseline,
                    Side::Candidate => candidate,
                };
                if has.contains(wrap) {
                    blocks.push(Block {
                        side,
                        wrap: wrap.clone(),
                        round,
                        runs,
                    });
                }
            }
        }
    }
    blocks
}

/// The seam between the A/B loop and the binaries: the real one runs each side's
/// `shrinkwrap`, the tests a fake.
pub trait Measure {
    /// Builds (or finds cached) the images of `wraps` of `side`'s scenario.
    fn prepare(&mut self, side: Side, wraps: &[String]) -> Result<(), AbError>;
    /// Measures one block: its rows, ok or not.
    fn measure(&mut self, block: &Block) -> Result<Vec<ResultRow>, AbError>;
}

/// Both sides' rows of one pass, runs numbered 1.. per wrap across the rounds.
#[derive(Debug, Clone, Default)]
pub struct Pass {
    /// The baseline's rows.
    pub baseline: Vec<ResultRow>,
    /// The candidate's rows.
    pub candidate: Vec<ResultRow>,
}

impl Pass {
    fn add(&mut self, side: Side, rows: Vec<ResultRow>) {
        let kept = match side {
            Side::Baseline => &mut self.baseline,
            Side::Candidate => &mut self.candidate,
        };
        for mut row in rows {
            row.run = kept.iter().filter(|r| r.wrap == row.wrap).count() as u32 + 1;
            kept.push(row);
        }
    }
}

/// Measures `blocks` in order, telling `progress` before each.
pub fn measure_pass(
    measure: &mut impl Measure,
    blocks: &[Block],
    progress: &mut impl FnMut(usize, &Block),
) -> Result<Pass, AbError> {
    let mut pass = Pass::default();
    for (index, block) in blocks.iter().enumerate() {
        progress(index, block);
        let rows = measure.measure(block)?;
        pass.add(block.side, rows);
    }
    Ok(pass)
}

/// What an A/B found: the first pass, and the retry of the wraps it flagged.
#[derive(Debug, Clone)]
pub struct AbOutcome {
    /// The first pass's rows.
    pub first: Pass,
    /// Its verdicts.
    pub first_verdicts: Verdicts,
    /// The retry's rows and verdicts, when the first pass flagged something.
    pub retry: Option<(Pass, Verdicts)>,
}

/// The key a finding is matched by across passes.
fn key(finding: &Finding) -> (&str, Option<&str>, regression::Check) {
    (
        finding.wrap.as_str(),
        finding.figure.map(|f| f.column),
        finding.check,
    )
}

/// Whether a flag rests on what launches showed, which new launches may not show again; an
/// image's size and a wrap the candidate does not have are facts no retry changes.
fn needs_retry(finding: &Finding) -> bool {
    match finding.check {
        regression::Check::Tolerance => false,
        regression::Check::Serving => finding.candidate != regression::Observed::Absent,
        _ => true,
    }
}

impl AbOutcome {
    /// The wraps the first pass flagged on what launches showed, in their order.
    pub fn flagged_wraps(verdicts: &Verdicts) -> Vec<String> {
        let mut wraps: Vec<String> = Vec::new();
        for finding in verdicts.regressions().filter(|f| needs_retry(f)) {
            if !wraps.contains(&finding.wrap) {
                wraps.push(finding.wrap.clone());
            }
        }
        wraps
    }

    /// The A/B's verdict: the first pass's regressions of fact, and those on launches that
    /// the retry flagged again.
    pub fn confirmed(&self) -> Vec<&Finding> {
        let facts = self
            .first_verdicts
            .regressions()
            .filter(|f| !needs_retry(f));
        let Some((_, retry)) = &self.retry else {
            return facts.collect();
        };
        let again = retry.regressions().filter(|again| {
            self.first_verdicts
                .findings
                .iter()
                .any(|first| first.verdict == Verdict::Regression && key(first) == key(again))
        });
        facts.chain(again).collect()
    }
}

/// The whole A/B: prepare both sides, measure the first pass, judge it, and retry what it
/// flagged with `retry` runs.
pub fn run_ab(
    measure: &mut impl Measure,
    baseline: &Checkout,
    candidate: &Checkout,
    plans: [Plan; 2],
    budgets: &Budgets,
    progress: &mut impl FnMut(usize, &Block),
) -> Result<AbOutcome, AbError> {
    measure.prepare(Side::Baseline, &baseline.wraps)?;
    measure.prepare(Side::Candidate, &candidate.wraps)?;
    let mut wraps = candidate.wraps.clone();
    wraps.extend(
        baseline
            .wraps
            .iter()
            .filter(|w| !candidate.wraps.contains(w))
            .cloned(),
    );
    let [first_plan, retry_plan] = plans;
    let blocks = schedule(&wraps, &baseline.wraps, &candidate.wraps, first_plan);
    let first = measure_pass(measure, &blocks, progress)?;
    let first_verdicts = regression::screen(&first.baseline, &first.candidate, budgets);
    if !first_verdicts.mismatches.is_empty() {
        return Err(AbError::NotComparable(first_verdicts.mismatches));
    }
    let flagged = AbOutcome::flagged_wraps(&first_verdicts);
    let retry = if flagged.is_empty() {
        None
    } else {
        let blocks = schedule(&flagged, &baseline.wraps, &candidate.wraps, retry_plan);
        let pass = measure_pass(measure, &blocks, progress)?;
        let verdicts = regression::compare(&pass.baseline, &pass.candidate, budgets);
        Some((pass, verdicts))
    };
    Ok(AbOutcome {
        first,
        first_verdicts,
        retry,
    })
}

#[cfg(test)]
mod tests;

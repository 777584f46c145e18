//! The real [`Measure`]: each side's own `shrinkwrap build` and `shrinkwrap run --wrap`,
//! one invocation per block, each block's folder and log kept under the A/B's folder.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use super::{AbError, BINARY, Block, Checkout, Measure, Side};
use crate::results::{RESULTS_FILE, ResultRow, read_results};

/// Exit status of a `shrinkwrap` that was interrupted.
const INTERRUPTED: i32 = 130;

/// Runs both checkouts' binaries.
pub struct Binaries {
    /// The baseline's checkout.
    pub baseline: Checkout,
    /// The candidate's checkout.
    pub candidate: Checkout,
    /// Unmeasured warm-up launches before each block.
    pub warmup: u32,
    /// The folder under which each block gets its own.
    pub blocks_dir: PathBuf,
    /// Blocks measured so far, numbering their folders.
    done: usize,
    /// Whether each side's `run` takes `--results-only` (baseline, candidate), once asked.
    results_only: [Option<bool>; 2],
}

/// The flag that keeps a block's `run` from writing a report and publishing it as latest.
const RESULTS_ONLY: &str = "--results-only";

impl Binaries {
    /// Both checkouts, block folders under `blocks_dir`.
    pub fn new(
        baseline: Checkout,
        candidate: Checkout,
        warmup: u32,
        blocks_dir: PathBuf,
    ) -> Binaries {
        Binaries {
            baseline,
            candidate,
            warmup,
            blocks_dir,
            done: 0,
            results_only: [None; 2],
        }
    }

    /// Whether `side`'s `run` takes [`RESULTS_ONLY`] (revisions before it did not): its
    /// help is asked once.
    fn takes_results_only(&mut self, side: Side) -> bool {
        let index = side as usize;
        if let Some(known) = self.results_only[index] {
            return known;
        }
        let root = &self.checkout(side).root;
        let known = Command::new(root.join(BINARY))
            .args(["run", "--help"])
            .current_dir(root)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(RESULTS_ONLY));
        self.results_only[index] = Some(known);
        known
    }

    fn checkout(&self, side: Side) -> &Checkout {
        match side {
            Side::Baseline => &self.baseline,
            Side::Candidate => &self.candidate,
        }
    }

    /// Runs `side`'s binary with `args`, everything it writes into `log`.
    fn invoke(&self, side: Side, args: &[&str], log: &Path) -> Result<ExitStatus, AbError> {
        let io = |cause| AbError::Io {
            path: log.to_path_buf(),
            cause,
        };
        let out = File::create(log).map_err(io)?;
        let err = out.try_clone().map_err(io)?;
        let checkout = self.checkout(side);
        Command::new(checkout.root.join(BINARY))
            .args(args)
            .current_dir(&checkout.root)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(io)
    }
}

/// The error of a side's invocation that did not measure: interrupted, or failed with
/// its own last line.
fn failed(side: Side, what: String, status: ExitStatus, log: &Path, blocks: &Path) -> AbError {
    if status.code() == Some(INTERRUPTED) {
        return AbError::Interrupted(blocks.to_path_buf());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let last_line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
        .to_string();
    AbError::Side {
        side,
        what,
        status: status.to_string(),
        last_line,
        log: log.to_path_buf(),
    }
}

impl Measure for Binaries {
    fn prepare(&mut self, side: Side, wraps: &[String]) -> Result<(), AbError> {
        std::fs::create_dir_all(&self.blocks_dir).map_err(|cause| AbError::Io {
            path: self.blocks_dir.clone(),
            cause,
        })?;
        let log = self.blocks_dir.join(format!("build-{}.log", side.name()));
        let scenario = self.checkout(side).scenario.to_string_lossy().into_owned();
        let mut args = vec!["build", &scenario];
        for wrap in wraps {
            args.extend(["--wrap", wrap]);
        }
        let status = self.invoke(side, &args, &log)?;
        if status.success() {
            Ok(())
        } else {
            Err(failed(
                side,
                "image build".into(),
                status,
                &log,
                &self.blocks_dir,
            ))
        }
    }

    fn measure(&mut self, block: &Block) -> Result<Vec<ResultRow>, AbError> {
        self.done += 1;
        let name = format!("{:03}-{}-{}", self.done, block.wrap, block.side.name());
        let out = self.blocks_dir.join(name);
        let log = out.with_extension("log");
        let scenario = self
            .checkout(block.side)
            .scenario
            .to_string_lossy()
            .into_owned();
        let (runs, warmup) = (block.runs.to_string(), self.warmup.to_string());
        let out_arg = out.to_string_lossy().into_owned();
        let mut args = vec![
            "run",
            &scenario,
            "--wrap",
            &block.wrap,
            "--runs",
            &runs,
            "--warmup",
            &warmup,
            "--out",
            &out_arg,
        ];
        if self.takes_results_only(block.side) {
            args.push(RESULTS_ONLY);
        }
        let status = self.invoke(block.side, &args, &log)?;
        let results = out.join(RESULTS_FILE);
        // 0: every run ok; 1: some failed, which is data; anything else measured nothing.
        if matches!(status.code(), Some(0 | 1)) && results.is_file() {
            Ok(read_results(&results)?)
        } else {
            let what = format!("run of {} (round {})", block.wrap, block.round + 1);
            Err(failed(block.side, what, status, &log, &self.blocks_dir))
        }
    }
}

//! What the runner reports while it works, to an [`Observer`]: the CLI turns the events into
//! progress bars and lines, tests into a list. The runner itself never draws anything.

use super::minmem::MinMemory;
use crate::results::load::LoadRow;
use crate::wrap::Measurement;

/// Which launch of a wrap: a warm-up or a measured run, counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// An unmeasured warm-up: it writes no row.
    Warmup {
        /// This warm-up.
        index: u32,
        /// Warm-ups in all.
        of: u32,
    },
    /// A measured run: it writes one row.
    Run {
        /// This run.
        index: u32,
        /// Runs in all.
        of: u32,
    },
}

impl Launch {
    /// The name of the launch in logs, e.g. `warmup1`, `run3`.
    pub fn name(&self) -> String {
        match self {
            Launch::Warmup { index, .. } => format!("warmup{index}"),
            Launch::Run { index, .. } => format!("run{index}"),
        }
    }
}

impl std::fmt::Display for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Launch::Warmup { index, of } => write!(f, "warm-up {index}/{of}"),
            Launch::Run { index, of } => write!(f, "run {index}/{of}"),
        }
    }
}

/// One thing the runner did or saw.
#[derive(Debug)]
pub enum Event<'a> {
    /// A wrap is being made ready.
    Preparing {
        /// The wrap.
        wrap: &'a str,
    },
    /// A step of preparing a wrap (an image build, the accelerator probe).
    PrepareStep {
        /// The wrap.
        wrap: &'a str,
        /// What is happening.
        step: &'a str,
    },
    /// A wrap is ready to launch.
    Prepared {
        /// The wrap.
        wrap: &'a str,
    },
    /// The search for a VM's smallest guest RAM begins.
    MinMemorySearch {
        /// The wrap.
        wrap: &'a str,
    },
    /// A launch of the smallest-RAM search ended.
    MinMemoryStep {
        /// The wrap.
        wrap: &'a str,
        /// The size tried and how it went.
        step: &'a str,
    },
    /// The smallest-RAM search ended: its answer, or why there is none.
    MinMemoryFound {
        /// The wrap.
        wrap: &'a str,
        /// The answer.
        found: &'a Result<MinMemory, String>,
    },
    /// A wrap's launches begin: warm-ups and measured runs, `launches` in all.
    Measuring {
        /// The wrap.
        wrap: &'a str,
        /// Launches planned.
        launches: u32,
    },
    /// A launch ended.
    Measured {
        /// The wrap.
        wrap: &'a str,
        /// Which launch.
        launch: Launch,
        /// What it measured.
        measurement: &'a Measurement,
    },
    /// The wrap failed this many launches in a row: its remaining runs are skipped.
    GivenUp {
        /// The wrap.
        wrap: &'a str,
        /// Consecutive failures.
        failures: u32,
    },
    /// A wrap's launches are over.
    Finished {
        /// The wrap.
        wrap: &'a str,
    },
    /// A load begins: a fresh instance is launched, warmed up and driven.
    Loading {
        /// The wrap.
        wrap: &'a str,
        /// Whether clients keep their connections.
        keep_alive: bool,
    },
    /// A load ended.
    Loaded {
        /// What it measured.
        row: &'a LoadRow,
    },
    /// Instances of the wrap that escaped their cleanup were removed.
    LeftoversRemoved {
        /// The wrap.
        wrap: &'a str,
        /// How many.
        count: usize,
    },
}

/// Hears the runner's events.
pub trait Observer: Send + Sync {
    /// One event, as it happens.
    fn event(&self, event: &Event<'_>);
}

//! `density.csv`: one row per instance of every density level (N instances of a wrap started
//! together), with the host facts every row carries and the level's own figures repeated.

use serde::{Deserialize, Serialize};

use super::Failure;

/// File name of the density results inside their folder.
pub const DENSITY_FILE: &str = "density.csv";

/// One instance of one level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DensityRow {
    /// When the level started, RFC 3339 UTC.
    pub timestamp: String,
    /// Host name.
    pub host: String,
    /// Host kernel release.
    pub host_kernel: String,
    /// Host CPU model and logical CPU count.
    pub host_cpu: String,
    /// shrinkwrap's version.
    pub harness_version: String,
    /// Scenario name.
    pub scenario: String,
    /// Wrap name.
    pub wrap: String,
    /// `container`, `qemu` or `process`.
    pub kind: String,
    /// Runtime and version.
    pub runtime_version: String,
    /// Accelerator.
    pub accel: String,
    /// Instances started together at this level (N).
    pub instances: u32,
    /// This instance, 1..=N.
    pub instance: u32,
    /// Whether it served its first response and was stopped.
    pub ok: bool,
    /// The kind of its failure.
    pub failure: Option<Failure>,
    /// Why it failed or what is missing.
    pub error: String,
    /// Its own launch to its own first `200`, under the others' contention, ms.
    pub ttfr_ms: Option<f64>,
    /// The level's start until every instance had answered, ms (empty when one failed).
    pub all_ready_ms: Option<f64>,
    /// PSS of its own host processes with all N serving, bytes.
    pub host_memory_bytes: Option<u64>,
    /// The level's host memory per instance: the sum of every instance's PSS over N, bytes.
    pub memory_per_instance_bytes: Option<u64>,
    /// The level's drop of the host's MemAvailable from before the start to all serving,
    /// over N, bytes: shared pages and the kernel's own costs included.
    pub mem_available_drop_per_instance_bytes: Option<u64>,
}

//! shrinkwrap: which shrink-wrap should this service ship in?
//!
//! Launches one workload (a hello-world HTTP server) in several wraps (a Docker container,
//! a unikernel or a Linux appliance under QEMU), and measures each cold start: on-disk image
//! size, time to the first HTTP response, memory right after it, and stop time.
//!
//! Modules follow the data's way through the program: [`scenario`] (the model, from TOML),
//! [`image`] (recipes, sizes, contents), [`wrap`] (one driver per kind behind one trait, QMP
//! and the accelerator choice), [`instrument`] (probe, memory, host facts), [`runner`] (the
//! benchmark loop, the smallest-RAM search), [`results`] (CSV rows), [`figure`] (every
//! figure, declared once), [`analysis`] (statistics, regression gate) and [`report`]
//! (tables, plots, doctor).

pub mod analysis;
pub mod figure;
pub mod image;
pub mod instrument;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod wrap;

use std::path::PathBuf;

/// The repository shrinkwrap runs from: `$SHRINKWRAP_ROOT`, else the checkout it was built
/// in. Recipes, the default scenario and `results/` live there.
pub fn repository_root() -> PathBuf {
    let root = std::env::var_os("SHRINKWRAP_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")));
    root.canonicalize().unwrap_or(root)
}

//! shrinkwrap: which shrink-wrap should this service ship in?
//!
//! Launches one workload (a hello-world HTTP server) in several wraps (a Docker container,
//! a unikernel or a Linux appliance under QEMU), and measures each cold start: on-disk image
//! size, time to the first HTTP response, memory right after it, and stop time.
//!
//! Modules, one job each: [`scenario`] (the model, from TOML), [`recipe`] (image recipes and
//! their cache), [`wrap`] (one driver per kind, behind one trait), [`probe`] (first-response
//! detection), [`qmp`] (QEMU control), [`accel`] (QEMU's accelerator, by measurement),
//! [`memory`], [`image_size`] (compressed image sizes), [`figure`] (every figure, declared once), [`minmem`] (smallest guest RAM), [`host`], [`bench`] (the loop), [`results`] (CSV rows), [`stats`] and
//! [`analysis`] (numbers), [`regression`] (A/B gating), [`report`] (tables), [`plot`] (figures), [`contents`] (what an image holds),
//! [`doctor`] (what this machine offers).

pub mod accel;
pub mod analysis;
pub mod bench;
pub mod contents;
pub mod doctor;
pub mod figure;
pub mod host;
pub mod image_size;
pub mod memory;
pub mod minmem;
pub mod plot;
pub mod probe;
pub mod qmp;
pub mod recipe;
pub mod regression;
pub mod report;
pub mod results;
pub mod scenario;
pub mod stats;
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

//! What the integration tests share.

use std::path::Path;

use shrinkwrap::runner::RunOptions;

/// Options for `runs` measured launches without warm-up, into `out`, under `session`.
pub fn run_options(session: &str, out: &Path, runs: u32) -> RunOptions {
    RunOptions {
        runs,
        warmup: 0,
        out_dir: out.to_path_buf(),
        rebuild: false,
        session: session.to_string(),
        min_memory: false,
    }
}

//! The benchmark loop: prepare every wrap (so a broken setup fails before anything is
//! launched), then per wrap run the warm-ups and the measured runs one cold start at a time,
//! writing each row to `results.csv` as soon as it is measured. What happens is reported
//! to an [`events::Observer`]; the loop draws nothing itself.

pub mod ab;
pub mod density;
pub mod events;
pub mod load;
pub mod minmem;

use std::path::PathBuf;
use std::time::Duration;

use events::{Event, Launch, Observer};

use crate::image::recipe::ImageCache;
use crate::instrument::host::HostFacts;
use crate::instrument::probe::StopFlag;
use crate::results::{ResultRow, ResultsError, ResultsWriter};
use crate::scenario::Scenario;
use crate::wrap::{self, LaunchContext, Measurement, PrepareContext, Wrap, WrapError};

/// Consecutive failed launches after which a wrap's remaining runs are skipped.
const MAX_CONSECUTIVE_FAILURES: u32 = 3;

/// A run that could not go on.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A wrap could not be prepared; nothing was launched.
    #[error("wrap '{wrap}': {cause}")]
    Prepare {
        /// The wrap.
        wrap: String,
        /// Why.
        cause: WrapError,
    },
    /// Results could not be written.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// The user interrupted before anything was measured.
    #[error("interrupted before anything was measured")]
    Interrupted,
    /// The output folder could not be made.
    #[error("cannot create {path}: {cause}")]
    OutDir {
        /// The folder.
        path: PathBuf,
        /// What the OS said.
        cause: std::io::Error,
    },
}

/// How a run is done.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Measured runs per wrap.
    pub runs: u32,
    /// Warm-ups per wrap.
    pub warmup: u32,
    /// Folder receiving `results.csv`.
    pub out_dir: PathBuf,
    /// Re-run image recipes even when cached.
    pub rebuild: bool,
    /// Names every container and VM of this run (labels, temp folders).
    pub session: String,
    /// Search each VM's smallest working guest RAM before measuring it.
    pub min_memory: bool,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// Every row written, in order.
    pub rows: Vec<ResultRow>,
    /// Whether the user interrupted the run.
    pub interrupted: bool,
    /// Wraps whose remaining runs were skipped after repeated failures.
    pub abandoned: Vec<String>,
}

/// Runs a scenario: prepares every wrap, then measures them one after another.
pub async fn run_scenario(
    scenario: &Scenario,
    cache: &ImageCache,
    options: &RunOptions,
    interrupt: &StopFlag,
    observer: &dyn Observer,
) -> Result<RunOutcome, BenchError> {
    let prepared = prepare_all(scenario, cache, options.rebuild, observer).await;
    // A Ctrl-C reaches image recipes and probes too: their failure is the interrupt's.
    if interrupt.is_raised() {
        return Err(BenchError::Interrupted);
    }
    measure_all(scenario, &prepared?, options, interrupt, observer).await
}

/// Measures prepared wraps one after another, writing `results.csv` in the output folder.
pub async fn measure_all(
    scenario: &Scenario,
    wraps: &[Box<dyn Wrap>],
    options: &RunOptions,
    interrupt: &StopFlag,
    observer: &dyn Observer,
) -> Result<RunOutcome, BenchError> {
    std::fs::create_dir_all(&options.out_dir).map_err(|cause| BenchError::OutDir {
        path: options.out_dir.clone(),
        cause,
    })?;
    let mut writer = ResultsWriter::create(&options.out_dir.join(crate::results::RESULTS_FILE))?;
    write_accel_evidence(wraps, &options.out_dir);
    let run = Run {
        scenario,
        options,
        context: LaunchContext {
            session: options.session.clone(),
            probe: scenario.probe.clone(),
            interrupt: interrupt.clone(),
            logs_dir: options.out_dir.join("logs"),
        },
        host: HostFacts::read(),
        observer,
    };
    let mut outcome = RunOutcome {
        rows: Vec::new(),
        interrupted: false,
        abandoned: Vec::new(),
    };
    for wrap in wraps {
        let finished = measure_wrap(&run, wrap.as_ref(), &mut writer, &mut outcome).await;
        let name = &wrap.spec().name;
        observer.event(&Event::Finished { wrap: name });
        let count = wrap.remove_leftovers(&options.session).await;
        if count > 0 {
            observer.event(&Event::LeftoversRemoved { wrap: name, count });
        }
        finished?;
        if outcome.interrupted {
            break;
        }
    }
    // An interrupt during the last launch leaves no later turn of the loop to notice it.
    outcome.interrupted |= interrupt.is_raised();
    Ok(outcome)
}

/// What every wrap's launches share within one run.
struct Run<'a> {
    scenario: &'a Scenario,
    options: &'a RunOptions,
    context: LaunchContext,
    host: HostFacts,
    observer: &'a dyn Observer,
}

/// File in a run's folder holding the accelerator verdicts behind its VM rows.
pub const ACCEL_FILE: &str = "accel.json";

/// Keeps the evidence of every measured accelerator choice beside the results (a warning,
/// never a lost run, when it cannot be written).
fn write_accel_evidence(wraps: &[Box<dyn Wrap>], out_dir: &std::path::Path) {
    let verdicts: std::collections::BTreeMap<&str, &crate::wrap::accel::Verdict> = wraps
        .iter()
        .filter_map(|w| w.accel_verdict().map(|v| (w.spec().name.as_str(), v)))
        .collect();
    if verdicts.is_empty() {
        return;
    }
    let path = out_dir.join(ACCEL_FILE);
    let written = serde_json::to_vec_pretty(&verdicts)
        .map_err(std::io::Error::other)
        .and_then(|json| std::fs::write(&path, json));
    if let Err(e) = written {
        eprintln!("warning: cannot write {}: {e}", path.display());
    }
}

/// Prepares every wrap before anything is launched: first the checks that need no build
/// (so a typo fails at once), then each image.
pub async fn prepare_all(
    scenario: &Scenario,
    cache: &ImageCache,
    rebuild: bool,
    observer: &dyn Observer,
) -> Result<Vec<Box<dyn Wrap>>, BenchError> {
    let quiet = |_: &str| {};
    let checks = PrepareContext {
        cache,
        base_dir: scenario.base_dir(),
        rebuild,
        progress: &quiet,
    };
    for spec in &scenario.wraps {
        wrap::preflight(spec, &checks).map_err(|cause| BenchError::Prepare {
            wrap: spec.name.clone(),
            cause,
        })?;
    }
    let mut wraps = Vec::with_capacity(scenario.wraps.len());
    for spec in &scenario.wraps {
        let name = spec.name.as_str();
        observer.event(&Event::Preparing { wrap: name });
        let progress = |step: &str| observer.event(&Event::PrepareStep { wrap: name, step });
        let context = PrepareContext {
            cache,
            base_dir: scenario.base_dir(),
            rebuild,
            progress: &progress,
        };
        let prepared = wrap::prepare(spec, &context).await;
        observer.event(&Event::Prepared { wrap: name });
        wraps.push(prepared.map_err(|cause| BenchError::Prepare {
            wrap: spec.name.clone(),
            cause,
        })?);
    }
    Ok(wraps)
}

/// The warm-ups and measured runs of one wrap, after its smallest-RAM search when asked.
async fn measure_wrap(
    run: &Run<'_>,
    wrap: &dyn Wrap,
    writer: &mut ResultsWriter,
    outcome: &mut RunOutcome,
) -> Result<(), BenchError> {
    let name = wrap.spec().name.as_str();
    let min_memory = if run.options.min_memory && wrap.guest_memory_mb().is_some() {
        search_min_memory(wrap, run).await
    } else {
        None
    };
    let (warmups, runs) = (run.options.warmup, run.options.runs);
    run.observer.event(&Event::Measuring {
        wrap: name,
        launches: warmups + runs,
    });
    let mut consecutive_failures = 0;
    for index in 1..=warmups + runs {
        if run.context.interrupt.is_raised() {
            outcome.interrupted = true;
            break;
        }
        let launch = if index <= warmups {
            Launch::Warmup { index, of: warmups }
        } else {
            Launch::Run {
                index: index - warmups,
                of: runs,
            }
        };
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let measurement = wrap::launch_once(wrap, &run.context, &launch.name()).await;
        run.observer.event(&Event::Measured {
            wrap: name,
            launch,
            measurement: &measurement,
        });
        consecutive_failures = if measurement.ok {
            0
        } else {
            consecutive_failures + 1
        };
        // A run the user interrupted is not a failure of the wrap: it gets no row.
        let interrupted_run = run.context.interrupt.is_raised() && !measurement.ok;
        if let (Launch::Run { index, .. }, false) = (launch, interrupted_run) {
            let mut row = result_row(
                run.scenario,
                wrap,
                &run.host,
                index,
                timestamp,
                &measurement,
            );
            row.min_guest_memory_mb = min_memory;
            writer.write(&row)?;
            outcome.rows.push(row);
        }
        if consecutive_failures >= MAX_CONSECUTIVE_FAILURES {
            run.observer.event(&Event::GivenUp {
                wrap: name,
                failures: consecutive_failures,
            });
            outcome.abandoned.push(name.to_string());
            break;
        }
    }
    Ok(())
}

/// Runs the smallest-guest-RAM search; a failed search is reported and leaves the figure
/// missing.
async fn search_min_memory(wrap: &dyn Wrap, run: &Run<'_>) -> Option<u32> {
    let name = wrap.spec().name.as_str();
    let observer = run.observer;
    observer.event(&Event::MinMemorySearch { wrap: name });
    let progress = |step: &str| observer.event(&Event::MinMemoryStep { wrap: name, step });
    let found = minmem::find_min_guest_memory(wrap, &run.context, &progress).await;
    observer.event(&Event::MinMemoryFound {
        wrap: name,
        found: &found,
    });
    found.ok().map(|found| found.mib)
}

fn millis(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1000.0)
}

/// The flat row of one measured run.
pub fn result_row(
    scenario: &Scenario,
    wrap: &dyn Wrap,
    host: &HostFacts,
    run: u32,
    timestamp: String,
    m: &Measurement,
) -> ResultRow {
    let spec = wrap.spec();
    let image = wrap.image();
    let contents = image.contents.as_ref().ok();
    ResultRow {
        timestamp,
        host: host.name.clone(),
        host_kernel: host.kernel.clone(),
        host_cpu: host.cpu.clone(),
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: scenario.name.clone(),
        workload: scenario.workload.clone(),
        wrap: spec.name.clone(),
        label: spec.label.clone(),
        kind: spec.kind().to_string(),
        runtime_version: wrap.runtime_version().to_string(),
        accel: wrap.accel().to_string(),
        accel_chosen_by: wrap.prepared().accel_chosen_by,
        restored_from: wrap.prepared().restored_from.clone(),
        run,
        ok: m.ok,
        error: row_error(wrap, m),
        failure: m.failure,
        image_bytes: Some(image.bytes),
        image_compressed_bytes: image.compressed_bytes.as_ref().ok().copied(),
        ttfr_ms: millis(m.ttfr),
        host_memory_bytes: m.host_memory_bytes,
        host_memory_anon_bytes: m.host_memory_split.map(|s| s.anon_bytes),
        host_memory_file_bytes: m.host_memory_split.map(|s| s.file_bytes),
        host_memory_shmem_bytes: m.host_memory_split.map(|s| s.shmem_bytes),
        rss_bytes: m.rss_bytes,
        pss_bytes: m.pss_bytes,
        cgroup_bytes: m.cgroup_bytes,
        guest_ram_bytes: m.guest_ram_bytes,
        vmm_overhead_bytes: m.vmm_overhead_bytes,
        stop_ms: millis(m.stop),
        created_ms: millis(m.created),
        started_ms: millis(m.started),
        qmp_ready_ms: millis(m.qmp_ready),
        first_output_ms: millis(m.first_output),
        ready_line_ms: millis(m.ready_line),
        console_phases: crate::results::console_phases_cell(&m.console_phases),
        // Signed: a console line read late shows as a negative lag, never as zero.
        probe_lag_ms: match (millis(m.ttfr), millis(m.ready_line)) {
            (Some(ttfr), Some(ready)) if m.ok => Some(ttfr - ready),
            _ => None,
        },
        probe_answer_ms: millis(m.probe_answer),
        guest_memory_mb: wrap.guest_memory_mb(),
        probe_attempts: m.probe_attempts,
        min_guest_memory_mb: None,
        image_files: contents.map(|c| c.files),
        image_executables: contents.map(|c| c.executables),
        image_setuid: contents.map(|c| c.setuid),
        image_shells: contents.map(|c| c.shells.join(";")).unwrap_or_default(),
        image_kernel: match &image.contents {
            Ok(c) => c.kernel.clone(),
            Err(why) => format!("unknown: {why}"),
        },
        image_imports: contents.map(|c| c.imports.join(";")).unwrap_or_default(),
    }
}

/// Why the run failed or which figures are missing, including an image figure the wrap
/// could not measure.
fn row_error(wrap: &dyn Wrap, m: &Measurement) -> String {
    let mut notes = m.notes.clone();
    if let Err(why) = &wrap.image().compressed_bytes {
        notes.push(format!("image compressed: {why}"));
    }
    notes.join("; ")
}

#[cfg(test)]
mod tests;

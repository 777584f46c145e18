//! Density: N instances of a wrap started together, as a burst of events scales a function
//! from zero. Each level measures the time until all N answered, each instance's own first
//! response under that contention, and host memory per instance two ways: the instances'
//! PSS summed over N, and the drop of the host's MemAvailable over N (shared pages and the
//! kernel's own costs make them differ; both are kept, as Kata's density metrics do).

use std::path::PathBuf;
use std::time::Instant;

use futures_util::future::join_all;

use super::{BenchError, millis};
use crate::instrument::host::HostFacts;
use crate::instrument::memory::{MemoryError, mem_available_bytes};
use crate::instrument::probe::StopFlag;
use crate::results::density::{DENSITY_FILE, DensityRow};
use crate::results::{ResultsError, ResultsWriter};
use crate::scenario::{Launch, Scenario, WrapSpec};
use crate::wrap::launch::{Live, serve};
use crate::wrap::{LaunchContext, Measurement, Wrap};

/// Share of the host's available memory a level may plan to use, percent.
const BUDGET_PERCENT: u64 = 80;
/// Most instances one level may start.
pub const MAX_INSTANCES: u32 = 256;

/// What a density run needs.
#[derive(Debug, Clone)]
pub struct DensityOptions {
    /// Instances per level, ascending.
    pub levels: Vec<u32>,
    /// Folder for density.csv and the logs of failed launches.
    pub out_dir: PathBuf,
    /// Labels every instance, so leftovers can be found.
    pub session: String,
}

/// A density run that could not go on.
#[derive(Debug, thiserror::Error)]
pub enum DensityError {
    /// A level cannot fit in the host's memory, by what is known before starting it.
    #[error(
        "{wrap}: {instances} instances need about {need_mb} MB ({per_mb} MB each), but {BUDGET_PERCENT}% of the host's available memory is {budget_mb} MB: choose fewer --instances"
    )]
    DoesNotFit {
        /// The wrap.
        wrap: String,
        /// The level.
        instances: u32,
        /// Memory the level needs, MB.
        need_mb: u64,
        /// Memory one instance needs, MB.
        per_mb: u64,
        /// The budget, MB.
        budget_mb: u64,
    },
    /// The host's MemAvailable could not be read.
    #[error("reading the host's available memory: {0}")]
    Memory(#[from] MemoryError),
    /// The output folder or file.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// Preparing the run failed.
    #[error(transparent)]
    Bench(#[from] BenchError),
}

/// What a density run measured.
#[derive(Debug, Default)]
pub struct DensityOutcome {
    /// Every instance of every level, in order.
    pub rows: Vec<DensityRow>,
    /// Why a wrap stopped before its last level.
    pub stopped_early: Vec<String>,
    /// The user interrupted: the rows so far are kept.
    pub interrupted: bool,
}

/// Memory an instance of a wrap needs before one was measured: a VM's guest RAM (its host
/// memory is more), nothing known for other kinds.
fn assumed_bytes(spec: &WrapSpec) -> u64 {
    match &spec.launch {
        Launch::Qemu(qemu) => u64::from(qemu.memory_mb) << 20,
        _ => 0,
    }
}

/// Refuses, before anything is built or started, a largest level that cannot fit in the
/// host's available memory by what is known of each wrap before measuring it.
pub fn check_levels(scenario: &Scenario, levels: &[u32]) -> Result<(), DensityError> {
    let available = mem_available_bytes()?;
    let largest = levels.iter().copied().max().unwrap_or(0);
    for spec in &scenario.wraps {
        check_fits(&spec.name, largest, assumed_bytes(spec), available)?;
    }
    Ok(())
}

/// Refuses a level whose instances, at `per_instance` bytes each, exceed the budget.
fn check_fits(
    wrap: &str,
    instances: u32,
    per_instance: u64,
    available: u64,
) -> Result<(), DensityError> {
    let budget = available / 100 * BUDGET_PERCENT;
    let need = per_instance * u64::from(instances);
    if need > budget {
        return Err(DensityError::DoesNotFit {
            wrap: wrap.to_string(),
            instances,
            need_mb: need >> 20,
            per_mb: per_instance >> 20,
            budget_mb: budget >> 20,
        });
    }
    Ok(())
}

/// Measures every level of every wrap, writing density.csv as levels finish. Every level is
/// checked against the host's memory before anything starts; a wrap stops early when a
/// level failed or when the memory measured so far says the next cannot fit.
pub async fn measure_density(
    scenario: &Scenario,
    wraps: &[Box<dyn Wrap>],
    options: &DensityOptions,
    interrupt: &StopFlag,
) -> Result<DensityOutcome, DensityError> {
    check_levels(scenario, &options.levels)?;
    std::fs::create_dir_all(&options.out_dir).map_err(|cause| ResultsError::Open {
        path: options.out_dir.clone(),
        cause,
    })?;
    let mut writer = ResultsWriter::create(&options.out_dir.join(DENSITY_FILE))?;
    let level = Level {
        scenario,
        host: HostFacts::read(),
        context: LaunchContext {
            session: options.session.clone(),
            probe: scenario.probe.clone(),
            interrupt: interrupt.clone(),
            logs_dir: options.out_dir.join("logs"),
        },
    };
    let mut outcome = DensityOutcome::default();
    for wrap in wraps {
        let wrap = wrap.as_ref();
        let mut per_instance = assumed_bytes(wrap.spec());
        for &instances in &options.levels {
            let name = &wrap.spec().name;
            if let Err(e) = check_fits(name, instances, per_instance, mem_available_bytes()?) {
                outcome
                    .stopped_early
                    .push(format!("{e} (stopped before this level)"));
                break;
            }
            let rows = level.run(wrap, instances).await;
            // An interrupted level is not a measurement, as an interrupted launch is not:
            // its instances are removed and no row is written.
            if interrupt.is_raised() {
                outcome.interrupted = true;
                break;
            }
            for row in &rows {
                writer.write(row)?;
            }
            let failed = rows.iter().filter(|r| !r.ok).count();
            per_instance = per_instance.max(measured_per_instance(&rows));
            outcome.rows.extend(rows);
            if failed > 0 {
                outcome.stopped_early.push(format!(
                    "{name}: {failed} of {instances} instances failed: larger levels not tried"
                ));
                break;
            }
        }
        wrap.remove_leftovers(&options.session).await;
        if outcome.interrupted {
            break;
        }
    }
    Ok(outcome)
}

/// Readings of MemAvailable per sample, and the pause between them.
const MEM_AVAILABLE_READINGS: usize = 5;
const MEM_AVAILABLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// The host's MemAvailable as the median of a few readings a moment apart: one reading
/// moves by tens of MB with the host's own background work.
async fn settled_mem_available() -> Option<u64> {
    tokio::time::sleep(MEM_AVAILABLE_PAUSE).await;
    let mut readings = Vec::with_capacity(MEM_AVAILABLE_READINGS);
    for _ in 0..MEM_AVAILABLE_READINGS {
        readings.push(mem_available_bytes().ok()?);
        tokio::time::sleep(MEM_AVAILABLE_PAUSE).await;
    }
    readings.sort_unstable();
    readings.get(readings.len() / 2).copied()
}

/// The larger of a level's two per-instance memory figures.
fn measured_per_instance(rows: &[DensityRow]) -> u64 {
    rows.first()
        .map(|r| {
            r.memory_per_instance_bytes
                .unwrap_or(0)
                .max(r.mem_available_drop_per_instance_bytes.unwrap_or(0))
        })
        .unwrap_or(0)
}

/// The wrap with its ready timeout multiplied by how many instances share each CPU, for a
/// VM at a level with more instances than the host has CPUs: each boots that much slower.
/// `None` when nothing changes (or the kind cannot be changed: restored VMs, containers and
/// processes keep theirs).
fn under_contention(wrap: &dyn Wrap, instances: u32) -> Option<Box<dyn Wrap>> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let factor = instances.div_ceil(cpus);
    if factor <= 1 {
        return None;
    }
    wrap.with_guest_memory(wrap.guest_memory_mb()?, wrap.spec().timeouts.ready * factor)
}

/// What every level of a density run shares.
struct Level<'a> {
    scenario: &'a Scenario,
    host: HostFacts,
    context: LaunchContext,
}

impl Level<'_> {
    /// Starts `instances` instances of `wrap` at once, waits for all, reads their memory
    /// and the host's with all serving, then stops and removes every one.
    async fn run(&self, wrap: &dyn Wrap, instances: u32) -> Vec<DensityRow> {
        let contended = under_contention(wrap, instances);
        let wrap = contended.as_deref().unwrap_or(wrap);
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let before = settled_mem_available().await;
        let started = Instant::now();
        let mut lives: Vec<Live> =
            join_all((0..instances).map(|_| serve(wrap, &self.context))).await;
        let all_served = lives.iter().all(Live::served);
        let all_ready = all_served.then(|| started.elapsed());
        for live in &mut lives {
            live.read_memory().await;
        }
        let after = settled_mem_available().await;
        let mut measured = Vec::with_capacity(lives.len());
        for (index, live) in lives.into_iter().enumerate() {
            let run_name = format!("density{instances}-{}", index + 1);
            measured.push(live.finish(wrap, &self.context, &run_name).await);
        }
        let per_instance = |total: u64| total / u64::from(instances.max(1));
        let memory_sum: Option<u64> = measured.iter().map(|m| m.host_memory_bytes).sum();
        let drop = match (before, after) {
            (Some(before), Some(after)) if all_served => Some(before.saturating_sub(after)),
            _ => None,
        };
        let level = LevelFigures {
            instances,
            timestamp,
            all_ready_ms: millis(all_ready),
            memory_per_instance_bytes: memory_sum.filter(|_| all_served).map(per_instance),
            mem_available_drop_per_instance_bytes: drop.map(per_instance),
        };
        measured
            .iter()
            .enumerate()
            .map(|(index, m)| self.row(wrap, &level, index, m))
            .collect()
    }

    fn row(
        &self,
        wrap: &dyn Wrap,
        level: &LevelFigures,
        index: usize,
        m: &Measurement,
    ) -> DensityRow {
        DensityRow {
            timestamp: level.timestamp.clone(),
            host: self.host.name.clone(),
            host_kernel: self.host.kernel.clone(),
            host_cpu: self.host.cpu.clone(),
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            scenario: self.scenario.name.clone(),
            wrap: wrap.spec().name.clone(),
            kind: wrap.spec().kind().to_string(),
            runtime_version: wrap.runtime_version().to_string(),
            accel: wrap.accel().to_string(),
            instances: level.instances,
            instance: index as u32 + 1,
            ok: m.ok,
            failure: m.failure,
            error: m.notes.join("; "),
            ttfr_ms: millis(m.ttfr),
            all_ready_ms: level.all_ready_ms,
            host_memory_bytes: m.host_memory_bytes,
            memory_per_instance_bytes: level.memory_per_instance_bytes,
            mem_available_drop_per_instance_bytes: level.mem_available_drop_per_instance_bytes,
        }
    }
}

/// The figures a level has once, repeated in each of its rows.
struct LevelFigures {
    instances: u32,
    timestamp: String,
    all_ready_ms: Option<f64>,
    memory_per_instance_bytes: Option<u64>,
    mem_available_drop_per_instance_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_that_cannot_fit_is_refused_with_its_numbers() {
        let gib = 1u64 << 30;
        assert!(check_fits("vm", 8, 256 << 20, 24 * gib).is_ok());
        let e = check_fits("vm", 1000, 256 << 20, 24 * gib)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("1000 instances need about 256000 MB (256 MB each)"),
            "{e}"
        );
        assert!(e.contains("choose fewer --instances"), "{e}");
    }
}

//! Load: each wrap, once serving, driven by a closed loop of requests from the host, with
//! keep-alive and without, each mode on a fresh instance (a guest that fails under one load
//! does not spoil the other). An unrecorded warm-up comes first; then the throughput, the
//! latencies, the CPU time of the instance's host processes and of the generator (this
//! process) are read over the recorded load; then the instance's body is checked, it is
//! stopped and removed like every launch.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::analysis::load::{CpuUse, Limit};
use crate::instrument::cpu::{HostCpu, busiest_thread, cpu_time, thread_times};
use crate::instrument::host::HostFacts;
use crate::instrument::load::{LoadOutcome, LoadPlan, drive};
use crate::instrument::memory::MemoryError;
use crate::instrument::probe::StopFlag;
use crate::results::load::{LOAD_FILE, LoadRow};
use crate::results::{ResultsError, ResultsWriter};
use crate::runner::events::{Event, Observer};
use crate::scenario::Scenario;
use crate::wrap::launch::{Live, serve};
use crate::wrap::{LaunchContext, Measurement, Wrap};

/// Most clients a load may have.
pub const MAX_CONNECTIONS: u32 = 256;
/// Longest recorded load.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// Longest wait for one request's whole answer before it counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What a load run needs.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Recorded load per wrap and mode.
    pub duration: Duration,
    /// Unrecorded load before it.
    pub warmup: Duration,
    /// Clients.
    pub connections: u32,
    /// Folder for load.csv and the logs of failed launches.
    pub out_dir: PathBuf,
    /// Labels every instance, so leftovers can be found.
    pub session: String,
}

/// What a load run measured.
#[derive(Debug, Default)]
pub struct LoadRun {
    /// One row per wrap and mode, in order.
    pub rows: Vec<LoadRow>,
    /// The user interrupted: the rows so far are kept.
    pub interrupted: bool,
}

/// Drives every wrap with and without keep-alive, writing load.csv as rows finish.
pub async fn measure_load(
    scenario: &Scenario,
    wraps: &[Box<dyn Wrap>],
    options: &LoadOptions,
    interrupt: &StopFlag,
    observer: &dyn Observer,
) -> Result<LoadRun, ResultsError> {
    std::fs::create_dir_all(&options.out_dir).map_err(|cause| ResultsError::Open {
        path: options.out_dir.clone(),
        cause,
    })?;
    let mut writer = ResultsWriter::create(&options.out_dir.join(LOAD_FILE))?;
    let session = Session {
        scenario,
        options,
        host: HostFacts::read(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        context: LaunchContext {
            session: options.session.clone(),
            probe: scenario.probe.clone(),
            interrupt: interrupt.clone(),
            logs_dir: options.out_dir.join("logs"),
        },
    };
    let mut run = LoadRun::default();
    for wrap in wraps {
        for keep_alive in [true, false] {
            let name = &wrap.spec().name;
            observer.event(&Event::Loading {
                wrap: name,
                keep_alive,
            });
            let row = session.load(wrap.as_ref(), keep_alive).await;
            // An interrupted load is not a measurement: no row is written.
            if interrupt.is_raised() {
                run.interrupted = true;
                break;
            }
            observer.event(&Event::Loaded { row: &row });
            writer.write(&row)?;
            run.rows.push(row);
        }
        wrap.remove_leftovers(&options.session).await;
        if run.interrupted {
            break;
        }
    }
    Ok(run)
}

/// What a load run shares.
struct Session<'a> {
    scenario: &'a Scenario,
    options: &'a LoadOptions,
    host: HostFacts,
    cpus: u32,
    context: LaunchContext,
}

/// The recorded load on one instance.
struct Recorded {
    outcome: LoadOutcome,
    cpu: CpuUse,
    /// Why a CPU figure is missing.
    missing: Vec<String>,
}

/// The CPU clocks read before and after a load.
struct Readings {
    generator: Result<Duration, MemoryError>,
    instance: Result<Duration, String>,
    host: Result<HostCpu, MemoryError>,
    threads: HashMap<u32, Duration>,
}

impl Readings {
    /// Reads the clocks before a load, the generator's last, so the generator's time does
    /// not count the reading of the others.
    async fn before(live: &mut Live, instance_pids: &[u32]) -> Readings {
        let instance = live.cpu_time().await;
        let threads = thread_times(instance_pids);
        let host = HostCpu::read();
        Readings {
            generator: cpu_time(&[std::process::id()]),
            instance,
            host,
            threads,
        }
    }

    /// Reads the clocks after a load, in the opposite order.
    async fn after(live: &mut Live, instance_pids: &[u32]) -> Readings {
        let generator = cpu_time(&[std::process::id()]);
        let host = HostCpu::read();
        let threads = thread_times(instance_pids);
        Readings {
            generator,
            instance: live.cpu_time().await,
            host,
            threads,
        }
    }
}

/// How far a CPU clock advanced between two readings; why it is not known, into `missing`.
fn advanced<E: std::fmt::Display>(
    name: &str,
    before: Result<Duration, E>,
    after: Result<Duration, E>,
    missing: &mut Vec<String>,
) -> Option<Duration> {
    match (before, after) {
        (Ok(before), Ok(after)) => Some(after.saturating_sub(before)),
        (Err(e), _) | (_, Err(e)) => {
            missing.push(format!("{name} CPU: {e}"));
            None
        }
    }
}

impl Session<'_> {
    /// One fresh instance of `wrap`, driven once it serves, then stopped and removed.
    async fn load(&self, wrap: &dyn Wrap, keep_alive: bool) -> LoadRow {
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut live = serve(wrap, &self.context).await;
        let recorded = match live.addr() {
            Some(addr) => Some(self.drive(&mut live, addr, keep_alive).await),
            None => None,
        };
        let mode = if keep_alive { "keep-alive" } else { "close" };
        let m = live
            .finish(wrap, &self.context, &format!("load-{mode}"))
            .await;
        self.row(wrap, keep_alive, timestamp, &m, recorded)
    }

    /// Warms up, then drives the recorded load, reading CPU time around it.
    async fn drive(
        &self,
        live: &mut Live,
        addr: std::net::SocketAddr,
        keep_alive: bool,
    ) -> Recorded {
        let mut plan = LoadPlan {
            addr,
            path: self.scenario.probe.path.clone(),
            connections: self.options.connections,
            duration: self.options.warmup,
            keep_alive,
            request_timeout: REQUEST_TIMEOUT,
        };
        if !plan.duration.is_zero() {
            drive(&plan, &self.context.interrupt).await;
        }
        plan.duration = self.options.duration;
        let pids = live.host_processes().await.unwrap_or_default();
        let before = Readings::before(live, &pids).await;
        let outcome = drive(&plan, &self.context.interrupt).await;
        let after = Readings::after(live, &pids).await;
        let mut missing = Vec::new();
        let cpu = CpuUse {
            elapsed: outcome.elapsed,
            generator: advanced("generator", before.generator, after.generator, &mut missing),
            instance: advanced("instance", before.instance, after.instance, &mut missing),
            host_busy: match (before.host, after.host) {
                (Ok(before), Ok(after)) => after.busy_since(&before),
                (Err(e), _) | (_, Err(e)) => {
                    missing.push(format!("host CPU: {e}"));
                    None
                }
            },
            busiest_instance_thread: (!pids.is_empty())
                .then(|| busiest_thread(&before.threads, &after.threads)),
        };
        Recorded {
            outcome,
            cpu,
            missing,
        }
    }

    fn row(
        &self,
        wrap: &dyn Wrap,
        keep_alive: bool,
        timestamp: String,
        m: &Measurement,
        recorded: Option<Recorded>,
    ) -> LoadRow {
        let seconds = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        let mut error = m.notes.clone();
        let mut row = LoadRow {
            timestamp,
            host: self.host.name.clone(),
            host_kernel: self.host.kernel.clone(),
            host_cpu: self.host.cpu.clone(),
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            scenario: self.scenario.name.clone(),
            wrap: wrap.spec().name.clone(),
            kind: wrap.spec().kind().to_string(),
            runtime_version: wrap.runtime_version().to_string(),
            accel: wrap.accel().to_string(),
            run: 1,
            keep_alive,
            connections: self.options.connections,
            duration_s: self.options.duration.as_secs_f64(),
            ok: m.ok,
            failure: m.failure,
            error: String::new(),
            requests: 0,
            errors: 0,
            connections_opened: 0,
            elapsed_s: 0.0,
            requests_per_second: 0.0,
            p50_ms: None,
            p90_ms: None,
            p99_ms: None,
            max_ms: None,
            instance_cpu_s: None,
            instance_cpu_ms_per_1000: None,
            generator_cpu_s: None,
            host_busy_percent: None,
            busiest_instance_thread_s: None,
            host_cpus: self.cpus,
            limit: Limit::Unknown.to_string(),
        };
        if let Some(recorded) = recorded {
            let outcome = &recorded.outcome;
            if let Some(first) = &outcome.first_error {
                error.push(format!("first failed request: {first}"));
            }
            error.extend(recorded.missing);
            row.requests = outcome.requests;
            row.errors = outcome.errors;
            row.connections_opened = outcome.connections_opened;
            row.elapsed_s = outcome.elapsed.as_secs_f64();
            row.requests_per_second = outcome.requests_per_second();
            row.p50_ms = outcome.percentile_ms(50.0);
            row.p90_ms = outcome.percentile_ms(90.0);
            row.p99_ms = outcome.percentile_ms(99.0);
            row.max_ms = outcome.max_ms();
            let cpu = &recorded.cpu;
            row.instance_cpu_s = seconds(cpu.instance);
            row.instance_cpu_ms_per_1000 = cpu
                .instance
                .filter(|_| outcome.requests > 0)
                .map(|t| t.as_secs_f64() * 1e6 / outcome.requests as f64);
            row.generator_cpu_s = seconds(cpu.generator);
            row.host_busy_percent = cpu.host_busy.map(|b| b * 100.0);
            row.busiest_instance_thread_s = seconds(cpu.busiest_instance_thread);
            row.limit = Limit::judge(cpu).to_string();
        }
        row.error = error.join("; ");
        row
    }
}

//! Wrap drivers: one per kind of shrink-wrap, behind the [`Wrap`] trait. A driver is made
//! ready by [`prepare`] (runtime reachable, image built, files present: every check that
//! needs no launch); then [`launch::launch_once`] runs the launch sequence every kind
//! shares, with the driver's own steps given as an [`launch::Instance`].

pub mod accel;
pub mod container;
pub mod launch;
pub mod oci_runtime;
pub mod process;
pub mod qemu;
pub mod qmp;
pub mod snapshot;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;

use crate::image::ImageFacts;
use crate::image::recipe::{ImageCache, RecipeError};
use crate::instrument::memory::PssSplit;
use crate::instrument::probe::{ProbeTarget, StopFlag};
use crate::results::{AccelSource, Failure};
use crate::scenario::{Launch, ProbeSpec, WrapSpec};

/// A wrap that cannot be prepared: the runtime is missing or down, or its image cannot be
/// built or found. Each message names the cause and the fix.
#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    /// The image recipe failed.
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    /// The Docker engine cannot be used.
    #[error("{0}")]
    Docker(String),
    /// QEMU or its inputs cannot be used.
    #[error("{0}")]
    Qemu(String),
    /// A process wrap's program or files cannot be used.
    #[error("{0}")]
    Process(String),
    /// A file the wrap needs (a kernel, a disk, a program) does not exist.
    #[error("{0}")]
    MissingFile(String),
}

pub use launch::launch_once;

/// What every launch of a run shares.
#[derive(Debug, Clone)]
pub struct LaunchContext {
    /// The run's identifier: labels every container and names VM temp folders, so leftovers
    /// can always be found.
    pub session: String,
    /// The probe's request and expected body.
    pub probe: ProbeSpec,
    /// Raised when the user interrupts: the current launch stops early and cleans up.
    pub interrupt: StopFlag,
    /// Where logs of failed launches are kept (serial consoles).
    pub logs_dir: PathBuf,
}

/// What preparing a wrap needs.
pub struct PrepareContext<'a> {
    /// Recipes and their cache.
    pub cache: &'a ImageCache,
    /// Folder that relative bring-your-own paths are resolved against.
    pub base_dir: &'a Path,
    /// Re-run image recipes even when cached.
    pub rebuild: bool,
    /// Receives progress lines while images build.
    pub progress: &'a (dyn Fn(&str) + Sync),
}

/// The figures of one cold start. Missing figures are `None`; `notes` says why.
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    /// Whether the instance served its first response and was stopped.
    pub ok: bool,
    /// Why the run failed, or why a figure is missing.
    pub notes: Vec<String>,
    /// The first failure of the launch: what made it not `ok`.
    pub failure: Option<Failure>,
    /// Launch to first `200`.
    pub ttfr: Option<Duration>,
    /// Probe attempts until the first `200`.
    pub probe_attempts: Option<u32>,
    /// The far end's own answer time (see [`crate::instrument::probe::FirstResponse::answer`]).
    pub probe_answer: Option<Duration>,
    /// PSS of every host process that exists because the instance exists.
    pub host_memory_bytes: Option<u64>,
    /// The same PSS by kind of page.
    pub host_memory_split: Option<PssSplit>,
    /// RSS of the instance's processes after the first response.
    pub rss_bytes: Option<u64>,
    /// PSS of the same processes.
    pub pss_bytes: Option<u64>,
    /// Container cgroup usage minus inactive file.
    pub cgroup_bytes: Option<u64>,
    /// RSS of the guest RAM mapping (VMs): the guest memory touched.
    pub guest_ram_bytes: Option<u64>,
    /// VMM RSS outside guest RAM.
    pub vmm_overhead_bytes: Option<u64>,
    /// Stop request to exit.
    pub stop: Option<Duration>,
    /// Phase: create call returned (containers).
    pub created: Option<Duration>,
    /// Phase: start call returned (containers) or process spawned (VMs).
    pub started: Option<Duration>,
    /// Phase: QMP handshake done.
    pub qmp_ready: Option<Duration>,
    /// Phase: first serial console byte.
    pub first_output: Option<Duration>,
    /// Phase: the guest's ready line on the console.
    pub ready_line: Option<Duration>,
    /// Phases marked by the wrap's phase lines on the console, in the order seen.
    pub console_phases: Vec<(String, Duration)>,
}

impl Measurement {
    /// Records why something is missing or failed.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Records a failure and why; the first failure is the run's kind.
    pub fn fail(&mut self, failure: Failure, why: impl Into<String>) {
        self.failure.get_or_insert(failure);
        self.note(why);
    }
}

/// What every prepared wrap knows of itself, and records in every row.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The scenario's description of the wrap.
    pub spec: WrapSpec,
    /// The runtime and its version, e.g. `dockerd 20.10.24 (API 1.41)`.
    pub runtime_version: String,
    /// The accelerator: `kvm` or `tcg` for VMs, `native` for containers and processes.
    pub accel: String,
    /// How a VM's accelerator was chosen; `None` for wraps without a choice.
    pub accel_chosen_by: Option<AccelSource>,
    /// The saved VM state every launch restores (its key), for a VM that restores.
    pub restored_from: Option<String>,
    /// The image's size and contents, read when the wrap was prepared.
    pub image: ImageFacts,
}

/// One kind of shrink-wrap, prepared and ready to launch.
#[async_trait]
pub trait Wrap: Send + Sync {
    /// What the wrap knows of itself since it was prepared.
    fn prepared(&self) -> &Prepared;
    /// The scenario's description of this wrap.
    fn spec(&self) -> &WrapSpec {
        &self.prepared().spec
    }
    /// The runtime and its version, recorded in every row.
    fn runtime_version(&self) -> &str {
        &self.prepared().runtime_version
    }
    /// The accelerator, recorded in every row.
    fn accel(&self) -> &str {
        &self.prepared().accel
    }
    /// The image's size and contents.
    fn image(&self) -> &ImageFacts {
        &self.prepared().image
    }
    /// The measured accelerator verdict and its evidence, when `auto` chose it.
    fn accel_verdict(&self) -> Option<&crate::wrap::accel::Verdict> {
        None
    }
    /// Guest RAM given to each instance, for VMs.
    fn guest_memory_mb(&self) -> Option<u32> {
        None
    }
    /// The same wrap with another guest RAM and ready timeout, for VMs; `None` otherwise.
    fn with_guest_memory(
        &self,
        _memory_mb: u32,
        _ready_timeout: Duration,
    ) -> Option<Box<dyn Wrap>> {
        None
    }
    /// The port the workload always listens on, when it cannot be told one.
    fn fixed_port(&self) -> Option<u16> {
        None
    }
    /// A new instance answering on host port `port`, set up but not yet created: what needs
    /// no runtime call (arguments, temp folders) happens here, before the clock starts.
    async fn instance(
        &self,
        context: &LaunchContext,
        port: u16,
    ) -> Result<Box<dyn launch::Instance>, String>;
    /// Removes instances of this session that escaped cleanup; returns how many.
    async fn remove_leftovers(&self, session: &str) -> usize;
}

/// Checks what can be checked without building or launching anything: the recipe and its
/// inputs exist, and a bring-your-own VM's boot files or process's program and files exist. Run for every wrap first, so a
/// typo in the last wrap does not wait for the first wrap's image build.
pub fn preflight(spec: &WrapSpec, context: &PrepareContext<'_>) -> Result<(), WrapError> {
    if let Some(image) = &spec.image {
        context.cache.check(image)?;
    }
    match (&spec.launch, &spec.image) {
        (Launch::Qemu(q), None) => qemu::boot_files_exist(q, context.base_dir),
        (Launch::Process(p), None) => process::image_files(p, context.base_dir, false).map(drop),
        _ => Ok(()),
    }
}

/// A wrap's file: `path` from `base` (the recipe's output when `from_recipe`, else the
/// scenario's folder; an absolute path stays as it is). It must exist.
pub(crate) fn existing_file(
    what: &str,
    base: &Path,
    path: &Path,
    from_recipe: bool,
) -> Result<PathBuf, WrapError> {
    let resolved = base.join(path);
    if resolved.is_file() {
        return Ok(resolved);
    }
    let hint = if from_recipe {
        "the image recipe did not make it: check the recipe's output names"
    } else {
        "build it first or fix the path (relative paths start at the scenario's folder)"
    };
    Err(WrapError::MissingFile(format!(
        "{what} {} does not exist: {hint}",
        resolved.display()
    )))
}

/// Makes a wrap ready to launch: checks its runtime and builds or finds its image.
pub async fn prepare(
    spec: &WrapSpec,
    context: &PrepareContext<'_>,
) -> Result<Box<dyn Wrap>, WrapError> {
    match &spec.launch {
        Launch::Container(_) => Ok(Box::new(
            container::ContainerWrap::prepare(spec.clone(), context).await?,
        )),
        Launch::Qemu(_) => Ok(Box::new(
            qemu::QemuWrap::prepare(spec.clone(), context).await?,
        )),
        Launch::Process(_) => Ok(Box::new(process::ProcessWrap::prepare(
            spec.clone(),
            context,
        )?)),
    }
}

/// Kills (SIGKILL) every host process `matches` accepts, once `refresh` has read what it
/// looks at (command lines, environments); returns how many.
pub(crate) fn kill_processes_where(
    refresh: sysinfo::ProcessRefreshKind,
    matches: impl Fn(&sysinfo::Process) -> bool,
) -> usize {
    let Ok(mut system) = sysinfo::System::new() else {
        return 0;
    };
    system.refresh_processes_specifics(sysinfo::ProcessesToUpdate::All, true, refresh);
    system
        .processes()
        .values()
        .filter(|p| matches(p))
        .filter(|p| p.kill_with(sysinfo::Signal::Kill).unwrap_or(false))
        .count()
}

/// The probe for one launch of `spec` on host port `port`.
pub(crate) fn probe_target(spec: &WrapSpec, probe: &ProbeSpec, port: u16) -> ProbeTarget {
    ProbeTarget {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        path: probe.path.clone(),
        attempt_timeout: spec.timeouts.attempt,
        ready_timeout: spec.timeouts.ready,
        connections: spec.probe_connections,
        retry_pause: spec.probe_pause,
    }
}

/// The folder a wrap's files are found in: its recipe's output (built or found in the
/// cache), else the scenario's folder.
pub(crate) fn files_dir(
    spec: &WrapSpec,
    context: &PrepareContext<'_>,
) -> Result<PathBuf, WrapError> {
    match &spec.image {
        Some(image) => Ok(run_blocking(|| {
            context
                .cache
                .ensure(image, context.rebuild, context.progress)
        })?
        .dir),
        None => Ok(context.base_dir.to_path_buf()),
    }
}

/// Waits at most `timeout` for a child asked to stop, then kills it with `kill` and waits
/// for that. Whether the kill was needed.
pub(crate) async fn exit_or_kill(
    child: &mut tokio::process::Child,
    timeout: Duration,
    kill: impl FnOnce(&mut tokio::process::Child),
) -> Result<bool, String> {
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(_)) => Ok(false),
        Ok(Err(e)) => Err(format!("waiting for the instance to exit: {e}")),
        Err(_) => {
            kill(child);
            child
                .wait()
                .await
                .map_err(|e| format!("waiting for the killed instance: {e}"))?;
            Ok(true)
        }
    }
}

/// Runs blocking work (an image recipe) from async code without stalling other tasks on a
/// multi-thread runtime; on a current-thread runtime it simply runs inline.
pub(crate) fn run_blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

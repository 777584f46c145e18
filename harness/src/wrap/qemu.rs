//! The QEMU wrap: a virtual machine spawned from an argument vector built from the scenario
//! (never through a shell), controlled over QMP (qapi), its serial console captured, and its
//! workload reached through user-mode networking on a free 127.0.0.1 port.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::launch::{Instance, Signals};
use super::{
    LaunchContext, Measurement, PrepareContext, Prepared, Wrap, WrapError, existing_file,
    exit_or_kill, files_dir, kill_processes_where, run_blocking,
};
use crate::image::ImageFacts;
use crate::image::contents::{self, Contents};
use crate::instrument::console::ConsoleWatcher;
use crate::instrument::memory::{process_memory, vmm_split};
use crate::results::AccelSource;
use crate::scenario::{AccelChoice, Launch, QemuSpec, WrapSpec};
use crate::wrap::accel::{self, Accel, ProbeGuest, Verdict};
use crate::wrap::qmp::QmpClient;
use crate::wrap::snapshot::{self, Machine, SavedState};

/// How long QEMU gets to create its QMP socket and greet.
const QMP_TIMEOUT: Duration = Duration::from_secs(10);

/// A QEMU wrap with its runtime found, its boot files present and its accelerator chosen.
#[derive(Clone)]
pub struct QemuWrap {
    /// Its accelerator is QEMU's `-accel` value.
    prepared: Prepared,
    qemu: QemuSpec,
    kernel: Option<PathBuf>,
    initrd: Option<PathBuf>,
    disks: Vec<PathBuf>,
    accel_verdict: Option<Verdict>,
    /// The saved state every launch restores, for `restore = true`.
    restore_from: Option<SavedState>,
}

/// `QEMU 7.2.22 (Debian ...)` from `qemu-system-x86_64 --version`.
pub async fn qemu_version(binary: &str) -> Result<String, WrapError> {
    let output = tokio::process::Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            WrapError::Qemu(format!(
                "{binary} cannot be run ({e}): run scripts/setup, which installs qemu-system-x86"
            ))
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.lines().next().unwrap_or("").trim();
    if !output.status.success() || first.is_empty() {
        return Err(WrapError::Qemu(format!(
            "{binary} --version failed: is it a QEMU system emulator?"
        )));
    }
    Ok(first.replace("emulator version ", ""))
}

/// The accelerator for a wrap: as configured, or by the measured probe for `auto` (then
/// with the probe's verdict and evidence).
async fn choose_accel(
    qemu: &QemuSpec,
    version: &str,
    cache_dir: &Path,
) -> Result<(Accel, Option<Verdict>), WrapError> {
    match qemu.accel {
        AccelChoice::Tcg => Ok((Accel::Tcg, None)),
        AccelChoice::Kvm => accel::kvm_available()
            .map(|()| (Accel::Kvm, None))
            .map_err(|why| {
                WrapError::Qemu(format!(
                    "accel = \"kvm\" but KVM cannot be used ({why}): use accel = \"auto\" or \"tcg\""
                ))
            }),
        AccelChoice::Auto => {
            let guest = ProbeGuest::for_wrap(&qemu.machine, &qemu.cpu);
            let verdict = accel::cached_verdict(&qemu.binary, version, &guest, cache_dir)
                .await
                .map_err(|e| WrapError::Qemu(e.to_string()))?;
            tracing::debug!(verdict = %verdict.describe(), "accelerator chosen");
            Ok((verdict.accel, Some(verdict)))
        }
    }
}

/// What to try when a guest listens but its answers never reach the host: the port, the
/// machine type and the NIC model, the settings a guest's network depends on.
fn network_hint(qemu: &QemuSpec) -> String {
    let other_machine = if qemu.machine.starts_with("pc") {
        "q35"
    } else {
        "pc"
    };
    format!(
        "check guest_port ({}), then try machine = \"{other_machine}\" (a Unikraft 0.13 kernel \
         answered on pc and not on q35; Unikraft's tooling boots x86_64 kernels on pc) or another \
         NIC model (nic = \"e1000\", or nic_options = \"disable-legacy=on\" for drivers of \
         modern virtio only)",
        qemu.guest_port
    )
}

/// Checks that a bring-your-own VM's kernel, initrd, disks and contents list exist.
pub fn boot_files_exist(qemu: &QemuSpec, base: &Path) -> Result<(), WrapError> {
    let named = [
        ("qemu.kernel", &qemu.kernel),
        ("qemu.initrd", &qemu.initrd),
        ("qemu.contents", &qemu.contents),
    ];
    let files = named
        .into_iter()
        .filter_map(|(what, path)| path.as_deref().map(|p| (what, p)))
        .chain(qemu.disks.iter().map(|d| ("qemu.disks entry", d.as_path())));
    for (what, path) in files {
        existing_file(what, base, path, false)?;
    }
    Ok(())
}

impl QemuWrap {
    /// Finds QEMU, builds or locates the boot files, checks each exists and chooses the
    /// accelerator. Nothing is launched but the accelerator probe's tiny guest.
    pub async fn prepare(
        spec: WrapSpec,
        context: &PrepareContext<'_>,
    ) -> Result<QemuWrap, WrapError> {
        let Launch::Qemu(qemu) = spec.launch.clone() else {
            return Err(WrapError::Qemu(format!(
                "wrap '{}' is not a QEMU VM",
                spec.name
            )));
        };
        let runtime_version = qemu_version(&qemu.binary).await?;
        let base = files_dir(&spec, context)?;
        let check =
            |what: &str, path: &Path| existing_file(what, &base, path, spec.image.is_some());
        let kernel = qemu
            .kernel
            .as_deref()
            .map(|k| check("qemu.kernel", k))
            .transpose()?;
        let initrd = qemu
            .initrd
            .as_deref()
            .map(|i| check("qemu.initrd", i))
            .transpose()?;
        let disks = qemu
            .disks
            .iter()
            .map(|d| check("qemu.disks entry", d))
            .collect::<Result<Vec<_>, _>>()?;
        let boot_files: Vec<&Path> = kernel
            .iter()
            .chain(&initrd)
            .chain(&disks)
            .map(PathBuf::as_path)
            .collect();
        let contents = match &qemu.contents {
            Some(list) => {
                let list = check("qemu.contents", list)?;
                std::fs::read_to_string(&list)
                    .map(|text| contents::from_initramfs_list(&text, kernel.as_deref()))
                    .map_err(|e| format!("reading {}: {e}", list.display()))
            }
            None if disks.is_empty() => {
                let boot: Vec<&Path> = kernel.iter().chain(&initrd).map(PathBuf::as_path).collect();
                Ok(contents::from_boot_files(kernel.as_deref(), &boot))
            }
            None => Err("a disk image's files are not listed: set qemu.contents".to_string()),
        }
        .map(|mut contents| {
            if kernel.is_some() && !disks.is_empty() {
                // Booted by -kernel, its program and files on a disk (Nanos on microvm).
                contents.kernel.push_str(", its files on its disk");
            }
            contents
        });
        let image_facts = run_blocking(|| {
            ImageFacts::of_files(&boot_files, &context.cache.dir, contents.clone())
        })
        .map_err(|e| WrapError::Qemu(format!("reading the boot files: {e}")))?;
        (context.progress)("choosing the accelerator");
        let (accel, accel_verdict) =
            choose_accel(&qemu, &runtime_version, &context.cache.dir).await?;
        let mut wrap = QemuWrap {
            prepared: Prepared {
                spec,
                runtime_version,
                accel: accel.name().to_string(),
                accel_chosen_by: Some(if accel_verdict.is_some() {
                    AccelSource::Probe
                } else {
                    AccelSource::Scenario
                }),
                restored_from: None,
                image: image_facts,
            },
            qemu: *qemu,
            kernel,
            initrd,
            disks,
            accel_verdict,
            restore_from: None,
        };
        if wrap.qemu.restore {
            wrap.save_state_to_restore(contents, context).await?;
        }
        Ok(wrap)
    }

    /// Finds or makes the saved state every launch restores; the image then includes it.
    async fn save_state_to_restore(
        &mut self,
        contents: Result<Contents, String>,
        context: &PrepareContext<'_>,
    ) -> Result<(), WrapError> {
        let boot_files: Vec<PathBuf> = self
            .kernel
            .iter()
            .chain(&self.initrd)
            .chain(&self.disks)
            .cloned()
            .collect();
        let mut files: Vec<&Path> = boot_files.iter().map(PathBuf::as_path).collect();
        let arguments = |socket: &Path, port: u16, ram: Option<&Path>| {
            let ram = ram.map_or(GuestRam::Anonymous, |path| GuestRam::File {
                path,
                shared: true,
            });
            self.arguments(socket, port, ram)
        };
        let machine = Machine {
            binary: &self.qemu.binary,
            version: &self.prepared.runtime_version,
            arguments: &arguments,
            ram: self.qemu.restore_ram,
            boot_files: &files,
            spec: &self.prepared.spec,
        };
        let state = snapshot::ensure(&machine, &context.cache.dir, context.progress).await?;
        files.push(&state.path);
        files.extend(state.ram.as_deref());
        self.prepared.image =
            run_blocking(|| ImageFacts::of_files(&files, &context.cache.dir, contents))
                .map_err(|e| WrapError::Qemu(format!("reading the saved state: {e}")))?;
        self.prepared.restored_from = Some(state.id.clone());
        self.restore_from = Some(state);
        Ok(())
    }

    /// QEMU's arguments for one instance with its guest RAM in `ram`.
    fn arguments(&self, qmp_socket: &Path, host_port: u16, ram: GuestRam<'_>) -> Vec<String> {
        let q = &self.qemu;
        let machine = match ram {
            GuestRam::Anonymous => q.machine.clone(),
            GuestRam::File { .. } => format!("{},memory-backend=ram0", q.machine),
        };
        let mut args: Vec<String> = vec![
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-display".into(),
            "none".into(),
            "-no-reboot".into(),
            "-machine".into(),
            machine,
            "-accel".into(),
            self.prepared.accel.clone(),
            "-cpu".into(),
            q.cpu.clone(),
            "-m".into(),
            format!("{}M", q.memory_mb),
            "-smp".into(),
            q.vcpus.to_string(),
            "-serial".into(),
            "stdio".into(),
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", qmp_socket.display()),
        ];
        if let GuestRam::File { path, shared } = ram {
            let share = if shared { "on" } else { "off" };
            args.extend([
                "-object".into(),
                format!(
                    "memory-backend-file,id=ram0,size={}M,mem-path={},share={share}",
                    q.memory_mb,
                    path.display()
                ),
            ]);
        }
        if let Some(kernel) = &self.kernel {
            args.extend(["-kernel".into(), kernel.display().to_string()]);
        }
        if let Some(initrd) = &self.initrd {
            args.extend(["-initrd".into(), initrd.display().to_string()]);
        }
        if let Some(append) = &q.append {
            args.extend(["-append".into(), append.clone()]);
        }
        args.extend(disk_arguments(&q.machine, &self.disks));
        args.extend([
            "-netdev".into(),
            format!(
                "user,id=n0,hostfwd=tcp:127.0.0.1:{host_port}-:{}",
                q.guest_port
            ),
            "-device".into(),
            match &q.nic_options {
                Some(options) => format!("{},netdev=n0,{options}", q.nic),
                None => format!("{},netdev=n0", q.nic),
            },
        ]);
        args.extend(q.extra_args.iter().cloned());
        args
    }
}

/// QEMU's arguments attaching `disks` as virtio block devices: on PCI (`if=virtio`), or on
/// virtio-mmio for the `microvm` machine, which has no PCI bus.
fn disk_arguments(machine: &str, disks: &[PathBuf]) -> Vec<String> {
    let mmio = machine.split(',').next() == Some("microvm");
    let mut args = Vec::new();
    for (index, disk) in disks.iter().enumerate() {
        let format = if disk.extension().is_some_and(|e| e == "qcow2") {
            "qcow2"
        } else {
            "raw"
        };
        // snapshot=on: a guest never changes the image the next run boots.
        let drive = format!("file={},format={format},snapshot=on", disk.display());
        if mmio {
            args.extend([
                "-drive".into(),
                format!("{drive},if=none,id=disk{index}"),
                "-device".into(),
                format!("virtio-blk-device,drive=disk{index}"),
            ]);
        } else {
            args.extend(["-drive".into(), format!("{drive},if=virtio")]);
        }
    }
    args
}

/// Where an instance's guest RAM lives.
#[derive(Debug, Clone, Copy)]
enum GuestRam<'a> {
    /// QEMU's own anonymous memory.
    Anonymous,
    /// A file: shared when a save writes the RAM into it, private when a restore maps it and
    /// reads pages on demand (the guest's writes never reach the file).
    File { path: &'a Path, shared: bool },
}

/// Starts restoring a VM launched with `-incoming defer`: its RAM is the mapped file, so
/// QMP first tells QEMU to skip shared RAM, then names the device state's stream.
async fn restore_mapped(qmp: &QmpClient, uri: &str) -> Result<(), String> {
    let restored = async {
        qmp.skip_shared_memory().await?;
        qmp.restore_from(uri).await
    };
    restored.await.map_err(|e| {
        tracing::warn!(%e, "the restore could not be started");
        format!("restoring the VM state: {e}")
    })
}

/// The last line of QEMU's own stderr, for errors.
fn stderr_tail(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "nothing on stderr".to_string())
}

#[async_trait]
impl Wrap for QemuWrap {
    fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    fn accel_verdict(&self) -> Option<&Verdict> {
        self.accel_verdict.as_ref()
    }

    fn guest_memory_mb(&self) -> Option<u32> {
        Some(self.qemu.memory_mb)
    }

    /// `None` for a wrap that restores: its saved state fixes the guest RAM.
    fn with_guest_memory(&self, memory_mb: u32, ready_timeout: Duration) -> Option<Box<dyn Wrap>> {
        if self.restore_from.is_some() {
            return None;
        }
        let mut resized = self.clone();
        resized.qemu.memory_mb = memory_mb;
        resized.prepared.spec.timeouts.ready = ready_timeout;
        Some(Box::new(resized))
    }

    async fn instance(
        &self,
        context: &LaunchContext,
        port: u16,
    ) -> Result<Box<dyn Instance>, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("shrinkwrap-{}-", context.session))
            .tempdir()
            .map_err(|e| format!("temp folder: {e}"))?;
        let state = self.restore_from.as_ref();
        let ram = match state.and_then(|s| s.ram.as_deref()) {
            Some(path) => GuestRam::File {
                path,
                shared: false,
            },
            None => GuestRam::Anonymous,
        };
        let mut args = self.arguments(&dir.path().join("qmp.sock"), port, ram);
        args.extend(state.into_iter().flat_map(snapshot::incoming));
        Ok(Box::new(QemuInstance {
            wrap: self.clone(),
            args,
            deferred_restore: state.and_then(snapshot::deferred_uri),
            dir,
            child: None,
            console: None,
            qmp_connecting: None,
            qmp: None,
            killed: None,
        }))
    }

    async fn remove_leftovers(&self, session: &str) -> usize {
        kill_session_vms(session)
    }
}

/// Kills QEMU processes of a session that outlived their launch (their QMP socket lives in
/// the session's temp folder, named on their command line); an empty session means every
/// session's. Returns how many.
pub fn kill_session_vms(session: &str) -> usize {
    use sysinfo::{ProcessRefreshKind, UpdateKind};
    // Every session's temp folder is TMPDIR/shrinkwrap-SESSION-...; "all sessions" is the
    // common prefix with the temp folder in front, so nothing else that says
    // "shrinkwrap-" is touched.
    let marker = match session {
        "" => std::env::temp_dir()
            .join("shrinkwrap-")
            .display()
            .to_string(),
        _ => format!("shrinkwrap-{session}-"),
    };
    let cmd = ProcessRefreshKind::nothing().with_cmd(UpdateKind::Always);
    kill_processes_where(cmd, |p| {
        let is_qemu = p
            .cmd()
            .first()
            .is_some_and(|c| c.to_string_lossy().contains("qemu"));
        is_qemu
            && p.cmd()
                .iter()
                .any(|a| a.to_string_lossy().contains(&marker))
    })
}

/// One VM: QEMU's arguments and private temp folder (QMP socket, console and stderr logs),
/// then its process, console watcher and QMP connection once started.
struct QemuInstance {
    wrap: QemuWrap,
    args: Vec<String>,
    /// The stream of a restore QMP starts (`-incoming defer`, RAM mapped from its file).
    deferred_restore: Option<String>,
    dir: tempfile::TempDir,
    child: Option<tokio::process::Child>,
    console: Option<ConsoleWatcher>,
    qmp_connecting: Option<tokio::task::JoinHandle<Result<(QmpClient, Duration), String>>>,
    qmp: Option<QmpClient>,
    killed: Option<String>,
}

impl QemuInstance {
    fn stderr_log(&self) -> PathBuf {
        self.dir.path().join("qemu.stderr")
    }

    /// The spawned QEMU process (`start` has run).
    fn child(&mut self) -> Result<&mut tokio::process::Child, String> {
        self.child
            .as_mut()
            .ok_or_else(|| "QEMU was never started".to_string())
    }

    /// The QMP connection made at start, with the time its handshake finished.
    async fn connect_qmp(&mut self, m: &mut Measurement) -> Result<QmpClient, String> {
        let task = self.qmp_connecting.take().ok_or("QMP: never connected")?;
        match tokio::time::timeout(QMP_TIMEOUT, task).await {
            Ok(Ok(Ok((qmp, ready)))) => {
                m.qmp_ready = Some(ready);
                Ok(qmp)
            }
            Ok(Ok(Err(e))) => Err(e),
            _ => Err("QMP: no connection".to_string()),
        }
    }
}

#[async_trait]
impl Instance for QemuInstance {
    /// A restored guest listens already: it prints no ready line.
    fn announces_listening(&self) -> bool {
        self.wrap.qemu.ready_line.is_some() && self.wrap.restore_from.is_none()
    }

    async fn start(
        &mut self,
        launched: Instant,
        signals: &Signals,
        m: &mut Measurement,
    ) -> Result<(), String> {
        let stderr = std::fs::File::create(self.stderr_log())
            .map_err(|e| format!("creating {}: {e}", self.stderr_log().display()))?;
        let binary = &self.wrap.qemu.binary;
        tracing::debug!(%binary, args = ?self.args, "spawning QEMU");
        let mut child = tokio::process::Command::new(binary)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            // Its own process group: a terminal's Ctrl-C reaches the harness, which stops it.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {binary}: {e}"))?;
        m.started = Some(launched.elapsed());
        let watch = signals.watch(
            self.wrap.qemu.ready_line.clone(),
            self.wrap.qemu.fatal_lines.clone(),
            self.wrap.qemu.phase_lines.clone(),
        );
        let log = self.dir.path().join("serial.log");
        self.console = child
            .stdout
            .take()
            .map(|stdout| ConsoleWatcher::start(stdout, log, launched, watch));
        self.child = Some(child);
        let socket = self.dir.path().join("qmp.sock");
        let deferred_restore = self.deferred_restore.clone();
        self.qmp_connecting = Some(tokio::spawn(async move {
            let client = QmpClient::connect(&socket, QMP_TIMEOUT)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(uri) = deferred_restore {
                restore_mapped(&client, &uri).await?;
            }
            Ok((client, launched.elapsed()))
        }));
        Ok(())
    }

    async fn ended(&mut self) -> String {
        let status = match self.child().map(|child| child.wait()) {
            Ok(wait) => wait.await.map_or_else(|e| e.to_string(), |s| s.to_string()),
            Err(e) => e,
        };
        format!(
            "QEMU exited ({status}) before the guest answered: {}",
            stderr_tail(&self.stderr_log())
        )
    }

    async fn explain(&mut self, probe_error: String) -> String {
        let console = self.console.as_ref();
        if let Some(line) = console.and_then(ConsoleWatcher::fatal_line) {
            return format!("the guest failed: {line:?}");
        }
        let qemu = &self.wrap.qemu;
        if console.is_some_and(ConsoleWatcher::ready_line_seen) {
            format!(
                "{probe_error}; the guest said it listens, but no answer came through QEMU's \
                 user network: {}",
                network_hint(qemu)
            )
        } else if qemu.ready_line.is_none() {
            format!(
                "{probe_error}; if the guest does listen: {} (a ready_line tells a silent guest \
                 from a silent network)",
                network_hint(qemu)
            )
        } else {
            probe_error
        }
    }

    /// QEMU alone: it spawns no helper.
    async fn host_processes(&mut self) -> Result<Vec<u32>, String> {
        let pid = self.child.as_ref().and_then(tokio::process::Child::id);
        Ok(vec![pid.ok_or("QEMU has exited")?])
    }

    async fn read_memory(&mut self, m: &mut Measurement) {
        let Some(pid) = self.child.as_ref().and_then(tokio::process::Child::id) else {
            m.note("memory: QEMU has exited");
            return;
        };
        match process_memory(&[pid]) {
            Ok(memory) => {
                m.rss_bytes = Some(memory.rss_bytes);
                m.pss_bytes = Some(memory.pss_bytes);
                // QEMU spawns no helper: the process is the instance's whole host cost.
                m.host_memory_bytes = Some(memory.pss_bytes);
                m.host_memory_split = Some(memory.split);
            }
            Err(e) => m.note(format!("rss/pss: {e}")),
        }
        let ram_file = self
            .wrap
            .restore_from
            .as_ref()
            .and_then(|s| s.ram.as_deref());
        match vmm_split(pid, u64::from(self.wrap.qemu.memory_mb) << 20, ram_file) {
            Ok(split) => {
                m.guest_ram_bytes = Some(split.guest_ram_bytes);
                m.vmm_overhead_bytes = Some(split.vmm_overhead_bytes);
            }
            Err(e) => m.note(format!("guest RAM / VMM split: {e}")),
        }
    }

    /// QEMU still runs, its QMP connection is made and the guest runs.
    async fn before_stop(&mut self, m: &mut Measurement) -> Result<(), String> {
        if let Some(status) = self.child()?.try_wait().ok().flatten() {
            return Err(format!(
                "QEMU exited ({status}) after the first response: {}",
                stderr_tail(&self.stderr_log())
            ));
        }
        let qmp = self.connect_qmp(m).await?;
        match qmp.status().await {
            Ok((true, _)) => {}
            Ok((false, state)) => m.note(format!("QMP: the guest is {state}, not running")),
            Err(e) => m.note(e.to_string()),
        }
        self.qmp = Some(qmp);
        Ok(())
    }

    /// QMP `quit`, timed until the process has exited.
    async fn stop(&mut self, timeout: Duration) -> Result<(), String> {
        let qmp = self.qmp.take().ok_or("QMP: never connected")?;
        qmp.quit().await;
        let killed = exit_or_kill(self.child()?, timeout, |child| {
            let _ = child.start_kill();
        })
        .await?;
        if killed {
            self.killed = Some(format!(
                "QEMU did not exit within {timeout:?} of QMP quit; killed"
            ));
        }
        Ok(())
    }

    async fn killed(&mut self) -> Option<String> {
        self.killed.take()
    }

    async fn remove(&mut self, m: &mut Measurement) -> Result<(), String> {
        // A launch that failed still records when QMP answered, as a phase; unless QEMU
        // has exited, and no socket will ever answer.
        let exited = self.child().map(|c| c.try_wait().ok().flatten().is_some());
        if self.qmp_connecting.is_some() && exited == Ok(false) {
            let _ = self.connect_qmp(m).await;
        }
        if let Some(task) = self.qmp_connecting.take() {
            task.abort();
        }
        // A QEMU already stopped (and reaped) is not signalled again.
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill().await;
        }
        Ok(())
    }

    fn console(&mut self) -> Option<&mut ConsoleWatcher> {
        self.console.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_go_on_pci_or_on_virtio_mmio_for_microvm() {
        let disks = [PathBuf::from("/i/disk.raw"), PathBuf::from("/i/data.qcow2")];
        assert_eq!(
            disk_arguments("q35", &disks[..1]),
            [
                "-drive",
                "file=/i/disk.raw,format=raw,snapshot=on,if=virtio"
            ]
        );
        assert_eq!(
            disk_arguments("microvm,rtc=on", &disks),
            [
                "-drive",
                "file=/i/disk.raw,format=raw,snapshot=on,if=none,id=disk0",
                "-device",
                "virtio-blk-device,drive=disk0",
                "-drive",
                "file=/i/data.qcow2,format=qcow2,snapshot=on,if=none,id=disk1",
                "-device",
                "virtio-blk-device,drive=disk1",
            ]
        );
    }
}

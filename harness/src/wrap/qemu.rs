//! The QEMU wrap: a virtual machine spawned from an argument vector built from the scenario
//! (never through a shell), controlled over QMP (qapi), its serial console captured, and its
//! workload reached through user-mode networking on a free 127.0.0.1 port.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    LaunchContext, Measurement, PrepareContext, Wrap, WrapError, probe_target, run_blocking,
};
use crate::image::contents::{self, Contents};
use crate::image::size::{self as image_size, CachedFacts, FactsCache};
use crate::instrument::memory::{process_memory, vmm_split};
use crate::instrument::probe::{self, StopFlag};
use crate::scenario::{AccelChoice, Launch, QemuSpec, WrapSpec};
use crate::wrap::accel::{self, Accel, ProbeGuest, Verdict};
use crate::wrap::qmp::QmpClient;

/// How long QEMU gets to create its QMP socket and greet.
const QMP_TIMEOUT: Duration = Duration::from_secs(10);

/// A QEMU wrap with its runtime found, its boot files present and its accelerator chosen.
#[derive(Clone)]
pub struct QemuWrap {
    spec: WrapSpec,
    qemu: QemuSpec,
    kernel: Option<PathBuf>,
    initrd: Option<PathBuf>,
    disks: Vec<PathBuf>,
    accel: Accel,
    accel_verdict: Option<Verdict>,
    runtime_version: String,
    image_bytes: u64,
    image_compressed_bytes: Result<u64, String>,
    contents: Result<Contents, String>,
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

fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// A boot file that does not exist: the error names it and the fix.
fn missing_file(what: &str, path: &Path, built_by_recipe: bool) -> WrapError {
    let hint = if built_by_recipe {
        "the image recipe did not make it: check the recipe's output names"
    } else {
        "build it first or fix the path (relative paths start at the scenario's folder)"
    };
    WrapError::Qemu(format!("{what} {} does not exist: {hint}", path.display()))
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
        let resolved = resolve(base, path);
        if !resolved.is_file() {
            return Err(missing_file(what, &resolved, false));
        }
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
        let base = match &spec.image {
            Some(image) => {
                run_blocking(|| {
                    context
                        .cache
                        .ensure(image, context.rebuild, context.progress)
                })?
                .dir
            }
            None => context.base_dir.to_path_buf(),
        };
        let check = |what: &str, path: &Path| -> Result<PathBuf, WrapError> {
            let resolved = resolve(&base, path);
            if resolved.is_file() {
                Ok(resolved)
            } else {
                Err(missing_file(what, &resolved, spec.image.is_some()))
            }
        };
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
        let image_bytes = boot_files
            .iter()
            .map(|p| {
                std::fs::metadata(p)
                    .map(|m| m.len())
                    .map_err(|e| WrapError::Qemu(format!("reading {}: {e}", p.display())))
            })
            .sum::<Result<u64, _>>()?;
        let image_compressed_bytes =
            run_blocking(|| compressed_boot_files(&boot_files, &context.cache.dir));
        let contents = match &qemu.contents {
            Some(list) => {
                let list = check("qemu.contents", list)?;
                std::fs::read_to_string(&list)
                    .map(|text| {
                        contents::from_initramfs_list(&text, kernel.as_deref().unwrap_or(&list))
                    })
                    .map_err(|e| format!("reading {}: {e}", list.display()))
            }
            None if disks.is_empty() => {
                let boot: Vec<&Path> = kernel.iter().chain(&initrd).map(PathBuf::as_path).collect();
                Ok(contents::from_boot_files(kernel.as_deref(), &boot))
            }
            None => Err("a disk image's files are not listed: set qemu.contents".to_string()),
        };
        (context.progress)("choosing the accelerator");
        let (accel, accel_verdict) =
            choose_accel(&qemu, &runtime_version, &context.cache.dir).await?;
        Ok(QemuWrap {
            spec,
            qemu: *qemu,
            kernel,
            initrd,
            disks,
            accel,
            accel_verdict,
            runtime_version,
            image_bytes,
            image_compressed_bytes,
            contents,
        })
    }

    /// QEMU's arguments for one instance.
    fn arguments(&self, qmp_socket: &Path, host_port: u16) -> Vec<String> {
        let q = &self.qemu;
        let mut args: Vec<String> = vec![
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-display".into(),
            "none".into(),
            "-no-reboot".into(),
            "-machine".into(),
            q.machine.clone(),
            "-accel".into(),
            self.accel.name().into(),
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
        if let Some(kernel) = &self.kernel {
            args.extend(["-kernel".into(), kernel.display().to_string()]);
        }
        if let Some(initrd) = &self.initrd {
            args.extend(["-initrd".into(), initrd.display().to_string()]);
        }
        if let Some(append) = &q.append {
            args.extend(["-append".into(), append.clone()]);
        }
        for disk in &self.disks {
            let format = if disk.extension().is_some_and(|e| e == "qcow2") {
                "qcow2"
            } else {
                "raw"
            };
            // snapshot=on: a guest never changes the image the next run boots.
            args.extend([
                "-drive".into(),
                format!(
                    "file={},format={format},if=virtio,snapshot=on",
                    disk.display()
                ),
            ]);
        }
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

/// What the serial console showed, with times on the launch clock.
#[derive(Debug, Default)]
struct Console {
    first_output: Option<Duration>,
    ready_line: Option<Duration>,
    fatal_line: Option<String>,
    last_line: String,
}

/// What the console watcher raises.
struct ConsoleFlags {
    /// A fatal line appeared: the launch ends.
    fatal: StopFlag,
    /// The ready line appeared: the probe looks at once.
    listening: StopFlag,
}

/// Copies the console to `log`, timing the first byte and the ready line, and raises its
/// flags when the ready line or a fatal line appears.
async fn watch_console(
    mut stdout: tokio::process::ChildStdout,
    log: PathBuf,
    launched: Instant,
    ready_line: Option<String>,
    fatal_lines: Vec<String>,
    console: Arc<Mutex<Console>>,
    flags: ConsoleFlags,
) {
    let Ok(mut file) = tokio::fs::File::create(&log).await else {
        return;
    };
    let mut buffer = vec![0u8; 4096];
    let mut pending = String::new();
    loop {
        let n = match stdout.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = launched.elapsed();
        let _ = file.write_all(&buffer[..n]).await;
        pending.push_str(&String::from_utf8_lossy(&buffer[..n]));
        let mut state = console.lock().unwrap_or_else(|p| p.into_inner());
        state.first_output.get_or_insert(now);
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            let line = line.trim_end().to_string();
            if state.ready_line.is_none() && ready_line.as_deref().is_some_and(|r| line.contains(r))
            {
                state.ready_line = Some(now);
                flags.listening.raise();
            }
            if state.fatal_line.is_none() && fatal_lines.iter().any(|f| line.contains(f.as_str())) {
                state.fatal_line = Some(line.clone());
                flags.fatal.raise();
            }
            if !line.trim().is_empty() {
                state.last_line = line;
            }
        }
    }
    let _ = file.flush().await;
}

/// The boot files compressed as one stream, cached by their content.
fn compressed_boot_files(files: &[&Path], cache_dir: &Path) -> Result<u64, String> {
    let failed = |e: std::io::Error| format!("compressing the boot files: {e}");
    let identity = image_size::files_identity(files).map_err(failed)?;
    let cache = FactsCache::new(cache_dir);
    if let Some(facts) = cache.load::<()>(&identity) {
        return Ok(facts.compressed_bytes);
    }
    let compressed_bytes = image_size::compressed_size_of_files(files).map_err(failed)?;
    cache.store(&CachedFacts {
        identity,
        compressed_bytes,
        extra: (),
    });
    Ok(compressed_bytes)
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
    fn spec(&self) -> &WrapSpec {
        &self.spec
    }

    fn runtime_version(&self) -> &str {
        &self.runtime_version
    }

    fn accel(&self) -> &str {
        self.accel.name()
    }

    fn image_bytes(&self) -> u64 {
        self.image_bytes
    }

    fn image_compressed_bytes(&self) -> Result<u64, &str> {
        self.image_compressed_bytes
            .as_ref()
            .copied()
            .map_err(String::as_str)
    }

    fn contents(&self) -> Result<&Contents, &str> {
        self.contents.as_ref().map_err(String::as_str)
    }

    fn accel_verdict(&self) -> Option<&Verdict> {
        self.accel_verdict.as_ref()
    }

    fn guest_memory_mb(&self) -> Option<u32> {
        Some(self.qemu.memory_mb)
    }

    fn with_guest_memory(&self, memory_mb: u32, ready_timeout: Duration) -> Option<Box<dyn Wrap>> {
        let mut resized = self.clone();
        resized.qemu.memory_mb = memory_mb;
        resized.spec.timeouts.ready = ready_timeout;
        Some(Box::new(resized))
    }

    async fn launch_once(&self, context: &LaunchContext, run_name: &str) -> Measurement {
        let mut m = Measurement::default();
        let dir = match tempfile::Builder::new()
            .prefix(&format!("shrinkwrap-{}-", context.session))
            .tempdir()
        {
            Ok(dir) => dir,
            Err(e) => {
                m.note(format!("temp folder: {e}"));
                return m;
            }
        };
        let qmp_socket = dir.path().join("qmp.sock");
        let console_log = dir.path().join("serial.log");
        let stderr_log = dir.path().join("qemu.stderr");
        let port = match probe::free_local_port() {
            Ok(port) => port,
            Err(e) => {
                m.note(format!("no free port on 127.0.0.1: {e}"));
                return m;
            }
        };
        let stderr_file = match std::fs::File::create(&stderr_log) {
            Ok(file) => file,
            Err(e) => {
                m.note(format!("creating {}: {e}", stderr_log.display()));
                return m;
            }
        };
        let args = self.arguments(&qmp_socket, port);
        tracing::debug!(binary = %self.qemu.binary, ?args, "spawning QEMU");
        let mut command = tokio::process::Command::new(&self.qemu.binary);
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr_file)
            .kill_on_drop(true)
            // Its own process group: a terminal's Ctrl-C reaches the harness, which stops it.
            .process_group(0);

        // The clock starts at the spawn.
        let launched = Instant::now();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                m.note(format!("cannot start {}: {e}", self.qemu.binary));
                return m;
            }
        };
        m.started = Some(launched.elapsed());
        let pid = child.id();

        let give_up = StopFlag::default();
        let listening = StopFlag::default();
        let console = Arc::new(Mutex::new(Console::default()));
        let console_task = child.stdout.take().map(|stdout| {
            tokio::spawn(watch_console(
                stdout,
                console_log.clone(),
                launched,
                self.qemu.ready_line.clone(),
                self.qemu.fatal_lines.clone(),
                Arc::clone(&console),
                ConsoleFlags {
                    fatal: give_up.clone(),
                    listening: listening.clone(),
                },
            ))
        });
        let qmp_task = {
            let socket = qmp_socket.clone();
            tokio::spawn(async move {
                let client = QmpClient::connect(&socket, QMP_TIMEOUT).await;
                client.map(|c| (c, launched.elapsed()))
            })
        };
        let target = probe_target(&self.spec, &context.probe, port);
        let mut probe = {
            let target = target.clone();
            let give_up = give_up.clone();
            let listening = listening.clone();
            let interrupt = context.interrupt.clone();
            tokio::task::spawn_blocking(move || {
                probe::wait_for_first_response(
                    &target,
                    launched,
                    &[&give_up, &interrupt],
                    Some(&listening),
                )
            })
        };

        let first_response: Result<(), String> = tokio::select! {
            first = &mut probe => match first {
                Ok(Ok(first)) => {
                    m.ttfr = Some(first.at - launched);
                    m.probe_answer = Some(first.answer);
                    m.probe_attempts = Some(first.attempts);
                    Ok(())
                }
                Ok(Err(e)) if context.interrupt.is_raised() => Err(format!("interrupted ({e})")),
                Ok(Err(e)) => match console.lock().unwrap_or_else(|p| p.into_inner()).fatal_line.clone() {
                    Some(line) => Err(format!("the guest failed: {line:?}")),
                    None => Err(e.to_string()),
                },
                Err(e) => Err(format!("probe thread failed: {e}")),
            },
            status = child.wait() => {
                give_up.raise();
                let _ = probe.await;
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                Err(format!("QEMU exited ({status}) before the guest answered: {}", stderr_tail(&stderr_log)))
            }
        };

        if first_response.is_ok()
            && let Some(pid) = pid
        {
            match process_memory(&[pid]) {
                Ok(memory) => {
                    m.rss_bytes = Some(memory.rss_bytes);
                    m.pss_bytes = Some(memory.pss_bytes);
                    // QEMU spawns no helper: the process is the instance's whole host cost.
                    m.host_memory_bytes = Some(memory.pss_bytes);
                }
                Err(e) => m.note(format!("rss/pss: {e}")),
            }
            match vmm_split(pid, u64::from(self.qemu.memory_mb) << 20) {
                Ok(split) => {
                    m.guest_ram_bytes = Some(split.guest_ram_bytes);
                    m.vmm_overhead_bytes = Some(split.vmm_overhead_bytes);
                }
                Err(e) => m.note(format!("guest RAM / VMM split: {e}")),
            }
        }
        let mut body_ok = first_response.is_ok();
        if first_response.is_ok()
            && let Some(expected) = &context.probe.expect_body
            && let Err(e) = probe::check_body(target.addr, &target.path, expected).await
        {
            m.note(e);
            body_ok = false;
        }

        // Stop over QMP (`quit`), timing until the process has exited.
        let exited = child.try_wait().ok().flatten();
        if let (Some(status), Ok(())) = (exited, &first_response) {
            m.note(format!(
                "QEMU exited ({status}) after the first response: {}",
                stderr_tail(&stderr_log)
            ));
        }
        let qmp = if exited.is_some() {
            // No socket will ever answer: do not wait for the connect loop's deadline.
            qmp_task.abort();
            None
        } else {
            match tokio::time::timeout(QMP_TIMEOUT, qmp_task).await {
                Ok(Ok(Ok((qmp, ready)))) => {
                    m.qmp_ready = Some(ready);
                    Some(qmp)
                }
                Ok(Ok(Err(e))) => {
                    m.note(e.to_string());
                    None
                }
                _ => {
                    m.note("QMP: no connection");
                    None
                }
            }
        };
        let mut stopped = false;
        if let Some(qmp) = qmp.filter(|_| first_response.is_ok()) {
            match qmp.status().await {
                Ok((true, _)) => {}
                Ok((false, state)) => m.note(format!("QMP: the guest is {state}, not running")),
                Err(e) => m.note(e.to_string()),
            }
            let stopping = Instant::now();
            qmp.quit().await;
            match tokio::time::timeout(self.spec.timeouts.stop, child.wait()).await {
                Ok(Ok(_)) => {
                    m.stop = Some(stopping.elapsed());
                    stopped = true;
                }
                Ok(Err(e)) => m.note(format!("waiting for QEMU to exit: {e}")),
                Err(_) => m.note(format!(
                    "QEMU did not exit within {:?} of QMP quit; killed",
                    self.spec.timeouts.stop
                )),
            }
        }
        if !stopped {
            let _ = child.kill().await;
        }
        if let Some(task) = console_task {
            let _ = task.await;
        }
        let console = std::mem::take(&mut *console.lock().unwrap_or_else(|p| p.into_inner()));
        m.first_output = console.first_output;
        m.ready_line = console.ready_line;
        match first_response {
            Ok(()) => m.ok = body_ok && stopped,
            Err(e) => m.notes.insert(0, e),
        }
        // An interrupted launch is not a failure of the guest: its console is not kept.
        if !m.ok && !context.interrupt.is_raised() {
            let kept = keep_console_log(&console_log, &context.logs_dir, &self.spec.name, run_name);
            m.note(format!(
                "serial log: {kept} (last line: {:?})",
                console.last_line
            ));
        }
        m
    }

    async fn remove_leftovers(&self, session: &str) -> usize {
        kill_session_vms(session)
    }
}

/// Kills QEMU processes of a session that outlived their launch (their QMP socket lives in
/// the session's temp folder, named on their command line); an empty session means every
/// session's. Returns how many.
pub fn kill_session_vms(session: &str) -> usize {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, Signal, System, UpdateKind};
    let Ok(mut system) = System::new() else {
        return 0;
    };
    system.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().with_cmd(UpdateKind::Always),
    );
    let marker = format!("shrinkwrap-{session}-");
    system
        .processes()
        .values()
        .filter(|p| {
            p.cmd()
                .iter()
                .any(|a| a.to_string_lossy().contains(&marker))
                && p.cmd()
                    .first()
                    .is_some_and(|c| c.to_string_lossy().contains("qemu"))
        })
        .filter(|p| p.kill_with(Signal::Kill).unwrap_or(false))
        .count()
}

/// Copies a failed run's console log to the results' `logs/` folder; returns its path.
fn keep_console_log(log: &Path, logs_dir: &Path, wrap: &str, run_name: &str) -> String {
    let kept = logs_dir.join(format!("{wrap}-{run_name}.serial.log"));
    match std::fs::create_dir_all(logs_dir).and_then(|()| std::fs::copy(log, &kept)) {
        Ok(_) => kept.display().to_string(),
        Err(e) => format!("not kept ({e})"),
    }
}

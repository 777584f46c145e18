//! The process wrap: the workload, or any launcher, run as a host process from an argument
//! vector (never through a shell), in the folder of its image's files. It is the native
//! floor every other wrap is measured against. Its image is the program and the files named
//! beside it (the files alone when the program is a runtime the host provides); its host
//! memory is the
//! PSS of its process tree; it stops by SIGTERM and, after the grace period, SIGKILL (a
//! failed run). Every process carries its session in `SHRINKWRAP_SESSION`, so leftovers can
//! always be found.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rustix::process::Signal;
use sysinfo::{ProcessRefreshKind, UpdateKind};

use super::launch::{Instance, Signals};
use super::{
    LaunchContext, Measurement, PrepareContext, Prepared, Wrap, WrapError, existing_file,
    exit_or_kill, files_dir, kill_processes_where, run_blocking,
};
use crate::image::ImageFacts;
use crate::image::contents;
use crate::instrument::console::ConsoleWatcher;
use crate::instrument::memory::{process_memory, process_tree};
use crate::scenario::{Launch, ProcessSpec, WrapSpec};

/// Environment variable naming the session on every process the wrap starts.
pub const SESSION_ENV: &str = "SHRINKWRAP_SESSION";

/// A process wrap with its program and image files found.
#[derive(Clone)]
pub struct ProcessWrap {
    prepared: Prepared,
    process: ProcessSpec,
    program: PathBuf,
    /// Where the image's files are (the recipe's output, else the scenario's folder): the
    /// process runs there, so its arguments may name them.
    dir: PathBuf,
}

impl ProcessWrap {
    /// Builds (or finds) the recipe's output and checks the program and files exist.
    pub fn prepare(spec: WrapSpec, context: &PrepareContext<'_>) -> Result<ProcessWrap, WrapError> {
        let Launch::Process(process) = spec.launch.clone() else {
            return Err(WrapError::Process(format!(
                "wrap '{}' is not a process",
                spec.name
            )));
        };
        let base = files_dir(&spec, context)?;
        let files = image_files(&process, &base, spec.image.is_some())?;
        let host_kernel = crate::instrument::host::HostFacts::read().kernel;
        let (image, runtime_version, kernel) = if process.runtime {
            let version = runtime_version(&files[0])?;
            let kernel = format!("none: runs on the host's {version}");
            (&files[1..], version, kernel)
        } else {
            let version = format!("host process, Linux {host_kernel}");
            (
                &files[..],
                version,
                format!("the host's Linux {host_kernel}"),
            )
        };
        if image.is_empty() {
            return Err(WrapError::Process(
                "a process wrap with runtime = true needs `files`: the image its runtime runs"
                    .to_string(),
            ));
        }
        let image: Vec<&Path> = image.iter().map(PathBuf::as_path).collect();
        let contents = contents::from_files(&image, kernel)
            .map_err(|e| format!("reading the image files: {e}"));
        let image_facts =
            run_blocking(|| ImageFacts::of_files(&image, &context.cache.dir, contents))
                .map_err(|e| WrapError::Process(format!("reading the image files: {e}")))?;
        Ok(ProcessWrap {
            prepared: Prepared {
                spec,
                runtime_version,
                accel: "native".to_string(),
                accel_chosen_by: None,
                restored_from: None,
                image: image_facts,
            },
            program: files[0].clone(),
            process,
            dir: base,
        })
    }
}

/// The image's files, the program first: a program path (with a `/`) and `files` from
/// `base`, or a program name on `PATH`. Each must exist.
pub(crate) fn image_files(
    process: &ProcessSpec,
    base: &Path,
    from_recipe: bool,
) -> Result<Vec<PathBuf>, WrapError> {
    let program = match process.command.first() {
        Some(program) if program.contains('/') => existing_file(
            "process.command program",
            base,
            Path::new(program),
            from_recipe,
        )?,
        Some(program) => on_path(program)?,
        None => return Err(WrapError::Process("process.command is empty".to_string())),
    };
    let mut files = vec![program];
    for file in &process.files {
        files.push(existing_file(
            "process.files entry",
            base,
            file,
            from_recipe,
        )?);
    }
    Ok(files)
}

/// The first line a runtime prints for `--version`, e.g. `wasmtime 48.0.8 (...)`.
fn runtime_version(program: &Path) -> Result<String, WrapError> {
    let failed =
        |why: String| WrapError::Process(format!("{} --version failed: {why}", program.display()));
    let output = std::process::Command::new(program)
        .arg("--version")
        .output()
        .map_err(|e| failed(e.to_string()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.lines().next().map(str::trim) {
        Some(line) if output.status.success() && !line.is_empty() => Ok(line.to_string()),
        _ => Err(failed(format!("{}, nothing on stdout", output.status))),
    }
}

/// A program found by name on `PATH`.
fn on_path(program: &str) -> Result<PathBuf, WrapError> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            WrapError::Process(format!(
                "process.command program '{program}' is not on PATH: install it, or give its path"
            ))
        })
}

#[async_trait]
impl Wrap for ProcessWrap {
    fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    fn fixed_port(&self) -> Option<u16> {
        self.process.port
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
        let args = self.process.command[1..]
            .iter()
            .map(|arg| arg.replace("{port}", &port.to_string()))
            .collect();
        Ok(Box::new(ProcessInstance {
            wrap: self.clone(),
            session: context.session.clone(),
            args,
            dir,
            child: None,
            console: None,
            killed: None,
        }))
    }

    async fn remove_leftovers(&self, session: &str) -> usize {
        kill_session_processes(session)
    }
}

/// One host process: its arguments and temp folder (its output's log), then the process
/// and its output's watcher once started.
struct ProcessInstance {
    wrap: ProcessWrap,
    session: String,
    args: Vec<String>,
    dir: tempfile::TempDir,
    child: Option<tokio::process::Child>,
    console: Option<ConsoleWatcher>,
    killed: Option<String>,
}

impl ProcessInstance {
    /// The process's id while it has not been reaped.
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(tokio::process::Child::id)
    }

    /// What the process printed last, for errors.
    fn last_output(&self) -> String {
        match self.console.as_ref().map(ConsoleWatcher::last_line) {
            Some(line) if !line.is_empty() => format!("its last output: {line:?}"),
            _ => "it printed nothing".to_string(),
        }
    }
}

#[async_trait]
impl Instance for ProcessInstance {
    fn announces_listening(&self) -> bool {
        self.wrap.process.ready_line.is_some()
    }

    async fn start(
        &mut self,
        launched: Instant,
        signals: &Signals,
        m: &mut Measurement,
    ) -> Result<(), String> {
        let pipe_failed = |e: std::io::Error| format!("output pipe: {e}");
        let (output, writer) = std::io::pipe().map_err(pipe_failed)?;
        let writer_too = writer.try_clone().map_err(pipe_failed)?;
        let output = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(output))
            .map_err(pipe_failed)?;
        let child = tokio::process::Command::new(&self.wrap.program)
            .args(&self.args)
            .current_dir(&self.wrap.dir)
            .envs(&self.wrap.process.env)
            .env(SESSION_ENV, &self.session)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(writer_too)
            .kill_on_drop(true)
            // Its own process group: a terminal's Ctrl-C reaches the harness, which stops it.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.wrap.program.display()))?;
        m.started = Some(launched.elapsed());
        let watch = signals.watch(
            self.wrap.process.ready_line.clone(),
            self.wrap.process.fatal_lines.clone(),
            Vec::new(),
        );
        let log = self.dir.path().join("output.log");
        self.console = Some(ConsoleWatcher::start(output, log, launched, watch));
        self.child = Some(child);
        Ok(())
    }

    async fn ended(&mut self) -> String {
        let status = match self.child.as_mut() {
            Some(child) => child
                .wait()
                .await
                .map_or_else(|e| e.to_string(), |s| s.to_string()),
            None => "never started".to_string(),
        };
        format!(
            "the process exited ({status}) before answering; {}",
            self.last_output()
        )
    }

    async fn explain(&mut self, probe_error: String) -> String {
        match self.console.as_ref().and_then(ConsoleWatcher::fatal_line) {
            Some(line) => format!("the process failed: {line:?}"),
            None => format!("{probe_error}; {}", self.last_output()),
        }
    }

    async fn read_memory(&mut self, m: &mut Measurement) {
        let tree = self.host_processes().await;
        match tree.and_then(|tree| process_memory(&tree).map_err(|e| e.to_string())) {
            Ok(memory) => {
                m.rss_bytes = Some(memory.rss_bytes);
                m.pss_bytes = Some(memory.pss_bytes);
                // The process tree is everything on the host that exists for the instance.
                m.host_memory_bytes = Some(memory.pss_bytes);
                m.host_memory_split = Some(memory.split);
            }
            Err(e) => m.note(format!("memory: {e}")),
        }
    }

    /// The process and every process descended from it.
    async fn host_processes(&mut self) -> Result<Vec<u32>, String> {
        let pid = self.pid().ok_or("the process has exited")?;
        process_tree(pid).map_err(|e| e.to_string())
    }

    async fn before_stop(&mut self, _m: &mut Measurement) -> Result<(), String> {
        match self.pid() {
            Some(_) => Ok(()),
            None => Err("the process exited after the first response".to_string()),
        }
    }

    /// SIGTERM, then SIGKILL to the whole tree after `timeout`.
    async fn stop(&mut self, timeout: Duration) -> Result<(), String> {
        let (Some(pid), Some(child)) = (self.pid(), self.child.as_mut()) else {
            return Err("the process is not running".to_string());
        };
        signal(&[pid], Signal::TERM);
        let killed = exit_or_kill(child, timeout, |_| kill_tree(pid)).await?;
        if killed {
            self.killed = Some(format!(
                "the workload ignored SIGTERM: killed after {timeout:?} (handle SIGTERM)"
            ));
        }
        Ok(())
    }

    async fn killed(&mut self) -> Option<String> {
        self.killed.take()
    }

    async fn remove(&mut self, _m: &mut Measurement) -> Result<(), String> {
        if let Some(pid) = self.pid() {
            kill_tree(pid);
        }
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill().await;
        }
        Ok(())
    }

    fn console(&mut self) -> Option<&mut ConsoleWatcher> {
        self.console.as_mut()
    }
}

/// SIGKILL to `pid` and every process descended from it.
fn kill_tree(pid: u32) {
    signal(
        &process_tree(pid).unwrap_or_else(|_| vec![pid]),
        Signal::KILL,
    );
}

/// Sends `signal` to each of `pids`; one that has already gone is skipped.
fn signal(pids: &[u32], signal: Signal) {
    let pids = pids
        .iter()
        .filter_map(|&pid| rustix::process::Pid::from_raw(i32::try_from(pid).ok()?));
    for pid in pids {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Kills the processes of a session that outlived their launch (they carry the session in
/// their environment); an empty session means every session's. Returns how many.
pub fn kill_session_processes(session: &str) -> usize {
    let marker = format!("{SESSION_ENV}={session}");
    let of_session = |value: &str| match session {
        "" => value.starts_with(&marker),
        _ => value == marker,
    };
    let environ = ProcessRefreshKind::nothing().with_environ(UpdateKind::Always);
    kill_processes_where(environ, |p| {
        p.environ().iter().any(|v| of_session(&v.to_string_lossy()))
    })
}

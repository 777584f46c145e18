//! The launch sequence every cold start shares, whatever its kind: choose a port, ask the
//! runtime for the instance (the clock starts here), probe until the first `HTTP/1.x 200`
//! while watching for the instance to end early, read its memory, check the body, stop it,
//! remove every trace of it, and keep the console log of a failed launch. A driver supplies
//! only its own steps, as an [`Instance`].

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{LaunchContext, Measurement, Wrap, probe_target};
use crate::instrument::console::{ConsoleWatcher, Watch};
use crate::instrument::probe::{self, BodyError, FirstResponse, ProbeError, ProbeTarget, StopFlag};
use crate::results::Failure;
use crate::scenario::PhaseLine;

/// What an instance raises while it starts.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// The instance can no longer answer (a fatal console line): the probe gives up.
    pub give_up: StopFlag,
    /// The instance said it listens (its ready line): the probe looks at once.
    pub listening: StopFlag,
}

impl Signals {
    /// A console watch raising these signals on a ready line and on fatal lines, and timing
    /// phase lines.
    pub fn watch(
        &self,
        ready_line: Option<String>,
        fatal_lines: Vec<String>,
        phase_lines: Vec<PhaseLine>,
    ) -> Watch {
        Watch {
            ready_line,
            fatal_lines,
            phase_lines,
            listening: self.listening.clone(),
            fatal: self.give_up.clone(),
        }
    }
}

/// One instance of a wrap, from just before it is created until it is removed: the steps
/// that differ per kind. The launch sequence calls them in order: `create`, `start`, then
/// either `ended` or the probe's answer, `read_memory`, `before_stop`, `stop`, `killed`, and
/// always `remove`. Only `create`, `start` and `stop` lie inside timed spans: they do
/// nothing but what is timed.
#[async_trait]
pub trait Instance: Send {
    /// Whether the instance says on its console when it listens (see [`Signals`]).
    fn announces_listening(&self) -> bool {
        false
    }
    /// Asks the runtime for the instance without starting it (a container's create); the
    /// clock started at `launched`. Most kinds have nothing to do here.
    async fn create(&mut self, _launched: Instant, _m: &mut Measurement) -> Result<(), String> {
        Ok(())
    }
    /// Starts the instance; the probe already runs. `launched` starts the launch clock.
    async fn start(
        &mut self,
        launched: Instant,
        signals: &Signals,
        m: &mut Measurement,
    ) -> Result<(), String>;
    /// Resolves when the instance ends on its own, saying how.
    async fn ended(&mut self) -> String;
    /// The launch's error when no `200` came: the probe's words and what the instance
    /// showed (its last output, a fatal line).
    async fn explain(&mut self, probe_error: String) -> String;
    /// Reads the instance's memory right after its first response.
    async fn read_memory(&mut self, m: &mut Measurement);
    /// Every host process that exists for the instance: those its host memory is read over.
    async fn host_processes(&mut self) -> Result<Vec<u32>, String>;
    /// The CPU time the instance's host processes used so far: from `/proc` unless the
    /// kind has a more complete count (see [`crate::instrument::cpu`]).
    async fn cpu_time(&mut self) -> Result<Duration, String> {
        let pids = self.host_processes().await?;
        crate::instrument::cpu::cpu_time(&pids).map_err(|e| e.to_string())
    }
    /// After the first response, outside every timed span: checks the instance still runs
    /// and readies its stop (a VM's QMP connection). An error fails the run; no stop is made.
    async fn before_stop(&mut self, _m: &mut Measurement) -> Result<(), String> {
        Ok(())
    }
    /// Asks the instance to stop and waits until it has exited, killing it after `timeout`:
    /// the timed stop. An error says why it could not be stopped at all.
    async fn stop(&mut self, timeout: Duration) -> Result<(), String>;
    /// After the timed stop: why the instance ended only when killed (a failed run), if so.
    async fn killed(&mut self) -> Option<String>;
    /// Removes every trace of the instance but its console log, killing what still runs;
    /// an error names what is left and how to remove it.
    async fn remove(&mut self, m: &mut Measurement) -> Result<(), String>;
    /// The instance's console, when it has one: the sequence reads its phases and keeps
    /// its log once the instance is removed.
    fn console(&mut self) -> Option<&mut ConsoleWatcher> {
        None
    }
}

/// Launches one cold instance of `wrap`, measures it, stops it and removes every trace of
/// it. `run_name` (e.g. `run3`, `warmup1`) names the log kept from a failed launch.
pub async fn launch_once(wrap: &dyn Wrap, context: &LaunchContext, run_name: &str) -> Measurement {
    let mut live = serve(wrap, context).await;
    live.read_memory().await;
    live.finish(wrap, context, run_name).await
}

/// An instance from its launch until it is removed: serving (its first `200` came) or not
/// (the measurement says why). Several can be alive at once (density), each on its port.
pub struct Live {
    instance: Option<Box<dyn Instance>>,
    target: Option<ProbeTarget>,
    served: bool,
    /// The instance's figures so far.
    pub m: Measurement,
}

/// Chooses a port, asks the runtime for an instance of `wrap` (the clock starts) and waits
/// for its first `200`.
pub async fn serve(wrap: &dyn Wrap, context: &LaunchContext) -> Live {
    let mut live = Live {
        instance: None,
        target: None,
        served: false,
        m: Measurement::default(),
    };
    let port = match host_port(wrap.fixed_port()) {
        Ok(port) => port,
        Err(e) => {
            live.m.fail(Failure::Infrastructure, e);
            return live;
        }
    };
    let mut instance = match wrap.instance(context, port).await {
        Ok(instance) => instance,
        Err(e) => {
            live.m.fail(Failure::Infrastructure, e);
            return live;
        }
    };
    let target = probe_target(wrap.spec(), &context.probe, port);
    match first_response(instance.as_mut(), &target, context, &mut live.m).await {
        Ok(()) => live.served = true,
        Err((failure, why)) => live.m.fail(failure, why),
    }
    live.instance = Some(instance);
    live.target = Some(target);
    live
}

impl Live {
    /// Whether the first `200` came.
    pub fn served(&self) -> bool {
        self.served
    }

    /// Reads the memory of a serving instance.
    pub async fn read_memory(&mut self) {
        if let (true, Some(instance)) = (self.served, self.instance.as_mut()) {
            instance.read_memory(&mut self.m).await;
        }
    }

    /// Where a serving instance answers on the host.
    pub fn addr(&self) -> Option<std::net::SocketAddr> {
        self.served
            .then(|| self.target.as_ref().map(|t| t.addr))
            .flatten()
    }

    /// Every host process of a serving instance (see [`Instance::host_processes`]).
    pub async fn host_processes(&mut self) -> Result<Vec<u32>, String> {
        match (self.served, self.instance.as_mut()) {
            (true, Some(instance)) => instance.host_processes().await,
            _ => Err("the instance is not serving".to_string()),
        }
    }

    /// The CPU time a serving instance used so far (see [`Instance::cpu_time`]).
    pub async fn cpu_time(&mut self) -> Result<Duration, String> {
        match (self.served, self.instance.as_mut()) {
            (true, Some(instance)) => instance.cpu_time().await,
            _ => Err("the instance is not serving".to_string()),
        }
    }

    /// Checks a serving instance's body and stops it (timed), then removes every trace of
    /// the instance, keeping its console log when it failed.
    pub async fn finish(
        mut self,
        wrap: &dyn Wrap,
        context: &LaunchContext,
        run_name: &str,
    ) -> Measurement {
        let Some(mut instance) = self.instance.take() else {
            return self.m;
        };
        if let (true, Some(target)) = (self.served, &self.target) {
            body_and_stop(instance.as_mut(), wrap, target, context, &mut self.m).await;
        }
        let mut m = self.m;
        if let Err(e) = instance.remove(&mut m).await {
            m.fail(Failure::Infrastructure, e);
        }
        m.ok = m.failure.is_none();
        if let Some(console) = instance.console() {
            read_console(console, &mut m, context, &wrap.spec().name, run_name).await;
        }
        m
    }
}

/// Records what an instance's console showed, and keeps its log when the launch failed.
async fn read_console(
    console: &mut ConsoleWatcher,
    m: &mut Measurement,
    context: &LaunchContext,
    wrap: &str,
    run_name: &str,
) {
    let seen = console.finish().await;
    m.first_output = seen.first_output;
    m.ready_line = seen.ready_line;
    m.console_phases = seen.phases;
    // An interrupted launch is not a failure of the instance: its console is not kept.
    if !m.ok && !context.interrupt.is_raised() {
        let kept = keep_console_log(console.log(), &context.logs_dir, wrap, run_name);
        m.note(format!(
            "console log: {kept} (last line: {:?})",
            seen.last_line
        ));
    }
}

/// The port the instance answers on: the wrap's fixed one when it is free, else one the OS
/// chooses.
fn host_port(fixed: Option<u16>) -> Result<u16, String> {
    match fixed {
        Some(port) if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() => Err(format!(
            "port {port}, which this workload always uses, is taken by another process: stop it"
        )),
        Some(port) => Ok(port),
        None => probe::free_local_port().map_err(|e| format!("no free port on 127.0.0.1: {e}")),
    }
}

/// What ended the wait for the first response.
enum Outcome {
    Probe(Result<Result<FirstResponse, ProbeError>, tokio::task::JoinError>),
    Ended(String),
}

/// Creates and starts the instance with the probe running from just before the start, and
/// waits for the first `200` or for the instance to end. The clock starts at `create`.
async fn first_response(
    instance: &mut dyn Instance,
    target: &ProbeTarget,
    context: &LaunchContext,
    m: &mut Measurement,
) -> Result<(), (Failure, String)> {
    let launched = Instant::now();
    let infrastructure = |why| (Failure::Infrastructure, why);
    instance.create(launched, m).await.map_err(infrastructure)?;
    let signals = Signals::default();
    let mut probe = {
        let (target, signals) = (target.clone(), signals.clone());
        let interrupt = context.interrupt.clone();
        let listening = instance.announces_listening();
        tokio::task::spawn_blocking(move || {
            let listening = listening.then_some(&signals.listening);
            probe::wait_for_first_response(
                &target,
                launched,
                &[&signals.give_up, &interrupt],
                listening,
            )
        })
    };
    if let Err(e) = instance.start(launched, &signals, m).await {
        signals.give_up.raise();
        let _ = probe.await;
        return Err(infrastructure(e));
    }
    // A driver that spawns a process records the spawn itself, before its own bookkeeping.
    m.started.get_or_insert(launched.elapsed());
    let outcome = tokio::select! {
        first = &mut probe => Outcome::Probe(first),
        how = instance.ended() => Outcome::Ended(how),
    };
    match outcome {
        Outcome::Probe(Ok(Ok(first))) => {
            m.ttfr = Some(first.at - launched);
            m.probe_answer = Some(first.answer);
            m.probe_attempts = Some(first.attempts);
            Ok(())
        }
        Outcome::Probe(Ok(Err(e))) if context.interrupt.is_raised() => {
            Err((Failure::Interrupted, format!("interrupted ({e})")))
        }
        Outcome::Probe(Ok(Err(e))) => {
            let failure = no_response_failure(instance, &e);
            Err((failure, instance.explain(e.to_string()).await))
        }
        Outcome::Probe(Err(e)) => Err(infrastructure(format!("probe thread failed: {e}"))),
        Outcome::Ended(how) => {
            signals.give_up.raise();
            let _ = probe.await;
            Err((ended_failure(instance), how))
        }
    }
}

/// Whether the instance printed one of its fatal lines.
fn printed_fatal_line(instance: &mut dyn Instance) -> bool {
    instance
        .console()
        .is_some_and(|console| console.fatal_line().is_some())
}

/// The kind of a wait for the first `200` that the probe ended.
fn no_response_failure(instance: &mut dyn Instance, error: &ProbeError) -> Failure {
    match error {
        _ if printed_fatal_line(instance) => Failure::GuestFatal,
        ProbeError::TimedOut {
            other_status: true, ..
        } => Failure::BadStatus,
        ProbeError::TimedOut { .. } => Failure::Timeout,
        ProbeError::Stopped(_) => Failure::ExitedEarly,
    }
}

/// The kind of an instance that ended before its first `200`.
fn ended_failure(instance: &mut dyn Instance) -> Failure {
    if printed_fatal_line(instance) {
        Failure::GuestFatal
    } else {
        Failure::ExitedEarly
    }
}

/// After the first response (and the memory): the body, and the timed stop; failures go
/// to `m`.
async fn body_and_stop(
    instance: &mut dyn Instance,
    wrap: &dyn Wrap,
    target: &ProbeTarget,
    context: &LaunchContext,
    m: &mut Measurement,
) {
    if let Some(expected) = &context.probe.expect_body
        && let Err(e) = probe::check_body(target.addr, &target.path, expected).await
    {
        let fatal_line = instance.console().and_then(|c| c.fatal_line());
        match (fatal_line, e) {
            (Some(line), e) => m.fail(
                Failure::GuestFatal,
                format!("{e}; the guest failed after its first response: {line:?}"),
            ),
            (None, e @ BodyError::Mismatch { .. }) => m.fail(Failure::BodyMismatch, e.to_string()),
            (None, e @ BodyError::NoResponse(_)) => m.fail(Failure::Timeout, e.to_string()),
        }
    }
    if let Err(e) = instance.before_stop(m).await {
        m.fail(Failure::StopFailed, e);
        return;
    }
    let stopping = Instant::now();
    match instance.stop(wrap.spec().timeouts.stop).await {
        Ok(()) => m.stop = Some(stopping.elapsed()),
        Err(e) => {
            m.fail(Failure::StopFailed, e);
            return;
        }
    }
    if let Some(why) = instance.killed().await {
        m.fail(Failure::StopKilled, why);
    }
}

/// Copies a failed launch's console log to the results' `logs/` folder; returns its path.
fn keep_console_log(log: &Path, logs_dir: &Path, wrap: &str, run_name: &str) -> String {
    let kept = logs_dir.join(format!("{wrap}-{run_name}.console.log"));
    match std::fs::create_dir_all(logs_dir).and_then(|()| std::fs::copy(log, &kept)) {
        Ok(_) => kept.display().to_string(),
        Err(e) => format!("not kept ({e})"),
    }
}

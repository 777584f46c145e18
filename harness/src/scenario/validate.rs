//! One `[[wrap]]` table as written, and its checks: the name, the image, the kind's own
//! table (one function per kind), and the probe's timing with the kind's defaults.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{
    Checker, ContainerSpec, ImageSpec, Launch, MAX_TIMEOUT_S, PhaseLine, ProcessSpec, QemuSpec,
    ScenarioError, Timeouts, WrapSpec, is_identifier,
};

/// The kinds a scenario may name.
const KINDS: &str = "\"container\", \"qemu\" or \"process\"";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WrapFile {
    name: Spanned<String>,
    label: Option<String>,
    kind: Spanned<String>,
    image: Option<Spanned<ImageSpec>>,
    ready_timeout_s: Option<Spanned<f64>>,
    attempt_timeout_ms: Option<Spanned<u64>>,
    probe_connections: Option<Spanned<u32>>,
    probe_pause_ms: Option<Spanned<f64>>,
    stop_timeout_s: Option<Spanned<f64>>,
    container: Option<Spanned<ContainerSpec>>,
    qemu: Option<Spanned<QemuSpec>>,
    process: Option<Spanned<ProcessSpec>>,
}

/// A kind's probe timing when the wrap sets none.
struct Defaults {
    ready_s: f64,
    attempt_ms: u64,
    connections: u32,
    pause_ms: f64,
}

/// A host process (container or bare) refuses a connection at once: probe one at a time,
/// with a short pause.
const HOST_PROCESS: Defaults = Defaults {
    ready_s: 30.0,
    attempt_ms: 20,
    connections: 1,
    pause_ms: 0.1,
};

/// Attempts outlive slirp's one-second ARP queue (see `probe`).
const VIRTUAL_MACHINE: Defaults = Defaults {
    ready_s: 120.0,
    attempt_ms: 1500,
    connections: 8,
    pause_ms: 1.0,
};

/// Checks one wrap table and fills in its defaults.
pub(super) fn wrap(
    check: &Checker<'_>,
    span: Range<usize>,
    wrap: WrapFile,
) -> Result<WrapSpec, ScenarioError> {
    let name_span = wrap.name.span();
    let name = wrap.name.clone().into_inner();
    if !is_identifier(&name) {
        return Err(check.error(
            name_span,
            format!("wrap name '{name}' must be letters, digits, '-' or '_'"),
        ));
    }
    let image = wrap.image.clone().map(Spanned::into_inner);
    if let (Some(spanned), Some(image)) = (&wrap.image, &image)
        && !is_identifier(&image.recipe)
    {
        return Err(check.error(
            spanned.span(),
            format!(
                "recipe '{}' must be the name of an executable in scripts/images/",
                image.recipe
            ),
        ));
    }
    let (launch, defaults) = launch(check, span, &name, &wrap)?;
    let probe_connections = match &wrap.probe_connections {
        Some(n) if !(1..=64).contains(n.get_ref()) => {
            return Err(check.error(n.span(), "probe_connections must be between 1 and 64"));
        }
        Some(n) => *n.get_ref(),
        None => defaults.connections,
    };
    Ok(WrapSpec {
        label: wrap.label.clone().unwrap_or_else(|| name.clone()),
        timeouts: timeouts(check, &wrap, &defaults)?,
        probe_pause: probe_pause(check, &wrap, &defaults)?,
        name,
        image,
        probe_connections,
        launch,
    })
}

/// The kind's own table, checked, and the kind's defaults.
fn launch(
    check: &Checker<'_>,
    span: Range<usize>,
    name: &str,
    wrap: &WrapFile,
) -> Result<(Launch, Defaults), ScenarioError> {
    let kind = wrap.kind.get_ref().as_str();
    let tables = [
        ("container", wrap.container.as_ref().map(Spanned::span)),
        ("qemu", wrap.qemu.as_ref().map(Spanned::span)),
        ("process", wrap.process.as_ref().map(Spanned::span)),
    ];
    if !tables.iter().any(|(table, _)| *table == kind) {
        return Err(check.error(
            wrap.kind.span(),
            format!("wrap '{name}': unknown kind '{kind}' (expected {KINDS})"),
        ));
    }
    if let Some((table, other)) = tables
        .iter()
        .find_map(|(table, span)| span.clone().filter(|_| *table != kind).map(|s| (table, s)))
    {
        return Err(check.error(
            other,
            format!("wrap '{name}' has kind = \"{kind}\" but also a [wrap.{table}] table"),
        ));
    }
    // Only the kind's own table is left, if any.
    if let Some(container) = &wrap.container {
        container_launch(check, span, name, container, wrap)
    } else if let Some(qemu) = &wrap.qemu {
        qemu_launch(check, name, qemu)
    } else if let Some(process) = &wrap.process {
        process_launch(check, name, process)
    } else {
        Err(check.error(
            span,
            format!("wrap '{name}' has kind = \"{kind}\" but no [wrap.{kind}] table"),
        ))
    }
}

fn container_launch(
    check: &Checker<'_>,
    span: Range<usize>,
    name: &str,
    container: &Spanned<ContainerSpec>,
    wrap: &WrapFile,
) -> Result<(Launch, Defaults), ScenarioError> {
    let container_span = container.span();
    let container = container.get_ref().clone();
    let needs = match (&wrap.image, &container.image) {
        (Some(_), Some(_)) => Some((
            container_span.clone(),
            "names both an image recipe and container.image: keep one",
        )),
        (None, None) => Some((
            span,
            "needs an image: a [wrap.image] recipe or container.image",
        )),
        _ => None,
    };
    if let Some((span, what)) = needs {
        return Err(check.error(span, format!("wrap '{name}' {what}")));
    }
    let runtime = &container.runtime;
    if runtime.is_empty() || runtime.contains(char::is_whitespace) {
        return Err(check.error(
            container_span,
            format!(
                "wrap '{name}' has container.runtime = {runtime:?}: name a runtime dockerd \
                 registered (runc, runsc, crun, ...)"
            ),
        ));
    }
    check_command(
        check,
        container_span,
        name,
        "container",
        &container.command,
        container.port,
    )?;
    Ok((Launch::Container(container), HOST_PROCESS))
}

fn qemu_launch(
    check: &Checker<'_>,
    name: &str,
    qemu: &Spanned<QemuSpec>,
) -> Result<(Launch, Defaults), ScenarioError> {
    let qemu_span = qemu.span();
    let qemu = qemu.get_ref().clone();
    let problem = if qemu.kernel.is_none() && qemu.disks.is_empty() {
        Some("give qemu.kernel or at least one qemu.disks image to boot")
    } else if qemu.initrd.is_some() && qemu.kernel.is_none() {
        Some("qemu.initrd needs qemu.kernel")
    } else if qemu.memory_mb == 0 || qemu.vcpus == 0 {
        Some("qemu.memory_mb and qemu.vcpus must be at least 1")
    } else if !phase_names_are_distinct_words(&qemu.phase_lines) {
        Some(
            "qemu.phase_lines: each name must be one word (letters, digits, - or _), each \
             named once, and each line not empty",
        )
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(check.error(qemu_span, format!("wrap '{name}': {problem}")));
    }
    Ok((Launch::Qemu(Box::new(qemu)), VIRTUAL_MACHINE))
}

/// Whether phase names can stand as `name=ms` pairs in one results cell, once each.
fn phase_names_are_distinct_words(phases: &[PhaseLine]) -> bool {
    let names: std::collections::BTreeSet<&str> = phases.iter().map(|p| p.name.as_str()).collect();
    names.len() == phases.len()
        && phases
            .iter()
            .all(|p| is_identifier(&p.name) && !p.line.is_empty())
}

fn process_launch(
    check: &Checker<'_>,
    name: &str,
    process: &Spanned<ProcessSpec>,
) -> Result<(Launch, Defaults), ScenarioError> {
    let spec = process.get_ref().clone();
    check_command(
        check,
        process.span(),
        name,
        "process",
        &spec.command,
        spec.port,
    )?;
    Ok((Launch::Process(spec), HOST_PROCESS))
}

/// A command must name a program and say where the workload listens.
fn check_command(
    check: &Checker<'_>,
    span: Range<usize>,
    name: &str,
    table: &str,
    command: &[String],
    port: Option<u16>,
) -> Result<(), ScenarioError> {
    if command.first().is_none_or(|program| program.is_empty()) {
        return Err(check.error(span, format!("wrap '{name}': {table}.command is empty")));
    }
    if port.is_none() && !command.iter().any(|a| a.contains("{port}")) {
        return Err(check.error(
            span,
            format!(
                "wrap '{name}': {table}.command has no {{port}} placeholder and no fixed {table}.port is given"
            ),
        ));
    }
    Ok(())
}

/// The probe's and the stop's timeouts, the wrap's own or the kind's.
fn timeouts(
    check: &Checker<'_>,
    wrap: &WrapFile,
    defaults: &Defaults,
) -> Result<Timeouts, ScenarioError> {
    let attempt = match &wrap.attempt_timeout_ms {
        Some(ms) if *ms.get_ref() == 0 || *ms.get_ref() as f64 > MAX_TIMEOUT_S * 1000.0 => {
            return Err(check.error(
                ms.span(),
                "attempt_timeout_ms must be at least 1 and at most a day",
            ));
        }
        Some(ms) => Duration::from_millis(*ms.get_ref()),
        None => Duration::from_millis(defaults.attempt_ms),
    };
    Ok(Timeouts {
        ready: seconds(
            check,
            &wrap.ready_timeout_s,
            "ready_timeout_s",
            defaults.ready_s,
        )?,
        attempt,
        stop: seconds(check, &wrap.stop_timeout_s, "stop_timeout_s", 10.0)?,
    })
}

/// A timeout in seconds: more than 0, at most a day.
fn seconds(
    check: &Checker<'_>,
    value: &Option<Spanned<f64>>,
    what: &str,
    default: f64,
) -> Result<Duration, ScenarioError> {
    match value {
        Some(v) if !(*v.get_ref() > 0.0 && *v.get_ref() <= MAX_TIMEOUT_S) => Err(check.error(
            v.span(),
            format!("{what} must be more than 0 and at most {MAX_TIMEOUT_S} seconds (a day)"),
        )),
        Some(v) => Ok(Duration::from_secs_f64(*v.get_ref())),
        None => Ok(Duration::from_secs_f64(default)),
    }
}

fn probe_pause(
    check: &Checker<'_>,
    wrap: &WrapFile,
    defaults: &Defaults,
) -> Result<Duration, ScenarioError> {
    let ms = match &wrap.probe_pause_ms {
        Some(ms) if !(ms.get_ref().is_finite() && (0.0..=1000.0).contains(ms.get_ref())) => {
            return Err(check.error(ms.span(), "probe_pause_ms must be between 0 and 1000"));
        }
        Some(ms) => *ms.get_ref(),
        None => defaults.pause_ms,
    };
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

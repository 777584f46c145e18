//! Analysis of result rows: groups them per wrap and summarises each figure, and compares
//! a wrap's medians with a baseline wrap's. Formatting lives in `report`.

pub mod calibration;
pub mod load;
pub mod regression;
pub mod significance;
pub mod stats;

use crate::analysis::stats::Summary;
use crate::figure::{self, Figure, Quantity};
use crate::results::{AccelSource, Failure, ResultRow, distinct};

/// Every figure of one wrap, summarised over its `ok` runs.
#[derive(Debug, Clone)]
pub struct WrapSummary {
    /// Wrap name.
    pub wrap: String,
    /// Wrap label.
    pub label: String,
    /// `container` or `qemu`.
    pub kind: String,
    /// Accelerators seen in the rows (normally one).
    pub accel: String,
    /// How a VM's accelerator was chosen.
    pub accel_chosen_by: Option<AccelSource>,
    /// Rows recorded.
    pub runs: usize,
    /// Rows with `ok`.
    pub ok_runs: usize,
    /// The failed runs grouped by their kind, most frequent first.
    pub failures: Vec<FailureGroup>,
    /// Each figure with samples, in its column's unit: per-launch figures over the ok runs,
    /// per-image figures over every run.
    pub figures: Vec<(&'static Figure, Summary)>,
    /// Guest RAM, MiB, for VMs.
    pub guest_memory_mb: Option<u32>,
    /// Smallest guest RAM that still served, MiB, when searched for.
    pub min_guest_memory_mb: Option<u32>,
    /// The saved VM state every launch restored (its key), for a VM that restores.
    pub restored_from: Option<String>,
    /// The kernel that comes with the image.
    pub kernel: String,
    /// What the image holds, in one line (attack-surface facts).
    pub security: String,
    /// Observability hooks the wrap offered during the runs.
    pub apm: String,
    /// Where the ok runs' start-up went: every event recorded (see [`FIXED_EVENTS`] and the
    /// console's phase lines), ms after launch, ordered by median, ending with the first 200.
    pub start_up: Vec<(String, Summary)>,
}

impl WrapSummary {
    /// The summary of `figure`, when any ok run measured it.
    pub fn get(&self, figure: &Figure) -> Option<&Summary> {
        self.figures
            .iter()
            .find(|(f, _)| f.column == figure.column)
            .map(|(_, s)| s)
    }
}

/// Summarises rows per wrap, in the order wraps first appear.
pub fn summarize(rows: &[ResultRow]) -> Vec<WrapSummary> {
    let mut order: Vec<&str> = Vec::new();
    for row in rows {
        if !order.contains(&row.wrap.as_str()) {
            order.push(&row.wrap);
        }
    }
    order
        .into_iter()
        .map(|wrap| {
            let mine: Vec<&ResultRow> = rows.iter().filter(|r| r.wrap == wrap).collect();
            summarize_wrap(&mine)
        })
        .collect()
}

fn summarize_wrap(rows: &[&ResultRow]) -> WrapSummary {
    let ok: Vec<&ResultRow> = rows.iter().copied().filter(|r| r.ok).collect();
    let figures = figure::ALL
        .iter()
        .filter_map(|&figure| {
            // An image has its size whether or not a launch of it served.
            let measured = if figure.per_image() { rows } else { &ok };
            let samples: Vec<f64> = measured.iter().filter_map(|r| (figure.value)(r)).collect();
            Summary::of(&samples).map(|summary| (figure, summary))
        })
        .collect();
    let failures = failure_groups(rows);
    let first = rows[0];
    WrapSummary {
        wrap: first.wrap.clone(),
        label: first.label.clone(),
        kind: first.kind.clone(),
        accel: distinct(rows.iter().copied(), |r| &r.accel).join(", "),
        accel_chosen_by: first.accel_chosen_by,
        runs: rows.len(),
        ok_runs: ok.len(),
        failures,
        figures,
        guest_memory_mb: rows.iter().find_map(|r| r.guest_memory_mb),
        min_guest_memory_mb: rows.iter().find_map(|r| r.min_guest_memory_mb),
        restored_from: first.restored_from.clone(),
        kernel: first.image_kernel.clone(),
        security: security_facts(first),
        apm: observability_hooks(rows),
        start_up: start_up(&first.kind, &ok),
    }
}

/// The start-up events every kind records outside its console phases, in launch order.
pub const FIXED_EVENTS: [&str; 6] = [
    "create returned",
    "start returned",
    "spawned",
    "QMP up",
    "first output",
    "ready line",
];
/// The last event of every start-up.
pub const FIRST_200: &str = "first 200";

/// Every start-up event the ok runs recorded, ordered by median ms from launch and ending
/// with the first 200: the runtime's calls, QMP, the console's first output, its phase
/// lines and ready line.
fn start_up(kind: &str, ok: &[&ResultRow]) -> Vec<(String, Summary)> {
    let mut names: Vec<&str> = Vec::new();
    for row in ok {
        for (name, _) in row.console_phases() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let of = |name: &str, value: &dyn Fn(&ResultRow) -> Option<f64>| {
        let samples: Vec<f64> = ok.iter().filter_map(|r| value(r)).collect();
        Summary::of(&samples).map(|s| (name.to_string(), s))
    };
    let started = if kind == "container" {
        "start returned"
    } else {
        "spawned"
    };
    let mut events: Vec<(String, Summary)> = names
        .iter()
        .filter_map(|&name| {
            of(name, &|r: &ResultRow| {
                r.console_phases()
                    .into_iter()
                    .find_map(|(n, ms)| (n == name).then_some(ms))
            })
        })
        .chain(of("create returned", &|r: &ResultRow| r.created_ms))
        .chain(of(started, &|r: &ResultRow| r.started_ms))
        .chain(of("QMP up", &|r: &ResultRow| r.qmp_ready_ms))
        .chain(of("first output", &|r: &ResultRow| r.first_output_ms))
        .chain(of("ready line", &|r: &ResultRow| r.ready_line_ms))
        .collect();
    events.sort_by(|a, b| a.1.median.total_cmp(&b.1.median));
    events.extend(of(FIRST_200, &|r: &ResultRow| r.ttfr_ms));
    events
}

impl WrapSummary {
    /// Whether phase lines marked this wrap's start-up on its console.
    pub fn has_console_phases(&self) -> bool {
        self.start_up
            .iter()
            .any(|(name, _)| !FIXED_EVENTS.contains(&name.as_str()) && name != FIRST_200)
    }
}

/// Failed runs of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureGroup {
    /// The kind; `None` for rows from before the `failure` column, grouped by their words.
    pub kind: Option<Failure>,
    /// Runs that failed so.
    pub count: usize,
    /// The first such run's error, without the path of its console log.
    pub first_error: String,
}

/// The failed runs grouped by kind (one cause with different log paths is one group), most
/// frequent first.
fn failure_groups(rows: &[&ResultRow]) -> Vec<FailureGroup> {
    let mut groups: Vec<FailureGroup> = Vec::new();
    for row in rows.iter().filter(|r| !r.ok) {
        let error = without_log_paths(&row.error);
        let same = |g: &FailureGroup| match row.failure {
            Some(kind) => g.kind == Some(kind),
            None => g.kind.is_none() && g.first_error == error,
        };
        match groups.iter_mut().find(|g| same(g)) {
            Some(group) => group.count += 1,
            None => groups.push(FailureGroup {
                kind: row.failure,
                count: 1,
                first_error: error,
            }),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.count));
    groups
}

/// An error without its `console log: PATH (...)` part, which differs run by run.
fn without_log_paths(error: &str) -> String {
    let parts: Vec<&str> = error
        .split("; ")
        .filter(|part| !part.starts_with("console log: "))
        .collect();
    parts.join("; ")
}

/// The image's attack-surface facts in one line, e.g. "9 files (3 executable), no shell,
/// no setuid/setgid; shares the host's Linux 6.18".
fn security_facts(row: &ResultRow) -> String {
    let files = match (row.image_files, row.image_executables) {
        (Some(1), Some(executables)) => format!("1 file ({executables} executable)"),
        (Some(files), Some(executables)) => format!("{files} files ({executables} executable)"),
        _ => "files unknown".to_string(),
    };
    let shells = if row.image_shells.is_empty() {
        "no shell".to_string()
    } else {
        format!("shell: {}", row.image_shells.replace(';', ", "))
    };
    let setuid = match row.image_setuid {
        Some(0) => "no setuid/setgid".to_string(),
        Some(n) => format!("{n} setuid/setgid"),
        None => "setuid unknown".to_string(),
    };
    format!(
        "{files}, {shells}, {setuid}; {}{}",
        row.image_kernel,
        imports_fact(&row.image_imports)
    )
}

/// A component's imports in a few words: how many interfaces, of which packages (the
/// whole list is in `image_imports`), e.g. "; imports 3 interfaces of wasi:cli, wasi:io".
fn imports_fact(imports: &str) -> String {
    if imports.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = imports.split(';').collect();
    let mut packages: Vec<&str> = Vec::new();
    for name in &names {
        let package = name.split('/').next().unwrap_or(name);
        if !packages.contains(&package) {
            packages.push(package);
        }
    }
    format!(
        "; imports {} interfaces of {}",
        names.len(),
        packages.join(", ")
    )
}

/// The hooks that answered during the runs: the engine's API and cgroup files for
/// containers, QMP and the serial console for VMs, the output of host processes.
fn observability_hooks(rows: &[&ResultRow]) -> String {
    let any = |get: fn(&ResultRow) -> bool| rows.iter().any(|r| get(r));
    let mut hooks: Vec<&str> = Vec::new();
    match rows[0].kind.as_str() {
        "container" => {
            hooks.push("engine API (inspect, logs)");
            if any(|r| r.cgroup_bytes.is_some()) {
                hooks.push("cgroup memory files");
            }
        }
        "qemu" => {
            if any(|r| r.qmp_ready_ms.is_some()) {
                hooks.push("QMP");
            }
            if any(|r| r.first_output_ms.is_some()) {
                hooks.push("serial console");
            }
        }
        _ => {
            if any(|r| r.first_output_ms.is_some()) {
                hooks.push("its output (stdout, stderr)");
            }
        }
    }
    if hooks.is_empty() {
        "none seen".to_string()
    } else {
        hooks.join(", ")
    }
}

/// How a wrap's median compares with the baseline's (lower is better for every figure).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Relative {
    /// `value / baseline`, of the medians.
    pub ratio: f64,
    /// What is compared.
    pub quantity: Quantity,
    /// How sure the ratio is.
    pub certainty: Certainty,
}

/// How sure a [`Relative`] is, from the two medians' 95% confidence intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Certainty {
    /// Neither side varied (one value per image): the ratio is exact.
    Exact,
    /// The intervals are apart: the ratio lies between these two ratios of their ends.
    Between(f64, f64),
    /// The intervals overlap: the data cannot tell the two medians apart.
    Unclear,
    /// A side has too few runs for an interval.
    TooFewRuns,
}

impl Relative {
    /// Compares two medians; `None` when the baseline is zero or either is missing.
    pub fn of(
        value: Option<&Summary>,
        baseline: Option<&Summary>,
        quantity: Quantity,
    ) -> Option<Relative> {
        let (value, baseline) = (value?, baseline?);
        (baseline.median > 0.0 && value.median > 0.0).then(|| Relative {
            ratio: value.median / baseline.median,
            quantity,
            certainty: certainty(value, baseline),
        })
    }
}

fn certainty(value: &Summary, baseline: &Summary) -> Certainty {
    let exact = |s: &Summary| s.min == s.max;
    if exact(value) && exact(baseline) {
        return Certainty::Exact;
    }
    match (value.median_ci, baseline.median_ci) {
        (Some(_), Some(_)) if value.overlaps(baseline) => Certainty::Unclear,
        (Some((lo, hi)), Some((base_lo, base_hi))) if base_lo > 0.0 => {
            Certainty::Between(lo / base_hi, hi / base_lo)
        }
        _ => Certainty::TooFewRuns,
    }
}

/// How much better or worse `ratio` is, in the wording's unit: a factor (`x`) or, for
/// smaller sizes and memory, the percentage saved.
fn magnitude(quantity: Quantity, ratio: f64) -> (f64, &'static str) {
    match (quantity, ratio < 1.0) {
        (Quantity::Time, true) => (1.0 / ratio, "x"),
        (Quantity::Size | Quantity::Memory | Quantity::Count, true) => ((1.0 - ratio) * 100.0, "%"),
        (_, false) => (ratio, "x"),
    }
}

/// `93%`, `2.3x`, `215x`: factors from 10 on without decimals the data cannot carry.
fn format_magnitude((value, unit): (f64, &str)) -> String {
    match unit {
        "%" => format!("{value:.0}%"),
        _ if value >= 10.0 => format!("{value:.0}x"),
        _ => format!("{value:.1}x"),
    }
}

impl std::fmt::Display for Relative {
    /// "93% smaller", "2.3x faster (2.1x–2.5x)", "1.8x larger", "same", "no clear
    /// difference": smaller values as the percentage saved (sizes, memory) or a speed-up
    /// factor (times), larger as a factor; the range comes from the medians' 95% intervals.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.ratio;
        if self.certainty == Certainty::Unclear {
            return write!(f, "no clear difference");
        }
        if (r - 1.0).abs() < 0.005 && self.certainty == Certainty::Exact {
            return write!(f, "same");
        }
        let word = match (self.quantity, r < 1.0) {
            (Quantity::Time, true) => "faster",
            (Quantity::Time, false) => "slower",
            (Quantity::Size, true) => "smaller",
            (Quantity::Size, false) => "larger",
            (Quantity::Memory | Quantity::Count, true) => "less",
            (Quantity::Memory | Quantity::Count, false) => "more",
        };
        let main = format_magnitude(magnitude(self.quantity, r));
        write!(f, "{main} {word}")?;
        match self.certainty {
            Certainty::Between(lo, hi) => {
                let (mut a, mut b) = (magnitude(self.quantity, lo), magnitude(self.quantity, hi));
                if a.0 > b.0 {
                    std::mem::swap(&mut a, &mut b);
                }
                let (a, b) = (format_magnitude(a), format_magnitude(b));
                if a != b {
                    write!(f, " ({a}–{b})")?;
                }
                Ok(())
            }
            Certainty::TooFewRuns => write!(f, " (under 6 runs: no interval)"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::sample_row;

    #[test]
    fn a_components_imports_are_counted_and_grouped_by_package() {
        let mut row = sample_row("wasm", 1);
        row.image_kernel = "none: runs on the host's wasmtime 48.0.8".into();
        row.image_imports =
            "wasi:io/poll@0.2.6;wasi:cli/exit@0.2.6;wasi:io/streams@0.2.6;wasi:sockets/tcp@0.2.6"
                .into();
        let facts = security_facts(&row);
        assert!(
            facts.ends_with(
                "wasmtime 48.0.8; imports 4 interfaces of wasi:io, wasi:cli, wasi:sockets"
            ) && facts.starts_with("1 file (1 executable), no shell"),
            "{facts}"
        );
        row.image_imports.clear();
        assert!(security_facts(&row).ends_with("wasmtime 48.0.8"));
    }

    #[test]
    fn a_start_up_lists_every_event_by_median_and_ends_with_the_first_200() {
        let boot = |run: u32, console: &str| {
            let mut row = sample_row("vm", run);
            row.kind = "qemu".into();
            (row.created_ms, row.started_ms, row.qmp_ready_ms) = (None, Some(1.0), Some(40.0));
            (row.first_output_ms, row.ready_line_ms) = (Some(800.0), Some(16_400.0));
            row.ttfr_ms = Some(16_500.0);
            row.console_phases = console.into();
            row
        };
        let rows = [
            boot(1, "initramfs=3100.0;systemd=5600.0"),
            boot(2, "systemd=5700.0;initramfs=3000.0"),
        ];
        let summary = &summarize(&rows)[0];
        let events: Vec<(&str, f64)> = summary
            .start_up
            .iter()
            .map(|(name, s)| (name.as_str(), s.median))
            .collect();
        assert_eq!(
            events,
            [
                ("spawned", 1.0),
                ("QMP up", 40.0),
                ("first output", 800.0),
                ("initramfs", 3050.0),
                ("systemd", 5650.0),
                ("ready line", 16_400.0),
                ("first 200", 16_500.0)
            ]
        );
        assert!(summary.has_console_phases());
        let mut plain = boot(1, "");
        plain.kind = "container".into();
        (plain.created_ms, plain.started_ms, plain.qmp_ready_ms) = (Some(5.0), Some(60.0), None);
        (plain.first_output_ms, plain.ready_line_ms) = (None, None);
        let plain = &summarize(&[plain])[0];
        assert!(!plain.has_console_phases());
        let names: Vec<&str> = plain.start_up.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["create returned", "start returned", "first 200"]);
    }

    #[test]
    fn groups_per_wrap_in_order_and_skips_failed_runs() {
        let mut rows = vec![
            sample_row("vm", 1),
            sample_row("container", 1),
            sample_row("vm", 2),
        ];
        rows[2].ok = false;
        rows[2].error = "probe: timeout".into();
        rows[2].ttfr_ms = Some(99_999.0);
        let summaries = summarize(&rows);
        assert_eq!(summaries.len(), 2);
        assert_eq!(summaries[0].wrap, "vm");
        assert_eq!((summaries[0].runs, summaries[0].ok_runs), (2, 1));
        assert_eq!(
            summaries[0].failures,
            [FailureGroup {
                kind: None,
                count: 1,
                first_error: "probe: timeout".to_string()
            }]
        );
        let ttfr = summaries[0].get(&figure::TTFR).unwrap();
        assert_eq!(ttfr.count, 1);
        assert!((ttfr.median - 181.25).abs() < 1e-9);
        let image = summaries[1].get(&figure::IMAGE).unwrap();
        assert!((image.median - 1_312_528.0).abs() < 1e-9);
        assert!(
            summaries[1].get(&figure::GUEST_RAM).is_none(),
            "not measured"
        );
        assert_eq!(
            summaries[1].security,
            "1 file (1 executable), no shell, no setuid/setgid; shares the host's Linux 6.1.0"
        );
        assert_eq!(
            summaries[1].apm,
            "engine API (inspect, logs), cgroup memory files"
        );
    }

    #[test]
    fn failures_group_by_kind_whatever_their_log_paths() {
        let failed = |run, log: &str| {
            let mut row = sample_row("vm", run);
            row.ok = false;
            row.failure = Some(Failure::Timeout);
            row.error = format!(
                "no HTTP 200 within 30 s; console log: logs/vm-{log}.log (last line: \"x\")"
            );
            row
        };
        let mut exited = sample_row("vm", 4);
        exited.ok = false;
        exited.failure = Some(Failure::ExitedEarly);
        exited.error = "QEMU exited (code 1)".into();
        let rows = [
            failed(1, "run1"),
            exited,
            failed(2, "run2"),
            sample_row("vm", 3),
        ];
        let groups = &summarize(&rows)[0].failures;
        assert_eq!(
            groups,
            &[
                FailureGroup {
                    kind: Some(Failure::Timeout),
                    count: 2,
                    first_error: "no HTTP 200 within 30 s".to_string()
                },
                FailureGroup {
                    kind: Some(Failure::ExitedEarly),
                    count: 1,
                    first_error: "QEMU exited (code 1)".to_string()
                },
            ]
        );
    }

    #[test]
    fn relative_wording() {
        // Ten identical samples: no spread, an exact ratio.
        let s = |m: f64| Summary::of(&[m; 10]).unwrap();
        let rel = |v: f64, b: f64, q| {
            Relative::of(Some(&s(v)), Some(&s(b)), q)
                .unwrap()
                .to_string()
        };
        assert_eq!(rel(27.8, 400.0, Quantity::Size), "93% smaller");
        assert_eq!(rel(0.483, 1.13, Quantity::Time), "2.3x faster");
        assert_eq!(rel(2.0, 1.0, Quantity::Time), "2.0x slower");
        assert_eq!(rel(619.0, 274.4, Quantity::Memory), "2.3x more");
        assert_eq!(rel(50.0, 100.0, Quantity::Memory), "50% less");
        assert_eq!(rel(1.0, 1.001, Quantity::Size), "same");
        assert!(Relative::of(Some(&s(1.0)), Some(&s(0.0)), Quantity::Size).is_none());
        assert!(Relative::of(None, Some(&s(1.0)), Quantity::Size).is_none());
    }

    #[test]
    fn relative_differences_carry_their_uncertainty() {
        let spread = |m: f64| {
            let samples: Vec<f64> = (0..10).map(|i| m * (0.95 + 0.01 * i as f64)).collect();
            Summary::of(&samples).unwrap()
        };
        let rel = |v: &Summary, b: &Summary| {
            Relative::of(Some(v), Some(b), Quantity::Time)
                .unwrap()
                .to_string()
        };
        // Ten samples: the interval is the 2nd to the 9th, 0.96m to 1.03m.
        assert_eq!(
            rel(&spread(100.0), &spread(300.0)),
            "3.0x faster (2.8x–3.2x)"
        );
        assert_eq!(
            rel(&spread(300.0), &spread(100.0)),
            "3.0x slower (2.8x–3.2x)"
        );
        assert_eq!(rel(&spread(102.0), &spread(100.0)), "no clear difference");
        let few = Summary::of(&[100.0, 120.0]).unwrap();
        assert_eq!(
            rel(&few, &spread(300.0)),
            "2.7x faster (under 6 runs: no interval)"
        );
    }
}

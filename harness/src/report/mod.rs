//! The summary table: one row per wrap, each figure of the registry's table as its median
//! with its 95% confidence interval, and for every wrap after the first its difference from
//! the first (the baseline), with the range the intervals allow. Rendered for the terminal and as Markdown for slides and notes.

pub mod ab;
pub mod density;
pub mod doctor;
pub mod export;
pub mod folder;
mod html;
pub mod load;
pub mod plot;
pub mod progress;

use comfy_table::{ContentArrangement, Table, presets};

use crate::analysis::regression::{Check, Finding, Observed, Verdict, Verdicts, relative_change};
use crate::analysis::stats::Summary;
use crate::analysis::{FailureGroup, Relative, WrapSummary};
use crate::figure::{self, Figure};
use crate::image::size::COMPRESSION;
use crate::results::AccelSource;
use crate::scenario::TableLayout;

/// Output style of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Box-drawing characters for a terminal.
    Terminal,
    /// A GitHub-flavoured Markdown table.
    Markdown,
}

/// `median [low–high]` of `figure` in its unit, the brackets holding the median's 95%
/// confidence interval; `median (min–max)` with under 6 samples, too few for an interval;
/// the median alone when every sample agreed.
pub fn median_cell(figure: &Figure, summary: &Summary) -> String {
    let decimals = figure.decimals_for(summary.median);
    let format = |value| figure.format_with(value, decimals);
    let median = format(summary.median);
    if format(summary.min) == format(summary.max) {
        return median;
    }
    match summary.median_ci {
        Some((lo, hi)) => format!("{median} [{}–{}]", format(lo), format(hi)),
        None => format!("{median} ({}–{})", format(summary.min), format(summary.max)),
    }
}

/// What the cells of [`summary_table`] and [`talk_table`] hold, for the note under them.
pub const CELL_LEGEND: &str = "Cells: median [its 95% confidence interval, from order \
    statistics] or, under 6 runs, median (min–max); a difference from the first wrap comes \
    with the range its intervals allow, or \"no clear difference\" when they overlap";

/// A figure's cell: [`median_cell`], and its difference from `baseline` when given.
fn cell(
    figure: &Figure,
    summary: &WrapSummary,
    baseline: Option<&WrapSummary>,
    separator: &str,
) -> String {
    let Some(s) = summary.get(figure) else {
        let why = if summary.ok_runs == 0 {
            "no ok run"
        } else {
            "missing"
        };
        return why.to_string();
    };
    let mut text = median_cell(figure, s);
    if let Some(relative) = Relative::of(
        Some(s),
        baseline.and_then(|b| b.get(figure)),
        figure.quantity,
    ) {
        text.push_str(separator);
        text.push_str(&relative.to_string());
    }
    text
}

/// The wrap a row is compared with: the first, for every row after it.
fn baseline_of(summaries: &[WrapSummary], index: usize) -> Option<&WrapSummary> {
    if index == 0 { None } else { summaries.first() }
}

/// The summary table of a run: rows are wraps, columns the table's figures; the first wrap
/// is the baseline.
pub fn summary_table(summaries: &[WrapSummary], style: Style) -> String {
    let (mut table, separator) = new_table(style);
    let with_min_memory = summaries.iter().any(|s| s.min_guest_memory_mb.is_some());
    let columns: Vec<&Figure> = figure::ALL.iter().copied().filter(|f| f.in_table).collect();
    let mut header = vec!["Wrap".to_string(), "Runs ok".to_string()];
    header.extend(columns.iter().map(|f| f.heading()));
    if with_min_memory {
        header.push("Min guest RAM (MiB)".to_string());
    }
    table.set_header(header);
    for (i, s) in summaries.iter().enumerate() {
        let baseline = baseline_of(summaries, i);
        let mut row = vec![
            format!("{}{separator}{} ({})", s.label, s.kind, s.accel),
            format!("{}/{}", s.ok_runs, s.runs),
        ];
        row.extend(columns.iter().map(|f| cell(f, s, baseline, separator)));
        if with_min_memory {
            row.push(min_memory_cell(s));
        }
        table.add_row(row);
    }
    table.to_string()
}

fn min_memory_cell(s: &WrapSummary) -> String {
    match (s.min_guest_memory_mb, s.kind.as_str()) {
        (Some(mb), _) => mb.to_string(),
        (None, "container") => "n/a (no guest)".to_string(),
        (None, _) => "missing".to_string(),
    }
}

/// The talk's own published table (Madhuri Yechuri, "Unikernels and Event-driven Serverless
/// Platforms", 2017): one Node.js server on Ubuntu 16.04 (Linux 4.4). Printed for reference
/// only, never mixed with measured figures.
const TALK_PUBLISHED: [[&str; 6]; 2] = [
    [
        "Container (Alpine 3.5 base)",
        "53.48",
        "1.13",
        "274.4",
        "inherits Linux vulnerabilities (e.g. VENOM)",
        "Amazon CloudWatch, IOPipes",
    ],
    [
        "Unikernel (OSv)",
        "27.8 (\"93% smaller\")",
        "0.483 (\"134% faster\")",
        "619",
        "minimal attack surface",
        "TBD",
    ],
];

fn new_table(style: Style) -> (Table, &'static str) {
    let mut table = Table::new();
    let separator = match style {
        Style::Terminal => {
            table.load_style(presets::UTF8_FULL_CONDENSED);
            "\n"
        }
        Style::Markdown => {
            table.load_style(presets::ASCII_MARKDOWN);
            "<br>"
        }
    };
    table.set_content_arrangement(ContentArrangement::Disabled);
    (table, separator)
}

/// The talk's table, measured: image size (apparent and compressed), start time (to the
/// first response) and host memory, each with its difference from the first wrap, then the
/// image's attack-surface facts and the observability hooks seen; the talk's published
/// numbers follow for reference.
pub fn talk_table(summaries: &[WrapSummary], style: Style) -> String {
    let (mut table, separator) = new_table(style);
    let with_min_memory = summaries.iter().any(|s| s.min_guest_memory_mb.is_some());
    let image_heading = format!("On-disk image size (MB): apparent; {COMPRESSION}");
    let mut header = vec![
        "Shrink-wrap",
        image_heading.as_str(),
        "Start time (s)",
        "Runtime memory overhead (MB): host memory",
    ];
    if with_min_memory {
        header.push("Min guest RAM (MiB)");
    }
    header.extend(["Security (measured)", "APM (hooks seen)"]);
    table.set_header(header);
    for (i, s) in summaries.iter().enumerate() {
        let baseline = baseline_of(summaries, i);
        let mut row = vec![format!(
            "{}{separator}{} ({}), {}/{} runs ok",
            s.label, s.kind, s.accel, s.ok_runs, s.runs
        )];
        row.push(format!(
            "apparent {}{separator}compressed {}",
            cell(&figure::IMAGE, s, baseline, separator),
            cell(&figure::IMAGE_COMPRESSED, s, baseline, separator)
        ));
        row.push(cell(&figure::TTFR, s, baseline, separator));
        row.push(cell(&figure::HOST_MEMORY, s, baseline, separator));
        if with_min_memory {
            row.push(min_memory_cell(s));
        }
        row.extend([s.security.clone(), s.apm.clone()]);
        table.add_row(row);
    }

    let (mut published, _) = new_table(style);
    published.set_header(vec![
        "Shrink-wrap (talk, 2017)",
        "On-disk image size (MB)",
        "Start time (s)",
        "Runtime memory overhead (MB)",
        "Security",
        "APM",
    ]);
    for row in TALK_PUBLISHED {
        published.add_row(row.to_vec());
    }
    let runs = summaries.iter().map(|s| s.ok_runs).max().unwrap_or(0);
    format!(
        "{table}\n\n\
         Measured here: medians [95% confidence interval] of up to {runs} cold starts per wrap; \
         differences are against the first row. Image size: the apparent bytes on disk, then the image \
         compressed as one stream ({COMPRESSION}). Start time: launch request to the first \
         HTTP 200. Memory: PSS of every host process that exists because the instance does, \
         right after the first response (a container: its processes and its containerd shim; \
         a VM: the whole QEMU process, the guest RAM it touched included). MB = 10^6 bytes.\n\n\
         For reference, the talk's own published numbers (not measured here, never compared):\n\n\
         {published}"
    )
}

/// The A/B comparison: the mismatches first, then one row per wrap and check with both
/// sides, the change, the p-value where the check has a test, and the verdict with its
/// reason; then the warnings.
pub fn comparison_report(verdicts: &Verdicts, style: Style) -> String {
    let (mut table, separator) = new_table(style);
    table.set_header(vec![
        "Wrap",
        "Figure",
        "Check",
        "Baseline",
        "Candidate",
        "Change",
        "p",
        "p (Holm)",
        "Verdict",
    ]);
    for finding in &verdicts.findings {
        table.add_row(finding_row(finding, separator));
    }
    let bullet = if style == Style::Markdown { "- " } else { "" };
    let mut blocks: Vec<String> = verdicts
        .mismatches
        .iter()
        .map(|m| format!("{bullet}NOT COMPARABLE: {m}"))
        .chain(
            verdicts
                .runtime_changes
                .iter()
                .map(|m| format!("{bullet}RUNTIME CHANGED: {m}")),
        )
        .collect();
    blocks.push(table.to_string());
    if verdicts.family > 0 {
        blocks.push(format!(
            "{bullet}{} tests (serving and medians) judged as one family: Holm's correction keeps \
             the chance of any false alarm among all of them under {} on pure noise",
            verdicts.family, verdicts.alpha
        ));
    }
    blocks.extend(
        verdicts
            .warnings
            .iter()
            .map(|w| format!("{bullet}warning: {w}")),
    );
    blocks.join("\n\n")
}

fn finding_row(finding: &Finding, separator: &str) -> Vec<String> {
    let side = |observed: &Observed| match (observed, finding.figure) {
        (Observed::Runs { ok, of }, _) => format!("{ok}/{of} ok"),
        (Observed::Samples(summary), Some(figure)) if finding.check == Check::Tail => {
            format!("p90 {} {}", figure.format(summary.p90), figure.unit)
        }
        (Observed::Samples(summary), Some(figure)) => {
            format!("{} {}", median_cell(figure, summary), figure.unit)
        }
        _ => "absent".to_string(),
    };
    let change = match (&finding.baseline, &finding.candidate, finding.figure) {
        (Observed::Samples(a), Observed::Samples(b), Some(_)) if finding.check == Check::Tail => {
            format!("{:+.1}%", relative_change(a.p90, b.p90) * 100.0)
        }
        (Observed::Samples(a), Observed::Samples(b), Some(_)) => {
            format!("{:+.1}%", relative_change(a.median, b.median) * 100.0)
        }
        _ => String::new(),
    };
    let verdict = match finding.verdict {
        Verdict::Regression => "REGRESSION",
        Verdict::Improvement => "improvement",
        Verdict::Unchanged => "unchanged",
    };
    vec![
        finding.wrap.clone(),
        finding.figure.map_or("runs ok", |f| f.title).to_string(),
        finding.check.to_string(),
        side(&finding.baseline),
        side(&finding.candidate),
        change,
        finding
            .p_value
            .map(|p| format!("{p:.4}"))
            .unwrap_or_default(),
        finding
            .p_adjusted
            .map(|p| format!("{p:.4}"))
            .unwrap_or_default(),
        format!("{verdict}{separator}{}", finding.why),
    ]
}

/// What `run` prints and keeps in summary.md: the scenario's table, then the notes that
/// qualify it (as a Markdown list in Markdown).
pub fn document(summaries: &[WrapSummary], layout: TableLayout, style: Style) -> String {
    let table = match layout {
        TableLayout::Summary => summary_table(summaries, style),
        TableLayout::Talk => talk_table(summaries, style),
    };
    let bullet = match style {
        Style::Terminal => "",
        Style::Markdown => "- ",
    };
    let notes: Vec<String> = notes(summaries)
        .into_iter()
        .map(|n| format!("{bullet}{n}"))
        .collect();
    if notes.is_empty() {
        table
    } else {
        format!("{table}\n\n{}", notes.join("\n"))
    }
}

/// Lines under a table: failures per wrap with their counts (so a `missing` cell always has
/// its reason), outlier warnings, and what makes figures of different kinds differ.
pub fn notes(summaries: &[WrapSummary]) -> Vec<String> {
    let mut notes = Vec::new();
    for s in summaries {
        for group in s.failures.iter().take(MAX_FAILURES_SHOWN) {
            notes.push(failure_note(s, group));
        }
        let hidden: usize = s
            .failures
            .iter()
            .skip(MAX_FAILURES_SHOWN)
            .map(|g| g.count)
            .sum();
        if hidden > 0 {
            notes.push(format!(
                "{}: {hidden} more failed runs: see the failure and error columns of results.csv",
                s.wrap
            ));
        }
        if let Some(lag) = s.get(&figure::PROBE_LAG) {
            let who = if s.kind == "qemu" { "guest" } else { "process" };
            let answer = s
                .get(&figure::PROBE_ANSWER)
                .map(|a| {
                    format!(
                        ", of which the {who} took {} ms ({}) to answer once it listened and a \
                         connection was open",
                        figure::PROBE_ANSWER.format(a.median),
                        range(&figure::PROBE_ANSWER, a)
                    )
                })
                .unwrap_or_default();
            notes.push(format!(
                "{}: the first 200 came {} ms ({}) after the {who}'s own ready line{answer} \
                 (probe lag, medians of {})",
                s.wrap,
                figure::PROBE_LAG.format(lag.median),
                range(&figure::PROBE_LAG, lag),
                lag.count
            ));
        }
        if s.has_console_phases() {
            notes.push(start_up_note(s));
        }
        if let Some(ttfr) = s.get(&figure::TTFR).filter(|t| t.outliers > 0) {
            notes.push(format!(
                "{}: {} of {} first-response times are outliers (modified Z-score > 3.5, over 5% off the median): something \
                 else may have run on the machine; consider more runs",
                s.wrap, ttfr.outliers, ttfr.count
            ));
        }
    }
    for s in summaries {
        if let Some(state) = &s.restored_from {
            notes.push(format!(
                "{}: every launch restores the VM state {state}, saved once after a first \
                 response and cached, instead of booting; its image size includes the saved \
                 files (device state, and guest RAM in the stream or in a file of its own), \
                 which are specific to this QEMU version, accelerator and machine",
                s.wrap
            ));
        }
    }
    for s in summaries.iter().filter(|s| s.kind == "qemu") {
        notes.extend(if s.kernel.contains("on its disk") {
            Some(format!(
                "{}: its image is a raw disk: the apparent size counts its file systems' free \
                 blocks (a sparse file's holes among them), which compress to almost nothing",
                s.wrap
            ))
        } else if s.kernel.starts_with("Linux") {
            Some(format!(
                "{}: its boot file is a bzImage, itself compressed (kernel and built-in \
                 initramfs): its apparent size is not the size of what it unpacks to",
                s.wrap
            ))
        } else {
            None
        });
    }
    notes.extend(accelerator_notes(summaries));
    let kinds = distinct_kinds(summaries);
    if kinds.len() > 1 {
        let how: Vec<&str> = [
            ("container", "a container gets SIGTERM and exits gracefully"),
            ("process", "a process gets SIGTERM and exits gracefully"),
            ("qemu", "a VM is powered off by QMP quit"),
        ]
        .into_iter()
        .filter(|(kind, _)| kinds.contains(kind))
        .map(|(_, how)| how)
        .collect();
        notes.push(format!("Stop: {}", how.join("; ")));
    }
    notes.push(CELL_LEGEND.to_string());
    notes
}

/// Where a wrap's start-up went: each event's median time from launch, in seconds, ending
/// with the first 200.
fn start_up_note(s: &WrapSummary) -> String {
    let steps: Vec<String> = s
        .start_up
        .iter()
        .map(|(name, summary)| format!("{name} {}", figure::TTFR.format(summary.median)))
        .collect();
    format!(
        "{}: its start-up, s from launch (medians): {}",
        s.wrap,
        steps.join(", ")
    )
}

/// `min–max` of a figure in its unit, with the decimals of its median.
fn range(figure: &Figure, summary: &Summary) -> String {
    let decimals = figure.decimals_for(summary.median);
    format!(
        "{}–{}",
        figure.format_with(summary.min, decimals),
        figure.format_with(summary.max, decimals)
    )
}

/// One note per accelerator and way it was chosen, naming its VM wraps: "hermit, appliance:
/// VMs under TCG (software emulation), chosen by the accelerator probe ...".
fn accelerator_notes(summaries: &[WrapSummary]) -> Vec<String> {
    let vms: Vec<&WrapSummary> = summaries.iter().filter(|s| s.kind == "qemu").collect();
    let mut groups: Vec<(&str, Option<AccelSource>, Vec<&str>)> = Vec::new();
    for vm in &vms {
        let key = (vm.accel.as_str(), vm.accel_chosen_by);
        match groups.iter_mut().find(|(a, c, _)| (*a, *c) == key) {
            Some((_, _, wraps)) => wraps.push(&vm.wrap),
            None => groups.push((key.0, key.1, vec![&vm.wrap])),
        }
    }
    groups
        .into_iter()
        .map(|(accel, chosen_by, wraps)| {
            let under = match accel {
                "tcg" => "TCG (software emulation)".to_string(),
                "kvm" => "KVM".to_string(),
                other => other.to_string(),
            };
            let how = match chosen_by {
                Some(AccelSource::Probe) if accel == "tcg" => {
                    "chosen by the accelerator probe, KVM being slower or missing here (its \
                     evidence is in accel.json)"
                }
                Some(AccelSource::Probe) => {
                    "chosen by the accelerator probe (its evidence is in accel.json)"
                }
                Some(AccelSource::Scenario) => "as the scenario sets it",
                None => "how it was chosen is not recorded",
            };
            let caveat = if accel == "tcg" {
                ": their times and memory (QEMU's code cache included) are not what a KVM \
                 host sees"
            } else {
                ""
            };
            format!("{}: VMs under {under}, {how}{caveat}", wraps.join(", "))
        })
        .collect()
}

/// How many kinds of failure are listed per wrap.
const MAX_FAILURES_SHOWN: usize = 3;

/// "hermit: 2 of 10 runs failed: timeout (the first: no HTTP 200 within 30 s ...)".
fn failure_note(summary: &WrapSummary, group: &FailureGroup) -> String {
    let head = format!(
        "{}: {} of {} runs failed",
        summary.wrap, group.count, summary.runs
    );
    match (group.kind, group.count) {
        (Some(kind), 1) => format!("{head}: {kind} ({})", group.first_error),
        (Some(kind), _) => format!("{head}: {kind} (the first: {})", group.first_error),
        (None, _) => format!("{head}: {}", group.first_error),
    }
}

fn distinct_kinds(summaries: &[WrapSummary]) -> Vec<&str> {
    let mut kinds: Vec<&str> = summaries.iter().map(|s| s.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::summarize;
    use crate::results::tests::sample_row;
    use crate::results::{Failure, ResultRow};

    #[test]
    fn median_and_range_formatting() {
        let s = Summary::of(&[200.0, 100.0, 300.0]).unwrap();
        assert_eq!(median_cell(&figure::TTFR, &s), "0.200 (0.100–0.300)");
        let same = Summary::of(&[1_310_000.0, 1_312_000.0]).unwrap();
        assert_eq!(median_cell(&figure::IMAGE, &same), "1.31");
        let ten: Vec<f64> = (1..=10).map(|i| f64::from(i) * 10.0).collect();
        let ten = Summary::of(&ten).unwrap();
        assert_eq!(median_cell(&figure::TTFR, &ten), "0.055 [0.020–0.090]");
    }

    #[test]
    fn markdown_table_compares_with_the_first_wrap() {
        let mut vm = sample_row("vm", 1);
        vm.label = "Unikernel".into();
        vm.kind = "qemu".into();
        vm.accel = "tcg".into();
        vm.image_bytes = Some(656_264);
        vm.ttfr_ms = Some(90.625);
        vm.host_memory_bytes = Some(9_000_000);
        vm.stop_ms = None;
        let mut c = sample_row("container", 1);
        c.label = "Container".into();
        let table = summary_table(&summarize(&[c, vm]), Style::Markdown);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].contains("First response (s)"));
        assert!(lines[0].contains("Image compressed (MB)"));
        assert!(
            lines[2].starts_with("| Container<br>container (native)"),
            "{}",
            lines[2]
        );
        assert!(lines[2].contains("| 0.181 "), "{}", lines[2]);
        assert!(lines[3].contains("0.66<br>50% smaller"), "{}", lines[3]);
        assert!(lines[3].contains("0.091<br>2.0x faster"), "{}", lines[3]);
        assert!(lines[3].contains("9.0<br>2.0x more"), "{}", lines[3]);
        assert!(lines[3].contains("| missing "), "{}", lines[3]);
    }

    #[test]
    fn notes_say_how_each_kind_stops_and_whose_ready_line_it_is() {
        let mut native = sample_row("native", 1);
        native.kind = "process".into();
        native.ready_line_ms = Some(1.0);
        native.probe_lag_ms = Some(0.2);
        let mut vm = sample_row("vm", 1);
        vm.kind = "qemu".into();
        let notes = notes(&summarize(&[native, sample_row("container", 1), vm])).join("\n");
        assert!(
            notes.contains(
                "Stop: a container gets SIGTERM and exits gracefully; a process gets SIGTERM \
                 and exits gracefully; a VM is powered off by QMP quit"
            ),
            "{notes}"
        );
        assert!(
            notes.contains("after the process's own ready line"),
            "{notes}"
        );
    }

    #[test]
    fn a_vm_whose_files_are_on_a_disk_gets_the_raw_disk_note_whatever_its_kernel() {
        let vm = |wrap: &str, kernel: &str| {
            let mut row = sample_row(wrap, 1);
            row.kind = "qemu".into();
            row.image_kernel = kernel.into();
            row
        };
        let notes = notes(&summarize(&[
            vm("nanos", "Nanos 0.1.55, its files on its disk"),
            vm("appliance", "Linux 6.1.192 inside"),
            vm("hermit", "no Linux kernel (not a bzImage)"),
        ]));
        let about = |wrap: &str| -> Vec<&String> {
            notes
                .iter()
                .filter(|n| n.starts_with(&format!("{wrap}: its ")))
                .collect()
        };
        assert!(
            about("nanos")[0].contains("its image is a raw disk"),
            "{notes:?}"
        );
        assert!(about("appliance")[0].contains("bzImage"), "{notes:?}");
        assert!(about("hermit").is_empty(), "{notes:?}");
    }

    #[test]
    fn summary_shows_the_smallest_guest_ram_when_searched() {
        let mut vm = sample_row("vm", 1);
        vm.kind = "qemu".into();
        vm.min_guest_memory_mb = Some(37);
        let table = summary_table(
            &summarize(&[sample_row("container", 1), vm]),
            Style::Markdown,
        );
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].ends_with("| Min guest RAM (MiB) |"),
            "{}",
            lines[0]
        );
        assert!(
            lines[2].ends_with("| n/a (no guest)      |"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].ends_with("| 37                  |"),
            "{}",
            lines[3]
        );
    }

    #[test]
    fn a_wrap_whose_every_launch_failed_still_shows_its_image() {
        let mut failed = sample_row("vm", 1);
        failed.ok = false;
        failed.failure = Some(Failure::ExitedEarly);
        failed.ttfr_ms = None;
        let table = summary_table(&summarize(&[failed]), Style::Markdown);
        let row = table.lines().nth(2).unwrap();
        assert!(row.contains("| 1.31 "), "the image size: {row}");
        assert!(row.contains("| no ok run "), "{row}");
    }

    #[test]
    fn each_vm_says_how_its_accelerator_was_chosen() {
        let vm = |wrap: &str, accel: &str, chosen_by| {
            let mut row = sample_row(wrap, 1);
            row.kind = "qemu".into();
            row.accel = accel.into();
            row.accel_chosen_by = Some(chosen_by);
            row
        };
        let mut forced = vm("firecracker", "kvm", AccelSource::Scenario);
        forced.ok = false;
        let rows = [
            vm("hermit", "tcg", AccelSource::Probe),
            forced,
            vm("appliance", "tcg", AccelSource::Probe),
            sample_row("container", 1),
        ];
        let notes = accelerator_notes(&summarize(&rows));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].starts_with(
                "hermit, appliance: VMs under TCG (software emulation), chosen by the \
                 accelerator probe, KVM being slower or missing here"
            ),
            "{}",
            notes[0]
        );
        assert_eq!(
            notes[1],
            "firecracker: VMs under KVM, as the scenario sets it"
        );
    }

    #[test]
    fn failures_are_listed_with_counts() {
        let mut bad = sample_row("vm", 2);
        bad.ok = false;
        bad.error = "probe: no HTTP 200".into();
        let notes_of = |rows: &[ResultRow]| notes(&summarize(rows));
        let untyped = notes_of(&[sample_row("vm", 1), bad.clone()]);
        assert_eq!(untyped[0], "vm: 1 of 2 runs failed: probe: no HTTP 200");
        assert_eq!(untyped[1], CELL_LEGEND);
        bad.failure = Some(Failure::Timeout);
        let mut again = bad.clone();
        again.error = "probe: no HTTP 200; console log: logs/vm-run3.console.log".into();
        let typed = notes_of(&[sample_row("vm", 1), bad, again]);
        assert_eq!(
            typed[0],
            "vm: 2 of 3 runs failed: timeout (the first: probe: no HTTP 200)"
        );
        assert_eq!(typed[1], CELL_LEGEND, "one note for one kind");
    }
}

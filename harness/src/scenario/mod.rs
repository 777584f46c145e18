//! The scenario model: one workload, the wraps to compare, and how to run them, read from
//! TOML. Every check that can fail without launching anything happens here, so a broken or
//! inconsistent file is rejected with its path, line and the problem before any instance
//! starts.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

mod validate;

/// The scenario run when `shrinkwrap run` is given none: `hello-rust` in every wrap.
pub const DEFAULT_SCENARIO: &str = "scenarios/hello-rust.toml";

/// Measured runs per wrap when the scenario and the command line say nothing.
pub const DEFAULT_RUNS: u32 = 10;
/// Unmeasured warm-up launches per wrap before the measured runs.
pub const DEFAULT_WARMUP: u32 = 1;
/// Most measured runs or warm-ups per wrap a scenario or the command line may ask for.
pub const MAX_RUNS: u32 = 100_000;
/// Longest timeout a scenario may set, in seconds.
pub(crate) const MAX_TIMEOUT_S: f64 = 86_400.0;

/// A scenario file that could not be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {cause}")]
    Read {
        /// The scenario file.
        path: PathBuf,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// The file is not valid TOML for a scenario, or a value is inconsistent.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The scenario file.
        path: PathBuf,
        /// 1-based line of the offending item.
        line: usize,
        /// What is wrong and, where it helps, how to fix it.
        message: String,
    },
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short name, used in result folders and rows.
    pub name: String,
    /// One sentence on what the scenario compares.
    pub description: String,
    /// The workload every wrap runs (e.g. `hello-rust`).
    pub workload: String,
    /// Measured runs per wrap.
    pub runs: u32,
    /// Warm-up launches per wrap, not recorded.
    pub warmup: u32,
    /// How the first HTTP response is requested and checked.
    pub probe: ProbeSpec,
    /// The table `run` prints.
    pub table: TableLayout,
    /// The wraps to compare, in the file's order; the first is the baseline of relative
    /// differences in reports.
    pub wraps: Vec<WrapSpec>,
    /// The file the scenario came from.
    pub path: PathBuf,
}

/// The layout of the table a run prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TableLayout {
    /// Every figure, median with min–max, against the first wrap.
    #[default]
    Summary,
    /// The talk's columns (size, start, memory, security, APM) and its published numbers.
    Talk,
}

/// What the probe asks for and what counts as an answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// Request path of the probe's GET.
    #[serde(default = "default_probe_path")]
    pub path: String,
    /// Body the workload must return, checked once per run after the first response
    /// (outside the timed span).
    pub expect_body: Option<String>,
}

impl Default for ProbeSpec {
    fn default() -> Self {
        Self {
            path: default_probe_path(),
            expect_body: None,
        }
    }
}

fn default_probe_path() -> String {
    "/".to_string()
}

/// One shrink-wrap of the workload.
#[derive(Debug, Clone)]
pub struct WrapSpec {
    /// Short unique name (a CSV value and a CLI filter).
    pub name: String,
    /// Human label for tables, e.g. "Container (FROM scratch)".
    pub label: String,
    /// Where the image comes from: a recipe in this repository, or files the user supplies.
    pub image: Option<ImageSpec>,
    /// Probe and stop timing for this wrap.
    pub timeouts: Timeouts,
    /// Probe attempts in flight at most (see `probe`): 1 for containers, several for VMs.
    pub probe_connections: u32,
    /// Pause after a failed probe attempt: 0.1 ms for containers, 1 ms for VMs.
    pub probe_pause: std::time::Duration,
    /// The kind of wrap and how it is launched.
    pub launch: Launch,
}

impl WrapSpec {
    /// The kind of wrap, as written in scenario files and result rows.
    pub fn kind(&self) -> &'static str {
        match self.launch {
            Launch::Container(_) => "container",
            Launch::Qemu(_) => "qemu",
            Launch::Process(_) => "process",
        }
    }
}

/// How long the probe waits.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Longest wait for the first `200`, from launch.
    pub ready: std::time::Duration,
    /// Longest wait for one probe attempt (connect, send, read the status line).
    pub attempt: std::time::Duration,
    /// Longest wait for the instance to stop after the stop request.
    pub stop: std::time::Duration,
}

/// How a wrap is launched.
#[derive(Debug, Clone)]
pub enum Launch {
    /// A Docker container.
    Container(ContainerSpec),
    /// A virtual machine under QEMU.
    Qemu(Box<QemuSpec>),
    /// A process on the host: the bare workload, or any launcher given as a command.
    Process(ProcessSpec),
}

/// An image made by a recipe under `scripts/images/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// Recipe name: the executable `scripts/images/<recipe>`.
    pub recipe: String,
    /// Extra arguments passed to the recipe after its output folder.
    #[serde(default)]
    pub args: Vec<String>,
    /// Files and folders (relative to the repository) the image depends on: the recipe is
    /// re-run only when one of them, or the recipe itself, changes.
    #[serde(default)]
    pub inputs: Vec<PathBuf>,
}

/// How a container is launched.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// A local image to run instead of a recipe's (never pulled).
    pub image: Option<String>,
    /// The command run in the container. `{port}` is replaced by the port chosen for the run.
    pub command: Vec<String>,
    /// The port the workload listens on when its command cannot be told one.
    pub port: Option<u16>,
    /// Run docker-init as PID 1 so the workload gets SIGTERM on stop.
    #[serde(default = "default_true")]
    pub init: bool,
    /// Environment of the workload.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The OCI runtime the engine runs it under, by the name dockerd registered it with
    /// (`runc`, `runsc` for gVisor, `crun`, ...).
    #[serde(default = "default_oci_runtime")]
    pub runtime: String,
}

fn default_oci_runtime() -> String {
    crate::wrap::oci_runtime::DEFAULT_RUNTIME.to_string()
}

/// How a host process is launched: an argument vector, never through a shell.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// The program and its arguments; `{port}` is replaced by the port chosen for the run.
    /// A program path with a `/` starts at the recipe's output (or the scenario's folder),
    /// a bare name is looked up on `PATH`.
    pub command: Vec<String>,
    /// The port the workload listens on when its command cannot be told one.
    pub port: Option<u16>,
    /// Further files that make up the image beside the program (a kernel, a root
    /// filesystem a launcher boots), for the image figures; same path rules as the program.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// The program is a runtime the host provides, as dockerd or QEMU are (wasmtime running
    /// a component): the image is `files` alone, and rows name the runtime by its
    /// `--version`.
    #[serde(default)]
    pub runtime: bool,
    /// Environment added to the harness's own.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A line fragment the process prints (stdout or stderr) once it listens.
    pub ready_line: Option<String>,
    /// Output line fragments meaning the process failed: the launch ends at once.
    #[serde(default)]
    pub fatal_lines: Vec<String>,
}

fn default_true() -> bool {
    true
}

/// Which accelerator QEMU uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AccelChoice {
    /// Decided per host by a measured probe.
    #[default]
    Auto,
    /// Hardware virtualization.
    Kvm,
    /// Software emulation.
    Tcg,
}

/// How a QEMU virtual machine is launched.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuSpec {
    /// The QEMU binary.
    #[serde(default = "default_qemu_binary")]
    pub binary: String,
    /// `-machine` value, options included (e.g. `q35`, `microvm,acpi=off`).
    #[serde(default = "default_machine")]
    pub machine: String,
    /// `-cpu` model.
    #[serde(default = "default_cpu")]
    pub cpu: String,
    /// Guest RAM in MiB.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    /// Virtual CPUs.
    #[serde(default = "default_vcpus")]
    pub vcpus: u32,
    /// Accelerator: `auto`, `kvm` or `tcg`.
    #[serde(default)]
    pub accel: AccelChoice,
    /// `-kernel` file.
    pub kernel: Option<PathBuf>,
    /// `-initrd` file (for Multiboot loaders: the application module).
    pub initrd: Option<PathBuf>,
    /// `-append` kernel command line.
    pub append: Option<String>,
    /// The image's file list in gen_init_cpio format (e.g. an appliance's initramfs list),
    /// for the attack-surface facts; without it the boot files are what is counted.
    pub contents: Option<PathBuf>,
    /// Disk images attached as virtio block devices.
    #[serde(default)]
    pub disks: Vec<PathBuf>,
    /// NIC device model.
    #[serde(default = "default_nic")]
    pub nic: String,
    /// Extra `-device` options of the NIC (e.g. `disable-legacy=on`).
    pub nic_options: Option<String>,
    /// The port the guest listens on; a free host port is forwarded to it.
    pub guest_port: u16,
    /// A line fragment the guest prints on its serial console once it listens; when seen,
    /// its time is recorded beside the probe's as a cross-check.
    pub ready_line: Option<String>,
    /// Console line fragments meaning the guest failed: the launch ends at once.
    #[serde(default = "default_fatal_lines")]
    pub fatal_lines: Vec<String>,
    /// Console lines that mark where the boot has got to (the kernel starting its init,
    /// systemd starting), timed and recorded as the run's console phases.
    #[serde(default)]
    pub phase_lines: Vec<PhaseLine>,
    /// More QEMU arguments, appended as given.
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Measure every cold start as a restore of a VM state saved once after the first
    /// response (made while preparing, cached by everything that shapes it) instead of a
    /// boot.
    #[serde(default)]
    pub restore: bool,
    /// Where a restored guest's RAM comes from.
    #[serde(default)]
    pub restore_ram: RestoreRam,
}

/// A console line that marks a phase of the boot: `name` is recorded when `line` first
/// appears in a console line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseLine {
    /// The phase's name in the results (letters, digits, `-` and `_`).
    pub name: String,
    /// A fragment of the console line.
    pub line: String,
}

/// Where a restored VM's guest RAM comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestoreRam {
    /// Saved to a file of its own that each restore maps privately: pages are read on
    /// demand, only the device state streams in (as Firecracker's snapshots do).
    #[default]
    Mapped,
    /// Saved inside the state stream and copied in whole at each restore.
    Copied,
}

fn default_qemu_binary() -> String {
    "qemu-system-x86_64".to_string()
}
fn default_machine() -> String {
    "q35".to_string()
}
fn default_cpu() -> String {
    "max".to_string()
}
fn default_memory_mb() -> u32 {
    256
}
fn default_vcpus() -> u32 {
    1
}
fn default_fatal_lines() -> Vec<String> {
    vec!["Kernel panic".to_string()]
}
fn default_nic() -> String {
    "virtio-net-pci".to_string()
}

// ---- the file as written --------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    workload: String,
    runs: Option<Spanned<u32>>,
    warmup: Option<Spanned<u32>>,
    #[serde(default)]
    probe: ProbeSpec,
    #[serde(default)]
    table: TableLayout,
    #[serde(default)]
    wrap: Vec<Spanned<validate::WrapFile>>,
}

/// Collects the first problem with its byte span.
pub(crate) struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    pub(crate) fn error(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            path: self.path.to_path_buf(),
            line: line_of(self.text, span.start),
            message: message.into(),
        }
    }
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ScenarioError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Scenario::parse(&text, path)
    }

    /// Validates scenario text; `path` names it in errors and anchors relative paths of
    /// bring-your-own images.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let check = Checker { path, text };
        let file: ScenarioFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            check.error(span, e.message().trim().replace('\n', " "))
        })?;

        let name_span = file.name.span();
        let name = file.name.into_inner();
        if !is_identifier(&name) {
            return Err(check.error(
                name_span,
                format!(
                    "name '{name}' must be letters, digits, '-' or '_' (it names result folders)"
                ),
            ));
        }
        let runs = match file.runs {
            Some(runs) if *runs.get_ref() == 0 => {
                return Err(check.error(runs.span(), "runs must be at least 1"));
            }
            Some(runs) if *runs.get_ref() > MAX_RUNS => {
                return Err(check.error(runs.span(), format!("runs must be at most {MAX_RUNS}")));
            }
            Some(runs) => runs.into_inner(),
            None => DEFAULT_RUNS,
        };
        let warmup = match file.warmup {
            Some(warmup) if *warmup.get_ref() > MAX_RUNS => {
                return Err(
                    check.error(warmup.span(), format!("warmup must be at most {MAX_RUNS}"))
                );
            }
            Some(warmup) => warmup.into_inner(),
            None => DEFAULT_WARMUP,
        };
        if file.wrap.is_empty() {
            return Err(check.error(
                name_span,
                "the scenario has no [[wrap]] tables: add at least one wrap to measure",
            ));
        }

        let mut wraps: Vec<WrapSpec> = Vec::with_capacity(file.wrap.len());
        for wrap in file.wrap {
            let wrap_span = wrap.span();
            let wrap = wrap.into_inner();
            let spec = validate::wrap(&check, wrap_span.clone(), wrap)?;
            if wraps.iter().any(|w| w.name == spec.name) {
                return Err(check.error(
                    wrap_span,
                    format!(
                        "two wraps are named '{}': wrap names must be unique",
                        spec.name
                    ),
                ));
            }
            wraps.push(spec);
        }

        Ok(Scenario {
            name,
            description: file.description,
            workload: file.workload,
            runs,
            warmup,
            probe: file.probe,
            table: file.table,
            wraps,
            path: path.to_path_buf(),
        })
    }

    /// The folder that relative paths of bring-your-own images are resolved against.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Keeps only the named wraps, in the scenario's order.
    pub fn select_wraps(&mut self, names: &[String]) -> Result<(), String> {
        if let Some(unknown) = names
            .iter()
            .find(|n| !self.wraps.iter().any(|w| &w.name == *n))
        {
            let known: Vec<&str> = self.wraps.iter().map(|w| w.name.as_str()).collect();
            return Err(format!(
                "scenario '{}' has no wrap '{unknown}' (it has: {})",
                self.name,
                known.join(", ")
            ));
        }
        if !names.is_empty() {
            self.wraps.retain(|w| names.contains(&w.name));
        }
        Ok(())
    }
}

pub(crate) fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "demo"
workload = "hello-rust"
runs = 3

[[wrap]]
name = "container"
kind = "container"
image = { recipe = "hello-rust-static", inputs = ["scenarios/workloads/hello-rust"] }
container = { command = ["/hello-rust", "--port", "{port}"] }

[[wrap]]
name = "vm"
kind = "qemu"
qemu = { kernel = "k.bin", guest_port = 8080, accel = "tcg" }
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("scenarios/demo.toml"))
    }

    fn error_of(text: &str) -> (usize, String) {
        match parse(text) {
            Err(ScenarioError::Invalid { line, message, .. }) => (line, message),
            other => panic!("expected an invalid scenario, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_good_scenario_with_defaults() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.name, "demo");
        assert_eq!(s.runs, 3);
        assert_eq!(s.warmup, DEFAULT_WARMUP);
        assert_eq!(s.probe.path, "/");
        assert_eq!(s.wraps.len(), 2);
        assert_eq!(s.wraps[0].kind(), "container");
        assert_eq!(s.wraps[0].label, "container");
        let Launch::Container(c) = &s.wraps[0].launch else {
            panic!("first wrap should be a container")
        };
        assert!(c.init);
        assert_eq!(s.wraps[0].timeouts.attempt.as_millis(), 20);
        let Launch::Qemu(q) = &s.wraps[1].launch else {
            panic!("second wrap should be qemu")
        };
        assert_eq!(q.accel, AccelChoice::Tcg);
        assert_eq!(q.memory_mb, 256);
        assert_eq!(q.machine, "q35");
        assert_eq!(s.wraps[1].timeouts.ready.as_secs(), 120);
        assert_eq!(s.wraps[1].timeouts.attempt.as_millis(), 1500);
        assert_eq!(
            (s.wraps[0].probe_connections, s.wraps[1].probe_connections),
            (1, 8)
        );
        assert_eq!(s.wraps[1].probe_pause.as_millis(), 1);
        assert_eq!(s.base_dir(), Path::new("scenarios"));
    }

    #[test]
    fn phase_lines_are_named_once_each_by_one_word() {
        let with = |phases: &str| {
            GOOD.replace(
                "accel = \"tcg\" }",
                &format!("accel = \"tcg\", phase_lines = [{phases}] }}"),
            )
        };
        let good = with(r#"{ name = "init", line = "Run /init" }"#);
        let Launch::Qemu(q) = &parse(&good).unwrap().wraps[1].launch else {
            panic!("second wrap should be qemu")
        };
        assert_eq!(q.phase_lines[0].name, "init");
        for bad in [
            r#"{ name = "init=1", line = "Run /init" }"#,
            r#"{ name = "a", line = "x" }, { name = "a", line = "y" }"#,
            r#"{ name = "a", line = "" }"#,
        ] {
            let (line, message) = error_of(&with(bad));
            assert_eq!(line, 15, "{bad}");
            assert!(message.contains("qemu.phase_lines"), "{message}");
        }
    }

    #[test]
    fn unknown_field_names_its_line() {
        let text = GOOD.replace("runs = 3", "runs = 3\nrunz = 4");
        let (line, message) = error_of(&text);
        assert_eq!(line, 5);
        assert!(message.contains("runz"), "{message}");
    }

    #[test]
    fn syntax_error_names_its_line() {
        let text = GOOD.replace("runs = 3", "runs = ");
        let (line, _) = error_of(&text);
        assert_eq!(line, 4);
    }

    #[test]
    fn wrong_type_names_its_line() {
        let text = GOOD.replace("runs = 3", "runs = \"three\"");
        let (line, message) = error_of(&text);
        assert_eq!(line, 4);
        assert!(message.contains("expected u32"), "{message}");
    }

    #[test]
    fn zero_runs_is_rejected() {
        let (line, message) = error_of(&GOOD.replace("runs = 3", "runs = 0"));
        assert_eq!(line, 4);
        assert!(message.contains("at least 1"), "{message}");
    }

    #[test]
    fn unknown_kind_is_rejected_at_the_kind() {
        let (line, message) = error_of(&GOOD.replace("kind = \"qemu\"", "kind = \"firecracker\""));
        assert_eq!(line, 14);
        assert!(message.contains("unknown kind 'firecracker'"), "{message}");
    }

    #[test]
    fn kind_without_its_table_is_inconsistent() {
        let text = GOOD.replace(
            "qemu = { kernel = \"k.bin\", guest_port = 8080, accel = \"tcg\" }",
            "",
        );
        let (line, message) = error_of(&text);
        assert_eq!(line, 12);
        assert!(message.contains("no [wrap.qemu] table"), "{message}");
    }

    /// A process wrap: its command as written, the host-process defaults.
    const PROCESS: &str = "\n[[wrap]]\nname = \"native\"\nkind = \"process\"\nprocess = { command = [\"bin/server\", \"--port\", \"{port}\"], ready_line = \"listening\" }\n";

    #[test]
    fn parses_a_process_wrap_with_host_process_defaults() {
        let s = parse(&format!("{GOOD}{PROCESS}")).unwrap();
        let native = &s.wraps[2];
        assert_eq!(native.kind(), "process");
        let Launch::Process(p) = &native.launch else {
            panic!("not a process: {:?}", native.launch);
        };
        assert_eq!(p.command, ["bin/server", "--port", "{port}"]);
        assert_eq!(p.ready_line.as_deref(), Some("listening"));
        assert_eq!(native.probe_connections, 1);
        assert_eq!(native.timeouts.ready, std::time::Duration::from_secs(30));
    }

    #[test]
    fn a_process_needs_a_port_and_only_its_own_table() {
        let no_port = PROCESS.replace("\"{port}\"", "\"80\"");
        let (_, message) = error_of(&format!("{GOOD}{no_port}"));
        assert!(
            message.contains("process.command has no {port}"),
            "{message}"
        );
        let mixed = format!("{PROCESS}container = {{ command = [\"x\", \"{{port}}\"] }}\n");
        let (_, message) = error_of(&format!("{GOOD}{mixed}"));
        assert!(
            message.contains("but also a [wrap.container] table"),
            "{message}"
        );
        let empty = PROCESS.replace("[\"bin/server\", \"--port\", \"{port}\"]", "[]");
        let (_, message) = error_of(&format!("{GOOD}{empty}"));
        assert!(message.contains("process.command is empty"), "{message}");
    }

    #[test]
    fn container_without_port_placeholder_is_rejected() {
        let (_, message) = error_of(&GOOD.replace("\"--port\", \"{port}\"", "\"--port\", \"80\""));
        assert!(message.contains("{port}"), "{message}");
    }

    #[test]
    fn container_needs_exactly_one_image_source() {
        let text = GOOD.replace(
            "container = { command",
            "container = { image = \"local:tag\", command",
        );
        let (_, message) = error_of(&text);
        assert!(message.contains("keep one"), "{message}");
    }

    #[test]
    fn duplicate_wrap_names_are_rejected() {
        let (line, message) = error_of(&GOOD.replace("name = \"vm\"", "name = \"container\""));
        assert_eq!(line, 12);
        assert!(message.contains("unique"), "{message}");
    }

    #[test]
    fn qemu_needs_something_to_boot() {
        let (_, message) = error_of(&GOOD.replace("kernel = \"k.bin\", ", ""));
        assert!(message.contains("qemu.kernel"), "{message}");
    }

    #[test]
    fn unknown_accelerator_is_rejected() {
        let (line, message) = error_of(&GOOD.replace("accel = \"tcg\"", "accel = \"hvf\""));
        assert_eq!(line, 15);
        assert!(message.contains("hvf"), "{message}");
    }

    #[test]
    fn absurd_timeouts_and_run_counts_are_rejected() {
        let text = GOOD.replace("kind = \"qemu\"", "kind = \"qemu\"\nstop_timeout_s = 1e300");
        assert!(error_of(&text).1.contains("stop_timeout_s"));
        assert!(
            error_of(&GOOD.replace("runs = 3", "runs = 4000000000"))
                .1
                .contains("at most")
        );
        assert!(
            error_of(&GOOD.replace("runs = 3", "runs = 3\nwarmup = 4000000000"))
                .1
                .contains("at most")
        );
    }

    #[test]
    fn negative_timeout_is_rejected() {
        let text = GOOD.replace("kind = \"qemu\"", "kind = \"qemu\"\nready_timeout_s = -1");
        let (line, message) = error_of(&text);
        assert_eq!(line, 15);
        assert!(message.contains("ready_timeout_s"), "{message}");
    }

    #[test]
    fn a_scenario_needs_wraps() {
        let (line, message) = error_of("name = \"x\"\nworkload = \"w\"\n");
        assert_eq!(line, 1);
        assert!(message.contains("no [[wrap]]"), "{message}");
    }

    #[test]
    fn error_display_is_one_line_with_file_and_line() {
        let err = parse(&GOOD.replace("runs = 3", "runs = 0")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "scenarios/demo.toml:4: runs must be at least 1"
        );
    }

    #[test]
    fn selecting_an_unknown_wrap_names_the_known_ones() {
        let mut s = parse(GOOD).unwrap();
        let err = s.select_wraps(&["nope".to_string()]).unwrap_err();
        assert!(err.contains("container, vm"), "{err}");
        s.select_wraps(&["vm".to_string()]).unwrap();
        assert_eq!(s.wraps.len(), 1);
    }
}

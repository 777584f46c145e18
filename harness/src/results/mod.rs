//! Result rows and the `results.csv` file: one flat row per measured run per wrap, written
//! and flushed as soon as the run ends, so an interrupted run keeps what it measured.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod density;
pub mod load;

/// File name of the results inside a run's output folder.
pub const RESULTS_FILE: &str = "results.csv";

/// A results file that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// Opening or creating the file failed.
    #[error("cannot create {path}: {cause}{hint}", hint = if cause.kind() == std::io::ErrorKind::AlreadyExists { " (results are never overwritten or mixed: choose another --out)" } else { "" })]
    Open {
        /// The results file.
        path: PathBuf,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// A row could not be written or parsed.
    #[error("{path}: {cause}")]
    Csv {
        /// The results file.
        path: PathBuf,
        /// What the CSV layer said.
        cause: csv::Error,
    },
}

/// Why a run failed, as a kind that tables can group by; the words are in `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// No `HTTP 200` within the ready timeout, or no response to the body check after it.
    Timeout,
    /// Answers came, but never with status 200, within the ready timeout.
    BadStatus,
    /// The instance ended on its own before its first `200`.
    ExitedEarly,
    /// The guest or process printed one of its fatal lines (a panic, an allocation failure).
    GuestFatal,
    /// The `200` came with another body than the scenario expects.
    BodyMismatch,
    /// The instance outlived its stop timeout and was killed.
    StopKilled,
    /// The stop request itself failed (no QMP, the engine refused).
    StopFailed,
    /// The user interrupted the run.
    Interrupted,
    /// The harness's own machinery failed: no free port, the engine or QEMU refused to
    /// create or start it, an instance could not be removed.
    Infrastructure,
}

impl Failure {
    /// The kind as written in `results.csv`, e.g. `exited-early`.
    pub fn name(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::BadStatus => "bad-status",
            Failure::ExitedEarly => "exited-early",
            Failure::GuestFatal => "guest-fatal",
            Failure::BodyMismatch => "body-mismatch",
            Failure::StopKilled => "stop-killed",
            Failure::StopFailed => "stop-failed",
            Failure::Interrupted => "interrupted",
            Failure::Infrastructure => "infrastructure",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a VM's accelerator was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccelSource {
    /// By the measured accelerator probe (`accel = "auto"`): its evidence is in accel.json.
    Probe,
    /// As the scenario sets it (`accel = "kvm"` or `"tcg"`).
    Scenario,
}

/// One measured run of one wrap. Figures that could not be measured are `None` (an empty
/// cell) and the reason is in `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// When the run started, RFC 3339 UTC.
    pub timestamp: String,
    /// Host name of the machine that measured.
    pub host: String,
    /// Host kernel release.
    pub host_kernel: String,
    /// Host CPU model and logical CPU count.
    pub host_cpu: String,
    /// shrinkwrap's version.
    pub harness_version: String,
    /// Scenario name.
    pub scenario: String,
    /// Workload name.
    pub workload: String,
    /// Wrap name.
    pub wrap: String,
    /// Wrap label for tables.
    pub label: String,
    /// `container` or `qemu`.
    pub kind: String,
    /// Runtime that launched it, with version (e.g. `dockerd 20.10.24 (API 1.41)`).
    pub runtime_version: String,
    /// Accelerator: `kvm` or `tcg` for VMs, `native` for containers.
    pub accel: String,
    /// How a VM's accelerator was chosen; empty for wraps without a choice (containers,
    /// processes) and in files from before the column.
    #[serde(default)]
    pub accel_chosen_by: Option<AccelSource>,
    /// The saved VM state the run restored instead of booting (its key), for VMs that
    /// restore; empty otherwise.
    #[serde(default)]
    pub restored_from: Option<String>,
    /// 1-based index of the measured run (warm-ups are not recorded).
    pub run: u32,
    /// Whether the instance served its first response and was stopped.
    pub ok: bool,
    /// Why the run failed or which figures are missing; empty when everything was measured.
    pub error: String,
    /// The kind of failure of a run that is not `ok` (empty in files from before the column).
    #[serde(default)]
    pub failure: Option<Failure>,
    /// Image size on disk, apparent bytes (see README for the exact definition per kind).
    pub image_bytes: Option<u64>,
    /// The image compressed as one stream with `crate::image::size::COMPRESSION`, bytes.
    #[serde(default)]
    pub image_compressed_bytes: Option<u64>,
    /// Launch request to first complete `HTTP/1.x 200` status line, milliseconds.
    pub ttfr_ms: Option<f64>,
    /// PSS of every host process that exists because the instance exists, right after the
    /// first response, bytes (containers: workload, docker-init and the containerd shim;
    /// VMs: the QEMU process).
    #[serde(default)]
    pub host_memory_bytes: Option<u64>,
    /// The anonymous part of `host_memory_bytes` (`Pss_Anon`): pages no other process can
    /// share, so other processes on the host cannot move it, bytes.
    #[serde(default)]
    pub host_memory_anon_bytes: Option<u64>,
    /// Its file-backed part (`Pss_File`): divided with every process mapping the same
    /// programs, libraries or files, bytes.
    #[serde(default)]
    pub host_memory_file_bytes: Option<u64>,
    /// Its shared-memory part (`Pss_Shmem`), bytes.
    #[serde(default)]
    pub host_memory_shmem_bytes: Option<u64>,
    /// Resident set size of every process of the instance after the first response, bytes.
    pub rss_bytes: Option<u64>,
    /// Proportional set size of the same processes, bytes.
    pub pss_bytes: Option<u64>,
    /// Container cgroup memory usage minus inactive file pages, bytes.
    pub cgroup_bytes: Option<u64>,
    /// RSS of a VM's guest RAM mapping (the guest memory touched), bytes.
    #[serde(default)]
    pub guest_ram_bytes: Option<u64>,
    /// VMM overhead: RSS of every QEMU mapping that is not guest RAM, bytes.
    pub vmm_overhead_bytes: Option<u64>,
    /// Stop request until the instance has exited, milliseconds.
    pub stop_ms: Option<f64>,
    /// Phase: the runtime's create call returned (container), ms after launch.
    pub created_ms: Option<f64>,
    /// Phase: start call returned (container) or process spawned (QEMU), ms after launch.
    pub started_ms: Option<f64>,
    /// Phase: QMP handshake done, ms after launch.
    pub qmp_ready_ms: Option<f64>,
    /// Phase: first byte on the serial console, ms after launch.
    pub first_output_ms: Option<f64>,
    /// Phase: the guest's own "listening" line on the console, ms after launch.
    pub ready_line_ms: Option<f64>,
    /// Phases the wrap's phase lines marked on the console, as `name=ms` pairs in the order
    /// seen, `;`-separated (empty: none), ms after launch.
    #[serde(default)]
    pub console_phases: String,
    /// `ttfr_ms - ready_line_ms`: how long after the guest said it listens the probe saw
    /// its first `200`.
    #[serde(default)]
    pub probe_lag_ms: Option<f64>,
    /// The instance's own answer time, the part of `ttfr_ms` no probe can shorten: from the
    /// later of the winning attempt's connect and the guest's ready line (as the probe heard
    /// of it) to the status line, milliseconds.
    #[serde(default)]
    pub probe_answer_ms: Option<f64>,
    /// Guest RAM given to a VM, MiB.
    pub guest_memory_mb: Option<u32>,
    /// Probe attempts until the first `200`.
    pub probe_attempts: Option<u32>,
    /// Smallest guest RAM (MiB) with which the VM still served its first response, when
    /// `run --min-memory` searched for it.
    pub min_guest_memory_mb: Option<u32>,
    /// Regular files in the image.
    pub image_files: Option<u64>,
    /// Files with an execute bit.
    pub image_executables: Option<u64>,
    /// Files with the setuid or setgid bit.
    pub image_setuid: Option<u64>,
    /// Shells found in the image, `;`-separated (empty: none).
    pub image_shells: String,
    /// The kernel that comes with the image.
    pub image_kernel: String,
    /// The host interfaces a WebAssembly component imports, `;`-separated (empty: none, or
    /// not a component).
    #[serde(default)]
    pub image_imports: String,
}

/// The `console_phases` cell of phases timed on the launch clock: `name=ms;...`.
pub fn console_phases_cell(phases: &[(String, std::time::Duration)]) -> String {
    phases
        .iter()
        .map(|(name, at)| format!("{name}={:.1}", at.as_secs_f64() * 1000.0))
        .collect::<Vec<_>>()
        .join(";")
}

impl ResultRow {
    /// The console phases of the row, in the order seen; malformed pairs are skipped.
    pub fn console_phases(&self) -> Vec<(&str, f64)> {
        self.console_phases
            .split(';')
            .filter_map(|pair| {
                let (name, ms) = pair.split_once('=')?;
                Some((name, ms.parse().ok()?))
            })
            .collect()
    }
}

/// Writes rows to a new results file, one flushed row at a time.
pub struct ResultsWriter {
    path: PathBuf,
    writer: csv::Writer<File>,
}

impl ResultsWriter {
    /// Creates `path`, which must not exist yet: results of two runs are never mixed, and
    /// rows are never written under another version's header.
    pub fn create(path: &Path) -> Result<ResultsWriter, ResultsError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|cause| ResultsError::Open {
                path: path.to_path_buf(),
                cause,
            })?;
        Ok(ResultsWriter {
            path: path.to_path_buf(),
            writer: csv::Writer::from_writer(file),
        })
    }

    /// Writes one row (a [`ResultRow`], or another file's row) and flushes it to disk.
    pub fn write(&mut self, row: &impl Serialize) -> Result<(), ResultsError> {
        let csv_error = |cause| ResultsError::Csv {
            path: self.path.clone(),
            cause,
        };
        self.writer.serialize(row).map_err(csv_error)?;
        self.writer
            .flush()
            .map_err(|e| csv_error(csv::Error::from(e)))
    }
}

/// Reads every row of a results file.
pub fn read_results(path: &Path) -> Result<Vec<ResultRow>, ResultsError> {
    read_rows(path)
}

/// Reads every row of a CSV file of rows of one kind (results, density, load).
pub fn read_rows<Row: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<Row>, ResultsError> {
    let mut reader = csv::Reader::from_path(path).map_err(|cause| ResultsError::Csv {
        path: path.to_path_buf(),
        cause,
    })?;
    reader
        .deserialize()
        .collect::<Result<Vec<Row>, _>>()
        .map_err(|cause| ResultsError::Csv {
            path: path.to_path_buf(),
            cause,
        })
}

/// The results files a path names: the file itself, or every `results.csv` in a folder and
/// below it (sorted), so a folder of several runs or hosts reads as one.
pub fn find_results(path: &Path) -> Result<Vec<PathBuf>, ResultsError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut folders = vec![path.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|cause| ResultsError::Open {
            path: folder.clone(),
            cause,
        })?;
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                folders.push(entry.path());
            } else if entry.file_name() == RESULTS_FILE {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(ResultsError::Open {
            path: path.join(RESULTS_FILE),
            cause: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no results.csv in this folder or below it",
            ),
        });
    }
    Ok(found)
}

/// Every row of every results file `paths` name (see [`find_results`]).
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<ResultRow>, ResultsError> {
    let mut rows = Vec::new();
    for path in paths {
        for file in find_results(path)? {
            rows.extend(read_results(&file)?);
        }
    }
    Ok(rows)
}

/// The rows of each host and scenario, in order of first appearance: no figure is ever
/// summarised across hosts.
pub fn by_host_and_scenario(rows: &[ResultRow]) -> Vec<((String, String), Vec<ResultRow>)> {
    let mut groups: Vec<((String, String), Vec<ResultRow>)> = Vec::new();
    for row in rows {
        let key = (row.host.clone(), row.scenario.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(row.clone()),
            None => groups.push((key, vec![row.clone()])),
        }
    }
    groups
}

/// The distinct values of a column of `rows`, in order of first appearance.
pub fn distinct<'a>(
    rows: impl IntoIterator<Item = &'a ResultRow>,
    get: impl Fn(&ResultRow) -> &str,
) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for row in rows {
        let value = get(row);
        if !seen.iter().any(|s| s == value) {
            seen.push(value.to_string());
        }
    }
    seen
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A complete row for tests.
    pub(crate) fn sample_row(wrap: &str, run: u32) -> ResultRow {
        ResultRow {
            timestamp: "2026-11-26T20:00:00.000Z".into(),
            host: "testhost".into(),
            host_kernel: "6.1.0".into(),
            host_cpu: "Test CPU x2".into(),
            harness_version: "0.1.0".into(),
            scenario: "demo".into(),
            workload: "hello-rust".into(),
            wrap: wrap.into(),
            label: format!("{wrap}, \"quoted\""),
            kind: "container".into(),
            runtime_version: "dockerd 20.10.24 (API 1.41)".into(),
            accel: "native".into(),
            accel_chosen_by: None,
            restored_from: None,
            run,
            ok: true,
            error: String::new(),
            failure: None,
            image_bytes: Some(1_312_528),
            image_compressed_bytes: Some(600_000),
            ttfr_ms: Some(181.25),
            host_memory_bytes: Some(4_500_000),
            host_memory_anon_bytes: Some(3_000_000),
            host_memory_file_bytes: Some(1_500_000),
            host_memory_shmem_bytes: Some(0),
            rss_bytes: Some(3_100_000),
            pss_bytes: Some(1_500_000),
            cgroup_bytes: Some(900_000),
            guest_ram_bytes: None,
            vmm_overhead_bytes: None,
            stop_ms: Some(12.5),
            created_ms: Some(20.0),
            started_ms: Some(170.0),
            qmp_ready_ms: None,
            first_output_ms: None,
            ready_line_ms: None,
            console_phases: String::new(),
            probe_lag_ms: None,
            probe_answer_ms: Some(0.2),
            guest_memory_mb: None,
            probe_attempts: Some(31),
            min_guest_memory_mb: None,
            image_files: Some(1),
            image_executables: Some(1),
            image_setuid: Some(0),
            image_shells: String::new(),
            image_kernel: "shares the host's Linux 6.1.0".into(),
            image_imports: String::new(),
        }
    }

    /// A new results file in a temp folder holding one sample row.
    fn file_with_one_sample_row() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS_FILE);
        ResultsWriter::create(&path)
            .unwrap()
            .write(&sample_row("a", 1))
            .unwrap();
        (dir, path)
    }

    #[test]
    fn rows_round_trip_through_csv_with_empty_cells() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS_FILE);
        let mut failed = sample_row("vm", 2);
        failed.ok = false;
        failed.error = "probe: no HTTP 200 within 30s, line\nbreak".into();
        failed.ttfr_ms = None;
        failed.rss_bytes = None;
        let rows = vec![sample_row("container", 1), failed];
        let mut writer = ResultsWriter::create(&path).unwrap();
        for row in &rows {
            writer.write(row).unwrap();
        }
        drop(writer);
        assert_eq!(read_results(&path).unwrap(), rows);
    }

    #[test]
    fn an_existing_results_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS_FILE);
        ResultsWriter::create(&path)
            .unwrap()
            .write(&sample_row("a", 1))
            .unwrap();
        let err = ResultsWriter::create(&path).err().unwrap().to_string();
        assert!(err.contains("choose another --out"), "{err}");
        assert_eq!(read_results(&path).unwrap().len(), 1);
    }

    #[test]
    fn header_has_the_promised_columns_in_order() {
        let (_dir, path) = file_with_one_sample_row();
        let text = std::fs::read_to_string(&path).unwrap();
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        let promised = [
            "timestamp",
            "host",
            "scenario",
            "workload",
            "wrap",
            "kind",
            "runtime_version",
            "accel",
            "run",
            "ok",
            "error",
            "image_bytes",
            "ttfr_ms",
            "rss_bytes",
            "pss_bytes",
            "cgroup_bytes",
            "stop_ms",
        ];
        let positions: Vec<usize> = promised
            .iter()
            .map(|c| {
                header
                    .iter()
                    .position(|h| h == c)
                    .unwrap_or_else(|| panic!("missing {c}"))
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{header:?}");
        for figure in crate::figure::ALL {
            assert!(
                header.contains(&figure.column),
                "no column {}",
                figure.column
            );
        }
    }

    #[test]
    fn files_from_before_the_newer_columns_still_read() {
        let (dir, path) = file_with_one_sample_row();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let header = reader.headers().unwrap().clone();
        let newer = [
            "image_compressed_bytes",
            "host_memory_bytes",
            "guest_ram_bytes",
            "probe_lag_ms",
            "probe_answer_ms",
        ];
        let keep: Vec<usize> = (0..header.len())
            .filter(|&i| !newer.contains(&&header[i]))
            .collect();
        let mut old = csv::Writer::from_writer(Vec::new());
        for record in std::iter::once(header).chain(reader.records().map(Result::unwrap)) {
            old.write_record(keep.iter().map(|&i| &record[i])).unwrap();
        }
        let old_path = dir.path().join("old.csv");
        std::fs::write(&old_path, old.into_inner().unwrap()).unwrap();
        let rows = read_results(&old_path).unwrap();
        assert_eq!(rows[0].ttfr_ms, Some(181.25));
        assert_eq!(rows[0].host_memory_bytes, None);
    }
}

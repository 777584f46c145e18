//! `load.csv`: one row per wrap and keep-alive mode of a load run (a closed loop of requests
//! driven at one serving instance), with the host facts every row carries.

use serde::{Deserialize, Serialize};

use super::Failure;

/// File name of the load results inside their folder.
pub const LOAD_FILE: &str = "load.csv";

/// The name of a keep-alive mode, for tables and progress lines.
pub fn mode_name(keep_alive: bool) -> &'static str {
    if keep_alive {
        "keep-alive"
    } else {
        "no keep-alive"
    }
}

/// One wrap under load in one keep-alive mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadRow {
    /// When the load started, RFC 3339 UTC.
    pub timestamp: String,
    /// Host name.
    pub host: String,
    /// Host kernel release.
    pub host_kernel: String,
    /// Host CPU model and logical CPU count.
    pub host_cpu: String,
    /// shrinkwrap's version.
    pub harness_version: String,
    /// Scenario name.
    pub scenario: String,
    /// Wrap name.
    pub wrap: String,
    /// `container`, `qemu` or `process`.
    pub kind: String,
    /// Runtime and version.
    pub runtime_version: String,
    /// Accelerator.
    pub accel: String,
    /// The run of this wrap and mode, from 1.
    pub run: u32,
    /// Whether clients reused their connections.
    pub keep_alive: bool,
    /// Clients, each with one request in flight at most.
    pub connections: u32,
    /// How long clients started requests, s (after an unrecorded warm-up).
    pub duration_s: f64,
    /// Whether the instance served, survived the load and was stopped.
    pub ok: bool,
    /// The kind of the instance's failure.
    pub failure: Option<Failure>,
    /// Why the instance failed, the first failed request's words, what is missing.
    pub error: String,
    /// Requests answered `200` with a whole body.
    pub requests: u64,
    /// Requests that failed (no connection, another status, a timeout).
    pub errors: u64,
    /// Connections the clients opened.
    pub connections_opened: u64,
    /// From the first request's start until the last one ended, s.
    pub elapsed_s: f64,
    /// Answered requests per second.
    pub requests_per_second: f64,
    /// Latency percentiles and the longest, ms (empty when nothing was answered).
    pub p50_ms: Option<f64>,
    /// 90th percentile latency, ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
    /// Longest latency, ms.
    pub max_ms: Option<f64>,
    /// User and system CPU time of the instance's host processes during the load, s.
    pub instance_cpu_s: Option<f64>,
    /// The instance's CPU time per 1,000 answered requests, ms: the runtime's CPU cost.
    pub instance_cpu_ms_per_1000: Option<f64>,
    /// User and system CPU time of the load generator (the harness's process), s.
    pub generator_cpu_s: Option<f64>,
    /// Share of the host's CPU time busy during the load, percent.
    pub host_busy_percent: Option<f64>,
    /// CPU time of the instance's busiest host thread during the load, s.
    pub busiest_instance_thread_s: Option<f64>,
    /// The host's logical CPUs.
    pub host_cpus: u32,
    /// What bounded the throughput, judged from the CPU figures (see the analysis).
    pub limit: String,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A served load of `wrap` in one mode, with plausible figures.
    pub(crate) fn sample_load_row(
        wrap: &str,
        keep_alive: bool,
        requests_per_second: f64,
    ) -> LoadRow {
        LoadRow {
            timestamp: "2026-12-04T20:00:00.000Z".into(),
            host: "h".into(),
            host_kernel: "6".into(),
            host_cpu: "c x2".into(),
            harness_version: "0".into(),
            scenario: "demo".into(),
            wrap: wrap.into(),
            kind: "process".into(),
            runtime_version: "Linux".into(),
            accel: "none".into(),
            run: 1,
            keep_alive,
            connections: 8,
            duration_s: 3.0,
            ok: true,
            failure: None,
            error: String::new(),
            requests: (requests_per_second * 3.0) as u64,
            errors: 0,
            connections_opened: if keep_alive {
                8
            } else {
                (requests_per_second * 3.0) as u64
            },
            elapsed_s: 3.0,
            requests_per_second,
            p50_ms: Some(0.1),
            p90_ms: Some(0.2),
            p99_ms: Some(1.5),
            max_ms: Some(9.0),
            instance_cpu_s: Some(2.4),
            instance_cpu_ms_per_1000: Some(2.4e6 / (requests_per_second * 3.0)),
            generator_cpu_s: Some(2.7),
            host_busy_percent: Some(94.0),
            busiest_instance_thread_s: Some(0.3),
            host_cpus: 2,
            limit: "generator".into(),
        }
    }

    #[test]
    fn rows_round_trip_through_csv() {
        let mut failed = sample_load_row("hermit", false, 4.0);
        failed.ok = false;
        failed.failure = Some(Failure::GuestFatal);
        failed.p50_ms = None;
        let rows = [sample_load_row("native", true, 100_000.0), failed];
        let mut writer = csv::Writer::from_writer(Vec::new());
        for row in &rows {
            writer.serialize(row).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        let read: Vec<LoadRow> = csv::Reader::from_reader(bytes.as_slice())
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(read, rows);
    }
}

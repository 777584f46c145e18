//! Machine-readable summaries of a run beside its `results.csv`: one record per wrap and
//! figure, in the column's own unit (bytes, milliseconds), with the median's confidence
//! interval. One module per format, as hyperfine does.

mod csv;
mod json;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::analysis::WrapSummary;
use crate::analysis::stats::CONFIDENCE;
use crate::results::ResultRow;

/// File names of the summaries inside a run's output folder.
pub const SUMMARY_CSV: &str = "summary.csv";
/// See [`SUMMARY_CSV`].
pub const SUMMARY_JSON: &str = "summary.json";
/// Every run and every summary record, as JSON.
pub const RESULTS_JSON: &str = "results.json";

/// One figure of one wrap, summarised over its ok runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRecord {
    /// Host that measured.
    pub host: String,
    /// Scenario name.
    pub scenario: String,
    /// Wrap name.
    pub wrap: String,
    /// Accelerators seen.
    pub accel: String,
    /// Runs recorded.
    pub runs: usize,
    /// Runs that served and stopped.
    pub ok_runs: usize,
    /// The figure's column in results.csv (its unit is in its name).
    pub column: &'static str,
    /// Samples summarised.
    pub count: usize,
    /// Median.
    pub median: f64,
    /// Low end of the median's confidence interval (empty under 6 samples).
    pub median_ci_low: Option<f64>,
    /// High end of the median's confidence interval (empty under 6 samples).
    pub median_ci_high: Option<f64>,
    /// Confidence of that interval.
    pub confidence: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Samples with a modified Z-score above 3.5 and over 5% off the median.
    pub outliers: usize,
}

/// A summary file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {cause}")]
pub struct ExportError {
    path: PathBuf,
    cause: String,
}

/// The records of every wrap and figure with samples.
pub fn records(host: &str, scenario: &str, summaries: &[WrapSummary]) -> Vec<SummaryRecord> {
    summaries
        .iter()
        .flat_map(|s| {
            s.figures
                .iter()
                .map(move |(figure, summary)| SummaryRecord {
                    host: host.to_string(),
                    scenario: scenario.to_string(),
                    wrap: s.wrap.clone(),
                    accel: s.accel.clone(),
                    runs: s.runs,
                    ok_runs: s.ok_runs,
                    column: figure.column,
                    count: summary.count,
                    median: summary.median,
                    median_ci_low: summary.median_ci.map(|(low, _)| low),
                    median_ci_high: summary.median_ci.map(|(_, high)| high),
                    confidence: CONFIDENCE,
                    p90: summary.p90,
                    min: summary.min,
                    max: summary.max,
                    outliers: summary.outliers,
                })
        })
        .collect()
}

/// Writes `summary.csv` and `summary.json` into `dir`; returns their paths.
pub fn write_summaries(dir: &Path, records: &[SummaryRecord]) -> Result<[PathBuf; 2], ExportError> {
    let written = [
        (dir.join(SUMMARY_CSV), csv::write as Writer),
        (dir.join(SUMMARY_JSON), json::write),
    ];
    for (path, write) in &written {
        write(path, records).map_err(|cause| ExportError {
            path: path.clone(),
            cause,
        })?;
    }
    Ok(written.map(|(path, _)| path))
}

/// Writes `results.json` into `dir`: every run and every summary record; returns its path.
pub fn write_runs(
    dir: &Path,
    rows: &[ResultRow],
    records: &[SummaryRecord],
) -> Result<PathBuf, ExportError> {
    let path = dir.join(RESULTS_JSON);
    json::write_runs(&path, rows, records).map_err(|cause| ExportError {
        path: path.clone(),
        cause,
    })?;
    Ok(path)
}

/// Writes the records to a file in one format; the error in words.
type Writer = fn(&Path, &[SummaryRecord]) -> Result<(), String>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::summarize;
    use crate::results::tests::sample_row;

    #[test]
    fn both_files_hold_the_same_records_with_intervals() {
        let rows: Vec<_> = (1..=10)
            .map(|run| {
                let mut row = sample_row("vm", run);
                row.ttfr_ms = Some(100.0 + f64::from(run));
                row
            })
            .collect();
        let records = records("testhost", "demo", &summarize(&rows));
        let ttfr = records.iter().find(|r| r.column == "ttfr_ms").unwrap();
        // Ten samples 101..=110: the median 105.5, its interval the 2nd and 9th.
        assert_eq!(ttfr.median, 105.5);
        assert_eq!(
            (ttfr.median_ci_low, ttfr.median_ci_high),
            (Some(102.0), Some(109.0))
        );
        let dir = tempfile::tempdir().unwrap();
        let [csv_path, json_path] = write_summaries(dir.path(), &records).unwrap();
        let json: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
        assert_eq!(json.len(), records.len());
        let json_ttfr = json.iter().find(|r| r["column"] == "ttfr_ms").unwrap();
        assert_eq!(json_ttfr["median_ci_high"], 109.0);
        let runs_path = write_runs(dir.path(), &rows, &records).unwrap();
        let export: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(runs_path).unwrap()).unwrap();
        assert_eq!(export["runs"].as_array().unwrap().len(), 10, "every run");
        assert_eq!(export["runs"][9]["ttfr_ms"], 110.0);
        assert_eq!(export["summaries"].as_array().unwrap().len(), records.len());
        let csv_text = std::fs::read_to_string(csv_path).unwrap();
        assert_eq!(csv_text.lines().count(), records.len() + 1);
        assert!(
            csv_text.contains("testhost,demo,vm,native,10,10,ttfr_ms,10,105.5,102.0,109.0,0.95,"),
            "{csv_text}"
        );
    }
}

//! `summary.json`: an array of the records, as hyperfine's `--export-json` keeps its results;
//! `results.json`: every run beside every record, for tools that want the samples.

use std::path::Path;

use serde::Serialize;

use super::SummaryRecord;
use crate::results::ResultRow;

/// Writes the records as pretty-printed JSON.
pub fn write(path: &Path, records: &[SummaryRecord]) -> Result<(), String> {
    write_pretty(path, &records)
}

/// Every run (the rows of `results.csv`) and every summary record.
#[derive(Serialize)]
struct Export<'a> {
    summaries: &'a [SummaryRecord],
    runs: &'a [ResultRow],
}

/// Writes the runs and the records as one pretty-printed JSON object.
pub fn write_runs(
    path: &Path,
    rows: &[ResultRow],
    records: &[SummaryRecord],
) -> Result<(), String> {
    write_pretty(
        path,
        &Export {
            summaries: records,
            runs: rows,
        },
    )
}

fn write_pretty(path: &Path, value: &impl Serialize) -> Result<(), String> {
    let json = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(path, json + "\n").map_err(|e| e.to_string())
}

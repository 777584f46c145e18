//! `summary.json`: an array of the records, as hyperfine's `--export-json` keeps its results.

use std::path::Path;

use super::SummaryRecord;

/// Writes the records as pretty-printed JSON.
pub fn write(path: &Path, records: &[SummaryRecord]) -> Result<(), String> {
    let json = serde_json::to_string_pretty(records).map_err(|e| e.to_string())?;
    std::fs::write(path, json + "\n").map_err(|e| e.to_string())
}

//! `summary.csv`: one line per wrap and figure, a header naming the fields.

use std::path::Path;

use super::SummaryRecord;

/// Writes the records as CSV.
pub fn write(path: &Path, records: &[SummaryRecord]) -> Result<(), String> {
    let mut writer = ::csv::Writer::from_path(path).map_err(|e| e.to_string())?;
    for record in records {
        writer.serialize(record).map_err(|e| e.to_string())?;
    }
    writer.flush().map_err(|e| e.to_string())
}

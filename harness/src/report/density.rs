//! The density table: one line per wrap and level, with the time until all instances
//! answered, their own first responses, and host memory per instance measured two ways.

use super::{Style, new_table};
use crate::analysis::stats::Summary;
use crate::figure::MB;
use crate::results::density::DensityRow;

/// The table of a density run, levels in the order measured.
pub fn density_table(rows: &[DensityRow], style: Style) -> String {
    let (mut table, _) = new_table(style);
    table.set_header([
        "Wrap",
        "Instances",
        "Ok",
        "All ready (s)",
        "Own first response (s): median (min–max)",
        "Host memory / instance (MB): PSS sum / N",
        "MemAvailable drop / instance (MB)",
    ]);
    let mut levels: Vec<(&str, u32)> = Vec::new();
    for row in rows {
        if !levels.contains(&(row.wrap.as_str(), row.instances)) {
            levels.push((&row.wrap, row.instances));
        }
    }
    for (wrap, instances) in levels {
        let level: Vec<&DensityRow> = rows
            .iter()
            .filter(|r| r.wrap == wrap && r.instances == instances)
            .collect();
        let first = level[0];
        let ok = level.iter().filter(|r| r.ok).count();
        let own: Vec<f64> = level.iter().filter_map(|r| r.ttfr_ms).collect();
        let own = Summary::of(&own).map_or("missing".to_string(), |s| {
            format!(
                "{:.3} ({:.3}–{:.3})",
                s.median / 1000.0,
                s.min / 1000.0,
                s.max / 1000.0
            )
        });
        let megabytes = |bytes: Option<u64>| {
            bytes.map_or("missing".to_string(), |b| format!("{:.1}", b as f64 / MB))
        };
        table.add_row([
            wrap.to_string(),
            instances.to_string(),
            format!("{ok}/{}", level.len()),
            first
                .all_ready_ms
                .map_or("missing".to_string(), |ms| format!("{:.3}", ms / 1000.0)),
            own,
            megabytes(first.memory_per_instance_bytes),
            megabytes(first.mem_available_drop_per_instance_bytes),
        ]);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(wrap: &str, instances: u32, instance: u32, ttfr_ms: f64) -> DensityRow {
        DensityRow {
            timestamp: "2026-12-04T00:00:00Z".into(),
            host: "h".into(),
            host_kernel: "6".into(),
            host_cpu: "c".into(),
            harness_version: "0".into(),
            scenario: "s".into(),
            wrap: wrap.into(),
            kind: "qemu".into(),
            runtime_version: "QEMU".into(),
            accel: "tcg".into(),
            instances,
            instance,
            ok: true,
            failure: None,
            error: String::new(),
            ttfr_ms: Some(ttfr_ms),
            all_ready_ms: Some(900.0),
            host_memory_bytes: Some(96_000_000),
            memory_per_instance_bytes: Some(96_000_000),
            mem_available_drop_per_instance_bytes: Some(101_000_000),
        }
    }

    #[test]
    fn one_line_per_wrap_and_level() {
        let rows = [
            row("hermit", 1, 1, 250.0),
            row("hermit", 2, 1, 400.0),
            row("hermit", 2, 2, 600.0),
        ];
        let table = density_table(&rows, Style::Markdown);
        assert_eq!(table.lines().count(), 4, "{table}");
        assert!(table.contains("0.500 (0.400–0.600)"), "{table}");
        assert!(table.contains("| 2/2 "), "{table}");
        assert!(table.contains("96.0") && table.contains("101.0"), "{table}");
    }
}

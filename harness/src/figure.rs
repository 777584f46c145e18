//! Every numeric figure of a result row, declared once: its CSV column, what it measures,
//! how people read it (unit, scale, decimals) and where it is shown (the summary table,
//! the plots, the regression gate). Summaries, tables, plots and `compare` are derived from
//! this list; adding a figure is one entry here plus the code that measures it.

use crate::results::ResultRow;

/// What a figure measures (lower is better for every one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// A size of an image.
    Size,
    /// A duration.
    Time,
    /// Memory in use.
    Memory,
    /// A count of things (attempts, files).
    Count,
}

/// One figure.
#[derive(Debug)]
pub struct Figure {
    /// The CSV column (bytes, milliseconds or a count).
    pub column: &'static str,
    /// What a table or plot calls it.
    pub title: &'static str,
    /// What it measures.
    pub quantity: Quantity,
    /// The unit people read it in.
    pub unit: &'static str,
    /// Factor from the column's unit to `unit`.
    pub scale: f64,
    /// Decimals shown in `unit`.
    pub decimals: usize,
    /// One value per image, repeated in every row (not a per-launch sample).
    pub per_image: bool,
    /// A column of the summary table.
    pub in_table: bool,
    /// A panel of the comparison plot.
    pub in_plot: bool,
    /// Judged by `compare`.
    pub gated: bool,
    /// The value in a row, in the column's unit.
    pub value: fn(&ResultRow) -> Option<f64>,
}

impl Figure {
    /// `value` in the unit people read.
    pub fn scaled(&self, value: f64) -> f64 {
        value * self.scale
    }

    /// `value` in the unit people read, with the figure's decimals.
    pub fn format(&self, value: f64) -> String {
        format!("{:.*}", self.decimals, self.scaled(value))
    }

    /// `Title (unit)`, for headers and axes.
    pub fn heading(&self) -> String {
        format!("{} ({})", self.title, self.unit)
    }
}

/// Bytes in the megabyte the reports use (decimal, as the talk's MB).
pub const MB: f64 = 1_000_000.0;
const BYTES_TO_MB: f64 = 1.0 / MB;
const MS_TO_S: f64 = 1.0 / 1000.0;

fn bytes(value: Option<u64>) -> Option<f64> {
    value.map(|b| b as f64)
}

/// Apparent bytes of the image on disk.
pub const IMAGE: Figure = Figure {
    column: "image_bytes",
    title: "Image size",
    quantity: Quantity::Size,
    unit: "MB",
    scale: BYTES_TO_MB,
    decimals: 2,
    per_image: true,
    in_table: true,
    in_plot: true,
    gated: true,
    value: |r| bytes(r.image_bytes),
};

/// The image compressed as one stream ([`crate::image_size::COMPRESSION`]).
pub const IMAGE_COMPRESSED: Figure = Figure {
    column: "image_compressed_bytes",
    title: "Image compressed",
    quantity: Quantity::Size,
    unit: "MB",
    scale: BYTES_TO_MB,
    decimals: 2,
    per_image: true,
    in_table: true,
    in_plot: true,
    gated: true,
    value: |r| bytes(r.image_compressed_bytes),
};

/// Launch request to the first `HTTP/1.x 200`.
pub const TTFR: Figure = Figure {
    column: "ttfr_ms",
    title: "First response",
    quantity: Quantity::Time,
    unit: "s",
    scale: MS_TO_S,
    decimals: 3,
    per_image: false,
    in_table: true,
    in_plot: true,
    gated: true,
    value: |r| r.ttfr_ms,
};

/// PSS of every host process that exists because the instance exists.
pub const HOST_MEMORY: Figure = Figure {
    column: "host_memory_bytes",
    title: "Host memory",
    quantity: Quantity::Memory,
    unit: "MB",
    scale: BYTES_TO_MB,
    decimals: 1,
    per_image: false,
    in_table: true,
    in_plot: true,
    gated: true,
    value: |r| bytes(r.host_memory_bytes),
};

/// RSS of the instance's own processes (containers: its cgroup; VMs: QEMU).
pub const RSS: Figure = Figure {
    column: "rss_bytes",
    title: "RSS",
    quantity: Quantity::Memory,
    unit: "MB",
    scale: BYTES_TO_MB,
    decimals: 1,
    per_image: false,
    in_table: false,
    in_plot: false,
    gated: true,
    value: |r| bytes(r.rss_bytes),
};

/// PSS of the same processes.
pub const PSS: Figure = Figure {
    column: "pss_bytes",
    title: "PSS",
    quantity: Quantity::Memory,
    unit: "MB",
    scale: BYTES_TO_MB,
    decimals: 1,
    per_image: false,
    in_table: false,
    in_plot: false,
    gated: true,
    value: |r| bytes(r.pss_bytes),
};

/// A container's cgroup usage minus inactive file pages.
pub const CGROUP: Figure = Figure {
    column: "cgroup_bytes",
    title: "cgroup working set",
    quantity: Quantity::Memory,
    unit: "MB",
    scale: BYTES_TO_MB,
    decimals: 1,
    per_image: false,
    in_table: false,
    in_plot: false,
    gated: false,
    value: |r| bytes(r.cgroup_bytes),
};

/// RSS of a VM's guest RAM mapping: the guest memory touched.
pub const GUEST_RAM: Figure = Figure {
    column: "guest_ram_bytes",
    title: "Guest RAM touched",
    quantity: Quantity::Memory,
    unit: "MB",
    scale: BYTES_TO_MB,
    decimals: 1,
    per_image: false,
    in_table: false,
    in_plot: false,
    gated: false,
    value: |r| bytes(r.guest_ram_bytes),
};

/// RSS of a VMM outside the guest RAM.
pub const VMM_OVERHEAD: Figure = Figure {
    column: "vmm_overhead_bytes",
    title: "VMM overhead",
    quantity: Quantity::Memory,
    unit: "MB",
    scale: BYTES_TO_MB,
    decimals: 1,
    per_image: false,
    in_table: false,
    in_plot: false,
    gated: false,
    value: |r| bytes(r.vmm_overhead_bytes),
};

/// Stop request until the instance has exited.
pub const STOP: Figure = Figure {
    column: "stop_ms",
    title: "Stop",
    quantity: Quantity::Time,
    unit: "s",
    scale: MS_TO_S,
    decimals: 3,
    per_image: false,
    in_table: true,
    in_plot: false,
    gated: true,
    value: |r| r.stop_ms,
};

/// First `200` after the guest's own ready line: the probe's lag.
pub const PROBE_LAG: Figure = Figure {
    column: "probe_lag_ms",
    title: "Probe lag",
    quantity: Quantity::Time,
    unit: "ms",
    scale: 1.0,
    decimals: 1,
    per_image: false,
    in_table: false,
    in_plot: false,
    gated: false,
    value: |r| r.probe_lag_ms,
};

/// The instance's own answer time: from the later of the winning attempt's connect and
/// the ready line to the status line.
pub const PROBE_ANSWER: Figure = Figure {
    column: "probe_answer_ms",
    title: "Guest answer",
    quantity: Quantity::Time,
    unit: "ms",
    scale: 1.0,
    decimals: 1,
    per_image: false,
    in_table: false,
    in_plot: false,
    gated: false,
    value: |r| r.probe_answer_ms,
};

/// Every figure, in the order tables and plots show them.
pub const ALL: [&Figure; 12] = [
    &IMAGE,
    &IMAGE_COMPRESSED,
    &TTFR,
    &HOST_MEMORY,
    &STOP,
    &RSS,
    &PSS,
    &CGROUP,
    &GUEST_RAM,
    &VMM_OVERHEAD,
    &PROBE_LAG,
    &PROBE_ANSWER,
];

/// The figure of a CSV column.
pub fn by_column(column: &str) -> Option<&'static Figure> {
    ALL.iter().copied().find(|f| f.column == column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_unique_and_scaling_formats() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(
                ALL[i + 1..].iter().all(|b| b.column != a.column),
                "{}",
                a.column
            );
            assert_eq!(by_column(a.column).unwrap().title, a.title);
        }
        assert_eq!(TTFR.format(433.4), "0.433");
        assert_eq!(IMAGE.format(1_312_528.0), "1.31");
        assert_eq!(HOST_MEMORY.heading(), "Host memory (MB)");
    }
}

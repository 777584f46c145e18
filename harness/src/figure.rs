//! Every numeric figure of a result row, declared once: its CSV column, what it measures,
//! how people read it (unit, scale, decimals) and where it is shown (the summary table,
//! the plots, the regression gate and how it judges it). Summaries, tables, plots and `compare` are derived from
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

/// How `compare` judges a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Not judged.
    None,
    /// One value per image: a tolerance.
    Tolerance,
    /// Per-launch samples: the median, by its limit and a permutation test.
    Median,
    /// The median, and the tail (a minority of slow runs), for cold starts.
    MedianAndTail,
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
    /// A column of the summary table.
    pub in_table: bool,
    /// A panel of the comparison plot.
    pub in_plot: bool,
    /// How `compare` judges it.
    pub gate: Gate,
    /// The value in a row, in the column's unit.
    pub value: fn(&ResultRow) -> Option<f64>,
}

impl Figure {
    /// `value` in the unit people read.
    pub fn scaled(&self, value: f64) -> f64 {
        value * self.scale
    }

    /// `value` in the unit people read, with the figure's decimals, or more where a value
    /// under 1 needs them for two significant digits (a 1.1 ms start reads 0.0011 s, not 0.001).
    pub fn format(&self, value: f64) -> String {
        self.format_with(value, self.decimals_for(value))
    }

    /// `value` in the unit people read, with `decimals`.
    pub fn format_with(&self, value: f64, decimals: usize) -> String {
        format!("{:.*}", decimals, self.scaled(value))
    }

    /// The decimals [`Figure::format`] uses for `value`.
    pub fn decimals_for(&self, value: f64) -> usize {
        let scaled = self.scaled(value).abs();
        if scaled == 0.0 || scaled >= 1.0 || !scaled.is_finite() {
            return self.decimals;
        }
        let leading_zeros = (-scaled.log10()).ceil() as usize;
        self.decimals.max(leading_zeros + 1)
    }

    /// One value per image, repeated in every row (a size), rather than one per launch.
    pub fn per_image(&self) -> bool {
        self.gate == Gate::Tolerance
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

/// A figure in bytes, read in MB with one decimal, shown nowhere until an entry says so.
const fn in_megabytes(
    column: &'static str,
    title: &'static str,
    quantity: Quantity,
    value: fn(&ResultRow) -> Option<f64>,
) -> Figure {
    Figure {
        column,
        title,
        quantity,
        unit: "MB",
        scale: BYTES_TO_MB,
        decimals: 1,
        in_table: false,
        in_plot: false,
        gate: Gate::None,
        value,
    }
}

/// A duration in milliseconds, read in `unit`: `s` with three decimals or `ms` with one;
/// shown nowhere until an entry says so.
const fn duration(
    column: &'static str,
    title: &'static str,
    unit: &'static str,
    value: fn(&ResultRow) -> Option<f64>,
) -> Figure {
    let seconds = unit.len() == 1;
    Figure {
        column,
        title,
        quantity: Quantity::Time,
        unit,
        scale: if seconds { MS_TO_S } else { 1.0 },
        decimals: if seconds { 3 } else { 1 },
        in_table: false,
        in_plot: false,
        gate: Gate::None,
        value,
    }
}

/// Apparent bytes of the image on disk.
pub const IMAGE: Figure = Figure {
    decimals: 2,
    in_table: true,
    in_plot: true,
    gate: Gate::Tolerance,
    ..in_megabytes("image_bytes", "Image size", Quantity::Size, |r| {
        bytes(r.image_bytes)
    })
};

/// The image compressed as one stream ([`crate::image::size::COMPRESSION`]).
pub const IMAGE_COMPRESSED: Figure = Figure {
    decimals: 2,
    in_table: true,
    in_plot: true,
    gate: Gate::Tolerance,
    ..in_megabytes(
        "image_compressed_bytes",
        "Image compressed",
        Quantity::Size,
        |r| bytes(r.image_compressed_bytes),
    )
};

/// Launch request to the first `HTTP/1.x 200`.
pub const TTFR: Figure = Figure {
    in_table: true,
    in_plot: true,
    gate: Gate::MedianAndTail,
    ..duration("ttfr_ms", "First response", "s", |r| r.ttfr_ms)
};

/// PSS of every host process that exists because the instance exists. Not gated: its
/// file-backed part is divided with every unrelated process that maps the same programs and
/// libraries, so another QEMU on the host lowers it; the gate judges the parts below.
pub const HOST_MEMORY: Figure = Figure {
    in_table: true,
    in_plot: true,
    ..in_megabytes("host_memory_bytes", "Host memory", Quantity::Memory, |r| {
        bytes(r.host_memory_bytes)
    })
};

/// The anonymous part of the host memory (`Pss_Anon`): pages of the instance's processes
/// alone, which no other process can divide. What the gate judges of host memory.
pub const HOST_MEMORY_ANON: Figure = Figure {
    gate: Gate::Median,
    ..in_megabytes(
        "host_memory_anon_bytes",
        "Host memory, anonymous",
        Quantity::Memory,
        |r| bytes(r.host_memory_anon_bytes),
    )
};

/// The file-backed part of the host memory (`Pss_File`).
pub const HOST_MEMORY_FILE: Figure = in_megabytes(
    "host_memory_file_bytes",
    "Host memory, file-backed",
    Quantity::Memory,
    |r| bytes(r.host_memory_file_bytes),
);

/// The shared-memory part of the host memory (`Pss_Shmem`).
pub const HOST_MEMORY_SHMEM: Figure = in_megabytes(
    "host_memory_shmem_bytes",
    "Host memory, shared memory",
    Quantity::Memory,
    |r| bytes(r.host_memory_shmem_bytes),
);

/// RSS of the instance's own processes (containers: its cgroup; VMs: QEMU).
pub const RSS: Figure = in_megabytes("rss_bytes", "RSS", Quantity::Memory, |r| bytes(r.rss_bytes));

/// PSS of the same processes.
pub const PSS: Figure = in_megabytes("pss_bytes", "PSS", Quantity::Memory, |r| bytes(r.pss_bytes));

/// A container's cgroup usage minus inactive file pages.
pub const CGROUP: Figure = in_megabytes(
    "cgroup_bytes",
    "cgroup working set",
    Quantity::Memory,
    |r| bytes(r.cgroup_bytes),
);

/// RSS of a VM's guest RAM mapping: the guest memory touched. Gated: resident pages do not
/// depend on who else maps them, and a restored VM's guest RAM is a file mapping, outside
/// the anonymous part.
pub const GUEST_RAM: Figure = Figure {
    gate: Gate::Median,
    ..in_megabytes(
        "guest_ram_bytes",
        "Guest RAM touched",
        Quantity::Memory,
        |r| bytes(r.guest_ram_bytes),
    )
};

/// RSS of a VMM outside the guest RAM.
pub const VMM_OVERHEAD: Figure = in_megabytes(
    "vmm_overhead_bytes",
    "VMM overhead",
    Quantity::Memory,
    |r| bytes(r.vmm_overhead_bytes),
);

/// Stop request until the instance has exited.
pub const STOP: Figure = Figure {
    in_table: true,
    gate: Gate::Median,
    ..duration("stop_ms", "Stop", "s", |r| r.stop_ms)
};

/// First `200` after the guest's own ready line: the probe's lag.
pub const PROBE_LAG: Figure = duration("probe_lag_ms", "Probe lag", "ms", |r| r.probe_lag_ms);

/// The instance's own answer time: from the later of the winning attempt's connect and
/// the ready line to the status line.
pub const PROBE_ANSWER: Figure = duration("probe_answer_ms", "Guest answer", "ms", |r| {
    r.probe_answer_ms
});

/// Every figure, in the order tables and plots show them.
pub const ALL: [&Figure; 15] = [
    &IMAGE,
    &IMAGE_COMPRESSED,
    &TTFR,
    &HOST_MEMORY,
    &HOST_MEMORY_ANON,
    &HOST_MEMORY_FILE,
    &HOST_MEMORY_SHMEM,
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
        assert_eq!(TTFR.format(68.2), "0.068");
        assert_eq!(TTFR.format(1.13), "0.0011");
        assert_eq!(STOP.format(0.149), "0.00015");
        assert_eq!(TTFR.format(0.0), "0.000");
        assert_eq!(IMAGE.format(1_312_528.0), "1.31");
        assert_eq!(HOST_MEMORY.heading(), "Host memory (MB)");
    }
}

//! The density figures: a line per wrap against the number of instances started together,
//! one figure for the time until all answered and one for host memory per instance.

use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::prelude::*;

use super::style::{self, FONT, LABEL_PX, Scale, TICK_PX};
use super::{PlotError, Provenance, RowFigure, tick};
use crate::figure::MB;
use crate::results::density::DensityRow;

/// One wrap's line: (instances, value) for every level that has the value.
struct Line {
    wrap: String,
    points: Vec<(f64, f64)>,
}

/// A density figure.
type Plotted = RowFigure<DensityRow>;

const FIGURES: [Plotted; 2] = [
    Plotted {
        stem: "density-all-ready",
        title: "Until all instances answered",
        quantity: "All ready",
        unit: "s",
        value: |r| r.all_ready_ms.map(|ms| ms / 1000.0),
    },
    Plotted {
        stem: "density-memory",
        title: "Host memory per instance (PSS sum / N)",
        quantity: "Host memory per instance",
        unit: "MB",
        value: |r| r.memory_per_instance_bytes.map(|b| b as f64 / MB),
    },
];

fn lines(rows: &[DensityRow], value: fn(&DensityRow) -> Option<f64>) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for row in rows.iter().filter(|r| r.instance == 1) {
        let Some(v) = value(row).filter(|v| *v > 0.0) else {
            continue;
        };
        let point = (f64::from(row.instances), v);
        match lines.iter_mut().find(|l| l.wrap == row.wrap) {
            Some(line) => line.points.push(point),
            None => lines.push(Line {
                wrap: row.wrap.clone(),
                points: vec![point],
            }),
        }
    }
    lines
}

/// One density figure: a line per wrap.
struct DensityChart<'a> {
    plotted: &'a Plotted,
    lines: Vec<Line>,
    provenance: &'a Provenance,
}

impl style::Slide for DensityChart<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String> {
        draw(root, self.plotted, &self.lines, self.provenance)
    }
}

/// Draws both density figures of rows of one host and scenario into `dir`.
pub fn render_density(rows: &[DensityRow], dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let provenance = Provenance::of_density(rows).ok_or(PlotError::Empty)?;
    style::prepare_dir(dir)?;
    let mut written = Vec::new();
    for plotted in &FIGURES {
        let lines = lines(rows, plotted.value);
        if lines.is_empty() {
            continue;
        }
        let chart = DensityChart {
            plotted,
            lines,
            provenance: &provenance,
        };
        written.extend(style::render(&chart, dir, plotted.stem)?);
    }
    if written.is_empty() {
        return Err(PlotError::Empty);
    }
    Ok(written)
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    plotted: &Plotted,
    lines: &[Line],
    provenance: &Provenance,
) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let note = format!("{} · N instances started at once", provenance.footnote());
    let chart_area = style::with_footnote(&root, &note)?;
    let points = lines.iter().flat_map(|l| l.points.iter().copied());
    let (mut min, mut max, mut most) = (f64::INFINITY, 0.0f64, 1.0f64);
    for (n, v) in points {
        (min, max, most) = (min.min(v), max.max(v), most.max(n));
    }
    let scale = Scale::for_range(min, max);
    let axis = format!("{} ({})", plotted.quantity, scale.describe(plotted.unit));
    let mut builder = style::chart_on(&chart_area, plotted.title, LABEL_PX * 4);
    let x_range = 0.8f64..most * 1.25;
    match scale {
        Scale::Linear { top } => fill(
            builder
                .build_cartesian_2d(x_range.log_scale(), 0f64..top)
                .map_err(|e| text(&e))?,
            lines,
            &axis,
        ),
        Scale::Log { low, high } => fill(
            builder
                .build_cartesian_2d(x_range.log_scale(), (low..high).log_scale())
                .map_err(|e| text(&e))?,
            lines,
            &axis,
        ),
    }?;
    root.present().map_err(|e| text(&e))
}

fn fill<'a, DB, X, Y>(
    mut chart: ChartContext<'a, DB, Cartesian2d<X, Y>>,
    lines: &[Line],
    axis: &str,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let text = |e: &dyn std::fmt::Display| e.to_string();
    chart
        .configure_mesh()
        .x_label_formatter(&|x| tick(*x))
        .y_label_formatter(&|y| tick(*y))
        .x_desc("Instances started at once (N, log scale)")
        .y_desc(axis)
        .axis_desc_style((FONT, LABEL_PX))
        .label_style((FONT, TICK_PX))
        .draw()
        .map_err(|e| text(&e))?;
    for (i, line) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(std::iter::once(PathElement::new(
                line.points.clone(),
                color.stroke_width(4),
            )))
            .map_err(|e| text(&e))?
            .label(line.wrap.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 30, y)], color.stroke_width(4))
            });
        chart
            .draw_series(
                line.points
                    .iter()
                    .map(|&p| Circle::new(p, 8, color.filled())),
            )
            .map_err(|e| text(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, TICK_PX))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| text(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(wrap: &str, instances: u32, all_ready_ms: f64, memory: u64) -> DensityRow {
        DensityRow {
            timestamp: "2026-12-04T17:00:00Z".into(),
            host: "h".into(),
            host_kernel: "6".into(),
            host_cpu: "c x2".into(),
            harness_version: "0".into(),
            scenario: "demo".into(),
            wrap: wrap.into(),
            kind: "qemu".into(),
            runtime_version: "QEMU".into(),
            accel: "tcg".into(),
            instances,
            instance: 1,
            ok: true,
            failure: None,
            error: String::new(),
            ttfr_ms: Some(all_ready_ms),
            all_ready_ms: Some(all_ready_ms),
            host_memory_bytes: Some(memory),
            memory_per_instance_bytes: Some(memory),
            mem_available_drop_per_instance_bytes: Some(memory),
        }
    }

    #[test]
    fn draws_a_line_per_wrap_against_the_instances() {
        let rows = [
            level("vm", 1, 17_000.0, 610_000_000),
            level("vm", 8, 181_000.0, 620_000_000),
            level("native", 1, 2.0, 1_200_000),
            level("native", 8, 9.0, 200_000),
        ];
        let dir = tempfile::tempdir().unwrap();
        let written = render_density(&rows, dir.path()).unwrap();
        assert_eq!(written.len(), 4, "two figures, SVG and PNG");
        let svg = std::fs::read_to_string(dir.path().join("density-all-ready.svg")).unwrap();
        assert!(
            svg.contains("All ready (s, log scale)"),
            "the log axis is said"
        );
        // Every text element's words, as plotters writes them on lines of their own.
        let texts: Vec<&str> = svg
            .split("</text>")
            .filter_map(|t| t.rsplit('>').next())
            .map(str::trim)
            .collect();
        assert!(
            texts.contains(&"vm") && texts.contains(&"native"),
            "a legend entry per wrap: {texts:?}"
        );
        let png = std::fs::read(dir.path().join("density-memory.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(matches!(
            render_density(&[], dir.path()),
            Err(PlotError::Empty)
        ));
    }
}

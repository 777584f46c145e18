//! The load figures: per wrap, a bar with keep-alive and one with a connection per request,
//! for requests per second, p99 latency and the instance's CPU per 1,000 requests. A load
//! whose instance failed shows its failure instead of a bar: its figures stop at the failure.

use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{self, FONT, Scale, TICK_PX};
use super::{PlotError, Provenance, RowFigure};
use crate::results::load::LoadRow;

/// A load figure.
type Plotted = RowFigure<LoadRow>;

const FIGURES: [Plotted; 3] = [
    Plotted {
        stem: "load-throughput",
        title: "Requests per second under a closed loop",
        quantity: "Requests per second",
        unit: "1/s",
        value: |r| Some(r.requests_per_second).filter(|v| *v > 0.0),
    },
    Plotted {
        stem: "load-latency-p99",
        title: "99th percentile latency under load",
        quantity: "p99 latency",
        unit: "ms",
        value: |r| r.p99_ms,
    },
    Plotted {
        stem: "load-cpu",
        title: "Host CPU of the instance per 1,000 requests",
        quantity: "CPU time per 1,000 requests",
        unit: "ms",
        value: |r| r.instance_cpu_ms_per_1000,
    },
];

/// The two modes, top bar first, with their legend names.
const MODES: [(bool, &str); 2] = [(true, "keep-alive"), (false, "a connection per request")];

/// One bar: its value, or the words shown instead.
enum Bar {
    Value(f64),
    Missing(String),
}

/// One wrap's two bars, in the order of [`MODES`].
struct Group {
    wrap: String,
    bars: [Option<Bar>; 2],
}

fn bar(row: &LoadRow, value: fn(&LoadRow) -> Option<f64>) -> Bar {
    match (row.ok, value(row)) {
        (true, Some(v)) => Bar::Value(v),
        (true, None) => Bar::Missing("missing".to_string()),
        (false, _) => Bar::Missing(match row.failure {
            Some(kind) => format!("failed ({kind})"),
            None => "failed".to_string(),
        }),
    }
}

fn groups(rows: &[LoadRow], value: fn(&LoadRow) -> Option<f64>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for row in rows {
        let index = usize::from(!row.keep_alive);
        let at = match groups.iter().position(|g| g.wrap == row.wrap) {
            Some(at) => at,
            None => {
                groups.push(Group {
                    wrap: row.wrap.clone(),
                    bars: [None, None],
                });
                groups.len() - 1
            }
        };
        groups[at].bars[index] = Some(bar(row, value));
    }
    groups
}

/// One load figure.
struct LoadChart<'a> {
    plotted: &'a Plotted,
    groups: Vec<Group>,
    note: String,
}

impl style::Slide for LoadChart<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String> {
        draw(root, self)
    }
}

/// Draws the load figures of rows of one host and scenario into `dir`.
pub fn render_load(rows: &[LoadRow], dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let provenance = Provenance::of_load(rows).ok_or(PlotError::Empty)?;
    let first = &rows[0];
    let note = format!(
        "{} · {} clients for {} s",
        provenance.footnote(),
        first.connections,
        first.duration_s
    );
    style::prepare_dir(dir)?;
    let mut written = Vec::new();
    for plotted in &FIGURES {
        let groups = groups(rows, plotted.value);
        let has_value = groups
            .iter()
            .flat_map(|g| g.bars.iter().flatten())
            .any(|b| matches!(b, Bar::Value(_)));
        if !has_value {
            continue;
        }
        let chart = LoadChart {
            plotted,
            groups,
            note: note.clone(),
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
    chart: &LoadChart<'_>,
) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let chart_area = style::with_footnote(&root, &chart.note)?;
    let values: Vec<f64> = chart
        .groups
        .iter()
        .flat_map(|g| g.bars.iter().flatten())
        .filter_map(|b| match b {
            Bar::Value(v) => Some(*v),
            Bar::Missing(_) => None,
        })
        .collect();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max) * 1.15;
    let scale = Scale::for_range(min, max);
    let plotted = chart.plotted;
    let axis = format!("{} ({})", plotted.quantity, scale.describe(plotted.unit));
    let label_width = style::row_label_width(chart.groups.iter().map(|g| g.wrap.as_str()));
    let mut builder = style::chart_on(&chart_area, plotted.title, label_width);
    // An empty group at the bottom holds the legend, clear of every bar.
    let legend_room = Group {
        wrap: String::new(),
        bars: [None, None],
    };
    let mut groups: Vec<&Group> = chart.groups.iter().collect();
    groups.push(&legend_room);
    let slots = groups.len() as f64;
    match scale {
        Scale::Linear { top } => fill(
            builder
                .build_cartesian_2d(0f64..top, 0f64..slots)
                .map_err(|e| text(&e))?,
            &groups,
            &axis,
            0.0,
        ),
        Scale::Log { low, high } => fill(
            builder
                .build_cartesian_2d((low..high).log_scale(), 0f64..slots)
                .map_err(|e| text(&e))?,
            &groups,
            &axis,
            low,
        ),
    }?;
    root.present().map_err(|e| text(&e))
}

/// The y span of mode `mode`'s bar in group `i` (groups counted from the top).
fn span(i: usize, groups: usize, mode: usize) -> (f64, f64) {
    let top = (groups - i) as f64 - 0.1;
    let height = 0.4;
    let upper = top - height * mode as f64;
    (upper - height, upper)
}

/// A value written beside its bar: no more digits than it needs.
fn value_text(value: f64) -> String {
    match value {
        v if v >= 100.0 => format!("{v:.0}"),
        v if v >= 10.0 => format!("{v:.1}"),
        v => format!("{v:.2}"),
    }
}

/// Draws the axes, the bars of both modes with their legend, and the values.
fn fill<'a, DB, X>(
    mut chart: ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
    groups: &[&Group],
    axis: &str,
    origin: f64,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let names: Vec<&str> = groups.iter().map(|g| g.wrap.as_str()).collect();
    style::draw_row_axes(&mut chart, &names, axis, false)?;
    let value_style = (FONT, TICK_PX)
        .into_text_style(chart.plotting_area())
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (mode, (_, name)) in MODES.iter().enumerate() {
        let color = Palette99::pick(mode).to_rgba();
        let mut rectangles = Vec::new();
        let mut labels = Vec::new();
        for (i, group) in groups.iter().enumerate() {
            let (bottom, top) = span(i, groups.len(), mode);
            let centre = (bottom + top) / 2.0;
            match &group.bars[mode] {
                Some(Bar::Value(v)) => {
                    rectangles.push(Rectangle::new(
                        [(origin, bottom), (*v, top)],
                        color.mix(0.85).filled(),
                    ));
                    labels.push((format!("  {}", value_text(*v)), (*v, centre)));
                }
                Some(Bar::Missing(words)) => labels.push((words.clone(), (origin, centre))),
                None => {}
            }
        }
        chart
            .draw_series(rectangles)
            .map_err(|e| text(&e))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 10), (x + 20, y + 10)], color.filled()));
        chart
            .draw_series(
                labels
                    .into_iter()
                    .map(|(words, at)| Text::new(words, at, value_style.clone())),
            )
            .map_err(|e| text(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FONT, TICK_PX))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| text(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_group_holds_its_two_bars_one_above_the_other() {
        let close = |(a, b): (f64, f64), (c, d): (f64, f64)| {
            assert!((a - c).abs() < 1e-9 && (b - d).abs() < 1e-9, "{a}..{b}")
        };
        close(span(0, 2, 0), (1.5, 1.9));
        close(span(0, 2, 1), (1.1, 1.5));
        close(span(1, 2, 1), (0.1, 0.5));
    }

    #[test]
    fn draws_both_modes_per_wrap_and_a_failure_as_words() {
        use crate::results::Failure;
        use crate::results::load::tests::sample_load_row;
        let mut panicked = sample_load_row("hermit", false, 1.0);
        panicked.ok = false;
        panicked.failure = Some(Failure::GuestFatal);
        let rows = [
            sample_load_row("native", true, 100_000.0),
            sample_load_row("native", false, 30_000.0),
            sample_load_row("hermit", true, 1_000.0),
            panicked,
        ];
        let dir = tempfile::tempdir().unwrap();
        let written = render_load(&rows, dir.path()).unwrap();
        assert_eq!(written.len(), 6, "three figures, SVG and PNG");
        let svg = std::fs::read_to_string(dir.path().join("load-throughput.svg")).unwrap();
        assert!(
            svg.contains("log scale"),
            "100,000 against 1,000 is drawn on a log axis"
        );
        for words in [
            "keep-alive",
            "a connection per request",
            "failed (guest-fatal)",
            "100000",
        ] {
            assert!(svg.contains(words), "{words} missing");
        }
        assert!(
            !svg.contains(">  1<") && !svg.contains(">1.00<"),
            "no bar for the failed load"
        );
        let png = std::fs::read(dir.path().join("load-cpu.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}

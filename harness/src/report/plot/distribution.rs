//! The first response of every ok cold start, one row of dots per wrap with its median
//! marked: where a bar shows the middle, this shows the tails.

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::Provenance;
use super::style::{self, Scale};
use crate::analysis::stats::Summary;
use crate::figure::{self, Figure};
use crate::results::ResultRow;

/// What is drawn: the first response.
const FIGURE: &Figure = &figure::TTFR;

/// One wrap's row: its runs' values in the display unit, and their median.
struct Strip {
    wrap: String,
    values: Vec<f64>,
    median: Option<f64>,
}

fn strips(wraps: &[String], rows: &[ResultRow]) -> Vec<Strip> {
    wraps
        .iter()
        .map(|wrap| {
            let values: Vec<f64> = rows
                .iter()
                .filter(|r| &r.wrap == wrap && r.ok)
                .filter_map(|r| (FIGURE.value)(r))
                .collect();
            Strip {
                wrap: wrap.clone(),
                median: Summary::of(&values).map(|s| FIGURE.scaled(s.median)),
                values: values.into_iter().map(|v| FIGURE.scaled(v)).collect(),
            }
        })
        .collect()
}

/// The first responses of every wrap, a row of dots each.
pub struct Dots<'a> {
    strips: Vec<Strip>,
    provenance: &'a Provenance,
}

impl<'a> Dots<'a> {
    /// The dots of `wraps` (in this order) from their ok `rows`.
    pub fn new(wraps: &[String], rows: &[ResultRow], provenance: &'a Provenance) -> Dots<'a> {
        Dots {
            strips: strips(wraps, rows),
            provenance,
        }
    }
}

impl style::Slide for Dots<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String> {
        draw(root, &self.strips, self.provenance)
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    strips: &[Strip],
    provenance: &Provenance,
) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let note = format!(
        "{} · a dot per ok cold start, the bar its wrap's median",
        provenance.footnote()
    );
    let chart_area = style::with_footnote(&root, &note)?;
    let all = strips.iter().flat_map(|s| s.values.iter().copied());
    let (min, max) = all.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let scale = Scale::for_range(min, max);
    let label_width = style::row_label_width(strips.iter().map(|s| s.wrap.as_str()));
    let title = format!("{}: every cold start", FIGURE.title);
    let mut builder = style::chart_on(&chart_area, &title, label_width);
    let slots = strips.len() as f64;
    let axis = format!("{} ({})", FIGURE.title, scale.describe(FIGURE.unit));
    match scale {
        Scale::Linear { top } => fill(
            builder
                .build_cartesian_2d(0f64..top, 0f64..slots)
                .map_err(|e| text(&e))?,
            strips,
            &axis,
        ),
        Scale::Log { low, high } => fill(
            builder
                .build_cartesian_2d((low..high).log_scale(), 0f64..slots)
                .map_err(|e| text(&e))?,
            strips,
            &axis,
        ),
    }?;
    root.present().map_err(|e| text(&e))
}

/// A run's height in its row: spread over the row's middle, in run order, so that equal
/// values stay apart.
fn spread(index: usize, count: usize) -> f64 {
    if count <= 1 {
        0.5
    } else {
        0.25 + 0.5 * index as f64 / (count - 1) as f64
    }
}

fn fill<DB, X>(
    mut chart: ChartContext<'_, DB, Cartesian2d<X, RangedCoordf64>>,
    strips: &[Strip],
    axis: &str,
) -> Result<(), String>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let names: Vec<&str> = strips.iter().map(|s| s.wrap.as_str()).collect();
    let slots = strips.len();
    style::draw_row_axes(&mut chart, &names, axis, true)?;
    for (i, strip) in strips.iter().enumerate() {
        let bottom = (slots - 1 - i) as f64;
        let color = Palette99::pick(i).to_rgba();
        let count = strip.values.len();
        chart
            .draw_series(strip.values.iter().enumerate().map(|(n, &value)| {
                Circle::new(
                    (value, bottom + spread(n, count)),
                    7,
                    color.mix(0.8).filled(),
                )
            }))
            .map_err(|e| text(&e))?;
        if let Some(median) = strip.median {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(median, bottom + 0.1), (median, bottom + 0.9)],
                    BLACK.stroke_width(4),
                )))
                .map_err(|e| text(&e))?;
        }
    }
    Ok(())
}

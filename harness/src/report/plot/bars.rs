//! One headline figure as a slide: a horizontal bar per wrap at its median, the median's
//! 95% confidence interval as the whisker (min–max under 6 runs), the median written beside
//! it, on a log axis when the medians lie far apart.

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{self, FONT, Scale, TICK_PX};
use super::{Provenance, whiskers};
use crate::analysis::WrapSummary;
use crate::figure::Figure;

/// One wrap's bar, in the figure's display unit.
struct Bar {
    wrap: String,
    /// Median and whisker ends; `None` when the wrap has no value for the figure.
    value: Option<(f64, f64, f64)>,
    text: String,
}

fn bars(figure: &Figure, summaries: &[WrapSummary]) -> Vec<Bar> {
    summaries
        .iter()
        .map(|s| match s.get(figure) {
            Some(summary) => {
                let (low, high) = whiskers(summary);
                Bar {
                    wrap: s.wrap.clone(),
                    value: Some((
                        figure.scaled(summary.median),
                        figure.scaled(low),
                        figure.scaled(high),
                    )),
                    text: figure.format(summary.median),
                }
            }
            None => Bar {
                wrap: s.wrap.clone(),
                value: None,
                text: "no ok run".to_string(),
            },
        })
        .collect()
}

/// The bar chart of one figure.
pub struct BarChart<'a> {
    figure: &'a Figure,
    bars: Vec<Bar>,
    provenance: &'a Provenance,
}

impl<'a> BarChart<'a> {
    /// The chart of `figure` over `summaries`.
    pub fn new(
        figure: &'a Figure,
        summaries: &[WrapSummary],
        provenance: &'a Provenance,
    ) -> BarChart<'a> {
        BarChart {
            figure,
            bars: bars(figure, summaries),
            provenance,
        }
    }
}

impl style::Slide for BarChart<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String> {
        draw(root, self.figure, &self.bars, self.provenance)
    }
}

fn title(figure: &Figure, provenance: &Provenance) -> String {
    if figure.per_image() {
        format!("{}: one value per image", figure.title)
    } else {
        format!(
            "{}: median of up to {} cold starts",
            figure.title, provenance.runs
        )
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    figure: &Figure,
    bars: &[Bar],
    provenance: &Provenance,
) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let whisker_note = if figure.per_image() {
        ""
    } else {
        " · whiskers: the median's 95% confidence interval (min–max under 6 runs)"
    };
    let chart_area =
        style::with_footnote(&root, &format!("{}{whisker_note}", provenance.footnote()))?;
    let values: Vec<f64> = bars.iter().filter_map(|b| b.value.map(|v| v.0)).collect();
    let highs = bars.iter().filter_map(|b| b.value.map(|v| v.2));
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = highs.fold(0.0, f64::max);
    let scale = style::Scale::for_range(min, max);
    let label_width = style::row_label_width(bars.iter().map(|b| b.wrap.as_str()));
    let mut builder = style::chart_on(&chart_area, &title(figure, provenance), label_width);
    let slots = bars.len() as f64;
    let axis = format!("{} ({})", figure.title, scale.describe(figure.unit));
    match scale {
        Scale::Linear { top } => {
            let chart = builder
                .build_cartesian_2d(0f64..top, 0f64..slots)
                .map_err(|e| text(&e))?;
            fill(chart, bars, &axis, 0.0)
        }
        Scale::Log { low, high } => {
            let chart = builder
                .build_cartesian_2d((low..high).log_scale(), 0f64..slots)
                .map_err(|e| text(&e))?;
            fill(chart, bars, &axis, low)
        }
    }?;
    root.present().map_err(|e| text(&e))
}

/// The bar of slot `i` (counted from the top) spans these y values.
fn slot(i: usize, slots: usize) -> (f64, f64) {
    let bottom = (slots - 1 - i) as f64;
    (bottom + 0.2, bottom + 0.8)
}

/// Draws the axes, bars, whiskers and values on a chart whose x axis starts at `origin`.
fn fill<DB, X>(
    mut chart: ChartContext<'_, DB, Cartesian2d<X, RangedCoordf64>>,
    bars: &[Bar],
    axis: &str,
    origin: f64,
) -> Result<(), String>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let names: Vec<&str> = bars.iter().map(|b| b.wrap.as_str()).collect();
    let slots = bars.len();
    style::draw_row_axes(&mut chart, &names, axis, false)?;
    for (i, bar) in bars.iter().enumerate() {
        let (bottom, top) = slot(i, slots);
        let centre = (bottom + top) / 2.0;
        let color = Palette99::pick(i).to_rgba();
        let value_style = (FONT, TICK_PX)
            .into_text_style(chart.plotting_area())
            .pos(Pos::new(HPos::Left, VPos::Center));
        let Some((median, low, high)) = bar.value else {
            chart
                .draw_series(std::iter::once(Text::new(
                    bar.text.clone(),
                    (origin, centre),
                    value_style,
                )))
                .map_err(|e| text(&e))?;
            continue;
        };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(origin, bottom), (median, top)],
                color.mix(0.85).filled(),
            )))
            .map_err(|e| text(&e))?;
        if high > low {
            let (cap_low, cap_high) = (centre - 0.12, centre + 0.12);
            let whisker = [
                vec![(low, centre), (high, centre)],
                vec![(low, cap_low), (low, cap_high)],
                vec![(high, cap_low), (high, cap_high)],
            ];
            chart
                .draw_series(
                    whisker
                        .into_iter()
                        .map(|line| PathElement::new(line, BLACK.stroke_width(3))),
                )
                .map_err(|e| text(&e))?;
        }
        chart
            .draw_series(std::iter::once(Text::new(
                format!("  {}", bar.text),
                (high, centre),
                value_style,
            )))
            .map_err(|e| text(&e))?;
    }
    Ok(())
}

//! Plots for slides: one figure with a panel per plotted figure of the registry (image size
//! apparent and compressed, time to first response, host memory after it), a bar per wrap at
//! its median with the median's 95% confidence interval as its whisker (min–max under 6
//! runs), the median written above it, and a title saying what was measured where. Rendered as SVG and PNG with an embedded font (DejaVu Sans), so
//! no system fonts are needed.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::analysis::WrapSummary;
use crate::analysis::stats::Summary;
use crate::figure::{self, Figure};

/// Size of the figure in pixels.
const SIZE: (u32, u32) = (1900, 540);
/// Font family name the embedded font is registered under.
const FONT: &str = "sans-serif";

/// A figure that could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// There was nothing to plot.
    #[error("no wrap has an ok run to plot")]
    Empty,
    /// The embedded font could not be registered.
    #[error("registering the embedded font failed")]
    Font,
    /// Drawing or writing the file failed.
    #[error("drawing {path}: {reason}")]
    Draw {
        /// The figure being drawn.
        path: PathBuf,
        /// What plotters said.
        reason: String,
    },
}

/// Registers the embedded font once per process.
fn register_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    if *registered {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

/// A wrap's name on an axis: the short name the scenario gives it (and `--wrap` takes), so
/// five or more bars keep readable labels; the tables carry the long labels.
fn axis_label(summary: &WrapSummary) -> String {
    summary.wrap.clone()
}

/// Draws the comparison as `DIR/comparison.svg` and `DIR/comparison.png` under `title`;
/// returns both paths.
pub fn render_comparison(
    summaries: &[WrapSummary],
    title: &str,
    dir: &Path,
) -> Result<Vec<PathBuf>, PlotError> {
    if summaries.iter().all(|s| s.ok_runs == 0) {
        return Err(PlotError::Empty);
    }
    register_font()?;
    std::fs::create_dir_all(dir).map_err(|e| PlotError::Draw {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let svg = dir.join("comparison.svg");
    let png = dir.join("comparison.png");
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |reason| PlotError::Draw { path, reason }
    };
    draw(
        SVGBackend::new(&svg, SIZE).into_drawing_area(),
        summaries,
        title,
    )
    .map_err(failed(&svg))?;
    draw(
        BitMapBackend::new(&png, SIZE).into_drawing_area(),
        summaries,
        title,
    )
    .map_err(failed(&png))?;
    Ok(vec![svg, png])
}

/// The ends of a bar's whisker: the median's 95% confidence interval, or min–max with
/// under 6 samples (too few for an interval); the title says which.
fn whiskers(summary: &Summary) -> (f64, f64) {
    summary.median_ci.unwrap_or((summary.min, summary.max))
}

/// Share of a slot a bar leaves free on each side.
const BAR_GAP: f64 = 0.15;

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    summaries: &[WrapSummary],
    title: &str,
) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| text(&e))?;
    let root = root.titled(title, (FONT, 20)).map_err(|e| text(&e))?;
    let labels: Vec<String> = summaries.iter().map(axis_label).collect();
    let slots = summaries.len() as f64;
    let panels: Vec<&Figure> = figure::ALL.iter().copied().filter(|f| f.in_plot).collect();
    for (area, panel) in root.split_evenly((1, panels.len())).iter().zip(panels) {
        let top = summaries
            .iter()
            .filter_map(|s| s.get(panel).map(|f| panel.scaled(f.max)))
            .fold(0.0f64, f64::max);
        let top = if top > 0.0 { top * 1.2 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title, (FONT, 18))
            .margin(18)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..slots, 0f64..top)
            .map_err(|e| text(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(summaries.len() * 2 + 1)
            .x_label_formatter(&|x| {
                // Only slot centres carry a label.
                let slot = x - 0.5;
                if (slot - slot.round()).abs() < 1e-6 && slot >= 0.0 {
                    labels
                        .get(slot.round() as usize)
                        .cloned()
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(panel.unit)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(|e| text(&e))?;
        for (i, summary) in summaries.iter().enumerate() {
            let Some(figure) = summary.get(panel) else {
                continue;
            };
            let (low, high) = whiskers(figure);
            let (median, low, high) = (
                panel.scaled(figure.median),
                panel.scaled(low),
                panel.scaled(high),
            );
            let left = i as f64;
            let centre = left + 0.5;
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(left + BAR_GAP, 0.0), (left + 1.0 - BAR_GAP, median)],
                    color.mix(0.8).filled(),
                )))
                .map_err(|e| text(&e))?;
            chart
                .draw_series(std::iter::once(ErrorBar::new_vertical(
                    centre,
                    low,
                    median,
                    high,
                    BLACK.stroke_width(2),
                    10,
                )))
                .map_err(|e| text(&e))?;
            let style = (FONT, 15)
                .into_text_style(area)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            chart
                .draw_series(std::iter::once(Text::new(
                    panel.format(figure.median),
                    (centre, high + top * 0.02),
                    style,
                )))
                .map_err(|e| text(&e))?;
        }
    }
    root.present().map_err(|e| text(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::summarize;
    use crate::results::tests::sample_row;

    #[test]
    fn whiskers_span_the_medians_interval_or_the_range_under_six_runs() {
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(whiskers(&Summary::of(&ten).unwrap()), (2.0, 9.0));
        let three = Summary::of(&[1.0, 5.0, 3.0]).unwrap();
        assert_eq!(whiskers(&three), (1.0, 5.0));
    }

    #[test]
    fn renders_svg_and_png_with_every_wrap() {
        let mut vm = sample_row("hermit", 1);
        vm.label = "Hermit unikernel (QEMU)".into();
        vm.ttfr_ms = Some(222.0);
        let rows = vec![sample_row("container", 1), sample_row("container", 2), vm];
        let dir = tempfile::tempdir().unwrap();
        let paths = render_comparison(&summarize(&rows), "demo", dir.path()).unwrap();
        let svg = std::fs::read_to_string(&paths[0]).unwrap();
        assert!(svg.contains("First response"), "titles are drawn");
        assert!(
            svg.contains("Image compressed"),
            "every plotted figure has a panel"
        );
        assert!(
            svg.contains("hermit") && !svg.contains("Hermit unikernel"),
            "wraps are labelled by their short names"
        );
        assert!(svg.contains("0.222"), "medians are written");
        let png = std::fs::read(&paths[1]).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn nothing_to_plot_is_an_error() {
        let mut row = sample_row("vm", 1);
        row.ok = false;
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            render_comparison(&summarize(&[row]), "demo", dir.path()),
            Err(PlotError::Empty)
        ));
    }
}

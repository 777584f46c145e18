//! What every slide figure shares: its 16:9 size, the embedded font, the text sizes, the
//! footnote that says what was measured where, and how a value axis is scaled.

use std::sync::OnceLock;

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::PlotError;

/// Size of every figure in pixels: 16:9, a full slide at 1600x900.
pub const SIZE: (u32, u32) = (1600, 900);
/// Font family name the embedded font (DejaVu Sans) is registered under.
pub const FONT: &str = "sans-serif";
/// Text sizes, in pixels: readable from the back of a room at [`SIZE`].
pub const TITLE_PX: u32 = 40;
/// Axis titles and the wraps' names.
pub const LABEL_PX: u32 = 28;
/// Tick labels and values written beside bars.
pub const TICK_PX: u32 = 24;
/// The footnote.
pub const NOTE_PX: u32 = 20;
/// Medians further apart than this factor are drawn on a log scale, so the smallest bar
/// stays visible beside the largest.
pub const LOG_SCALE_ABOVE: f64 = 20.0;

/// Registers the embedded font once per process, so no system fonts are needed.
pub fn register_font() -> Result<(), PlotError> {
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

/// A figure that draws itself on any plotters backend, so that one drawing makes both its
/// SVG and its PNG.
pub trait Slide {
    /// Draws the whole figure on `root`, [`SIZE`] pixels.
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Creates `dir` (and registers the font) before figures are drawn into it.
pub fn prepare_dir(dir: &Path) -> Result<(), PlotError> {
    register_font()?;
    std::fs::create_dir_all(dir).map_err(|e| PlotError::Draw {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Draws `slide` as `DIR/STEM.svg` and `DIR/STEM.png`; returns both paths.
pub fn render(slide: &impl Slide, dir: &Path, stem: &str) -> Result<[PathBuf; 2], PlotError> {
    let (svg, png) = (
        dir.join(format!("{stem}.svg")),
        dir.join(format!("{stem}.png")),
    );
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |reason| PlotError::Draw { path, reason }
    };
    slide
        .draw(SVGBackend::new(&svg, SIZE).into_drawing_area())
        .map_err(failed(&svg))?;
    slide
        .draw(BitMapBackend::new(&png, SIZE).into_drawing_area())
        .map_err(failed(&png))?;
    Ok([svg, png])
}

/// A chart on `area` with the slides' title style, margins and axis-label room;
/// `y_label_width` is the room for the row or value labels, in pixels.
pub fn chart_on<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    y_label_width: u32,
) -> ChartBuilder<'a, 'static, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, (FONT, TITLE_PX))
        .margin(30)
        .margin_right(60)
        .x_label_area_size(LABEL_PX * 3)
        .y_label_area_size(y_label_width);
    builder
}

/// Room for row labels as long as the longest of `names`, in pixels.
pub fn row_label_width<'n>(names: impl Iterator<Item = &'n str>) -> u32 {
    let widest = names.map(str::len).max().unwrap_or(4) as u32;
    widest * LABEL_PX * 2 / 3 + 30
}

/// Fills `root` white and writes `note` along its bottom as the footnote; returns the area
/// above it, for the chart.
pub fn with_footnote<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    note: &str,
) -> Result<DrawingArea<DB, Shift>, String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| text(&e))?;
    let (chart, note_area) = root.split_vertically(SIZE.1 - NOTE_PX * 3);
    note_area
        .draw(&Text::new(
            note.to_string(),
            (24, NOTE_PX as i32),
            (FONT, NOTE_PX).into_font().color(&BLACK.mix(0.7)),
        ))
        .map_err(|e| text(&e))?;
    Ok(chart)
}

/// How a value axis is drawn: linear from zero, or logarithmic when values spread widely.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// From zero to `top`.
    Linear {
        /// The axis end.
        top: f64,
    },
    /// From `low` to `high`, decades apart.
    Log {
        /// The axis start: a power of ten at or below the smallest value.
        low: f64,
        /// The axis end: a power of ten above the largest value.
        high: f64,
    },
}

impl Scale {
    /// The scale for positive values whose smallest and largest are `min` and `max`, with
    /// room above `max` for the values written beside bars.
    pub fn for_range(min: f64, max: f64) -> Scale {
        if min > 0.0 && max / min > LOG_SCALE_ABOVE {
            Scale::Log {
                low: 10f64.powf(min.log10().floor()),
                high: 10f64.powf((max * 2.0).log10().ceil()),
            }
        } else {
            Scale::Linear {
                top: if max > 0.0 { max * 1.25 } else { 1.0 },
            }
        }
    }

    /// `unit`, with "log scale" when it is one: the axis title's parenthesis.
    pub fn describe(&self, unit: &str) -> String {
        match self {
            Scale::Linear { .. } => unit.to_string(),
            Scale::Log { .. } => format!("{unit}, log scale"),
        }
    }
}

/// Draws the axes of a chart with one row per name (the first at the top) and a value axis
/// titled `axis`: tick labels without trailing zeros, and vertical grid lines when `grid`.
pub fn draw_row_axes<DB, X>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, RangedCoordf64>>,
    names: &[&str],
    axis: &str,
    grid: bool,
) -> Result<(), String>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let row_name = |y: &f64| super::slot_names(names, *y);
    let value = |x: &f64| super::tick(*x);
    let mut mesh = chart.configure_mesh();
    mesh.disable_y_mesh()
        .y_labels(names.len() * 2 + 1)
        .y_label_formatter(&row_name)
        .x_label_formatter(&value)
        .x_desc(axis)
        .label_style((FONT, LABEL_PX))
        .axis_desc_style((FONT, LABEL_PX))
        .x_label_style((FONT, TICK_PX));
    if !grid {
        mesh.light_line_style(TRANSPARENT);
    }
    mesh.draw().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_ranges_go_logarithmic_with_decade_ends() {
        assert_eq!(Scale::for_range(1.0, 10.0), Scale::Linear { top: 12.5 });
        assert_eq!(
            Scale::for_range(0.0011, 16.5),
            Scale::Log {
                low: 0.001,
                high: 100.0
            }
        );
        assert_eq!(Scale::for_range(0.0, 0.0), Scale::Linear { top: 1.0 });
        assert_eq!(
            Scale::for_range(1.0, 10.0).describe("s"),
            "s",
            "a linear axis says only its unit"
        );
        assert_eq!(Scale::for_range(0.001, 10.0).describe("s"), "s, log scale");
    }
}

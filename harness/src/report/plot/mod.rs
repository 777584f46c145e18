//! Figures for slides, one file per figure, each 16:9 in SVG and PNG with an embedded font
//! (DejaVu Sans, so no system fonts are needed) and a footnote saying what was measured
//! where: a bar chart per headline figure of the registry (image size apparent and
//! compressed, time to first response, host memory after it).

mod bars;
mod density;
mod distribution;
mod load;
mod phases;
pub mod style;

pub use density::render_density;
pub use load::render_load;

use std::path::{Path, PathBuf};

use crate::analysis::stats::Summary;
use crate::analysis::summarize;
use crate::figure;
use crate::results::density::DensityRow;
use crate::results::load::LoadRow;
use crate::results::{self, ResultRow};

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

/// What a slide must say about where its numbers come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// The scenario.
    pub scenario: String,
    /// Host name and CPU.
    pub host: String,
    /// The accelerators VMs ran under, when any VM ran.
    pub vm_accels: Vec<String>,
    /// The day of the first run (UTC).
    pub day: String,
    /// The most measured runs of any wrap.
    pub runs: u32,
}

impl Provenance {
    /// The provenance of rows of one host and scenario; `None` without rows.
    pub fn of(rows: &[ResultRow]) -> Option<Provenance> {
        let first = rows.first()?;
        Some(Provenance {
            scenario: first.scenario.clone(),
            host: format!("{} ({})", first.host, first.host_cpu),
            vm_accels: results::distinct(rows.iter().filter(|r| r.kind == "qemu"), |r| &r.accel),
            day: first
                .timestamp
                .get(..10)
                .unwrap_or(&first.timestamp)
                .to_string(),
            runs: rows.iter().map(|r| r.run).max().unwrap_or(0),
        })
    }

    /// The provenance of density rows of one host and scenario; `None` without rows.
    pub fn of_density(rows: &[DensityRow]) -> Option<Provenance> {
        let first = rows.first()?;
        Some(Provenance::of_parts(
            [
                &first.scenario,
                &first.host,
                &first.host_cpu,
                &first.timestamp,
            ],
            rows.iter().filter(|r| r.kind == "qemu").map(|r| &r.accel),
            rows.iter().map(|r| r.instances).max().unwrap_or(0),
        ))
    }

    /// The provenance of load rows of one host and scenario; `None` without rows.
    pub fn of_load(rows: &[LoadRow]) -> Option<Provenance> {
        let first = rows.first()?;
        Some(Provenance::of_parts(
            [
                &first.scenario,
                &first.host,
                &first.host_cpu,
                &first.timestamp,
            ],
            rows.iter().filter(|r| r.kind == "qemu").map(|r| &r.accel),
            rows.iter().map(|r| r.run).max().unwrap_or(0),
        ))
    }

    /// From a first row's scenario, host, host CPU and timestamp, the VMs' accelerators and
    /// the runs.
    fn of_parts<'a>(
        [scenario, host, host_cpu, timestamp]: [&String; 4],
        vm_accels: impl Iterator<Item = &'a String>,
        runs: u32,
    ) -> Provenance {
        let mut distinct: Vec<String> = Vec::new();
        for accel in vm_accels {
            if !distinct.contains(accel) {
                distinct.push(accel.clone());
            }
        }
        Provenance {
            scenario: scenario.clone(),
            host: format!("{host} ({host_cpu})"),
            vm_accels: distinct,
            day: timestamp.get(..10).unwrap_or(timestamp).to_string(),
            runs,
        }
    }

    /// One line: scenario, host, VMs' accelerator, day.
    pub fn footnote(&self) -> String {
        let vms = if self.vm_accels.is_empty() {
            String::new()
        } else {
            format!(" · VMs under {}", self.vm_accels.join("/"))
        };
        format!(
            "shrinkwrap · {} · host {}{vms} · {}",
            self.scenario, self.host, self.day
        )
    }
}

/// A figure drawn from rows of one kind (density levels, loads): what it plots from a row,
/// and how it is named and titled.
struct RowFigure<Row> {
    stem: &'static str,
    title: &'static str,
    quantity: &'static str,
    unit: &'static str,
    value: fn(&Row) -> Option<f64>,
}

/// The file name of a figure's chart: its title in lower case, words joined by `-`.
fn file_stem(title: &str) -> String {
    title
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
}

/// Draws every figure of rows of one host and scenario into `dir` (`image-size.svg`,
/// `.png`, ...); returns the files.
pub fn render_all(rows: &[ResultRow], dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let summaries = summarize(rows);
    let provenance = Provenance::of(rows).ok_or(PlotError::Empty)?;
    if summaries.iter().all(|s| s.ok_runs == 0) {
        return Err(PlotError::Empty);
    }
    style::prepare_dir(dir)?;
    let mut written = Vec::new();
    for figure in figure::ALL.iter().filter(|f| f.in_plot) {
        let chart = bars::BarChart::new(figure, &summaries, &provenance);
        written.extend(style::render(&chart, dir, &file_stem(figure.title))?);
    }
    let wraps: Vec<String> = summaries.iter().map(|s| s.wrap.clone()).collect();
    let dots = distribution::Dots::new(&wraps, rows, &provenance);
    written.extend(style::render(&dots, dir, "first-response-distribution")?);
    let start_up = phases::StartUpChart::new(&summaries, &provenance);
    written.extend(style::render(&start_up, dir, "start-up")?);
    Ok(written)
}

/// The name on a row axis at `y`: rows are one unit high, `names[0]` the top one, and only
/// row centres carry a name.
fn slot_names(names: &[&str], y: f64) -> String {
    let from_bottom = y - 0.5;
    let on_centre = (from_bottom - from_bottom.round()).abs() < 1e-6;
    let index = names.len() as f64 - 1.0 - from_bottom.round();
    match (on_centre, index >= 0.0) {
        (true, true) => names
            .get(index as usize)
            .map(|n| n.to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// A tick label without trailing zeros: `1000`, `2.5`, `0.01`.
fn tick(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The ends of a bar's whisker: the median's 95% confidence interval, or min–max with
/// under 6 samples (too few for an interval); the footnote says which.
fn whiskers(summary: &Summary) -> (f64, f64) {
    summary.median_ci.unwrap_or((summary.min, summary.max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::sample_row;

    #[test]
    fn whiskers_span_the_medians_interval_or_the_range_under_six_runs() {
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(whiskers(&Summary::of(&ten).unwrap()), (2.0, 9.0));
        let three = Summary::of(&[1.0, 5.0, 3.0]).unwrap();
        assert_eq!(whiskers(&three), (1.0, 5.0));
    }

    /// Width and height of a PNG, from its IHDR chunk.
    fn png_size(png: &[u8]) -> (u32, u32) {
        assert_eq!(&png[1..4], b"PNG");
        let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
        (word(16), word(20))
    }

    #[test]
    fn renders_one_16_9_chart_per_figure_in_svg_and_png() {
        let mut vm = sample_row("hermit", 1);
        vm.label = "Hermit unikernel (QEMU)".into();
        vm.kind = "qemu".into();
        vm.ttfr_ms = Some(16_500.0);
        let mut native = sample_row("native", 1);
        native.ttfr_ms = Some(1.1);
        let rows = vec![
            sample_row("container", 1),
            sample_row("container", 2),
            vm,
            native,
        ];
        let dir = tempfile::tempdir().unwrap();
        let provenance = Provenance::of(&rows).unwrap();
        let paths = render_all(&rows, dir.path()).unwrap();
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for stem in [
            "image-size",
            "image-compressed",
            "first-response",
            "host-memory",
            "first-response-distribution",
            "start-up",
        ] {
            assert!(names.contains(&format!("{stem}.svg")), "{names:?}");
            let png = std::fs::read(dir.path().join(format!("{stem}.png"))).unwrap();
            assert_eq!(png_size(&png), style::SIZE, "{stem}.png");
        }
        let svg = std::fs::read_to_string(dir.path().join("first-response.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(
            svg.contains(r#"width="1600" height="900""#),
            "16:9 at slide size"
        );
        assert!(
            svg.contains("First response (s, log scale)"),
            "units, and the log axis said"
        );
        assert!(
            svg.contains("hermit") && !svg.contains("Hermit unikernel"),
            "wraps are named by their short names"
        );
        assert!(
            svg.contains("16.500") && svg.contains("0.0011"),
            "medians are written"
        );
        assert!(
            svg.contains(&provenance.footnote()),
            "the footnote says where"
        );
        let dots =
            std::fs::read_to_string(dir.path().join("first-response-distribution.svg")).unwrap();
        assert_eq!(dots.matches("<circle").count(), 4, "a dot per ok run");
        let start_up = std::fs::read_to_string(dir.path().join("start-up.svg")).unwrap();
        assert!(start_up.contains("Where each cold start goes"));
        assert!(start_up.contains("until first 200") && start_up.contains("16.500 s"));
        let size = std::fs::read_to_string(dir.path().join("image-size.svg")).unwrap();
        assert!(size.contains("one value per image") && !size.contains("whiskers"));
    }

    #[test]
    fn ticks_carry_no_trailing_zeros_and_rows_their_names() {
        let ticks: Vec<String> = [1000.0, 2.5, 0.01, 0.0].into_iter().map(tick).collect();
        assert_eq!(ticks, ["1000", "2.5", "0.01", "0"]);
        let names = ["top", "bottom"];
        assert_eq!(slot_names(&names, 1.5), "top");
        assert_eq!(slot_names(&names, 0.5), "bottom");
        assert_eq!(slot_names(&names, 1.0), "");
    }

    #[test]
    fn nothing_to_plot_is_an_error() {
        let mut row = sample_row("vm", 1);
        row.ok = false;
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            render_all(&[row], dir.path()),
            Err(PlotError::Empty)
        ));
        assert!(matches!(render_all(&[], dir.path()), Err(PlotError::Empty)));
    }
}

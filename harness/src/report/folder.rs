//! A run's folder as a ready report, made from its rows alone, so `run` and `report` write
//! the same files: `summary.md` (the table, its notes and the figures), `summary.csv`,
//! `summary.json`, `results.json` (every run and every record), the figures, and a
//! self-contained `report.html`.

use std::path::{Path, PathBuf};

use super::export::{self, ExportError};
use super::{Style, document, html, plot};
use crate::analysis::summarize;
use crate::results::ResultRow;
use crate::scenario::TableLayout;

/// File name of the Markdown summary.
pub const SUMMARY_MD: &str = "summary.md";
/// File name of the page.
pub const REPORT_HTML: &str = "report.html";

/// A report file that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// A summary or export file.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The Markdown summary or the page.
    #[error("cannot write {path}: {cause}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        cause: std::io::Error,
    },
}

/// What was written.
#[derive(Debug)]
pub struct Written {
    /// Every file, figures included.
    pub files: Vec<PathBuf>,
    /// The figures' folder, when they were drawn.
    pub figures: Option<PathBuf>,
    /// Why no figures were drawn: the rest of the report is written without them.
    pub figures_missing: Option<String>,
}

/// Writes the report of rows of one host and scenario into `dir`, its figures into
/// `figures_dir`.
pub fn write(
    rows: &[ResultRow],
    layout: TableLayout,
    dir: &Path,
    figures_dir: &Path,
) -> Result<Written, FolderError> {
    let summaries = summarize(rows);
    let (host, scenario) = rows
        .first()
        .map_or(("", ""), |r| (r.host.as_str(), r.scenario.as_str()));
    let records = export::records(host, scenario, &summaries);
    let mut files = export::write_summaries(dir, &records)?.to_vec();
    files.push(export::write_runs(dir, rows, &records)?);
    let (figures, figures_missing) = match plot::render_all(rows, figures_dir) {
        Ok(figures) => (figures, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let svgs: Vec<&Path> = figures
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "svg"))
        .map(PathBuf::as_path)
        .collect();
    let markdown = format!(
        "{}\n{}",
        document(&summaries, layout, Style::Markdown),
        figure_links(&svgs, dir)
    );
    files.push(write_file(&dir.join(SUMMARY_MD), &markdown)?);
    let page = html::page(rows, &summaries, layout, &svgs).map_err(|cause| FolderError::Write {
        path: figures_dir.to_path_buf(),
        cause,
    })?;
    files.push(write_file(&dir.join(REPORT_HTML), &page)?);
    let drawn = !figures.is_empty();
    files.extend(figures);
    Ok(Written {
        files,
        figures: drawn.then(|| figures_dir.to_path_buf()),
        figures_missing,
    })
}

/// Copies a run folder's report (every file and the `figures/` folder; not the logs of
/// failed launches) to `latest`, replacing what was there: the newest results of a scenario
/// in a place that does not move.
pub fn publish_latest(run_dir: &Path, latest: &Path) -> std::io::Result<()> {
    let staging = latest.with_extension("new");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    copy_files(run_dir, &staging)?;
    let figures = run_dir.join("figures");
    if figures.is_dir() {
        copy_files(&figures, &staging.join("figures"))?;
    }
    if latest.exists() {
        std::fs::remove_dir_all(latest)?;
    }
    std::fs::rename(&staging, latest)
}

/// Copies the files (not the folders) of `from` into a new folder `to`.
fn copy_files(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Markdown image links to the figures, relative to `dir` when they lie inside it.
fn figure_links(svgs: &[&Path], dir: &Path) -> String {
    if svgs.is_empty() {
        return String::new();
    }
    let links: Vec<String> = svgs
        .iter()
        .map(|svg| {
            let shown = svg.strip_prefix(dir).unwrap_or(svg);
            let name = svg.file_stem().unwrap_or_default().to_string_lossy();
            format!("![{name}]({})", shown.display())
        })
        .collect();
    format!("\n## Figures\n\n{}\n", links.join("\n\n"))
}

fn write_file(path: &Path, text: &str) -> Result<PathBuf, FolderError> {
    std::fs::write(path, text).map_err(|cause| FolderError::Write {
        path: path.to_path_buf(),
        cause,
    })?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::sample_row;

    #[test]
    fn writes_every_file_and_a_page_with_its_figures_inlined() {
        let rows: Vec<ResultRow> = (1..=3).map(|run| sample_row("vm", run)).collect();
        let dir = tempfile::tempdir().unwrap();
        let figures = dir.path().join("figures");
        let written = write(&rows, TableLayout::Summary, dir.path(), &figures).unwrap();
        for name in [
            "summary.md",
            "summary.csv",
            "summary.json",
            "results.json",
            "report.html",
        ] {
            assert!(dir.path().join(name).is_file(), "{name}");
        }
        assert!(written.figures_missing.is_none());
        assert!(figures.join("start-up.png").is_file());
        let markdown = std::fs::read_to_string(dir.path().join(SUMMARY_MD)).unwrap();
        assert!(markdown.contains("![first-response](figures/first-response.svg)"));
        let page = std::fs::read_to_string(dir.path().join(REPORT_HTML)).unwrap();
        assert!(page.starts_with("<!doctype html>") && page.trim_end().ends_with("</html>"));
        assert_eq!(
            page.matches("src=\"data:image/svg+xml;base64,").count(),
            6,
            "every figure inlined: four bar charts, the distribution, the start-up"
        );
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no network"
        );
        assert!(page.contains("<td>vm</td>"), "the runtimes' table");
    }

    #[test]
    fn the_latest_copy_replaces_the_last_one_and_leaves_the_logs() {
        let rows: Vec<ResultRow> = (1..=2).map(|run| sample_row("vm", run)).collect();
        let run = tempfile::tempdir().unwrap();
        write(
            &rows,
            TableLayout::Summary,
            run.path(),
            &run.path().join("figures"),
        )
        .unwrap();
        std::fs::create_dir(run.path().join("logs")).unwrap();
        let plots = tempfile::tempdir().unwrap();
        let latest = plots.path().join("demo-latest");
        std::fs::create_dir(&latest).unwrap();
        std::fs::write(latest.join("stale.txt"), "from an older run").unwrap();
        publish_latest(run.path(), &latest).unwrap();
        assert!(latest.join(REPORT_HTML).is_file());
        assert!(latest.join("figures/first-response.png").is_file());
        assert!(!latest.join("stale.txt").exists() && !latest.join("logs").exists());
        let names: Vec<_> = std::fs::read_dir(plots.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no staging folder left");
    }

    #[test]
    fn without_an_ok_run_the_report_is_written_without_figures() {
        let mut row = sample_row("vm", 1);
        row.ok = false;
        let dir = tempfile::tempdir().unwrap();
        let written = write(
            &[row],
            TableLayout::Summary,
            dir.path(),
            &dir.path().join("f"),
        )
        .unwrap();
        assert!(written.figures_missing.is_some() && written.figures.is_none());
        assert!(dir.path().join(REPORT_HTML).is_file());
    }
}

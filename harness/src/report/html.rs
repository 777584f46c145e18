//! `report.html`: one self-contained page per run, with the figures inlined as data URIs,
//! the table, its notes and the facts of the host and runtimes. It needs no network and no
//! other file to open.

use std::path::Path;

use base64::Engine;

use super::plot::Provenance;
use super::{Style, WrapSummary, notes, summary_table, talk_table};
use crate::results::{self, ResultRow};
use crate::scenario::TableLayout;

/// Text with `&`, `<`, `>` and `"` escaped for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An HTML table from a Markdown pipe table (the `<br>` inside its cells kept as breaks).
fn table_from_markdown(markdown: &str) -> String {
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|cell| escape(cell.trim()).replace("&lt;br&gt;", "<br>"))
            .collect()
    };
    let mut lines = markdown.lines().filter(|l| l.trim_start().starts_with('|'));
    let header = lines.next().map(cells).unwrap_or_default();
    let mut html = String::from("<table>\n<thead><tr>");
    for cell in header {
        html.push_str(&format!("<th>{cell}</th>"));
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for line in lines.filter(|l| !l.contains("---")) {
        html.push_str("<tr>");
        for cell in cells(line) {
            html.push_str(&format!("<td>{cell}</td>"));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>\n");
    html
}

/// One figure as an `<img>` holding its SVG, with its file name as the caption.
fn figure(svg: &Path) -> std::io::Result<String> {
    let data = base64::engine::general_purpose::STANDARD.encode(std::fs::read(svg)?);
    let name = svg
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(format!(
        "<figure><img alt=\"{name}\" src=\"data:image/svg+xml;base64,{data}\"><figcaption>{name}</figcaption></figure>\n"
    ))
}

/// The host's and every wrap's facts: what a reader needs to trust the numbers.
fn facts(rows: &[ResultRow]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let last = rows
        .iter()
        .map(|r| r.timestamp.as_str())
        .max()
        .unwrap_or("");
    let mut html = format!(
        "<dl>\n<dt>host</dt><dd>{} ({}), Linux {}</dd>\n<dt>harness</dt><dd>shrinkwrap {}</dd>\n\
         <dt>runs</dt><dd>{} rows, {} to {}</dd>\n</dl>\n",
        escape(&first.host),
        escape(&first.host_cpu),
        escape(&first.host_kernel),
        escape(&first.harness_version),
        rows.len(),
        escape(&first.timestamp),
        escape(last),
    );
    html.push_str("<table>\n<thead><tr><th>wrap</th><th>runtime</th><th>accelerator</th></tr></thead>\n<tbody>\n");
    for wrap in results::distinct(rows, |r| &r.wrap) {
        let of_wrap = rows.iter().filter(|r| r.wrap == wrap);
        let runtimes = results::distinct(of_wrap.clone(), |r| &r.runtime_version);
        let accels = results::distinct(of_wrap, |r| &r.accel);
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&wrap),
            escape(&runtimes.join(", ")),
            escape(&accels.join(", "))
        ));
    }
    html.push_str("</tbody>\n</table>\n");
    html
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}\
th,td{border:1px solid #ccc;padding:0.3em 0.6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}figure{margin:1.5em 0}figure img{width:100%;height:auto;border:1px solid #eee}\
figcaption{color:#666;font-size:0.85em}.footnote{color:#666}";

/// The page for rows of one host and scenario, their summaries, the table layout and the
/// figures' SVG files.
pub fn page(
    rows: &[ResultRow],
    summaries: &[WrapSummary],
    layout: TableLayout,
    figures: &[&Path],
) -> std::io::Result<String> {
    let title = Provenance::of(rows)
        .map(|p| format!("shrinkwrap: {} on {}", p.scenario, p.host))
        .unwrap_or_else(|| "shrinkwrap".to_string());
    let table = match layout {
        TableLayout::Summary => summary_table(summaries, Style::Markdown),
        TableLayout::Talk => talk_table(summaries, Style::Markdown),
    };
    let notes: String = notes(summaries)
        .iter()
        .map(|n| format!("<li>{}</li>\n", escape(n)))
        .collect();
    let mut inlined = String::new();
    for svg in figures {
        inlined.push_str(&figure(svg)?);
    }
    let footnote = Provenance::of(rows)
        .map(|p| escape(&p.footnote()))
        .unwrap_or_default();
    Ok(format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p class=\"footnote\">{footnote}</p>\n\
         {}<ul>\n{notes}</ul>\n<h2>Figures</h2>\n{inlined}<h2>Host and runtimes</h2>\n{}</body>\n</html>\n",
        escape(&title),
        escape(&title),
        table_from_markdown(&table),
        facts(rows),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_markdown_table_becomes_an_escaped_html_table_keeping_breaks() {
        let markdown = "| Wrap | Size |\n|---|---|\n| a<br>qemu (tcg) | 1 < 2 & 3 |\n";
        let html = table_from_markdown(markdown);
        assert!(html.contains("<th>Wrap</th><th>Size</th>"), "{html}");
        assert!(
            html.contains("<td>a<br>qemu (tcg)</td><td>1 &lt; 2 &amp; 3</td>"),
            "{html}"
        );
        assert!(!html.contains("---"));
    }
}

//! The talk-layout table for a fixed results file (golden test): columns, medians with
//! spread, relative differences, security and APM facts, and the talk's own numbers kept
//! apart from the measured ones.

use std::path::Path;

use shrinkwrap::analysis::summarize;
use shrinkwrap::report::{Style, document, talk_table};
use shrinkwrap::results::read_results;
use shrinkwrap::scenario::TableLayout;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

#[test]
fn talk_table_matches_the_golden_file() {
    let rows = read_results(&Path::new(FIXTURES).join("talk-results.csv")).unwrap();
    let table = document(&summarize(&rows), TableLayout::Talk, Style::Markdown);
    let golden = std::fs::read_to_string(Path::new(FIXTURES).join("talk-table.md")).unwrap();
    assert_eq!(
        format!("{table}\n"),
        golden,
        "the talk table changed; if on purpose, regenerate \
        tests/fixtures/talk-table.md with `shrinkwrap report --talk --markdown tests/fixtures/talk-results.csv`"
    );
}

#[test]
fn measured_and_published_numbers_stay_apart() {
    let rows = read_results(&Path::new(FIXTURES).join("talk-results.csv")).unwrap();
    let table = talk_table(&summarize(&rows), Style::Markdown);
    let (measured, published) = table
        .split_once("the talk's own published numbers")
        .expect("the talk's numbers come after the measured table");
    for talk_figure in ["53.48", "1.13", "274.4", "27.8", "0.483", "619"] {
        assert!(
            !measured.contains(talk_figure),
            "{talk_figure} leaked into the measured table"
        );
        assert!(
            published.contains(talk_figure),
            "{talk_figure} missing from the reference"
        );
    }
    assert!(measured.contains("| Min guest RAM (MiB) |"));
    assert!(measured.contains("n/a (no guest)"));
}

//! The `shrinkwrap` binary as a user meets it: bad input gets one clear line and a failing
//! exit code; `run` writes results.csv and prints the summary.

use std::path::Path;
use std::process::{Command, Output};

fn shrinkwrap(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shrinkwrap"));
    command.args(args);
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_broken_scenario_names_file_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "broken.toml",
        "name = \"x\"\nworkload = \"w\"\nruns = 0\n",
    );
    let output = shrinkwrap(&["run", &path], &[]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{path}:3: runs must be at least 1")),
        "{err}"
    );
}

#[test]
fn a_missing_scenario_file_is_named() {
    let output = shrinkwrap(&["run", "/nonexistent/scenario.toml"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("cannot read scenario /nonexistent/scenario.toml: No such file"),
        "{err}"
    );
}

#[test]
fn dockerd_down_is_one_line_naming_the_fix() {
    let output = shrinkwrap(
        &["run", "--runs", "1"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "error: wrap 'container': dockerd is not answering on unix:///nonexistent/docker.sock"
        ),
        "{err}"
    );
    assert!(last.contains("run scripts/setup"), "{err}");
}

#[test]
fn an_unknown_wrap_filter_lists_the_known_ones() {
    let output = shrinkwrap(&["run", "--wrap", "nope"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("has no wrap 'nope' (it has: native, container"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn run_writes_results_and_prints_the_summary_then_report_reprints_it() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("run");
    let plots = out.path().join("plots");
    let output = shrinkwrap(
        &[
            "run",
            "--runs",
            "2",
            "--warmup",
            "0",
            "--wrap",
            "container",
            "--out",
            out_dir.to_str().unwrap(),
            "--plots",
            plots.to_str().unwrap(),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}\n{stdout}", stderr(&output));
    assert!(stdout.contains("First response (s)"), "{stdout}");
    assert!(stdout.contains("2/2"), "{stdout}");
    let csv = std::fs::read_to_string(out_dir.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "header and two rows: {csv}");
    assert!(out_dir.join("summary.md").is_file());
    assert!(plots.join("comparison.svg").is_file() && plots.join("comparison.png").is_file());

    let report = shrinkwrap(&["report", "--markdown", out_dir.to_str().unwrap()], &[]);
    assert!(report.status.success(), "{}", stderr(&report));
    let table = String::from_utf8_lossy(&report.stdout);
    assert!(table.starts_with("| Wrap"), "{table}");
}

#[test]
fn compare_exits_non_zero_on_a_regression_only() {
    use shrinkwrap::results::{ResultsWriter, read_results};
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/talk-results.csv");
    // The fixture's rows four times over, so the permutation test has samples to work with.
    let rows: Vec<_> = (0..4)
        .flat_map(|_| read_results(&fixture).unwrap())
        .collect();
    let save = |name: &str, rows: &[shrinkwrap::results::ResultRow]| {
        let path = dir.path().join(name);
        let mut writer = ResultsWriter::create(&path).unwrap();
        for row in rows {
            writer.write(row).unwrap();
        }
        path.to_string_lossy().into_owned()
    };
    let base = save("base.csv", &rows);
    let same = shrinkwrap(&["compare", &base, &base], &[]);
    assert!(same.status.success(), "{}", stderr(&same));

    // The candidate's first responses take twice as long.
    let slower: Vec<_> = rows
        .iter()
        .cloned()
        .map(|mut row| {
            row.ttfr_ms = row.ttfr_ms.map(|t| t * 2.0);
            row
        })
        .collect();
    let slower = save("slower.csv", &slower);
    let output = shrinkwrap(&["compare", &base, &slower], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("REGRESSION"), "{stdout}");
    assert!(stdout.contains("2 regression(s)"), "one per wrap: {stdout}");
}

#[test]
fn an_existing_results_folder_is_refused_before_anything_runs() {
    let out = tempfile::tempdir().unwrap();
    write(out.path(), "results.csv", "timestamp\n");
    let output = shrinkwrap(&["run", "--out", out.path().to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("already exists: choose another --out"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("results.csv")).unwrap(),
        "timestamp\n"
    );
}

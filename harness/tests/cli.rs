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
    let summary = std::fs::read_to_string(out_dir.join("summary.csv")).unwrap();
    let ttfr = summary
        .lines()
        .find(|l| l.contains(",ttfr_ms,"))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(ttfr.contains(",container,native,2,2,ttfr_ms,2,"), "{ttfr}");
    assert!(out_dir.join("summary.json").is_file());
    for figure in [
        "image-size",
        "image-compressed",
        "first-response",
        "host-memory",
    ] {
        for format in ["svg", "png"] {
            let file = plots.join(format!("{figure}.{format}"));
            assert!(file.is_file(), "{}", file.display());
        }
    }

    assert!(out_dir.join("results.json").is_file() && out_dir.join("report.html").is_file());

    // `report` remakes every file of the run's folder from results.csv alone.
    for made in ["summary.md", "summary.json", "results.json", "report.html"] {
        std::fs::remove_file(out_dir.join(made)).unwrap();
    }
    let report = shrinkwrap(&["report", "--markdown", out_dir.to_str().unwrap()], &[]);
    assert!(report.status.success(), "{}", stderr(&report));
    let table = String::from_utf8_lossy(&report.stdout);
    assert!(table.starts_with("| Wrap"), "{table}");
    for made in ["summary.md", "summary.json", "results.json", "report.html"] {
        assert!(out_dir.join(made).is_file(), "{made} remade");
    }
    assert!(out_dir.join("figures/start-up.svg").is_file());
    let page = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(
        page.contains("data:image/svg+xml;base64,"),
        "figures inlined"
    );
}

#[test]
fn a_malformed_results_file_fails_cleanly_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "results.csv",
        "timestamp,host\nnot,enough,columns,here\n",
    );
    let output = shrinkwrap(&["report", &file], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(message.contains("results.csv"), "{message}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing but the input");
}

/// The compare command on a real results file of the default scenario (TCG, 2 cores) and
/// on copies of it with one change planted.
mod compare {
    use super::*;
    use shrinkwrap::results::{ResultRow, ResultsWriter, read_results};

    fn real_run() -> Vec<ResultRow> {
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hello-rust-results.csv");
        read_results(&fixture).unwrap()
    }

    /// `compare REAL PLANTED [ARGS]` with `change` applied to the planted copy.
    fn compare_planted(
        change: impl Fn(&mut Vec<ResultRow>),
        args: &[&str],
    ) -> std::process::Output {
        let dir = tempfile::tempdir().unwrap();
        let save = |name: &str, rows: &[ResultRow]| {
            let path = dir.path().join(name);
            let mut writer = ResultsWriter::create(&path).unwrap();
            for row in rows {
                writer.write(row).unwrap();
            }
            path.to_string_lossy().into_owned()
        };
        let mut planted = real_run();
        change(&mut planted);
        let (base, cand) = (save("base.csv", &real_run()), save("cand.csv", &planted));
        let mut all = vec!["compare", &base, &cand];
        all.extend_from_slice(args);
        shrinkwrap(&all, &[])
    }

    fn assert_regression(output: &std::process::Output, wrap: &str, check: &str) {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{stdout}{}", stderr(output));
        assert!(stdout.contains("1 regression(s)"), "{stdout}");
        let line = stdout
            .lines()
            .find(|l| l.contains("REGRESSION"))
            .unwrap_or_default();
        assert!(line.contains(wrap) && line.contains(check), "{stdout}");
    }

    #[test]
    fn a_run_against_itself_passes() {
        let output = compare_planted(|_| {}, &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(String::from_utf8_lossy(&output.stdout).contains("0 regression(s)"));
    }

    #[test]
    fn nine_of_ten_hermit_runs_failing_fail_the_gate() {
        let output = compare_planted(
            |rows| {
                for row in rows.iter_mut().filter(|r| r.wrap == "hermit").skip(1) {
                    row.ok = false;
                    row.error = "probe: no HTTP 200 within 30 s".into();
                }
            },
            &[],
        );
        assert_regression(&output, "hermit", "serving");
    }

    #[test]
    fn a_missing_wrap_fails_the_gate() {
        let output = compare_planted(|rows| rows.retain(|r| r.wrap != "appliance"), &[]);
        assert_regression(&output, "appliance", "serving");
    }

    #[test]
    fn a_container_image_15_percent_larger_fails_the_gate() {
        let output = compare_planted(
            |rows| {
                for row in rows.iter_mut().filter(|r| r.wrap == "container") {
                    row.image_bytes = row.image_bytes.map(|b| b * 115 / 100);
                }
            },
            &[],
        );
        assert_regression(&output, "container", "tolerance");
    }

    #[test]
    fn three_of_ten_cold_starts_three_times_slower_fail_the_gate() {
        let output = compare_planted(
            |rows| {
                for row in rows.iter_mut().filter(|r| r.wrap == "hermit").take(3) {
                    row.ttfr_ms = row.ttfr_ms.map(|t| t * 3.0);
                }
            },
            &[],
        );
        assert_regression(&output, "hermit", "tail");
    }

    #[test]
    fn another_accelerator_is_refused_unless_allowed() {
        let to_kvm = |rows: &mut Vec<ResultRow>| {
            for row in rows.iter_mut().filter(|r| r.kind == "qemu") {
                row.accel = "kvm".into();
            }
        };
        let refused = compare_planted(to_kvm, &[]);
        assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
        assert!(
            stderr(&refused).contains("hermit: measured on different accelerators (tcg vs kvm)")
                && stderr(&refused).contains("--allow-mismatch"),
            "{}",
            stderr(&refused)
        );
        let allowed = compare_planted(to_kvm, &["--allow-mismatch"]);
        assert!(allowed.status.success(), "{}", stderr(&allowed));
        let stdout = String::from_utf8_lossy(&allowed.stdout);
        assert!(stdout.starts_with("NOT COMPARABLE: hermit"), "{stdout}");
    }

    #[test]
    fn a_broken_budgets_file_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let budgets = dir.path().join("budgets.toml");
        std::fs::write(&budgets, "[defaults]\ntime_limt = 0.1\n").unwrap();
        let output = compare_planted(|_| {}, &["--budgets", budgets.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2));
        assert!(stderr(&output).contains("time_limt"), "{}", stderr(&output));
    }
}

/// Two hosts' results, given as two files or as one folder holding both, print as two
/// tables and draw as two figures, one per host: a median is never taken across hosts.
#[test]
fn report_keeps_each_hosts_rows_apart() {
    use shrinkwrap::results::{ResultsWriter, read_results};
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hello-rust-results.csv");
    let mut other = read_results(&fixture).unwrap();
    for row in &mut other {
        row.host = "otherhost".into();
        row.ttfr_ms = row.ttfr_ms.map(|t| t * 100.0);
    }
    let other_dir = dir.path().join("nights/other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let mut writer = ResultsWriter::create(&other_dir.join("results.csv")).unwrap();
    for row in &other {
        writer.write(row).unwrap();
    }
    let vm_dir = dir.path().join("nights/vm");
    std::fs::create_dir_all(&vm_dir).unwrap();
    std::fs::copy(&fixture, vm_dir.join("results.csv")).unwrap();
    for args in [
        vec![
            "report".to_string(),
            fixture.display().to_string(),
            other_dir.display().to_string(),
        ],
        vec![
            "report".to_string(),
            dir.path().join("nights").display().to_string(),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = shrinkwrap(&args, &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        let stdout = String::from_utf8_lossy(&output.stdout);
        // Each host's table runs from its heading to the next heading (or the end).
        let table_of = |host: &str| {
            let heading = format!("hello-rust on {host}\n");
            let start = stdout
                .find(&heading)
                .unwrap_or_else(|| panic!("no table for {host}: {stdout}"));
            let rest = &stdout[start + heading.len()..];
            rest[..rest.find("hello-rust on ").unwrap_or(rest.len())].to_string()
        };
        let (vm, other) = (table_of("vm"), table_of("otherhost"));
        assert!(
            vm.contains("0.246 [0.243–0.263]") && !vm.contains("24.551"),
            "{vm}"
        );
        assert!(
            other.contains("24.551 [24.317–26.285]") && !other.contains("0.246 ["),
            "{other}"
        );
    }
    // compare matches each host with its own baseline: a regression planted in one host's
    // candidate is that host's alone.
    let candidate = dir.path().join("candidate");
    for (host, rows) in [
        ("vm", read_results(&fixture).unwrap()),
        ("other", other.clone()),
    ] {
        let mut rows = rows;
        if host == "other" {
            for row in rows.iter_mut().filter(|r| r.wrap == "container") {
                row.image_bytes = row.image_bytes.map(|b| b * 12 / 10);
            }
        }
        let folder = candidate.join(host);
        std::fs::create_dir_all(&folder).unwrap();
        let mut writer = ResultsWriter::create(&folder.join("results.csv")).unwrap();
        rows.iter().for_each(|row| writer.write(row).unwrap());
    }
    let nights_arg = dir.path().join("nights").display().to_string();
    let candidate_arg = candidate.display().to_string();
    let output = shrinkwrap(&["compare", &nights_arg, &candidate_arg], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}{}", stderr(&output));
    assert!(stdout.contains("1 regression(s)"), "{stdout}");
    // Each host's section runs from its heading line to the next one (or the end).
    let mut sections: Vec<(&str, String)> = Vec::new();
    for line in stdout.lines() {
        match line {
            "vm" | "otherhost" => sections.push((line, String::new())),
            _ => {
                if let Some((_, text)) = sections.last_mut() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    let section = |host: &str| {
        sections
            .iter()
            .find(|(h, _)| *h == host)
            .map(|(_, text)| text.clone())
            .unwrap_or_else(|| panic!("no section for {host}: {stdout}"))
    };
    assert!(section("otherhost").contains("REGRESSION"), "{stdout}");
    assert!(!section("vm").contains("REGRESSION"), "{stdout}");
    let plots = dir.path().join("plots");
    let nights = dir.path().join("nights");
    let args = [
        "plot",
        nights.to_str().unwrap(),
        "--out",
        plots.to_str().unwrap(),
    ];
    let output = shrinkwrap(&args, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    for host in ["vm", "otherhost"] {
        let figure = plots.join(format!("hello-rust-{host}/first-response.svg"));
        assert!(figure.is_file(), "a figure per host: {}", figure.display());
    }
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

#[test]
fn a_density_level_that_cannot_fit_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    // A terabyte of guest RAM per VM fits no host; its kernel need not even exist, since
    // the refusal comes before anything is built or checked.
    let scenario = write(
        dir.path(),
        "huge.toml",
        r#"name = "huge"
workload = "none"
[[wrap]]
name = "huge-vm"
kind = "qemu"
qemu = { kernel = "missing.bin", guest_port = 8080, memory_mb = 1000000 }
"#,
    );
    let out = dir.path().join("out");
    let output = shrinkwrap(
        &[
            "density",
            &scenario,
            "--instances",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("huge-vm: 1 instances need about 1000000 MB"),
        "{message}"
    );
    assert!(message.contains("choose fewer --instances"), "{message}");
    assert!(!out.exists(), "nothing written");
    let zero = shrinkwrap(&["density", &scenario, "--instances", "0"], &[]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(stderr(&zero).contains("--instances takes numbers from 1 to 256"));
}

#[test]
fn load_refuses_bad_numbers_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    for (args, says) in [
        (&["--connections", "0"][..], "--connections takes 1 to 256"),
        (&["--duration", "0s"][..], "--duration takes more than 0 s"),
        (&["--duration", "three"][..], "invalid value 'three'"),
    ] {
        let mut all = vec!["load", "--out", out];
        all.extend_from_slice(args);
        let output = shrinkwrap(&all, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
    }
    assert!(!Path::new(out).exists(), "nothing written");
}

#[test]
fn load_prints_its_table_and_writes_load_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = shrinkwrap(
        &[
            "load",
            "--wrap",
            "native",
            "--duration",
            "500ms",
            "--warmup",
            "100ms",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}{stdout}", stderr(&output));
    assert!(
        stdout.contains("Requests/s") && stdout.contains("native"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(out.join("load.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "a header and a row per mode: {csv}");
}

//! `shrinkwrap ab` through its real process path, each side a checkout whose
//! `target/release/shrinkwrap` is a stand-in script: `build` succeeds, and `run --wrap W
//! --runs K --out DIR` writes K rows of the real default-scenario run (TCG, 2 cores) for W,
//! with the change planted in that side applied. Every planted case of `compare`'s CLI tests
//! must still be caught through the A/B path, and an A/A must pass. A checkout with an `old`
//! file stands for a revision whose `run` has no `--results-only`; each run without it
//! (one that would write a report) is listed in the checkout's `reports`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The stand-in binary. Row `i` of a wrap's sequence on this side (counted across blocks in
/// `counts/`) is the real run's row `i % 10`; `plant.py` in the checkout may change it.
const FAKE: &str = r#"#!/usr/bin/env python3
import csv, os, sys
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
args = sys.argv[1:]
if args[0] == "build":
    sys.exit(0)
old = os.path.exists(os.path.join(root, "old"))
if args[1:] == ["--help"]:
    print("Usage: shrinkwrap run [SCENARIO] [OPTIONS]" + ("" if old else " --results-only"))
    sys.exit(0)
if "--results-only" in args:
    if old:
        print("error: unexpected argument '--results-only' found", file=sys.stderr)
        sys.exit(2)
    args.remove("--results-only")
else:
    open(os.path.join(root, "reports"), "a").write(args[args.index("--wrap") + 1] + "\n")
opts = dict(zip(args[2::2], args[3::2]))
wrap, runs, out = opts["--wrap"], int(opts["--runs"]), opts["--out"]
rows = [r for r in csv.DictReader(open(os.environ["FIXTURE"])) if r["wrap"] == wrap]
if not rows:
    print("error: no wrap " + wrap, file=sys.stderr)
    sys.exit(2)
os.makedirs(os.path.join(root, "counts"), exist_ok=True)
count_file = os.path.join(root, "counts", wrap)
start = int(open(count_file).read()) if os.path.exists(count_file) else 0
open(count_file, "w").write(str(start + runs))
plant = lambda row, i: None
if os.path.exists(os.path.join(root, "plant.py")):
    exec(open(os.path.join(root, "plant.py")).read())
os.makedirs(out)
with open(os.path.join(out, "results.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    for i in range(start, start + runs):
        row = dict(rows[i % len(rows)])
        plant(row, i)
        w.writerow(row)
"#;

const WRAPS: [&str; 4] = ["native", "container", "hermit", "appliance"];

/// A checkout in `dir` with the stand-in binary, a scenario of `wraps` and `plant` (Python
/// defining `plant(row, i)`, or empty).
fn checkout(dir: &Path, wraps: &[&str], plant: &str) -> PathBuf {
    let bin = dir.join("target/release");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    let binary = bin.join("shrinkwrap");
    std::fs::write(&binary, FAKE).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut scenario = String::from("name = \"hello-rust\"\nworkload = \"hello-rust\"\n");
    for wrap in wraps {
        scenario.push_str(&format!("\n[[wrap]]\nname = \"{wrap}\"\n"));
    }
    std::fs::write(dir.join("scenarios/hello-rust.toml"), scenario).unwrap();
    if !plant.is_empty() {
        std::fs::write(dir.join("plant.py"), plant).unwrap();
    }
    dir.to_path_buf()
}

/// `ab` of an unchanged baseline against a candidate with `plant`, 10 runs a side in 2
/// rounds; the candidate's scenario has `wraps`.
fn ab_planted(wraps: &[&str], plant: &str) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let a = checkout(&dir.path().join("a"), &WRAPS, "");
    let b = checkout(&dir.path().join("b"), wraps, plant);
    ab_of(&a, &b, &dir.path().join("out"))
}

/// `ab A B --out OUT` through the binary; its output and `ab.md`.
fn ab_of(a: &Path, b: &Path, out: &Path) -> (Output, String) {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hello-rust-results.csv");
    let output = Command::new(env!("CARGO_BIN_EXE_shrinkwrap"))
        .args([
            "ab",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("FIXTURE", fixture)
        .output()
        .unwrap();
    let report = std::fs::read_to_string(out.join("ab.md")).unwrap_or_default();
    (output, report)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Exit 1 and one regression, of `wrap` by `check`, in the verdict; measured again first
/// when it rests on launches.
fn assert_confirmed(output: &Output, report: &str, wrap: &str, check: &str, retried: bool) {
    let text = stdout(output);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{text}{err}");
    let verdict = text
        .lines()
        .find(|l| l.starts_with("Verdict:"))
        .unwrap_or_default();
    assert!(verdict.contains("Verdict: 1 regression(s)"), "{text}");
    assert!(
        verdict.contains(wrap) && verdict.contains(check),
        "{verdict}"
    );
    let retry = format!("### Retry of {wrap}: 20 runs a side");
    assert_eq!(report.contains(&retry), retried, "{report}");
}

#[test]
fn an_a_a_of_the_real_run_passes_without_a_retry() {
    let (output, report) = ab_planted(&WRAPS, "");
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(
        report.contains("Retry: nothing flagged on launches"),
        "{report}"
    );
    assert!(report.contains("Verdict: no regression\n"), "{report}");
}

#[test]
fn blocks_write_no_reports_and_a_baseline_from_before_the_flag_is_still_measured() {
    let dir = tempfile::tempdir().unwrap();
    let a = checkout(&dir.path().join("a"), &WRAPS, "");
    std::fs::write(a.join("old"), "").unwrap();
    let b = checkout(&dir.path().join("b"), &WRAPS, "");
    let (output, report) = ab_of(&a, &b, &dir.path().join("out"));
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(report.contains("Verdict: no regression\n"), "{report}");
    let reports = std::fs::read_to_string(a.join("reports")).unwrap_or_default();
    assert_eq!(reports.lines().count(), 2 * WRAPS.len(), "{reports}");
    assert!(
        !b.join("reports").exists(),
        "the candidate's blocks wrote reports"
    );
}

#[test]
fn nine_of_ten_hermit_runs_failing_are_confirmed() {
    let plant = "def plant(row, i):\n    if row['wrap'] == 'hermit' and i % 10:\n        row['ok'] = 'false'\n        row['ttfr_ms'] = ''\n";
    let (output, report) = ab_planted(&WRAPS, plant);
    assert_confirmed(&output, &report, "hermit", "serving", true);
}

#[test]
fn a_missing_wrap_is_confirmed() {
    let (output, report) = ab_planted(&["native", "container", "hermit"], "");
    assert_confirmed(&output, &report, "appliance", "serving", false);
}

#[test]
fn a_container_image_15_percent_larger_is_confirmed() {
    let plant = "def plant(row, i):\n    if row['wrap'] == 'container':\n        row['image_bytes'] = str(int(row['image_bytes']) * 115 // 100)\n";
    let (output, report) = ab_planted(&WRAPS, plant);
    assert_confirmed(&output, &report, "container", "tolerance", false);
}

#[test]
fn three_of_ten_cold_starts_three_times_slower_are_confirmed() {
    let plant = "def plant(row, i):\n    if row['wrap'] == 'hermit' and i % 10 < 3:\n        row['ttfr_ms'] = str(float(row['ttfr_ms']) * 3)\n";
    let (output, report) = ab_planted(&WRAPS, plant);
    assert_confirmed(&output, &report, "hermit", "tail", true);
}

#[test]
fn a_30_percent_slower_first_response_is_confirmed() {
    let plant = "def plant(row, i):\n    if row['wrap'] == 'hermit':\n        row['ttfr_ms'] = str(float(row['ttfr_ms']) * 1.3)\n";
    let (output, report) = ab_planted(&WRAPS, plant);
    assert_confirmed(&output, &report, "hermit", "median", true);
}

#[test]
fn another_accelerator_is_refused_with_one_line() {
    let plant = "def plant(row, i):\n    if row['kind'] == 'qemu':\n        row['accel'] = 'kvm'\n";
    let (output, _) = ab_planted(&WRAPS, plant);
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "error: not comparable: hermit: measured on different accelerators (tcg vs kvm)"
        ),
        "{err}"
    );
}

#[test]
fn a_side_that_cannot_measure_names_its_error_and_log() {
    // The candidate's scenario names a wrap the stand-in has no rows for: its run exits 2.
    let (output, _) = ab_planted(&["native", "nosuch"], "");
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("candidate's run of nosuch (round 1) failed")
            && last.contains("error: no wrap nosuch")
            && last.contains(".log"),
        "{err}"
    );
}

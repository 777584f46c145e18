//! The QEMU wrap against a real QEMU: QMP control, a guest that never answers, a missing
//! kernel. Needs qemu-system-x86_64 (`scripts/setup` installs it).

use std::time::Duration;

mod common;

use common::{idle_guest, image_dir, qemu_processes_with, run, run_options, temp_dirs_with};
use shrinkwrap::image::recipe::ImageCache;
use shrinkwrap::repository_root;
use shrinkwrap::results::RESULTS_FILE;
use shrinkwrap::scenario::{Launch, RestoreRam, Scenario};
use shrinkwrap::wrap::qemu::QemuWrap;
use shrinkwrap::wrap::qmp::QmpClient;
use shrinkwrap::wrap::{PrepareContext, Wrap};

/// Held by the tests that measure a real guest, one at a time: two TCG guests measured at
/// once on two cores starve each other (a Hermit guest then stopped answering after its
/// first response), which tests nothing but the machine's load.
static ONE_GUEST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread")]
async fn qmp_handshake_status_and_quit() {
    let _one_guest = ONE_GUEST_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let image = idle_guest(dir.path());
    let socket = dir.path().join("qmp.sock");
    let mut qemu = tokio::process::Command::new("qemu-system-x86_64")
        .args([
            "-machine",
            "pc",
            "-accel",
            "tcg",
            "-m",
            "16",
            "-nodefaults",
            "-display",
            "none",
        ])
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=ide,snapshot=on",
            image.display()
        ))
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", socket.display()))
        .kill_on_drop(true)
        .spawn()
        .expect("qemu-system-x86_64 runs: run scripts/setup");
    let client = QmpClient::connect(&socket, Duration::from_secs(10))
        .await
        .unwrap();
    let (running, state) = client.status().await.unwrap();
    assert!(running);
    assert_eq!(state, "running");
    client.quit().await;
    let status = tokio::time::timeout(Duration::from_secs(10), qemu.wait())
        .await
        .expect("QEMU exits after quit")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_never_serves_http_times_out_and_leaves_nothing() {
    let _one_guest = ONE_GUEST_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let image = idle_guest(dir.path());
    let session = format!("test-idle-{}", std::process::id());
    let text = format!(
        r#"name = "idle"
workload = "none"
[[wrap]]
name = "idle-vm"
kind = "qemu"
ready_timeout_s = 2.0
qemu = {{ machine = "pc", accel = "tcg", memory_mb = 32, disks = ["{}"], guest_port = 8080, nic = "e1000", ready_line = "never" }}
"#,
        image.display()
    );
    let scenario = Scenario::parse(&text, &dir.path().join("idle.toml")).unwrap();
    let out = dir.path().join("out");
    let outcome = run(&scenario, &run_options(&session, &out, 1))
        .await
        .unwrap();
    let row = &outcome.rows[0];
    assert!(!row.ok);
    assert_eq!(row.kind, "qemu");
    assert_eq!(row.accel, "tcg");
    assert!(
        row.runtime_version.starts_with("QEMU "),
        "{}",
        row.runtime_version
    );
    assert_eq!(row.image_bytes, Some(512));
    assert_eq!(row.guest_memory_mb, Some(32));
    assert!(
        row.error.starts_with("no HTTP 200 within 2.0s"),
        "{}",
        row.error
    );
    let kept = out.join("logs/idle-vm-run1.console.log");
    assert!(
        row.error
            .contains(&format!("console log: {}", kept.display())),
        "{}",
        row.error
    );
    assert!(kept.is_file());
    assert!(
        row.qmp_ready_ms.is_some(),
        "QMP answered while the guest idled"
    );
    assert_eq!(row.ttfr_ms, None);
    assert_eq!(qemu_processes_with(&format!("shrinkwrap-{session}-")), 0);
    assert_eq!(temp_dirs_with(&format!("shrinkwrap-{session}-")), 0);
}

/// The last lines of the console log a failed launch kept, for a failing test's message
/// (the results folder is a temp folder, gone once the test ends).
fn kept_console(out: &std::path::Path, wrap: &str, run: u32) -> String {
    let log = out
        .join("logs")
        .join(format!("{wrap}-run{run}.console.log"));
    match std::fs::read_to_string(&log) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        }
        Err(e) => format!("({}: {e})", log.display()),
    }
}

/// The Hermit unikernel built from source by its recipe, booted and measured like the
/// container: every figure present, nothing left behind.
#[tokio::test(flavor = "multi_thread")]
async fn boots_and_measures_the_hermit_unikernel() {
    let _one_guest = ONE_GUEST_AT_A_TIME.lock().await;
    let out = tempfile::tempdir().unwrap();
    let session = format!("test-hermit-{}", std::process::id());
    let mut scenario =
        Scenario::load(&repository_root().join("scenarios/hello-rust.toml")).unwrap();
    scenario.select_wraps(&["hermit".to_string()]).unwrap();
    let opts = run_options(&session, out.path(), 2);
    let outcome = run(&scenario, &opts)
        .await
        .expect("the Hermit image builds and the run completes");
    assert_eq!(outcome.rows.len(), 2);
    for row in &outcome.rows {
        assert!(
            row.ok,
            "run {} failed: {}\nits console:\n{}",
            row.run,
            row.error,
            kept_console(out.path(), "hermit", row.run)
        );
        assert_eq!(row.kind, "qemu");
        assert!(row.accel == "tcg" || row.accel == "kvm", "{}", row.accel);
        let image = row.image_bytes.unwrap();
        assert!(
            image > 100_000 && image < 3_000_000,
            "a unikernel of about 1 MB, got {image}"
        );
        let ttfr = row.ttfr_ms.unwrap();
        let ready = row
            .ready_line_ms
            .expect("the server's listening line was seen");
        assert!(row.qmp_ready_ms.unwrap() < ttfr);
        assert!(row.first_output_ms.unwrap() < ready);
        assert!(
            ready <= ttfr,
            "the probe cannot answer before the guest listens"
        );
        assert!(row.rss_bytes.unwrap() > 0 && row.pss_bytes.unwrap() > 0);
        assert!(row.vmm_overhead_bytes.unwrap() > 0);
        assert!(row.vmm_overhead_bytes.unwrap() < row.rss_bytes.unwrap());
        // The split adds up (RSS read twice, a moment apart: within 2 MB).
        let split = row.guest_ram_bytes.unwrap() + row.vmm_overhead_bytes.unwrap();
        assert!(
            split.abs_diff(row.rss_bytes.unwrap()) < 2_000_000,
            "guest RAM + VMM = {split}, RSS {}",
            row.rss_bytes.unwrap()
        );
        assert!(row.guest_ram_bytes.unwrap() <= 64 << 20);
        assert_eq!(
            row.host_memory_bytes, row.pss_bytes,
            "QEMU is the whole host cost"
        );
        // The probe against the guest's own ready line: what the probe adds beyond the
        // guest's own answer time stays within a generous 20 ms (about 1 ms measured).
        let lag = row.probe_lag_ms.unwrap();
        let answer = row.probe_answer_ms.unwrap();
        assert!((lag - (ttfr - ready)).abs() < 1e-6);
        assert!(
            lag - answer < 20.0,
            "the probe saw the listener {:.1} ms after it could answer (lag {lag:.1} ms)",
            lag - answer
        );
        // Sizes against an independent reading: the boot files as they lie on disk, in this
        // recipe's own folder of the cache (older builds keep theirs beside it).
        let dir = image_dir(&scenario, "hermit");
        let on_disk: u64 = ["hermit-loader", "hello-rust"]
            .iter()
            .map(|f| std::fs::metadata(dir.join(f)).unwrap().len())
            .sum();
        assert_eq!(
            image, on_disk,
            "image_bytes is the boot files' apparent size"
        );
        let compressed = row.image_compressed_bytes.unwrap();
        assert!(compressed < image, "compressed {compressed} of {image}");
        assert!(row.stop_ms.unwrap() > 0.0);
        assert_eq!(row.guest_memory_mb, Some(64));
    }
    assert_eq!(qemu_processes_with(&format!("shrinkwrap-{session}-")), 0);
    assert_eq!(temp_dirs_with(&format!("shrinkwrap-{session}-")), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_kernel_fails_before_anything_is_launched() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"name = "missing"
workload = "none"
[[wrap]]
name = "byo"
kind = "qemu"
qemu = { kernel = "unikernel.bin", accel = "tcg", guest_port = 8080 }
"#;
    let scenario = Scenario::parse(text, &dir.path().join("byo.toml")).unwrap();
    let out = dir.path().join("out");
    let err = run(&scenario, &run_options("test-missing-kernel", &out, 1))
        .await
        .unwrap_err()
        .to_string();
    let expected = format!(
        "wrap 'byo': qemu.kernel {} does not exist",
        dir.path().join("unikernel.bin").display()
    );
    assert!(err.starts_with(&expected), "{err}");
    assert!(!out.join(RESULTS_FILE).exists());
}

/// A guest that says it listens but whose answers never reach the host (here: the scenario
/// forwards to a port the guest does not listen on) fails with what to try: the port, the
/// machine type, the NIC model.
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_listens_but_never_answers_is_told_what_to_try() {
    let _one_guest = ONE_GUEST_AT_A_TIME.lock().await;
    let out = tempfile::tempdir().unwrap();
    let session = format!("test-unanswered-{}", std::process::id());
    let mut scenario =
        Scenario::load(&repository_root().join("scenarios/hello-rust.toml")).unwrap();
    scenario.select_wraps(&["hermit".to_string()]).unwrap();
    scenario.wraps[0].timeouts.ready = std::time::Duration::from_secs(5);
    if let Launch::Qemu(qemu) = &mut scenario.wraps[0].launch {
        qemu.guest_port = 8081;
    }
    let outcome = run(&scenario, &run_options(&session, out.path(), 1))
        .await
        .unwrap();
    let row = &outcome.rows[0];
    assert!(!row.ok);
    assert!(row.ready_line_ms.is_some(), "the guest said it listens");
    for hint in [
        "the guest said it listens",
        "check guest_port (8081)",
        "machine = \"pc\"",
        "nic = \"e1000\"",
    ] {
        assert!(row.error.contains(hint), "{hint}: {}", row.error);
    }
    assert_eq!(qemu_processes_with(&format!("shrinkwrap-{session}-")), 0);
}

/// The default scenario's restored Hermit with one more argument, `-name MARKER`: a machine
/// of its own, so this test makes and removes its own saved states.
fn restored_hermit(marker: &str, memory_mb: u32, ram: RestoreRam) -> Scenario {
    let mut scenario =
        Scenario::load(&repository_root().join("scenarios/hello-rust.toml")).unwrap();
    scenario
        .select_wraps(&["hermit-restored".to_string()])
        .unwrap();
    if let Launch::Qemu(qemu) = &mut scenario.wraps[0].launch {
        assert!(qemu.restore);
        qemu.extra_args = vec!["-name".to_string(), marker.to_string()];
        qemu.memory_mb = memory_mb;
        qemu.restore_ram = ram;
    }
    scenario
}

/// Prepares the scenario's only wrap: its saved state's key, and whether it was made now.
async fn prepare_restored(scenario: &Scenario) -> (String, bool) {
    let cache = ImageCache::for_repository(repository_root());
    let said = std::sync::Mutex::new(Vec::<String>::new());
    let progress = |line: &str| said.lock().unwrap().push(line.to_string());
    let context = PrepareContext {
        cache: &cache,
        base_dir: &repository_root(),
        rebuild: false,
        progress: &progress,
    };
    let wrap = QemuWrap::prepare(scenario.wraps[0].clone(), &context)
        .await
        .expect("the restored Hermit prepares");
    let made = said
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("saving a VM state"));
    (wrap.prepared().restored_from.clone().unwrap(), made)
}

/// A restoring VM saves its state once, reuses it while nothing that shapes the machine
/// changed and saves a new one when something did; every launch restores it, its image
/// counts the state file, and no QEMU process or temp folder is left.
#[tokio::test(flavor = "multi_thread")]
async fn a_restored_vm_reuses_its_saved_state_until_the_machine_changes() {
    let _one_guest = ONE_GUEST_AT_A_TIME.lock().await;
    let marker = format!("shrinkwrap-test-restore-{}", std::process::id());
    let scenario = restored_hermit(&marker, 64, RestoreRam::Mapped);
    let (first, made) = prepare_restored(&scenario).await;
    assert!(made, "a new machine's state is saved");
    let (again, made) = prepare_restored(&scenario).await;
    assert!(!made && again == first, "reused while nothing changed");
    let (resized, made) = prepare_restored(&restored_hermit(&marker, 72, RestoreRam::Mapped)).await;
    assert!(
        made && resized != first,
        "more guest RAM is another machine"
    );
    let copied = restored_hermit(&marker, 64, RestoreRam::Copied);
    let (in_stream, made) = prepare_restored(&copied).await;
    assert!(
        made && in_stream != first,
        "RAM in the stream is another state"
    );

    let out = tempfile::tempdir().unwrap();
    let session = format!("test-restore-{}", std::process::id());
    let outcome = run(&scenario, &run_options(&session, out.path(), 2))
        .await
        .expect("the restored runs complete");
    let states = ImageCache::for_repository(repository_root())
        .dir
        .join("vm-states");
    let bytes = |file: String| std::fs::metadata(states.join(file)).map_or(0, |m| m.len());
    let saved = bytes(format!("{first}.state")) + bytes(format!("{first}.ram"));
    assert!(
        bytes(format!("{first}.ram")) == 64 << 20,
        "the mapped RAM file holds the 64 MiB guest"
    );
    let copied_outcome = run(
        &copied,
        &run_options(&session, out.path().join("copied").as_path(), 1),
    )
    .await
    .expect("the copied restore completes");
    for row in outcome.rows.iter().chain(&copied_outcome.rows) {
        assert!(row.ok, "run {} failed: {}", row.run, row.error);
        assert!(row.ttfr_ms.is_some() && row.host_memory_bytes.is_some());
    }
    for row in &outcome.rows {
        assert_eq!(row.restored_from.as_deref(), Some(first.as_str()));
        // The guest RAM is the mapped file's pages the guest touched: within its 64 MiB, and
        // with the VMM's share it adds up to QEMU's RSS.
        let guest = row.guest_ram_bytes.expect("the mapped guest RAM is found");
        assert!(guest > 0 && guest <= 64 << 20, "{guest}");
        // Two reads of /proc a moment apart: a few pages may differ.
        let split = (guest + row.vmm_overhead_bytes.unwrap()) as f64;
        let rss = row.rss_bytes.unwrap() as f64;
        assert!(
            (split - rss).abs() < 0.01 * rss,
            "guest RAM and VMM overhead split QEMU's RSS: {split} vs {rss}"
        );
        let kernel = row.image_bytes.unwrap() - saved;
        assert!(
            kernel > 100_000 && kernel < 3_000_000,
            "the image counts the {saved} saved bytes and a kernel of about 1 MB: {kernel}"
        );
    }
    assert_eq!(
        copied_outcome.rows[0].restored_from.as_deref(),
        Some(in_stream.as_str())
    );
    for id in [&first, &resized, &in_stream] {
        for file in [format!("{id}.state"), format!("{id}.ram")] {
            let _ = std::fs::remove_file(states.join(file));
        }
    }
    assert_eq!(qemu_processes_with(&marker), 0, "no QEMU left running");
    assert_eq!(temp_dirs_with("shrinkwrap-snapshot-"), 0);
    assert_eq!(temp_dirs_with(&format!("shrinkwrap-{session}-")), 0);
}

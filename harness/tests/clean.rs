//! `shrinkwrap clean` after a run killed with SIGKILL while its VM was up: no QEMU process
//! and no temp folder of the run is left. In a test binary of its own, since `clean`
//! removes every harness leftover, whatever its session.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{idle_guest, qemu_processes_with};

#[test]
fn clean_removes_the_vm_of_a_run_killed_with_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let image = idle_guest(dir.path());
    let marker = image.display().to_string();
    let scenario = dir.path().join("idle.toml");
    std::fs::write(
        &scenario,
        r#"name = "killed"
workload = "none"
[[wrap]]
name = "idle-vm"
kind = "qemu"
ready_timeout_s = 60.0
qemu = { machine = "pc", accel = "tcg", memory_mb = 32, disks = ["idle.img"], guest_port = 8080, nic = "e1000" }
"#,
    )
    .unwrap();
    let shrinkwrap = env!("CARGO_BIN_EXE_shrinkwrap");
    let out = dir.path().join("out");
    let mut run = Command::new(shrinkwrap)
        .args(["run", "--warmup", "0", "--runs", "1", "--out"])
        .arg(&out)
        .arg(&scenario)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while qemu_processes_with(&marker) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the VM never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    run.kill().unwrap(); // SIGKILL: the harness cannot clean up after itself
    run.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(qemu_processes_with(&marker), 1, "the VM outlived its run");

    let clean = Command::new(shrinkwrap).arg("clean").output().unwrap();
    let said = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success(), "{said}");
    assert!(!said.contains("killed 0 QEMU"), "{said}");
    let started = Instant::now();
    while qemu_processes_with(&marker) > 0 && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(qemu_processes_with(&marker), 0, "clean left the VM: {said}");
    let leftovers: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("shrinkwrap-"))
        .collect();
    assert!(leftovers.is_empty(), "temp folders left: {leftovers:?}");
}

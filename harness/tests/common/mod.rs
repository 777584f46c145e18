//! What the integration tests share. Each test file uses its own part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use bollard::query_parameters::ListContainersOptionsBuilder;
use sha2::{Digest, Sha256};

use shrinkwrap::image::recipe::ImageCache;
use shrinkwrap::instrument::probe::StopFlag;
use shrinkwrap::report::progress::Progress;
use shrinkwrap::repository_root;
use shrinkwrap::runner::{BenchError, RunOptions, RunOutcome, prepare_all, run_scenario};
use shrinkwrap::scenario::Scenario;
use shrinkwrap::wrap::Wrap;
use shrinkwrap::wrap::container::connect;

/// Options for `runs` measured launches without warm-up, into `out`, under `session`.
pub fn run_options(session: &str, out: &Path, runs: u32) -> RunOptions {
    RunOptions {
        runs,
        warmup: 0,
        out_dir: out.to_path_buf(),
        rebuild: false,
        session: session.to_string(),
        min_memory: false,
    }
}

/// Runs a scenario as `shrinkwrap run` does: the repository's image cache, progress shown,
/// never interrupted.
pub async fn run(scenario: &Scenario, options: &RunOptions) -> Result<RunOutcome, BenchError> {
    let cache = ImageCache::for_repository(repository_root());
    run_scenario(
        scenario,
        &cache,
        options,
        &StopFlag::default(),
        &Progress::default(),
    )
    .await
}

/// Folders in the temp folder whose name starts with `prefix`.
pub fn temp_dirs_with(prefix: &str) -> usize {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .count()
}

/// A boot sector that halts forever: a guest that boots and never serves anything.
pub fn idle_guest(dir: &Path) -> std::path::PathBuf {
    let mut sector = vec![0xF4, 0xEB, 0xFD]; // hlt; jmp hlt
    sector.resize(510, 0);
    sector.extend_from_slice(&[0x55, 0xAA]);
    let path = dir.join("idle.img");
    std::fs::write(&path, sector).unwrap();
    path
}

/// QEMU processes whose command line names `marker`.
pub fn qemu_processes_with(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|cmd| {
            let cmd = String::from_utf8_lossy(cmd);
            cmd.starts_with("qemu-system") && cmd.contains(marker)
        })
        .count()
}
/// Containers (running or not) carrying a label filter.
pub async fn containers_labelled(label: &str) -> usize {
    let (docker, _) = connect().await.expect("dockerd answers: run scripts/setup");
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    docker.list_containers(Some(options)).await.unwrap().len()
}

/// The default scenario with only `wraps`, its wraps prepared (images built or found).
pub async fn prepared_default(wraps: &[&str]) -> (Scenario, Vec<Box<dyn Wrap>>) {
    prepared("scenarios/hello-rust.toml", wraps).await
}

/// The scenario at `path` (from the repository root) with only `wraps`, its wraps prepared.
pub async fn prepared(path: &str, wraps: &[&str]) -> (Scenario, Vec<Box<dyn Wrap>>) {
    let mut scenario = Scenario::load(&repository_root().join(path)).unwrap();
    let names: Vec<String> = wraps.iter().map(|w| w.to_string()).collect();
    scenario.select_wraps(&names).unwrap();
    let cache = ImageCache::for_repository(repository_root());
    let prepared = prepare_all(&scenario, &cache, false, &Progress::default())
        .await
        .unwrap();
    (scenario, prepared)
}

/// The SHA-256 of `bytes`, in hex.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The built image folder of `wrap` in the default scenario.
pub fn image_dir(scenario: &Scenario, wrap: &str) -> std::path::PathBuf {
    let spec = scenario.wraps.iter().find(|w| w.name == wrap).unwrap();
    let cache = ImageCache::for_repository(repository_root());
    cache
        .ensure(spec.image.as_ref().unwrap(), false, &|_| {})
        .unwrap()
        .dir
}

/// `/hello-rust` as the engine holds it in the container wrap's image.
pub fn containers_binary(scenario: &Scenario) -> Vec<u8> {
    let spec = scenario
        .wraps
        .iter()
        .find(|w| w.name == "container")
        .unwrap();
    let key = ImageCache::for_repository(repository_root())
        .key(spec.image.as_ref().unwrap())
        .unwrap();
    let tag = format!("shrinkwrap/hello-rust-static:{key}");
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "docker {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let id = docker(&["create", &tag, "/hello-rust"]);
    let id = id.trim();
    let dir = tempfile::tempdir().unwrap();
    docker(&[
        "cp",
        &format!("{id}:/hello-rust"),
        &dir.path().display().to_string(),
    ]);
    docker(&["rm", id]);
    std::fs::read(dir.path().join("hello-rust")).unwrap()
}

/// A run that served, and whose program printed its ready line on the guest's console.
pub fn assert_served_after_its_ready_line(row: &shrinkwrap::results::ResultRow) {
    assert!(row.ok, "{}", row.error);
    assert!(
        row.ready_line_ms.is_some(),
        "the program's own ready line was seen"
    );
}

/// The rows of `runs` measured launches of `scenario`'s VMs under `session`, into a temp
/// folder; no VM of the session may be left afterwards. Tests run side by side: no session
/// name may be another's with a `-...` tail ("test-nanos" would also sweep and count the
/// VMs of "test-nanos-fatal").
pub async fn run_leaving_no_vm(
    scenario: &Scenario,
    session: &str,
    runs: u32,
) -> Vec<shrinkwrap::results::ResultRow> {
    let out = tempfile::tempdir().unwrap();
    let rows = run(scenario, &run_options(session, out.path(), runs))
        .await
        .expect("the run completes")
        .rows;
    assert_eq!(
        qemu_processes_with(&format!("shrinkwrap-{session}-")),
        0,
        "no VM left"
    );
    rows
}

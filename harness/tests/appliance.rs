//! The Linux appliance microVMs, the talk's Node.js container and its Nanos unikernel, built from source by their
//! recipes and measured for real: each must serve its first 200, report its image's facts
//! honestly, and leave nothing behind.

use std::path::Path;

mod common;

use common::{run, run_options};
use shrinkwrap::image::recipe::ImageCache;
use shrinkwrap::instrument::probe::StopFlag;
use shrinkwrap::repository_root;
use shrinkwrap::results::ResultRow;
use shrinkwrap::runner::minmem::find_min_guest_memory;
use shrinkwrap::scenario::Scenario;
use shrinkwrap::wrap::{self, LaunchContext, PrepareContext};

fn scenario(file: &str, wraps: &[&str]) -> Scenario {
    let mut scenario = Scenario::load(&repository_root().join("scenarios").join(file)).unwrap();
    let wraps: Vec<String> = wraps.iter().map(|w| w.to_string()).collect();
    scenario.select_wraps(&wraps).unwrap();
    scenario
}

async fn run_once(scenario: &Scenario, out: &Path, session: &str) -> Vec<ResultRow> {
    run(scenario, &run_options(session, out, 1))
        .await
        .expect("the images build and the run completes")
        .rows
}

fn assert_served(row: &ResultRow) {
    assert!(row.ok, "{} failed: {}", row.wrap, row.error);
    assert!(row.ttfr_ms.unwrap() > 0.0);
    assert!(row.rss_bytes.unwrap() > 0);
    assert!(row.stop_ms.unwrap() > 0.0);
    assert_eq!(row.image_setuid, Some(0));
    assert_eq!(row.image_shells, "", "no shell in {}", row.wrap);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_appliance_boots_and_serves() {
    let out = tempfile::tempdir().unwrap();
    let rows = run_once(
        &scenario("hello-rust.toml", &["appliance"]),
        out.path(),
        "test-rust-appliance",
    )
    .await;
    let row = &rows[0];
    assert_served(row);
    assert_eq!(row.kind, "qemu");
    assert!(
        row.image_kernel.starts_with("Linux 6.1."),
        "{}",
        row.image_kernel
    );
    assert_eq!(
        row.image_files,
        Some(3),
        "init, the server and nothing else: {row:?}"
    );
    assert!(row.ready_line_ms.unwrap() <= row.ttfr_ms.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_talks_node_server_serves_as_container_unikernel_and_appliance() {
    let out = tempfile::tempdir().unwrap();
    let rows = run_once(
        &scenario("talk.toml", &["container", "unikernel", "appliance"]),
        out.path(),
        "test-talk",
    )
    .await;
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_served(row);
        assert_eq!(row.workload, "hello-node");
        assert!(
            row.image_files.unwrap() >= 8,
            "node, its libraries and the app: {row:?}"
        );
    }
    assert_eq!(rows[0].kind, "container");
    assert!(rows[0].image_kernel.starts_with("shares the host's Linux"));
    assert_eq!(rows[1].kind, "qemu");
    assert_eq!(rows[1].image_kernel, "Nanos 0.1.55, its files on its disk");
    assert_eq!(
        rows[1].image_files,
        rows[0].image_files.map(|files| files + 1),
        "the container's files and the Nanos kernel"
    );
    assert!(
        rows[1].ready_line_ms.is_some(),
        "node's own ready line was seen"
    );
    assert_eq!(rows[2].kind, "qemu");
    assert!(
        rows[2].image_kernel.starts_with("Linux 6.1."),
        "{}",
        rows[2].image_kernel
    );
}

/// The search must land strictly between nothing and the configured RAM for a guest that
/// needs a few tens of MiB (30 was measured by hand on these machines).
#[tokio::test(flavor = "multi_thread")]
async fn finds_the_rust_appliances_smallest_guest_ram() {
    let scenario = scenario("hello-rust.toml", &["appliance"]);
    let cache = ImageCache::for_repository(repository_root());
    let context = PrepareContext {
        cache: &cache,
        base_dir: scenario.base_dir(),
        rebuild: false,
        progress: &|_| {},
    };
    let appliance = wrap::prepare(&scenario.wraps[0], &context).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let launch = LaunchContext {
        session: "test-minmem".into(),
        probe: scenario.probe.clone(),
        interrupt: StopFlag::default(),
        logs_dir: out.path().to_path_buf(),
    };
    let found = find_min_guest_memory(appliance.as_ref(), &launch, &|_| {})
        .await
        .unwrap();
    let configured = appliance.guest_memory_mb().unwrap();
    assert!(
        found.mib > 8 && found.mib < configured,
        "{found:?} (configured {configured} MiB)"
    );
    assert!(found.launches >= 3);
}

//! Load against real instances: the workload keeps connections alive when asked and closes
//! them when told, every request the generator counts is a whole answer, the CPU time read
//! over an instance's processes agrees with the kernel's own accounting of its cgroup, and
//! nothing is left behind. (The generator's latency and counts are checked against a server
//! of known behaviour in `instrument::load`.)

mod common;

use std::time::Duration;

use common::{containers_labelled, prepared_default, qemu_processes_with};
use shrinkwrap::instrument::cpu::cpu_time;
use shrinkwrap::instrument::load::{LoadPlan, drive};
use shrinkwrap::instrument::probe::StopFlag;
use shrinkwrap::report::progress::Progress;
use shrinkwrap::runner::load::{LoadOptions, REQUEST_TIMEOUT, measure_load};
use shrinkwrap::wrap::LaunchContext;
use shrinkwrap::wrap::container::SESSION_LABEL;
use shrinkwrap::wrap::launch::serve;

#[tokio::test(flavor = "multi_thread")]
async fn the_workload_keeps_connections_alive_only_when_asked_and_nothing_is_left() {
    let (scenario, wraps) = prepared_default(&["native", "container"]).await;
    let out = tempfile::tempdir().unwrap();
    let session = format!("test-load-{}", std::process::id());
    let options = LoadOptions {
        duration: Duration::from_secs(1),
        warmup: Duration::from_millis(200),
        connections: 4,
        out_dir: out.path().to_path_buf(),
        session: session.clone(),
    };
    let run = measure_load(
        &scenario,
        &wraps,
        &options,
        &StopFlag::default(),
        &Progress::default(),
    )
    .await
    .unwrap();
    assert_eq!(run.rows.len(), 4, "two modes of two wraps");
    for row in &run.rows {
        assert!(row.ok && row.errors == 0, "{row:?}");
        if row.keep_alive {
            assert_eq!(row.connections_opened, 4, "one per client: {row:?}");
        } else {
            assert_eq!(row.connections_opened, row.requests, "{row:?}");
        }
        let percentiles = [row.p50_ms, row.p90_ms, row.p99_ms, row.max_ms].map(Option::unwrap);
        assert!(percentiles.is_sorted(), "{row:?}");
        let cpu = row.instance_cpu_s.unwrap();
        let per_1000 = row.instance_cpu_ms_per_1000.unwrap();
        assert!((per_1000 - cpu * 1e6 / row.requests as f64).abs() < 1e-6);
    }
    let csv = std::fs::read_to_string(out.path().join("load.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "a header and four rows");
    assert_eq!(
        containers_labelled(&format!("{SESSION_LABEL}={session}")).await,
        0
    );
}

/// The instance CPU of a container is its cgroup's count (plus its shim's): it agrees with
/// `/proc`'s count of the same processes while no thread ends (kept-alive connections).
#[tokio::test(flavor = "multi_thread")]
async fn a_containers_cpu_time_agrees_with_its_processes_in_proc() {
    let (scenario, wraps) = prepared_default(&["container"]).await;
    let logs = tempfile::tempdir().unwrap();
    let context = LaunchContext {
        session: format!("test-load-cpu-{}", std::process::id()),
        probe: scenario.probe.clone(),
        interrupt: StopFlag::default(),
        logs_dir: logs.path().to_path_buf(),
    };
    let wrap = wraps[0].as_ref();
    let mut live = serve(wrap, &context).await;
    let addr = live.addr().expect("the container serves");
    let pids = live.host_processes().await.unwrap();
    let plan = LoadPlan {
        addr,
        path: "/".to_string(),
        connections: 4,
        duration: Duration::from_secs(2),
        keep_alive: true,
        request_timeout: REQUEST_TIMEOUT,
    };
    let (proc_before, cgroup_before) = (cpu_time(&pids).unwrap(), live.cpu_time().await.unwrap());
    let outcome = drive(&plan, &StopFlag::default()).await;
    let (proc_after, cgroup_after) = (cpu_time(&pids).unwrap(), live.cpu_time().await.unwrap());
    let m = live.finish(wrap, &context, "cpu").await;
    assert!(m.ok && outcome.errors == 0, "{m:?} {outcome:?}");
    let from_proc = (proc_after - proc_before).as_secs_f64();
    let from_cgroup = (cgroup_after - cgroup_before).as_secs_f64();
    // /proc counts whole clock ticks (10 ms) per process, read twice: each process may be
    // off by two ticks; beyond that they must agree within 2% (measured: 0.5%).
    let slack = 0.02 * pids.len() as f64 + 0.02 * from_cgroup;
    assert!(
        from_cgroup > 0.1 && (from_proc - from_cgroup).abs() <= slack,
        "/proc {from_proc:.3} s vs cgroup {from_cgroup:.3} s over {} requests",
        outcome.requests
    );
}

/// Interrupted while its VM boots, a load removes the instance and writes no row for it; the
/// rows measured before are kept.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_load_leaves_nothing_running_and_keeps_the_rows_before() {
    let (scenario, wraps) = prepared_default(&["native", "vm"]).await;
    let out = tempfile::tempdir().unwrap();
    let session = format!("test-load-interrupt-{}", std::process::id());
    let options = LoadOptions {
        duration: Duration::from_millis(500),
        warmup: Duration::from_millis(100),
        connections: 2,
        out_dir: out.path().to_path_buf(),
        session: session.clone(),
    };
    let interrupt = StopFlag::default();
    let raiser = {
        let interrupt = interrupt.clone();
        // The native loads take about a second; the VM's boot over 15 s.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            interrupt.raise();
        })
    };
    let run = measure_load(
        &scenario,
        &wraps,
        &options,
        &interrupt,
        &Progress::default(),
    )
    .await
    .unwrap();
    raiser.await.unwrap();
    assert!(run.interrupted);
    let kept: Vec<(&str, bool)> = run.rows.iter().map(|r| (r.wrap.as_str(), r.ok)).collect();
    assert_eq!(kept, [("native", true), ("native", true)]);
    let csv = std::fs::read_to_string(out.path().join("load.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "a header and the native rows");
    assert_eq!(qemu_processes_with(&format!("shrinkwrap-{session}-")), 0);
}

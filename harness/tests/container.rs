//! The container wrap against the real dockerd: build, launch, measure, and nothing left
//! behind. Needs a running engine (`scripts/setup` starts one).

use std::collections::HashMap;
use std::path::Path;

use bollard::query_parameters::ListImagesOptionsBuilder;
mod common;

use common::{containers_labelled, run, run_options};
use shrinkwrap::results::{RESULTS_FILE, read_results};
use shrinkwrap::scenario::Scenario;
use shrinkwrap::wrap::container::{HARNESS_LABEL, SESSION_LABEL, connect};

const CONTAINER_WRAP: &str = r#"
[[wrap]]
name = "container"
kind = "container"
image = { recipe = "hello-rust-static", inputs = ["scenarios/workloads/hello-rust"] }
"#;

fn scenario(name: &str, wraps: &str) -> Scenario {
    let text = format!(
        "name = \"{name}\"\nworkload = \"hello-rust\"\n[probe]\nexpect_body = \"Hello World\\n\"\n{wraps}"
    );
    Scenario::parse(&text, Path::new("tests/inline.toml")).expect("test scenario parses")
}

#[tokio::test(flavor = "multi_thread")]
async fn measures_a_real_container_and_leaves_nothing_behind() {
    let out = tempfile::tempdir().unwrap();
    let session = format!("test-measure-{}", std::process::id());
    let mut scenario = scenario(
        "measure",
        &format!(
            "{CONTAINER_WRAP}container = {{ command = [\"/hello-rust\", \"--bind\", \"127.0.0.1\", \"--port\", \"{{port}}\"] }}\n"
        ),
    );
    scenario.runs = 3;
    let outcome = run(
        &scenario,
        &shrinkwrap::runner::RunOptions {
            warmup: 1,
            ..run_options(&session, out.path(), 3)
        },
    )
    .await
    .expect("the run completes");

    let rows = read_results(&out.path().join(RESULTS_FILE)).unwrap();
    assert_eq!(rows, outcome.rows, "every row is on disk");
    assert_eq!(rows.len(), 3);
    let shim_pss = independent_shim_pss();
    let (docker, runtime) = connect().await.unwrap();
    let tag = {
        let filters = HashMap::from([(
            "reference".to_string(),
            vec!["shrinkwrap/hello-rust-static".to_string()],
        )]);
        let images = docker
            .list_images(Some(
                ListImagesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .unwrap();
        assert!(!images.is_empty(), "the image is kept, keyed by its inputs");
        images
    };
    for (i, row) in rows.iter().enumerate() {
        assert!(row.ok, "run {} failed: {}", row.run, row.error);
        assert_eq!(row.run as usize, i + 1);
        assert_eq!(row.error, "");
        assert_eq!(row.kind, "container");
        assert_eq!(row.accel, "native");
        assert_eq!(
            row.runtime_version,
            format!("{runtime}, runc {}", runc_version()),
            "the engine, and the OCI runtime with its version"
        );
        assert!(
            tag.iter()
                .any(|image| image.size as u64 == row.image_bytes.unwrap()),
            "image_bytes {:?} is what the engine reports",
            row.image_bytes
        );
        let ttfr = row.ttfr_ms.unwrap();
        assert!(ttfr > 0.0);
        assert!(
            row.created_ms.unwrap() <= ttfr,
            "the create call returns before the first response"
        );
        assert!(row.rss_bytes.unwrap() > 0);
        assert!(row.pss_bytes.unwrap() > 0);
        assert!(row.cgroup_bytes.unwrap() > 0);
        // Host memory counts the shim too: its share against a shim read from /proc.
        let shim = row.host_memory_bytes.unwrap() - row.pss_bytes.unwrap();
        assert!(
            shim as f64 > 0.5 * shim_pss && (shim as f64) < 2.0 * shim_pss,
            "host memory exceeds the workload's PSS by {shim} bytes; a shim's PSS is {shim_pss}"
        );
        assert!(row.stop_ms.unwrap() > 0.0);
        assert!(!row.host.is_empty() && !row.timestamp.is_empty());
    }
    assert_eq!(
        containers_labelled(&format!("{SESSION_LABEL}={session}")).await,
        0
    );
    // Image builds leave no dangling images behind (intermediate containers are
    // force-removed by the build itself).
    let filters = HashMap::from([
        ("dangling".to_string(), vec!["true".to_string()]),
        ("label".to_string(), vec![HARNESS_LABEL.to_string()]),
    ]);
    let dangling = docker
        .list_images(Some(
            ListImagesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .unwrap();
    assert!(dangling.is_empty(), "dangling images: {dangling:?}");
}

/// The PSS of a containerd shim read straight from /proc, for a container started with the
/// docker CLI (the same image, idle): an independent reading of what a shim costs.
fn independent_shim_pss() -> f64 {
    let id = docker_cli(&idle_container_args(&[]));
    let pid: u32 = docker_cli(&["inspect", "-f", "{{.State.Pid}}", &id])
        .parse()
        .unwrap();
    let shim = parent_of(pid).unwrap();
    let cmdline = std::fs::read_to_string(format!("/proc/{shim}/cmdline")).unwrap();
    let pss = pss_bytes(shim);
    docker_cli(&["rm", "-f", &id]);
    assert!(cmdline.contains("containerd-shim"), "{cmdline}");
    pss
}

/// runc's own version, from `runc --version`.
fn runc_version() -> String {
    let out = std::process::Command::new("runc")
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let first = text.lines().next().unwrap_or_default();
    first.trim_start_matches("runc version ").to_string()
}

/// Runs the docker CLI; its trimmed output.
fn docker_cli(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `docker run` arguments for an idle hello-rust container with docker-init, `extra`
/// options added.
fn idle_container_args(extra: &[&'static str]) -> Vec<&'static str> {
    let image = docker_cli(&["images", "-q", "shrinkwrap/hello-rust-static"]);
    let image = image.lines().next().expect("the hello-rust image exists");
    let image: &'static str = Box::leak(image.to_string().into_boxed_str());
    let mut args = vec!["run", "-d", "--init", "--network", "host"];
    args.extend_from_slice(extra);
    args.extend([
        "--label",
        "org.shrinkwrap.harness=test",
        image,
        "/hello-rust",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
    ]);
    args
}

/// Launches the hello-rust container once with `settings` (TOML lines of the wrap), and
/// checks that no container of the launch is left; returns its row.
async fn launch_once_with(name: &str, settings: &str) -> shrinkwrap::results::ResultRow {
    let out = tempfile::tempdir().unwrap();
    let session = format!("test-{name}-{}", std::process::id());
    let scenario = scenario(name, &format!("{CONTAINER_WRAP}{settings}\n"));
    let opts = run_options(&session, out.path(), 1);
    let outcome = run(&scenario, &opts).await.unwrap();
    assert_eq!(
        containers_labelled(&format!("{SESSION_LABEL}={session}")).await,
        0,
        "a container of {name} was left behind"
    );
    assert_eq!(outcome.rows.len(), 1);
    outcome.rows.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workload_that_never_answers_times_out_and_is_removed() {
    // Listens, but on 127.0.0.2: the probe's 127.0.0.1 port never answers.
    let row = launch_once_with(
        "silent",
        r#"ready_timeout_s = 1.0
container = { command = ["/hello-rust", "--bind", "127.0.0.2", "--port", "{port}"] }"#,
    )
    .await;
    assert!(!row.ok);
    assert!(
        row.error.contains("no HTTP 200 within 1.0s"),
        "{}",
        row.error
    );
    assert!(
        row.error.contains("listening on http://127.0.0.2"),
        "the container's output is quoted: {}",
        row.error
    );
    assert_eq!(row.ttfr_ms, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workload_that_exits_is_reported_at_once() {
    let started = std::time::Instant::now();
    let row = launch_once_with(
        "exits",
        r#"ready_timeout_s = 60.0
container = { command = ["/hello-rust", "--port", "{port}", "--bogus"] }"#,
    )
    .await;
    assert!(!row.ok);
    assert!(
        row.error.contains("exited with code 2 before answering"),
        "{}",
        row.error
    );
    assert!(
        row.error.contains("unknown argument '--bogus'"),
        "{}",
        row.error
    );
    assert!(
        started.elapsed().as_secs() < 30,
        "did not wait for the 60 s ready timeout"
    );
}

/// hello-rust as PID 1 without docker-init ignores SIGTERM: the stop needs the engine's
/// kill, which must fail the run rather than pass as a slow stop.
#[tokio::test(flavor = "multi_thread")]
async fn a_workload_that_ignores_sigterm_fails_its_stop() {
    let row = launch_once_with(
        "sigterm",
        r#"stop_timeout_s = 1.0
container = { command = ["/hello-rust", "--bind", "127.0.0.1", "--port", "{port}"], init = false }"#,
    )
    .await;
    assert!(!row.ok);
    assert!(row.ttfr_ms.is_some(), "it served");
    assert!(row.error.contains("ignored SIGTERM"), "{}", row.error);
    assert!(
        row.stop_ms.unwrap() >= 1000.0,
        "the engine waited the grace period"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_local_image_is_a_clear_error_before_any_launch() {
    let out = tempfile::tempdir().unwrap();
    let scenario = scenario(
        "missing",
        "[[wrap]]\nname = \"byo\"\nkind = \"container\"\ncontainer = { image = \"shrinkwrap-test/absent:none\", command = [\"/x\", \"{port}\"] }\n",
    );
    let err = run(&scenario, &run_options("test-missing-image", out.path(), 1))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("wrap 'byo': image shrinkwrap-test/absent:none is not in the local engine"),
        "{err}"
    );
    assert!(err.contains("never pulls"), "{err}");
    assert!(
        !out.path().join(RESULTS_FILE).exists(),
        "nothing was launched or written"
    );
}

const GVISOR: &str = r#"container = { command = ["/hello-rust", "--bind", "127.0.0.1", "--port", "{port}"], runtime = "runsc" }"#;

/// A gVisor instance's host memory is every process that exists because it does: its
/// shim, gofer, sandbox and the sandbox's stubs, against the same tree read from /proc for
/// a gVisor container started with the docker CLI.
#[tokio::test(flavor = "multi_thread")]
async fn a_gvisor_container_counts_its_shim_gofer_and_sandbox() {
    let (processes, independent) = independent_gvisor_tree_pss();
    assert!(
        processes >= 4,
        "shim, gofer, sandbox and a stub: {processes}"
    );
    let row = launch_once_with("gvisor", GVISOR).await;
    assert!(row.ok, "{}", row.error);
    assert!(
        row.runtime_version.contains(", runsc ") && row.runtime_version.ends_with(" ptrace"),
        "{}",
        row.runtime_version
    );
    let host = row.host_memory_bytes.unwrap() as f64;
    assert!(
        host > 0.8 * independent && host < 1.25 * independent,
        "host memory {host} against the /proc tree's {independent}"
    );
}

/// The PSS of an idle gVisor container's whole process tree (its shim and every
/// descendant), read from /proc: how many processes, and their bytes.
fn independent_gvisor_tree_pss() -> (usize, f64) {
    let id = docker_cli(&idle_container_args(&["--runtime", "runsc"]));
    let pid: u32 = docker_cli(&["inspect", "-f", "{{.State.Pid}}", &id])
        .parse()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let tree = descendants_and_self(parent_of(pid).unwrap());
    let pss: f64 = tree.iter().map(|&p| pss_bytes(p)).sum();
    docker_cli(&["rm", "-f", &id]);
    (tree.len(), pss)
}

/// The parent of a process, from /proc; `None` once it is gone.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1.to_string();
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// `root` and every process below it, from the parent links in /proc.
fn descendants_and_self(root: u32) -> Vec<u32> {
    let all: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut tree = vec![root];
    let mut next = 0;
    while next < tree.len() {
        let parent = tree[next];
        tree.extend(all.iter().filter(|(_, p)| *p == parent).map(|(pid, _)| pid));
        next += 1;
    }
    tree
}

/// A process's PSS from its smaps_rollup, bytes.
fn pss_bytes(pid: u32) -> f64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let kib: f64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024.0
}

/// Whether this host mixes cgroup v1 controllers with a v2 hierarchy, which crun refuses.
fn hybrid_cgroups() -> bool {
    Path::new("/sys/fs/cgroup/unified").is_dir() && Path::new("/sys/fs/cgroup/memory").is_dir()
}

/// A runtime the engine does not know, or one that cannot run containers on this host,
/// fails while preparing, with one message naming it and the cause, and leaves nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_that_cannot_run_here_fails_before_any_launch() {
    let out = tempfile::tempdir().unwrap();
    let with_runtime = |runtime: &str| {
        scenario(
            &format!("runtime-{runtime}"),
            &format!(
                "{CONTAINER_WRAP}container = {{ command = [\"/hello-rust\", \"--bind\", \"127.0.0.1\", \"--port\", \"{{port}}\"], runtime = \"{runtime}\" }}\n"
            ),
        )
    };
    let unknown = run(
        &with_runtime("no-such-runtime"),
        &run_options("test-runtime", out.path(), 1),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        unknown.contains("OCI runtime 'no-such-runtime' is not registered with dockerd"),
        "{unknown}"
    );
    let crun = run(
        &with_runtime("crun"),
        &run_options("test-runtime", out.path(), 1),
    )
    .await;
    if hybrid_cgroups() {
        let err = crun.unwrap_err().to_string();
        assert!(
            err.contains("OCI runtime 'crun' cannot run containers here")
                && err.contains("cgroups in hybrid mode not supported"),
            "{err}"
        );
        assert!(!out.path().join(RESULTS_FILE).exists(), "nothing launched");
    } else {
        let outcome = crun.expect("crun runs on a cgroup v2 host");
        assert!(outcome.rows.iter().all(|r| r.ok));
    }
    assert_eq!(
        containers_labelled(&format!("{SESSION_LABEL}=runtime-trial")).await,
        0,
        "the trial container is removed"
    );
}

/// gVisor's kvm platform (`runsc-kvm`, as scripts/setup registers it): on a KVM host it
/// serves; under nested virtualization its containers never start. Either way the wrap is
/// bounded by its ready timeout and leaves no container or runtime process behind.
#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_that_hangs_is_bounded_and_leaves_nothing_running() {
    let out = tempfile::tempdir().unwrap();
    let scenario = scenario(
        "runsc-kvm",
        &format!(
            "{CONTAINER_WRAP}ready_timeout_s = 5\ncontainer = {{ command = [\"/hello-rust\", \"--bind\", \"127.0.0.1\", \"--port\", \"{{port}}\"], runtime = \"runsc-kvm\" }}\n"
        ),
    );
    let started = std::time::Instant::now();
    let outcome = run(&scenario, &run_options("test-runsc-kvm", out.path(), 1)).await;
    let took = started.elapsed();
    match outcome {
        Ok(outcome) => assert!(outcome.rows.iter().all(|r| r.ok), "{:?}", outcome.rows),
        Err(e) => assert!(
            e.to_string()
                .contains("OCI runtime 'runsc-kvm' cannot run containers here: a container did not start within 5s"),
            "{e}"
        ),
    }
    assert!(
        took.as_secs() < 5 + 30 + 10,
        "bounded by the ready and removal timeouts: {took:?}"
    );
    assert_eq!(
        containers_labelled(&format!("{SESSION_LABEL}=runtime-trial")).await,
        0
    );
    let runtime_processes = std::process::Command::new("pgrep")
        .args(["-f", "platform=kvm"])
        .output()
        .unwrap();
    let pids = String::from_utf8_lossy(&runtime_processes.stdout).into_owned();
    let running: Vec<&str> = pids.lines().filter(|pid| !is_zombie(pid.trim())).collect();
    assert!(running.is_empty(), "runsc-kvm processes left: {running:?}");
}

/// Whether a process has exited and only waits to be reaped.
fn is_zombie(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

//! The runner's own logic against a fake wrap (as hyperfine tests its loop with a mock
//! executor): no dockerd, no QEMU. A fake instance really listens on its port and answers
//! `200`, or exits at once, or raises the interrupt, as planted; the launch sequence, the
//! probe and the results file are the real ones.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::events::{Event, Launch, Observer};
use super::minmem::find_min_guest_memory;
use super::{RunOptions, RunOutcome, measure_all};
use crate::image::ImageFacts;
use crate::image::contents::Contents;
use crate::instrument::probe::StopFlag;
use crate::results::{Failure, RESULTS_FILE, read_results};
use crate::scenario::{Scenario, WrapSpec};
use crate::wrap::launch::{Instance, Signals};
use crate::wrap::{LaunchContext, Measurement, Prepared, Wrap};

/// What a fake instance does when started.
#[derive(Debug, Clone)]
enum Plan {
    /// Listens and answers `200` until stopped.
    Serves,
    /// Exits at once without answering.
    Exits,
    /// Serves when its guest RAM is at least this many MiB, else exits.
    ServesFrom(u32),
    /// Raises this flag (the user's Ctrl-C) and never answers.
    Interrupts(StopFlag),
    /// Listens and answers every request with this status line.
    Answers(&'static str),
    /// Serves, but outlives its stop and has to be killed.
    IgnoresStop,
    /// Runs on without ever listening.
    NeverListens,
}

#[derive(Clone)]
struct FakeWrap {
    prepared: Prepared,
    plan: Plan,
    memory_mb: Option<u32>,
    launches: Arc<AtomicU32>,
}

impl FakeWrap {
    fn new(spec: &WrapSpec, plan: Plan) -> FakeWrap {
        FakeWrap {
            prepared: Prepared {
                spec: spec.clone(),
                runtime_version: "fake 1".to_string(),
                accel: "native".to_string(),
                accel_chosen_by: None,
                restored_from: None,
                image: ImageFacts {
                    bytes: 1000,
                    compressed_bytes: Ok(500),
                    contents: Ok(Contents::default()),
                },
            },
            plan,
            memory_mb: None,
            launches: Arc::default(),
        }
    }

    /// The status line it answers with, when it listens at all.
    fn status_line(&self) -> Option<&'static str> {
        const OK: &str = "HTTP/1.1 200 OK";
        match self.plan {
            Plan::Serves | Plan::IgnoresStop => Some(OK),
            Plan::ServesFrom(least) => self.memory_mb.is_some_and(|mb| mb >= least).then_some(OK),
            Plan::Answers(line) => Some(line),
            Plan::Exits | Plan::Interrupts(_) | Plan::NeverListens => None,
        }
    }
}

#[async_trait]
impl Wrap for FakeWrap {
    fn prepared(&self) -> &Prepared {
        &self.prepared
    }
    fn guest_memory_mb(&self) -> Option<u32> {
        self.memory_mb
    }
    fn with_guest_memory(&self, memory_mb: u32, _ready: Duration) -> Option<Box<dyn Wrap>> {
        let mut resized = self.clone();
        resized.memory_mb = Some(memory_mb);
        Some(Box::new(resized))
    }
    async fn instance(&self, _: &LaunchContext, port: u16) -> Result<Box<dyn Instance>, String> {
        self.launches.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(FakeInstance {
            port,
            status_line: self.status_line(),
            interrupt: match &self.plan {
                Plan::Interrupts(flag) => Some(flag.clone()),
                _ => None,
            },
            ignores_stop: matches!(self.plan, Plan::IgnoresStop),
            runs_on: self.status_line().is_some()
                || matches!(self.plan, Plan::Interrupts(_) | Plan::NeverListens),
            server: None,
        }))
    }
    async fn remove_leftovers(&self, _session: &str) -> usize {
        0
    }
}

struct FakeInstance {
    port: u16,
    status_line: Option<&'static str>,
    interrupt: Option<StopFlag>,
    ignores_stop: bool,
    /// Does not end on its own.
    runs_on: bool,
    server: Option<tokio::task::JoinHandle<()>>,
}

#[async_trait]
impl Instance for FakeInstance {
    async fn start(&mut self, _: Instant, _: &Signals, _: &mut Measurement) -> Result<(), String> {
        if let Some(flag) = &self.interrupt {
            flag.raise();
        }
        if let Some(status_line) = self.status_line {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
                .await
                .map_err(|e| e.to_string())?;
            let answer = format!("{status_line}\r\nContent-Length: 0\r\n\r\n");
            self.server = Some(tokio::spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    let _ = stream.write_all(answer.as_bytes()).await;
                }
            }));
        }
        Ok(())
    }
    async fn ended(&mut self) -> String {
        if self.runs_on {
            std::future::pending::<()>().await;
        }
        "the fake exited".to_string()
    }
    async fn explain(&mut self, probe_error: String) -> String {
        probe_error
    }
    async fn read_memory(&mut self, m: &mut Measurement) {
        m.host_memory_bytes = Some(1 << 20);
    }
    /// The fake serves from the test's own process: it has none of its own.
    async fn host_processes(&mut self) -> Result<Vec<u32>, String> {
        Ok(Vec::new())
    }
    async fn stop(&mut self, _: Duration) -> Result<(), String> {
        Ok(())
    }
    async fn killed(&mut self) -> Option<String> {
        self.ignores_stop
            .then(|| "outlived its stop timeout: killed".to_string())
    }
    async fn remove(&mut self, _: &mut Measurement) -> Result<(), String> {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        Ok(())
    }
}

/// The events as a list of lines.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Observer for Recorder {
    fn event(&self, event: &Event<'_>) {
        let line = match event {
            Event::Measured {
                wrap,
                launch,
                measurement,
            } => format!("{wrap} {launch} ok={}", measurement.ok),
            Event::GivenUp { wrap, failures } => format!("{wrap} given up after {failures}"),
            Event::Finished { wrap } => format!("{wrap} finished"),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

impl Recorder {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A scenario of process wraps with these names: their specs dress the fakes.
fn scenario(names: &[&str]) -> Scenario {
    let mut text = "name = \"fake\"\nworkload = \"fake\"\n".to_string();
    for name in names {
        text.push_str(&format!(
            "[[wrap]]\nname = \"{name}\"\nkind = \"process\"\nready_timeout_s = 1\nprocess = {{ command = [\"fake\", \"{{port}}\"] }}\n"
        ));
    }
    Scenario::parse(&text, std::path::Path::new("fake.toml")).unwrap()
}

fn options(out: &std::path::Path, warmup: u32, runs: u32) -> RunOptions {
    RunOptions {
        runs,
        warmup,
        out_dir: out.to_path_buf(),
        rebuild: false,
        session: "fake".to_string(),
        min_memory: false,
    }
}

async fn measure(
    plans: &[(&str, Plan)],
    warmup: u32,
    runs: u32,
    interrupt: &StopFlag,
) -> (RunOutcome, Vec<String>, tempfile::TempDir) {
    let names: Vec<&str> = plans.iter().map(|(name, _)| *name).collect();
    let scenario = scenario(&names);
    let wraps: Vec<Box<dyn Wrap>> = scenario
        .wraps
        .iter()
        .zip(plans)
        .map(|(spec, (_, plan))| Box::new(FakeWrap::new(spec, plan.clone())) as Box<dyn Wrap>)
        .collect();
    let out = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let outcome = measure_all(
        &scenario,
        &wraps,
        &options(out.path(), warmup, runs),
        interrupt,
        &recorder,
    )
    .await
    .unwrap();
    (outcome, recorder.lines(), out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrap_failing_three_launches_in_a_row_is_given_up_and_the_rest_still_runs() {
    let plans = [("broken", Plan::Exits), ("fine", Plan::Serves)];
    let (outcome, events, out) = measure(&plans, 0, 5, &StopFlag::default()).await;
    let of = |wrap: &str| outcome.rows.iter().filter(|r| r.wrap == wrap).count();
    assert_eq!(of("broken"), 3, "three failed rows, then no more launches");
    assert_eq!(of("fine"), 5);
    assert!(outcome.rows.iter().all(|r| r.ok == (r.wrap == "fine")));
    assert_eq!(outcome.abandoned, ["broken"]);
    assert!(
        events.contains(&"broken given up after 3".to_string()),
        "{events:?}"
    );
    assert!(!outcome.interrupted);
    let on_disk = read_results(&out.path().join(RESULTS_FILE)).unwrap();
    assert_eq!(on_disk, outcome.rows, "every row is on disk");
    let broken = outcome.rows.iter().find(|r| r.wrap == "broken").unwrap();
    assert!(broken.error.contains("the fake exited"), "{}", broken.error);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failed_run_has_the_kind_of_its_failure() {
    let plans = [
        ("fine", Plan::Serves),
        ("exits", Plan::Exits),
        ("refuses", Plan::Answers("HTTP/1.1 503 Service Unavailable")),
        ("killed", Plan::IgnoresStop),
        ("silent", Plan::NeverListens),
    ];
    let (outcome, _, out) = measure(&plans, 0, 1, &StopFlag::default()).await;
    let kinds: Vec<(&str, Option<Failure>)> = outcome
        .rows
        .iter()
        .map(|r| (r.wrap.as_str(), r.failure))
        .collect();
    assert_eq!(
        kinds,
        [
            ("fine", None),
            ("exits", Some(Failure::ExitedEarly)),
            ("refuses", Some(Failure::BadStatus)),
            ("killed", Some(Failure::StopKilled)),
            ("silent", Some(Failure::Timeout)),
        ]
    );
    let on_disk = read_results(&out.path().join(RESULTS_FILE)).unwrap();
    assert_eq!(on_disk, outcome.rows, "the kind survives the file");
    let refused = &outcome.rows[2];
    assert!(refused.error.contains("503"), "{}", refused.error);
}

#[tokio::test(flavor = "multi_thread")]
async fn warm_ups_write_no_rows() {
    let (outcome, events, _out) =
        measure(&[("fine", Plan::Serves)], 2, 3, &StopFlag::default()).await;
    let runs: Vec<u32> = outcome.rows.iter().map(|r| r.run).collect();
    assert_eq!(runs, [1, 2, 3]);
    assert!(outcome.rows.iter().all(|r| r.ok && r.ttfr_ms.is_some()));
    let launches: Vec<&String> = events.iter().filter(|e| e.contains("ok=")).collect();
    assert_eq!(launches.len(), 5, "{events:?}");
    assert_eq!(launches.iter().filter(|e| e.contains("warm-up")).count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_launch_writes_no_row_and_ends_the_run() {
    let interrupt = StopFlag::default();
    let plans = [
        ("before", Plan::Serves),
        ("interrupted", Plan::Interrupts(interrupt.clone())),
        ("after", Plan::Serves),
    ];
    let (outcome, events, out) = measure(&plans, 0, 2, &interrupt).await;
    assert!(outcome.interrupted);
    let wraps: Vec<&str> = outcome.rows.iter().map(|r| r.wrap.as_str()).collect();
    assert_eq!(wraps, ["before", "before"], "rows measured before are kept");
    assert!(
        events.iter().any(|e| e.starts_with("interrupted run 1/2")),
        "the launch happened: {events:?}"
    );
    assert!(!events.iter().any(|e| e.starts_with("after")), "{events:?}");
    let on_disk = read_results(&out.path().join(RESULTS_FILE)).unwrap();
    assert_eq!(on_disk.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_smallest_ram_search_finds_a_planted_threshold() {
    let scenario = scenario(&["vm"]);
    let mut wrap = FakeWrap::new(&scenario.wraps[0], Plan::ServesFrom(37));
    wrap.memory_mb = Some(64);
    let context = LaunchContext {
        session: "fake".to_string(),
        probe: scenario.probe.clone(),
        interrupt: StopFlag::default(),
        logs_dir: tempfile::tempdir().unwrap().path().to_path_buf(),
    };
    let found = find_min_guest_memory(&wrap, &context, &|_: &str| {})
        .await
        .unwrap();
    assert_eq!(found.mib, 37);
    // The configured size, a bisection of 64 MiB (6 halvings), one confirming launch.
    assert_eq!(found.launches, 1 + 6 + 1);
    assert_eq!(wrap.launches.load(Ordering::SeqCst), found.launches);
}

#[test]
fn launches_are_named_for_logs_and_shown_for_people() {
    let run = Launch::Run { index: 3, of: 10 };
    assert_eq!(run.name(), "run3");
    assert_eq!(run.to_string(), "run 3/10");
    assert_eq!(Launch::Warmup { index: 1, of: 2 }.name(), "warmup1");
}

//! `cargo bench`: time to first response of every wrap of the default scenario, as a
//! criterion benchmark (cold launches; only the span from launch request to first `200` is
//! timed, never the build, the memory reading or the stop). Images are built first if
//! missing. Compare runs with criterion's baselines:
//! `cargo bench --bench cold_start -- --save-baseline main`, later `-- --baseline main`.
//! A launch that fails aborts the benchmark with its reason: no failed start is timed.
//! Criterion's sample is the mean of the launches in it: the run-by-run spread of cold
//! starts is what `shrinkwrap run` records.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use shrinkwrap::image::recipe::ImageCache;
use shrinkwrap::instrument::probe::StopFlag;
use shrinkwrap::repository_root;
use shrinkwrap::scenario::{DEFAULT_SCENARIO, Scenario};
use shrinkwrap::wrap::{self, LaunchContext, PrepareContext, Wrap};

fn cold_start(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let root = repository_root();
    let scenario = Scenario::load(&root.join(DEFAULT_SCENARIO)).unwrap_or_else(|e| panic!("{e}"));
    let cache = ImageCache::for_repository(root.clone());
    // Kept after the bench: a failed launch's message names its console log here.
    let logs = root.join("target/bench-logs");
    let context = LaunchContext {
        session: format!("bench-{}", std::process::id()),
        probe: scenario.probe.clone(),
        interrupt: StopFlag::default(),
        logs_dir: logs,
    };
    let launches = AtomicU32::new(0);
    let progress = |step: &str| eprintln!("{step}");
    let prepare = PrepareContext {
        cache: &cache,
        base_dir: scenario.base_dir(),
        rebuild: false,
        progress: &progress,
    };

    let mut group = c.benchmark_group("cold_start");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    for spec in &scenario.wraps {
        // Prepared on first use, so a filtered-out wrap builds nothing.
        let prepared: OnceCell<Box<dyn Wrap>> = OnceCell::new();
        group.bench_function(&spec.name, |b| {
            let wrap = prepared.get_or_init(|| {
                runtime
                    .block_on(wrap::prepare(spec, &prepare))
                    .unwrap_or_else(|e| panic!("wrap '{}': {e}", spec.name))
            });
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let n = launches.fetch_add(1, Ordering::Relaxed) + 1;
                    let launch = runtime.block_on(shrinkwrap::wrap::launch_once(
                        wrap.as_ref(),
                        &context,
                        &format!("bench{n}"),
                    ));
                    assert!(launch.ok, "{}: {}", spec.name, launch.notes.join("; "));
                    total += launch.ttfr.expect("an ok launch has its first response");
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Defaults for multi-second cold starts; command-line flags still override them.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = cold_start
}
criterion_main!(benches);

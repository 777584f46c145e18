//! The `shrinkwrap` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use shrinkwrap::analysis::calibration;
use shrinkwrap::analysis::regression::{self, Budgets};
use shrinkwrap::analysis::summarize;
use shrinkwrap::image::recipe::ImageCache;
use shrinkwrap::instrument::probe::StopFlag;
use shrinkwrap::report::plot;
use shrinkwrap::report::progress::Progress;
use shrinkwrap::report::{self, Style};
use shrinkwrap::repository_root;
use shrinkwrap::results::density::DENSITY_FILE;
use shrinkwrap::results::load::{LOAD_FILE, LoadRow};
use shrinkwrap::results::{self, RESULTS_FILE, ResultRow};
use shrinkwrap::runner::{self, RunOptions, ab, density, load};
use shrinkwrap::scenario::{DEFAULT_SCENARIO, MAX_RUNS, Scenario, TableLayout};

/// Which shrink-wrap should this service ship in? Measures one workload as a container,
/// a unikernel and a microVM: image size, time to first HTTP response, memory.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Scenario file (default: the built-in scenarios/hello-rust.toml).
    scenario: Option<PathBuf>,
    /// Measured runs per wrap (default: the scenario's, else 10).
    #[arg(long)]
    runs: Option<u32>,
    /// Unmeasured warm-up launches per wrap (default: the scenario's, else 1).
    #[arg(long)]
    warmup: Option<u32>,
    /// Output folder (default: results/SCENARIO-UTCTIME/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Measure only this wrap (repeatable).
    #[arg(long = "wrap", value_name = "NAME")]
    wraps: Vec<String>,
    /// Re-run image recipes even when their inputs did not change.
    #[arg(long)]
    rebuild: bool,
    /// Before measuring each VM, find its smallest working guest RAM by binary search.
    #[arg(long)]
    min_memory: bool,
    /// Folder for the figures (default: figures/ in the results folder).
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Write only results.csv: no figures, no report.html, no copy in plots/ (for a run
    /// that is one part of a larger measurement, such as an A/B's block).
    #[arg(long, conflicts_with = "plots")]
    results_only: bool,
}

#[derive(clap::Args)]
struct LoadArgs {
    /// Scenario file (default: the built-in scenarios/hello-rust.toml).
    scenario: Option<PathBuf>,
    /// Recorded load per wrap and mode, e.g. 3s, 500ms, 1m.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    duration: std::time::Duration,
    /// Unrecorded load before it.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    warmup: std::time::Duration,
    /// Clients, each with one request in flight (1 to 256).
    #[arg(long, default_value_t = 8)]
    connections: u32,
    /// Load only this wrap (repeatable).
    #[arg(long = "wrap", value_name = "NAME")]
    wraps: Vec<String>,
    /// Output folder (default: results/SCENARIO-load-UTCTIME/).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// How `ab` and `calibrate` measure two sides.
#[derive(clap::Args)]
struct PairArgs {
    /// Scenario file, relative to each checkout (default: scenarios/hello-rust.toml).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Measured runs a side per wrap.
    #[arg(long, default_value_t = 10)]
    runs: u32,
    /// Rounds the runs are split into, the side that goes first alternating (2: A B B A,
    /// which cancels a steady drift of the host).
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// Unmeasured warm-up launches before each side's block.
    #[arg(long, default_value_t = 1)]
    warmup: u32,
    /// Measure only this wrap (repeatable).
    #[arg(long = "wrap", value_name = "NAME")]
    wraps: Vec<String>,
    /// Output folder (default: results/SCENARIO-ab-UTCTIME/ or -calibrate-UTCTIME/).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct AbArgs {
    /// The baseline's checkout (A), built with `cargo build --release`.
    baseline: PathBuf,
    /// The candidate's checkout (B; default: this one).
    candidate: Option<PathBuf>,
    #[command(flatten)]
    pair: PairArgs,
    /// Measured runs a side per flagged wrap in the retry (default: twice --runs).
    #[arg(long)]
    retry_runs: Option<u32>,
    /// Limits and budgets (default: the candidate's scenarios/budgets/SCENARIO.toml).
    #[arg(long, value_name = "FILE")]
    budgets: Option<PathBuf>,
    /// Print Markdown instead of a terminal table.
    #[arg(long)]
    markdown: bool,
}

#[derive(clap::Args)]
struct CalibrateArgs {
    #[command(flatten)]
    pair: PairArgs,
    /// A/A pairs to measure.
    #[arg(long, default_value_t = 3)]
    pairs: u32,
    /// Wait this long between pairs, e.g. 20m (nights are hours apart, not seconds).
    #[arg(long, value_parser = humantime::parse_duration)]
    gap: Option<std::time::Duration>,
    /// The budgets file to write the calibrated section into (default: the scenario's).
    #[arg(long, value_name = "FILE")]
    budgets: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Build the images, launch every wrap cold N times, write results.csv and print a summary.
    Run(RunArgs),
    /// Start N instances of each wrap together, for each N: time until all answered, each
    /// one's own first response, host memory per instance; write density.csv.
    Density {
        /// Scenario file (default: the built-in scenarios/hello-rust.toml).
        scenario: Option<PathBuf>,
        /// Instances per level, comma-separated, each 1 to 256.
        #[arg(long, value_delimiter = ',', default_value = "1,8")]
        instances: Vec<u32>,
        /// Measure only this wrap (repeatable).
        #[arg(long = "wrap", value_name = "NAME")]
        wraps: Vec<String>,
        /// Output folder (default: results/SCENARIO-density-UTCTIME/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Drive each wrap, once serving, with a closed loop of HTTP requests from the host, with
    /// keep-alive and without: requests per second, latency percentiles, errors, the
    /// instance's CPU per 1,000 requests and the generator's own; write load.csv.
    Load(LoadArgs),
    /// Build (or find in the cache) every image a scenario needs, without launching anything.
    Build {
        /// Scenario file (default: the built-in scenarios/hello-rust.toml).
        scenario: Option<PathBuf>,
        /// Build only this wrap's image (repeatable).
        #[arg(long = "wrap", value_name = "NAME")]
        wraps: Vec<String>,
        /// Re-run image recipes even when their inputs did not change.
        #[arg(long)]
        rebuild: bool,
    },
    /// Draw the figures for slides (SVG and PNG, 16:9) of existing results: one set per host
    /// and scenario.
    Plot {
        /// results.csv, or a folder searched for them (several runs or hosts), or a load.csv.
        results: PathBuf,
        /// Output folder (default: figures/ in the results folder; a subfolder per host and
        /// scenario when there are several).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare a candidate run with a baseline of the same host: exit 1 on a regression (fewer
    /// ok runs, a median or tail beyond its limit, a size beyond its tolerance, a budget
    /// exceeded), 2 when the two are not comparable.
    Compare {
        /// The baseline results.csv (or its folder).
        baseline: PathBuf,
        /// The candidate results.csv (or its folder).
        candidate: PathBuf,
        /// Limits and budgets (default: scenarios/budgets/SCENARIO.toml when it exists, else
        /// the built-in defaults).
        #[arg(long, value_name = "FILE")]
        budgets: Option<PathBuf>,
        /// Compare even when hosts, accelerators or runtimes differ; the report says so first.
        #[arg(long)]
        allow_mismatch: bool,
        /// Print Markdown instead of a terminal table.
        #[arg(long)]
        markdown: bool,
    },
    /// A/B two checkouts on this host at one time: each side's own binary measures its own
    /// scenario, interleaved wrap by wrap; what the first pass flags is measured again with
    /// more runs, and only what both passes flag is a regression (exit 1).
    Ab(AbArgs),
    /// Measure A/A pairs of this build the way `ab` does, and write each gated figure's
    /// drift and the limits that keep a night's false alarms under alpha into the
    /// scenario's budgets file.
    Calibrate(CalibrateArgs),
    /// Remove what interrupted or killed runs left behind: containers with the harness's
    /// label, QEMU processes of its sessions, their temp folders. Not while a run is going.
    Clean {
        /// Also remove the harness's Docker images and the image cache (rebuilt on demand).
        #[arg(long)]
        images: bool,
    },
    /// Show what the harness finds: dockerd, QEMU, KVM and the accelerator probe's verdict, free disk.
    Doctor,
    /// Print the summary tables of existing results: one per host and scenario, never a
    /// median across hosts.
    Report {
        /// results.csv files, or folders searched for them (several runs or hosts).
        #[arg(required = true)]
        results: Vec<PathBuf>,
        /// Print Markdown instead of a terminal table.
        #[arg(long)]
        markdown: bool,
        /// Print the talk's layout (size, start, memory, security, APM) and its numbers.
        #[arg(long)]
        talk: bool,
        /// Write the report files here (default: the run's folder, when one results.csv is
        /// read); a subfolder per host and scenario when there are several.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHRINKWRAP_LOG")
                // qapi warns when QEMU closes QMP on `quit`, which is how every VM ends.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,qapi=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) if matches!(e.downcast_ref(), Some(runner::BenchError::Interrupted)) => {
            eprintln!("interrupted: {e:#}");
            ExitCode::from(EXIT_INTERRUPTED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Exit code when the harness could not do its job (bad input, a runtime missing): distinct
/// from 1, which means it measured and something failed or regressed.
const EXIT_ERROR: u8 = 2;
/// Exit code after an interrupt (128 + SIGINT).
const EXIT_INTERRUPTED: u8 = 130;

/// Raises `interrupt` on the first Ctrl-C, SIGTERM or SIGHUP, so the current instance is
/// stopped and removed and the rows so far are kept; a second signal exits at once.
fn watch_for_interrupts(interrupt: StopFlag) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut hangup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        let mut signals = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = hangup.recv() => {}
            }
            signals += 1;
            if signals == 1 {
                eprintln!(
                    "\ninterrupted: stopping the current instance and keeping the results so far (again to quit at once)"
                );
                interrupt.raise();
            } else {
                eprintln!(
                    "\nquitting at once: `shrinkwrap clean` removes what may be left running"
                );
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    })
}

async fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run(args) => run(args).await,
        Command::Density {
            scenario,
            instances,
            wraps,
            out,
        } => density(scenario, instances, &wraps, out).await,
        Command::Load(args) => load(args).await,
        Command::Plot { results, out } => plot(&results, out),
        Command::Ab(args) => ab(args),
        Command::Calibrate(args) => calibrate(args),
        Command::Clean { images } => clean(images).await,
        Command::Compare {
            baseline,
            candidate,
            budgets,
            allow_mismatch,
            markdown,
        } => compare(
            &baseline,
            &candidate,
            budgets.as_deref(),
            allow_mismatch,
            markdown,
        ),
        Command::Build {
            scenario,
            wraps,
            rebuild,
        } => build(scenario, &wraps, rebuild).await,
        Command::Report {
            results,
            markdown,
            talk,
            out,
        } => report(&results, markdown, talk, out),
        Command::Doctor => doctor().await,
    }
}

fn load_scenario(path: Option<PathBuf>, wraps: &[String]) -> Result<Scenario> {
    let path = path.unwrap_or_else(|| repository_root().join(DEFAULT_SCENARIO));
    let mut scenario = Scenario::load(&path)?;
    scenario.select_wraps(wraps).map_err(anyhow::Error::msg)?;
    Ok(scenario)
}

/// Refuses a results file that exists already, before anything runs: results are never
/// overwritten or mixed.
fn refuse_existing(file: &Path) -> Result<()> {
    if file.exists() {
        bail!(
            "{} already exists: choose another --out (results are never overwritten or mixed)",
            file.display()
        );
    }
    Ok(())
}

/// A new folder under results/ named after the scenario and the UTC time (with a suffix
/// when a run started in the same second).
fn new_results_dir(scenario: &str) -> PathBuf {
    let started = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let base = repository_root().join("results");
    let first = base.join(format!("{scenario}-{started}"));
    std::iter::once(first)
        .chain((2..).map(|n| base.join(format!("{scenario}-{started}-{n}"))))
        .find(|dir| !dir.exists())
        .unwrap_or_else(|| base.join(format!("{scenario}-{started}-{}", std::process::id())))
}

/// The default figures folder of a results folder: `figures/` inside it, beside the results.
fn default_plots_dir(results_dir: &Path) -> PathBuf {
    results_dir.join("figures")
}

async fn run(args: RunArgs) -> Result<ExitCode> {
    let RunArgs {
        scenario,
        runs,
        warmup,
        out,
        wraps,
        rebuild,
        min_memory,
        plots,
        results_only,
    } = args;
    let scenario = load_scenario(scenario, &wraps)?;
    if runs.is_some_and(|n| n == 0 || n > MAX_RUNS) || warmup.is_some_and(|n| n > MAX_RUNS) {
        bail!("--runs must be between 1 and {MAX_RUNS}, --warmup at most {MAX_RUNS}");
    }
    if let Some(out) = &out {
        refuse_existing(&out.join(RESULTS_FILE))?;
    }
    let out_dir = out.unwrap_or_else(|| new_results_dir(&scenario.name));
    // Names this run's containers and VMs: unique even for two runs started together.
    let folder = out_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let session = format!(
        "{}-{}",
        folder.unwrap_or_else(|| scenario.name.clone()),
        std::process::id()
    );
    let options = RunOptions {
        runs: runs.unwrap_or(scenario.runs),
        warmup: warmup.unwrap_or(scenario.warmup),
        out_dir,
        rebuild,
        session,
        min_memory,
    };
    if !scenario.description.is_empty() {
        eprintln!("{}: {}", scenario.name, scenario.description);
    }
    let interrupt = StopFlag::default();
    let watcher = watch_for_interrupts(interrupt.clone());
    let cache = ImageCache::for_repository(repository_root());
    let outcome = runner::run_scenario(
        &scenario,
        &cache,
        &options,
        &interrupt,
        &Progress::default(),
    )
    .await;
    watcher.abort();
    let outcome = outcome?;

    if !outcome.rows.is_empty() {
        println!(
            "{}",
            report::document(&summarize(&outcome.rows), scenario.table, Style::Terminal)
        );
        if !results_only {
            let figures = plots.unwrap_or_else(|| default_plots_dir(&options.out_dir));
            report_and_publish(&outcome.rows, &scenario, &options.out_dir, &figures)?;
        }
    }
    for wrap in &outcome.abandoned {
        println!("{wrap}: stopped after repeated failures; the remaining runs were skipped");
    }
    println!("results: {}", options.out_dir.join(RESULTS_FILE).display());
    Ok(if outcome.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if outcome.rows.iter().all(|r| r.ok) && outcome.abandoned.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn density(
    scenario: Option<PathBuf>,
    mut levels: Vec<u32>,
    wraps: &[String],
    out: Option<PathBuf>,
) -> Result<ExitCode> {
    levels.sort_unstable();
    levels.dedup();
    if levels.is_empty() || levels[0] == 0 || levels[levels.len() - 1] > density::MAX_INSTANCES {
        bail!(
            "--instances takes numbers from 1 to {}, e.g. 1,8,32",
            density::MAX_INSTANCES
        );
    }
    let scenario = load_scenario(scenario, wraps)?;
    let out_dir = out.unwrap_or_else(|| new_results_dir(&format!("{}-density", scenario.name)));
    refuse_existing(&out_dir.join(DENSITY_FILE))?;
    let options = density::DensityOptions {
        levels,
        session: format!("{}-density-{}", scenario.name, std::process::id()),
        out_dir,
    };
    density::check_levels(&scenario, &options.levels)?;
    let cache = ImageCache::for_repository(repository_root());
    let prepared = runner::prepare_all(&scenario, &cache, false, &Progress::default()).await?;
    let interrupt = StopFlag::default();
    let watcher = watch_for_interrupts(interrupt.clone());
    let outcome = density::measure_density(&scenario, &prepared, &options, &interrupt).await;
    watcher.abort();
    let outcome = outcome?;
    println!(
        "{}",
        report::density::density_table(&outcome.rows, Style::Terminal)
    );
    if outcome.rows.iter().any(|r| r.kind == "qemu") {
        println!(
            "VMs that boot get their ready timeout times ceil(N / CPUs) at each level: N instances share the host's CPUs"
        );
    }
    for note in &outcome.stopped_early {
        println!("{note}");
    }
    if !outcome.rows.is_empty() {
        let figures = default_plots_dir(&options.out_dir);
        match plot::render_density(&outcome.rows, &figures) {
            Ok(_) => println!("figures: {}", figures.display()),
            Err(e) => eprintln!("warning: no figures: {e}"),
        }
    }
    println!("density: {}", options.out_dir.join(DENSITY_FILE).display());
    Ok(if outcome.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if outcome.rows.iter().all(|r| r.ok) && outcome.stopped_early.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn load(args: LoadArgs) -> Result<ExitCode> {
    if args.connections == 0 || args.connections > load::MAX_CONNECTIONS {
        bail!("--connections takes 1 to {}", load::MAX_CONNECTIONS);
    }
    if args.duration.is_zero() || args.duration > load::MAX_DURATION {
        bail!(
            "--duration takes more than 0 s and at most {} s, e.g. 3s",
            load::MAX_DURATION.as_secs()
        );
    }
    if args.warmup > load::MAX_DURATION {
        bail!("--warmup takes at most {} s", load::MAX_DURATION.as_secs());
    }
    let scenario = load_scenario(args.scenario, &args.wraps)?;
    let options = load::LoadOptions {
        duration: args.duration,
        warmup: args.warmup,
        connections: args.connections,
        out_dir: args
            .out
            .unwrap_or_else(|| new_results_dir(&format!("{}-load", scenario.name))),
        session: format!("{}-load-{}", scenario.name, std::process::id()),
    };
    refuse_existing(&options.out_dir.join(LOAD_FILE))?;
    let cache = ImageCache::for_repository(repository_root());
    let progress = Progress::default();
    let prepared = runner::prepare_all(&scenario, &cache, false, &progress).await?;
    let interrupt = StopFlag::default();
    let watcher = watch_for_interrupts(interrupt.clone());
    let run = load::measure_load(&scenario, &prepared, &options, &interrupt, &progress).await;
    watcher.abort();
    let run = run?;
    println!("{}", report::load::load_table(&run.rows, Style::Terminal));
    for note in report::load::load_notes(&run.rows) {
        println!("{note}");
    }
    if !run.rows.is_empty() {
        let figures = default_plots_dir(&options.out_dir);
        match plot::render_load(&run.rows, &figures) {
            Ok(_) => println!("figures: {}", figures.display()),
            Err(e) => eprintln!("warning: no figures: {e}"),
        }
    }
    println!("load: {}", options.out_dir.join(LOAD_FILE).display());
    Ok(if run.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if run.rows.iter().all(|r| r.ok && r.errors == 0) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A run's report files and figures, and their copy as the scenario's latest in plots/.
fn report_and_publish(
    rows: &[ResultRow],
    scenario: &Scenario,
    dir: &Path,
    figures: &Path,
) -> Result<()> {
    for line in write_report(rows, scenario.table, dir, figures)? {
        println!("{line}");
    }
    let latest = repository_root()
        .join("plots")
        .join(format!("{}-latest", scenario.name));
    match report::folder::publish_latest(dir, &latest) {
        Ok(()) => println!("latest: {}", latest.display()),
        Err(e) => eprintln!("warning: no copy in {}: {e}", latest.display()),
    }
    Ok(())
}

/// Writes the report files of rows of one host and scenario into `dir`; returns the lines
/// saying where they are. Missing figures are a warning, never a lost run.
fn write_report(
    rows: &[ResultRow],
    layout: TableLayout,
    dir: &Path,
    figures: &Path,
) -> Result<Vec<String>> {
    let written = report::folder::write(rows, layout, dir, figures)?;
    if let Some(why) = &written.figures_missing {
        eprintln!("warning: no figures: {why}");
    }
    let mut said: Vec<String> = written
        .figures
        .iter()
        .map(|f| format!("figures: {}", f.display()))
        .collect();
    said.push(format!(
        "report: {}",
        dir.join(report::folder::REPORT_HTML).display()
    ));
    Ok(said)
}

async fn build(scenario: Option<PathBuf>, wraps: &[String], rebuild: bool) -> Result<ExitCode> {
    let scenario = load_scenario(scenario, wraps)?;
    let cache = ImageCache::for_repository(repository_root());
    for prepared in runner::prepare_all(&scenario, &cache, rebuild, &Progress::default()).await? {
        println!(
            "{}: ready, image {:.2} MB",
            prepared.spec().name,
            prepared.image().bytes as f64 / shrinkwrap::figure::MB
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn doctor() -> Result<ExitCode> {
    let cache = ImageCache::for_repository(repository_root());
    let findings = shrinkwrap::report::doctor::examine(&cache, "qemu-system-x86_64").await;
    for finding in &findings {
        let mark = if finding.problem { "!!" } else { "ok" };
        println!("{mark} {:<12} {}", finding.topic, finding.detail);
    }
    Ok(if findings.iter().any(|f| f.problem) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn clean(images: bool) -> Result<ExitCode> {
    use shrinkwrap::wrap::{container, process, qemu};
    let vms = qemu::kill_session_vms("");
    println!("killed {vms} QEMU process(es)");
    let processes = process::kill_session_processes("");
    println!("killed {processes} host process(es) of process wraps");
    let mut folders = 0;
    for entry in std::fs::read_dir(std::env::temp_dir())?.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("shrinkwrap-")
            && entry.path().is_dir()
            && std::fs::remove_dir_all(entry.path()).is_ok()
        {
            folders += 1;
        }
    }
    println!("removed {folders} temp folder(s)");
    match container::connect().await {
        Ok((docker, _)) => {
            let removed = container::remove_labelled(&docker, container::HARNESS_LABEL).await;
            println!("removed {removed} container(s)");
            if images {
                let removed = container::remove_labelled_images(&docker).await;
                println!("removed {removed} image(s)");
            }
        }
        Err(e) => println!("containers not checked: {e}"),
    }
    if images {
        let cache = ImageCache::for_repository(repository_root());
        if cache.dir.exists() {
            std::fs::remove_dir_all(&cache.dir)
                .with_context(|| format!("removing {}", cache.dir.display()))?;
        }
        println!("removed the image cache {}", cache.dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn plot(path: &Path, out: Option<PathBuf>) -> Result<ExitCode> {
    let folder = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let dir = out.unwrap_or_else(|| default_plots_dir(folder));
    if path.file_name().is_some_and(|name| name == LOAD_FILE) {
        let rows: Vec<LoadRow> = results::read_rows(path)?;
        for path in plot::render_load(&rows, &dir)? {
            println!("{}", path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows = results::read_all(&[path.to_path_buf()])?;
    let groups = results::by_host_and_scenario(&rows);
    for ((host, scenario), rows) in &groups {
        let dir = match groups.len() {
            1 => dir.clone(),
            _ => dir.join(format!("{scenario}-{host}")),
        };
        let paths = plot::render_all(rows, &dir)?;
        for path in paths {
            println!("{}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn compare(
    baseline: &Path,
    candidate: &Path,
    budgets: Option<&Path>,
    allow_mismatch: bool,
    markdown: bool,
) -> Result<ExitCode> {
    let base = results::read_all(&[baseline.to_path_buf()])?;
    let cand = results::read_all(&[candidate.to_path_buf()])?;
    if base.is_empty() {
        bail!("the baseline {} holds no result rows", baseline.display());
    }
    let mut judged = Vec::new();
    for (host, base, cand) in pairs_by_host(&base, &cand)? {
        let rules = match budgets {
            Some(path) => Budgets::load(path)?,
            None => Budgets::for_scenario(&repository_root(), &base[0].scenario)?,
        };
        judged.push((host, regression::compare(&base, &cand, &rules)));
    }
    let mismatches: Vec<String> = judged
        .iter()
        .flat_map(|(_, v)| v.mismatches.iter().chain(&v.runtime_changes).cloned())
        .collect();
    if !mismatches.is_empty() && !allow_mismatch {
        bail!(
            "not comparable: {}; measure both on one host and setup, or pass --allow-mismatch \
             to compare anyway",
            mismatches.join("; ")
        );
    }
    let mut regressions = 0;
    for (host, verdicts) in &judged {
        if judged.len() > 1 {
            let heading = if markdown { "### " } else { "" };
            println!("{heading}{host}\n");
        }
        println!("{}\n", report::comparison_report(verdicts, style(markdown)));
        regressions += verdicts.regressions().count();
    }
    println!(
        "{regressions} regression(s): fewer ok runs (Fisher p < alpha), a median beyond its \
         limit with p < alpha, a tail of slow runs, a size beyond its tolerance, or a budget \
         exceeded"
    );
    Ok(if regressions > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn ab(args: AbArgs) -> Result<ExitCode> {
    let retry_runs = args.retry_runs.unwrap_or(args.pair.runs * 2);
    if [args.pair.runs, retry_runs]
        .iter()
        .any(|n| !(2..=MAX_RUNS).contains(n))
        || args.pair.rounds == 0
    {
        bail!("--runs and --retry-runs take 2 to {MAX_RUNS}, --rounds at least 1");
    }
    let (baseline, candidate) = open_sides(&args)?;
    let budgets = match &args.budgets {
        Some(path) => Budgets::load(path)?,
        None => Budgets::for_scenario(&candidate.root, &candidate.name)?,
    };
    let out = out_dir(args.pair.out.clone(), &format!("{}-ab", candidate.name))?;
    let plans = [
        ab::Plan {
            runs: args.pair.runs,
            rounds: args.pair.rounds,
        },
        ab::Plan {
            runs: retry_runs,
            rounds: args.pair.rounds,
        },
    ];
    eprintln!(
        "ab: {} (A) against {} (B), blocks and logs in {}",
        baseline.root.display(),
        candidate.root.display(),
        out.join("blocks").display()
    );
    let mut binaries = ab::binaries::Binaries::new(
        baseline.clone(),
        candidate.clone(),
        args.pair.warmup,
        out.join("blocks"),
    );
    let mut progress = |index: usize, block: &ab::Block| {
        eprintln!(
            "ab: block {}: {} round {} of {}, {} ({} runs)",
            index + 1,
            block.wrap,
            block.round + 1,
            args.pair.rounds,
            block.side.name(),
            block.runs
        );
    };
    let outcome = ab::run_ab(
        &mut binaries,
        &baseline,
        &candidate,
        plans,
        &budgets,
        &mut progress,
    )?;
    write_ab(&outcome, &out)?;
    publish_candidate(
        &outcome.first.candidate,
        &candidate,
        &out.join("first/candidate"),
    )?;
    println!("{}", report::ab::ab_report(&outcome, style(args.markdown)));
    println!("results: {}", out.display());
    Ok(if outcome.confirmed().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The candidate's first pass as a run's report (summary, figures, report.html), also as the
/// candidate's latest: each block's own run published only its one wrap there.
fn publish_candidate(rows: &[ResultRow], candidate: &ab::Checkout, dir: &Path) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let layout = match Scenario::load(&candidate.scenario) {
        Ok(scenario) => scenario.table,
        Err(e) => {
            eprintln!("warning: the candidate's report uses the summary layout: {e}");
            TableLayout::Summary
        }
    };
    for line in write_report(rows, layout, dir, &default_plots_dir(dir))? {
        eprintln!("{line}");
    }
    let latest = candidate
        .root
        .join("plots")
        .join(format!("{}-latest", candidate.name));
    report::folder::publish_latest(dir, &latest)
        .with_context(|| format!("publishing {}", latest.display()))
}

/// Both checkouts of an A/B, their wraps narrowed to `--wrap`, each named one on some side.
fn open_sides(args: &AbArgs) -> Result<(ab::Checkout, ab::Checkout)> {
    let scenario = args
        .pair
        .scenario
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SCENARIO));
    let candidate_root = args.candidate.clone().unwrap_or_else(repository_root);
    let mut baseline = ab::Checkout::open(ab::Side::Baseline, &args.baseline, &scenario)?;
    let mut candidate = ab::Checkout::open(ab::Side::Candidate, &candidate_root, &scenario)?;
    for wrap in &args.pair.wraps {
        if !baseline.wraps.contains(wrap) && !candidate.wraps.contains(wrap) {
            bail!("no wrap '{wrap}' in either side's {}", scenario.display());
        }
    }
    baseline.select(&args.pair.wraps);
    candidate.select(&args.pair.wraps);
    Ok((baseline, candidate))
}

/// A pass's rows per side: `DIR/baseline/results.csv` and `DIR/candidate/results.csv`.
fn write_pass(pass: &ab::Pass, dir: &Path) -> Result<()> {
    for (side, rows) in [("baseline", &pass.baseline), ("candidate", &pass.candidate)] {
        let dir = dir.join(side);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut writer = results::ResultsWriter::create(&dir.join(RESULTS_FILE))?;
        for row in rows {
            writer.write(row)?;
        }
    }
    Ok(())
}

/// Each pass's rows per side (`first/baseline/results.csv`, ...) and the report as Markdown.
fn write_ab(outcome: &ab::AbOutcome, out: &Path) -> Result<()> {
    write_pass(&outcome.first, &out.join("first"))?;
    if let Some((retry, _)) = &outcome.retry {
        write_pass(retry, &out.join("retry"))?;
    }
    let markdown = report::ab::ab_report(outcome, Style::Markdown);
    let path = out.join("ab.md");
    std::fs::write(&path, markdown + "\n").with_context(|| format!("writing {}", path.display()))
}

fn calibrate(args: CalibrateArgs) -> Result<ExitCode> {
    let pair = &args.pair;
    if !(2..=MAX_RUNS).contains(&pair.runs) || pair.rounds == 0 || args.pairs == 0 {
        bail!("--runs takes 2 to {MAX_RUNS}, --rounds and --pairs at least 1");
    }
    let scenario = pair
        .scenario
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SCENARIO));
    let mut build = ab::Checkout::open(ab::Side::Candidate, &repository_root(), &scenario)?;
    build.select(&pair.wraps);
    let budgets_file = args.budgets.clone().unwrap_or_else(|| {
        let dir = build.root.join(regression::budget::BUDGETS_DIR);
        dir.join(format!("{}.toml", build.name))
    });
    let text = std::fs::read_to_string(&budgets_file).unwrap_or_default();
    let current = Budgets::parse(&calibration::without_section(&text), &budgets_file)?;
    let out = out_dir(pair.out.clone(), &format!("{}-calibrate", build.name))?;
    let pairs = measure_aa_pairs(&build, &args, &out)?;
    let how = calibration_header(&pairs, &build, &args, &out)?;
    let section = calibration::section(&calibration::drifts(&pairs), &current, &how);
    std::fs::write(&budgets_file, calibration::with_section(&text, &section))
        .with_context(|| format!("writing {}", budgets_file.display()))?;
    println!("{section}");
    println!("written into {}", budgets_file.display());
    Ok(ExitCode::SUCCESS)
}

/// `--out`, which must not exist yet, or a new folder under results/ named `name`.
fn out_dir(out: Option<PathBuf>, name: &str) -> Result<PathBuf> {
    match out {
        Some(out) => {
            refuse_existing(&out)?;
            Ok(out)
        }
        None => Ok(new_results_dir(name)),
    }
}

/// `args.pairs` A/A pairs of `build`, each measured as `ab` measures its first pass, each
/// pair's rows and blocks in `out/pair-N/`.
fn measure_aa_pairs(
    build: &ab::Checkout,
    args: &CalibrateArgs,
    out: &Path,
) -> Result<Vec<calibration::Pair>> {
    let plan = ab::Plan {
        runs: args.pair.runs,
        rounds: args.pair.rounds,
    };
    let blocks = ab::schedule(&build.wraps, &build.wraps, &build.wraps, plan);
    let mut pairs = Vec::new();
    for pair in 1..=args.pairs {
        let dir = out.join(format!("pair-{pair}"));
        let mut binaries = ab::binaries::Binaries::new(
            build.clone(),
            build.clone(),
            args.pair.warmup,
            dir.join("blocks"),
        );
        if pair == 1 {
            ab::Measure::prepare(&mut binaries, ab::Side::Baseline, &build.wraps)?;
        }
        let mut progress = |index: usize, block: &ab::Block| {
            let side = if block.side == ab::Side::Baseline {
                "A"
            } else {
                "A'"
            };
            eprintln!(
                "calibrate: pair {pair} of {}, block {} of {}: {} ({side})",
                args.pairs,
                index + 1,
                blocks.len(),
                block.wrap
            );
        };
        let pass = ab::measure_pass(&mut binaries, &blocks, &mut progress)?;
        write_pass(&pass, &dir)?;
        pairs.push((pass.baseline, pass.candidate));
        if let Some(gap) = args.gap.filter(|_| pair < args.pairs) {
            let wait = humantime::format_duration(gap);
            eprintln!("calibrate: waiting {wait} before the next pair");
            std::thread::sleep(gap);
        }
    }
    Ok(pairs)
}

/// How a calibration was obtained, for its section's first line.
fn calibration_header(
    pairs: &[calibration::Pair],
    build: &ab::Checkout,
    args: &CalibrateArgs,
    out: &Path,
) -> Result<String> {
    let rows: Vec<&ResultRow> = pairs.iter().flat_map(|(a, _)| a).collect();
    let first = rows.first().context("the pairs measured no rows")?;
    let accels = results::distinct(rows.iter().copied(), |r| &r.accel).join("+");
    let revision = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(&build.root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| format!(" at {}", String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_default();
    let apart = args
        .gap
        .map(|g| format!(", {} apart", humantime::format_duration(g)))
        .unwrap_or_default();
    Ok(format!(
        "{} A/A pairs of one build (shrinkwrap {}{revision}) on {} ({}), {accels}, {}, {} runs a \
         side in {} rounds{apart}; rows in {}",
        args.pairs,
        first.harness_version,
        first.host,
        first.host_cpu,
        chrono::Utc::now().format("%Y-%m-%d"),
        args.pair.runs,
        args.pair.rounds,
        out.display()
    ))
}

/// One host's name, baseline rows and candidate rows.
type HostPair = (String, Vec<ResultRow>, Vec<ResultRow>);

/// Baseline and candidate rows paired by host: each host's rows against its own baseline.
/// One host on each side pair whatever their names (the comparison then says the hosts
/// differ); a host on one side only is named on stderr and not compared.
fn pairs_by_host(base: &[ResultRow], cand: &[ResultRow]) -> Result<Vec<HostPair>> {
    let hosts = |rows: &[ResultRow]| results::distinct(rows, |r| &r.host);
    let (base_hosts, cand_hosts) = (hosts(base), hosts(cand));
    let of = |rows: &[ResultRow], host: &str| -> Vec<ResultRow> {
        rows.iter().filter(|r| r.host == host).cloned().collect()
    };
    if base_hosts.len() == 1 && cand_hosts.len() <= 1 {
        return Ok(vec![(base_hosts[0].clone(), base.to_vec(), cand.to_vec())]);
    }
    for host in base_hosts.iter().filter(|h| !cand_hosts.contains(h)) {
        eprintln!("warning: host {host} is only in the baseline: not compared");
    }
    for host in cand_hosts.iter().filter(|h| !base_hosts.contains(h)) {
        eprintln!("warning: host {host} is only in the candidate: not compared");
    }
    let pairs: Vec<_> = base_hosts
        .iter()
        .filter(|h| cand_hosts.contains(h))
        .map(|h| (h.clone(), of(base, h), of(cand, h)))
        .collect();
    if pairs.is_empty() {
        bail!("the baseline and the candidate share no host: nothing to compare");
    }
    Ok(pairs)
}

fn style(markdown: bool) -> Style {
    if markdown {
        Style::Markdown
    } else {
        Style::Terminal
    }
}

fn report(paths: &[PathBuf], markdown: bool, talk: bool, out: Option<PathBuf>) -> Result<ExitCode> {
    let rows = results::read_all(paths)?;
    if rows.is_empty() {
        bail!("no result rows in {}", display_paths(paths));
    }
    let layout = if talk {
        TableLayout::Talk
    } else {
        TableLayout::Summary
    };
    let out = match out {
        Some(out) => Some(out),
        None => single_run_folder(paths)?,
    };
    let groups = results::by_host_and_scenario(&rows);
    for ((host, scenario), rows) in &groups {
        if groups.len() > 1 {
            let heading = if markdown { "### " } else { "" };
            println!("{heading}{scenario} on {host}\n");
        }
        println!(
            "{}\n",
            report::document(&summarize(rows), layout, style(markdown))
        );
        if let Some(out) = &out {
            let dir = match groups.len() {
                1 => out.clone(),
                _ => out.join(format!("{scenario}-{host}")),
            };
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            // On stderr: stdout is the table, which may be piped as Markdown.
            for line in write_report(rows, layout, &dir, &default_plots_dir(&dir))? {
                eprintln!("{line}");
            }
        }
    }
    if out.is_none() {
        eprintln!("(report files not written: several results files were read; give --out DIR)");
    }
    Ok(ExitCode::SUCCESS)
}

/// The folder of the one results.csv `paths` hold, where its report files belong; `None`
/// when they hold several.
fn single_run_folder(paths: &[PathBuf]) -> Result<Option<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        files.extend(results::find_results(path)?);
    }
    Ok(match files.as_slice() {
        [one] => Some(one.parent().unwrap_or(Path::new(".")).to_path_buf()),
        _ => None,
    })
}

fn display_paths(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

//! The `shrinkwrap` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use shrinkwrap::analysis::{WrapSummary, summarize};
use shrinkwrap::bench::{self, RunOptions};
use shrinkwrap::probe::StopFlag;
use shrinkwrap::recipe::ImageCache;
use shrinkwrap::report::{self, Style};
use shrinkwrap::repository_root;
use shrinkwrap::results::{self, RESULTS_FILE};
use shrinkwrap::scenario::{DEFAULT_SCENARIO, Scenario, TableLayout};

/// Which shrink-wrap should this service ship in? Measures one workload as a container,
/// a unikernel and a microVM: image size, time to first HTTP response, memory.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the images, launch every wrap cold N times, write results.csv and print a summary.
    Run {
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
    },
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
    /// Show what the harness finds: dockerd, QEMU, KVM and the accelerator probe's verdict, free disk.
    Doctor,
    /// Print the summary table of an existing results.csv (or of the folder holding it).
    Report {
        /// results.csv, or a folder holding one.
        results: PathBuf,
        /// Print Markdown instead of a terminal table.
        #[arg(long)]
        markdown: bool,
        /// Print the talk's layout (size, start, memory, security, APM) and its numbers.
        #[arg(long)]
        talk: bool,
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
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run {
            scenario,
            runs,
            warmup,
            out,
            wraps,
            rebuild,
            min_memory,
        } => run(scenario, runs, warmup, out, &wraps, rebuild, min_memory).await,
        Command::Build {
            scenario,
            wraps,
            rebuild,
        } => build(scenario, &wraps, rebuild).await,
        Command::Report {
            results,
            markdown,
            talk,
        } => report(&results, markdown, talk),
        Command::Doctor => doctor().await,
    }
}

fn load_scenario(path: Option<PathBuf>, wraps: &[String]) -> Result<Scenario> {
    let path = path.unwrap_or_else(|| repository_root().join(DEFAULT_SCENARIO));
    let mut scenario = Scenario::load(&path)?;
    scenario.select_wraps(wraps).map_err(anyhow::Error::msg)?;
    Ok(scenario)
}

async fn run(
    scenario: Option<PathBuf>,
    runs: Option<u32>,
    warmup: Option<u32>,
    out: Option<PathBuf>,
    wraps: &[String],
    rebuild: bool,
    min_memory: bool,
) -> Result<ExitCode> {
    let scenario = load_scenario(scenario, wraps)?;
    if runs == Some(0) {
        bail!("--runs must be at least 1");
    }
    let started = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let session = format!("{}-{started}", scenario.name);
    let out_dir = out.unwrap_or_else(|| repository_root().join("results").join(&session));
    let options = RunOptions {
        runs: runs.unwrap_or(scenario.runs),
        warmup: warmup.unwrap_or(scenario.warmup),
        out_dir,
        rebuild,
        session,
        min_memory,
    };
    let interrupt = StopFlag::default();
    let watcher = {
        let interrupt = interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "\ninterrupted: stopping the current instance and keeping the results so far"
                );
                interrupt.raise();
            }
        })
    };
    let cache = ImageCache::for_repository(repository_root());
    let outcome = bench::run_scenario(&scenario, &cache, &options, &interrupt).await;
    watcher.abort();
    let outcome = outcome?;

    let summaries = summarize(&outcome.rows);
    if !summaries.is_empty() {
        println!("{}", render(&summaries, scenario.table, Style::Terminal));
        let markdown = render(&summaries, scenario.table, Style::Markdown);
        let summary_path = options.out_dir.join("summary.md");
        std::fs::write(&summary_path, format!("{markdown}\n"))
            .with_context(|| format!("writing {}", summary_path.display()))?;
    }
    for note in report::failure_notes(&summaries) {
        println!("{note}");
    }
    for wrap in &outcome.abandoned {
        println!("{wrap}: stopped after repeated failures; the remaining runs were skipped");
    }
    println!("results: {}", options.out_dir.join(RESULTS_FILE).display());
    Ok(if outcome.interrupted {
        ExitCode::from(130)
    } else if outcome.rows.iter().all(|r| r.ok) && outcome.abandoned.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn build(scenario: Option<PathBuf>, wraps: &[String], rebuild: bool) -> Result<ExitCode> {
    let scenario = load_scenario(scenario, wraps)?;
    let cache = ImageCache::for_repository(repository_root());
    for prepared in bench::prepare_all(&scenario, &cache, rebuild).await? {
        println!(
            "{}: ready, image {:.2} MB",
            prepared.spec().name,
            prepared.image_bytes() as f64 / shrinkwrap::analysis::MB
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn doctor() -> Result<ExitCode> {
    let cache = ImageCache::for_repository(repository_root());
    let findings = shrinkwrap::doctor::examine(&cache, "qemu-system-x86_64").await;
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

/// The table of a scenario's layout.
fn render(summaries: &[WrapSummary], layout: TableLayout, style: Style) -> String {
    match layout {
        TableLayout::Summary => report::summary_table(summaries, style),
        TableLayout::Talk => report::talk_table(summaries, style),
    }
}

fn report(path: &Path, markdown: bool, talk: bool) -> Result<ExitCode> {
    let file = if path.is_dir() {
        path.join(RESULTS_FILE)
    } else {
        path.to_path_buf()
    };
    let rows = results::read_results(&file)?;
    if rows.is_empty() {
        bail!("{} holds no result rows", file.display());
    }
    let summaries = summarize(&rows);
    let style = if markdown {
        Style::Markdown
    } else {
        Style::Terminal
    };
    let layout = if talk {
        TableLayout::Talk
    } else {
        TableLayout::Summary
    };
    println!("{}", render(&summaries, layout, style));
    for note in report::failure_notes(&summaries) {
        println!("{note}");
    }
    Ok(ExitCode::SUCCESS)
}

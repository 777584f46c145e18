//! The runner's events as the command line shows them: spinners while a wrap is prepared,
//! a progress bar over its launches in a terminal, plain lines otherwise (CI logs).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::results::load::{LoadRow, mode_name};
use crate::runner::events::{Event, Observer};
use crate::wrap::Measurement;

/// Shows progress on standard error.
#[derive(Default)]
pub struct Progress {
    /// The spinner or bar on screen.
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress {
    /// Replaces what is on screen.
    fn replace(&self, bar: Option<ProgressBar>) {
        let mut current = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = current.take() {
            old.finish_and_clear();
        }
        *current = bar;
    }

    /// Shows a line: on the bar in a terminal, as a plain line otherwise.
    fn show(&self, line: String, advance: bool) {
        let current = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        match current.as_ref() {
            Some(bar) if !bar.is_hidden() => {
                bar.set_message(line);
                if advance {
                    bar.inc(1);
                }
            }
            _ => eprintln!("{line}"),
        }
    }
}

impl Observer for Progress {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::Preparing { wrap } => {
                self.replace(Some(spinner(&format!("preparing {wrap}"))));
            }
            Event::PrepareStep { wrap, step } => {
                self.show(format!("preparing {wrap}: {step}"), false);
            }
            Event::Prepared { .. } => self.replace(None),
            Event::Finished { .. } => {
                let mut current = self.bar.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(bar) = current.take() {
                    bar.finish();
                }
            }
            Event::MinMemorySearch { wrap } => self.replace(Some(spinner(&format!(
                "{wrap}: searching the smallest guest RAM"
            )))),
            Event::MinMemoryStep { wrap, step } => {
                self.show(format!("{wrap}: smallest guest RAM: {step}"), false);
            }
            Event::MinMemoryFound { wrap, found } => {
                self.replace(None);
                match found {
                    Ok(found) => eprintln!(
                        "{wrap}: smallest guest RAM that serves: {} MiB ({} launches)",
                        found.mib, found.launches
                    ),
                    Err(why) => eprintln!("{wrap}: smallest guest RAM not found: {why}"),
                }
            }
            Event::Measuring { launches, .. } => {
                self.replace(Some(progress_bar(u64::from(*launches))));
            }
            Event::Measured {
                wrap,
                launch,
                measurement,
            } => self.show(format!("{wrap}: {launch}: {}", describe(measurement)), true),
            Event::Loading { wrap, keep_alive } => self.replace(Some(spinner(&format!(
                "{wrap}, {}: launching and driving",
                mode_name(*keep_alive)
            )))),
            Event::Loaded { row } => {
                self.replace(None);
                eprintln!("{}", describe_load(row));
            }
            Event::GivenUp { .. } => {}
            Event::LeftoversRemoved { wrap, count } => {
                eprintln!("warning: removed {count} leftover instance(s) of wrap '{wrap}'");
            }
        }
    }
}

fn describe(m: &Measurement) -> String {
    match (m.ok, m.ttfr) {
        (true, Some(ttfr)) => format!("first response in {:.3} s", ttfr.as_secs_f64()),
        _ => match m.failure {
            Some(kind) => format!("failed ({kind}): {}", m.notes.join("; ")),
            None => format!("failed: {}", m.notes.join("; ")),
        },
    }
}

fn describe_load(row: &LoadRow) -> String {
    let mode = mode_name(row.keep_alive);
    let served = format!(
        "{:.0} requests/s, p99 {}, {} errors",
        row.requests_per_second,
        row.p99_ms
            .map_or("missing".to_string(), |ms| format!("{ms:.2} ms")),
        row.errors
    );
    match (row.ok, row.failure) {
        (true, _) => format!("{}, {mode}: {served}", row.wrap),
        (false, Some(kind)) => format!("{}, {mode}: {served}; failed ({kind})", row.wrap),
        (false, None) => format!("{}, {mode}: {served}; failed", row.wrap),
    }
}

fn spinner(message: &str) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message(message.to_string());
    bar
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("[{bar:20}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

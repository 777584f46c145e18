//! An instance's console (a VM's serial port, a process's output), copied to a log file as
//! it arrives and timed on the launch clock: its first byte, the instance's ready line, and
//! any fatal line, each raising a flag the moment it appears.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::probe::StopFlag;
use crate::scenario::PhaseLine;

/// What the console showed, with times on the launch clock.
#[derive(Debug, Default, Clone)]
pub struct Console {
    /// The first byte.
    pub first_output: Option<Duration>,
    /// The line saying the instance listens.
    pub ready_line: Option<Duration>,
    /// The phase lines seen, by name, in the order they appeared.
    pub phases: Vec<(String, Duration)>,
    /// The first line that says the instance failed, with the line after it (where a Rust
    /// panic says why).
    pub fatal_line: Option<String>,
    /// Whether the line after the fatal line was added to it.
    pub fatal_line_followed: bool,
    /// The last line that was not blank.
    pub last_line: String,
}

/// What to look for on a console, and the flags its lines raise.
#[derive(Debug, Clone)]
pub struct Watch {
    /// Text of the line saying the instance listens.
    pub ready_line: Option<String>,
    /// Texts of lines saying the instance failed.
    pub fatal_lines: Vec<String>,
    /// Lines marking phases of the start-up.
    pub phase_lines: Vec<PhaseLine>,
    /// Raised by the ready line.
    pub listening: StopFlag,
    /// Raised by a fatal line.
    pub fatal: StopFlag,
}

/// A console being copied and watched in the background.
pub struct ConsoleWatcher {
    state: Arc<Mutex<Console>>,
    task: Option<tokio::task::JoinHandle<()>>,
    log: PathBuf,
}

impl ConsoleWatcher {
    /// Copies `output` to `log` until it closes, watching its lines.
    pub fn start(
        output: impl AsyncRead + Unpin + Send + 'static,
        log: PathBuf,
        launched: Instant,
        watch: Watch,
    ) -> ConsoleWatcher {
        let state = Arc::new(Mutex::new(Console::default()));
        let task = tokio::spawn(copy_and_watch(
            output,
            log.clone(),
            launched,
            watch,
            Arc::clone(&state),
        ));
        ConsoleWatcher {
            state,
            task: Some(task),
            log,
        }
    }

    /// The fatal line seen so far.
    pub fn fatal_line(&self) -> Option<String> {
        self.lock().fatal_line.clone()
    }

    /// Whether the ready line has been seen so far.
    pub fn ready_line_seen(&self) -> bool {
        self.lock().ready_line.is_some()
    }

    /// The last line that was not blank, so far.
    pub fn last_line(&self) -> String {
        self.lock().last_line.clone()
    }

    /// The log file.
    pub fn log(&self) -> &std::path::Path {
        &self.log
    }

    /// Waits until the console closed (its instance ended) and returns what it showed.
    pub async fn finish(&mut self) -> Console {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Console> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn copy_and_watch(
    mut output: impl AsyncRead + Unpin,
    log: PathBuf,
    launched: Instant,
    watch: Watch,
    state: Arc<Mutex<Console>>,
) {
    let Ok(mut file) = tokio::fs::File::create(&log).await else {
        return;
    };
    let mut buffer = vec![0u8; 4096];
    let mut pending = String::new();
    loop {
        let n = match output.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = launched.elapsed();
        let _ = file.write_all(&buffer[..n]).await;
        pending.push_str(&String::from_utf8_lossy(&buffer[..n]));
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        state.first_output.get_or_insert(now);
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            see_line(line.trim_end(), now, &watch, &mut state);
        }
    }
    let _ = file.flush().await;
}

/// Notes one complete line, raising the flags it calls for.
fn see_line(line: &str, now: Duration, watch: &Watch, state: &mut Console) {
    if state.ready_line.is_none()
        && watch
            .ready_line
            .as_deref()
            .is_some_and(|r| line.contains(r))
    {
        state.ready_line = Some(now);
        watch.listening.raise();
    }
    if let Some(fatal) = state.fatal_line.as_mut()
        && !state.fatal_line_followed
        && !line.trim().is_empty()
    {
        fatal.push(' ');
        fatal.push_str(line.trim());
        state.fatal_line_followed = true;
    }
    if state.fatal_line.is_none() && watch.fatal_lines.iter().any(|f| line.contains(f.as_str())) {
        state.fatal_line = Some(line.to_string());
        watch.fatal.raise();
    }
    for phase in &watch.phase_lines {
        if line.contains(phase.line.as_str()) && !state.phases.iter().any(|(n, _)| *n == phase.name)
        {
            state.phases.push((phase.name.clone(), now));
        }
    }
    if !line.trim().is_empty() {
        state.last_line = line.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_lines_are_timed_once_each_in_the_order_seen() {
        let phase = |name: &str, line: &str| PhaseLine {
            name: name.to_string(),
            line: line.to_string(),
        };
        let watch = Watch {
            ready_line: Some("listening".to_string()),
            fatal_lines: Vec::new(),
            phase_lines: vec![
                phase("systemd", "running in system mode"),
                phase("init", "Run /init"),
            ],
            listening: StopFlag::default(),
            fatal: StopFlag::default(),
        };
        let mut state = Console::default();
        let lines = [
            "[ 2.68] Run /init as init process",
            "[ 5.31] systemd[1]: systemd 252 running in system mode (+PAM)",
            "[ 9.00] Run /init again",
            "hello-rust: listening on http://0.0.0.0:8080/",
        ];
        for (second, line) in lines.iter().enumerate() {
            see_line(line, Duration::from_secs(second as u64), &watch, &mut state);
        }
        let seen: Vec<(&str, u64)> = state
            .phases
            .iter()
            .map(|(name, at)| (name.as_str(), at.as_secs()))
            .collect();
        assert_eq!(seen, [("init", 0), ("systemd", 1)]);
        assert_eq!(state.ready_line, Some(Duration::from_secs(3)));
        assert!(watch.listening.is_raised());
    }

    #[test]
    fn a_fatal_line_keeps_the_line_after_it_where_a_panic_says_why() {
        let watch = Watch {
            ready_line: None,
            fatal_lines: vec!["panicked at".to_string()],
            phase_lines: Vec::new(),
            listening: StopFlag::default(),
            fatal: StopFlag::default(),
        };
        let mut state = Console::default();
        let lines = [
            "[0][PANIC] panicked at src/scheduler.rs:107:14:",
            "",
            "Failed to allocate Physical Memory for TaskStacks: AllocError",
            "Number of interrupts",
        ];
        for line in lines {
            see_line(line, Duration::ZERO, &watch, &mut state);
        }
        assert_eq!(
            state.fatal_line.as_deref(),
            Some(
                "[0][PANIC] panicked at src/scheduler.rs:107:14: \
                 Failed to allocate Physical Memory for TaskStacks: AllocError"
            )
        );
        assert!(watch.fatal.is_raised());
    }
}

//! The first-response probe: a blocking HTTP client on its own thread that opens a fresh
//! TCP connection to 127.0.0.1 every few hundred microseconds, sends a GET and reads the
//! status line, until a complete `HTTP/1.x 200` line arrives.
//!
//! Fresh connections with a short per-attempt timeout avoid QEMU's user-network trap: the
//! host's connection is accepted before the guest runs, and a SYN the guest missed is only
//! retransmitted seconds later, so waiting on one connection would time the retransmit.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Pause between two attempts; far below the resolution the issue asks for (1 ms).
const RETRY_PAUSE: Duration = Duration::from_micros(100);

/// Where and how to probe.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// The address on the host (always a 127.0.0.1 port).
    pub addr: SocketAddr,
    /// Request path.
    pub path: String,
    /// Longest wait for one attempt.
    pub attempt_timeout: Duration,
    /// Longest wait in all, counted from the launch instant.
    pub ready_timeout: Duration,
}

/// The first good answer.
#[derive(Debug, Clone, Copy)]
pub struct FirstResponse {
    /// When the `200` status line had been read.
    pub at: Instant,
    /// Attempts made, the good one included.
    pub attempts: u32,
}

/// Why no `200` arrived.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Nothing answered `200` within the ready timeout.
    #[error("no HTTP 200 within {timeout:.1?} after launch ({attempts} attempts; last: {last})")]
    TimedOut {
        /// The ready timeout.
        timeout: Duration,
        /// Attempts made.
        attempts: u32,
        /// What the last attempt saw.
        last: String,
    },
    /// The caller gave up (instance exited, or the user interrupted).
    #[error("probe stopped: {0}")]
    Stopped(String),
}

/// A flag shared between threads to end work early (a probe, a benchmark loop).
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// Asks whoever watches the flag to stop.
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Probes until the first `200`, the ready timeout (counted from `launched`), or until
/// any of `stop` is raised (checked between attempts).
pub fn wait_for_first_response(
    target: &ProbeTarget,
    launched: Instant,
    stop: &[&StopFlag],
) -> Result<FirstResponse, ProbeError> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: shrinkwrap-probe\r\nConnection: close\r\n\r\n",
        target.path, target.addr
    );
    let deadline = launched + target.ready_timeout;
    let mut attempts = 0u32;
    let mut last = String::from("no attempt made");
    loop {
        if stop.iter().any(|flag| flag.is_raised()) {
            return Err(ProbeError::Stopped(last));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(ProbeError::TimedOut {
                timeout: target.ready_timeout,
                attempts,
                last,
            });
        }
        attempts += 1;
        let budget = target.attempt_timeout.min(deadline - now);
        match attempt(target.addr, request.as_bytes(), budget) {
            Ok(()) => {
                return Ok(FirstResponse {
                    at: Instant::now(),
                    attempts,
                });
            }
            Err(reason) => last = reason,
        }
        std::thread::sleep(RETRY_PAUSE);
    }
}

/// One attempt: connect, send the request, read the status line. `Ok` only for a complete
/// `HTTP/1.x 200` line.
fn attempt(addr: SocketAddr, request: &[u8], budget: Duration) -> Result<(), String> {
    let started = Instant::now();
    let stream = TcpStream::connect_timeout(&addr, budget).map_err(|e| format!("connect: {e}"))?;
    let left = budget
        .checked_sub(started.elapsed())
        .filter(|d| !d.is_zero())
        .ok_or("attempt timed out after connect")?;
    stream
        .set_read_timeout(Some(left))
        .and_then(|()| stream.set_write_timeout(Some(left)))
        .map_err(|e| format!("socket: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("socket: {e}"))?;
    (&stream)
        .write_all(request)
        .map_err(|e| format!("send: {e}"))?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(|e| format!("read: {e}"))?;
    if !line.ends_with('\n') {
        return Err(if line.is_empty() {
            "connection closed without a response".to_string()
        } else {
            format!("incomplete status line {:?}", line.trim_end())
        });
    }
    if is_ok_status_line(&line) {
        Ok(())
    } else {
        Err(format!("status line {:?}", line.trim_end()))
    }
}

/// Whether a line is an `HTTP/1.x 200` status line.
pub fn is_ok_status_line(line: &str) -> bool {
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    version.starts_with("HTTP/1.") && version.len() == 8 && code == "200"
}

/// Fetches `path` once more with reqwest and compares the body with `expected`. Runs after
/// the first response, outside every timed span.
pub async fn check_body(addr: SocketAddr, path: &str, expected: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("body check: {e}"))?;
    let response = client
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .map_err(|e| format!("body check: {e}"))?;
    let body = response
        .text()
        .await
        .map_err(|e| format!("body check: {e}"))?;
    if body == expected {
        Ok(())
    } else {
        Err(format!("body check: expected {expected:?}, got {body:?}"))
    }
}

/// A free TCP port on 127.0.0.1, chosen by the OS.
pub fn free_local_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    #[test]
    fn status_lines() {
        assert!(is_ok_status_line("HTTP/1.1 200 OK\r\n"));
        assert!(is_ok_status_line("HTTP/1.0 200\r\n"));
        assert!(!is_ok_status_line("HTTP/1.1 404 Not Found\r\n"));
        assert!(!is_ok_status_line("HTTP/2 200\r\n"));
        assert!(!is_ok_status_line("HTTP/1.1 2000 OK\r\n"));
        assert!(!is_ok_status_line(""));
    }

    /// Serves `status` to every connection until `count` answers were given.
    fn serve(listener: TcpListener, status: &'static str, count: usize) {
        for stream in listener.incoming().take(count) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(format!("{status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
        }
    }

    fn target(port: u16, ready: Duration) -> ProbeTarget {
        ProbeTarget {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            path: "/".into(),
            attempt_timeout: Duration::from_millis(20),
            ready_timeout: ready,
        }
    }

    /// One measurement of a listener that starts `delay` after launch: what the probe
    /// measured and when the listener really began listening, both from launch, and the
    /// attempts the probe made.
    fn measure_delayed_listener(delay: Duration) -> (Duration, Duration, u32) {
        let port = free_local_port().unwrap();
        let launched = Instant::now();
        let server = std::thread::spawn(move || {
            std::thread::sleep(delay.saturating_sub(launched.elapsed()));
            let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
            let listening = launched.elapsed();
            serve(listener, "HTTP/1.1 200 OK", 1);
            listening
        });
        let first =
            wait_for_first_response(&target(port, Duration::from_secs(5)), launched, &[]).unwrap();
        let listening = server.join().unwrap();
        assert!(first.attempts > 1, "the listener was not there at first");
        (first.at - launched, listening, first.attempts)
    }

    /// The accuracy the harness promises: a listener that starts accepting D after launch is
    /// measured at no less than D, and within 2 ms of when it began listening. The lower
    /// bound must hold every time; for the upper bound the best of a few trials counts, so
    /// a scheduler hiccup on a loaded machine cannot fail it. What a coarse probe cannot hide
    /// is its retry rate, averaged over the whole wait: at least one attempt per millisecond.
    #[test]
    fn measures_a_delayed_listener_within_two_milliseconds() {
        const TRIALS: usize = 5;
        for delay_ms in [50u64, 150, 300] {
            let delay = Duration::from_millis(delay_ms);
            let mut best_lag = Duration::MAX;
            for _ in 0..TRIALS {
                let (measured, listening, attempts) = measure_delayed_listener(delay);
                assert!(
                    measured >= delay,
                    "measured {measured:?} before the listener existed ({delay:?})"
                );
                assert!(
                    u64::from(attempts) >= delay_ms,
                    "{attempts} attempts in {delay:?}: the probe must retry at least every millisecond"
                );
                best_lag = best_lag.min(measured.saturating_sub(listening));
                if best_lag <= Duration::from_millis(2) {
                    break;
                }
            }
            assert!(
                best_lag <= Duration::from_millis(2),
                "the probe noticed a {delay:?} listener {best_lag:?} late at best of {TRIALS}"
            );
        }
    }

    #[test]
    fn a_non_200_answer_is_not_a_first_response() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || serve(listener, "HTTP/1.1 503 Service Unavailable", 1000));
        let err = wait_for_first_response(
            &target(port, Duration::from_millis(200)),
            Instant::now(),
            &[],
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no HTTP 200"), "{text}");
        assert!(text.contains("503"), "{text}");
    }

    #[test]
    fn a_silent_listener_times_out_per_attempt() {
        // Accepts but never answers: every attempt must end at its own timeout.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let started = Instant::now();
        let err = wait_for_first_response(&target(port, Duration::from_millis(300)), started, &[])
            .unwrap_err();
        drop(listener);
        match err {
            ProbeError::TimedOut { attempts, .. } => assert!(attempts >= 2, "{attempts}"),
            other => panic!("expected a timeout, got {other}"),
        }
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_raised_stop_flag_ends_the_probe() {
        let port = free_local_port().unwrap();
        let stop = StopFlag::default();
        stop.raise();
        let err = wait_for_first_response(
            &target(port, Duration::from_secs(30)),
            Instant::now(),
            &[&StopFlag::default(), &stop],
        )
        .unwrap_err();
        assert!(matches!(err, ProbeError::Stopped(_)));
    }
}

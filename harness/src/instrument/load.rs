//! The load generator: a closed loop of HTTP/1.1 `GET`s from the host to a 127.0.0.1 port.
//! Each of `connections` clients sends a request, waits for the whole answer, and sends the
//! next, until the duration is over; requests in flight then finish (or time out), so every
//! request the server answered is counted once. A latency runs from the request's start
//! (its connect, when it opens a connection) to the last byte of the body, and is recorded
//! in an HDR histogram in microseconds.
//!
//! With keep-alive, a client reuses its connection until the server closes it; without, it
//! asks `Connection: close` and opens a new connection for every request. A failed request
//! (no connection, another status, a timeout) is an error: the client drops its connection
//! and pauses [`ERROR_PAUSE`] before the next, so a dead server costs few attempts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper::header::{CONNECTION, HOST};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::probe::StopFlag;

/// Pause after a failed request.
pub const ERROR_PAUSE: Duration = Duration::from_millis(10);
/// Longest latency the histogram holds, microseconds (a longer one is recorded as this).
const MAX_LATENCY_US: u64 = 120_000_000;

/// What load to drive, and where.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The server, a 127.0.0.1 port.
    pub addr: SocketAddr,
    /// Request path.
    pub path: String,
    /// Clients, each with at most one request in flight.
    pub connections: u32,
    /// How long clients start new requests.
    pub duration: Duration,
    /// Whether clients reuse their connection.
    pub keep_alive: bool,
    /// Longest wait for one request's whole answer.
    pub request_timeout: Duration,
}

/// What a load measured.
#[derive(Debug, Clone)]
pub struct LoadOutcome {
    /// Latency of every answered request, microseconds.
    pub latency_us: Histogram<u64>,
    /// Requests answered `200` with a whole body.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// The first failure's words.
    pub first_error: Option<String>,
    /// Connections opened.
    pub connections_opened: u64,
    /// From the first request's start until the last one ended.
    pub elapsed: Duration,
}

impl LoadOutcome {
    fn empty() -> LoadOutcome {
        LoadOutcome {
            latency_us: new_histogram(),
            requests: 0,
            errors: 0,
            first_error: None,
            connections_opened: 0,
            elapsed: Duration::ZERO,
        }
    }

    /// Answered requests per second.
    pub fn requests_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.requests as f64 / seconds
        } else {
            0.0
        }
    }

    /// A latency percentile (0–100), milliseconds; `None` when nothing was answered.
    pub fn percentile_ms(&self, percent: f64) -> Option<f64> {
        (self.requests > 0).then(|| self.latency_us.value_at_percentile(percent) as f64 / 1000.0)
    }

    /// The longest latency, milliseconds.
    pub fn max_ms(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.latency_us.max() as f64 / 1000.0)
    }

    /// The mean latency, milliseconds.
    pub fn mean_ms(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.latency_us.mean() / 1000.0)
    }

    fn add(&mut self, other: LoadOutcome) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
        self.requests += other.requests;
        self.errors += other.errors;
        self.connections_opened += other.connections_opened;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant bounds are valid")
}

/// Drives `plan` until its duration is over or `stop` is raised, then lets requests in
/// flight finish.
pub async fn drive(plan: &LoadPlan, stop: &StopFlag) -> LoadOutcome {
    let plan = Arc::new(plan.clone());
    let started = Instant::now();
    let deadline = started + plan.duration;
    let clients: Vec<_> = (0..plan.connections.max(1))
        .map(|_| tokio::spawn(client(plan.clone(), deadline, stop.clone())))
        .collect();
    let mut outcome = LoadOutcome::empty();
    for joined in futures_util::future::join_all(clients).await {
        match joined {
            Ok(tally) => outcome.add(tally),
            Err(e) => {
                outcome.errors += 1;
                outcome
                    .first_error
                    .get_or_insert(format!("client task: {e}"));
            }
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// One client's loop.
async fn client(plan: Arc<LoadPlan>, deadline: Instant, stop: StopFlag) -> LoadOutcome {
    let mut tally = LoadOutcome::empty();
    let mut connection: Option<SendRequest<Empty<Bytes>>> = None;
    while Instant::now() < deadline && !stop.is_raised() {
        let started = Instant::now();
        let answer = tokio::time::timeout(
            plan.request_timeout,
            request(&plan, &mut connection, &mut tally.connections_opened),
        )
        .await
        .unwrap_or_else(|_| Err(format!("no answer in {:?}", plan.request_timeout)));
        match answer {
            Ok(()) => {
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                tally.latency_us.saturating_record(us.max(1));
                tally.requests += 1;
            }
            Err(why) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(why);
                connection = None;
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
        if !plan.keep_alive {
            connection = None;
        }
    }
    tally
}

/// One request on the client's connection, opening one first when it has none; drops the
/// connection when the server says it closes it.
async fn request(
    plan: &LoadPlan,
    connection: &mut Option<SendRequest<Empty<Bytes>>>,
    opened: &mut u64,
) -> Result<(), String> {
    let sender = match connection {
        Some(sender) if !sender.is_closed() => sender,
        _ => {
            *opened += 1;
            connection.insert(connect(plan.addr).await?)
        }
    };
    sender
        .ready()
        .await
        .map_err(|e| format!("connection: {e}"))?;
    let request = hyper::Request::get(plan.path.as_str())
        .header(HOST, plan.addr.to_string())
        .header(
            CONNECTION,
            if plan.keep_alive {
                "keep-alive"
            } else {
                "close"
            },
        )
        .body(Empty::new())
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status();
    let closes = response
        .headers()
        .get(CONNECTION)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?;
    if closes {
        *connection = None;
    }
    if status != hyper::StatusCode::OK {
        return Err(format!("answered {status}"));
    }
    Ok(())
}

/// Opens a connection and hands it to its own task.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Empty<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        // The connection's own end (closed by either side) is not a request's error.
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    /// The known server's answer time.
    const DELAY: Duration = Duration::from_millis(50);
    /// How far above [`DELAY`] the median latency may lie: the generator's own cost and the
    /// scheduling of a busy 2-core test machine.
    const LATENCY_ERROR: Duration = Duration::from_millis(20);

    /// A server of known behaviour: answers every request `DELAY` after its head arrived,
    /// keeps the connection open unless told `close` (or `always_close`), and counts what
    /// it accepted and answered.
    struct KnownServer {
        addr: SocketAddr,
        requests: Arc<AtomicU64>,
        connections: Arc<AtomicU64>,
    }

    async fn known_server(always_close: bool) -> KnownServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = KnownServer {
            addr: listener.local_addr().unwrap(),
            requests: Arc::default(),
            connections: Arc::default(),
        };
        let (requests, connections) = (server.requests.clone(), server.connections.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(answer(stream, requests.clone(), always_close));
            }
        });
        server
    }

    async fn answer(stream: TcpStream, requests: Arc<AtomicU64>, always_close: bool) {
        let mut stream = BufReader::new(stream);
        loop {
            let mut close = always_close;
            let mut line = String::new();
            loop {
                line.clear();
                match stream.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => close |= line.eq_ignore_ascii_case("connection: close\r\n"),
                }
            }
            tokio::time::sleep(DELAY).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: {}\r\n\r\nok\n",
                if close { "close" } else { "keep-alive" }
            );
            // Counted before it is sent: a client may read the answer before a count
            // made after the write.
            requests.fetch_add(1, Ordering::SeqCst);
            if stream.write_all(response.as_bytes()).await.is_err() {
                return;
            }
            if close {
                return;
            }
        }
    }

    fn plan(addr: SocketAddr, keep_alive: bool) -> LoadPlan {
        LoadPlan {
            addr,
            path: "/".to_string(),
            connections: 4,
            duration: Duration::from_secs(1),
            keep_alive,
            request_timeout: Duration::from_secs(2),
        }
    }

    /// Latency within the stated error of the server's delay, and a closed loop's
    /// throughput: clients × time / mean latency (Little's law).
    fn assert_latency_and_throughput(outcome: &LoadOutcome, clients: u32) {
        let delay_ms = DELAY.as_secs_f64() * 1000.0;
        let min_ms = outcome.latency_us.min() as f64 / 1000.0;
        let p50 = outcome.percentile_ms(50.0).unwrap();
        assert!(min_ms >= delay_ms, "faster than the server: {min_ms} ms");
        assert!(
            p50 <= delay_ms + LATENCY_ERROR.as_secs_f64() * 1000.0,
            "median {p50} ms for a {delay_ms} ms server"
        );
        let expected = f64::from(clients) * outcome.elapsed.as_secs_f64() * 1000.0
            / outcome.mean_ms().unwrap();
        let ratio = outcome.requests as f64 / expected;
        assert!((0.9..=1.1).contains(&ratio), "{outcome:?}: {ratio}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_keep_alive_each_client_keeps_one_connection_and_every_answer_counts() {
        let server = known_server(false).await;
        let outcome = drive(&plan(server.addr, true), &StopFlag::default()).await;
        assert_eq!(outcome.errors, 0, "{:?}", outcome.first_error);
        assert_eq!(outcome.requests, server.requests.load(Ordering::SeqCst));
        assert_eq!(outcome.connections_opened, 4);
        assert_eq!(server.connections.load(Ordering::SeqCst), 4);
        assert_latency_and_throughput(&outcome, 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_keep_alive_every_request_opens_a_connection() {
        let server = known_server(false).await;
        let outcome = drive(&plan(server.addr, false), &StopFlag::default()).await;
        assert_eq!(outcome.errors, 0, "{:?}", outcome.first_error);
        assert_eq!(outcome.requests, server.requests.load(Ordering::SeqCst));
        assert_eq!(outcome.connections_opened, outcome.requests);
        assert_eq!(server.connections.load(Ordering::SeqCst), outcome.requests);
        assert_latency_and_throughput(&outcome, 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_closes_every_connection_is_followed_without_errors() {
        let server = known_server(true).await;
        let outcome = drive(&plan(server.addr, true), &StopFlag::default()).await;
        assert_eq!(outcome.errors, 0, "{:?}", outcome.first_error);
        assert_eq!(outcome.requests, server.requests.load(Ordering::SeqCst));
        assert_eq!(outcome.connections_opened, outcome.requests);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_port_nobody_listens_on_gives_errors_at_a_bounded_pace() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let outcome = drive(&plan(addr, true), &StopFlag::default()).await;
        assert_eq!(outcome.requests, 0);
        assert!(outcome.percentile_ms(50.0).is_none());
        let most = 4 * (1000 / ERROR_PAUSE.as_millis() as u64 + 1);
        assert!((1..=most).contains(&outcome.errors), "{}", outcome.errors);
        assert!(
            outcome.first_error.as_deref().unwrap().contains("connect"),
            "{:?}",
            outcome.first_error
        );
    }
}

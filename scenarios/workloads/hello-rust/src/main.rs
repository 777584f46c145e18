//! hello-rust: the workload shrinkwrap wraps. Like the talk's Node.js server, it answers
//! every HTTP request with `200 OK`, `Content-Type: text/plain` and `Hello World\n`, and
//! keeps the connection open for the next request unless the client asks to close it.
//!
//! Portable std code only (no dependencies, no async runtime): the same source is built as
//! a static Linux binary, as a Hermit unikernel, as a Linux appliance's workload and as a
//! WASI 0.2 component (which has no threads: it serves one connection at a time, one request
//! each).
//!
//! Usage: `hello-rust [--bind ADDR] [--port PORT]` (defaults: 0.0.0.0, 8080).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
#[cfg(not(target_family = "wasm"))]
use std::time::Duration;

const BODY: &str = "Hello World\n";

/// How long a kept-alive connection may stay idle before the server closes it (where the
/// kernel has receive timeouts; Hermit's 0.11 has none).
#[cfg(not(target_family = "wasm"))]
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest request head read before answering anyway.
const MAX_REQUEST_BYTES: usize = 8192;

/// Stack of a connection's thread, the same for every wrap. `serve` needs a few KiB; std's
/// default (1 MiB on Hermit, 2 MiB on Linux) is backed in full by Hermit's kernel, from the
/// small part of guest RAM its heap leaves, so eight clients exhausted a 64 MiB guest.
#[cfg(not(target_family = "wasm"))]
const CONNECTION_STACK_BYTES: usize = 64 * 1024;

struct Options {
    bind: String,
    port: u16,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        bind: "0.0.0.0".to_string(),
        port: 8080,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--bind" => options.bind = value()?,
            "--port" => {
                let text = value()?;
                options.port = text
                    .parse()
                    .map_err(|_| format!("--port: '{text}' is not a port number"))?;
            }
            "-h" | "--help" => {
                return Err("usage: hello-rust [--bind ADDR] [--port PORT]".to_string())
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(options)
}

/// The answer to every request; `close` says the connection ends after it.
fn response(close: bool) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n{BODY}",
        BODY.len(),
        if close { "close" } else { "keep-alive" }
    )
}

/// Reads the next request head (up to the blank line) from `stream`, keeping what follows
/// it in `pending`. `None` when the client closed the connection between requests; a head
/// longer than `MAX_REQUEST_BYTES` is returned as it is, to be answered anyway.
fn read_head(stream: &mut TcpStream, pending: &mut Vec<u8>) -> std::io::Result<Option<Vec<u8>>> {
    let mut buffer = [0u8; 1024];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = pending.split_off(end + 4);
            return Ok(Some(std::mem::replace(pending, rest)));
        }
        if pending.len() >= MAX_REQUEST_BYTES {
            return Ok(Some(std::mem::take(pending)));
        }
        match stream.read(&mut buffer)? {
            0 if pending.is_empty() => return Ok(None),
            0 => return Ok(Some(std::mem::take(pending))),
            n => pending.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Whether the client wants the connection closed after this request: HTTP/1.1 keeps it
/// open unless told `Connection: close`; HTTP/1.0 closes unless told `keep-alive`. An
/// incomplete head closes.
#[cfg(not(target_family = "wasm"))]
fn closes_after(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    if !head.ends_with("\r\n\r\n") {
        return true;
    }
    let mut lines = head.lines();
    let http_1_0 = lines.next().is_some_and(|line| line.ends_with("http/1.0"));
    let connection = lines
        .filter_map(|line| line.strip_prefix("connection:"))
        .map(str::trim)
        .next_back();
    match connection {
        Some(value) => value != "keep-alive",
        None => http_1_0,
    }
}

/// Answers one request and closes the connection: where connections are served one after
/// another, a kept-alive one would hold up every other client.
#[cfg(target_family = "wasm")]
fn serve_one(mut stream: TcpStream) -> std::io::Result<()> {
    let mut pending = Vec::with_capacity(512);
    if read_head(&mut stream, &mut pending)?.is_some() {
        stream.write_all(response(true).as_bytes())?;
    }
    stream.flush()
}

/// Answers every request on a connection until the client or the head says to close.
#[cfg(not(target_family = "wasm"))]
fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    // Best effort: Hermit's kernel (0.11) has no receive timeouts and answers EINVAL.
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let mut pending = Vec::with_capacity(512);
    while let Some(head) = read_head(&mut stream, &mut pending)? {
        let close = closes_after(&head);
        stream.write_all(response(close).as_bytes())?;
        if close {
            break;
        }
    }
    stream.flush()
}

fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("hello-rust: {message}");
            std::process::exit(2);
        }
    };
    let address = format!("{}:{}", options.bind, options.port);
    let listener = match TcpListener::bind(&address) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("hello-rust: cannot listen on {address}: {error}");
            std::process::exit(1);
        }
    };
    println!("hello-rust: listening on http://{address}/");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        // One thread per connection: a client that connects and never sends (or goes away
        // mid-handshake) must not hold up the next one. Its errors are its own.
        #[cfg(not(target_family = "wasm"))]
        if let Err(error) = std::thread::Builder::new()
            .stack_size(CONNECTION_STACK_BYTES)
            .spawn(move || serve(stream))
        {
            // The connection is dropped unanswered: say so, on the console a VM keeps.
            eprintln!("hello-rust: no thread for a connection: {error}");
        }
        // WASI 0.2 has no threads: the connection is served inline, one request each.
        #[cfg(target_family = "wasm")]
        let _ = serve_one(stream);
    }
}

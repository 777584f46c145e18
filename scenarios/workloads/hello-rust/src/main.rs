//! hello-rust: the workload shrinkwrap wraps. Like the talk's Node.js server, it answers
//! every HTTP request with `200 OK`, `Content-Type: text/plain` and `Hello World\n`.
//!
//! Portable std code only (no dependencies, no async runtime): the same source is built as
//! a static Linux binary, as a Hermit unikernel and as a Linux appliance's workload.
//!
//! Usage: `hello-rust [--bind ADDR] [--port PORT]` (defaults: 0.0.0.0, 8080).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Content-Type: text/plain\r\n\
Content-Length: 12\r\n\
Connection: close\r\n\
\r\n\
Hello World\n";

/// Longest request head read before answering anyway.
const MAX_REQUEST_BYTES: usize = 8192;

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

/// Reads the request head (up to the blank line, bounded) and answers it.
fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    // Best effort: Hermit's kernel (0.11) has no receive timeouts and answers EINVAL.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut request = Vec::with_capacity(512);
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST_BYTES {
        match stream.read(&mut buffer)? {
            0 => break,
            n => request.extend_from_slice(&buffer[..n]),
        }
    }
    stream.write_all(RESPONSE)?;
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
        // One thread per connection: a client that connects and never sends (or goes away
        // mid-handshake) must not hold up the next one. Its errors are its own.
        if let Ok(stream) = stream {
            let _ = std::thread::Builder::new().spawn(move || serve(stream));
        }
    }
}

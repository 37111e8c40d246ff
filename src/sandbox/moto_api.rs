//! The moto server's own control API (`/moto-api/...`) over plain HTTP on loopback: health
//! checks, reset, and the request recorder that tests use to prove which calls a run made.
//!
//! A dozen lines of HTTP/1.1 instead of an HTTP client crate: it only ever talks to 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends one request to `127.0.0.1:port` and returns the status code and body.
pub fn request(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    request_within(port, method, path, body, Duration::from_secs(30))
}

/// [`request`], waiting at most `wait` for each read.
fn request_within(port: u16, method: &str, path: &str, body: &str, wait: Duration) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(wait))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let rest = raw.get(split + 4..).unwrap_or_default();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = if head.contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_vec() };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Joins the chunks of a chunked body (on bytes: a chunk may end inside a character).
fn dechunk(mut s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = s.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&s[..eol]);
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        let rest = &s[eol + 2..];
        if n == 0 || rest.len() < n {
            break;
        }
        out.extend_from_slice(&rest[..n]);
        s = rest[n..].strip_prefix(b"\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// True when a moto server answers on `port`. A health check: a server that takes longer than
/// 3 s to say so is not taken as running.
pub fn answers(port: u16) -> bool {
    matches!(request_within(port, "GET", "/moto-api/", "", Duration::from_secs(3)), Ok((200, _)))
}

/// Wipes all state in the server.
pub fn reset(port: u16) -> std::io::Result<()> {
    request(port, "POST", "/moto-api/reset", "").map(|_| ())
}

/// Starts recording every request the server receives (clearing an earlier recording).
pub fn start_recording(port: u16) -> std::io::Result<()> {
    request(port, "POST", "/moto-api/recorder/reset-recording", "")?;
    request(port, "POST", "/moto-api/recorder/start-recording", "").map(|_| ())
}

/// Stops recording.
pub fn stop_recording(port: u16) -> std::io::Result<()> {
    request(port, "POST", "/moto-api/recorder/stop-recording", "").map(|_| ())
}

/// The recording: one JSON object per request.
pub fn recording(port: u16) -> std::io::Result<Vec<serde_json::Value>> {
    let (_, body) = request(port, "GET", "/moto-api/recorder/download-recording", "")?;
    Ok(body.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

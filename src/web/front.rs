//! The TCP front of the HTTP server. tiny_http has no timeouts, no header
//! limits and a thread per connection without bound, so it never faces the
//! network: it serves a private Unix socket, and this front owns the TCP
//! listener. A fixed pool of threads takes accepted connections from a
//! bounded queue (a full queue answers 503 at once); each request head and
//! body is read under the configured limits and deadline, then relayed to
//! tiny_http over one Unix connection per client connection, and the answer
//! copied back. Accept errors never end the accept loop (tiny_http's does).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use crate::config::HttpConfig;

/// Largest response head accepted from the backend.
const MAX_RESPONSE_HEAD: usize = 64 << 10;
/// How long the backend may take to answer one request.
const BACKEND_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body: u64,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub request_timeout: Duration,
    pub keepalive_timeout: Duration,
}

impl Limits {
    pub fn from_config(c: &HttpConfig) -> Self {
        Limits {
            max_body: c.max_body,
            max_header_bytes: usize::try_from(c.max_header_bytes).unwrap_or(usize::MAX),
            max_headers: c.max_headers as usize,
            request_timeout: c.request_timeout,
            keepalive_timeout: c.keepalive_timeout,
        }
    }
}

/// Runs the accept loop and the connection pool until `stop` is set.
/// `on_fatal` is called if the listener keeps failing. Returns the accept
/// thread; connection threads end by themselves once `stop` is set (after
/// the request in progress, or when an idle connection times out), so a
/// stop never waits for an idle keep-alive client.
pub fn spawn(
    listener: TcpListener,
    backend: PathBuf,
    limits: Limits,
    pool_size: usize,
    stop: Arc<AtomicBool>,
    on_fatal: Arc<dyn Fn(String) + Send + Sync>,
) -> io::Result<std::thread::JoinHandle<()>> {
    let (tx, rx) = sync_channel::<TcpStream>(pool_size);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..pool_size {
        let (rx, backend, limits, stop) =
            (rx.clone(), backend.clone(), limits.clone(), stop.clone());
        std::thread::Builder::new()
            .name(format!("http-conn-{i}"))
            .stack_size(256 << 10)
            .spawn(move || worker(&rx, &backend, &limits, &stop))?;
    }
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("http-accept".into())
        .spawn(move || accept_loop(listener, tx, &stop, on_fatal.as_ref()))
}

fn accept_loop(
    listener: TcpListener,
    tx: SyncSender<TcpStream>,
    stop: &AtomicBool,
    on_fatal: &(dyn Fn(String) + Send + Sync),
) {
    let mut failures = 0u32;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                failures = 0;
                if stream.set_nonblocking(false).is_err() {
                    continue;
                }
                let _ = stream.set_nodelay(true);
                match tx.try_send(stream) {
                    Ok(()) => {}
                    Err(TrySendError::Full(mut s)) => {
                        let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                        let _ = s.write_all(&simple_response(
                            503,
                            "busy",
                            "too many connections; try again shortly",
                        ));
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // EMFILE, ENOBUFS, ECONNABORTED…: wait and go on; give up
                // only when the listener fails for a minute on end.
                failures += 1;
                tracing::warn!(error = %e, "accepting an HTTP connection failed");
                if failures >= 600 {
                    on_fatal(format!("the HTTP listener keeps failing: {e}"));
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn worker(
    rx: &Mutex<Receiver<TcpStream>>,
    backend: &std::path::Path,
    limits: &Limits,
    stop: &AtomicBool,
) {
    loop {
        let next = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv_timeout(Duration::from_millis(250))
        };
        match next {
            Ok(stream) => {
                if let Err(e) = serve_connection(stream, backend, limits, stop) {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// A minimal complete response with a JSON error body; closes the connection.
pub fn simple_response(status: u16, code: &str, message: &str) -> Vec<u8> {
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Bytes read from a socket but not used yet (pipelined requests).
struct Inbound {
    stream: TcpStream,
    buf: Vec<u8>,
}

enum ReadErr {
    /// The client closed, or an idle connection timed out: just close.
    Closed,
    /// Answer with this status and close.
    Reply(u16, &'static str, String),
}

impl Inbound {
    /// Reads more bytes, waiting at most until `deadline`.
    fn fill(&mut self, deadline: Instant, timeout_is: ReadErrKind) -> Result<(), ReadErr> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timeout_is.err());
        }
        let _ = self.stream.set_read_timeout(Some(left));
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(ReadErr::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(timeout_is.err())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(_) => Err(ReadErr::Closed),
        }
    }
}

#[derive(Clone, Copy)]
enum ReadErrKind {
    Idle,
    Request,
}

impl ReadErrKind {
    fn err(self) -> ReadErr {
        match self {
            ReadErrKind::Idle => ReadErr::Closed,
            ReadErrKind::Request => ReadErr::Reply(
                408,
                "request_timeout",
                "the request was not received in time".into(),
            ),
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// A request head checked against the limits, ready to relay.
struct Head {
    bytes: Vec<u8>,
    body_len: u64,
    head_only: bool,
    close: bool,
    expect_continue: bool,
}

fn parse_head(raw: &[u8], limits: &Limits) -> Result<Head, ReadErr> {
    let bad = |m: &str| ReadErr::Reply(400, "bad_request", m.to_string());
    let text = std::str::from_utf8(raw).map_err(|_| bad("the request head is not valid UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if !target.starts_with('/') || method.is_empty() {
        return Err(bad("malformed request line"));
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(bad("only HTTP/1.0 and HTTP/1.1 are served")),
    };
    let mut out = format!("{request_line}\r\n");
    let (mut count, mut body_len, mut close, mut expect_continue) = (0usize, None, http10, false);
    for line in lines {
        if line.is_empty() {
            continue;
        }
        count += 1;
        if count > limits.max_headers {
            return Err(ReadErr::Reply(
                431,
                "too_many_headers",
                format!("more than {} headers", limits.max_headers),
            ));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("a header line has no ':'"));
        };
        if name.is_empty() || name.contains(|c: char| c.is_whitespace()) {
            return Err(bad("malformed header name"));
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .map_err(|_| bad("Content-Length is not a number"))?;
            if body_len.is_some_and(|prev| prev != n) {
                return Err(bad("conflicting Content-Length headers"));
            }
            body_len = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ReadErr::Reply(
                501,
                "chunked_not_supported",
                "request bodies must be sent with Content-Length, not Transfer-Encoding".into(),
            ));
        } else if name.eq_ignore_ascii_case("expect") {
            if value.eq_ignore_ascii_case("100-continue") {
                expect_continue = true;
                continue;
            }
            return Err(ReadErr::Reply(
                417,
                "expectation_failed",
                format!("Expect: {value} is not supported"),
            ));
        } else if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                close = true;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                close = false;
            }
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > limits.max_body {
        return Err(ReadErr::Reply(
            413,
            "body_too_large",
            format!(
                "the request body is larger than the limit of {} bytes",
                limits.max_body
            ),
        ));
    }
    out.push_str("\r\n");
    Ok(Head {
        bytes: out.into_bytes(),
        body_len,
        head_only: method == "HEAD",
        close,
        expect_continue,
    })
}

fn serve_connection(
    stream: TcpStream,
    backend: &std::path::Path,
    limits: &Limits,
    stop: &AtomicBool,
) -> io::Result<()> {
    let _ = stream.set_write_timeout(Some(limits.request_timeout.max(Duration::from_secs(5))));
    let mut inbound = Inbound {
        stream,
        buf: Vec::with_capacity(4096),
    };
    let mut upstream: Option<(UnixStream, Vec<u8>)> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        // Wait (idle) for the first byte of the next request.
        if inbound.buf.is_empty() {
            let idle = Instant::now() + limits.keepalive_timeout;
            match inbound.fill(idle, ReadErrKind::Idle) {
                Ok(()) => {}
                Err(ReadErr::Closed) => return Ok(()),
                Err(ReadErr::Reply(..)) => return Ok(()),
            }
        }
        let deadline = Instant::now() + limits.request_timeout;
        let head = loop {
            if let Some(end) = find_head_end(&inbound.buf) {
                if end > limits.max_header_bytes {
                    break Err(ReadErr::Reply(
                        431,
                        "headers_too_large",
                        format!(
                            "the request head is larger than {} bytes",
                            limits.max_header_bytes
                        ),
                    ));
                }
                let raw: Vec<u8> = inbound.buf.drain(..end).collect();
                break parse_head(&raw, limits);
            }
            if inbound.buf.len() > limits.max_header_bytes {
                break Err(ReadErr::Reply(
                    431,
                    "headers_too_large",
                    format!(
                        "the request head is larger than {} bytes",
                        limits.max_header_bytes
                    ),
                ));
            }
            if let Err(e) = inbound.fill(deadline, ReadErrKind::Request) {
                break Err(e);
            }
        };
        let head = match head {
            Ok(h) => h,
            Err(ReadErr::Closed) => return Ok(()),
            Err(ReadErr::Reply(status, code, msg)) => {
                let _ = inbound
                    .stream
                    .write_all(&simple_response(status, code, &msg));
                return Ok(());
            }
        };
        if head.expect_continue && (inbound.buf.len() as u64) < head.body_len {
            inbound.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body_len = usize::try_from(head.body_len).unwrap_or(usize::MAX);
        while inbound.buf.len() < body_len {
            match inbound.fill(deadline, ReadErrKind::Request) {
                Ok(()) => {}
                Err(ReadErr::Closed) => return Ok(()),
                Err(ReadErr::Reply(status, code, msg)) => {
                    let _ = inbound
                        .stream
                        .write_all(&simple_response(status, code, &msg));
                    return Ok(());
                }
            }
        }
        let body: Vec<u8> = inbound.buf.drain(..body_len).collect();

        let (up, upbuf) = match upstream.as_mut() {
            Some(u) => u,
            None => {
                let s = match UnixStream::connect(backend) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = inbound.stream.write_all(&simple_response(
                            503,
                            "unavailable",
                            "the server is restarting its request handler; try again",
                        ));
                        return Err(e);
                    }
                };
                s.set_read_timeout(Some(BACKEND_TIMEOUT))?;
                s.set_write_timeout(Some(BACKEND_TIMEOUT))?;
                upstream.insert((s, Vec::with_capacity(4096)))
            }
        };
        let mut request = head.bytes;
        request.extend_from_slice(&body);
        up.write_all(&request)?;
        let backend_close = match relay_response(up, upbuf, &mut inbound.stream, head.head_only) {
            Ok(close) => close,
            Err(e) => {
                let _ = inbound.stream.write_all(&simple_response(
                    502,
                    "bad_gateway",
                    "the request handler failed to answer",
                ));
                return Err(e);
            }
        };
        if head.close || backend_close {
            let _ = inbound.stream.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
    }
}

/// Copies one response from the backend to the client; returns whether the
/// connection must close afterwards.
fn relay_response(
    up: &mut UnixStream,
    buf: &mut Vec<u8>,
    client: &mut TcpStream,
    head_only: bool,
) -> io::Result<bool> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    loop {
        let end = loop {
            if let Some(end) = find_head_end(buf) {
                break end;
            }
            if buf.len() > MAX_RESPONSE_HEAD {
                return Err(invalid("response head too large"));
            }
            let mut chunk = [0u8; 8192];
            let n = up.read(&mut chunk)?;
            if n == 0 {
                return Err(invalid("backend closed the connection"));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head =
            std::str::from_utf8(&buf[..end]).map_err(|_| invalid("response head is not UTF-8"))?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("malformed status line"))?;
        let mut len: Option<usize> = None;
        let mut close = false;
        for line in head.split("\r\n").skip(1) {
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    len = value.parse().ok();
                } else if name.eq_ignore_ascii_case("connection")
                    && value.eq_ignore_ascii_case("close")
                {
                    close = true;
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(invalid("chunked responses are not relayed"));
                }
            }
        }
        if (100..200).contains(&status) {
            // tiny_http's own "100 Continue": the front already answered it.
            buf.drain(..end);
            continue;
        }
        let body_len = if head_only || status == 204 || status == 304 {
            0
        } else {
            len.ok_or_else(|| invalid("response without Content-Length"))?
        };
        while buf.len() < end + body_len {
            let mut chunk = [0u8; 16384];
            let n = up.read(&mut chunk)?;
            if n == 0 {
                return Err(invalid("backend closed mid-response"));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        client.write_all(&buf[..end + body_len])?;
        buf.drain(..end + body_len);
        return Ok(close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_body: 10,
            max_header_bytes: 1024,
            max_headers: 3,
            request_timeout: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(1),
        }
    }

    fn status(e: Result<Head, ReadErr>) -> u16 {
        match e {
            Err(ReadErr::Reply(s, ..)) => s,
            Err(ReadErr::Closed) => 0,
            Ok(_) => 200,
        }
    }

    #[test]
    fn heads_are_checked_against_the_limits() {
        let l = limits();
        assert_eq!(
            status(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &l)),
            200
        );
        assert_eq!(
            status(parse_head(
                b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n",
                &l
            )),
            431
        );
        assert_eq!(
            status(parse_head(
                b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n",
                &l
            )),
            413
        );
        assert_eq!(
            status(parse_head(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                &l
            )),
            501
        );
        assert_eq!(status(parse_head(b"GET / HTTP/2\r\n\r\n", &l)), 400);
        assert_eq!(status(parse_head(b"GET /\r\n\r\n", &l)), 400);
        assert_eq!(
            status(parse_head(
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                &l
            )),
            400
        );
        let h = parse_head(
            b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
            &l,
        )
        .ok()
        .expect("valid");
        assert!(h.expect_continue && h.body_len == 3);
        assert!(
            !String::from_utf8_lossy(&h.bytes)
                .to_lowercase()
                .contains("expect")
        );
        let h = parse_head(b"GET / HTTP/1.0\r\n\r\n", &l)
            .ok()
            .expect("valid");
        assert!(h.close);
    }
}

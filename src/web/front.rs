//! The TCP front of the HTTP server. tiny_http has no timeouts, no header
//! limits and a thread per connection without bound, so it never faces the
//! network: it serves private Unix sockets, and this front owns the TCP
//! listener. The front is one thread running a single-threaded tokio
//! runtime: accept waits on readiness, and each client connection is a
//! task, so an idle or slow connection costs a socket and a few KiB, never
//! a thread.
//!
//! What it enforces: a connection limit overall and per client address;
//! a deadline for each request that starts at accept (the first request)
//! or at its first byte (later ones on a kept-alive connection); the
//! `[http]` size limits; the Host check. At a limit, the connection that
//! has waited longest without a complete request is closed to make room
//! (slow or idle connections never lock newcomers out); only when every
//! connection is busy with a request is the newcomer refused (503); that
//! admission is `front/admission.rs`.
//! /healthz and /readyz go to a tiny_http server and handler thread of
//! their own, so probes are answered whatever the other routes are doing.
//! Answers stream back through `upstream` (any size, any framing).

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;

use super::metrics::Registry;
use super::reply::SECURITY_HEADERS;
use super::request_head::{self, Head, HostPolicy, Limits, Refusal, canonical};
use super::upstream::{self, Exchange, Pool, Relayed};

mod admission;

use admission::{Conns, Eviction, Slot, admit, busy};

/// How long a refusal waits for the client before closing.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Where tiny_http listens.
pub struct Backends {
    /// The API, the page and /metrics, with at most `pool` requests in
    /// flight to it.
    pub main: PathBuf,
    pub pool: usize,
    /// /healthz and /readyz only.
    pub probes: PathBuf,
}

/// The running front: [`Front::stop`] ends it.
pub struct Front {
    thread: std::thread::JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl Front {
    /// Stops accepting, closes idle connections, lets requests in progress
    /// finish (up to the request timeout), and joins the thread.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.thread.join();
    }
}

struct Shared {
    limits: Limits,
    hosts: HostPolicy,
    main: Arc<Pool>,
    probes: Arc<Pool>,
    budget: Arc<Semaphore>,
    registry: Arc<Registry>,
    conns: Mutex<Conns>,
    all_closed: Notify,
    stop: watch::Receiver<bool>,
}

/// Starts the front's thread on `listener`.
pub fn spawn(
    listener: std::net::TcpListener,
    backends: Backends,
    limits: Limits,
    hosts: HostPolicy,
    registry: Arc<Registry>,
    on_fatal: Arc<dyn Fn(String) + Send + Sync>,
) -> io::Result<Front> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        main: Pool::new(backends.main, backends.pool),
        probes: Pool::new(backends.probes, 2),
        budget: Arc::new(Semaphore::new(upstream::READ_AHEAD_TOTAL >> 10)),
        limits,
        hosts,
        registry,
        conns: Mutex::new(Conns::default()),
        all_closed: Notify::new(),
        stop: stop_rx,
    });
    let thread = std::thread::Builder::new()
        .name("http-front".into())
        .spawn(move || {
            runtime.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(l) => accept_loop(l, &shared, on_fatal.as_ref()).await,
                    Err(e) => on_fatal(format!("the HTTP listener cannot be used: {e}")),
                }
                drain(&shared).await;
            });
        })?;
    Ok(Front {
        thread,
        stop: stop_tx,
    })
}

async fn accept_loop(
    listener: TcpListener,
    shared: &Arc<Shared>,
    on_fatal: &(dyn Fn(String) + Send + Sync),
) {
    let mut stop = shared.stop.clone();
    let mut failures = 0u32;
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                failures = 0;
                let _ = stream.set_nodelay(true);
                let ip = canonical(peer.ip());
                match admit(shared, ip) {
                    Ok(slot) => {
                        tokio::spawn(serve_connection(shared.clone(), stream, ip, slot));
                    }
                    Err(refusal) => {
                        shared
                            .registry
                            .observe_refusal(refusal.code, refusal.status);
                        tokio::spawn(async move {
                            let mut stream = stream;
                            refuse(&mut stream, &refusal).await;
                        });
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // EMFILE, ENOBUFS, ECONNABORTED…: back off and go on; give
                // up only when the listener fails for a minute on end.
                failures += 1;
                tracing::warn!(error = %e, "accepting an HTTP connection failed");
                if failures >= 600 {
                    on_fatal(format!("the HTTP listener keeps failing: {e}"));
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// After accept stopped: waits for the connections to end (idle ones
/// close at once; a request in progress gets its answer).
async fn drain(shared: &Shared) {
    let until = Instant::now() + shared.limits.request_timeout.max(Duration::from_secs(5));
    loop {
        let closed = shared.all_closed.notified();
        tokio::pin!(closed);
        closed.as_mut().enable();
        if shared.conns.lock().unwrap_or_else(|p| p.into_inner()).open == 0 {
            return;
        }
        if tokio::time::timeout_at(until, closed).await.is_err() {
            return;
        }
    }
}

/// A client connection and the bytes read from it but not used yet.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

enum ReadErr {
    /// Nothing to answer: the client closed, or sent nothing in time.
    Closed,
    Refuse(Refusal),
}

impl Conn {
    /// Reads more bytes, by `deadline`. Waits for readiness first, so an
    /// idle connection holds no read buffer while it waits.
    async fn fill(&mut self, deadline: Instant) -> Result<(), ReadErr> {
        loop {
            match tokio::time::timeout_at(deadline, self.stream.readable()).await {
                Err(_) if self.buf.is_empty() => return Err(ReadErr::Closed),
                Err(_) => {
                    return Err(ReadErr::Refuse(Refusal::new(
                        408,
                        "request_timeout",
                        "the request was not received in time ([http] request_timeout)",
                    )));
                }
                Ok(Err(_)) => return Err(ReadErr::Closed),
                Ok(Ok(())) => {}
            }
            self.buf.reserve(8192);
            match self.stream.try_read_buf(&mut self.buf) {
                Ok(0) => return Err(ReadErr::Closed),
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Err(ReadErr::Closed),
            }
        }
    }

    async fn read_head(&mut self, deadline: Instant, limits: &Limits) -> Result<Head, ReadErr> {
        let too_large = || {
            ReadErr::Refuse(Refusal::new(
                431,
                "headers_too_large",
                format!(
                    "the request head is larger than {} bytes ([http] max_header_bytes)",
                    limits.max_header_bytes
                ),
            ))
        };
        loop {
            if let Some(end) = request_head::find_head_end(&self.buf) {
                if end > limits.max_header_bytes {
                    return Err(too_large());
                }
                let raw: Vec<u8> = self.buf.drain(..end).collect();
                return request_head::parse_head(&raw, limits).map_err(ReadErr::Refuse);
            }
            if self.buf.len() > limits.max_header_bytes {
                return Err(too_large());
            }
            self.fill(deadline).await?;
        }
    }
}

/// Runs `work` unless the connection is evicted or the server stops first.
async fn unless_interrupted<T>(
    evict: &Eviction,
    stop: &mut watch::Receiver<bool>,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        _ = evict.notify.notified() => None,
        _ = stop.wait_for(|s| *s) => None,
        r = work => Some(r),
    }
}

async fn serve_connection(shared: Arc<Shared>, stream: TcpStream, peer: IpAddr, mut slot: Slot) {
    let accepted = Instant::now();
    let local = stream
        .local_addr()
        .map(|a| canonical(a.ip()))
        .unwrap_or(peer);
    let limits = &shared.limits;
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
    };
    let mut stop = shared.stop.clone();
    let evict = slot.evict.clone();
    let mut first = true;
    loop {
        let deadline = if first {
            accepted + limits.request_timeout
        } else {
            if conn.buf.is_empty() {
                // Idle between requests: give the buffer back.
                conn.buf = Vec::new();
                let idle = Instant::now() + limits.keepalive_timeout;
                match unless_interrupted(&evict, &mut stop, conn.fill(idle)).await {
                    Some(Ok(())) => {}
                    _ => return,
                }
            }
            Instant::now() + limits.request_timeout
        };
        let head =
            match unless_interrupted(&evict, &mut stop, conn.read_head(deadline, limits)).await {
                None if conn.buf.is_empty() => return,
                None => {
                    let r = busy();
                    shared.registry.observe_refusal(r.code, r.status);
                    refuse(&mut conn.stream, &r).await;
                    return;
                }
                Some(Err(ReadErr::Closed)) => return,
                Some(Err(ReadErr::Refuse(r))) => {
                    shared.registry.observe_refusal(r.code, r.status);
                    refuse(&mut conn.stream, &r).await;
                    return;
                }
                Some(Ok(h)) => h,
            };
        slot.busy();
        match answer(&shared, &mut conn, peer, local, head, deadline).await {
            Ok(true) if !*stop.borrow() => {
                slot.waiting();
                first = false;
            }
            Ok(_) => {
                close_gracefully(&mut conn.stream).await;
                return;
            }
            Err(r) => {
                shared.registry.observe_refusal(r.code, r.status);
                refuse(&mut conn.stream, &r).await;
                return;
            }
        }
    }
}

/// Reads the body and relays the request; `Ok(keep)` says whether the
/// connection may carry another request.
async fn answer(
    shared: &Shared,
    conn: &mut Conn,
    peer: IpAddr,
    local: IpAddr,
    head: Head,
    deadline: Instant,
) -> Result<bool, Refusal> {
    let limits = &shared.limits;
    shared.hosts.check(head.host.as_deref(), local)?;
    let body_len = usize::try_from(head.body_len).unwrap_or(usize::MAX);
    if head.expect_continue && conn.buf.len() < body_len {
        let _ = conn
            .stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await;
    }
    while conn.buf.len() < body_len {
        match conn.fill(deadline).await {
            Ok(()) => {}
            Err(ReadErr::Refuse(r)) => return Err(r),
            // The client went away mid-body: nothing to answer.
            Err(ReadErr::Closed) => return Ok(false),
        }
    }
    let mut request = head.upstream_bytes(peer);
    request.extend(conn.buf.drain(..body_len));

    let pool = if head.is_probe() {
        &shared.probes
    } else {
        &shared.main
    };
    let wait = Instant::now() + limits.request_timeout;
    let lease = match tokio::time::timeout_at(wait, pool.take()).await {
        Err(_) => return Err(busy()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot reach the HTTP request handler");
            return Err(Refusal::new(
                503,
                "unavailable",
                "the server is restarting its request handler; try again",
            ));
        }
        Ok(Ok(lease)) => lease,
    };
    let ex = Exchange {
        request: &request,
        head_only: head.head_only,
        http10: head.http10,
        close: head.close || *shared.stop.borrow(),
        write_stall: limits.request_timeout,
    };
    let pending_cap = limits.max_header_bytes.saturating_add(body_len.max(4096));
    match upstream::exchange(
        pool,
        lease,
        &mut conn.stream,
        &mut conn.buf,
        pending_cap,
        &ex,
        &shared.budget,
    )
    .await
    {
        Relayed::Done { keep_client, lease } => {
            if let Some(lease) = lease {
                pool.put_back(lease);
            }
            Ok(keep_client)
        }
        Relayed::NoAnswer(e) => {
            tracing::warn!(error = %e, "the HTTP request handler did not answer");
            Err(Refusal::new(
                502,
                "bad_gateway",
                "the request handler failed to answer",
            ))
        }
        Relayed::Broken(e) => {
            tracing::debug!(error = %e, "an HTTP answer was cut short");
            Ok(false)
        }
    }
}

/// A complete answer with a JSON error body and every security header;
/// the connection closes after it.
pub fn simple_response(r: &Refusal) -> Vec<u8> {
    let body = serde_json::json!({ "error": r.code, "message": r.message }).to_string();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        reason(r.status),
        body.len()
    );
    for (name, value) in SECURITY_HEADERS {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if r.status == 503 {
        out.push_str("Retry-After: 1\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

/// Writes the refusal, then lets the client read it before closing (a
/// close with unread input would reset the connection and lose it).
async fn refuse(stream: &mut TcpStream, r: &Refusal) {
    let bytes = simple_response(r);
    let until = Instant::now() + REFUSAL_LINGER;
    if tokio::time::timeout_at(until, stream.write_all(&bytes))
        .await
        .is_err()
    {
        return;
    }
    close_gracefully(stream).await;
}

/// Ends the connection after an answer: shuts the sending side, then reads
/// (and drops) what the client still sends for a moment. Closing with
/// unread input would make the kernel reset the connection, and the client
/// could lose the end of the answer.
async fn close_gracefully(stream: &mut TcpStream) {
    let until = Instant::now() + REFUSAL_LINGER;
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let mut left = 256usize << 10;
    while left > 0 {
        match tokio::time::timeout_at(until, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => return,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_front_error_carries_the_security_headers() {
        for status in [400, 408, 413, 417, 421, 431, 501, 502, 503, 505] {
            let r = Refusal::new(status, "some_code", "a message");
            let text = String::from_utf8(simple_response(&r)).expect("utf8");
            assert!(
                text.starts_with(&format!("HTTP/1.1 {status} {}\r\n", reason(status))),
                "{text}"
            );
            assert_ne!(reason(status), "Error", "{status} has no reason phrase");
            for (name, value) in SECURITY_HEADERS {
                assert!(
                    text.contains(&format!("\r\n{name}: {value}\r\n")),
                    "{status}: {name}"
                );
            }
            let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
            assert!(head.contains(&format!("Content-Length: {}", body.len())));
            let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
            assert_eq!(json["error"], "some_code");
        }
    }
}

//! The front's side of tiny_http: a bounded pool of keep-alive Unix
//! connections to one tiny_http server, and the relay of one answer back to
//! the client. Answers are relayed with whatever framing tiny_http chose
//! (Content-Length, chunked, or until close), streamed through a read-ahead
//! buffer so a slow reader does not hold a request handler: the handler's
//! answer is taken off the Unix socket as fast as it comes (up to
//! [`READ_AHEAD_PER_ANSWER`] per answer and [`READ_AHEAD_TOTAL`] for all),
//! and written to the client at the client's pace.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::reply::SECURITY_HEADERS;

/// Largest answer head accepted from tiny_http.
const MAX_RESPONSE_HEAD: usize = 64 << 10;
/// Largest chunk-size or trailer line in a chunked answer.
const MAX_CHUNK_LINE: usize = 4096;
/// Bytes of one answer read ahead of a slow client.
pub const READ_AHEAD_PER_ANSWER: usize = 16 << 20;
/// Bytes read ahead of slow clients across all answers.
pub const READ_AHEAD_TOTAL: usize = 64 << 20;
const READ_SIZE: usize = 64 << 10;

/// Keep-alive connections to one tiny_http server; at most `size` in use.
///
/// New connections are opened one at a time, each confirmed by an answer
/// before the next is opened. tiny_http gives every accepted connection
/// to its thread pool, which decides between "hand to an idle thread" and
/// "start a thread" from a count of idle threads that lags behind: two
/// connections accepted together can both be handed to the same idle
/// thread, and since a keep-alive connection holds its thread for its
/// whole life, the second one then waits for a thread that never comes
/// (its request hangs). A confirmed connection holds a thread, so the next
/// one is counted right.
pub struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<UnixStream>>,
    slots: Arc<Semaphore>,
    opening: tokio::sync::Mutex<()>,
}

/// The front's own request, which the handler answers with 204 (see
/// `api::handle`): it carries no peer header, which every relayed request
/// carries.
pub const CONFIRM_REQUEST: &[u8] = b"OPTIONS * HTTP/1.1\r\nHost: front\r\n\r\n";

/// A connection taken from the pool. Dropped: closed. Given back with
/// [`Pool::put_back`]: reused.
pub struct Lease {
    stream: UnixStream,
    /// Bytes read but not used yet.
    buf: Vec<u8>,
    reused: bool,
    _slot: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(path: PathBuf, size: usize) -> Arc<Pool> {
        Arc::new(Pool {
            path,
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(size.max(1))),
            opening: tokio::sync::Mutex::new(()),
        })
    }

    /// Waits for a free slot, then reuses an idle connection or opens one.
    pub async fn take(&self) -> io::Result<Lease> {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| io::Error::other("the pool is closed"))?;
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let (stream, reused) = match idle {
            Some(s) => (s, true),
            None => (self.open().await?, false),
        };
        Ok(Lease {
            stream,
            buf: Vec::new(),
            reused,
            _slot: slot,
        })
    }

    /// Opens a connection and waits until tiny_http answers on it, one
    /// connection at a time (see [`Pool`]).
    async fn open(&self) -> io::Result<UnixStream> {
        let _one_at_a_time = self.opening.lock().await;
        let mut stream = UnixStream::connect(&self.path).await?;
        stream.write_all(CONFIRM_REQUEST).await?;
        // The answer is a bare head (204, no body): read it to its end.
        let mut head = Vec::with_capacity(256);
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= MAX_RESPONSE_HEAD || stream.read(&mut byte).await? == 0 {
                return Err(io::Error::other(
                    "the request handler closed a new connection without answering",
                ));
            }
            head.push(byte[0]);
        }
        if !head.starts_with(b"HTTP/1.1 204") {
            return Err(io::Error::other(format!(
                "the request handler answered a new connection with {:?}",
                String::from_utf8_lossy(head.split(|b| *b == b'\r').next().unwrap_or_default())
            )));
        }
        Ok(stream)
    }

    /// A fresh connection for a retry, keeping the lease's slot.
    async fn reconnect(&self, lease: &mut Lease) -> io::Result<()> {
        lease.stream = self.open().await?;
        lease.buf.clear();
        lease.reused = false;
        Ok(())
    }

    pub fn put_back(&self, lease: Lease) {
        if lease.buf.is_empty() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(lease.stream);
        }
    }
}

/// How an answer's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// What the relay needs from the client's request.
pub struct Exchange<'a> {
    pub request: &'a [u8],
    pub head_only: bool,
    /// The client speaks HTTP/1.0: a chunked answer is decoded for it.
    pub http10: bool,
    /// Close the client connection after this answer.
    pub close: bool,
    /// Longest wait for the client to take more of the answer.
    pub write_stall: Duration,
}

/// How an exchange ended.
pub enum Relayed {
    /// The whole answer reached the client. `keep_client` says whether the
    /// client connection may carry another request; the lease goes back to
    /// the pool if it is `Some`.
    Done {
        keep_client: bool,
        lease: Option<Lease>,
    },
    /// tiny_http did not answer: nothing was sent to the client yet.
    NoAnswer(io::Error),
    /// The answer broke off, or the client stopped reading or went away:
    /// close the client connection.
    Broken(io::Error),
}

/// Sends the request on `lease`, and relays the answer to `client`.
/// `pending` holds bytes the client sent after its request (pipelining);
/// it may grow while the handler works, and a client that closes
/// meanwhile ends the exchange.
pub async fn exchange(
    pool: &Pool,
    mut lease: Lease,
    client: &mut TcpStream,
    pending: &mut Vec<u8>,
    pending_cap: usize,
    ex: &Exchange<'_>,
    budget: &Arc<Semaphore>,
) -> Relayed {
    // A reused connection tiny_http already closed fails before any byte
    // of an answer: the request never reached a handler, so one retry on a
    // fresh connection is safe.
    let head = loop {
        let sent = lease.stream.write_all(ex.request).await;
        let head = match sent {
            Ok(()) => read_head(&mut lease, client, pending, pending_cap).await,
            Err(e) => Err(HeadError::Upstream(e)),
        };
        match head {
            Err(HeadError::Upstream(_)) if lease.reused && lease.buf.is_empty() => {
                if let Err(e) = pool.reconnect(&mut lease).await {
                    return Relayed::NoAnswer(e);
                }
            }
            Err(HeadError::Upstream(e)) => return Relayed::NoAnswer(e),
            Err(HeadError::ClientGone) => {
                return Relayed::Broken(io::Error::other("the client closed while waiting"));
            }
            Ok(h) => break h,
        }
    };
    let (head_end, status, upstream_close, framing) = head;
    let framing = if ex.head_only || (100..200).contains(&status) || status == 204 || status == 304
    {
        Framing::Empty
    } else {
        framing
    };
    let decode = ex.http10 && framing == Framing::Chunked;
    let keep_client = !ex.close && framing != Framing::UntilClose && !decode;
    let client_head = rewrite_head(&lease.buf[..head_end], keep_client, decode);
    lease.buf.drain(..head_end);
    let mut scanner = Scanner::new(framing, decode);
    match relay_body(&mut lease, client, client_head, &mut scanner, ex, budget).await {
        Err(e) => Relayed::Broken(e),
        Ok(()) => Relayed::Done {
            keep_client,
            lease: (!upstream_close && framing != Framing::UntilClose && lease.buf.is_empty())
                .then_some(lease),
        },
    }
}

enum HeadError {
    Upstream(io::Error),
    ClientGone,
}

/// Reads tiny_http's answer head (skipping 1xx heads) while watching the
/// client: returns (head length, status, upstream closes, framing).
async fn read_head(
    lease: &mut Lease,
    client: &mut TcpStream,
    pending: &mut Vec<u8>,
    pending_cap: usize,
) -> Result<(usize, u16, bool, Framing), HeadError> {
    let invalid = |m: &str| HeadError::Upstream(io::Error::new(io::ErrorKind::InvalidData, m));
    let mut up = vec![0u8; 16 << 10];
    let mut from_client = vec![0u8; 4096];
    loop {
        if let Some(end) = super::request_head::find_head_end(&lease.buf) {
            let head = std::str::from_utf8(&lease.buf[..end])
                .map_err(|_| invalid("answer head is not UTF-8"))?;
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| invalid("malformed status line"))?;
            if (100..200).contains(&status) {
                lease.buf.drain(..end);
                continue;
            }
            let (mut len, mut chunked, mut close) = (None, false, false);
            for line in head.split("\r\n").skip(1) {
                let Some((name, value)) = line.split_once(':') else {
                    continue;
                };
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    len = Some(
                        value
                            .parse::<u64>()
                            .map_err(|_| invalid("bad Content-Length"))?,
                    );
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                    if !chunked {
                        return Err(invalid("unknown Transfer-Encoding"));
                    }
                } else if name.eq_ignore_ascii_case("connection") {
                    close |= value
                        .split(',')
                        .any(|o| o.trim().eq_ignore_ascii_case("close"));
                }
            }
            let framing = match (chunked, len) {
                (true, _) => Framing::Chunked,
                (false, Some(n)) => Framing::Length(n),
                (false, None) => Framing::UntilClose,
            };
            return Ok((end, status, close, framing));
        }
        if lease.buf.len() > MAX_RESPONSE_HEAD {
            return Err(invalid("answer head too large"));
        }
        let watch_client = pending.len() < pending_cap;
        tokio::select! {
            n = lease.stream.read(&mut up) => match n {
                Ok(0) => return Err(HeadError::Upstream(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the request handler closed the connection",
                ))),
                Ok(n) => lease.buf.extend_from_slice(&up[..n]),
                Err(e) => return Err(HeadError::Upstream(e)),
            },
            n = client.read(&mut from_client), if watch_client => match n {
                Ok(0) | Err(_) => return Err(HeadError::ClientGone),
                Ok(n) => pending.extend_from_slice(&from_client[..n]),
            },
        }
    }
}

/// tiny_http's head as the client gets it: hop-by-hop headers replaced by
/// our own `Connection`, every security header present.
fn rewrite_head(raw: &[u8], keep_client: bool, decode: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n");
    let mut out = String::with_capacity(raw.len() + 512);
    out.push_str(lines.next().unwrap_or("HTTP/1.1 502 Bad Gateway"));
    out.push_str("\r\n");
    let mut present = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split_once(':').map_or(line, |(n, _)| n).trim();
        if name.eq_ignore_ascii_case("connection")
            || name.eq_ignore_ascii_case("keep-alive")
            || (decode && name.eq_ignore_ascii_case("transfer-encoding"))
        {
            continue;
        }
        present.push(name.to_ascii_lowercase());
        out.push_str(line);
        out.push_str("\r\n");
    }
    for (name, value) in SECURITY_HEADERS {
        if !present.iter().any(|p| p.eq_ignore_ascii_case(name)) {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
    }
    if !keep_client {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Streams the body from `lease` to `client`: reading runs ahead of
/// writing within the budgets, so the handler's socket drains at once.
async fn relay_body(
    lease: &mut Lease,
    client: &mut TcpStream,
    head: Vec<u8>,
    scanner: &mut Scanner,
    ex: &Exchange<'_>,
    budget: &Arc<Semaphore>,
) -> io::Result<()> {
    // (bytes, offset written, budget they hold)
    let mut queue: VecDeque<(Vec<u8>, usize, Option<OwnedSemaphorePermit>)> = VecDeque::new();
    queue.push_back((head, 0, None));
    let mut queued = 0usize;
    // Bytes already read past the head.
    let early = std::mem::take(&mut lease.buf);
    if !early.is_empty() {
        let (body, rest) = scanner.feed(&early)?;
        queued += body.len();
        if !body.is_empty() {
            queue.push_back((body, 0, None));
        }
        lease.buf = rest;
    }
    let mut up = vec![0u8; READ_SIZE];
    let mut stalled_since = Instant::now();
    let kib = u32::try_from(READ_SIZE >> 10).unwrap_or(u32::MAX);
    loop {
        if scanner.done() && queue.is_empty() {
            return Ok(());
        }
        let can_read = !scanner.done() && queued < READ_AHEAD_PER_ANSWER;
        let stall_deadline = stalled_since + ex.write_stall;
        tokio::select! {
            biased;
            w = async {
                let (bytes, off, _) = queue.front().expect("guarded by !queue.is_empty()");
                client.write(&bytes[*off..]).await
            }, if !queue.is_empty() => {
                let n = w?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::WriteZero, "client closed"));
                }
                stalled_since = Instant::now();
                let front = queue.front_mut().expect("guarded by !queue.is_empty()");
                front.1 += n;
                if front.1 == front.0.len()
                    && let Some((bytes, _, _)) = queue.pop_front()
                {
                    queued = queued.saturating_sub(bytes.len());
                }
            }
            r = async {
                let permit = budget.clone().acquire_many_owned(kib).await;
                let n = lease.stream.read(&mut up).await;
                (permit, n)
            }, if can_read => {
                let (permit, n) = r;
                let n = n?;
                let (body, rest) = if n == 0 {
                    scanner.eof()?;
                    (Vec::new(), Vec::new())
                } else {
                    scanner.feed(&up[..n])?
                };
                lease.buf = rest;
                if !body.is_empty() {
                    queued += body.len();
                    queue.push_back((body, 0, permit.ok()));
                }
            }
            _ = tokio::time::sleep_until(stall_deadline), if !queue.is_empty() => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client stopped reading the answer",
                ));
            }
        }
    }
}

/// Finds the end of an answer body in the bytes read from tiny_http, and
/// decodes chunks when the client cannot take them (HTTP/1.0).
#[derive(Debug)]
struct Scanner {
    framing: Framing,
    decode: bool,
    state: Chunk,
    left: u64,
    line: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data,
    DataEnd,
    Trailer,
    Done,
}

impl Scanner {
    fn new(framing: Framing, decode: bool) -> Self {
        let (state, left) = match framing {
            Framing::Empty | Framing::Length(0) => (Chunk::Done, 0),
            Framing::Length(n) => (Chunk::Data, n),
            Framing::Chunked => (Chunk::Size, 0),
            Framing::UntilClose => (Chunk::Data, u64::MAX),
        };
        Scanner {
            framing,
            decode,
            state,
            left,
            line: Vec::new(),
        }
    }

    fn done(&self) -> bool {
        self.state == Chunk::Done
    }

    fn eof(&mut self) -> io::Result<()> {
        if self.framing == Framing::UntilClose {
            self.state = Chunk::Done;
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the request handler's answer broke off",
        ))
    }

    /// Consumes `input`: returns the bytes for the client and what follows
    /// the end of the answer (which makes the connection unusable).
    fn feed(&mut self, input: &[u8]) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
        let mut out = Vec::with_capacity(input.len());
        let mut i = 0;
        while i < input.len() && self.state != Chunk::Done {
            match self.state {
                Chunk::Data => {
                    let n = usize::try_from(self.left)
                        .unwrap_or(usize::MAX)
                        .min(input.len() - i);
                    out.extend_from_slice(&input[i..i + n]);
                    i += n;
                    if self.framing != Framing::UntilClose {
                        self.left -= n as u64;
                    }
                    if self.left == 0 {
                        self.state = match self.framing {
                            Framing::Chunked => Chunk::DataEnd,
                            _ => Chunk::Done,
                        };
                    }
                }
                Chunk::Size | Chunk::Trailer | Chunk::DataEnd => {
                    let b = input[i];
                    i += 1;
                    if !self.decode {
                        out.push(b);
                    }
                    self.line.push(b);
                    if self.line.len() > MAX_CHUNK_LINE {
                        return Err(invalid("chunk line too long"));
                    }
                    if !self.line.ends_with(b"\r\n") {
                        if self.state == Chunk::DataEnd && self.line.len() >= 2 {
                            return Err(invalid("chunk data not followed by CRLF"));
                        }
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    let line = &line[..line.len() - 2];
                    self.state = match self.state {
                        Chunk::DataEnd if line.is_empty() => Chunk::Size,
                        Chunk::DataEnd => return Err(invalid("chunk data overran its size")),
                        Chunk::Trailer if line.is_empty() => Chunk::Done,
                        Chunk::Trailer => Chunk::Trailer,
                        _ => {
                            let hex = std::str::from_utf8(line)
                                .ok()
                                .map(|l| l.split(';').next().unwrap_or("").trim())
                                .filter(|h| !h.is_empty())
                                .ok_or_else(|| invalid("bad chunk size"))?;
                            self.left = u64::from_str_radix(hex, 16)
                                .map_err(|_| invalid("bad chunk size"))?;
                            if self.left == 0 {
                                Chunk::Trailer
                            } else {
                                Chunk::Data
                            }
                        }
                    };
                }
                Chunk::Done => {}
            }
        }
        Ok((out, input[i..].to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(framing: Framing, decode: bool, input: &[u8], step: usize) -> (Vec<u8>, Vec<u8>, bool) {
        let mut s = Scanner::new(framing, decode);
        let (mut out, mut rest) = (Vec::new(), Vec::new());
        for part in input.chunks(step.max(1)) {
            if s.done() {
                rest.extend_from_slice(part);
                continue;
            }
            let (o, r) = s.feed(part).expect("valid framing");
            out.extend(o);
            rest.extend(r);
        }
        (out, rest, s.done())
    }

    #[test]
    fn chunked_answers_end_where_the_last_chunk_says() {
        let wire = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, 100] {
            let (out, rest, done) = scan(Framing::Chunked, false, wire, step);
            assert!(done, "step {step}");
            assert_eq!(out, &wire[..wire.len() - 4], "step {step}");
            assert_eq!(rest, b"NEXT");
            let (out, rest, done) = scan(Framing::Chunked, true, wire, step);
            assert!(done);
            assert_eq!(out, b"hello world", "step {step}");
            assert_eq!(rest, b"NEXT");
        }
        let (_, _, done) = scan(Framing::Chunked, false, b"5\r\nhel", 2);
        assert!(!done);
        let mut s = Scanner::new(Framing::Chunked, false);
        assert!(s.feed(b"zz\r\n").is_err());
        let mut s = Scanner::new(Framing::Chunked, false);
        assert!(s.feed(b"2\r\nabc\r\n").is_err());
        let mut s = Scanner::new(Framing::Chunked, false);
        let _ = s.feed(b"5\r\nhe");
        assert!(s.eof().is_err());
    }

    #[test]
    fn length_and_close_framing() {
        let (out, rest, done) = scan(Framing::Length(3), false, b"abcdef", 1);
        assert_eq!(
            (out.as_slice(), rest.as_slice(), done),
            (&b"abc"[..], &b"def"[..], true)
        );
        let mut s = Scanner::new(Framing::UntilClose, false);
        let (o, r) = s.feed(b"abc").expect("feed");
        assert_eq!((o.as_slice(), r.len(), s.done()), (&b"abc"[..], 0, false));
        assert!(s.eof().is_ok() && s.done());
        assert!(Scanner::new(Framing::Empty, false).done());
    }

    /// What `api::handle` answers: 204 to the pool's confirmation.
    fn answer(
        rq: &tiny_http::Request,
        body: Vec<u8>,
    ) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
        if rq.url() == "*" {
            tiny_http::Response::from_data(Vec::new()).with_status_code(204)
        } else {
            tiny_http::Response::from_data(body)
        }
    }

    /// Connections opened together are all served: each one holds a
    /// tiny_http thread for its life, and tiny_http's pool miscounts idle
    /// threads when connections arrive together (see [`Pool`]). Sixteen
    /// requests at once on sixteen new connections, forty times over.
    #[test]
    fn connections_opened_together_are_all_served() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        for round in 0..40 {
            let dir = tempfile::tempdir().expect("tempdir");
            let sock = dir.path().join("t.sock");
            let server = Arc::new(tiny_http::Server::http_unix(&sock).expect("tiny_http"));
            for _ in 0..4 {
                let server = server.clone();
                std::thread::spawn(move || {
                    while let Ok(rq) = server.recv() {
                        let a = answer(&rq, b"ok".to_vec());
                        let _ = rq.respond(a);
                    }
                });
            }
            let pool = Pool::new(sock, 16);
            let answered = rt.block_on(async {
                let budget = Arc::new(Semaphore::new(READ_AHEAD_TOTAL >> 10));
                let mut all = tokio::task::JoinSet::new();
                for _ in 0..16 {
                    let (pool, budget) = (pool.clone(), budget.clone());
                    all.spawn(async move {
                        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                            .await
                            .expect("bind");
                        let addr = listener.local_addr().expect("addr");
                        let client = tokio::net::TcpStream::connect(addr);
                        let (client, accepted) = tokio::join!(client, listener.accept());
                        let _client = client.expect("connect");
                        let (mut stream, _) = accepted.expect("accept");
                        let lease = pool.take().await.expect("lease");
                        let ex = Exchange {
                            request: b"GET / HTTP/1.1\r\nHost: x\r\nX-Blog-Poster-Peer: 127.0.0.1\r\n\r\n",
                            head_only: false,
                            http10: false,
                            close: false,
                            write_stall: Duration::from_secs(10),
                        };
                        let mut pending = Vec::new();
                        // The lease is returned (not put back) so that every
                        // connection stays open, holding its thread, until
                        // all sixteen are answered.
                        match exchange(&pool, lease, &mut stream, &mut pending, 1024, &ex, &budget).await {
                            Relayed::Done { lease, .. } => lease,
                            _ => None,
                        }
                    });
                }
                tokio::time::timeout(Duration::from_secs(20), all.join_all()).await
            });
            let answered =
                answered.unwrap_or_else(|_| panic!("round {round}: a request was never answered"));
            assert!(
                answered.iter().all(Option::is_some),
                "round {round}: an answer did not end cleanly"
            );
            drop(answered);
            for _ in 0..4 {
                server.unblock();
            }
        }
    }

    /// tiny_http's own chunked encoding (its default for bodies of 32 KiB
    /// and more), relayed to an HTTP/1.1 client as is and decoded for an
    /// HTTP/1.0 one, and the Unix connection reused afterwards.
    #[test]
    fn tiny_http_chunked_answers_reach_the_client_whole() {
        use std::io::Read;
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("t.sock");
        let server = tiny_http::Server::http_unix(&sock).expect("tiny_http");
        let body: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let expected = body.clone();
        std::thread::spawn(move || {
            for rq in server.incoming_requests() {
                let a = answer(&rq, body.clone());
                let _ = rq.respond(a);
            }
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let pool = Pool::new(sock, 1);
        let budget = Arc::new(Semaphore::new(READ_AHEAD_TOTAL >> 10));
        for (http10, round) in [(false, 0), (false, 1), (true, 2)] {
            let (reply, client) = rt.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                let client = std::thread::spawn(move || {
                    let mut c = std::net::TcpStream::connect(addr).expect("connect");
                    let mut got = Vec::new();
                    c.read_to_end(&mut got).expect("read");
                    got
                });
                let (mut stream, _) = listener.accept().await.expect("accept");
                let lease = pool.take().await.expect("lease");
                assert_eq!(lease.reused, round > 0, "round {round}");
                let ex = Exchange {
                    request: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                    head_only: false,
                    http10,
                    close: true,
                    write_stall: Duration::from_secs(10),
                };
                let mut pending = Vec::new();
                let r = exchange(&pool, lease, &mut stream, &mut pending, 1024, &ex, &budget).await;
                drop(stream);
                (r, client)
            });
            let got = client.join().expect("client");
            match reply {
                Relayed::Done { lease, .. } => {
                    if let Some(l) = lease {
                        pool.put_back(l);
                    }
                }
                Relayed::NoAnswer(e) | Relayed::Broken(e) => panic!("round {round}: {e}"),
            }
            let end = got
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("a head")
                + 4;
            let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
            let raw = &got[end..];
            if http10 {
                assert!(!head.contains("transfer-encoding"), "{head}");
                assert_eq!(raw, expected.as_slice(), "decoded for HTTP/1.0");
            } else {
                assert!(head.contains("transfer-encoding: chunked"), "{head}");
                let mut s = Scanner::new(Framing::Chunked, true);
                let (decoded, rest) = s.feed(raw).expect("valid chunks");
                assert!(s.done() && rest.is_empty());
                assert_eq!(decoded, expected, "round {round}");
            }
            assert!(head.contains("x-frame-options: deny"), "{head}");
        }
    }

    #[test]
    fn relayed_heads_carry_the_security_headers_once() {
        let raw = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\nX-Frame-Options: DENY\r\n\r\n";
        let head = String::from_utf8(rewrite_head(raw, true, false)).expect("utf8");
        for (name, _) in SECURITY_HEADERS {
            assert_eq!(
                head.matches(&format!("{name}:")).count(),
                1,
                "{name}: {head}"
            );
        }
        assert!(!head.to_lowercase().contains("connection"), "{head}");
        let head = String::from_utf8(rewrite_head(raw, false, false)).expect("utf8");
        assert!(head.ends_with("Connection: close\r\n\r\n"), "{head}");
    }
}

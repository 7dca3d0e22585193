//! One request head as the front reads it from a client: the request line
//! and headers checked against the `[http]` limits, the Host check, and the
//! head that tiny_http receives, rebuilt from what was checked (hop-by-hop
//! headers dropped, the client's address added by the front). Reading bytes
//! off the socket is `front`'s job; this file only looks at them.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::HttpConfig;

/// The header the front sets to the client's address; a client's own copy
/// is dropped, so handlers can trust it.
pub const PEER_HEADER: &str = "X-Blog-Poster-Peer";

/// Limits the front enforces (tiny_http enforces none).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body: u64,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// From accept (first request) or from the first byte (later ones) to
    /// the whole request received.
    pub request_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
}

impl Limits {
    pub fn from_config(c: &HttpConfig) -> Self {
        Limits {
            max_body: c.max_body,
            max_header_bytes: usize::try_from(c.max_header_bytes).unwrap_or(usize::MAX),
            max_headers: c.max_headers as usize,
            request_timeout: c.request_timeout,
            keepalive_timeout: c.keepalive_timeout,
            max_connections: c.max_connections.max(1) as usize,
            max_connections_per_client: c.max_connections_per_client.max(1) as usize,
        }
    }
}

/// An answer the front gives itself, then closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// Stable code: the `error` field and the metrics label.
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Refusal::new(400, "bad_request", message)
    }
}

/// A checked request head.
#[derive(Debug)]
pub struct Head {
    pub method: String,
    /// The request target's path (before `?`).
    pub path: String,
    pub http10: bool,
    /// The Host header's value, if any.
    pub host: Option<String>,
    pub body_len: u64,
    pub head_only: bool,
    /// The client asked to close after this answer.
    pub close: bool,
    pub expect_continue: bool,
    /// Request line and end-to-end headers for tiny_http, each line ending
    /// in CRLF, without the blank line.
    forward: String,
}

impl Head {
    /// /healthz and /readyz: answered by the handler kept for probes.
    pub fn is_probe(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD")
            && matches!(self.path.as_str(), "/healthz" | "/readyz")
    }

    /// The head tiny_http receives: always HTTP/1.1 with keep-alive (the
    /// front owns the client connection), plus the peer's address.
    pub fn upstream_bytes(&self, peer: IpAddr) -> Vec<u8> {
        let mut out = self.forward.clone();
        out.push_str(PEER_HEADER);
        out.push_str(": ");
        out.push_str(&peer.to_string());
        out.push_str("\r\n\r\n");
        out.into_bytes()
    }
}

/// Where the head ends (just past the blank line), if it is complete.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// RFC 9110 `token` characters (methods and header names).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Hop-by-hop headers and those the front handles itself.
fn dropped(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-connection",
        "trailer",
        "expect",
        PEER_HEADER,
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Checks one complete head (`raw` ends with the blank line).
pub fn parse_head(raw: &[u8], limits: &Limits) -> Result<Head, Refusal> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| Refusal::bad("the request head is not valid UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::bad(
            "malformed request line (expected \"METHOD /path HTTP/1.1\")",
        ));
    };
    if !is_token(method) {
        return Err(Refusal::bad("the method is not an HTTP token"));
    }
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(Refusal::bad(
            "the request target must be an absolute path (\"/…\")",
        ));
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => {
            return Err(Refusal::new(
                505,
                "version_not_supported",
                "only HTTP/1.0 and HTTP/1.1 are served",
            ));
        }
    };
    let mut forward = format!("{method} {target} HTTP/1.1\r\n");
    let mut count = 0usize;
    let (mut body_len, mut host) = (None::<u64>, None::<String>);
    let (mut close, mut keep_alive, mut expect_continue) = (false, false, false);
    for line in lines {
        if line.is_empty() {
            continue;
        }
        count += 1;
        if count > limits.max_headers {
            return Err(Refusal::new(
                431,
                "too_many_headers",
                format!(
                    "more than {} headers (raise [http] max_headers if a proxy adds many)",
                    limits.max_headers
                ),
            ));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Refusal::bad("a header line has no ':'"));
        };
        if !is_token(name) {
            return Err(Refusal::bad(format!(
                "malformed header name {:?}",
                truncate(name)
            )));
        }
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(Refusal::bad(format!(
                "header {name} holds a control character"
            )));
        }
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .map_err(|_| Refusal::bad("Content-Length is not a number"))?;
            if body_len.is_some_and(|prev| prev != n) {
                return Err(Refusal::bad("conflicting Content-Length headers"));
            }
            body_len = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal::new(
                501,
                "chunked_not_supported",
                "request bodies must be sent with Content-Length, not Transfer-Encoding",
            ));
        } else if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(Refusal::bad("more than one Host header"));
            }
            host = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("expect") {
            if value.eq_ignore_ascii_case("100-continue") {
                expect_continue = true;
            } else {
                return Err(Refusal::new(
                    417,
                    "expectation_failed",
                    format!("Expect: {} is not supported", truncate(value)),
                ));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                close |= option.eq_ignore_ascii_case("close");
                keep_alive |= option.eq_ignore_ascii_case("keep-alive");
            }
        }
        if dropped(name) {
            continue;
        }
        forward.push_str(name);
        forward.push_str(": ");
        forward.push_str(value);
        forward.push_str("\r\n");
    }
    if host.is_none() && !http10 {
        return Err(Refusal::bad("an HTTP/1.1 request needs a Host header"));
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > limits.max_body {
        return Err(Refusal::new(
            413,
            "body_too_large",
            format!(
                "the request body is larger than the limit of {} bytes ([http] max_body)",
                limits.max_body
            ),
        ));
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    Ok(Head {
        method: method.to_string(),
        path: path.to_string(),
        http10,
        host,
        body_len,
        head_only: method == "HEAD",
        close: close || (http10 && !keep_alive),
        expect_continue,
        forward,
    })
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Which Host headers are answered: the configured names, the listen
/// address, the address the client connected to, and `localhost` on a
/// loopback connection. Anything else is what a DNS-rebinding page sends
/// (a name the attacker controls, resolved to this machine), and is refused.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    names: Vec<String>,
    listen: IpAddr,
}

impl HostPolicy {
    pub fn new(allowed_hosts: &[String], listen: SocketAddr) -> Self {
        HostPolicy {
            names: allowed_hosts.iter().map(|h| normalize(h)).collect(),
            listen: listen.ip(),
        }
    }

    /// `host` is the Host header (None: an HTTP/1.0 request without one);
    /// `local` the address the connection was accepted on.
    pub fn check(&self, host: Option<&str>, local: IpAddr) -> Result<(), Refusal> {
        let Some(host) = host else { return Ok(()) };
        let name = normalize(strip_port(host));
        let allowed = match parse_ip(&name) {
            Some(ip) => {
                ip == canonical(local)
                    || ip == canonical(self.listen)
                    || self.names.iter().any(|n| parse_ip(n) == Some(ip))
            }
            None => {
                (name == "localhost" && canonical(local).is_loopback())
                    || self.names.contains(&name)
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(Refusal::new(
                421,
                "unknown_host",
                format!(
                    "this server does not answer for Host \"{}\"; if that is the name it is reached by, add it to [http] allowed_hosts",
                    truncate(host)
                ),
            ))
        }
    }
}

fn normalize(h: &str) -> String {
    h.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// `name:port` → `name`, `[v6]:port` → `[v6]`; a bare IPv6 stays whole.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

fn parse_ip(name: &str) -> Option<IpAddr> {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    bare.parse().ok().map(canonical)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
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
            max_connections: 8,
            max_connections_per_client: 4,
        }
    }

    fn status(r: Result<Head, Refusal>) -> u16 {
        r.map_or_else(|e| e.status, |_| 200)
    }

    #[test]
    fn heads_are_checked_against_the_limits() {
        let l = limits();
        let ok = |raw: &[u8]| status(parse_head(raw, &l));
        assert_eq!(ok(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
        assert_eq!(
            ok(b"GET / HTTP/1.1\r\nHost: x\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n"),
            431
        );
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"),
            413
        );
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
            501
        );
        assert_eq!(ok(b"GET / HTTP/2\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(ok(b"GET /\r\n\r\n"), 400);
        assert_eq!(ok(b"GET / HTTP/1.1\r\n\r\n"), 400, "no Host");
        assert_eq!(ok(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(ok(b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(ok(b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(
            ok(b"GET / HTTP/1.1\r\nHost: x\r\nExpect: nope\r\n\r\n"),
            417
        );
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        let roomy = Limits {
            max_headers: 10,
            ..limits()
        };
        let h = parse_head(
            b"POST /x?a=1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c\r\nX-Blog-Poster-Peer: 6.6.6.6\r\n\r\n",
            &roomy,
        )
        .expect("valid");
        assert!(h.expect_continue && h.body_len == 3 && !h.close);
        assert_eq!(h.path, "/x");
        let up = String::from_utf8(h.upstream_bytes("10.0.0.1".parse().expect("ip")))
            .expect("utf8")
            .to_lowercase();
        for gone in ["expect", "upgrade", "connection", "6.6.6.6"] {
            assert!(!up.contains(gone), "{gone} was forwarded: {up}");
        }
        assert!(up.starts_with("post /x?a=1 http/1.1\r\n"), "{up}");
        assert!(up.ends_with("x-blog-poster-peer: 10.0.0.1\r\n\r\n"), "{up}");
        let h = parse_head(b"GET / HTTP/1.0\r\n\r\n", &l).expect("valid");
        assert!(h.close && h.http10);
        assert!(
            h.upstream_bytes("::1".parse().expect("ip"))
                .starts_with(b"GET / HTTP/1.1")
        );
    }

    #[test]
    fn only_known_hosts_are_answered() {
        let p = HostPolicy::new(
            &["Status.Example.com".into(), "203.0.113.9".into()],
            "127.0.0.1:8080".parse().expect("addr"),
        );
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1:9999",
            "127.0.0.1",
            "localhost:8080",
            "LOCALHOST",
            "status.example.com",
            "status.example.com.:443",
            "203.0.113.9:80",
        ] {
            assert!(p.check(Some(ok), lo).is_ok(), "{ok}");
        }
        assert!(p.check(None, lo).is_ok());
        for bad in [
            "rebind.attacker.example",
            "rebind.attacker.example:8080",
            "127.0.0.2",
            "10.0.0.1",
            "status.example.com.evil",
            "",
        ] {
            assert_eq!(
                p.check(Some(bad), lo).map_err(|e| e.status),
                Err(421),
                "{bad}"
            );
        }
        // Listening on every address: the address the client reached counts.
        let any = HostPolicy::new(&[], "0.0.0.0:8080".parse().expect("addr"));
        let public: IpAddr = "192.0.2.7".parse().expect("ip");
        assert!(any.check(Some("192.0.2.7:8080"), public).is_ok());
        assert!(any.check(Some("localhost"), public).is_err());
        let v6 = HostPolicy::new(&[], "[::1]:8080".parse().expect("addr"));
        assert!(
            v6.check(Some("[::1]:8080"), "::1".parse().expect("ip"))
                .is_ok()
        );
        assert!(
            v6.check(Some("127.0.0.1"), "::ffff:127.0.0.1".parse().expect("ip"))
                .is_ok()
        );
    }
}

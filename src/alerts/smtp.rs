//! A small SMTP client for alert email: EHLO, STARTTLS (or TLS from the
//! first byte) through rustls with the platform's trust store, AUTH PLAIN or
//! LOGIN, one message, QUIT. Just what alerts need; no OpenSSL, no second
//! TLS stack, and the relay's name is resolved with hickory, never glibc.
//!
//! Passwords are never sent without TLS, except to a relay on loopback.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::Alert;
use crate::config::{SmtpConfig, SmtpTls};
use crate::domain::lifecycle::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("cannot resolve the SMTP host {host}: {message}")]
    Resolve { host: String, message: String },
    #[error("cannot connect to the SMTP server {server}: {message}")]
    Connect { server: String, message: String },
    #[error("TLS with the SMTP server {server} failed: {message}")]
    Tls { server: String, message: String },
    #[error(
        "the SMTP server {server} does not offer STARTTLS; use tls = \"tls\" (port 465) if it speaks TLS from the start"
    )]
    NoStartTls { server: String },
    #[error(
        "refusing to send the SMTP password to {server} without TLS; use tls = \"starttls\" or \"tls\""
    )]
    PlaintextAuth { server: String },
    #[error("the SMTP server {server} offers no login method we speak (PLAIN, LOGIN)")]
    NoAuthMethod { server: String },
    #[error("the SMTP server {server} answered {code} to {command}: {text}")]
    Rejected {
        server: String,
        command: String,
        code: u16,
        text: String,
    },
    #[error("the SMTP conversation with {server} failed: {message}")]
    Protocol { server: String, message: String },
    #[error("the SMTP server {server} did not answer within {secs} s")]
    Timeout { server: String, secs: u64 },
    /// The SMTP password cannot be read: names the key, command and fix.
    #[error("{0}")]
    Secret(crate::config::SecretError),
}

/// Sends `alert` to every recipient in `config`.
pub async fn send_alert(
    config: &SmtpConfig,
    alert: &Alert,
    at: Timestamp,
    suppressed: u64,
) -> Result<(), SmtpError> {
    let message = compose(config, alert, at, suppressed);
    send_mail(config, &message).await
}

/// An RFC 5322 message (CRLF line ends) for `alert`.
pub fn compose(config: &SmtpConfig, alert: &Alert, at: Timestamp, suppressed: u64) -> String {
    let alert = &alert.clone().redacted();
    let mut body = alert.message();
    body.push_str(&format!(
        "\n\nKind: {}\nSeverity: {}\nAt: {}\n",
        alert.kind(),
        alert.severity().as_str(),
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ));
    if suppressed > 0 {
        body.push_str(&format!(
            "{suppressed} more alert(s) were held back by the rate limit since the last one.\n"
        ));
    }
    let subject = header_text(&format!("[blog-poster] {}", alert.title()));
    let (encoding, body) = encode_body(&body);
    let message_id = format!("<{}.{:08x}@blog-poster>", at.timestamp(), fastrand::u32(..));
    format!(
        "From: blog-poster <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {encoding}\r\nAuto-Submitted: auto-generated\r\n\r\n{body}",
        from = config.from,
        to = config.to.join(", "),
        date = at.to_rfc2822(),
    )
}

/// A header value on one line: control characters (CR/LF injection) become
/// spaces, non-ASCII text is RFC 2047 encoded.
fn header_text(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.is_ascii() && clean.len() <= 900 {
        clean
    } else {
        let clean: String = clean.chars().take(300).collect();
        format!("=?UTF-8?B?{}?=", base64(clean.as_bytes()))
    }
}

/// 7bit when the text allows it, else base64 in 76-column lines.
fn encode_body(text: &str) -> (&'static str, String) {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    if crlf.is_ascii() && crlf.split("\r\n").all(|l| l.len() <= 998) {
        return ("7bit", crlf);
    }
    let b = base64(text.as_bytes());
    let mut out = String::with_capacity(b.len() + b.len() / 38);
    for chunk in b.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push_str("\r\n");
    }
    ("base64", out)
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= c.len() {
                out.push(char::from(T[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Sends one composed message (headers and body, CRLF line ends).
pub async fn send_mail(config: &SmtpConfig, message: &str) -> Result<(), SmtpError> {
    let server = format!("{}:{}", config.host, config.port);
    let secs = config.timeout.as_secs();
    match tokio::time::timeout(config.timeout, conversation(config, message, &server)).await {
        Ok(r) => r,
        Err(_) => Err(SmtpError::Timeout { server, secs }),
    }
}

async fn conversation(config: &SmtpConfig, message: &str, server: &str) -> Result<(), SmtpError> {
    let addrs = resolve(&config.host, config.port).await?;
    let tcp = connect(&addrs, server).await?;
    let loopback = addrs.iter().all(|a| a.ip().is_loopback());
    match config.tls {
        SmtpTls::Tls => {
            let tls = tls_wrap(tcp, &config.host, server).await?;
            let mut s = Session::new(tls, server);
            s.expect_greeting().await?;
            let caps = s.ehlo().await?;
            s.deliver(config, &caps, message).await
        }
        SmtpTls::StartTls => {
            let mut s = Session::new(tcp, server);
            s.expect_greeting().await?;
            let caps = s.ehlo().await?;
            if !caps.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS")) {
                return Err(SmtpError::NoStartTls {
                    server: server.into(),
                });
            }
            s.command("STARTTLS", &[220]).await?;
            let tcp = s.into_inner()?;
            let tls = tls_wrap(tcp, &config.host, server).await?;
            let mut s = Session::new(tls, server);
            let caps = s.ehlo().await?;
            s.deliver(config, &caps, message).await
        }
        SmtpTls::None => {
            if config.username.is_some() && !loopback {
                return Err(SmtpError::PlaintextAuth {
                    server: server.into(),
                });
            }
            let mut s = Session::new(tcp, server);
            s.expect_greeting().await?;
            let caps = s.ehlo().await?;
            s.deliver(config, &caps, message).await
        }
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, SmtpError> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let err = |message: String| SmtpError::Resolve {
        host: host.into(),
        message,
    };
    let resolver = hickory_resolver::TokioResolver::builder_tokio()
        .map_err(|e| err(e.to_string()))?
        .build()
        .map_err(|e| err(e.to_string()))?;
    let lookup = resolver
        .lookup_ip(host)
        .await
        .map_err(|e| err(e.to_string()))?;
    let addrs: Vec<SocketAddr> = lookup.iter().map(|ip| SocketAddr::new(ip, port)).collect();
    if addrs.is_empty() {
        return Err(err("no addresses".into()));
    }
    Ok(addrs)
}

async fn connect(addrs: &[SocketAddr], server: &str) -> Result<TcpStream, SmtpError> {
    let mut last = String::from("no addresses");
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("{a}: {e}"),
        }
    }
    Err(SmtpError::Connect {
        server: server.into(),
        message: last,
    })
}

async fn tls_wrap(
    tcp: TcpStream,
    host: &str,
    server: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SmtpError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let err = |message: String| SmtpError::Tls {
        server: server.into(),
        message,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_platform_verifier()
        .map_err(|e| err(e.to_string()))?
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .map_err(|e| err(format!("\"{host}\" is not a valid TLS server name: {e}")))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| err(e.to_string()))
}

/// Longest reply line and most reply lines we accept from a server.
const MAX_LINE: usize = 4096;
const MAX_LINES: usize = 100;

struct Session<S> {
    stream: BufReader<S>,
    server: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    fn new(stream: S, server: &str) -> Self {
        Session {
            stream: BufReader::new(stream),
            server: server.to_string(),
        }
    }

    fn protocol(&self, message: impl Into<String>) -> SmtpError {
        SmtpError::Protocol {
            server: self.server.clone(),
            message: message.into(),
        }
    }

    /// The stream, for the TLS upgrade; refuses if the server sent more
    /// than its STARTTLS reply (a command-injection attempt).
    fn into_inner(self) -> Result<S, SmtpError> {
        if !self.stream.buffer().is_empty() {
            return Err(self.protocol("unexpected data after the STARTTLS reply"));
        }
        Ok(self.stream.into_inner())
    }

    async fn reply(&mut self) -> Result<(u16, Vec<String>), SmtpError> {
        let mut lines = Vec::new();
        loop {
            let mut raw = Vec::new();
            let mut limited = (&mut self.stream).take(MAX_LINE as u64);
            let n = limited
                .read_until(b'\n', &mut raw)
                .await
                .map_err(|e| self.protocol(format!("reading the reply: {e}")))?;
            if n == 0 {
                return Err(self.protocol("the server closed the connection"));
            }
            if !raw.ends_with(b"\n") {
                return Err(self.protocol("reply line too long"));
            }
            let line = String::from_utf8_lossy(&raw).trim_end().to_string();
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| self.protocol(format!("not an SMTP reply: {line:?}")))?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok((code, lines));
            }
            if lines.len() >= MAX_LINES {
                return Err(self.protocol("reply has too many lines"));
            }
        }
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), SmtpError> {
        let s = self.stream.get_mut();
        let r = async {
            s.write_all(data).await?;
            s.flush().await
        }
        .await;
        r.map_err(|e| self.protocol(format!("writing: {e}")))
    }

    async fn expect(&mut self, command: &str, ok: &[u16]) -> Result<Vec<String>, SmtpError> {
        let (code, lines) = self.reply().await?;
        if ok.contains(&code) {
            return Ok(lines);
        }
        Err(SmtpError::Rejected {
            server: self.server.clone(),
            command: command.into(),
            code,
            text: lines.join(" ").chars().take(300).collect(),
        })
    }

    async fn expect_greeting(&mut self) -> Result<(), SmtpError> {
        self.expect("the greeting", &[220]).await.map(|_| ())
    }

    /// Sends `line` (and CRLF); `shown` is what errors call it.
    async fn command_shown(
        &mut self,
        line: &str,
        shown: &str,
        ok: &[u16],
    ) -> Result<Vec<String>, SmtpError> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.expect(shown, ok).await
    }

    async fn command(&mut self, line: &str, ok: &[u16]) -> Result<Vec<String>, SmtpError> {
        self.command_shown(line, line, ok).await
    }

    /// EHLO; returns the capability lines (without the greeting line).
    async fn ehlo(&mut self) -> Result<Vec<String>, SmtpError> {
        let lines = self
            .command(&format!("EHLO {}", ehlo_name()), &[250])
            .await?;
        Ok(lines.into_iter().skip(1).collect())
    }

    async fn deliver(
        &mut self,
        config: &SmtpConfig,
        caps: &[String],
        message: &str,
    ) -> Result<(), SmtpError> {
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            let password = password.expose().map_err(SmtpError::Secret)?;
            self.login(caps, user, password).await?;
        }
        self.command(&format!("MAIL FROM:<{}>", config.from), &[250])
            .await?;
        for to in &config.to {
            self.command(&format!("RCPT TO:<{to}>"), &[250, 251])
                .await?;
        }
        self.command("DATA", &[354]).await?;
        let mut data = dot_stuff(message);
        if !data.ends_with("\r\n") {
            data.push_str("\r\n");
        }
        data.push_str(".\r\n");
        self.write(data.as_bytes()).await?;
        self.expect("the message", &[250]).await?;
        // The message is accepted; a failed goodbye changes nothing.
        let _ = self.command("QUIT", &[221]).await;
        Ok(())
    }

    async fn login(
        &mut self,
        caps: &[String],
        user: &str,
        password: &str,
    ) -> Result<(), SmtpError> {
        let methods: Vec<String> = caps
            .iter()
            .filter_map(|c| {
                let upper = c.to_ascii_uppercase();
                upper
                    .strip_prefix("AUTH ")
                    .or_else(|| upper.strip_prefix("AUTH="))
                    .map(str::to_string)
            })
            .flat_map(|m| m.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect();
        // What a server may echo in an error reply: masked wherever it shows.
        crate::redact::register(&base64(format!("\0{user}\0{password}").as_bytes()));
        crate::redact::register(&base64(password.as_bytes()));
        if methods.iter().any(|m| m == "PLAIN") {
            let token = base64(format!("\0{user}\0{password}").as_bytes());
            self.command_shown(&format!("AUTH PLAIN {token}"), "AUTH PLAIN", &[235])
                .await?;
            return Ok(());
        }
        if methods.iter().any(|m| m == "LOGIN") {
            self.command("AUTH LOGIN", &[334]).await?;
            self.command_shown(&base64(user.as_bytes()), "AUTH LOGIN (user)", &[334])
                .await?;
            self.command_shown(
                &base64(password.as_bytes()),
                "AUTH LOGIN (password)",
                &[235],
            )
            .await?;
            return Ok(());
        }
        Err(SmtpError::NoAuthMethod {
            server: self.server.clone(),
        })
    }
}

/// A line starting with "." gets another (RFC 5321 §4.5.2); bare LF become CRLF.
fn dot_stuff(message: &str) -> String {
    let crlf = message.replace("\r\n", "\n").replace('\n', "\r\n");
    let mut out = String::with_capacity(crlf.len() + 16);
    for (i, line) in crlf.split("\r\n").enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
    }
    out
}

/// Our name in EHLO: the kernel's host name when it is a plausible domain
/// label, else "localhost".
fn ehlo_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    if !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        host.to_string()
    } else {
        "localhost".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input}");
        }
    }

    #[test]
    fn lines_starting_with_a_dot_are_stuffed() {
        assert_eq!(dot_stuff("a\n.b\r\n..c\nd"), "a\r\n..b\r\n...c\r\nd");
    }

    #[test]
    fn header_injection_is_flattened() {
        assert_eq!(
            header_text("x\r\nBcc: evil@example.com"),
            "x  Bcc: evil@example.com"
        );
        assert!(header_text("naïve").starts_with("=?UTF-8?B?"));
    }

    #[test]
    fn non_ascii_bodies_are_base64() {
        let (enc, body) = encode_body("café");
        assert_eq!(enc, "base64");
        assert_eq!(body, "Y2Fmw6k=\r\n");
        assert_eq!(encode_body("plain\ntext").1, "plain\r\ntext");
    }
}

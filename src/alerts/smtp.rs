//! Alert email through lettre: its builder writes the message (RFC 2047
//! headers, the body's transfer encoding) and its async SMTP connection
//! speaks the protocol (EHLO, STARTTLS or TLS from the first byte through
//! rustls with the platform's trust store, AUTH PLAIN or LOGIN, dot-stuffing).
//! This file only walks the steps, so that an error names the one that
//! failed; it resolves the relay with hickory, never glibc.
//!
//! Passwords are never sent without TLS, except to a relay on loopback.

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use base64::Engine as _;
use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::net::TcpStream;

use super::Alert;
use crate::config::{SmtpConfig, SmtpTls};
use crate::domain::lifecycle::Timestamp;

mod guard;

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
    /// An address in `[alerts.smtp]` that the message builder refuses; the
    /// config check runs the same parser, so this only guards the invariant.
    #[error("the alert email cannot be written: {message}; check from and to in [alerts.smtp]")]
    Message { message: String },
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
    let message = compose(config, alert, at, suppressed)?;
    send_mail(config, &message).await
}

/// The message for `alert`: plain UTF-8 text; lettre picks 7bit,
/// quoted-printable or base64 for the body and encodes the subject.
pub fn compose(
    config: &SmtpConfig,
    alert: &Alert,
    at: Timestamp,
    suppressed: u64,
) -> Result<Message, SmtpError> {
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
    let mut builder = Message::builder()
        .from(Mailbox::new(
            Some("blog-poster".into()),
            parse_address(&config.from)?,
        ))
        .header(Subject(one_line(&format!(
            "[blog-poster] {}",
            alert.title()
        ))))
        .date(SystemTime::from(at))
        .message_id(Some(format!(
            "<{}.{:08x}@blog-poster>",
            at.timestamp(),
            fastrand::u32(..)
        )))
        .header(ContentType::TEXT_PLAIN)
        .header(AutoSubmitted);
    for to in &config.to {
        builder = builder.to(Mailbox::new(None, parse_address(to)?));
    }
    builder.body(body).map_err(|e| SmtpError::Message {
        message: e.to_string(),
    })
}

/// An address as lettre reads it. The config check runs the same parser,
/// so a bad `from` or `to` is reported there with its key and line.
pub fn parse_address(address: &str) -> Result<lettre::Address, SmtpError> {
    address.parse().map_err(|e| SmtpError::Message {
        message: format!("\"{address}\" is not an email address ({e})"),
    })
}

/// Control characters (a CR/LF header injection) become spaces; lettre
/// would encode them safely, but a subject should read as one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The subject on one line when it is printable ASCII that fits (RFC 5322
/// allows 998 characters; mail filters and our tests match it as sent);
/// anything else is RFC 2047 encoded and folded by lettre.
#[derive(Clone)]
struct Subject(String);

impl Header for Subject {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Subject")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Subject(s.into()))
    }

    fn display(&self) -> HeaderValue {
        let printable = self.0.bytes().all(|b| (b' '..=b'~').contains(&b));
        if printable && self.0.len() <= 900 {
            HeaderValue::dangerous_new_pre_encoded(Self::name(), self.0.clone(), self.0.clone())
        } else {
            HeaderValue::new(Self::name(), self.0.clone())
        }
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): auto-responders and
/// vacation replies leave alert mail alone.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// Sends one message to its envelope's recipients within the configured
/// timeout (for the whole conversation, not per step).
pub async fn send_mail(config: &SmtpConfig, message: &Message) -> Result<(), SmtpError> {
    let server = format!("{}:{}", config.host, config.port);
    let secs = config.timeout.as_secs();
    match tokio::time::timeout(config.timeout, conversation(config, message, &server)).await {
        Ok(r) => r,
        Err(_) => Err(SmtpError::Timeout { server, secs }),
    }
}

async fn conversation(
    config: &SmtpConfig,
    message: &Message,
    server: &str,
) -> Result<(), SmtpError> {
    let addrs = resolve(&config.host, config.port).await?;
    let loopback = addrs.iter().all(|a| a.ip().is_loopback());
    if config.tls == SmtpTls::None && config.username.is_some() && !loopback {
        return Err(SmtpError::PlaintextAuth {
            server: server.into(),
        });
    }
    let step = Step { server };
    let hello = ClientId::Domain(ehlo_name());
    let mut conn = match config.tls {
        SmtpTls::Tls => {
            let tls = step.tls_parameters(&config.host)?;
            AsyncSmtpConnection::connect_tokio1(
                addrs.as_slice(),
                Some(config.timeout),
                &hello,
                Some(tls),
                None,
            )
            .await
            .map_err(|e| step.connect_failed(e))?
        }
        SmtpTls::StartTls => {
            let tcp = connect(&addrs, server).await?;
            let mut conn = AsyncSmtpConnection::connect_with_transport(
                Box::new(guard::StartTlsStream::new(tcp)),
                &hello,
            )
            .await
            .map_err(|e| step.failed("the greeting or EHLO", e))?;
            if !conn.can_starttls() {
                return Err(SmtpError::NoStartTls {
                    server: server.into(),
                });
            }
            let tls = step.tls_parameters(&config.host)?;
            conn.starttls(tls, &hello)
                .await
                .map_err(|e| step.failed("STARTTLS", e))?;
            conn
        }
        SmtpTls::None => {
            let tcp = connect(&addrs, server).await?;
            AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello)
                .await
                .map_err(|e| step.failed("the greeting or EHLO", e))?
        }
    };
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        let password = password.expose().map_err(SmtpError::Secret)?;
        login(&mut conn, &step, user, password).await?;
    }
    deliver(&mut conn, &step, message).await
}

async fn login(
    conn: &mut AsyncSmtpConnection,
    step: &Step<'_>,
    user: &str,
    password: &str,
) -> Result<(), SmtpError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    // What a server may echo in an error reply: masked wherever it shows.
    crate::redact::register(&b64.encode(format!("\0{user}\0{password}")));
    crate::redact::register(&b64.encode(password));
    let ours = [Mechanism::Plain, Mechanism::Login];
    let Some(mechanism) = conn.server_info().get_auth_mechanism(&ours) else {
        return Err(SmtpError::NoAuthMethod {
            server: step.server.into(),
        });
    };
    let credentials = Credentials::new(user.into(), password.into());
    let reply = conn
        .auth(&[mechanism], &credentials)
        .await
        .map_err(|e| step.failed(&format!("AUTH {mechanism}"), e))?;
    step.expect(&format!("AUTH {mechanism}"), &reply, &[235])
}

async fn deliver(
    conn: &mut AsyncSmtpConnection,
    step: &Step<'_>,
    message: &Message,
) -> Result<(), SmtpError> {
    let envelope = message.envelope();
    let from = envelope.from().cloned();
    let shown = format!(
        "MAIL FROM:<{}>",
        from.as_ref().map(ToString::to_string).unwrap_or_default()
    );
    let reply = conn
        .command(Mail::new(from, vec![]))
        .await
        .map_err(|e| step.failed(&shown, e))?;
    step.expect(&shown, &reply, &[250])?;
    for to in envelope.to() {
        let shown = format!("RCPT TO:<{to}>");
        let reply = conn
            .command(Rcpt::new(to.clone(), vec![]))
            .await
            .map_err(|e| step.failed(&shown, e))?;
        step.expect(&shown, &reply, &[250, 251])?;
    }
    let reply = conn
        .command(Data)
        .await
        .map_err(|e| step.failed("DATA", e))?;
    step.expect("DATA", &reply, &[354])?;
    let reply = conn
        .message(&message.formatted())
        .await
        .map_err(|e| step.failed("the message", e))?;
    step.expect("the message", &reply, &[250])?;
    // The message is accepted; a failed goodbye changes nothing.
    let _ = conn.quit().await;
    Ok(())
}

/// Turns lettre's errors into ours, naming the server and the step.
struct Step<'a> {
    server: &'a str,
}

impl Step<'_> {
    fn tls_parameters(&self, host: &str) -> Result<TlsParameters, SmtpError> {
        TlsParameters::new(host.trim_matches(['[', ']']).to_string()).map_err(|e| SmtpError::Tls {
            server: self.server.into(),
            message: e.to_string(),
        })
    }

    /// A positive reply with a code the step does not expect (lettre
    /// accepts any 2xx or 3xx).
    fn expect(&self, command: &str, reply: &Response, ok: &[u16]) -> Result<(), SmtpError> {
        let code = u16::from(reply.code());
        if ok.contains(&code) {
            return Ok(());
        }
        Err(self.rejected(command, code, reply.message().collect::<Vec<_>>().join(" ")))
    }

    fn rejected(&self, command: &str, code: u16, text: String) -> SmtpError {
        SmtpError::Rejected {
            server: self.server.into(),
            command: command.into(),
            code,
            text: text.replace('\n', " ").chars().take(300).collect(),
        }
    }

    /// An error from `command`: a negative reply, TLS, or the conversation.
    fn failed(&self, command: &str, e: lettre::transport::smtp::Error) -> SmtpError {
        if let Some(code) = e.status() {
            let text = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default();
            return self.rejected(command, u16::from(code), text);
        }
        if let Some(injected) = find_cause::<guard::UnaskedData>(&e) {
            return SmtpError::Protocol {
                server: self.server.into(),
                message: injected.to_string(),
            };
        }
        if tls_failed(&e) {
            return SmtpError::Tls {
                server: self.server.into(),
                message: e.to_string(),
            };
        }
        SmtpError::Protocol {
            server: self.server.into(),
            message: format!("{command}: {e}"),
        }
    }

    /// Connecting with TLS from the first byte: TCP or TLS may have failed.
    fn connect_failed(&self, e: lettre::transport::smtp::Error) -> SmtpError {
        if e.status().is_some() || e.is_response() {
            return self.failed("the greeting or EHLO", e);
        }
        if tls_failed(&e) {
            return SmtpError::Tls {
                server: self.server.into(),
                message: e.to_string(),
            };
        }
        SmtpError::Connect {
            server: self.server.into(),
            message: e.to_string(),
        }
    }
}

/// Whether TLS failed: rustls refused, or lettre's TLS upgrade did (it
/// wraps its handshake errors, an early EOF included, in a second lettre
/// error; a plain network or connect error is not wrapped).
fn tls_failed(e: &lettre::transport::smtp::Error) -> bool {
    e.is_tls()
        || find_cause::<rustls::Error>(e).is_some()
        || std::error::Error::source(e).is_some_and(|s| s.is::<lettre::transport::smtp::Error>())
}

/// The first error of type `T` in `e`'s chain of causes, looking inside
/// `io::Error`s too (tokio-rustls wraps rustls's errors in them).
fn find_cause<'e, T: std::error::Error + 'static>(
    e: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(found) = c.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(found) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<T>())
        {
            return Some(found);
        }
        cause = c.source();
    }
    None
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
    fn header_injection_is_flattened() {
        assert_eq!(
            one_line("x\r\nBcc: evil@example.com"),
            "x  Bcc: evil@example.com"
        );
    }

    fn config() -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: 25,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "blog-poster@example.com".into(),
            to: vec!["ops@example.com".into()],
            timeout: std::time::Duration::from_secs(5),
        }
    }

    fn formatted(site: &str, error: &str) -> String {
        let alert = Alert::SourceFailing {
            site: site.into(),
            url: "https://feeds.example/a.xml".into(),
            since: chrono::DateTime::UNIX_EPOCH,
            failures: 2,
            error: Some(error.into()),
        };
        let message = compose(&config(), &alert, chrono::DateTime::UNIX_EPOCH, 0).expect("message");
        String::from_utf8(message.formatted()).expect("lettre writes ASCII")
    }

    #[test]
    fn a_title_cannot_add_a_header() {
        let text = formatted("blog\r\nBcc: evil@example.com", "x");
        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert!(
            text.contains("Auto-Submitted: auto-generated\r\n"),
            "{text}"
        );
        assert!(
            text.contains("From: blog-poster <blog-poster@example.com>\r\n"),
            "{text}"
        );
    }

    #[test]
    fn non_ascii_subject_and_body_are_encoded() {
        let text = formatted("café", "naïve error");
        assert!(text.is_ascii(), "{text}");
        let subject = text
            .lines()
            .find(|l| l.starts_with("Subject:"))
            .expect("subject");
        assert!(subject.contains("=?utf-8?b?"), "{subject}");
        assert!(
            text.contains("Content-Transfer-Encoding: quoted-printable")
                || text.contains("Content-Transfer-Encoding: base64"),
            "{text}"
        );
    }

    #[test]
    fn addresses_lettre_refuses_are_named() {
        let e = parse_address("ops example.com").expect_err("no @");
        assert!(e.to_string().contains("\"ops example.com\""), "{e}");
        assert!(parse_address("ops@example.com").is_ok());
    }
}

//! The validated `[alerts]` table: where alerts go (a webhook, SMTP email)
//! and how often they may go. Checked in `validate_alerts.rs`; the example
//! config documents every key.

use std::time::Duration;

use super::units::Secret;

#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub webhook: Option<WebhookConfig>,
    pub smtp: Option<SmtpConfig>,
    /// One alert per key (kind + site + subject) at most this often.
    pub min_interval: Duration,
    /// At most this many alerts per rolling hour, all keys together.
    pub max_per_hour: u32,
    /// A source failing for longer than this raises an alert.
    pub source_failing_after: Duration,
    /// How often the daemon looks for failing sources.
    pub check_interval: Duration,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhook: None,
            smtp: None,
            min_interval: Duration::from_secs(3600),
            max_per_hour: 20,
            source_failing_after: Duration::from_secs(6 * 3600),
            check_interval: Duration::from_secs(300),
        }
    }
}

impl AlertsConfig {
    /// True when at least one channel is configured.
    pub fn enabled(&self) -> bool {
        self.webhook.is_some() || self.smtp.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// A secret: Slack's incoming-webhook URLs carry their token in the path.
    pub url: Secret,
    pub format: WebhookFormat,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// Our own JSON object (kind, severity, site, title, message, …).
    Json,
    /// `{"text": "…"}`, which Slack, Mattermost, Rocket.Chat and Discord's
    /// `/slack` endpoint accept.
    Slack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connect, then STARTTLS (required; port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on this host.
    None,
}

impl SmtpTls {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::StartTls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::None => "none",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Login (AUTH PLAIN) when set; the password is then required.
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
    pub timeout: Duration,
}

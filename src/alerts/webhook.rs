//! Alerts by webhook: one POST per alert, either our JSON object or a
//! Slack-compatible `{"text": …}`. The URL is a secret and never appears in
//! an error.

use serde_json::{Value, json};

use super::Alert;
use crate::config::{WebhookConfig, WebhookFormat};
use crate::domain::lifecycle::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the webhook could not be reached: {0}")]
    Transport(String),
    /// The webhook URL cannot be read: names the key, command and fix.
    #[error("{0}")]
    Secret(crate::config::SecretError),
}

/// The request body for `format`.
pub fn payload(format: WebhookFormat, alert: &Alert, at: Timestamp, suppressed: u64) -> Value {
    match format {
        WebhookFormat::Json => json!({
            "source": "blog-poster",
            "kind": alert.kind(),
            "severity": alert.severity().as_str(),
            "site": alert.site(),
            "title": alert.title(),
            "message": alert.message(),
            "key": alert.key(),
            "at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "suppressed": suppressed,
        }),
        WebhookFormat::Slack => {
            let mut text = format!(
                "*[blog-poster] {}*\n{}",
                slack_escape(&alert.title()),
                slack_escape(&alert.message())
            );
            if suppressed > 0 {
                text.push_str(&format!(
                    "\n_({suppressed} more alert(s) were held back by the rate limit)_"
                ));
            }
            json!({ "text": text })
        }
    }
}

/// Slack's control characters: `&`, `<` and `>` must be escaped, or text
/// from a feed could form a link or a mention.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub async fn send(
    client: &reqwest::Client,
    config: &WebhookConfig,
    alert: &Alert,
    at: Timestamp,
    suppressed: u64,
) -> Result<(), WebhookError> {
    let mut body = payload(config.format, alert, at, suppressed);
    crate::redact::json(&mut body);
    let url = config.url.expose().map_err(WebhookError::Secret)?;
    let response = client
        .post(url)
        .json(&body)
        .send()
        .await
        // reqwest's error text includes the URL: keep only its kind.
        .map_err(|e| WebhookError::Transport(describe_transport(e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = crate::http::read_capped(response, 4096)
        .await
        .map(|b| {
            crate::redact::string(
                &String::from_utf8_lossy(&b)
                    .chars()
                    .take(200)
                    .collect::<String>(),
            )
        })
        .unwrap_or_default();
    Err(WebhookError::Status {
        status: status.as_u16(),
        body,
    })
}

fn describe_transport(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        e.without_url().to_string()
    }
}

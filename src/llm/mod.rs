//! LLM providers at the network edge: the Anthropic Messages API, OpenAI
//! Chat Completions, and OpenAI-compatible servers (Ollama, vLLM, LiteLLM,
//! OpenRouter) by base URL. Each client classifies its errors once, here:
//! rate limited, overloaded, server error, timeout → retry with backoff
//! honouring `retry-after`; quota exhausted, bad credentials, invalid
//! request, refused → no retry, with a message that says what to do.
//!
//! [`service::LlmService`] is what stages use: it walks the provider chain
//! (circuit breaker per provider, optional fallbacks), reserves each call's
//! worst-case cost against the caps before it goes out, and records every
//! call — settling its reservation — after.

pub mod anthropic;
pub mod breaker;
pub mod openai;
pub mod service;

use std::time::Duration;

use crate::config::{ProviderConfig, ProviderKind, Secret};
use crate::domain::BoxFuture;
use crate::store::CallOutcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// One request to a chat model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    pub system: String,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
}

impl ChatRequest {
    /// An upper bound on the prompt's tokens, for the worst-case reservation.
    pub fn input_token_bound(&self) -> u64 {
        crate::domain::pricing::input_token_bound(
            std::iter::once(self.system.as_str())
                .chain(self.messages.iter().map(|m| m.content.as_str())),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Complete,
    /// Cut off at max_tokens.
    Truncated,
    /// The model declined (Anthropic `stop_reason: "refusal"`, OpenAI
    /// `refusal` / `finish_reason: "content_filter"`).
    Refused,
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub text: String,
    /// `None` when the server sent no usage (some compatible servers):
    /// the call is then charged its whole reservation.
    pub usage: Option<Usage>,
    pub finish: Finish,
}

/// What kind of failure a provider reported; decides retry and charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    RateLimited,
    Overloaded,
    ServerError,
    Timeout,
    Network,
    QuotaExhausted,
    BadCredentials,
    InvalidRequest,
    MalformedResponse,
}

impl ErrorClass {
    /// Whether the same call can succeed later.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::RateLimited
                | ErrorClass::Overloaded
                | ErrorClass::ServerError
                | ErrorClass::Timeout
                | ErrorClass::Network
                | ErrorClass::MalformedResponse
        )
    }

    /// Whether the failure is about the provider (counts for its circuit
    /// breaker and makes a fallback worth trying) rather than the request.
    pub fn provider_level(self) -> bool {
        !matches!(self, ErrorClass::InvalidRequest)
    }

    pub fn outcome(self) -> CallOutcome {
        match self {
            ErrorClass::RateLimited => CallOutcome::RateLimited,
            ErrorClass::Overloaded => CallOutcome::Overloaded,
            ErrorClass::ServerError => CallOutcome::ServerError,
            ErrorClass::Timeout => CallOutcome::Timeout,
            ErrorClass::Network => CallOutcome::Network,
            ErrorClass::QuotaExhausted => CallOutcome::QuotaExhausted,
            ErrorClass::BadCredentials => CallOutcome::BadCredentials,
            ErrorClass::InvalidRequest => CallOutcome::InvalidRequest,
            ErrorClass::MalformedResponse => CallOutcome::MalformedResponse,
        }
    }

    fn label(self) -> &'static str {
        match self {
            ErrorClass::RateLimited => "rate limited",
            ErrorClass::Overloaded => "overloaded",
            ErrorClass::ServerError => "server error",
            ErrorClass::Timeout => "timed out",
            ErrorClass::Network => "network error",
            ErrorClass::QuotaExhausted => "quota exhausted",
            ErrorClass::BadCredentials => "bad credentials",
            ErrorClass::InvalidRequest => "invalid request",
            ErrorClass::MalformedResponse => "malformed response",
        }
    }
}

/// A failed call, classified at the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", class.label(), status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct ProviderError {
    pub class: ErrorClass,
    pub status: Option<u16>,
    /// What the provider said, redacted. Never holds a secret.
    pub message: String,
    /// From `retry-after` / `retry-after-ms`.
    pub retry_after: Option<Duration>,
    /// Whether the provider may have done (and billed) work: true for a
    /// timeout or a broken answer after the request went out. Such calls are
    /// charged their whole reservation.
    pub maybe_billed: bool,
}

impl ProviderError {
    /// What the operator should do about a permanent failure.
    pub fn fix_hint(&self, key_origin: Option<&str>) -> Option<String> {
        match self.class {
            ErrorClass::BadCredentials => Some(match key_origin {
                Some(origin) => format!("check the API key ({origin}) and that it may use this model"),
                None => "set an API key for this provider (api_key_env or api_key_file)".into(),
            }),
            ErrorClass::QuotaExhausted => Some(
                "the provider account is out of credit or hit its spend limit: add credit or raise the limit, then retry the job"
                    .into(),
            ),
            ErrorClass::InvalidRequest => {
                Some("check the model name and max_tokens for this provider".into())
            }
            _ => None,
        }
    }
}

/// One configured model behind one API.
pub trait Provider: Send + Sync {
    /// The provider's name in the config ("anthropic", "local").
    fn name(&self) -> &str;
    fn model(&self) -> &str;
    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;
}

/// Builds the client for a configured provider.
pub fn build_provider(config: &ProviderConfig) -> Result<Box<dyn Provider>, String> {
    let http = crate::http::client(&crate::http::HttpOptions {
        connect_timeout: config.connect_timeout,
        timeout: config.timeout,
        max_redirects: 0,
        // Providers are configured by the operator (a local Ollama is fine).
        public_only: false,
    })
    .map_err(|e| e.to_string())?;
    Ok(match config.kind {
        ProviderKind::Anthropic => Box::new(anthropic::AnthropicClient::new(config.clone(), http)),
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
            Box::new(openai::OpenAiClient::new(config.clone(), http))
        }
    })
}

/// Largest answer body read from a provider.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// `retry-after-ms` (milliseconds) or `retry-after` (seconds or an HTTP date).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_millis(ms as u64));
    }
    let v = text("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_millis((secs * 1000.0) as u64));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// An API key that cannot be read (not set, unreadable file): nothing was
/// sent, and only the operator can fix it, so another provider is tried.
pub fn missing_key(e: crate::config::SecretError) -> ProviderError {
    ProviderError {
        class: ErrorClass::BadCredentials,
        status: None,
        message: e.to_string(),
        retry_after: None,
        maybe_billed: false,
    }
}

/// Removes secrets from text that goes into errors, logs and the database:
/// the key itself (even one too short for the registry), then everything
/// [`crate::redact`] knows and recognises (any `sk-…` key among them), capped
/// at 600 characters.
pub fn redact(text: &str, secret: Option<&Secret>) -> String {
    let mut out = text.to_string();
    if let Some(value) = secret.and_then(|s| s.expose().ok())
        && value.len() >= 4
    {
        out = out.replace(value, crate::redact::MASK);
    }
    let cleaned = crate::redact::string(&out);
    let mut capped: String = cleaned.chars().take(600).collect();
    if capped.len() < cleaned.len() {
        capped.push('…');
    }
    capped
}

/// Timeouts and connection failures from reqwest, classified.
pub fn transport_error(e: &reqwest::Error, secret: Option<&Secret>) -> ProviderError {
    let (class, maybe_billed) = if e.is_timeout() {
        (ErrorClass::Timeout, true)
    } else if e.is_connect() {
        (ErrorClass::Network, false)
    } else {
        // The request may have gone out and the connection dropped after.
        (ErrorClass::Network, true)
    };
    ProviderError {
        class,
        status: None,
        message: redact(&error_chain(e), secret),
        retry_after: None,
        maybe_billed,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_redacted_from_messages() {
        let secret = Secret::new("sk-ant-api03-abcdefghijklmnop".into(), "env X");
        let msg = "Incorrect API key provided: sk-proj-abc1234567890****wxyz. Key sk-ant-api03-abcdefghijklmnop rejected; task-sk-1 fine";
        let out = redact(msg, Some(&secret));
        assert!(!out.contains("abc1234567890"), "{out}");
        assert!(!out.contains("abcdefghijklmnop"), "{out}");
        assert!(
            out.contains("Incorrect API key provided: [redacted]"),
            "{out}"
        );
        assert!(out.contains("task-sk-1 fine"), "{out}");
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().expect("header"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", "1500".parse().expect("header"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("header"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past");
        h.insert("retry-after", "soon".parse().expect("header"));
        assert_eq!(retry_after(&h), None);
    }
}

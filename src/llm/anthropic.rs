//! The Anthropic Messages API: `POST {base}/v1/messages` with `x-api-key`
//! and `anthropic-version`, text content blocks, `usage.input_tokens` /
//! `usage.output_tokens`, and errors shaped
//! `{"type":"error","error":{"type":"rate_limit_error","message":…}}` —
//! 429 rate limited, 529 overloaded, 401 authentication, 400 invalid
//! request (or no credit), 402 billing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

pub const API_VERSION: &str = "2023-06-01";

pub struct AnthropicClient {
    config: ProviderConfig,
    http: reqwest::Client,
    url: String,
}

impl AnthropicClient {
    pub fn new(config: ProviderConfig, http: reqwest::Client) -> Self {
        let base = config.base_url.as_str().trim_end_matches('/');
        let url = if base.ends_with("/v1") {
            format!("{base}/messages")
        } else {
            format!("{base}/v1/messages")
        };
        AnthropicClient { config, http, url }
    }

    async fn send(&self, req: &ChatRequest) -> Result<Completion, ProviderError> {
        let secret = self.config.api_key.as_ref();
        let body = MessagesRequest {
            model: &self.config.model,
            max_tokens: req.max_tokens,
            system: &req.system,
            messages: req
                .messages
                .iter()
                .map(|m| WireMessage {
                    role: m.role.as_str(),
                    content: &m.content,
                })
                .collect(),
        };
        let mut request = self
            .http
            .post(&self.url)
            .header("anthropic-version", API_VERSION)
            .json(&body);
        if let Some(key) = secret {
            request = request.header("x-api-key", key.expose().map_err(missing_key)?);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(&e, secret))?;
        let status = response.status();
        let retry = retry_after(response.headers());
        let bytes = crate::http::read_capped(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| match e {
                crate::http::HttpError::Transport(t) => transport_error(&t, secret),
                other => ProviderError {
                    class: ErrorClass::MalformedResponse,
                    status: Some(status.as_u16()),
                    message: other.to_string(),
                    retry_after: None,
                    maybe_billed: true,
                },
            })?;
        if !status.is_success() {
            return Err(classify(status.as_u16(), &bytes, retry, secret));
        }
        parse_success(&bytes, status.as_u16(), secret)
    }
}

impl Provider for AnthropicClient {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn model(&self) -> &str {
        &self.config.model
    }

    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(self.send(req))
    }
}

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "str::is_empty")]
    system: &'a str,
    messages: Vec<WireMessage<'a>>,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct MessagesResponse {
    #[serde(default)]
    content: Vec<ContentBlock>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    input_tokens: u64,
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

/// Reads a 2xx Messages API answer: the text blocks, the usage (cache
/// tokens counted as input) and why the model stopped.
/// Reads a 200 answer. A malformed one is an error whose message quotes
/// serde's, which quotes the body: it goes through [`redact`] like every
/// provider error (a proxy may echo the request, key included).
pub fn parse_success(
    bytes: &[u8],
    status: u16,
    secret: Option<&Secret>,
) -> Result<Completion, ProviderError> {
    let parsed: MessagesResponse = serde_json::from_slice(bytes).map_err(|e| ProviderError {
        class: ErrorClass::MalformedResponse,
        status: Some(status),
        message: redact(
            &format!("the answer is not a Messages API response: {e}"),
            secret,
        ),
        retry_after: None,
        maybe_billed: true,
    })?;
    // Thinking and tool blocks are not the article: only text counts.
    let text: String = parsed
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect::<Vec<_>>()
        .join("");
    let finish = match parsed.stop_reason.as_deref() {
        Some("max_tokens") | Some("model_context_window_exceeded") => Finish::Truncated,
        Some("refusal") => Finish::Refused,
        _ => Finish::Complete,
    };
    // Cached prompt tokens are billed at their own (lower) rates; counting
    // them at the input price never undercounts.
    let usage = parsed.usage.map(|u| Usage {
        input_tokens: u
            .input_tokens
            .saturating_add(u.cache_creation_input_tokens.unwrap_or(0))
            .saturating_add(u.cache_read_input_tokens.unwrap_or(0)),
        output_tokens: u.output_tokens,
    });
    Ok(Completion {
        text,
        usage,
        finish,
    })
}

/// Classifies an error answer by status and `error.type`.
pub fn classify(
    status: u16,
    body: &[u8],
    retry_after: Option<std::time::Duration>,
    secret: Option<&Secret>,
) -> ProviderError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let err = json.as_ref().and_then(|v| v.get("error"));
    let kind = err
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
    let error_code = err
        .and_then(|e| e.get("details"))
        .and_then(|d| d.get("error_code"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let lower = message.to_ascii_lowercase();
    let out_of_credit = lower.contains("credit balance") || lower.contains("spend limit");
    let class = match (status, kind) {
        (_, "overloaded_error") | (529, _) | (503, _) => ErrorClass::Overloaded,
        (429, _) if error_code == "enforced_spend_limit_reached" || out_of_credit => {
            ErrorClass::QuotaExhausted
        }
        (_, "rate_limit_error") | (429, _) => ErrorClass::RateLimited,
        (_, "billing_error") | (402, _) => ErrorClass::QuotaExhausted,
        (_, "authentication_error" | "permission_error") | (401 | 403, _) => {
            ErrorClass::BadCredentials
        }
        (400, _) if out_of_credit => ErrorClass::QuotaExhausted,
        (408, _) | (_, "timeout_error") => ErrorClass::Timeout,
        (_, "api_error") | (409, _) => ErrorClass::ServerError,
        (s, _) if s >= 500 => ErrorClass::ServerError,
        _ => ErrorClass::InvalidRequest,
    };
    let label = if kind.is_empty() {
        String::new()
    } else {
        format!("{kind}: ")
    };
    ProviderError {
        class,
        status: Some(status),
        message: redact(&format!("{label}{message}"), secret),
        retry_after,
        maybe_billed: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str, message: &str) -> Vec<u8> {
        serde_json::json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn errors_are_classified_by_status_and_type() {
        let c = |s, k, m| classify(s, &body(k, m), None, None).class;
        assert_eq!(
            c(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit"
            ),
            ErrorClass::RateLimited
        );
        assert_eq!(
            c(529, "overloaded_error", "Overloaded"),
            ErrorClass::Overloaded
        );
        assert_eq!(
            c(500, "api_error", "Internal server error"),
            ErrorClass::ServerError
        );
        assert_eq!(
            c(401, "authentication_error", "invalid x-api-key"),
            ErrorClass::BadCredentials
        );
        assert_eq!(
            c(403, "permission_error", "no access"),
            ErrorClass::BadCredentials
        );
        assert_eq!(
            c(400, "invalid_request_error", "max_tokens: too large"),
            ErrorClass::InvalidRequest
        );
        assert_eq!(
            c(
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API."
            ),
            ErrorClass::QuotaExhausted
        );
        assert_eq!(
            c(402, "billing_error", "billing"),
            ErrorClass::QuotaExhausted
        );
        assert_eq!(
            c(413, "request_too_large", "too large"),
            ErrorClass::InvalidRequest
        );
        let spend = serde_json::json!({"type":"error","error":{"type":"rate_limit_error","message":"spend","details":{"error_code":"enforced_spend_limit_reached"}}});
        assert_eq!(
            classify(429, spend.to_string().as_bytes(), None, None).class,
            ErrorClass::QuotaExhausted
        );
        assert_eq!(
            classify(502, b"<html>bad gateway</html>", None, None).class,
            ErrorClass::ServerError
        );
    }

    #[test]
    fn success_takes_text_blocks_usage_and_stop_reason() {
        let ok = serde_json::json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
            "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Hello"}, {"type": "text", "text": " world"}],
            "stop_reason": "max_tokens",
            "usage": {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 5}
        });
        let c = parse_success(ok.to_string().as_bytes(), 200, None).expect("parsed");
        assert_eq!(c.text, "Hello world");
        assert_eq!(c.finish, Finish::Truncated);
        assert_eq!(
            c.usage,
            Some(Usage {
                input_tokens: 15,
                output_tokens: 20
            })
        );
        let err = parse_success(b"{\"content\": 5}", 200, None).expect_err("malformed");
        assert_eq!(err.class, ErrorClass::MalformedResponse);
    }
}

//! OpenAI Chat Completions — and every server that speaks it (Ollama, vLLM,
//! LiteLLM, OpenRouter) — at `POST {base}/chat/completions` with
//! `Authorization: Bearer`. Usage is `usage.prompt_tokens` /
//! `usage.completion_tokens`; errors are `{"error":{"message","type","param",
//! "code"}}`. A 429 is either a rate limit (`rate_limit_exceeded`: retry) or
//! an empty account (`insufficient_quota` and friends: do not).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

/// 429 codes and types that mean "no money left", not "slow down".
const QUOTA_CODES: &[&str] = &[
    "insufficient_quota",
    "credit_balance_exhausted",
    "organization_spend_limit_exceeded",
    "project_spend_limit_exceeded",
    "organization_usage_limit_exceeded",
    "billing_hard_limit_reached",
];

pub struct OpenAiClient {
    config: ProviderConfig,
    http: reqwest::Client,
    url: String,
}

impl OpenAiClient {
    pub fn new(config: ProviderConfig, http: reqwest::Client) -> Self {
        let base = config.base_url.as_str().trim_end_matches('/');
        let url = if base.ends_with("/chat/completions") {
            base.to_string()
        } else {
            format!("{base}/chat/completions")
        };
        OpenAiClient { config, http, url }
    }

    async fn send(&self, req: &ChatRequest) -> Result<Completion, ProviderError> {
        let secret = self.config.api_key.as_ref();
        let mut messages = Vec::with_capacity(req.messages.len() + 1);
        if !req.system.is_empty() {
            messages.push(WireMessage {
                role: "system",
                content: &req.system,
            });
        }
        messages.extend(req.messages.iter().map(|m| WireMessage {
            role: m.role.as_str(),
            content: &m.content,
        }));
        // OpenAI's current models take max_completion_tokens (reasoning
        // included) and refuse max_tokens; compatible servers know max_tokens.
        let official = self.config.kind == ProviderKind::OpenAi;
        let body = ChatBody {
            model: &self.config.model,
            messages,
            max_completion_tokens: official.then_some(req.max_tokens),
            max_tokens: (!official).then_some(req.max_tokens),
            stream: false,
        };
        let mut request = self.http.post(&self.url).json(&body);
        if let Some(key) = secret {
            request = request.bearer_auth(key.expose().map_err(missing_key)?);
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

impl Provider for OpenAiClient {
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
struct ChatBody<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    stream: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
    /// Some compatible servers answer 200 with an error object.
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<ChoiceMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
}

/// Reads a 2xx Chat Completions answer: the first choice, the usage and
/// why the model stopped; an error object in a 200 is an error.
pub fn parse_success(
    bytes: &[u8],
    status: u16,
    secret: Option<&Secret>,
) -> Result<Completion, ProviderError> {
    let malformed = |message: String| ProviderError {
        class: ErrorClass::MalformedResponse,
        status: Some(status),
        message,
        retry_after: None,
        maybe_billed: true,
    };
    let parsed: ChatResponse = serde_json::from_slice(bytes).map_err(|e| {
        malformed(redact(
            &format!("the answer is not a Chat Completions response: {e}"),
            secret,
        ))
    })?;
    if let Some(err) = parsed.error {
        let mut e = classify(
            status,
            &serde_json::json!({ "error": err }).to_string().into_bytes(),
            None,
            secret,
        );
        if e.class == ErrorClass::InvalidRequest {
            e.class = ErrorClass::ServerError;
        }
        return Err(e);
    }
    let choice = parsed
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| malformed("the answer has no choices".into()))?;
    let message = choice.message.unwrap_or(ChoiceMessage {
        content: None,
        refusal: None,
    });
    let refused = message
        .refusal
        .as_deref()
        .is_some_and(|r| !r.trim().is_empty())
        || choice.finish_reason.as_deref() == Some("content_filter");
    let finish = if refused {
        Finish::Refused
    } else if choice.finish_reason.as_deref() == Some("length") {
        Finish::Truncated
    } else {
        Finish::Complete
    };
    let text = match (message.content, refused) {
        (Some(c), _) => c,
        (None, true) => message.refusal.unwrap_or_default(),
        (None, false) => String::new(),
    };
    Ok(Completion {
        text,
        usage: parsed.usage.map(|u| Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
        }),
        finish,
    })
}

/// Classifies an error answer by status, `error.type` and `error.code`.
pub fn classify(
    status: u16,
    body: &[u8],
    retry_after: Option<std::time::Duration>,
    secret: Option<&Secret>,
) -> ProviderError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let err = json.as_ref().and_then(|v| v.get("error"));
    let field = |name: &str| {
        err.and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let (kind, code) = (field("type"), field("code"));
    let message = match err {
        Some(Value::String(s)) => s.clone(),
        Some(e) => e
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        None => String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    };
    let quota = QUOTA_CODES.contains(&kind) || QUOTA_CODES.contains(&code);
    let class = match status {
        429 | 402 if quota => ErrorClass::QuotaExhausted,
        402 => ErrorClass::QuotaExhausted,
        429 => ErrorClass::RateLimited,
        401 | 403 => ErrorClass::BadCredentials,
        408 => ErrorClass::Timeout,
        503 | 529 => ErrorClass::Overloaded,
        409 => ErrorClass::ServerError,
        s if s >= 500 => ErrorClass::ServerError,
        _ if quota => ErrorClass::QuotaExhausted,
        _ => ErrorClass::InvalidRequest,
    };
    let label = match (kind, code) {
        ("", "") => String::new(),
        (k, "") | ("", k) => format!("{k}: "),
        (k, c) if k == c => format!("{k}: "),
        (k, c) => format!("{k}/{c}: "),
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

    fn body(message: &str, kind: &str, code: Option<&str>) -> Vec<u8> {
        serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_429_is_a_rate_limit_or_an_empty_account() {
        let rate = classify(
            429,
            &body(
                "Rate limit reached for requests",
                "requests",
                Some("rate_limit_exceeded"),
            ),
            None,
            None,
        );
        assert_eq!(rate.class, ErrorClass::RateLimited);
        let quota = classify(
            429,
            &body(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                Some("insufficient_quota"),
            ),
            None,
            None,
        );
        assert_eq!(quota.class, ErrorClass::QuotaExhausted);
        assert!(!quota.class.retryable());
        let project = classify(
            429,
            &body(
                "limit",
                "insufficient_quota",
                Some("project_spend_limit_exceeded"),
            ),
            None,
            None,
        );
        assert_eq!(project.class, ErrorClass::QuotaExhausted);
    }

    #[test]
    fn other_statuses_are_classified() {
        let c = |s, t: &str, code: Option<&str>| classify(s, &body("m", t, code), None, None).class;
        assert_eq!(
            c(401, "invalid_request_error", Some("invalid_api_key")),
            ErrorClass::BadCredentials
        );
        assert_eq!(
            c(
                400,
                "invalid_request_error",
                Some("context_length_exceeded")
            ),
            ErrorClass::InvalidRequest
        );
        assert_eq!(
            c(404, "invalid_request_error", Some("model_not_found")),
            ErrorClass::InvalidRequest
        );
        assert_eq!(c(500, "server_error", None), ErrorClass::ServerError);
        assert_eq!(c(503, "server_error", None), ErrorClass::Overloaded);
        // Ollama's error shape: {"error": "model 'x' not found"}.
        let ollama = classify(404, br#"{"error":"model 'llama9' not found"}"#, None, None);
        assert_eq!(ollama.class, ErrorClass::InvalidRequest);
        assert!(ollama.message.contains("llama9"), "{}", ollama.message);
    }

    #[test]
    fn success_reads_content_usage_and_finish() {
        let ok = serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-5.4-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "refusal": null}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}
        });
        let c = parse_success(ok.to_string().as_bytes(), 200, None).expect("parsed");
        assert_eq!((c.text.as_str(), c.finish), ("Hi", Finish::Truncated));
        assert_eq!(
            c.usage,
            Some(Usage {
                input_tokens: 12,
                output_tokens: 34
            })
        );
        let refusal = serde_json::json!({
            "choices": [{"message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2}
        });
        let r = parse_success(refusal.to_string().as_bytes(), 200, None).expect("parsed");
        assert_eq!(r.finish, Finish::Refused);
        assert!(parse_success(b"{\"choices\": []}", 200, None).is_err());
    }
}

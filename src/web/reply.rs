//! Answers: JSON bodies, errors as `{"error": code, "message": text}`, and
//! the security headers every response carries.

use serde::Serialize;

use crate::store::StoreError;

/// CSP for everything we serve: our own scripts and styles only, no inline
/// code, no framing, no plugins, no form posts elsewhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Headers on every answer, the front's own included. `Cache-Control` is
/// the default; an answer may set its own (static assets: `no-cache`).
pub const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
];

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Extra headers (cache policy, WWW-Authenticate…).
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// A JSON answer. Every string in it passes through [`crate::redact`]
    /// first: whatever a handler put in (a stored error, a library's
    /// message, a URL someone typed), no known secret leaves in an answer.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Reply {
        let encoded = serde_json::to_value(value).and_then(|mut v| {
            crate::redact::json(&mut v);
            serde_json::to_vec(&v)
        });
        match encoded {
            Ok(body) => Reply::bytes(status, "application/json", body),
            Err(e) => ApiError::internal(format!("cannot encode the answer: {e}")).into(),
        }
    }

    pub fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type,
            body,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn into_response(self) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
        // The size is known: Content-Length, never chunked (tiny_http
        // chunks bodies of 32 KiB and more by default).
        let mut r = tiny_http::Response::from_data(self.body)
            .with_status_code(self.status)
            .with_chunked_threshold(usize::MAX);
        let mut add = |name: &str, value: &str| {
            if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                r.add_header(h);
            }
        };
        add("Content-Type", self.content_type);
        for (name, value) in &self.headers {
            add(name, value);
        }
        for (name, value) in SECURITY_HEADERS {
            if !self
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                add(name, value);
            }
        }
        r
    }
}

/// An API failure with its HTTP status and a stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::NotFound { .. } => ApiError::new(404, "not_found", message),
            StoreError::Conflict(_) | StoreError::LeaseLost { .. } => {
                ApiError::new(409, "conflict", message)
            }
            StoreError::InvalidTransition(_) => ApiError::new(409, "invalid_transition", message),
            StoreError::Unavailable(_) => ApiError::new(503, "database_busy", message),
            StoreError::Schema(_) => ApiError::new(503, "schema", message),
            StoreError::Backend(_) => ApiError::new(500, "database_error", message),
        }
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Reply {
        Reply::json(
            e.status,
            &serde_json::json!({ "error": e.code, "message": e.message }),
        )
    }
}

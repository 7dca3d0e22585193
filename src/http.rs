//! The one outbound HTTP client builder: every request this program makes
//! (feeds, LLM providers, WordPress, webhooks, S3) goes through a client
//! built here, with timeouts, an honest User-Agent, rustls and hickory DNS
//! (never glibc's resolver, which is unsafe in a static binary), gzip,
//! deflate and brotli decoding, and body reads capped by size (after
//! decompression). A `public_only` client refuses non-public addresses
//! (see [`crate::ssrf`]).

use std::time::Duration;

use reqwest::{Client, Response};

/// Who we are, on every request.
pub const USER_AGENT: &str = concat!(
    "blog-poster/",
    env!("CARGO_PKG_VERSION"),
    " (self-hosted content monitor)"
);

/// Limits for one client.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub connect_timeout: Duration,
    /// The whole request, body included. LLM calls need minutes; feeds seconds.
    pub timeout: Duration,
    /// Redirects followed at most (0 = none; the caller then sees the 3xx).
    pub max_redirects: usize,
    /// Connect only to public addresses (URLs from remote content): names
    /// are resolved by [`crate::ssrf::PublicOnlyResolver`], and no proxy
    /// from the environment is used (it would resolve names for us).
    pub public_only: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_redirects: 5,
            public_only: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    #[error("response body is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
}

/// Builds a client with our settings. Compression (gzip, deflate, brotli) is decoded
/// transparently; the User-Agent is [`USER_AGENT`].
pub fn client(options: &HttpOptions) -> Result<Client, HttpError> {
    let redirect = if options.max_redirects == 0 {
        reqwest::redirect::Policy::none()
    } else {
        reqwest::redirect::Policy::limited(options.max_redirects)
    };
    build(options, redirect)
}

/// Like [`client`], but a redirect is followed only within the origin
/// (scheme, host and port) it came from. For clients that send credentials
/// (WordPress): reqwest drops the Authorization header on a cross-origin
/// hop, but a 307/308 would still carry a request body (XML-RPC's password)
/// there. A cross-origin redirect comes back to the caller as the 3xx
/// answer, for it to refuse with a message.
pub fn same_origin_client(options: &HttpOptions) -> Result<Client, HttpError> {
    let max = options.max_redirects;
    let redirect = reqwest::redirect::Policy::custom(move |attempt| {
        let same = attempt
            .previous()
            .last()
            .is_some_and(|prev| prev.origin() == attempt.url().origin());
        if !same || max == 0 {
            attempt.stop()
        } else if attempt.previous().len() > max {
            attempt.error(format!("more than {max} redirects"))
        } else {
            attempt.follow()
        }
    });
    build(options, redirect)
}

fn build(options: &HttpOptions, redirect: reqwest::redirect::Policy) -> Result<Client, HttpError> {
    let mut builder = Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(options.connect_timeout)
        .timeout(options.timeout)
        .redirect(redirect);
    if options.public_only {
        builder = builder
            .dns_resolver(std::sync::Arc::new(crate::ssrf::PublicOnlyResolver::new()))
            .no_proxy();
    }
    builder.build().map_err(|e| HttpError::Build(e.to_string()))
}

/// Reads a response body, refusing more than `limit` bytes (checked against
/// Content-Length first, then while streaming).
pub async fn read_capped(mut response: Response, limit: usize) -> Result<Vec<u8>, HttpError> {
    if let Some(len) = response.content_length()
        && len > limit as u64
    {
        return Err(HttpError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(HttpError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A one-shot HTTP/1.1 server answering with `body` (chunked, so no
    /// Content-Length tells the size in advance).
    fn serve_once(body: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
                    body.len()
                );
                let _ = s.write_all(&body);
                let _ = s.write_all(b"\r\n0\r\n\r\n");
            }
        });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn body_over_the_cap_is_refused_while_streaming() {
        let url = serve_once(vec![b'x'; 5000]);
        let c = client(&HttpOptions::default()).expect("client");
        let resp = c.get(&url).send().await.expect("response");
        assert!(matches!(
            read_capped(resp, 1000).await,
            Err(HttpError::TooLarge { limit: 1000 })
        ));
    }

    #[tokio::test]
    async fn body_under_the_cap_is_returned() {
        let url = serve_once(b"hello".to_vec());
        let c = client(&HttpOptions::default()).expect("client");
        let resp = c.get(&url).send().await.expect("response");
        assert_eq!(read_capped(resp, 1000).await.expect("body"), b"hello");
    }
}

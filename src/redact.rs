//! The one redaction point for secrets. Every text that leaves the process
//! or is kept — a stored `last_error` or event (both stores), a log line,
//! an alert, an API answer, a CLI error — goes through [`text`] first.
//!
//! Two layers, both needed:
//!
//! - **Known values.** Every secret the program holds is registered here
//!   when it is read ([`crate::config::Secret::new`] registers itself; the
//!   WordPress client adds `base64(user:password)`, the SMTP client its
//!   AUTH tokens, the config the database URL's password). The usual
//!   re-encodings are registered with each value (percent- and
//!   form-encoded, JSON-escaped, spaces removed, a URL's normalised form),
//!   because a server that echoes a secret rarely echoes it byte for byte.
//! - **Patterns** for secrets nobody registered (a URL typed into `db copy`,
//!   a token a client sent): `Authorization:` header values, `Basic`
//!   credentials that decode to `user:password`, bearer tokens, our API
//!   tokens, `sk-…` API keys, passwords in URL userinfo, `password=` in
//!   query strings and key=value DSNs, and `"password": "…"` in JSON.
//!
//! What this does not own: deciding where to call it (the sinks do), and
//! secrets shorter than [`MIN_LEN`], which are masked only where their
//! place shows them (userinfo, `password=`, headers): replacing a
//! three-letter word everywhere would blank ordinary text.

use std::borrow::Cow;
use std::sync::{LazyLock, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use regex::{Captures, Regex};

/// What a known secret value becomes.
pub const MASK: &str = "[redacted]";

/// What a password in a URL, a `password=` parameter or a header value
/// becomes (kept short and URL-safe, so a redacted URL still reads as one).
pub const URL_MASK: &str = "***";

/// Known values shorter than this are not replaced in free text.
pub const MIN_LEN: usize = 6;

#[derive(Default)]
struct Known {
    values: Vec<String>,
    matcher: Option<AhoCorasick>,
}

static KNOWN: LazyLock<RwLock<Known>> = LazyLock::new(|| RwLock::new(Known::default()));

/// Registers a secret value (and its usual encodings): from now on [`text`]
/// masks it wherever it appears. Idempotent and cheap to repeat.
pub fn register(value: &str) {
    let mut candidates = Vec::new();
    variants(value, &mut candidates);
    add(candidates);
}

/// Registers a login: the password and what HTTP Basic auth sends,
/// `base64(user:password)` (also with the spaces of a WordPress application
/// password removed, which WordPress accepts as well).
pub fn register_login(user: &str, password: &str) {
    let mut candidates = Vec::new();
    variants(password, &mut candidates);
    let mut forms = vec![password.to_string()];
    if password.contains(' ') {
        forms.push(password.replace(' ', ""));
    }
    for p in forms {
        candidates.push(b64(format!("{user}:{p}").as_bytes()));
    }
    add(candidates);
}

/// Registers the password a database URL or key=value DSN carries (in the
/// userinfo, or as `password=` / `sslpassword=`).
pub fn register_database_url(url: &str) {
    let mut candidates = Vec::new();
    for password in url_passwords(url) {
        variants(&password, &mut candidates);
    }
    add(candidates);
}

/// `text` with every known secret and every secret-shaped pattern masked.
/// Borrowed when nothing was found (the common case costs one scan).
pub fn text(s: &str) -> Cow<'_, str> {
    let mut out: Cow<'_, str> = Cow::Borrowed(s);
    {
        let known = KNOWN.read().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = &known.matcher
            && m.is_match(s)
        {
            let mut dst = String::with_capacity(s.len());
            m.replace_all_with(s, &mut dst, |_, _, dst| {
                dst.push_str(MASK);
                true
            });
            out = Cow::Owned(dst);
        }
    }
    for pattern in PATTERNS.iter() {
        if let Cow::Owned(changed) = pattern.apply(&out) {
            out = Cow::Owned(changed);
        }
    }
    out
}

/// [`text`] into an owned `String`.
pub fn string(s: &str) -> String {
    text(s).into_owned()
}

/// [`text`] for an optional text.
pub fn option(s: Option<&str>) -> Option<String> {
    s.map(string)
}

/// Every string in a JSON value (keys left alone), redacted in place.
pub fn json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let Cow::Owned(r) = text(s) {
                *s = r;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(json),
        serde_json::Value::Object(map) => map.values_mut().for_each(json),
        _ => {}
    }
}

/// A database URL (or key=value DSN) safe to show: the userinfo password
/// and password parameters become `***`, whatever form they take.
pub fn url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        // A key=value DSN, or something unparsable: the patterns still
        // find `password=…` and `user:pass@`.
        return string(url);
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some(URL_MASK));
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_password_key(&k) {
                    URL_MASK.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    string(parsed.as_str())
}

/// Query and DSN keys whose value is a password.
fn is_password_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    matches!(
        k.as_str(),
        "password"
            | "passwd"
            | "pwd"
            | "pass"
            | "sslpassword"
            | "secret"
            | "client_secret"
            | "api_key"
            | "apikey"
            | "access_token"
            | "auth_token"
            | "token"
            | "key"
    )
}

/// The passwords a URL or DSN carries, decoded.
fn url_passwords(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(parsed) = url::Url::parse(url) {
        if let Some(p) = parsed.password() {
            out.push(percent_decode(p).unwrap_or_else(|| p.to_string()));
            out.push(p.to_string());
        }
        for (k, v) in parsed.query_pairs() {
            if is_password_key(&k) && !v.is_empty() {
                out.push(v.into_owned());
            }
        }
    }
    // key=value DSN: host=… password=secret or password='a secret'
    for caps in DSN_PASSWORD.captures_iter(url) {
        let raw = caps.get(2).map_or("", |m| m.as_str());
        let value = raw
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .map_or_else(|| raw.to_string(), |q| q.replace("\\'", "'"));
        if !value.is_empty() {
            out.push(value);
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

static DSN_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[\s?&;])(password|sslpassword)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&;]+)")
        .expect("a constant, valid regex")
});

/// The forms in which a value may come back from a server or a library.
fn variants(value: &str, out: &mut Vec<String>) {
    let value = value.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return;
    }
    out.push(value.to_string());
    // Form encoding (space as '+') and strict percent-encoding (space as %20).
    out.push(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
    out.push(
        url::form_urlencoded::byte_serialize(value.as_bytes())
            .collect::<String>()
            .replace('+', "%20"),
    );
    if let Ok(quoted) = serde_json::to_string(value) {
        out.push(quoted[1..quoted.len() - 1].to_string());
    }
    if value.contains(' ') {
        out.push(value.replace(' ', ""));
    }
    // A secret URL (webhook): as a URL library prints it, and its path and
    // query, which hold the token.
    if let Ok(u) = url::Url::parse(value)
        && u.has_host()
    {
        out.push(u.as_str().to_string());
        let tail = &u[url::Position::BeforePath..];
        if tail.len() >= 16 {
            out.push(tail.to_string());
        }
        if let Some(p) = u.password() {
            out.push(p.to_string());
            if let Some(d) = percent_decode(p) {
                out.push(d);
            }
        }
    }
}

fn add(candidates: Vec<String>) {
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    let mut changed = false;
    for c in candidates {
        if c.chars().count() >= MIN_LEN && !known.values.contains(&c) {
            known.values.push(c);
            changed = true;
        }
    }
    if changed {
        known.matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&known.values)
            .ok();
    }
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A secret-shaped pattern and how to mask what it finds.
struct Pattern {
    regex: Regex,
    mask: fn(&Captures<'_>) -> Option<String>,
}

impl Pattern {
    fn apply<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if !self.regex.is_match(s) {
            return Cow::Borrowed(s);
        }
        let mut changed = false;
        let out = self
            .regex
            .replace_all(s, |c: &Captures<'_>| match (self.mask)(c) {
                Some(m) => {
                    changed = true;
                    m
                }
                None => c[0].to_string(),
            });
        if changed {
            Cow::Owned(out.into_owned())
        } else {
            Cow::Borrowed(s)
        }
    }
}

fn group<'a>(c: &'a Captures<'_>, i: usize) -> &'a str {
    c.get(i).map_or("", |m| m.as_str())
}

/// Whether a `Basic` credential decodes to `user:password` — also when it
/// was cut short (a truncated echo still shows the user and part of the
/// password).
fn is_basic_credential(token: &str) -> bool {
    let bare = token.trim_end_matches('=');
    let whole = &bare[..bare.len() - bare.len() % 4];
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(whole)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|t| t.contains(':'))
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let p = |re: &str, mask: fn(&Captures<'_>) -> Option<String>| Pattern {
        regex: Regex::new(re).expect("a constant, valid regex"),
        mask,
    };
    vec![
        // An Authorization header as a server or proxy echoes it: a header
        // line, a JSON member or a key=value pair. The whole value goes.
        p(
            r#"(?i)\b((?:proxy-)?authorization)("?\s*[:=]\s*"?)([^\r\n"<&]+)"#,
            |c| Some(format!("{}{}{URL_MASK}", group(c, 1), group(c, 2))),
        ),
        // Credentials after an auth scheme anywhere else: Basic only when
        // it decodes to user:password, bearer/token when it has a digit
        // (so "basic understanding" stays text).
        p(
            r"(?i)\b(basic|bearer|token)(\s+|%20|\+)([A-Za-z0-9+/=._~-]{12,})",
            |c| {
                let (scheme, sep, cred) = (group(c, 1), group(c, 2), group(c, 3));
                let secret = if scheme.eq_ignore_ascii_case("basic") {
                    is_basic_credential(cred)
                } else {
                    cred.chars().any(|ch| ch.is_ascii_digit())
                };
                secret.then(|| format!("{scheme}{sep}{URL_MASK}"))
            },
        ),
        // Our API tokens (`bp_` + 64 hex digits).
        p(r"\bbp_[0-9a-fA-F]{32,}\b", |_| Some(MASK.to_string())),
        // Provider API keys: sk-…, sk-ant-…, sk-proj-….
        p(r"\bsk-[A-Za-z0-9_.*-]{12,}", |_| Some(MASK.to_string())),
        // A password in URL userinfo: scheme://user:password@host.
        p(
            r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/?#@:]*):([^\s/?#]*)@",
            |c| Some(format!("{}:{URL_MASK}@", group(c, 1))),
        ),
        // password=… in a query string, a form or a key=value DSN. Not a
        // bare `key=` or `token=`: log fields are called that.
        p(
            r#"(?i)(^|[^a-z0-9_])(password|passwd|pwd|sslpassword|secret|client_secret|api[_-]?key|access[_-]?token|auth[_-]?token)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;,'"<>)]+)"#,
            |c| {
                Some(format!(
                    "{}{}{}{URL_MASK}",
                    group(c, 1),
                    group(c, 2),
                    group(c, 3)
                ))
            },
        ),
        // "password": "…" in JSON.
        p(
            r#"(?i)"(password|passwd|secret|client_secret|api_?key|access_token|app_password|token)"(\s*:\s*)"((?:[^"\\]|\\.)*)""#,
            |c| Some(format!("\"{}\"{}\"{URL_MASK}\"", group(c, 1), group(c, 2))),
        ),
    ]
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_and_their_encodings_are_masked() {
        register("Zq8 wLx2 pPq9 vT4k mN7s Rb3c");
        let out = string(
            "got Zq8 wLx2 pPq9 vT4k mN7s Rb3c, Zq8+wLx2+pPq9+vT4k+mN7s+Rb3c and Zq8wLx2pPq9vT4kmN7sRb3c",
        );
        assert_eq!(out, "got [redacted], [redacted] and [redacted]");
        assert_eq!(string("Zq8%20wLx2%20pPq9%20vT4k%20mN7s%20Rb3c"), MASK);
    }

    #[test]
    fn json_escaped_secrets_are_masked() {
        register("qu\"ote\\d-secret-9");
        let echoed = serde_json::json!({ "echo": "qu\"ote\\d-secret-9" }).to_string();
        assert!(!string(&echoed).contains("ote\\\\d-secret"), "{echoed}");
    }

    #[test]
    fn basic_auth_of_a_registered_login_is_masked_even_without_the_header_name() {
        register_login("editor-x", "Hn4r Tt5q Lm2w Zz9k Pp0a Qq1s");
        let basic = b64(b"editor-x:Hn4r Tt5q Lm2w Zz9k Pp0a Qq1s");
        let out = string(&format!("echo: {basic} trailing"));
        assert!(!out.contains(&basic), "{out}");
    }

    #[test]
    fn echoed_authorization_headers_are_masked_in_every_shape() {
        let basic = b64(b"someone:unregistered-pass-77");
        for echoed in [
            format!("GET / HTTP/1.1\r\nAuthorization: Basic {basic}\r\nHost: x\r\n"),
            format!("{{\"headers\":{{\"Authorization\":\"Basic {basic}\",\"Host\":\"x\"}}}}"),
            "<pre>authorization: Bearer abc123def456ghi789</pre>".to_string(),
            format!("HTTP_AUTHORIZATION=Basic {basic}"),
            format!("credentials Basic {basic} were sent"),
            format!("cut short: Basic {}", &basic[..15]),
        ] {
            let out = string(&echoed);
            assert!(!out.contains(&basic[..15]), "{out}");
            assert!(!out.contains("abc123def456ghi789"), "{out}");
        }
        assert!(string("Authorization: x\r\nHost: y").contains("Host: y"));
    }

    #[test]
    fn ordinary_prose_is_left_alone() {
        for s in [
            "a basic understanding of WordPress hardening",
            "the bearer of bad news",
            "a token gesture",
            "use the key wisely",
            "https://example.com/feed?page=2",
        ] {
            assert_eq!(string(s), s);
        }
    }

    #[test]
    fn database_passwords_in_every_url_form_are_masked() {
        for (input, gone) in [
            ("postgres://app:s3cr3t-pw@db:5432/bp", "s3cr3t-pw"),
            (
                "postgres://app@db:5432/bp?password=qp-s3cret&sslmode=require",
                "qp-s3cret",
            ),
            (
                "postgresql://db/bp?sslmode=require&PASSWORD=upper-s3cret",
                "upper-s3cret",
            ),
            (
                "host=db user=app password=dsn-s3cret dbname=bp",
                "dsn-s3cret",
            ),
            (
                "host=db password='quoted s3cret' dbname=bp",
                "quoted s3cret",
            ),
            ("postgres://app:p%40ss%2Fword@db/bp", "p%40ss%2Fword"),
        ] {
            let shown = url(input);
            assert!(!shown.contains(gone), "{input} -> {shown}");
            assert!(shown.contains(URL_MASK), "{input} -> {shown}");
            let in_text = string(&format!("cannot connect to {input}: refused"));
            assert!(!in_text.contains(gone), "{in_text}");
        }
        assert_eq!(
            url("postgres://app:pw@db:5432/bp?sslmode=require"),
            "postgres://app:***@db:5432/bp?sslmode=require"
        );
    }

    #[test]
    fn a_registered_database_url_password_is_masked_anywhere() {
        register_database_url("postgres://app@db/bp?password=Reg1stered-Pw");
        register_database_url("host=db password='dsn Reg2stered' dbname=bp");
        assert_eq!(
            string("the server said Reg1stered-Pw is wrong"),
            "the server said [redacted] is wrong"
        );
        assert_eq!(string("dsn Reg2stered"), MASK);
    }

    #[test]
    fn api_tokens_and_provider_keys_are_masked() {
        let token = format!("bp_{}", "ab12".repeat(16));
        let out = string(&format!(
            "token {token} and key sk-ant-api03-abcdefghijklmnop"
        ));
        assert!(!out.contains(&token), "{out}");
        assert!(!out.contains("abcdefghijklmnop"), "{out}");
    }

    #[test]
    fn a_webhook_url_is_masked_in_the_form_a_library_prints_it() {
        register("HTTPS://Hooks.Example.com/services/T000/B000/XXXXsecretXXXX");
        let out = string(
            "error sending request for url (https://hooks.example.com/services/T000/B000/XXXXsecretXXXX)",
        );
        assert!(!out.contains("XXXXsecretXXXX"), "{out}");
    }

    #[test]
    fn short_values_are_not_replaced_in_free_text() {
        register("abc");
        assert_eq!(string("abc abc"), "abc abc");
    }

    #[test]
    fn json_values_are_redacted_in_place() {
        register("json-walk-s3cret");
        let mut v = serde_json::json!({"a": ["x json-walk-s3cret y", 1], "json-walk-s3cret": true});
        json(&mut v);
        assert_eq!(v["a"][0], "x [redacted] y");
    }
}

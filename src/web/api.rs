//! The route table and the dispatcher: match, authorize, run the handler,
//! audit writes, count the request. Read handlers live in `views`, write
//! handlers in `actions`, long operations in `operations`. docs/api.md documents every route of [`ROUTES`].

use std::io::Read;
use std::time::Instant;

use serde::Deserialize;

use super::auth::{self, Access, Denied};
use super::metrics::{self, AuthRefusal};
use super::reply::{ApiError, Reply};
use super::request_head::PEER_HEADER;
use super::{WebState, page, views};
use super::{actions, operations};
use crate::store::NewEvent;

/// What a handler gets.
pub struct Ctx<'a> {
    pub state: &'a WebState,
    pub params: Vec<(&'static str, String)>,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The token's name, or "public" for an open read.
    pub actor: String,
}

impl Ctx<'_> {
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn id(&self) -> Result<i64, ApiError> {
        self.param("id").parse().map_err(|_| {
            ApiError::bad_request(format!("\"{}\" is not a numeric id", self.param("id")))
        })
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn query_num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.query(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("query parameter {name}=\"{v}\" is not a number"))
            }),
        }
    }

    /// `?limit=`, default 50, at most 500.
    pub fn limit(&self) -> Result<u32, ApiError> {
        Ok(self.query_num::<u32>("limit")?.unwrap_or(50).clamp(1, 500))
    }

    /// The JSON body, or `T::default()`-like absence handled by the caller.
    pub fn json_body<T: for<'de> Deserialize<'de>>(&self) -> Result<Option<T>, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&self.body)
            .map(Some)
            .map_err(|e| ApiError::bad_request(format!("the body is not the expected JSON: {e}")))
    }

    pub(super) fn site_name(&self) -> Result<String, ApiError> {
        let site = self.param("site");
        if self.state.config.site(site).is_none() {
            return Err(ApiError::not_found(format!(
                "there is no site \"{site}\" in the config"
            )));
        }
        Ok(site.to_string())
    }
}

type Handler = fn(&Ctx<'_>) -> Result<Reply, ApiError>;

/// Path parameters by name, in pattern order.
type Params = Vec<(&'static str, String)>;

/// One route: method, path pattern (`{name}` matches one segment), who may
/// call it, and its handler.
pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub access: Access,
    handler: Handler,
}

const fn route(
    method: &'static str,
    pattern: &'static str,
    access: Access,
    handler: Handler,
) -> Route {
    Route {
        method,
        pattern,
        access,
        handler,
    }
}

/// Every route the server answers.
pub static ROUTES: &[Route] = &[
    route("GET", "/healthz", Access::Open, views::healthz),
    route("GET", "/readyz", Access::Open, views::readyz),
    route("GET", "/metrics", Access::Read, views::metrics),
    route("GET", "/", Access::Open, page::index),
    route("GET", "/assets/{file}", Access::Open, page::asset),
    route("GET", "/api/v1/status", Access::Read, views::status),
    route("GET", "/api/v1/runs", Access::Read, views::runs),
    route("GET", "/api/v1/jobs", Access::Read, views::jobs),
    route("GET", "/api/v1/articles", Access::Read, views::articles),
    route("GET", "/api/v1/articles/{id}", Access::Read, views::article),
    route("GET", "/api/v1/costs", Access::Read, views::costs),
    route("GET", "/api/v1/caps", Access::Read, views::caps),
    route("GET", "/api/v1/sources", Access::Read, views::sources),
    route(
        "GET",
        "/api/v1/source-items",
        Access::Read,
        views::source_items,
    ),
    route("GET", "/api/v1/events", Access::Read, views::events),
    route(
        "POST",
        "/api/v1/sites/{site}/run",
        Access::Write,
        actions::run_now,
    ),
    route(
        "POST",
        "/api/v1/sites/{site}/pause",
        Access::Write,
        actions::pause,
    ),
    route(
        "POST",
        "/api/v1/sites/{site}/resume",
        Access::Write,
        actions::resume,
    ),
    route(
        "POST",
        "/api/v1/jobs/{id}/retry",
        Access::Write,
        actions::retry_job,
    ),
    route(
        "POST",
        "/api/v1/jobs/{id}/cancel",
        Access::Write,
        actions::cancel_job,
    ),
    route(
        "POST",
        "/api/v1/articles/{id}/approve",
        Access::Write,
        actions::approve,
    ),
    route(
        "POST",
        "/api/v1/articles/{id}/reject",
        Access::Write,
        actions::reject,
    ),
    route(
        "POST",
        "/api/v1/articles/{id}/publish",
        Access::Write,
        actions::publish,
    ),
    route("PUT", "/api/v1/caps", Access::Write, actions::set_caps),
    route(
        "GET",
        "/api/v1/backups",
        Access::Read,
        actions::list_backups,
    ),
    route(
        "POST",
        "/api/v1/backups/{id}/restore",
        Access::Write,
        operations::restore_backup,
    ),
    route(
        "POST",
        "/api/v1/db/copy",
        Access::Write,
        operations::copy_database,
    ),
    route("GET", "/api/v1/operations", Access::Read, operations::list),
    route(
        "GET",
        "/api/v1/operations/{id}",
        Access::Read,
        operations::show,
    ),
];

fn match_pattern(pattern: &str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    let (mut p, mut s) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), s.next()) {
            (None, None) => return Some(params),
            (Some(pat), Some(seg)) => {
                if let Some(name) = pat.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                    if seg.is_empty() {
                        return None;
                    }
                    params.push((static_name(name), percent_decode(seg)?));
                } else if pat != seg {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

fn static_name(name: &str) -> &'static str {
    match name {
        "site" => "site",
        "id" => "id",
        "file" => "file",
        _ => "param",
    }
}

/// Decodes %XX escapes (and '+' in query strings); `None` if invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                let v = u8::from_str_radix(hex, 16).ok()?;
                out.push(v);
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The query string's pairs; a pair that is not percent-encoded UTF-8 is
/// refused (ignoring it would answer a different question, e.g. every site
/// for `?site=%ff`).
fn parse_query(q: &str) -> Result<Vec<(String, String)>, ApiError> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| {
                percent_decode(&s.replace('+', " ")).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "the query parameter \"{}\" is not valid percent-encoded UTF-8; encode it like ?site=my%20blog",
                        p.chars().take(64).collect::<String>()
                    ))
                })
            };
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// Answers one request relayed by the front. A panic in routing or in the
/// handler is fenced here: the client gets 500, the log the message, and
/// this thread goes on to the next request.
pub fn handle(state: &WebState, mut rq: tiny_http::Request) {
    // The front confirming a connection it opened (`upstream::Pool`): the
    // only request without the peer header, which the front adds to every
    // request it relays.
    if rq.url() == "*" && !rq.headers().iter().any(|h| h.field.equiv(PEER_HEADER)) {
        let _ = rq.respond(tiny_http::Response::empty(204));
        return;
    }
    let started = Instant::now();
    let method = rq.method().as_str().to_string();
    let url = rq.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let mut label = "unmatched";
    let answered = crate::fence::catch(|| match find_route(&method, path) {
        Err(e) => e.into(),
        Ok((r, params)) => {
            label = r.pattern;
            let mut body = Vec::new();
            let limit = state.config.http.max_body;
            match rq.as_reader().take(limit + 1).read_to_end(&mut body) {
                Err(e) => ApiError::bad_request(format!("cannot read the body: {e}")).into(),
                Ok(_) if body.len() as u64 > limit => ApiError::new(
                    413,
                    "body_too_large",
                    format!("the body is larger than {limit} bytes"),
                )
                .into(),
                Ok(_) => {
                    crate::fence::inject::point("http", path);
                    dispatch(state, r, params, query, body, rq.headers(), &method)
                }
            }
        }
    });
    let reply: Reply = answered.unwrap_or_else(|panicked| {
        let unit = format!("HTTP request {} {label}", metrics::method_label(&method));
        crate::fence::report(None, &unit, &panicked);
        ApiError::internal("the server failed while answering (a bug; the log has the details)")
            .into()
    });
    state
        .metrics
        .observe_http(label, &method, reply.status, started.elapsed());
    if let Err(e) = rq.respond(reply.into_response()) {
        tracing::debug!(error = %e, "could not send an HTTP answer");
    }
}

fn find_route(method: &str, path: &str) -> Result<(&'static Route, Params), ApiError> {
    let mut path_matched = false;
    for r in ROUTES {
        if let Some(params) = match_pattern(r.pattern, path) {
            if r.method == method || (method == "HEAD" && r.method == "GET") {
                return Ok((r, params));
            }
            path_matched = true;
        }
    }
    if path_matched {
        Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        ))
    } else {
        Err(ApiError::not_found(format!(
            "no route {path} (see docs/api.md)"
        )))
    }
}

fn dispatch(
    state: &WebState,
    r: &'static Route,
    params: Vec<(&'static str, String)>,
    query: &str,
    body: Vec<u8>,
    headers: &[tiny_http::Header],
    method: &str,
) -> Reply {
    let authz = headers
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string());
    let presented = authz.as_deref().and_then(auth::bearer);
    let needs_token = r.access == Access::Write
        || (r.access == Access::Read && (presented.is_some() || !state.config.http.public_status));
    let token = if needs_token && let Some(p) = presented {
        match state.store.active_api_tokens() {
            Ok(active) => auth::find_token(p, &active).cloned(),
            Err(e) => return ApiError::from(e).into(),
        }
    } else {
        None
    };
    if let Err(denied) = auth::authorize(
        r.access,
        state.config.http.public_status,
        authz.is_some(),
        token.as_ref(),
    ) {
        let why = match denied {
            Denied::Forbidden => AuthRefusal::Forbidden,
            Denied::Unauthenticated(_) if authz.is_some() => AuthRefusal::Unknown,
            Denied::Unauthenticated(_) => AuthRefusal::Missing,
        };
        state.metrics.observe_auth_refusal(r.pattern, why);
        let peer = headers
            .iter()
            .find(|h| h.field.equiv(PEER_HEADER))
            .map_or("unknown", |h| h.value.as_str());
        state.refusals.refused(r.pattern, method, why, peer);
        return match denied {
            Denied::Unauthenticated(msg) => Reply::from(ApiError::new(401, "unauthorized", msg))
                .with_header("WWW-Authenticate", "Bearer realm=\"blog-poster\""),
            Denied::Forbidden => ApiError::new(
                403,
                "forbidden",
                "this token is a viewer token; changes need an admin token",
            )
            .into(),
        };
    }
    if let Some(t) = &token {
        touch(state, t.id);
    }
    let query = match parse_query(query) {
        Ok(q) => q,
        Err(e) => return e.into(),
    };
    let ctx = Ctx {
        state,
        params,
        query,
        body,
        actor: token.map_or_else(|| "public".to_string(), |t| t.name),
    };
    let result = (r.handler)(&ctx);
    if r.access == Access::Write {
        audit(&ctx, r, &result);
        state.invalidate_status();
    }
    result.unwrap_or_else(Reply::from)
}

/// Writes last_used_at at most once a minute per token.
fn touch(state: &WebState, id: i64) {
    let due = {
        let mut touched = state.touched.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match touched.get(&id) {
            Some(at) if now.duration_since(*at) < std::time::Duration::from_secs(60) => false,
            _ => {
                touched.insert(id, now);
                true
            }
        }
    };
    if due && let Err(e) = state.store.touch_api_token(id, state.clock.now()) {
        tracing::debug!(error = %e, "could not record a token's last use");
    }
}

/// Every write leaves an event naming the token, whatever its outcome.
fn audit(ctx: &Ctx<'_>, r: &Route, result: &Result<Reply, ApiError>) {
    let path = ctx
        .params
        .iter()
        .fold(r.pattern.to_string(), |p, (name, v)| {
            p.replace(&format!("{{{name}}}"), v)
        });
    let outcome = match result {
        Ok(reply) => format!("{}", reply.status),
        Err(e) => format!("{} {}: {}", e.status, e.code, e.message),
    };
    let site = ctx
        .params
        .iter()
        .find(|(n, _)| *n == "site")
        .map(|(_, v)| v.clone())
        .filter(|s| ctx.state.config.site(s).is_some());
    let event = NewEvent {
        site,
        run_id: None,
        job_id: None,
        kind: "api.write".into(),
        actor: ctx.actor.clone(),
        message: format!("{} {path} → {outcome}", r.method),
    };
    if let Err(e) = ctx.state.store.record_event(&event, ctx.state.clock.now()) {
        tracing::warn!(error = %e, "could not record the audit event of an API write");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_segments_and_decode_them() {
        assert_eq!(
            match_pattern("/api/v1/sites/{site}/run", "/api/v1/sites/my%20blog/run"),
            Some(vec![("site", "my blog".to_string())])
        );
        assert!(match_pattern("/api/v1/sites/{site}/run", "/api/v1/sites//run").is_none());
        assert!(match_pattern("/api/v1/status", "/api/v1/status/x").is_none());
        assert_eq!(match_pattern("/", "/"), Some(vec![]));
    }

    #[test]
    fn unknown_paths_and_methods_get_404_and_405() {
        assert_eq!(
            find_route("GET", "/nope").err().map(|e| e.status),
            Some(404)
        );
        assert_eq!(
            find_route("DELETE", "/api/v1/caps").err().map(|e| e.status),
            Some(405)
        );
        assert!(find_route("HEAD", "/healthz").is_ok());
    }

    #[test]
    fn queries_decode() {
        assert_eq!(
            parse_query("site=a+b&limit=5&x"),
            Ok(vec![
                ("site".into(), "a b".into()),
                ("limit".into(), "5".into()),
                ("x".into(), String::new())
            ])
        );
        for bad in ["site=%ff", "site=%zz", "%ff=1", "a=1&site=%e2%82"] {
            assert_eq!(parse_query(bad).map_err(|e| e.status), Err(400), "{bad}");
        }
        assert_eq!(percent_decode("%3Cimg%3E"), Some("<img>".into()));
        assert_eq!(percent_decode("%zz"), None);
    }
}

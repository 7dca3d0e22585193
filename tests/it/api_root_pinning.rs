//! The WordPress API root is pinned to the configured site's origin and
//! scheme (issue 11, deliverable 4): the home page's `Link` header naming a
//! root on another host, port or scheme is refused with a typed error, as
//! is a redirect of an authenticated request to another origin — and the
//! other origin never sees a request, let alone the application password.
//! `doctor` reports the refusal as a FAIL with the fix.
//!
//! Stand-ins, not the real WordPress: the real one only names its own root,
//! and the point is a site (or a proxy, or a plugin) that names another.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use blog_poster::config::{self, Environment};
use blog_poster::wordpress::{WpClient, WpError};

use crate::fake_http::{Respond, Seen, http_server};
use crate::harness::{command, run, write_config};

const PASSWORD: &str = "Pn4q Rt7w Kx2m Lz8v Hb5c Jd3s";

/// What the fake site does with requests past the home page.
#[derive(Clone, Copy)]
enum Twist {
    /// The Link header names this root instead of the site's own.
    LinkTo(&'static str),
    /// Discovery works; the authenticated request is redirected (307).
    RedirectTo,
}

/// A WordPress-like site; `elsewhere` is the other origin it points to.
fn site(twist: Twist, elsewhere: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let own: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
    let cell = own.clone();
    let respond: Arc<Respond> = Arc::new(move |_, req| {
        let me = cell.lock().expect("lock").expect("address set");
        let first = req.head.lines().next().unwrap_or_default().to_string();
        if first.starts_with("GET / ") {
            let root = match twist {
                Twist::LinkTo(template) => template
                    .replace("{self}", &me.to_string())
                    .replace("{elsewhere}", &elsewhere.to_string()),
                Twist::RedirectTo => format!("http://{me}/wp-json/"),
            };
            return (
                200,
                "text/html",
                vec![(
                    "Link".into(),
                    format!("<{root}>; rel=\"https://api.w.org/\""),
                )],
                "<html>blog</html>".into(),
            );
        }
        if first.starts_with("GET /wp-json/ ") {
            return (
                200,
                "application/json",
                vec![],
                r#"{"name":"Pinned","namespaces":["wp/v2"],"authentication":{"application-passwords":{}}}"#
                    .into(),
            );
        }
        (
            307,
            "text/plain",
            vec![(
                "Location".into(),
                format!("http://{elsewhere}/wp-json/wp/v2/users/me"),
            )],
            "moved".into(),
        )
    });
    let (addr, seen) = http_server(respond);
    *own.lock().expect("lock") = Some(addr);
    (addr, seen)
}

/// Another origin that must never be asked anything.
fn elsewhere() -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    http_server(Arc::new(|_, _| {
        (
            200,
            "application/json",
            vec![],
            r#"{"name":"Elsewhere","namespaces":["wp/v2"]}"#.into(),
        )
    }))
}

fn config_text(dir: &std::path::Path, url: &str) -> String {
    format!(
        "data_dir = \"{}\"\n[sites.blog]\npublisher = \"wordpress\"\n[sites.blog.wordpress]\n\
         url = \"{url}\"\nusername = \"editor\"\napp_password_env = \"PIN_WP_PW\"\nrequest_timeout = \"5s\"\n",
        dir.join("data").display()
    )
}

fn client(dir: &std::path::Path, url: &str) -> WpClient {
    let env = Environment::from_pairs([
        ("PIN_WP_PW", PASSWORD),
        ("HOME", dir.to_str().expect("utf8")),
    ]);
    let c = config::parse(&config_text(dir, url), None, &env).unwrap_or_else(|e| panic!("{e}"));
    WpClient::new("blog", crate::wp_env::wordpress_config(&c, "blog")).expect("client")
}

#[tokio::test]
async fn api_root_pinning_a_link_header_naming_another_origin_or_scheme_is_refused() {
    let (other, other_seen) = elsewhere();
    for (template, what) in [
        ("http://{elsewhere}/wp-json/", "another host and port"),
        ("https://{self}/wp-json/", "another scheme"),
        ("//{elsewhere}/wp-json/", "a scheme-relative root elsewhere"),
    ] {
        let (wp, seen) = site(Twist::LinkTo(template), other);
        let dir = tempfile::tempdir().expect("tempdir");
        let c = client(dir.path(), &format!("http://{wp}/"));
        let err = c.me().await.expect_err(what);
        let WpError::ForeignOrigin {
            ref origin,
            ref target_origin,
            ..
        } = err
        else {
            panic!("{what}: a ForeignOrigin error, got {err:?}");
        };
        assert_eq!(origin, &format!("http://{wp}"), "{what}");
        assert_ne!(target_origin, origin, "{what}");
        assert!(!err.is_retryable(), "{what}: retrying cannot help");
        let text = err.to_string();
        assert!(text.contains("its Link header"), "{what}: {text}");
        assert!(
            text.contains(&format!(
                "set url = \"{target_origin}/\" in [sites.blog.wordpress]"
            )),
            "{what}: the fix names the key: {text}"
        );
        // Only the home page was asked; no authenticated request went anywhere.
        let asked = seen.lock().expect("lock").clone();
        assert_eq!(asked.len(), 1, "{what}: {asked:?}");
        assert!(asked[0].head.starts_with("GET / "), "{what}");
        assert!(
            !asked[0].head.to_ascii_lowercase().contains("authorization"),
            "{what}: discovery is anonymous"
        );
    }
    assert!(
        other_seen.lock().expect("lock").is_empty(),
        "the other origin was never contacted"
    );
}

#[tokio::test]
async fn api_root_pinning_an_authenticated_request_is_not_redirected_to_another_origin() {
    let (other, other_seen) = elsewhere();
    let (wp, seen) = site(Twist::RedirectTo, other);
    let dir = tempfile::tempdir().expect("tempdir");
    let c = client(dir.path(), &format!("http://{wp}/"));
    let err = c.me().await.expect_err("redirected elsewhere");
    assert!(
        matches!(
            err,
            WpError::ForeignOrigin {
                how: "a redirect",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    // The authenticated request did reach the site itself (with the password:
    // that is the configured origin), and nothing reached the other one.
    let asked = seen.lock().expect("lock").clone();
    assert!(
        asked
            .iter()
            .any(|r| r.head.contains("/wp-json/wp/v2/users/me")
                && r.head.to_ascii_lowercase().contains("authorization: basic")),
        "{asked:?}"
    );
    assert!(other_seen.lock().expect("lock").is_empty());
}

#[test]
fn api_root_pinning_doctor_fails_discovery_with_the_fix() {
    let (other, other_seen) = elsewhere();
    let (wp, _) = site(Twist::LinkTo("http://{elsewhere}/wp-json/"), other);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config_text(dir.path(), &format!("http://{wp}/")),
    );
    let (code, out, err) = run(command(dir.path())
        .env("PIN_WP_PW", PASSWORD)
        .arg("--config")
        .arg(&cfg)
        .args(["doctor", "--site", "blog"]));
    assert_ne!(code, 0, "doctor fails: {out}{err}");
    let line = out
        .lines()
        .find(|l| l.contains("discovery"))
        .unwrap_or_else(|| panic!("a discovery line: {out}{err}"));
    assert!(line.trim_start().starts_with("FAIL"), "{out}");
    assert!(line.contains(&format!("http://{other}/wp-json/")), "{out}");
    assert!(
        out.contains(&format!(
            "fix: if http://{other} is the site's real address, set url = \"http://{other}/\" in [sites.blog.wordpress]"
        )),
        "{out}"
    );
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD));
    assert!(other_seen.lock().expect("lock").is_empty());
}

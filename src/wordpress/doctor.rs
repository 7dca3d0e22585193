//! `blog-poster doctor`: checks a site's publishing end to end — TLS,
//! discovery, the REST API, authentication, the capabilities publishing
//! needs, clock skew, SEO fields — one line per check, with the exact fix
//! for each failure. Read-only: it creates nothing on the site.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::{Me, WpClient, WpError, seo_plan};
use crate::config::{PostStatus, SeoPreference, WordpressConfig};
use crate::store::NewArticle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Ok,
    /// Works, but something will fail or is unsafe in some cases.
    Warn,
    Fail,
    /// Not run: an earlier check failed.
    Skip,
}

impl CheckStatus {
    fn label(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Skip => "skip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: CheckStatus,
    pub detail: String,
    pub fix: Option<String>,
}

/// All checks of one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub site: String,
    /// What was checked, for the heading.
    pub target: String,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failures(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .count()
    }

    /// One line per check; the fix indented under a failure or warning.
    pub fn render(&self) -> String {
        let mut out = format!("site {}: {}\n", self.site, self.target);
        for c in &self.checks {
            out.push_str(&format!(
                "  {:<5} {:<13} {}\n",
                c.status.label(),
                c.name,
                c.detail
            ));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("        fix: {fix}\n"));
            }
        }
        out
    }
}

fn check(name: &'static str, status: CheckStatus, detail: impl Into<String>) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
        fix: None,
    }
}

/// A failed check from an error whose message ends in "Fix: …".
fn failed(name: &'static str, status: CheckStatus, e: &WpError) -> Check {
    let text = e.to_string();
    let (detail, fix) = match text.split_once(". Fix: ") {
        Some((d, f)) => (d.to_string(), Some(f.to_string())),
        None => (text, None),
    };
    Check {
        name,
        status,
        detail,
        fix,
    }
}

fn skipped(name: &'static str, why: &str) -> Check {
    check(name, CheckStatus::Skip, format!("not checked: {why}"))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Runs every check against the WordPress site `site`.
pub async fn check_wordpress(site: &str, cfg: &WordpressConfig) -> Report {
    let target = format!(
        "WordPress {} as \"{}\" (new posts: {})",
        cfg.url,
        cfg.username,
        cfg.post_status.as_str()
    );
    let mut checks = Vec::new();
    let client = match WpClient::new(site, cfg) {
        Ok(c) => c,
        Err(e) => {
            checks.push(failed("client", CheckStatus::Fail, &e));
            return Report {
                site: site.into(),
                target,
                checks,
            };
        }
    };
    let discovery = client.discovery().await;
    checks.push(tls_check(cfg, discovery.as_ref().err()));
    let discovery = match discovery {
        Ok(d) => d,
        Err(e) => {
            if !matches!(e, WpError::Tls { .. }) {
                checks.push(failed("discovery", CheckStatus::Fail, &e));
            }
            for name in [
                "auth",
                "create-posts",
                "upload-media",
                "create-terms",
                "clock",
                "seo",
            ] {
                checks.push(skipped(name, "the REST API was not found"));
            }
            return Report {
                site: site.into(),
                target,
                checks,
            };
        }
    };
    checks.push(check(
        "discovery",
        CheckStatus::Ok,
        format!(
            "REST API at {} ({}, {})",
            discovery.root.as_url(),
            if discovery.root.pretty_permalinks() {
                "pretty permalinks"
            } else {
                "plain permalinks: ?rest_route="
            },
            if discovery.from_link_header {
                "from the Link header"
            } else {
                "found by trying; the home page sends no Link header"
            }
        ),
    ));
    checks.push(if discovery.index.application_passwords() {
        check(
            "rest-api",
            CheckStatus::Ok,
            format!(
                "\"{}\" serves wp/v2 and offers application passwords",
                super::decode_entities(&discovery.index.name)
            ),
        )
    } else {
        Check {
            name: "rest-api",
            status: CheckStatus::Warn,
            detail: "the site does not advertise application passwords".into(),
            fix: Some(
                "use WordPress 5.6 or newer over https (or with WP_ENVIRONMENT_TYPE = local), and make sure no \
                 plugin disables application passwords"
                    .into(),
            ),
        }
    });
    match client.me().await {
        Ok(me) => {
            checks.push(check(
                "auth",
                CheckStatus::Ok,
                format!(
                    "logged in as \"{}\" (user {}, {})",
                    me.name,
                    me.id,
                    if me.roles.is_empty() {
                        "no role".to_string()
                    } else {
                        me.roles.join(", ")
                    }
                ),
            ));
            checks.extend(capability_checks(&me, cfg));
        }
        Err(e) => {
            checks.push(failed("auth", CheckStatus::Fail, &e));
            for name in ["create-posts", "upload-media", "create-terms"] {
                checks.push(skipped(name, "needs a working login"));
            }
        }
    }
    checks.push(clock_check(discovery.server_date, discovery.local_date));
    checks.push(match client.seo_support().await {
        Ok(support) => {
            let plan = seo_plan(cfg.seo_plugin, support, &NewArticle::default());
            match (plan.plugin, plan.note) {
                (Some(plugin), _) => check(
                    "seo",
                    CheckStatus::Ok,
                    format!("{plugin} fields are exposed and will be filled"),
                ),
                (None, None) => check(
                    "seo",
                    CheckStatus::Ok,
                    "SEO fields are switched off (seo_plugin = \"none\")",
                ),
                (None, Some(note)) => {
                    let (detail, fix) = match note.split_once("; ") {
                        Some((d, f)) => (d.to_string(), Some(f.to_string())),
                        None => (note, None),
                    };
                    Check {
                        name: "seo",
                        status: if cfg.seo_plugin == SeoPreference::Auto {
                            CheckStatus::Ok
                        } else {
                            CheckStatus::Warn
                        },
                        detail,
                        fix,
                    }
                }
            }
        }
        Err(e) => failed("seo", CheckStatus::Warn, &e),
    });
    Report {
        site: site.into(),
        target,
        checks,
    }
}

fn tls_check(cfg: &WordpressConfig, error: Option<&WpError>) -> Check {
    let host = cfg.url.host_str().unwrap_or("").to_string();
    match (cfg.url.scheme(), error) {
        (_, Some(e @ WpError::Tls { .. })) => failed("tls", CheckStatus::Fail, e),
        ("https", Some(_)) => skipped("tls", "the site did not answer"),
        ("https", None) => check(
            "tls",
            CheckStatus::Ok,
            format!("certificate valid for {host}"),
        ),
        _ if is_loopback(&cfg.url) => check(
            "tls",
            CheckStatus::Ok,
            "plain http on loopback: nothing crosses the network",
        ),
        _ => Check {
            name: "tls",
            status: CheckStatus::Warn,
            detail: format!("plain http to {host}: the application password crosses the network unencrypted"),
            fix: Some("use an https:// url (WordPress refuses application passwords over http on production sites anyway)".into()),
        },
    }
}

fn capability_checks(me: &Me, cfg: &WordpressConfig) -> Vec<Check> {
    let needs_publish = matches!(cfg.post_status, PostStatus::Publish | PostStatus::Future);
    let posts = if !me.can("edit_posts") {
        Check {
            name: "create-posts",
            status: CheckStatus::Fail,
            detail: format!("\"{}\" may not write posts (no edit_posts)", me.name),
            fix: Some("give the user the Author or Editor role".into()),
        }
    } else if needs_publish && !me.can("publish_posts") {
        Check {
            name: "create-posts",
            status: CheckStatus::Fail,
            detail: format!(
                "\"{}\" may write but not publish posts (no publish_posts; a Contributor), and post_status is \"{}\"",
                me.name,
                cfg.post_status.as_str()
            ),
            fix: Some(
                "give the user the Author or Editor role, or set post_status = \"pending\" (or \"draft\")".into(),
            ),
        }
    } else {
        check(
            "create-posts",
            CheckStatus::Ok,
            if needs_publish {
                "may create and publish posts (edit_posts, publish_posts)"
            } else {
                "may create posts (edit_posts)"
            },
        )
    };
    let media = if me.can("upload_files") {
        check(
            "upload-media",
            CheckStatus::Ok,
            "may upload featured images (upload_files)",
        )
    } else {
        Check {
            name: "upload-media",
            status: CheckStatus::Warn,
            detail:
                "may not upload media (no upload_files): articles with a featured image will fail"
                    .into(),
            fix: Some("give the user the Author or Editor role".into()),
        }
    };
    let terms = if me.can("manage_categories") {
        check(
            "create-terms",
            CheckStatus::Ok,
            "may create missing categories and tags (manage_categories)",
        )
    } else {
        Check {
            name: "create-terms",
            status: CheckStatus::Warn,
            detail: "may not create categories or tags (no manage_categories): articles naming a missing one will fail".into(),
            fix: Some("give the user the Editor role, or create the categories and tags in WordPress first".into()),
        }
    };
    vec![posts, media, terms]
}

/// Our clock against the server's `Date` header (second resolution).
pub fn clock_check(server: Option<DateTime<Utc>>, local: DateTime<Utc>) -> Check {
    let Some(server) = server else {
        return check(
            "clock",
            CheckStatus::Warn,
            "the server sent no Date header; skew unknown",
        );
    };
    let skew = (local - server).num_seconds();
    let detail = format!(
        "skew {skew:+} s (this machine {} vs the server {})",
        local.format("%H:%M:%S"),
        server.format("%H:%M:%S UTC")
    );
    let fix = Some(
        "synchronise the clocks with NTP (`timedatectl set-ntp true` on this machine; the hosting panel or \
         chrony on the server): scheduled posts and application-password checks depend on them"
            .to_string(),
    );
    match skew.unsigned_abs() {
        0..=60 => check("clock", CheckStatus::Ok, detail),
        61..=300 => Check {
            name: "clock",
            status: CheckStatus::Warn,
            detail,
            fix,
        },
        _ => Check {
            name: "clock",
            status: CheckStatus::Fail,
            detail,
            fix,
        },
    }
}

/// The outbox publisher: the folder must be writable.
pub fn check_outbox(site: &str, dir: &Path) -> Report {
    let target = format!("outbox {}", dir.display());
    let probe = dir.join(".doctor-probe");
    let result = crate::private_files::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b"ok"))
        .and_then(|()| std::fs::remove_file(&probe));
    let c = match result {
        Ok(()) => check(
            "outbox",
            CheckStatus::Ok,
            format!("{} is writable", dir.display()),
        ),
        Err(e) => Check {
            name: "outbox",
            status: CheckStatus::Fail,
            detail: format!("cannot write to {}: {e}", dir.display()),
            fix: Some(
                "create the folder and let the service user write to it, or set [outbox] dir"
                    .into(),
            ),
        },
    };
    Report {
        site: site.into(),
        target,
        checks: vec![c],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn clock_skew_thresholds() {
        let server = Utc
            .with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
            .single()
            .expect("time");
        let at = |s: i64| server + chrono::Duration::seconds(s);
        assert_eq!(clock_check(Some(server), at(30)).status, CheckStatus::Ok);
        assert_eq!(
            clock_check(Some(server), at(-200)).status,
            CheckStatus::Warn
        );
        let far = clock_check(Some(server), at(900));
        assert_eq!(far.status, CheckStatus::Fail);
        assert!(far.detail.contains("skew +900 s"), "{}", far.detail);
        assert!(far.fix.expect("fix").contains("timedatectl"));
    }

    #[test]
    fn outbox_check_reports_an_unwritable_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").expect("write");
        let ok = check_outbox("a", dir.path());
        assert_eq!(ok.failures(), 0);
        let bad = check_outbox("a", &file.join("sub"));
        assert_eq!(bad.failures(), 1);
        assert!(bad.render().contains("FAIL  outbox"), "{}", bad.render());
    }
}

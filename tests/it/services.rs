//! The outside services some tests need — PostgreSQL, WordPress, tmux,
//! systemd-analyze and the S3 stand-in — and the one rule for them: a test
//! that needs a service calls [`require`] first, and a service that is not
//! there FAILS the test with what to do about it. Nothing skips and passes.
//!
//! The only way to leave such tests out is explicit, for a developer's
//! machine: `BLOG_POSTER_TEST_SKIP=postgres,wordpress,tmux,systemd-analyze,s3`
//! (any subset). scripts/test.sh then filters those tests out by name and
//! prints the opt-out in its summary. Under CI (`CI=true`) the opt-out is an
//! error. The naming rule that makes the filter work: every test needing a
//! service has the service's name token ([`Service::name_token`]) in its
//! full name (module path included); [`require`] checks it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The variable that opts out of services (comma-separated tokens).
pub const SKIP_VAR: &str = "BLOG_POSTER_TEST_SKIP";
/// The PostgreSQL test database; scripts/test.sh creates a fresh one per run.
pub const POSTGRES_URL_VAR: &str = "BLOG_POSTER_TEST_POSTGRES_URL";
/// Where PostgreSQL is when [`POSTGRES_URL_VAR`] is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Postgres,
    Wordpress,
    Tmux,
    SystemdAnalyze,
    S3,
}

impl Service {
    pub const ALL: [Service; 5] = [
        Service::Postgres,
        Service::Wordpress,
        Service::Tmux,
        Service::SystemdAnalyze,
        Service::S3,
    ];

    /// The token of [`SKIP_VAR`].
    pub fn token(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::Wordpress => "wordpress",
            Service::Tmux => "tmux",
            Service::SystemdAnalyze => "systemd-analyze",
            Service::S3 => "s3",
        }
    }

    /// What the names of the tests needing this service contain (a Rust
    /// identifier cannot hold `-`); scripts/test.sh filters on it.
    pub fn name_token(self) -> &'static str {
        match self {
            Service::SystemdAnalyze => "systemd_analyze",
            other => other.token(),
        }
    }

    fn how_to_provide(self) -> &'static str {
        match self {
            Service::Postgres => {
                "start PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres \
                 (scripts/test.sh starts it and creates a fresh database), or point \
                 BLOG_POSTER_TEST_POSTGRES_URL at a reachable server"
            }
            Service::Wordpress => {
                "run the tests through scripts/test.sh (it starts the two sites with \
                 ../shared/wordpress/wp.sh), or export the WP_*/WP2_* variables wp.sh prints"
            }
            Service::Tmux => "install the Debian package tmux (scripts/test.sh does)",
            Service::SystemdAnalyze => "install the Debian package systemd (scripts/test.sh does)",
            Service::S3 => {
                "install python3 with moto: `pip install 'moto[server]'` (scripts/test.sh does)"
            }
        }
    }
}

/// Whether the environment says CI (`CI=true`, as .ci/run and CI services set).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The services [`SKIP_VAR`] opts out of. An unknown token is an error, so
/// a typo cannot quietly opt out of nothing (or of the wrong thing).
pub fn opted_out() -> Result<Vec<Service>, String> {
    let raw = std::env::var(SKIP_VAR).unwrap_or_default();
    parse_skip(&raw)
}

fn parse_skip(raw: &str) -> Result<Vec<Service>, String> {
    let mut out = Vec::new();
    for token in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let s = Service::ALL
            .into_iter()
            .find(|s| s.token() == token)
            .ok_or_else(|| {
                let known: Vec<_> = Service::ALL.iter().map(|s| s.token()).collect();
                format!(
                    "{SKIP_VAR}: unknown service {token:?}; the services are {}",
                    known.join(", ")
                )
            })?;
        out.push(s);
    }
    Ok(out)
}

/// Makes sure `service` is there for the calling test, or fails the test
/// with a message naming the service, what was tried and the fix. Returns
/// where the service is: PostgreSQL's URL, the path of the tmux or
/// systemd-analyze executable, the python3 that runs the S3 stand-in, or
/// ("wordpress") a marker for WordPress, whose sites wp_env starts.
pub fn require(service: Service) -> String {
    check_name(service);
    let skipped = opted_out().unwrap_or_else(|e| panic!("{e}"));
    if skipped.contains(&service) {
        if under_ci() {
            panic!(
                "{SKIP_VAR} opts out of {}, which is not allowed under CI (CI=true): \
                 CI must provide every service; {}",
                service.token(),
                service.how_to_provide()
            );
        }
        panic!(
            "this test needs {tok}, which {SKIP_VAR} opts out of, yet it ran: \
             run the suite through scripts/test.sh (it leaves out every test whose name \
             contains `{name}`), or filter it yourself: cargo nextest run -E 'not test(/{name}/)'",
            tok = service.token(),
            name = service.name_token(),
        );
    }
    static CHECKED: [OnceLock<Result<String, String>>; 5] = [const { OnceLock::new() }; 5];
    let slot = &CHECKED[Service::ALL
        .iter()
        .position(|s| *s == service)
        .expect("every service is in ALL")];
    match slot.get_or_init(|| probe(service)) {
        Ok(found) => found.clone(),
        Err(why) => panic!(
            "{} is required by this test but not available: {why}\nFix: {}; or opt out on a \
             developer machine with {SKIP_VAR}={} (scripts/test.sh then leaves these tests out \
             and says so; not allowed under CI)",
            service.token(),
            service.how_to_provide(),
            service.token()
        ),
    }
}

/// The naming rule, checked where it can be: libtest runs each test on a
/// thread named after the test's full path.
fn check_name(service: Service) {
    let current = std::thread::current();
    let Some(name) = current.name() else { return };
    if name.contains("::") && !name.contains(service.name_token()) {
        panic!(
            "test {name} needs {} but its name lacks `{}`: rename it (or its module) so that \
             scripts/test.sh can leave it out when {SKIP_VAR} opts out of the service",
            service.token(),
            service.name_token()
        );
    }
}

fn probe(service: Service) -> Result<String, String> {
    match service {
        Service::Postgres => probe_postgres(),
        Service::Wordpress => probe_wordpress(),
        Service::Tmux => {
            let tmux = executable("tmux")?;
            run_ok(&tmux, &["-V"])?;
            Ok(path_string(&tmux))
        }
        Service::SystemdAnalyze => {
            let sa = executable("systemd-analyze")?;
            run_ok(&sa, &["--version"])?;
            Ok(path_string(&sa))
        }
        Service::S3 => {
            let py = executable("python3")?;
            run_ok(&py, &["-c", "import moto.server, flask"])
                .map_err(|e| format!("python3 cannot import moto's server: {e}"))?;
            Ok(path_string(&py))
        }
    }
}

/// The PostgreSQL URL the tests use: [`POSTGRES_URL_VAR`] or the default.
pub fn postgres_url() -> String {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => DEFAULT_POSTGRES_URL.to_string(),
    }
}

fn probe_postgres() -> Result<String, String> {
    let url = postgres_url();
    let from = if std::env::var(POSTGRES_URL_VAR).is_ok_and(|u| !u.trim().is_empty()) {
        POSTGRES_URL_VAR
    } else {
        "the default (BLOG_POSTER_TEST_POSTGRES_URL is unset)"
    };
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e| format!("{url} (from {from}) is not a PostgreSQL URL: {e}"))?;
    config.connect_timeout(Duration::from_secs(10));
    let mut client = config
        .connect(postgres::NoTls)
        .map_err(|e| format!("cannot connect to {url} (from {from}): {e}"))?;
    client
        .simple_query("SELECT 1")
        .map_err(|e| format!("{url} (from {from}) does not answer a query: {e}"))?;
    Ok(url)
}

fn probe_wordpress() -> Result<String, String> {
    if std::env::var("WP_URL").is_ok_and(|v| !v.is_empty()) {
        return Ok("wordpress".into());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/wordpress/wp.sh");
    if script.exists() {
        Ok("wordpress".into())
    } else {
        Err(format!(
            "WP_URL is not set and {} (which starts the test sites) is missing",
            script.display()
        ))
    }
}

/// `name` on PATH, or why not.
pub fn executable(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|p| p.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("`{name}` is not on PATH"))
}

fn run_ok(exe: &Path, args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new(exe)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{} {}` failed ({}): {}",
            exe.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn path_string(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn services_skip_list_names_known_services_and_refuses_typos() {
    assert_eq!(parse_skip(""), Ok(vec![]));
    assert_eq!(
        parse_skip("postgres, systemd-analyze,s3"),
        Ok(vec![
            Service::Postgres,
            Service::SystemdAnalyze,
            Service::S3
        ])
    );
    let e = parse_skip("postgres,postgresql").expect_err("typo");
    assert!(
        e.contains("\"postgresql\"") && e.contains("systemd-analyze"),
        "{e}"
    );
    // Every name token is a plain identifier fragment, so test names can
    // carry it, and no token hides inside another.
    for s in Service::ALL {
        let t = s.name_token();
        assert!(
            t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
        for o in Service::ALL.into_iter().filter(|o| *o != s) {
            assert!(!o.name_token().contains(t), "{t} inside {}", o.name_token());
        }
    }
}

//! Panic fences: one bad input costs one unit of work, never the daemon.
//!
//! A *unit* is one source's fetch and parse, one job's stage, one scheduler
//! pass, one backup (and, in `web::front`, one HTTP request). Each runs
//! behind a fence that turns a panic into a [`Panicked`] value carrying the
//! panic message; the unit's owner records it as that unit's failure (the
//! source is marked failed, the job is retried and then dead, the pass or
//! backup is logged and alerted) and everything else goes on. [`report`]
//! is the one place a contained panic is logged and alerted.
//!
//! This holds in the shipped binary because the release profile unwinds
//! (`panic = "unwind"` in Cargo.toml, checked by a test against the
//! strategy tests are built with). The panic hook installed by
//! [`install_panic_hook`] only logs: it never aborts.
//!
//! [`inject`] holds the test hooks that make a unit panic or kill the
//! process on demand; they are compiled into every build and inert unless
//! their environment variable is set.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use crate::alerts::{Alert, Alerts};

/// A unit of work panicked; `message` is the panic's own text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("panicked: {message}")]
pub struct Panicked {
    pub message: String,
}

impl Panicked {
    /// From a payload of `catch_unwind` or `JoinError::into_panic`.
    pub fn from_payload(payload: Box<dyn Any + Send>) -> Self {
        Panicked {
            message: panic_message(payload.as_ref()),
        }
    }
}

/// The text of a panic payload: `panic!("…")` carries a `&str` or a
/// `String`; anything else (`panic_any`) has no text to show.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// What a failed tokio task means: `Ok(panic)` if it panicked, `Err(text)`
/// if it was cancelled (the runtime is shutting down).
pub fn join_error(e: tokio::task::JoinError) -> Result<Panicked, String> {
    if e.is_panic() {
        Ok(Panicked::from_payload(e.into_panic()))
    } else {
        Err(e.to_string())
    }
}

/// Runs `f` behind a fence.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    // AssertUnwindSafe: after a panic the unit's own state is dropped, and
    // the shared state a unit touches (mutexes) is read through
    // `unwrap_or_else(into_inner)` everywhere, so poisoning changes nothing.
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(Panicked::from_payload)
}

/// Runs a future behind a fence: a panic in any poll ends it with
/// `Err(Panicked)`. Dropping it cancels the unit as dropping the future
/// would.
pub fn catch_async<F: Future>(future: F) -> CatchUnwind<F> {
    CatchUnwind {
        inner: Box::pin(future),
    }
}

/// The future of [`catch_async`].
pub struct CatchUnwind<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        // See `catch` for why asserting unwind safety is sound here.
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(Panicked::from_payload(payload))),
        }
    }
}

/// Where contained panics are alerted: the running daemon's alert handle.
static ALERTS: RwLock<Option<Alerts>> = RwLock::new(None);
static CONTAINED: AtomicU64 = AtomicU64::new(0);

/// Sends the alerts of contained panics through `alerts` from now on
/// (`serve` calls this once its alert task runs). Panics are a property of
/// the process, so this is process-wide.
pub fn install_alerts(alerts: Alerts) {
    *ALERTS.write().unwrap_or_else(|p| p.into_inner()) = Some(alerts);
}

/// Panics contained by a fence since the process started.
pub fn contained_panics() -> u64 {
    CONTAINED.load(Ordering::Relaxed)
}

/// Records a contained panic: logs it and raises an [`Alert::Panic`].
/// `unit` names what failed ("source https://… of site blog", "monitor
/// job 12 of site blog", "scheduler pass", "scheduled backup"); the caller
/// records that unit's failure with the message.
pub fn report(site: Option<&str>, unit: &str, panic: &Panicked) {
    CONTAINED.fetch_add(1, Ordering::Relaxed);
    tracing::error!(
        site = site.unwrap_or(""),
        unit,
        panic = %panic.message,
        "a panic was contained: {unit} failed, everything else goes on"
    );
    let alerts = ALERTS.read().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(alerts) = alerts {
        alerts.raise(Alert::Panic {
            site: site.map(str::to_string),
            unit: unit.to_string(),
            message: panic.message.clone(),
        });
    }
}

/// Replaces the default panic hook (which prints to stderr) with one that
/// logs the panic through tracing — message, location, thread, and a
/// backtrace when `RUST_BACKTRACE` asks for one — and returns. It never
/// aborts: the fence around the unit decides what the panic costs.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = panic_message(info.payload());
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            tracing::error!(%location, thread, panic = %message, "panicked\n{backtrace}");
        } else {
            tracing::error!(%location, thread, panic = %message, "panicked");
        }
    }));
}

/// Test hooks, compiled into every build and inert unless set:
///
/// - `BLOG_POSTER_TEST_INJECT_PANIC=POINT:MATCH[,POINT:MATCH…]` panics at
///   that point;
/// - `BLOG_POSTER_TEST_INJECT_KILL=POINT:MATCH[,…]` SIGKILLs the process
///   there (a crash no fence can catch: what the poison-pill guard is for).
///
/// Points: `parse` (MATCH is a substring of the URL of the document being
/// parsed), `stage` (MATCH is a substring of `SITE/STAGE`, e.g.
/// `blog/generate`), `scheduler` (MATCH `pass`), `backup` (MATCH
/// `scheduled`) and `http` (MATCH a substring of the request path, e.g.
/// `/api/v1/costs`: that route's handler panics). They exist so that integration tests can prove the fences
/// of the shipped binary; an operator never sets them.
pub mod inject {
    use std::sync::OnceLock;

    #[derive(Debug, Default, PartialEq, Eq)]
    struct Hooks {
        panic: Vec<(String, String)>,
        kill: Vec<(String, String)>,
    }

    fn parse(value: &str) -> Vec<(String, String)> {
        value
            .split(',')
            .filter_map(|spec| {
                let (point, matching) = spec.trim().split_once(':')?;
                Some((point.to_string(), matching.to_string()))
            })
            .collect()
    }

    fn hooks() -> &'static Hooks {
        static HOOKS: OnceLock<Hooks> = OnceLock::new();
        HOOKS.get_or_init(|| {
            let var = |name: &str| std::env::var(name).map(|v| parse(&v)).unwrap_or_default();
            let hooks = Hooks {
                panic: var("BLOG_POSTER_TEST_INJECT_PANIC"),
                kill: var("BLOG_POSTER_TEST_INJECT_KILL"),
            };
            if hooks != Hooks::default() {
                tracing::warn!(
                    ?hooks,
                    "test hooks are set: this process will panic or kill itself on purpose"
                );
            }
            hooks
        })
    }

    fn hit(list: &[(String, String)], point: &str, subject: &str) -> bool {
        list.iter()
            .any(|(p, m)| p == point && subject.contains(m.as_str()))
    }

    /// Panics or kills the process if a test hook names this point and
    /// subject; otherwise does nothing (one lookup in an empty list).
    pub fn point(point: &str, subject: &str) {
        let hooks = hooks();
        if hit(&hooks.kill, point, subject) {
            tracing::warn!(point, subject, "test hook: SIGKILL");
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &std::process::id().to_string()])
                .status();
            // SIGKILL is delivered asynchronously; never carry on meanwhile.
            std::process::abort();
        }
        if hit(&hooks.panic, point, subject) {
            panic!("test hook: injected panic at {point} for {subject}");
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn specs_are_point_and_substring() {
            let list = parse("parse:evil.example, stage:blog/generate,bogus");
            assert_eq!(
                list,
                vec![
                    ("parse".to_string(), "evil.example".to_string()),
                    ("stage".to_string(), "blog/generate".to_string())
                ]
            );
            assert!(hit(&list, "parse", "https://evil.example/feed"));
            assert!(!hit(&list, "parse", "https://good.example/feed"));
            assert!(!hit(&list, "stage", "https://evil.example/feed"));
            assert!(hit(&list, "stage", "blog/generate"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_turns_a_panic_into_its_message() {
        assert_eq!(catch(|| 7), Ok(7));
        let err = catch(|| -> u8 { panic!("bad byte {}", 0xff) }).expect_err("panics");
        assert_eq!(err.message, "bad byte 255");
        let err = catch(|| -> u8 { panic!("static text") }).expect_err("panics");
        assert_eq!(err.to_string(), "panicked: static text");
        let err = catch(|| -> u8 { std::panic::panic_any(42u32) }).expect_err("panics");
        assert_eq!(err.message, "a panic without a message");
    }

    #[test]
    fn report_counts_the_contained_panic() {
        let before = contained_panics();
        report(
            Some("blog"),
            "a unit test",
            &Panicked {
                message: "boom".into(),
            },
        );
        assert!(contained_panics() > before);
    }

    #[tokio::test]
    async fn catch_async_contains_a_panic_in_a_later_poll() {
        let ok = catch_async(async { 1 }).await;
        assert_eq!(ok, Ok(1));
        let err = catch_async(async {
            tokio::task::yield_now().await;
            let v: Vec<u8> = Vec::new();
            v[3]
        })
        .await
        .expect_err("index out of bounds");
        assert!(
            err.message.contains("index out of bounds"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn join_error_tells_a_panic_from_a_cancellation() {
        let panicked = tokio::spawn(async { panic!("in a task") })
            .await
            .expect_err("panics");
        assert_eq!(
            join_error(panicked).map(|p| p.message),
            Ok("in a task".to_string())
        );
        let task = tokio::spawn(std::future::pending::<()>());
        task.abort();
        let cancelled = task.await.expect_err("cancelled");
        assert!(join_error(cancelled).is_err());
    }

    /// The release binary must unwind like the tests do: with `panic =
    /// "abort"` no fence holds and one hostile feed kills the daemon — and
    /// no test could see it, because tests would still unwind.
    #[test]
    fn release_profile_unwinds_like_the_tests() {
        let manifest: toml::Table =
            toml::from_str(include_str!("../Cargo.toml")).expect("Cargo.toml parses");
        let profiles = manifest
            .get("profile")
            .and_then(|p| p.as_table())
            .cloned()
            .unwrap_or_default();
        let strategy = |name: &str| -> String {
            // A profile's panic setting, following `inherits` to the built-in
            // profiles, whose default is "unwind".
            let mut name = name.to_string();
            for _ in 0..8 {
                let table = profiles.get(&name).and_then(|p| p.as_table());
                if let Some(p) = table.and_then(|t| t.get("panic")).and_then(|p| p.as_str()) {
                    return p.to_string();
                }
                match table
                    .and_then(|t| t.get("inherits"))
                    .and_then(|i| i.as_str())
                {
                    Some(parent) => name = parent.to_string(),
                    None if name == "test" => name = "dev".to_string(),
                    None if name == "bench" => name = "release".to_string(),
                    None => return "unwind".to_string(),
                }
            }
            panic!("profile {name}: inherits loops");
        };
        let built_with = if cfg!(panic = "unwind") {
            "unwind"
        } else {
            "abort"
        };
        for profile in ["release", "release-s", "test", "dev", "bench"] {
            assert_eq!(
                strategy(profile),
                built_with,
                "[profile.{profile}] panics with \"{}\" but this test binary was built with \"{built_with}\": \
                 the fences would hold in tests and not in the shipped binary",
                strategy(profile)
            );
        }
        assert_eq!(built_with, "unwind", "fences need unwinding");
    }
}

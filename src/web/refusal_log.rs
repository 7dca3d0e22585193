//! Log lines for refused requests (401/403), rate-limited: a client that
//! tries tokens in a loop must not fill the journal. The first
//! [`LINES_PER_WINDOW`] refusals of each minute are logged with route,
//! reason and client address; the rest are counted and reported in one
//! line when the next window opens. Every refusal is counted in /metrics.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::metrics::AuthRefusal;

pub const LINES_PER_WINDOW: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Window {
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

/// What to do with one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `suppressed_before` refusals of the last window went unlogged.
    Log { suppressed_before: u64 },
    /// Count it only.
    Suppress,
}

#[derive(Debug, Default)]
pub struct RefusalLog {
    window: Mutex<Window>,
}

impl RefusalLog {
    /// The decision for a refusal at `now` (pure apart from the counter).
    pub fn verdict(&self, now: Instant) -> Verdict {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let mut suppressed_before = 0;
        if w.started.is_none_or(|s| now.duration_since(s) >= WINDOW) {
            suppressed_before = w.suppressed;
            *w = Window {
                started: Some(now),
                logged: 0,
                suppressed: 0,
            };
        }
        if w.logged < LINES_PER_WINDOW {
            w.logged += 1;
            Verdict::Log { suppressed_before }
        } else {
            w.suppressed += 1;
            Verdict::Suppress
        }
    }

    /// Logs (or counts) one refusal.
    pub fn refused(&self, route: &str, method: &str, why: AuthRefusal, peer: &str) {
        if let Verdict::Log { suppressed_before } = self.verdict(Instant::now()) {
            if suppressed_before > 0 {
                tracing::warn!(
                    count = suppressed_before,
                    "{suppressed_before} more refused HTTP requests in the last minute were not logged (see blog_poster_http_auth_refused_total)"
                );
            }
            tracing::warn!(
                route,
                method = super::metrics::method_label(method),
                reason = why.as_str(),
                client = peer,
                "refused an HTTP request"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_lines_a_minute_then_one_summary() {
        let log = RefusalLog::default();
        let t0 = Instant::now();
        let verdicts: Vec<_> = (0..25)
            .map(|i| log.verdict(t0 + Duration::from_millis(i)))
            .collect();
        let logged = verdicts
            .iter()
            .filter(|v| matches!(v, Verdict::Log { .. }))
            .count();
        assert_eq!(logged, LINES_PER_WINDOW as usize);
        assert_eq!(
            log.verdict(t0 + WINDOW + Duration::from_secs(1)),
            Verdict::Log {
                suppressed_before: 15
            }
        );
        assert!(matches!(
            log.verdict(t0 + WINDOW + Duration::from_secs(2)),
            Verdict::Log {
                suppressed_before: 0
            }
        ));
    }
}

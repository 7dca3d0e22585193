//! When a source is due again. Pure functions of the response's hints, the
//! source's failure count and the `[monitor]` settings:
//!
//! - after a success: Cache-Control `max-age` (else `Expires` − `Date`) and
//!   the RSS `ttl`, whichever asks for the longer wait, else
//!   `check_interval`; clamped to [`min_check_interval`, `max_check_interval`];
//! - after a failure: `backoff_base × 2^(failures−1)`, at most `backoff_max`
//!   — never "give up" — or a 429/503 `Retry-After` when that is longer
//!   (honoured up to [`MAX_RETRY_AFTER`]).
//!
//! [`min_check_interval`]: crate::config::MonitorConfig::min_check_interval
//! [`max_check_interval`]: crate::config::MonitorConfig::max_check_interval

use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::config::MonitorConfig;
use crate::domain::backoff::Backoff;
use crate::domain::lifecycle::Timestamp;

/// A server asking for more than this is asked again after this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(7 * 86_400);

/// What a response says about when to come back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheHints {
    /// Cache-Control max-age (0 for no-cache / no-store).
    pub max_age: Option<Duration>,
    /// Expires − Date (or − now without Date).
    pub expires_in: Option<Duration>,
    pub retry_after: Option<Duration>,
}

impl CacheHints {
    /// Reads Cache-Control, Expires, Date and Retry-After.
    pub fn from_headers(headers: &HeaderMap, now: Timestamp) -> CacheHints {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let date = get("date").and_then(http_date).unwrap_or(now);
        CacheHints {
            max_age: get("cache-control").and_then(max_age),
            expires_in: get("expires").map(|e| match http_date(e) {
                Some(t) => (t - date).to_std().unwrap_or(Duration::ZERO),
                // An invalid Expires ("0", "-1") means already expired.
                None => Duration::ZERO,
            }),
            retry_after: get("retry-after").and_then(|v| retry_after(v, date)),
        }
    }
}

/// `max-age=N` from a Cache-Control value; `no-cache`/`no-store` mean 0.
pub fn max_age(value: &str) -> Option<Duration> {
    let mut found = None;
    for directive in value.split(',') {
        let d = directive.trim().to_ascii_lowercase();
        if d == "no-cache" || d == "no-store" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = d.strip_prefix("max-age=") {
            found = n
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    found
}

/// Retry-After: delay-seconds or an HTTP date (relative to `now`).
pub fn retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    http_date(v).map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
}

/// An HTTP date (IMF-fixdate, which RFC 2822 parsing accepts).
pub fn http_date(value: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc2822(value.trim())
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn add(now: Timestamp, d: Duration) -> Timestamp {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX / 2)
}

/// The next check after a successful fetch (a 304 included).
pub fn after_success(
    now: Timestamp,
    hints: &CacheHints,
    feed_ttl: Option<Duration>,
    cfg: &MonitorConfig,
) -> Timestamp {
    let http = hints.max_age.or(hints.expires_in);
    let wait = match (http, feed_ttl) {
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => cfg.check_interval,
    };
    add(
        now,
        wait.clamp(cfg.min_check_interval, cfg.max_check_interval),
    )
}

/// The backoff after `failures` consecutive failures (this one included).
pub fn backoff(failures: u32, cfg: &MonitorConfig) -> Duration {
    Backoff::new(cfg.backoff_base, cfg.backoff_max).delay(failures.saturating_sub(1))
}

/// The next check after a failed fetch; `failures` counts this one.
pub fn after_failure(
    now: Timestamp,
    failures: u32,
    retry_after: Option<Duration>,
    cfg: &MonitorConfig,
) -> Timestamp {
    let wait =
        backoff(failures, cfg).max(retry_after.unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER));
    add(now, wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use reqwest::header::HeaderValue;

    fn now() -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 3, 2, 12, 0, 0)
            .single()
            .expect("time")
    }

    fn cfg() -> MonitorConfig {
        MonitorConfig::default()
    }

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    fn hints(pairs: &[(&'static str, &str)]) -> CacheHints {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        CacheHints::from_headers(&h, now())
    }

    #[test]
    fn cache_control_max_age_sets_the_next_check() {
        let h = hints(&[("cache-control", "public, max-age=7200")]);
        assert_eq!(h.max_age, Some(mins(120)));
        assert_eq!(
            after_success(now(), &h, None, &cfg()),
            add(now(), mins(120))
        );
    }

    #[test]
    fn max_age_wins_over_expires() {
        let h = hints(&[
            ("cache-control", "max-age=3600"),
            ("date", "Mon, 02 Mar 2026 12:00:00 GMT"),
            ("expires", "Mon, 02 Mar 2026 18:00:00 GMT"),
        ]);
        assert_eq!(after_success(now(), &h, None, &cfg()), add(now(), mins(60)));
    }

    #[test]
    fn expires_is_measured_from_the_server_date() {
        let h = hints(&[
            ("date", "Mon, 02 Mar 2026 11:00:00 GMT"),
            ("expires", "Mon, 02 Mar 2026 14:00:00 GMT"),
        ]);
        assert_eq!(h.expires_in, Some(mins(180)));
        assert_eq!(
            after_success(now(), &h, None, &cfg()),
            add(now(), mins(180))
        );
    }

    #[test]
    fn rss_ttl_counts_when_longer_and_no_hint_means_the_default() {
        let h = hints(&[("cache-control", "max-age=600")]);
        assert_eq!(
            after_success(now(), &h, Some(mins(90)), &cfg()),
            add(now(), mins(90))
        );
        assert_eq!(
            after_success(now(), &CacheHints::default(), Some(mins(45)), &cfg()),
            add(now(), mins(45))
        );
        assert_eq!(
            after_success(now(), &CacheHints::default(), None, &cfg()),
            add(now(), cfg().check_interval)
        );
    }

    #[test]
    fn hints_are_clamped_to_the_configured_bounds() {
        let h = hints(&[("cache-control", "no-cache")]);
        assert_eq!(
            after_success(now(), &h, None, &cfg()),
            add(now(), cfg().min_check_interval)
        );
        let h = hints(&[("cache-control", "max-age=31536000")]);
        assert_eq!(
            after_success(now(), &h, None, &cfg()),
            add(now(), cfg().max_check_interval)
        );
        let h = hints(&[("expires", "0")]);
        assert_eq!(
            after_success(now(), &h, None, &cfg()),
            add(now(), cfg().min_check_interval)
        );
    }

    #[test]
    fn backoff_doubles_to_its_ceiling_and_never_stops() {
        let c = cfg();
        assert_eq!(backoff(1, &c), mins(5));
        assert_eq!(backoff(2, &c), mins(10));
        assert_eq!(backoff(3, &c), mins(20));
        assert_eq!(backoff(7, &c), mins(320));
        assert_eq!(backoff(8, &c), Duration::from_secs(6 * 3600));
        assert_eq!(backoff(10_000, &c), Duration::from_secs(6 * 3600));
        assert_eq!(
            after_failure(now(), 500, None, &c),
            add(now(), c.backoff_max)
        );
    }

    #[test]
    fn retry_after_seconds_or_date_is_honoured_when_longer() {
        let c = cfg();
        assert_eq!(retry_after("120", now()), Some(mins(2)));
        assert_eq!(
            retry_after("Mon, 02 Mar 2026 13:00:00 GMT", now()),
            Some(mins(60))
        );
        assert_eq!(retry_after("soon", now()), None);
        assert_eq!(
            after_failure(now(), 1, Some(mins(60)), &c),
            add(now(), mins(60))
        );
        assert_eq!(
            after_failure(now(), 1, Some(mins(1)), &c),
            add(now(), mins(5))
        );
        assert_eq!(
            after_failure(now(), 1, Some(Duration::from_secs(365 * 86_400)), &c),
            add(now(), MAX_RETRY_AFTER)
        );
        let h = hints(&[("retry-after", "3600")]);
        assert_eq!(h.retry_after, Some(mins(60)));
    }
}

//! The alert rate limiter, pure over the times it is given: at most one
//! alert per key per `min_interval`, and at most `max_per_hour` alerts in any
//! rolling hour across all keys. What it holds back is counted, so the next
//! alert that goes out says how many were suppressed — no storms, and no
//! silent gaps either.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::domain::lifecycle::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send it; `suppressed` alerts were held back since the last one sent.
    Send { suppressed: u64 },
    /// The same key was sent less than `min_interval` ago.
    RepeatedKey,
    /// `max_per_hour` alerts went out in the last hour.
    GlobalLimit,
}

#[derive(Debug)]
pub struct RateLimiter {
    min_interval: chrono::Duration,
    max_per_hour: usize,
    last_by_key: HashMap<String, Timestamp>,
    sent: VecDeque<Timestamp>,
    suppressed: u64,
}

impl RateLimiter {
    pub fn new(min_interval: Duration, max_per_hour: u32) -> Self {
        RateLimiter {
            min_interval: chrono::Duration::from_std(min_interval)
                .unwrap_or(chrono::Duration::hours(1)),
            max_per_hour: max_per_hour.max(1) as usize,
            last_by_key: HashMap::new(),
            sent: VecDeque::new(),
            suppressed: 0,
        }
    }

    /// Decides about one alert with key `key` at `now`, and records a send.
    pub fn decide(&mut self, key: &str, now: Timestamp) -> Decision {
        let hour_ago = now - chrono::Duration::hours(1);
        while self.sent.front().is_some_and(|t| *t <= hour_ago) {
            self.sent.pop_front();
        }
        // Forget keys whose window has passed, so memory stays bounded by
        // the alerts of one window.
        let window = self.min_interval;
        self.last_by_key.retain(|_, t| now - *t < window);
        if self.last_by_key.contains_key(key) {
            self.suppressed += 1;
            return Decision::RepeatedKey;
        }
        if self.sent.len() >= self.max_per_hour {
            self.suppressed += 1;
            return Decision::GlobalLimit;
        }
        self.last_by_key.insert(key.to_string(), now);
        self.sent.push_back(now);
        let suppressed = std::mem::take(&mut self.suppressed);
        Decision::Send { suppressed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> Timestamp {
        chrono::Utc
            .timestamp_opt(1_800_000_000 + secs, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn one_alert_per_key_per_window() {
        let mut l = RateLimiter::new(Duration::from_secs(3600), 100);
        assert_eq!(l.decide("a", t(0)), Decision::Send { suppressed: 0 });
        assert_eq!(l.decide("a", t(10)), Decision::RepeatedKey);
        assert_eq!(l.decide("a", t(3599)), Decision::RepeatedKey);
        // Another key is not held back by the first.
        assert_eq!(l.decide("b", t(20)), Decision::Send { suppressed: 2 });
        assert_eq!(l.decide("a", t(3600)), Decision::Send { suppressed: 0 });
    }

    #[test]
    fn a_storm_of_distinct_keys_stops_at_the_hourly_maximum() {
        let mut l = RateLimiter::new(Duration::from_secs(60), 5);
        let mut sent = 0;
        for i in 0..1000 {
            if let Decision::Send { .. } = l.decide(&format!("k{i}"), t(i)) {
                sent += 1;
            }
        }
        // 1000 alerts over 1000 s, all distinct: only 5 go out in that hour.
        assert_eq!(sent, 5);
        assert_eq!(l.decide("later", t(3599)), Decision::GlobalLimit);
        // An hour after the first sends, room again, with the count of what
        // was held back.
        assert_eq!(
            l.decide("later", t(3601)),
            Decision::Send { suppressed: 996 }
        );
    }

    #[test]
    fn keys_are_forgotten_after_their_window() {
        let mut l = RateLimiter::new(Duration::from_secs(10), 1000);
        for i in 0..500 {
            l.decide(&format!("k{i}"), t(i * 100));
        }
        assert!(l.last_by_key.len() <= 1, "{}", l.last_by_key.len());
    }
}

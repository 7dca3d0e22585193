//! A circuit breaker per provider, in memory: after `threshold` failures in
//! a row that say the provider itself is in trouble (rate limits, overload,
//! server errors, timeouts, bad credentials, no quota), calls to it stop for
//! `cooldown`; then one trial call decides whether it closes again. Request
//! errors (an invalid request, a refusal) say nothing about the provider and
//! do not count. Pure state + an injected instant, so it is tested without
//! sleeping.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerState {
    Closed {
        failures: u32,
    },
    /// No calls until `until`.
    Open {
        until: Instant,
    },
    /// The cooldown is over; one trial call is out.
    HalfOpen,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    pub threshold: u32,
    pub cooldown: Duration,
    pub state: BreakerState,
    /// The failure that opened it, for messages.
    pub last_error: Option<String>,
}

/// Whether a call may go to the provider now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permit {
    Go,
    /// Open: skip this provider for `remaining`.
    Skip {
        remaining: Duration,
    },
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: BreakerState::Closed { failures: 0 },
            last_error: None,
        }
    }

    pub fn permit(&mut self, now: Instant) -> Permit {
        match self.state {
            BreakerState::Closed { .. } => Permit::Go,
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen;
                Permit::Go
            }
            BreakerState::Open { until } => Permit::Skip {
                remaining: until - now,
            },
            // One trial at a time: others wait for its verdict.
            BreakerState::HalfOpen => Permit::Skip {
                remaining: Duration::from_secs(1),
            },
        }
    }

    pub fn success(&mut self) {
        self.state = BreakerState::Closed { failures: 0 };
        self.last_error = None;
    }

    /// A failure that counts against the provider.
    pub fn failure(&mut self, now: Instant, error: &str) {
        self.last_error = Some(error.to_string());
        self.state = match self.state {
            BreakerState::Closed { failures } if failures + 1 < self.threshold => {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            _ => BreakerState::Open {
                until: now + self.cooldown,
            },
        };
    }

    /// A request-level outcome (invalid request, refusal): the provider
    /// answered, so a half-open trial counts as passed.
    pub fn neutral(&mut self) {
        if self.state == BreakerState::HalfOpen {
            self.state = BreakerState::Closed { failures: 0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_half_opens_after_cooldown() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            assert_eq!(b.permit(t0), Permit::Go);
            b.failure(t0, "overloaded");
        }
        assert_eq!(b.permit(t0), Permit::Go, "two failures: still closed");
        b.failure(t0, "overloaded");
        assert_eq!(
            b.permit(t0 + Duration::from_secs(10)),
            Permit::Skip {
                remaining: Duration::from_secs(50)
            }
        );
        assert_eq!(b.permit(t0 + Duration::from_secs(60)), Permit::Go);
        assert!(
            matches!(b.permit(t0 + Duration::from_secs(60)), Permit::Skip { .. }),
            "one trial only"
        );
        b.failure(t0 + Duration::from_secs(61), "still overloaded");
        assert!(
            matches!(b.permit(t0 + Duration::from_secs(62)), Permit::Skip { .. }),
            "trial failed: open again"
        );
        assert_eq!(b.permit(t0 + Duration::from_secs(121)), Permit::Go);
        b.success();
        assert_eq!(b.state, BreakerState::Closed { failures: 0 });
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, Duration::from_secs(60));
        b.failure(t0, "x");
        b.success();
        b.failure(t0, "x");
        assert_eq!(b.permit(t0), Permit::Go);
    }
}

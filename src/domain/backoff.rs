//! The one exponential backoff of the crate: `base · 2^step`, capped, with
//! optional "equal jitter". Job retries, LLM retries, a source's next check
//! after failures and the engine's busy-database commit all use it. Pure:
//! the caller passes the jitter (a job's is drawn once and stored, so the
//! lifecycle stays deterministic), and nothing here sleeps.
//!
//! Not `backon`: its jitter draws from its own RNG inside the retry loop,
//! while our job delays are computed in a pure state machine and stored, and
//! a source's backoff is a next-check time, not a sleep.

use std::time::Duration;

/// Doubling delays from `base`, never above `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max }
    }

    /// The delay before retry `step` (0 for the first retry):
    /// `base · 2^step`, capped at `max`. Saturates instead of overflowing,
    /// however large `step` is.
    pub fn delay(&self, step: u32) -> Duration {
        self.base.saturating_mul(1u32 << step.min(30)).min(self.max)
    }

    /// [`Backoff::delay`] with "equal jitter": half of it fixed, half scaled
    /// by `jitter` in [0, 1] (clamped), so that many retries that failed
    /// together spread out but none comes sooner than half the delay.
    pub fn jittered(&self, step: u32, jitter: f64) -> Duration {
        let half = self.delay(step) / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// The first `retries` delays, for a loop that sleeps between tries.
    pub fn delays(self, retries: u32) -> impl Iterator<Item = Duration> {
        (0..retries).map(move |step| self.delay(step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn doubles_from_base_up_to_max() {
        let b = Backoff::new(S(30), S(3600));
        let got: Vec<_> = (0..9).map(|s| b.delay(s)).collect();
        let want = [30, 60, 120, 240, 480, 960, 1920, 3600, 3600].map(S);
        assert_eq!(got, want);
    }

    #[test]
    fn huge_steps_and_bases_saturate_at_max() {
        let b = Backoff::new(S(30), S(3600));
        assert_eq!(b.delay(u32::MAX), S(3600));
        let b = Backoff::new(Duration::MAX / 2, Duration::MAX);
        assert_eq!(b.delay(40), Duration::MAX);
    }

    #[test]
    fn equal_jitter_stays_between_half_and_all_of_the_delay() {
        let b = Backoff::new(S(30), S(3600));
        assert_eq!(b.jittered(0, 0.0), S(15));
        assert_eq!(b.jittered(0, 1.0), S(30));
        assert_eq!(b.jittered(1, 0.5), S(45));
        assert_eq!(b.jittered(3, -4.0), S(120), "clamped to 0");
        assert_eq!(b.jittered(3, 9.0), S(240), "clamped to 1");
    }

    #[test]
    fn delays_lists_the_first_retries() {
        let b = Backoff::new(Duration::from_millis(50), S(2));
        let got: Vec<_> = b.delays(6).map(|d| d.as_millis()).collect();
        assert_eq!(got, [50, 100, 200, 400, 800, 1600]);
    }
}

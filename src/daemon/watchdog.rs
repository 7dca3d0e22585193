//! systemd's watchdog, fed by a thread of its own: `WATCHDOG=1` goes to
//! `$NOTIFY_SOCKET` every `WatchdogSec/2` for as long as the process shows
//! life, whatever the scheduler is doing. Before, only the scheduler pinged,
//! so a `db copy` or a restore through the API (which pause the scheduler)
//! got a healthy daemon killed after `WatchdogSec`.
//!
//! "Shows life" is [`Liveness`]: heartbeats the watchdog thread checks
//! before each ping. The async runtime beats from a task of its own (all
//! worker threads blocked means nothing async runs: stuck), and the
//! scheduler beats after each pass while it is meant to run (it is paused,
//! not stuck, during an operation). A heartbeat older than its limit stops
//! the pings, so systemd restarts a process that is really stuck — and only
//! such a one. Owns nothing else of systemd: READY/STOPPING stay in serve.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The heartbeats the watchdog checks, as milliseconds since `origin`
/// (monotonic: a wall-clock jump never looks like a hang).
#[derive(Debug)]
pub struct Liveness {
    origin: Instant,
    runtime: AtomicU64,
    scheduler: AtomicU64,
    /// False while the scheduler is paused (an operation, shutdown).
    scheduler_running: AtomicBool,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            origin: Instant::now(),
            runtime: AtomicU64::new(0),
            scheduler: AtomicU64::new(0),
            scheduler_running: AtomicBool::new(false),
        }
    }
}

/// Why the watchdog stopped pinging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stuck {
    /// No task ran on the async runtime for this long.
    Runtime(Duration),
    /// The scheduler is meant to run and did not finish a pass for this long.
    Scheduler(Duration),
}

impl std::fmt::Display for Stuck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stuck::Runtime(d) => write!(
                f,
                "no task has run on the async runtime for {} ms",
                d.as_millis()
            ),
            Stuck::Scheduler(d) => write!(
                f,
                "the scheduler has not finished a pass for {} ms",
                d.as_millis()
            ),
        }
    }
}

impl Liveness {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The async runtime ran a task just now.
    pub fn runtime_beat(&self) {
        self.runtime.store(self.now_ms(), Ordering::SeqCst);
    }

    /// The scheduler finished a pass just now.
    pub fn scheduler_beat(&self) {
        self.scheduler.store(self.now_ms(), Ordering::SeqCst);
    }

    /// The scheduler starts (and counts as alive from now) or pauses.
    pub fn scheduler_running(&self, running: bool) {
        if running {
            self.scheduler_beat();
        }
        self.scheduler_running.store(running, Ordering::SeqCst);
    }

    /// `Ok` when every heartbeat that should beat did so within its limit.
    pub fn check(&self, runtime_limit: Duration, scheduler_limit: Duration) -> Result<(), Stuck> {
        let now = self.now_ms();
        let age = |beat: &AtomicU64| {
            Duration::from_millis(now.saturating_sub(beat.load(Ordering::SeqCst)))
        };
        let runtime = age(&self.runtime);
        if runtime > runtime_limit {
            return Err(Stuck::Runtime(runtime));
        }
        if self.scheduler_running.load(Ordering::SeqCst) {
            let scheduler = age(&self.scheduler);
            if scheduler > scheduler_limit {
                return Err(Stuck::Scheduler(scheduler));
            }
        }
        Ok(())
    }
}

/// Beats for the runtime every `period` until `stop` turns true. Spawn it
/// on the runtime it vouches for.
pub async fn runtime_heartbeat(
    liveness: Arc<Liveness>,
    period: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        liveness.runtime_beat();
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

/// The pinging thread; stops (and is joined) on [`Watchdog::stop`] or drop.
#[derive(Debug)]
pub struct Watchdog {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// How the watchdog checks and pings.
#[derive(Debug, Clone, Copy)]
pub struct WatchdogTimes {
    /// systemd's WatchdogSec: pings go out every half of it.
    pub interval: Duration,
    /// How old the scheduler's heartbeat may get (a pass every
    /// `scheduler.tick`, some of them slow).
    pub scheduler_limit: Duration,
}

impl WatchdogTimes {
    /// For systemd's `interval` and the scheduler's `tick`.
    pub fn new(interval: Duration, tick: Duration) -> Self {
        WatchdogTimes {
            interval,
            scheduler_limit: interval.max(tick.saturating_mul(3)),
        }
    }

    /// How often the runtime must beat so one late beat never looks stuck.
    pub fn runtime_period(&self) -> Duration {
        (self.interval / 4).max(Duration::from_millis(10))
    }
}

/// One round of the watchdog thread: pings when every heartbeat is fresh;
/// otherwise logs why (once per episode) and does not ping.
fn check_and_ping(
    liveness: &Liveness,
    times: WatchdogTimes,
    stuck_logged: &mut bool,
    ping: &dyn Fn(),
) -> Result<(), Stuck> {
    let verdict = liveness.check(times.interval, times.scheduler_limit);
    match verdict {
        Ok(()) => {
            if *stuck_logged {
                tracing::warn!("watchdog: alive again; telling systemd so");
                *stuck_logged = false;
            }
            ping();
        }
        Err(stuck) if !*stuck_logged => {
            tracing::error!(
                %stuck,
                "watchdog: the process looks stuck; no longer telling systemd it is alive (it restarts the service after WatchdogSec)"
            );
            *stuck_logged = true;
        }
        Err(_) => {}
    }
    verdict
}

impl Watchdog {
    /// Starts the thread: every `interval / 2` it checks `liveness` and,
    /// while all is well, calls `ping` (which sends `WATCHDOG=1`). When a
    /// heartbeat is too old it logs once why and stops pinging; if the
    /// heartbeat comes back, so do the pings.
    pub fn start(
        times: WatchdogTimes,
        liveness: Arc<Liveness>,
        ping: impl Fn() + Send + 'static,
    ) -> std::io::Result<Watchdog> {
        let (stop, stopped) = mpsc::channel::<()>();
        let every = (times.interval / 2).max(Duration::from_millis(1));
        let thread = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                let mut stuck_logged = false;
                loop {
                    let _ = check_and_ping(&liveness, times, &mut stuck_logged, &ping);
                    match stopped.recv_timeout(every) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        Ok(Watchdog {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops pinging and joins the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(l: &Liveness, runtime_ms: u64, scheduler_ms: u64) {
        l.runtime.store(runtime_ms, Ordering::SeqCst);
        l.scheduler.store(scheduler_ms, Ordering::SeqCst);
    }

    #[test]
    fn a_paused_scheduler_is_not_stuck_but_a_silent_runtime_is() {
        let l = Liveness {
            origin: Instant::now() - Duration::from_secs(100),
            ..Liveness::default()
        };
        let limit = Duration::from_secs(2);
        // Runtime beat just now, scheduler long ago but paused: alive.
        at(&l, 100_000, 0);
        assert_eq!(l.check(limit, limit), Ok(()));
        // The same scheduler meant to run: stuck.
        l.scheduler_running.store(true, Ordering::SeqCst);
        assert!(matches!(l.check(limit, limit), Err(Stuck::Scheduler(_))));
        // Starting it again counts as a beat.
        l.scheduler_running(true);
        assert_eq!(l.check(limit, limit), Ok(()));
        // A runtime that has not run a task for longer than the limit.
        at(&l, 90_000, 100_000);
        let err = l.check(limit, limit).expect_err("runtime silent for 10 s");
        assert!(matches!(err, Stuck::Runtime(d) if d >= Duration::from_secs(10)));
        assert!(err.to_string().contains("async runtime"), "{err}");
    }

    #[test]
    fn no_ping_goes_out_while_a_heartbeat_is_stale_and_pings_resume_after() {
        let l = Liveness {
            origin: Instant::now() - Duration::from_secs(100),
            ..Liveness::default()
        };
        let times = WatchdogTimes::new(Duration::from_secs(2), Duration::from_secs(5));
        assert_eq!(times.scheduler_limit, Duration::from_secs(15));
        let pings = std::cell::Cell::new(0);
        let ping = || pings.set(pings.get() + 1);
        let mut logged = false;
        l.runtime_beat();
        l.scheduler_running(true);
        assert_eq!(check_and_ping(&l, times, &mut logged, &ping), Ok(()));
        assert_eq!(pings.get(), 1);
        // The runtime's last beat 10 s ago: two rounds, no ping.
        l.runtime
            .store(l.now_ms().saturating_sub(10_000), Ordering::SeqCst);
        for _ in 0..2 {
            assert!(check_and_ping(&l, times, &mut logged, &ping).is_err());
        }
        assert_eq!(pings.get(), 1, "pinged while stuck");
        assert!(logged);
        l.runtime_beat();
        assert_eq!(check_and_ping(&l, times, &mut logged, &ping), Ok(()));
        assert_eq!(pings.get(), 2);
        assert!(!logged);
    }

    #[test]
    fn the_thread_pings_while_alive_and_stops_when_told() {
        let liveness = Arc::new(Liveness::default());
        liveness.runtime_beat();
        let (tx, rx) = mpsc::channel();
        let times = WatchdogTimes::new(Duration::from_millis(100), Duration::from_millis(10));
        let dog = Watchdog::start(times, liveness.clone(), move || {
            let _ = tx.send(());
        })
        .expect("thread");
        for _ in 0..3 {
            liveness.runtime_beat();
            rx.recv_timeout(Duration::from_secs(30))
                .expect("a ping while alive");
        }
        dog.stop();
        // Joined: the sender went with the thread.
        while rx.try_recv().is_ok() {}
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
    }
}

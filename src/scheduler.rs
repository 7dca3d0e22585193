//! Per-site cron schedules → runs. The database holds each site's next slot
//! (computed with croner, in the site's time zone); tokio-cron-scheduler is
//! the UTC ticker that wakes a pass every `scheduler.tick`, and nothing else
//! wakes it. A ticker that stops firing (upstream #113) stops the passes,
//! so the scheduler's heartbeat ages and the watchdog has systemd restart
//! the daemon; no slot is lost, since the database holds them. A slot missed
//! while the daemon was down runs once at start, not once per missed slot;
//! a paused site's slots are skipped.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::clock::Clock;
use crate::config::{Config, SiteConfig};
use crate::domain::backoff::Backoff;
use crate::domain::lifecycle::{Stage, Timestamp};
use crate::store::{NewRun, RunTrigger, SiteRecord, SlotAdvance, Store, StoreResult};

/// What to do about one site now, if anything.
pub fn plan_slot(
    site: &SiteConfig,
    record: &SiteRecord,
    max_attempts: u32,
    now: Timestamp,
) -> Option<SlotAdvance> {
    let base = |new_next: Option<Timestamp>, key: String, run: Option<NewRun>| SlotAdvance {
        site: site.name.clone(),
        schedule_key: key,
        expected_next: record.next_run_at,
        new_next,
        run,
    };
    let schedule = match (&site.schedule, site.enabled) {
        (Some(s), true) => s,
        // No schedule (or disabled): clear a leftover next slot, once.
        _ => return record.next_run_at.map(|_| base(None, String::new(), None)),
    };
    let key = schedule.key();
    let next_after_now = schedule.next_after(now);
    let changed = record.schedule_key.as_deref() != Some(key.as_str());
    match record.next_run_at {
        // New site or changed schedule: start counting from now.
        None => Some(base(next_after_now, key, None)),
        Some(_) if changed => Some(base(next_after_now, key, None)),
        Some(slot) if slot <= now => {
            // Due (perhaps long overdue): one run for the slot, then the next
            // slot after *now*, so missed slots collapse into this one.
            let run = (!record.paused).then(|| NewRun {
                site: site.name.clone(),
                trigger: RunTrigger::Schedule,
                slot_key: Some(format!("{}@{}", site.name, slot.to_rfc3339())),
                first_stage: Stage::Monitor,
                until: None,
                max_attempts,
            });
            Some(base(next_after_now, key, run))
        }
        Some(_) => None,
    }
}

/// One pass over every site. Returns how many runs were enqueued.
pub fn tick(store: &dyn Store, config: &Config, now: Timestamp) -> StoreResult<usize> {
    let records = store.list_sites()?;
    let mut enqueued = 0;
    for site in &config.sites {
        let Some(record) = records.iter().find(|r| r.name == site.name) else {
            continue;
        };
        let Some(advance) = plan_slot(site, record, config.engine.max_attempts, now) else {
            continue;
        };
        let skipped =
            advance.run.is_none() && record.paused && record.next_run_at.is_some_and(|n| n <= now);
        match store.advance_schedule(&advance, now)? {
            Some(e) => {
                enqueued += 1;
                tracing::info!(site = %site.name, run = %e.run_id(), "scheduled run enqueued");
            }
            None if skipped => {
                tracing::info!(site = %site.name, "slot skipped: the site is paused")
            }
            None => {}
        }
    }
    Ok(enqueued)
}

/// Ticks until `shutdown`; `on_tick` runs after each successful pass (the
/// daemon's watchdog heartbeat: a scheduler that stops passing while it is
/// meant to run gets the service restarted).
pub async fn run(
    store: Arc<dyn Store>,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
    on_tick: impl Fn() + Send + 'static,
) {
    let every = config.scheduler.tick.max(Duration::from_millis(100));
    let Some((mut ticker, mut ticks)) = start_ticker(every, &mut shutdown).await else {
        return;
    };
    loop {
        let (s, c, k) = (store.clone(), config.clone(), clock.clone());
        let pass = move || {
            crate::fence::inject::point("scheduler", "pass");
            tick(s.as_ref(), &c, k.now())
        };
        match tokio::task::spawn_blocking(pass).await {
            Ok(Ok(_)) => on_tick(),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "scheduler pass failed; will try again next tick")
            }
            // The pass's fence is its blocking task: a panic costs this
            // pass (logged and alerted); the next tick tries again.
            Err(e) => match crate::fence::join_error(e) {
                Ok(panic) => crate::fence::report(None, "a scheduler pass", &panic),
                Err(e) => tracing::warn!(error = %e, "scheduler pass cancelled"),
            },
        }
        tokio::select! {
            tick = ticks.recv() => if tick.is_none() {
                // The ticker dropped its job (and our sender): start anew.
                tracing::error!("the cron ticker lost its job; starting it again");
                let _ = ticker.shutdown().await;
                match start_ticker(every, &mut shutdown).await {
                    Some(started) => (ticker, ticks) = started,
                    None => return,
                }
            },
            _ = shutdown.changed() => break,
        }
    }
    let _ = ticker.shutdown().await;
}

/// The ticker and the channel it wakes us on. Retried, doubling from one
/// second up to a minute, until it starts or `shutdown` (it does not fail
/// in practice; meanwhile no pass runs and the watchdog notices).
async fn start_ticker(
    every: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(tokio_cron_scheduler::JobScheduler, mpsc::Receiver<()>)> {
    let retry = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let mut failures = 0u32;
    loop {
        let (tx, ticks) = mpsc::channel::<()>(1);
        match try_start_ticker(every, tx).await {
            Ok(ticker) => return Some((ticker, ticks)),
            Err(e) => {
                tracing::error!(error = %e, "the scheduler's cron ticker did not start; trying again")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(retry.delay(failures)) => {}
            _ = shutdown.changed() => return None,
        }
        failures = failures.saturating_add(1);
    }
}

/// One repeated job on a fresh `JobScheduler`. Its resolution: the crate
/// looks every 500 ms and counts whole seconds, so a sub-second tick fires
/// about every half second.
async fn try_start_ticker(
    every: Duration,
    tx: mpsc::Sender<()>,
) -> Result<tokio_cron_scheduler::JobScheduler, tokio_cron_scheduler::JobSchedulerError> {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let sched = JobScheduler::new().await?;
    sched
        .add(Job::new_repeated(every, move |_, _| {
            // Full means a pass is already due: one wake-up is enough.
            let _ = tx.try_send(());
        })?)
        .await?;
    sched.start().await?;
    Ok(sched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Environment, PublisherConfig};
    use crate::store::SiteId;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 3, 10, h, m, 0)
            .single()
            .expect("valid")
    }

    fn site(schedule: Option<&str>) -> SiteConfig {
        let text = match schedule {
            Some(s) => format!("[sites.a]\nschedule = \"{s}\"\n"),
            None => "[sites.a]\n".to_string(),
        };
        let c = crate::config::parse(&text, None, &Environment::from_pairs([("HOME", "/h")]))
            .expect("valid");
        assert!(matches!(c.sites[0].publisher, PublisherConfig::Outbox));
        c.sites[0].clone()
    }

    fn record(next: Option<Timestamp>, key: Option<&str>, paused: bool) -> SiteRecord {
        SiteRecord {
            id: SiteId(1),
            name: "a".into(),
            enabled: true,
            paused,
            pause_reason: None,
            max_concurrency: 1,
            schedule_key: key.map(str::to_string),
            next_run_at: next,
            last_run_at: None,
        }
    }

    #[test]
    fn new_schedule_starts_from_the_next_slot_without_running() {
        let a = plan_slot(
            &site(Some("0 6 * * *")),
            &record(None, None, false),
            3,
            at(7, 0),
        )
        .expect("advance");
        assert_eq!(
            a.new_next,
            chrono::Utc.with_ymd_and_hms(2026, 3, 11, 6, 0, 0).single()
        );
        assert!(a.run.is_none());
    }

    #[test]
    fn due_slot_enqueues_one_run_with_a_slot_key() {
        let s = site(Some("0 6 * * *"));
        let key = s.schedule.as_ref().expect("schedule").key();
        let a = plan_slot(&s, &record(Some(at(6, 0)), Some(&key), false), 3, at(6, 0))
            .expect("advance");
        let run = a.run.expect("run");
        assert_eq!(run.slot_key.as_deref(), Some("a@2026-03-10T06:00:00+00:00"));
        assert_eq!(a.expected_next, Some(at(6, 0)));
    }

    #[test]
    fn many_missed_slots_collapse_into_one_run() {
        let s = site(Some("*/5 * * * *"));
        let key = s.schedule.as_ref().expect("schedule").key();
        // Down from 06:00 to 09:02: 36 slots missed.
        let a = plan_slot(&s, &record(Some(at(6, 0)), Some(&key), false), 3, at(9, 2))
            .expect("advance");
        assert!(a.run.is_some());
        assert_eq!(
            a.new_next,
            Some(at(9, 5)),
            "the next slot is after now, not after the missed one"
        );
    }

    #[test]
    fn slot_not_due_does_nothing() {
        let s = site(Some("0 6 * * *"));
        let key = s.schedule.as_ref().expect("schedule").key();
        assert!(plan_slot(&s, &record(Some(at(6, 0)), Some(&key), false), 3, at(5, 59)).is_none());
    }

    #[test]
    fn changed_schedule_recomputes_without_running() {
        let s = site(Some("0 8 * * *"));
        let a = plan_slot(
            &s,
            &record(Some(at(6, 0)), Some("0 6 * * * UTC"), false),
            3,
            at(7, 0),
        )
        .expect("advance");
        assert!(a.run.is_none());
        assert_eq!(a.new_next, Some(at(8, 0)));
    }

    #[test]
    fn paused_site_skips_the_slot() {
        let s = site(Some("0 6 * * *"));
        let key = s.schedule.as_ref().expect("schedule").key();
        let a =
            plan_slot(&s, &record(Some(at(6, 0)), Some(&key), true), 3, at(6, 1)).expect("advance");
        assert!(a.run.is_none());
        assert!(a.new_next > Some(at(6, 1)));
    }

    /// The crate's repeated job alone wakes the loop, with no timer of ours
    /// behind it: two ticks of a one-second ticker come within a few seconds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_cron_ticker_alone_wakes_the_scheduler() {
        let (_stop, mut shutdown) = watch::channel(false);
        let (mut ticker, mut ticks) = start_ticker(Duration::from_secs(1), &mut shutdown)
            .await
            .expect("ticker");
        for n in 1..=2 {
            tokio::time::timeout(Duration::from_secs(5), ticks.recv())
                .await
                .unwrap_or_else(|_| panic!("tick {n} did not come"))
                .expect("sender alive");
        }
        ticker.shutdown().await.expect("shutdown");
    }

    #[test]
    fn removed_schedule_clears_the_next_slot_once() {
        let s = site(None);
        let a =
            plan_slot(&s, &record(Some(at(6, 0)), Some("x"), false), 3, at(5, 0)).expect("advance");
        assert_eq!(a.new_next, None);
        assert!(plan_slot(&s, &record(None, None, false), 3, at(5, 0)).is_none());
    }
}

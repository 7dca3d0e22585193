//! `serve`: open the database (lock, migrate, sync sites, reclaim orphaned
//! jobs), start the scheduler and the engine, tell systemd we are ready, and
//! stop gracefully on SIGTERM/SIGINT. Also the shared start-up used by
//! `run --once`. systemd's watchdog is fed by [`watchdog`], independently of
//! the scheduler.

mod control;
pub mod watchdog;

use control::{ControlRequest, CopyInDaemon, copy_in_daemon, restore_in_daemon};
pub use control::{DaemonControl, DaemonHandle, Progress, control_channel, log_progress};

use std::sync::Arc;

use tokio::sync::watch;

use crate::backup::Backups;

use crate::clock::Clock;
use crate::config::Config;
use crate::instance::InstanceError;
use crate::pipeline::alerting::AlertObserver;
use crate::pipeline::engine::{Engine, LogObserver, Observer, owner_id};
use crate::pipeline::stage::StageSet;
use crate::pipeline::workspace::{Workspace, WorkspaceError, open_for_work};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Instance(#[from] InstanceError),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
    #[error(transparent)]
    ReadyFile(#[from] crate::ready_file::ReadyFileError),
}

/// Start-up errors keep their kind: a held instance lock is still
/// `DaemonError::Instance`.
impl From<WorkspaceError> for DaemonError {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::Store(e) => DaemonError::Store(e),
            WorkspaceError::Instance(e) => DaemonError::Instance(e),
            WorkspaceError::Io(message) => DaemonError::Io(message),
        }
    }
}

/// A receiver that turns true on SIGTERM or SIGINT.
pub fn shutdown_on_signals() -> Result<watch::Receiver<bool>, DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| DaemonError::Io(format!("cannot listen for SIGTERM: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| DaemonError::Io(format!("cannot listen for SIGINT: {e}")))?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
        let _ = tx.send(true);
    });
    Ok(rx)
}

fn notify_systemd(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// Runs the daemon until `shutdown` turns true.
pub async fn serve(
    config: Arc<Config>,
    stages: StageSet,
    clock: Arc<dyn Clock>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), DaemonError> {
    let (_handle, control) = control_channel();
    serve_with_control(config, stages, clock, shutdown, control).await
}

/// [`serve`], taking requests from a [`DaemonHandle`] (the API's restore).
pub async fn serve_with_control(
    config: Arc<Config>,
    stages: StageSet,
    clock: Arc<dyn Clock>,
    shutdown: watch::Receiver<bool>,
    mut control: DaemonControl,
) -> Result<(), DaemonError> {
    let started = std::time::Instant::now();
    let (cfg, now) = (config.clone(), clock.now());
    let ws = tokio::task::spawn_blocking(move || open_for_work(&cfg, now))
        .await
        .map_err(|e| DaemonError::Io(format!("start-up task failed: {e}")))??;
    for m in &ws.migrated {
        tracing::info!(version = m.version, name = %m.name, "migration applied");
    }
    if ws.reclaimed.requeued > 0 {
        tracing::info!(
            jobs = ws.reclaimed.requeued,
            "requeued jobs left running by a previous process"
        );
    }
    let (alerts, alert_task) = crate::alerts::start(&config.alerts, clock.clone())
        .map_err(|e| DaemonError::Io(format!("cannot start alerts: {e}")))?;
    // Panics contained by a fence anywhere in this process are alerted.
    crate::fence::install_alerts(alerts.clone());
    let registry = Arc::new(crate::web::metrics::Registry::default());
    let observer: Arc<dyn Observer> = Arc::new(AlertObserver {
        inner: Arc::new(crate::web::metrics::MetricsObserver {
            registry: registry.clone(),
            inner: Arc::new(LogObserver),
        }),
        alerts: alerts.clone(),
    });
    for dead in &ws.reclaimed.dead {
        observer.reclaimed_dead(dead);
    }
    let engine = Arc::new(Engine {
        store: ws.store.clone(),
        stages,
        config: config.clone(),
        clock: clock.clone(),
        owner: owner_id(),
        observer,
    });
    // One stop signal for everything: SIGTERM/SIGINT, or the HTTP server
    // failing for good (then we exit non-zero and systemd restarts us).
    let (stop_tx, mut stop) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let fatal: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    {
        let (stop_tx, mut shutdown) = (stop_tx.clone(), shutdown.clone());
        tokio::spawn(async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    return;
                }
            }
            let _ = stop_tx.send(true);
        });
    }
    let scheduler_tick = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let web_state = Arc::new(
        crate::web::WebState::new(
            ws.store.clone(),
            config.clone(),
            clock.clone(),
            registry,
            scheduler_tick.clone(),
        )
        .with_daemon(Arc::new(control.handle.clone())),
    );
    let on_fatal: Arc<dyn Fn(String) + Send + Sync> = {
        let (fatal, stop_tx) = (fatal.clone(), stop_tx.clone());
        Arc::new(move |msg: String| {
            tracing::error!(error = %msg, "the HTTP server failed; stopping so that the service manager restarts blog-poster");
            *fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg);
            let _ = stop_tx.send(true);
        })
    };
    let update_status = web_state.update.clone();
    let web = crate::web::WebServer::start(web_state, on_fatal)?;
    // systemd's watchdog: a thread of its own pings while the runtime and
    // (when it runs) the scheduler show life — also through a long copy or
    // restore, which pause the scheduler.
    let liveness = Arc::new(watchdog::Liveness::default());
    // The heartbeat beats until the very end (graceful stop included).
    let (heartbeat_stop, heartbeat_stopped) = watch::channel(false);
    let watchdog = match sd_notify::watchdog_enabled() {
        None => None,
        Some(interval) => {
            let times = watchdog::WatchdogTimes::new(interval, config.scheduler.tick);
            tokio::spawn(watchdog::runtime_heartbeat(
                liveness.clone(),
                times.runtime_period(),
                heartbeat_stopped,
            ));
            liveness.runtime_beat();
            tracing::info!(
                watchdog_ms = interval.as_millis() as u64,
                "systemd watchdog on: pinging every half of WatchdogSec while the process shows life"
            );
            Some(
                watchdog::Watchdog::start(times, liveness.clone(), || {
                    notify_systemd(&[sd_notify::NotifyState::Watchdog]);
                })
                .map_err(|e| DaemonError::Io(format!("cannot start the watchdog thread: {e}")))?,
            )
        }
    };
    let tick_clock = clock.clone();
    let source_watch = config.alerts.enabled().then(|| {
        tokio::spawn(crate::alerts::watch_sources(
            ws.store.clone(),
            config.alerts.clone(),
            clock.clone(),
            alerts.clone(),
            stop.clone(),
        ))
    });
    // Looks for releases when `[update] mode` asks; reports how the last
    // update ended either way.
    let update_check = tokio::spawn(crate::update::check::run(
        config.clone(),
        clock.clone(),
        alerts.clone(),
        update_status,
        stop.clone(),
    ));
    let tick_liveness = liveness.clone();
    let on_tick: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        scheduler_tick.store(
            tick_clock.now().timestamp_millis(),
            std::sync::atomic::Ordering::Relaxed,
        );
        tick_liveness.scheduler_beat();
    });
    let backups = Backups::from_config(&config).ok();
    let parts = WorkerParts {
        engine: engine.clone(),
        config: config.clone(),
        clock: clock.clone(),
        backups: backups.clone(),
        on_tick,
        alerts: alerts.clone(),
        liveness: liveness.clone(),
    };
    let mut workers = Workers::start(&parts, &ws);
    // READY=1 goes out here and nowhere earlier: migrations ran
    // (open_for_work), the HTTP listener is bound (WebServer::start above
    // fails start-up if it cannot bind) and the scheduler is up.
    notify_systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("running"),
    ]);
    // The same moment for whoever started us with BLOG_POSTER_READY_FILE
    // (tests, supervisors): the address actually bound, e.g. for port 0.
    if let Err(e) = crate::ready_file::announce(web.local_addr) {
        workers.stop().await;
        let _ = tokio::task::spawn_blocking(move || web.stop()).await;
        return Err(e.into());
    }
    tracing::info!(
        owner = %engine.owner,
        sites = config.sites.len(),
        database = %config.database.backend.describe(),
        http = %web.local_addr,
        ready_ms = started.elapsed().as_millis() as u64,
        "blog-poster ready"
    );
    loop {
        tokio::select! {
            _ = stop.changed() => {
                if *stop.borrow() { break; }
            }
            Some(request) = control.rx.recv() => {
                match request {
                    ControlRequest::Restore { id, progress, reply } => {
                        let result =
                            restore_in_daemon(id, &progress, &mut workers, &parts, &ws).await;
                        let _ = reply.send(result);
                    }
                    ControlRequest::Copy { url, options, replace, progress, reply } => {
                        let request = CopyInDaemon { url, options, replace, progress };
                        let result = copy_in_daemon(request, &mut workers, &parts, &ws).await;
                        let _ = reply.send(result);
                    }
                }
            }
        }
    }
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    workers.stop().await;
    let _ = tokio::task::spawn_blocking(move || web.stop()).await;
    if let Some(w) = source_watch {
        let _ = w.await;
    }
    update_check.abort();
    // Let queued alerts out before exiting.
    if let Some(task) = alert_task {
        task.drain(std::time::Duration::from_secs(10)).await;
    }
    tracing::info!("stopped");
    if let Some(w) = watchdog {
        w.stop();
    }
    let _ = heartbeat_stop.send(true);
    drop(ws);
    let failure = fatal.lock().unwrap_or_else(|p| p.into_inner()).take();
    match failure {
        Some(msg) => Err(DaemonError::Io(msg)),
        None => Ok(()),
    }
}

/// What the daemon's workers are made of; kept to restart them after a
/// restore or a copy.
struct WorkerParts {
    engine: Arc<Engine>,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    backups: Option<Backups>,
    /// Called after each scheduler pass: the readiness tick and the
    /// scheduler's heartbeat for the watchdog.
    on_tick: Arc<dyn Fn() + Send + Sync>,
    alerts: crate::alerts::Alerts,
    liveness: Arc<watchdog::Liveness>,
}

/// The tasks that work on the database; stopped for a restore.
struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    liveness: Arc<watchdog::Liveness>,
}

impl Workers {
    fn start(parts: &WorkerParts, ws: &Workspace) -> Workers {
        // The scheduler counts as alive from now, and must keep beating.
        parts.liveness.scheduler_running(true);
        let (stop, rx) = watch::channel(false);
        let on_tick = parts.on_tick.clone();
        let mut tasks = vec![
            tokio::spawn(parts.engine.clone().run(rx.clone(), None)),
            tokio::spawn(crate::scheduler::run(
                ws.store.clone(),
                parts.config.clone(),
                parts.clock.clone(),
                rx.clone(),
                move || on_tick(),
            )),
        ];
        if let Some(b) = &parts.backups {
            tasks.push(tokio::spawn(crate::backup::task::run(
                b.clone(),
                ws.store.clone(),
                parts.clock.clone(),
                rx,
                parts
                    .config
                    .scheduler
                    .tick
                    .max(std::time::Duration::from_secs(1)),
                parts.alerts.clone(),
            )));
        }
        Workers {
            stop,
            tasks,
            liveness: parts.liveness.clone(),
        }
    }

    /// Stops every task gracefully and waits for them. The scheduler is
    /// paused, not stuck, from here: the watchdog stops checking it.
    async fn stop(&mut self) {
        self.liveness.scheduler_running(false);
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

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

use crate::alerts::AlertObserver;
use crate::clock::Clock;
use crate::config::{Config, DatabaseBackend};
use crate::domain::lifecycle::Timestamp;
use crate::instance::{InstanceError, InstanceLock};
use crate::pipeline::engine::{Engine, LogObserver, Observer, owner_id};
use crate::pipeline::stage::StageSet;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{AppliedMigration, Reclaimed, SiteSpec, SourceSpec, Store, StoreError};

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

/// An opened database this process may work on.
pub struct Workspace {
    pub store: Arc<dyn Store>,
    /// The same store when it is SQLite (backups and restore need the file).
    pub sqlite: Option<Arc<SqliteStore>>,
    /// Held while the process lives: one worker process per SQLite database.
    /// None with PostgreSQL, where several instances share the work.
    _lock: Option<InstanceLock>,
    /// Jobs found running at start (their process died): requeued, or dead
    /// (out of attempts, or a poison pill).
    pub reclaimed: Reclaimed,
    pub migrated: Vec<AppliedMigration>,
}

/// The config's sites as the store keeps them.
pub fn site_specs(config: &Config) -> Vec<SiteSpec> {
    config
        .sites
        .iter()
        .map(|s| SiteSpec {
            name: s.name.clone(),
            enabled: s.enabled,
            max_concurrency: s.max_concurrency,
            sources: s
                .sources
                .iter()
                .map(|src| SourceSpec {
                    url: src.url.to_string(),
                    kind: src.kind.as_str().into(),
                })
                .collect(),
        })
        .collect()
}

/// Applies pending migrations if allowed; otherwise says how to.
pub fn ensure_migrated(
    store: &dyn Store,
    auto_migrate: bool,
    now: Timestamp,
) -> Result<Vec<AppliedMigration>, StoreError> {
    let status = store.schema_status()?;
    if status.pending.is_empty() {
        return Ok(vec![]);
    }
    if !auto_migrate {
        return Err(StoreError::Schema(format!(
            "the database needs {} migration(s) ({}): run `blog-poster db migrate` (database.auto_migrate is off)",
            status.pending.len(),
            status.pending.join(", ")
        )));
    }
    store.migrate(now)
}

/// Opens the SQLite database at the configured path without taking the
/// instance lock (for read-only commands). Refused for PostgreSQL.
pub fn open_sqlite(config: &Config) -> Result<SqliteStore, StoreError> {
    match &config.database.backend {
        DatabaseBackend::Sqlite { path } => SqliteStore::open(path, config.database.busy_timeout),
        DatabaseBackend::Postgres { .. } => Err(StoreError::Conflict(format!(
            "this needs a SQLite database, but database.url is {}",
            config.database.backend.describe()
        ))),
    }
}

/// Opens the configured database, SQLite or PostgreSQL, without any lock.
/// Blocking (PostgreSQL connects here): call it off the async workers.
pub fn open_database(config: &Config) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match &config.database.backend {
        DatabaseBackend::Sqlite { path } => {
            Arc::new(SqliteStore::open(path, config.database.busy_timeout)?)
        }
        DatabaseBackend::Postgres { url } => {
            Arc::new(PgStore::open(url, &config.database.postgres)?)
        }
    })
}

/// The instance lock of a SQLite database (one working process at a time);
/// `None` for PostgreSQL, where several instances may work at once.
pub fn instance_lock(config: &Config) -> Result<Option<InstanceLock>, InstanceError> {
    match &config.database.backend {
        DatabaseBackend::Sqlite { path } => InstanceLock::acquire(path).map(Some),
        DatabaseBackend::Postgres { .. } => Ok(None),
    }
}

/// Everything a working process does before its first job: data dir, lock,
/// schema, sites, and orphaned jobs. Blocking; call it off the async workers.
pub fn open_for_work(config: &Config, now: Timestamp) -> Result<Workspace, DaemonError> {
    crate::private_files::private_dir(&config.data_dir).map_err(|e| {
        DaemonError::Io(format!(
            "cannot create the data folder {}: {e}",
            config.data_dir.display()
        ))
    })?;
    let lock = instance_lock(config)?;
    // The SQLite store is kept by its type as well: backups and restore
    // need its file.
    let (store, sqlite): (Arc<dyn Store>, Option<Arc<SqliteStore>>) = match &config.database.backend
    {
        DatabaseBackend::Sqlite { path } => {
            let s = Arc::new(SqliteStore::open(path, config.database.busy_timeout)?);
            (s.clone(), Some(s))
        }
        DatabaseBackend::Postgres { .. } => (open_database(config)?, None),
    };
    let migrated = ensure_migrated(store.as_ref(), config.database.auto_migrate, now)?;
    store.sync_sites(&site_specs(config), now)?;
    // With the only lock on a SQLite database, every job still marked
    // running belongs to a process that died: requeue them now instead of
    // waiting for their leases to run out. On PostgreSQL other instances
    // may hold running jobs: only expired leases are taken back.
    // A job that died with the process `engine.poison_after` times in a
    // row is quarantined here (a poison pill) instead of killing us again.
    let reclaimed = store.reclaim_leases(lock.is_some(), config.engine.poison_after, now)?;
    // Jobs waiting for a cost cap are looked at again now if the caps
    // changed since the last start (a cap raised in the config takes effect
    // with this start). Provider cooldowns, Retry-After deadlines and a
    // site's rate limit keep their time: a restart is not a reason to call
    // a rate-limiting server again.
    crate::pipeline::cap_waits::wake_cap_waits_if_caps_changed(store.as_ref(), config, now)?;
    Ok(Workspace {
        store,
        sqlite,
        _lock: lock,
        reclaimed,
        migrated,
    })
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
        .with_daemon(control.handle.clone()),
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

//! The HTTP server inside `serve`: the JSON API under /api/v1, the status
//! page, /metrics, /healthz and /readyz.
//!
//! Layout: [`front`] owns the TCP listener, the connection limits and
//! every request limit (tiny_http has none), checking heads in
//! [`request_head`] and relaying through `upstream`; tiny_http parses the
//! relayed requests on private Unix sockets, and `workers` threads answer
//! them through [`api`] (one more thread answers only /healthz and /readyz). [`auth`] checks bearer tokens, [`metrics`] renders Prometheus
//! text, [`page`] serves the embedded status page. Handlers call the
//! synchronous `Store` directly: they run on their own threads, not on the
//! async runtime.

mod actions;
pub mod api;
pub mod auth;
pub mod front;
pub mod metrics;
pub mod operations;
mod page;
mod refusal_log;
mod reply;
pub mod request_head;
mod upstream;
mod views;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::BoxFuture;
use crate::store::Store;

pub use reply::{ApiError, Reply};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(
        "cannot listen for HTTP on {addr}: {error} (another program may use the port; set [http] listen to a free address)"
    )]
    Listen { addr: SocketAddr, error: String },
    #[error("cannot start the HTTP request handler: {0}")]
    Backend(String),
}

/// What the handlers share.
pub struct WebState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<metrics::Registry>,
    /// Unix milliseconds of the scheduler's last tick (0: not yet).
    pub scheduler_tick: Arc<AtomicI64>,
    /// The serialized /api/v1/status answer and when it was built.
    status_cache: Mutex<Option<(Instant, Arc<Vec<u8>>)>>,
    /// When each token's last_used_at was last written (at most once a minute).
    touched: Mutex<HashMap<i64, Instant>>,
    /// Rate-limited log lines for 401/403.
    refusals: refusal_log::RefusalLog,
    /// The running daemon (for a restore) and the runtime it lives on.
    daemon: Option<(Arc<dyn DaemonOps>, tokio::runtime::Handle)>,
    /// Long operations (db copy, restore) and their progress.
    pub operations: Arc<operations::Operations>,
    /// What serve's release check found (`[update]`), for /api/v1/status.
    pub update: crate::update::check::SharedStatus,
}

/// What the API asks of the daemon it runs in: the long operations that
/// need the workers paused. The daemon implements it (`daemon::DaemonHandle`);
/// this trait is all the web server knows of the daemon.
pub trait DaemonOps: Send + Sync {
    /// Restores backup `id` into the running daemon, telling `progress`
    /// each step; a damaged backup is refused before anything stops.
    fn restore_backup(
        &self,
        id: crate::backup::BackupId,
        progress: OperationProgress,
    ) -> BoxFuture<'static, Result<crate::backup::RestoreReport, crate::backup::BackupError>>;

    /// `db copy` while the daemon runs: pauses its workers, copies the
    /// SQLite database into PostgreSQL at `url`, verifies and resumes.
    fn copy_database(
        &self,
        url: String,
        options: crate::config::PgOptions,
        replace: bool,
        progress: OperationProgress,
    ) -> BoxFuture<'static, Result<crate::dbcopy::CopyReport, crate::dbcopy::CopyError>>;
}

/// Hears a long operation's progress, one line at a time (any thread).
pub type OperationProgress = Arc<dyn Fn(&str) + Send + Sync>;

/// How long /api/v1/status is served from memory.
pub const STATUS_CACHE: Duration = Duration::from_secs(1);

impl WebState {
    pub fn new(
        store: Arc<dyn Store>,
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        metrics: Arc<metrics::Registry>,
        scheduler_tick: Arc<AtomicI64>,
    ) -> Self {
        let update = Arc::new(Mutex::new(crate::update::check::UpdateStatus::initial(
            &config,
        )));
        WebState {
            update,
            store,
            config,
            clock,
            metrics,
            scheduler_tick,
            status_cache: Mutex::new(None),
            touched: Mutex::new(HashMap::new()),
            refusals: refusal_log::RefusalLog::default(),
            daemon: None,
            operations: Arc::default(),
        }
    }

    /// Lets the API ask the running daemon for what needs its workers
    /// paused (a restore). Call on the daemon's runtime.
    pub fn with_daemon(mut self, handle: Arc<dyn DaemonOps>) -> Self {
        self.daemon = Some((handle, tokio::runtime::Handle::current()));
        self
    }

    pub fn daemon(&self) -> Option<(&Arc<dyn DaemonOps>, &tokio::runtime::Handle)> {
        self.daemon.as_ref().map(|(d, r)| (d, r))
    }

    /// Forgets the cached status (after a write that changes it).
    pub fn invalidate_status(&self) {
        *self.status_cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// A running HTTP server.
pub struct WebServer {
    pub local_addr: SocketAddr,
    front: front::Front,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// tiny_http servers and how many handler threads each has.
    backends: Vec<(Arc<tiny_http::Server>, usize)>,
    socket_dir: PathBuf,
}

impl WebServer {
    /// Binds the listener and starts the threads. `on_fatal` is called (from
    /// a server thread) if serving cannot go on; the daemon then stops with
    /// an error so that systemd restarts it.
    pub fn start(
        state: Arc<WebState>,
        on_fatal: Arc<dyn Fn(String) + Send + Sync>,
    ) -> Result<WebServer, WebError> {
        let http = state.config.http.clone();
        let listener = TcpListener::bind(http.listen).map_err(|e| WebError::Listen {
            addr: http.listen,
            error: e.to_string(),
        })?;
        let local_addr = listener.local_addr().map_err(|e| WebError::Listen {
            addr: http.listen,
            error: e.to_string(),
        })?;
        let socket_dir = private_socket_dir().map_err(WebError::Backend)?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut backends = Vec::new();
        // The API's handlers, and one handler of its own for the probes.
        let workers = http.workers.max(1) as usize;
        let mut sockets = Vec::new();
        for (name, count) in [("http", workers), ("probes", 1)] {
            let socket = socket_dir.join(format!("{name}.sock"));
            let backend = tiny_http::Server::http_unix(&socket)
                .map_err(|e| WebError::Backend(format!("{}: {e}", socket.display())))?;
            let backend = Arc::new(backend);
            for i in 0..count {
                threads.push(spawn_handler(
                    format!("{name}-worker-{i}"),
                    backend.clone(),
                    state.clone(),
                    stop.clone(),
                    on_fatal.clone(),
                )?);
            }
            backends.push((backend, count));
            sockets.push(socket);
        }
        let probes = sockets.pop().unwrap_or_default();
        let main = sockets.pop().unwrap_or_default();
        let front = front::spawn(
            listener,
            front::Backends {
                main,
                pool: workers * 2,
                probes,
            },
            request_head::Limits::from_config(&http),
            request_head::HostPolicy::new(&http.allowed_hosts, local_addr),
            state.metrics.clone(),
            on_fatal,
        )
        .map_err(|e| WebError::Backend(e.to_string()))?;
        tracing::info!(listen = %local_addr, public_status = http.public_status, "HTTP server listening");
        Ok(WebServer {
            local_addr,
            front,
            stop,
            threads,
            backends,
            socket_dir,
        })
    }

    /// Stops accepting, lets requests in progress finish, then stops the
    /// request handlers and joins every thread.
    pub fn stop(self) {
        self.front.stop();
        self.stop.store(true, Ordering::Relaxed);
        // One unblock wakes one thread blocked in recv().
        for (backend, threads) in &self.backends {
            for _ in 0..*threads {
                backend.unblock();
            }
        }
        for t in self.threads {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.socket_dir);
    }
}

/// A thread answering the requests tiny_http parsed on one socket.
fn spawn_handler(
    name: String,
    backend: Arc<tiny_http::Server>,
    state: Arc<WebState>,
    stop: Arc<AtomicBool>,
    on_fatal: Arc<dyn Fn(String) + Send + Sync>,
) -> Result<JoinHandle<()>, WebError> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match backend.recv() {
                    Ok(rq) => api::handle(&state, rq),
                    Err(e) => {
                        if !stop.load(Ordering::Relaxed) {
                            on_fatal(format!("the HTTP request handler stopped: {e}"));
                        }
                        return;
                    }
                }
            }
        })
        .map_err(|e| WebError::Backend(e.to_string()))
}

/// A fresh directory only we can enter, for tiny_http's Unix socket.
fn private_socket_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::var_os("RUNTIME_DIRECTORY")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let mut rnd = [0u8; 8];
    getrandom::fill(&mut rnd).map_err(|e| format!("no random bytes: {e}"))?;
    let dir = base.join(format!(
        "blog-poster-http-{}-{}",
        std::process::id(),
        hex::encode(rnd)
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

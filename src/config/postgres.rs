//! The `[database]` options only PostgreSQL uses, as plain values: the
//! store's PostgreSQL backend connects with them; the config knows nothing
//! of connections.

use std::path::PathBuf;
use std::time::Duration;

/// The `[database]` settings that only PostgreSQL uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// PEM file with the CA certificate(s) that sign the server's
    /// certificate (managed providers publish theirs).
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. Only for a server you cannot give a
    /// proper certificate; logged at warn on every connect.
    pub tls_insecure: bool,
    /// Connections this process opens at most.
    pub pool_size: u32,
    /// How long a caller waits for a free connection.
    pub pool_timeout: Duration,
    pub connect_timeout: Duration,
    /// Any one statement longer than this is cancelled by the server.
    pub statement_timeout: Duration,
    /// Tables live in this schema (`search_path`); `None` uses the
    /// server's default (public). Lets several test suites share a database.
    pub schema: Option<String>,
    /// What `pg_stat_activity` shows for our sessions.
    pub application_name: String,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            ca_file: None,
            tls_insecure: false,
            pool_size: 8,
            pool_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
            schema: None,
            application_name: "blog-poster".into(),
        }
    }
}

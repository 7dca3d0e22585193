//! PostgreSQL for the tests: `BLOG_POSTER_TEST_POSTGRES_URL` names a database
//! (scripts/test.sh creates a fresh one per run; unset, the default of
//! services.rs); each test gets its own schema in it, dropped afterwards, so
//! tests run in parallel. An unreachable server fails the test (see
//! `services::require`): it never skips.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use blog_poster::config::PgOptions;
use blog_poster::store::postgres::PgStore;

pub const URL_VAR: &str = crate::services::POSTGRES_URL_VAR;

/// The test database's URL; fails the test when PostgreSQL is unreachable
/// (or opted out of).
pub fn url() -> String {
    crate::services::require(crate::services::Service::Postgres)
}

fn admin(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("PostgreSQL is unreachable at {url}: {e}"))
}

/// A schema of the test database that lives as long as this value.
pub struct TestSchema {
    pub url: String,
    pub name: String,
}

impl TestSchema {
    /// A fresh, empty schema named after `what`.
    pub fn create(what: &str) -> TestSchema {
        static N: AtomicU32 = AtomicU32::new(0);
        let url = url();
        let name = format!(
            "bp_{what}_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            fastrand::u32(..)
        );
        admin(&url)
            .batch_execute(&format!("CREATE SCHEMA \"{name}\""))
            .expect("create schema");
        TestSchema { url, name }
    }

    pub fn options(&self) -> PgOptions {
        PgOptions {
            schema: Some(self.name.clone()),
            application_name: self.name.clone(),
            pool_size: 8,
            statement_timeout: Duration::from_secs(60),
            ..PgOptions::default()
        }
    }

    /// A store on this schema (not migrated).
    pub fn open(&self) -> PgStore {
        PgStore::open(&self.url, &self.options()).expect("open PostgreSQL store")
    }

    /// A plain client with this schema on its search path.
    pub fn client(&self) -> postgres::Client {
        let mut c = admin(&self.url);
        c.batch_execute(&format!("SET search_path TO \"{}\"", self.name))
            .expect("search_path");
        c
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", self.name));
        }
    }
}

/// A database of its own on the test server (for `db copy` targets, which
/// need a whole database, not a schema), dropped when the value is.
pub struct FreshDb {
    admin: String,
    name: String,
    pub url: String,
}

impl FreshDb {
    pub fn create(what: &str) -> FreshDb {
        let admin = url();
        let name = format!("bp_{what}_{}_{}", std::process::id(), fastrand::u32(..));
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("admin connect");
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        FreshDb { admin, name, url }
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

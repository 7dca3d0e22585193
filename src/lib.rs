//! blog-poster: a self-hosted content-automation appliance in one binary.
//!
//! The map, following one run through the code:
//!
//! - [`config`] finds and validates the TOML config once (durations, URLs,
//!   cron schedules, secrets); nothing downstream sees raw strings.
//! - [`store`] is the domain-level, synchronous `Store` trait and its SQLite
//!   implementation with embedded, checksummed migrations. Every job state
//!   change goes through the pure state machines in
//!   [`domain::lifecycle`].
//! - [`scheduler`] turns each site's cron schedule into runs; the next slot
//!   lives in the database.
//! - [`pipeline::engine`] claims due jobs with a lease, runs the stage through
//!   the [`pipeline::stage::StageRunner`] plug-in point, and commits the
//!   stage output together with the next job: monitor → topics → generate →
//!   check → publish. [`pipeline::publish`] posts to the site's publisher:
//!   the built-in [`pipeline::outbox`], or WordPress through the
//!   [`wordpress`] REST client, exactly once (the publish ledger).
//! - [`pipeline::monitor`] checks a site's due sources with [`feeds`]
//!   (conditional fetches, parsers, next-check schedule), guarded by
//!   [`ssrf`] for URLs from remote content and configured host names;
//!   [`pipeline::topics`] picks the run's topic with [`topics`].
//! - [`pipeline::generate`] and [`pipeline::check`] write and check articles:
//!   [`content`] holds their pure parts (prompts, the draft parser, link
//!   audits, deterministic checks, score and gate), [`llm`] the provider
//!   clients and the service that reserves every call's worst case against
//!   the caps in [`budget`] before it goes out and records it after.
//! - [`review`] is the review queue (approve, reject, publish again) behind
//!   `blog-poster article …`; `blog-poster doctor` runs
//!   [`wordpress::doctor`].
//! - [`alerts`] tells the operator about dead jobs, reached caps, failing
//!   sources and failed publishes or backups, by webhook or email,
//!   rate-limited.
//! - [`web`] is the HTTP server inside `serve`: the JSON API, the status
//!   page, /metrics and the probes, behind bearer tokens.
//! - [`tui`] is `blog-poster tui`, a terminal client of that API.
//! - [`update`] is `blog-poster self-update` and serve's look for new
//!   releases: signed artifacts, a pre-update backup, an atomic swap and
//!   automatic rollback.
//! - [`daemon`] is `serve` (signals, systemd notify, graceful stop; the
//!   bound address goes to [`ready_file`] for supervisors and tests);
//!   [`run_once`] is the foreground `run --once`; [`cli`] maps commands to
//!   these and errors to exit codes.
//!
//! - [`fence`] contains panics: one source, job stage, scheduler pass,
//!   backup or request that panics is recorded and alerted as that unit's
//!   failure, and everything else goes on (the release binary unwinds).
//!
//! Async only where the network is: the store is called through
//! `spawn_blocking`; time comes from an injected [`clock::Clock`].

pub mod alerts;
pub mod backup;
pub mod budget;
pub mod cli;
pub mod clock;
pub mod config;
pub mod content;
pub mod daemon;
pub mod dbcopy;
pub mod domain;
pub mod feeds;
pub mod fence;
pub mod http;
pub mod instance;
pub mod keywords;
pub mod llm;
pub mod logging;
pub mod pipeline;
pub mod private_files;
pub mod ready_file;
pub mod redact;
pub mod review;
pub mod run_once;
pub mod scheduler;
pub mod ssrf;
pub mod store;
pub mod topics;
pub mod tui;
pub mod update;
pub mod web;
pub mod wordpress;

//! Integration tests: one binary, with a small harness. Talks to real
//! SQLite files and real child processes; see each module.

mod harness;

mod cli;
mod crash;
mod monitor;
mod stages;
mod store_contract;
mod topics;

//! Integration tests: one binary, with a small harness. Talks to real
//! SQLite files and real child processes; see each module.

mod harness;

mod cli;
mod crash;
mod review_queue;
mod store_contract;
mod wordpress;
mod wordpress_crash;
mod wordpress_errors;
mod wp_env;

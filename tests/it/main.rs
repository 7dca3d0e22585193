//! Integration tests: one binary, with a small harness. Talks to real
//! SQLite files and real child processes; see each module.

mod fake_http;
mod fake_llm;
mod harness;

mod alerts;
mod api_root_pinning;
mod backup;
mod backup_s3;
mod budget;
mod cli;
mod cli_output;
mod cli_secrets;
mod content;
mod crash;
mod dbcopy;
mod dbcopy_run_once;
mod feed_corpus;
mod fuzz_regressions;
mod layers;
mod llm;
mod long_operations;
mod monitor;
mod packaging;
mod panic_fences;
mod paths;
mod pg_env;
mod pg_instances;
mod pg_store;
mod pipeline_e2e;
mod poison_pill;
mod private_files;
mod review_queue;
mod secret_injection;
mod self_update;
mod services;
mod stages;
mod store_contract;
mod systemd_unit;
mod topic_reservations;
mod topics;
mod tui_tmux;
mod waiting;
mod web_api;
mod web_client;
mod web_front;
mod web_metrics;
mod web_page;
mod web_security;
mod wordpress;
mod wordpress_crash;
mod wordpress_errors;

mod wp_env;

//! The pipeline: the pure lifecycles, the stage plug-in point, the engine
//! that runs jobs through them, and the publish stage (outbox or WordPress).
//!
//! Data flow per run: monitor → topics → generate → check → publish. Each
//! stage is one job; its output and the next job are committed together.

pub mod alerting;
pub mod cap_waits;
pub mod check;
pub mod engine;
pub mod generate;
pub mod monitor;
pub mod outbox;
pub mod publish;
pub mod stage;
pub mod topics;
pub mod workspace;

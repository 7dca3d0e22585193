//! Records for money: budget reservations before an LLM call, the call
//! itself once it answered (which settles its reservation), and the spend
//! reads the status page and the TUI show. Money is integer micro-dollars.

use serde::Serialize;

use super::{JobId, RunId};
use crate::budget::{BudgetCaps, CapRefusal};
use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ReservationId(pub i64);

impl std::fmt::Display for ReservationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A request to set aside the worst-case cost of one LLM call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRequest {
    pub site: String,
    pub job: Option<JobId>,
    pub run: Option<RunId>,
    /// The article the call is for ("run:12"): the per-article cap's scope.
    pub article_key: String,
    pub provider: String,
    pub model: String,
    pub purpose: String,
    /// Prompt estimate × input price + max_tokens × output price.
    pub amount: Money,
    pub caps: BudgetCaps,
}

/// The answer to a [`BudgetRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    Granted(ReservationId),
    /// Nothing was reserved; the call must not be made.
    Refused(CapRefusal),
}

/// How an LLM call ended, as stored in `llm_calls.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Ok,
    /// Answered, but cut off at max_tokens.
    Truncated,
    Refused,
    RateLimited,
    Overloaded,
    ServerError,
    Timeout,
    Network,
    QuotaExhausted,
    BadCredentials,
    InvalidRequest,
    MalformedResponse,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 12] = [
        CallOutcome::Ok,
        CallOutcome::Truncated,
        CallOutcome::Refused,
        CallOutcome::RateLimited,
        CallOutcome::Overloaded,
        CallOutcome::ServerError,
        CallOutcome::Timeout,
        CallOutcome::Network,
        CallOutcome::QuotaExhausted,
        CallOutcome::BadCredentials,
        CallOutcome::InvalidRequest,
        CallOutcome::MalformedResponse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Truncated => "truncated",
            CallOutcome::Refused => "refused",
            CallOutcome::RateLimited => "rate_limited",
            CallOutcome::Overloaded => "overloaded",
            CallOutcome::ServerError => "server_error",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Network => "network",
            CallOutcome::QuotaExhausted => "quota_exhausted",
            CallOutcome::BadCredentials => "bad_credentials",
            CallOutcome::InvalidRequest => "invalid_request",
            CallOutcome::MalformedResponse => "malformed_response",
        }
    }

    pub fn parse(s: &str) -> Option<CallOutcome> {
        CallOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// One LLM call as it ended. Recording it settles its reservation to
/// `cost` in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLlmCall {
    pub reservation: Option<ReservationId>,
    pub site: String,
    pub job: Option<JobId>,
    pub run: Option<RunId>,
    pub provider: String,
    pub model: String,
    pub purpose: String,
    /// From the API's usage fields; 0 when the call failed without usage.
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// What the call cost; for an outcome nobody knows (timeout after the
    /// request went out) the whole reservation.
    pub cost: Money,
    pub latency_ms: u64,
    pub outcome: CallOutcome,
    /// Redacted: never a secret.
    pub error: Option<String>,
}

/// A stored LLM call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LlmCallRecord {
    pub id: i64,
    pub site: Option<String>,
    pub job_id: Option<JobId>,
    pub run_id: Option<RunId>,
    pub provider: String,
    pub model: String,
    pub purpose: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: Money,
    pub latency_ms: u64,
    pub outcome: String,
    pub error: Option<String>,
    pub reservation_id: Option<ReservationId>,
    pub created_at: Timestamp,
}

/// Money spent (settled) and still reserved (unsettled: in flight, or
/// unknown after a crash, which counts as spent) in one scope and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SpendLine {
    pub settled: Money,
    pub unsettled: Money,
}

impl SpendLine {
    /// What the caps count.
    pub fn total(&self) -> Money {
        Money(
            self.settled
                .micros()
                .saturating_add(self.unsettled.micros()),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteSpend {
    pub site: String,
    pub today: SpendLine,
    pub month: SpendLine,
}

/// Settled LLM spend of one model this month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelSpend {
    pub provider: String,
    pub model: String,
    pub calls_today: u64,
    pub cost_today: Money,
    pub calls_month: u64,
    pub input_tokens_month: u64,
    pub output_tokens_month: u64,
    pub cost_month: Money,
}

/// Spend today and this month (UTC), globally, per site and per model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpendReport {
    /// "2026-11-05".
    pub day: String,
    /// "2026-11".
    pub month: String,
    pub global_today: SpendLine,
    pub global_month: SpendLine,
    /// Sites with any spend this month, by name.
    pub sites: Vec<SiteSpend>,
    /// Models with any call this month.
    pub models: Vec<ModelSpend>,
}

//! What both backends apply before text is stored: [`crate::redact`] over
//! every free-text field an error (and so a secret echoed by a server) can
//! reach — job and run errors, wait and pause reasons, source errors, LLM
//! call errors, publish errors, review reasons and event messages. Each
//! backend calls these at its `Store` entry points; its `insert_event`
//! redacts the events written inside other operations.

use std::borrow::Cow;

use super::{CheckDecision, JobFailure, NewLlmCall, StageOutput};
use crate::redact;

impl JobFailure {
    /// The failure with its error or reason redacted.
    pub fn redacted(&self) -> Cow<'_, JobFailure> {
        let text = match self {
            JobFailure::Retryable { error, .. } | JobFailure::Permanent { error } => error,
            JobFailure::Deferred { reason, .. } => reason,
        };
        let Cow::Owned(clean) = redact::text(text) else {
            return Cow::Borrowed(self);
        };
        let mut out = self.clone();
        match &mut out {
            JobFailure::Retryable { error, .. } | JobFailure::Permanent { error } => *error = clean,
            JobFailure::Deferred { reason, .. } => *reason = clean,
        }
        Cow::Owned(out)
    }
}

impl StageOutput {
    /// The output with its error and reason texts redacted (a clone only
    /// when something had to be masked: articles can be large).
    pub fn redacted(&self) -> Cow<'_, StageOutput> {
        let dirty = |s: &str| matches!(redact::text(s), Cow::Owned(_));
        let needed = match self {
            StageOutput::Monitor(m) => m
                .sources
                .iter()
                .any(|s| s.error.as_deref().is_some_and(dirty)),
            StageOutput::Check(c) => match &c.decision {
                CheckDecision::Review { reason } | CheckDecision::Reject { reason } => {
                    dirty(reason)
                }
                CheckDecision::Publish => false,
            },
            _ => false,
        };
        if !needed {
            return Cow::Borrowed(self);
        }
        let mut out = self.clone();
        match &mut out {
            StageOutput::Monitor(m) => {
                for s in &mut m.sources {
                    s.error = redact::option(s.error.as_deref());
                }
            }
            StageOutput::Check(c) => {
                if let CheckDecision::Review { reason } | CheckDecision::Reject { reason } =
                    &mut c.decision
                {
                    *reason = redact::string(reason);
                }
            }
            _ => {}
        }
        Cow::Owned(out)
    }
}

impl NewLlmCall {
    /// The call with its error redacted (the LLM clients redact already;
    /// this is the store's own guarantee).
    pub fn redacted(&self) -> Cow<'_, NewLlmCall> {
        match self.error.as_deref().map(redact::text) {
            Some(Cow::Owned(clean)) => {
                let mut out = self.clone();
                out.error = Some(clean);
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MonitorOutput, SourceOutcome};

    #[test]
    fn failures_and_source_errors_lose_their_secrets_before_storage() {
        redact::register("store-side-s3cret-value");
        let f = JobFailure::Permanent {
            error: "HTTP 500: Authorization: Basic dXNlcjpzdG9yZS1zaWRlLXMzY3JldC12YWx1ZQ==".into(),
        };
        let JobFailure::Permanent { error } = f.redacted().into_owned() else {
            unreachable!("same variant")
        };
        assert!(!error.contains("dXNlcjpz"), "{error}");
        let out = StageOutput::Monitor(MonitorOutput {
            sources: vec![SourceOutcome {
                url: "https://x.example/feed".into(),
                error: Some("echo store-side-s3cret-value".into()),
                ..SourceOutcome::default()
            }],
            items: Vec::new(),
        });
        let StageOutput::Monitor(m) = out.redacted().into_owned() else {
            unreachable!("same variant")
        };
        assert_eq!(m.sources[0].error.as_deref(), Some("echo [redacted]"));
        let clean = JobFailure::Retryable {
            error: "timeout".into(),
            jitter: 0.0,
        };
        assert!(matches!(clean.redacted(), Cow::Borrowed(_)));
    }
}

//! The SDK does not send a mutating call again once it may have reached AWS without an answer
//! coming back (the connection dropped, the answer timed out). Several calls have no idempotency
//! token AWS honours (CreateSnapshot, CopySnapshot), and moto honours none, so a second send
//! would make a second snapshot, volume or export. The action finds out what the first send made
//! instead: see [`super::ActionError::Unanswered`]. Calls that did get an answer are retried by
//! the SDK as before: throttling (refused, safe to send again) and server errors (5xx), which
//! may have been carried out; tokens cover the calls that have them, and the sandbox answers
//! 500 for what it does not implement, which must stay a plain failure.

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};

/// Forbids the SDK's retry of a call that failed without an answer.
#[derive(Debug)]
pub struct NoResendUnanswered;

impl ClassifyRetry for NoResendUnanswered {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(e)) if e.is_timeout_error() || e.is_response_error() || e.is_connector_error() => {
                RetryAction::RetryForbidden
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "pilotlight: no resend of an unanswered mutating call"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

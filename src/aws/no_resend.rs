//! The SDK does not send a mutating call again once it may have reached AWS without an answer
//! coming back (the connection dropped, the answer timed out). Several calls have no idempotency
//! token AWS honours (CreateSnapshot, CopySnapshot), and moto honours none, so a second send
//! would make a second snapshot, volume or export. The action finds out what the first send made
//! instead: see [`super::ActionError::Unanswered`]. Answers that say the call was refused
//! (throttling, a server error with a body) are still retried by the SDK as before.

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

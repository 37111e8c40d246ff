//! The SDK does not send a mutating call again once it may have been carried out without the
//! tool learning how: the connection dropped, the answer timed out, or the service answered with
//! an internal error (`InternalError`, `InternalFailure`, `InternalServerError`: AWS says such a
//! request may have succeeded). Several calls have no idempotency token AWS honours
//! (CreateSnapshot, CopySnapshot), and moto honours none, so a second send would make a second
//! snapshot, volume or export. The action finds out what the first send made instead: see
//! [`super::ActionError::Unanswered`]. Other answers are retried by the SDK as before:
//! throttling and unavailability (refused, safe to send again); and the sandbox's bare 500 for
//! what it does not implement, which carries no such code, stays a plain failure.

use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};
use std::error::Error;
use std::marker::PhantomData;

/// Error codes of an internal failure: the call may have been carried out.
pub const MAY_HAVE_ACTED: [&str; 3] = ["InternalError", "InternalFailure", "InternalServerError"];

/// True when a service error code says the call may have been carried out.
pub fn may_have_acted(code: Option<&str>) -> bool {
    code.is_some_and(|c| MAY_HAVE_ACTED.contains(&c))
}

/// Forbids the SDK's retry of a call that failed without a clear answer; `E` is the
/// operation's error type (to read the service's error code).
#[derive(Debug)]
pub struct NoResendUnanswered<E>(PhantomData<fn() -> E>);

impl<E> NoResendUnanswered<E> {
    pub fn new() -> Self {
        NoResendUnanswered(PhantomData)
    }
}

impl<E> Default for NoResendUnanswered<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Error + ProvideErrorMetadata + Send + Sync + 'static> ClassifyRetry for NoResendUnanswered<E> {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(e)) = ctx.output_or_error() else { return RetryAction::NoActionIndicated };
        let no_answer = e.is_timeout_error() || e.is_response_error() || e.is_connector_error();
        let code = e.as_operation_error().and_then(|err| err.downcast_ref::<E>()).and_then(|err| err.code());
        if no_answer || may_have_acted(code) { RetryAction::RetryForbidden } else { RetryAction::NoActionIndicated }
    }

    fn name(&self) -> &'static str {
        "pilotlight: no resend of a mutating call that may have been carried out"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

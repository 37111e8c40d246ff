//! AWS access for actions and pollers: per-environment SDK configuration with the account guard,
//! journaled calls, polite waiting, and reading the status of declared resources.

pub mod answer_tree;
pub mod cfn;
pub mod dns;
pub mod envs;
pub mod no_resend;
pub mod ops;
pub mod read_memo;
pub mod resource_read;
pub mod resource_status;
pub mod wait;

pub use envs::{AwsEnvs, ConnectOptions};
pub use ops::{At, AwsFailure, Sent, at, mutate, read};

use crate::journal::JournalError;
pub use aws_sdk_sts::error::ProvideErrorMetadata;
use std::error::Error;

/// Why an action (or a poll) failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// An AWS API call failed; the message carries the SDK's full error chain.
    #[error("{service} {operation} on {target} ({region}): {message}")]
    Aws {
        service: &'static str,
        operation: &'static str,
        target: String,
        region: String,
        message: String,
        /// The service's error code, when it answered with one (`Throttling`, `DBSnapshotNotFound`).
        code: Option<Box<str>>,
    },
    /// The action finished and its result is a failure (e.g. a stack rolled back, a check did not hold).
    #[error("{0}")]
    Failed(String),
    /// Like `Failed`, with what the action produced before failing (a smoke test's output).
    #[error("{message}")]
    FailedWithOutputs { message: String, outputs: indexmap::IndexMap<String, serde_json::Value> },
    /// A dry run tried to send a mutating call; the call was not sent.
    #[error("dry run: refused to send {0}")]
    DryRunViolation(String),
    #[error("the journal could not be written, so the action stopped: {0}")]
    Journal(#[from] JournalError),
    #[error("timed out after {}", humantime::format_duration(*.0))]
    Timeout(std::time::Duration),
    /// A mutating call may have been carried out, and no answer said how (none came back, or an
    /// internal error). Not sent again blindly: the engine starts the next attempt, which, like a
    /// resume after a kill, first looks for what the call made.
    #[error("{call}: its outcome is unknown ({message}); it may have been carried out")]
    Unanswered { call: String, message: String },
}

/// Why a poll's error says nothing about the state waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    /// AWS asked for fewer requests, beyond what the SDK retries by itself.
    Throttled,
    /// Not found: for something made a moment ago, not visible yet (eventual consistency).
    NotFound,
}

/// Error codes that mean "too many requests, try later".
pub(crate) const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
];

impl ActionError {
    /// The service's error code of an AWS error (`InvalidSnapshot.NotFound`, `Throttling`).
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            ActionError::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether this error of a poll says nothing about the state waited for (see [`Transient`]).
    pub fn transient(&self) -> Option<Transient> {
        let code = self.aws_code()?;
        if THROTTLING.contains(&code) {
            Some(Transient::Throttled)
        } else if code.contains("NotFound") {
            Some(Transient::NotFound)
        } else {
            None
        }
    }

    /// What the action produced before it failed, for the journal.
    pub fn outputs(&self) -> indexmap::IndexMap<String, serde_json::Value> {
        match self {
            ActionError::FailedWithOutputs { outputs, .. } => outputs.clone(),
            _ => indexmap::IndexMap::new(),
        }
    }
}

/// One AWS call, as the journal records it. Only [`ops::read`] and [`ops::mutate`] make one, from
/// the request's type, so `mutating` is never a hand-typed flag.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub service: &'static str,
    pub operation: &'static str,
    pub target: &'a str,
    pub region: &'a str,
    pub mutating: bool,
    _sealed: Sealed,
}

/// Keeps [`Call`] from being built outside this module.
#[derive(Debug, Clone, Copy)]
struct Sealed;

impl<'a> Call<'a> {
    fn new(service: &'static str, operation: &'static str, at: At<'a>, mutating: bool) -> Call<'a> {
        Call { service, operation, target: at.target, region: at.region, mutating, _sealed: Sealed }
    }

    /// An [`ActionError::Aws`] for this call, with the service's error code if it gave one.
    pub fn error(&self, code: Option<&str>, message: impl Into<String>) -> ActionError {
        ActionError::Aws {
            service: self.service,
            operation: self.operation,
            target: self.target.into(),
            region: self.region.into(),
            message: message.into(),
            code: code.map(Box::from),
        }
    }

    pub fn label(&self) -> String {
        format!("{} {} on {} ({})", self.service, self.operation, self.target, self.region)
    }
}

/// Where calls are recorded. Actions journal every call; the console's pollers use [`NoLog`].
pub trait CallLog: Send + Sync {
    /// Called before a mutating call is sent; refusing (dry run) or failing to journal stops it.
    fn before_mutating(&self, call: &Call<'_>) -> Result<(), ActionError>;
    /// Called with the outcome of every call.
    fn finished(&self, call: &Call<'_>, error: Option<String>) -> Result<(), ActionError>;
    /// Called instead of [`CallLog::finished`] when a read answered "not found" (with the
    /// answer's text); by default that counts as a successful call.
    fn not_found(&self, call: &Call<'_>, _message: String) -> Result<(), ActionError> {
        self.finished(call, None)
    }
    /// The pauses of the run the calls belong to (a sandbox's pace scales them): how long a
    /// throttled call waits before it is sent again. By default `PILOTLIGHT_PAUSE_SCALE`'s.
    fn pauses(&self) -> crate::pauses::Pauses {
        crate::pauses::Pauses::from_env().unwrap_or_default()
    }
    /// Whether this log's reads keep their answers for the step's action (a preflight's, a
    /// wait's) or take the answers kept (the action's), see [`read_memo`]. By default neither.
    fn memo(&self) -> Option<read_memo::MemoUse<'_>> {
        None
    }
}

/// Records nothing and refuses every mutating call: for read-only pollers.
pub struct NoLog;

impl CallLog for NoLog {
    fn before_mutating(&self, call: &Call<'_>) -> Result<(), ActionError> {
        Err(ActionError::Failed(format!("read-only: refused to send {}", call.label())))
    }
    fn finished(&self, _: &Call<'_>, _: Option<String>) -> Result<(), ActionError> {
        Ok(())
    }
}

/// The HTTP answer behind a service error, for errors the SDK could not parse.
pub trait RawAnswer {
    /// Status and body of the response, when the error came with one.
    fn raw_answer(&self) -> Option<(u16, String)>;
    /// True when the call may have reached AWS and no answer came back (the connection dropped,
    /// the answer timed out or could not be read): it may have been carried out.
    fn unanswered(&self) -> bool;
}

impl<E> RawAnswer for aws_sdk_sts::error::SdkError<E, aws_sdk_sts::config::http::HttpResponse> {
    fn raw_answer(&self) -> Option<(u16, String)> {
        let raw = self.raw_response()?;
        let body = raw.body().bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        Some((raw.status().as_u16(), body))
    }

    fn unanswered(&self) -> bool {
        use aws_sdk_sts::error::SdkError;
        match self {
            // Not credential, endpoint or signing failures (`other` with no kind): never sent.
            SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout() || d.as_other().is_some(),
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
            _ => false,
        }
    }
}

/// Renders an SDK error for people: `Code: message` from the service when it sent one (the
/// SDK's `Display` alone says only "service error"); when the SDK could not read the answer,
/// the code and message found in the raw body (moto's IAM denials arrive so), else the HTTP
/// status and the start of the body; otherwise the whole error chain (connection refused,
/// timeouts, credentials).
pub fn error_text<E: Error + ProvideErrorMetadata + RawAnswer + 'static>(e: &E) -> String {
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => return format!("{code}: {message}"),
        (Some(code), None) => return code.to_string(),
        _ => {}
    }
    if let Some((status, body)) = e.raw_answer() {
        return raw_text(status, &body);
    }
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// `Code: message (HTTP status)` from an XML or JSON error body, else the status and the
/// body's start.
fn raw_text(status: u16, body: &str) -> String {
    let field = |name: &str| {
        let xml = regex::Regex::new(&format!(r"(?s)<{name}>(.*?)</{name}>")).ok()?;
        let json = regex::Regex::new(&format!(r#""(?i:{name})"\s*:\s*"([^"]*)""#)).ok()?;
        xml.captures(body).or_else(|| json.captures(body)).map(|c| c[1].trim().to_string())
    };
    match (field("Code"), field("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message} (HTTP {status})"),
        (None, Some(message)) => format!("{message} (HTTP {status})"),
        _ => {
            let start: String = body.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect();
            if start.is_empty() {
                format!("HTTP {status} with an empty body")
            } else {
                format!("HTTP {status}: {start}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ActionError, Transient, raw_text};

    #[test]
    fn unparsed_error_bodies_still_say_what_went_wrong() {
        let xml = "<ErrorResponse><Error><Code>AccessDenied</Code><Message>User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: rds:RestoreDBInstanceFromDBSnapshot</Message></Error></ErrorResponse>";
        assert_eq!(
            raw_text(403, xml),
            "AccessDenied: User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: rds:RestoreDBInstanceFromDBSnapshot (HTTP 403)"
        );
        assert_eq!(raw_text(400, r#"{"__type":"x","message":"bad"}"#), "bad (HTTP 400)");
        assert_eq!(raw_text(403, ""), "HTTP 403 with an empty body");
        assert_eq!(raw_text(500, "<html>\n  oops </html>"), "HTTP 500: <html> oops </html>");
    }

    /// Catches a poll error taken as transient that is not (a wait would hide a real failure
    /// until its timeout), or one that is, not taken so (an hours-long wait ended by throttling).
    #[test]
    fn throttling_and_not_found_are_transient_and_nothing_else_is() {
        let aws = |message: &str| ActionError::Aws {
            service: "ec2",
            operation: "DescribeSnapshots",
            target: "snap-1".into(),
            region: "us-east-1".into(),
            message: message.into(),
            code: message.split_once(':').map(|(c, _)| c).filter(|c| !c.contains(' ')).map(Box::from),
        };
        assert_eq!(aws("RequestLimitExceeded: Request limit exceeded.").transient(), Some(Transient::Throttled));
        assert_eq!(aws("Throttling: Rate exceeded (HTTP 400)").transient(), Some(Transient::Throttled));
        assert_eq!(aws("InvalidSnapshot.NotFound: gone").transient(), Some(Transient::NotFound));
        assert_eq!(aws("DBSnapshotNotFound: gone").transient(), Some(Transient::NotFound));
        assert_eq!(aws("UnauthorizedOperation: no").transient(), None);
        assert_eq!(aws("dispatch failure: io error: connection refused").transient(), None);
        assert_eq!(ActionError::Failed("Throttling".into()).transient(), None);
    }
}

//! What the journal records: one JSON object per line, each an [`Entry`].
//!
//! The journal is the run's source of truth: the console, `resume`, `runs` and the after-action
//! record are all rebuilt from it. It never holds credentials.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::sub_id::SubId;

/// A preflight check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One check of one resource before a failback step's gate (`crate::preflight`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightCheck {
    pub resource: String,
    /// The rule, short (`encrypted-copy-key`, `global-cluster`, ...).
    pub rule: String,
    pub verdict: Verdict,
    pub why: String,
}

/// A step's place in the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    AwaitingGate,
    Running,
    /// The action failed and the operator is asked: retry, skip or abort. Journaled before the
    /// question, so a run killed at the prompt asks again on resume instead of retrying.
    AwaitingDecision,
    Succeeded,
    Failed,
    Skipped,
}

impl StepStatus {
    /// A step in a final state is not run again on resume.
    pub fn is_final(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Failed | StepStatus::Skipped)
    }
}

/// The run as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished: running now, or stopped (crash, kill, closed console) and resumable.
    Running,
    Succeeded,
    /// A step failed and the run stopped (resumable).
    Failed,
    /// An operator aborted (resumable).
    Aborted,
    /// Given up with `pilotlight abandon` (who and why are journaled); not resumable, and it no
    /// longer stops a new run of the same runbook.
    Abandoned,
    /// Put back as it was before its failbacks by `pilotlight undo` (the failed-back copies kept
    /// aside); not resumable, and it no longer stops a new run of the same runbook.
    Undone,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Aborted => "aborted",
            RunStatus::Abandoned => "abandoned",
            RunStatus::Undone => "undone",
        }
    }
}

/// An operator's answer at a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateOutcome {
    Approved,
    Skipped,
    Aborted,
}

/// An operator's answer after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureOutcome {
    Retry,
    Skip,
    Abort,
    /// Put primary back as it was (a failback step: `b`, `:rollback`, `on_failure: rollback`),
    /// then stop the run; a resume fails back again.
    Rollback,
}

/// Where a sub-step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubPhase {
    Started,
    Waiting,
    Done,
    Reset,
}

/// How an AWS call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// Written before a mutating call is sent, so a crash leaves evidence it may have happened.
    Sending,
    Ok,
    Error,
    /// A read answered that the thing does not exist: an answer, not a failure (a stack looked
    /// for before it is created).
    NotFound,
}

/// Where the run's calls go, as last recorded (started with, or overridden on a resume).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Endpoint {
    /// AWS's own endpoints.
    Aws,
    /// The local sandbox at this URL.
    Sandbox { url: String },
    /// An endpoint given with `--endpoint-url` (a moto server, a proxy).
    Url { url: String },
}

impl Endpoint {
    pub fn url(&self) -> Option<&str> {
        match self {
            Endpoint::Aws => None,
            Endpoint::Sandbox { url } | Endpoint::Url { url } => Some(url),
        }
    }

    /// What the run was started with.
    pub fn from_start(endpoint_url: Option<&str>, sandbox: bool) -> Endpoint {
        match (endpoint_url, sandbox) {
            (Some(url), true) => Endpoint::Sandbox { url: url.to_string() },
            (Some(url), false) => Endpoint::Url { url: url.to_string() },
            (None, _) => Endpoint::Aws,
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Aws => f.write_str("AWS default endpoints"),
            Endpoint::Sandbox { url } => write!(f, "sandbox {url}"),
            Endpoint::Url { url } => write!(f, "endpoint {url}"),
        }
    }
}

/// Journals before December 2026 wrote an override as text (`sandbox URL`, `endpoint URL`,
/// `AWS default endpoints`); both forms read.
impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Endpoint, D::Error> {
        #[derive(Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        enum Tagged {
            Aws,
            Sandbox { url: String },
            Url { url: String },
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Tagged(Tagged),
        }
        Ok(match Either::deserialize(d)? {
            Either::Text(text) => match text.split_once(' ') {
                Some(("sandbox", url)) => Endpoint::Sandbox { url: url.to_string() },
                Some(("endpoint", url)) => Endpoint::Url { url: url.to_string() },
                _ => Endpoint::Aws,
            },
            Either::Tagged(Tagged::Aws) => Endpoint::Aws,
            Either::Tagged(Tagged::Sandbox { url }) => Endpoint::Sandbox { url },
            Either::Tagged(Tagged::Url { url }) => Endpoint::Url { url },
        })
    }
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        runbook: String,
        runbook_title: String,
        /// Where the runbook file was when the run started (its text is copied into the run directory).
        runbook_path: String,
        /// Directory relative paths in the runbook resolve against.
        base_dir: String,
        inputs: IndexMap<String, Value>,
        dry_run: bool,
        /// The endpoint every call goes to, when overridden (sandbox, `--endpoint-url`).
        endpoint_url: Option<String>,
        sandbox: bool,
        user: String,
        pilotlight_version: String,
        /// `--phase`: the run stages only, or cuts over only (skipping the stage steps); absent,
        /// it runs every step.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<crate::runbook::Phase>,
    },
    RunResumed {
        user: String,
        /// Where calls go from now on, when the resume was told something other than what the
        /// run recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint_override: Option<Endpoint>,
    },
    /// The account guard, run for every environment before step 1 (on start and on resume): the
    /// account STS reported for the environment's credentials, and what the runbook expects.
    AccountChecked {
        env: String,
        region: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arn: Option<String>,
        ok: bool,
        /// A refusal, a failure to ask STS, or a warning (no `account_id` to guard with).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The operator stopped the process (Ctrl-C); the run stays resumable.
    RunInterrupted {
        user: String,
    },
    /// `pilotlight abandon`: the run is given up (followed by `run_finished` with `abandoned`).
    /// Also journaled in a run superseded by a new one (see [`Event::RunSupersedes`]).
    RunAbandoned {
        user: String,
        reason: String,
    },
    /// Journaled in a new run right after `run_started`: it took the place of an unfinished run of
    /// the same runbook against the same environments that never sent a mutating call (that run
    /// is abandoned, naming this one).
    RunSupersedes {
        run_id: String,
        reason: String,
    },
    StepStatus {
        step: String,
        status: StepStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    GateDecided {
        step: String,
        outcome: GateOutcome,
        user: String,
        /// What the operator typed at a type-to-confirm gate.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        typed: Option<String>,
        /// Checklist items ticked.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        checked: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// True when `--auto-approve` passed the gate rather than a person.
        #[serde(default)]
        auto: bool,
    },
    /// One approval of a gate that needs several people (`approvers` in team mode): the driver's
    /// own first, then each other approver's, each identified by the AWS identity STS gives
    /// their credentials (never a name they type). The gate is decided once enough are in.
    Approval {
        step: String,
        /// The identity's ARN (`arn:aws:iam::123456789012:user/ana`).
        identity: String,
        /// STS's UserId (`AIDA...`, or `AROA...:session` for a role), what IAM scopes by.
        user_id: String,
        /// The driver's own approval (given at its gate).
        #[serde(default)]
        driver: bool,
        /// Approvals the gate needs in all.
        needed: u8,
    },
    /// A failback step's resources checked before its gate (reads only); any `fail` holds the
    /// step back until the operator decides.
    PreflightChecked {
        step: String,
        checks: Vec<PreflightCheck>,
    },
    ActionStarted {
        step: String,
        action: String,
        attempt: u32,
        params: Value,
    },
    AwsCall {
        step: String,
        /// The sub-step that made the call; `None` for a call outside any sub-step (and in
        /// journals written before calls carried it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sub: Option<SubId>,
        service: String,
        operation: String,
        target: String,
        region: String,
        mutating: bool,
        outcome: CallOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A named part of an action (`snapshot-recovery-volumes`, `stop-primary`, ...): how the
    /// action survives a kill between any two AWS calls. `started` carries what it is about to do,
    /// `waiting` a state change seen while waiting, `done` what it produced (replayed on resume
    /// instead of calling AWS again), `reset` that a rollback undid it.
    SubStep {
        step: String,
        name: SubId,
        attempt: u32,
        phase: SubPhase,
        #[serde(default, skip_serializing_if = "Value::is_null")]
        data: Value,
    },
    /// A rollback undid these sub-steps, all in this one entry (so no kill leaves some of them
    /// reset and the rest not): a retry does them again. Each is as a `sub_step` with `reset`.
    SubStepsReset {
        step: String,
        names: Vec<SubId>,
        attempt: u32,
    },
    /// A line of output or a note from an action, for the operator and the record.
    ActionLog {
        step: String,
        message: String,
    },
    ActionFinished {
        step: String,
        attempt: u32,
        ok: bool,
        #[serde(default)]
        outputs: IndexMap<String, Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    FailureDecided {
        step: String,
        outcome: FailureOutcome,
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    RunFinished {
        status: RunStatus,
    },
    /// `pilotlight undo`: the run's failbacks are to be undone, primary put back from the
    /// originals they kept (who and why). Journaled once; an undo cut off goes on from its
    /// sub-steps when `undo` is given again.
    UndoStarted {
        user: String,
        reason: String,
    },
    /// One failback step undone (or failing to be): what was put back and what was kept aside.
    /// The undo's sub-steps and calls are journaled under the step, named `undo-*`.
    UndoStepFinished {
        step: String,
        ok: bool,
        #[serde(default)]
        outputs: IndexMap<String, Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A failed failback step rolled back (the operator's `rollback` decision or
    /// `on_failure: rollback`): primary put back from what it kept, as `undo-*` sub-steps under
    /// the step, what was failed back kept aside (`outputs` as an undo's). On success `reset`
    /// names the failback's sub-steps from its point of no return on (and the rollback's own),
    /// reset by this one entry, so a retry does them again and no kill leaves half of them reset.
    RolledBack {
        step: String,
        ok: bool,
        #[serde(default)]
        outputs: IndexMap<String, Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reset: Vec<SubId>,
    },
    /// The undo ended: every failback step undone (`ok`; followed by `run_finished` with
    /// `undone`), or one failed (the run stays as `failed`, and `undo` goes on from there).
    UndoFinished {
        ok: bool,
    },
}

impl Event {
    /// The step an event belongs to, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Event::StepStatus { step, .. }
            | Event::GateDecided { step, .. }
            | Event::Approval { step, .. }
            | Event::PreflightChecked { step, .. }
            | Event::ActionStarted { step, .. }
            | Event::AwsCall { step, .. }
            | Event::SubStep { step, .. }
            | Event::SubStepsReset { step, .. }
            | Event::ActionLog { step, .. }
            | Event::ActionFinished { step, .. }
            | Event::FailureDecided { step, .. } => Some(step),
            _ => None,
        }
    }
}

/// An event with its sequence number and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339 UTC with milliseconds.
    pub ts: String,
    #[serde(flatten)]
    pub event: Event,
}

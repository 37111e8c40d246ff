//! The after-action report as data. `--format json` is exactly this, serialised, so scripts and
//! the Markdown renderer read the same facts; every field is derived from the journal (and the
//! runbook copy the run started with), never from live AWS.

pub use crate::journal::{AccountCheck, DecisionRecord, GateRecord, SessionEvent, SessionKind, WaitRecord};
use crate::journal::{RunStatus, StepStatus, SubPhase};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Bumped when a field changes meaning or disappears (adding fields does not bump it).
pub const REPORT_FORMAT: u32 = 2;

/// Everything the report says about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub report_format: u32,
    pub run: RunHeader,
    /// RTO for the run, RPO per restored resource, each against the runbook's `targets`.
    pub objectives: Objectives,
    /// Every step, in runbook order (steps the runbook copy does not name come last).
    pub steps: Vec<StepReport>,
    /// Everything the run's actions kept on purpose, with the command that deletes it.
    pub retained: Vec<RetainedItem>,
    /// Configuration recorded before a resource was replaced, and what had to be re-applied.
    pub configuration: Vec<ConfigRecord>,
    /// Each test failback (`failback.rehearse`): how long its parts took, the prediction of the
    /// failback's window.
    #[serde(default)]
    pub rehearsals: Vec<Rehearsal>,
    /// `pilotlight undo`: who, why, when, and each failback step's undo (what was put back,
    /// what was kept aside). The kept-aside copies are in `retained`; the originals put back
    /// are no longer listed there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<crate::journal::UndoState>,
    /// Journaled AWS calls per step and resource.
    pub aws_calls: Vec<CallRow>,
    /// What the report could not establish and why (a missing runbook copy, a failed step whose
    /// kept resources may be missing from the outputs, ...).
    pub warnings: Vec<String>,
}

/// Who ran what, where, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub run_id: String,
    /// The runbook's `name`.
    pub runbook: String,
    pub title: String,
    /// Where the runbook file was when the run started (the report reads the run's own copy).
    pub runbook_path: String,
    /// The operator who started the run.
    pub user: String,
    pub pilotlight_version: String,
    pub dry_run: bool,
    /// `--phase`: the run staged only, or cut over only; `None`, every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<crate::runbook::Phase>,
    /// True when the run acted against the local sandbox (fake credentials).
    pub sandbox: bool,
    /// The endpoint every AWS call went to, when overridden; `None` means real AWS.
    pub endpoint_url: Option<String>,
    /// Inputs as journaled (secret values are already replaced by markers).
    pub inputs: IndexMap<String, Value>,
    pub started_at: String,
    /// The last `run_finished`; `None` while the run is running or was stopped without finishing.
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub status: RunStatus,
    /// Starts, resumes, interruptions and finishes, in order: a run that was resumed by someone
    /// else shows who.
    pub sessions: Vec<SessionEvent>,
    /// The account guard's results (every environment, on start and on every resume).
    pub accounts: Vec<AccountCheck>,
}

/// One step on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub id: String,
    /// From the runbook copy; `None` when the copy could not be read.
    pub title: Option<String>,
    /// The built-in action; `None` for a manual step.
    pub action: Option<String>,
    /// The runbook's `group`: steps of one group run at the same time, behind the first one's gate.
    pub group: Option<String>,
    pub status: StepStatus,
    /// The step's first journaled status (its gate opening, or the action starting).
    pub started_at: Option<String>,
    /// When it reached its final status; `None` while it is not final.
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    /// Action attempts started (retries and resumed attempts included).
    pub attempts: u32,
    pub reason: Option<String>,
    pub last_error: Option<String>,
    pub gates: Vec<GateRecord>,
    /// The operator's answers after failures (retry, skip, abort).
    pub decisions: Vec<DecisionRecord>,
    pub substeps: Vec<SubStepReport>,
    /// Every journaled AWS call of the step.
    pub calls: CallCount,
    /// The latest checks of the step's resources before its gate (failback steps), with when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<PreflightReport>,
}

/// A step's preflight: when, and every check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightReport {
    pub at: String,
    pub checks: Vec<crate::journal::PreflightCheck>,
}

/// One sub-step of an action (`app_server/stop-primary`, `upsert`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubStepReport {
    pub name: String,
    /// The part before `/` in the name: the resource the sub-step works on.
    pub resource: Option<String>,
    /// Where it ended: `done`, `reset` (a rollback undid it), or `started`/`waiting` (it never
    /// finished: the run stopped inside it).
    pub phase: SubPhase,
    /// Its first start (a retry or resume that starts it again does not move this).
    pub started_at: String,
    /// Its last `done` (or `reset`), if it is in that phase now.
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    /// Times it was started (a retry or a resume after a kill starts it again).
    pub attempts: u32,
    /// What it waited for, as journaled on each change (`snapshot snap-1 pending (45%)`).
    pub waits: Vec<WaitRecord>,
    /// The calls it made (see [`CallRow`]).
    pub calls: CallCount,
}

/// Counts of journaled AWS calls. A mutating call counts once (its `sending` entry, written
/// before it is sent); a read counts once (its outcome). Successful reads inside waits are not
/// journaled, so they are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCount {
    pub total: u32,
    pub mutating: u32,
    pub errors: u32,
}

/// The calls of one step made for one resource, or for the step itself.
///
/// Every call is journaled with the sub-step that made it, and a sub-step names its resource, so
/// nothing is guessed. (Format 1 had an `unattributed` count, from guessing by journal order.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRow {
    pub step: String,
    /// `None`: calls outside any resource's sub-step.
    pub resource: Option<String>,
    #[serde(flatten)]
    pub count: CallCount,
    /// The first mutating call's `sending` time.
    pub first_mutating_at: Option<String>,
}

/// Something an action kept on purpose (detached volume, renamed instance, snapshot, backup).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetainedItem {
    /// The step whose outputs list it.
    pub step: String,
    pub resource: String,
    pub kind: String,
    pub id: String,
    pub region: String,
    pub why: String,
    /// The command that deletes it, for when the team decides to.
    pub delete_with: String,
}

/// A resource's configuration as recorded before it was replaced, and what the restore did not
/// carry over and had to be set again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub step: String,
    pub resource: String,
    /// As the action recorded it (`recorded_config`).
    pub recorded: Value,
    /// Each setting re-applied after the restore (`deletion protection: false -> true`).
    pub reapplied: Vec<String>,
}

/// One resource's rehearsal, from its action's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rehearsal {
    pub step: String,
    pub resource: String,
    /// The temporary name it was restored under (and removed).
    pub rehearsed_as: String,
    /// Seconds per part (`snapshot`, `copy`, `restore`, `configure`), in the order taken.
    pub durations_s: IndexMap<String, f64>,
    /// Their sum: how long the same failback would take.
    pub predicted_window_s: f64,
    /// Fields of the restored copy that still differed from primary, with why.
    pub remaining_differences: Vec<String>,
}

/// How a measurement compares with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Measured and within the target.
    Ok,
    /// Measured and over the target.
    Missed,
    /// Measured; the runbook sets no target.
    NoTarget,
    /// Not measured; `reason` says why.
    NotMeasured,
}

/// The recovery objectives as measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Objectives {
    pub rto: Rto,
    /// One per resource whose failback recorded a recovery point.
    pub rpo: Vec<Rpo>,
    /// The runbook's `targets.rpo`, as written.
    pub rpo_target: Option<String>,
    /// Fence → first smoke test passed after the flip.
    #[serde(default)]
    pub downtime: Downtime,
}

/// How long the application was down: from the fence's first disruptive call (recovery stops
/// serving) to the first smoke test passing after the DNS flip (primary serves).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Downtime {
    pub measured_ms: Option<u64>,
    pub start: Option<Moment>,
    pub end: Option<Moment>,
    /// Why it was not measured.
    pub reason: Option<String>,
}

/// A journal moment the report measures from or to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moment {
    pub at: String,
    pub seq: u64,
    pub step: Option<String>,
    /// What happened (`ec2 StopInstances i-1 (us-east-1)`, `flip-dns succeeded`).
    pub what: String,
}

/// Recovery time: from the run's first disruptive (mutating) AWS call to the later of the DNS
/// flip finishing and the first smoke test passing after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rto {
    /// The runbook's `targets.rto`, as written.
    pub target: Option<String>,
    pub measured_ms: Option<u64>,
    pub verdict: Verdict,
    /// Why it was not measured, or a caveat about the measurement.
    pub reason: Option<String>,
    /// The first mutating call of the run.
    pub start: Option<Moment>,
    /// The DNS flip step (`route53.upsert_record`) succeeding.
    pub dns_flip: Option<Moment>,
    /// The first `check.resource` or `exec` step to succeed after the flip.
    pub smoke_test: Option<Moment>,
}

/// One resource's data-loss window, against the RPO target: from its recovery point to when
/// recovery stopped taking writes (the fence holding; without a fence, the DNS flip). Zero or
/// less: the recovery point was taken after the last write recovery accepted, and nothing is lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rpo {
    pub step: String,
    pub resource: String,
    /// When the recovery point was taken (RFC 3339, from the action's outputs).
    pub recovery_point: Option<String>,
    /// When recovery stopped taking writes ([`crate::report::downtime::writes_stopped`]).
    pub measured_at: Option<Moment>,
    /// `measured_at - recovery_point`: the data-loss window (≤ 0: nothing lost).
    pub measured_ms: Option<i64>,
    pub verdict: Verdict,
    pub reason: Option<String>,
}

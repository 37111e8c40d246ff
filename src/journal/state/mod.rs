//! What the journal means: the one reducer.
//!
//! [`RunState::apply`] is the only code that gives journal events their meaning. The engine
//! decides from it (resume, retries, gates passed), an action reads its sub-steps from it (through
//! the recorder), the console's snapshot is this state plus rendered texts, and the after-action
//! report reads it. A new kind of event is given its meaning here and nowhere else. The cases in
//! `cases/` (journal lines in, expected state out) pin the meaning down.

mod calls;
#[cfg(test)]
mod cases;
mod step;
mod undo;

pub use calls::CallRecord;
pub use step::{Decided, DecisionRecord, GateRecord, StepState, SubStepState, WaitRecord};
pub use undo::{UndoState, UndoStepRecord};

use super::event::{Endpoint, Entry, Event, RunStatus};
use super::sub_id::SubId;
use calls::PendingCalls;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The AWS calls that disrupt what they act on: an instance stopped, detached, held out of its
/// group or terminated; a database or cluster renamed, modified, stopped, rebooted or deleted
/// (its endpoints too); a table deleted; a DNS record changed.
pub const DISRUPTIVE: &[&str] = &[
    "StopInstances",
    "DetachVolume",
    "EnterStandby",
    "TerminateInstances",
    "ModifyDBInstance",
    "ModifyDBCluster",
    "DeleteDBInstance",
    "DeleteDBCluster",
    "DeleteDBClusterEndpoint",
    "StopDBInstance",
    "StopDBCluster",
    "RebootDBInstance",
    "DeleteTable",
    "ChangeResourceRecordSets",
    // Recovery's Aurora cluster becomes a read-only secondary (a global database's making, in
    // the stage, is not a disruption).
    "SwitchoverGlobalCluster",
    // The fence's deny-writes policy on a recovery table (its StopInstances is listed above).
    "PutResourcePolicy",
];

/// The action that fences recovery's writes (see [`RunState::fence`]).
pub const FENCE_ACTION: &str = "recovery.fence";

/// The fence on recovery's writes as the journal shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FenceState<'a> {
    pub step: &'a str,
    /// Its first disruptive call (`sending`): the application in recovery goes down there.
    pub began: Option<&'a CallRecord>,
    /// When it was proved to hold (its `fenced_at` output, once the step succeeded).
    pub held: Option<&'a str>,
    /// The entry (seq, time) of its success, if it succeeded.
    pub succeeded: Option<(u64, &'a str)>,
}

/// Actions whose calls never disrupt: a rehearsal restores copies side by side and removes them.
const NEVER_DISRUPTIVE: &[&str] = &["failback.rehearse"];

/// One start, resume, interruption, abandonment or finish of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEvent {
    pub at: String,
    pub what: SessionKind,
    /// Who did it (`None` for a finish, which is not a person's act).
    pub user: Option<String>,
    /// For a finish: the status it finished with.
    pub status: Option<RunStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    Started,
    Resumed,
    Interrupted,
    Abandoned,
    Finished,
}

/// One result of the account guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountCheck {
    pub at: String,
    pub env: String,
    pub region: String,
    pub expected: Option<String>,
    pub account: Option<String>,
    pub ok: bool,
    pub message: Option<String>,
}

impl AccountCheck {
    /// The check an `account_checked` entry records (`None` for any other entry).
    pub fn of(entry: &Entry) -> Option<AccountCheck> {
        let Event::AccountChecked { env, region, expected, account, ok, message, .. } = &entry.event else {
            return None;
        };
        Some(AccountCheck {
            at: entry.ts.clone(),
            env: env.clone(),
            region: region.clone(),
            expected: expected.clone(),
            account: account.clone(),
            ok: *ok,
            message: message.clone(),
        })
    }

    /// What the guard found, in the words the line mode and the report share. An environment
    /// whose role comes from a step's output is not checked at the start (`ok`, no account): it
    /// is guarded when first used, through that role.
    pub fn describe(&self) -> String {
        let (env, region) = (&self.env, &self.region);
        let expected = self.expected.as_deref();
        let what = match (&self.account, self.ok) {
            (Some(acc), true) => format!("{env} ({region}) is account {acc}"),
            (None, true) => match expected {
                Some(exp) => format!("{env} ({region}): account {exp} expected, not checked at the start"),
                None => format!("{env} ({region}): not checked at the start"),
            },
            (Some(acc), false) => {
                format!("{env} ({region}): REFUSED, account {acc}, expected {}", expected.unwrap_or("any"))
            }
            (None, false) => format!("{env} ({region}): REFUSED, its account could not be read"),
        };
        match &self.message {
            Some(m) => format!("{what} ({m})"),
            None => what,
        }
    }
}

/// What the journal says about the run.
#[derive(Debug, Clone, Default)]
pub struct RunState {
    /// The `run_started` event, if the journal has one.
    pub started: Option<Event>,
    pub started_at: Option<String>,
    pub last_at: Option<String>,
    /// The standing `run_finished` (a resume after it reopens the run).
    pub status: Option<RunStatus>,
    /// When the standing `run_finished` was journaled.
    pub finished_at: Option<String>,
    /// The driving process stopped the run (Ctrl-C, a closed console, a signal) and nothing has
    /// resumed it since: its clocks stop at `stopped_at`.
    pub interrupted: bool,
    pub stopped_at: Option<String>,
    /// Where calls go now; `None` before `run_started`.
    pub endpoint: Option<Endpoint>,
    pub sessions: Vec<SessionEvent>,
    /// The unfinished run this one took the place of (it had sent no mutating call).
    pub supersedes: Option<String>,
    /// Every result of the account guard, in order (on start and on every resume).
    pub accounts: Vec<AccountCheck>,
    pub steps: IndexMap<String, StepState>,
    /// Every AWS call, in the order it was journaled (a mutating call's `sending` and outcome
    /// entries make one call).
    pub calls: Vec<CallRecord>,
    /// The index in `calls` of the call the last entry journaled or answered.
    pub last_call: Option<usize>,
    /// Every finished attempt's outputs, in journal order (a failed attempt of a failback still
    /// reports what it kept).
    pub finished_attempts: Vec<FinishedAttempt>,
    /// `pilotlight undo`, once asked for.
    pub undo: Option<UndoState>,
    pending: PendingCalls,
}

/// One `action_finished`.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedAttempt {
    pub step: String,
    pub attempt: u32,
    pub ok: bool,
    pub outputs: IndexMap<String, Value>,
}

impl RunState {
    /// The run's status; a run with no `run_finished` (or resumed since) is `Running`.
    pub fn status(&self) -> RunStatus {
        self.status.unwrap_or(RunStatus::Running)
    }

    pub fn step(&self, id: &str) -> StepState {
        self.steps.get(id).cloned().unwrap_or_default()
    }

    /// A sub-step of a step, as journaled so far.
    pub fn substep(&self, step: &str, id: &SubId) -> Option<&SubStepState> {
        self.steps.get(step).and_then(|s| s.substeps.get(id))
    }

    /// The latest result of the account guard for each environment, in the order first checked.
    pub fn account_of(&self, env: &str) -> Option<&AccountCheck> {
        self.accounts.iter().rev().find(|a| a.env == env)
    }

    /// The run's first mutating call (its `sending` entry).
    pub fn first_change(&self) -> Option<&CallRecord> {
        self.calls.iter().find(|c| c.mutating)
    }

    /// The run's first disruptive call (its `sending` entry): where disruption, and the RTO
    /// clock, begin. A stop, a detach, a rename, a delete, a DNS change ([`DISRUPTIVE`]); never a
    /// snapshot, a copy, a new volume, an export, a backup or a stack, and nothing a rehearsal
    /// does (it works on copies).
    pub fn first_disruption(&self) -> Option<&CallRecord> {
        self.calls.iter().find(|c| {
            c.mutating
                && DISRUPTIVE.contains(&c.operation.as_str())
                && self
                    .steps
                    .get(&c.step)
                    .and_then(|s| s.action.as_deref())
                    .is_none_or(|a| !NEVER_DISRUPTIVE.contains(&a))
        })
    }

    /// The fence: the latest `recovery.fence` step that started. It *began* at its first
    /// disruptive call, finished or not (the application went down there), and *holds* only
    /// once its success stands. The report's downtime and data-loss windows, and the console's,
    /// read it here.
    pub fn fence(&self) -> Option<FenceState<'_>> {
        let (id, step) = self
            .steps
            .iter()
            .filter(|(_, s)| s.action.as_deref() == Some(FENCE_ACTION))
            .max_by_key(|(_, s)| s.first_action.as_ref().map(|(seq, _)| *seq))?;
        let began =
            self.calls.iter().find(|c| c.mutating && c.step == *id && DISRUPTIVE.contains(&c.operation.as_str()));
        let succeeded = step.succeeded.as_ref().map(|(seq, at)| (*seq, at.as_str()));
        let held = succeeded.and(step.outputs.get("fenced_at").and_then(serde_json::Value::as_str));
        Some(FenceState { step: id, began, held, succeeded })
    }

    /// Applies one entry.
    pub fn apply(&mut self, entry: &Entry) {
        if self.started_at.is_none() {
            self.started_at = Some(entry.ts.clone());
        }
        self.last_at = Some(entry.ts.clone());
        self.last_call = None;
        let ts = &entry.ts;
        // An undo's or a rollback's outcome is reported like an attempt's (what it kept aside,
        // what it put back in use); neither is an attempt of the step.
        if let Event::UndoStepFinished { step, ok, outputs, .. } | Event::RolledBack { step, ok, outputs, .. } =
            &entry.event
        {
            let attempt = self.steps.get(step).map_or(0, |s| s.attempts);
            let outputs = outputs.clone();
            self.finished_attempts.push(FinishedAttempt { step: step.clone(), attempt, ok: *ok, outputs });
        }
        if UndoState::apply(&mut self.undo, entry) {
            return;
        }
        if let Event::RolledBack { step, ok, reset, .. } = &entry.event {
            self.steps.entry(step.clone()).or_default().rolled_back(*ok, reset, &entry.ts);
            return;
        }
        let session =
            |what, user: &str| SessionEvent { at: ts.clone(), what, user: Some(user.to_string()), status: None };
        match &entry.event {
            Event::RunStarted { user, endpoint_url, sandbox, .. } => {
                self.started = Some(entry.event.clone());
                self.endpoint = Some(Endpoint::from_start(endpoint_url.as_deref(), *sandbox));
                self.sessions.push(session(SessionKind::Started, user));
            }
            Event::RunResumed { user, endpoint_override } => {
                self.status = None;
                self.finished_at = None;
                self.interrupted = false;
                self.stopped_at = None;
                if let Some(to) = endpoint_override {
                    self.endpoint = Some(to.clone());
                }
                // Whatever was in flight belongs to the process that stopped, and so do the
                // approvals of its asks: a gate is asked again, and approved again.
                self.pending.clear();
                self.steps.values_mut().for_each(|s| drop(s.end_ask()));
                self.sessions.push(session(SessionKind::Resumed, user));
            }
            Event::RunInterrupted { user } => {
                self.interrupted = true;
                self.stopped_at = Some(ts.clone());
                self.pending.clear();
                self.steps.values_mut().for_each(|s| drop(s.end_ask()));
                self.sessions.push(session(SessionKind::Interrupted, user));
            }
            Event::RunAbandoned { user, .. } => self.sessions.push(session(SessionKind::Abandoned, user)),
            Event::RunSupersedes { run_id, .. } => self.supersedes = Some(run_id.clone()),
            Event::RunFinished { status } => {
                self.status = Some(*status);
                self.finished_at = Some(ts.clone());
                self.sessions.push(SessionEvent {
                    at: ts.clone(),
                    what: SessionKind::Finished,
                    user: None,
                    status: Some(*status),
                });
            }
            Event::AccountChecked { .. } => self.accounts.extend(AccountCheck::of(entry)),
            Event::AwsCall { step, .. } => {
                self.steps.entry(step.clone()).or_default();
                self.last_call = Some(self.pending.apply(&mut self.calls, entry));
            }
            event => {
                let Some(step) = event.step() else { return };
                if let Event::ActionStarted { .. } = event {
                    // A new attempt starts with no call of this step in flight.
                    self.pending.forget_step(step);
                }
                if let Event::ActionFinished { step, attempt, ok, outputs, .. } = event {
                    self.finished_attempts.push(FinishedAttempt {
                        step: step.clone(),
                        attempt: *attempt,
                        ok: *ok,
                        outputs: outputs.clone(),
                    });
                }
                self.steps.entry(step.to_string()).or_default().apply(entry);
            }
        }
    }

    /// Replays entries from the start.
    pub fn replay(entries: &[Entry]) -> RunState {
        let mut state = RunState::default();
        for e in entries {
            state.apply(e);
        }
        state
    }
}

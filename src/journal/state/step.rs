//! What the journal says about one step and its sub-steps.

use crate::journal::event::{Entry, Event, FailureOutcome, GateOutcome, PreflightCheck, StepStatus, SubPhase};
use crate::journal::sub_id::SubId;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An answer at a gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRecord {
    pub at: String,
    pub outcome: GateOutcome,
    pub user: String,
    /// True when `--auto-approve` passed the gate rather than a person.
    pub auto: bool,
    pub typed: Option<String>,
    pub checked: Vec<String>,
    pub reason: Option<String>,
    /// The AWS identities that approved it (a gate with `approvers`), the driver's first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
}

/// An answer after a failed attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub at: String,
    pub outcome: FailureOutcome,
    pub user: String,
    pub reason: Option<String>,
}

/// One change of what a sub-step waited for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitRecord {
    pub at: String,
    pub what: String,
}

/// The operator's latest answer about a step, as an index into its gates or decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Decided {
    Gate(usize),
    Failure(usize),
}

/// What the journal says about one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepState {
    pub status: StepStatus,
    /// The reason that came with the current status (a skip's, a failure's); a later status
    /// without one clears it, so a retried step that succeeds no longer shows what stopped it.
    pub reason: Option<String>,
    /// An operator (or --auto-approve) passed the gate; a resumed run does not ask again.
    pub gate_passed: bool,
    /// Attempts started so far.
    pub attempts: u32,
    /// An action started and did not finish: it was interrupted and must re-read real state.
    pub in_flight: bool,
    /// The built-in action, from its first start.
    pub action: Option<String>,
    /// The outputs of the attempt that succeeded.
    pub outputs: IndexMap<String, Value>,
    /// The action's sub-steps, in the order they first started.
    pub substeps: IndexMap<SubId, SubStepState>,
    /// The error of the latest finished attempt, until another attempt starts.
    pub last_error: Option<String>,
    /// Failed attempts since the operator last decided (retries count against `retries` across
    /// resumes, so a kill cannot buy a step extra attempts).
    pub failures_since_decision: u32,
    /// The first entry about the step (its gate opening, or its action starting).
    pub opened_at: Option<String>,
    /// Its action's first start.
    pub first_action: Option<(u64, String)>,
    /// When it reached its final status (or its action succeeded); `None` while not final.
    pub finished_at: Option<String>,
    /// The entry (seq, time) of the success that stands: its `succeeded` status, or its action's
    /// success when the process stopped before the status was written. Cleared by any other
    /// status (a step offered again after a success).
    pub succeeded: Option<(u64, String)>,
    pub gates: Vec<GateRecord>,
    /// Approvals journaled since the step's last gate decision (they go into the next one).
    pub approvals: Vec<String>,
    /// The entry of the driver's approval that asks others for theirs (the gate's current ask):
    /// an approval given from another machine is of this one ask.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask: Option<u64>,
    pub decisions: Vec<DecisionRecord>,
    pub last_decided: Option<Decided>,
    /// The latest preflight of the step's resources (failback steps, before their gate).
    pub preflight: Option<(String, Vec<PreflightCheck>)>,
    /// A rollback was decided and has not ended well (`rolled_back`): a run stopped in it, or
    /// resumed after it failed, goes on with it before anything else is asked.
    pub rolling_back: bool,
}

impl Default for StepState {
    fn default() -> Self {
        StepState {
            status: StepStatus::Pending,
            reason: None,
            gate_passed: false,
            attempts: 0,
            in_flight: false,
            rolling_back: false,
            action: None,
            outputs: IndexMap::new(),
            substeps: IndexMap::new(),
            last_error: None,
            failures_since_decision: 0,
            opened_at: None,
            first_action: None,
            finished_at: None,
            succeeded: None,
            gates: Vec::new(),
            approvals: Vec::new(),
            ask: None,
            decisions: Vec::new(),
            last_decided: None,
            preflight: None,
        }
    }
}

/// What the journal says about one sub-step of an action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubStepState {
    pub phase: SubPhase,
    /// The attempt that last touched it.
    pub attempt: u32,
    /// What it was about to do (from its latest `started`).
    pub detail: Value,
    /// What it produced (from `done`); cleared by a new start or a reset.
    pub result: Value,
    /// The last state seen while waiting, until it is done, reset or started again.
    pub waiting_for: Option<String>,
    /// Its first entry (a retry or resume that starts it again does not move this).
    pub first_at: String,
    /// Its latest start.
    pub started_at: String,
    /// When it was last done or reset, if it is in that phase now.
    pub finished_at: Option<String>,
    /// Times it was started (a retry, or a resume after a kill, starts it again).
    pub starts: u32,
    /// Times a rollback undid it: a create that is idempotent by client token takes a new token
    /// after each, or AWS would answer with what the undone call made.
    pub resets: u32,
    /// Every change of what it waited for.
    pub waits: Vec<WaitRecord>,
}

impl SubStepState {
    pub fn is_done(&self) -> bool {
        self.phase == SubPhase::Done
    }
    /// Started (or waiting) and not done: it may have acted; reconcile with real state first.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, SubPhase::Started | SubPhase::Waiting)
    }
}

impl StepState {
    /// Ends the gate's current ask (decided, or its driver stopped): its approvals, for the record.
    pub fn end_ask(&mut self) -> Vec<String> {
        self.ask = None;
        std::mem::take(&mut self.approvals)
    }

    /// The latest gate answer or failure decision.
    pub fn latest_gate(&self) -> Option<&GateRecord> {
        match self.last_decided? {
            Decided::Gate(i) => self.gates.get(i),
            Decided::Failure(_) => None,
        }
    }

    pub fn latest_decision(&self) -> Option<&DecisionRecord> {
        match self.last_decided? {
            Decided::Failure(i) => self.decisions.get(i),
            Decided::Gate(_) => None,
        }
    }

    /// Applies one entry about this step (the run-level reducer routes it here).
    pub(super) fn apply(&mut self, entry: &Entry) {
        let ts = &entry.ts;
        match &entry.event {
            Event::StepStatus { status, reason, .. } => {
                self.opened_at.get_or_insert_with(|| ts.clone());
                self.status = *status;
                self.reason = reason.clone();
                if status.is_final() {
                    self.in_flight = false;
                    self.finished_at = Some(ts.clone());
                } else {
                    // A failed step offered again on resume is not final any more.
                    self.finished_at = None;
                }
                if *status == StepStatus::Succeeded {
                    self.succeeded = Some((entry.seq, ts.clone()));
                } else {
                    self.succeeded = None;
                }
            }
            Event::GateDecided { outcome, user, typed, checked, reason, auto, .. } => {
                self.gate_passed = *outcome == GateOutcome::Approved;
                let approved_by = self.end_ask();
                self.gates.push(GateRecord {
                    at: ts.clone(),
                    outcome: *outcome,
                    user: user.clone(),
                    auto: *auto,
                    typed: typed.clone(),
                    checked: checked.clone(),
                    reason: reason.clone(),
                    approved_by,
                });
                self.last_decided = Some(Decided::Gate(self.gates.len() - 1));
            }
            Event::Approval { identity, driver, .. } => {
                if *driver {
                    self.ask = Some(entry.seq);
                }
                if !self.approvals.contains(identity) {
                    self.approvals.push(identity.clone());
                }
            }
            Event::ActionStarted { action, attempt, .. } => {
                self.opened_at.get_or_insert_with(|| ts.clone());
                self.first_action.get_or_insert_with(|| (entry.seq, ts.clone()));
                self.action.get_or_insert_with(|| action.clone());
                self.attempts = self.attempts.max(*attempt);
                self.in_flight = true;
                self.rolling_back = false;
                self.status = StepStatus::Running;
                self.last_error = None;
                self.finished_at = None;
            }
            Event::ActionFinished { ok, outputs, error, .. } => {
                self.in_flight = false;
                if *ok {
                    // A crash between this entry and the step's `succeeded` must not run the
                    // action again: the action's own success is what counts.
                    self.outputs = outputs.clone();
                    self.status = StepStatus::Succeeded;
                    self.finished_at.get_or_insert_with(|| ts.clone());
                    self.succeeded = Some((entry.seq, ts.clone()));
                } else {
                    self.failures_since_decision += 1;
                }
                self.last_error = error.clone();
            }
            Event::SubStep { name, attempt, phase, data, .. } => self.apply_substep(name, *attempt, *phase, data, ts),
            Event::SubStepsReset { names, attempt, .. } => {
                for name in names {
                    self.apply_substep(name, *attempt, SubPhase::Reset, &Value::Null, ts);
                }
            }
            Event::PreflightChecked { checks, .. } => {
                self.opened_at.get_or_insert_with(|| ts.clone());
                self.preflight = Some((ts.clone(), checks.clone()));
            }
            Event::FailureDecided { outcome, user, reason, .. } => {
                self.failures_since_decision = 0;
                self.rolling_back = *outcome == FailureOutcome::Rollback;
                self.decisions.push(DecisionRecord {
                    at: ts.clone(),
                    outcome: *outcome,
                    user: user.clone(),
                    reason: reason.clone(),
                });
                self.last_decided = Some(Decided::Failure(self.decisions.len() - 1));
            }
            _ => {}
        }
    }

    /// A rollback ended: these sub-steps are reset (one entry for all of them). One that failed
    /// is still under way: primary is half put back, and nothing but finishing it makes sense.
    pub(super) fn rolled_back(&mut self, ok: bool, reset: &[SubId], ts: &str) {
        self.rolling_back = !ok;
        let attempt = self.attempts;
        for id in reset {
            self.apply_substep(id, attempt, SubPhase::Reset, &Value::Null, ts);
        }
    }

    fn apply_substep(&mut self, id: &SubId, attempt: u32, phase: SubPhase, data: &Value, ts: &str) {
        let sub = self.substeps.entry(id.clone()).or_insert_with(|| SubStepState {
            phase,
            attempt,
            detail: Value::Null,
            result: Value::Null,
            waiting_for: None,
            first_at: ts.to_string(),
            started_at: ts.to_string(),
            finished_at: None,
            starts: 0,
            resets: 0,
            waits: Vec::new(),
        });
        sub.phase = phase;
        sub.attempt = attempt;
        match phase {
            SubPhase::Started => {
                sub.detail = data.clone();
                sub.result = Value::Null;
                sub.waiting_for = None;
                sub.started_at = ts.to_string();
                sub.finished_at = None;
                sub.starts += 1;
            }
            SubPhase::Waiting => {
                let what = match data {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                sub.waiting_for = Some(what.clone());
                sub.waits.push(WaitRecord { at: ts.to_string(), what });
            }
            SubPhase::Done => {
                sub.result = data.clone();
                sub.waiting_for = None;
                sub.finished_at = Some(ts.to_string());
            }
            SubPhase::Reset => {
                sub.resets += 1;
                sub.result = Value::Null;
                sub.waiting_for = None;
                sub.finished_at = Some(ts.to_string());
            }
        }
    }
}

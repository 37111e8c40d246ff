//! Rebuilds a run's state from its journal: the only way state is ever restored, so what the
//! console shows after a crash is exactly what was recorded.

use super::event::{Entry, Event, GateOutcome, RunStatus, StepStatus, SubPhase};
use indexmap::IndexMap;
use serde_json::Value;

/// What the journal says about one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    pub status: StepStatus,
    /// An operator (or --auto-approve) passed the gate; a resumed run does not ask again.
    pub gate_passed: bool,
    /// Attempts started so far.
    pub attempts: u32,
    /// An action started and did not finish: it was interrupted and must re-read real state.
    pub in_flight: bool,
    pub outputs: IndexMap<String, Value>,
    /// The action's sub-steps, in the order they first started.
    pub substeps: IndexMap<String, SubStepState>,
    pub reason: Option<String>,
    pub last_error: Option<String>,
    /// Failed attempts since the operator last decided (retries count against `retries` across
    /// resumes, so a kill cannot buy a step extra attempts).
    pub failures_since_decision: u32,
}

/// What the journal says about one sub-step of an action.
#[derive(Debug, Clone, PartialEq)]
pub struct SubStepState {
    pub phase: SubPhase,
    /// The attempt that last started it.
    pub attempt: u32,
    /// What it was about to do (from `started`).
    pub detail: Value,
    /// What it produced (from `done`).
    pub result: Value,
    /// The last state seen while waiting.
    pub waiting_for: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
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

impl Default for StepState {
    fn default() -> Self {
        StepState {
            status: StepStatus::Pending,
            gate_passed: false,
            attempts: 0,
            in_flight: false,
            outputs: IndexMap::new(),
            substeps: IndexMap::new(),
            reason: None,
            last_error: None,
            failures_since_decision: 0,
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
    pub status: Option<RunStatus>,
    pub steps: IndexMap<String, StepState>,
}

impl RunState {
    /// The run's status; a run with no `run_finished` (or resumed since) is `Running`.
    pub fn status(&self) -> RunStatus {
        self.status.unwrap_or(RunStatus::Running)
    }

    pub fn step(&self, id: &str) -> StepState {
        self.steps.get(id).cloned().unwrap_or_default()
    }

    /// Applies one entry.
    pub fn apply(&mut self, entry: &Entry) {
        if self.started_at.is_none() {
            self.started_at = Some(entry.ts.clone());
        }
        self.last_at = Some(entry.ts.clone());
        let step = entry.event.step().map(str::to_string);
        match &entry.event {
            Event::RunStarted { .. } => self.started = Some(entry.event.clone()),
            Event::RunResumed { .. } => self.status = None,
            Event::RunFinished { status } => self.status = Some(*status),
            Event::StepStatus { status, reason, .. } => {
                let s = self.steps.entry(step.unwrap_or_default()).or_default();
                s.status = *status;
                if reason.is_some() {
                    s.reason = reason.clone();
                }
                if status.is_final() {
                    s.in_flight = false;
                }
            }
            Event::GateDecided { outcome, .. } => {
                let s = self.steps.entry(step.unwrap_or_default()).or_default();
                s.gate_passed = *outcome == GateOutcome::Approved;
            }
            Event::ActionStarted { attempt, .. } => {
                let s = self.steps.entry(step.unwrap_or_default()).or_default();
                s.attempts = s.attempts.max(*attempt);
                s.in_flight = true;
            }
            Event::ActionFinished { ok, outputs, error, .. } => {
                let s = self.steps.entry(step.unwrap_or_default()).or_default();
                s.in_flight = false;
                if *ok {
                    // A crash between this entry and the step's `succeeded` must not run the
                    // action again: the action's own success is what counts.
                    s.outputs = outputs.clone();
                    s.status = StepStatus::Succeeded;
                } else {
                    s.failures_since_decision += 1;
                }
                s.last_error = error.clone();
            }
            Event::SubStep { name, attempt, phase, data, .. } => {
                let s = self.steps.entry(step.unwrap_or_default()).or_default();
                let ts = entry.ts.clone();
                let sub = s.substeps.entry(name.clone()).or_insert_with(|| SubStepState {
                    phase: *phase,
                    attempt: *attempt,
                    detail: Value::Null,
                    result: Value::Null,
                    waiting_for: None,
                    started_at: ts.clone(),
                    finished_at: None,
                });
                sub.phase = *phase;
                sub.attempt = *attempt;
                match phase {
                    SubPhase::Started => {
                        sub.detail = data.clone();
                        sub.result = Value::Null;
                        sub.waiting_for = None;
                        sub.started_at = ts;
                        sub.finished_at = None;
                    }
                    SubPhase::Waiting => sub.waiting_for = data.as_str().map(str::to_string),
                    SubPhase::Done => {
                        sub.result = data.clone();
                        sub.waiting_for = None;
                        sub.finished_at = Some(ts);
                    }
                    SubPhase::Reset => {
                        sub.result = Value::Null;
                        sub.finished_at = Some(ts);
                    }
                }
            }
            Event::FailureDecided { .. } => {
                let s = self.steps.entry(step.unwrap_or_default()).or_default();
                s.failures_since_decision = 0;
            }
            Event::AwsCall { .. }
            | Event::ActionLog { .. }
            | Event::RunInterrupted { .. }
            | Event::AccountChecked { .. } => {}
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

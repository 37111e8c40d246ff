//! Rebuilds a run's state from its journal: the only way state is ever restored, so what the
//! console shows after a crash is exactly what was recorded.

use super::event::{Entry, Event, GateOutcome, RunStatus, StepStatus};
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
    pub checkpoints: IndexMap<String, Value>,
    pub reason: Option<String>,
    pub last_error: Option<String>,
}

impl Default for StepState {
    fn default() -> Self {
        StepState {
            status: StepStatus::Pending,
            gate_passed: false,
            attempts: 0,
            in_flight: false,
            outputs: IndexMap::new(),
            checkpoints: IndexMap::new(),
            reason: None,
            last_error: None,
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
                }
                s.last_error = error.clone();
            }
            Event::Checkpoint { key, value, .. } => {
                let s = self.steps.entry(step.unwrap_or_default()).or_default();
                s.checkpoints.insert(key.clone(), value.clone());
            }
            Event::AwsCall { .. }
            | Event::ActionLog { .. }
            | Event::FailureDecided { .. }
            | Event::RunInterrupted { .. } => {}
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

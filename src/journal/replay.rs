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
            | Event::RunAbandoned { .. }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::event::FailureOutcome;
    use serde_json::json;

    /// Entries numbered in order, one millisecond apart, so each has its own timestamp.
    fn entries(events: Vec<Event>) -> Vec<Entry> {
        events
            .into_iter()
            .enumerate()
            .map(|(i, event)| Entry { seq: i as u64 + 1, ts: format!("2026-11-22T04:00:00.{i:03}Z"), event })
            .collect()
    }

    fn sub(name: &str, attempt: u32, phase: SubPhase, data: Value) -> Event {
        Event::SubStep { step: "move".into(), name: name.into(), attempt, phase, data }
    }

    fn finished(attempt: u32, ok: bool) -> Event {
        Event::ActionFinished {
            step: "move".into(),
            attempt,
            ok,
            outputs: IndexMap::new(),
            error: (!ok).then(|| format!("attempt {attempt} broke")),
        }
    }

    fn decided(outcome: FailureOutcome) -> Event {
        Event::FailureDecided { step: "move".into(), outcome, user: "tester".into(), reason: None }
    }

    /// Catches sub-steps replayed out of order (a later phase moving an entry to the end), a
    /// `done` that loses what was produced or what was started, a sub-step started and never
    /// finished that does not count as open (resume would trust it instead of re-reading real
    /// state), and a `reset` still counted as done (resume would skip work a rollback undid).
    #[test]
    fn substeps_replay_in_first_start_order_with_their_phase_and_data() {
        let state = RunState::replay(&entries(vec![
            sub("snapshot", 1, SubPhase::Started, json!({ "volume": "vol-1" })),
            sub("stop-primary", 1, SubPhase::Started, json!({ "instance": "i-1" })),
            sub("snapshot", 1, SubPhase::Waiting, json!("pending")),
            sub("snapshot", 1, SubPhase::Done, json!({ "snapshot": "snap-1" })),
            sub("attach", 1, SubPhase::Started, json!({ "device": "/dev/xvdf" })),
            sub("attach", 1, SubPhase::Done, json!({ "attachment": "att-1" })),
            sub("attach", 2, SubPhase::Reset, Value::Null),
            sub("stop-primary", 2, SubPhase::Waiting, json!("stopping")),
        ]));
        let step = state.step("move");
        let names: Vec<&str> = step.substeps.keys().map(String::as_str).collect();
        assert_eq!(names, ["snapshot", "stop-primary", "attach"], "first-start order, whatever came later");

        let snapshot = &step.substeps["snapshot"];
        assert!(snapshot.is_done() && !snapshot.is_open());
        assert_eq!(snapshot.phase, SubPhase::Done);
        assert_eq!(snapshot.result, json!({ "snapshot": "snap-1" }), "what it produced");
        assert_eq!(snapshot.detail, json!({ "volume": "vol-1" }), "what it was about to do");
        assert_eq!(snapshot.waiting_for, None, "done is no longer waiting");
        assert_eq!(snapshot.started_at, "2026-11-22T04:00:00.000Z");
        assert_eq!(snapshot.finished_at.as_deref(), Some("2026-11-22T04:00:00.003Z"));

        let stop = &step.substeps["stop-primary"];
        assert!(stop.is_open() && !stop.is_done(), "started, never done: it may have acted");
        assert_eq!(stop.detail, json!({ "instance": "i-1" }));
        assert_eq!(stop.result, Value::Null);
        assert_eq!(stop.waiting_for.as_deref(), Some("stopping"));
        assert_eq!(stop.attempt, 2, "the attempt that last touched it");
        assert_eq!(stop.finished_at, None);

        let attach = &step.substeps["attach"];
        assert!(!attach.is_done() && !attach.is_open(), "a reset sub-step is neither done nor open");
        assert_eq!(attach.phase, SubPhase::Reset);
        assert_eq!(attach.result, Value::Null, "a rollback undid what it produced");
        assert_eq!(attach.detail, json!({ "device": "/dev/xvdf" }));
    }

    /// Catches a sub-step started again (a new attempt) that keeps the old attempt's result:
    /// resume would treat it as done with stale data.
    #[test]
    fn a_substep_started_again_forgets_its_old_result_and_keeps_its_place() {
        let state = RunState::replay(&entries(vec![
            sub("snapshot", 1, SubPhase::Started, json!({ "volume": "vol-1" })),
            sub("snapshot", 1, SubPhase::Done, json!({ "snapshot": "snap-1" })),
            sub("copy", 1, SubPhase::Started, Value::Null),
            sub("snapshot", 2, SubPhase::Started, json!({ "volume": "vol-2" })),
        ]));
        let step = state.step("move");
        let names: Vec<&str> = step.substeps.keys().map(String::as_str).collect();
        assert_eq!(names, ["snapshot", "copy"]);
        let snapshot = &step.substeps["snapshot"];
        assert!(snapshot.is_open() && !snapshot.is_done());
        assert_eq!(snapshot.detail, json!({ "volume": "vol-2" }));
        assert_eq!(snapshot.result, Value::Null);
        assert_eq!(snapshot.finished_at, None);
        assert_eq!(snapshot.attempt, 2);
        assert_eq!(snapshot.started_at, "2026-11-22T04:00:00.003Z");
    }

    /// Catches retries counted in memory only (a kill would buy a step fresh retries) and a
    /// decision that does not start the count again (a retried step would get no retries).
    #[test]
    fn failures_count_until_the_operator_decides() {
        let started =
            |attempt| Event::ActionStarted { step: "move".into(), action: "exec".into(), attempt, params: Value::Null };
        let mut events = vec![started(1), finished(1, false), started(2), finished(2, false)];
        let state = RunState::replay(&entries(events.clone()));
        assert_eq!(state.step("move").failures_since_decision, 2);
        assert_eq!(state.step("move").attempts, 2);
        assert_eq!(state.step("move").last_error.as_deref(), Some("attempt 2 broke"));

        events.extend([decided(FailureOutcome::Retry), started(3)]);
        let state = RunState::replay(&entries(events.clone()));
        assert_eq!(state.step("move").failures_since_decision, 0, "a decision starts the count again");
        assert_eq!(state.step("move").attempts, 3, "attempts are never reset");
        assert!(state.step("move").in_flight);

        events.extend([
            finished(3, false),
            Event::RunResumed { user: "tester".into(), endpoint_override: None },
            started(4),
            finished(4, true),
        ]);
        let state = RunState::replay(&entries(events));
        assert_eq!(state.step("move").failures_since_decision, 1, "a resume does not reset it; a success adds none");
        assert_eq!(state.step("move").status, StepStatus::Succeeded);
        assert!(!state.step("move").in_flight);
    }
}

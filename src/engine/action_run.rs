//! Running one step's action: attempts with automatic retries (journaled, counted across
//! resumes), then the step's `on_failure` policy, which may ask the operator.

use super::{EngineError, FailureAnswer, FailureRequest, Operator, Run, StepLog, TIMEOUT_GRACE, os_user, plan};
use crate::actions::{ActionCx, REGISTRY};
use crate::aws::ActionError;
use crate::journal::{Event, FailureOutcome, StepStatus};
use crate::runbook::{CheckCx, OnFailure, Step};
use serde_json::Value;

/// Attempts in a row that may end on an unanswered call before it counts as a failure.
const MAX_UNANSWERED_IN_A_ROW: u32 = 3;

/// How one step ended in this drive, once its failure policy was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StepEnd {
    Succeeded,
    Failed,
    Skipped,
    /// The operator aborted the run at this step's failure.
    Aborted,
}

/// What follows a failure once the policy has been applied.
pub(super) enum AfterFailure {
    /// Try the action again (the operator said so).
    Retry,
    /// The step ends here (failed, skipped, or the operator aborted the run).
    End(StepEnd),
}

/// The step's `timeout`, else `default`.
pub(super) fn step_timeout(step: &Step, default: std::time::Duration) -> Result<std::time::Duration, ActionError> {
    match &step.timeout {
        Some(t) => humantime::parse_duration(t).map_err(|e| ActionError::Failed(format!("timeout: {e}"))),
        None => Ok(default),
    }
}

impl Run {
    /// Where one attempt (or the undo) of `step` journals.
    pub(super) fn step_log(&self, step: &Step, attempt: u32) -> StepLog<'_> {
        StepLog {
            recorder: &self.recorder,
            step: step.id.clone(),
            attempt,
            dry_run: self.dry_run,
            pauses: self.pauses,
            memo: None,
        }
    }

    /// What an attempt of `step` (or its undo) runs with.
    pub(super) fn action_cx<'a>(
        &'a self,
        step: &'a Step,
        log: &'a StepLog<'a>,
        (attempt, interrupted): (u32, bool),
        timeout: std::time::Duration,
    ) -> ActionCx<'a> {
        ActionCx {
            run_id: &self.id,
            step: &step.id,
            runbook: &self.loaded.runbook,
            base_dir: &self.loaded.base_dir,
            run_dir: &self.dir,
            envs: &self.envs,
            log,
            dry_run: self.dry_run,
            interrupted,
            attempt,
            timeout,
            max_parallel: self.max_parallel,
            pauses: self.pauses,
        }
    }

    /// Runs a step's action with its retries and failure policy, to the step's end.
    pub(super) async fn run_action<O: Operator>(&self, operator: &mut O, step: &Step) -> Result<StepEnd, EngineError> {
        loop {
            let Err(error) = self.try_action(step).await? else { return Ok(StepEnd::Succeeded) };
            match self.after_failure(operator, step, error).await? {
                AfterFailure::Retry => continue,
                AfterFailure::End(end) => return Ok(end),
            }
        }
    }

    /// Runs a step's action until it succeeds or its automatic retries are used up; the error
    /// of the last attempt otherwise. Never asks the operator, so steps of a group can run it
    /// side by side.
    pub(super) async fn try_action(&self, step: &Step) -> Result<Result<(), String>, EngineError> {
        let name = step.action.as_deref().unwrap_or_default();
        let mut unanswered_in_a_row = 0;
        loop {
            let before = self.step_state(&step.id);
            let attempt = before.attempts + 1;
            if before.in_flight {
                self.record(Event::ActionLog {
                    step: step.id.clone(),
                    message: format!(
                        "attempt {} was interrupted; re-reading real state before acting",
                        before.attempts
                    ),
                })?;
            }
            self.resolve_roles();
            let rendered = {
                let outputs = self.outputs_lookup();
                plan::render_with(step, &plan::lookup(&self.inputs, &outputs))
            };
            self.status(&step.id, StepStatus::Running, None)?;
            self.record(Event::ActionStarted {
                step: step.id.clone(),
                action: name.into(),
                attempt,
                params: rendered.clone().unwrap_or(Value::Null),
            })?;
            let result = match &rendered {
                Ok(params) => self.attempt(step, name, params, before.in_flight, attempt).await,
                // A parameter names an output of a step that was skipped or failed: this step
                // fails (and follows on_failure); the run itself can go on or be resumed.
                Err(e) => Err(ActionError::Failed(format!("cannot resolve parameters: {e}"))),
            };
            let (ok, outs, error) = match result {
                Ok(o) => (true, o, None),
                Err(ActionError::Journal(e)) => return Err(e.into()),
                // A mutating call went unanswered: it may have been carried out. The attempt
                // ends as if the process had been killed there (no outcome), and the next one,
                // like a resume, finds out what the call did before acting again.
                Err(e @ ActionError::Unanswered { .. }) if unanswered_in_a_row < MAX_UNANSWERED_IN_A_ROW => {
                    unanswered_in_a_row += 1;
                    self.record(Event::ActionLog {
                        step: step.id.clone(),
                        message: format!("{e}; attempt {attempt} stops here, and the next one looks for what it did"),
                    })?;
                    // Describe calls lag behind creates: give what the call made time to show.
                    tokio::time::sleep(self.pauses.unanswered * unanswered_in_a_row).await;
                    continue;
                }
                Err(e) => (false, e.outputs(), Some(e.to_string())),
            };
            self.record(Event::ActionFinished {
                step: step.id.clone(),
                attempt,
                ok,
                outputs: outs,
                error: error.clone(),
            })?;
            if ok {
                self.status(&step.id, StepStatus::Succeeded, None)?;
                return Ok(Ok(()));
            }
            // Counted from the journal, so a kill between attempts does not reset the retries.
            let failures_here = self.step_state(&step.id).failures_since_decision;
            if failures_here <= step.retries {
                tokio::time::sleep(self.pauses.retry * failures_here).await;
                continue;
            }
            return Ok(Err(error.unwrap_or_default()));
        }
    }

    /// Applies a step's `on_failure` once its retries are used up.
    pub(super) async fn after_failure<O: Operator>(
        &self,
        operator: &mut O,
        step: &Step,
        error: String,
    ) -> Result<AfterFailure, EngineError> {
        match step.on_failure {
            OnFailure::Abort | OnFailure::Continue => {
                self.status(&step.id, StepStatus::Failed, Some(error))?;
                Ok(AfterFailure::End(StepEnd::Failed))
            }
            // Validation allows it on failback steps only; a dry run changed nothing to put back.
            OnFailure::Rollback if self.can_roll_back(step) => {
                // Journaled as the runbook's decision: a run killed in the rollback goes on with it.
                self.record(Event::FailureDecided {
                    step: step.id.clone(),
                    outcome: FailureOutcome::Rollback,
                    user: "on_failure: rollback".into(),
                    reason: None,
                })?;
                self.roll_back(step, &error).await?;
                Ok(AfterFailure::End(StepEnd::Failed))
            }
            OnFailure::Rollback => {
                self.status(&step.id, StepStatus::Failed, Some(error))?;
                Ok(AfterFailure::End(StepEnd::Failed))
            }
            OnFailure::Ask => {
                // Journaled before asking: a run killed at this prompt asks again on resume.
                self.status(&step.id, StepStatus::AwaitingDecision, Some(error.clone()))?;
                let shown = self.secrets.redact_text(&error);
                let attempt = self.step_state(&step.id).attempts;
                let can_roll_back = self.can_roll_back(step);
                let answer = operator.failure(FailureRequest { step, attempt, error: shown, can_roll_back }).await;
                Ok(match self.record_failure_decision(step, &answer, false)? {
                    FailureOutcome::Retry => AfterFailure::Retry,
                    FailureOutcome::Skip => AfterFailure::End(StepEnd::Skipped),
                    FailureOutcome::Abort => {
                        self.status(&step.id, StepStatus::Failed, Some(error))?;
                        AfterFailure::End(StepEnd::Aborted)
                    }
                    FailureOutcome::Rollback => {
                        self.roll_back(step, &error).await?;
                        AfterFailure::End(StepEnd::Failed)
                    }
                })
            }
        }
    }

    /// Journals a decision after a failure; a skip also marks the step skipped.
    pub(super) fn record_failure_decision(
        &self,
        step: &Step,
        answer: &FailureAnswer,
        auto: bool,
    ) -> Result<FailureOutcome, EngineError> {
        let (outcome, reason) = match answer {
            FailureAnswer::Retry => (FailureOutcome::Retry, None),
            FailureAnswer::Skip { reason } => (FailureOutcome::Skip, Some(reason.clone())),
            FailureAnswer::Abort => (FailureOutcome::Abort, None),
            FailureAnswer::Rollback => (FailureOutcome::Rollback, None),
        };
        let user = if auto { "--auto-approve".into() } else { os_user() };
        self.record(Event::FailureDecided { step: step.id.clone(), outcome, user, reason: reason.clone() })?;
        if outcome == FailureOutcome::Skip {
            self.status(&step.id, StepStatus::Skipped, reason)?;
        }
        Ok(outcome)
    }

    /// One attempt: decode, then run under the step's timeout.
    async fn attempt(
        &self,
        step: &Step,
        name: &str,
        params: &Value,
        interrupted: bool,
        attempt: u32,
    ) -> Result<crate::actions::Outputs, ActionError> {
        let call = REGISTRY.decode(name, params).map_err(|(_, m)| ActionError::Failed(format!("parameters: {m}")))?;
        // Validation checked the parameters with input defaults; check the values really used.
        let problems =
            call.check(&CheckCx { runbook: &self.loaded.runbook, base_dir: &self.loaded.base_dir, check_files: false });
        if !problems.is_empty() {
            let text: Vec<String> = problems.into_iter().map(|(_, m)| m).collect();
            return Err(ActionError::Failed(format!("parameters: {}", text.join("; "))));
        }
        let timeout = step_timeout(step, call.default_timeout())?;
        let log = StepLog { memo: self.take_memo(step).or_else(|| self.fresh_memo()), ..self.step_log(step, attempt) };
        let cx = self.action_cx(step, &log, (attempt, interrupted), timeout);
        // The action's own waits use `timeout` and say what they waited for; this outer limit,
        // a little longer, catches an action that hangs anywhere else.
        match tokio::time::timeout(timeout.saturating_add(TIMEOUT_GRACE), call.run(&cx)).await {
            Ok(r) => r,
            Err(_) => Err(ActionError::Timeout(timeout)),
        }
    }
}

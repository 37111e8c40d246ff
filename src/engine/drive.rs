//! The driver: takes the runbook's steps in order, each behind its gate. A run of consecutive
//! steps with the same `group` goes together behind the first one's gate; a lone step is a group
//! of one, so both go through the same code: prepare → preflight (failback steps, before their
//! first attempt) → gate → manual steps → actions → failures.
//!
//! A group's actions run side by side without the operator (retries are automatic), at most
//! `max_parallel` at once; one failing does not cut the others off: each reaches its own end.
//! Only then is each failure handled, one at a time and in runbook order, by its own
//! `on_failure` (which may ask the operator); a retry re-runs only that step. On resume the
//! group is entered again: finished steps stay finished, an interrupted one re-attaches to its
//! journaled sub-steps. (A run that is interrupted stops wherever it is: the drive's future is
//! dropped, and the journal says where it was.)

use super::action_run::{AfterFailure, StepEnd};
use super::preflight_gate::PreflightEnd;
use super::{EngineError, FailureAnswer, FailureRequest, Operator, Run, plan};
use crate::journal::{FailureOutcome, GateOutcome, RunStatus, StepStatus};
use crate::runbook::{Gate, OnFailure, Step};
use futures_util::StreamExt;

/// Whether a step still has work to do in this drive.
enum Prepared {
    /// Finished before (or skipped now, by its `when` or the operator's decision).
    Finished,
    /// The operator aborted the run at a decision about an earlier failure.
    Aborted,
    /// The operator rolled the failed step back at that decision: the run stops, failed.
    RolledBack,
    Ready,
}

/// How a step's end ends the run, if it does.
fn run_end(step: &Step, end: StepEnd) -> Option<RunStatus> {
    match end {
        StepEnd::Failed if step.on_failure == OnFailure::Continue => None,
        StepEnd::Failed => Some(RunStatus::Failed),
        StepEnd::Aborted => Some(RunStatus::Aborted),
        StepEnd::Succeeded | StepEnd::Skipped => None,
    }
}

impl Run {
    /// Drives the run to its end (or to an abort), asking `operator` for decisions.
    pub async fn drive<O: Operator>(&self, operator: &mut O) -> Result<RunStatus, EngineError> {
        if !self.check_accounts().await? {
            return self.finish(RunStatus::Failed);
        }
        let steps = &self.loaded.runbook.steps;
        let mut index = 0;
        while index < steps.len() {
            let len = match steps[index].group.as_deref() {
                Some(group) => steps[index..].iter().take_while(|s| s.group.as_deref() == Some(group)).count(),
                None => 1,
            };
            if let Some(status) = self.run_steps(operator, &steps[index..index + len], index, steps.len()).await? {
                return self.finish(status);
            }
            index += len;
        }
        let any_failed = self.recorder.read(|s| s.steps.values().any(|s| s.status == StepStatus::Failed));
        self.finish(if any_failed { RunStatus::Failed } else { RunStatus::Succeeded })
    }

    /// Runs one group (or a lone step) behind its first step's gate; `Some` when the run ends
    /// here (failed or aborted).
    async fn run_steps<O: Operator>(
        &self,
        operator: &mut O,
        members: &[Step],
        index: usize,
        total: usize,
    ) -> Result<Option<RunStatus>, EngineError> {
        let mut ready = Vec::new();
        for step in members {
            match self.prepare(operator, step).await? {
                Prepared::Finished => {}
                Prepared::Aborted => return Ok(Some(RunStatus::Aborted)),
                Prepared::RolledBack => return Ok(Some(RunStatus::Failed)),
                Prepared::Ready => ready.push(step),
            }
        }
        if ready.is_empty() {
            return Ok(None);
        }
        let lead = &members[0];
        if !self.step_state(&lead.id).gate_passed {
            let mut cleared = Vec::new();
            let checks = self.preflight_all(&ready).await;
            for (step, checks) in ready.into_iter().zip(checks) {
                match self.preflight(operator, step, checks).await? {
                    PreflightEnd::Clear => cleared.push(step),
                    PreflightEnd::Skipped => {}
                    PreflightEnd::Failed => return Ok(Some(RunStatus::Failed)),
                    PreflightEnd::Aborted => return Ok(Some(RunStatus::Aborted)),
                }
            }
            ready = cleared;
            if ready.is_empty() {
                return Ok(None);
            }
        }
        if !self.step_state(&lead.id).gate_passed && lead.gate != Gate::None {
            match self.pass_gate(operator, lead, index, total).await? {
                GateOutcome::Approved => {}
                GateOutcome::Skipped => {
                    // The lead is marked skipped with the gate's decision; the rest follow it.
                    let group = lead.group.as_deref().unwrap_or_default();
                    for step in ready.iter().filter(|s| s.id != lead.id) {
                        let reason = format!("the gate of group `{group}` was skipped");
                        self.status(&step.id, StepStatus::Skipped, Some(reason))?;
                    }
                    return Ok(None);
                }
                GateOutcome::Aborted => return Ok(Some(RunStatus::Aborted)),
            }
        }
        let mut actions = Vec::new();
        for step in ready {
            if step.action.is_some() {
                actions.push(step);
            } else {
                self.status(&step.id, StepStatus::Succeeded, Some("manual step".into()))?;
            }
        }
        // The futures are made first and the stream only polls them: a closure inside the
        // stream's type would keep the drive future from being `Send` (it must be spawnable).
        let tries: Vec<_> = actions.into_iter().map(|step| self.tried(step)).collect();
        let results: Vec<_> = futures_util::stream::iter(tries).buffer_unordered(self.max_parallel).collect().await;
        let mut failed = Vec::new();
        for (step, result) in results {
            if let Err(error) = result? {
                failed.push((step, error));
            }
        }
        failed.sort_by_key(|(s, _)| members.iter().position(|m| m.id == s.id));
        let mut failed = failed.into_iter();
        while let Some((step, error)) = failed.next() {
            let end = match self.after_failure(operator, step, error).await? {
                AfterFailure::Retry => self.run_action(operator, step).await?,
                AfterFailure::End(end) => end,
            };
            if let Some(status) = run_end(step, end) {
                // The run stops here; the group's other failures are recorded as such, so a
                // resume offers each of them again.
                for (other, error) in failed {
                    self.status(&other.id, StepStatus::Failed, Some(error))?;
                }
                return Ok(Some(status));
            }
        }
        Ok(None)
    }

    async fn tried<'s>(&self, step: &'s Step) -> (&'s Step, Result<Result<(), String>, EngineError>) {
        (step, self.try_action(step).await)
    }

    /// Before a step runs: a failure from before this drive (each step is prepared once) gets
    /// a decision, and `when` may skip it.
    async fn prepare<O: Operator>(&self, operator: &mut O, step: &Step) -> Result<Prepared, EngineError> {
        let st = self.step_state(&step.id);
        // Stopped in a rollback: it goes on (its sub-steps resume) before anything is asked.
        if st.rolling_back {
            let error = st.last_error.clone().or(st.reason.clone()).unwrap_or_default();
            self.roll_back(step, &error).await?;
            return Ok(Prepared::RolledBack);
        }
        // Rolled back, and stopped before the step's status said so: it ends failed, as then.
        let rolled_back = st.decisions.last().is_some_and(|d| d.outcome == FailureOutcome::Rollback);
        if rolled_back && !st.status.is_final() {
            let reason = "rolled back: primary is as it was before this step; resume to fail back again";
            self.status(&step.id, StepStatus::Failed, Some(reason.into()))?;
            return Ok(Prepared::RolledBack);
        }
        let failed_before = st.status == StepStatus::Failed;
        if st.status.is_final() && !failed_before {
            return Ok(Prepared::Finished);
        }
        // Awaiting a decision: journaled as such, or killed between journaling the last
        // failed attempt and that status (the failures already used up the retries).
        let out_of_retries =
            st.status == StepStatus::Running && !st.in_flight && st.failures_since_decision > step.retries;
        if failed_before || st.status == StepStatus::AwaitingDecision || out_of_retries {
            // A step that failed before (and stopped the run, or was passed over with
            // `on_failure: continue`): the operator decides again (with --auto-approve it
            // is tried again), so a step that can never succeed cannot wedge the run.
            let error = st.last_error.clone().or(st.reason.clone()).unwrap_or_default();
            let answer = if self.auto_approve {
                FailureAnswer::Retry
            } else {
                // Journaled before the question, as after a failure in this drive, so a front
                // end (and `watch`) shows which step waits for the decision.
                if st.status != StepStatus::AwaitingDecision {
                    self.status(&step.id, StepStatus::AwaitingDecision, Some(error.clone()))?;
                }
                let can_roll_back = self.can_roll_back(step);
                operator
                    .failure(FailureRequest { step, attempt: st.attempts, error: error.clone(), can_roll_back })
                    .await
            };
            match self.record_failure_decision(step, &answer, self.auto_approve)? {
                FailureOutcome::Retry => {}
                FailureOutcome::Skip => return Ok(Prepared::Finished),
                FailureOutcome::Abort => {
                    self.status(&step.id, StepStatus::Failed, st.last_error.clone())?;
                    return Ok(Prepared::Aborted);
                }
                FailureOutcome::Rollback => {
                    self.roll_back(step, &error).await?;
                    return Ok(Prepared::RolledBack);
                }
            }
        }
        let steps = &self.loaded.runbook.steps;
        if let Some(reason) =
            plan::phase_skip(steps, step, self.phase).or_else(|| plan::skip_reason(step, &self.inputs))
        {
            self.status(&step.id, StepStatus::Skipped, Some(reason))?;
            return Ok(Prepared::Finished);
        }
        Ok(Prepared::Ready)
    }
}

//! A group of steps (consecutive steps with the same `group`) runs concurrently behind the first
//! one's gate, at most `max_parallel` at once.
//!
//! Actions run side by side without the operator (retries are automatic); one failing does not
//! cut the others off: each reaches its own end. Only then is each failure handled, one at a
//! time and in runbook order, by its own `on_failure` (which may ask the operator); a retry
//! re-runs only that step. On resume the group is entered again: finished steps stay finished,
//! an interrupted one re-attaches to its journaled sub-steps.

use super::action_run::AfterFailure;
use super::{EngineError, Operator, Ready, Run, settle};
use crate::journal::{GateOutcome, RunStatus, StepStatus};
use crate::runbook::{Gate, Step};
use futures_util::StreamExt;

impl Run {
    /// Runs the steps of one group; `Some` when the run ends here (failed or aborted).
    pub(super) async fn run_group<O: Operator>(
        &self,
        operator: &mut O,
        members: &[Step],
        index: usize,
        total: usize,
    ) -> Result<Option<RunStatus>, EngineError> {
        let mut ready = Vec::new();
        for step in members {
            match self.prepare(operator, step).await? {
                Ready::Done => {}
                Ready::Abort => return Ok(Some(RunStatus::Aborted)),
                Ready::Run => ready.push(step),
            }
        }
        if ready.is_empty() {
            return Ok(None);
        }
        let lead = &members[0];
        if !self.step_state(&lead.id).gate_passed && lead.gate != Gate::None {
            match self.pass_gate(operator, lead, index, total).await? {
                GateOutcome::Approved => {}
                GateOutcome::Skipped => {
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
            let status = match self.after_failure(operator, step, error).await? {
                AfterFailure::Retry => self.run_action(operator, step).await?,
                AfterFailure::Done(status) => status,
            };
            if let Some(end) = settle(step, status) {
                // The run stops here; the group's other failures are recorded as such, so a
                // resume offers each of them again.
                for (other, error) in failed {
                    self.status(&other.id, StepStatus::Failed, Some(error))?;
                }
                return Ok(Some(end));
            }
        }
        Ok(None)
    }

    async fn tried<'s>(&self, step: &'s Step) -> (&'s Step, Result<Result<(), String>, EngineError>) {
        (step, self.try_action(step).await)
    }
}

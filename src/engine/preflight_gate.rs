//! Before a failback step's gate: its resources are checked ([`crate::preflight`], reads only)
//! and the checks journaled (`preflight_checked`), so the operator deciding at the gate, `watch`
//! and the report see them. A failed check holds the step back before anything is sent: the
//! operator checks again (retry, once the world is mended), skips the step with a reason, or
//! aborts; under `--auto-approve` the run fails there. Only before the step's first attempt:
//! after it, the world is mid-failback by design (an original renamed away is not a failure).

use super::{EngineError, FailureRequest, Operator, Run, plan};
use crate::journal::{Event, FailureOutcome, StepStatus, Verdict};
use crate::runbook::Step;
use serde_json::Value;

/// Where a step stands after its preflight.
pub(super) enum PreflightEnd {
    /// Nothing failed (or nothing to check): on to the gate.
    Clear,
    /// The operator skipped the step.
    Skipped,
    /// A check failed under `--auto-approve`: the run fails here.
    Failed,
    Aborted,
}

impl Run {
    pub(super) async fn preflight<O: Operator>(
        &self,
        operator: &mut O,
        step: &Step,
    ) -> Result<PreflightEnd, EngineError> {
        if !crate::preflight::checks(step.action.as_deref()) || self.step_state(&step.id).attempts > 0 {
            return Ok(PreflightEnd::Clear);
        }
        loop {
            self.resolve_roles();
            let params = {
                let outputs = self.outputs_lookup();
                plan::render_with(step, &plan::lookup(&self.inputs, &outputs)).unwrap_or(Value::Null)
            };
            let runbook = &self.loaded.runbook;
            // Boxed: nested in the drive's future, the checks' futures overflowed rustc's query
            // depth computing its layout (in a non-incremental build).
            let checks = Box::pin(crate::preflight::for_step(
                runbook,
                step.action.as_deref(),
                &params,
                &self.envs,
                &crate::aws::NoLog,
                Some(&self.id),
            ))
            .await;
            let failed: Vec<String> = checks
                .iter()
                .filter(|c| c.verdict == Verdict::Fail)
                .map(|c| format!("{} {}: {}", c.resource, c.rule, c.why))
                .collect();
            self.record(Event::PreflightChecked { step: step.id.clone(), checks })?;
            if failed.is_empty() {
                return Ok(PreflightEnd::Clear);
            }
            let error = format!("preflight failed; nothing was changed: {}", failed.join("; "));
            if self.auto_approve {
                self.status(&step.id, StepStatus::Failed, Some(error))?;
                return Ok(PreflightEnd::Failed);
            }
            self.status(&step.id, StepStatus::AwaitingDecision, Some(error.clone()))?;
            let attempt = self.step_state(&step.id).attempts;
            let request = FailureRequest { step, attempt, error: error.clone(), can_roll_back: false };
            let answer = operator.failure(request).await;
            match self.record_failure_decision(step, &answer, false)? {
                FailureOutcome::Retry => self.status(&step.id, StepStatus::Pending, Some("preflight again".into()))?,
                FailureOutcome::Skip => return Ok(PreflightEnd::Skipped),
                // Nothing was changed: there is nothing to roll back (not offered), so it stops.
                FailureOutcome::Abort | FailureOutcome::Rollback => {
                    self.status(&step.id, StepStatus::Failed, Some(error))?;
                    return Ok(PreflightEnd::Aborted);
                }
            }
        }
    }
}

//! Rolling a failed failback step back: the operator's `rollback` decision (`b` in the console,
//! `:rollback` in the line mode) or `on_failure: rollback`. Primary is put back as it was before
//! the step from what the failback kept, by the same per-resource code as `pilotlight undo`
//! (sub-steps `undo-*` under the step, resumable), and what was failed back is kept aside. Then
//! each put-back resource's sub-steps from the failback's point of no return on are reset, so a
//! retry (on resume) fails it back again, reusing its recorded configuration and recovery point.
//! The step ends failed either way and the run stops: a rollback is a decision to stop.

use super::{EngineError, Run};
use crate::actions::failback::undo::{UNDOABLE, point_of_no_return};
use crate::aws::ActionError;
use crate::journal::{Event, StepStatus, SubId, SubPhase};
use crate::runbook::Step;
use serde_json::Value;

impl Run {
    /// Whether a step's failure can be rolled back: its action is a failback that keeps what it
    /// replaces.
    pub(super) fn can_roll_back(&self, step: &Step) -> bool {
        step.action.as_deref().is_some_and(|a| UNDOABLE.contains(&a)) && !self.dry_run
    }

    /// Rolls the failed step back (see the module's doc); `error` is what it failed with. The
    /// step is journaled failed, with the outcome as its reason.
    pub(super) async fn roll_back(&self, step: &Step, error: &str) -> Result<(), EngineError> {
        let message = format!("rolling back: putting primary back as it was before this step (it failed: {error})");
        self.record(Event::ActionLog { step: step.id.clone(), message })?;
        let (ok, outputs, failure) = match self.undo_step(step).await {
            Ok(outputs) => (true, outputs, None),
            Err(ActionError::Journal(e)) => return Err(e.into()),
            Err(e) => (false, e.outputs(), Some(e.to_string())),
        };
        let reset = if ok { self.to_reset_after_rollback(step, &outputs) } else { Vec::new() };
        self.record(Event::RolledBack { step: step.id.clone(), ok, outputs, error: failure.clone(), reset })?;
        let reason = match failure {
            None => format!(
                "rolled back after it failed ({error}): primary is as it was before this step, what was failed back \
                 is kept; resume to fail back again"
            ),
            Some(e) => format!("{error}; the rollback failed too ({e}): mend it and resume, which rolls back again"),
        };
        self.status(&step.id, StepStatus::Failed, Some(reason))
    }

    /// For each resource the rollback put back, its sub-steps from the failback's point of no
    /// return on (in the order they first started), its `undo-*` ones among them.
    fn to_reset_after_rollback(&self, step: &Step, outputs: &indexmap::IndexMap<String, Value>) -> Vec<SubId> {
        let state = self.step_state(&step.id);
        let markers = point_of_no_return(state.action.as_deref().unwrap_or_default());
        let put_back = outputs.get("resources").and_then(Value::as_object).into_iter().flatten();
        let mut reset = Vec::new();
        for (name, _) in put_back.filter(|(_, r)| r.get("undone").and_then(Value::as_bool) == Some(true)) {
            let mine: Vec<&SubId> = state.substeps.keys().filter(|id| id.resource.as_deref() == Some(name)).collect();
            let Some(from) = mine.iter().position(|id| markers.contains(&id.part.as_str())) else { continue };
            reset.extend(
                mine[from..].iter().filter(|id| state.substeps[**id].phase != SubPhase::Reset).map(|id| (*id).clone()),
            );
        }
        reset
    }
}

//! `pilotlight undo RUN_ID`: after a failback that went through (and before recovery is
//! concluded), primary goes back to how it was before the run, from the originals the failbacks
//! kept; what they restored is set aside and kept. The failback steps are undone last first, each
//! by [`crate::actions::failback::undo`], with sub-steps (`undo-*`) and calls journaled under the
//! step like its own, so a kill anywhere goes on from the journal when `undo` is given again.
//! The run then finishes as `undone`: it cannot be resumed, and it no longer stops a new run.
//!
//! Refused before anything is journaled: a dry run (nothing changed), an abandoned run, a run
//! whose recovery was concluded (recovery's compute is stopped and its final recovery points
//! taken: undoing primary then would leave neither side serving the latest data), a failback
//! step cut off mid-attempt (resume it first: it finishes or rolls back), a run with nothing to
//! undo.

use super::{EngineError, ResumeOptions, Run, RunStore, os_user, plan};
use crate::actions::failback::undo::{UNDOABLE, undo_step};
use crate::aws::ActionError;
use crate::engine::Observer;
use crate::journal::{Event, RunState, RunStatus};
use crate::runbook::Step;
use std::time::Duration;

/// How long one step's undo may take when the step sets no timeout (the failbacks' own default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Whether a run may be undone (see the module's doc).
fn undoable(state: &RunState, id: &str) -> Result<(), EngineError> {
    let refuse = |why: String| Err(EngineError::Invalid(format!("run {id} cannot be undone: {why}")));
    if state.undo.as_ref().is_some_and(|u| u.done()) || state.status() == RunStatus::Undone {
        return Err(EngineError::AlreadyUndone(id.to_string()));
    }
    if state.status() == RunStatus::Abandoned {
        return refuse("it was abandoned".into());
    }
    if matches!(state.started, Some(Event::RunStarted { dry_run: true, .. })) {
        return refuse("it is a dry run, which changed nothing".into());
    }
    let acted = |actions: &[&str]| -> Vec<(&String, &crate::journal::StepState)> {
        state.steps.iter().filter(|(_, s)| s.action.as_deref().is_some_and(|a| actions.contains(&a))).collect()
    };
    if let Some((step, _)) = acted(&["recovery.conclude"]).first() {
        return refuse(format!(
            "recovery was concluded at step `{step}` (its compute stopped, its final recovery points taken); put \
             primary back by hand from the retained originals the report lists"
        ));
    }
    let failbacks = acted(UNDOABLE);
    if let Some((step, _)) = failbacks.iter().find(|(_, s)| s.in_flight) {
        return refuse(format!(
            "step `{step}` was cut off mid-attempt; resume the run first (`pilotlight resume {id}`): the failback \
             finishes, or fails and puts primary back"
        ));
    }
    if failbacks.is_empty() {
        return refuse(format!("no failback step ({}) has run", UNDOABLE.join(", ")));
    }
    Ok(())
}

/// Whether run `id` may be undone, read from its journal without opening it (nothing journaled):
/// for a front end to ask before it confirms.
pub fn check_undoable(store: &RunStore, id: &str) -> Result<(), EngineError> {
    let path = store.dir(id).join(super::store::JOURNAL_FILE);
    if !path.is_file() {
        return Err(EngineError::NotFound(id.to_string()));
    }
    let (entries, _) = crate::journal::read_entries(&path)?;
    undoable(&RunState::replay(&entries), id)
}

impl Run {
    /// Opens a run to undo its failbacks ([`Run::undo`]); refuses what cannot be undone.
    pub fn for_undo(
        store: &RunStore,
        id: &str,
        options: ResumeOptions,
        observer: Observer,
    ) -> Result<Run, EngineError> {
        Run::open(store, id, options, observer, undoable)
    }

    /// Undoes every failback step that ran, last first; `Undone` when all are, `Failed` at the
    /// first that cannot be (given again, `undo` goes on from there).
    pub async fn undo(&self, reason: &str) -> Result<RunStatus, EngineError> {
        if self.recorder.read(|s| s.undo.is_none()) {
            self.record(Event::UndoStarted { user: os_user(), reason: reason.trim().to_string() })?;
        }
        if !self.check_accounts().await? {
            self.record(Event::UndoFinished { ok: false })?;
            return self.finish(RunStatus::Failed);
        }
        self.resolve_roles();
        let steps: Vec<&Step> = self
            .loaded
            .runbook
            .steps
            .iter()
            .rev()
            .filter(|step| {
                self.recorder.read(|s| {
                    let state = s.step(&step.id);
                    let undone = s.undo.as_ref().and_then(|u| u.steps.get(&step.id)).is_some_and(|r| r.ok);
                    state.attempts > 0 && !undone && state.action.as_deref().is_some_and(|a| UNDOABLE.contains(&a))
                })
            })
            .collect();
        for step in steps {
            let (ok, outputs, error) = match self.undo_step(step).await {
                Ok(outputs) => (true, outputs, None),
                Err(ActionError::Journal(e)) => return Err(e.into()),
                Err(e) => (false, e.outputs(), Some(e.to_string())),
            };
            self.record(Event::UndoStepFinished { step: step.id.clone(), ok, outputs, error })?;
            if !ok {
                self.record(Event::UndoFinished { ok: false })?;
                return self.finish(RunStatus::Failed);
            }
        }
        self.record(Event::UndoFinished { ok: true })?;
        self.finish(RunStatus::Undone)
    }

    /// One failback step undone, with the parameters its attempts were given.
    pub(super) async fn undo_step(&self, step: &Step) -> Result<crate::actions::Outputs, ActionError> {
        let params = {
            let outputs = self.outputs_lookup();
            plan::render_with(step, &plan::lookup(&self.inputs, &outputs))
                .map_err(|e| ActionError::Failed(format!("cannot resolve the step's parameters: {e}")))?
        };
        let timeout = super::action_run::step_timeout(step, DEFAULT_TIMEOUT)?;
        let state = self.step_state(&step.id);
        let log = self.step_log(step, state.attempts);
        let cx = self.action_cx(step, &log, (state.attempts, false), timeout);
        let action = state.action.unwrap_or_default();
        // Boxed: inline, the four failbacks' undo futures make the drive's future too deep for
        // the compiler's layout queries.
        Box::pin(undo_step(&cx, &action, &params)).await
    }
}

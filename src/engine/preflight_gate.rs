//! Before a failback step's gate: its resources are checked ([`crate::preflight`], reads only)
//! and the checks journaled (`preflight_checked`), so the operator deciding at the gate, `watch`
//! and the report see them. A failed check holds the step back before anything is sent: the
//! operator checks again (retry, once the world is mended), skips the step with a reason, or
//! aborts; under `--auto-approve` the run fails there. Only before the step's first attempt:
//! after it, the world is mid-failback by design (an original renamed away is not a failure).

use super::{EngineError, FailureRequest, Operator, Run, plan};
use crate::aws::read_memo::{MemoUse, ReadMemo};
use crate::aws::{ActionError, Call, CallLog, NoLog};
use crate::journal::{Event, FailureOutcome, PreflightCheck, StepStatus, Verdict};
use crate::runbook::Step;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Each step's latest preflight answers, until its action takes them.
pub(super) type Memos = Mutex<HashMap<String, Arc<ReadMemo>>>;

/// The preflight's call log: reads only (as [`NoLog`]), their answers kept for the action.
struct Keeping<'a>(&'a ReadMemo);

impl CallLog for Keeping<'_> {
    fn before_mutating(&self, call: &Call<'_>) -> Result<(), ActionError> {
        NoLog.before_mutating(call)
    }
    fn finished(&self, _: &Call<'_>, _: Option<String>) -> Result<(), ActionError> {
        Ok(())
    }
    fn memo(&self) -> Option<MemoUse<'_>> {
        Some(MemoUse::Keep(self.0))
    }
}

/// A step's checks and when they were made.
pub(super) type Checked = (Instant, Vec<PreflightCheck>);

/// How long checks made for a whole group stand for one of its steps: longer, and an operator
/// answered another step's failed check meanwhile, so they are made again.
const FRESH: Duration = Duration::from_secs(60);

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
    /// Whether `step` is checked before its gate: a failback step, before its first attempt.
    fn preflighted(&self, step: &Step) -> bool {
        crate::preflight::checks(step.action.as_deref()) && self.step_state(&step.id).attempts == 0
    }

    /// The checks of every step of `steps` that has them, all at once (reads only; a group's
    /// steps would otherwise wait for each other's round trips before the gate), in order.
    pub(super) async fn preflight_all(&self, steps: &[&Step]) -> Vec<Option<Checked>> {
        let checks = steps.iter().map(|step| async move {
            match self.preflighted(step) {
                true => Some((Instant::now(), self.preflight_checks(step).await)),
                false => None,
            }
        });
        futures_util::future::join_all(checks).await
    }

    /// One run of a step's checks.
    async fn preflight_checks(&self, step: &Step) -> Vec<PreflightCheck> {
        self.resolve_roles();
        let params = {
            let outputs = self.outputs_lookup();
            plan::render_with(step, &plan::lookup(&self.inputs, &outputs)).unwrap_or(Value::Null)
        };
        let memo = self.fresh_memo();
        let keeping = memo.as_deref().map(Keeping);
        let log: &dyn CallLog = match &keeping {
            Some(k) => k,
            None => &NoLog,
        };
        // Boxed: nested in the drive's future, the checks' futures overflowed rustc's query
        // depth computing its layout (in a non-incremental build).
        let checks = Box::pin(crate::preflight::for_step(
            &self.loaded.runbook,
            step.action.as_deref(),
            &params,
            &self.envs,
            log,
            Some(&self.id),
        ))
        .await;
        if let Some(memo) = memo {
            self.memos.lock().unwrap_or_else(|p| p.into_inner()).insert(step.id.clone(), memo);
        }
        checks
    }

    /// An empty memo for a step, where every environment has a region of its own.
    pub(super) fn fresh_memo(&self) -> Option<Arc<ReadMemo>> {
        ReadMemo::for_regions(self.envs.names().filter_map(|e| self.envs.region(e).ok())).map(Arc::new)
    }

    /// The answers `step`'s preflight kept, for its action (once).
    pub(super) fn take_memo(&self, step: &Step) -> Option<Arc<ReadMemo>> {
        self.memos.lock().unwrap_or_else(|p| p.into_inner()).remove(&step.id)
    }

    /// Journals a step's checks (`first`: made already by [`Self::preflight_all`], used while
    /// [`FRESH`]) and, when one failed, asks the operator: check again (the checks run again),
    /// skip, or abort.
    pub(super) async fn preflight<O: Operator>(
        &self,
        operator: &mut O,
        step: &Step,
        mut first: Option<Checked>,
    ) -> Result<PreflightEnd, EngineError> {
        if !self.preflighted(step) {
            return Ok(PreflightEnd::Clear);
        }
        loop {
            let checks = match first.take().filter(|(at, _)| at.elapsed() < FRESH) {
                Some((_, checks)) => checks,
                None => self.preflight_checks(step).await,
            };
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

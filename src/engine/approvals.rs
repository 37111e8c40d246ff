//! The two-person rule: a gate with `approvers: N` passes once the driver and N - 1 other people
//! approved it, each identified by the AWS identity STS gives their own credentials. The others
//! approve from their machines (`pilotlight watch RUN --team TABLE --approve STEP`), which
//! writes an approval item under their own identity in the team table; the driver's engine reads
//! them and journals each one before the gate is decided. An approval under the driver's own
//! identity never counts.

use super::{EngineError, Run};
use crate::journal::Event;
use crate::runbook::Step;
use std::time::Duration;

/// How often the driver looks for approvals while its gate waits for them.
const LOOK_EVERY: Duration = Duration::from_secs(1);

impl Run {
    /// Whether every gate that needs several approvers can have them: only in team mode.
    pub(super) fn check_approvers(loaded: &crate::runbook::LoadedRunbook, team: bool) -> Result<(), EngineError> {
        match loaded.runbook.steps.iter().find(|s| s.approvers > 1) {
            Some(step) if !team => Err(EngineError::Invalid(format!(
                "step `{}`: its gate needs {} approvers, each from their own machine and AWS identity: run it with \
                 --team TABLE (see `pilotlight team init`)",
                step.id, step.approvers
            ))),
            _ => Ok(()),
        }
    }

    /// After the driver approved `step`'s gate: journals the driver's approval, then waits until
    /// `step.approvers - 1` other identities have approved it in the team table.
    pub(super) async fn await_approvals(&self, step: &Step) -> Result<(), EngineError> {
        let needed = step.approvers;
        let Some(lease) = &self.lease else {
            Self::check_approvers(&self.loaded, false)?;
            return Ok(());
        };
        let store = lease.store().clone();
        let me = crate::blocking::blocking(|| store.identity())?;
        // This ask of the gate is the driver's approval's entry: others approve that one.
        let ask = self
            .recorder
            .record(Event::Approval {
                step: step.id.clone(),
                identity: me.arn.clone(),
                user_id: me.user_id.clone(),
                driver: true,
                needed,
            })?
            .seq;
        let mut counted = vec![me.user_id.clone()];
        let mut told_self = false;
        loop {
            let (run, id) = (self.id.clone(), step.id.clone());
            let found = store.call(|t| async move { t.approvals(&run, &id, ask).await })?;
            for a in found {
                if a.user_id == me.user_id {
                    if !told_self {
                        tracing::warn!(step = %step.id, identity = %a.arn, "an approval under the driver's own identity does not count");
                        told_self = true;
                    }
                    continue;
                }
                if counted.contains(&a.user_id) {
                    continue;
                }
                counted.push(a.user_id.clone());
                self.record(Event::Approval {
                    step: step.id.clone(),
                    identity: a.arn,
                    user_id: a.user_id,
                    driver: false,
                    needed,
                })?;
            }
            if counted.len() >= usize::from(needed) {
                return Ok(());
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }
}

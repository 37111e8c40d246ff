//! The way back of a failback by switchover that stopped after the switchover and before both
//! clusters were detached ([`super::global`]): recovery's cluster is a read-only secondary then,
//! and `undo` (or a step's rollback) makes it the writer again. Primary's cluster was not touched.

use super::global::{Staging, global, members};
use super::{Layout, One};
use crate::aws::ActionError;
use serde_json::{Value, json};

/// The sub-steps of the switchover and the detaches, reset by a switch back so that a resume
/// switches over again.
const SWITCH: [&str; 7] = [
    "switchover",
    "wait-switchover",
    "detach-recovery",
    "wait-recovery-detached",
    "detach-secondary",
    "wait-secondary-detached",
    "wait-recovery-standalone",
];

/// Whether this run's failback of `name` switched over (and has not been switched back).
pub(super) fn switched(cx: &crate::actions::ActionCx<'_>, name: &str) -> bool {
    cx.recorded(&crate::journal::SubId::of(name, "switchover")).is_some_and(|s| s.is_done())
}

impl One<'_, '_> {
    /// The way back before the swap (`undo-switch-back`, `undo-wait-switched-back`): while recovery's
    /// cluster is still in the global database, it is made the writer again (a switchover, nothing
    /// lost); once detached it is writable already. The switchover's sub-steps are reset, so a
    /// resume switches over again. Primary's cluster was not touched.
    pub(super) async fn switch_back(&self, l: &Layout) -> Result<Value, ActionError> {
        let cx = self.cx;
        let s = Staging::of(&l.primary_id);
        let r_region = l.recovery_region.as_str();
        let back = cx
            .sub(&self.sub_name("undo-switch-back"), json!({ "global": s.global, "to": l.recovery_arn }), |_| async {
                let Some(g) = global(cx.log, self.recovery, &s.global, r_region).await? else { return Ok(false) };
                // Detached already: writable, nothing to switch back.
                if !members(&g).iter().any(|(a, _)| *a == l.recovery_arn) {
                    return Ok(false);
                }
                self.switch_to(&g, (&s.global, r_region), &l.recovery_arn).await?;
                Ok(true)
            })
            .await?;
        if back {
            self.wait_for_writer("undo-wait-switched-back", (&s.global, r_region), &l.recovery_arn).await?;
        }
        let mut reset: Vec<crate::journal::SubId> = SWITCH.iter().map(|p| self.sub_name(p)).collect();
        reset.extend(["undo-switch-back", "undo-wait-switched-back"].map(|p| self.sub_name(p)));
        cx.reset(&reset.iter().collect::<Vec<_>>())?;
        Ok(json!({
            "undone": true,
            "switched_back": back,
            "cluster": l.recovery_id,
            "why": if back {
                format!("recovery's cluster {} is the writer of global database {} again", l.recovery_id, s.global)
            } else {
                format!("recovery's cluster {} stands alone (writable): nothing to switch back", l.recovery_id)
            },
            "put_back": [],
            "retained": [],
        }))
    }
}

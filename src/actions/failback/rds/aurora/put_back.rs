//! An Aurora failback's way back after the point of no return: the original cluster under its
//! identifier again, with its instances and custom endpoints ([`One::or_put_back`]).

use super::members::Members;
use super::{Layout, One};
use crate::aws::ActionError;

impl One<'_, '_> {
    /// `done` (the swap up to the restore or the rename in), or its failure after the original was
    /// put back ([`One::put_back`]). Not when the call may have landed or the journal cannot be
    /// written (the next attempt looks first: a restore or rename it finds is this run's and goes
    /// on), nor in a dry run.
    pub(super) async fn or_put_back(
        &self,
        l: &Layout,
        old: &Members<'_, '_>,
        done: Result<(), ActionError>,
    ) -> Result<(), ActionError> {
        match done {
            Ok(()) => Ok(()),
            Err(e @ (ActionError::Unanswered { .. } | ActionError::Journal(_))) => Err(e),
            Err(e) if self.cx.dry_run => Err(e),
            Err(e) => Err(self.put_back(l, old, e).await),
        }
    }

    /// The way back when the restore fails: the original cluster takes its identifier back
    /// (deletion protection as it was; [`Keep::put_back`]) and its instances are created in it
    /// again (`rollback-create-instances`, `rollback-wait-instances`) and its custom endpoints
    /// (`rollback-recreate-custom-endpoints`; the sandbox cannot make them, so untested there);
    /// the sub-steps from `remove-custom-endpoints` on are marked undone, so a retry does them
    /// again.
    async fn put_back(&self, l: &Layout, old: &Members<'_, '_>, e: ActionError) -> ActionError {
        let id = &l.primary_id;
        let back = async {
            self.cx
                .log
                .note(format!("cluster {id}: the failback failed ({e}); putting the original back under {id}"))?;
            let undone = [
                "remove-custom-endpoints",
                "wait-endpoints-removed",
                "protection-off",
                "delete-instances",
                "wait-instances-deleted",
                "restore",
                "wait-restored",
                "rename-secondary",
                "wait-renamed",
                "rollback-create-instances",
                "rollback-wait-instances",
                "rollback-recreate-custom-endpoints",
                "rollback-wait-endpoints-available",
                "rollback-protection-back",
            ];
            self.keeper(l).put_back(l.config.deletion_protection, &undone).await?;
            let names = ("rollback-create-instances", "rollback-wait-instances");
            old.recreate_as(&l.members, names, super::members::Made::Original).await?;
            Members { parts: "rollback-", ..self.members(l) }.recreate_endpoints(&l.custom_endpoints).await
        };
        match back.await {
            Ok(()) => ActionError::Failed(format!(
                "the failback of cluster {id} failed ({e}); the original is back under {id} (deletion protection \
                 as it was) and its instances and custom endpoints created in it again, so primary's data is as before; mend \
                 the cause and retry"
            )),
            Err(rollback) => rollback,
        }
    }
}

//! A primary instance that belongs to an Auto Scaling group is put in `Standby` for the volume
//! swap and returned to `InService` after it. A stopped `InService` member fails the group's
//! health check and is *terminated* and replaced (its root volume, with DeleteOnTermination, goes
//! with it). `Standby` (with the desired capacity lowered, so nothing launches in its place) keeps
//! the group's hands off while it is stopped (Auto Scaling user guide, "Temporarily remove
//! instances from your Auto Scaling group").
//!
//! Only a member that was `InService` when the failback read it is touched: one an operator put
//! in Standby stays there. Each sub-step reads the lifecycle state first, so a resumed one does
//! not send its call twice.

use super::{Layout, One};
use crate::actions::Poll;
use crate::aws::{ActionError, CallLog, at, mutate, read};
use aws_sdk_autoscaling::Client;
use serde_json::json;

/// The group `inst` belongs to and its lifecycle state there (`InService`, `Standby`, ...), or
/// `None` for an instance in no group.
pub(super) async fn membership(
    log: &dyn CallLog,
    client: &Client,
    inst: &str,
    region: &str,
) -> Result<Option<(String, String)>, ActionError> {
    let req = client.describe_auto_scaling_instances().instance_ids(inst);
    let out = read(log, at(inst, region), req).await??;
    Ok(out.auto_scaling_instances().first().map(|i| {
        (
            i.auto_scaling_group_name().unwrap_or_default().to_string(),
            i.lifecycle_state().unwrap_or_default().to_string(),
        )
    }))
}

impl One<'_, '_> {
    /// `enter-standby` and `wait-standby`, for a member of a group.
    pub(super) async fn enter_standby(&self, l: &Layout) -> Result<(), ActionError> {
        let Some(group) = l.auto_scaling_group.as_deref() else { return Ok(()) };
        let cx = self.cx;
        let (inst, region) = (l.primary_instance.as_str(), l.primary_region.as_str());
        cx.sub(&self.sub_name("enter-standby"), json!({ "instance": inst, "group": group }), |_| async {
            let now = membership(cx.log, self.autoscaling, inst, region).await?.map(|(_, s)| s).unwrap_or_default();
            if now != "InService" {
                return Ok(());
            }
            if cx.dry_run {
                return cx.log.note(format!("dry run: would put {inst} in Standby in {group}"));
            }
            let req = self
                .autoscaling
                .enter_standby()
                .auto_scaling_group_name(group)
                .instance_ids(inst)
                .should_decrement_desired_capacity(true);
            mutate(cx.log, at(inst, region), req).await??;
            Ok(())
        })
        .await?;
        self.wait_lifecycle(l, "wait-standby", "Standby").await
    }

    /// `exit-standby` and `wait-in-service`, once the instance runs and passes its checks.
    pub(super) async fn exit_standby(&self, l: &Layout) -> Result<(), ActionError> {
        let Some(group) = l.auto_scaling_group.as_deref() else { return Ok(()) };
        let cx = self.cx;
        let (inst, region) = (l.primary_instance.as_str(), l.primary_region.as_str());
        cx.sub(&self.sub_name("exit-standby"), json!({ "instance": inst, "group": group }), |_| async {
            let now = membership(cx.log, self.autoscaling, inst, region).await?.map(|(_, s)| s).unwrap_or_default();
            if now != "Standby" {
                return Ok(());
            }
            if cx.dry_run {
                return cx.log.note(format!("dry run: would return {inst} to service in {group}"));
            }
            let req = self.autoscaling.exit_standby().auto_scaling_group_name(group).instance_ids(inst);
            mutate(cx.log, at(inst, region), req).await??;
            Ok(())
        })
        .await?;
        self.wait_lifecycle(l, "wait-in-service", "InService").await
    }

    async fn wait_lifecycle(&self, l: &Layout, part: &str, want: &str) -> Result<(), ActionError> {
        let cx = self.cx;
        if cx.dry_run {
            return Ok(());
        }
        let (inst, region) = (l.primary_instance.as_str(), l.primary_region.as_str());
        let name = self.sub_name(part);
        cx.sub(&name, json!({ "instance": inst, "until": want }), |_| async {
            let quiet = cx.quiet();
            cx.wait_for(&name, cx.timeout, || async {
                let now = membership(&quiet, self.autoscaling, inst, region).await?.map(|(_, s)| s);
                let now = now.unwrap_or_else(|| "in no group".to_string());
                Ok(if now == want { Poll::Ready(()) } else { Poll::Pending(format!("{inst} {now}")) })
            })
            .await
        })
        .await
    }
}

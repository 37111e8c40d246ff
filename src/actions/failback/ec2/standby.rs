//! A primary instance that belongs to an Auto Scaling group is put in `Standby` for the volume
//! swap and returned to `InService` after it. A stopped `InService` member fails the group's
//! health check and is *terminated* and replaced (its root volume, with DeleteOnTermination, goes
//! with it). `Standby` (with the desired capacity lowered, so nothing launches in its place) keeps
//! the group's hands off while it is stopped (Auto Scaling user guide, "Temporarily remove
//! instances from your Auto Scaling group").
//!
//! AWS refuses EnterStandby with a lowered desired capacity that would fall below the group's
//! minimum (EnterStandby, `ShouldDecrementDesiredCapacity`): a group at its minimum (often one
//! instance, min 1) instead has its `HealthCheck` and `ReplaceUnhealthy` processes suspended for
//! the swap (those not already suspended) and resumed after it (Auto Scaling user guide,
//! "Suspend and resume processes"). The choice is made from the group as `read` recorded it, so a
//! resumed sub-step makes the same one.
//!
//! Only a member that was `InService` when the failback read it is touched: one an operator put
//! in Standby stays there. Each sub-step reads the state first, or sends a call that is the same
//! when repeated, so a resumed one does not act twice.

use super::{Layout, One};
use crate::actions::Poll;
use crate::aws::{ActionError, CallLog, at, mutate, read};
use aws_sdk_autoscaling::Client;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The processes that replace a stopped member: suspended when Standby is not allowed.
const REPLACING: [&str; 2] = ["HealthCheck", "ReplaceUnhealthy"];

/// A group as `read` found it: its size limits and what was already suspended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct GroupAtRead {
    pub(super) min: i32,
    pub(super) desired: i32,
    pub(super) suspended: Vec<String>,
}

/// How the group is kept from replacing the member while it is stopped.
#[derive(Debug, Clone, PartialEq)]
enum Hold {
    Standby,
    /// These processes (of [`REPLACING`], not suspended before) are suspended for the swap.
    Suspend(Vec<String>),
}

/// Standby when the desired capacity may drop by one (AWS refuses it below the minimum), else
/// the replacing processes that are not suspended already. A run recorded before the group's
/// sizes were (`None`) goes by Standby, as it did.
fn hold(group: Option<&GroupAtRead>) -> Hold {
    match group {
        Some(g) if g.desired - 1 < g.min => Hold::Suspend(
            REPLACING.iter().filter(|p| !g.suspended.iter().any(|s| s == *p)).map(|p| p.to_string()).collect(),
        ),
        _ => Hold::Standby,
    }
}

/// The group's size limits and suspended processes.
pub(super) async fn group_at_read(
    log: &dyn CallLog,
    client: &Client,
    group: &str,
    region: &str,
) -> Result<Option<GroupAtRead>, ActionError> {
    let req = client.describe_auto_scaling_groups().auto_scaling_group_names(group);
    let out = read(log, at(group, region), req).await??;
    Ok(out.auto_scaling_groups().first().map(|g| GroupAtRead {
        min: g.min_size().unwrap_or(0),
        desired: g.desired_capacity().unwrap_or(0),
        suspended: g.suspended_processes().iter().filter_map(|p| p.process_name().map(str::to_string)).collect(),
    }))
}

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
    /// `enter-standby` and `wait-standby` for a member of a group, or `suspend-replacement`
    /// when the group is at its minimum.
    pub(super) async fn enter_standby(&self, l: &Layout) -> Result<(), ActionError> {
        let Some(group) = l.auto_scaling_group.as_deref() else { return Ok(()) };
        let cx = self.cx;
        let (inst, region) = (l.primary_instance.as_str(), l.primary_region.as_str());
        if let Hold::Suspend(processes) = hold(l.group_at_read.as_ref()) {
            return self.replacement(group, region, &processes, true).await;
        }
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

    /// `exit-standby` and `wait-in-service` (or `resume-replacement`), once the instance runs
    /// and passes its checks.
    pub(super) async fn exit_standby(&self, l: &Layout) -> Result<(), ActionError> {
        let Some(group) = l.auto_scaling_group.as_deref() else { return Ok(()) };
        let cx = self.cx;
        let (inst, region) = (l.primary_instance.as_str(), l.primary_region.as_str());
        if let Hold::Suspend(processes) = hold(l.group_at_read.as_ref()) {
            return self.replacement(group, region, &processes, false).await;
        }
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

    /// `suspend-replacement` or `resume-replacement`: the group's `processes` suspended (or
    /// resumed). Either call is the same when repeated, so a resumed sub-step sends it again.
    async fn replacement(
        &self,
        group: &str,
        region: &str,
        processes: &[String],
        suspend: bool,
    ) -> Result<(), ActionError> {
        let cx = self.cx;
        let (part, verb) = if suspend { ("suspend-replacement", "suspend") } else { ("resume-replacement", "resume") };
        let detail = json!({ "group": group, "processes": processes });
        cx.sub(&self.sub_name(part), detail, |_| async {
            if processes.is_empty() {
                return Ok(());
            }
            if cx.dry_run {
                return cx.log.note(format!("dry run: would {verb} {} in {group}", processes.join(", ")));
            }
            let list = Some(processes.to_vec());
            if suspend {
                let req =
                    self.autoscaling.suspend_processes().auto_scaling_group_name(group).set_scaling_processes(list);
                mutate(cx.log, at(group, region), req).await??;
            } else {
                let req =
                    self.autoscaling.resume_processes().auto_scaling_group_name(group).set_scaling_processes(list);
                mutate(cx.log, at(group, region), req).await??;
            }
            Ok(())
        })
        .await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_at_its_minimum_has_its_replacing_processes_suspended_instead_of_standby() {
        let group = |min, desired, suspended: &[&str]| GroupAtRead {
            min,
            desired,
            suspended: suspended.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(hold(Some(&group(0, 1, &[]))), Hold::Standby);
        assert_eq!(hold(Some(&group(1, 2, &[]))), Hold::Standby);
        assert_eq!(hold(None), Hold::Standby, "a run recorded before the sizes were");
        let both = Hold::Suspend(vec!["HealthCheck".into(), "ReplaceUnhealthy".into()]);
        assert_eq!(hold(Some(&group(1, 1, &[]))), both);
        assert_eq!(
            hold(Some(&group(2, 2, &["HealthCheck", "Launch"]))),
            Hold::Suspend(vec!["ReplaceUnhealthy".into()]),
            "what an operator suspended stays theirs: not suspended again, not resumed"
        );
    }
}

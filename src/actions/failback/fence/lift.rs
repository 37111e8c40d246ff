//! Lifting the fence (`pilotlight undo`, a rollback): recovery takes writes again. An instance
//! is started only if the fence found it running (`undo-start`, `undo-wait-running`); a table's
//! policy loses the fence's statement and keeps the rest, or is deleted when nothing else is left
//! (`undo-policy`), and the lift is proved by a probe write that the policy no longer refuses
//! (`undo-wait-lifted`). A resource the fence never reached is left alone and says so.

use super::table::{TableRead, remove_fence};
use super::{Fence, InstanceRead};
use crate::actions::failback::each_resource;
use crate::actions::failback::ec2::reads::{instance as ec2_instance, state_of};
use crate::actions::{ActionCx, Outputs, Poll};
use crate::aws::{ActionError, at, mutate};
use crate::journal::SubId;
use crate::runbook::ResourceType;
use serde_json::{Value, json};

/// Lifts the fence step `cx.step` put up with `params`.
pub async fn lift(cx: &ActionCx<'_>, params: &Value) -> Result<Outputs, ActionError> {
    let fence: Fence = serde_json::from_value(params.clone())
        .map_err(|e| ActionError::Failed(format!("the fence's parameters cannot be read back: {e}")))?;
    let config = cx.envs.config("recovery", cx.log).await?;
    let region = cx.envs.region("recovery")?.to_string();
    let (ec2, ddb) = (aws_sdk_ec2::Client::new(&config), aws_sdk_dynamodb::Client::new(&config));
    let limit = fence.max_parallel.unwrap_or(cx.max_parallel);
    each_resource(&fence.names(), limit, |name| {
        let (ec2, ddb, region) = (&ec2, &ddb, region.as_str());
        async move {
            let kind = cx.runbook.resources.get(&name).map(|r| r.kind);
            if kind == Some(ResourceType::DynamodbTable) {
                table(cx, &name, ddb, region).await
            } else {
                instance(cx, &name, ec2, region).await
            }
        }
    })
    .await
}

fn not_reached(name: &str) -> Value {
    json!({ "undone": false, "note": format!("the fence never reached {name}: nothing to lift") })
}

async fn instance(
    cx: &ActionCx<'_>,
    name: &str,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
) -> Result<Value, ActionError> {
    let Some(read) = cx.result_of::<InstanceRead>(&SubId::of(name, "read"))? else { return Ok(not_reached(name)) };
    let inst = read.instance_id.as_str();
    if read.state != "running" {
        return Ok(
            json!({ "undone": true, "instance": inst, "note": format!("found {} by the fence: left so", read.state) }),
        );
    }
    let start = SubId::of(name, "undo-start");
    cx.sub(&start, json!({ "instance": inst }), |_| async {
        let quiet = cx.quiet();
        // A stop still under way is let finish: StartInstances is refused while `stopping`.
        let state = cx
            .wait_for(&start, cx.timeout, || async {
                let state = state_of(&ec2_instance(&quiet, ec2, inst, region).await?);
                Ok(if state == "stopping" {
                    Poll::Pending(format!("instance {inst} stopping"))
                } else {
                    Poll::Ready(state)
                })
            })
            .await?;
        if state != "stopped" {
            return Ok(false);
        }
        if cx.dry_run {
            cx.log.note(format!("dry run: would start {inst} in {region}"))?;
            return Ok(false);
        }
        mutate(cx.log, at(inst, region), ec2.start_instances().instance_ids(inst)).await??;
        Ok(true)
    })
    .await?;
    if !cx.dry_run {
        let wait = SubId::of(name, "undo-wait-running");
        let quiet = cx.quiet();
        cx.wait_alone(&wait, cx.timeout, || async {
            let state = state_of(&ec2_instance(&quiet, ec2, inst, region).await?);
            Ok(if state == "running" { Poll::Ready(()) } else { Poll::Pending(format!("instance {inst} {state}")) })
        })
        .await?;
    }
    Ok(json!({ "undone": true, "instance": inst, "started": true }))
}

async fn table(
    cx: &ActionCx<'_>,
    name: &str,
    ddb: &aws_sdk_dynamodb::Client,
    region: &str,
) -> Result<Value, ActionError> {
    let Some(read) = cx.result_of::<TableRead>(&SubId::of(name, "read"))? else { return Ok(not_reached(name)) };
    let arn = read.arn.as_str();
    let changed: bool = cx
        .sub(&SubId::of(name, "undo-policy"), json!({ "table": arn }), |_| remove_fence(cx, ddb, region, arn))
        .await?;
    if !cx.dry_run {
        let wait = SubId::of(name, "undo-wait-lifted");
        let table = arn.rsplit('/').next().unwrap_or(arn);
        cx.wait_alone(&wait, cx.timeout, || async {
            Ok(match super::table::probe(cx, ddb, region, table, &read.key).await? {
                true => Poll::Pending("a probe write is still refused by the policy".into()),
                false => Poll::Ready(()),
            })
        })
        .await?;
    }
    Ok(json!({ "undone": true, "table": arn, "policy_changed": changed }))
}

//! `recovery.fence`: stop the recovery environment from taking writes before the final recovery
//! points are taken, and record the moment it was proved. Every write recovery accepts after a
//! failback's recovery point is lost; with the fence in force before the points are taken, none
//! is (the report's data-loss window is then zero or less).
//!
//! - `stop: [ec2 instances]`: the application's compute in recovery is stopped (never
//!   terminated): `read`, `wait-stoppable`, `stop`, `wait-stopped`. Proved when EC2 reports it
//!   `stopped`.
//! - `deny_writes: [dynamodb tables]`: a statement denying every principal the table's writes is
//!   added to its resource-based policy (any policy it had is kept, and put back when the fence is
//!   lifted): `read`, `policy`, `wait-fenced`. DynamoDB applies a policy eventually ("it will take
//!   some time to apply the policy to all requests", PutResourcePolicy), so the put proves
//!   nothing: the fence is proved when GetResourcePolicy answers the new revision *and* a probe
//!   write is refused by it (a PutItem whose condition can never hold: it writes nothing whether
//!   it is refused or not).
//!
//! The step's output `fenced_at` is the latest of the resources' proofs: from then on recovery
//! takes no writes. Lifting the fence ([`lift`]) is part of `pilotlight undo` and of a rollback.

pub mod lift;
pub mod table;

use super::each_resource;
use super::ec2::reads::{instance as ec2_instance, state_of};
use super::ec2::stopping::stop_instance;
use crate::actions::{Action, ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::ActionError;
use crate::journal::SubId;
use crate::runbook::ResourceType;
use crate::runbook::yaml_tree::Seg;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// The Sid of the fence's statement in a table's resource-based policy: how the fence finds its
/// own statement again (resumed, lifted) among the table's others.
pub const FENCE_SID: &str = "PilotlightFenceWrites";

/// Parameters of `recovery.fence`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fence {
    /// Recovery EC2 instances that write (the application's compute): stopped, never terminated.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Recovery DynamoDB tables: writes denied to every principal by a resource-based policy
    /// statement (the table's own policy, if any, is kept).
    #[serde(default)]
    pub deny_writes: Vec<String>,
    /// At most this many resources at once (default: `--max-parallel`, the runbook's `max_parallel`, else 4).
    #[serde(default)]
    pub max_parallel: Option<usize>,
}

impl Fence {
    /// Every fenced resource, instances first.
    pub fn names(&self) -> Vec<String> {
        self.stop.iter().chain(self.deny_writes.iter()).cloned().collect()
    }
}

impl Action for Fence {
    const NAME: &'static str = "recovery.fence";
    const DISRUPTS: bool = true;
    const ACTS_IN: crate::actions::ActsIn = crate::actions::ActsIn::Recovery;
    const SUMMARY: &'static str = "stop recovery from taking writes (stop its compute, deny writes on its tables) and record when that was proved; lifted by undo and rollback";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["fenced_at", "resources"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        let mut problems = Vec::new();
        if self.stop.is_empty() && self.deny_writes.is_empty() {
            problems
                .push((Vec::new(), "name what to fence: `stop: [instances]` and/or `deny_writes: [tables]`".into()));
        }
        let lists = [
            ("stop", &self.stop, ResourceType::Ec2Instance),
            ("deny_writes", &self.deny_writes, ResourceType::DynamodbTable),
        ];
        let mut seen: Vec<&String> = Vec::new();
        for (field, names, kind) in lists {
            for name in names {
                match cx.resource(field, name, &[kind]) {
                    Ok(r) if r.recovery.is_none() => problems.push((
                        vec![Seg::Key(field.into())],
                        format!("resource `{name}` has no `recovery` identifier: nothing to fence"),
                    )),
                    Ok(_) => {}
                    Err(p) => problems.push(p),
                }
                if seen.contains(&name) {
                    problems.push((vec![Seg::Key(field.into())], format!("resource `{name}` is named twice")));
                }
                seen.push(name);
            }
        }
        problems
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let config = cx.envs.config("recovery", cx.log).await?;
        let region = cx.envs.region("recovery")?.to_string();
        let (ec2, ddb) = (aws_sdk_ec2::Client::new(&config), aws_sdk_dynamodb::Client::new(&config));
        let limit = self.max_parallel.unwrap_or(cx.max_parallel);
        let mut out = each_resource(&self.names(), limit, |name| {
            let (ec2, ddb, region) = (&ec2, &ddb, region.as_str());
            async move {
                let res = cx
                    .runbook
                    .resources
                    .get(&name)
                    .ok_or_else(|| ActionError::Failed(format!("no resource {name}")))?;
                let id = res.recovery.clone().unwrap_or_default();
                match res.kind {
                    ResourceType::DynamodbTable => table::fence(cx, &name, ddb, region, &id).await,
                    _ => stop(cx, &name, ec2, region, &id).await,
                }
            }
        })
        .await?;
        // Times are RFC 3339 in UTC with the same precision: the greatest string is the latest.
        let latest = out
            .get("resources")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|r| r.get("fenced_at").and_then(Value::as_str))
            .max()
            .map(str::to_string);
        if let Some(at) = latest.filter(|_| !cx.dry_run) {
            out.insert("fenced_at".into(), Value::String(at));
        }
        Ok(out)
    }
}

/// What the fence's `read` of an instance recorded: the state it found (lifting starts only an
/// instance the fence found running).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceRead {
    pub instance_id: String,
    pub state: String,
}

/// Stops a recovery instance and waits until EC2 reports it stopped.
async fn stop(
    cx: &ActionCx<'_>,
    name: &str,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    id: &str,
) -> Result<Value, ActionError> {
    let read: InstanceRead = cx
        .sub(&SubId::of(name, "read"), json!({ "instance": id }), |_| async {
            let inst = ec2_instance(cx.log, ec2, id, region).await?;
            Ok(InstanceRead { instance_id: inst.instance_id().unwrap_or_default().to_string(), state: state_of(&inst) })
        })
        .await?;
    let inst = read.instance_id.as_str();
    let consequence = "recovery's volumes, snapshotted next, hold what the file system had written";
    let (sent, fenced_at) = stop_instance(cx, name, ec2, (inst, region), consequence).await?;
    Ok(json!({
        "instance": inst,
        "found": read.state,
        "stopped_by_fence": sent || read.state == "running",
        "fenced_at": fenced_at,
    }))
}

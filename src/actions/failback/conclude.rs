//! `recovery.conclude`: return the recovery environment to pilot light once primary serves
//! again. Per resource, final recovery points first (retained: the last copy of what recovery
//! held), then the compute the failover started there is stopped (never terminated or deleted):
//!
//! - `ec2_instance`: snapshot every EBS volume of the recovery instance, then stop it;
//! - `rds_instance`: a final DB snapshot, then StopDBInstance (AWS starts a stopped instance
//!   again after seven days: said in the outputs);
//! - `aurora_cluster`: a final cluster snapshot, then StopDBCluster (same seven-day rule);
//! - `dynamodb_table`: an on-demand backup (a table has no compute to stop); then a fence's deny
//!   statement on its writes (`recovery.fence`), if any, comes off (`lift-fence`).
//!
//! With no parameters it acts on every declared resource of those types; `resources: [..]`
//! narrows it. Sub-steps per resource: `snapshot-final` / `wait-final-snapshot` (or
//! `backup-final` / `wait-final-backup`), then `wait-stoppable` (a state the stop can be sent
//! from: RDS refuses it while the final snapshot keeps the instance `backing-up`), `stop` /
//! `wait-stopped` (an instance: [`super::ec2::stopping::stop_instance`], as the fence stops one).

use super::dynamodb::reads::find_backup;
use super::ec2::EbsSnapshot;
use super::ec2::reads::{LOOKS_WHEN_RESUMED, ebs_devices, instance as ec2_instance};
use super::ec2::recovery_snapshots::{InstancePoint, snapshot_instance};
use super::ec2::stopping::stop_instance;
use super::rds::keep::describe;
use super::rds::snapshots::{Kind, RecoveryPoint};
use super::rds::{made_id, wait_status};
use super::{Retained, each_resource};
use crate::actions::{Action, ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::{ActionError, at, mutate, read};
use crate::journal::SubId;
use crate::runbook::ResourceType;
use crate::runbook::yaml_tree::Seg;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

const FINAL_WHY: &str = "final recovery point taken in recovery when the recovery was concluded";

/// Resource types concluding acts on.
const CONCLUDED: &[ResourceType] =
    &[ResourceType::Ec2Instance, ResourceType::RdsInstance, ResourceType::AuroraCluster, ResourceType::DynamodbTable];

/// Parameters of `recovery.conclude`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Conclude {
    /// Only these declared resources (default: every EC2, RDS, Aurora and DynamoDB resource).
    #[serde(default)]
    pub resources: Vec<String>,
    /// At most this many resources at once (default: `--max-parallel`, the runbook's `max_parallel`, else 4).
    #[serde(default)]
    pub max_parallel: Option<usize>,
}

impl Action for Conclude {
    const NAME: &'static str = "recovery.conclude";
    const DISRUPTS: bool = true;
    const ACTS_IN: crate::actions::ActsIn = crate::actions::ActsIn::Recovery;
    const SUMMARY: &'static str = "return recovery to pilot light: final recovery points of every resource (kept), then stop the recovery compute (EC2 instances, RDS instances, Aurora clusters)";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["resources", "retained"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        let mut problems = Vec::new();
        for name in &self.resources {
            match cx.resource("resources", name, CONCLUDED) {
                Ok(r) if r.recovery.is_none() => problems.push((
                    vec![Seg::Key("resources".into())],
                    format!("resource `{name}` has no `recovery` identifier: nothing to conclude"),
                )),
                Ok(_) => {}
                Err(p) => problems.push(p),
            }
        }
        problems
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let names: Vec<String> = if self.resources.is_empty() {
            cx.runbook
                .resources
                .iter()
                .filter(|(_, r)| CONCLUDED.contains(&r.kind) && r.recovery.is_some())
                .map(|(n, _)| n.clone())
                .collect()
        } else {
            self.resources.clone()
        };
        let config = cx.envs.config("recovery", cx.log).await?;
        let clients = Clients {
            ec2: aws_sdk_ec2::Client::new(&config),
            rds: aws_sdk_rds::Client::new(&config),
            ddb: aws_sdk_dynamodb::Client::new(&config),
            region: cx.envs.region("recovery")?.to_string(),
        };
        each_resource(&names, self.max_parallel.unwrap_or(cx.max_parallel), |name| {
            let clients = &clients;
            async move { One { cx, name: &name, c: clients }.run().await }
        })
        .await
    }
}

struct Clients {
    ec2: aws_sdk_ec2::Client,
    rds: aws_sdk_rds::Client,
    ddb: aws_sdk_dynamodb::Client,
    region: String,
}

struct One<'a, 'c> {
    cx: &'a ActionCx<'c>,
    name: &'a str,
    c: &'a Clients,
}

impl One<'_, '_> {
    fn sub_name(&self, part: &str) -> SubId {
        SubId::of(self.name, part)
    }

    fn retained(&self, kind: &str, id: &str, delete_with: String) -> Retained {
        Retained {
            resource: self.name.to_string(),
            kind: kind.into(),
            id: id.into(),
            region: self.c.region.clone(),
            why: FINAL_WHY.into(),
            delete_with,
        }
    }

    async fn run(&self) -> Result<Value, ActionError> {
        let res = self
            .cx
            .runbook
            .resources
            .get(self.name)
            .ok_or_else(|| ActionError::Failed(format!("no resource {}", self.name)))?;
        let id = res.recovery.clone().unwrap_or_default();
        match res.kind {
            ResourceType::Ec2Instance => self.ec2(&id).await,
            ResourceType::RdsInstance => self.rds(&id, Kind::Instance).await,
            ResourceType::AuroraCluster => self.rds(&id, Kind::Cluster).await,
            ResourceType::DynamodbTable => self.dynamodb(&id).await,
            other => Err(ActionError::Failed(format!("{}: nothing to conclude for a {}", self.name, other.as_str()))),
        }
    }

    /// Snapshots every EBS volume of the recovery instance, then stops it.
    async fn ec2(&self, id: &str) -> Result<Value, ActionError> {
        let (cx, region, ec2) = (self.cx, &self.c.region, &self.c.ec2);
        // A sub-step of its own, so that its calls are journaled as this resource's.
        let (inst_id, devices): (String, Vec<(String, String)>) = cx
            .sub(&self.sub_name("read"), json!({ "instance": id }), |_| async {
                let inst = ec2_instance(cx.log, ec2, id, region).await?;
                Ok((inst.instance_id().unwrap_or_default().to_string(), ebs_devices(&inst)))
            })
            .await?;
        // Every volume at once: a final recovery point consistent across the instance's volumes.
        let point = InstancePoint {
            client: ec2,
            region,
            resource: self.name,
            instance: &inst_id,
            volumes: &devices,
            stage: "final-snapshot",
            description: format!("pilotlight-final-recovery-point/{}/{}", cx.run_id, self.name),
        };
        let snaps: IndexMap<String, EbsSnapshot> = cx
            .sub(&self.sub_name("snapshot-final"), json!({ "instance": inst_id, "volumes": devices }), |r| {
                snapshot_instance(cx, &point, r.looks(LOOKS_WHEN_RESUMED))
            })
            .await?;
        let ids: Vec<String> = snaps.values().map(|s| s.snapshot_id.clone()).collect();
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-final-snapshot"), json!({ "snapshots": ids }), &["completed"], || async {
            let req = ec2.describe_snapshots().set_snapshot_ids(Some(ids.clone()));
            let out = read(&quiet, at(&ids.join(","), region), req).await??;
            Ok(out
                .snapshots()
                .iter()
                .map(|s| {
                    let state = s.state().map(|x| x.as_str()).map(|x| if x == "error" { "failed" } else { x });
                    (format!("snapshot {}", s.snapshot_id().unwrap_or("?")), state.map(str::to_string))
                })
                .collect())
        })
        .await?;
        let consequence = "its final recovery point, taken before the stop, is not affected";
        stop_instance(cx, self.name, ec2, (&inst_id, region), consequence).await?;
        let retained: Vec<Retained> = snaps
            .values()
            .map(|s| {
                let cmd = format!("aws ec2 delete-snapshot --region {region} --snapshot-id {}", s.snapshot_id);
                self.retained("ebs_snapshot", &s.snapshot_id, cmd)
            })
            .collect();
        Ok(json!({ "stopped": inst_id, "final_recovery_points": ids, "retained": retained }))
    }

    /// A final snapshot of an RDS instance or Aurora cluster, then stop it.
    async fn rds(&self, id: &str, kind: Kind) -> Result<Value, ActionError> {
        let (cx, region, rds) = (self.cx, &self.c.region, &self.c.rds);
        // Only the recovery side is touched: the flow's primary client is never used here.
        let point = RecoveryPoint {
            cx,
            name: self.name,
            kind,
            primary: rds,
            recovery: rds,
            kms: None,
            source: id,
            recovery_region: region,
            primary_region: region,
            share_with: None,
            option_group: None,
            seen: Default::default(),
        };
        let snap = point.snapshot("final").await?;
        let noun = if kind == Kind::Instance { "DB instance" } else { "DB cluster" };
        // RDS stops only from `available`: one still `backing-up` (the final snapshot),
        // `modifying` or `starting` is waited for first, or the stop would never be sent.
        let quiet = cx.quiet();
        let stoppable = &["available", "stopping", "stopped"];
        wait_status(cx, &self.sub_name("wait-stoppable"), json!({ noun: id }), stoppable, || async {
            Ok(vec![(format!("{noun} {id}"), describe(kind, &quiet, rds, id, region).await?.map(|d| d.status))])
        })
        .await?;
        self.stop(id, noun, || async {
            let status = describe(kind, cx.log, rds, id, region).await?.map(|d| d.status);
            if status.as_deref() != Some("available") {
                return Ok(false);
            }
            if cx.dry_run {
                cx.log.note(format!("dry run: would stop {noun} {id}"))?;
                return Ok(false);
            }
            if kind == Kind::Instance {
                let req = rds.stop_db_instance().db_instance_identifier(id);
                mutate(cx.log, at(id, region), req).await??;
            } else {
                let req = rds.stop_db_cluster().db_cluster_identifier(id);
                mutate(cx.log, at(id, region), req).await??;
            }
            Ok(true)
        })
        .await?;
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-stopped"), json!({ noun: id }), &["stopped"], || async {
            Ok(vec![(format!("{noun} {id}"), describe(kind, &quiet, rds, id, region).await?.map(|d| d.status))])
        })
        .await?;
        Ok(json!({
            "stopped": id,
            "final_recovery_points": [snap.id],
            "note": "AWS starts a stopped RDS instance or Aurora cluster again after seven days; stop it again or schedule it.",
            "retained": [kind.retained(self.name, &snap.id, region, FINAL_WHY)],
        }))
    }

    /// An on-demand backup of the recovery table (it keeps serving nothing; no compute to stop).
    async fn dynamodb(&self, table: &str) -> Result<Value, ActionError> {
        let (cx, region, ddb) = (self.cx, &self.c.region, &self.c.ddb);
        let name = made_id(cx.run_id, self.name, "final");
        let arn: String = cx
            .sub(&self.sub_name("backup-final"), json!({ "table": table, "backup": name }), |_| async {
                if let Some(b) = find_backup(cx.log, ddb, region, table, &name).await? {
                    return Ok(b.backup_arn().unwrap_or_default().to_string());
                }
                if cx.dry_run {
                    cx.log.note(format!("dry run: would back up {table} as {name}"))?;
                    return Ok(format!("(dry run) {name}"));
                }
                let req = ddb.create_backup().table_name(table).backup_name(&name);
                let out = mutate(cx.log, at(table, region), req).await??;
                Ok(out.backup_details().map(|d| d.backup_arn().to_string()).unwrap_or_default())
            })
            .await?;
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-final-backup"), json!({ "backup": arn }), &["AVAILABLE"], || async {
            let now = find_backup(&quiet, ddb, region, table, &name).await?;
            let status =
                now.map(|b| b.backup_status().map(|s| s.as_str().to_string()).unwrap_or_else(|| "unknown".into()));
            Ok(vec![(format!("backup {name}"), status)])
        })
        .await?;
        // Back to pilot light, the table takes writes again (replication into it, a restore): a
        // fence's deny statement (`recovery.fence`) comes off; the table's own policy stays.
        let lifted: bool = cx
            .sub(&self.sub_name("lift-fence"), json!({ "table": table }), |_| async {
                let out = crate::aws::read(cx.log, at(table, region), ddb.describe_table().table_name(table)).await??;
                let arn = out.table().and_then(|t| t.table_arn()).unwrap_or_default().to_string();
                super::fence::table::remove_fence(cx, ddb, region, &arn).await
            })
            .await?;
        let delete = format!("aws dynamodb delete-backup --region {region} --backup-arn {arn}");
        Ok(json!({
            "final_recovery_points": [arn],
            "fence_lifted": lifted,
            "retained": [self.retained("dynamodb_backup", &arn, delete)],
        }))
    }

    /// The `stop` sub-step: `act` stops the thing if it runs (true when it sent the call).
    async fn stop<F, Fut>(&self, id: &str, noun: &str, act: F) -> Result<(), ActionError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<bool, ActionError>>,
    {
        self.cx.sub(&self.sub_name("stop"), json!({ noun: id }), |_| async { act().await.map(|_| ()) }).await
    }
}

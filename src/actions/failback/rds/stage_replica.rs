//! `rds.stage-replica`: the stage half of `rds.failback` with `method: replica`
//! ([`super::replica`]). Hours or days before the window, with both sides serving: a read replica
//! of the recovery instance in primary's region, which RDS fills from a snapshot copied across
//! and then keeps in step. Nothing of primary's is touched; recovery keeps taking writes. It waits
//! until the replica has caught up once (CloudWatch), so the window starts from a healthy one.
//! Run again, it finds what is there and changes nothing.

use super::instance::One;
use super::replica::replica_id;
use crate::actions::failback::{each_resource, resource_names};
use crate::actions::{Action, ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::ActionError;
use crate::runbook::ResourceType;
use aws_sdk_rds::Client;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// Parameters of `rds.stage-replica`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageReplica {
    /// A declared `rds_instance` resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Several `rds_instance` resources, staged concurrently.
    #[serde(default)]
    pub resources: Vec<String>,
    /// KMS key in the primary region for the replica of an encrypted recovery instance (RDS
    /// requires one across regions).
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// At most this many instances at once (default: `--max-parallel`, the runbook's `max_parallel`, else 4).
    #[serde(default)]
    pub max_parallel: Option<usize>,
}

impl Action for StageReplica {
    const NAME: &'static str = "rds.stage-replica";
    const ACTS_IN: crate::actions::ActsIn = crate::actions::ActsIn::RecoveryToPrimary;
    const SUMMARY: &'static str = "stage an RDS failback through a read replica: a cross-region read replica of the recovery instance in primary's region, caught up (nothing of either side disrupted)";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["resources"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        resource_names(cx, &self.resource, &self.resources, &[ResourceType::RdsInstance]).1
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let names: Vec<String> = self.resource.iter().chain(self.resources.iter()).cloned().collect();
        let primary = Client::new(&cx.envs.config("primary", cx.log).await?);
        let recovery = Client::new(&cx.envs.config("recovery", cx.log).await?);
        each_resource(&names, self.max_parallel.unwrap_or(cx.max_parallel), |name| {
            let (primary, recovery, kms) = (&primary, &recovery, self.kms_key_id.as_deref());
            async move { One { cx, name: &name, primary, recovery, kms }.stage_replica_only().await }
        })
        .await
    }

    fn trade_offs(&self) -> Vec<String> {
        vec![super::instance::replica_trade_off()]
    }
}

impl One<'_, '_> {
    async fn stage_replica_only(&self) -> Result<Value, ActionError> {
        let l = self.layout().await?;
        let arn = self.stage_replica(&l).await?;
        let caught_up = self.caught_up("replica-caught-up", &l).await?;
        let (p, id) = (&l.primary_region, replica_id(&l.primary_id));
        // Billed from now on: what to run if the failback never comes.
        let remove_with = format!(
            "aws rds modify-db-instance --region {p} --db-instance-identifier {id} --no-deletion-protection \
             --apply-immediately && aws rds delete-db-instance --region {p} --db-instance-identifier {id} \
             --skip-final-snapshot"
        );
        self.cx.log.note(format!(
            "{}: the read replica {id} is billed until the failback takes it over; to remove it instead: {remove_with}",
            self.name
        ))?;
        Ok(json!({
            "replica": id,
            "replica_arn": arn,
            "source": l.recovery_arn,
            "caught_up_at": caught_up,
            "remove_with": remove_with,
        }))
    }
}

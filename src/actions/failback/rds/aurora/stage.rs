//! `aurora.stage-secondary`: the stage half of `aurora.failback` with `method: switchover`
//! ([`super::global`]). Hours or days before the window, with both sides serving: a global
//! database from the recovery cluster and a secondary of it (a cluster and one instance) in
//! primary's region, which RDS fills with a full copy of the cluster volume and then keeps in step.
//! Nothing of primary's is touched; recovery keeps taking writes. Run again, it finds what is
//! there and changes nothing. The failback, in the window, switches over to it.

use super::{Layout, One};
use crate::actions::failback::{each_resource, resource_names};
use crate::actions::{Action, ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::ActionError;
use crate::runbook::ResourceType;
use aws_sdk_rds::Client;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// Parameters of `aurora.stage-secondary`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageSecondary {
    /// A declared `aurora_cluster` resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Several `aurora_cluster` resources, staged concurrently.
    #[serde(default)]
    pub resources: Vec<String>,
    /// KMS key in the primary region for the secondary of an encrypted recovery cluster.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// At most this many clusters at once (default: `--max-parallel`, the runbook's `max_parallel`, else 4).
    #[serde(default)]
    pub max_parallel: Option<usize>,
}

impl Action for StageSecondary {
    const NAME: &'static str = "aurora.stage-secondary";
    const ACTS_IN: crate::actions::ActsIn = crate::actions::ActsIn::RecoveryToPrimary;
    const SUMMARY: &'static str = "stage an Aurora failback by switchover: a global database from the recovery cluster, with a secondary cluster and instance in primary's region (nothing of either side disrupted)";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["resources"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        resource_names(cx, &self.resource, &self.resources, &[ResourceType::AuroraCluster]).1
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let names: Vec<String> = self.resource.iter().chain(self.resources.iter()).cloned().collect();
        let primary = Client::new(&cx.envs.config("primary", cx.log).await?);
        let recovery = Client::new(&cx.envs.config("recovery", cx.log).await?);
        each_resource(&names, self.max_parallel.unwrap_or(cx.max_parallel), |name| {
            let (primary, recovery, kms) = (&primary, &recovery, self.kms_key_id.as_deref());
            async move { One { cx, name: &name, primary, recovery, kms }.stage_only().await }
        })
        .await
    }

    fn trade_offs(&self) -> Vec<String> {
        vec![super::global::trade_off()]
    }
}

impl One<'_, '_> {
    async fn stage_only(&self) -> Result<Value, ActionError> {
        let l: Layout = self.cx.sub(&self.sub_name("read"), Value::Null, |_| self.read_layout()).await?;
        let arn = self.stage_secondary(&l).await?;
        let s = super::global::Staging::of(&l.primary_id);
        // Billed from now on: what to run if the failback never comes (the failback takes them
        // over and leaves no global database).
        let (p, r) = (&l.primary_region, &l.recovery_region);
        let remove_with = format!(
            "aws rds remove-from-global-cluster --region {p} --global-cluster-identifier {g} --db-cluster-identifier {arn} \
             && aws rds delete-db-instance --region {p} --db-instance-identifier {i} \
             && aws rds modify-db-cluster --region {p} --db-cluster-identifier {c} --no-deletion-protection --apply-immediately \
             && aws rds delete-db-cluster --region {p} --db-cluster-identifier {c} --skip-final-snapshot \
             && aws rds remove-from-global-cluster --region {r} --global-cluster-identifier {g} --db-cluster-identifier {src} \
             && aws rds delete-global-cluster --region {r} --global-cluster-identifier {g}",
            g = s.global,
            i = s.instance,
            c = s.cluster,
            src = l.recovery_arn,
        );
        self.cx.log.note(format!(
            "{}: the secondary {} and its instance {} are billed until the failback takes them over; to remove them \
             instead: {remove_with}",
            self.name, s.cluster, s.instance
        ))?;
        Ok(json!({
            "global_database": s.global,
            "secondary_cluster": s.cluster,
            "secondary_arn": arn,
            "secondary_instance": s.instance,
            "source": l.recovery_arn,
            "remove_with": remove_with,
        }))
    }
}

//! `failback.rehearse`: the test failback, done by the tool. Each named resource's failback is
//! rehearsed against AWS itself without touching primary: the recovery point is copied home and
//! restored side by side under a temporary name, checked against primary's configuration, timed,
//! and removed. What AWS refuses in the failback, it refuses here first.
//!
//! Per type: RDS instances (`rds::rehearse`), Aurora clusters (`rds::aurora::rehearse`), EC2
//! instances (`ec2::rehearse`) and DynamoDB tables (`dynamodb::rehearse`).

use super::{each_resource, resource_names};
use crate::actions::{Action, ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::ActionError;
use crate::runbook::ResourceType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Parameters of `failback.rehearse`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rehearse {
    /// A declared resource whose failback to rehearse (`ec2_instance`, `rds_instance`, `aurora_cluster`,
    /// `dynamodb_table`).
    #[serde(default)]
    pub resource: Option<String>,
    /// Several, rehearsed concurrently.
    #[serde(default)]
    pub resources: Vec<String>,
    /// KMS key (in the primary region) for the copy, as the failback step gives it.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// For tables: the S3 bucket the recovery table is exported to, as the failback step gives it.
    #[serde(default)]
    pub staging_bucket: Option<String>,
    /// For tables: the key prefix in the bucket (default `pilotlight`).
    #[serde(default)]
    pub staging_prefix: Option<String>,
    /// At most this many resources at once (default: `--max-parallel`, the runbook's `max_parallel`, else 4).
    #[serde(default)]
    pub max_parallel: Option<usize>,
    /// Stage: keep each EC2 instance's rehearsal snapshots in recovery and their copies in
    /// primary, and each RDS instance's rehearsal snapshot and its copy (listed as retained), when
    /// the rehearsal succeeds. EBS snapshots and copies of a volume move only the blocks changed
    /// since an earlier one that still exists there, and an RDS snapshot copy only what changed
    /// since an earlier copy of the same instance still in the destination region, so the
    /// failback's, inside the window, are then incremental. Aurora cluster snapshot copies are
    /// always full (not staged). Costs their storage until they are deleted.
    #[serde(default)]
    pub stage: bool,
}

impl Action for Rehearse {
    const NAME: &'static str = "failback.rehearse";
    const ACTS_IN: crate::actions::ActsIn = crate::actions::ActsIn::RecoveryToPrimary;
    const SUMMARY: &'static str = "rehearse each resource's failback side by side in primary (a temporary copy restored from the recovery point, checked, timed and removed), touching nothing of primary's";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["resources", "retained"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        let (names, mut problems) = resource_names(cx, &self.resource, &self.resources, KINDS);
        let table =
            names.iter().any(|n| cx.runbook.resources.get(n).is_some_and(|r| r.kind == ResourceType::DynamodbTable));
        if table && self.staging_bucket.as_deref().is_none_or(|b| b.trim().is_empty()) {
            problems.push((
                vec![crate::runbook::yaml_tree::Seg::Key("staging_bucket".into())],
                "a table is rehearsed through S3: give `staging_bucket` (as its failback step does)".into(),
            ));
        }
        problems
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let names: Vec<String> = self.resource.iter().chain(self.resources.iter()).cloned().collect();
        let (p, r) = (cx.envs.config("primary", cx.log).await?, cx.envs.config("recovery", cx.log).await?);
        let rds = (aws_sdk_rds::Client::new(&p), aws_sdk_rds::Client::new(&r));
        let ec2 = (aws_sdk_ec2::Client::new(&p), aws_sdk_ec2::Client::new(&r));
        let autoscaling = aws_sdk_autoscaling::Client::new(&p);
        let ddb = (aws_sdk_dynamodb::Client::new(&p), aws_sdk_dynamodb::Client::new(&r));
        let kms = self.kms_key_id.as_deref();
        let bucket = self.staging_bucket.as_deref().unwrap_or_default().trim();
        let root =
            self.staging_prefix.as_deref().map(|p| p.trim_matches('/')).unwrap_or(super::dynamodb::DEFAULT_PREFIX);
        each_resource(&names, self.max_parallel.unwrap_or(cx.max_parallel), |name| {
            let (rds, ec2, autoscaling, ddb) = (&rds, &ec2, &autoscaling, &ddb);
            async move {
                let kind = cx.runbook.resources.get(&name).map(|r| r.kind);
                match kind {
                    Some(ResourceType::AuroraCluster) => {
                        let (primary, recovery) = (&rds.0, &rds.1);
                        let one = super::rds::aurora::One { cx, name: &name, primary, recovery, kms };
                        super::rds::aurora::rehearse::rehearse(&one).await
                    }
                    Some(ResourceType::DynamodbTable) => {
                        let (primary, recovery) = (&ddb.0, &ddb.1);
                        let one = super::dynamodb::One { cx, name: &name, primary, recovery, bucket, root, parts: "" };
                        super::dynamodb::rehearse::rehearse(&one).await
                    }
                    Some(ResourceType::Ec2Instance) => {
                        let (primary, recovery) = (&ec2.0, &ec2.1);
                        let stages = &super::ec2::REHEARSAL;
                        let fast_restore = false;
                        let one = super::ec2::One {
                            cx,
                            name: &name,
                            primary,
                            autoscaling,
                            recovery,
                            kms,
                            stages,
                            fast_restore,
                        };
                        super::ec2::rehearse::rehearse(&one, self.stage).await
                    }
                    _ => {
                        let (primary, recovery) = (&rds.0, &rds.1);
                        let one = super::rds::instance::One { cx, name: &name, primary, recovery, kms };
                        super::rds::rehearse::rehearse(&one, self.stage).await
                    }
                }
            }
        })
        .await
    }
}

/// The resource types rehearsed so far.
const KINDS: &[ResourceType] =
    &[ResourceType::RdsInstance, ResourceType::AuroraCluster, ResourceType::Ec2Instance, ResourceType::DynamodbTable];

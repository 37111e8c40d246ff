//! `failback.rehearse`: the test failback, done by the tool. Each named resource's failback is
//! rehearsed against AWS itself without touching primary: the recovery point is copied home and
//! restored side by side under a temporary name, checked against primary's configuration, timed,
//! and removed. What AWS refuses in the failback, it refuses here first.
//!
//! This version rehearses RDS instances (`rds::rehearse`); the other resource types come next.

use super::{each_resource, resource_names};
use crate::actions::{Action, ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::ActionError;
use crate::runbook::ResourceType;
use aws_sdk_rds::Client;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Parameters of `failback.rehearse`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rehearse {
    /// A declared resource whose failback to rehearse (`rds_instance`).
    #[serde(default)]
    pub resource: Option<String>,
    /// Several, rehearsed concurrently.
    #[serde(default)]
    pub resources: Vec<String>,
    /// KMS key (in the primary region) for the copy, as the failback step gives it.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// At most this many resources at once (default: `--max-parallel`, the runbook's `max_parallel`, else 4).
    #[serde(default)]
    pub max_parallel: Option<usize>,
}

impl Action for Rehearse {
    const NAME: &'static str = "failback.rehearse";
    const RECOVERY_TO_PRIMARY: bool = true;
    const SUMMARY: &'static str = "rehearse each resource's failback side by side in primary (a temporary copy restored from the recovery point, checked, timed and removed), touching nothing of primary's";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["resources", "retained"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        resource_names(cx, &self.resource, &self.resources, ResourceType::RdsInstance).1
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let names: Vec<String> = self.resource.iter().chain(self.resources.iter()).cloned().collect();
        let primary = Client::new(&cx.envs.config("primary", cx.log).await?);
        let recovery = Client::new(&cx.envs.config("recovery", cx.log).await?);
        let kms = self.kms_key_id.as_deref();
        each_resource(&names, self.max_parallel.unwrap_or(cx.max_parallel), |name| {
            let (primary, recovery) = (&primary, &recovery);
            async move {
                let one = super::rds::instance::One { cx, name: &name, primary, recovery, kms };
                super::rds::rehearse::rehearse(&one).await
            }
        })
        .await
    }
}

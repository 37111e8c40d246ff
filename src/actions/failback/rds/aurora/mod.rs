//! `aurora.failback`: bring an Aurora cluster's data home from recovery, keeping the original.
//!
//! Per resource, as sub-steps: `read` (the primary cluster's configuration, instances and custom
//! endpoints, recorded before anything changes), the recovery point ([`super::snapshots`]:
//! snapshot the recovery cluster, share when cross-account, copy to primary), then on primary:
//! `remove-custom-endpoints`, `protection-off`, `delete-instances` (recorded; the data is in the
//! cluster volume, which stays with the kept cluster), `keep-cluster` (tagged, renamed to
//! `<id>-pre-failback-<short run id>`, deletion protection back on), `restore` (a new cluster
//! under the original identifier from the copy, given primary's IAM authentication, log exports,
//! storage type and backtrack window), `create-instances` (same identifiers, classes, promotion
//! tiers, zones, public access, monitoring, Performance Insights, CA certificate),
//! `recreate-custom-endpoints`, `reapply-config` (deletion protection, backup retention, the Data
//! API, tags, and what the restore did not take), each with its wait, `associate-roles` (IAM
//! roles, once the cluster is available again), and
//! `compare-config` (the whole Describe of the cluster and each member against before: every
//! difference with why).

pub mod cluster_config;
mod detach;
pub mod global;
mod members;
mod put_back;
pub(in crate::actions::failback) mod rehearse;
pub mod stage;
mod switch_back;
pub(in crate::actions::failback) mod undo;

use super::instance_config::{self, custom};
use super::keep::{Keep, cluster_status};
use super::snapshots::{Kind, RecoveryPoint};
use super::version;
use super::{DbSnapshot, kept_id, or_none, reapply_tags, restored_tags, wait_status};
use crate::actions::failback::{Retained, each_resource, resource_names, whole_diff};
use crate::actions::{Action, ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::{ActionError, CallLog, answer_tree, at, mutate, read};
use crate::journal::SubId;
use crate::runbook::ResourceType;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::{DbCluster, ServerlessV2ScalingConfiguration};
use cluster_config::ClusterConfig;
use members::{Endpoint, Member, Members, record_endpoints, record_members};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// Parameters of `aurora.failback`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuroraFailback {
    /// A declared `aurora_cluster` resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Several `aurora_cluster` resources, failed back concurrently.
    #[serde(default)]
    pub resources: Vec<String>,
    /// KMS key (in the primary region) for the copy of an encrypted snapshot from another
    /// account or region.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// At most this many clusters at once (default: `--max-parallel`, the runbook's `max_parallel`, else 4).
    #[serde(default)]
    pub max_parallel: Option<usize>,
    /// How the data comes home: `snapshot` (the default: a snapshot of the recovery cluster,
    /// copied and restored in the window) or `switchover` (through an Aurora Global Database
    /// whose secondary in primary's region `aurora.stage-secondary` made before the window: a
    /// switchover of minutes, no copy in the window; see [`global`]).
    #[serde(default)]
    pub method: Method,
}

/// How `aurora.failback` brings the data home.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "AuroraFailbackMethod")]
pub enum Method {
    #[default]
    Snapshot,
    Switchover,
}

/// What `read` records before anything changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Layout {
    recovery_id: String,
    recovery_region: String,
    /// The cluster restored into: primary's identifier (a rehearsal's temporary one).
    primary_id: String,
    primary_region: String,
    kept_id: String,
    config: ClusterConfig,
    /// Primary cluster's whole Describe ([`crate::aws::answer_tree`]), compared with the result
    /// at the end. Null in a run journaled by a version that did not record it.
    #[serde(default)]
    describe: Value,
    members: Vec<Member>,
    custom_endpoints: Vec<Endpoint>,
    share_with: Option<String>,
    /// The recovery cluster's ARN, engine version and encryption (a global database is made
    /// from it). Empty in a run journaled by a version that did not record them.
    #[serde(default)]
    recovery_arn: String,
    #[serde(default)]
    recovery_engine_version: Option<String>,
    #[serde(default)]
    recovery_encrypted: bool,
}

impl Action for AuroraFailback {
    const NAME: &'static str = "aurora.failback";
    const DISRUPTS: bool = true;
    const ACTS_IN: crate::actions::ActsIn = crate::actions::ActsIn::RecoveryToPrimary;
    const SUMMARY: &'static str = "restore an Aurora cluster in primary under its original identifier from a snapshot of the recovery cluster, with its instances and custom endpoints, keeping the original renamed";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["resources", "retained"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        resource_names(cx, &self.resource, &self.resources, &[ResourceType::AuroraCluster]).1
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let names: Vec<String> = self.resource.iter().chain(self.resources.iter()).cloned().collect();
        let primary = Client::new(&cx.envs.config("primary", cx.log).await?);
        let recovery = Client::new(&cx.envs.config("recovery", cx.log).await?);
        each_resource(&names, self.max_parallel.unwrap_or(cx.max_parallel), |name| {
            let (primary, recovery) = (&primary, &recovery);
            let (kms, method) = (self.kms_key_id.as_deref(), self.method);
            async move { One { cx, name: &name, primary, recovery, kms }.run(method).await }
        })
        .await
    }

    fn trade_offs(&self) -> Vec<String> {
        vec![match self.method {
            Method::Snapshot => "snapshot: the cluster snapshot's copy to primary's region is always full (Aurora \
                                 copies no snapshot incrementally) and happens in the window; nothing to pay for \
                                 before it"
                .to_string(),
            Method::Switchover => global::trade_off(),
        }]
    }
}

/// The cluster with this identifier, or `None`.
pub(super) async fn cluster(
    log: &dyn CallLog,
    client: &Client,
    id: &str,
    region: &str,
) -> Result<Option<DbCluster>, ActionError> {
    let req = client.describe_db_clusters().db_cluster_identifier(id);
    or_none(read(log, at(id, region), req).await?.map(|out| out.db_clusters().first().cloned()))
}

/// One cluster's failback (or its rehearsal, [`rehearse`]).
pub(in crate::actions::failback) struct One<'a, 'c> {
    pub cx: &'a ActionCx<'c>,
    pub name: &'a str,
    pub primary: &'a Client,
    pub recovery: &'a Client,
    pub kms: Option<&'a str>,
}

impl<'c> One<'_, 'c> {
    fn sub_name(&self, part: &str) -> SubId {
        SubId::of(self.name, part)
    }

    fn recovery_point<'p>(&'p self, l: &'p Layout) -> RecoveryPoint<'p, 'c> {
        RecoveryPoint {
            cx: self.cx,
            name: self.name,
            kind: Kind::Cluster,
            primary: self.primary,
            recovery: self.recovery,
            kms: self.kms,
            source: &l.recovery_id,
            recovery_region: &l.recovery_region,
            primary_region: &l.primary_region,
            share_with: l.share_with.as_deref(),
            option_group: None,
            seen: Default::default(),
        }
    }

    /// The members of the cluster `l` restores into.
    fn members<'m>(&'m self, l: &'m Layout) -> Members<'m, 'c> {
        Members {
            cx: self.cx,
            name: self.name,
            client: self.primary,
            region: &l.primary_region,
            cluster: &l.primary_id,
            engine: &l.config.engine,
            parts: "",
        }
    }

    fn keeper<'k>(&'k self, l: &'k Layout) -> Keep<'k, 'k> {
        Keep {
            cx: self.cx,
            name: self.name,
            kind: Kind::Cluster,
            client: self.primary,
            region: &l.primary_region,
            original: &l.primary_id,
            kept: &l.kept_id,
            arn: l.describe.get("db_cluster_arn").and_then(Value::as_str),
        }
    }

    async fn run(&self, method: Method) -> Result<Value, ActionError> {
        let cx = self.cx;
        let l: Layout = cx.sub(&self.sub_name("read"), Value::Null, |_| self.read_layout()).await?;
        if method == Method::Switchover {
            return self.run_switchover(&l).await;
        }
        let point = self.recovery_point(&l);
        let (snap, copy) = point.take().await?;
        let old = self.members(&l);
        // From the endpoints' removal on, primary's cluster is changed: a failure up to the
        // restore puts it back.
        let restored = async {
            old.remove_endpoints(&l.custom_endpoints).await?;
            self.protection_off(&l, "protection-off").await?;
            old.delete(&l.members).await?;
            self.keeper(&l).keep().await?;
            self.restore(&l, &copy, point.seen(&copy.id)).await
        };
        self.or_put_back(&l, &old, restored.await).await?;
        old.recreate(&l.members).await?;
        old.recreate_endpoints(&l.custom_endpoints).await?;
        let (reapplied, remaining) = self.reapply(&l, &[]).await?;
        Ok(self.outputs(&l, &snap, &copy, (&reapplied, &remaining), point.retained(&snap, &copy)))
    }

    async fn read_layout(&self) -> Result<Layout, ActionError> {
        let cx = self.cx;
        let res = cx
            .runbook
            .resources
            .get(self.name)
            .ok_or_else(|| ActionError::Failed(format!("no resource {}", self.name)))?;
        let (p_id, r_id) = (res.primary.clone().unwrap_or_default(), res.recovery.clone().unwrap_or_default());
        let p_region = cx.envs.region("primary")?.to_string();
        let r_region = cx.envs.region("recovery")?.to_string();
        // Both sides at once: two round trips that wait for nothing of each other.
        let (rec, pri) = futures_util::future::join(
            cluster(cx.log, self.recovery, &r_id, &r_region),
            cluster(cx.log, self.primary, &p_id, &p_region),
        )
        .await;
        let Some(rec) = rec? else {
            return Err(ActionError::Failed(format!("recovery cluster {r_id} not found in {r_region}")));
        };
        let pri = pri?.ok_or_else(|| {
            ActionError::Failed(format!(
                "primary cluster {p_id} not found in {p_region}: failback restores over an existing primary cluster \
                 (its configuration, instances and endpoints are what the restore is given)"
            ))
        })?;
        let members = record_members(cx.log, self.primary, &pri, &p_region).await?;
        let custom_endpoints = record_endpoints(cx.log, self.primary, &pri, &p_region).await?;
        let p_acct = cx.envs.check_account("primary", cx.log).await?.account;
        let r_acct = cx.envs.check_account("recovery", cx.log).await?.account;
        let copy = super::copy_rules::Copy::cluster(
            &rec,
            (&r_region, &p_region),
            self.kms,
            (p_acct != r_acct).then_some(&p_acct),
        );
        super::copy_rules::refusals(&copy.check(cx.envs, cx.log).await?)?;
        Ok(Layout {
            kept_id: kept_id(cx.run_id, &p_id),
            recovery_id: r_id,
            recovery_region: r_region,
            primary_id: p_id,
            primary_region: p_region,
            config: ClusterConfig::of(&pri),
            describe: answer_tree::tree(&pri),
            members,
            custom_endpoints,
            share_with: (p_acct != r_acct).then_some(p_acct),
            recovery_arn: rec.db_cluster_arn().unwrap_or_default().to_string(),
            recovery_engine_version: rec.engine_version().map(str::to_string),
            recovery_encrypted: rec.storage_encrypted() == Some(true),
        })
    }

    /// Turns deletion protection off on the original cluster, so its instances can go; the kept
    /// cluster gets it back when it is renamed.
    async fn protection_off(&self, l: &Layout, part: &str) -> Result<(), ActionError> {
        let cx = self.cx;
        let (id, region) = (&l.primary_id, &l.primary_region);
        cx.sub(&self.sub_name(part), json!({ "cluster": id }), |resume| async move {
            if cx.dry_run {
                return cx.log.note(format!("dry run: would turn deletion protection off on {id}"));
            }
            // On the failback's first run of it the cluster is as `read` recorded it (an undo's
            // is the restored one: it looks). Else it may be already renamed (this sub-step's
            // rerun after a later one ran cannot happen: done sub-steps replay), or already off:
            // nothing to do.
            let on = match resume.first && part == "protection-off" {
                true => l.config.deletion_protection,
                false => match cluster(cx.log, self.primary, id, region).await? {
                    Some(c) => c.deletion_protection() == Some(true),
                    None => false,
                },
            };
            if !on {
                return Ok(());
            }
            let req = self
                .primary
                .modify_db_cluster()
                .db_cluster_identifier(id)
                .deletion_protection(false)
                .apply_immediately(true);
            mutate(cx.log, at(id, region), req).await??;
            Ok(())
        })
        .await
    }

    /// Restores a new cluster under the original identifier from the copy. Deletion protection
    /// comes back at the end, once the instances are in.
    async fn restore(
        &self,
        l: &Layout,
        copy: &DbSnapshot,
        seen: Option<super::DbSnapshotNow>,
    ) -> Result<(), ActionError> {
        let cx = self.cx;
        let (region, id, c) = (&l.primary_region, &l.primary_id, &l.config);
        cx.sub(&self.sub_name("restore"), json!({ "cluster": id, "from": copy.id }), |resume| async move {
            if cx.dry_run {
                return cx.log.note(format!("dry run: would restore cluster {id} from {}", copy.id));
            }
            // The wait before it saw the identifier free: on this sub-step's first run nothing
            // can hold it yet (a foreign holder since would make the restore fail, not succeed).
            let keeper = self.keeper(l);
            if !resume.first && keeper.restored_already().await? {
                return Ok(());
            }
            // A restore may not go below the snapshot's engine version (see `version`).
            // As the copy's wait saw it complete, else read.
            let snap = match seen {
                Some(s) => Some(s),
                None => super::snapshots::describe(Kind::Cluster, cx.log, self.primary, &copy.id, region).await?,
            };
            let engine_version =
                version::for_restore(c.engine_version.as_deref(), snap.and_then(|s| s.engine_version).as_deref());
            if engine_version != c.engine_version {
                cx.log.note(format!(
                    "cluster {id} is restored at engine version {} (the snapshot's; primary ran {}): RDS does not restore to a lower version",
                    engine_version.as_deref().unwrap_or("-"),
                    c.engine_version.as_deref().unwrap_or("-")
                ))?;
            }
            let scaling = c.serverless_v2.map(|(min, max)| {
                ServerlessV2ScalingConfiguration::builder().min_capacity(min).max_capacity(max).build()
            });
            let req = self
                .primary
                .restore_db_cluster_from_snapshot()
                .db_cluster_identifier(id)
                .snapshot_identifier(&copy.id)
                .engine(&c.engine)
                .set_engine_version(engine_version)
                .set_serverless_v2_scaling_configuration(scaling)
                .set_db_cluster_parameter_group_name(custom(&c.parameter_group))
                .set_db_subnet_group_name(c.subnet_group.clone())
                .set_vpc_security_group_ids((!c.security_groups.is_empty()).then(|| c.security_groups.clone()))
                .set_port(c.port)
                .set_enable_iam_database_authentication(c.iam_auth.then_some(true))
                .set_enable_cloudwatch_logs_exports((!c.log_exports.is_empty()).then(|| c.log_exports.clone()))
                .set_storage_type(c.io_optimized.then(|| "aurora-iopt1".to_string()))
                .set_backtrack_window(c.backtrack_window)
                .copy_tags_to_snapshot(c.copy_tags_to_snapshot)
                .deletion_protection(false)
                .set_tags(Some(restored_tags(cx, self.name, &c.tags)));
            match mutate(cx.log, at(id, region), req).await? {
                Ok(_) => Ok(()),
                Err(failure) if keeper.restored_anyway(&failure.text()).await? => Ok(()),
                Err(failure) => Err(failure.into()),
            }
        })
        .await?;
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-restored"), json!({ "cluster": id }), &["available"], || async {
            let now = cluster(&quiet, self.primary, id, region).await?;
            Ok(vec![(format!("cluster {id}"), now.map(|c| cluster_status(&c)))])
        })
        .await
    }

    /// Sets what the restore did not: deletion protection (last, so nothing above was blocked by
    /// it), backup retention, the Data API, tags; then IAM roles, once the cluster is available
    /// again. Then compares the whole Describe.
    /// `also_differ`: fields that differ by design (a rehearsal's names), not reported.
    async fn reapply(&self, l: &Layout, also_differ: &[&str]) -> Result<(Vec<String>, Vec<String>), ActionError> {
        let cx = self.cx;
        let (region, id, want) = (&l.primary_region, &l.primary_id, &l.config);
        let changes: Vec<String> = cx
            .sub(&self.sub_name("reapply-config"), json!({ "recorded": want }), |_| async {
                if cx.dry_run {
                    cx.log.note(format!("dry run: would set on {id} what the restore did not take"))?;
                    return Ok(Vec::new());
                }
                let c = cluster(cx.log, self.primary, id, region)
                    .await?
                    .ok_or_else(|| ActionError::Failed(format!("restored cluster {id} not found in {region}")))?;
                let now = ClusterConfig::of(&c);
                let mut changes = Vec::new();
                let mut req = self.primary.modify_db_cluster().db_cluster_identifier(id).apply_immediately(true);
                if now.deletion_protection != want.deletion_protection {
                    changes.push(format!(
                        "deletion protection: {} -> {}",
                        now.deletion_protection, want.deletion_protection
                    ));
                    req = req.deletion_protection(want.deletion_protection);
                }
                if now.backup_retention != want.backup_retention && want.backup_retention.is_some() {
                    changes
                        .push(format!("backup retention: {:?} -> {:?}", now.backup_retention, want.backup_retention));
                    req = req.set_backup_retention_period(want.backup_retention);
                }
                // The restore was given these; set again if it did not take them. The Data API is
                // not a restore parameter at all.
                if want.iam_auth != now.iam_auth {
                    changes.push(format!("IAM database authentication: {} -> {}", now.iam_auth, want.iam_auth));
                    req = req.enable_iam_database_authentication(want.iam_auth);
                }
                if want.log_exports != now.log_exports {
                    changes.push(format!(
                        "CloudWatch log exports: {} -> {}",
                        now.log_exports.join(","),
                        want.log_exports.join(",")
                    ));
                    let enable = want.log_exports.iter().filter(|l| !now.log_exports.contains(l)).cloned().collect();
                    let disable = now.log_exports.iter().filter(|l| !want.log_exports.contains(l)).cloned().collect();
                    let logs = aws_sdk_rds::types::CloudwatchLogsExportConfiguration::builder()
                        .set_enable_log_types(Some(enable))
                        .set_disable_log_types(Some(disable))
                        .build();
                    req = req.cloudwatch_logs_export_configuration(logs);
                }
                if want.data_api != now.data_api {
                    changes.push(format!("Data API: {} -> {}", now.data_api, want.data_api));
                    req = req.enable_http_endpoint(want.data_api);
                }
                if !changes.is_empty() {
                    mutate(cx.log, at(id, region), req).await??;
                }
                let arn = c.db_cluster_arn().unwrap_or_default();
                reapply_tags(cx, self.primary, arn, (id, region), (&want.tags, &now.tags), &mut changes).await?;
                Ok(changes)
            })
            .await?;
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-configured"), json!({ "cluster": id }), &["available"], || async {
            let now = cluster(&quiet, self.primary, id, region).await?;
            Ok(vec![(format!("cluster {id}"), now.map(|c| cluster_status(&c)))])
        })
        .await?;
        // RDS associates a role with an available cluster only: after the modification took effect.
        let roles: Vec<String> = cx
            .sub(&self.sub_name("associate-roles"), json!({ "cluster": id }), |_| async {
                // Nothing recorded to associate: no read needed to know none is missing.
                if cx.dry_run || want.roles.is_empty() {
                    return Ok(Vec::new());
                }
                let c = cluster(cx.log, self.primary, id, region)
                    .await?
                    .ok_or_else(|| ActionError::Failed(format!("restored cluster {id} not found in {region}")))?;
                let now = ClusterConfig::of(&c);
                let mut added = Vec::new();
                for (role, feature) in want.roles.iter().filter(|r| !now.roles.contains(r)) {
                    let req = self
                        .primary
                        .add_role_to_db_cluster()
                        .db_cluster_identifier(id)
                        .role_arn(role)
                        .set_feature_name(Some(feature.clone()).filter(|f| !f.is_empty()));
                    match mutate(cx.log, at(id, region), req).await? {
                        Ok(_) => added.push(format!("IAM role for {feature}: (none) -> {role}")),
                        // Associated by an earlier attempt whose answer was lost.
                        Err(f) if f.code() == Some("DBClusterRoleAlreadyExists") => {}
                        Err(f) => return Err(f.into()),
                    }
                }
                Ok(added)
            })
            .await?;
        let compared = |_| self.compare(l, also_differ);
        let remaining = cx.sub(&self.sub_name("compare-config"), json!({ "cluster": id }), compared).await?;
        Ok(([changes, roles].concat(), remaining))
    }

    /// Every field of the cluster's and its members' whole Describe that differs from before
    /// the failback, with why ([`whole_diff`]).
    async fn compare(&self, l: &Layout, also_differ: &[&str]) -> Result<Vec<String>, ActionError> {
        let cx = self.cx;
        let (region, id) = (&l.primary_region, &l.primary_id);
        if cx.dry_run {
            return Ok(Vec::new());
        }
        if l.describe.is_null() {
            cx.log.note(format!("cluster {id}: no whole Describe was recorded before (an older run): not compared"))?;
            return Ok(Vec::new());
        }
        let c = cluster(cx.log, self.primary, id, region)
            .await?
            .ok_or_else(|| ActionError::Failed(format!("restored cluster {id} not found in {region}")))?;
        let with = |rules: &whole_diff::Rules<'static>| -> Vec<&str> {
            rules.must_differ.iter().chain(also_differ).copied().collect()
        };
        let (cluster_differ, member_differ) = (with(&cluster_config::RULES), with(&instance_config::RULES));
        let rules = whole_diff::Rules { must_differ: &cluster_differ, ..cluster_config::RULES };
        let mut remaining = whole_diff::differences(&l.describe, &answer_tree::tree(&c), &rules);
        let member_rules = whole_diff::Rules { must_differ: &member_differ, ..instance_config::RULES };
        for m in &l.members {
            let now = super::instance::instance(cx.log, self.primary, &m.id, region).await?;
            let now = now.map(|db| answer_tree::tree(&db)).unwrap_or_default();
            let differ = whole_diff::differences(&m.describe, &now, &member_rules);
            remaining.extend(differ.into_iter().map(|d| format!("instance {}: {d}", m.id)));
        }
        for difference in &remaining {
            cx.log.note(format!("cluster {id} differs from before the failback: {difference}"))?;
        }
        Ok(remaining)
    }

    fn outputs(
        &self,
        l: &Layout,
        snap: &DbSnapshot,
        copy: &DbSnapshot,
        (reapplied, remaining): (&[String], &[String]),
        snapshots: Vec<Retained>,
    ) -> Value {
        let (p, k) = (&l.primary_region, &l.kept_id);
        let why = format!(
            "the primary cluster {} before failback (renamed, no instances, deletion protection on; its storage holds \
             the pre-failback data)",
            l.primary_id
        );
        let mut retained = vec![super::kept_db(Kind::Cluster, self.name, (p, k), why)];
        retained.extend(snapshots);
        json!({
            "cluster": l.primary_id,
            "kept_cluster": k,
            "instances": l.members.iter().map(|m| &m.id).collect::<Vec<_>>(),
            "custom_endpoints": l.custom_endpoints.iter().map(|e| &e.id).collect::<Vec<_>>(),
            "recovery_snapshot": snap.id,
            "primary_snapshot": copy.id,
            "recovery_point": copy.created,
            "recorded_config": { "cluster": l.config, "instances": l.members, "custom_endpoints": l.custom_endpoints },
            "reapplied": reapplied,
            "remaining_differences": remaining,
            "retained": retained,
        })
    }
}

//! `rds.failback`: bring an RDS instance's data home from recovery, keeping the original.
//!
//! Per resource, as sub-steps: `read` (the primary instance's configuration, recorded before
//! anything changes), the recovery point ([`super::snapshots`]: snapshot, share when
//! cross-account, copy to primary, with their waits), `keep-primary` (tagged, then
//! renamed to `<id>-pre-failback-<short run id>` with deletion protection on: kept, never
//! deleted), `wait-primary-kept`, `restore` (a new instance under the original identifier from
//! the copy, given the recorded configuration, so endpoints keep working), `wait-restored`,
//! `reapply-config` (what a restore cannot take, such as backup retention, or did not honour),
//! `wait-configured`, `compare-config` (every recorded field that still differs, with why).
//! Every name this run makes is deterministic and tagged, so a resumed sub-step finds its own
//! work before acting.

use super::keep::Keep;
use super::snapshots::{Kind, RecoveryPoint};
use super::storage;
use super::{DbSnapshot, kept_id, or_none, reapply_tags, restored_tags, tag_map, wait_status};
use crate::actions::failback::{Retained, each_resource, resource_names};
use crate::actions::{Action, ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::{ActionError, CallLog, at, mutate, read};
use crate::journal::SubId;
use crate::runbook::ResourceType;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::{DbInstance, Tag};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// Parameters of `rds.failback`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsFailback {
    /// A declared `rds_instance` resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Several `rds_instance` resources, failed back concurrently.
    #[serde(default)]
    pub resources: Vec<String>,
    /// KMS key (in the primary region) for the copy: needed when the recovery snapshot is
    /// encrypted with a key primary cannot use (another account or region).
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// At most this many instances at once (default: `--max-parallel`, the runbook's `max_parallel`, else 4).
    #[serde(default)]
    pub max_parallel: Option<usize>,
}

/// The primary instance's configuration, read before anything changes: the restore is given it,
/// and what a restore cannot take is set afterwards. Tags leave out pilotlight's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceConfig {
    pub class: String,
    pub engine: String,
    pub subnet_group: Option<String>,
    pub parameter_group: Option<String>,
    pub option_group: Option<String>,
    pub security_groups: Vec<String>,
    pub multi_az: bool,
    pub storage_type: Option<String>,
    pub allocated_storage: Option<i32>,
    pub iops: Option<i32>,
    pub storage_throughput: Option<i32>,
    pub port: Option<i32>,
    pub publicly_accessible: Option<bool>,
    pub deletion_protection: bool,
    pub backup_retention: Option<i32>,
    pub copy_tags_to_snapshot: bool,
    pub tags: IndexMap<String, String>,
    /// What a restore from recovery's snapshot takes from recovery or the engine's defaults
    /// instead of from primary: re-applied when it differs.
    #[serde(default)]
    pub iam_auth: bool,
    /// CloudWatch log exports, sorted.
    #[serde(default)]
    pub log_exports: Vec<String>,
    #[serde(default)]
    pub auto_minor_version_upgrade: Option<bool>,
    #[serde(default)]
    pub backup_window: Option<String>,
    #[serde(default)]
    pub maintenance_window: Option<String>,
    /// The storage autoscaling limit (GiB), when set.
    #[serde(default)]
    pub max_allocated_storage: Option<i32>,
}

impl InstanceConfig {
    pub fn of(db: &DbInstance) -> InstanceConfig {
        let mut security_groups: Vec<String> =
            db.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id().map(str::to_string)).collect();
        security_groups.sort();
        InstanceConfig {
            class: db.db_instance_class().unwrap_or_default().to_string(),
            engine: db.engine().unwrap_or_default().to_string(),
            subnet_group: db.db_subnet_group().and_then(|g| g.db_subnet_group_name()).map(str::to_string),
            parameter_group: db
                .db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_name())
                .map(str::to_string),
            option_group: db.option_group_memberships().first().and_then(|g| g.option_group_name()).map(str::to_string),
            security_groups,
            multi_az: db.multi_az().unwrap_or(false),
            storage_type: db.storage_type().map(str::to_string),
            allocated_storage: db.allocated_storage(),
            iops: db.iops(),
            storage_throughput: db.storage_throughput(),
            port: db.endpoint().and_then(|e| e.port()).or(db.db_instance_port()).filter(|p| *p > 0),
            publicly_accessible: db.publicly_accessible(),
            deletion_protection: db.deletion_protection().unwrap_or(false),
            backup_retention: db.backup_retention_period(),
            copy_tags_to_snapshot: db.copy_tags_to_snapshot().unwrap_or(false),
            tags: user_tags(db.tag_list()),
            iam_auth: db.iam_database_authentication_enabled().unwrap_or(false),
            log_exports: {
                let mut logs: Vec<String> = db.enabled_cloudwatch_logs_exports().to_vec();
                logs.sort();
                logs
            },
            auto_minor_version_upgrade: db.auto_minor_version_upgrade(),
            backup_window: db.preferred_backup_window().map(str::to_string),
            maintenance_window: db.preferred_maintenance_window().map(str::to_string),
            max_allocated_storage: db.max_allocated_storage(),
        }
    }
}

/// Tags without pilotlight's own (`pilotlight:*`), which mark work, not configuration.
pub fn user_tags(list: &[Tag]) -> IndexMap<String, String> {
    tag_map(list).into_iter().filter(|(k, _)| !k.starts_with("pilotlight:")).collect()
}

/// What `read` records before anything changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Layout {
    recovery_id: String,
    recovery_region: String,
    primary_id: String,
    primary_region: String,
    /// Where the original is kept.
    kept_id: String,
    config: InstanceConfig,
    /// Set when recovery is in another account: the account to share the snapshot with.
    share_with: Option<String>,
}

impl Action for RdsFailback {
    const NAME: &'static str = "rds.failback";
    const RECOVERY_TO_PRIMARY: bool = true;
    const SUMMARY: &'static str = "restore an RDS instance in primary under its original identifier from a snapshot of the recovery instance, keeping the original renamed";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["resources", "retained"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        resource_names(cx, &self.resource, &self.resources, ResourceType::RdsInstance).1
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let names: Vec<String> = self.resource.iter().chain(self.resources.iter()).cloned().collect();
        let primary = Client::new(&cx.envs.config("primary", cx.log).await?);
        let recovery = Client::new(&cx.envs.config("recovery", cx.log).await?);
        each_resource(&names, self.max_parallel.unwrap_or(cx.max_parallel), |name| {
            let (primary, recovery) = (&primary, &recovery);
            async move { One { cx, name: &name, primary, recovery, kms: self.kms_key_id.as_deref() }.run().await }
        })
        .await
    }
}

/// The DB instance with this identifier, or `None` when RDS says there is none.
pub async fn instance(
    log: &dyn CallLog,
    client: &Client,
    id: &str,
    region: &str,
) -> Result<Option<DbInstance>, ActionError> {
    let req = client.describe_db_instances().db_instance_identifier(id);
    or_none(read(log, at(id, region), req).await?.map(|out| out.db_instances().first().cloned()))
}

/// One instance's failback.
struct One<'a, 'c> {
    cx: &'a ActionCx<'c>,
    name: &'a str,
    primary: &'a Client,
    recovery: &'a Client,
    kms: Option<&'a str>,
}

impl One<'_, '_> {
    fn sub_name(&self, part: &str) -> SubId {
        SubId::of(self.name, part)
    }

    fn keeper<'k>(&'k self, l: &'k Layout) -> Keep<'k, 'k> {
        Keep {
            cx: self.cx,
            name: self.name,
            kind: Kind::Instance,
            client: self.primary,
            region: &l.primary_region,
            original: &l.primary_id,
            kept: &l.kept_id,
        }
    }

    async fn run(&self) -> Result<Value, ActionError> {
        let cx = self.cx;
        let l: Layout = cx.sub(&self.sub_name("read"), Value::Null, |_| self.read_layout()).await?;
        let point = RecoveryPoint {
            cx,
            name: self.name,
            kind: Kind::Instance,
            primary: self.primary,
            recovery: self.recovery,
            kms: self.kms,
            source: &l.recovery_id,
            recovery_region: &l.recovery_region,
            primary_region: &l.primary_region,
            share_with: l.share_with.as_deref(),
        };
        let (snap, copy) = point.take().await?;
        self.keeper(&l).keep().await?;
        self.restore(&l, &copy).await?;
        let (reapplied, remaining) = self.reapply(&l).await?;
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
        if instance(cx.log, self.recovery, &r_id, &r_region).await?.is_none() {
            return Err(ActionError::Failed(format!("recovery DB instance {r_id} not found in {r_region}")));
        }
        let pri = instance(cx.log, self.primary, &p_id, &p_region).await?.ok_or_else(|| {
            ActionError::Failed(format!(
                "primary DB instance {p_id} not found in {p_region}: failback restores over an existing primary \
                 (its configuration is what the restore is given)"
            ))
        })?;
        let p_acct = cx.envs.check_account("primary", cx.log).await?.account;
        let r_acct = cx.envs.check_account("recovery", cx.log).await?.account;
        Ok(Layout {
            kept_id: kept_id(cx.run_id, &p_id),
            recovery_id: r_id,
            recovery_region: r_region,
            primary_id: p_id,
            primary_region: p_region,
            config: InstanceConfig::of(&pri),
            share_with: (p_acct != r_acct).then_some(p_acct),
        })
    }

    /// Restores a new instance under the original identifier from the copy.
    async fn restore(&self, l: &Layout, copy: &DbSnapshot) -> Result<(), ActionError> {
        let cx = self.cx;
        let (region, id, c) = (&l.primary_region, &l.primary_id, &l.config);
        let detail = json!({ "instance": id, "from": copy.id, "class": c.class });
        cx.sub(&self.sub_name("restore"), detail, |_| async {
            if cx.dry_run {
                return cx.log.note(format!("dry run: would restore {id} ({}) from {}", c.class, copy.id));
            }
            let keeper = self.keeper(l);
            if keeper.restored_already().await? {
                return Ok(());
            }
            // What the snapshot holds decides what the restore may ask for (see `storage`).
            let snap = super::snapshots::describe(Kind::Instance, cx.log, self.primary, &copy.id, region).await?;
            let s = storage::for_restore(
                &c.engine,
                c.storage_type.as_deref(),
                c.allocated_storage,
                c.iops,
                c.storage_throughput,
                snap.and_then(|s| s.allocated_storage),
            );
            if s.allocated != c.allocated_storage || (s.iops, s.throughput) != (c.iops, c.storage_throughput) {
                cx.log.note(format!(
                    "{id} is restored with {} GiB, IOPS {}, throughput {} (primary had {} GiB, {}, {}): {}",
                    or_dash(s.allocated),
                    or_dash(s.iops),
                    or_dash(s.throughput),
                    or_dash(c.allocated_storage),
                    or_dash(c.iops),
                    or_dash(c.storage_throughput),
                    "storage never shrinks below the snapshot's, and RDS names no IOPS or throughput below gp3's threshold"
                ))?;
            }
            let req = self
                .primary
                .restore_db_instance_from_db_snapshot()
                .db_instance_identifier(id)
                .db_snapshot_identifier(&copy.id)
                .db_instance_class(&c.class)
                .set_db_subnet_group_name(c.subnet_group.clone())
                .set_db_parameter_group_name(custom(&c.parameter_group))
                .set_option_group_name(custom(&c.option_group))
                .set_vpc_security_group_ids((!c.security_groups.is_empty()).then(|| c.security_groups.clone()))
                .multi_az(c.multi_az)
                .set_storage_type(s.storage_type)
                .set_allocated_storage(s.allocated)
                .set_iops(s.iops)
                .set_storage_throughput(s.throughput)
                .set_port(c.port)
                .set_publicly_accessible(c.publicly_accessible)
                .deletion_protection(c.deletion_protection)
                .copy_tags_to_snapshot(c.copy_tags_to_snapshot)
                .set_tags(Some(restored_tags(cx, self.name, &c.tags)));
            match mutate(cx.log, at(id, region), req).await? {
                Ok(_) => Ok(()),
                Err(failure) if keeper.restored_anyway(&failure.text()).await? => Ok(()),
                Err(failure) => Err(failure.into()),
            }
        })
        .await?;
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-restored"), json!({ "instance": id }), &["available"], || async {
            let now = instance(&quiet, self.primary, id, region).await?;
            Ok(vec![(format!("instance {id}"), now.map(|d| status(&d)))])
        })
        .await
    }

    /// Sets what the restore did not: every recorded setting that differs now.
    /// Re-applies, then compares: what was set again, and what still differs (with why).
    async fn reapply(&self, l: &Layout) -> Result<(Vec<String>, Vec<String>), ActionError> {
        let cx = self.cx;
        let (region, id, want) = (&l.primary_region, &l.primary_id, &l.config);
        let changes: Vec<String> = cx
            .sub(&self.sub_name("reapply-config"), json!({ "recorded": want }), |_| async {
                if cx.dry_run {
                    cx.log.note(format!("dry run: would set on {id} what the restore did not take"))?;
                    return Ok(Vec::new());
                }
                let db = instance(cx.log, self.primary, id, region)
                    .await?
                    .ok_or_else(|| ActionError::Failed(format!("restored instance {id} not found in {region}")))?;
                let now = InstanceConfig::of(&db);
                let mut changes = Vec::new();
                let mut req = self.primary.modify_db_instance().db_instance_identifier(id).apply_immediately(true);
                let mut differs = |what: &str, was: String, is: String| {
                    let differ = was != is;
                    if differ {
                        changes.push(format!("{what}: {is} -> {was}"));
                    }
                    differ
                };
                if differs("class", want.class.clone(), now.class.clone()) {
                    req = req.db_instance_class(&want.class);
                }
                if differs("multi-AZ", want.multi_az.to_string(), now.multi_az.to_string()) {
                    req = req.multi_az(want.multi_az);
                }
                let custom_group = custom(&want.parameter_group);
                if custom_group.is_some()
                    && differs(
                        "parameter group",
                        format!("{:?}", want.parameter_group),
                        format!("{:?}", now.parameter_group),
                    )
                {
                    req = req.set_db_parameter_group_name(want.parameter_group.clone());
                }
                if differs("security groups", want.security_groups.join(","), now.security_groups.join(",")) {
                    req = req.set_vpc_security_group_ids(Some(want.security_groups.clone()));
                }
                if differs(
                    "backup retention",
                    format!("{:?}", want.backup_retention),
                    format!("{:?}", now.backup_retention),
                ) {
                    req = req.set_backup_retention_period(want.backup_retention);
                }
                if differs(
                    "deletion protection",
                    want.deletion_protection.to_string(),
                    now.deletion_protection.to_string(),
                ) {
                    req = req.deletion_protection(want.deletion_protection);
                }
                if differs(
                    "copy tags to snapshot",
                    want.copy_tags_to_snapshot.to_string(),
                    now.copy_tags_to_snapshot.to_string(),
                ) {
                    req = req.copy_tags_to_snapshot(want.copy_tags_to_snapshot);
                }
                if differs("IAM database authentication", want.iam_auth.to_string(), now.iam_auth.to_string()) {
                    req = req.enable_iam_database_authentication(want.iam_auth);
                }
                if differs("CloudWatch log exports", want.log_exports.join(","), now.log_exports.join(",")) {
                    let enable = want.log_exports.iter().filter(|l| !now.log_exports.contains(l)).cloned().collect();
                    let disable = now.log_exports.iter().filter(|l| !want.log_exports.contains(l)).cloned().collect();
                    let logs = aws_sdk_rds::types::CloudwatchLogsExportConfiguration::builder()
                        .set_enable_log_types(Some(enable))
                        .set_disable_log_types(Some(disable))
                        .build();
                    req = req.cloudwatch_logs_export_configuration(logs);
                }
                // Settings primary named: set again when the restore left them otherwise.
                let named = |w: &Option<String>, n: &Option<String>| w.is_some() && w != n;
                let auto_minor = want.auto_minor_version_upgrade.map(|b| b.to_string());
                if named(&auto_minor, &now.auto_minor_version_upgrade.map(|b| b.to_string()))
                    && differs(
                        "auto minor version upgrade",
                        format!("{auto_minor:?}"),
                        format!("{:?}", now.auto_minor_version_upgrade),
                    )
                {
                    req = req.set_auto_minor_version_upgrade(want.auto_minor_version_upgrade);
                }
                if named(&want.backup_window, &now.backup_window)
                    && differs("backup window", format!("{:?}", want.backup_window), format!("{:?}", now.backup_window))
                {
                    req = req.set_preferred_backup_window(want.backup_window.clone());
                }
                if named(&want.maintenance_window, &now.maintenance_window)
                    && differs(
                        "maintenance window",
                        format!("{:?}", want.maintenance_window),
                        format!("{:?}", now.maintenance_window),
                    )
                {
                    req = req.set_preferred_maintenance_window(want.maintenance_window.clone());
                }
                // RDS refuses a limit less than 10% above the storage, which may have grown with
                // the snapshot: such a limit stays a remaining difference (`compare-config`).
                let max = want.max_allocated_storage.map(|m| m.to_string());
                let fits = want.max_allocated_storage.is_some_and(|m| {
                    now.allocated_storage.is_none_or(|size| i64::from(m) * 10 >= i64::from(size) * 11)
                });
                if fits
                    && named(&max, &now.max_allocated_storage.map(|m| m.to_string()))
                    && differs(
                        "storage autoscaling limit",
                        format!("{:?}", want.max_allocated_storage),
                        format!("{:?}", now.max_allocated_storage),
                    )
                {
                    req = req.set_max_allocated_storage(want.max_allocated_storage);
                }
                if !changes.is_empty() {
                    mutate(cx.log, at(id, region), req).await??;
                }
                let arn = db.db_instance_arn().unwrap_or_default();
                reapply_tags(cx, self.primary, arn, (id, region), (&want.tags, &now.tags), &mut changes).await?;
                Ok(changes)
            })
            .await?;
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-configured"), json!({ "instance": id }), &["available"], || async {
            let now = instance(&quiet, self.primary, id, region).await?;
            Ok(vec![(format!("instance {id}"), now.map(|d| status(&d)))])
        })
        .await?;
        let remaining = cx
            .sub(&self.sub_name("compare-config"), json!({ "instance": id }), |_| async {
                if cx.dry_run {
                    return Ok(Vec::new());
                }
                let db = instance(cx.log, self.primary, id, region)
                    .await?
                    .ok_or_else(|| ActionError::Failed(format!("restored instance {id} not found in {region}")))?;
                let remaining = super::compare::remaining(want, &InstanceConfig::of(&db), REMAINS);
                for difference in &remaining {
                    cx.log.note(format!("{id} differs from before the failback: {difference}"))?;
                }
                Ok(remaining)
            })
            .await?;
        Ok((changes, remaining))
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
        let mut retained = vec![Retained {
            resource: self.name.to_string(),
            kind: "rds_instance".into(),
            id: k.clone(),
            region: p.clone(),
            why: format!("the primary instance {} before failback (renamed, deletion protection on)", l.primary_id),
            delete_with: format!(
                "aws rds modify-db-instance --region {p} --db-instance-identifier {k} --no-deletion-protection \
                     --apply-immediately && aws rds delete-db-instance --region {p} --db-instance-identifier {k} \
                     --final-db-snapshot-identifier {k}-final"
            ),
        }];
        retained.extend(snapshots);
        json!({
            "instance": l.primary_id,
            "kept_instance": k,
            "recovery_snapshot": snap.id,
            "primary_snapshot": copy.id,
            "recovery_point": copy.created,
            "recorded_config": l.config,
            "reapplied": reapplied,
            "remaining_differences": remaining,
            "retained": retained,
        })
    }
}

/// A parameter or option group worth naming: the engine's default ones (`default.postgres16`,
/// `default:postgres-16`) are what a restore gets anyway, and naming one that does not exist in
/// the target (a different engine version's default) would fail the restore.
pub fn custom(group: &Option<String>) -> Option<String> {
    group.clone().filter(|g| !g.starts_with("default.") && !g.starts_with("default:"))
}

/// The status a wait goes by: `available` only once no modification is pending. RDS answers
/// `available` for a while after a ModifyDBInstance with ApplyImmediately, with the change in
/// `PendingModifiedValues`, before it turns `modifying`.
fn status(db: &DbInstance) -> String {
    let pending = db
        .pending_modified_values()
        .is_some_and(|p| *p != aws_sdk_rds::types::PendingModifiedValues::builder().build());
    match db.db_instance_status().unwrap_or("unknown") {
        "available" if pending => "available, with modifications pending".to_string(),
        now => now.to_string(),
    }
}

/// Recorded fields that may still differ after the re-apply, and why.
const REMAINS: &[(&str, &str)] = &[
    ("allocated_storage", "the snapshot held more (recovery grew): storage never shrinks"),
    ("iops", "gp3 below its threshold takes the baseline, which nobody names"),
    ("storage_throughput", "gp3 below its threshold takes the baseline, which nobody names"),
    (
        "max_allocated_storage",
        "RDS refuses a storage autoscaling limit less than 10% above the storage, which grew with the snapshot",
    ),
];

/// A number, or `-` when RDS reported none.
fn or_dash(v: Option<i32>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

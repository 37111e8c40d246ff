//! `rds.failback`: bring an RDS instance's data home from recovery, keeping the original.
//!
//! Per resource, as sub-steps: `read` (the primary instance's configuration, recorded before
//! anything changes), the recovery point ([`super::snapshots`]: snapshot, share when
//! cross-account, copy to primary, with their waits), `keep-primary` (tagged, then
//! renamed to `<id>-pre-failback-<short run id>` with deletion protection on: kept, never
//! deleted), `wait-primary-kept`, `restore` (a new instance under the original identifier from
//! the copy, given the recorded configuration, so endpoints keep working), `wait-restored`,
//! `reapply-config` (what a restore cannot take, such as backup retention, or did not honour),
//! `wait-configured` (only after a modification: tags are set at once), `reboot` /
//! `wait-rebooted` (only when a parameter group set again waits for a reboot to take effect), `associate-roles` (IAM roles, once the instance is available again),
//! `compare-config` (every recorded field that still differs, with why).
//! Every name this run makes is deterministic and tagged, so a resumed sub-step finds its own
//! work before acting.

use super::copy_rules::Copy;
use super::instance_config::{self, InstanceConfig, custom};
use super::keep::{Keep, instance_status};
use super::snapshots::{Kind, RecoveryPoint};
use super::storage;
use super::{DbSnapshot, kept_id, or_none, reapply_tags, restored_tags, wait_status};
use crate::actions::failback::{Retained, each_resource, resource_names, whole_diff};
use crate::actions::{Action, ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::{ActionError, CallLog, answer_tree, at, mutate, read};
use crate::journal::SubId;
use crate::runbook::ResourceType;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbInstance;
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
    /// How the data comes home: `snapshot` (a snapshot of recovery's instance copied and restored
    /// in the window; incremental when one is staged) or `replica` (the read replica staged by
    /// `rds.stage-replica` promoted and renamed in; no copy in the window; falls back to a
    /// snapshot when none is staged).
    #[serde(default)]
    pub method: Method,
}

/// `rds.failback`'s `method`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "RdsFailbackMethod")]
pub enum Method {
    #[default]
    Snapshot,
    Replica,
}

/// What `method: replica` gives and costs ([`super::replica`]), for `plan` and the README.
pub fn replica_trade_off() -> String {
    "replica: no snapshot, copy or restore in the window (a promotion and two renames; it waits until CloudWatch \
     shows nothing outstanding, so nothing is lost); costs a second instance in primary's region from the stage on, \
     and cross-region replication of every write; MySQL, MariaDB and PostgreSQL, one account"
        .to_string()
}

/// What `read` records before anything changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Layout {
    pub(super) recovery_id: String,
    pub(super) recovery_region: String,
    /// The instance restored into: primary's identifier (a rehearsal's temporary one).
    pub(super) primary_id: String,
    pub(super) primary_region: String,
    /// Where the original is kept.
    pub(super) kept_id: String,
    pub(super) config: InstanceConfig,
    /// Primary's whole Describe ([`crate::aws::answer_tree`]), compared with the result at the
    /// end. Null in a run journaled by a version that did not record it.
    #[serde(default)]
    describe: Value,
    /// Set when recovery is in another account: the account to share the snapshot with.
    pub(super) share_with: Option<String>,
    /// The option group the copy into primary is given (primary's, across regions; TDE needs
    /// it). None in a run journaled by a version that did not record it.
    #[serde(default)]
    copy_option_group: Option<String>,
    /// Recovery's instance: its ARN (a read replica's source), its backup retention (a source
    /// needs backups) and whether it is encrypted. Empty or None in a run journaled by a
    /// version that did not record them.
    #[serde(default)]
    pub(super) recovery_arn: String,
    #[serde(default)]
    pub(super) recovery_backups: Option<i32>,
    #[serde(default)]
    pub(super) recovery_encrypted: bool,
}

impl Layout {
    /// The same restore under another identifier and without deletion protection (a rehearsal,
    /// deleted after).
    pub(super) fn rehearsal(&self, id: String) -> Layout {
        let mut l = Layout { primary_id: id, ..self.clone() };
        l.config.deletion_protection = false;
        l
    }
}

impl Action for RdsFailback {
    const NAME: &'static str = "rds.failback";
    const DISRUPTS: bool = true;
    const ACTS_IN: crate::actions::ActsIn = crate::actions::ActsIn::RecoveryToPrimary;
    const SUMMARY: &'static str = "restore an RDS instance in primary under its original identifier from a snapshot of the recovery instance, keeping the original renamed";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["resources", "retained"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        resource_names(cx, &self.resource, &self.resources, &[ResourceType::RdsInstance]).1
    }

    fn trade_offs(&self) -> Vec<String> {
        vec![match self.method {
            Method::Snapshot => concat!(
                "snapshot: a snapshot of recovery's instance copied to primary's region (incremental when one is ",
                "staged) and restored in the window; nothing to pay for before it"
            )
            .to_string(),
            Method::Replica => replica_trade_off(),
        }]
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let names: Vec<String> = self.resource.iter().chain(self.resources.iter()).cloned().collect();
        let primary = Client::new(&cx.envs.config("primary", cx.log).await?);
        let recovery = Client::new(&cx.envs.config("recovery", cx.log).await?);
        each_resource(&names, self.max_parallel.unwrap_or(cx.max_parallel), |name| {
            let (primary, recovery) = (&primary, &recovery);
            let method = self.method;
            async move { One { cx, name: &name, primary, recovery, kms: self.kms_key_id.as_deref() }.run(method).await }
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

/// One instance's failback (or its rehearsal, [`super::rehearse`]).
pub(in crate::actions::failback) struct One<'a, 'c> {
    pub cx: &'a ActionCx<'c>,
    pub name: &'a str,
    pub primary: &'a Client,
    pub recovery: &'a Client,
    pub kms: Option<&'a str>,
}

impl<'c> One<'_, 'c> {
    pub(super) fn sub_name(&self, part: &str) -> SubId {
        SubId::of(self.name, part)
    }

    pub(super) fn keeper<'k>(&'k self, l: &'k Layout) -> Keep<'k, 'k> {
        Keep {
            cx: self.cx,
            name: self.name,
            kind: Kind::Instance,
            client: self.primary,
            region: &l.primary_region,
            original: &l.primary_id,
            kept: &l.kept_id,
            arn: l.describe.get("db_instance_arn").and_then(Value::as_str),
        }
    }

    /// The `read` sub-step: everything recorded before anything changes.
    pub(super) async fn layout(&self) -> Result<Layout, ActionError> {
        self.cx.sub(&self.sub_name("read"), Value::Null, |_| self.read_layout()).await
    }

    pub(super) fn recovery_point<'p>(&'p self, l: &'p Layout) -> RecoveryPoint<'p, 'c> {
        RecoveryPoint {
            cx: self.cx,
            name: self.name,
            kind: Kind::Instance,
            primary: self.primary,
            recovery: self.recovery,
            kms: self.kms,
            source: &l.recovery_id,
            recovery_region: &l.recovery_region,
            primary_region: &l.primary_region,
            share_with: l.share_with.as_deref(),
            option_group: l.copy_option_group.as_deref(),
            seen: Default::default(),
        }
    }

    async fn run(&self, method: Method) -> Result<Value, ActionError> {
        let cx = self.cx;
        let l = self.layout().await?;
        if method == Method::Replica && self.replica_path(&l).await? {
            return self.run_replica(&l).await;
        }
        // A failback of a runbook that stages says, before copying, what it found staged.
        let staged = match crate::actions::failback::runbook_stages(cx.runbook) {
            true => {
                let at = (l.recovery_id.as_str(), l.primary_region.as_str());
                Some(super::staged::look((cx, self.name, self.primary), at, l.config.allocated_storage).await?)
            }
            false => None,
        };
        let point = self.recovery_point(&l);
        let (snap, copy) = point.take().await?;
        self.keeper(&l).keep().await?;
        match self.restore(&l, &copy, point.seen(&copy.id)).await {
            Ok(()) => {}
            // The call may have landed, or the journal cannot be written: the next attempt
            // looks first (a restore it finds is this run's and goes on).
            Err(e @ (ActionError::Unanswered { .. } | ActionError::Journal(_))) => return Err(e),
            Err(e) => {
                let id = &l.primary_id;
                cx.log.note(format!("{id}: the restore failed ({e}); putting the original back under {id}"))?;
                self.keeper(&l).put_back(l.config.deletion_protection, &["restore", "wait-restored"]).await?;
                return Err(ActionError::Failed(format!(
                    "the restore of {id} failed ({e}); the original was renamed back to {id} (deletion protection as \
                     it was), so primary is as before and nothing was lost; mend the cause and retry"
                )));
            }
        }
        let (reapplied, remaining) = self.reapply(&l, &[]).await?;
        let mut out = self.outputs(&l, &snap, &copy, (&reapplied, &remaining), point.retained(&snap, &copy));
        if let Some(staged) = staged {
            out["staged"] = serde_json::json!(staged.map(|(id, _)| id));
        }
        Ok(out)
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
            instance(cx.log, self.recovery, &r_id, &r_region),
            instance(cx.log, self.primary, &p_id, &p_region),
        )
        .await;
        let Some(rec) = rec? else {
            return Err(ActionError::Failed(format!("recovery DB instance {r_id} not found in {r_region}")));
        };
        let pri = pri?.ok_or_else(|| {
            ActionError::Failed(format!(
                "primary DB instance {p_id} not found in {p_region}: failback restores over an existing primary \
                 (its configuration is what the restore is given)"
            ))
        })?;
        let p_acct = cx.envs.check_account("primary", cx.log).await?.account;
        let r_acct = cx.envs.check_account("recovery", cx.log).await?.account;
        let copy = Copy::instance(&rec, &pri, (&r_region, &p_region), self.kms, (p_acct != r_acct).then_some(&p_acct));
        super::copy_rules::refusals(&copy.check(cx.envs, cx.log).await?)?;
        let copy_option_group = copy.option_group();
        Ok(Layout {
            kept_id: kept_id(cx.run_id, &p_id),
            recovery_id: r_id,
            recovery_region: r_region,
            primary_id: p_id,
            primary_region: p_region,
            config: InstanceConfig::of(&pri),
            describe: answer_tree::tree(&pri),
            share_with: (p_acct != r_acct).then_some(p_acct),
            copy_option_group,
            recovery_arn: rec.db_instance_arn().unwrap_or_default().to_string(),
            recovery_backups: rec.backup_retention_period(),
            recovery_encrypted: rec.storage_encrypted().unwrap_or(false),
        })
    }

    /// Restores a new instance under the original identifier from the copy.
    pub(super) async fn restore(
        &self,
        l: &Layout,
        copy: &DbSnapshot,
        seen: Option<super::DbSnapshotNow>,
    ) -> Result<(), ActionError> {
        let cx = self.cx;
        let (region, id, c) = (&l.primary_region, &l.primary_id, &l.config);
        let detail = json!({ "instance": id, "from": copy.id, "class": c.class });
        cx.sub(&self.sub_name("restore"), detail, |resume| async move {
            if cx.dry_run {
                return cx.log.note(format!("dry run: would restore {id} ({}) from {}", c.class, copy.id));
            }
            // The wait before it saw the identifier free: on this sub-step's first run nothing
            // can hold it yet (a foreign holder since would make the restore fail, not succeed).
            let keeper = self.keeper(l);
            if !resume.first && keeper.restored_already().await? {
                return Ok(());
            }
            // What the snapshot holds decides what the restore may ask for (see `storage`).
            // As the copy's wait saw it complete, else read.
            let snap = match seen {
                Some(s) => Some(s),
                None => super::snapshots::describe(Kind::Instance, cx.log, self.primary, &copy.id, region).await?,
            };
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
                .set_availability_zone(c.availability_zone.clone().filter(|_| !c.multi_az))
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
            Ok(vec![(format!("instance {id}"), now.map(|d| instance_status(&d)))])
        })
        .await
    }

    /// Sets what the restore did not: every recorded setting that differs now.
    /// Re-applies, then compares: what was set again, and what still differs (with why), but
    /// for the fields in `also_differ` (a rehearsal's identifier and endpoint).
    pub(super) async fn reapply(
        &self,
        l: &Layout,
        also_differ: &[&str],
    ) -> Result<(Vec<String>, Vec<String>), ActionError> {
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
                let req = self.primary.modify_db_instance().db_instance_identifier(id).apply_immediately(true);
                let (req, mut changes) = instance_config::reapply(want, &now, req);
                if !changes.is_empty() {
                    mutate(cx.log, at(id, region), req).await??;
                }
                let arn = db.db_instance_arn().unwrap_or_default();
                reapply_tags(cx, self.primary, arn, (id, region), (&want.tags, &now.tags), &mut changes).await?;
                Ok(changes)
            })
            .await?;
        // Only a modification puts the instance back in a wait (tags are set at once); the
        // restored instance was available before it.
        if changes.iter().any(|c| !c.starts_with("tags: ")) {
            let quiet = cx.quiet();
            wait_status(cx, &self.sub_name("wait-configured"), json!({ "instance": id }), &["available"], || async {
                let now = instance(&quiet, self.primary, id, region).await?;
                Ok(vec![(format!("instance {id}"), now.map(|d| instance_status(&d)))])
            })
            .await?;
        }
        // Only a group this failback set again waits for a reboot (no read otherwise).
        if changes.iter().any(|c| c.starts_with("parameter group")) {
            self.reboot_for_parameters(l).await?;
        }
        // RDS associates a role with an available instance only: after the modification took effect.
        let roles: Vec<String> = cx
            .sub(&self.sub_name("associate-roles"), json!({ "instance": id }), |_| async {
                // Nothing recorded to associate: no read needed to know none is missing.
                if cx.dry_run || want.roles.is_empty() {
                    return Ok(Vec::new());
                }
                let db = instance(cx.log, self.primary, id, region)
                    .await?
                    .ok_or_else(|| ActionError::Failed(format!("restored instance {id} not found in {region}")))?;
                let mut added = Vec::new();
                for (role, feature) in instance_config::missing_roles(want, &InstanceConfig::of(&db)) {
                    let req = self
                        .primary
                        .add_role_to_db_instance()
                        .db_instance_identifier(id)
                        .role_arn(role)
                        .feature_name(feature);
                    match mutate(cx.log, at(id, region), req).await? {
                        Ok(_) => added.push(format!("IAM role for {feature}: (none) -> {role}")),
                        // Associated by an earlier attempt whose answer was lost.
                        Err(f) if f.code() == Some("DBInstanceRoleAlreadyExists") => {}
                        Err(f) => return Err(f.into()),
                    }
                }
                Ok(added)
            })
            .await?;
        let changes = [changes, roles].concat();
        let remaining = cx
            .sub(&self.sub_name("compare-config"), json!({ "instance": id }), |_| async {
                if cx.dry_run {
                    return Ok(Vec::new());
                }
                let db = instance(cx.log, self.primary, id, region)
                    .await?
                    .ok_or_else(|| ActionError::Failed(format!("restored instance {id} not found in {region}")))?;
                if l.describe.is_null() {
                    cx.log.note(format!("{id}: no whole Describe was recorded before (an older run): not compared"))?;
                    return Ok(Vec::new());
                }
                let must_differ: Vec<&str> =
                    instance_config::RULES.must_differ.iter().chain(also_differ).copied().collect();
                let rules = whole_diff::Rules { must_differ: &must_differ, ..instance_config::RULES };
                let remaining = whole_diff::differences(&l.describe, &answer_tree::tree(&db), &rules);
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
        let why = format!("the primary instance {} before failback (renamed, deletion protection on)", l.primary_id);
        let mut retained = vec![super::kept_db(Kind::Instance, self.name, (p, k), why)];
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

impl One<'_, '_> {
    /// `reboot`, `wait-rebooted`: an instance given another parameter group uses it only once
    /// rebooted (its group `pending-reboot` until then); a cross-region replica starts with the
    /// engine's default, so after its promotion primary's group takes effect only this way.
    async fn reboot_for_parameters(&self, l: &Layout) -> Result<(), ActionError> {
        let cx = self.cx;
        let (region, id) = (l.primary_region.as_str(), l.primary_id.as_str());
        let pending = |d: &DbInstance| {
            d.db_parameter_groups().iter().any(|g| g.parameter_apply_status() == Some("pending-reboot"))
        };
        let rebooted: bool = cx
            .sub(&self.sub_name("reboot"), json!({ "instance": id }), |_| async {
                if cx.dry_run {
                    return Ok(false);
                }
                let Some(db) = instance(cx.log, self.primary, id, region).await? else { return Ok(false) };
                if !pending(&db) {
                    return Ok(false);
                }
                let req = self.primary.reboot_db_instance().db_instance_identifier(id);
                mutate(cx.log, at(id, region), req).await??;
                Ok(true)
            })
            .await?;
        if !rebooted {
            return Ok(());
        }
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-rebooted"), json!({ "instance": id }), &["available"], || async {
            let now = instance(&quiet, self.primary, id, region).await?;
            Ok(vec![(
                format!("instance {id}"),
                now.map(|d| if pending(&d) { "parameters pending reboot".to_string() } else { instance_status(&d) }),
            )])
        })
        .await
    }
}

/// A number, or `-` when RDS reported none.
fn or_dash(v: Option<i32>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

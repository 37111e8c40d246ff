//! The recovery point of an RDS instance or Aurora cluster: snapshot the recovery side, share it
//! with primary when the accounts differ, copy it into the primary region. One flow for both
//! kinds; only the API calls differ.
//!
//! Sub-steps: `snapshot-recovery`, `wait-recovery-snapshot`, `share-with-primary` (cross-account
//! only), `copy-to-primary`, `wait-primary-copy`. The snapshot names are deterministic
//! ([`made_id`]) and tagged, so a resumed sub-step finds what it made before acting.

use super::{DbSnapshot, DbSnapshotNow, is_ours, made_id, not_ours, or_none, tag_map, tags, time, wait_status};
use crate::actions::ActionCx;
use crate::actions::failback::Retained;
use crate::aws::{ActionError, CallLog, at, mutate, read};
use crate::journal::SubId;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::Tag;
use serde_json::json;

/// Which snapshot API: DB (instance) snapshots or DB cluster snapshots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Instance,
    Cluster,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Instance => "DB snapshot",
            Kind::Cluster => "DB cluster snapshot",
        }
    }

    /// A snapshot of this kind, kept, with the command that deletes it.
    pub fn retained(self, resource: &str, id: &str, region: &str, why: impl Into<String>) -> Retained {
        let (kind, delete_with) = match self {
            Kind::Instance => {
                ("rds_snapshot", format!("aws rds delete-db-snapshot --region {region} --db-snapshot-identifier {id}"))
            }
            Kind::Cluster => (
                "rds_cluster_snapshot",
                format!("aws rds delete-db-cluster-snapshot --region {region} --db-cluster-snapshot-identifier {id}"),
            ),
        };
        Retained {
            resource: resource.into(),
            kind: kind.into(),
            id: id.into(),
            region: region.into(),
            why: why.into(),
            delete_with,
        }
    }
}

/// The snapshot with this identifier, or `None`.
pub async fn describe(
    kind: Kind,
    log: &dyn CallLog,
    client: &Client,
    id: &str,
    region: &str,
) -> Result<Option<DbSnapshotNow>, ActionError> {
    let now = |arn: Option<&str>, created, status: Option<&str>, tags: &[Tag], storage, version: Option<&str>| {
        DbSnapshotNow {
            snap: DbSnapshot { id: id.to_string(), arn: arn.unwrap_or_default().to_string(), created },
            status: status.unwrap_or("unknown").to_string(),
            tags: tag_map(tags),
            allocated_storage: storage,
            engine_version: version.map(str::to_string),
            encrypted: false,
        }
    };
    match kind {
        Kind::Instance => {
            let req = client.describe_db_snapshots().db_snapshot_identifier(id);
            let out = read(log, at(id, region), req).await?;
            or_none(out.map(|out| {
                out.db_snapshots().first().map(|s| {
                    let created = time(s.snapshot_create_time());
                    let (storage, version) = (s.allocated_storage(), s.engine_version());
                    let found = now(s.db_snapshot_arn(), created, s.status(), s.tag_list(), storage, version);
                    DbSnapshotNow { encrypted: s.encrypted().unwrap_or(false), ..found }
                })
            }))
        }
        Kind::Cluster => {
            let req = client.describe_db_cluster_snapshots().db_cluster_snapshot_identifier(id);
            let out = read(log, at(id, region), req).await?;
            or_none(out.map(|out| {
                out.db_cluster_snapshots().first().map(|s| {
                    let (arn, created) = (s.db_cluster_snapshot_arn(), time(s.snapshot_create_time()));
                    let found = now(arn, created, s.status(), s.tag_list(), s.allocated_storage(), s.engine_version());
                    DbSnapshotNow { encrypted: s.storage_encrypted().unwrap_or(false), ..found }
                })
            }))
        }
    }
}

/// Deletes snapshot `id` when this run made it for `name` at `stage` (a rehearsal's own); a
/// snapshot already gone is fine, one without those tags stops.
pub async fn delete_ours(
    kind: Kind,
    cx: &ActionCx<'_>,
    client: &Client,
    (name, stage): (&str, &str),
    id: &str,
    region: &str,
) -> Result<(), ActionError> {
    let Some(now) = describe(kind, cx.log, client, id, region).await? else { return Ok(()) };
    if !is_ours(cx, &now.tags, name, stage) {
        return Err(not_ours(kind.noun(), id, region));
    }
    // Gone meanwhile is as good as deleted.
    match kind {
        Kind::Instance => {
            let req = client.delete_db_snapshot().db_snapshot_identifier(id);
            or_none(mutate(cx.log, at(id, region), req).await?.map(Some)).map(|_| ())
        }
        Kind::Cluster => {
            let req = client.delete_db_cluster_snapshot().db_cluster_snapshot_identifier(id);
            or_none(mutate(cx.log, at(id, region), req).await?.map(Some)).map(|_| ())
        }
    }
}

/// One resource's recovery point, from snapshot to copy in primary.
pub struct RecoveryPoint<'a, 'c> {
    pub cx: &'a ActionCx<'c>,
    pub name: &'a str,
    pub kind: Kind,
    pub primary: &'a Client,
    pub recovery: &'a Client,
    /// KMS key in primary for the copy (encrypted snapshots from another account or region).
    pub kms: Option<&'a str>,
    /// The recovery instance or cluster identifier.
    pub source: &'a str,
    pub recovery_region: &'a str,
    pub primary_region: &'a str,
    /// The primary account, when recovery is in another one.
    pub share_with: Option<&'a str>,
    /// The option group the copy is given (DB snapshots across regions; see `copy_rules`).
    pub option_group: Option<&'a str>,
    /// What the waits saw last of each snapshot, in this process: the restore takes the copy's
    /// storage and engine version from the answer that ended the copy's wait instead of asking
    /// again. Empty after a resume (the waits replay without a call): then it asks.
    pub seen: Seen,
}

/// The last answer each snapshot's wait saw ([`RecoveryPoint::seen`]).
pub type Seen = std::sync::Mutex<Vec<DbSnapshotNow>>;

impl RecoveryPoint<'_, '_> {
    fn sub_name(&self, part: &str) -> SubId {
        SubId::of(self.name, part)
    }

    /// Both snapshots of a failback, kept, for the outputs.
    pub fn retained(&self, snap: &DbSnapshot, copy: &DbSnapshot) -> Vec<Retained> {
        let source = if self.kind == Kind::Instance { "instance" } else { "cluster" };
        vec![
            self.kind.retained(
                self.name,
                &snap.id,
                self.recovery_region,
                format!("recovery point taken from the recovery {source}"),
            ),
            self.kind.retained(self.name, &copy.id, self.primary_region, "copy of the recovery point in primary"),
        ]
    }

    /// Returns the recovery snapshot and its copy in primary (whose `created` is the recovery
    /// point's time).
    pub async fn take(&self) -> Result<(DbSnapshot, DbSnapshot), ActionError> {
        self.take_as("recovery", "primary-copy").await
    }

    /// [`Self::take`] under other names and stages: the snapshot `LABEL` (see [`Self::snapshot`])
    /// and the copy `copy_part`. A rehearsal's are never taken for a failback's.
    pub async fn take_as(&self, label: &str, copy_part: &str) -> Result<(DbSnapshot, DbSnapshot), ActionError> {
        let snap = self.snapshot(label).await?;
        let copy = self.copy_to_primary(&snap, copy_part).await?;
        Ok((snap, copy))
    }

    /// Deletes a rehearsal's snapshot and its copy ([`Self::take_as`] `"rehearsal"`,
    /// `"rehearsal-copy"`; sub-step `remove-snapshots`), each only with this run's tags.
    pub async fn remove_rehearsal(&self, snap: &DbSnapshot, copy: &DbSnapshot) -> Result<(), ActionError> {
        let cx = self.cx;
        let places = [
            (self.primary, copy, self.primary_region, "rehearsal-copy"),
            (self.recovery, snap, self.recovery_region, "rehearsal-snapshot"),
        ];
        cx.sub(&self.sub_name("remove-snapshots"), json!({ "snapshots": [&copy.id, &snap.id] }), |_| async {
            for (client, s, region, stage) in places {
                delete_ours(self.kind, cx, client, (self.name, stage), &s.id, region).await?;
            }
            Ok(())
        })
        .await
    }

    async fn wait(&self, part: &str, client: &Client, id: &str, region: &str) -> Result<(), ActionError> {
        let quiet = self.cx.quiet();
        wait_status(self.cx, &self.sub_name(part), json!({ "snapshot": id }), &["available"], || async {
            let now = describe(self.kind, &quiet, client, id, region).await?;
            let status = now.as_ref().map(|s| s.status.clone());
            if let Some(now) = now {
                let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                seen.retain(|s| s.snap.id != id);
                seen.push(now);
            }
            Ok(vec![(format!("snapshot {id}"), status)])
        })
        .await
    }

    /// The snapshot as its wait last saw it complete in this process ([`Self::seen`]).
    pub fn seen(&self, id: &str) -> Option<DbSnapshotNow> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter().find(|s| s.snap.id == id && s.status == "available").cloned()
    }

    /// Snapshots the recovery side (sub-steps `snapshot-LABEL` and `wait-LABEL-snapshot`; the
    /// snapshot is tagged stage `LABEL-snapshot`) and waits for it. Failback takes the
    /// `recovery` one; concluding the recovery takes a `final` one.
    pub async fn snapshot(&self, label: &str) -> Result<DbSnapshot, ActionError> {
        let cx = self.cx;
        let (id, region) = (made_id(cx.run_id, self.name, label), self.recovery_region);
        let (id, stage) = (&id, &format!("{label}-snapshot"));
        let detail = json!({ "from": self.source, "snapshot": id });
        let snap: DbSnapshot = cx
            .sub(&self.sub_name(&format!("snapshot-{label}")), detail, |resume| async move {
                // The identifier names this run: only an earlier run of this sub-step made it.
                let earlier = resume.look(describe(self.kind, cx.log, self.recovery, id, region)).await?;
                if let Some(now) = earlier {
                    if !is_ours(cx, &now.tags, self.name, stage) {
                        return Err(not_ours(self.kind.noun(), id, region));
                    }
                    return Ok(now.snap);
                }
                if cx.dry_run {
                    cx.log.note(format!("dry run: would snapshot {} as {id}", self.source))?;
                    return Ok(DbSnapshot { id: id.clone(), arn: format!("(dry run) {id}"), created: None });
                }
                let tagged = Some(tags(cx, self.name, stage));
                let (arn, created) = match self.kind {
                    Kind::Instance => {
                        let req = self
                            .recovery
                            .create_db_snapshot()
                            .db_snapshot_identifier(id)
                            .db_instance_identifier(self.source)
                            .set_tags(tagged);
                        let out = mutate(cx.log, at(self.source, region), req).await??;
                        let s = out.db_snapshot();
                        (
                            s.and_then(|s| s.db_snapshot_arn()).map(String::from),
                            time(s.and_then(|s| s.snapshot_create_time())),
                        )
                    }
                    Kind::Cluster => {
                        let req = self
                            .recovery
                            .create_db_cluster_snapshot()
                            .db_cluster_snapshot_identifier(id)
                            .db_cluster_identifier(self.source)
                            .set_tags(tagged);
                        let out = mutate(cx.log, at(self.source, region), req).await??;
                        let s = out.db_cluster_snapshot();
                        let arn = s.and_then(|s| s.db_cluster_snapshot_arn()).map(String::from);
                        (arn, time(s.and_then(|s| s.snapshot_create_time())))
                    }
                };
                Ok(DbSnapshot { id: id.clone(), arn: arn.unwrap_or_default(), created })
            })
            .await?;
        self.wait(&format!("wait-{label}-snapshot"), self.recovery, id, region).await?;
        Ok(snap)
    }

    async fn copy_to_primary(&self, snap: &DbSnapshot, part: &str) -> Result<DbSnapshot, ActionError> {
        let cx = self.cx;
        if let Some(account) = self.share_with {
            cx.sub(&self.sub_name("share-with-primary"), json!({ "account": account }), |_| async {
                if cx.dry_run {
                    return cx.log.note(format!("dry run: would share {} with account {account}", snap.id));
                }
                let at = at(&snap.id, self.recovery_region);
                match self.kind {
                    Kind::Instance => {
                        let req = self
                            .recovery
                            .modify_db_snapshot_attribute()
                            .db_snapshot_identifier(&snap.id)
                            .attribute_name("restore")
                            .values_to_add(account);
                        mutate(cx.log, at, req).await??;
                    }
                    Kind::Cluster => {
                        let req = self
                            .recovery
                            .modify_db_cluster_snapshot_attribute()
                            .db_cluster_snapshot_identifier(&snap.id)
                            .attribute_name("restore")
                            .values_to_add(account);
                        mutate(cx.log, at, req).await??;
                    }
                }
                Ok(())
            })
            .await?;
        }
        let (id, region) = (made_id(cx.run_id, self.name, part), self.primary_region);
        let id = &id;
        let detail = json!({ "from": snap.arn, "to": id, "region": region });
        let copy: DbSnapshot = cx
            .sub(&self.sub_name("copy-to-primary"), detail, |resume| async move {
                // The source's create time is the recovery point (read again: it is set once the
                // snapshot completes). Only an encrypted source's copy is given the key: RDS
                // refuses a key for an unencrypted cluster snapshot, and would encrypt an
                // instance's copy that primary never had encrypted.
                let known = describe(self.kind, cx.log, self.recovery, &snap.id, self.recovery_region).await?;
                let (created, encrypted) = match known {
                    Some(s) => (s.snap.created, s.encrypted),
                    None if cx.dry_run => (None, true),
                    None => {
                        return Err(ActionError::Failed(format!(
                            "snapshot {} is gone from {}",
                            snap.id, self.recovery_region
                        )));
                    }
                };
                let earlier = resume.look(describe(self.kind, cx.log, self.primary, id, region)).await?;
                if let Some(now) = earlier {
                    if !is_ours(cx, &now.tags, self.name, part) {
                        return Err(not_ours(self.kind.noun(), id, region));
                    }
                    return Ok(DbSnapshot { created, ..now.snap });
                }
                if cx.dry_run {
                    cx.log.note(format!("dry run: would copy {} to {region} as {id}", snap.id))?;
                    return Ok(DbSnapshot { id: id.clone(), arn: format!("(dry run) {id}"), created });
                }
                // Across regions the source is named by ARN. The SDK's pre-signed URL is only
                // needed in GovCloud; elsewhere RDS fetches the source itself.
                let kms = self.kms.filter(|_| encrypted).map(str::to_string);
                let tagged = Some(tags(cx, self.name, part));
                let arn = match self.kind {
                    Kind::Instance => {
                        let req = self
                            .primary
                            .copy_db_snapshot()
                            .source_db_snapshot_identifier(&snap.arn)
                            .target_db_snapshot_identifier(id)
                            .set_option_group_name(self.option_group.map(str::to_string))
                            .set_kms_key_id(kms)
                            .set_tags(tagged);
                        let out = mutate(cx.log, at(&snap.id, region), req).await??;
                        out.db_snapshot().and_then(|s| s.db_snapshot_arn()).map(String::from)
                    }
                    Kind::Cluster => {
                        let req = self
                            .primary
                            .copy_db_cluster_snapshot()
                            .source_db_cluster_snapshot_identifier(&snap.arn)
                            .target_db_cluster_snapshot_identifier(id)
                            .set_kms_key_id(kms)
                            .set_tags(tagged);
                        let out = mutate(cx.log, at(&snap.id, region), req).await??;
                        out.db_cluster_snapshot().and_then(|s| s.db_cluster_snapshot_arn()).map(String::from)
                    }
                };
                Ok(DbSnapshot { id: id.clone(), arn: arn.unwrap_or_default(), created })
            })
            .await?;
        self.wait("wait-primary-copy", self.primary, id, region).await?;
        Ok(copy)
    }
}

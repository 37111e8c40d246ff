//! Keeping the original and taking its identifier back, for an RDS instance or an Aurora
//! cluster: the parts of both failbacks that differ only in which API they call.
//!
//! `keep` tags the original as this run's `pre-failback` item, then renames it to the kept
//! identifier with deletion protection on, and waits until the kept one answers and the
//! original identifier is free. `restored_anyway` reconciles a restore that answered an error.

use super::snapshots::Kind;
use super::{is_ours, not_ours, or_none, tag_map, tags, wait_status};
use crate::actions::ActionCx;
use crate::aws::{ActionError, CallLog, at, mutate, read};
use crate::journal::SubId;
use aws_sdk_rds::Client;
use indexmap::IndexMap;
use serde_json::json;

/// An instance or cluster as the keep and restore steps see it.
pub struct DbNow {
    /// `available` only once no modification is pending (see [`instance_status`]).
    pub status: String,
    pub arn: String,
    pub tags: IndexMap<String, String>,
}

/// The status a wait goes by: `available` only once no modification is pending. RDS answers
/// `available` for a while after a ModifyDBInstance with ApplyImmediately, with the change in
/// `PendingModifiedValues`, before it turns `modifying`.
pub fn instance_status(db: &aws_sdk_rds::types::DbInstance) -> String {
    let pending = db
        .pending_modified_values()
        .is_some_and(|p| *p != aws_sdk_rds::types::PendingModifiedValues::builder().build());
    match db.db_instance_status().unwrap_or("unknown") {
        "available" if pending => "available, with modifications pending".to_string(),
        now => now.to_string(),
    }
}

/// The status a wait goes by: `available` only once no modification is pending (as for an
/// instance: `available` first, with the change pending, then `modifying`).
pub fn cluster_status(c: &aws_sdk_rds::types::DbCluster) -> String {
    let pending = c
        .pending_modified_values()
        .is_some_and(|p| *p != aws_sdk_rds::types::ClusterPendingModifiedValues::builder().build());
    match c.status().unwrap_or("unknown") {
        "available" if pending => "available, with modifications pending".to_string(),
        now => now.to_string(),
    }
}

/// The instance (or cluster) with this identifier, or `None`.
pub async fn describe(
    kind: Kind,
    log: &dyn CallLog,
    client: &Client,
    id: &str,
    region: &str,
) -> Result<Option<DbNow>, ActionError> {
    match kind {
        Kind::Instance => {
            let req = client.describe_db_instances().db_instance_identifier(id);
            let out = read(log, at(id, region), req).await?;
            or_none(out.map(|o| {
                o.db_instances().first().map(|d| DbNow {
                    status: instance_status(d),
                    arn: d.db_instance_arn().unwrap_or_default().to_string(),
                    tags: tag_map(d.tag_list()),
                })
            }))
        }
        Kind::Cluster => {
            let req = client.describe_db_clusters().db_cluster_identifier(id);
            let out = read(log, at(id, region), req).await?;
            or_none(out.map(|o| {
                o.db_clusters().first().map(|c| DbNow {
                    status: cluster_status(c),
                    arn: c.db_cluster_arn().unwrap_or_default().to_string(),
                    tags: tag_map(c.tag_list()),
                })
            }))
        }
    }
}

pub(super) fn noun(kind: Kind) -> &'static str {
    match kind {
        Kind::Instance => "DB instance",
        Kind::Cluster => "DB cluster",
    }
}

/// One resource's original, to be kept under `kept`.
pub struct Keep<'a, 'c> {
    pub cx: &'a ActionCx<'c>,
    pub name: &'a str,
    pub kind: Kind,
    pub client: &'a Client,
    pub region: &'a str,
    pub original: &'a str,
    pub kept: &'a str,
    /// The original's ARN as `read` recorded it before anything changed: the keep's first run
    /// tags it without describing it again (nothing of this run can hold the identifier yet).
    pub arn: Option<&'a str>,
}

impl Keep<'_, '_> {
    /// Sub-steps `keep-primary` / `wait-primary-kept` (instance) or `keep-cluster` /
    /// `wait-cluster-kept` (cluster).
    pub async fn keep(&self) -> Result<(), ActionError> {
        let (cx, kind, region, kept, original) = (self.cx, self.kind, self.region, self.kept, self.original);
        let (step, wait, what) = match kind {
            Kind::Instance => ("keep-primary", "wait-primary-kept", "instance"),
            Kind::Cluster => ("keep-cluster", "wait-cluster-kept", "cluster"),
        };
        let detail = json!({ what: original, "renamed_to": kept, "deletion_protection": true });
        cx.sub(&SubId::of(self.name, step), detail, |resume| async move {
            // The kept identifier names this run: only an earlier run of this sub-step took it.
            let earlier = resume.look(describe(kind, cx.log, self.client, kept, region)).await?;
            if let Some(now) = earlier {
                // An earlier run of this sub-step renamed it and was cut off after the call.
                return if is_ours(cx, &now.tags, self.name, "pre-failback") {
                    Ok(())
                } else {
                    Err(not_ours(noun(kind), kept, region))
                };
            }
            if cx.dry_run {
                return cx
                    .log
                    .note(format!("dry run: would rename {original} to {kept} (kept, deletion protection on)"));
            }
            let arn = match self.arn.filter(|_| resume.first) {
                Some(arn) => arn.to_string(),
                None => {
                    let now = describe(kind, cx.log, self.client, original, region).await?.ok_or_else(|| {
                        ActionError::Failed(format!(
                            "neither {original} nor {kept} exists in {region}: the original {what} is not where \
                             this run left it; find it before going on"
                        ))
                    })?;
                    if is_ours(cx, &now.tags, self.name, "restored") {
                        return Err(ActionError::Failed(format!(
                            "{original} is already this run's restored {what}, yet the original was not kept as {kept}"
                        )));
                    }
                    now.arn
                }
            };
            // Tagged first, so that a resumed run recognises it under its new name.
            let req = self.client.add_tags_to_resource().resource_name(&arn).set_tags(Some(tags(
                cx,
                self.name,
                "pre-failback",
            )));
            mutate(cx.log, at(original, region), req).await??;
            match kind {
                Kind::Instance => {
                    let req = self
                        .client
                        .modify_db_instance()
                        .db_instance_identifier(original)
                        .new_db_instance_identifier(kept)
                        .deletion_protection(true)
                        .apply_immediately(true);
                    mutate(cx.log, at(original, region), req).await??;
                }
                Kind::Cluster => {
                    let req = self
                        .client
                        .modify_db_cluster()
                        .db_cluster_identifier(original)
                        .new_db_cluster_identifier(kept)
                        .deletion_protection(true)
                        .apply_immediately(true);
                    mutate(cx.log, at(original, region), req).await??;
                }
            }
            Ok(())
        })
        .await?;
        let quiet = cx.quiet();
        let detail = json!({ "kept": kept, "freed": original });
        wait_status(cx, &SubId::of(self.name, wait), detail, &["available", "gone"], || async {
            let kept_now = describe(kind, &quiet, self.client, kept, region).await?;
            let old_now = describe(kind, &quiet, self.client, original, region).await?;
            Ok(vec![
                (format!("kept {what} {kept}"), Some(kept_now.map_or("not yet renamed".into(), |d| d.status))),
                (format!("identifier {original}"), old_now.map(|d| format!("still taken ({})", d.status))),
            ])
        })
        .await
    }

    /// Before a restore: `Ok(true)` when this run's restore already holds the original
    /// identifier, an error when something else does, `Ok(false)` when it is free.
    pub async fn restored_already(&self) -> Result<bool, ActionError> {
        match describe(self.kind, self.cx.log, self.client, self.original, self.region).await? {
            Some(now) if is_ours(self.cx, &now.tags, self.name, "restored") => Ok(true),
            Some(_) => Err(not_ours(noun(self.kind), self.original, self.region)),
            None => Ok(false),
        }
    }

    /// A restore can answer an error and still have created the thing (moto does when its
    /// automatic snapshot name clashes; on AWS a connection can drop after the call landed).
    /// True, with a note in the journal, when it exists with this run's tags.
    pub async fn restored_anyway(&self, error: &str) -> Result<bool, ActionError> {
        let (cx, id) = (self.cx, self.original);
        let made = describe(self.kind, cx.log, self.client, id, self.region)
            .await?
            .is_some_and(|now| is_ours(cx, &now.tags, self.name, "restored"));
        if made {
            cx.log.note(format!("the restore answered `{error}`, yet {id} exists with this run's tags: going on"))?;
        }
        Ok(made)
    }
}

//! The parts of an Aurora cluster a restore does not bring back: its DB instances (class,
//! promotion tier, parameter group, tags, zone, public access, monitoring, Performance Insights,
//! CA certificate) and its custom endpoints. Recorded before anything
//! changes, removed before the cluster is renamed, recreated on the restored cluster.

use super::super::instance::instance;
use super::super::instance_config::{PerformanceInsights, custom, user_tags};
use super::super::{is_ours, not_ours, or_none, restored_tags, tag_map, tags, user_tag_list, wait_status};
use crate::actions::ActionCx;
use crate::aws::{ActionError, CallLog, answer_tree, at, mutate, read};
use crate::journal::SubId;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbCluster;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One DB instance of the primary cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub class: String,
    pub writer: bool,
    pub promotion_tier: Option<i32>,
    pub parameter_group: Option<String>,
    pub tags: IndexMap<String, String>,
    /// Per-instance settings a new member takes only when asked (each given to CreateDBInstance).
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub publicly_accessible: Option<bool>,
    #[serde(default)]
    pub auto_minor_version_upgrade: Option<bool>,
    #[serde(default)]
    pub ca_certificate: Option<String>,
    #[serde(default)]
    pub monitoring_interval: Option<i32>,
    #[serde(default)]
    pub monitoring_role: Option<String>,
    #[serde(default)]
    pub performance_insights: Option<PerformanceInsights>,
    /// The member's whole Describe ([`crate::aws::answer_tree`]), compared with the new member's.
    #[serde(default)]
    pub describe: Value,
}

/// A custom endpoint of the primary cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    /// READER or ANY.
    pub kind: String,
    pub static_members: Vec<String>,
    pub excluded_members: Vec<String>,
}

/// Reads every member of `cluster` (the writer first, so it is recreated first).
pub async fn record_members(
    log: &dyn CallLog,
    client: &Client,
    cluster: &DbCluster,
    region: &str,
) -> Result<Vec<Member>, ActionError> {
    let mut out = Vec::new();
    // Every member's read at once (reads only).
    let reads = cluster
        .db_cluster_members()
        .iter()
        .map(|m| instance(log, client, m.db_instance_identifier().unwrap_or_default(), region));
    let read = futures_util::future::join_all(reads).await;
    for (m, db) in cluster.db_cluster_members().iter().zip(read) {
        let id = m.db_instance_identifier().unwrap_or_default();
        let db = db?.ok_or_else(|| ActionError::Failed(format!("cluster member {id} not found in {region}")))?;
        out.push(Member {
            id: id.to_string(),
            class: db.db_instance_class().unwrap_or_default().to_string(),
            writer: m.is_cluster_writer().unwrap_or(false),
            promotion_tier: m.promotion_tier().or(db.promotion_tier()),
            parameter_group: db
                .db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_name())
                .map(String::from),
            tags: user_tags(db.tag_list()),
            availability_zone: db.availability_zone().map(str::to_string),
            publicly_accessible: db.publicly_accessible(),
            auto_minor_version_upgrade: db.auto_minor_version_upgrade(),
            ca_certificate: db.ca_certificate_identifier().map(str::to_string),
            monitoring_interval: db.monitoring_interval().filter(|i| *i > 0),
            monitoring_role: db.monitoring_role_arn().map(str::to_string),
            performance_insights: db.performance_insights_enabled().unwrap_or(false).then(|| PerformanceInsights {
                kms_key: db.performance_insights_kms_key_id().map(str::to_string),
                retention_days: db.performance_insights_retention_period(),
            }),
            describe: answer_tree::tree(&db),
        });
    }
    out.sort_by_key(|m| !m.writer);
    Ok(out)
}

/// Reads the cluster's custom endpoints. Only asked when the cluster lists some (the sandbox
/// does not implement the endpoint API; a cluster without custom endpoints never needs it).
pub async fn record_endpoints(
    log: &dyn CallLog,
    client: &Client,
    cluster: &DbCluster,
    region: &str,
) -> Result<Vec<Endpoint>, ActionError> {
    if cluster.custom_endpoints().is_empty() {
        return Ok(Vec::new());
    }
    let id = cluster.db_cluster_identifier().unwrap_or_default();
    let req = client.describe_db_cluster_endpoints().db_cluster_identifier(id);
    let out = read(log, at(id, region), req).await??;
    Ok(out
        .db_cluster_endpoints()
        .iter()
        .filter(|e| e.endpoint_type() == Some("CUSTOM"))
        .map(|e| Endpoint {
            id: e.db_cluster_endpoint_identifier().unwrap_or_default().to_string(),
            kind: e.custom_endpoint_type().unwrap_or("ANY").to_string(),
            static_members: e.static_members().to_vec(),
            excluded_members: e.excluded_members().to_vec(),
        })
        .collect())
}

async fn endpoint_status(
    log: &dyn CallLog,
    client: &Client,
    id: &str,
    region: &str,
) -> Result<Option<String>, ActionError> {
    let req = client.describe_db_cluster_endpoints().db_cluster_endpoint_identifier(id);
    let answer = read(log, at(id, region), req).await?;
    or_none(answer.map(|out| out.db_cluster_endpoints().first().map(|e| e.status().unwrap_or("unknown").to_string())))
}

/// Whose instances [`Members::recreate_as`] makes: the restored cluster's (tagged as the run's,
/// so a later look knows them), or the original cluster's again on a way back (its own tags
/// only: it is the original's member again, as before the failback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    Restored,
    Original,
}

/// What the orchestration needs to act on one cluster's members.
pub struct Members<'a, 'c> {
    pub cx: &'a ActionCx<'c>,
    pub name: &'a str,
    pub client: &'a Client,
    pub region: &'a str,
    pub cluster: &'a str,
    pub engine: &'a str,
    /// Put before every sub-step name (`undo-`), so the same code journals under other names.
    pub parts: &'a str,
}

impl Members<'_, '_> {
    fn sub_name(&self, part: &str) -> SubId {
        SubId::of(self.name, format!("{}{part}", self.parts))
    }

    /// Deletes the custom endpoints (recorded, recreated later) and waits until they are gone.
    pub async fn remove_endpoints(&self, endpoints: &[Endpoint]) -> Result<(), ActionError> {
        if endpoints.is_empty() {
            return Ok(());
        }
        let cx = self.cx;
        let ids: Vec<&str> = endpoints.iter().map(|e| e.id.as_str()).collect();
        cx.sub(&self.sub_name("remove-custom-endpoints"), json!({ "endpoints": ids }), |_| async {
            for id in &ids {
                if endpoint_status(cx.log, self.client, id, self.region).await?.is_none() {
                    continue;
                }
                if cx.dry_run {
                    cx.log.note(format!("dry run: would delete custom endpoint {id} (recorded, recreated later)"))?;
                    continue;
                }
                let req = self.client.delete_db_cluster_endpoint().db_cluster_endpoint_identifier(*id);
                mutate(cx.log, at(id, self.region), req).await??;
            }
            Ok(())
        })
        .await?;
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-endpoints-removed"), json!({ "endpoints": ids }), &["gone"], || async {
            let mut out = Vec::new();
            for id in &ids {
                out.push((format!("endpoint {id}"), endpoint_status(&quiet, self.client, id, self.region).await?));
            }
            Ok(out)
        })
        .await
    }

    /// Deletes the cluster's DB instances (the data lives in the cluster volume, which is kept
    /// with the renamed cluster) and waits until they are gone.
    pub async fn delete(&self, members: &[Member]) -> Result<(), ActionError> {
        let cx = self.cx;
        let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
        // The failback's own first run deletes the members `read` recorded, as it recorded them;
        // an undo's or a rollback's (other names) may find some never made or gone, and looks.
        let fresh = |resume: &crate::actions::substep::Resume| resume.first && self.parts.is_empty();
        let ids_ref = &ids;
        cx.sub(
            &self.sub_name("delete-instances"),
            json!({ "instances": ids, "cluster": self.cluster }),
            |resume| async move {
                // One after another, the readers first and the writer last: a refused delete
                // leaves the rest untouched, so the way back has the least to recreate, and the
                // writer is never deleted while a reader is left (on AWS that fails the cluster
                // over to the reader, and a way back would find the roles swapped).
                for id in ids_ref.iter().rev() {
                    if !fresh(&resume) {
                        let Some(db) = instance(cx.log, self.client, id, self.region).await? else { continue };
                        if db.db_cluster_identifier() != Some(self.cluster)
                            || db.db_instance_status() == Some("deleting")
                        {
                            continue;
                        }
                    }
                    if cx.dry_run {
                        cx.log.note(format!(
                            "dry run: would delete instance {id} of cluster {} (recorded)",
                            self.cluster
                        ))?;
                        continue;
                    }
                    let req = self.client.delete_db_instance().db_instance_identifier(*id);
                    mutate(cx.log, at(id, self.region), req).await??;
                }
                Ok(())
            },
        )
        .await?;
        self.wait_instances("wait-instances-deleted", &ids, "gone").await
    }

    /// Recreates the recorded instances in the restored cluster (same identifiers, classes,
    /// promotion tiers, parameter groups and tags; the writer first) and waits for them.
    pub async fn recreate(&self, members: &[Member]) -> Result<(), ActionError> {
        self.recreate_as(members, ("create-instances", "wait-instances-available"), Made::Restored).await
    }

    /// [`Members::recreate`] under other sub-step names (the rollback's, which puts them back in
    /// the original cluster).
    pub async fn recreate_as(
        &self,
        members: &[Member],
        (create, wait): (&str, &str),
        made: Made,
    ) -> Result<(), ActionError> {
        let cx = self.cx;
        let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
        // The failback's first run of it makes them in a cluster just restored, after the
        // originals' deletes were waited out: nothing holds their identifiers to look for. A
        // way back (other names) may find originals still there.
        let fresh = |resume: &crate::actions::substep::Resume| {
            resume.first && create == "create-instances" && self.parts.is_empty()
        };
        cx.sub(&self.sub_name(create), json!({ "instances": ids, "cluster": self.cluster }), |resume| async move {
            // One after another, the writer first: the first instance of a cluster is its writer.
            for m in members {
                if cx.dry_run {
                    // The originals are still there in a dry run; nothing to look for yet.
                    cx.log
                        .note(format!("dry run: would create instance {} ({}) in {}", m.id, m.class, self.cluster))?;
                    continue;
                }
                let found = match fresh(&resume) {
                    true => None,
                    false => instance(cx.log, self.client, &m.id, self.region).await?,
                };
                if let Some(db) = found {
                    // This run's, or already a member of this cluster (a way back after a failure
                    // that deleted only some of the original's instances).
                    let member =
                        db.db_cluster_identifier() == Some(self.cluster) && db.db_instance_status() != Some("deleting");
                    if member || is_ours(cx, &tag_map(db.tag_list()), self.name, "restored") {
                        continue;
                    }
                    return Err(not_ours("DB instance", &m.id, self.region));
                }
                if cx.dry_run {
                    cx.log
                        .note(format!("dry run: would create instance {} ({}) in {}", m.id, m.class, self.cluster))?;
                    continue;
                }
                let req = self
                    .client
                    .create_db_instance()
                    .db_instance_identifier(&m.id)
                    .db_cluster_identifier(self.cluster)
                    .engine(self.engine)
                    .db_instance_class(&m.class)
                    .set_promotion_tier(m.promotion_tier)
                    .set_db_parameter_group_name(custom(&m.parameter_group))
                    .set_availability_zone(m.availability_zone.clone())
                    .set_publicly_accessible(m.publicly_accessible)
                    .set_auto_minor_version_upgrade(m.auto_minor_version_upgrade)
                    .set_ca_certificate_identifier(m.ca_certificate.clone())
                    .set_monitoring_interval(m.monitoring_interval)
                    .set_monitoring_role_arn(m.monitoring_role.clone().filter(|_| m.monitoring_interval.is_some()))
                    .set_enable_performance_insights(m.performance_insights.as_ref().map(|_| true))
                    .set_performance_insights_kms_key_id(
                        m.performance_insights.as_ref().and_then(|p| p.kms_key.clone()),
                    )
                    .set_performance_insights_retention_period(
                        m.performance_insights.as_ref().and_then(|p| p.retention_days),
                    )
                    .set_tags(Some(match made {
                        Made::Restored => restored_tags(cx, self.name, &m.tags),
                        Made::Original => user_tag_list(&m.tags),
                    }));
                mutate(cx.log, at(&m.id, self.region), req).await??;
            }
            Ok(())
        })
        .await?;
        self.wait_instances(wait, &ids, "available").await
    }

    /// Waits (sub-step `part`) until every instance in `ids` is `ready` (`gone` for deleted).
    async fn wait_instances(&self, part: &str, ids: &[&str], ready: &str) -> Result<(), ActionError> {
        let quiet = self.cx.quiet();
        wait_status(self.cx, &self.sub_name(part), json!({ "instances": ids }), &[ready], || async {
            // Each poll reads every member at once.
            let reads = ids.iter().map(|id| instance(&quiet, self.client, id, self.region));
            let mut out = Vec::new();
            for (id, now) in ids.iter().zip(futures_util::future::join_all(reads).await) {
                let status = now?.map(|d| d.db_instance_status().unwrap_or("unknown").to_string());
                out.push((format!("instance {id}"), status));
            }
            Ok(out)
        })
        .await
    }

    /// Recreates the recorded custom endpoints on the restored cluster.
    pub async fn recreate_endpoints(&self, endpoints: &[Endpoint]) -> Result<(), ActionError> {
        if endpoints.is_empty() {
            return Ok(());
        }
        let cx = self.cx;
        let ids: Vec<&str> = endpoints.iter().map(|e| e.id.as_str()).collect();
        cx.sub(&self.sub_name("recreate-custom-endpoints"), json!({ "endpoints": ids }), |_| async {
            for e in endpoints {
                if endpoint_status(cx.log, self.client, &e.id, self.region).await?.is_some() {
                    continue;
                }
                if cx.dry_run {
                    cx.log.note(format!("dry run: would recreate custom endpoint {} ({})", e.id, e.kind))?;
                    continue;
                }
                let req = self
                    .client
                    .create_db_cluster_endpoint()
                    .db_cluster_identifier(self.cluster)
                    .db_cluster_endpoint_identifier(&e.id)
                    .endpoint_type(&e.kind)
                    .set_static_members((!e.static_members.is_empty()).then(|| e.static_members.clone()))
                    .set_excluded_members((!e.excluded_members.is_empty()).then(|| e.excluded_members.clone()))
                    .set_tags(Some(tags(cx, self.name, "restored")));
                mutate(cx.log, at(&e.id, self.region), req).await??;
            }
            Ok(())
        })
        .await?;
        let quiet = cx.quiet();
        wait_status(
            cx,
            &self.sub_name("wait-endpoints-available"),
            json!({ "endpoints": ids }),
            &["available"],
            || async {
                let mut out = Vec::new();
                for id in &ids {
                    out.push((format!("endpoint {id}"), endpoint_status(&quiet, self.client, id, self.region).await?));
                }
                Ok(out)
            },
        )
        .await
    }
}

//! The rehearsal of `aurora.failback` (`failback.rehearse`): the failback's own recovery point
//! (named and tagged as the rehearsal's), restored side by side as `<id>-pl-test-<short run id>`
//! with the failback's parameters (engine version, Serverless v2 capacity, ...), its instances
//! created as `<member>-pl-test-<run>` with theirs, the configuration re-applied (deletion
//! protection left off) and the whole Describe compared, then everything deleted. Primary's
//! cluster is only read. Custom endpoints are not rehearsed.
//!
//! Sub-steps: `read`, the recovery point, `restore`, `wait-restored`, `create-instances`,
//! `wait-instances-available`, the re-applied configuration to `compare-config`, then
//! `remove-rehearsal-instances`, `wait-rehearsal-instances-removed`, `remove-rehearsal`,
//! `wait-rehearsal-removed`, `remove-snapshots`. Only what this run tagged is deleted. When a
//! part fails, the same removal runs and the sub-steps are marked undone.

use super::super::snapshots::RecoveryPoint;
use super::super::{DbSnapshot, is_ours, not_ours, or_none, tag_map, test_id, wait_status};
use super::{Layout, One, cluster};
use crate::actions::failback::rehearsal_end::{settle, timed};
use crate::aws::{ActionError, at, mutate};
use crate::journal::SubId;
use serde_json::{Value, json};

const PARTS: &[(&str, &str, &str)] = &[
    ("snapshot", "snapshot-rehearsal", "wait-rehearsal-snapshot"),
    ("copy", "copy-to-primary", "wait-primary-copy"),
    ("restore", "restore", "wait-restored"),
    ("instances", "create-instances", "wait-instances-available"),
    ("configure", "reapply-config", "compare-config"),
];

const AFTER_READ: &[&str] = &[
    "snapshot-rehearsal",
    "wait-rehearsal-snapshot",
    "share-with-primary",
    "copy-to-primary",
    "wait-primary-copy",
    "restore",
    "wait-restored",
    "create-instances",
    "wait-instances-available",
    "reapply-config",
    "wait-configured",
    "associate-roles",
    "compare-config",
    "remove-rehearsal-instances",
    "wait-rehearsal-instances-removed",
    "remove-rehearsal",
    "wait-rehearsal-removed",
    "remove-snapshots",
];

/// Differ on the temporary cluster and its instances by design: their names and what is derived
/// from them, and deletion protection (off, so they can be removed).
const ALSO_DIFFER: &[&str] = &[
    "db_cluster_identifier",
    "db_cluster_arn",
    "endpoint",
    "reader_endpoint",
    "db_cluster_members[].db_instance_identifier",
    "deletion_protection",
    "db_instance_identifier",
    "db_instance_arn",
];

/// Rehearses one cluster's failback.
pub(in crate::actions::failback) async fn rehearse(one: &One<'_, '_>) -> Result<Value, ActionError> {
    let cx = one.cx;
    let l: Layout = cx.sub(&one.sub_name("read"), Value::Null, |_| one.read_layout()).await?;
    let mut test = Layout { primary_id: test_id(cx.run_id, &l.primary_id), custom_endpoints: Vec::new(), ..l.clone() };
    test.config.deletion_protection = false;
    for m in &mut test.members {
        m.id = test_id(cx.run_id, &m.id);
    }
    let point = one.recovery_point(&l);
    let (snap, copy) = point.take_as("rehearsal", "rehearsal-copy").await?;
    let tried = async {
        one.restore(&test, &copy, point.seen(&copy.id)).await?;
        one.members(&test).recreate(&test.members).await?;
        one.reapply(&test, ALSO_DIFFER).await
    }
    .await;
    let what = format!("cluster {}", l.primary_id);
    let removed = || remove(one, &test, &point, (&snap, &copy));
    let (reapplied, remaining) = settle(cx, (one.name, &what), tried, removed, AFTER_READ).await?;
    let (durations, window) = timed(cx, (one.name, &what, &test.primary_id), PARTS)?;
    Ok(json!({
        "cluster": l.primary_id,
        "rehearsed_as": test.primary_id,
        "instances": test.members.iter().map(|m| &m.id).collect::<Vec<_>>(),
        "rehearsal_point": copy.created,
        "reapplied": reapplied,
        "remaining_differences": remaining,
        "durations_s": durations,
        "predicted_window_s": window,
        "retained": [],
    }))
}

/// Deletes the temporary instances, then the temporary cluster (no final snapshot: it holds
/// nothing primary lacks), then both snapshots; each only with this run's tags.
async fn remove(
    one: &One<'_, '_>,
    test: &Layout,
    point: &RecoveryPoint<'_, '_>,
    (snap, copy): (&DbSnapshot, &DbSnapshot),
) -> Result<(), ActionError> {
    let (cx, name) = (one.cx, one.name);
    let (id, region) = (test.primary_id.as_str(), test.primary_region.as_str());
    let ids: Vec<&str> = test.members.iter().map(|m| m.id.as_str()).collect();
    cx.sub(&SubId::of(name, "remove-rehearsal-instances"), json!({ "instances": ids }), |_| async {
        for member in &ids {
            let Some(db) = super::super::instance::instance(cx.log, one.primary, member, region).await? else {
                continue;
            };
            if !is_ours(cx, &tag_map(db.tag_list()), name, "restored") {
                return Err(not_ours("DB instance", member, region));
            }
            if db.db_instance_status() == Some("deleting") {
                continue;
            }
            let req = one.primary.delete_db_instance().db_instance_identifier(*member).skip_final_snapshot(true);
            or_none(mutate(cx.log, at(member, region), req).await?.map(Some))?;
        }
        Ok(())
    })
    .await?;
    let quiet = cx.quiet();
    let part = SubId::of(name, "wait-rehearsal-instances-removed");
    wait_status(cx, &part, json!({ "instances": ids }), &["gone"], || async {
        let mut out = Vec::new();
        for member in &ids {
            let now = super::super::instance::instance(&quiet, one.primary, member, region).await?;
            out.push((
                format!("instance {member}"),
                now.map(|d| d.db_instance_status().unwrap_or("unknown").to_string()),
            ));
        }
        Ok(out)
    })
    .await?;
    cx.sub(&SubId::of(name, "remove-rehearsal"), json!({ "cluster": id }), |_| async {
        let Some(c) = cluster(cx.log, one.primary, id, region).await? else { return Ok(()) };
        if !is_ours(cx, &tag_map(c.tag_list()), name, "restored") {
            return Err(not_ours("DB cluster", id, region));
        }
        if c.status() == Some("deleting") {
            return Ok(());
        }
        let req = one.primary.delete_db_cluster().db_cluster_identifier(id).skip_final_snapshot(true);
        or_none(mutate(cx.log, at(id, region), req).await?.map(Some)).map(|_| ())
    })
    .await?;
    wait_status(cx, &SubId::of(name, "wait-rehearsal-removed"), json!({ "cluster": id }), &["gone"], || async {
        let now = cluster(&quiet, one.primary, id, region).await?;
        Ok(vec![(format!("cluster {id}"), now.map(|c| c.status().unwrap_or("unknown").to_string()))])
    })
    .await?;
    point.remove_rehearsal(snap, copy).await
}

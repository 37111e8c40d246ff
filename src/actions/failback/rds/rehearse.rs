//! The rehearsal of `rds.failback` (`failback.rehearse`): the failback's own recovery point,
//! restore and re-applied configuration, side by side with primary under a temporary identifier
//! (`<id>-pl-test-<short run id>`, no deletion protection), then removed. Primary's instance is
//! only read. Whatever RDS refuses in a failback (the copy, the restore's parameters, a setting
//! the restore cannot take) it refuses here, and each part's duration predicts the real window.
//!
//! Sub-steps: those of `rds.failback` from `read` to `compare-config` (without the keep), on the
//! temporary instance; then `remove-rehearsal`, `wait-rehearsal-removed` and
//! `remove-snapshots` (the recovery snapshot and its copy). Only what this run made and tagged
//! is deleted. When the restore or the configuration fails, the same removal runs, and the
//! sub-steps are marked undone so a retry rehearses again from the snapshot.

use super::instance::{Layout, One, instance};
use super::snapshots::RecoveryPoint;
use super::{DbSnapshot, is_ours, or_none, test_id, wait_status};
use crate::actions::failback::Retained;
use crate::actions::failback::rehearsal_end::{settle, timed};
use crate::aws::{ActionError, at, mutate};
use crate::journal::SubId;
use serde_json::{Value, json};

/// The parts of a rehearsal whose durations predict the failback's window, each from its first
/// sub-step's start to its last one's end.
const PARTS: &[(&str, &str, &str)] = &[
    ("snapshot", "snapshot-rehearsal", "wait-rehearsal-snapshot"),
    ("copy", "copy-to-primary", "wait-primary-copy"),
    ("restore", "restore", "wait-restored"),
    ("configure", "reapply-config", "compare-config"),
];

/// What differs on the temporary instance by design: its name and what is derived from it, and
/// its deletion protection (off, so it can be removed).
const ALSO_DIFFER: &[&str] = &["db_instance_identifier", "db_instance_arn", "endpoint.address", "deletion_protection"];

/// Every sub-step a rehearsal makes after `read`, marked undone when it failed.
const AFTER_READ: &[&str] = &[
    "snapshot-rehearsal",
    "wait-rehearsal-snapshot",
    "share-with-primary",
    "copy-to-primary",
    "wait-primary-copy",
    "restore",
    "wait-restored",
    "reapply-config",
    "wait-configured",
    "associate-roles",
    "compare-config",
    "remove-rehearsal",
    "wait-rehearsal-removed",
    "remove-snapshots",
];

/// Rehearses one instance's failback. `stage`: a rehearsal that went through keeps its snapshot
/// and the snapshot's copy in primary's region (the staged recovery point): the failback's copy,
/// in the window, moves only what changed since, while that copy exists (RDS's incremental
/// snapshot copying).
pub(in crate::actions::failback) async fn rehearse(one: &One<'_, '_>, stage: bool) -> Result<Value, ActionError> {
    let cx = one.cx;
    let l = one.layout().await?;
    let test = l.rehearsal(test_id(cx.run_id, &l.primary_id));
    let point = one.recovery_point(&l);
    let (snap, copy) = point.take_as("rehearsal", "rehearsal-copy").await?;
    let tried = match one.restore(&test, &copy, point.seen(&copy.id)).await {
        Ok(()) => one.reapply(&test, ALSO_DIFFER).await,
        Err(e) => Err(e),
    };
    let keep = stage && tried.is_ok();
    let removed = || remove(one, &test, &point, (&snap, &copy), keep);
    let (reapplied, remaining) = settle(cx, (one.name, &l.primary_id), tried, removed, AFTER_READ).await?;
    let (durations, window) = timed(cx, (one.name, &l.primary_id, &test.primary_id), PARTS)?;
    Ok(json!({
        "instance": l.primary_id,
        "rehearsed_as": test.primary_id,
        // Not `recovery_point`: the report measures RPO from that, and a rehearsal restores
        // nothing primary serves.
        "rehearsal_point": copy.created,
        "reapplied": reapplied,
        "remaining_differences": remaining,
        "durations_s": durations,
        "predicted_window_s": window,
        "staged": keep,
        "retained": if keep { staged(one, &point, (&snap, &copy)) } else { Vec::new() },
    }))
}

/// The snapshot and copy a staging rehearsal keeps, as retained items.
fn staged(one: &One<'_, '_>, point: &RecoveryPoint<'_, '_>, (snap, copy): (&DbSnapshot, &DbSnapshot)) -> Vec<Retained> {
    let kind = super::snapshots::Kind::Instance;
    let kept = "staged by the rehearsal: the source of the staged copy; delete it with the copy";
    let copied = "staged by the rehearsal: the failback's copy of this database is incremental while it exists";
    vec![
        kind.retained(one.name, &snap.id, point.recovery_region, kept),
        kind.retained(one.name, &copy.id, point.primary_region, copied),
    ]
}

/// Deletes the temporary instance (no final snapshot: it holds nothing primary lacks) and, unless
/// `keep` (a staging rehearsal that went through), both snapshots, each only when this run's tags
/// say it made it.
async fn remove(
    one: &One<'_, '_>,
    test: &Layout,
    point: &RecoveryPoint<'_, '_>,
    (snap, copy): (&DbSnapshot, &DbSnapshot),
    keep: bool,
) -> Result<(), ActionError> {
    let (cx, name) = (one.cx, one.name);
    let (id, region) = (&test.primary_id, &test.primary_region);
    cx.sub(&SubId::of(name, "remove-rehearsal"), json!({ "instance": id }), |_| async {
        let Some(db) = instance(cx.log, one.primary, id, region).await? else { return Ok(()) };
        let tags = super::tag_map(db.tag_list());
        if !is_ours(cx, &tags, name, "restored") {
            return Err(super::not_ours("DB instance", id, region));
        }
        if db.db_instance_status() == Some("deleting") {
            return Ok(());
        }
        let req = one
            .primary
            .delete_db_instance()
            .db_instance_identifier(id)
            .skip_final_snapshot(true)
            .delete_automated_backups(true);
        or_none(mutate(cx.log, at(id, region), req).await?.map(Some)).map(|_| ())
    })
    .await?;
    let quiet = cx.quiet();
    wait_status(cx, &SubId::of(name, "wait-rehearsal-removed"), json!({ "instance": id }), &["gone"], || async {
        let now = instance(&quiet, one.primary, id, region).await?;
        Ok(vec![(format!("instance {id}"), now.map(|d| d.db_instance_status().unwrap_or("unknown").to_string()))])
    })
    .await?;
    if keep {
        return Ok(());
    }
    point.remove_rehearsal(snap, copy).await
}

//! The rehearsal of `ec2.failback` (`failback.rehearse`): the failback's own recovery point
//! (every recovery volume at once, copied to primary) and its volumes, created in the primary
//! instance's zone with the same type, size, IOPS and throughput, then deleted with the
//! snapshots. The primary instance is only read: nothing is stopped, detached or attached.
//! Whatever EC2 refuses in a failback (a copy without a key, a volume the zone has no capacity
//! for), it refuses here; each part's duration predicts the failback's.
//!
//! Sub-steps: those of `ec2.failback` up to `wait-volumes-available` (tagged as the
//! rehearsal's, never found by a failback), then `remove-volumes`, `wait-volumes-removed` and
//! `remove-snapshots`. Only what this run tagged as the rehearsal's is deleted. When a part
//! fails, the same removal runs and the sub-steps are marked undone, so a retry rehearses again.
//! A staging rehearsal (`stage: true`) that went through keeps its snapshots and copies: the
//! failback's, made while they exist, are incremental.

use super::{EbsSnapshot, Layout, One, REHEARSAL, TAG_STAGE};
use crate::actions::Poll;
use crate::actions::failback::rehearsal_end::{settle, timed};
use crate::actions::failback::{Retained, TAG_RESOURCE, TAG_RUN};
use crate::aws::{ActionError, CallLog, at, mutate, read};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Filter;
use indexmap::IndexMap;
use serde_json::{Value, json};

/// The parts whose durations predict the failback's, each from its first sub-step's start to
/// its last one's end.
const PARTS: &[(&str, &str, &str)] = &[
    ("snapshot", "snapshot-recovery-volumes", "wait-recovery-snapshots"),
    ("copy", "copy-to-primary", "wait-primary-copies"),
    ("volumes", "create-volumes", "wait-volumes-available"),
];

/// Every sub-step a rehearsal makes after `read`, marked undone when it failed.
const AFTER_READ: &[&str] = &[
    "snapshot-recovery-volumes",
    "wait-recovery-snapshots",
    "share-with-primary",
    "copy-to-primary",
    "wait-primary-copies",
    "create-volumes",
    "wait-volumes-available",
    "remove-volumes",
    "wait-volumes-removed",
    "remove-snapshots",
];

/// Rehearses one instance's failback; `one` tags what it makes with the [`REHEARSAL`] stages.
/// `stage`: a rehearsal that went through keeps its snapshots and copies (the staged recovery
/// point), and lists them as retained.
pub(in crate::actions::failback) async fn rehearse(one: &One<'_, '_>, stage: bool) -> Result<Value, ActionError> {
    let cx = one.cx;
    let l: Layout = cx.sub(&one.sub_name("read"), Value::Null, |_| one.read_layout()).await?;
    let tried = async {
        let snaps = one.snapshot_recovery(&l).await?;
        let copies = one.copy_to_primary(&l, &snaps).await?;
        let volumes = one.create_volumes(&l, &copies).await?;
        Ok::<_, ActionError>((snaps, copies, volumes))
    }
    .await;
    let what = l.primary_instance.as_str();
    let keep = stage && tried.is_ok();
    let (snaps, copies, volumes) = settle(cx, (one.name, what), tried, || remove(one, &l, keep), AFTER_READ).await?;
    let made: Vec<&str> = volumes.values().map(String::as_str).collect();
    let (durations, window) = timed(cx, (one.name, what, &made.join(", ")), PARTS)?;
    Ok(json!({
        "instance_id": l.primary_instance,
        "rehearsed_as": made,
        "rehearsal_point": earliest(&snaps),
        "snapshots": snaps.values().map(|s| &s.snapshot_id).collect::<Vec<_>>(),
        "copies": copies.values().map(|s| &s.snapshot_id).collect::<Vec<_>>(),
        "durations_s": durations,
        "predicted_window_s": window,
        "remaining_differences": [],
        "staged": keep,
        "retained": if keep { staged(one, &l, &snaps, &copies) } else { Vec::new() },
    }))
}

/// The snapshots and copies a staging rehearsal keeps, as retained items.
fn staged(
    one: &One<'_, '_>,
    l: &Layout,
    snaps: &IndexMap<String, EbsSnapshot>,
    copies: &IndexMap<String, EbsSnapshot>,
) -> Vec<Retained> {
    let item = |s: &EbsSnapshot, region: &str, why: &str| Retained {
        resource: one.name.to_string(),
        kind: "ebs_snapshot".into(),
        id: s.snapshot_id.clone(),
        region: region.to_string(),
        why: why.into(),
        delete_with: format!("aws ec2 delete-snapshot --region {region} --snapshot-id {}", s.snapshot_id),
    };
    let kept = "staged by the rehearsal: the failback's snapshot of this volume is incremental while it exists";
    let copied = "staged by the rehearsal: the failback's copy of this volume is incremental while it exists";
    snaps
        .values()
        .map(|s| item(s, &l.recovery_region, kept))
        .chain(copies.values().map(|s| item(s, &l.primary_region, copied)))
        .collect()
}

fn earliest(snaps: &IndexMap<String, EbsSnapshot>) -> Option<&str> {
    snaps.values().filter_map(|s| s.started.as_deref()).min()
}

/// Ids (volumes or snapshots) this run tagged with `stage` for this resource, in `region`.
async fn tagged(
    log: &dyn CallLog,
    (run_id, name): (&str, &str),
    client: &Client,
    region: &str,
    (volumes, stage): (bool, &str),
) -> Result<Vec<String>, ActionError> {
    let f = |k: &str, v: &str| Filter::builder().name(format!("tag:{k}")).values(v).build();
    let filters = vec![f(TAG_RUN, run_id), f(TAG_RESOURCE, name), f(TAG_STAGE, stage)];
    if volumes {
        let req = client.describe_volumes().set_filters(Some(filters));
        let out = read(log, at(name, region), req).await??;
        Ok(out.volumes().iter().filter_map(|v| v.volume_id().map(str::to_string)).collect())
    } else {
        let req = client.describe_snapshots().owner_ids("self").set_filters(Some(filters));
        let out = read(log, at(name, region), req).await??;
        Ok(out.snapshots().iter().filter_map(|s| s.snapshot_id().map(str::to_string)).collect())
    }
}

/// The ids a done sub-step journaled as made (its result: device to id, or to a snapshot).
/// Nothing in a dry run (what it journaled are placeholders: nothing was made).
fn journaled(one: &One<'_, '_>, part: &str) -> Vec<String> {
    if one.cx.dry_run {
        return Vec::new();
    }
    let Ok(Some(made)) = one.cx.result_of::<IndexMap<String, Value>>(&one.sub_name(part)) else { return Vec::new() };
    made.values().filter_map(|v| v.as_str().or_else(|| v["snapshot_id"].as_str()).map(str::to_string)).collect()
}

/// What to delete: the ids the rehearsal journaled as made, and whatever else carries its tags
/// (one made without its answer heard). Both: EC2's lists are eventually consistent, and a list
/// may not show what was made a moment ago.
fn with(mut known: Vec<String>, listed: Vec<String>) -> Vec<String> {
    for id in listed {
        if !known.contains(&id) {
            known.push(id);
        }
    }
    known
}

/// Deletes the rehearsal's volumes, waits until they are gone, then its snapshots (the copies in
/// primary, the recovery snapshots): those its sub-steps journaled, and those found by this
/// run's tags. `keep_snapshots` (a staging rehearsal that went through) leaves the snapshots.
async fn remove(one: &One<'_, '_>, l: &Layout, keep_snapshots: bool) -> Result<(), ActionError> {
    let cx = one.cx;
    let (p_region, r_region) = (l.primary_region.as_str(), l.recovery_region.as_str());
    let who = (cx.run_id, one.name);
    let volumes = journaled(one, "create-volumes");
    cx.sub(&one.sub_name("remove-volumes"), json!({ "stage": REHEARSAL.volume }), |_| async {
        let listed = tagged(cx.log, who, one.primary, p_region, (true, REHEARSAL.volume)).await?;
        for id in with(volumes.clone(), listed) {
            match mutate(cx.log, at(&id, p_region), one.primary.delete_volume().volume_id(&id)).await? {
                Ok(_) => {}
                Err(f) if f.is_not_found() => {}
                Err(f) => return Err(f.into()),
            }
        }
        Ok(())
    })
    .await?;
    let wait = one.sub_name("wait-volumes-removed");
    cx.sub(&wait, json!({ "stage": REHEARSAL.volume }), |_| async {
        if cx.dry_run {
            return Ok(());
        }
        let quiet = cx.quiet();
        cx.wait_for(&wait, cx.timeout, || async {
            let mut left = tagged(&quiet, who, one.primary, p_region, (true, REHEARSAL.volume)).await?;
            for id in &volumes {
                if !left.contains(id) && still_there(&quiet, one.primary, p_region, id).await? {
                    left.push(id.clone());
                }
            }
            Ok(if left.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("volumes {} deleting", left.join(", ")))
            })
        })
        .await
    })
    .await?;
    if keep_snapshots {
        return Ok(());
    }
    cx.sub(&one.sub_name("remove-snapshots"), json!({ "stages": [REHEARSAL.copy, REHEARSAL.snapshot] }), |_| async {
        for (client, region, stage, part) in [
            (one.primary, p_region, REHEARSAL.copy, "copy-to-primary"),
            (one.recovery, r_region, REHEARSAL.snapshot, "snapshot-recovery-volumes"),
        ] {
            let listed = tagged(cx.log, who, client, region, (false, stage)).await?;
            for id in with(journaled(one, part), listed) {
                match mutate(cx.log, at(&id, region), client.delete_snapshot().snapshot_id(&id)).await? {
                    Ok(_) => {}
                    Err(f) if f.is_not_found() => {}
                    Err(f) => return Err(f.into()),
                }
            }
        }
        Ok(())
    })
    .await
}

/// Whether a volume still exists (not deleted, not unknown).
async fn still_there(log: &dyn CallLog, client: &Client, region: &str, id: &str) -> Result<bool, ActionError> {
    match read(log, at(id, region), client.describe_volumes().volume_ids(id)).await? {
        Ok(out) => Ok(out.volumes().iter().any(|v| v.state().is_none_or(|s| s.as_str() != "deleted"))),
        Err(f) if f.is_not_found() => Ok(false),
        Err(f) => Err(f.into()),
    }
}

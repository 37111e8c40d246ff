//! An instance's recovery point: one CreateSnapshots for all of its volumes, so the snapshots are
//! crash-consistent with each other (a database with data and log on separate volumes, LVM,
//! RAID). One CreateSnapshot per volume while the instance runs takes each at another moment
//! (EC2 user guide, "Multi-volume snapshots"). The failback's recovery snapshots and the final
//! recovery points of `recovery.conclude` are both taken so.
//!
//! The snapshots carry the run's tags but no device (one call tags them all alike); a resumed
//! sub-step finds them by those tags and the volume each was taken from. Should only some be
//! found (a crash in between on AWS's side), the rest are taken one by one, and the journal says
//! the recovery point is no longer consistent across volumes.

use super::reads::{LOOKS_WHEN_RESUMED, find_snapshot};
use super::{EbsSnapshot, Layout, One, TAG_RESOURCE, TAG_RUN, TAG_STAGE, TAG_STEP};
use crate::actions::ActionCx;
use crate::aws::{ActionError, at, mutate};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::primitives::DateTimeFormat;
use aws_sdk_ec2::types::{Filter, InstanceSpecification, ResourceType as Ec2ResourceType, Tag, TagSpecification};
use indexmap::IndexMap;
use serde_json::json;

/// Where and what to snapshot: the instance, its (device, volume) pairs, the resource it is, the
/// stage tag, and a description.
pub(in crate::actions::failback) struct InstancePoint<'a> {
    pub client: &'a Client,
    pub region: &'a str,
    pub resource: &'a str,
    pub instance: &'a str,
    pub volumes: &'a [(String, String)],
    pub stage: &'a str,
    pub description: String,
}

/// Takes (or finds what this run took of) a snapshot of every volume of `p.instance` at once;
/// one per device.
/// `looks`: how often to list what the sub-step may have taken before ([`find_snapshot`]).
pub(in crate::actions::failback) async fn snapshot_instance(
    cx: &ActionCx<'_>,
    p: &InstancePoint<'_>,
    looks: u32,
) -> Result<IndexMap<String, EbsSnapshot>, ActionError> {
    let mut out = IndexMap::new();
    for (device, volume) in p.volumes {
        if let Some(found) = find_snapshot(cx.log, p.client, p.region, of_volume(cx, p, volume), looks).await? {
            out.insert(device.clone(), found);
        }
    }
    if out.len() == p.volumes.len() {
        return Ok(out);
    }
    if cx.dry_run {
        let devices: Vec<&str> = p.volumes.iter().map(|(d, _)| d.as_str()).collect();
        cx.log.note(format!(
            "dry run: would snapshot every volume of {} at once ({})",
            p.instance,
            devices.join(", ")
        ))?;
        for (device, _) in p.volumes {
            let dry =
                EbsSnapshot { snapshot_id: format!("snap-(dry run {device})"), started: None, requested_at: None };
            out.entry(device.clone()).or_insert(dry);
        }
        return Ok(out);
    }
    if out.is_empty() {
        take_all(cx, p, &mut out).await?;
    } else {
        cx.log.note(format!(
            "only {} of {} snapshots of {} were found: the rest are taken one by one, so this recovery point \
             is not consistent across its volumes",
            out.len(),
            p.volumes.len(),
            p.instance
        ))?;
        take_missing(cx, p, &mut out).await?;
    }
    Ok(out)
}

/// This run's snapshot of `volume` at this stage, by tags and the volume it was taken from.
fn of_volume(cx: &ActionCx<'_>, p: &InstancePoint<'_>, volume: &str) -> Vec<Filter> {
    let f = |k: &str, v: &str| Filter::builder().name(k).values(v).build();
    vec![
        f(&format!("tag:{TAG_RUN}"), cx.run_id),
        f(&format!("tag:{TAG_RESOURCE}"), p.resource),
        f(&format!("tag:{TAG_STAGE}"), p.stage),
        f("volume-id", volume),
    ]
}

fn run_tags(cx: &ActionCx<'_>, p: &InstancePoint<'_>) -> TagSpecification {
    let t = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    TagSpecification::builder()
        .resource_type(Ec2ResourceType::Snapshot)
        .tags(t(TAG_RUN, cx.run_id))
        .tags(t(TAG_STEP, cx.step))
        .tags(t(TAG_RESOURCE, p.resource))
        .tags(t(TAG_STAGE, p.stage))
        .build()
}

fn started(t: Option<&aws_sdk_ec2::primitives::DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
}

/// One CreateSnapshots for every volume of the instance.
async fn take_all(
    cx: &ActionCx<'_>,
    p: &InstancePoint<'_>,
    out: &mut IndexMap<String, EbsSnapshot>,
) -> Result<(), ActionError> {
    let spec = InstanceSpecification::builder().instance_id(p.instance).exclude_boot_volume(false).build();
    let req = p
        .client
        .create_snapshots()
        .instance_specification(spec)
        .description(&p.description)
        .tag_specifications(run_tags(cx, p));
    let requested = crate::journal::now_rfc3339();
    let made = mutate(cx.log, at(p.instance, p.region), req).await??;
    for info in made.snapshots() {
        let Some((device, _)) = p.volumes.iter().find(|(_, v)| info.volume_id() == Some(v.as_str())) else { continue };
        let snap = EbsSnapshot {
            snapshot_id: info.snapshot_id().unwrap_or_default().into(),
            started: started(info.start_time()),
            requested_at: Some(requested.clone()),
        };
        out.insert(device.clone(), snap);
    }
    match p.volumes.iter().find(|(d, _)| !out.contains_key(d)) {
        Some((device, volume)) => Err(ActionError::Failed(format!(
            "CreateSnapshots of {} made no snapshot of {volume} ({device})",
            p.instance
        ))),
        None => Ok(()),
    }
}

/// One CreateSnapshot for each volume not found.
async fn take_missing(
    cx: &ActionCx<'_>,
    p: &InstancePoint<'_>,
    out: &mut IndexMap<String, EbsSnapshot>,
) -> Result<(), ActionError> {
    let missing: Vec<&(String, String)> = p.volumes.iter().filter(|(d, _)| !out.contains_key(d)).collect();
    for (device, volume) in missing {
        let req = p
            .client
            .create_snapshot()
            .volume_id(volume)
            .description(format!("{} {device}", p.description))
            .tag_specifications(run_tags(cx, p));
        let requested = crate::journal::now_rfc3339();
        let made = mutate(cx.log, at(volume, p.region), req).await??;
        let snap = EbsSnapshot {
            snapshot_id: made.snapshot_id().unwrap_or_default().into(),
            started: started(made.start_time()),
            requested_at: Some(requested),
        };
        out.insert(device.clone(), snap);
    }
    Ok(())
}

impl One<'_, '_> {
    /// Snapshots every recovery volume at once (or finds the ones this run already made) and waits.
    pub(super) async fn snapshot_recovery(&self, l: &Layout) -> Result<IndexMap<String, EbsSnapshot>, ActionError> {
        let cx = self.cx;
        let volumes: Vec<(String, String)> =
            l.sources.iter().map(|s| (s.device.clone(), s.volume_id.clone())).collect();
        let detail =
            json!({ "instance": l.recovery_instance, "volumes": volumes.iter().map(|(_, v)| v).collect::<Vec<_>>() });
        let point = InstancePoint {
            client: self.recovery,
            region: &l.recovery_region,
            resource: self.name,
            instance: &l.recovery_instance,
            volumes: &volumes,
            stage: self.stages.snapshot,
            description: format!("pilotlight-failback/{}/{}", cx.run_id, self.name),
        };
        let snaps = cx
            .sub(&self.sub_name("snapshot-recovery-volumes"), detail, |r| {
                snapshot_instance(cx, &point, r.looks(LOOKS_WHEN_RESUMED))
            })
            .await?;
        match self.wait_snapshots("wait-recovery-snapshots", self.recovery, &l.recovery_region, &snaps).await? {
            None => Ok(snaps),
            Some(failed) => Err(crate::aws::ActionError::Failed(failed.why)),
        }
    }
}

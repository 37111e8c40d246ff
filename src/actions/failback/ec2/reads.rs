//! The EC2 reads the failback makes: instances by id or Name tag, volumes, and what this run
//! already made (found by its tags).

use super::EbsSnapshot;
use crate::aws::{ActionError, CallLog, at, read};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::primitives::DateTimeFormat;
use aws_sdk_ec2::types::{Filter, Instance};

/// An EBS volume as a wait sees it.
pub(in crate::actions::failback) struct VolumeNow {
    pub(in crate::actions::failback) state: String,
    pub(in crate::actions::failback) instance: Option<String>,
    /// The attachment's own state (`attaching`, `attached`): a volume is `in-use` while still
    /// attaching.
    pub(in crate::actions::failback) attachment: Option<String>,
}

/// One volume: [`volumes`] of one.
pub(in crate::actions::failback) async fn volume(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    id: &str,
) -> Result<VolumeNow, ActionError> {
    let mut one = volumes(log, client, region, &[id]).await?;
    one.pop().ok_or_else(|| ActionError::Failed(format!("volume {id} not found in {region}")))
}

/// Several volumes in one DescribeVolumes, by id, in the order asked; a volume EC2 does not
/// list is an error naming it.
pub(in crate::actions::failback) async fn volumes(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    ids: &[&str],
) -> Result<Vec<VolumeNow>, ActionError> {
    let owned: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    let out = read(log, at(&owned.join(","), region), client.describe_volumes().set_volume_ids(Some(owned.clone())))
        .await??;
    ids.iter()
        .map(|id| {
            let v = out.volumes().iter().find(|v| v.volume_id() == Some(*id));
            v.map(now).ok_or_else(|| ActionError::Failed(format!("volume {id} not found in {region}")))
        })
        .collect()
}

fn now(v: &aws_sdk_ec2::types::Volume) -> VolumeNow {
    let attached =
        v.attachments().iter().find(|a| a.state().is_some_and(|s| matches!(s.as_str(), "attached" | "attaching")));
    VolumeNow {
        state: v.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        instance: attached.and_then(|a| a.instance_id()).map(str::to_string),
        attachment: attached.and_then(|a| a.state()).map(|s| s.as_str().to_string()),
    }
}

/// The one live instance with this id (`i-...`) or Name tag.
pub(in crate::actions::failback) async fn instance(
    log: &dyn CallLog,
    client: &Client,
    id: &str,
    region: &str,
) -> Result<Instance, ActionError> {
    let mut req = client.describe_instances();
    req = if id.starts_with("i-") {
        req.instance_ids(id)
    } else {
        req.filters(Filter::builder().name("tag:Name").values(id).build())
    };
    let out = read(log, at(id, region), req).await??;
    let live: Vec<&Instance> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| !matches!(state_of(i).as_str(), "terminated" | "shutting-down"))
        .collect();
    match live.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ActionError::Failed(format!("no live instance {id} in {region}"))),
        many => Err(ActionError::Failed(format!(
            "{} live instances are named {id} in {region}; name one by its instance id",
            many.len()
        ))),
    }
}

pub(in crate::actions::failback) fn state_of(i: &Instance) -> String {
    i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default()
}

/// Each EBS device's DeleteOnTermination flag.
pub(in crate::actions::failback) fn delete_on_termination(i: &Instance) -> indexmap::IndexMap<String, bool> {
    i.block_device_mappings()
        .iter()
        .filter_map(|m| Some((m.device_name()?.to_string(), m.ebs()?.delete_on_termination()?)))
        .collect()
}

/// (device, volume id) of every EBS volume attached to an instance.
pub(in crate::actions::failback) fn ebs_devices(i: &Instance) -> Vec<(String, String)> {
    i.block_device_mappings()
        .iter()
        .filter_map(|m| Some((m.device_name()?.to_string(), m.ebs()?.volume_id()?.to_string())))
        .collect()
}

/// Recovery's EBS volumes by the device each goes to on primary (recovery's root device is
/// primary's root device, whatever each calls it): what a failback restores where, and how its
/// copies are tagged.
pub(in crate::actions::failback) fn devices_on_primary(rec: &Instance, pri: &Instance) -> Vec<(String, String)> {
    let (rec_root, pri_root) =
        (rec.root_device_name().unwrap_or("/dev/sda1"), pri.root_device_name().unwrap_or("/dev/sda1"));
    ebs_devices(rec)
        .into_iter()
        .map(|(device, vol)| (if device == rec_root { pri_root.to_string() } else { device }, vol))
        .collect()
}

/// How many times a resumed sub-step lists what it may have made before it makes it again: EC2's
/// lists are eventually consistent (a snapshot made a moment ago may be missing from them), and
/// a snapshot or a copy has no client token that would make a second send harmless.
pub(in crate::actions::failback) const LOOKS_WHEN_RESUMED: u32 = 3;

/// This run's snapshot the filters name (not one in `error`), listed up to `looks` times
/// ([`crate::actions::Resume::looks`]: none for a sub-step's first run, [`LOOKS_WHEN_RESUMED`]
/// when it ran before and may have made it without hearing so; a list that misses it is asked
/// again, the pause doubling from the run's `unanswered` pause).
pub(in crate::actions::failback) async fn find_snapshot(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    filters: Vec<Filter>,
    looks: u32,
) -> Result<Option<EbsSnapshot>, ActionError> {
    let mut pause = log.pauses().unanswered;
    for look in 1..=looks {
        let req = client.describe_snapshots().owner_ids("self").set_filters(Some(filters.clone()));
        let out = read(log, at("snapshots of this run", region), req).await??;
        let found = out.snapshots().iter().find(|s| s.state().is_none_or(|x| x.as_str() != "error"));
        if let Some(s) = found {
            return Ok(Some(EbsSnapshot {
                snapshot_id: s.snapshot_id().unwrap_or_default().to_string(),
                started: s.start_time().and_then(|t| t.fmt(DateTimeFormat::DateTime).ok()),
                // Found again after a cut-off send: when it was sent is not known here, and EC2's
                // StartTime (to the second, so possibly earlier) is the conservative point.
                requested_at: None,
            }));
        }
        if look < looks {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    Ok(None)
}

/// This run's volume the filters name (not one being deleted or in `error`); no list when
/// `looks` is 0 (a sub-step's first run: [`crate::actions::Resume::looks`]).
pub(in crate::actions::failback) async fn find_volume(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    filters: Vec<Filter>,
    looks: u32,
) -> Result<Option<String>, ActionError> {
    if looks == 0 {
        return Ok(None);
    }
    let req = client.describe_volumes().set_filters(Some(filters));
    let out = read(log, at("volumes of this run", region), req).await??;
    Ok(out
        .volumes()
        .iter()
        .find(|v| v.state().is_none_or(|s| !matches!(s.as_str(), "deleting" | "deleted" | "error")))
        .and_then(|v| v.volume_id().map(str::to_string)))
}

//! What a failback finds staged for an instance before it copies: per device, the newest copy in
//! primary that a staging rehearsal (`failback.rehearse` with `stage: true`, of this runbook's
//! resource, in any run) kept. EBS copies a snapshot incrementally only while an earlier copy of
//! the same volume's snapshots is in the destination region (EBS user guide, "Incremental
//! snapshot copying"); without one the copy is full and the window holds all of it. Preflight
//! says which before the gate (a warning for what is not staged); the failback says it again
//! before it copies, and lists it in its outputs: a cut-over that finds nothing staged (the stage
//! run never ran, or its copies were deleted) falls back to a full copy and says so.
//!
//! Matched by resource and device (the rehearsal's tags). A staged copy of a volume recovery has
//! since replaced is not told apart: AWS then copies in full, and the copy's wait shows it.

use super::{One, REHEARSAL, SourceVolume, TAG_DEVICE, TAG_RESOURCE, TAG_STAGE};
use crate::aws::{ActionError, CallLog, at, read};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::primitives::DateTimeFormat;
use aws_sdk_ec2::types::Filter;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A staged copy of one device's snapshot, in primary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Staged {
    pub snapshot_id: String,
    /// When its source snapshot was started (RFC 3339), as EC2 says.
    pub started: Option<String>,
}

/// The newest completed staged copy of resource `name`'s snapshot for each of `devices`, in
/// primary's `region` (one DescribeSnapshots).
pub(super) async fn newest(
    log: &dyn CallLog,
    primary: &Client,
    (name, region): (&str, &str),
    devices: &[&str],
) -> Result<IndexMap<String, Option<Staged>>, ActionError> {
    let f = |k: &str, v: &str| Filter::builder().name(k).values(v).build();
    let filters = vec![
        f(&format!("tag:{TAG_RESOURCE}"), name),
        f(&format!("tag:{TAG_STAGE}"), REHEARSAL.copy),
        f("status", "completed"),
    ];
    let req = primary.describe_snapshots().owner_ids("self").set_filters(Some(filters));
    let out = read(log, at(name, region), req).await??;
    let device_of = |s: &aws_sdk_ec2::types::Snapshot| {
        s.tags().iter().find(|t| t.key() == Some(TAG_DEVICE)).and_then(|t| t.value()).map(str::to_string)
    };
    let newest = |device: &str| {
        out.snapshots()
            .iter()
            .filter(|s| device_of(s).as_deref() == Some(device))
            .max_by_key(|s| s.start_time().map(|t| (t.secs(), t.subsec_nanos())))
            .map(|s| Staged {
                snapshot_id: s.snapshot_id().unwrap_or_default().to_string(),
                started: s.start_time().and_then(|t| t.fmt(DateTimeFormat::DateTime).ok()),
            })
    };
    Ok(devices.iter().map(|d| (d.to_string(), newest(d))).collect())
}

/// [`newest`] for the failback, journaled as the sub-step `staged`, with a note per device.
pub(super) async fn look(
    one: &One<'_, '_>,
    region: &str,
    sources: &[SourceVolume],
) -> Result<IndexMap<String, Option<Staged>>, ActionError> {
    let cx = one.cx;
    cx.sub(&one.sub_name("staged"), Value::Null, |_| async {
        let devices: Vec<&str> = sources.iter().map(|s| s.device.as_str()).collect();
        let found = newest(cx.log, one.primary, (one.name, region), &devices).await?;
        for source in sources {
            let staged = found.get(&source.device).and_then(Option::as_ref);
            cx.log.note(say(&source.device, source.size, region, staged))?;
        }
        Ok(found)
    })
    .await
}

/// What the failback says of one device's staged copy (or of its absence).
pub(super) fn say(device: &str, size: i32, region: &str, staged: Option<&Staged>) -> String {
    match staged {
        Some(s) => format!(
            "{device}: staged copy {} in {region} (its snapshot started {}): the copy moves only what changed since",
            s.snapshot_id,
            s.started.as_deref().unwrap_or("at an unknown time")
        ),
        None => format!(
            "{device}: nothing staged in {region} (no stage run, or its copies were deleted): the copy is full, {size} GiB"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_staged_copy_is_said_as_a_full_copy_with_its_size() {
        let said = say("/dev/xvdb", 500, "us-east-1", None);
        assert!(said.contains("nothing staged in us-east-1") && said.contains("the copy is full, 500 GiB"), "{said}");
        let staged = Staged { snapshot_id: "snap-1".into(), started: Some("2026-12-04T10:00:00Z".into()) };
        let said = say("/dev/xvdb", 500, "us-east-1", Some(&staged));
        assert!(said.contains("staged copy snap-1") && said.contains("only what changed"), "{said}");
    }
}

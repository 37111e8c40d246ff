//! EC2's in-between states: a snapshot or copy `pending` with its progress, a volume `creating`,
//! an instance `stopping` or `pending`; and AWS's refusals meanwhile.

use super::super::wire::{ask_upstream, ec2_refusal, field, named_ids, param};
use super::{At, Call, Clock, What, after_id, begin, busy, incremental, percent};

pub(super) fn note(call: &Call<'_>, answered: &str, at: At<'_>, clock: &Clock) {
    match call.operation {
        "CreateSnapshot" => snapshot(answered, (call.head, at), clock, "ec2.CreateSnapshot"),
        // One item per volume (a snapshot's own fields follow its tags' items).
        "CreateSnapshots" => {
            for item in answered.split("<item>").filter(|i| i.contains("<snapshotId>")) {
                snapshot(item, (call.head, at), clock, "ec2.CreateSnapshot");
            }
        }
        "CopySnapshot" => {
            let Some(id) = field(answered, "snapshotId") else { return };
            let query = format!("Action=DescribeSnapshots&Version=2016-11-15&SnapshotId.1={id}");
            let described = ask_upstream(at.upstream, call.head, &query).unwrap_or_default();
            snapshot(&described, (call.head, at), clock, "ec2.CopySnapshot");
        }
        "CreateVolume" => {
            let (Some(id), Some(size)) = (field(answered, "volumeId"), field(answered, "size")) else { return };
            let gib = size.parse().unwrap_or(0.0);
            begin(clock, at, What::Volume, id, "creating", "ec2.CreateVolume", gib);
        }
        "StopInstances" | "StartInstances" => {
            let (state, operation) = if call.operation == "StopInstances" {
                ("stopping", "ec2.StopInstances")
            } else {
                ("pending", "ec2.StartInstances")
            };
            for id in named_ids(call.body, "InstanceId.") {
                begin(clock, at, What::Instance, id, state, operation, 0.0);
            }
        }
        _ => {}
    }
}

/// Notes a snapshot (made or copied) from the XML that describes it.
fn snapshot(xml: &str, (head, at): (&str, At<'_>), clock: &Clock, operation: &str) {
    let (Some(id), Some(volume)) = (field(xml, "snapshotId"), field(xml, "volumeId")) else { return };
    let size: f64 = field(xml, "volumeSize").and_then(|s| s.parse().ok()).unwrap_or(0.0);
    if clock.pace.wall(std::time::Duration::from_secs(1)).is_zero() {
        return; // the instant pace models no time: nothing to ask moto
    }
    let gib = incremental(at, head, (id, volume), (size, clock.changed_share));
    begin(clock, at, What::Snapshot, id, "pending", operation, gib);
}

pub(super) fn show(call: &Call<'_>, answered: &str, at: At<'_>) -> String {
    match call.operation {
        "DescribeSnapshots" => after_id(answered, "snapshotId", "</item>", at, What::Snapshot, |item, work| {
            if work.state == "error" {
                // A copy a fault failed: AWS says `error` and why.
                let failed = format!("<status>error</status><statusMessage>{}</statusMessage>", work.message);
                return item.replacen("<status>completed</status>", &failed, 1);
            }
            item.replacen("<status>completed</status>", "<status>pending</status>", 1).replacen(
                "<progress>100%</progress>",
                &format!("<progress>{}%</progress>", percent(work)),
                1,
            )
        }),
        // The volume's own status comes before its attachments (`attached`, never `available`).
        "DescribeVolumes" => after_id(answered, "volumeId", "</item>", at, What::Volume, |item, _| {
            item.replacen("<status>available</status>", "<status>creating</status>", 1)
        }),
        "DescribeInstances" | "DescribeInstanceStatus" => {
            after_id(answered, "instanceId", "</instanceState>", at, What::Instance, |item, work| {
                if work.state == "stopping" {
                    item.replacen("<code>80</code><name>stopped</name>", "<code>64</code><name>stopping</name>", 1)
                } else {
                    item.replacen("<code>16</code><name>running</name>", "<code>0</code><name>pending</name>", 1)
                }
            })
        }
        _ => answered.to_string(),
    }
}

/// What a call held by a fault ([`super::stick`]) leaves in its state: the copy a CopySnapshot
/// made, the instances a StopInstances stopped.
pub(super) fn held(call: &Call<'_>, answered: &str) -> Vec<(What, String)> {
    match (call.service, call.operation) {
        ("ec2", "CopySnapshot") => {
            field(answered, "snapshotId").map(|id| (What::Snapshot, id.to_string())).into_iter().collect()
        }
        ("ec2", "StopInstances") => {
            named_ids(call.body, "InstanceId.").into_iter().map(|id| (What::Instance, id.to_string())).collect()
        }
        _ => Vec::new(),
    }
}

/// The holds a call ends: a forced stop (`Force=true`) ends an instance's hang in `stopping`.
pub(super) fn released<'a>(call: &Call<'a>) -> Vec<(What, &'a str)> {
    if call.service == "ec2" && call.operation == "StopInstances" && param(call.body, "Force") == Some("true") {
        named_ids(call.body, "InstanceId.").into_iter().map(|id| (What::Instance, id)).collect()
    } else {
        Vec::new()
    }
}

pub(super) fn refuse(call: &Call<'_>, at: At<'_>) -> Option<Vec<u8>> {
    let body = call.body;
    match call.operation {
        "CopySnapshot" | "CreateVolume" => {
            let id = param(body, if call.operation == "CopySnapshot" { "SourceSnapshotId" } else { "SnapshotId" })?;
            let work = busy(at, What::Snapshot, id)?;
            Some(ec2_refusal("IncorrectState", &format!("Snapshot is in invalid state - {} ({id})", work.state)))
        }
        "AttachVolume" => {
            let id = param(body, "VolumeId")?;
            let work = busy(at, What::Volume, id)?;
            Some(ec2_refusal("IncorrectState", &format!("vol '{id}' is not 'available' ({}).", work.state)))
        }
        "StartInstances" | "StopInstances" => named_ids(body, "InstanceId.").into_iter().find_map(|id| {
            let work = busy(at, What::Instance, id)?;
            // AWS refuses a start while stopping; a stop while pending is allowed.
            (call.operation == "StartInstances" && work.state == "stopping").then(|| {
                ec2_refusal(
                    "IncorrectInstanceState",
                    &format!("The instance '{id}' is not in a state from which it can be started."),
                )
            })
        }),
        _ => None,
    }
}

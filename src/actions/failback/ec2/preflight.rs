//! Preflight of `ec2.failback` ([`crate::actions::failback::preflight`]): one live instance on
//! each side, how an Auto Scaling group will be kept from replacing the stopped instance, an
//! encrypted recovery volume that another account cannot copy without a key, EBS snapshot copies
//! already in flight against EC2's per-region quota, and (with an RPO target) how old the
//! recovery volumes' newest snapshots are.

use super::reads::{ebs_devices, instance, state_of};
use super::standby;
use crate::actions::failback::preflight::{Found, Target};
use crate::aws::{ActionError, AwsEnvs, CallLog, at, read};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Filter;

/// EC2 copies at most this many snapshots into one region at once (per account; EBS user guide,
/// "Copy an Amazon EBS snapshot").
const COPIES_IN_FLIGHT: usize = 20;

/// When the recovery instance's volumes were last all snapshotted (Unix seconds): the oldest of
/// each volume's newest completed snapshot of this account; `None` when one has none.
async fn newest_snapshot(
    log: &dyn CallLog,
    r: &Client,
    t: &Target<'_>,
    ids: &[String],
) -> Result<Option<i64>, ActionError> {
    let by_volume = Filter::builder().name("volume-id").set_values(Some(ids.to_vec())).build();
    let req = r.describe_snapshots().owner_ids("self").filters(by_volume);
    let out = read(log, at(t.recovery_id, t.recovery_region), req).await??;
    let newest = |vol: &String| {
        out.snapshots()
            .iter()
            .filter(|s| s.volume_id() == Some(vol.as_str()) && s.state().is_some_and(|st| st.as_str() == "completed"))
            .filter_map(|s| s.start_time().map(|t| t.secs()))
            .max()
    };
    Ok(ids.iter().map(newest).collect::<Option<Vec<i64>>>().and_then(|all| all.into_iter().min()))
}

/// `staged` (a runbook that stages): every recovery volume's copy has a staged copy in primary
/// to be incremental against, or a warning naming the volumes whose copies will be full, with
/// their size: the window holds all of it.
async fn staged(
    log: &dyn CallLog,
    p: &Client,
    t: &Target<'_>,
    (rec, pri): (&aws_sdk_ec2::types::Instance, &aws_sdk_ec2::types::Instance),
    volumes: &[aws_sdk_ec2::types::Volume],
    found: &mut Found,
) -> Result<(), ActionError> {
    // Copies are tagged with the device on primary.
    let devices: Vec<(String, i32)> = super::reads::devices_on_primary(rec, pri)
        .into_iter()
        .map(|(device, vol)| {
            let size = volumes.iter().find(|v| v.volume_id() == Some(vol.as_str())).and_then(|v| v.size()).unwrap_or(0);
            (device, size)
        })
        .collect();
    let names: Vec<&str> = devices.iter().map(|(d, _)| d.as_str()).collect();
    let newest = super::staged::newest(log, p, (t.name, t.primary_region), &names).await?;
    let missing: Vec<String> = devices
        .iter()
        .filter(|(d, _)| newest.get(d).is_none_or(Option::is_none))
        .map(|(d, size)| format!("{d} ({size} GiB)"))
        .collect();
    if missing.is_empty() {
        let when = newest.values().flatten().filter_map(|s| s.started.clone()).min().unwrap_or_default();
        found.pass(
            "staged",
            format!("every volume is staged in {} (from {when}): the copies move only what changed", t.primary_region),
        );
    } else {
        found.warn(
            "staged",
            format!(
                "nothing staged in {} for {}: those copies are full, in the window (a staging rehearsal before it keeps copies they are incremental against)",
                t.primary_region,
                missing.join(", ")
            ),
        );
    }
    Ok(())
}

pub async fn check(envs: &AwsEnvs, log: &dyn CallLog, t: &Target<'_>) -> Result<Found, ActionError> {
    let p = Client::new(&envs.config("primary", log).await?);
    let r = Client::new(&envs.config("recovery", log).await?);
    let autoscaling = aws_sdk_autoscaling::Client::new(&envs.config("primary", log).await?);
    let mut found = Found::default();
    // Both sides at once, then everything that needs only them at once: round trips that wait
    // for nothing of each other.
    let (rec, pri) = match tokio::join!(
        instance(log, &r, t.recovery_id, t.recovery_region),
        instance(log, &p, t.primary_id, t.primary_region),
    ) {
        (Ok(rec), Ok(pri)) => (rec, pri),
        (rec, pri) => {
            let why: Vec<String> = [rec.err(), pri.err()].into_iter().flatten().map(|e| e.to_string()).collect();
            found.fail("exists", why.join("; "));
            return Ok(found);
        }
    };
    found.pass("exists", "one live instance on each side");
    match state_of(&pri).as_str() {
        "running" | "stopped" => found.pass("state", format!("primary is {}", state_of(&pri))),
        other => found.warn("state", format!("primary is {other}: the failback waits for it to stop")),
    }
    let id = pri.instance_id().unwrap_or_default();
    let ids: Vec<String> = ebs_devices(&rec).into_iter().map(|(_, v)| v).collect();
    let pending = Filter::builder().name("status").values("pending").build();
    let mine = Filter::builder().name("owner-id").values(t.primary_account).build();
    let in_flight = p.describe_snapshots().filters(pending).filters(mine);
    let (membership, volumes, in_flight, newest) = tokio::join!(
        standby::membership(log, &autoscaling, id, t.primary_region),
        read(log, at(t.recovery_id, t.recovery_region), r.describe_volumes().set_volume_ids(Some(ids.clone()))),
        read(log, at(t.primary_id, t.primary_region), in_flight),
        async {
            match t.rpo {
                Some(_) => newest_snapshot(log, &r, t, &ids).await.map(Some),
                None => Ok(None),
            }
        },
    );
    match membership? {
        Some((group, state)) if state == "InService" => {
            let sizes = standby::group_at_read(log, &autoscaling, &group, t.primary_region).await?;
            let how = match sizes {
                Some(g) if g.desired - 1 < g.min => {
                    format!("group {group} is at its minimum ({}): its HealthCheck and ReplaceUnhealthy are suspended for the swap", g.min)
                }
                _ => format!("the instance goes to Standby in group {group} for the swap"),
            };
            found.pass("auto-scaling", how);
        }
        Some((group, state)) => found.warn(
            "auto-scaling",
            format!("the instance is {state} in group {group}: the failback leaves the group alone; make sure it will not replace a stopped instance"),
        ),
        None => found.pass("auto-scaling", "in no Auto Scaling group"),
    }
    if let Some(newest) = newest? {
        t.recovery_point_age(&mut found, newest, "instance");
    }
    let volumes = volumes??;
    if t.stages {
        staged(log, &p, t, (&rec, &pri), volumes.volumes(), &mut found).await?;
    }
    let encrypted = volumes.volumes().iter().any(|v| v.encrypted() == Some(true));
    if encrypted && t.share_with.is_some() && t.kms.is_none() {
        found.warn(
            "encrypted-copy-key",
            "recovery's volumes are encrypted and recovery is another account: primary can copy the snapshots only with the recovery key shared with it, and they are re-encrypted with primary's default key unless the step gives `kms_key_id`",
        );
    } else {
        found.pass("encrypted-copy-key", "the recovery snapshots can be copied");
    }
    let busy = in_flight??.snapshots().len();
    if busy >= COPIES_IN_FLIGHT {
        found.fail(
            "snapshot-copies",
            format!("{busy} snapshots are pending in {}, EC2's limit for copies is {COPIES_IN_FLIGHT}: the failback's copies would be refused; wait for them", t.primary_region),
        );
    } else {
        found.pass(
            "snapshot-copies",
            format!("{busy} of at most {COPIES_IN_FLIGHT} snapshots pending in {}", t.primary_region),
        );
    }
    Ok(found)
}

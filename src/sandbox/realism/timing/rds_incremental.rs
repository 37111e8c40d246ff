//! Which RDS snapshots and snapshot copies are incremental.
//!
//! - A snapshot (RDS user guide, "Creating a DB snapshot"): the first snapshot of a DB instance
//!   holds the full database, later ones of the same instance only what changed since the most
//!   recent one; automated backups are snapshots too. So a snapshot taken while another snapshot
//!   of the instance exists in its region moves the changed share of the data ([`super::Clock::changed_share`]).
//! - A copy (RDS user guide, "Copying a DB snapshot", incremental snapshot copying): a copy
//!   across regions moves only what changed since the previous copy when an earlier copy of a
//!   snapshot of the same DB instance is still in the destination region; the first copy, or one
//!   whose earlier copies were deleted, is full. The KMS keys of the copies are not compared: the
//!   tool gives every copy of a run the same key.
//!
//! Aurora's cluster volume is continuous backup, and its cluster snapshot copies are always full
//! (Aurora user guide, "Copying a DB cluster snapshot"): not asked here.
//!
//! Moto's copy does not say where it came from (no `SourceRegion`, and a `DbiResourceId` made
//! from the identifier alone, the same in every region), so the layer records each copy's source
//! DB instance itself, asked from the source region when the copy is made.

use super::super::wire::{ask_upstream, decoded, each_element, field, param};
use super::{At, Call};
use std::sync::Mutex;

/// Copies made (moto port, destination region, source `region/instance`, copy id).
static COPIES: Mutex<Vec<(u16, String, String, String)>> = Mutex::new(Vec::new());

/// At most this many copies are remembered (the oldest are forgotten first).
const KEPT: usize = 4096;

/// Forgets the copies made on moto at `upstream` (its state was reset).
pub(super) fn forget(upstream: u16) {
    COPIES.lock().unwrap_or_else(|p| p.into_inner()).retain(|c| c.0 != upstream);
}

/// The GiB of `gib` that copy `copy` (just made, `call`) moves: the `changed` share of it when
/// an earlier copy of a snapshot of the same DB instance is still in this region, all of it else.
pub(super) fn copied_gib(call: &Call<'_>, at: At<'_>, copy: &str, (gib, changed): (f64, f64)) -> f64 {
    let Some(source) = source_instance(call, at) else { return gib };
    let earlier: Vec<String> = {
        let mut copies = COPIES.lock().unwrap_or_else(|p| p.into_inner());
        let same = |c: &(u16, String, String, String)| c.0 == at.upstream && c.1 == at.region && c.2 == source;
        let earlier = copies.iter().filter(|c| same(c) && c.3 != copy).map(|c| c.3.clone()).collect();
        copies.push((at.upstream, at.region.to_string(), source, copy.to_string()));
        if copies.len() > KEPT {
            copies.remove(0);
        }
        earlier
    };
    let still_there = |id: &String| {
        let query = format!("Action=DescribeDBSnapshots&Version=2014-10-31&DBSnapshotIdentifier={id}");
        ask_upstream(at.upstream, call.head, &query)
            .is_some_and(|answer| answer.contains(&format!("<DBSnapshotIdentifier>{id}</DBSnapshotIdentifier>")))
    };
    if earlier.iter().any(still_there) { gib * changed } else { gib }
}

/// The GiB of `gib` that snapshot `id` of `instance` (just taken, `call`) moves: the `changed`
/// share of it when another snapshot of the instance is in this region. An automated one counts only
/// while the instance keeps automated backups: moto makes one at create even with a retention of
/// 0, which on AWS means none.
pub(super) fn snapshot_gib(
    call: &Call<'_>,
    at: At<'_>,
    (id, instance): (&str, &str),
    (gib, changed): (f64, f64),
) -> f64 {
    let ask = |query: String| ask_upstream(at.upstream, call.head, &query).unwrap_or_default();
    let listed = ask(format!("Action=DescribeDBSnapshots&Version=2014-10-31&DBInstanceIdentifier={instance}"));
    let mut others = Vec::new();
    each_element(&listed, "DBSnapshot", |one| {
        if field(one, "DBSnapshotIdentifier").is_some_and(|other| other != id) {
            others.push(field(one, "SnapshotType").unwrap_or("manual").to_string());
        }
        one.to_string()
    });
    let backed_up = || {
        let described = ask(format!("Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier={instance}"));
        field(&described, "BackupRetentionPeriod").and_then(|d| d.parse::<u32>().ok()).is_some_and(|d| d > 0)
    };
    let earlier = others.iter().any(|t| t != "automated") || (!others.is_empty() && backed_up());
    if earlier { gib * changed } else { gib }
}

/// `region/instance` of the copy's source snapshot: its region from the source's ARN (a copy in
/// one region names its source by identifier), its instance asked from that region.
fn source_instance(call: &Call<'_>, at: At<'_>) -> Option<String> {
    let source = decoded(param(call.body, "SourceDBSnapshotIdentifier")?);
    let parts: Vec<&str> = source.split(':').collect();
    let (region, id) = match parts.as_slice() {
        ["arn", _, "rds", region, _, "snapshot", id] => (region.to_string(), id.to_string()),
        _ => (at.region.to_string(), source.clone()),
    };
    // Moto serves the region of the request's credential scope: the question is signed for the
    // source region.
    let head = call.head.replace(&format!("/{}/rds/", at.region), &format!("/{region}/rds/"));
    let query = format!("Action=DescribeDBSnapshots&Version=2014-10-31&DBSnapshotIdentifier={id}");
    let answer = ask_upstream(at.upstream, &head, &query)?;
    Some(format!("{region}/{}", field(&answer, "DBInstanceIdentifier")?))
}

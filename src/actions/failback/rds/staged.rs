//! What an RDS failback finds staged before it copies: the newest copy in primary's region of a
//! snapshot of the recovery instance that a staging rehearsal (`failback.rehearse` with
//! `stage: true`, of this runbook's resource, in any run) kept. RDS copies a snapshot across
//! regions incrementally only while an earlier copy of the same DB instance's snapshots is in the
//! destination region (RDS user guide, "Incremental snapshot copying"); without one the copy is
//! full and the window holds all of it. Preflight says which before the gate (a warning when
//! nothing is staged); the failback says it again before it copies, and lists it in its outputs.

use super::TAG_STAGE;
use crate::actions::ActionCx;
use crate::actions::failback::TAG_RESOURCE;
use crate::aws::{ActionError, CallLog, at, read};
use aws_sdk_rds::Client;
use serde_json::Value;

/// The newest available staged copy of resource `name` (recovery instance `recovery_id`) in
/// primary's `region`: its identifier and creation time (one DescribeDBSnapshots).
pub(in crate::actions::failback) async fn newest(
    log: &dyn CallLog,
    primary: &Client,
    (name, recovery_id, region): (&str, &str, &str),
) -> Result<Option<(String, Option<String>)>, ActionError> {
    // Every page: primary may hold many manual snapshots under the recovery instance's name.
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let req = primary
            .describe_db_snapshots()
            .db_instance_identifier(recovery_id)
            .snapshot_type("manual")
            .set_marker(marker.take());
        let out = read(log, at(name, region), req).await??;
        all.extend(out.db_snapshots().iter().cloned());
        match out.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    Ok(all
        .iter()
        .filter(|s| s.status() == Some("available"))
        .filter(|s| {
            let tags = super::tag_map(s.tag_list());
            tags.get(TAG_RESOURCE).map(String::as_str) == Some(name)
                && tags.get(TAG_STAGE).map(String::as_str) == Some("rehearsal-copy")
        })
        .max_by_key(|s| s.snapshot_create_time().map(|t| (t.secs(), t.subsec_nanos())))
        .map(|s| (s.db_snapshot_identifier().unwrap_or_default().to_string(), super::time(s.snapshot_create_time()))))
}

/// What is said of the staged copy (or of its absence) of `name`, `gib` large.
pub(in crate::actions::failback) fn say(
    name: &str,
    region: &str,
    staged: Option<&(String, Option<String>)>,
    gib: Option<i32>,
) -> String {
    match staged {
        Some((id, created)) => format!(
            "{name}: staged copy {id} in {region} (taken {}): the copy moves only what changed since",
            created.as_deref().unwrap_or("at an unknown time")
        ),
        None => format!(
            "{name}: nothing staged in {region} (no stage run, or its copy was deleted): the copy is full{}",
            gib.map(|g| format!(", {g} GiB")).unwrap_or_default()
        ),
    }
}

/// [`newest`] for the failback, journaled as the sub-step `staged`, with a note.
pub(super) async fn look(
    (cx, name, primary): (&ActionCx<'_>, &str, &Client),
    (recovery_id, region): (&str, &str),
    storage_gib: Option<i32>,
) -> Result<Option<(String, Option<String>)>, ActionError> {
    cx.sub(&crate::journal::SubId::of(name, "staged"), Value::Null, |_| async {
        let found = newest(cx.log, primary, (name, recovery_id, region)).await?;
        cx.log.note(say(name, region, found.as_ref(), storage_gib))?;
        Ok(found)
    })
    .await
}

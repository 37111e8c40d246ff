//! What `rds.failback` and `aurora.failback` share: identifiers for what a run makes (snapshot
//! copies, the kept original), the tags that prove a thing is this run's, and the waits on an
//! RDS status.
//!
//! RDS identifiers are names, not generated ids, so a resumed sub-step finds its own work by
//! looking the deterministic name up and checking the `pilotlight:run` tag: a name that exists
//! without this run's tag is someone else's, and the action stops rather than adopt it.

pub mod aurora;
pub mod copy_rules;
pub mod instance;
pub mod instance_config;
pub mod keep;
pub mod preflight;
pub(in crate::actions::failback) mod put_back;
pub mod rehearse;
pub mod replica;
pub mod replica_lag;
pub mod snapshots;
pub mod stage_replica;
mod staged;
pub mod storage;
pub(super) mod undo;
pub mod version;

use super::{Retained, TAG_RESOURCE, TAG_RUN, TAG_STEP, short_run_id};
use crate::actions::{ActionCx, Poll};
use crate::aws::{ActionError, AwsFailure, ProvideErrorMetadata, RawAnswer};
use crate::journal::SubId;
use aws_sdk_rds::primitives::{DateTime, DateTimeFormat};
use aws_sdk_rds::types::Tag;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;

/// Marks what a failback keeps on purpose (`pre-failback`) or made (`restored`, `snapshot`).
pub const TAG_STAGE: &str = "pilotlight:stage";
/// RDS allows at most this many characters in a DB instance or cluster identifier.
const MAX_ID: usize = 63;

/// A snapshot (instance or cluster) this run made or copied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbSnapshot {
    pub id: String,
    pub arn: String,
    /// When the recovery point was taken (RFC 3339): the RPO reference.
    pub created: Option<String>,
}

/// A snapshot as RDS reports it now.
#[derive(Debug, Clone)]
pub struct DbSnapshotNow {
    pub snap: DbSnapshot,
    pub status: String,
    pub tags: IndexMap<String, String>,
    /// The storage it holds (GiB): a restore may not ask for less.
    pub allocated_storage: Option<i32>,
    /// The engine version it was taken at: a restore may not go below it.
    pub engine_version: Option<String>,
    /// Whether it is encrypted: only an encrypted snapshot's copy is given a key.
    pub encrypted: bool,
}

/// The identifier for something this run makes: `pl-<run stamp>-<resource>-<part>`, lower case,
/// letters, digits and single hyphens (what RDS accepts), unique per run.
pub fn made_id(run_id: &str, resource: &str, part: &str) -> String {
    let stamp = run_id.split('-').next().unwrap_or_default();
    sanitise(&format!("pl-{stamp}-{}-{resource}-{part}", short_run_id(run_id)))
}

/// Where the original primary instance or cluster is kept: `<id>-pre-failback-<short run id>`
/// (the original id shortened if the whole would pass RDS's 63 characters).
pub fn kept_id(run_id: &str, original: &str) -> String {
    sanitise(&with_suffix(original, &format!("-pre-failback-{}", short_run_id(run_id))))
}

/// `original` with `suffix`, the original shortened if the whole would pass RDS's 63 characters.
pub fn with_suffix(original: &str, suffix: &str) -> String {
    let head: String = original.chars().take(MAX_ID.saturating_sub(suffix.len())).collect();
    format!("{}{suffix}", head.trim_end_matches('-'))
}

/// The temporary identifier of a rehearsal: `<id>-pl-test-<short run id>`, within RDS's 63
/// characters.
pub fn test_id(run_id: &str, original: &str) -> String {
    with_suffix(original, &format!("-pl-test-{}", short_run_id(run_id)))
}

fn sanitise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_end_matches('-').to_string()
}

/// A kept instance or cluster (deletion protection on) in the outputs and the report, with the
/// commands that delete it (a final snapshot first).
pub fn kept_db(kind: snapshots::Kind, resource: &str, (region, id): (&str, &str), why: String) -> Retained {
    let (noun, kind_word) = match kind {
        snapshots::Kind::Instance => ("db-instance", "rds_instance"),
        snapshots::Kind::Cluster => ("db-cluster", "aurora_cluster"),
    };
    Retained {
        resource: resource.to_string(),
        kind: kind_word.into(),
        id: id.to_string(),
        region: region.to_string(),
        why,
        delete_with: format!(
            "aws rds modify-{noun} --region {region} --{noun}-identifier {id} --no-deletion-protection \
             --apply-immediately && aws rds delete-{noun} --region {region} --{noun}-identifier {id} \
             --final-db-snapshot-identifier {id}-final"
        ),
    }
}

/// The tags on everything a failback makes or keeps.
pub fn tags(cx: &ActionCx<'_>, resource: &str, stage: &str) -> Vec<Tag> {
    let t = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    vec![t(TAG_RUN, cx.run_id), t(TAG_STEP, cx.step), t(TAG_RESOURCE, resource), t(TAG_STAGE, stage)]
}

/// The recorded user tags, as RDS takes them.
pub fn user_tag_list(recorded: &IndexMap<String, String>) -> Vec<Tag> {
    recorded.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// The tags a restored instance or cluster gets: the recorded user tags, then this run's.
pub fn restored_tags(cx: &ActionCx<'_>, resource: &str, recorded: &IndexMap<String, String>) -> Vec<Tag> {
    let mut all = user_tag_list(recorded);
    all.extend(tags(cx, resource, "restored"));
    all
}

/// Puts back the recorded user tags `now` lacks (a restore may drop some), noting it in
/// `changes`.
pub async fn reapply_tags(
    cx: &ActionCx<'_>,
    client: &aws_sdk_rds::Client,
    arn: &str,
    (id, region): (&str, &str),
    (want, now): (&IndexMap<String, String>, &IndexMap<String, String>),
    changes: &mut Vec<String>,
) -> Result<(), ActionError> {
    let missing: Vec<Tag> = want
        .iter()
        .filter(|(k, v)| now.get(*k) != Some(*v))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    changes.push(format!("tags: {}", missing.iter().filter_map(|t| t.key()).collect::<Vec<_>>().join(", ")));
    let req = client.add_tags_to_resource().resource_name(arn).set_tags(Some(missing));
    crate::aws::mutate(cx.log, crate::aws::at(id, region), req).await??;
    Ok(())
}

pub fn tag_map(tags: &[Tag]) -> IndexMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

/// True when the tags say this run made (or kept) the thing for this resource and stage.
pub fn is_ours(cx: &ActionCx<'_>, tags: &IndexMap<String, String>, resource: &str, stage: &str) -> bool {
    tags.get(TAG_RUN).map(String::as_str) == Some(cx.run_id)
        && tags.get(TAG_RESOURCE).map(String::as_str) == Some(resource)
        && tags.get(TAG_STAGE).map(String::as_str) == Some(stage)
}

/// Stops when a name this run means to use is held by something it did not make.
pub fn not_ours(what: &str, id: &str, region: &str) -> ActionError {
    ActionError::Failed(format!(
        "{what} {id} already exists in {region} without this run's pilotlight:run tag; it is not this run's \
         work, so nothing was changed. Rename or remove it, or check which run made it."
    ))
}

/// A describe's answer with "not found" as `None`.
pub fn or_none<T, E>(answer: Result<Option<T>, AwsFailure<E>>) -> Result<Option<T>, ActionError>
where
    E: std::error::Error + ProvideErrorMetadata + RawAnswer + 'static,
{
    match answer {
        Ok(found) => Ok(found),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn time(t: Option<&DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
}

/// Waits (as its own sub-step) until `status` answers one of `ready`; `failed` statuses stop
/// the wait with an error. `status` answers `None` when the thing is gone, which is ready only
/// when `ready` contains `"gone"`. Skipped in a dry run (nothing was started to wait for).
pub async fn wait_status<F, Fut>(
    cx: &ActionCx<'_>,
    name: &SubId,
    detail: Value,
    ready: &[&str],
    mut status: F,
) -> Result<(), ActionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Vec<(String, Option<String>)>, ActionError>>,
{
    if cx.dry_run {
        return Ok(());
    }
    const FAILED: &[&str] =
        &["failed", "incompatible-restore", "incompatible-parameters", "inaccessible-encryption-credentials"];
    cx.sub(name, detail, |_| async {
        cx.wait_for(name, cx.timeout, || {
            let fut = status();
            async move {
                let mut pending = Vec::new();
                for (what, now) in fut.await? {
                    let now = now.unwrap_or_else(|| "gone".to_string());
                    if FAILED.contains(&now.as_str()) {
                        return Err(ActionError::Failed(format!("{what} is {now}")));
                    }
                    if !ready.contains(&now.as_str()) {
                        pending.push(format!("{what} {now}"));
                    }
                }
                Ok(if pending.is_empty() { Poll::Ready(()) } else { Poll::Pending(pending.join(", ")) })
            }
        })
        .await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_what_rds_accepts() {
        assert_eq!(
            sanitise("pl-20261122T050210Z-a3f1-orders_db-primary-copy"),
            "pl-20261122t050210z-a3f1-orders-db-primary-copy"
        );
        assert_eq!(sanitise("a--b__c-"), "a-b-c");
        let run = "20261122T050210Z-failback-a3f1";
        assert_eq!(made_id(run, "orders_db", "recovery"), "pl-20261122t050210z-a3f1-orders-db-recovery");
        assert_eq!(kept_id(run, "orders-db"), "orders-db-pre-failback-a3f1");
        let long = "x".repeat(70);
        let kept = kept_id(run, &long);
        assert_eq!(kept.len(), 63);
        assert!(kept.ends_with("-pre-failback-a3f1"));
    }
}

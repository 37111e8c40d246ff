//! `pilotlight undo` for a DynamoDB table, after a failback that went through. The failed-back
//! table (recovery's data) is backed up first, as `<safety backup name>-failed-back`, kept; then
//! it is deleted (only with that backup AVAILABLE and recorded, deletion protection off first),
//! and primary's table is restored from the failback's safety backup under its name with its
//! configuration re-applied: the rollback's way back. Sub-steps `undo-safety-backup`,
//! `undo-wait-backup`, `undo-delete-primary`, `undo-wait-deleted`, `undo-rollback-*`.
//!
//! A table has no rename: what is put back is a restore of the backup, so its data is primary's
//! as the safety backup held it (primary took no writes during the failback: DNS pointed at
//! recovery) and its ARN, creation time and stream ARN are new.

use super::replace::Backup;
use super::{One, Plan};
use crate::actions::ActionCx;
use crate::actions::failback::Retained;
use crate::aws::ActionError;
use crate::journal::SubId;
use aws_sdk_dynamodb::Client;
use serde_json::{Value, json};

/// Undoes one table's failback; says so when this run imported nothing under its name.
pub(in crate::actions::failback) async fn undo(
    cx: &ActionCx<'_>,
    name: &str,
    primary: &Client,
) -> Result<Value, ActionError> {
    let plan: Option<Plan> = cx.result_of(&SubId::of(name, "read"))?;
    let safety: Option<Backup> = cx.result_of(&SubId::of(name, "safety-backup"))?;
    // By import: the new table exists once `import` is done. In place: primary's items change
    // from the moment `sync` starts (done, or cut off part-way).
    let imported = cx.recorded(&SubId::of(name, "import")).is_some_and(|s| s.is_done());
    // A sync a rollback already undid (reset) wrote nothing that is still there.
    let synced = cx.recorded(&SubId::of(name, "sync")).is_some_and(|s| s.is_done() || s.is_open());
    let (Some(p), Some(safety), true) = (plan, safety, imported || synced) else {
        return Ok(
            json!({ "undone": false, "why": "this run imported nothing under its name and wrote nothing into it" }),
        );
    };
    let one = One { cx, name, primary, recovery: primary, bucket: "", root: "", parts: "undo-" };
    let suffix = "-failed-back";
    let head: String = p.backup_name.chars().take(255 - suffix.len()).collect();
    let failed_back = Plan { backup_name: format!("{head}{suffix}"), ..p.clone() };
    let kept = one.safety_backup(&failed_back).await?;
    one.delete_primary(&failed_back, &kept).await?;
    one.restore_original(&p, &safety).await?;
    let (table, region) = (&p.primary.name, &p.primary_region);
    let retained = Retained {
        resource: name.to_string(),
        kind: "dynamodb_backup".into(),
        id: kept.arn.clone(),
        region: region.clone(),
        why: format!("backup of the failed-back table {table} (recovery's data), taken by undo before it was deleted"),
        delete_with: format!("aws dynamodb delete-backup --region {region} --backup-arn {}", kept.arn),
    };
    Ok(json!({
        "undone": true,
        "table": table,
        "restored_from": safety.arn,
        "put_back": [],
        "retained": [retained],
    }))
}

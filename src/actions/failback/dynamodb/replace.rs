//! The destructive half of `dynamodb.failback`: a safety backup of the primary table, then its
//! deletion, which is refused unless that backup is recorded and AVAILABLE.

use super::{One, Plan, reads};
use crate::actions::Poll;
use crate::aws::{ActionError, CallLog, at, mutate, read};
use crate::journal::SubId;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::DateTimeFormat;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The safety backup, as `safety-backup` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Backup {
    pub(super) arn: String,
    pub(super) name: String,
    pub(super) created: Option<String>,
}

/// A backup's status and the name of the table it was taken from.
async fn backup_state(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    arn: &str,
) -> Result<(String, Option<String>), ActionError> {
    let out = read(log, at(arn, region), client.describe_backup().backup_arn(arn)).await??;
    let d = out.backup_description();
    let status = d.and_then(|d| d.backup_details()).map(|b| b.backup_status().as_str().to_string());
    let source = d.and_then(|d| d.source_table_details()).map(|s| s.table_name().to_string());
    Ok((status.unwrap_or_else(|| "UNKNOWN".into()), source))
}

impl One<'_, '_> {
    /// Takes the safety backup of the primary table (or finds this run's, by name) and waits
    /// until it is AVAILABLE. It is kept: the outputs list it with the command that deletes it.
    pub(super) async fn safety_backup(&self, p: &Plan) -> Result<Backup, ActionError> {
        let cx = self.cx;
        let (table, region) = (p.primary.name.as_str(), p.primary_region.as_str());
        let name = self.sub_name("safety-backup");
        let detail = json!({ "table": table, "backup_name": p.backup_name });
        let backup: Backup = cx
            .sub(&name, detail, |resume| async move {
                if resume.resumed()
                    && let Some(b) = reads::find_backup(cx.log, self.primary, region, table, &p.backup_name).await?
                {
                    return Ok(Backup {
                        arn: b.backup_arn().unwrap_or_default().to_string(),
                        name: p.backup_name.clone(),
                        created: b.backup_creation_date_time().and_then(|t| t.fmt(DateTimeFormat::DateTime).ok()),
                    });
                }
                if cx.dry_run {
                    cx.log.note(format!("dry run: would back up primary table {table} as {}", p.backup_name))?;
                    return Ok(Backup { arn: "(dry run backup)".into(), name: p.backup_name.clone(), created: None });
                }
                let req = self.primary.create_backup().table_name(table).backup_name(&p.backup_name);
                let out = mutate(cx.log, at(table, region), req).await??;
                let d = out.backup_details().ok_or_else(|| {
                    ActionError::Failed(format!("CreateBackup of {table} answered no backup details"))
                })?;
                Ok(Backup {
                    arn: d.backup_arn().to_string(),
                    name: d.backup_name().to_string(),
                    created: d.backup_creation_date_time().fmt(DateTimeFormat::DateTime).ok(),
                })
            })
            .await?;
        if cx.dry_run {
            return Ok(backup);
        }
        let wait = self.sub_name("wait-backup");
        cx.sub(&wait, json!({ "backup": backup.arn }), |_| async {
            let quiet = cx.quiet();
            cx.wait_for(&wait, cx.timeout, || async {
                let (status, _) = backup_state(&quiet, self.primary, region, &backup.arn).await?;
                match status.as_str() {
                    "AVAILABLE" => Ok(Poll::Ready(())),
                    "DELETED" => {
                        cx.reset(&[&name, &wait])?;
                        Err(ActionError::Failed(format!(
                            "the safety backup {} of {table} was deleted before it became available; nothing was deleted, and a retry takes a new one",
                            backup.arn
                        )))
                    }
                    other => Ok(Poll::Pending(format!("safety backup of {table} {other}"))),
                }
            })
            .await
        })
        .await?;
        Ok(backup)
    }

    /// Deletes the primary table (deletion protection off first), and waits until it is gone.
    /// Refused unless the safety backup is recorded AVAILABLE in the journal and DynamoDB still
    /// says so, for a backup of this very table.
    pub(super) async fn delete_primary(&self, p: &Plan, backup: &Backup) -> Result<(), ActionError> {
        let cx = self.cx;
        let (table, region) = (p.primary.name.as_str(), p.primary_region.as_str());
        let backed_up = cx.recorded(&self.sub_name("wait-backup")).is_some_and(|s| s.is_done());
        if !cx.dry_run && !backed_up {
            return Err(ActionError::Failed(format!(
                "refusing to delete primary table {table}: its safety backup is not recorded as available"
            )));
        }
        let name = self.sub_name("delete-primary");
        cx.sub(&name, json!({ "table": table, "safety_backup": backup.arn }), |_| async {
            let Some(t) = reads::table(cx.log, self.primary, region, table).await? else {
                return cx.log.note(format!("{table} is already gone; safety backup {} holds its data", backup.arn));
            };
            if reads::status(&t) == "DELETING" {
                return Ok(());
            }
            let protected = t.deletion_protection_enabled().unwrap_or(false);
            if cx.dry_run {
                let first = if protected { "deletion protection off first, " } else { "" };
                return cx
                    .log
                    .note(format!("dry run: would delete primary table {table} ({first}after its safety backup)"));
            }
            let (status, source) = backup_state(cx.log, self.primary, region, &backup.arn).await?;
            if status != "AVAILABLE" || source.as_deref() != Some(table) {
                return Err(ActionError::Failed(format!(
                    "refusing to delete primary table {table}: safety backup {} is {status}, of table {}",
                    backup.arn,
                    source.as_deref().unwrap_or("unknown")
                )));
            }
            if protected {
                let req = self.primary.update_table().table_name(table).deletion_protection_enabled(false);
                mutate(cx.log, at(table, region), req).await??;
                self.wait_active(&name, table, region).await?;
            }
            match mutate(cx.log, at(table, region), self.primary.delete_table().table_name(table)).await? {
                Ok(_) => Ok(()),
                Err(f) if f.is_not_found() => Ok(()),
                Err(f) => Err(f.into()),
            }
        })
        .await?;
        if cx.dry_run {
            return Ok(());
        }
        let wait = self.sub_name("wait-deleted");
        cx.sub(&wait, json!({ "table": table }), |_| async {
            let quiet = cx.quiet();
            cx.wait_for(&wait, cx.timeout, || async {
                Ok(match reads::table(&quiet, self.primary, region, table).await? {
                    None => Poll::Ready(()),
                    Some(t) => Poll::Pending(format!("table {table} {}", reads::status(&t))),
                })
            })
            .await
        })
        .await
    }

    /// Waits (within sub-step `sub`) until the table is ACTIVE again after an UpdateTable:
    /// DynamoDB refuses the next change to a table that is still UPDATING.
    pub(super) async fn wait_active(&self, sub: &SubId, table: &str, region: &str) -> Result<(), ActionError> {
        let cx = self.cx;
        let quiet = cx.quiet();
        cx.wait_for(sub, cx.timeout, || async {
            let t = reads::existing_table(&quiet, self.primary, region, table).await?;
            let status = reads::status(&t);
            let indexes_busy =
                t.global_secondary_indexes().iter().any(|g| g.index_status().is_some_and(|s| s.as_str() != "ACTIVE"));
            Ok(if status == "ACTIVE" && !indexes_busy {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("table {table} {status}"))
            })
        })
        .await
    }
}

//! The way back when `dynamodb.failback` fails at or after its point of no return (turning
//! deletion protection off, deleting the primary table, importing): primary's table is put back
//! as it was. The original still there (the delete was refused) gets its configuration back; a
//! table this run's import left behind is deleted (its data is recovery's, kept in the export);
//! a missing table is restored from the safety backup under its name, and the recorded
//! configuration (stream, TTL, point-in-time recovery, table class, deletion protection, tags) is
//! re-applied to it.
//!
//! Sub-steps, each resumable like every other: `rollback-clear`, `rollback-wait-cleared`,
//! `rollback-restore` (with the recorded billing mode and capacity), `rollback-wait-restored`,
//! `rollback-billing` (read back; set when the restore did not take it), `rollback-reapply`. Before them the delete,
//! import and rollback sub-steps are marked undone, so a retry or resume deletes and imports
//! again. The safety backup is kept and used again: primary takes no traffic during a failback
//! (DNS points at recovery until the flip), so it still holds primary's data.

use super::replace::Backup;
use super::{One, Plan, reads};
use crate::actions::Poll;
use crate::aws::{ActionError, answer_tree, at, mutate};
use crate::journal::SubId;
use aws_sdk_dynamodb::types::{BillingMode, ProvisionedThroughput, TableDescription};
use serde_json::{Value, json};

/// What `rollback-clear` found under the table's name.
const ABSENT: &str = "absent";
const ORIGINAL: &str = "original";
const IMPORT_DELETED: &str = "import-deleted";

impl One<'_, '_> {
    /// True when `t` is the table `read` recorded (same id and creation time).
    fn is_original(p: &Plan, t: &TableDescription) -> bool {
        let now = answer_tree::tree(t);
        let same = |field: &str| p.describe.get(field).is_some_and(|v| !v.is_null() && now.get(field) == Some(v));
        same("creation_date_time") && (p.describe.get("table_id").is_none_or(Value::is_null) || same("table_id"))
    }

    /// Puts the primary table back as it was after `cause`; the error the step fails with.
    pub(super) async fn put_back(&self, p: &Plan, backup: &Backup, cause: ActionError) -> ActionError {
        let table = p.primary.name.clone();
        match self.roll_back(p, backup, &cause).await {
            Ok(()) => ActionError::Failed(format!(
                "the failback of table {table} failed ({cause}); primary's table was put back as it was (from the \
                 safety backup {} where it had been deleted, with its configuration re-applied), so nothing was lost; \
                 mend the cause and retry",
                backup.arn
            )),
            Err(e @ (ActionError::Unanswered { .. } | ActionError::Journal(_))) => e,
            Err(e) => ActionError::Failed(format!(
                "the failback of table {table} failed ({cause}), and putting it back failed too ({e}); its data is in \
                 the safety backup {}: restore it by hand (`aws dynamodb restore-table-from-backup --region {} \
                 --target-table-name {table} --backup-arn {}`)",
                backup.arn, p.primary_region, backup.arn
            )),
        }
    }

    async fn roll_back(&self, p: &Plan, backup: &Backup, cause: &ActionError) -> Result<(), ActionError> {
        let cx = self.cx;
        let table = p.primary.name.as_str();
        let undone = [
            "delete-primary",
            "wait-deleted",
            "import",
            "wait-import",
            "rollback-clear",
            "rollback-wait-cleared",
            "rollback-restore",
            "rollback-wait-restored",
            "rollback-billing",
            "rollback-reapply",
        ];
        let names: Vec<_> = undone.iter().map(|p| self.sub_name(p)).collect();
        // Marked undone first, the rollback's own too: a run killed anywhere in it rolls back
        // (or finds rolled back) on resume, and a second failure rolls back whole again.
        cx.reset(&names.iter().collect::<Vec<_>>())?;
        cx.log.note(format!("table {table}: the failback failed ({cause}); putting primary's table back"))?;
        self.restore_original(p, backup).await
    }

    /// Puts primary's table back under its name from the safety backup, with its configuration
    /// (the `rollback-*` sub-steps; `undo-rollback-*` for `pilotlight undo`).
    pub(super) async fn restore_original(&self, p: &Plan, backup: &Backup) -> Result<(), ActionError> {
        let cx = self.cx;
        let (table, region) = (p.primary.name.as_str(), p.primary_region.as_str());
        let imported = cx.recorded(&SubId::of(self.name, "import")).is_some();
        let found: String = cx
            .sub(&self.sub_name("rollback-clear"), json!({ "table": table }), |_| async {
                let Some(t) = reads::table(cx.log, self.primary, region, table).await? else {
                    return Ok(ABSENT.to_string());
                };
                if Self::is_original(p, &t) {
                    return Ok(ORIGINAL.to_string());
                }
                if !imported {
                    return Err(ActionError::Failed(format!(
                        "table {table} exists in {region} and is neither the original nor made by this run's import: \
                         left alone"
                    )));
                }
                // Made after the original was deleted, by this run's import: recovery's data,
                // which the export keeps.
                if reads::status(&t) != "DELETING" {
                    match mutate(cx.log, at(table, region), self.primary.delete_table().table_name(table)).await? {
                        Ok(_) => {}
                        Err(f) if f.is_not_found() => {}
                        Err(f) => return Err(f.into()),
                    }
                }
                Ok(IMPORT_DELETED.to_string())
            })
            .await?;
        let wait = self.sub_name("rollback-wait-cleared");
        cx.sub(&wait, json!({ "table": table, "found": found }), |_| async {
            if found != IMPORT_DELETED {
                return Ok(());
            }
            let quiet = cx.quiet();
            cx.wait_for(&wait, cx.timeout, || async {
                Ok(match reads::table(&quiet, self.primary, region, table).await? {
                    None => Poll::Ready(()),
                    Some(t) => Poll::Pending(format!("table {table} {}", reads::status(&t))),
                })
            })
            .await
        })
        .await?;
        let restore = self.sub_name("rollback-restore");
        cx.sub(&restore, json!({ "table": table, "backup": backup.arn }), |_| async {
            if found == ORIGINAL {
                return Ok(());
            }
            if let Some(t) = reads::table(cx.log, self.primary, region, table).await? {
                let ours = t.restore_summary().and_then(|r| r.source_backup_arn()) == Some(backup.arn.as_str());
                if ours {
                    return Ok(());
                }
                return Err(ActionError::Failed(format!(
                    "table {table} exists in {region} again, not restored from {}: left alone",
                    backup.arn
                )));
            }
            let req = self
                .primary
                .restore_table_from_backup()
                .target_table_name(table)
                .backup_arn(&backup.arn)
                .billing_mode_override(BillingMode::from(p.primary.billing_mode.as_str()))
                .set_provisioned_throughput_override(self.throughput(p)?);
            mutate(cx.log, at(table, region), req).await??;
            Ok(())
        })
        .await?;
        let wait = self.sub_name("rollback-wait-restored");
        cx.sub(&wait, json!({ "table": table }), |_| async {
            let quiet = cx.quiet();
            cx.wait_for(&wait, cx.timeout, || async {
                let Some(t) = reads::table(&quiet, self.primary, region, table).await? else {
                    return Ok(Poll::Pending(format!("table {table} not restored yet")));
                };
                let status = reads::status(&t);
                if status != "ACTIVE" {
                    return Ok(Poll::Pending(format!("table {table} {status}")));
                }
                if !reads::continuous_backups_ready(&quiet, self.primary, region, table).await? {
                    return Ok(Poll::Pending(format!("continuous backups of {table} not ready yet")));
                }
                Ok(Poll::Ready(()))
            })
            .await
        })
        .await?;
        // The billing mode read back, and set when the restore did not take it (moto does not).
        let billing = self.sub_name("rollback-billing");
        cx.sub(&billing, json!({ "table": table, "billing_mode": p.primary.billing_mode }), |_| async {
            let t = reads::existing_table(cx.log, self.primary, region, table).await?;
            let now = t.billing_mode_summary().and_then(|b| b.billing_mode()).map_or("PROVISIONED", |b| b.as_str());
            if now == p.primary.billing_mode {
                return Ok(());
            }
            let req = self
                .primary
                .update_table()
                .table_name(table)
                .billing_mode(BillingMode::from(p.primary.billing_mode.as_str()))
                .set_provisioned_throughput(self.throughput(p)?);
            mutate(cx.log, at(table, region), req).await??;
            self.wait_active(&billing, table, region).await
        })
        .await?;
        self.reapply_as(p, "rollback-reapply", false).await.map(|_| ())
    }

    /// The recorded provisioned capacity, for a provisioned table.
    fn throughput(&self, p: &Plan) -> Result<Option<ProvisionedThroughput>, ActionError> {
        let Some(c) = p.primary.provisioned.as_ref().filter(|_| p.primary.billing_mode == "PROVISIONED") else {
            return Ok(None);
        };
        c.throughput()
            .map(Some)
            .map_err(|e| ActionError::Failed(format!("{}: provisioned capacity: {e}", p.primary.name)))
    }
}

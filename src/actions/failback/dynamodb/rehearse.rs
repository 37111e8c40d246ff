//! The rehearsal of `dynamodb.failback` (`failback.rehearse`): the failback's own export of the
//! recovery table and import, into a temporary table `<table>-pl-test-<short run id>` with the
//! recorded keys, indexes, billing and encryption, its configuration re-applied (deletion
//! protection left off) and checked, then the table deleted. Primary's table is only read: no
//! safety backup, no delete. Whatever DynamoDB refuses in a failback (the export, the import's
//! parameters, an item it cannot import), it refuses here; each part's duration predicts the
//! failback's. The export is kept (the step's output says how to delete it): the tool has no S3
//! delete.
//!
//! Sub-steps: `read`, `export-recovery`, `wait-export`, `import`, `wait-import`,
//! `reapply-config` (on the temporary table), then `remove-rehearsal` and
//! `wait-rehearsal-removed`. When a part fails, the same removal runs and the sub-steps are
//! marked undone, so a retry rehearses again.

use super::{One, Plan, reads};
use crate::actions::Poll;
use crate::actions::failback::rehearsal_end::{settle, timed};
use crate::actions::failback::{Retained, TAG_RUN, short_run_id};
use crate::aws::{ActionError, at, mutate};
use serde_json::{Value, json};

const PARTS: &[(&str, &str, &str)] = &[
    ("export", "export-recovery", "wait-export"),
    ("import", "import", "wait-import"),
    ("configure", "reapply-config", "reapply-config"),
];

const AFTER_READ: &[&str] = &[
    "export-recovery",
    "wait-export",
    "import",
    "wait-import",
    "reapply-config",
    "remove-rehearsal",
    "wait-rehearsal-removed",
];

/// The temporary table: `<table>-pl-test-<short run id>`, within DynamoDB's 255 characters.
fn test_name(run_id: &str, table: &str) -> String {
    let suffix = format!("-pl-test-{}", short_run_id(run_id));
    format!("{}{suffix}", table.chars().take(255 - suffix.len()).collect::<String>())
}

/// Rehearses one table's failback.
pub(in crate::actions::failback) async fn rehearse(one: &One<'_, '_>) -> Result<Value, ActionError> {
    let cx = one.cx;
    let plan: Plan = cx.sub(&one.sub_name("read"), Value::Null, |_| one.read_plan(false)).await?;
    let mut test = plan.clone();
    test.primary.name = test_name(cx.run_id, &plan.primary.name);
    test.primary.settings.deletion_protection = false;
    let tried = async {
        let exported = one.export_recovery(&plan).await?;
        let imported = one.import(&test, &exported).await?;
        let reapplied = one.reapply(&test).await?;
        Ok::<_, ActionError>((exported, imported, reapplied))
    }
    .await;
    let what = format!("table {}", plan.primary.name);
    let (exported, imported, reapplied) =
        settle(cx, (one.name, &what), tried, || remove(one, &test), AFTER_READ).await?;
    let (durations, window) = timed(cx, (one.name, &what, &test.primary.name), PARTS)?;
    let export = format!("s3://{}/{}/", plan.bucket, plan.prefix);
    let kept = Retained {
        resource: one.name.to_string(),
        kind: "s3_prefix".into(),
        id: export.clone(),
        region: plan.primary_region.clone(),
        why: format!("the rehearsal's export of recovery table {}", plan.recovery_table),
        delete_with: format!("aws s3 rm --recursive {export}"),
    };
    Ok(json!({
        "table": plan.primary.name,
        "rehearsed_as": test.primary.name,
        "rehearsal_point": exported.recovery_point,
        "items": { "exported": exported.item_count, "imported": imported.imported_items },
        "reapplied": reapplied.changes,
        "remaining_differences": [],
        "durations_s": durations,
        "predicted_window_s": window,
        "retained": [kept],
    }))
}

/// Deletes the temporary table (its data is recovery's, kept in the export), only when this
/// run's import made it (tagged with the run, or the import sub-step of this run recorded).
async fn remove(one: &One<'_, '_>, test: &Plan) -> Result<(), ActionError> {
    let cx = one.cx;
    let (table, region) = (test.primary.name.as_str(), test.primary_region.as_str());
    cx.sub(&one.sub_name("remove-rehearsal"), json!({ "table": table }), |_| async {
        let Some(t) = reads::table(cx.log, one.primary, region, table).await? else { return Ok(()) };
        let tags = reads::settings(cx.log, one.primary, region, &t).await?.tags;
        let ours =
            tags.get(TAG_RUN).map(String::as_str) == Some(cx.run_id) || cx.recorded(&one.sub_name("import")).is_some();
        if !ours {
            return Err(ActionError::Failed(format!("table {table} in {region} is not this run's: left alone")));
        }
        if reads::status(&t) == "DELETING" {
            return Ok(());
        }
        match mutate(cx.log, at(table, region), one.primary.delete_table().table_name(table)).await? {
            Ok(_) => Ok(()),
            Err(f) if f.is_not_found() => Ok(()),
            Err(f) => Err(f.into()),
        }
    })
    .await?;
    let wait = one.sub_name("wait-rehearsal-removed");
    cx.sub(&wait, json!({ "table": table }), |_| async {
        if cx.dry_run {
            return Ok(());
        }
        let quiet = cx.quiet();
        cx.wait_for(&wait, cx.timeout, || async {
            Ok(match reads::table(&quiet, one.primary, region, table).await? {
                None => Poll::Ready(()),
                Some(t) => Poll::Pending(format!("table {table} {}", reads::status(&t))),
            })
        })
        .await
    })
    .await
}

//! Moving the data: export the recovery table to the staging bucket, and import it into a new
//! primary table under the original name, with the waits after each.

use super::{One, Plan, reads};
use crate::actions::Poll;
use crate::actions::failback::client_token;
use crate::aws::{ActionError, at, mutate, read};
use crate::journal::SubId;
use crate::journal::now_rfc3339;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::{
    ExportDescription, ExportFormat, ExportStatus, ExportType, ImportStatus, InputCompressionType, InputFormat,
    S3BucketSource,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// An export as `export-recovery` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Export {
    arn: String,
    /// Local clock when the export was first requested: the recovery point when the service
    /// reports no export time (moto reports none).
    requested_at: String,
}

/// A completed export, as `wait-export` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Exported {
    pub(super) arn: String,
    /// When the exported data was current: the recovery point (RPO) of this table.
    pub(super) recovery_point: String,
    pub(super) recovery_point_source: String,
    pub(super) item_count: Option<i64>,
    /// The key prefix of the export's data files, for the import.
    pub(super) data_prefix: String,
}

/// The import as `import` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Import {
    /// `None` only when a resumed import found its table but ListImports could not be asked.
    import_arn: Option<String>,
    table_arn: String,
}

/// A finished import, as `wait-import` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Imported {
    pub(super) import_arn: Option<String>,
    pub(super) table_arn: String,
    pub(super) imported_items: Option<i64>,
}

fn time(t: Option<&DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
}

/// Where an export's data files are. AWS names its manifest
/// (`PREFIX/AWSDynamoDB/<export id>/manifest-summary.json`) and its ARN ends in
/// `/export/<export id>`; moto gives neither (its ARN ends in `/import/<hex>`, unrelated to the
/// folder it writes), so the fallback is the prefix's `AWSDynamoDB/` folder, which holds only
/// this export because the prefix is unique to run, step and resource.
pub(super) fn data_prefix(prefix: &str, manifest: Option<&str>, arn: &str) -> String {
    if let Some((folder, _)) = manifest.and_then(|m| m.rsplit_once('/')) {
        return format!("{folder}/data/");
    }
    if let Some((_, id)) = arn.rsplit_once("/export/")
        && !id.is_empty()
        && !id.contains('/')
    {
        return format!("{prefix}/AWSDynamoDB/{id}/data/");
    }
    format!("{prefix}/AWSDynamoDB/")
}

fn exported(p: &Plan, e: &Export, d: &ExportDescription) -> Exported {
    let (recovery_point, recovery_point_source) = match (time(d.export_time()), time(d.start_time())) {
        (Some(t), _) => (t, "export time reported by DynamoDB"),
        (None, Some(t)) => (t, "export start time reported by DynamoDB"),
        (None, None) => (e.requested_at.clone(), "local clock when the export was requested (no export time reported)"),
    };
    Exported {
        arn: e.arn.clone(),
        recovery_point,
        recovery_point_source: recovery_point_source.into(),
        item_count: d.item_count(),
        data_prefix: data_prefix(&p.prefix, d.export_manifest(), &e.arn),
    }
}

impl One<'_, '_> {
    /// Exports the recovery table to the staging bucket (or finds this run's export) and waits
    /// for it. A failed export resets both sub-steps, so a retry exports again.
    pub(super) async fn export_recovery(&self, p: &Plan) -> Result<Exported, ActionError> {
        let cx = self.cx;
        let name = self.sub_name("export-recovery");
        let earlier = cx
            .recorded(&name)
            .filter(|s| s.is_open())
            .and_then(|s| s.detail["requested_at"].as_str().map(str::to_string));
        let requested_at = earlier.unwrap_or_else(now_rfc3339);
        let to = format!("s3://{}/{}", p.bucket, p.prefix);
        let detail = json!({ "table": p.recovery_table, "to": to, "requested_at": requested_at });
        let export: Export = cx
            .sub(&name, detail, |resume| async move {
                let region = p.recovery_region.as_str();
                if resume.resumed()
                    && let Some(d) =
                        reads::find_export(cx.log, self.recovery, region, &p.recovery_arn, &p.bucket, &p.prefix).await?
                {
                    return Ok(Export { arn: d.export_arn().unwrap_or_default().to_string(), requested_at });
                }
                if cx.dry_run {
                    cx.log.note(format!("dry run: would export recovery table {} ({region}) to {to}", p.recovery_table))?;
                    return Ok(Export { arn: "(dry run export)".into(), requested_at });
                }
                let req = self
                    .recovery
                    .export_table_to_point_in_time()
                    .table_arn(&p.recovery_arn)
                    .s3_bucket(&p.bucket)
                    .s3_prefix(&p.prefix)
                    .set_s3_bucket_owner(p.bucket_owner.clone())
                    .export_format(ExportFormat::DynamodbJson)
                    .export_type(ExportType::FullExport)
                    .client_token(client_token(cx, self.name, "export"));
                let out = match mutate(cx.log, at(&p.recovery_table, region), req).await? {
                    Ok(out) => out,
                    Err(f) if f.code() == Some("PointInTimeRecoveryUnavailableException") => {
                        return Err(ActionError::Failed(format!(
                            "the recovery table {} ({region}) cannot be exported: point-in-time recovery is off ({}). Turn it on and retry; the primary table was not touched.",
                            p.recovery_table,
                            f.text()
                        )));
                    }
                    Err(f) => return Err(f.into()),
                };
                let arn = out.export_description().and_then(|d| d.export_arn()).ok_or_else(|| {
                    ActionError::Failed(format!("ExportTableToPointInTime of {} answered no export ARN", p.recovery_table))
                })?;
                Ok(Export { arn: arn.to_string(), requested_at })
            })
            .await?;
        if cx.dry_run {
            return Ok(Exported {
                arn: export.arn,
                recovery_point: export.requested_at,
                recovery_point_source: "dry run".into(),
                item_count: None,
                data_prefix: format!("{}/AWSDynamoDB/<export id>/data/", p.prefix),
            });
        }
        let wait = self.sub_name("wait-export");
        let resets = [&name, &wait];
        cx.sub(&wait, json!({ "export": export.arn }), |_| async {
            let quiet = cx.quiet();
            cx.wait_for(&wait, cx.timeout, || async {
                let req = self.recovery.describe_export().export_arn(&export.arn);
                let out = read(&quiet, at(&export.arn, &p.recovery_region), req).await??;
                let d = out.export_description().ok_or_else(|| {
                    ActionError::Failed(format!("DescribeExport of {} answered no description", export.arn))
                })?;
                match d.export_status() {
                    Some(ExportStatus::Completed) => Ok(Poll::Ready(exported(p, &export, d))),
                    Some(ExportStatus::Failed) => {
                        cx.reset(&resets)?;
                        Err(ActionError::Failed(format!(
                            "the export of recovery table {} failed ({}: {}); nothing in primary was touched, and a retry exports again",
                            p.recovery_table,
                            d.failure_code().unwrap_or("no code"),
                            d.failure_message().unwrap_or("no reason given")
                        )))
                    }
                    other => Ok(Poll::Pending(format!(
                        "export of {} {}",
                        p.recovery_table,
                        other.map(|s| s.as_str()).unwrap_or("starting")
                    ))),
                }
            })
            .await
        })
        .await
    }

    /// Imports the export into a new table under the primary table's name, with the recorded
    /// keys, indexes, billing and encryption, and waits until every exported item is in it.
    pub(super) async fn import(&self, p: &Plan, e: &Exported) -> Result<Imported, ActionError> {
        let cx = self.cx;
        let (table, region) = (p.primary.name.as_str(), p.primary_region.as_str());
        let name = self.sub_name("import");
        let source = format!("s3://{}/{}", p.bucket, e.data_prefix);
        let detail = json!({ "table": table, "from": source });
        let token = client_token(cx, self.name, &token_part(cx.recorded(&name).map_or(0, |s| s.resets)));
        let started: Import = cx
            .sub(&name, detail, |resume| async move {
                if cx.dry_run {
                    let indexes: Vec<&str> = p.primary.global_indexes.iter().map(|g| g.name.as_str()).collect();
                    cx.log.note(format!(
                        "dry run: would import {source} (DynamoDB JSON, gzip) into a new table {table} in {region} with its recorded keys, billing {} and global indexes [{}]",
                        p.primary.billing_mode,
                        indexes.join(", ")
                    ))?;
                    return Ok(Import { import_arn: None, table_arn: p.primary.arn.clone() });
                }
                // A table under this name now is either this run's import (an interrupted
                // request, or one still running) or something to look at before importing.
                if let Some(t) = reads::table(cx.log, self.primary, region, table).await? {
                    let table_arn = t.table_arn().unwrap_or(&p.primary.arn).to_string();
                    let prefix = e.data_prefix.as_str();
                    return match reads::find_import(cx.log, self.primary, region, &table_arn, &p.bucket, prefix).await? {
                        reads::ImportSearch::Found(arn) => Ok(Import { import_arn: Some(arn), table_arn }),
                        reads::ImportSearch::Unlisted(why) if resume.resumed() => {
                            cx.log.note(format!(
                                "{table}: ListImports could not be asked ({why}); the table appeared after this run's interrupted import request, so it is taken as that import's table"
                            ))?;
                            Ok(Import { import_arn: None, table_arn })
                        }
                        _ => Err(ActionError::Failed(format!(
                            "table {table} exists in {region} again, but no live import from {source} made it (left by a failed import, or re-created by something else after the primary table was deleted). Nothing was imported; look at that table, delete it, then retry (the old primary data is in this run's safety backup)."
                        ))),
                    };
                }
                let bucket_source = S3BucketSource::builder()
                    .s3_bucket(&p.bucket)
                    .s3_key_prefix(&e.data_prefix)
                    .build()
                    .map_err(|err| ActionError::Failed(format!("import source for {table}: {err}")))?;
                let req = self
                    .primary
                    .import_table()
                    .s3_bucket_source(bucket_source)
                    .input_format(InputFormat::DynamodbJson)
                    .input_compression_type(InputCompressionType::Gzip)
                    .table_creation_parameters(p.primary.creation_parameters()?)
                    .client_token(token);
                let out = mutate(cx.log, at(table, region), req).await??;
                let d = out.import_table_description();
                Ok(Import {
                    import_arn: d.and_then(|d| d.import_arn()).map(str::to_string),
                    table_arn: d.and_then(|d| d.table_arn()).unwrap_or(&p.primary.arn).to_string(),
                })
            })
            .await?;
        if cx.dry_run {
            return Ok(Imported { import_arn: None, table_arn: started.table_arn, imported_items: None });
        }
        let imported = self.wait_import(p, e, &name, started).await?;
        if let (Some(exported), Some(got)) = (e.item_count, imported.imported_items)
            && got < exported
        {
            return Err(ActionError::Failed(format!(
                "the import into {table} brought {got} of the {exported} items exported from recovery; the export is kept at s3://{}/{} and the old primary data in the safety backup",
                p.bucket, e.data_prefix
            )));
        }
        Ok(imported)
    }

    /// Waits for the import to complete, the table to be ACTIVE and its continuous backups to
    /// be ready (so point-in-time recovery can be turned on). A failed import resets `import`
    /// and this wait, so a retry imports again.
    async fn wait_import(
        &self,
        p: &Plan,
        e: &Exported,
        import: &SubId,
        started: Import,
    ) -> Result<Imported, ActionError> {
        let cx = self.cx;
        let (table, region) = (p.primary.name.as_str(), p.primary_region.as_str());
        let wait = self.sub_name("wait-import");
        let resets = [import, &wait];
        let started = &started;
        cx.sub(&wait, json!({ "import": started.import_arn, "table": table }), |_| async {
            let quiet = cx.quiet();
            cx.wait_for(&wait, cx.timeout, || async {
                let mut imported = None;
                if let Some(arn) = &started.import_arn {
                    let out = read(&quiet, at(arn, region), self.primary.describe_import().import_arn(arn))
                        .await??;
                    let d = out.import_table_description().ok_or_else(|| {
                        ActionError::Failed(format!("DescribeImport of {arn} answered no description"))
                    })?;
                    match d.import_status() {
                        Some(ImportStatus::Completed) if d.error_count() > 0 => {
                            return Err(ActionError::Failed(format!(
                                "the import into {table} completed with {} items that could not be imported (see its CloudWatch log {}); the old primary data is in the safety backup",
                                d.error_count(),
                                d.cloud_watch_log_group_arn().unwrap_or("not named")
                            )));
                        }
                        Some(ImportStatus::Completed) => imported = Some(d.imported_item_count()),
                        Some(s @ (ImportStatus::Failed | ImportStatus::Cancelled | ImportStatus::Cancelling)) => {
                            cx.reset(&resets)?;
                            return Err(ActionError::Failed(format!(
                                "the import into {table} is {} ({}: {}); the old primary data is in the safety backup and the recovery data at s3://{}/{}; a retry imports again",
                                s.as_str(),
                                d.failure_code().unwrap_or("no code"),
                                d.failure_message().unwrap_or("no reason given"),
                                p.bucket,
                                e.data_prefix
                            )));
                        }
                        other => {
                            return Ok(Poll::Pending(format!(
                                "import into {table} {} ({} items so far)",
                                other.map(|s| s.as_str()).unwrap_or("starting"),
                                d.processed_item_count()
                            )));
                        }
                    }
                }
                let Some(t) = reads::table(&quiet, self.primary, region, table).await? else {
                    return Ok(Poll::Pending(format!("table {table} not created yet")));
                };
                let status = reads::status(&t);
                if status != "ACTIVE" {
                    return Ok(Poll::Pending(format!("table {table} {status}")));
                }
                if imported.is_none() {
                    // No import to ask (see `Import::import_arn`): the table's own count, which
                    // moto keeps exact, has to reach what was exported.
                    let count = t.item_count().unwrap_or(0);
                    if e.item_count.is_some_and(|want| count < want) {
                        return Ok(Poll::Pending(format!("table {table} holds {count} items so far")));
                    }
                    imported = Some(count);
                }
                if !reads::continuous_backups_ready(&quiet, self.primary, region, table).await? {
                    return Ok(Poll::Pending(format!("continuous backups of {table} not ready yet")));
                }
                Ok(Poll::Ready(Imported {
                    import_arn: started.import_arn.clone(),
                    table_arn: started.table_arn.clone(),
                    imported_items: imported,
                }))
            })
            .await
        })
        .await
    }
}

/// The import's client token part: `import`, then `import-N` after the N-th rollback undid it.
/// DynamoDB answers a repeated token (within eight hours, same parameters) with the import it
/// already made, whose table the rollback deleted; a retry after a rollback must import again.
fn token_part(resets: u32) -> String {
    if resets == 0 { "import".into() } else { format!("import-{resets}") }
}

#[cfg(test)]
mod tests {
    use super::data_prefix;

    #[test]
    fn the_data_folder_comes_from_the_manifest_then_the_arn_then_the_prefix() {
        let prefix = "pilotlight/run/step/sessions";
        assert_eq!(
            data_prefix(prefix, Some("pilotlight/run/step/sessions/AWSDynamoDB/0169-ab/manifest-summary.json"), "x"),
            "pilotlight/run/step/sessions/AWSDynamoDB/0169-ab/data/"
        );
        assert_eq!(
            data_prefix(prefix, None, "arn:aws:dynamodb:us-west-2:1:table/sessions/export/0169-ab"),
            "pilotlight/run/step/sessions/AWSDynamoDB/0169-ab/data/"
        );
        // moto: an ARN that names no export id.
        let moto = "arn:aws:dynamodb:us-west-2:1:table/arn:aws:dynamodb:us-west-2:1:table/sessions/import/74a6";
        assert_eq!(data_prefix(prefix, None, moto), "pilotlight/run/step/sessions/AWSDynamoDB/");
    }
}

//! The DynamoDB reads the failback makes: a table (or its absence), its settings, and what this
//! run already made, found again by deterministic S3 prefix or backup name (moto ignores client
//! tokens on exports, and AWS keeps them for eight hours only).

use super::config::{STANDARD, Settings};
use crate::aws::{ActionError, CallLog, at, read};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    BackupSummary, BackupTypeFilter, ExportDescription, ExportStatus, PointInTimeRecoveryStatus, TableDescription,
    TimeToLiveStatus,
};
use std::collections::BTreeMap;

/// The table, or `None` when it does not exist.
pub(super) async fn table(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    name: &str,
) -> Result<Option<TableDescription>, ActionError> {
    match read(log, at(name, region), client.describe_table().table_name(name)).await? {
        Ok(out) => Ok(out.table().cloned()),
        Err(f) if f.is_not_found() => Ok(None),
        Err(f) => Err(f.into()),
    }
}

/// The table, which must exist.
pub(super) async fn existing_table(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    name: &str,
) -> Result<TableDescription, ActionError> {
    table(log, client, region, name)
        .await?
        .ok_or_else(|| ActionError::Failed(format!("DynamoDB table {name} does not exist in {region}")))
}

pub(super) fn status(t: &TableDescription) -> String {
    t.table_status().map(|s| s.as_str().to_string()).unwrap_or_else(|| "UNKNOWN".into())
}

/// Whether point-in-time recovery is on for the table.
pub(super) async fn pitr_on(log: &dyn CallLog, client: &Client, region: &str, name: &str) -> Result<bool, ActionError> {
    Ok(pitr(log, client, region, name).await?.0)
}

/// Whether point-in-time recovery is on, and the latest time it can restore the table to (Unix
/// seconds; `None` when it is off): one read for both.
pub(super) async fn pitr(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    name: &str,
) -> Result<(bool, Option<i64>), ActionError> {
    let req = client.describe_continuous_backups().table_name(name);
    let out = read(log, at(name, region), req).await??;
    let on = out
        .continuous_backups_description()
        .and_then(|c| c.point_in_time_recovery_description())
        .filter(|p| p.point_in_time_recovery_status() == Some(&PointInTimeRecoveryStatus::Enabled));
    Ok((on.is_some(), on.and_then(|p| p.latest_restorable_date_time()).map(|t| t.secs())))
}

/// Whether a new table's continuous backups are ready, so point-in-time recovery can be turned
/// on (AWS answers ContinuousBackupsUnavailableException until then).
pub(super) async fn continuous_backups_ready(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    name: &str,
) -> Result<bool, ActionError> {
    let req = client.describe_continuous_backups().table_name(name);
    let out = read(log, at(name, region), req).await??;
    Ok(out.continuous_backups_description().is_some_and(|c| c.continuous_backups_status().as_str() == "ENABLED"))
}

/// The settings an import drops, as the table has them now.
pub(super) async fn settings(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    t: &TableDescription,
) -> Result<Settings, ActionError> {
    let name = t.table_name().unwrap_or_default();
    let arn = t.table_arn().unwrap_or_default();
    // The three reads at once: none waits for another's answer.
    let ttl = async {
        let out = read(log, at(name, region), client.describe_time_to_live().table_name(name)).await??;
        Ok::<_, ActionError>(out)
    };
    let tags = async {
        let mut tags = BTreeMap::new();
        let mut next: Option<String> = None;
        loop {
            let req = client.list_tags_of_resource().resource_arn(arn).set_next_token(next.take());
            let out = read(log, at(name, region), req).await??;
            tags.extend(out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())));
            match out.next_token() {
                Some(n) if !n.is_empty() => next = Some(n.to_string()),
                _ => return Ok::<_, ActionError>(tags),
            }
        }
    };
    let (ttl, tags, pitr) = futures_util::future::join3(ttl, tags, pitr_on(log, client, region, name)).await;
    let ttl_attribute = ttl?
        .time_to_live_description()
        .filter(|d| {
            d.time_to_live_status().is_some_and(|s| matches!(s, TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling))
        })
        .and_then(|d| d.attribute_name())
        .map(str::to_string);
    let (tags, point_in_time_recovery) = (tags?, pitr?);
    Ok(Settings { ttl_attribute, point_in_time_recovery, tags, ..described(t) })
}

/// The settings a table's own describe says (stream, deletion protection, table class), and none
/// of the three it does not (TTL, point-in-time recovery, tags): what a table fresh from
/// ImportTable has, whose `TableCreationParameters` take none of those three and whose new table
/// starts without them.
pub(super) fn described(t: &TableDescription) -> Settings {
    Settings {
        stream: t
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .map(|s| s.stream_view_type().map(|v| v.as_str().to_string()).unwrap_or_default()),
        ttl_attribute: None,
        point_in_time_recovery: false,
        deletion_protection: t.deletion_protection_enabled().unwrap_or(false),
        table_class: t
            .table_class_summary()
            .and_then(|c| c.table_class())
            .map(|c| c.as_str().to_string())
            .unwrap_or_else(|| STANDARD.into()),
        tags: Default::default(),
    }
}

/// A live export of `table_arn` into exactly `bucket`/`prefix` (failed ones are skipped: a
/// retry exports again).
pub(super) async fn find_export(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    table_arn: &str,
    bucket: &str,
    prefix: &str,
) -> Result<Option<ExportDescription>, ActionError> {
    let mut next: Option<String> = None;
    loop {
        let req = client.list_exports().table_arn(table_arn).set_next_token(next.take());
        let out = read(log, at(table_arn, region), req).await??;
        for summary in out.export_summaries() {
            if summary.export_status().is_some_and(|s| *s == ExportStatus::Failed) {
                continue;
            }
            let Some(arn) = summary.export_arn() else { continue };
            let described = read(log, at(arn, region), client.describe_export().export_arn(arn)).await??;
            if let Some(d) = described.export_description()
                && d.s3_bucket() == Some(bucket)
                && d.s3_prefix().map(|p| p.trim_end_matches('/')) == Some(prefix)
            {
                return Ok(Some(d.clone()));
            }
        }
        match out.next_token() {
            Some(n) if !n.is_empty() => next = Some(n.to_string()),
            _ => return Ok(None),
        }
    }
}

/// A user backup of `table` by its deterministic name (this run's safety backup, or the final
/// recovery point when concluding), through every page of ListBackups.
pub(in crate::actions::failback) async fn find_backup(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    table: &str,
    name: &str,
) -> Result<Option<BackupSummary>, ActionError> {
    let mut start: Option<String> = None;
    loop {
        let req = client
            .list_backups()
            .table_name(table)
            .backup_type(BackupTypeFilter::User)
            .set_exclusive_start_backup_arn(start.take());
        let out = read(log, at(table, region), req).await??;
        if let Some(b) = out
            .backup_summaries()
            .iter()
            .find(|b| b.backup_name() == Some(name) && b.backup_status().is_none_or(|s| s.as_str() != "DELETED"))
        {
            return Ok(Some(b.clone()));
        }
        match out.last_evaluated_backup_arn() {
            Some(n) if !n.is_empty() => start = Some(n.to_string()),
            _ => return Ok(None),
        }
    }
}

/// What ListImports says about an import of `bucket`/`prefix` into the table.
pub(super) enum ImportSearch {
    Found(String),
    None,
    /// ListImports itself failed with a server error and no service error code (moto answers
    /// HTTP 500: it does not implement the operation). The text says what happened.
    Unlisted(String),
}

pub(super) async fn find_import(
    log: &dyn CallLog,
    client: &Client,
    region: &str,
    table_arn: &str,
    bucket: &str,
    prefix: &str,
) -> Result<ImportSearch, ActionError> {
    let mut next: Option<String> = None;
    loop {
        let req = client.list_imports().table_arn(table_arn).set_next_token(next.take());
        let out = match read(log, at(table_arn, region), req).await? {
            Ok(out) => out,
            Err(f) if f.code().is_none() => {
                let status = f.error.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
                if status < 500 {
                    return Err(f.into());
                }
                return Ok(ImportSearch::Unlisted(format!("HTTP {status} without an error code")));
            }
            Err(f) => return Err(f.into()),
        };
        let ours = out.import_summary_list().iter().find(|i| {
            i.import_status().is_none_or(|s| !matches!(s.as_str(), "FAILED" | "CANCELLED"))
                && i.s3_bucket_source().is_some_and(|s| s.s3_bucket() == bucket && s.s3_key_prefix() == Some(prefix))
        });
        if let Some(arn) = ours.and_then(|i| i.import_arn()) {
            return Ok(ImportSearch::Found(arn.to_string()));
        }
        match out.next_token() {
            Some(n) if !n.is_empty() => next = Some(n.to_string()),
            _ => return Ok(ImportSearch::None),
        }
    }
}

//! `dynamodb.failback`: bring a table's data home from recovery by export to S3 and import, or
//! (`method: in-place`, [`in_place`]) by writing the difference into the primary table.
//!
//! By import, per resource, as sub-steps (each journaled; an interrupted one first finds what it may
//! already have made, by deterministic S3 prefix, backup name or ListImports):
//! `read` (the primary table's configuration, recorded once: after the delete nothing else
//! says what it was; LSIs and global tables are refused here, before anything changes; the
//! recovery table must have point-in-time recovery), `export-recovery` (to
//! `s3://BUCKET/PREFIX/<run>/<step>/<resource>`), `wait-export` (its time is the recovery
//! point), `safety-backup` of the primary table, `wait-backup` (AVAILABLE), `delete-primary`
//! (deletion protection off first; only with the backup AVAILABLE and recorded),
//! `wait-deleted`, `import` (a new table under the original name from the export, with the
//! recorded keys, indexes, billing and encryption), `wait-import` (import COMPLETED, table
//! ACTIVE, every exported item imported), `reapply-config` (stream, TTL, point-in-time
//! recovery, table class, deletion protection, tags, each read first and set only when
//! different, then read back and compared), `compare-config` (the new table's whole Describe
//! against the old one's: every difference with why). The safety backup and the export are
//! retained.

mod config;
mod copy;
mod in_place;
mod items;
pub mod preflight;
mod put_back;
pub(super) mod reads;
mod reapply;
pub(super) mod rehearse;
mod replace;
pub(super) mod undo;

use super::whole_diff::{self, Rules};
use super::{Retained, each_resource, resource_names};
use crate::actions::{Action, ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::{ActionError, answer_tree};
use crate::journal::SubId;
use crate::runbook::ResourceType;
use crate::runbook::yaml_tree::Seg;
use aws_sdk_dynamodb::Client;
use config::TableConfig;
use copy::{Exported, Imported};
pub use in_place::IN_PLACE_RULES;
use reapply::Reapplied;
use replace::Backup;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// The most scan segments a step may ask for: they all run at once (per table). Scan itself takes
/// up to 1,000,000 (`TotalSegments`, API reference).
const MAX_SCAN_SEGMENTS: i32 = 64;

/// Where exports go under the staging bucket when the step names no prefix.
pub(super) const DEFAULT_PREFIX: &str = "pilotlight";

/// Parameters of `dynamodb.failback`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DynamodbFailback {
    /// A declared `dynamodb_table` resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Several `dynamodb_table` resources, failed back concurrently.
    #[serde(default)]
    pub resources: Vec<String>,
    /// How the data comes home: `import` (default: export to S3, safety backup, delete, import
    /// under the same name; a new table, stream and ARN) or `in-place` (safety backup, then the
    /// difference written into the primary table where it stands: the same table, stream and
    /// ARN; both tables are scanned in full).
    #[serde(default)]
    pub method: Method,
    /// S3 bucket in the primary account and region that the recovery table is exported to and
    /// the primary table imported from (`method: import`). In another account than recovery,
    /// its bucket policy must let the recovery account write.
    #[serde(default)]
    pub staging_bucket: Option<String>,
    /// Key prefix in the bucket (default `pilotlight`); each export goes under
    /// `PREFIX/<run id>/<step>/<resource>`.
    #[serde(default)]
    pub staging_prefix: Option<String>,
    /// At most this many tables at once (default: `--max-parallel`, the runbook's `max_parallel`, else 4).
    #[serde(default)]
    pub max_parallel: Option<usize>,
    /// `method: in-place`: parallel scan segments per table (default: one per 2 GiB of the
    /// recovery table, at most 16).
    #[serde(default)]
    pub scan_segments: Option<i32>,
}

/// How `dynamodb.failback` brings a table's data home.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "DynamodbFailbackMethod")]
pub enum Method {
    /// Export to S3, safety backup, delete, import under the same name.
    #[default]
    Import,
    /// Safety backup, then the difference written into the primary table.
    InPlace,
}

/// What `read` records before anything changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Plan {
    primary_region: String,
    /// The primary table as it was: what the import and `reapply-config` rebuild.
    primary: TableConfig,
    recovery_region: String,
    recovery_table: String,
    recovery_arn: String,
    /// Approximate item count of the recovery table when read.
    recovery_items: Option<i64>,
    /// Approximate size of the recovery table when read (DynamoDB refreshes it about every six
    /// hours): what the in-place sync's scan segments are counted from.
    #[serde(default)]
    recovery_bytes: Option<i64>,
    bucket: String,
    /// The export's S3 prefix, unique to run, step and resource.
    prefix: String,
    /// Set when recovery is another account: the bucket's owner, for the export.
    bucket_owner: Option<String>,
    /// The safety backup's name, unique to run, step and resource.
    backup_name: String,
    /// Primary table's whole Describe ([`crate::aws::answer_tree`]), compared with the new
    /// table's at the end. Null in a run journaled by a version that did not record it.
    #[serde(default)]
    describe: Value,
}

impl Action for DynamodbFailback {
    const NAME: &'static str = "dynamodb.failback";
    const DISRUPTS: bool = true;
    const ACTS_IN: crate::actions::ActsIn = crate::actions::ActsIn::RecoveryToPrimary;
    const SUMMARY: &'static str = "replace a primary table with the recovery table's data (export to S3, safety backup, delete, import under the same name) and re-apply its stream, TTL, PITR, deletion protection and tags";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["resources", "retained"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        let mut problems = resource_names(cx, &self.resource, &self.resources, &[ResourceType::DynamodbTable]).1;
        let bucket = self.staging_bucket.as_deref().unwrap_or_default().trim();
        if self.method == Method::Import && (bucket.is_empty() || bucket.contains('/') || bucket.contains(':')) {
            let message = if self.staging_bucket.is_none() {
                "`staging_bucket` is needed: an import goes through S3 (or give `method: in-place`)".to_string()
            } else {
                format!("`staging_bucket` is a bucket name (like `my-staging-bucket`), not `{bucket}`")
            };
            problems.push((vec![Seg::Key("staging_bucket".into())], message));
        }
        if self.scan_segments.is_some_and(|n| !(1..=MAX_SCAN_SEGMENTS).contains(&n)) {
            problems.push((
                vec![Seg::Key("scan_segments".into())],
                format!("`scan_segments` is from 1 to {MAX_SCAN_SEGMENTS}"),
            ));
        }
        if self.scan_segments.is_some() && self.method == Method::Import {
            problems.push((vec![Seg::Key("scan_segments".into())], "`scan_segments` is for `method: in-place`".into()));
        }
        if self.staging_prefix.as_deref().is_some_and(|p| p.trim_matches('/').is_empty()) {
            problems.push((vec![Seg::Key("staging_prefix".into())], "`staging_prefix` is empty".into()));
        }
        problems
    }

    fn trade_offs(&self) -> Vec<String> {
        match self.method {
            Method::Import => vec![
                "by import: a new table under the same name, with a new ARN and stream (point stream consumers at it); the export and import take time with the table's size".into(),
            ],
            Method::InPlace => vec![
                "in place: the same table, ARN and stream; only the difference is written, after a safety backup".into(),
                "in place: both tables are read in full (strongly consistent scans, read units on both sides), and primary once more to verify; the time grows with the table's size and read throughput".into(),
            ],
        }
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let names: Vec<String> = self.resource.iter().chain(self.resources.iter()).cloned().collect();
        let primary = Client::new(&cx.envs.config("primary", cx.log).await?);
        let recovery = Client::new(&cx.envs.config("recovery", cx.log).await?);
        let limit = self.max_parallel.unwrap_or(cx.max_parallel);
        let root = self.staging_prefix.as_deref().map(|p| p.trim_matches('/')).unwrap_or(DEFAULT_PREFIX);
        let bucket = self.staging_bucket.as_deref().unwrap_or_default().trim();
        each_resource(&names, limit, |name| {
            let (primary, recovery) = (&primary, &recovery);
            async move {
                let one = One { cx, name: &name, primary, recovery, bucket, root, parts: "" };
                match self.method {
                    Method::Import => one.run().await,
                    Method::InPlace => {
                        let plan: Plan = cx.sub(&one.sub_name("read"), Value::Null, |_| one.read_plan(true)).await?;
                        one.in_place(&plan, self.scan_segments).await
                    }
                }
            }
        })
        .await
    }
}

/// One table's failback (or its rehearsal, [`rehearse`]).
pub(in crate::actions::failback) struct One<'a, 'c> {
    pub cx: &'a ActionCx<'c>,
    pub name: &'a str,
    pub primary: &'a Client,
    pub recovery: &'a Client,
    pub bucket: &'a str,
    /// The staging prefix the step gives (or the default).
    pub root: &'a str,
    /// Put before every sub-step name (`undo-`), so the same code journals under other names.
    pub parts: &'static str,
}

impl One<'_, '_> {
    fn sub_name(&self, part: &str) -> SubId {
        SubId::of(self.name, format!("{}{part}", self.parts))
    }

    async fn run(&self) -> Result<Value, ActionError> {
        let plan: Plan = self.cx.sub(&self.sub_name("read"), Value::Null, |_| self.read_plan(false)).await?;
        let exported = self.export_recovery(&plan).await?;
        let backup = self.safety_backup(&plan).await?;
        // From here primary's table is changed: a failure puts it back (`put_back`).
        let imported = match self.delete_primary(&plan, &backup).await {
            Ok(()) => self.import(&plan, &exported).await,
            Err(e) => Err(e),
        };
        let imported = match imported {
            Ok(imported) => imported,
            // The call may have landed, or the journal cannot be written: the next attempt
            // looks first.
            Err(e @ (ActionError::Unanswered { .. } | ActionError::Journal(_))) => return Err(e),
            Err(e) if self.cx.dry_run => return Err(e),
            Err(e) => return Err(self.put_back(&plan, &backup, e).await),
        };
        let reapplied = self.reapply(&plan).await?;
        let remaining = self.compare(&plan, &RULES).await?;
        Ok(self.outputs(&plan, &exported, &backup, &imported, (&reapplied, &remaining)))
    }

    /// Reads both tables and records the primary's configuration. Refuses, before anything
    /// changes, what export and import cannot carry: local indexes, global tables, and a
    /// recovery table without point-in-time recovery (an export needs it). `in_place` (nothing
    /// is exported or re-created) refuses global tables only, and tables whose keys differ.
    async fn read_plan(&self, in_place: bool) -> Result<Plan, ActionError> {
        let cx = self.cx;
        let res = cx
            .runbook
            .resources
            .get(self.name)
            .ok_or_else(|| ActionError::Failed(format!("no resource {}", self.name)))?;
        let (p_name, r_name) = (res.primary.clone().unwrap_or_default(), res.recovery.clone().unwrap_or_default());
        let p_region = cx.envs.region("primary")?.to_string();
        let r_region = cx.envs.region("recovery")?.to_string();
        // Both sides at once, then primary's settings beside recovery's point-in-time recovery.
        let (rec, pri) = futures_util::future::join(
            reads::existing_table(cx.log, self.recovery, &r_region, &r_name),
            reads::existing_table(cx.log, self.primary, &p_region, &p_name),
        )
        .await;
        let (rec, pri) = (rec?, pri?);
        let (settings, recovery_pitr) = futures_util::future::join(
            reads::settings(cx.log, self.primary, &p_region, &pri),
            reads::pitr_on(cx.log, self.recovery, &r_region, &r_name),
        )
        .await;
        let settings = settings?;
        let primary = TableConfig::of(&pri, settings);
        if in_place {
            let recovery = TableConfig::of(&rec, config::Settings::default());
            if let Some(why) = primary.in_place_refusal(&recovery) {
                return Err(ActionError::Failed(format!("{why}. Nothing was changed.")));
            }
        } else {
            if let Some(why) = primary.unsupported() {
                return Err(ActionError::Failed(format!("{why}. Nothing was changed.")));
            }
            primary.creation_parameters()?;
        }
        if !in_place && !recovery_pitr? {
            return Err(ActionError::Failed(format!(
                "the recovery table {r_name} ({r_region}) has point-in-time recovery off, and an export to S3 needs it. Turn it on (`aws dynamodb update-continuous-backups --region {r_region} --table-name {r_name} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true`), then retry this step. Nothing was changed."
            )));
        }
        let p_acct = cx.envs.check_account("primary", cx.log).await?.account;
        let r_acct = cx.envs.check_account("recovery", cx.log).await?.account;
        Ok(Plan {
            primary_region: p_region,
            primary,
            recovery_region: r_region,
            recovery_arn: rec.table_arn().unwrap_or_default().to_string(),
            recovery_items: rec.item_count(),
            recovery_bytes: rec.table_size_bytes(),
            recovery_table: r_name,
            bucket: self.bucket.to_string(),
            prefix: format!("{}/{}/{}/{}", self.root, cx.run_id, cx.step, self.name),
            bucket_owner: (p_acct != r_acct).then_some(p_acct),
            backup_name: backup_name(cx.run_id, cx.step, self.name),
            describe: answer_tree::tree(&pri),
        })
    }

    /// `compare-config`: every field of the table's whole Describe now that differs from the
    /// one recorded before, with why ([`whole_diff`], judged by `rules`).
    async fn compare(&self, p: &Plan, rules: &Rules<'_>) -> Result<Vec<String>, ActionError> {
        let cx = self.cx;
        let (table, region) = (p.primary.name.as_str(), p.primary_region.as_str());
        cx.sub(&self.sub_name("compare-config"), json!({ "table": table }), |_| async {
            if cx.dry_run {
                return Ok(Vec::new());
            }
            if p.describe.is_null() {
                cx.log.note(format!("{table}: no whole Describe was recorded before (an older run): not compared"))?;
                return Ok(Vec::new());
            }
            let now = reads::existing_table(cx.log, self.primary, region, table).await?;
            let remaining = whole_diff::differences(&p.describe, &answer_tree::tree(&now), rules);
            for difference in &remaining {
                cx.log.note(format!("table {table} differs from before the failback: {difference}"))?;
            }
            Ok(remaining)
        })
        .await
    }

    fn outputs(
        &self,
        p: &Plan,
        e: &Exported,
        b: &Backup,
        i: &Imported,
        (r, remaining): (&Reapplied, &[String]),
    ) -> Value {
        let region = &p.primary_region;
        let retained = vec![
            Retained {
                resource: self.name.to_string(),
                kind: "dynamodb_backup".into(),
                id: b.arn.clone(),
                region: region.clone(),
                why: format!("safety backup of primary table {} before it was deleted", p.primary.name),
                delete_with: format!("aws dynamodb delete-backup --region {region} --backup-arn {}", b.arn),
            },
            Retained {
                resource: self.name.to_string(),
                kind: "s3_prefix".into(),
                id: format!("s3://{}/{}/", p.bucket, p.prefix),
                region: region.clone(),
                why: format!("export of recovery table {} the primary table was imported from", p.recovery_table),
                delete_with: format!("aws s3 rm --recursive s3://{}/{}/", p.bucket, p.prefix),
            },
        ];
        let mut notes = Vec::new();
        if r.settings.stream.is_some() {
            notes.push(format!(
                "the stream of {} is new (ARN {}): point stream consumers (Lambda triggers, pipes) at it",
                p.primary.name,
                r.stream_arn.as_deref().unwrap_or("unknown")
            ));
        }
        notes.push(
            "not carried by an import, and not re-applied: auto scaling policies, resource policy, contributor insights, Kinesis streaming destinations, alarms".into(),
        );
        json!({
            "table": p.primary.name,
            "table_arn": i.table_arn,
            "region": region,
            "recovery_table_arn": p.recovery_arn,
            "export_arn": e.arn,
            "export_s3": format!("s3://{}/{}", p.bucket, e.data_prefix),
            "import_arn": i.import_arn,
            "recovery_point": e.recovery_point,
            "recovery_point_source": e.recovery_point_source,
            "items": {
                "recovery_table_approximate": p.recovery_items,
                "exported": e.item_count,
                "imported": i.imported_items,
                "primary_before_approximate": p.primary.item_count,
            },
            "safety_backup": b.arn,
            "recorded_config": p.primary,
            "reapplied_config": r.settings,
            "changes": r.changes,
            "remaining_differences": remaining,
            "notes": notes,
            "retained": retained,
        })
    }
}

/// How the whole Describe of the imported table is judged against the old table's.
pub const RULES: Rules<'static> = Rules {
    must_differ: &[
        "creation_date_time",
        "table_id",
        "table_status",
        "provisioned_throughput.last_increase_date_time",
        "provisioned_throughput.last_decrease_date_time",
        "provisioned_throughput.number_of_decreases_today",
        "billing_mode_summary.last_update_to_pay_per_request_date_time",
        "table_class_summary.last_update_date_time",
        "global_secondary_indexes[].index_status",
        "global_secondary_indexes[].backfilling",
        "global_secondary_indexes[].index_size_bytes",
        "global_secondary_indexes[].item_count",
        "global_secondary_indexes[].provisioned_throughput.last_increase_date_time",
        "global_secondary_indexes[].provisioned_throughput.last_decrease_date_time",
        "global_secondary_indexes[].provisioned_throughput.number_of_decreases_today",
        "sse_description.status",
        "warm_throughput.status",
    ],
    reasons: &[
        ("item_count", "the data is recovery's"),
        ("table_size_bytes", "the data is recovery's"),
        (
            "latest_stream_arn",
            "a new table has a new stream: point its consumers (Lambda triggers, pipes) at the new ARN",
        ),
        (
            "latest_stream_label",
            "a new table has a new stream: point its consumers (Lambda triggers, pipes) at the new ARN",
        ),
        ("restore_summary", "not restored: imported"),
    ],
};

/// The safety backup's name: unique to run, step and resource, within the 255 characters and
/// `[A-Za-z0-9_.-]` DynamoDB allows, so a resumed sub-step finds it by name.
fn backup_name(run_id: &str, step: &str, resource: &str) -> String {
    format!("pilotlight-{run_id}-{step}-{resource}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '-' })
        .take(255)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_are_deterministic_and_valid() {
        let n = backup_name("20260101T000000Z-failback-1a2b", "failback dynamodb", "sessions_table");
        assert_eq!(n, "pilotlight-20260101T000000Z-failback-1a2b-failback-dynamodb-sessions_table");
        assert_eq!(backup_name(&"r".repeat(300), "s", "t").len(), 255);
    }
}

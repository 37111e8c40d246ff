//! `reapply-config`: put back on the new table what the import dropped (stream, TTL,
//! point-in-time recovery, table class, deletion protection, tags), changing only what differs
//! from what the table has: on the sub-step's first run on the run's own import, what
//! ImportTable leaves; on a resumed run (or a table put back), what a read says, so a resumed
//! sub-step never repeats a change. Then read back and compare.

use super::config::{self, Change, Settings};
use super::{One, Plan, reads};
use crate::actions::failback::{TAG_RESOURCE, TAG_RUN, TAG_STEP};
use crate::aws::{ActionError, at, mutate};
use crate::journal::SubId;
use aws_sdk_dynamodb::types::{
    PointInTimeRecoverySpecification, StreamSpecification, StreamViewType, TableClass, Tag, TimeToLiveSpecification,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// TagResource takes at most this many tags per call.
const TAGS_PER_CALL: usize = 50;

/// What `reapply-config` did and found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Reapplied {
    /// The changes made (by this attempt; an interrupted one's are in the journal's calls).
    pub(super) changes: Vec<String>,
    /// The new table's settings, read back after the changes.
    pub(super) settings: Settings,
    /// The new table's stream, whose ARN differs from the old one's.
    pub(super) stream_arn: Option<String>,
}

impl One<'_, '_> {
    /// The recorded settings, plus this run's tags (which replace an earlier run's) on a table
    /// the run made.
    fn wanted(&self, p: &Plan, made: bool) -> Settings {
        let mut want = p.primary.settings.clone();
        if made {
            for (k, v) in [(TAG_RUN, self.cx.run_id), (TAG_STEP, self.cx.step), (TAG_RESOURCE, self.name)] {
                want.tags.insert(k.to_string(), v.to_string());
            }
        }
        want
    }

    pub(super) async fn reapply(&self, p: &Plan) -> Result<Reapplied, ActionError> {
        self.reapply_as(p, "reapply-config", true).await
    }

    /// Re-applies the recorded configuration as sub-step `part`; `made`: the table is this run's
    /// import (tagged with the run), not primary's own put back.
    pub(super) async fn reapply_as(&self, p: &Plan, part: &str, made: bool) -> Result<Reapplied, ActionError> {
        let cx = self.cx;
        let (table, region) = (p.primary.name.as_str(), p.primary_region.as_str());
        let want = self.wanted(p, made);
        let name = self.sub_name(part);
        let detail = json!({ "table": table, "recorded": p.primary.settings, "want": want });
        let (name, want) = (&name, &want);
        cx.sub(name, detail, |resume| async move {
            if cx.dry_run {
                let changes = config::changes(want, &Settings::fresh_import());
                for c in &changes {
                    cx.log.note(format!("dry run: would re-apply to the new table {table}: {}", c.describe()))?;
                }
                let changes = changes.iter().map(Change::describe).collect();
                return Ok(Reapplied { changes, settings: want.clone(), stream_arn: None });
            }
            let t = reads::existing_table(cx.log, self.primary, region, table).await?;
            let arn = t.table_arn().unwrap_or(&p.primary.arn).to_string();
            // The failback's own import, on the sub-step's first run: nothing has changed the
            // table since ImportTable made it, so its TTL, point-in-time recovery and tags are
            // none (`reads::described`); a resumed run, or a table put back, is read.
            let have = if resume.first && made {
                reads::described(&t)
            } else {
                reads::settings(cx.log, self.primary, region, &t).await?
            };
            let changes = config::changes(want, &have);
            for change in &changes {
                self.apply(name, table, &arn, region, change, &have).await?;
            }
            let (t, after) = if changes.is_empty() {
                (t, have)
            } else {
                let t = reads::existing_table(cx.log, self.primary, region, table).await?;
                let after = reads::settings(cx.log, self.primary, region, &t).await?;
                (t, after)
            };
            let left = config::changes(want, &after);
            if !left.is_empty() {
                let left: Vec<String> = left.iter().map(Change::describe).collect();
                return Err(ActionError::Failed(format!(
                    "after re-applying its configuration, table {table} still lacks: {}",
                    left.join("; ")
                )));
            }
            Ok(Reapplied {
                changes: changes.iter().map(Change::describe).collect(),
                settings: after,
                stream_arn: t.latest_stream_arn().map(str::to_string),
            })
        })
        .await
    }

    /// Makes one change. UpdateTable changes wait for the table to be ACTIVE again, since
    /// DynamoDB refuses the next one meanwhile.
    async fn apply(
        &self,
        sub: &SubId,
        table: &str,
        arn: &str,
        region: &str,
        change: &Change,
        have: &Settings,
    ) -> Result<(), ActionError> {
        let cx = self.cx;
        let client = self.primary;
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| {
            ActionError::Failed(format!("{table}: cannot build the request for {}: {e}", change.describe()))
        };
        match change {
            Change::Tags(tags) => {
                let tags: Vec<Tag> = tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(invalid))
                    .collect::<Result<_, _>>()?;
                for chunk in tags.chunks(TAGS_PER_CALL) {
                    let req = client.tag_resource().resource_arn(arn).set_tags(Some(chunk.to_vec()));
                    mutate(cx.log, at(table, region), req).await??;
                }
            }
            Change::Ttl(attribute) => {
                let (enabled, attribute) = match (attribute, &have.ttl_attribute) {
                    (Some(a), _) => (true, a.clone()),
                    (None, Some(old)) => (false, old.clone()),
                    (None, None) => return Ok(()),
                };
                let spec = TimeToLiveSpecification::builder().enabled(enabled).attribute_name(attribute);
                let req = client
                    .update_time_to_live()
                    .table_name(table)
                    .time_to_live_specification(spec.build().map_err(invalid)?);
                mutate(cx.log, at(table, region), req).await??;
            }
            Change::PointInTimeRecovery(on) => {
                let spec = PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(*on);
                let req = client
                    .update_continuous_backups()
                    .table_name(table)
                    .point_in_time_recovery_specification(spec.build().map_err(invalid)?);
                mutate(cx.log, at(table, region), req).await??;
            }
            Change::Stream(view) => {
                let mut spec = StreamSpecification::builder().stream_enabled(view.is_some());
                if let Some(v) = view {
                    spec = spec.stream_view_type(StreamViewType::from(v.as_str()));
                }
                let req = client.update_table().table_name(table).stream_specification(spec.build().map_err(invalid)?);
                mutate(cx.log, at(table, region), req).await??;
                self.wait_active(sub, table, region).await?;
            }
            Change::TableClass(class) => {
                let req = client.update_table().table_name(table).table_class(TableClass::from(class.as_str()));
                mutate(cx.log, at(table, region), req).await??;
                self.wait_active(sub, table, region).await?;
            }
            Change::DeletionProtection(on) => {
                let req = client.update_table().table_name(table).deletion_protection_enabled(*on);
                mutate(cx.log, at(table, region), req).await??;
                self.wait_active(sub, table, region).await?;
            }
        }
        Ok(())
    }
}

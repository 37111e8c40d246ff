//! The way back after the point of no return: when the restore under the original identifier
//! fails, the original (kept under `<id>-pre-failback-<run>`) takes its identifier back, so
//! primary is as it was. A partial restore that holds the identifier (this run's, tagged
//! `restored`) is first set aside under `<id>-failed-<run>`, kept, never deleted.
//!
//! `pilotlight undo` takes the same way back after a successful failback ([`UNDO`]): the
//! failed-back instance or cluster set aside under `<id>-failed-back-<run>`, kept.
//!
//! Sub-steps, each resumable like every other: `rollback-set-aside`, `rollback-wait-set-aside`,
//! `rollback-rename-back`, `rollback-wait-renamed-back`. Before them the keep, restore and
//! rollback sub-steps are marked undone, so a retry or resume (once the cause is mended, or
//! after a kill anywhere in the rollback) keeps and restores again.

use super::keep::{Keep, describe};
use super::snapshots::Kind;
use super::{TAG_STAGE, is_ours, tags, wait_status};
use crate::actions::ActionCx;
use crate::actions::failback::{TAG_RESOURCE, TAG_RUN, TAG_STEP, short_run_id};
use crate::aws::{ActionError, at, mutate};
use crate::journal::SubId;
use serde_json::json;

/// The names a way back uses: its sub-steps' first word, and what the thing set aside is
/// called (`<id>-<aside>-<short run id>`) and tagged (`pilotlight:stage`).
pub struct Back {
    pub word: &'static str,
    pub aside: &'static str,
    pub stage: &'static str,
}

/// After a failed restore: a partial restore set aside as `<id>-failed-<run>`.
pub const ROLLBACK: Back = Back { word: "rollback", aside: "failed", stage: "failed-restore" };
/// `pilotlight undo`: the failed-back restore set aside as `<id>-failed-back-<run>`.
pub const UNDO: Back = Back { word: "undo", aside: "failed-back", stage: "failed-back" };

impl Keep<'_, '_> {
    /// Where `back` sets this run's restore aside, within RDS's 63 characters.
    pub fn aside_id(&self, back: &Back) -> String {
        super::with_suffix(self.original, &format!("-{}-{}", back.aside, short_run_id(self.cx.run_id)))
    }

    /// Renames `from` to `to` (instance or cluster), deletion protection as given.
    async fn rename(&self, from: &str, to: &str, protection: bool) -> Result<(), ActionError> {
        self.modify(from, Some(to), Some(protection)).await
    }

    /// Sets `id`'s deletion protection.
    async fn protect(&self, id: &str, protection: bool) -> Result<(), ActionError> {
        self.modify(id, None, Some(protection)).await
    }

    /// ModifyDBInstance or ModifyDBCluster, applied at once: a new identifier and deletion
    /// protection, each if given.
    async fn modify(&self, id: &str, new_id: Option<&str>, protection: Option<bool>) -> Result<(), ActionError> {
        let (cx, region) = (self.cx, self.region);
        match self.kind {
            Kind::Instance => {
                let req = self
                    .client
                    .modify_db_instance()
                    .db_instance_identifier(id)
                    .set_new_db_instance_identifier(new_id.map(str::to_string))
                    .set_deletion_protection(protection)
                    .apply_immediately(true);
                mutate(cx.log, at(id, region), req).await??;
            }
            Kind::Cluster => {
                let req = self
                    .client
                    .modify_db_cluster()
                    .db_cluster_identifier(id)
                    .set_new_db_cluster_identifier(new_id.map(str::to_string))
                    .set_deletion_protection(protection)
                    .apply_immediately(true);
                mutate(cx.log, at(id, region), req).await??;
            }
        }
        Ok(())
    }

    /// Gives the original identifier to the copy that is to hold it instead of a restore: staged
    /// under `staged` (its tags accepted by `staged_by`), or set aside by a way back of this run
    /// (the failback's own or the step's rollback, `undo`), from where it comes back. Tagged as
    /// this run's `restored` first, so a resumed run and a way back know it. Inside the caller's
    /// sub-step; the wait is the caller's.
    pub async fn rename_in(
        &self,
        staged: &str,
        staged_by: impl Fn(&indexmap::IndexMap<String, String>) -> bool,
    ) -> Result<(), ActionError> {
        let (cx, region) = (self.cx, self.region);
        if self.restored_already().await? {
            return Ok(());
        }
        let names = [staged.to_string(), self.aside_id(&ROLLBACK), self.aside_id(&UNDO)];
        let mut found = None;
        for name in &names {
            if let Some(now) = describe(self.kind, cx.log, self.client, name, region).await? {
                found = Some((name.clone(), now));
                break;
            }
        }
        let Some((from, now)) = found else {
            return Err(ActionError::Failed(format!(
                "none of the staged {} and this run's set-aside {} or {} is in {region}: stage again and run the \
                 failback again",
                names[0], names[1], names[2]
            )));
        };
        if !(staged_by(&now.tags) || now.tags.get(TAG_RUN).map(String::as_str) == Some(cx.run_id)) {
            return Err(super::not_ours(super::keep::noun(self.kind), &from, region));
        }
        let req =
            self.client.add_tags_to_resource().resource_name(&now.arn).set_tags(Some(tags(cx, self.name, "restored")));
        mutate(cx.log, at(&from, region), req).await??;
        self.modify(&from, Some(self.original), None).await
    }

    /// Waits (sub-step `part`) until `present` answers and `freed` is gone.
    async fn wait_renamed(&self, part: &str, present: &str, freed: &str) -> Result<(), ActionError> {
        let (cx, kind, region) = (self.cx, self.kind, self.region);
        let quiet = cx.quiet();
        let detail = json!({ "present": present, "freed": freed });
        wait_status(cx, &SubId::of(self.name, part), detail, &["available", "gone"], || async {
            let now = describe(kind, &quiet, self.client, present, region).await?;
            let old = describe(kind, &quiet, self.client, freed, region).await?;
            Ok(vec![
                (present.to_string(), Some(now.map_or("not yet renamed".into(), |d| d.status))),
                (format!("identifier {freed}"), old.map(|d| format!("still taken ({})", d.status))),
            ])
        })
        .await
    }

    /// Puts the original back under its identifier (deletion protection `protection`, as it
    /// was), setting this run's partial restore aside first; marks the failback's sub-steps
    /// from the keep on undone. `undone` names the sub-steps after the keep's own.
    pub async fn put_back(&self, protection: bool, undone: &[&str]) -> Result<(), ActionError> {
        // Marked undone first, the rollback's own sub-steps too: a run killed anywhere in the
        // rollback keeps (or finds kept) and restores again on resume, and if the restore fails
        // again this rollback runs whole, none of its sub-steps replayed from an earlier one.
        let (keep, wait) = match self.kind {
            Kind::Instance => ("keep-primary", "wait-primary-kept"),
            Kind::Cluster => ("keep-cluster", "wait-cluster-kept"),
        };
        let rollback =
            ["rollback-set-aside", "rollback-wait-set-aside", "rollback-rename-back", "rollback-wait-renamed-back"];
        let names: Vec<SubId> =
            [keep, wait].iter().chain(undone).chain(rollback.iter()).map(|p| SubId::of(self.name, *p)).collect();
        self.cx.reset(&names.iter().collect::<Vec<_>>())?;
        self.back(protection, &ROLLBACK).await
    }

    /// Sets this run's restore (tagged `restored`) aside under [`Keep::aside_id`], kept with
    /// deletion protection on, then renames the original back under its identifier (deletion
    /// protection `protection`). Sub-steps `<word>-set-aside`, `<word>-wait-set-aside`,
    /// `<word>-rename-back`, `<word>-wait-renamed-back`.
    pub async fn back(&self, protection: bool, back: &Back) -> Result<(), ActionError> {
        let (cx, kind, region, original, kept) = (self.cx, self.kind, self.region, self.original, self.kept);
        let part = |p: &str| format!("{}-{p}", back.word);
        let aside = self.aside_id(back);
        let detail = json!({ "restore": original, "set_aside_as": aside });
        // Whether an original is kept to rename back (`None` from a version that did not say:
        // there was one); none when the failback failed before it kept the original.
        let kept_one: Option<bool> = cx
            .sub(&SubId::of(self.name, part("set-aside")), detail, |_| async {
                match describe(kind, cx.log, self.client, original, region).await? {
                    // This run's restore, or the same one an earlier attempt of this sub-step
                    // tagged for setting aside and was cut off before renaming.
                    Some(now)
                        if is_ours(cx, &now.tags, self.name, "restored")
                            || is_ours(cx, &now.tags, self.name, back.stage) =>
                    {
                        let req = self
                            .client
                            .add_tags_to_resource()
                            .resource_name(&now.arn)
                            .set_tags(Some(tags(cx, self.name, back.stage)));
                        mutate(cx.log, at(original, region), req).await??;
                        self.rename(original, &aside, true).await?;
                        Ok(Some(true))
                    }
                    Some(_) => Ok(Some(describe(kind, cx.log, self.client, kept, region).await?.is_some())),
                    None => Ok(Some(true)),
                }
            })
            .await?;
        if kept_one == Some(false) {
            // Never renamed: the original is where it was; only its deletion protection, which the
            // failback may have turned off, is put back.
            let detail = json!({ "original": original, "deletion_protection": protection });
            return cx
                .sub(&SubId::of(self.name, part("protection-back")), detail, |_| async {
                    self.protect(original, protection).await
                })
                .await;
        }
        self.wait_renamed(&part("wait-set-aside"), kept, original).await?;
        let detail = json!({ "kept": kept, "back_to": original, "deletion_protection": protection });
        cx.sub(&SubId::of(self.name, part("rename-back")), detail, |_| async {
            if describe(kind, cx.log, self.client, kept, region).await?.is_none() {
                // Renamed back by an earlier run of this sub-step, cut off after the call.
                return Ok(());
            }
            self.rename(kept, original, protection).await
        })
        .await?;
        self.wait_renamed(&part("wait-renamed-back"), original, kept).await
    }
}

/// Takes this run's `pilotlight:*` tags off an instance or cluster that is primary's again
/// (the ARN of each; sub-step `part`).
pub async fn untag(
    cx: &ActionCx<'_>,
    client: &aws_sdk_rds::Client,
    part: &SubId,
    (arns, region): (&[String], &str),
) -> Result<(), ActionError> {
    cx.sub(part, json!({ "resources": arns }), |_| async {
        for arn in arns {
            let keys = [TAG_RUN, TAG_STEP, TAG_RESOURCE, TAG_STAGE].map(String::from).to_vec();
            let req = client.remove_tags_from_resource().resource_name(arn).set_tag_keys(Some(keys));
            mutate(cx.log, at(arn, region), req).await??;
        }
        Ok(())
    })
    .await
}

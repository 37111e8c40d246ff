//! `ec2.failback` with `fast_snapshot_restore: true`: EBS fast snapshot restore on the final
//! copies in the primary instance's zone before the volumes are created from them, so the restored
//! volumes deliver their full performance at once instead of loading each block lazily on its
//! first read (hours for a large volume; EBS user guide, "Amazon EBS fast snapshot restore").
//!
//! Sub-steps: `enable-fast-restore` (EnableFastSnapshotRestores for the copies not yet enabling,
//! optimizing or enabled there: a resumed or repeated run asks for none twice),
//! `wait-fast-restore` (until every copy is `enabled`: "It takes 60 minutes per TiB to optimize a
//! snapshot", and only `enabled` gives the full benefit), then after the volumes are made
//! `disable-fast-restore` (DisableFastSnapshotRestores: it is billed per snapshot, zone and hour
//! while enabled). Should the failback stop between enable and disable, the copies stay enabled
//! (and billed) until disabled or deleted: the failback's error says how.

use super::{EbsSnapshot, Layout, One};
use crate::actions::Poll;
use crate::aws::{ActionError, CallLog, at, mutate, read};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Filter;
use indexmap::IndexMap;
use serde_json::json;

/// The fast snapshot restore state of each of `ids` in `zone` (missing: disabled).
async fn states(
    log: &dyn CallLog,
    client: &Client,
    (region, zone): (&str, &str),
    ids: &[String],
) -> Result<IndexMap<String, String>, ActionError> {
    let by_id = Filter::builder().name("snapshot-id").set_values(Some(ids.to_vec())).build();
    let in_zone = Filter::builder().name("availability-zone").values(zone).build();
    let req = client.describe_fast_snapshot_restores().filters(by_id).filters(in_zone);
    let out = read(log, at(zone, region), req).await??;
    Ok(out
        .fast_snapshot_restores()
        .iter()
        .filter_map(|f| Some((f.snapshot_id()?.to_string(), f.state()?.as_str().to_string())))
        .collect())
}

impl One<'_, '_> {
    /// The restored volumes made from the copies with fast snapshot restore on them: enabled and
    /// waited for, the volumes made, then turned off again.
    pub(super) async fn create_volumes_fast(
        &self,
        l: &Layout,
        copies: &IndexMap<String, EbsSnapshot>,
    ) -> Result<IndexMap<String, String>, ActionError> {
        let at = (l.primary_region.as_str(), l.primary_zone.as_str());
        let ids: Vec<String> = copies.values().map(|c| c.snapshot_id.clone()).collect();
        self.enable_fast_restore(at, &ids).await?;
        let volumes = match self.create_volumes(l, copies).await {
            Ok(made) => made,
            // The call may have landed (looked for on the next attempt), or the journal is gone.
            Err(e @ (ActionError::Unanswered { .. } | ActionError::Journal(_))) => return Err(e),
            Err(e) => {
                return Err(ActionError::Failed(format!(
                    "{e}; fast snapshot restore stays enabled on the copies (billed hourly) until a retry finishes or \
                     it is turned off: aws ec2 disable-fast-snapshot-restores --region {} --availability-zones {} \
                     --source-snapshot-ids {}",
                    at.0,
                    at.1,
                    ids.join(" ")
                )));
            }
        };
        self.disable_fast_restore(at, &ids).await?;
        Ok(volumes)
    }

    /// `enable-fast-restore` and `wait-fast-restore` on the copies `ids`, in the primary
    /// instance's zone.
    async fn enable_fast_restore(&self, (region, zone): (&str, &str), ids: &[String]) -> Result<(), ActionError> {
        let cx = self.cx;
        cx.sub(&self.sub_name("enable-fast-restore"), json!({ "zone": zone, "snapshots": ids }), |_| async {
            if cx.dry_run {
                return cx.log.note(format!("dry run: would enable fast snapshot restore on {ids:?} in {zone}"));
            }
            let now = states(cx.log, self.primary, (region, zone), ids).await?;
            let on =
                |id: &String| now.get(id).is_some_and(|s| matches!(s.as_str(), "enabling" | "optimizing" | "enabled"));
            let missing: Vec<String> = ids.iter().filter(|id| !on(id)).cloned().collect();
            if missing.is_empty() {
                return Ok(());
            }
            let req = self
                .primary
                .enable_fast_snapshot_restores()
                .availability_zones(zone)
                .set_source_snapshot_ids(Some(missing));
            let out = mutate(cx.log, at(zone, region), req).await??;
            let refused: Vec<String> = out
                .unsuccessful()
                .iter()
                .flat_map(|u| {
                    u.fast_snapshot_restore_state_errors().iter().map(move |e| {
                        let err = e.error();
                        format!(
                            "{} in {}: {} ({})",
                            u.snapshot_id().unwrap_or_default(),
                            e.availability_zone().unwrap_or_default(),
                            err.and_then(|e| e.message()).unwrap_or_default(),
                            err.and_then(|e| e.code()).unwrap_or_default()
                        )
                    })
                })
                .collect();
            if refused.is_empty() {
                Ok(())
            } else {
                Err(ActionError::Failed(format!(
                    "fast snapshot restore refused for {}; fail back without it (`fast_snapshot_restore: false`) or \
                     mend the cause and retry",
                    refused.join("; ")
                )))
            }
        })
        .await?;
        if cx.dry_run {
            return Ok(());
        }
        let name = self.sub_name("wait-fast-restore");
        let quiet = cx.quiet();
        cx.sub(&name, json!({ "zone": zone, "snapshots": ids }), |_| async {
            cx.wait_for(&name, cx.timeout, || async {
                let now = states(&quiet, self.primary, (region, zone), ids).await?;
                // A failed enable goes `disabling`, then `disabled` (EBS user guide): it never comes.
                let off: Vec<&String> = ids.iter().filter(|id| now.get(*id).is_some_and(|s| s.starts_with("disabl"))).collect();
                if !off.is_empty() {
                    return Err(ActionError::Failed(format!(
                        "fast snapshot restore of {off:?} in {zone} is off again (an enable that failed): retry, or fail \
                         back without it (`fast_snapshot_restore: false`)"
                    )));
                }
                let pending: Vec<String> = ids
                    .iter()
                    .filter(|id| now.get(*id).map(String::as_str) != Some("enabled"))
                    .map(|id| format!("{id} {}", now.get(id).map_or("not listed yet", String::as_str)))
                    .collect();
                Ok(if pending.is_empty() { Poll::Ready(()) } else { Poll::Pending(pending.join(", ")) })
            })
            .await
        })
        .await
    }

    /// `disable-fast-restore`: the copies' fast snapshot restore off again once the volumes are
    /// made (it is billed while enabled).
    async fn disable_fast_restore(&self, (region, zone): (&str, &str), ids: &[String]) -> Result<(), ActionError> {
        let cx = self.cx;
        cx.sub(&self.sub_name("disable-fast-restore"), json!({ "zone": zone, "snapshots": ids }), |_| async {
            if cx.dry_run {
                return Ok(());
            }
            let now = states(cx.log, self.primary, (region, zone), ids).await?;
            let on: Vec<String> =
                ids.iter().filter(|id| now.get(*id).is_some_and(|s| s != "disabling")).cloned().collect();
            if on.is_empty() {
                return Ok(());
            }
            let req = self
                .primary
                .disable_fast_snapshot_restores()
                .availability_zones(zone)
                .set_source_snapshot_ids(Some(on));
            mutate(cx.log, at(zone, region), req).await??;
            Ok(())
        })
        .await
    }
}

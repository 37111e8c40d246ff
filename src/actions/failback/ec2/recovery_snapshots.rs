//! The recovery point of one instance: one CreateSnapshots for all of its volumes, so the
//! snapshots are crash-consistent with each other (a database with data and log on separate
//! volumes, LVM, RAID). One CreateSnapshot per volume while the instance runs takes each at
//! another moment (EC2 user guide, "Multi-volume snapshots").
//!
//! The snapshots carry this run's tags but no device (one call tags them all alike); a resumed
//! sub-step finds them by those tags and the volume each was taken from. Should only some be
//! found (a crash in between on AWS's side), the rest are taken one by one, and the journal says
//! the recovery point is no longer consistent across volumes.

use super::reads::find_snapshot;
use super::{EbsSnapshot, Layout, One, TAG_RESOURCE, TAG_RUN, TAG_STAGE};
use crate::aws::{ActionError, at, mutate};
use aws_sdk_ec2::primitives::DateTimeFormat;
use aws_sdk_ec2::types::{Filter, InstanceSpecification, ResourceType as Ec2ResourceType, Tag, TagSpecification};
use indexmap::IndexMap;
use serde_json::json;

const STAGE: &str = "recovery-snapshot";

impl One<'_, '_> {
    /// Snapshots every recovery volume at once (or finds the ones this run already made) and waits.
    pub(super) async fn snapshot_recovery(&self, l: &Layout) -> Result<IndexMap<String, EbsSnapshot>, ActionError> {
        let cx = self.cx;
        let volumes: Vec<&String> = l.sources.iter().map(|s| &s.volume_id).collect();
        let detail = json!({ "instance": l.recovery_instance, "volumes": volumes });
        let snaps: IndexMap<String, EbsSnapshot> = cx
            .sub(&self.sub_name("snapshot-recovery-volumes"), detail, |_| async {
                let mut out = IndexMap::new();
                for s in &l.sources {
                    if let Some(found) =
                        find_snapshot(cx.log, self.recovery, &l.recovery_region, self.of_volume(&s.volume_id)).await?
                    {
                        out.insert(s.device.clone(), found);
                    }
                }
                if out.len() == l.sources.len() {
                    return Ok(out);
                }
                if cx.dry_run {
                    cx.log.note(format!(
                        "dry run: would snapshot every volume of {} at once ({})",
                        l.recovery_instance,
                        l.sources.iter().map(|s| s.device.as_str()).collect::<Vec<_>>().join(", ")
                    ))?;
                    for s in &l.sources {
                        let dry = EbsSnapshot { snapshot_id: format!("snap-(dry run {})", s.device), started: None };
                        out.entry(s.device.clone()).or_insert(dry);
                    }
                    return Ok(out);
                }
                if out.is_empty() {
                    self.take_all(l, &mut out).await?;
                } else {
                    cx.log.note(format!(
                        "only {} of {} recovery snapshots of {} were found: the rest are taken one by one, so the \
                         recovery point is not consistent across its volumes",
                        out.len(),
                        l.sources.len(),
                        l.recovery_instance
                    ))?;
                    self.take_missing(l, &mut out).await?;
                }
                Ok(out)
            })
            .await?;
        self.wait_snapshots("wait-recovery-snapshots", self.recovery, &l.recovery_region, &snaps).await?;
        Ok(snaps)
    }

    /// This run's recovery snapshot of `volume`, by tags and the volume it was taken from.
    fn of_volume(&self, volume: &str) -> Vec<Filter> {
        let f = |k: &str, v: &str| Filter::builder().name(k).values(v).build();
        vec![
            f(&format!("tag:{TAG_RUN}"), self.cx.run_id),
            f(&format!("tag:{TAG_RESOURCE}"), self.name),
            f(&format!("tag:{TAG_STAGE}"), STAGE),
            f("volume-id", volume),
        ]
    }

    fn run_tags(&self) -> TagSpecification {
        let cx = self.cx;
        let t = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        TagSpecification::builder()
            .resource_type(Ec2ResourceType::Snapshot)
            .tags(t(TAG_RUN, cx.run_id))
            .tags(t(super::TAG_STEP, cx.step))
            .tags(t(TAG_RESOURCE, self.name))
            .tags(t(TAG_STAGE, STAGE))
            .build()
    }

    /// One CreateSnapshots for every volume of the recovery instance.
    async fn take_all(&self, l: &Layout, out: &mut IndexMap<String, EbsSnapshot>) -> Result<(), ActionError> {
        let cx = self.cx;
        let spec =
            InstanceSpecification::builder().instance_id(&l.recovery_instance).exclude_boot_volume(false).build();
        let req = self
            .recovery
            .create_snapshots()
            .instance_specification(spec)
            .description(format!("pilotlight-failback/{}/{}", cx.run_id, self.name))
            .tag_specifications(self.run_tags());
        let made = mutate(cx.log, at(&l.recovery_instance, &l.recovery_region), req).await??;
        for info in made.snapshots() {
            let Some(s) = l.sources.iter().find(|s| info.volume_id() == Some(s.volume_id.as_str())) else { continue };
            let started = info.start_time().and_then(|t| t.fmt(DateTimeFormat::DateTime).ok());
            out.insert(
                s.device.clone(),
                EbsSnapshot { snapshot_id: info.snapshot_id().unwrap_or_default().into(), started },
            );
        }
        match l.sources.iter().find(|s| !out.contains_key(&s.device)) {
            Some(s) => Err(ActionError::Failed(format!(
                "CreateSnapshots of {} made no snapshot of {} ({})",
                l.recovery_instance, s.volume_id, s.device
            ))),
            None => Ok(()),
        }
    }

    /// One CreateSnapshot for each volume not found.
    async fn take_missing(&self, l: &Layout, out: &mut IndexMap<String, EbsSnapshot>) -> Result<(), ActionError> {
        let cx = self.cx;
        let missing: Vec<_> = l.sources.iter().filter(|s| !out.contains_key(&s.device)).collect();
        for s in missing {
            let req = self
                .recovery
                .create_snapshot()
                .volume_id(&s.volume_id)
                .description(format!("pilotlight-failback/{}/{}{}", cx.run_id, self.name, s.device))
                .tag_specifications(self.run_tags());
            let made = mutate(cx.log, at(&s.volume_id, &l.recovery_region), req).await??;
            let started = made.start_time().and_then(|t| t.fmt(DateTimeFormat::DateTime).ok());
            out.insert(
                s.device.clone(),
                EbsSnapshot { snapshot_id: made.snapshot_id().unwrap_or_default().into(), started },
            );
        }
        Ok(())
    }
}

//! `create-volumes` and `wait-volumes-available`: the restored volumes, made from the copies in
//! primary's region in the primary instance's zone, each with its source's type, size, IOPS and
//! throughput, before anything of primary's is touched.

use super::reads::find_volume;
use super::{EbsSnapshot, Layout, One};
use crate::actions::failback::client_token;
use crate::aws::{ActionError, at, mutate};
use aws_sdk_ec2::types::{ResourceType as Ec2ResourceType, VolumeType};
use indexmap::IndexMap;
use serde_json::json;

impl One<'_, '_> {
    /// Creates the restored volumes in the primary instance's zone.
    pub(super) async fn create_volumes(
        &self,
        l: &Layout,
        copies: &IndexMap<String, EbsSnapshot>,
    ) -> Result<IndexMap<String, String>, ActionError> {
        let cx = self.cx;
        let volumes: IndexMap<String, String> = cx
            .sub(&self.sub_name("create-volumes"), json!({ "zone": l.primary_zone }), |resume| async move {
                // Every volume at once: each has its own client token and look, and none waits
                // for another's answer.
                let each = l.sources.iter().map(|s| {
                    let resume = &resume;
                    async move {
                        let snap = &copies[&s.device];
                        let ours = self.ours(&s.device, self.stages.volume);
                        // The client token makes a second send harmless; the look finds a volume
                        // whose token a rollback's reset has since changed.
                        if let Some(found) =
                            find_volume(cx.log, self.primary, &l.primary_region, ours, resume.looks(1)).await?
                        {
                            return Ok::<_, ActionError>((s.device.clone(), found));
                        }
                        if cx.dry_run {
                            cx.log.note(format!(
                                "dry run: would create a {} GiB {} volume for {} from {}",
                                s.size, s.volume_type, s.device, snap.snapshot_id
                            ))?;
                            return Ok((s.device.clone(), format!("vol-(dry run {})", s.device)));
                        }
                        let mut req = self
                            .primary
                            .create_volume()
                            .availability_zone(&l.primary_zone)
                            .snapshot_id(&snap.snapshot_id)
                            .size(s.size)
                            .volume_type(VolumeType::from(s.volume_type.as_str()))
                            .client_token(client_token(cx, self.name, &s.device))
                            .tag_specifications(self.spec(Ec2ResourceType::Volume, &s.device, self.stages.volume));
                        if matches!(s.volume_type.as_str(), "io1" | "io2" | "gp3") {
                            req = req.set_iops(s.iops);
                        }
                        if s.volume_type == "gp3" {
                            req = req.set_throughput(s.throughput);
                        }
                        let made = mutate(cx.log, at(&snap.snapshot_id, &l.primary_region), req).await??;
                        Ok((s.device.clone(), made.volume_id().unwrap_or_default().to_string()))
                    }
                });
                Ok(crate::actions::failback::all_at_once(each).await?.into_iter().collect::<IndexMap<_, _>>())
            })
            .await?;
        self.wait_volumes("wait-volumes-available", l, volumes.values().cloned().collect(), |v| v.state == "available")
            .await?;
        Ok(volumes)
    }
}

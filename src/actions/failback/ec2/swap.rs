//! The disruptive half of `ec2.failback`: stop the primary instance, detach and keep its
//! volumes, attach the restored ones at the same devices (the originals go back if that
//! fails), start it, and the waits between.

use super::reads::{VolumeNow, delete_on_termination, instance, state_of, volume, volumes};
use super::{Layout, One, TAG_RESOURCE, TAG_RUN, TAG_STEP};
use crate::actions::Poll;
use crate::aws::{ActionError, at, mutate, read};
use crate::journal::SubId;
use aws_sdk_ec2::types::{EbsInstanceBlockDeviceSpecification, InstanceBlockDeviceMappingSpecification, Tag};
use indexmap::IndexMap;
use serde_json::json;

/// The swap's sub-steps a way back undoes, so a retry does them again.
const SWAP: &[&str] = &[
    "enter-standby",
    "wait-standby",
    "suspend-replacement",
    "stop-primary",
    "wait-primary-stopped",
    "detach-originals",
    "wait-detached",
    "attach-restored",
    "exit-standby",
    "wait-in-service",
    "resume-replacement",
];

/// The way back's own sub-steps.
const ROLLBACK: &[&str] = &[
    "rollback-detach-restored",
    "rollback-wait-detached",
    "rollback-attach-originals",
    "rollback-wait-attached",
    "rollback-delete-on-termination",
    "rollback-start",
    "rollback-wait-running",
];

impl One<'_, '_> {
    /// Stops the primary instance, detaches (and keeps) its volumes, attaches the restored ones
    /// at the same devices, and starts it. If detaching or attaching fails, the originals go back
    /// (attached at their devices, started if it ran, out of Standby) before the step fails.
    pub(super) async fn swap(&self, l: &Layout, volumes: &IndexMap<String, String>) -> Result<(), ActionError> {
        let cx = self.cx;
        let (inst, region) = (l.primary_instance.as_str(), l.primary_region.as_str());
        self.enter_standby(l).await?;
        cx.sub(&self.sub_name("stop-primary"), json!({ "instance": inst }), |resume| async move {
            // A first stop is sent without a look: StopInstances on an instance already stopped
            // or stopping changes nothing (EC2 answers its state); a resumed one looks first.
            if resume.first && !cx.dry_run {
                mutate(cx.log, at(inst, region), self.primary.stop_instances().instance_ids(inst)).await??;
                return Ok(());
            }
            let state = state_of(&instance(cx.log, self.primary, inst, region).await?);
            if matches!(state.as_str(), "stopped" | "stopping") {
                return Ok(());
            }
            if cx.dry_run {
                return cx.log.note(format!("dry run: would stop {inst} (it is {state})"));
            }
            mutate(cx.log, at(inst, region), self.primary.stop_instances().instance_ids(inst)).await??;
            Ok(())
        })
        .await?;
        self.wait_instance("wait-primary-stopped", inst, region, "stopped").await?;
        match self.detach_originals(l).await {
            Ok(()) => {}
            // The call may have landed, or the journal cannot be written: the next attempt looks.
            Err(e @ (ActionError::Unanswered { .. } | ActionError::Journal(_))) => return Err(e),
            Err(e) if cx.dry_run => return Err(e),
            Err(e) => {
                self.put_originals_back(l, volumes, &format!("detaching its volumes failed ({e})")).await?;
                return Err(ActionError::Failed(format!(
                    "detaching the volumes of {inst} failed ({e}); its original volumes are attached as before and it was \
                     started again if it ran, nothing was lost"
                )));
            }
        }
        let attached = cx
            .sub(&self.sub_name("attach-restored"), json!({ "volumes": volumes }), |resume| async move {
                // A first attach needs no look: only this sub-step attaches the restored volumes.
                match self.attach_all((inst, region), volumes, !resume.first).await {
                    Ok(()) => Ok(Ok(())),
                    Err(ActionError::Journal(e)) => Err(ActionError::Journal(e)),
                    // The attach may have happened: the next attempt looks, and does not undo it.
                    Err(e @ ActionError::Unanswered { .. }) => Err(e),
                    Err(e) => Ok(Err(e.to_string())),
                }
            })
            .await?;
        if let Err(e) = attached {
            self.put_originals_back(l, volumes, "attaching failed").await?;
            return Err(ActionError::Failed(format!(
                "attaching the restored volumes to {inst} failed ({e}); the original volumes were put back and the instance restarted, nothing was lost"
            )));
        }
        let new: Vec<String> = volumes.values().cloned().collect();
        // `in-use` comes while the attachment is still `attaching`; a start then may not see it.
        self.wait_volumes("wait-attached", l, new, |v| {
            v.state == "in-use" && v.instance.as_deref() == Some(inst) && v.attachment.as_deref() == Some("attached")
        })
        .await?;
        self.delete_on_termination(l, "delete-on-termination").await?;
        cx.sub(&self.sub_name("start-primary"), json!({ "instance": inst }), |resume| async move {
            // As the stop: StartInstances on an instance running or pending changes nothing, and
            // the wait before it saw every volume attached.
            if resume.first && !cx.dry_run {
                mutate(cx.log, at(inst, region), self.primary.start_instances().instance_ids(inst)).await??;
                return Ok(());
            }
            let state = state_of(&instance(cx.log, self.primary, inst, region).await?);
            if matches!(state.as_str(), "running" | "pending") {
                return Ok(());
            }
            if cx.dry_run {
                return cx.log.note(format!("dry run: would start {inst}"));
            }
            mutate(cx.log, at(inst, region), self.primary.start_instances().instance_ids(inst)).await??;
            Ok(())
        })
        .await?;
        self.wait_status_checks(l).await?;
        self.exit_standby(l).await
    }

    /// Tags (as kept) and detaches the primary instance's volumes at the replaced devices, and
    /// waits until they are detached.
    async fn detach_originals(&self, l: &Layout) -> Result<(), ActionError> {
        let cx = self.cx;
        let (inst, region) = (l.primary_instance.as_str(), l.primary_region.as_str());
        let originals: Vec<String> = l.originals.values().cloned().collect();
        let originals_ref = &originals;
        cx.sub(&self.sub_name("detach-originals"), json!({ "volumes": originals }), |resume| async move {
            // The ones still on the instance are detached: on the sub-step's first run every one
            // `read` recorded (a stop detaches nothing); after a cut-off run, one read of them all.
            let on: Vec<(&String, &String)> = if resume.first {
                l.originals.iter().collect()
            } else {
                let ids: Vec<&str> = originals_ref.iter().map(String::as_str).collect();
                let now = volumes(cx.log, self.primary, region, &ids).await?;
                l.originals
                    .iter()
                    .zip(now)
                    .filter(|(_, v)| v.instance.as_deref() == Some(inst))
                    .map(|(o, _)| o)
                    .collect()
            };
            if on.is_empty() {
                return Ok(());
            }
            if cx.dry_run {
                for (device, vol) in &on {
                    cx.log.note(format!("dry run: would detach and keep {vol} ({device})"))?;
                }
                return Ok(());
            }
            // Each tagged before any is detached (a kept volume always says where it came from),
            // the tags all at once: a tag changes nothing the instance sees, and these calls are
            // inside the instance's downtime.
            let t = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
            let tag = on.iter().map(|(device, vol)| {
                let req = self.primary.create_tags().resources(*vol).set_tags(Some(vec![
                    t(TAG_RUN, cx.run_id),
                    t(TAG_STEP, cx.step),
                    t(TAG_RESOURCE, self.name),
                    t("pilotlight:retained", "true"),
                    t("pilotlight:former-instance", inst),
                    t("pilotlight:former-device", device),
                ]));
                async move {
                    mutate(cx.log, at(vol, region), req).await??;
                    Ok(())
                }
            });
            crate::actions::failback::all_at_once(tag).await?;
            // Detached one after another in device order: a refused detach leaves the rest as
            // they were, so the way back has the least to put back (and an instance's devices are
            // listed in the order they were attached: the way back re-attaches in device order).
            for (device, vol) in on {
                let req = self.primary.detach_volume().volume_id(vol).instance_id(inst).device(device);
                mutate(cx.log, at(vol, region), req).await??;
            }
            Ok(())
        })
        .await?;
        self.wait_volumes("wait-detached", l, originals, |v| v.state == "available").await
    }

    /// Sets DeleteOnTermination of the replaced devices back to what `read` recorded (sub-step
    /// `part`): an attached volume does not get it.
    async fn delete_on_termination(&self, l: &Layout, part: &str) -> Result<(), ActionError> {
        let cx = self.cx;
        let (inst, region) = (l.primary_instance.as_str(), l.primary_region.as_str());
        let flags = &l.delete_on_termination;
        cx.sub(&self.sub_name(part), json!({ "devices": flags }), |resume| async move {
            // A volume attached after launch has DeleteOnTermination off (EC2 user guide,
            // "Preserve data when an instance is terminated"): on the sub-step's first run that
            // is what the devices have; after a cut-off run, the instance says.
            let now: IndexMap<String, bool> = if resume.first {
                flags.keys().map(|d| (d.clone(), false)).collect()
            } else {
                delete_on_termination(&instance(cx.log, self.primary, inst, region).await?)
            };
            let differ: Vec<(&String, bool)> =
                flags.iter().filter(|(d, want)| now.get(*d) != Some(*want)).map(|(d, w)| (d, *w)).collect();
            if differ.is_empty() {
                return Ok(());
            }
            if cx.dry_run {
                return cx.log.note(format!("dry run: would set DeleteOnTermination on {inst}: {differ:?}"));
            }
            let mappings = differ
                .into_iter()
                .map(|(device, want)| {
                    InstanceBlockDeviceMappingSpecification::builder()
                        .device_name(device)
                        .ebs(EbsInstanceBlockDeviceSpecification::builder().delete_on_termination(want).build())
                        .build()
                })
                .collect();
            let req =
                self.primary.modify_instance_attribute().instance_id(inst).set_block_device_mappings(Some(mappings));
            mutate(cx.log, at(inst, region), req).await??;
            Ok(())
        })
        .await
    }

    /// `running` is not booted: waits for the instance to run and its instance and system status
    /// checks to pass (one DescribeInstanceStatus a poll says both: no wait for `running` of its
    /// own before it), and says so when they fail (a restored root volume that does not boot)
    /// while the originals are still kept.
    async fn wait_status_checks(&self, l: &Layout) -> Result<(), ActionError> {
        let cx = self.cx;
        if cx.dry_run {
            return Ok(());
        }
        let (inst, region) = (l.primary_instance.as_str(), l.primary_region.as_str());
        let name = self.sub_name("wait-status-checks");
        cx.sub(&name, json!({ "instance": inst }), |_| async {
            let quiet = cx.quiet();
            cx.wait_for(&name, cx.timeout, || async {
                // Every state, not only `running` (the default): a `pending` one says so.
                let req = self.primary.describe_instance_status().instance_ids(inst).include_all_instances(true);
                let out = read(&quiet, at(inst, region), req).await??;
                let status = out.instance_statuses().first();
                let state = status
                    .and_then(|s| s.instance_state())
                    .and_then(|s| s.name())
                    .map_or("not reported yet", |n| n.as_str())
                    .to_string();
                let word = |s: Option<&aws_sdk_ec2::types::InstanceStatusSummary>| {
                    s.and_then(|s| s.status()).map_or("not reported yet", |s| s.as_str()).to_string()
                };
                let (instance, system) =
                    (word(status.and_then(|s| s.instance_status())), word(status.and_then(|s| s.system_status())));
                if instance == "impaired" || system == "impaired" {
                    let kept: Vec<&String> = l.originals.values().collect();
                    return Err(ActionError::Failed(format!(
                        "{inst} runs but fails its status checks (instance {instance}, system {system}): a restored root \
                         volume that does not boot? Its original volumes are kept ({}, tagged pilotlight:retained) to \
                         attach back by hand",
                        kept.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
                Ok(if state == "running" && instance == "ok" && system == "ok" {
                    Poll::Ready(())
                } else {
                    Poll::Pending(format!("{inst} {state}, status checks: instance {instance}, system {system}"))
                })
            })
            .await
        })
        .await
    }

    /// Attaches each volume not yet on the instance at its device (`look`: after one read of
    /// them all; else every one), one by one in device order: EC2 lists an instance's devices in
    /// the order they were attached, and an undo or a way back promises the instance's whole
    /// Describe as before (attaches sent together came back in any order).
    async fn attach_all(
        &self,
        (inst, region): (&str, &str),
        volumes: &IndexMap<String, String>,
        look: bool,
    ) -> Result<(), ActionError> {
        let cx = self.cx;
        if cx.dry_run {
            for (device, vol) in volumes {
                cx.log.note(format!("dry run: would attach {vol} at {device}"))?;
            }
            return Ok(());
        }
        let off: Vec<(&String, &String)> = if look {
            let ids: Vec<&str> = volumes.values().map(String::as_str).collect();
            let now = super::reads::volumes(cx.log, self.primary, region, &ids).await?;
            volumes.iter().zip(now).filter(|(_, v)| v.instance.as_deref() != Some(inst)).map(|(o, _)| o).collect()
        } else {
            volumes.iter().collect()
        };
        for (device, vol) in off {
            let req = self.primary.attach_volume().volume_id(vol).instance_id(inst).device(device);
            mutate(cx.log, at(vol, region), req).await??;
        }
        Ok(())
    }

    /// The way back: detaches whatever restored volume got attached, re-attaches the originals
    /// at their devices, starts the instance if it was running, returns it to its Auto Scaling
    /// group, and marks the swap's sub-steps undone so a retry does them again. Each part a sub-step (`rollback-*`), so a kill anywhere
    /// goes on from the journal; the originals get their DeleteOnTermination back, and the start
    /// waits for their attachments (EC2 refuses it while one is still attaching).
    async fn put_originals_back(
        &self,
        l: &Layout,
        volumes: &IndexMap<String, String>,
        why: &str,
    ) -> Result<(), ActionError> {
        let cx = self.cx;
        let (inst, region) = (l.primary_instance.as_str(), l.primary_region.as_str());
        cx.log.note(format!("{}: {why}; putting the original volumes back on {inst}", self.name))?;
        // Each part is safe to do again: one left done by a way back cut off earlier runs again.
        let own: Vec<SubId> = ROLLBACK.iter().map(|p| self.sub_name(p)).collect();
        cx.reset(&own.iter().collect::<Vec<_>>())?;
        let restored: Vec<String> = volumes.values().cloned().collect();
        cx.sub(&self.sub_name("rollback-detach-restored"), json!({ "volumes": restored }), |_| async {
            for vol in volumes.values() {
                if volume(cx.log, self.primary, region, vol).await?.instance.as_deref() == Some(inst) {
                    let req = self.primary.detach_volume().volume_id(vol).instance_id(inst);
                    mutate(cx.log, at(vol, region), req).await??;
                }
            }
            Ok(())
        })
        .await?;
        self.wait_volumes("rollback-wait-detached", l, restored, |v| v.state == "available").await?;
        let originals: Vec<String> = l.originals.values().cloned().collect();
        cx.sub(&self.sub_name("rollback-attach-originals"), json!({ "volumes": originals }), |_| async {
            self.attach_all((inst, region), &l.originals, true).await
        })
        .await?;
        self.wait_volumes("rollback-wait-attached", l, originals, |v| {
            v.state == "in-use" && v.instance.as_deref() == Some(inst) && v.attachment.as_deref() == Some("attached")
        })
        .await?;
        self.delete_on_termination(l, "rollback-delete-on-termination").await?;
        if l.primary_state == "running" {
            cx.sub(&self.sub_name("rollback-start"), json!({ "instance": inst }), |_| async {
                let state = state_of(&instance(cx.log, self.primary, inst, region).await?);
                if matches!(state.as_str(), "running" | "pending") {
                    return Ok(());
                }
                mutate(cx.log, at(inst, region), self.primary.start_instances().instance_ids(inst)).await??;
                Ok(())
            })
            .await?;
            self.wait_instance("rollback-wait-running", inst, region, "running").await?;
        }
        // Back in its Auto Scaling group's hands, as before the swap.
        self.exit_standby(l).await?;
        let names: Vec<SubId> = SWAP.iter().chain(ROLLBACK).map(|p| self.sub_name(p)).collect();
        cx.reset(&names.iter().collect::<Vec<_>>())
    }

    async fn wait_instance(&self, part: &str, inst: &str, region: &str, want: &str) -> Result<(), ActionError> {
        let cx = self.cx;
        if cx.dry_run {
            return Ok(());
        }
        let name = self.sub_name(part);
        cx.sub(&name, json!({ "instance": inst, "until": want }), |_| async {
            if want == "stopped" {
                let consequence =
                    "its kept original volumes may need a file-system check if they are ever attached again";
                return super::stopping::until_stopped(cx, &name, self.primary, (inst, region), consequence)
                    .await
                    .map(|_| ());
            }
            let quiet = cx.quiet();
            cx.wait_for(&name, cx.timeout, || async {
                let state = state_of(&instance(&quiet, self.primary, inst, region).await?);
                Ok(if state == want { Poll::Ready(()) } else { Poll::Pending(format!("{inst} {state}")) })
            })
            .await
        })
        .await
    }

    pub(super) async fn wait_volumes(
        &self,
        part: &str,
        l: &Layout,
        ids: Vec<String>,
        ready: impl Fn(&VolumeNow) -> bool,
    ) -> Result<(), ActionError> {
        let cx = self.cx;
        if cx.dry_run || ids.is_empty() {
            return Ok(());
        }
        let name = self.sub_name(part);
        let region = l.primary_region.as_str();
        let ready = &ready;
        cx.sub(&name, json!({ "volumes": ids }), |_| async {
            let quiet = cx.quiet();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            cx.wait_for(&name, cx.timeout, || async {
                let now = volumes(&quiet, self.primary, region, &ids).await?;
                let pending: Vec<String> =
                    ids.iter().zip(now).filter(|(_, v)| !ready(v)).map(|(id, v)| format!("{id} {}", v.state)).collect();
                Ok(if pending.is_empty() { Poll::Ready(()) } else { Poll::Pending(pending.join(", ")) })
            })
            .await
        })
        .await
    }
}

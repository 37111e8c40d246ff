//! `ec2.failback`: bring an instance's data home from recovery, keeping the primary instance.
//!
//! Per resource, as sub-steps (each journaled, each finding what it may already have made by
//! the `pilotlight:run` / `pilotlight:resource` / `pilotlight:device` tags before acting):
//! `read` (both instances and the volume layout, recorded once: after the detach, primary's own
//! view would no longer say what was there), `snapshot-recovery-volumes`, `wait-recovery-snapshots`,
//! `share-with-primary` (cross-account only), `copy-to-primary`, `wait-primary-copies`,
//! `create-volumes` (in the primary instance's zone; same type, size, IOPS, throughput,
//! encryption), `wait-volumes-available`, `stop-primary`, `wait-primary-stopped`,
//! `detach-originals` (tagged as retained with their former device first; never deleted),
//! `wait-detached`, `attach-restored` (same device names, root included; if that fails, the
//! originals go back before the action gives up), `wait-attached` (every attachment
//! `attached`, not `attaching`), `delete-on-termination` (each device's flag as it was: an
//! attached volume does not get it), `start-primary`, `wait-status-checks` (the instance
//! `running` and its instance and system checks `ok`, one call a poll; a restored root volume
//! that does not boot is reported, the originals still kept), `compare-config` (the instance's
//! whole Describe against before: every difference with why). The primary instance is never terminated:
//! TerminateInstances is not even an operation this tool knows.

pub mod compare_config;
mod create_volumes;
mod fast_restore;
pub mod preflight;
pub(super) mod reads;
pub(super) mod recovery_snapshots;
pub(super) mod rehearse;
mod staged;
mod standby;
pub(super) mod stopping;
mod swap;
pub(super) mod undo;

use super::{Retained, TAG_RESOURCE, TAG_RUN, TAG_STEP, each_resource, resource_names};
use crate::actions::{Action, ActionCx, CheckCx, Outputs, ParamProblem, Poll};
use crate::aws::{ActionError, at, mutate, read};
use crate::journal::SubId;
use crate::runbook::ResourceType;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, OperationType, ResourceType as Ec2ResourceType, SnapshotAttributeName, Tag, TagSpecification,
};
use indexmap::IndexMap;
use reads::{LOOKS_WHEN_RESUMED, ebs_devices, find_snapshot, instance, state_of};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// A snapshot that ended in `error`, as its wait journals it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct FailedSnapshot {
    pub snapshot_id: String,
    pub why: String,
}

/// Copies of one snapshot made, when each ends in `error` (a failed copy holds nothing), before
/// the step fails.
const COPY_TRIES: u32 = 3;

const TAG_DEVICE: &str = "pilotlight:device";
const TAG_STAGE: &str = "pilotlight:stage";
/// Volumes at least this large get a note: restored blocks load lazily until read once.
const LARGE_GIB: i32 = 100;

/// Parameters of `ec2.failback`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ec2Failback {
    /// A declared `ec2_instance` resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Several `ec2_instance` resources, failed back concurrently.
    #[serde(default)]
    pub resources: Vec<String>,
    /// KMS key (id or ARN, in the primary region) to encrypt the copies with: needed when the
    /// recovery snapshots are encrypted with a key primary cannot use (another account).
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// At most this many instances at once (default: `--max-parallel`, the runbook's `max_parallel`, else 4).
    #[serde(default)]
    pub max_parallel: Option<usize>,
    /// EBS fast snapshot restore on the final copies before the volumes are made from them: the
    /// volumes give full performance at once (no lazy loading), at the cost of the wait in the
    /// window (60 minutes per TiB) and of fast snapshot restore's hourly charge meanwhile.
    #[serde(default)]
    pub fast_snapshot_restore: bool,
}

/// One EBS volume of the recovery instance, and where it goes on primary.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SourceVolume {
    /// The device on the primary instance it will be attached at.
    device: String,
    volume_id: String,
    size: i32,
    volume_type: String,
    iops: Option<i32>,
    throughput: Option<i32>,
    encrypted: bool,
}

/// What `read` records before anything changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Layout {
    recovery_instance: String,
    recovery_region: String,
    primary_instance: String,
    primary_region: String,
    primary_zone: String,
    /// State before failback (the instance is left running afterwards either way).
    primary_state: String,
    sources: Vec<SourceVolume>,
    /// Primary's volumes at the devices that receive restored ones: detached and kept.
    originals: IndexMap<String, String>,
    /// Set when recovery is in another account: the account to share snapshots with.
    share_with: Option<String>,
    /// DeleteOnTermination of each replaced device before failback: an attached volume does not
    /// get it, so it is set again after the swap.
    #[serde(default)]
    delete_on_termination: IndexMap<String, bool>,
    /// The primary instance's whole Describe ([`crate::aws::answer_tree`]), compared with the
    /// result at the end. Null in a run journaled by a version that did not record it.
    #[serde(default)]
    describe: Value,
    /// The Auto Scaling group the primary instance was `InService` in: it goes to Standby for
    /// the swap (see `standby`).
    #[serde(default)]
    auto_scaling_group: Option<String>,
    /// That group's sizes and suspended processes when read: whether Standby is allowed.
    #[serde(default)]
    group_at_read: Option<standby::GroupAtRead>,
}

/// A snapshot made or copied for one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct EbsSnapshot {
    pub(super) snapshot_id: String,
    /// When the recovery point was taken (RFC 3339), as EC2 says: its StartTime, which EC2 gives
    /// to the second.
    pub(super) started: Option<String>,
    /// When the call that made it was sent (this machine's clock): a snapshot holds every write
    /// finished before its request, so its point is no earlier than this, whatever the
    /// second-rounded StartTime says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) requested_at: Option<String>,
}

impl EbsSnapshot {
    /// The recovery point, to the millisecond where the request's time knows better than EC2's
    /// second-rounded StartTime: the later of the two.
    pub(super) fn point(&self) -> Option<String> {
        let ms = |t: &Option<String>| t.as_deref().and_then(|t| humantime::parse_rfc3339_weak(t).ok());
        match (ms(&self.started), ms(&self.requested_at)) {
            (Some(s), Some(r)) if r > s => self.requested_at.clone(),
            _ => self.started.clone().or_else(|| self.requested_at.clone()),
        }
    }
}

impl Action for Ec2Failback {
    const NAME: &'static str = "ec2.failback";
    const DISRUPTS: bool = true;
    const ACTS_IN: crate::actions::ActsIn = crate::actions::ActsIn::RecoveryToPrimary;
    const SUMMARY: &'static str = "restore an instance's volumes in primary from snapshots of the recovery instance, keeping the primary instance and its old volumes";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["resources", "retained"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        resource_names(cx, &self.resource, &self.resources, &[ResourceType::Ec2Instance]).1
    }

    fn trade_offs(&self) -> Vec<String> {
        match self.fast_snapshot_restore {
            true => vec![
                "fast snapshot restore: the restored volumes give full performance at once (no block loads \
                          lazily after the window); costs the wait for it in the window (60 minutes per TiB of each \
                          copy) and its hourly charge per snapshot and zone until it is turned off after the volumes \
                          are made"
                    .to_string(),
            ],
            false => Vec::new(),
        }
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let names: Vec<String> = self.resource.iter().chain(self.resources.iter()).cloned().collect();
        let primary = Client::new(&cx.envs.config("primary", cx.log).await?);
        let recovery = Client::new(&cx.envs.config("recovery", cx.log).await?);
        let autoscaling = aws_sdk_autoscaling::Client::new(&cx.envs.config("primary", cx.log).await?);
        let limit = self.max_parallel.unwrap_or(cx.max_parallel);
        each_resource(&names, limit, |name| {
            let (primary, recovery, autoscaling) = (&primary, &recovery, &autoscaling);
            let (kms, fast_restore) = (self.kms_key_id.as_deref(), self.fast_snapshot_restore);
            let stages = &FAILBACK;
            async move { One { cx, name: &name, primary, autoscaling, recovery, kms, stages, fast_restore }.run().await }
        })
        .await
    }
}

/// The tags on what a failback makes or keeps for one device of an instance.
fn tag_list(cx: &ActionCx<'_>, name: &str, device: &str, stage: &str) -> Vec<Tag> {
    let t = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    vec![
        t(TAG_RUN, cx.run_id),
        t(TAG_STEP, cx.step),
        t(TAG_RESOURCE, name),
        t(TAG_DEVICE, device),
        t(TAG_STAGE, stage),
        // No spaces in what EC2 is sent: moto's signature check under IAM enforcement fails on
        // them (query bodies from the Rust SDK); AWS does not mind either way.
        t("Name", &format!("pilotlight/{name}/{stage}{device}")),
    ]
}

pub(super) fn tag_spec(
    cx: &ActionCx<'_>,
    name: &str,
    kind: Ec2ResourceType,
    device: &str,
    stage: &str,
) -> TagSpecification {
    TagSpecification::builder().resource_type(kind).set_tags(Some(tag_list(cx, name, device, stage))).build()
}

/// Filters that find what this run made for this resource, device and stage.
pub(super) fn ours(cx: &ActionCx<'_>, name: &str, device: &str, stage: &str) -> Vec<Filter> {
    let f = |k: &str, v: &str| Filter::builder().name(format!("tag:{k}")).values(v).build();
    vec![f(TAG_RUN, cx.run_id), f(TAG_RESOURCE, name), f(TAG_DEVICE, device), f(TAG_STAGE, stage)]
}

/// The `pilotlight:stage` tags of what the recovery point makes: a failback's, or a rehearsal's
/// (never taken for each other's).
pub(in crate::actions::failback) struct Stages {
    pub(super) snapshot: &'static str,
    pub(super) copy: &'static str,
    pub(super) volume: &'static str,
    /// Put before every sub-step name (`undo-`), so the same code journals under other names.
    pub(super) parts: &'static str,
}

pub(in crate::actions::failback) const FAILBACK: Stages =
    Stages { snapshot: "recovery-snapshot", copy: "primary-copy", volume: "restored", parts: "" };
pub(in crate::actions::failback) const REHEARSAL: Stages =
    Stages { snapshot: "rehearsal-snapshot", copy: "rehearsal-copy", volume: "rehearsal-volume", parts: "" };
/// `pilotlight undo`: the swap again, the other way round; it makes no snapshot or volume.
pub(in crate::actions::failback) const UNDO: Stages =
    Stages { snapshot: "undo-snapshot", copy: "undo-copy", volume: "undo-volume", parts: "undo-" };

/// One instance's failback (or its rehearsal, [`rehearse`]).
pub(in crate::actions::failback) struct One<'a, 'c> {
    pub cx: &'a ActionCx<'c>,
    pub name: &'a str,
    pub primary: &'a Client,
    pub autoscaling: &'a aws_sdk_autoscaling::Client,
    pub recovery: &'a Client,
    pub kms: Option<&'a str>,
    pub stages: &'static Stages,
    /// Fast snapshot restore on the copies before the volumes ([`fast_restore`]).
    pub fast_restore: bool,
}

impl One<'_, '_> {
    fn sub_name(&self, part: &str) -> SubId {
        SubId::of(self.name, format!("{}{part}", self.stages.parts))
    }

    fn spec(&self, kind: Ec2ResourceType, device: &str, stage: &str) -> TagSpecification {
        tag_spec(self.cx, self.name, kind, device, stage)
    }

    fn ours(&self, device: &str, stage: &str) -> Vec<Filter> {
        ours(self.cx, self.name, device, stage)
    }

    async fn run(&self) -> Result<Value, ActionError> {
        let cx = self.cx;
        let layout: Layout = cx.sub(&self.sub_name("read"), Value::Null, |_| self.read_layout()).await?;
        // A failback of a runbook that stages says, before copying, what it found staged.
        let staged = match self.stages.copy == FAILBACK.copy && super::runbook_stages(cx.runbook) {
            true => Some(staged::look(self, &layout.primary_region, &layout.sources).await?),
            false => None,
        };
        let snaps = self.snapshot_recovery(&layout).await?;
        let copies = self.copy_to_primary(&layout, &snaps).await?;
        let volumes = match self.fast_restore {
            true => self.create_volumes_fast(&layout, &copies).await?,
            false => self.create_volumes(&layout, &copies).await?,
        };
        self.swap(&layout, &volumes).await?;
        let remaining = self.compare(&layout).await?;
        let mut out = self.outputs(&layout, &snaps, &copies, &volumes, &remaining);
        if let Some(staged) = staged {
            let ids: IndexMap<String, Option<String>> =
                staged.into_iter().map(|(device, s)| (device, s.map(|s| s.snapshot_id))).collect();
            out["staged"] = json!(ids);
        }
        Ok(out)
    }

    /// Reads both instances and records the layout.
    async fn read_layout(&self) -> Result<Layout, ActionError> {
        let cx = self.cx;
        let res = cx
            .runbook
            .resources
            .get(self.name)
            .ok_or_else(|| ActionError::Failed(format!("no resource {}", self.name)))?;
        let (p_id, r_id) = (res.primary.clone().unwrap_or_default(), res.recovery.clone().unwrap_or_default());
        let p_region = cx.envs.region("primary")?.to_string();
        let r_region = cx.envs.region("recovery")?.to_string();
        // Both sides at once: two round trips that wait for nothing of each other.
        let (rec, pri) = futures_util::future::join(
            instance(cx.log, self.recovery, &r_id, &r_region),
            instance(cx.log, self.primary, &p_id, &p_region),
        )
        .await;
        let (rec, pri) = (rec?, pri?);
        let rec_vols: Vec<(String, String)> = reads::devices_on_primary(&rec, &pri);
        let ids: Vec<String> = rec_vols.iter().map(|(_, v)| v.clone()).collect();
        let req = self.recovery.describe_volumes().set_volume_ids(Some(ids));
        let described = read(cx.log, at(&r_id, &r_region), req).await??;
        let mut sources = Vec::new();
        for (device, vol_id) in &rec_vols {
            let Some(v) = described.volumes().iter().find(|v| v.volume_id() == Some(vol_id.as_str())) else {
                return Err(ActionError::Failed(format!("volume {vol_id} of {r_id} was not described")));
            };
            sources.push(SourceVolume {
                device: device.clone(),
                volume_id: vol_id.clone(),
                size: v.size().unwrap_or(8),
                volume_type: v.volume_type().map(|t| t.as_str().to_string()).unwrap_or_else(|| "gp3".into()),
                iops: v.iops(),
                throughput: v.throughput(),
                encrypted: v.encrypted().unwrap_or(false),
            });
        }
        if sources.is_empty() {
            return Err(ActionError::Failed(format!("recovery instance {r_id} has no EBS volumes to restore from")));
        }
        let pri_vols: IndexMap<String, String> = ebs_devices(&pri).into_iter().collect();
        let originals: IndexMap<String, String> =
            sources.iter().filter_map(|s| Some((s.device.clone(), pri_vols.get(&s.device)?.clone()))).collect();
        let group = standby::membership(cx.log, self.autoscaling, pri.instance_id().unwrap_or_default(), &p_region)
            .await?
            .filter(|(_, state)| state == "InService")
            .map(|(group, _)| group);
        let group_at_read = match &group {
            Some(g) => standby::group_at_read(cx.log, self.autoscaling, g, &p_region).await?,
            None => None,
        };
        let p_acct = cx.envs.check_account("primary", cx.log).await?.account;
        let r_acct = cx.envs.check_account("recovery", cx.log).await?.account;
        Ok(Layout {
            recovery_instance: rec.instance_id().unwrap_or_default().to_string(),
            recovery_region: r_region,
            primary_instance: pri.instance_id().unwrap_or_default().to_string(),
            primary_region: p_region,
            primary_zone: pri.placement().and_then(|p| p.availability_zone()).unwrap_or_default().to_string(),
            primary_state: state_of(&pri),
            describe: crate::aws::answer_tree::tree(&pri),
            sources,
            delete_on_termination: reads::delete_on_termination(&pri)
                .into_iter()
                .filter(|(device, _)| originals.contains_key(device))
                .collect(),
            originals,
            share_with: (p_acct != r_acct).then_some(p_acct),
            auto_scaling_group: group,
            group_at_read,
        })
    }

    /// Shares (cross-account) and copies the recovery snapshots into the primary region.
    async fn copy_to_primary(
        &self,
        l: &Layout,
        snaps: &IndexMap<String, EbsSnapshot>,
    ) -> Result<IndexMap<String, EbsSnapshot>, ActionError> {
        let cx = self.cx;
        if let Some(account) = &l.share_with {
            cx.sub(&self.sub_name("share-with-primary"), json!({ "account": account }), |_| async {
                for snap in snaps.values() {
                    if cx.dry_run {
                        cx.log.note(format!("dry run: would share {} with account {account}", snap.snapshot_id))?;
                        continue;
                    }
                    let req = self
                        .recovery
                        .modify_snapshot_attribute()
                        .snapshot_id(&snap.snapshot_id)
                        .attribute(SnapshotAttributeName::CreateVolumePermission)
                        .operation_type(OperationType::Add)
                        .user_ids(account);
                    mutate(cx.log, at(&snap.snapshot_id, &l.recovery_region), req).await??;
                }
                Ok(())
            })
            .await?;
        }
        let (copy_name, wait_name) = (self.sub_name("copy-to-primary"), self.sub_name("wait-primary-copies"));
        let mut tries = 1;
        // The copies that completed, kept when another ended in `error` and is made again (a list
        // may not show them yet: EC2's lists are eventually consistent).
        let mut good: IndexMap<String, EbsSnapshot> = IndexMap::new();
        loop {
            let good_ones = &good;
            let copies: IndexMap<String, EbsSnapshot> = cx
                .sub(&copy_name, json!({ "from": l.recovery_region, "to": l.primary_region }), |resume| async move {
                    // Every volume's copy at once: each is found by its tags or made on its own,
                    // and none waits for another's answer.
                    let each = snaps.iter().map(|(device, snap)| {
                        let resume = &resume;
                        async move {
                            if let Some(kept) = good_ones.get(device) {
                                return Ok::<_, ActionError>((device.clone(), kept.clone()));
                            }
                            let ours = self.ours(device, self.stages.copy);
                            let looks = resume.looks(LOOKS_WHEN_RESUMED);
                            if let Some(found) =
                                find_snapshot(cx.log, self.primary, &l.primary_region, ours, looks).await?
                            {
                                return Ok((device.clone(), found));
                            }
                            if cx.dry_run {
                                cx.log.note(format!(
                                    "dry run: would copy {} to {}",
                                    snap.snapshot_id, l.primary_region
                                ))?;
                                let dry = EbsSnapshot {
                                    snapshot_id: format!("snap-(dry run copy {device})"),
                                    started: snap.started.clone(),
                                    requested_at: snap.requested_at.clone(),
                                };
                                return Ok((device.clone(), dry));
                            }
                            let mut req = self
                                .primary
                                .copy_snapshot()
                                .source_region(&l.recovery_region)
                                .source_snapshot_id(&snap.snapshot_id)
                                .description(format!(
                                    "pilotlight-failback/{}/{}{device}/from/{}",
                                    cx.run_id, self.name, snap.snapshot_id
                                ))
                                .tag_specifications(self.spec(Ec2ResourceType::Snapshot, device, self.stages.copy));
                            if let Some(key) = self.kms {
                                req = req.encrypted(true).kms_key_id(key);
                            }
                            let made = mutate(cx.log, at(&snap.snapshot_id, &l.primary_region), req).await??;
                            let copy = EbsSnapshot {
                                snapshot_id: made.snapshot_id().unwrap_or_default().to_string(),
                                started: snap.started.clone(),
                                requested_at: snap.requested_at.clone(),
                            };
                            Ok((device.clone(), copy))
                        }
                    });
                    Ok(crate::actions::failback::all_at_once(each).await?.into_iter().collect::<IndexMap<_, _>>())
                })
                .await?;
            let Some(failed) =
                self.wait_snapshots("wait-primary-copies", self.primary, &l.primary_region, &copies).await?
            else {
                return Ok(copies);
            };
            good = copies.into_iter().filter(|(_, c)| c.snapshot_id != failed.snapshot_id).collect();
            let why = failed.why;
            // A copy that ended in `error` holds nothing: AWS's answer is to copy again. The copy
            // and its wait are reset in one entry, so a kill here copies again on resume too.
            if tries >= COPY_TRIES {
                return Err(ActionError::Failed(format!("{why}; every one of {COPY_TRIES} copies failed")));
            }
            tries += 1;
            cx.log.note(format!("{}; copying again ({tries} of {COPY_TRIES})", why.trim_end_matches('.')))?;
            cx.reset(&[&copy_name, &wait_name])?;
        }
    }

    async fn wait_snapshots(
        &self,
        part: &str,
        client: &Client,
        region: &str,
        snaps: &IndexMap<String, EbsSnapshot>,
    ) -> Result<Option<FailedSnapshot>, ActionError> {
        let cx = self.cx;
        if cx.dry_run {
            return Ok(None);
        }
        let name = self.sub_name(part);
        let ids: Vec<String> = snaps.values().map(|s| s.snapshot_id.clone()).collect();
        cx.sub(&name, json!({ "snapshots": ids }), |_| async {
            let quiet = cx.quiet();
            cx.wait_for(&name, cx.timeout, || async {
                let req = client.describe_snapshots().set_snapshot_ids(Some(ids.clone()));
                let out = read(&quiet, at(&ids.join(","), region), req).await??;
                let mut pending = Vec::new();
                for s in out.snapshots() {
                    let state = s.state().map(|x| x.as_str()).unwrap_or("unknown");
                    match state {
                        "completed" => {}
                        // Journaled as the wait's result: the caller decides (copy again).
                        "error" => {
                            let id = s.snapshot_id().unwrap_or("?");
                            let why =
                                format!("snapshot {id} failed: {}", s.state_message().unwrap_or("no reason given"));
                            return Ok(Poll::Ready(Some(FailedSnapshot { snapshot_id: id.to_string(), why })));
                        }
                        other => pending.push(format!(
                            "{} {other} {}",
                            s.snapshot_id().unwrap_or("?"),
                            s.progress().unwrap_or("")
                        )),
                    }
                }
                Ok(if pending.is_empty() { Poll::Ready(None) } else { Poll::Pending(pending.join(", ")) })
            })
            .await
        })
        .await
    }

    fn outputs(
        &self,
        l: &Layout,
        snaps: &IndexMap<String, EbsSnapshot>,
        copies: &IndexMap<String, EbsSnapshot>,
        volumes: &IndexMap<String, String>,
        remaining: &[String],
    ) -> Value {
        let mut retained = Vec::new();
        for (device, vol) in &l.originals {
            retained.push(Retained {
                resource: self.name.to_string(),
                kind: "ebs_volume".into(),
                id: vol.clone(),
                region: l.primary_region.clone(),
                why: format!("the primary instance's volume at {device} before failback (detached, kept)"),
                delete_with: format!("aws ec2 delete-volume --region {} --volume-id {vol}", l.primary_region),
            });
        }
        for (set, region, what) in [
            (snaps, &l.recovery_region, "recovery point taken from the recovery instance"),
            (copies, &l.primary_region, "copy of the recovery point in primary"),
        ] {
            for (device, s) in set {
                retained.push(Retained {
                    resource: self.name.to_string(),
                    kind: "ebs_snapshot".into(),
                    id: s.snapshot_id.clone(),
                    region: region.clone(),
                    why: format!("{what} ({device})"),
                    delete_with: format!("aws ec2 delete-snapshot --region {region} --snapshot-id {}", s.snapshot_id),
                });
            }
        }
        // Restored from copies with fast snapshot restore enabled, no block loads lazily.
        let large: Vec<String> = l
            .sources
            .iter()
            .filter(|s| s.size >= LARGE_GIB && !self.fast_restore)
            .map(|s| {
                format!("{} ({} GiB at {})", volumes.get(&s.device).cloned().unwrap_or_default(), s.size, s.device)
            })
            .collect();
        json!({
            "instance_id": l.primary_instance,
            "volumes": volumes,
            "kept_volumes": l.originals,
            "recovery_snapshots": snaps.iter().map(|(d, s)| (d.clone(), s.snapshot_id.clone())).collect::<IndexMap<_, _>>(),
            "primary_snapshots": copies.iter().map(|(d, s)| (d.clone(), s.snapshot_id.clone())).collect::<IndexMap<_, _>>(),
            "recovery_point": snaps
                .values()
                .filter_map(EbsSnapshot::point)
                // The earliest; one whose time cannot be read goes last.
                .min_by_key(|t| humantime::parse_rfc3339_weak(t).map_or((1, std::time::UNIX_EPOCH), |t| (0, t))),
            "initialisation": "Volumes restored from snapshots load their blocks lazily: the first read of each block is slow until every block has been read once (e.g. `fio --filename=/dev/DEVICE --rw=read --bs=1M --iodepth=32 --ioengine=libaio --direct=1 --name=init`). For large volumes this takes hours.",
            "large_volumes": large,
            "fast_snapshot_restore": self.fast_restore,
            "remaining_differences": remaining,
            "retained": retained,
        })
    }
}

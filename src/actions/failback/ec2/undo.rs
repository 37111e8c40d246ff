//! `pilotlight undo` for an EC2 instance: the failback's swap the other way round. The instance
//! is stopped (in Standby when its Auto Scaling group needs it), the restored volumes are
//! detached and kept (tagged `pilotlight:retained`, listed with their delete command), the
//! originals the failback kept go back at their devices with their DeleteOnTermination, and the
//! instance is started and its status checks waited for. The same sub-steps as the swap, named
//! `undo-*`, so a kill anywhere goes on from the journal; then `undo-untag` takes the failback's
//! tags off the originals, which are primary's volumes again.

use super::{Layout, One, TAG_RESOURCE, TAG_RUN, TAG_STEP, UNDO};
use crate::actions::ActionCx;
use crate::actions::failback::Retained;
use crate::aws::{ActionError, at, mutate};
use crate::journal::SubId;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Tag;
use indexmap::IndexMap;
use serde_json::{Value, json};

/// The tags `detach-originals` put on a kept volume.
const KEPT_TAGS: &[&str] =
    &[TAG_RUN, TAG_STEP, TAG_RESOURCE, "pilotlight:retained", "pilotlight:former-instance", "pilotlight:former-device"];

/// Undoes one instance's failback; says so when this run never attached restored volumes to it.
pub(in crate::actions::failback) async fn undo(
    cx: &ActionCx<'_>,
    name: &str,
    primary: &Client,
    autoscaling: &aws_sdk_autoscaling::Client,
) -> Result<Value, ActionError> {
    let read = |part: &str| SubId::of(name, part);
    let layout: Option<Layout> = cx.result_of(&read("read"))?;
    let attached = cx.recorded(&read("attach-restored")).is_some_and(|s| s.is_done());
    let restored: Option<IndexMap<String, String>> = cx.result_of(&read("create-volumes"))?;
    let (Some(l), Some(restored), true) = (layout, restored, attached) else {
        return Ok(json!({ "undone": false, "why": "this run attached no restored volume to it" }));
    };
    let one = One { cx, name, primary, autoscaling, recovery: primary, kms: None, stages: &UNDO, fast_restore: false };
    let back = Layout { originals: restored.clone(), ..l.clone() };
    one.swap(&back, &l.originals).await?;
    let (inst, region) = (l.primary_instance.as_str(), l.primary_region.as_str());
    let originals: Vec<&String> = l.originals.values().collect();
    cx.sub(&one.sub_name("untag"), json!({ "volumes": originals }), |_| async {
        let keys = KEPT_TAGS.iter().map(|k| Tag::builder().key(*k).build()).collect();
        let ids = originals.iter().map(|v| v.to_string()).collect();
        let req = primary.delete_tags().set_resources(Some(ids)).set_tags(Some(keys));
        mutate(cx.log, at(inst, region), req).await??;
        Ok(())
    })
    .await?;
    let retained: Vec<Retained> = restored
        .iter()
        .map(|(device, vol)| Retained {
            resource: name.to_string(),
            kind: "ebs_volume".into(),
            id: vol.clone(),
            region: region.to_string(),
            why: format!("the failed-back volume at {device}, detached by undo and kept (recovery's data)"),
            delete_with: format!("aws ec2 delete-volume --region {region} --volume-id {vol}"),
        })
        .collect();
    Ok(json!({
        "undone": true,
        "instance_id": inst,
        "put_back": originals,
        "retained": retained,
    }))
}

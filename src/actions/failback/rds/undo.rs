//! `pilotlight undo` for an RDS instance: the failback's way back ([`put_back::UNDO`]) after a
//! failback that went through. The failed-back instance (this run's restore, tagged `restored`)
//! is set aside as `<id>-failed-back-<run>` with deletion protection on, kept; the original the
//! failback kept takes its identifier back with deletion protection as it was; then `undo-untag`
//! takes this run's tags off it. Sub-steps `undo-*`, resumable like every other.

use super::instance::Layout;
use super::keep::{Keep, describe};
use super::put_back::{UNDO, untag};
use super::snapshots::Kind;
use crate::actions::ActionCx;
use crate::aws::ActionError;
use crate::journal::SubId;
use aws_sdk_rds::Client;
use serde_json::{Value, json};

/// What the failback read of `name` (its `read` sub-step), if it also restored under the
/// identifier; `None`: this run changed nothing there to undo. For instances and clusters alike.
pub(super) fn restored_layout<L: serde::de::DeserializeOwned>(
    cx: &ActionCx<'_>,
    name: &str,
) -> Result<Option<L>, ActionError> {
    // An Aurora failback by switchover renames its secondary in instead of restoring, an RDS
    // failback through a replica its promoted replica.
    let restored = ["restore", "rename-secondary", "rename-replica"]
        .iter()
        .any(|part| cx.recorded(&SubId::of(name, *part)).is_some_and(|s| s.is_done()));
    if restored { cx.result_of(&SubId::of(name, "read")) } else { Ok(None) }
}

/// The undo's answer when [`restored_layout`] found nothing.
pub(super) fn nothing_restored() -> Value {
    json!({ "undone": false, "why": "this run restored nothing under its identifier" })
}

/// Undoes one instance's failback; says so when this run restored nothing under its identifier.
pub(in crate::actions::failback) async fn instance(
    cx: &ActionCx<'_>,
    name: &str,
    primary: &Client,
) -> Result<Value, ActionError> {
    let Some(l) = restored_layout::<Layout>(cx, name)? else { return Ok(nothing_restored()) };
    let keep = Keep {
        cx,
        name,
        kind: Kind::Instance,
        client: primary,
        region: &l.primary_region,
        original: &l.primary_id,
        kept: &l.kept_id,
        arn: None,
    };
    keep.back(l.config.deletion_protection, &UNDO).await?;
    let (id, region) = (l.primary_id.as_str(), l.primary_region.as_str());
    let arn = describe(Kind::Instance, cx.log, primary, id, region).await?.map(|d| d.arn).unwrap_or_default();
    untag(cx, primary, &SubId::of(name, "undo-untag"), (&[arn], region)).await?;
    let aside = keep.aside_id(&UNDO);
    let why = format!("the failed-back instance {id} (recovery's data), set aside by undo (deletion protection on)");
    Ok(json!({
        "undone": true,
        "instance": id,
        "put_back": [l.kept_id],
        "retained": [super::kept_db(Kind::Instance, name, (region, &aside), why)],
    }))
}

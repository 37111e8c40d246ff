//! `pilotlight undo` for an Aurora cluster, after a failback that went through: the failed-back
//! cluster's custom endpoints are removed, its deletion protection turned off and its instances
//! deleted (its data stays in its storage, which is kept with it), then it is set aside as
//! `<id>-failed-back-<run>` with deletion protection on ([`UNDO`]); the original the failback
//! kept takes its identifier back (deletion protection as it was), its instances are created in
//! it again (same identifiers, classes, tiers, zones, ...) and its custom endpoints recreated;
//! `undo-untag` takes this run's tags off the cluster and its instances. Sub-steps `undo-*`.
//! A failback by switchover that stopped after the switchover and before both clusters were
//! detached is switched back instead ([`super::switch_back`]): recovery's cluster the writer again.

use super::super::keep::describe;
use super::super::put_back::{UNDO, untag};
use super::super::snapshots::Kind;
use super::super::undo::{nothing_restored, restored_layout};
use super::{Layout, One};
use crate::actions::ActionCx;
use crate::aws::ActionError;
use crate::journal::SubId;
use aws_sdk_rds::Client;
use serde_json::{Value, json};

/// Undoes one cluster's failback; says so when this run restored nothing under its identifier.
pub(in crate::actions::failback) async fn undo(
    cx: &ActionCx<'_>,
    name: &str,
    primary: &Client,
) -> Result<Value, ActionError> {
    let Some(l) = restored_layout::<Layout>(cx, name)? else {
        // A failback by switchover stopped before it took primary: recovery's cluster may be a
        // read-only secondary still.
        return match cx.result_of::<Layout>(&SubId::of(name, "read"))? {
            Some(l) if super::switch_back::switched(cx, name) => {
                let recovery = Client::new(&cx.envs.config("recovery", cx.log).await?);
                let one = One { cx, name, primary, recovery: &recovery, kms: None };
                one.switch_back(&l).await
            }
            _ => Ok(nothing_restored()),
        };
    };
    let one = One { cx, name, primary, recovery: primary, kms: None };
    // The same identifiers before and after the set-aside: first the failed-back cluster's
    // members, then the original's.
    let members = super::members::Members { parts: "undo-", ..one.members(&l) };
    members.remove_endpoints(&l.custom_endpoints).await?;
    one.protection_off(&l, "undo-protection-off").await?;
    members.delete(&l.members).await?;
    let keep = one.keeper(&l);
    keep.back(l.config.deletion_protection, &UNDO).await?;
    members.recreate(&l.members).await?;
    members.recreate_endpoints(&l.custom_endpoints).await?;
    let region = l.primary_region.as_str();
    let mut arns = Vec::new();
    for id in std::iter::once(&l.primary_id).chain(l.members.iter().map(|m| &m.id)) {
        let kind = if *id == l.primary_id { Kind::Cluster } else { Kind::Instance };
        arns.extend(describe(kind, cx.log, primary, id, region).await?.map(|d| d.arn));
    }
    untag(cx, primary, &SubId::of(name, "undo-untag"), (&arns, region)).await?;
    let aside = keep.aside_id(&UNDO);
    let why = format!(
        "the failed-back cluster {} (recovery's data, in its storage), set aside by undo without instances \
         (deletion protection on)",
        l.primary_id
    );
    Ok(json!({
        "undone": true,
        "cluster": l.primary_id,
        "instances": l.members.iter().map(|m| &m.id).collect::<Vec<_>>(),
        "put_back": [l.kept_id],
        "retained": [super::super::kept_db(Kind::Cluster, name, (region, &aside), why)],
    }))
}

//! A table of every declared resource, primary and recovery side by side: what `pilotlight
//! status` prints, read the way the console's panels are polled. Reads only; nothing journaled.

use crate::aws::resource_read;
use crate::aws::resource_status::{self, ResourceStatus};
use crate::aws::{AwsEnvs, NoLog};
use crate::runbook::{ResourceType, Runbook, Side};
use std::sync::Arc;
use tokio::task::JoinSet;

/// One side of one resource: its status, or why it could not be read.
pub type SideStatus = Result<ResourceStatus, String>;

/// One resource, both sides.
#[derive(Debug, Clone)]
pub struct ResourceRow {
    pub name: String,
    pub kind: ResourceType,
    pub primary: Option<SideStatus>,
    pub recovery: Option<SideStatus>,
    /// For a DNS record: which side's value it holds now (`primary`, `recovery` or `neither`).
    pub points_to: Option<String>,
}

/// Reads every resource on every side it names: one batched read per resource type and side
/// (the console's poller groups), all at once.
pub async fn read_all(runbook: &Runbook, envs: Arc<AwsEnvs>) -> Vec<ResourceRow> {
    let mut reads = JoinSet::new();
    let mut slots = std::collections::HashMap::new();
    for (kind, side, items) in super::poller::groups(runbook) {
        let envs = envs.clone();
        let names: Vec<String> = items.iter().map(|(n, _)| n.clone()).collect();
        let handle = reads.spawn(async move {
            let read = resource_read::read_many(&envs, &NoLog, kind, side, &items).await.map_err(|e| e.to_string());
            (side, items, read)
        });
        slots.insert(handle.id(), (side, names));
    }
    let mut rows: Vec<ResourceRow> = runbook
        .resources
        .iter()
        .map(|(name, res)| ResourceRow {
            name: name.clone(),
            kind: res.kind,
            primary: None,
            recovery: None,
            points_to: None,
        })
        .collect();
    let mut put = |name: &str, side: Side, read: SideStatus| {
        if let Some(row) = rows.iter_mut().find(|r| r.name == name) {
            match side {
                Side::Primary => row.primary = Some(read),
                Side::Recovery => row.recovery = Some(read),
            }
        }
    };
    while let Some(done) = reads.join_next_with_id().await {
        match done {
            Ok((_, (side, _, Ok(found)))) => found.into_iter().for_each(|(name, read)| put(&name, side, read)),
            Ok((_, (side, items, Err(e)))) => items.iter().for_each(|(name, _)| put(name, side, Err(e.clone()))),
            // A read that panicked is shown as an error, never as "not named".
            Err(e) => {
                let Some((side, names)) = slots.get(&e.id()) else { continue };
                names.iter().for_each(|name| put(name, *side, Err(format!("the read failed: {e}"))));
            }
        }
    }
    for (row, res) in rows.iter_mut().zip(runbook.resources.values()) {
        if res.kind != ResourceType::Route53Record {
            continue;
        }
        let now = row.primary.as_ref().and_then(|r| r.as_ref().ok()).and_then(|s| s.status.clone());
        row.points_to = now.map(|v| resource_status::points_to(res, &v).to_string());
    }
    rows
}

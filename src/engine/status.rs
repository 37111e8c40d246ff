//! A snapshot of every declared resource, primary and recovery side by side: what `pilotlight
//! status` prints and what the console's status panels will poll. Reads only; nothing journaled.

use crate::aws::status::{self, ResourceStatus};
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

/// Reads every resource on every side it names, all at once.
pub async fn snapshot(runbook: &Runbook, envs: Arc<AwsEnvs>) -> Vec<ResourceRow> {
    let mut reads = JoinSet::new();
    let mut slots = std::collections::HashMap::new();
    for (i, (name, res)) in runbook.resources.iter().enumerate() {
        let sides: &[Side] =
            if res.kind == ResourceType::Route53Record { &[Side::Primary] } else { &[Side::Primary, Side::Recovery] };
        for side in sides.iter().copied().filter(|s| res.kind == ResourceType::Route53Record || res.side(*s).is_some())
        {
            let (envs, name, res) = (envs.clone(), name.clone(), res.clone());
            let handle = reads.spawn(async move {
                let read = status::read(&envs, &NoLog, &name, &res, side).await.map_err(|e| e.to_string());
                (i, side, read)
            });
            slots.insert(handle.id(), (i, side));
        }
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
    while let Some(done) = reads.join_next_with_id().await {
        let (i, side, read) = match done {
            Ok((_, result)) => result,
            // A read that panicked is shown as an error, never as "not named".
            Err(e) => {
                let Some(&(i, side)) = slots.get(&e.id()) else { continue };
                (i, side, Err(format!("the read failed: {e}")))
            }
        };
        match side {
            Side::Primary => rows[i].primary = Some(read),
            Side::Recovery => rows[i].recovery = Some(read),
        }
    }
    for (row, res) in rows.iter_mut().zip(runbook.resources.values()) {
        if res.kind != ResourceType::Route53Record {
            continue;
        }
        let now = row.primary.as_ref().and_then(|r| r.as_ref().ok()).and_then(|s| s.status.clone());
        row.points_to = now.map(|v| status::points_to(res, &v).to_string());
    }
    rows
}

//! One run per runbook across machines: a new team run claims its target (the runbook and the
//! environments it acts on) with a conditional write; the claim is refused while the run holding
//! it is unfinished, and taken over (conditionally again) once that run succeeded, was abandoned
//! or was undone.

use super::{TeamError, TeamStore};
use crate::journal::{Entry, RunState, RunStatus};
use std::sync::Arc;

/// The run's status as the table's journal says; `None` for a run with no entry (its start
/// failed after it claimed).
pub fn status(store: &Arc<TeamStore>, run: &str) -> Result<Option<RunStatus>, TeamError> {
    let r = run.to_string();
    let entries = store.call(|t| async move { t.entries(&r, 0).await })?;
    let entries: Vec<Entry> = entries.iter().filter_map(|(_, json)| serde_json::from_str(json).ok()).collect();
    Ok((!entries.is_empty()).then(|| RunState::replay(&entries).status()))
}

/// Claims `target` for `run`, or says which unfinished run holds it.
pub fn claim(store: &Arc<TeamStore>, target: &str, run: &str) -> Result<(), TeamError> {
    let mut replacing: Option<String> = None;
    for _ in 0..5 {
        let (t, r, old) = (target.to_string(), run.to_string(), replacing.clone());
        if store.call(|table| async move { table.claim_target(&t, &r, old.as_deref()).await })? {
            return Ok(());
        }
        let t = target.to_string();
        let Some(holder) = store.call(|table| async move { table.target(&t).await })? else {
            replacing = None;
            continue;
        };
        if holder == run {
            return Ok(());
        }
        let h = holder.clone();
        let lease = store.call(|table| async move { table.lease(&h).await })?;
        let live = lease.as_ref().is_some_and(|l| l.expires_ms > super::table::now_ms());
        match status(store, &holder)? {
            Some(RunStatus::Succeeded | RunStatus::Abandoned | RunStatus::Undone) => replacing = Some(holder),
            // A start that failed after its claim, and that no one holds now, changed nothing.
            None if !live => replacing = Some(holder),
            status => {
                let status = status.map_or("starting", |s| s.as_str());
                let driver = match lease {
                    Some(l) if l.expires_ms > super::table::now_ms() => format!("driven by {} now", l.holder),
                    Some(l) => format!("last driven by {}, whose lease has expired", l.holder),
                    None => "not driven".to_string(),
                };
                return Err(TeamError::Conflict {
                    run: holder,
                    table: store.name().into(),
                    status: status.into(),
                    driver,
                });
            }
        }
    }
    Err(TeamError::Call {
        table: store.name().into(),
        op: "PutItem".into(),
        message: format!("the claim of {target} changed hands five times in a row; try again"),
    })
}

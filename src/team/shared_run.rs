//! A run's copy in the team table: published when a team run starts, replicated entry by entry
//! while it runs, and pulled into a machine's own state directory when that machine takes it
//! over (or watches it).

use super::lease::Lease;
use super::{TeamError, TeamStore};
use crate::journal::{CallOutcome, Entry, Event, JOURNAL_FILE, RUNBOOK_FILE};
use std::path::Path;
use std::sync::Arc;

/// Sends journal entries to the team table after the local append (the recorder calls it under
/// the journal's lock, so the table's order is the journal's).
///
/// Batched where that costs no safety: the answer to an AWS call (and a read's "not found") waits
/// for the next entry and goes with it in one transaction, up to [`BATCH`] entries. Everything
/// else, above all a mutating call's `sending`, is written before the recorder returns, so no
/// call is ever made before the table knows it may have been. A driver that dies with answers
/// still waiting leaves the table a prefix of its journal ending at a `sending`: the next
/// driver looks before acting, as after a lost answer (the kill harness proves any prefix).
pub struct TeamReplica {
    lease: Arc<Lease>,
    waiting: std::sync::Mutex<Vec<(u64, String)>>,
}

/// The most entries one transaction carries (DynamoDB allows 100 items with the lease check).
pub const BATCH: usize = 25;

impl TeamReplica {
    pub fn new(lease: Arc<Lease>) -> TeamReplica {
        TeamReplica { lease, waiting: Default::default() }
    }
}

impl crate::journal::Replica for TeamReplica {
    fn append(&self, entry: &Entry) -> Result<(), String> {
        let (sending, answer) = match &entry.event {
            Event::AwsCall { mutating: true, outcome: CallOutcome::Sending, .. } => (true, false),
            Event::AwsCall { .. } => (false, true),
            _ => (false, false),
        };
        let json = serde_json::to_string(entry).map_err(|e| e.to_string())?;
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        waiting.push((entry.seq, json));
        if answer && waiting.len() < BATCH {
            return Ok(());
        }
        if sending {
            self.lease.ready_to_send().map_err(|e| e.to_string())?;
        }
        let batch = std::mem::take(&mut *waiting);
        self.lease.append(batch).map_err(|e| e.to_string())?;
        if sending {
            self.lease.still_ready_to_send().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Takes a new run's lease and puts its runbook text in the table.
pub fn publish(store: &Arc<TeamStore>, run: &str, runbook: &str) -> Result<Arc<Lease>, TeamError> {
    let lease = Lease::take(store, run, true)?;
    let (r, text) = (run.to_string(), runbook.to_string());
    store.call(|t| async move { t.put_runbook(&r, &text).await })?;
    Ok(lease)
}

/// What a pull found.
#[derive(Debug, PartialEq, Eq)]
pub struct Pulled {
    pub entries: usize,
    /// The local journal differed from the table's and was kept aside under this name.
    pub kept_aside: Option<String>,
}

/// Writes the table's copy of `run` (its runbook and every entry) into `dir`, the run's local
/// directory: the table is the run's record once it is shared. A local journal that differs
/// (this machine's driver died between its local append and the table's, or lost its lease) is
/// kept beside it, renamed, never overwritten.
pub fn pull(store: &Arc<TeamStore>, run: &str, dir: &Path) -> Result<Pulled, TeamError> {
    let r = run.to_string();
    let runbook = store
        .call(|t| async move { t.runbook(&r).await })?
        .ok_or_else(|| TeamError::NotFound { run: run.into(), table: store.name().into() })?;
    let r = run.to_string();
    let entries = store.call(|t| async move { t.entries(&r, 0).await })?;
    let io = |what: &str, e: std::io::Error| TeamError::Call {
        table: store.name().into(),
        op: "pull".into(),
        message: format!("{what} {}: {e}", dir.display()),
    };
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create", e))?;
    let mut text = String::new();
    for (_, json) in &entries {
        text.push_str(json);
        text.push('\n');
    }
    let journal = dir.join(JOURNAL_FILE);
    let local = std::fs::read_to_string(&journal).ok();
    let mut kept_aside = None;
    if local.as_deref() != Some(text.as_str()) {
        if let Some(local) = local.filter(|l| !l.is_empty()) {
            let name = format!("journal.local-{}.jsonl", crate::journal::now_rfc3339().replace(':', ""));
            crate::durable::write(&dir.join(&name), &local).map_err(|e| io("cannot keep", e))?;
            kept_aside = Some(name);
        }
        // Written aside and renamed: a kill mid-pull leaves the old journal or the new one whole.
        let fresh = dir.join("journal.pull");
        crate::durable::write(&fresh, &text).map_err(|e| io("cannot write", e))?;
        std::fs::rename(&fresh, &journal).map_err(|e| io("cannot rename into", e))?;
        crate::durable::sync_dir(dir).map_err(|e| io("cannot sync", e))?;
    }
    crate::durable::write(&dir.join(RUNBOOK_FILE), &runbook).map_err(|e| io("cannot write", e))?;
    Ok(Pulled { entries: entries.len(), kept_aside })
}

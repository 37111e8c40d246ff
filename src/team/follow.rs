//! Following a team run from any machine: the table's entries after the last one seen, read
//! strongly consistent (a watcher never sees entry N+1 before N), and the run's runbook copy in
//! a local mirror directory so the console can be built as for a local run.

use super::{TeamError, TeamStore};
use crate::journal::EntrySource;
use crate::journal::{Entry, JournalError};
use std::path::Path;
use std::sync::Arc;

pub struct TeamFollower {
    store: Arc<TeamStore>,
    run: String,
    last: u64,
    /// When the table was last asked: at most once per [`EVERY`], whoever polls faster.
    asked: Option<std::time::Instant>,
}

/// How often a watcher asks the table: each Query costs a read unit even when nothing is new.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl TeamFollower {
    /// Starts following `run`, with its runbook copied into `mirror` (for
    /// `crate::engine::store::load_run_copy`).
    pub fn open(store: Arc<TeamStore>, run: &str, mirror: &Path) -> Result<TeamFollower, TeamError> {
        let r = run.to_string();
        let runbook = store
            .call(|t| async move { t.runbook(&r).await })?
            .ok_or_else(|| TeamError::NotFound { run: run.into(), table: store.name().into() })?;
        let io = |e: std::io::Error| TeamError::Call {
            table: store.name().into(),
            op: "mirror".into(),
            message: format!("{}: {e}", mirror.display()),
        };
        std::fs::create_dir_all(mirror).map_err(io)?;
        crate::durable::write(&mirror.join(crate::journal::RUNBOOK_FILE), &runbook).map_err(io)?;
        Ok(TeamFollower { store, run: run.into(), last: 0, asked: None })
    }
}

impl EntrySource for TeamFollower {
    fn poll(&mut self) -> Result<Vec<Entry>, JournalError> {
        if self.asked.is_some_and(|at| at.elapsed() < EVERY) {
            return Ok(Vec::new());
        }
        self.asked = Some(std::time::Instant::now());
        let (r, after) = (self.run.clone(), self.last);
        let got = self
            .store
            .call(|t| async move { t.entries(&r, after).await })
            .map_err(|e| JournalError::Replica { seq: after + 1, message: e.to_string() })?;
        let mut out = Vec::with_capacity(got.len());
        for (seq, json) in got {
            match serde_json::from_str::<Entry>(&json) {
                Ok(e) => out.push(e),
                Err(e) => tracing::warn!(run = %self.run, seq, error = %e, "watch: a team entry does not parse"),
            }
            self.last = seq;
        }
        Ok(out)
    }
}

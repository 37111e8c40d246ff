//! Where runs live: `<state dir>/runs/<run id>/` holds `journal.jsonl` and `runbook.yaml` (the
//! exact text the run started with, so a resume never picks up an edited file by accident).

use crate::journal::{Event, JournalError, RunState, RunStatus, read_entries};
use std::path::{Path, PathBuf};

pub const JOURNAL_FILE: &str = "journal.jsonl";
pub const RUNBOOK_FILE: &str = "runbook.yaml";
const LOCK_FILE: &str = "lock";

/// The runs under one state directory.
#[derive(Debug, Clone)]
pub struct RunStore {
    root: PathBuf,
}

/// One line of `pilotlight runs`.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub id: String,
    pub runbook: String,
    pub status: RunStatus,
    pub started_at: String,
    pub last_at: String,
    pub dry_run: bool,
    pub steps_done: usize,
    pub steps_seen: usize,
}

impl RunStore {
    pub fn new(state_dir: &Path) -> RunStore {
        RunStore { root: state_dir.join("runs") }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Makes a directory for a new run and returns its id.
    pub fn create(&self, runbook_name: &str) -> std::io::Result<(String, PathBuf)> {
        std::fs::create_dir_all(&self.root)?;
        let stamp: String =
            crate::journal::now_rfc3339().chars().take(19).filter(|c| c.is_ascii_digit() || *c == 'T').collect();
        loop {
            let id = format!("{stamp}Z-{runbook_name}-{:04x}", fastrand::u16(..));
            let dir = self.dir(&id);
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok((id, dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Every run, newest first.
    pub fn list(&self) -> Result<Vec<RunSummary>, JournalError> {
        let mut out = Vec::new();
        let Ok(dirs) = std::fs::read_dir(&self.root) else { return Ok(out) };
        for d in dirs.flatten() {
            let id = d.file_name().to_string_lossy().into_owned();
            let journal = d.path().join(JOURNAL_FILE);
            if !journal.is_file() {
                continue;
            }
            let (entries, _) = read_entries(&journal)?;
            let state = RunState::replay(&entries);
            let (runbook, dry_run) = match &state.started {
                Some(Event::RunStarted { runbook, dry_run, .. }) => (runbook.clone(), *dry_run),
                _ => (String::from("?"), false),
            };
            out.push(RunSummary {
                id,
                runbook,
                status: state.status(),
                started_at: state.started_at.clone().unwrap_or_default(),
                last_at: state.last_at.clone().unwrap_or_default(),
                dry_run,
                steps_done: state.steps.values().filter(|s| s.status.is_final()).count(),
                steps_seen: state.steps.len(),
            });
        }
        out.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(out)
    }
}

/// Holds a run's lock file; two processes never drive one run at once.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock, replacing a stale one left by a process that no longer exists.
    pub fn acquire(run_dir: &Path) -> Result<RunLock, String> {
        let path = run_dir.join(LOCK_FILE);
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    use std::io::Write;
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(RunLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<i32>().ok());
                    match pid {
                        Some(pid) if crate::sandbox::process::alive(pid) => {
                            return Err(format!("run is in use by process {pid} ({})", path.display()));
                        }
                        _ => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(format!("cannot lock run ({}): {e}", path.display())),
            }
        }
        Err(format!("cannot lock run ({})", path.display()))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

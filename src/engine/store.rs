//! Where runs live: `<state dir>/runs/<run id>/` holds `journal.jsonl` and `runbook.yaml` (the
//! exact text the run started with, so a resume never picks up an edited file by accident).

use crate::journal::{Event, JournalError, RunState, RunStatus, read_entries};
use std::path::{Path, PathBuf};

pub use crate::journal::{JOURNAL_FILE, RUNBOOK_FILE};
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

    /// Holds `runs.lock` beside `runs/` (waiting for it) while a run is checked and created.
    pub fn start_lock(&self) -> std::io::Result<std::fs::File> {
        use std::os::fd::AsRawFd;
        std::fs::create_dir_all(&self.root)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.with_file_name("runs.lock"))?;
        // SAFETY: flock on a descriptor we own; released when the file is closed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(file)
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
                Ok(()) => {
                    // The new directory's entry in `runs/` survives a power cut.
                    crate::durable::sync_dir(&self.root)?;
                    return Ok((id, dir));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Every run, newest first, and the journals that could not be read (one bad journal does
    /// not hide the other runs).
    pub fn list(&self) -> (Vec<RunSummary>, Vec<JournalError>) {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        let Ok(dirs) = std::fs::read_dir(&self.root) else { return (out, errors) };
        for d in dirs.flatten() {
            let id = d.file_name().to_string_lossy().into_owned();
            let journal = d.path().join(JOURNAL_FILE);
            if !journal.is_file() {
                continue;
            }
            let entries = match read_entries(&journal) {
                Ok((entries, _)) => entries,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let state = RunState::replay(&entries);
            let (runbook, dry_run) = match &state.started {
                Some(Event::RunStarted { runbook, dry_run, .. }) => (runbook.clone(), *dry_run),
                _ => (String::from("?"), false),
            };
            out.push(RunSummary {
                id,
                runbook,
                status: state.status(),
                last_at: state.last_at.clone().unwrap_or_default(),
                dry_run,
                steps_done: state.steps.values().filter(|s| s.status.is_final()).count(),
                steps_seen: state.steps.len(),
            });
        }
        out.sort_by(|a, b| b.id.cmp(&a.id));
        (out, errors)
    }
}

/// Holds a run's lock (an advisory `flock` on `<run>/lock`): two processes never drive one run
/// at once, and a crashed holder releases it with its last breath (the kernel drops the lock).
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    pub fn acquire(run_dir: &Path) -> Result<RunLock, String> {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let path = run_dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open the run lock {}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor we own; LOCK_NB makes it fail at once when held.
        let try_lock = || unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        // A lock just let go can be held a moment longer: by a process that is exiting, or by the
        // child of any fork of this process (another thread starting a command) until it execs.
        // Only a lock still held after half a second is someone else's.
        let mut locked = try_lock();
        for _ in 0..20 {
            if locked {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
            locked = try_lock();
        }
        if !locked {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(format!("run is in use by another pilotlight (process {}); {}", holder.trim(), path.display()));
        }
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
        Ok(RunLock { _file: file })
    }
}

/// A run's own runbook copy, loaded, with its journaled inputs (secret ones as markers) and how
/// it reached AWS: what `resume` and `watch` start from.
pub fn load_run_copy(
    dir: &Path,
    entries: &[crate::journal::Entry],
) -> Result<
    (crate::runbook::LoadedRunbook, indexmap::IndexMap<String, serde_json::Value>, crate::aws::ConnectOptions),
    super::EngineError,
> {
    use super::EngineError;
    let Some(Event::RunStarted { base_dir, inputs, endpoint_url, sandbox, .. }) =
        entries.iter().map(|e| &e.event).find(|e| matches!(e, Event::RunStarted { .. }))
    else {
        return Err(EngineError::Invalid(format!(
            "{}: the journal has no run_started entry",
            dir.join(JOURNAL_FILE).display()
        )));
    };
    let copy = dir.join(RUNBOOK_FILE);
    let source = std::fs::read_to_string(&copy)
        .map_err(|source| EngineError::Io { context: format!("cannot read {}", copy.display()), source })?;
    let loaded = crate::runbook::load_for_resume(&copy, Path::new(base_dir), &source, &crate::actions::REGISTRY)?;
    let connect = crate::aws::ConnectOptions { endpoint_url: endpoint_url.clone(), sandbox_credentials: *sandbox };
    Ok((loaded, inputs.clone(), connect))
}

/// A team run's directory says which table the run lives in: no command on it (a resume, an
/// undo, an abandon) may act without that table's lease, `--team` given or not.
pub const TEAM_FILE: &str = "team.json";

/// The team table a run on this machine belongs to, if it is a team run.
pub fn team_of(dir: &Path) -> Option<crate::team::TeamConfig> {
    serde_json::from_str(&std::fs::read_to_string(dir.join(TEAM_FILE)).ok()?).ok()
}

/// Marks `dir` as a team run's.
pub fn mark_team(dir: &Path, team: &crate::team::TeamConfig) -> std::io::Result<()> {
    crate::durable::write(&dir.join(TEAM_FILE), &serde_json::to_string_pretty(team).unwrap_or_default())
}

/// Locks run `id`'s directory on this machine. With `team` (given, or the table a team run here
/// belongs to), the run's lease is taken first (the old driver is fenced off from then on) and
/// the table's copy of the run is written into the directory: a takeover, an abandon from
/// another machine, a resume on the machine whose driver lost the lease. Without, the run must
/// be here.
pub fn lock_run(
    store: &RunStore,
    id: &str,
    team: Option<&crate::team::TeamConfig>,
) -> Result<(RunLock, Option<std::sync::Arc<crate::team::lease::Lease>>), super::EngineError> {
    use super::EngineError;
    let dir = store.dir(id);
    let recorded = team_of(&dir);
    let Some(team) = team.or(recorded.as_ref()) else {
        if !dir.join(JOURNAL_FILE).is_file() {
            return Err(EngineError::NotFound(id.to_string()));
        }
        return Ok((RunLock::acquire(&dir).map_err(EngineError::Locked)?, None));
    };
    std::fs::create_dir_all(&dir)
        .map_err(|source| EngineError::Io { context: format!("cannot create {}", dir.display()), source })?;
    let lock = RunLock::acquire(&dir).map_err(EngineError::Locked)?;
    let team = crate::team::TeamStore::connect(team)?;
    let lease = crate::team::lease::Lease::take(&team, id, false)?;
    // A pull that fails gives the lease up again at once.
    let taken = crate::team::lease::GiveUpUnlessKept::new(Some(&lease));
    let pulled = crate::team::shared_run::pull(&team, id, &dir)?;
    tracing::info!(run = id, ?pulled, "team: the run pulled from the table");
    mark_team(&dir, &team.config).map_err(|source| EngineError::Io {
        context: format!("cannot mark {} as a team run", dir.display()),
        source,
    })?;
    taken.keep();
    Ok((lock, Some(lease)))
}

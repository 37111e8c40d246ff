//! Two operators, one runbook: a run does not start while an unfinished run of the same runbook
//! against the same environments exists on this machine, and `pilotlight abandon` gives such a
//! run up (journaled: who and why) so a new one can start. An unfinished run that never sent a
//! mutating call is superseded by the new run instead (journaled in both).

use super::store::{self, RunLock, RunStore};
use super::{EngineError, os_user, plan};
use crate::aws::ConnectOptions;
use crate::journal::{Entry, Event, Journal, RunState, RunStatus, read_entries};
use crate::runbook::ActionCatalog;
use crate::runbook::{Environment, LoadedRunbook};
use indexmap::IndexMap;
use serde_json::Value;

/// Where a run acts: its runbook, each environment's region, account, profile, role and
/// endpoint, and the endpoint every call went to. Two runs with the same target would act on the
/// same resources.
#[derive(Debug, PartialEq)]
struct Target {
    runbook: String,
    envs: Vec<EnvTarget>,
    endpoint: Option<String>,
}

/// One environment's name, region, account, profile, role (as written) and endpoint.
#[derive(Debug, PartialEq)]
struct EnvTarget(String, String, Option<String>, Option<String>, Option<String>, Option<String>);

fn target(loaded: &LoadedRunbook, envs: &IndexMap<String, Environment>, connect: &ConnectOptions) -> Target {
    Target {
        runbook: loaded.runbook.name.clone(),
        envs: envs
            .iter()
            .map(|(name, e)| {
                EnvTarget(
                    name.clone(),
                    e.region.clone(),
                    e.account_id.clone(),
                    e.profile.clone(),
                    loaded.runbook.environments.get(name).and_then(|raw| raw.role_arn.clone()),
                    e.endpoint_url.clone(),
                )
            })
            .collect(),
        endpoint: connect.endpoint_url.clone(),
    }
}

/// The target as one key for the team table's claim ([`crate::team::claim`]): the runbook's name
/// and a hash (FNV-1a) of what names the resources it acts on, the same on every machine: each
/// environment's name, region, account, role and endpoint, and the run's endpoint. A profile is
/// left out: it is each machine's own name for its credentials.
pub fn target_key(loaded: &LoadedRunbook, envs: &IndexMap<String, Environment>, connect: &ConnectOptions) -> String {
    let t = target(loaded, envs, connect);
    let field = |f: &Option<String>| f.clone().unwrap_or_default();
    let mut text = String::new();
    for EnvTarget(name, region, account, _profile, role, endpoint) in &t.envs {
        text.push_str(&format!(
            "{name}\u{1f}{region}\u{1f}{}\u{1f}{}\u{1f}{}\u{1e}",
            field(account),
            field(role),
            field(endpoint)
        ));
    }
    text.push_str(&field(&t.endpoint));
    let hash = crate::stable_hash::fnv1a(text.as_bytes(), crate::stable_hash::OFFSET);
    format!("{}#{hash:016x}", t.runbook)
}

/// Whether a run may have changed anything: a mutating AWS call journaled (even one only being
/// sent), or a local command run (an `exec` step that is not `read_only`: what it did is not
/// journaled).
fn may_have_changed(entries: &[Entry]) -> bool {
    entries.iter().any(|e| match &e.event {
        Event::AwsCall { mutating, .. } => *mutating,
        Event::ActionStarted { action, params, .. } => {
            let local = crate::actions::REGISTRY.find(action).is_none_or(|d| !d.aws && !d.read_only);
            local && params.get("read_only") != Some(&Value::Bool(true))
        }
        _ => false,
    })
}

/// What stands in the way of a new run.
pub enum Conflict {
    Clear,
    /// An unfinished run with the same target that may have changed something (or is being
    /// driven right now): the message says which and what to do.
    Blocks(String),
    /// Unfinished runs with the same target that never sent a mutating call and that no process
    /// drives (their locks are held here): the new run takes their place.
    Supersede(Vec<Superseded>),
}

/// An unfinished run that changed nothing, locked so that nothing resumes it meanwhile.
pub struct Superseded {
    pub id: String,
    status: RunStatus,
    last_at: String,
    dir: std::path::PathBuf,
    _lock: RunLock,
}

impl Superseded {
    /// Why the new run took its place, for the new run's journal.
    pub fn reason(&self) -> String {
        format!(
            "run {} ({}, last event {}) never sent a mutating call; it is abandoned, naming this run",
            self.id,
            self.status.as_str(),
            self.last_at
        )
    }

    /// Journals in the old run that run `by` took its place, and finishes it as abandoned.
    pub fn abandon_for(&self, by: &str) -> Result<(), EngineError> {
        let (mut journal, _) = Journal::open(&self.dir.join(store::JOURNAL_FILE))?;
        let reason = format!("superseded by run {by}: this run never sent a mutating call");
        journal.append(Event::RunAbandoned { user: os_user(), reason })?;
        journal.append(Event::RunFinished { status: RunStatus::Abandoned })?;
        Ok(())
    }
}

/// The unfinished runs (not succeeded, not abandoned, not dry runs) with the same target as the
/// run about to start. One that sent a mutating call, or that another process drives, blocks
/// the new run; runs that changed nothing (a guard that refused, a run stopped at its first
/// gate) are superseded by it, so they do not have to be abandoned by hand.
pub fn check(
    store: &RunStore,
    loaded: &LoadedRunbook,
    inputs: &IndexMap<String, Value>,
    connect: &ConnectOptions,
) -> Conflict {
    let Ok(envs) = plan::render_environments(loaded, inputs) else { return Conflict::Clear };
    let mine = target(loaded, &envs, connect);
    let (runs, _) = store.list();
    let mut superseded = Vec::new();
    for run in runs.iter().filter(|r| r.runbook == mine.runbook && !r.dry_run) {
        if matches!(run.status, RunStatus::Succeeded | RunStatus::Abandoned | RunStatus::Undone) {
            continue;
        }
        let dir = store.dir(&run.id);
        let Ok((entries, _)) = read_entries(&dir.join(store::JOURNAL_FILE)) else { continue };
        let Ok((their_runbook, their_inputs, their_connect)) = store::load_run_copy(&dir, &entries) else { continue };
        let Ok(their_envs) = plan::render_environments(&their_runbook, &their_inputs) else { continue };
        if target(&their_runbook, &their_envs, &their_connect) != mine {
            continue;
        }
        if let Some(team) = store::team_of(&dir) {
            // Another machine may drive it now: only its table's lease may act on it.
            return Conflict::Blocks(format!(
                "run {id} of runbook `{rb}` against the same environments is an unfinished team run (table {table}, \
                 {status}); continue it with `pilotlight resume {id}` (through its table), or give it up with \
                 `pilotlight abandon {id} --team {table} --reason \"...\"`",
                id = run.id,
                rb = run.runbook,
                table = team.table,
                status = run.status.as_str(),
            ));
        }
        let changed = may_have_changed(&entries);
        let lock = if changed { None } else { RunLock::acquire(&dir).ok() };
        let Some(lock) = lock else {
            let why = if changed { "" } else { ", and a process is driving it now" };
            return Conflict::Blocks(format!(
                "run {id} of runbook `{rb}` against the same environments is unfinished ({status}, last event {at}{why}); \
                 two runs would act on the same resources at once. Continue it with `pilotlight resume {id}`, or \
                 give it up with `pilotlight abandon {id} --reason \"...\"`",
                id = run.id,
                rb = run.runbook,
                status = run.status.as_str(),
                at = run.last_at,
            ));
        };
        superseded.push(Superseded {
            id: run.id.clone(),
            status: run.status,
            last_at: run.last_at.clone(),
            dir,
            _lock: lock,
        });
    }
    if superseded.is_empty() { Conflict::Clear } else { Conflict::Supersede(superseded) }
}

/// Gives run `id` up: journals who abandoned it and why, then finishes it as abandoned. Refused
/// while another process drives it, and for a run that succeeded. Returns false when it was
/// already abandoned. With `team`, the run is taken from the team table first (its lease must
/// have expired or been given up) and both entries go there too.
pub fn abandon(
    store: &RunStore,
    id: &str,
    reason: &str,
    team: Option<&crate::team::TeamConfig>,
) -> Result<bool, EngineError> {
    if reason.trim().is_empty() {
        return Err(EngineError::Invalid("abandon needs a --reason (it is journaled with your name)".into()));
    }
    let dir = store.dir(id);
    let path = dir.join(store::JOURNAL_FILE);
    let (_lock, lease) = store::lock_run(store, id, team)?;
    // Given up however this ends (below on success, by the guard on an error).
    let _give_up = crate::team::lease::GiveUpUnlessKept::new(lease.as_ref());
    let (mut journal, entries) = Journal::open(&path)?;
    match RunState::replay(&entries).status() {
        RunStatus::Succeeded => return Err(EngineError::AlreadySucceeded(id.to_string())),
        RunStatus::Abandoned => return Ok(false),
        RunStatus::Undone => return Err(EngineError::AlreadyUndone(id.to_string())),
        _ => {}
    }
    for event in [
        Event::RunAbandoned { user: os_user(), reason: reason.trim().to_string() },
        Event::RunFinished { status: RunStatus::Abandoned },
    ] {
        let entry = journal.append(event)?;
        if let Some(lease) = &lease {
            let json = serde_json::to_string(&entry).unwrap_or_default();
            lease.append(vec![(entry.seq, json)])?;
        }
    }
    Ok(true)
}

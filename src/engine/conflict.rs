//! Two operators, one runbook: a run does not start while an unfinished run of the same runbook
//! against the same environments exists on this machine, and `pilotlight abandon` gives such a
//! run up (journaled: who and why) so a new one can start.

use super::store::{self, RunLock, RunStore};
use super::{EngineError, os_user, plan};
use crate::aws::ConnectOptions;
use crate::journal::{Event, Journal, RunState, RunStatus, read_entries};
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

/// An unfinished run (not succeeded, not abandoned, not a dry run) with the same target as the
/// run about to start, as the message that says which and what to do.
pub fn unfinished_twin(
    store: &RunStore,
    loaded: &LoadedRunbook,
    inputs: &IndexMap<String, Value>,
    connect: &ConnectOptions,
) -> Option<String> {
    let envs = plan::render_environments(loaded, inputs).ok()?;
    let mine = target(loaded, &envs, connect);
    let (runs, _) = store.list();
    for run in runs.iter().filter(|r| r.runbook == mine.runbook && !r.dry_run) {
        if matches!(run.status, RunStatus::Succeeded | RunStatus::Abandoned) {
            continue;
        }
        let dir = store.dir(&run.id);
        let Ok((entries, _)) = read_entries(&dir.join(store::JOURNAL_FILE)) else { continue };
        let Ok((their_runbook, their_inputs, their_connect)) = store::load_run_copy(&dir, &entries) else { continue };
        let Ok(their_envs) = plan::render_environments(&their_runbook, &their_inputs) else { continue };
        if target(&their_runbook, &their_envs, &their_connect) == mine {
            return Some(format!(
                "run {id} of runbook `{rb}` against the same environments is unfinished ({status}, last event {at}); \
                 two runs would act on the same resources at once. Continue it with `pilotlight resume {id}`, or \
                 give it up with `pilotlight abandon {id} --reason \"...\"`",
                id = run.id,
                rb = run.runbook,
                status = run.status.as_str(),
                at = run.last_at,
            ));
        }
    }
    None
}

/// Gives run `id` up: journals who abandoned it and why, then finishes it as abandoned. Refused
/// while another process drives it, and for a run that succeeded. Returns false when it was
/// already abandoned.
pub fn abandon(store: &RunStore, id: &str, reason: &str) -> Result<bool, EngineError> {
    if reason.trim().is_empty() {
        return Err(EngineError::Invalid("abandon needs a --reason (it is journaled with your name)".into()));
    }
    let dir = store.dir(id);
    let path = dir.join(store::JOURNAL_FILE);
    if !path.is_file() {
        return Err(EngineError::NotFound(id.to_string()));
    }
    let _lock = RunLock::acquire(&dir).map_err(EngineError::Locked)?;
    let (mut journal, entries) = Journal::open(&path)?;
    match RunState::replay(&entries).status() {
        RunStatus::Succeeded => return Err(EngineError::AlreadySucceeded(id.to_string())),
        RunStatus::Abandoned => return Ok(false),
        _ => {}
    }
    journal.append(Event::RunAbandoned { user: os_user(), reason: reason.trim().to_string() })?;
    journal.append(Event::RunFinished { status: RunStatus::Abandoned })?;
    Ok(true)
}

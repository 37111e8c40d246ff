//! Starting and resuming runs (`run`, `resume`, and a drill's run): loading a runbook with its
//! inputs, where calls go, the run's pauses, and the front end that drives it.

use super::args::{Connect, Mode, RunArgs, Team, Vars};
use super::exit::{FAILED, INVALID, OK};
use super::vars::Purpose;
use crate::aws::ConnectOptions;
use crate::engine::{ResumeOptions, Run, RunOptions, RunStore};
use crate::runbook::{self, inputs};
use crate::team::TeamConfig;
use std::path::Path;

/// Loads a runbook and resolves its inputs (`--var-file`, `PILOTLIGHT_VAR_*`, `--var`, the
/// prompt; for a plan, secrets may be left out), printing every problem.
pub(super) fn load_with_inputs(
    path: &Path,
    vars: &Vars,
    purpose: Purpose,
) -> Result<(runbook::LoadedRunbook, indexmap::IndexMap<String, serde_json::Value>), u8> {
    let loaded = runbook::load_file(path, &crate::actions::REGISTRY).map_err(|e| {
        eprintln!("{e}");
        INVALID
    })?;
    let pairs = super::vars::gather(&loaded.runbook, vars, purpose)?;
    let resolve = if purpose == Purpose::Plan { inputs::resolve_for_plan } else { inputs::resolve };
    let resolved = resolve(&loaded.runbook, &pairs).map_err(|problems| {
        for p in problems {
            eprintln!("{}: {p}", path.display());
        }
        INVALID
    })?;
    Ok((loaded, resolved))
}

/// Turns `--sandbox` / `--endpoint-url` into connection options; `None` when neither is given.
/// `shell`: whether `AWS_ENDPOINT_URL` counts as `--endpoint-url` (not on resume, where the
/// run's recorded endpoint stands unless a flag says otherwise).
pub(super) fn connect_options(connect: &Connect, state_dir: &Path, shell: bool) -> Result<Option<ConnectOptions>, u8> {
    if connect.sandbox {
        // A health check over TCP: off the runtime's workers.
        let Some(info) = crate::blocking::blocking(|| crate::sandbox::server::running(state_dir)) else {
            eprintln!("{}", crate::sandbox::SandboxError::NotRunning);
            return Err(FAILED);
        };
        return Ok(Some(ConnectOptions { endpoint_url: Some(info.endpoint_url()), sandbox_credentials: true }));
    }
    // AWS_ENDPOINT_URL is read here rather than by clap, so that exporting it does not make
    // `--sandbox` conflict with it; it is recorded in the journal like the flag.
    let from_shell = std::env::var("AWS_ENDPOINT_URL").ok().filter(|u| !u.is_empty());
    if !shell && connect.endpoint_url.is_none() && from_shell.is_some() {
        eprintln!(
            "note: AWS_ENDPOINT_URL in your shell is not used on resume: the run goes on where it started \
             (give --endpoint-url to change that; it is journaled)"
        );
    }
    let url = connect.endpoint_url.clone().or(from_shell.filter(|_| shell));
    Ok(url.map(|u| ConnectOptions { endpoint_url: Some(u), sandbox_credentials: false }))
}

pub(super) async fn run(args: RunArgs, state_dir: &Path) -> u8 {
    run_with(args, state_dir, &mut |_| Ok(())).await
}

/// Starts (or resumes) a run; `started` is told the new run's directory before it is driven
/// (a drill keeps its record there), and may refuse.
pub(super) async fn run_with(
    args: RunArgs,
    state_dir: &Path,
    started: &mut dyn FnMut(&Path) -> Result<(), String>,
) -> u8 {
    let connect = match connect_options(&args.connect, state_dir, args.resume.is_none()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let team = team_config(&args.team, connect.as_ref());
    if let Some(id) = &args.resume {
        return resume_with(id, &args.vars, args.mode, connect, team, state_dir).await;
    }
    let Some(path) = &args.runbook else {
        eprintln!("run: give a RUNBOOK or --resume RUN_ID");
        return INVALID;
    };
    let (loaded, resolved) = match load_with_inputs(path, &args.vars, Purpose::Run) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let front = match super::front::Front::choose(args.mode) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let pauses = match pauses(connect.as_ref(), state_dir) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let options = RunOptions {
        dry_run: args.dry_run,
        auto_approve: args.mode.auto_approve,
        connect: connect.unwrap_or_default(),
        max_parallel: args.mode.max_parallel.map(std::num::NonZeroUsize::get),
        pauses,
        phase: args.phase.map(Into::into),
        team,
    };
    let observer = front.observer();
    match Run::start(&RunStore::new(state_dir), loaded, resolved, options, observer) {
        Ok(run) => {
            if matches!(front, super::front::Front::Line) {
                println!("journal: {}", run.dir.join(crate::engine::store::JOURNAL_FILE).display());
            }
            if let Err(e) = started(&run.dir) {
                eprintln!("{e}");
                return FAILED;
            }
            front.drive(run).await
        }
        Err(e) => {
            eprintln!("{e}");
            FAILED
        }
    }
}

/// The run's pauses: `PILOTLIGHT_PAUSE_SCALE` when set (a value that is not a factor is invalid
/// input); else, against the sandbox, its pace's (a sandbox at 60× polls 60× as often, so a
/// modelled wait ends when AWS's would); else AWS's.
pub(super) fn pauses(connect: Option<&ConnectOptions>, state_dir: &Path) -> Result<crate::pauses::Pauses, u8> {
    if std::env::var_os(crate::pauses::PAUSE_SCALE_ENV).is_none()
        && let Some(url) = connect.and_then(|c| c.endpoint_url.as_deref())
        && let Some(info) = crate::blocking::blocking(|| crate::sandbox::server::running(state_dir))
        && info.endpoint_url() == url
        && let Some(pace) = info.realism.as_ref().and_then(|r| r.pace()).filter(|p| *p > 1.0)
    {
        return Ok(crate::pauses::Pauses::scaled(1.0 / pace));
    }
    crate::pauses::Pauses::from_env().map_err(|e| {
        eprintln!("{e}");
        INVALID
    })
}

pub(super) async fn resume(id: &str, vars: &Vars, mode: Mode, connect: &Connect, team: &Team, state_dir: &Path) -> u8 {
    match connect_options(connect, state_dir, false) {
        Ok(c) => {
            let team = team_config(team, c.as_ref());
            resume_with(id, vars, mode, c, team, state_dir).await
        }
        Err(code) => code,
    }
}

/// The team table `--team` names, reached through the sandbox when the run is (and no other
/// endpoint is given for it).
pub(super) fn team_config(team: &Team, connect: Option<&ConnectOptions>) -> Option<TeamConfig> {
    let table = team.team.clone()?;
    let sandbox = connect.filter(|c| c.sandbox_credentials && team.team_endpoint_url.is_none());
    let from_shell = ["AWS_REGION", "AWS_DEFAULT_REGION"].iter().find_map(|k| std::env::var(k).ok());
    Some(TeamConfig {
        table,
        region: team.team_region.clone().or(from_shell).or_else(|| sandbox.map(|_| "us-east-1".to_string())),
        endpoint_url: team.team_endpoint_url.clone().or_else(|| sandbox.and_then(|c| c.endpoint_url.clone())),
        sandbox_credentials: sandbox.is_some(),
    })
}

/// A run's secret inputs, given again (the run's own runbook says which inputs are secret). A
/// team run not yet on this machine is read from its team table as `watch` reads it
/// ([`following`]), so a takeover asks for its secrets too.
pub(super) fn run_secrets(
    id: &str,
    vars: &Vars,
    state_dir: &Path,
    team: Option<&TeamConfig>,
) -> Result<Vec<(String, String)>, u8> {
    let dir = RunStore::new(state_dir).dir(id);
    let copy = crate::journal::read_entries(&dir.join(crate::engine::store::JOURNAL_FILE))
        .ok()
        .and_then(|(entries, _)| crate::engine::store::load_run_copy(&dir, &entries).ok())
        .or_else(|| {
            use crate::journal::EntrySource;
            let (_, mirror, mut follower) = following(team?, id, state_dir).ok()?;
            let entries = follower.poll().ok()?;
            crate::engine::store::load_run_copy(&mirror, &entries).ok()
        });
    match copy {
        Some((loaded, _, _)) => super::vars::gather(&loaded.runbook, vars, Purpose::Resume),
        // No such run, or an unreadable one: the engine says which.
        None => Ok(Vec::new()),
    }
}

pub(super) async fn resume_with(
    id: &str,
    vars: &Vars,
    mode: Mode,
    connect: Option<ConnectOptions>,
    team: Option<TeamConfig>,
    state_dir: &Path,
) -> u8 {
    let secrets = match run_secrets(id, vars, state_dir, team.as_ref()) {
        Ok(pairs) => pairs,
        Err(code) => return code,
    };
    let max_parallel = mode.max_parallel.map(std::num::NonZeroUsize::get);
    let pauses = match pauses(connect.as_ref(), state_dir) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let options = ResumeOptions { connect, auto_approve: mode.auto_approve, secrets, max_parallel, pauses, team };
    let front = match super::front::Front::choose(mode) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let observer = front.observer();
    match Run::resume(&RunStore::new(state_dir), id, options, observer) {
        Ok(run) => front.drive(run).await,
        Err(e @ (crate::engine::EngineError::NotFound(_) | crate::engine::EngineError::Invalid(_))) => {
            eprintln!("{e}");
            INVALID
        }
        Err(e @ crate::engine::EngineError::AlreadySucceeded(_)) => {
            println!("{e}");
            OK
        }
        Err(e) => {
            eprintln!("{e}");
            FAILED
        }
    }
}

/// A team run followed from its table: the store, the mirror directory that holds the run's
/// runbook copy (beside, never in, this machine's own runs), and the follower. `watch` and a
/// takeover's secrets (before the run is on this disk) both read a run this way.
pub(super) fn following(
    config: &crate::team::TeamConfig,
    id: &str,
    state_dir: &Path,
) -> Result<
    (std::sync::Arc<crate::team::TeamStore>, std::path::PathBuf, crate::team::follow::TeamFollower),
    crate::team::TeamError,
> {
    let mirror = state_dir.join("team-watch").join(id);
    let store = crate::team::TeamStore::connect(config)?;
    let follower = crate::team::follow::TeamFollower::open(store.clone(), id, &mirror)?;
    Ok((store, mirror, follower))
}

//! The engine: runs a runbook step by step behind gates, journals everything, and resumes from
//! the journal. It knows nothing of terminals; front ends implement [`Operator`] and observe
//! journal entries.

mod action_run;
mod approvals;
pub mod conflict;
mod drive;
pub mod follow;
mod guard;
pub mod operator;
pub mod plan;
pub mod poller;
mod preflight_gate;
pub mod recorder;
pub mod resource_table;
mod rollback;
pub mod run_view;
pub mod secrets;
pub mod store;
pub mod undo;

pub use operator::{FailureAnswer, FailureRequest, GateAnswer, GateRequest, Operator};
pub use recorder::{Observer, Recorder, StepLog};
pub use secrets::Secrets;
pub use store::{RunLock, RunStore, RunSummary};

use crate::aws::{AwsEnvs, ConnectOptions};
use crate::journal::{Event, GateOutcome, Journal, JournalError, RunState, RunStatus, StepStatus};
use crate::runbook::{Gate, LoadError, LoadedRunbook, Step};
use indexmap::IndexMap;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// How much longer than the step's timeout the engine waits before cutting an action off.
const TIMEOUT_GRACE: Duration = Duration::from_secs(10);

/// Why a run could not start or go on (as opposed to a step failing, which is a run outcome).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error(transparent)]
    Runbook(#[from] LoadError),
    #[error("{0}")]
    Invalid(String),
    #[error("no run `{0}` (see `pilotlight runs`)")]
    NotFound(String),
    #[error("{0}")]
    Locked(String),
    #[error("run {0} has already succeeded; there is nothing to resume")]
    AlreadySucceeded(String),
    #[error("run {0} has already been undone; its report: pilotlight report {0}")]
    AlreadyUndone(String),
    /// Another unfinished run acts on the same environments.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Team(#[from] crate::team::TeamError),
}

/// How a run acts.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// No mutating AWS call; actions say what they would do.
    pub dry_run: bool,
    /// Pass every gate (type-to-confirm included), journaled as automatic.
    pub auto_approve: bool,
    pub connect: ConnectOptions,
    /// `--max-parallel`: overrides the runbook's `max_parallel`.
    pub max_parallel: Option<usize>,
    pub pauses: crate::pauses::Pauses,
    /// `--phase`: stage only, or cut over only; `None` runs every step.
    pub phase: Option<crate::runbook::Phase>,
    /// `--team`: the run is shared through this team table ([`crate::team`]).
    pub team: Option<crate::team::TeamConfig>,
}

/// A run in progress (new or resumed).
pub struct Run {
    pub id: String,
    pub dir: PathBuf,
    loaded: LoadedRunbook,
    inputs: IndexMap<String, Value>,
    envs: AwsEnvs,
    recorder: Recorder,
    dry_run: bool,
    auto_approve: bool,
    secrets: Secrets,
    /// Steps of a group at once, and the default resources at once within a failback step.
    max_parallel: usize,
    pauses: crate::pauses::Pauses,
    /// The run's phase (journaled when it started): which steps it skips.
    phase: Option<crate::runbook::Phase>,
    /// Each step's preflight answers, until its action takes them ([`crate::aws::read_memo`]).
    memos: preflight_gate::Memos,
    /// The team lease this machine holds (team mode), given up when the run is dropped.
    lease: Option<std::sync::Arc<crate::team::lease::Lease>>,
    _lock: RunLock,
}

impl Drop for Run {
    fn drop(&mut self) {
        // Killed, the process gives nothing up: the lease expires and another machine takes over.
        if let Some(lease) = &self.lease {
            lease.release();
        }
    }
}

/// The replica a team lease gives the recorder.
fn replica(lease: &Option<std::sync::Arc<crate::team::lease::Lease>>) -> Option<Box<dyn recorder::Replica>> {
    lease.clone().map(|lease| Box::new(crate::team::shared_run::TeamReplica::new(lease)) as Box<dyn recorder::Replica>)
}

/// How a resumed run goes on.
#[derive(Debug, Clone, Default)]
pub struct ResumeOptions {
    /// Overrides how AWS is reached; by default the run's own recorded endpoint is used.
    pub connect: Option<ConnectOptions>,
    /// Applies to gates still to come.
    pub auto_approve: bool,
    /// Values of the runbook's secret inputs (`--var`), which the journal does not hold.
    pub secrets: Vec<(String, String)>,
    /// `--max-parallel`: overrides the runbook's `max_parallel`.
    pub max_parallel: Option<usize>,
    pub pauses: crate::pauses::Pauses,
    /// `--team`: take the run over from this team table (its lease, then its journal).
    pub team: Option<crate::team::TeamConfig>,
}

/// `--max-parallel`, else the runbook's `max_parallel`, else 4; never 0.
fn effective_parallel(flag: Option<usize>, runbook: Option<usize>) -> usize {
    flag.or(runbook).unwrap_or(crate::actions::failback::DEFAULT_PARALLEL).max(1)
}

/// Whether a run may be resumed: not once it succeeded, was abandoned or undone, nor while an
/// undo of it is under way (`pilotlight undo` goes on with that).
fn resumable(state: &RunState, id: &str) -> Result<(), EngineError> {
    match state.status() {
        RunStatus::Succeeded => Err(EngineError::AlreadySucceeded(id.to_string())),
        RunStatus::Abandoned => Err(EngineError::Invalid(format!(
            "run {id} was abandoned (see `pilotlight report {id}`); start a new run instead"
        ))),
        RunStatus::Undone => Err(EngineError::Invalid(format!(
            "run {id} was undone (see `pilotlight report {id}`); start a new run instead"
        ))),
        _ if state.undo.is_some() => Err(EngineError::Invalid(format!(
            "an undo of run {id} is under way: finish it with `pilotlight undo {id}`"
        ))),
        _ => Ok(()),
    }
}

/// Puts the secret inputs back: the journal holds only markers for them.
fn restore_secrets(
    loaded: &LoadedRunbook,
    inputs: &mut IndexMap<String, Value>,
    given: &[(String, String)],
) -> Result<(), EngineError> {
    let mut problems = Vec::new();
    for (name, _) in given {
        if !loaded.runbook.inputs.get(name).is_some_and(|s| s.secret) {
            problems.push(format!(
                "--var {name}: only secret inputs are given again on resume; the others are the run's own"
            ));
        }
    }
    for (name, spec) in loaded.runbook.inputs.iter().filter(|(_, s)| s.secret) {
        match given.iter().rev().find(|(k, _)| k == name) {
            Some((_, raw)) => match crate::runbook::inputs::parse_var(spec, raw)
                .and_then(|v| crate::runbook::inputs::check_value(spec, &v, true).map(|()| v))
                .and_then(|v| crate::runbook::inputs::check_secret_len(spec, &v).map(|()| v))
            {
                Ok(v) => {
                    inputs.insert(name.clone(), v);
                }
                Err(e) => problems.push(format!("--var {name}: {}", crate::runbook::inputs::scrub(spec, &e, raw))),
            },
            None => problems.push(format!(
                "input `{name}` is secret and not in the journal: give it again as {}, in a --var-file, or with --var {name}=VALUE",
                crate::runbook::inputs::env_var_name(name)
            )),
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(EngineError::Invalid(problems.join("\n"))) }
}

pub use crate::journal::os_user;

impl Run {
    /// Starts a new run of a validated runbook with resolved inputs.
    pub fn start(
        store: &RunStore,
        loaded: LoadedRunbook,
        inputs: IndexMap<String, Value>,
        options: RunOptions,
        observer: Observer,
    ) -> Result<Run, EngineError> {
        plan::check_phase(&loaded.runbook, options.phase).map_err(EngineError::Invalid)?;
        Run::check_approvers(&loaded, options.team.is_some())?;
        let envs = plan::render_environments(&loaded, &inputs).map_err(EngineError::Invalid)?;
        let deferred = plan::deferred_roles(&loaded);
        // Checked and created under one lock, so two operators starting at once cannot both pass.
        let _starting = store
            .start_lock()
            .map_err(|source| EngineError::Io { context: "cannot lock the run directory".into(), source })?;
        let superseded = match options.dry_run {
            true => Vec::new(),
            false => match conflict::check(store, &loaded, &inputs, &options.connect) {
                conflict::Conflict::Clear => Vec::new(),
                conflict::Conflict::Blocks(message) => return Err(EngineError::Conflict(message)),
                conflict::Conflict::Supersede(runs) => runs,
            },
        };
        let (id, dir) = store
            .create(&loaded.runbook.name)
            .map_err(|source| EngineError::Io { context: "cannot create the run directory".into(), source })?;
        let lock = RunLock::acquire(&dir).map_err(EngineError::Locked)?;
        crate::durable::write(&dir.join(store::RUNBOOK_FILE), &loaded.source).map_err(|source| EngineError::Io {
            context: format!("cannot copy the runbook into {}", dir.display()),
            source,
        })?;
        let lease = match &options.team {
            Some(team) => {
                let team = crate::team::TeamStore::connect(team)?;
                // The lease and the runbook first, so that a claim never names a run the table
                // cannot show; a refused claim gives the lease up again.
                let lease = crate::team::shared_run::publish(&team, &id, &loaded.source)?;
                let taken = crate::team::lease::GiveUpUnlessKept::new(Some(&lease));
                if !options.dry_run {
                    // The same refusal as above, across every machine sharing the table.
                    let key = conflict::target_key(&loaded, &envs, &options.connect);
                    if let Err(e) = crate::team::claim::claim(&team, &key, &id) {
                        let _ = std::fs::remove_dir_all(&dir);
                        return Err(EngineError::Conflict(e.to_string()));
                    }
                }
                store::mark_team(&dir, &team.config).map_err(|source| EngineError::Io {
                    context: format!("cannot mark {} as a team run", dir.display()),
                    source,
                })?;
                taken.keep();
                Some(lease)
            }
            None => None,
        };
        let unclaimed = crate::team::lease::GiveUpUnlessKept::new(lease.as_ref());
        let journal = Journal::create(&dir.join(store::JOURNAL_FILE))?;
        let secrets = Secrets::new(&loaded.runbook, &inputs);
        let recorder =
            Recorder::new(journal, RunState::default(), observer, secrets.clone()).with_replica(replica(&lease));
        recorder.record(Event::RunStarted {
            run_id: id.clone(),
            runbook: loaded.runbook.name.clone(),
            runbook_title: loaded.runbook.title.clone(),
            runbook_path: loaded.path.display().to_string(),
            base_dir: loaded.base_dir.display().to_string(),
            inputs: Secrets::journaled_inputs(&loaded.runbook, &inputs),
            dry_run: options.dry_run,
            endpoint_url: options.connect.endpoint_url.clone(),
            sandbox: options.connect.sandbox_credentials,
            user: os_user(),
            pilotlight_version: env!("CARGO_PKG_VERSION").into(),
            phase: options.phase,
        })?;
        // The old runs are abandoned (naming this one) before this one says it took their place.
        for old in &superseded {
            old.abandon_for(&id)?;
            recorder.record(Event::RunSupersedes { run_id: old.id.clone(), reason: old.reason() })?;
        }
        unclaimed.keep();
        let max_parallel = effective_parallel(options.max_parallel, loaded.runbook.max_parallel);
        Ok(Run {
            id,
            dir,
            envs: AwsEnvs::new(envs, options.connect).with_deferred_roles(deferred),
            loaded,
            inputs,
            recorder,
            dry_run: options.dry_run,
            auto_approve: options.auto_approve,
            secrets,
            max_parallel,
            pauses: options.pauses,
            phase: options.phase,
            memos: Default::default(),
            lease,
            _lock: lock,
        })
    }

    /// Rebuilds a run from its journal and makes it ready to drive on.
    pub fn resume(store: &RunStore, id: &str, options: ResumeOptions, observer: Observer) -> Result<Run, EngineError> {
        Run::open(store, id, options, observer, resumable)
    }

    /// Rebuilds a run from its journal once `allowed` accepts its state (before anything is
    /// journaled), and journals that it was resumed.
    fn open(
        store: &RunStore,
        id: &str,
        options: ResumeOptions,
        observer: Observer,
        allowed: fn(&RunState, &str) -> Result<(), EngineError>,
    ) -> Result<Run, EngineError> {
        let ResumeOptions { connect, auto_approve, secrets: given, max_parallel, pauses, team } = options;
        let dir = store.dir(id);
        let journal_path = dir.join(store::JOURNAL_FILE);
        let (lock, lease) = store::lock_run(store, id, team.as_ref())?;
        let unclaimed = crate::team::lease::GiveUpUnlessKept::new(lease.as_ref());
        let (journal, entries) = Journal::open(&journal_path)?;
        let state = RunState::replay(&entries);
        allowed(&state, id)?;
        let (loaded, mut inputs, recorded) = store::load_run_copy(&dir, &entries)?;
        let dry_run = matches!(state.started, Some(Event::RunStarted { dry_run: true, .. }));
        let phase = match &state.started {
            Some(Event::RunStarted { phase, .. }) => *phase,
            _ => None,
        };
        restore_secrets(&loaded, &mut inputs, &given)?;
        let envs = plan::render_environments(&loaded, &inputs).map_err(EngineError::Invalid)?;
        let deferred = plan::deferred_roles(&loaded);
        // A resume told to act elsewhere than the run recorded says so in the journal.
        let endpoint_override = connect
            .as_ref()
            .filter(|c| {
                c.endpoint_url != recorded.endpoint_url || c.sandbox_credentials != recorded.sandbox_credentials
            })
            .map(|c| crate::journal::Endpoint::from_start(c.endpoint_url.as_deref(), c.sandbox_credentials));
        let connect = connect.unwrap_or(recorded);
        let secrets = Secrets::new(&loaded.runbook, &inputs);
        // Journaled outputs and sub-step records hold markers where secrets were; later steps
        // need the values.
        let mut state = state;
        for step in state.steps.values_mut() {
            step.outputs.values_mut().for_each(|v| secrets.unredact_value(v));
            for s in step.substeps.values_mut() {
                secrets.unredact_value(&mut s.detail);
                secrets.unredact_value(&mut s.result);
            }
        }
        let recorder = Recorder::new(journal, state, observer, secrets.clone()).with_replica(replica(&lease));
        recorder.record(Event::RunResumed { user: os_user(), endpoint_override })?;
        unclaimed.keep();
        let max_parallel = effective_parallel(max_parallel, loaded.runbook.max_parallel);
        Ok(Run {
            id: id.to_string(),
            dir,
            envs: AwsEnvs::new(envs, connect).with_deferred_roles(deferred),
            loaded,
            inputs,
            recorder,
            dry_run,
            auto_approve,
            secrets,
            max_parallel,
            pauses,
            phase,
            memos: Default::default(),
            lease,
            _lock: lock,
        })
    }

    /// Journals that the operator stopped the run (the drive future has been dropped).
    /// Resolves with the name a handover of this team run was asked for (`pilotlight
    /// handover`); never for a local run. The front end then stops the run as on Ctrl-C, and
    /// the lease goes to that name when the run is dropped.
    pub async fn handover_requested(&self) -> String {
        match &self.lease {
            Some(lease) => lease.handover_requested().await,
            None => std::future::pending().await,
        }
    }

    /// The team table, for a team run (its console's approvals and handovers go there).
    pub fn team_store(&self) -> Option<std::sync::Arc<crate::team::TeamStore>> {
        self.lease.as_ref().map(|l| l.store().clone())
    }

    /// The team table's name, for a team run.
    pub fn team_table(&self) -> Option<String> {
        self.lease.as_ref().map(|l| l.store().name().to_string())
    }

    pub fn interrupted(&self) -> Result<(), EngineError> {
        self.record(Event::RunInterrupted { user: os_user() })
    }

    /// A copy of the whole state (with every call): for a front end's first view.
    pub fn state(&self) -> RunState {
        self.recorder.state()
    }

    /// One step's state, without copying the rest.
    pub fn step_state(&self, id: &str) -> crate::journal::StepState {
        self.recorder.read(|s| s.step(id))
    }

    /// What a front end shows: the run as journaled so far (secret inputs as markers).
    pub fn view(&self) -> Result<run_view::RunView, EngineError> {
        let shown = Secrets::journaled_inputs(&self.loaded.runbook, &self.inputs);
        let mut view = run_view::RunView::new(&self.id, &self.loaded, &shown);
        let (entries, _) = crate::journal::read_entries(&self.dir.join(store::JOURNAL_FILE))?;
        entries.iter().for_each(|e| view.apply(e));
        Ok(view)
    }

    pub fn runbook(&self) -> &crate::runbook::Runbook {
        &self.loaded.runbook
    }

    /// The environments for read-only resource polls.
    pub fn read_envs(&self) -> AwsEnvs {
        self.envs.for_reads()
    }

    fn record(&self, event: Event) -> Result<(), EngineError> {
        self.recorder.record(event)?;
        Ok(())
    }

    fn status(&self, step: &str, status: StepStatus, reason: Option<String>) -> Result<(), EngineError> {
        self.record(Event::StepStatus { step: step.into(), status, reason })
    }

    fn finish(&self, status: RunStatus) -> Result<RunStatus, EngineError> {
        tracing::info!(run = %self.id, status = status.as_str(), "run finished");
        self.record(Event::RunFinished { status })?;
        Ok(status)
    }

    /// Renders the roles that come from step outputs once those steps have run, so the
    /// environments that use them can act.
    fn resolve_roles(&self) {
        for (env, template) in self.envs.awaiting_roles() {
            let outputs = self.outputs_lookup();
            match crate::runbook::template::render_text(&template, &plan::lookup(&self.inputs, &outputs)) {
                Ok(role) => self.envs.resolve_role(&env, Some(role)),
                // A dry run creates no stack, so there is no role to assume: it reads with the
                // environment's own credentials (and sends no mutating call anyway).
                Err(_) if self.dry_run => self.envs.resolve_role(&env, None),
                Err(_) => {}
            }
        }
    }

    fn outputs_lookup(&self) -> impl Fn(&str, &str) -> Option<Value> + '_ {
        let outputs: IndexMap<String, IndexMap<String, Value>> =
            self.recorder.read(|s| s.steps.iter().map(|(id, st)| (id.clone(), st.outputs.clone())).collect());
        move |step: &str, output: &str| outputs.get(step).and_then(|o| o.get(output)).cloned()
    }

    async fn pass_gate<O: Operator>(
        &self,
        operator: &mut O,
        step: &Step,
        index: usize,
        total: usize,
    ) -> Result<GateOutcome, EngineError> {
        // Rendered in a block so the (non-Send) lookups are gone before the first await: the run
        // must stay drivable from a spawned task.
        let (title, gate, instructions, action) = {
            let outputs = self.outputs_lookup();
            // What the operator reads must render even when an earlier step was skipped.
            let shown = |s: &str, o: &str| {
                outputs(s, o).or_else(|| Some(Value::String(format!("<steps.{s}.outputs.{o}: not available>"))))
            };
            let look = plan::lookup(&self.inputs, &shown);
            let title = crate::runbook::template::render_text(&step.title, &look).map_err(EngineError::Invalid)?;
            let gate = plan::render_gate(&step.gate, &look).map_err(EngineError::Invalid)?;
            let instructions = self.secrets.redact_text(
                &crate::runbook::template::render_text(&step.instructions, &look).map_err(EngineError::Invalid)?,
            );
            let action = match &step.action {
                Some(a) => Some(format!(
                    "{a} {}",
                    self.secrets.redact_json(&plan::render_with(step, &look).map_err(EngineError::Invalid)?)
                )),
                None => None,
            };
            (title, gate, instructions, action)
        };
        self.status(&step.id, StepStatus::AwaitingGate, None)?;
        let user = os_user();
        let answer = if self.auto_approve {
            let typed = match &gate {
                Gate::TypeToConfirm(t) => Some(t.clone()),
                _ => None,
            };
            let checked = match &gate {
                Gate::Checklist(items) => items.clone(),
                _ => Vec::new(),
            };
            GateAnswer::Approve { typed, checked }
        } else {
            loop {
                let request = GateRequest {
                    step,
                    index,
                    total,
                    title: title.clone(),
                    gate: gate.clone(),
                    instructions: instructions.clone(),
                    action: action.clone(),
                };
                let answer = operator.gate(request).await;
                if operator::check_answer(&gate, &answer).is_ok() {
                    break answer;
                }
            }
        };
        if matches!(answer, GateAnswer::Approve { .. }) && step.approvers > 1 {
            // Decided only once the others approved too: a run killed meanwhile asks again.
            self.await_approvals(step).await?;
        }
        let (outcome, typed, checked, reason) = match answer {
            GateAnswer::Approve { typed, checked } => (GateOutcome::Approved, typed, checked, None),
            GateAnswer::Skip { reason } => (GateOutcome::Skipped, None, Vec::new(), Some(reason)),
            GateAnswer::Abort => (GateOutcome::Aborted, None, Vec::new(), None),
        };
        self.record(Event::GateDecided {
            step: step.id.clone(),
            outcome,
            user,
            typed,
            checked,
            reason: reason.clone(),
            auto: self.auto_approve,
        })?;
        if outcome == GateOutcome::Skipped {
            self.status(&step.id, StepStatus::Skipped, reason)?;
        }
        Ok(outcome)
    }
}

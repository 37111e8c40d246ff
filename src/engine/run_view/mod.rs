//! One view of a run, for a front end to render and nothing else.
//!
//! A [`RunView`] is built from the runbook (steps, gates, rendered actions) and brought up to
//! date by journal entries, one at a time ([`RunView::apply`]). The live console feeds it the
//! entries the engine's observer sends over a channel; `watch` feeds it the lines another process
//! appends to the journal; both therefore show exactly what was recorded. It holds no AWS client
//! and no terminal type.

mod calls;
#[cfg(test)]
pub(crate) mod tests;

pub use calls::Calls;

use super::plan;
use crate::journal::{Endpoint, Entry, Event, RunState, RunStatus, StepStatus, SubPhase};
use crate::runbook::{ActionCatalog, Gate, LoadedRunbook, Runbook, template};
use indexmap::IndexMap;
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// How the run reaches AWS, as the header says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    Live,
    Sandbox,
    /// Every call goes to an endpoint given with `--endpoint-url` (a moto server, a proxy).
    Endpoint,
    DryRun,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Live => "LIVE AWS",
            RunMode::Sandbox => "SANDBOX",
            RunMode::Endpoint => "ENDPOINT",
            RunMode::DryRun => "DRY RUN",
        }
    }
}

/// An environment in the header: where it is and what the account guard found.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvView {
    pub name: String,
    pub region: String,
    /// The account the runbook expects (`account_id`), if it names one.
    pub expected: Option<String>,
    /// The account STS reported, once the guard has run.
    pub account: Option<String>,
    /// `None` until the guard has looked.
    pub ok: Option<bool>,
    pub message: Option<String>,
}

/// The run's facts for the header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub run_id: String,
    pub runbook: String,
    pub title: String,
    pub mode: RunMode,
    /// `--phase`: the run stages only, or cuts over only.
    pub phase: Option<crate::runbook::Phase>,
    pub endpoint: Option<String>,
    pub user: Option<String>,
    pub envs: Vec<EnvView>,
    pub started_at: Option<SystemTime>,
    /// The first disruptive AWS call: where the RTO clock starts (as in the report).
    pub first_disruption_at: Option<SystemTime>,
    /// The fence on recovery's writes: its first disruptive call (the downtime clock starts
    /// there) and when it was proved to hold (the data-loss window's end), as in the report.
    pub fence_began_at: Option<SystemTime>,
    pub fenced_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    /// When the driving process stopped the run (its clocks stop there until a resume).
    pub stopped_at: Option<SystemTime>,
    pub rto_target: Option<Duration>,
    pub rpo_target: Option<Duration>,
}

/// A named part of a running action, indented under its step.
#[derive(Debug, Clone, PartialEq)]
pub struct SubView {
    pub name: String,
    pub phase: SubPhase,
    /// The last state seen while waiting (`available`, `in-use`, ...).
    pub waiting_for: Option<String>,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
}

/// One step as the console shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    pub id: String,
    pub title: String,
    pub instructions: String,
    pub gate: Gate,
    pub group: Option<String>,
    pub action: Option<String>,
    /// `with:` rendered (outputs not yet produced show as `<steps.x.outputs.y>`).
    pub params: Option<Value>,
    /// The action changes AWS or runs a command (shown in a warning style).
    pub mutating: bool,
    pub status: StepStatus,
    pub attempts: u32,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    pub substeps: Vec<SubView>,
    pub outputs: IndexMap<String, Value>,
    pub reason: Option<String>,
    pub last_error: Option<String>,
    /// Who passed the gate, and how (`approved by ana`, `auto-approved`).
    pub decision: Option<String>,
    /// Notes and command output from the action.
    pub log: Vec<String>,
    /// The checks of the step's resources before its gate (failback steps), latest.
    pub preflight: Vec<crate::journal::PreflightCheck>,
    /// People the gate needs (`approvers`, team mode); 0 or 1: the driver alone.
    pub approvers: u8,
    /// The identities that approved the gate's current ask, the driver's first (the state's:
    /// none once the gate is decided or its driver stopped; a gate asked again is approved again).
    pub approvals: Vec<String>,
    /// The entry of the driver's approval asking the others (the state's): what an approval from
    /// a watcher is of.
    pub ask: Option<u64>,
}

impl StepView {
    /// Whether the driver approved the gate and it waits for other people's approvals.
    pub fn waits_for_approvers(&self) -> bool {
        self.status == StepStatus::AwaitingGate
            && !self.approvals.is_empty()
            && self.approvals.len() < usize::from(self.approvers)
    }

    /// Time spent so far (or in all, once finished).
    pub fn elapsed(&self, now: SystemTime) -> Option<Duration> {
        let start = self.started_at?;
        self.finished_at.unwrap_or(now).duration_since(start).ok()
    }
}

/// The whole run, as of the last entry applied.
#[derive(Debug, Clone)]
pub struct RunView {
    pub header: Header,
    pub steps: Vec<StepView>,
    /// What the journal says, as far as it has been applied (the one reducer's state).
    pub state: RunState,
    pub status: RunStatus,
    /// The process driving the run stopped it (Ctrl-C, a closed console); resumable.
    pub interrupted: bool,
    /// Entries applied so far.
    pub seq: u64,
    runbook: Runbook,
    inputs: IndexMap<String, Value>,
}

/// RFC 3339 journal time to a clock time (a malformed one is left out, never a panic).
pub fn parse_ts(ts: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(ts).ok()
}

impl RunView {
    /// The view of a run that has not recorded anything yet.
    pub fn new(run_id: &str, loaded: &LoadedRunbook, inputs: &IndexMap<String, Value>) -> RunView {
        let rb = &loaded.runbook;
        let envs = plan::render_environments(loaded, inputs).unwrap_or_else(|_| rb.environments.clone());
        let target = |t: &Option<String>| t.as_deref().and_then(|t| humantime::parse_duration(t).ok());
        let mut view = RunView {
            header: Header {
                run_id: run_id.to_string(),
                runbook: rb.name.clone(),
                title: rb.title.clone(),
                mode: RunMode::Live,
                phase: None,
                endpoint: None,
                user: None,
                envs: envs
                    .iter()
                    .map(|(name, e)| EnvView {
                        name: name.clone(),
                        region: e.region.clone(),
                        expected: e.account_id.clone(),
                        account: None,
                        ok: None,
                        message: None,
                    })
                    .collect(),
                started_at: None,
                first_disruption_at: None,
                fence_began_at: None,
                fenced_at: None,
                finished_at: None,
                stopped_at: None,
                rto_target: target(&rb.targets.rto),
                rpo_target: target(&rb.targets.rpo),
            },
            steps: rb
                .steps
                .iter()
                .map(|s| StepView {
                    id: s.id.clone(),
                    title: s.title.clone(),
                    instructions: s.instructions.clone(),
                    gate: s.gate.clone(),
                    group: s.group.clone(),
                    action: s.action.clone(),
                    params: None,
                    mutating: false,
                    status: StepStatus::Pending,
                    attempts: 0,
                    started_at: None,
                    finished_at: None,
                    substeps: Vec::new(),
                    outputs: IndexMap::new(),
                    reason: None,
                    last_error: None,
                    decision: None,
                    log: Vec::new(),
                    preflight: Vec::new(),
                    approvers: s.approvers,
                    approvals: Vec::new(),
                    ask: None,
                })
                .collect(),
            state: RunState::default(),
            status: RunStatus::Running,
            interrupted: false,
            seq: 0,
            runbook: rb.clone(),
            inputs: inputs.clone(),
        };
        view.render_texts();
        view
    }

    /// The runbook the run started with.
    pub fn runbook(&self) -> &Runbook {
        &self.runbook
    }

    /// The step the operator should look at: the first one waiting for them, else the first
    /// running, else the last one that ended, else the first.
    pub fn current(&self) -> usize {
        let find = |pred: &dyn Fn(&StepView) -> bool| self.steps.iter().position(pred);
        find(&|s| matches!(s.status, StepStatus::AwaitingGate | StepStatus::AwaitingDecision))
            .or_else(|| find(&|s| s.status == StepStatus::Running))
            .or_else(|| self.steps.iter().rposition(|s| s.status != StepStatus::Pending))
            .unwrap_or(0)
    }

    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// The time clocks run to: `now`, or when the run finished or was stopped.
    pub fn clock(&self, now: SystemTime) -> SystemTime {
        self.header.finished_at.or(self.header.stopped_at).unwrap_or(now)
    }

    /// The RTO clock: from the first disruptive call to the end of the run (or `now`).
    pub fn rto_elapsed(&self, now: SystemTime) -> Option<Duration> {
        let start = self.header.first_disruption_at?;
        self.clock(now).duration_since(start).ok()
    }

    /// The downtime clock: from the fence's first disruptive call to the end of the run (or `now`).
    pub fn downtime_elapsed(&self, now: SystemTime) -> Option<Duration> {
        let start = self.header.fence_began_at?;
        self.clock(now).duration_since(start).ok()
    }

    /// Renders titles, instructions, gates and parameters with the inputs and the outputs
    /// recorded so far; outputs not produced yet show as placeholders.
    fn render_texts(&mut self) {
        let outputs: IndexMap<String, IndexMap<String, Value>> =
            self.steps.iter().map(|s| (s.id.clone(), s.outputs.clone())).collect();
        let found = |step: &str, out: &str| {
            outputs
                .get(step)
                .and_then(|o| o.get(out))
                .cloned()
                .or_else(|| Some(Value::String(format!("<steps.{step}.outputs.{out}>"))))
        };
        let look = plan::lookup(&self.inputs, &found);
        for (view, step) in self.steps.iter_mut().zip(&self.runbook.steps) {
            if let Ok(t) = template::render_text(&step.title, &look) {
                view.title = t;
            }
            if let Ok(t) = template::render_text(&step.instructions, &look) {
                view.instructions = t;
            }
            if let Ok(g) = plan::render_gate(&step.gate, &look) {
                view.gate = g;
            }
            view.params = step.action.as_ref().and_then(|_| plan::render_with(step, &look).ok());
            let read_only = step.action.as_deref().and_then(|a| crate::actions::REGISTRY.find(a)).map(|d| d.read_only);
            let says_read_only = view.params.as_ref().and_then(|p| p.get("read_only")).and_then(Value::as_bool);
            view.mutating = step.action.is_some() && read_only != Some(true) && says_read_only != Some(true);
        }
    }

    /// The recent AWS calls, oldest first.
    pub fn calls(&self) -> Calls<'_> {
        Calls::of(&self.state.calls)
    }

    /// Applies one journal entry; one already applied (read from the file and then sent by the
    /// observer too) is passed over. The journal's meaning is the state's ([`RunState::apply`]);
    /// this only projects it for drawing.
    pub fn apply(&mut self, entry: &Entry) {
        if self.seq > 0 && entry.seq <= self.seq {
            return;
        }
        self.seq = entry.seq;
        self.state.apply(entry);
        self.project_run();
        match &entry.event {
            Event::ActionLog { step, message } => {
                if let Some(view) = self.steps.iter_mut().find(|s| &s.id == step) {
                    view.log.push(message.clone());
                    if view.log.len() > calls::KEEP {
                        view.log.remove(0);
                    }
                }
            }
            Event::ActionFinished { ok: true, step, .. } => {
                self.project_step(step);
                self.render_texts();
            }
            // The state ends every ask with the process that asked.
            Event::RunResumed { .. } | Event::RunInterrupted { .. } => {
                let ids: Vec<String> = self.steps.iter().map(|s| s.id.clone()).collect();
                ids.iter().for_each(|id| self.project_step(id));
            }
            event => {
                if let Some(step) = event.step() {
                    self.project_step(step);
                }
            }
        }
    }

    /// The header, status and stop from the state.
    fn project_run(&mut self) {
        let st = &self.state;
        let h = &mut self.header;
        if let Some(Event::RunStarted { run_id, dry_run, user, phase, .. }) = &st.started {
            h.run_id = run_id.clone();
            h.user = Some(user.clone());
            h.phase = *phase;
            h.mode = match st.endpoint.as_ref() {
                _ if *dry_run => RunMode::DryRun,
                Some(Endpoint::Sandbox { .. }) => RunMode::Sandbox,
                Some(Endpoint::Url { .. }) => RunMode::Endpoint,
                Some(Endpoint::Aws) | None => RunMode::Live,
            };
        }
        h.endpoint = st.endpoint.as_ref().and_then(Endpoint::url).map(str::to_string);
        for env in &mut h.envs {
            if let Some(check) = st.account_of(&env.name) {
                env.account = check.account.clone().or(env.account.take());
                env.ok = Some(check.ok);
                env.message = check.message.clone();
            }
        }
        h.started_at = st.started_at.as_deref().and_then(parse_ts);
        h.first_disruption_at = st.first_disruption().and_then(|c| c.at);
        let fence = st.fence();
        h.fence_began_at = fence.and_then(|f| f.began).and_then(|c| c.at);
        h.fenced_at = fence.and_then(|f| f.held).and_then(parse_ts);
        h.finished_at = st.finished_at.as_deref().and_then(parse_ts);
        h.stopped_at = st.stopped_at.as_deref().and_then(parse_ts);
        self.status = st.status();
        self.interrupted = st.interrupted;
    }

    /// One step's view from its state.
    fn project_step(&mut self, id: &str) {
        let (Some(view), Some(st)) = (self.steps.iter_mut().find(|s| s.id == id), self.state.steps.get(id)) else {
            return;
        };
        view.approvals = st.approvals.clone();
        view.ask = st.ask;
        view.status = st.status;
        view.attempts = st.attempts;
        view.started_at = st.first_action.as_ref().and_then(|(_, at)| parse_ts(at));
        view.finished_at = st.finished_at.as_deref().and_then(parse_ts);
        view.outputs = st.outputs.clone();
        view.reason = st.reason.clone();
        view.last_error = st.last_error.clone();
        view.preflight = st.preflight.as_ref().map(|(_, checks)| checks.clone()).unwrap_or_default();
        view.decision = match st.last_decided {
            Some(_) if st.latest_gate().is_some_and(|g| g.auto) => Some("auto-approved".into()),
            Some(_) => st
                .latest_gate()
                .map(|g| format!("{:?} by {}", g.outcome, g.user))
                .or_else(|| st.latest_decision().map(|d| format!("{:?} after failure, by {}", d.outcome, d.user)))
                .map(|t| t.to_lowercase()),
            None => None,
        };
        view.substeps = st
            .substeps
            .iter()
            .map(|(sub_id, sub)| SubView {
                name: sub_id.to_string(),
                phase: sub.phase,
                waiting_for: sub.waiting_for.clone(),
                started_at: parse_ts(&sub.first_at),
                finished_at: sub.finished_at.as_deref().and_then(parse_ts),
            })
            .collect();
    }
}

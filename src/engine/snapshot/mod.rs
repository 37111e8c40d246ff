//! One snapshot of a run, for a front end to render and nothing else.
//!
//! A [`Snapshot`] is built from the runbook (steps, gates, rendered actions) and brought up to
//! date by journal entries, one at a time ([`Snapshot::apply`]). The live console feeds it the
//! entries the engine's observer sends over a channel; `watch` feeds it the lines another process
//! appends to the journal; both therefore show exactly what was recorded. It holds no AWS client
//! and no terminal type.

mod calls;
#[cfg(test)]
pub(crate) mod tests;

pub use calls::{CallView, Calls};

use super::plan;
use crate::journal::{CallOutcome, Entry, Event, RunStatus, StepStatus, SubPhase};
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
    pub endpoint: Option<String>,
    pub user: Option<String>,
    pub envs: Vec<EnvView>,
    pub started_at: Option<SystemTime>,
    /// The first mutating AWS call: where the RTO clock starts (as in the report).
    pub first_change_at: Option<SystemTime>,
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
}

impl StepView {
    /// Time spent so far (or in all, once finished).
    pub fn elapsed(&self, now: SystemTime) -> Option<Duration> {
        let start = self.started_at?;
        self.finished_at.unwrap_or(now).duration_since(start).ok()
    }
}

/// The whole run, as of the last entry applied.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub header: Header,
    pub steps: Vec<StepView>,
    /// Recent AWS calls, oldest first.
    pub calls: Calls,
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

impl Snapshot {
    /// A snapshot of a run that has not recorded anything yet.
    pub fn new(run_id: &str, loaded: &LoadedRunbook, inputs: &IndexMap<String, Value>) -> Snapshot {
        let rb = &loaded.runbook;
        let envs = plan::render_environments(loaded, inputs).unwrap_or_else(|_| rb.environments.clone());
        let target = |t: &Option<String>| t.as_deref().and_then(|t| humantime::parse_duration(t).ok());
        let mut snap = Snapshot {
            header: Header {
                run_id: run_id.to_string(),
                runbook: rb.name.clone(),
                title: rb.title.clone(),
                mode: RunMode::Live,
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
                first_change_at: None,
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
                })
                .collect(),
            calls: Calls::default(),
            status: RunStatus::Running,
            interrupted: false,
            seq: 0,
            runbook: rb.clone(),
            inputs: inputs.clone(),
        };
        snap.render_texts();
        snap
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

    /// The RTO clock: from the first change to the end of the run (or `now`).
    pub fn rto_elapsed(&self, now: SystemTime) -> Option<Duration> {
        let start = self.header.first_change_at?;
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

    /// Applies one journal entry; one already applied (read from the file and then sent by the
    /// observer too) is passed over.
    pub fn apply(&mut self, entry: &Entry) {
        if self.seq > 0 && entry.seq <= self.seq {
            return;
        }
        self.seq = entry.seq;
        let at = parse_ts(&entry.ts);
        if self.header.started_at.is_none() {
            self.header.started_at = at;
        }
        match &entry.event {
            Event::RunStarted { run_id, dry_run, endpoint_url, sandbox, user, .. } => {
                self.header.run_id = run_id.clone();
                self.header.mode = match (dry_run, sandbox, endpoint_url) {
                    (true, ..) => RunMode::DryRun,
                    (false, true, _) => RunMode::Sandbox,
                    (false, false, Some(_)) => RunMode::Endpoint,
                    (false, false, None) => RunMode::Live,
                };
                self.header.endpoint = endpoint_url.clone();
                self.header.user = Some(user.clone());
            }
            Event::RunResumed { endpoint_override, .. } => {
                if let Some(to) = endpoint_override {
                    let url = to.split_once(' ').map(|(_, u)| u.to_string());
                    (self.header.mode, self.header.endpoint) = match to.split(' ').next() {
                        Some("sandbox") => (RunMode::Sandbox, url),
                        Some("endpoint") => (RunMode::Endpoint, url),
                        _ => (RunMode::Live, None),
                    };
                }
                self.status = RunStatus::Running;
                self.interrupted = false;
                self.header.finished_at = None;
                self.header.stopped_at = None;
            }
            Event::RunInterrupted { .. } => {
                self.interrupted = true;
                self.header.stopped_at = at;
            }
            Event::RunFinished { status } => {
                self.status = *status;
                self.header.finished_at = at;
            }
            Event::AccountChecked { env, account, ok, message, .. } => {
                if let Some(e) = self.header.envs.iter_mut().find(|e| &e.name == env) {
                    e.account = account.clone().or(e.account.take());
                    e.ok = Some(*ok);
                    e.message = message.clone();
                }
            }
            event => self.apply_step_event(event, at, &entry.ts),
        }
    }

    fn apply_step_event(&mut self, event: &Event, at: Option<SystemTime>, ts: &str) {
        let Some(i) = event.step().and_then(|id| self.step_index(id)) else { return };
        let step = &mut self.steps[i];
        match event {
            Event::StepStatus { status, reason, .. } => {
                step.status = *status;
                // A reason belongs to the status it came with (a retried step that then
                // succeeds no longer shows the error that stopped it).
                step.reason = reason.clone();
                if status.is_final() {
                    step.finished_at = at;
                } else {
                    step.finished_at = None;
                }
            }
            Event::GateDecided { outcome, user, auto, reason, .. } => {
                let how = if *auto { "auto-approved".to_string() } else { format!("{outcome:?} by {user}") };
                step.decision = Some(how.to_lowercase());
                if reason.is_some() {
                    step.reason = reason.clone();
                }
            }
            Event::ActionStarted { attempt, .. } => {
                step.attempts = step.attempts.max(*attempt);
                step.status = StepStatus::Running;
                step.last_error = None;
                step.finished_at = None;
                if step.started_at.is_none() {
                    step.started_at = at;
                }
            }
            Event::ActionFinished { ok, outputs, error, .. } => {
                if *ok {
                    step.outputs = outputs.clone();
                    step.status = StepStatus::Succeeded;
                    step.finished_at = at;
                    self.render_texts();
                } else {
                    step.last_error = error.clone();
                }
            }
            Event::SubStep { name, phase, data, .. } => {
                let sub = match step.substeps.iter().position(|s| &s.name == name) {
                    Some(k) => &mut step.substeps[k],
                    None => {
                        step.substeps.push(SubView {
                            name: name.clone(),
                            phase: *phase,
                            waiting_for: None,
                            started_at: at,
                            finished_at: None,
                        });
                        step.substeps.last_mut().expect("just pushed")
                    }
                };
                sub.phase = *phase;
                match phase {
                    SubPhase::Waiting => {
                        sub.waiting_for = match data {
                            Value::Null => None,
                            Value::String(s) => Some(s.clone()),
                            other => Some(other.to_string()),
                        };
                    }
                    SubPhase::Done => sub.finished_at = at,
                    SubPhase::Started | SubPhase::Reset => {
                        sub.finished_at = None;
                        sub.waiting_for = None;
                    }
                }
            }
            Event::ActionLog { message, .. } => {
                step.log.push(message.clone());
                if step.log.len() > calls::KEEP {
                    step.log.remove(0);
                }
            }
            Event::AwsCall { step: id, service, operation, target, region, mutating, outcome, message } => {
                if *mutating && self.header.first_change_at.is_none() && *outcome != CallOutcome::Error {
                    self.header.first_change_at = at;
                }
                self.calls.push(CallView {
                    ts: ts.to_string(),
                    at,
                    step: id.clone(),
                    service: service.clone(),
                    operation: operation.clone(),
                    target: target.clone(),
                    region: region.clone(),
                    mutating: *mutating,
                    outcome: *outcome,
                    message: message.clone(),
                });
            }
            Event::FailureDecided { outcome, user, reason, .. } => {
                step.decision = Some(format!("{outcome:?} after failure, by {user}").to_lowercase());
                if reason.is_some() {
                    step.reason = reason.clone();
                }
            }
            _ => {}
        }
    }
}

//! The console's state: the run view and resource panels it was sent, what the operator is
//! looking at, and the decision the engine waits for. Drawing reads it; keys and messages change
//! it; nothing here calls AWS.

use super::keymap::Keymap;
use super::msg::{FailureAsk, GateAsk, Msg};
use super::theme::Theme;
use crate::engine::poller::Resources;
use crate::engine::run_view::RunView;
use crate::engine::{FailureAnswer, GateAnswer};
use crate::journal::RunStatus;
use crate::runbook::Gate;
use crate::team::asks::{TeamAsk, TeamLink};
use std::time::SystemTime;
use tokio::sync::oneshot;

/// Decision keys pressed sooner than this after a decision's dialog opens are ignored.
pub const DECISION_DELAY: std::time::Duration = std::time::Duration::from_millis(400);

/// What a team key says in a console on a run that is not shared.
pub const NOT_SHARED: &str = "team mode only: this run is not shared (run it with --team TABLE)";

/// The three panes, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Steps,
    Current,
    Resources,
}

/// A decision the engine waits for, with where the answer goes.
#[derive(Debug)]
pub enum Pending {
    Gate(GateAsk, oneshot::Sender<GateAnswer>),
    Failure(FailureAsk, oneshot::Sender<FailureAnswer>),
}

impl Pending {
    pub fn step(&self) -> &str {
        match self {
            Pending::Gate(a, _) => &a.step,
            Pending::Failure(a, _) => &a.step,
        }
    }
}

/// The open dialog or popup.
#[derive(Debug, Clone, PartialEq)]
pub enum Dialog {
    /// The pending gate's form: ticked items, cursor, typed text.
    Gate {
        ticked: Vec<bool>,
        cursor: usize,
        typed: String,
    },
    /// The pending failure: retry, skip or abort.
    Failure,
    /// A reason for skipping the pending step, being typed.
    SkipReason(String),
    ConfirmAbort,
    /// Rolling the failed failback step back, asked first.
    ConfirmRollback,
    ConfirmQuit,
    Help,
    /// A step's full output (outputs, log, every call), scrolled.
    Output {
        step: usize,
        scroll: u16,
    },
    /// The log and resources filter, being typed.
    Filter(String),
    /// Team mode: the name of the responder to hand the run over to, being typed.
    HandoverTo(String),
    /// Team mode, watching: approving this step's gate (its ask journaled at `ask`) as this
    /// machine's AWS identity, asked first.
    ConfirmApproval {
        step: String,
        ask: u64,
    },
}

/// How the console ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The operator quit; a run still going stays resumable.
    Quit,
    /// A signal closed it.
    Signal,
}

pub struct App {
    pub view: RunView,
    pub resources: Resources,
    pub theme: Theme,
    pub keymap: Keymap,
    /// The clock drawing uses (set on every tick; fixed in tests).
    pub now: SystemTime,
    pub pane: Pane,
    /// The step the operator moved to; `None` follows the run's current step.
    pub selected: Option<usize>,
    /// Lines scrolled in the current-step pane and the resources pane.
    pub scroll: u16,
    pub res_scroll: u16,
    pub dialog: Option<Dialog>,
    /// The decision's dialog as Esc left it (ticks and typed text kept for when it reopens).
    pub parked: Option<Dialog>,
    pub pending: Option<Pending>,
    /// Applied to the call log and the resources.
    pub filter: String,
    /// A one-line message for the operator (a refused key, a problem in the key file).
    pub notice: Option<String>,
    /// `watch`: no decisions, no mutating call.
    pub read_only: bool,
    /// Team mode: where approvals and handovers go (`None`: a local run, keys say so).
    pub team: Option<TeamLink>,
    pub finished: Option<Result<RunStatus, String>>,
    /// Once the run has ended: its outcome (RTO, RPO, what was kept, the report command), shown
    /// at the top of the current pane.
    pub outcome: Option<Vec<String>>,
    pub exit: Option<Exit>,
    /// Something changed since the last frame.
    pub dirty: bool,
    /// How far each scrollable area can scroll, as the last frame measured it.
    pub limits: std::cell::Cell<Limits>,
    /// Paces the resource poller: quick while an action runs, slow while the run waits.
    pub poll: Option<Pacing>,
    /// When the pending decision's dialog opened, and how long decision keys are ignored after.
    pub decision_opened: Option<std::time::Instant>,
    pub decision_delay: std::time::Duration,
}

/// The poller's pace, set from what the run is doing.
pub struct Pacing {
    pub control: crate::engine::poller::PollControl,
    pub busy: std::time::Duration,
    pub idle: std::time::Duration,
    /// Whether an action was running at the last entry.
    pub running: bool,
}

/// The largest useful scroll of each scrollable area.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub current: u16,
    pub resources: u16,
    pub output: u16,
}

impl App {
    pub fn new(view: RunView, resources: Resources, keymap: Keymap, theme: Theme) -> App {
        let mut app = App {
            view,
            resources,
            theme,
            keymap,
            now: SystemTime::now(),
            pane: Pane::Steps,
            selected: None,
            scroll: 0,
            res_scroll: 0,
            dialog: None,
            parked: None,
            pending: None,
            filter: String::new(),
            notice: None,
            read_only: false,
            team: None,
            finished: None,
            exit: None,
            dirty: true,
            limits: Default::default(),
            poll: None,
            decision_opened: None,
            decision_delay: DECISION_DELAY,
            outcome: None,
        };
        app.note_outcome();
        app
    }

    /// Reads the outcome from the run's state once the run has finished (or been stopped for
    /// good: failed, aborted, abandoned).
    fn note_outcome(&mut self) {
        if self.view.status != RunStatus::Running && self.outcome.is_none() {
            self.outcome = crate::report::from_state(&self.view.state, Some(self.view.runbook()))
                .map(|r| crate::report::outcome::lines(&r));
        }
    }

    /// The step shown in the centre.
    pub fn shown_step(&self) -> usize {
        let pending = self.pending.as_ref().and_then(|p| self.view.step_index(p.step()));
        self.selected.or(pending).unwrap_or_else(|| self.view.current()).min(self.view.steps.len().saturating_sub(1))
    }

    /// Whether the decision waiting is a type-to-confirm gate (its dialog is a text field).
    pub fn typing_gate(&self) -> bool {
        matches!(&self.pending, Some(Pending::Gate(a, _)) if matches!(a.gate, Gate::TypeToConfirm(_)))
    }

    /// Whether a decision key arrives too soon after its dialog opened: a second press of a
    /// key meant for the previous gate must not pass the next one unseen.
    pub fn too_soon(&self) -> bool {
        self.decision_opened.is_some_and(|t| t.elapsed() < self.decision_delay)
    }

    /// Applies a message from the engine, the poller or a signal.
    pub fn on_msg(&mut self, msg: Msg) {
        self.dirty = true;
        match msg {
            Msg::Entry(entry) => {
                self.view.apply(&entry);
                self.note_outcome();
                if let crate::journal::Event::RunSupersedes { run_id, .. } = &entry.event {
                    self.notice = Some(format!(
                        "this run supersedes run {run_id}: it never sent a mutating call (abandoned, naming this run)"
                    ));
                }
                self.pace(matches!(entry.event, crate::journal::Event::ActionFinished { .. }));
            }
            Msg::Gate(ask, reply) => self.ask(Pending::Gate(ask, reply)),
            Msg::Failure(ask, reply) => self.ask(Pending::Failure(ask, reply)),
            Msg::Resources(r) => self.resources = r,
            Msg::Finished(result) => {
                if let Err(e) = &result {
                    self.notice = Some(format!("the run stopped: {e}"));
                }
                self.finished = Some(result);
                self.pending = None;
                if matches!(self.dialog, Some(Dialog::Gate { .. } | Dialog::Failure | Dialog::SkipReason(_))) {
                    self.dialog = None;
                }
            }
            Msg::Signal(name) => {
                self.notice = Some(format!("{name}: closing; the run stays resumable"));
                self.exit = Some(Exit::Signal);
            }
            Msg::Notice(text) => self.notice = Some(text),
        }
    }

    /// Sends `ask` to the team table's side, saying what happens meanwhile; without team mode
    /// says what it needs.
    pub fn ask_team(&mut self, ask: TeamAsk) {
        self.dialog = None;
        let sent = self.team.as_ref().is_some_and(|t| t.send(ask.clone()).is_ok());
        self.notice = Some(match (sent, &ask) {
            (false, _) => NOT_SHARED.into(),
            (true, TeamAsk::Approve { step, .. }) => format!("approving `{step}` as your AWS identity…"),
            (true, TeamAsk::Handover { to }) => format!("asking the driver to hand the run over to {to}…"),
        });
    }

    /// The step whose gate the driver approved and which waits for others' approvals.
    pub fn waiting_for_approvers(&self) -> Option<&crate::engine::run_view::StepView> {
        self.view.steps.iter().find(|s| s.waits_for_approvers())
    }

    /// A decision the engine waits for: shown at once, in its dialog.
    fn ask(&mut self, pending: Pending) {
        self.selected = None;
        self.scroll = 0;
        self.pending = Some(pending);
        self.parked = None;
        self.dialog = self.decision_dialog();
        self.decision_opened = Some(std::time::Instant::now());
    }

    /// Polls quickly while an action runs and slowly otherwise; reads at once when an action
    /// starts or ends (the resources it touched should not wait for the next turn).
    fn pace(&mut self, action_ended: bool) {
        let running = self.view.status == RunStatus::Running
            && !self.view.interrupted
            && self.view.steps.iter().any(|s| s.status == crate::journal::StepStatus::Running);
        let Some(p) = &mut self.poll else { return };
        if running != p.running {
            p.running = running;
            p.control.set_interval(if running { p.busy } else { p.idle });
            p.control.fetch();
        } else if action_ended {
            p.control.fetch();
        }
    }

    /// Sends the answer to the pending gate.
    pub fn answer_gate(&mut self, answer: GateAnswer) {
        if let Some(Pending::Gate(_, reply)) = self.pending.take() {
            let _ = reply.send(answer);
        }
        self.dialog = None;
        self.parked = None;
    }

    /// Sends the answer to the pending failure.
    pub fn answer_failure(&mut self, answer: FailureAnswer) {
        if let Some(Pending::Failure(_, reply)) = self.pending.take() {
            let _ = reply.send(answer);
        }
        self.dialog = None;
        self.parked = None;
    }

    /// Skips the pending step, whichever kind of decision it is.
    pub fn skip(&mut self, reason: String) {
        match &self.pending {
            Some(Pending::Gate(..)) => self.answer_gate(GateAnswer::Skip { reason }),
            Some(Pending::Failure(..)) => self.answer_failure(FailureAnswer::Skip { reason }),
            None => self.dialog = None,
        }
    }

    /// Aborts at the pending decision.
    pub fn abort(&mut self) {
        match &self.pending {
            Some(Pending::Gate(..)) => self.answer_gate(GateAnswer::Abort),
            Some(Pending::Failure(..)) => self.answer_failure(FailureAnswer::Abort),
            None => self.dialog = None,
        }
    }

    /// The dialog for the pending decision, reopened after Esc hid it.
    pub fn decision_dialog(&self) -> Option<Dialog> {
        if let Some(parked) = &self.parked {
            return Some(parked.clone());
        }
        match &self.pending {
            Some(Pending::Gate(ask, _)) => Some(Dialog::Gate {
                ticked: match &ask.gate {
                    Gate::Checklist(items) => vec![false; items.len()],
                    _ => Vec::new(),
                },
                cursor: 0,
                typed: String::new(),
            }),
            Some(Pending::Failure(..)) => Some(Dialog::Failure),
            None => None,
        }
    }

    /// Whether the run is over (finished, or the driving process stopped it).
    pub fn run_over(&self) -> bool {
        self.finished.is_some() || self.view.status != RunStatus::Running || self.view.interrupted
    }
}

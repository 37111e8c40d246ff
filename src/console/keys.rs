//! Keys and mouse to state changes and answers. A typing field (a type-to-confirm gate, a skip
//! reason, the filter) takes every character; otherwise the keymap decides.

use super::app::{App, Dialog, Exit, Pane, Pending};
use super::keymap::Action;
use crate::engine::{FailureAnswer, GateAnswer};
use crate::runbook::Gate;
use crate::team::asks::TeamAsk;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};

/// Lines one page scroll moves.
const PAGE: u16 = 10;

impl App {
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        self.dirty = true;
        self.notice = None;
        if self.typing() {
            self.on_typing_key(key);
            return;
        }
        // Ctrl-C always offers to quit, whatever the key file says.
        let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        let Some(action) = (if ctrl_c { Some(Action::Quit) } else { self.keymap.action(&key) }) else { return };
        let deciding = matches!(action, Action::Approve | Action::Open | Action::Retry | Action::Rollback);
        if deciding && self.too_soon() && matches!(self.dialog, Some(Dialog::Gate { .. } | Dialog::Failure)) {
            self.notice = Some("a new decision just opened: read it, then answer".into());
            return;
        }
        match self.dialog.clone() {
            Some(Dialog::Gate { ticked, cursor, typed }) => self.on_gate_key(action, ticked, cursor, typed),
            Some(Dialog::Failure) => match action {
                Action::Retry | Action::Approve => self.answer_failure(FailureAnswer::Retry),
                Action::Skip => self.dialog = Some(Dialog::SkipReason(String::new())),
                Action::Abort => self.dialog = Some(Dialog::ConfirmAbort),
                Action::Rollback => self.offer_rollback(),
                Action::Back => self.park(),
                Action::Quit => {
                    self.park();
                    self.dialog = Some(Dialog::ConfirmQuit);
                }
                _ => {}
            },
            Some(Dialog::ConfirmAbort) => match action {
                Action::Approve | Action::Open => self.abort(),
                Action::Back | Action::Quit => self.dialog = self.decision_dialog(),
                _ => {}
            },
            Some(Dialog::ConfirmRollback) => match action {
                Action::Approve | Action::Open => self.answer_failure(FailureAnswer::Rollback),
                Action::Back | Action::Quit => self.dialog = self.decision_dialog(),
                _ => {}
            },
            Some(Dialog::ConfirmQuit) => match action {
                Action::Approve | Action::Open | Action::Quit => self.exit = Some(Exit::Quit),
                Action::Back => self.dialog = None,
                _ => {}
            },
            Some(Dialog::Help) => {
                if matches!(action, Action::Back | Action::Help | Action::Quit | Action::Open) {
                    self.dialog = None;
                }
            }
            Some(Dialog::Output { step, scroll }) => {
                let scroll = match action {
                    Action::Back | Action::Open | Action::Quit => {
                        self.dialog = None;
                        return;
                    }
                    _ => scrolled(scroll, action).min(self.limits.get().output),
                };
                self.dialog = Some(Dialog::Output { step, scroll });
            }
            Some(Dialog::ConfirmApproval { step, ask }) => match action {
                Action::Approve | Action::Open => self.ask_team(TeamAsk::Approve { step, ask }),
                Action::Back | Action::Quit => self.dialog = None,
                _ => {}
            },
            Some(Dialog::SkipReason(_) | Dialog::Filter(_) | Dialog::HandoverTo(_)) => {}
            None => self.on_main_key(action),
        }
    }

    /// Whether a text field has the keyboard.
    fn typing(&self) -> bool {
        match &self.dialog {
            Some(Dialog::SkipReason(_) | Dialog::Filter(_) | Dialog::HandoverTo(_)) => true,
            Some(Dialog::Gate { .. }) => self.typing_gate(),
            _ => false,
        }
    }

    fn on_typing_key(&mut self, key: KeyEvent) {
        let Some(dialog) = self.dialog.as_mut() else { return };
        let text = match dialog {
            Dialog::SkipReason(t) | Dialog::Filter(t) | Dialog::HandoverTo(t) | Dialog::Gate { typed: t, .. } => t,
            _ => return,
        };
        match key.code {
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => text.push(c),
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Esc => match dialog {
                Dialog::SkipReason(_) => self.dialog = self.decision_dialog(),
                Dialog::Filter(_) | Dialog::HandoverTo(_) => self.dialog = None,
                _ => self.park(),
            },
            KeyCode::Enter => {
                if matches!(dialog, Dialog::Gate { .. }) && self.too_soon() {
                    self.notice = Some("a new decision just opened: read it, then answer".into());
                    return;
                }
                self.submit_text()
            }
            _ => {
                // Ctrl-C still offers to quit while typing; a gate's text is kept.
                if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
                    if matches!(dialog, Dialog::Gate { .. }) {
                        self.park();
                    }
                    self.dialog = Some(Dialog::ConfirmQuit);
                }
            }
        }
    }

    fn submit_text(&mut self) {
        match self.dialog.clone() {
            Some(Dialog::SkipReason(reason)) => {
                if reason.trim().is_empty() {
                    self.notice = Some("a skip needs a reason (it is journaled)".into());
                } else {
                    self.skip(reason.trim().to_string());
                }
            }
            Some(Dialog::Filter(text)) => {
                self.filter = text.trim().to_string();
                self.dialog = None;
            }
            Some(Dialog::HandoverTo(name)) => {
                if name.trim().is_empty() {
                    self.notice =
                        Some("hand over to whom? type their name (as their PILOTLIGHT_TEAM_NAME or user@host)".into());
                } else {
                    self.ask_team(TeamAsk::Handover { to: name.trim().to_string() });
                }
            }
            Some(Dialog::Gate { typed, .. }) => {
                let Some(Pending::Gate(ask, _)) = &self.pending else { return };
                let Gate::TypeToConfirm(want) = &ask.gate else { return };
                if &typed == want {
                    self.answer_gate(GateAnswer::Approve { typed: Some(typed), checked: Vec::new() });
                } else {
                    self.notice = Some(format!("does not match; type exactly `{want}` (nothing was done)"));
                }
            }
            _ => {}
        }
    }

    fn on_gate_key(&mut self, action: Action, mut ticked: Vec<bool>, mut cursor: usize, typed: String) {
        let Some(Pending::Gate(ask, _)) = &self.pending else {
            self.dialog = None;
            return;
        };
        let items = match &ask.gate {
            Gate::Checklist(items) => items.clone(),
            _ => Vec::new(),
        };
        match action {
            Action::Up => cursor = cursor.saturating_sub(1),
            Action::Down => cursor = (cursor + 1).min(items.len().saturating_sub(1)),
            Action::Toggle if !items.is_empty() => {
                if let Some(t) = ticked.get_mut(cursor) {
                    *t = !*t;
                }
            }
            Action::Approve | Action::Open => {
                let left = ticked.iter().filter(|t| !**t).count();
                if left > 0 {
                    self.notice = Some(format!("tick every item first ({left} left; space ticks)"));
                } else {
                    let checked =
                        items.iter().zip(&ticked).filter(|(_, t)| **t).map(|(i, _)| i.clone()).collect::<Vec<_>>();
                    self.answer_gate(GateAnswer::Approve { typed: None, checked });
                    return;
                }
            }
            Action::Skip => {
                self.parked = Some(Dialog::Gate { ticked, cursor, typed });
                self.dialog = Some(Dialog::SkipReason(String::new()));
                return;
            }
            Action::Abort => {
                self.parked = Some(Dialog::Gate { ticked, cursor, typed });
                self.dialog = Some(Dialog::ConfirmAbort);
                return;
            }
            Action::Back => {
                self.parked = Some(Dialog::Gate { ticked, cursor, typed });
                self.dialog = None;
                return;
            }
            Action::Quit => {
                self.parked = Some(Dialog::Gate { ticked, cursor, typed });
                self.dialog = Some(Dialog::ConfirmQuit);
                return;
            }
            _ => {}
        }
        self.dialog = Some(Dialog::Gate { ticked, cursor, typed });
    }

    /// Asks before rolling back the failed step; a step that is not a failback cannot be.
    fn offer_rollback(&mut self) {
        match &self.pending {
            Some(super::app::Pending::Failure(ask, _)) if ask.can_roll_back => {
                self.dialog = Some(Dialog::ConfirmRollback)
            }
            Some(super::app::Pending::Failure(..)) => {
                self.notice = Some("only a failed failback step can be rolled back".into())
            }
            _ => self.notice = Some("rolling back answers a failed failback step".into()),
        }
    }

    /// Hides the decision's dialog (Esc), keeping what was entered.
    fn park(&mut self) {
        if let Some(d @ (Dialog::Gate { .. } | Dialog::Failure)) = self.dialog.take() {
            self.parked = Some(d);
        }
    }

    fn on_main_key(&mut self, action: Action) {
        let decision_keys =
            matches!(action, Action::Approve | Action::Skip | Action::Abort | Action::Retry | Action::Rollback);
        if action == Action::Approve && self.read_only && self.team.is_some() {
            // Watching a team run: the one decision a watcher makes is a second approval.
            self.dialog = match self.waiting_for_approvers().and_then(|s| Some((s.id.clone(), s.ask?))) {
                Some((step, ask)) => Some(Dialog::ConfirmApproval { step, ask }),
                None => {
                    self.notice = Some("no gate waits for a second approver now".into());
                    None
                }
            };
            return;
        }
        if decision_keys && self.read_only {
            self.notice = Some("watching: decisions are made in the console that drives the run".into());
            return;
        }
        match action {
            Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Top | Action::Bottom => {
                self.move_in_pane(action)
            }
            Action::NextPane => {
                self.pane = match self.pane {
                    Pane::Steps => Pane::Current,
                    Pane::Current => Pane::Resources,
                    Pane::Resources => Pane::Steps,
                }
            }
            Action::PrevPane => {
                self.pane = match self.pane {
                    Pane::Steps => Pane::Resources,
                    Pane::Current => Pane::Steps,
                    Pane::Resources => Pane::Current,
                }
            }
            Action::Open => {
                self.dialog = match self.decision_dialog() {
                    Some(d) if self.selected.is_none() || self.pending_is_shown() => Some(d),
                    _ => Some(Dialog::Output { step: self.shown_step(), scroll: 0 }),
                }
            }
            Action::Back => {
                self.selected = None;
                self.filter.clear();
            }
            Action::Help => self.dialog = Some(Dialog::Help),
            Action::Filter => self.dialog = Some(Dialog::Filter(self.filter.clone())),
            Action::Quit => {
                // Nothing to lose once the run is over, or when only watching.
                if self.run_over() && self.pending.is_none() || self.read_only {
                    self.exit = Some(Exit::Quit);
                } else {
                    self.dialog = Some(Dialog::ConfirmQuit);
                }
            }
            Action::Handover => {
                if self.team.is_some() {
                    self.dialog = Some(Dialog::HandoverTo(String::new()));
                } else {
                    self.notice = Some(super::app::NOT_SHARED.into());
                }
            }
            Action::Approve | Action::Retry | Action::Skip | Action::Abort | Action::Rollback => {
                match (&self.pending, action) {
                    (None, _) => self.notice = Some(self.nothing_to_decide()),
                    (Some(_), Action::Rollback) => self.offer_rollback(),
                    (Some(_), Action::Skip) => self.dialog = Some(Dialog::SkipReason(String::new())),
                    (Some(_), Action::Abort) => self.dialog = Some(Dialog::ConfirmAbort),
                    (Some(_), _) => self.dialog = self.decision_dialog(),
                }
            }
            Action::Toggle => {}
        }
    }

    /// Why a decision key does nothing: no decision waits, or the gate waits for others.
    fn nothing_to_decide(&self) -> String {
        match self.waiting_for_approvers() {
            Some(step) => format!(
                "`{}` waits for {} more approver(s), each from their own machine: {} in `pilotlight watch {} --team \
                 TABLE`",
                step.id,
                usize::from(step.approvers).saturating_sub(step.approvals.len()),
                self.keymap.keys(Action::Approve),
                self.view.header.run_id
            ),
            None => "nothing is waiting for a decision".into(),
        }
    }

    fn pending_is_shown(&self) -> bool {
        let shown = &self.view.steps[self.shown_step()].id;
        self.pending.as_ref().is_some_and(|p| p.step() == shown)
    }

    fn move_in_pane(&mut self, action: Action) {
        match self.pane {
            Pane::Steps => {
                let last = self.view.steps.len().saturating_sub(1);
                let at = self.shown_step();
                let to = match action {
                    Action::Up => at.saturating_sub(1),
                    Action::Down => (at + 1).min(last),
                    Action::PageUp => at.saturating_sub(PAGE as usize),
                    Action::PageDown => (at + PAGE as usize).min(last),
                    Action::Top => 0,
                    _ => last,
                };
                self.selected = Some(to);
                self.scroll = 0;
            }
            Pane::Current => self.scroll = scrolled(self.scroll, action).min(self.limits.get().current),
            Pane::Resources => self.res_scroll = scrolled(self.res_scroll, action).min(self.limits.get().resources),
        }
    }

    pub fn on_mouse(&mut self, mouse: MouseEvent) {
        let action = match mouse.kind {
            MouseEventKind::ScrollUp => Action::Up,
            MouseEventKind::ScrollDown => Action::Down,
            _ => return,
        };
        self.dirty = true;
        match &mut self.dialog {
            Some(Dialog::Output { scroll, .. }) => *scroll = scrolled(*scroll, action).min(self.limits.get().output),
            Some(Dialog::Help) => {}
            _ => self.move_in_pane(action),
        }
    }
}

fn scrolled(at: u16, action: Action) -> u16 {
    match action {
        Action::Up => at.saturating_sub(1),
        Action::Down => at.saturating_add(1),
        Action::PageUp => at.saturating_sub(PAGE),
        Action::PageDown => at.saturating_add(PAGE),
        Action::Top => 0,
        Action::Bottom => u16::MAX,
        _ => at,
    }
}

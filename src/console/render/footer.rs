//! The footer: the keys that work right now (from the keymap), or a notice for the operator.

use crate::console::app::{App, Dialog};
use crate::console::keymap::Action;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    if let Some(n) = &app.notice {
        frame.render_widget(Paragraph::new(Line::from(Span::styled(format!(" {n}"), t.warn()))), area);
        return;
    }
    let k = |a: Action| app.keymap.keys(a);
    let typing_gate = app.typing_gate();
    let keys: Vec<(String, &str)> = match &app.dialog {
        Some(Dialog::Gate { .. }) if typing_gate => {
            vec![("type".into(), "the text"), ("enter".into(), "approve"), ("esc".into(), "hide")]
        }
        Some(Dialog::Gate { ticked, .. }) if !ticked.is_empty() => vec![
            (k(Action::Toggle), "tick"),
            (k(Action::Approve), "approve"),
            (k(Action::Skip), "skip"),
            (k(Action::Abort), "abort"),
            (k(Action::Back), "hide"),
        ],
        Some(Dialog::Gate { .. }) => vec![
            (k(Action::Approve), "approve"),
            (k(Action::Skip), "skip"),
            (k(Action::Abort), "abort"),
            (k(Action::Back), "hide"),
        ],
        Some(Dialog::Failure) => {
            let mut keys = vec![(k(Action::Retry), "retry"), (k(Action::Skip), "skip"), (k(Action::Abort), "abort")];
            if matches!(&app.pending, Some(crate::console::app::Pending::Failure(ask, _)) if ask.can_roll_back) {
                keys.push((k(Action::Rollback), "roll back"));
            }
            keys.push((k(Action::Back), "hide"));
            keys
        }
        Some(Dialog::SkipReason(_) | Dialog::Filter(_) | Dialog::HandoverTo(_)) => {
            vec![("enter".into(), "done"), ("esc".into(), "cancel")]
        }
        Some(Dialog::ConfirmAbort | Dialog::ConfirmRollback | Dialog::ConfirmQuit | Dialog::ConfirmApproval { .. }) => {
            vec![(k(Action::Approve), "yes"), (k(Action::Back), "no")]
        }
        Some(Dialog::Help) => vec![(k(Action::Back), "close")],
        Some(Dialog::Output { .. }) => vec![(k(Action::Down), "scroll"), (k(Action::Back), "close")],
        None => {
            let mut keys = vec![(k(Action::Down), "move"), (k(Action::NextPane), "pane")];
            if app.pending.is_some() && !app.read_only {
                keys.push((k(Action::Open), "answer"));
            } else {
                keys.push((k(Action::Open), "output"));
            }
            if app.read_only && app.team.is_some() && app.waiting_for_approvers().is_some() {
                keys.push((k(Action::Approve), "approve (second)"));
            }
            keys.extend([(k(Action::Filter), "filter"), (k(Action::Help), "help"), (k(Action::Quit), "quit")]);
            keys
        }
    };
    let mut spans = Vec::new();
    for (key, what) in keys {
        spans.push(Span::styled(format!(" {key}"), t.accent()));
        spans.push(Span::raw(format!(" {what} ")));
    }
    if !app.filter.is_empty() {
        spans.push(Span::styled(format!(" filter: {}", app.filter), t.warn()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

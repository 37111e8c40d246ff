//! Dialogs and popups over the body: the gate forms (confirm, checklist, type-to-confirm), the
//! failure decision, a skip reason, confirmations, help, a step's full output, the filter.

use super::{centered, current};
use crate::console::app::{App, Dialog, Pending};
use crate::console::keymap::{ACTIONS, Action};
use crate::runbook::Gate;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let Some(dialog) = &app.dialog else { return };
    let t = &app.theme;
    let k = |a: Action| app.keymap.keys(a);
    let (title, lines, w): (String, Vec<Line>, u16) = match dialog {
        Dialog::Gate { ticked, cursor, typed } => {
            let Some(Pending::Gate(ask, _)) = &app.pending else { return };
            let mut lines = vec![
                Line::from(Span::styled(format!("Step {} of {}: {}", ask.index + 1, ask.total, ask.title), t.title())),
                Line::raw(""),
            ];
            // The action's name; its parameters, account and region are in the pane behind.
            if let Some(a) = ask.action.as_deref().and_then(|a| a.split_whitespace().next()) {
                lines.push(Line::from(vec![
                    Span::styled("Action: ", t.title()),
                    Span::styled(a.to_string(), t.warn()),
                    Span::styled(" (parameters in the step pane)", t.dim()),
                ]));
                // The checks before this gate, counted; each warning in the step pane behind.
                let checks = app.view.steps.iter().find(|s| s.id == ask.step).map(|s| &s.preflight);
                if let Some(checks) = checks.filter(|c| !c.is_empty()) {
                    let count = |v| checks.iter().filter(|c| c.verdict == v).count();
                    let warn = count(crate::journal::Verdict::Warn);
                    lines.push(Line::from(vec![
                        Span::styled("Preflight: ", t.title()),
                        Span::styled(
                            format!("{} checks, {warn} warn", checks.len()),
                            if warn > 0 { t.warn() } else { t.ok() },
                        ),
                        Span::styled(" (each in the step pane)", t.dim()),
                    ]));
                }
                lines.push(Line::raw(""));
            }
            match &ask.gate {
                Gate::Checklist(items) => {
                    lines.push(Line::raw("Tick every item before the step can start:"));
                    for (i, item) in items.iter().enumerate() {
                        let mark = if ticked.get(i).copied().unwrap_or(false) { "[x]" } else { "[ ]" };
                        let line = Line::raw(format!(" {mark} {item}"));
                        lines.push(if i == *cursor { line.style(t.selected()) } else { line });
                    }
                    let left = ticked.iter().filter(|x| !**x).count();
                    lines.push(Line::raw(""));
                    lines.push(if left == 0 {
                        Line::from(Span::styled(format!("All ticked: {} approves.", k(Action::Approve)), t.ok()))
                    } else {
                        Line::from(Span::styled(format!("{left} left; {} ticks.", k(Action::Toggle)), t.dim()))
                    });
                }
                Gate::TypeToConfirm(want) => {
                    lines.push(Line::from(vec![
                        Span::raw("This step is destructive. Type "),
                        Span::styled(want.clone(), t.warn()),
                        Span::raw(" exactly, then enter:"),
                    ]));
                    let matches = typed == want;
                    let style = if matches {
                        t.ok()
                    } else if want.starts_with(typed.as_str()) {
                        t.accent()
                    } else {
                        t.bad()
                    };
                    lines.push(Line::from(vec![Span::raw(" > "), Span::styled(format!("{typed}▏"), style)]));
                    lines.push(Line::from(Span::styled(
                        if matches { "Matches: enter approves." } else { "Only the exact text enables the step." },
                        t.dim(),
                    )));
                }
                _ => lines.push(Line::from(vec![
                    Span::raw("Start this step? "),
                    Span::styled(format!("{} approve", k(Action::Approve)), t.ok()),
                    Span::raw(format!(" · {} skip · {} abort", k(Action::Skip), k(Action::Abort))),
                ])),
            }
            (" Gate: waiting for you ".into(), lines, 72)
        }
        Dialog::Failure => {
            let Some(Pending::Failure(ask, _)) = &app.pending else { return };
            let mut lines = vec![
                Line::from(Span::styled(format!("Step `{}` failed (attempt {})", ask.step, ask.attempt), t.bad())),
                Line::raw(""),
            ];
            lines.extend(super::text_lines(&ask.error, ratatui::style::Style::new(), ""));
            lines.extend([
                Line::raw(""),
                Line::raw(format!(
                    "{} retry (the action re-reads AWS first) · {} skip with a reason · {} abort (resumable)",
                    k(Action::Retry),
                    k(Action::Skip),
                    k(Action::Abort)
                )),
            ]);
            if ask.can_roll_back {
                lines.push(Line::raw(format!(
                    "{} roll back: put primary back as it was before this step, then stop",
                    k(Action::Rollback)
                )));
            }
            (" Failed: decide ".into(), lines, 76)
        }
        Dialog::SkipReason(reason) => (
            " Skip: why? ".into(),
            vec![
                Line::raw("The reason is journaled with your name."),
                Line::from(vec![Span::raw(" > "), Span::styled(format!("{reason}▏"), t.accent())]),
            ],
            64,
        ),
        Dialog::ConfirmAbort => (
            " Abort the run? ".into(),
            vec![Line::raw(format!(
                "Stops here; `pilotlight resume {}` continues later. {} yes · {} no",
                app.view.header.run_id,
                k(Action::Approve),
                k(Action::Back)
            ))],
            64,
        ),
        Dialog::ConfirmRollback => (
            " Roll back? ".into(),
            vec![Line::raw(format!(
                "Puts primary back as it was before this step from what it kept (what was failed back is kept \
                 aside), then stops; `pilotlight resume {}` fails back again. {} yes · {} no",
                app.view.header.run_id,
                k(Action::Approve),
                k(Action::Back)
            ))],
            64,
        ),
        Dialog::ConfirmQuit => (
            " Quit? ".into(),
            vec![
                Line::raw("Close the console. A run still going stops where it is and stays resumable:"),
                Line::from(Span::styled(format!("  pilotlight resume {}", app.view.header.run_id), t.accent())),
                Line::raw(format!("{} quit · {} stay", k(Action::Approve), k(Action::Back))),
            ],
            72,
        ),
        Dialog::Help => {
            let mut lines = vec![Line::from(Span::styled("Keys (change them in keys.conf)", t.title()))];
            for (action, _, what) in ACTIONS {
                lines.push(Line::from(vec![
                    Span::styled(format!(" {:<18}", app.keymap.keys(*action)), t.accent()),
                    Span::raw(*what),
                ]));
            }
            lines.push(Line::raw(""));
            lines.push(Line::raw("In a text field every key types; enter submits, esc leaves."));
            (" Help ".into(), lines, 76)
        }
        Dialog::Output { step, scroll } => {
            let Some(s) = app.view.steps.get(*step) else { return };
            let mut lines = current::lines(app, s, body.width as usize, usize::MAX);
            if !s.log.is_empty() {
                lines.push(Line::from(Span::styled("Log", t.title())));
                lines.extend(s.log.iter().map(|l| Line::raw(format!("  {l}"))));
            }
            let area = centered(body, body.width.saturating_sub(4), body.height.saturating_sub(2));
            let limit =
                super::scroll_limit(super::rows(&lines, area.width.saturating_sub(2)), area.height.saturating_sub(2));
            let mut limits = app.limits.get();
            limits.output = limit;
            app.limits.set(limits);
            frame.render_widget(Clear, area);
            let block = Block::bordered().border_type(BorderType::Double).title(format!(" Output: {} ", s.id));
            let para = Paragraph::new(lines).block(block).wrap(Wrap { trim: false }).scroll(((*scroll).min(limit), 0));
            frame.render_widget(para, area);
            return;
        }
        Dialog::HandoverTo(name) => (
            " Hand the run over ".into(),
            vec![
                Line::raw(
                    "The driver stops at its next heartbeat (within a quarter of the lease's time), before its \
                     next mutating call; only the responder named here may then continue the run, until the lease \
                     expires. Their name (their PILOTLIGHT_TEAM_NAME, or user@host):",
                ),
                Line::from(vec![Span::raw(" > "), Span::styled(format!("{name}▏"), t.accent())]),
                Line::from(Span::styled(
                    format!("Then they run: pilotlight resume {} --team TABLE", app.view.header.run_id),
                    t.dim(),
                )),
            ],
            72,
        ),
        Dialog::ConfirmApproval { step, .. } => {
            let s = app.view.steps.iter().find(|s| &s.id == step);
            let mut lines = vec![Line::from(vec![
                Span::raw("Approve step "),
                Span::styled(format!("`{step}`"), t.warn()),
                Span::raw(" as the second approver?"),
            ])];
            if let Some(s) = s {
                lines.push(Line::raw(format!("  {}", s.title)));
                lines.push(Line::raw(format!(
                    "  approved so far ({} of {}): {}",
                    s.approvals.len(),
                    s.approvers,
                    s.approvals.join(", ")
                )));
            }
            lines.push(Line::raw(
                "Your approval is written under the AWS identity of this machine's credentials (STS), never a \
                 name; the driver's own identity does not count.",
            ));
            lines.push(Line::raw(format!("{} approve · {} no", k(Action::Approve), k(Action::Back))));
            (" Second approval ".into(), lines, 72)
        }
        Dialog::Filter(text) => (
            " Filter ".into(),
            vec![
                Line::raw("Show calls and resources containing:"),
                Line::from(vec![Span::raw(" > "), Span::styled(format!("{text}▏"), t.accent())]),
            ],
            56,
        ),
    };
    // Sized to the rows its text takes once wrapped (estimated, with one row to spare), so the
    // last line, the keys, shows unless the terminal is too short for the dialog.
    let rows = super::rows(&lines, w.min(body.width).saturating_sub(2)) + 1;
    let area = centered(body, w, rows as u16 + 2);
    frame.render_widget(Clear, area);
    let block = Block::bordered().border_type(BorderType::Double).border_style(t.warn()).title(title);
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}

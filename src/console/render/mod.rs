//! Drawing: one function per region, each taking the app state and a frame, nothing else.
//!
//! ```text
//! ┌ header: runbook · run id · mode · RTO clock ─────────────────────────────────────────┐
//! │ environments: name account region guard                                             │
//! ├ Steps ───────────────┬ Current step ─────────────────────┬ Resources ────────────────┤
//! │ ✓ done     1. ...    │ title, state, instructions (md),  │ name   primary   recovery │
//! │ ▶ running  2. ...    │ gate, action with its account and │ ...                       │
//! │     ✓ sub-step       │ region, error, live AWS calls     │ refreshed 2s ago          │
//! ├──────────────────────┴───────────────────────────────────┴───────────────────────────┤
//! │ footer: the keys that work now, or a notice                                         │
//! └──────────────────────────────────────────────────────────────────────────────────────┘
//! ```
//! Below 120 columns the resources pane takes the current step's place while it has the focus
//! (Tab). Dialogs and popups draw over the middle.

pub(crate) mod current;
mod dialog;
mod footer;
mod header;
pub(crate) mod markdown;
mod resources;
mod steps;
pub mod text;

use super::app::{App, Pane};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

/// Narrower than this, the resources pane shares the centre with the current step.
pub const WIDE: u16 = 120;

pub fn draw(frame: &mut Frame, app: &App) {
    let [head, body, foot] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(5), Constraint::Length(1)]).areas(frame.area());
    header::draw(frame, app, head);
    if body.width >= WIDE {
        let [left, mid, right] =
            Layout::horizontal([Constraint::Percentage(26), Constraint::Percentage(40), Constraint::Percentage(34)])
                .areas(body);
        steps::draw(frame, app, left);
        current::draw(frame, app, mid);
        resources::draw(frame, app, right);
    } else {
        let [left, right] = Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(62)]).areas(body);
        steps::draw(frame, app, left);
        if app.pane == Pane::Resources {
            resources::draw(frame, app, right);
        } else {
            current::draw(frame, app, right);
        }
    }
    footer::draw(frame, app, foot);
    dialog::draw(frame, app, body);
}

/// A pane's border: thick and accented when it has the focus.
fn pane_block<'a>(app: &App, pane: Pane, title: String) -> Block<'a> {
    let focused = app.pane == pane && app.dialog.is_none();
    let block = Block::bordered().title(format!(" {title} "));
    if focused {
        block.border_type(BorderType::Thick).border_style(app.theme.accent())
    } else {
        block.border_style(Style::new())
    }
}

/// Rows `lines` take once wrapped at `width` columns. An estimate: wrapping at word
/// boundaries can take a row more per long line, so scrolling allows half a page more.
pub fn rows(lines: &[Line], width: u16) -> usize {
    let width = width.max(1) as usize;
    lines.iter().map(|l| l.width().max(1).div_ceil(width)).sum()
}

/// The largest useful scroll of `rows` rows shown in `height` rows.
fn scroll_limit(rows: usize, height: u16) -> u16 {
    (rows as u16).saturating_sub(height / 2)
}

/// Text that may hold newlines (an error, a command's output), one line each, indented.
pub fn text_lines(text: &str, style: Style, indent: &str) -> Vec<Line<'static>> {
    text.lines().map(|l| Line::from(Span::styled(format!("{indent}{l}"), style))).collect()
}

/// A rectangle of at most `w` x `h` centred in `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

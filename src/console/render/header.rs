//! The header: what is running, where, in which mode, the RTO clock against its target, and,
//! once recovery's writes are fenced, the downtime clock.

use super::text::{clock, target};
use crate::console::app::App;
use crate::engine::run_view::RunMode;
use crate::journal::RunStatus;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let h = &app.view.header;
    let mode_style = match h.mode {
        RunMode::Live => t.bad(),
        RunMode::Sandbox => t.ok(),
        RunMode::DryRun | RunMode::Endpoint => t.accent(),
    };
    let mode = match (h.mode, &h.endpoint) {
        (RunMode::Endpoint, Some(url)) => format!("ENDPOINT {url}"),
        (m, _) => m.as_str().to_string(),
    };
    let state = match (app.view.status, app.view.interrupted) {
        (RunStatus::Running, true) => ("stopped (resumable)", t.warn()),
        (RunStatus::Running, false) => ("running", t.accent()),
        (RunStatus::Succeeded, _) => ("succeeded", t.ok()),
        (RunStatus::Failed, _) => ("failed (resumable)", t.bad()),
        (RunStatus::Aborted, _) => ("aborted (resumable)", t.warn()),
        (RunStatus::Abandoned, _) => ("abandoned", t.dim()),
        (RunStatus::Undone, _) => ("undone", t.dim()),
    };
    let rto = match (app.view.rto_elapsed(app.now), h.rto_target) {
        (Some(e), Some(goal)) => {
            let style = if e > goal { t.bad() } else { t.ok() };
            Span::styled(format!("RTO {} / {}", clock(e), target(goal)), style)
        }
        (Some(e), None) => Span::raw(format!("RTO {}", clock(e))),
        (None, Some(goal)) => Span::styled(format!("RTO not started / {}", target(goal)), t.dim()),
        (None, None) => Span::raw(""),
    };
    // Once the fence went up: how long the application has been down, and whether it holds.
    let down = match (app.view.downtime_elapsed(app.now), h.fenced_at) {
        (Some(e), Some(_)) => Span::styled(format!(" │ down {} (fenced)", clock(e)), t.warn()),
        (Some(e), None) => Span::styled(format!(" │ down {} (fencing)", clock(e)), t.warn()),
        (None, _) => Span::raw(""),
    };
    // The run id goes last: on a narrow terminal it is what gets cut (the quit dialog repeats it).
    let first = vec![
        Span::styled(" pilotlight ", t.title()),
        if area.width >= super::WIDE {
            Span::raw(format!("{} ({}) ", h.title, h.runbook))
        } else {
            Span::raw(format!("{} ", h.runbook))
        },
        Span::styled(format!("│ {mode} "), mode_style),
        // A stage run disrupts nothing; a cut-over run is the window.
        match h.phase {
            Some(crate::runbook::Phase::Stage) => Span::styled("│ STAGE ", t.ok()),
            Some(crate::runbook::Phase::CutOver) => Span::styled("│ CUT-OVER ", t.warn()),
            None => Span::raw(""),
        },
        Span::styled(if app.read_only { "│ WATCHING (read-only) " } else { "" }, t.warn()),
        Span::styled(format!("│ {} ", state.0), state.1),
        Span::raw("│ "),
        rto,
        down,
        Span::styled(format!(" │ run {}", h.run_id), t.dim()),
    ];
    let mut second = vec![Span::raw(" ")];
    for (i, e) in h.envs.iter().enumerate() {
        if i > 0 {
            second.push(Span::styled(" · ", t.dim()));
        }
        let account = e.account.clone().or(e.expected.clone()).unwrap_or_else(|| "account ?".into());
        let (mark, style) = match e.ok {
            Some(true) => ("✓", t.ok()),
            Some(false) => ("✗ guard refused", t.bad()),
            None => ("", t.dim()),
        };
        second.push(Span::styled(format!("{} ", e.name), t.title()));
        second.push(Span::raw(format!("{account} {}", e.region)));
        if !mark.is_empty() {
            second.push(Span::styled(format!(" {mark}"), style));
        }
    }
    frame.render_widget(Paragraph::new(vec![Line::from(first), Line::from(second)]), area);
}

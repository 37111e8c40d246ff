//! The current step: title and state, instructions, gate, the action with where it acts (account,
//! region, resource; changes in a warning style), outputs, error, and its AWS calls, latest first.

use super::markdown;
use super::text::{clock, cut, time_of_day};
use crate::console::app::{App, Pane};
use crate::engine::run_view::{RunView, StepView};
use crate::journal::{CallOutcome, Verdict};
use crate::runbook::{ActsIn, Gate};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use serde_json::Value;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let i = app.shown_step();
    let Some(step) = app.view.steps.get(i) else { return };
    let block = super::pane_block(app, Pane::Current, format!("Step {} of {}", i + 1, app.view.steps.len()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = outcome(app);
    lines.extend(self::lines(app, step, inner.width as usize, (inner.height + app.scroll) as usize));
    let limit = super::scroll_limit(super::rows(&lines, inner.width), inner.height);
    let mut limits = app.limits.get();
    limits.current = limit;
    app.limits.set(limits);
    let para = Paragraph::new(lines).wrap(Wrap { trim: false }).scroll((app.scroll.min(limit), 0));
    frame.render_widget(para, inner);
}

/// Once the run has ended, its outcome above the step (unless the operator chose a step to look at).
fn outcome(app: &App) -> Vec<Line<'static>> {
    let Some(lines) = app.outcome.as_ref().filter(|_| app.selected.is_none()) else { return Vec::new() };
    let t = &app.theme;
    let mut out = vec![Line::from(Span::styled(format!("Run {}", app.view.status.as_str()), t.title()))];
    out.extend(lines.iter().map(|l| Line::from(format!("  {l}"))));
    out.push(Line::from(""));
    out
}

/// A gate that needs several people: who approved its current ask, and how the others approve.
fn approval_lines(app: &App, step: &StepView) -> Vec<Line<'static>> {
    if step.approvers < 2 || step.approvals.is_empty() {
        return Vec::new();
    }
    let t = &app.theme;
    let mut out = vec![Line::from(Span::styled(
        format!("Approvals: {} of {}", step.approvals.len(), step.approvers),
        if step.waits_for_approvers() { t.warn() } else { t.ok() },
    ))];
    out.extend(step.approvals.iter().map(|a| Line::raw(format!("  ✓ {a}"))));
    if step.waits_for_approvers() {
        let key = app.keymap.keys(crate::console::keymap::Action::Approve);
        let how = if app.read_only && app.team.is_some() {
            format!("▶ press {key} to approve it as your AWS identity")
        } else {
            format!(
                "▶ waiting for others: {key} in `pilotlight watch {} --team TABLE` on their machine, or `--approve {}`",
                app.view.header.run_id, step.id
            )
        };
        out.push(Line::from(Span::styled(how, t.warn())));
    }
    out
}

/// Everything the pane says about one step (also the top of the full-output popup).
pub fn lines(app: &App, step: &StepView, width: usize, show_calls: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    let (sym, word, style) = t.step(step.status);
    let mut out = vec![Line::from(vec![
        Span::styled(step.title.clone(), t.title()),
        Span::styled(format!("  [{}]", step.id), t.dim()),
    ])];
    let mut state = vec![Span::styled(format!("{sym} {word}"), style)];
    if step.attempts > 0 {
        state.push(Span::raw(format!(" · attempt {}", step.attempts)));
    }
    if let Some(e) = step.elapsed(app.view.clock(app.now)) {
        state.push(Span::raw(format!(" · {}", clock(e))));
    }
    if let Some(d) = &step.decision {
        state.push(Span::styled(format!(" · {d}"), t.dim()));
    }
    if let Some(g) = &step.group {
        state.push(Span::styled(format!(" · group {g}"), t.dim()));
    }
    out.push(Line::from(state));
    if let Some(r) = step.reason.as_ref().filter(|_| step.last_error.is_none()) {
        out.push(Line::from(Span::styled(format!("reason: {r}"), t.dim())));
    }
    if app.pending.as_ref().is_some_and(|p| p.step() == step.id) && app.dialog.is_none() {
        let key = app.keymap.keys(crate::console::keymap::Action::Open);
        out.push(Line::from(Span::styled(format!("▶ waiting for your decision: press {key}"), t.warn())));
    }
    out.extend(approval_lines(app, step));
    if !step.instructions.trim().is_empty() {
        out.push(Line::raw(""));
        out.extend(markdown::lines(&step.instructions, t));
    }
    out.push(Line::raw(""));
    out.extend(preflight_lines(app, step));
    out.push(gate_line(app, &step.gate));
    match &step.action {
        Some(action) => {
            let (what, style) = if step.mutating { ("changes AWS", t.warn()) } else { ("reads only", t.ok()) };
            let what = if action == "exec" && step.mutating { "runs a command" } else { what };
            out.push(Line::from(vec![
                Span::styled("Action ", t.title()),
                Span::styled(action.clone(), t.accent()),
                Span::styled(format!("  {what}"), style),
            ]));
            if let Some(w) = where_it_acts(&app.view, action, step.params.as_ref()) {
                out.push(Line::from(Span::styled(format!("  {w}"), style)));
            }
            if let Some(Value::Object(params)) = &step.params {
                for (k, v) in params {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    out.push(Line::raw(cut(&format!("  {k}: {v}"), width.max(8) * 3)));
                }
            }
        }
        None => out.push(Line::from(vec![Span::styled("Manual step", t.title()), Span::raw(": no action")])),
    }
    if !step.outputs.is_empty() {
        out.push(Line::from(Span::styled("Outputs", t.title())));
        for (k, v) in &step.outputs {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push(Line::raw(cut(&format!("  {k}: {v}"), width.max(8) * 2)));
        }
    }
    if let Some(e) = &step.last_error {
        out.push(Line::from(Span::styled("Error", t.bad())));
        out.extend(super::text_lines(e, t.bad(), "  "));
    }
    for l in step.log.iter().rev().take(5).rev() {
        out.extend(super::text_lines(l, t.dim(), "  │ "));
    }
    let calls: Vec<_> =
        app.view.calls().of_step(&step.id).filter(|c| matches_filter(&app.filter, &c.operation, &c.target)).collect();
    if !calls.is_empty() {
        let filtered = if app.filter.is_empty() { String::new() } else { format!(", filter `{}`", app.filter) };
        out.push(Line::from(Span::styled(format!("AWS calls ({}{filtered}), latest first", calls.len()), t.title())));
        // Only as many as can be seen (the full-output popup has every one).
        for c in calls.iter().rev().take(show_calls) {
            let (mark, style) = match c.outcome {
                CallOutcome::Ok => ("✓", t.ok()),
                CallOutcome::Error => ("✗", t.bad()),
                CallOutcome::NotFound => ("∅", t.dim()),
                CallOutcome::Sending => ("…", t.accent()),
            };
            let change = if c.mutating { "*" } else { " " };
            let mut spans = vec![
                Span::styled(format!("{} ", time_of_day(&c.ts)), t.dim()),
                Span::styled(format!("{mark}{change}"), style),
                Span::raw(format!("{} {} {} ({})", c.service, c.operation, c.target, c.region)),
            ];
            if let Some(m) = &c.message {
                // The first line of the answer; the full-output popup has the journal's text.
                spans.push(Span::styled(format!(" {}", cut(m.lines().next().unwrap_or(""), 160)), style));
            }
            out.push(Line::from(spans));
        }
    }
    out
}

/// The step's preflight before its gate: a count, then each check that warns or fails.
fn preflight_lines(app: &App, step: &StepView) -> Vec<Line<'static>> {
    let t = &app.theme;
    if step.preflight.is_empty() {
        return Vec::new();
    }
    let count = |v| step.preflight.iter().filter(|c| c.verdict == v).count();
    let (warn, fail) = (count(Verdict::Warn), count(Verdict::Fail));
    let style = if fail > 0 {
        t.bad()
    } else if warn > 0 {
        t.warn()
    } else {
        t.ok()
    };
    let mut out = vec![Line::from(vec![
        Span::styled("Preflight ", t.title()),
        Span::styled(format!("{} checks, {warn} warn, {fail} fail", step.preflight.len()), style),
    ])];
    for c in step.preflight.iter().filter(|c| c.verdict != Verdict::Pass) {
        let style = if c.verdict == Verdict::Fail { t.bad() } else { t.warn() };
        out.extend(super::text_lines(
            &format!("{} {} {}: {}", c.verdict.word(), c.resource, c.rule, c.why),
            style,
            "  ",
        ));
    }
    out
}

fn gate_line(app: &App, gate: &Gate) -> Line<'static> {
    let t = &app.theme;
    let text = match gate {
        Gate::None => "none: starts when the step before it ends".to_string(),
        Gate::Confirm => "confirm".to_string(),
        Gate::Checklist(items) => format!("checklist of {}", items.len()),
        Gate::TypeToConfirm(text) => format!("type `{text}` to confirm"),
    };
    let style = if matches!(gate, Gate::TypeToConfirm(_)) { t.warn() } else { ratatui::style::Style::new() };
    Line::from(vec![Span::styled("Gate ", t.title()), Span::styled(text, style)])
}

/// Which environments (account, region) an action acts in.
pub(crate) fn where_it_acts(view: &RunView, action: &str, params: Option<&Value>) -> Option<String> {
    if action == "exec" {
        return Some("a local command".into());
    }
    let named = params.and_then(|p| p.get("environment").or_else(|| p.get("side"))).and_then(Value::as_str);
    let acts_in = crate::runbook::ActionCatalog::find(&crate::actions::REGISTRY, action).map(|d| d.acts_in);
    let envs: Vec<&str> = match (named, acts_in) {
        (Some(e), _) => vec![e],
        (None, Some(ActsIn::RecoveryToPrimary)) => vec!["recovery", "primary"],
        (None, Some(ActsIn::Recovery)) => vec!["recovery"],
        (None, _) => vec!["primary"],
    };
    let describe = |name: &str| {
        let e = view.header.envs.iter().find(|e| e.name == name);
        let account = e.and_then(|e| e.account.clone().or(e.expected.clone())).unwrap_or_else(|| "account ?".into());
        let region = e.map(|e| e.region.clone()).unwrap_or_default();
        format!("{name} (account {account}, {region})")
    };
    Some(format!("in {}", envs.iter().map(|e| describe(e)).collect::<Vec<_>>().join(" → ")))
}

/// The `/` filter: a case-insensitive substring of any of the texts.
pub fn matches_filter(filter: &str, a: &str, b: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    let f = filter.to_lowercase();
    a.to_lowercase().contains(&f) || b.to_lowercase().contains(&f)
}

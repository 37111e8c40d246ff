//! The steps pane: every step with its state as a symbol and a word, its elapsed time, and the
//! sub-steps of a running (or the selected) action indented below it.

use super::text::{clock, cut};
use crate::console::app::{App, Pane};
use crate::journal::{StepStatus, SubPhase};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// More sub-steps than this under one step are summarised.
const MAX_SUBSTEPS: usize = 8;
/// How many done sub-steps stay listed when summarised.
const KEEP_DONE: usize = 3;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let view = &app.view;
    let done = view.steps.iter().filter(|s| s.status.is_final()).count();
    let block = super::pane_block(app, Pane::Steps, format!("Steps {done}/{}", view.steps.len()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let shown = app.shown_step();
    let mut lines: Vec<Line> = Vec::new();
    let mut shown_line = 0;
    for (i, step) in view.steps.iter().enumerate() {
        let (sym, word, style) = t.step_short(step.status);
        let elapsed = step.elapsed(view.clock(app.now)).map(clock).unwrap_or_default();
        let head = format!("{sym} {word:<7} {:>2}. ", i + 1);
        let room = width.saturating_sub(head.chars().count() + elapsed.len() + 1);
        let title = cut(&step.title, room);
        let pad = width.saturating_sub(head.chars().count() + title.chars().count() + elapsed.len());
        let mut spans = vec![Span::styled(head, style), Span::raw(title), Span::raw(" ".repeat(pad))];
        spans.push(Span::styled(elapsed, t.dim()));
        let mut line = Line::from(spans);
        if i == shown {
            line = line.style(t.selected());
            shown_line = lines.len();
        }
        lines.push(line);
        let open = matches!(step.status, StepStatus::Running | StepStatus::AwaitingDecision) || i == shown;
        if open {
            // A long action (EC2 failback: ~14 sub-steps per instance) keeps the list readable:
            // what is open, and the last few done, with a count of the rest.
            let done = step.substeps.iter().filter(|s| s.phase == SubPhase::Done).count();
            let hide = if step.substeps.len() > MAX_SUBSTEPS { done.saturating_sub(KEEP_DONE) } else { 0 };
            if hide > 0 {
                lines.push(Line::from(Span::styled(format!("     ✓ {hide} more sub-steps done"), t.dim())));
            }
            let mut skipped = 0;
            for sub in &step.substeps {
                if sub.phase == SubPhase::Done && skipped < hide {
                    skipped += 1;
                    continue;
                }
                let (sym, style) = match sub.phase {
                    SubPhase::Done => ("✓", t.ok()),
                    SubPhase::Started => ("▶", t.accent()),
                    SubPhase::Waiting => ("⧗", t.accent()),
                    SubPhase::Reset => ("↺", t.warn()),
                };
                let waiting = sub.waiting_for.as_ref().map(|w| format!(" ({w})")).unwrap_or_default();
                let took = match (sub.started_at, sub.finished_at) {
                    (Some(a), Some(b)) => b.duration_since(a).ok().map(clock).unwrap_or_default(),
                    (Some(a), None) if sub.phase != SubPhase::Done => {
                        view.clock(app.now).duration_since(a).ok().map(clock).unwrap_or_default()
                    }
                    _ => String::new(),
                };
                let text = cut(&format!("{}{waiting}", sub.name), width.saturating_sub(8 + took.len()));
                let pad = width.saturating_sub(7 + text.chars().count() + took.len());
                lines.push(Line::from(vec![
                    Span::styled(format!("     {sym} "), style),
                    Span::raw(text),
                    Span::raw(" ".repeat(pad)),
                    Span::styled(took, t.dim()),
                ]));
            }
        }
    }
    // Keep the shown step in view, a third of the way down.
    let height = inner.height as usize;
    let offset = shown_line.saturating_sub(height / 3).min(lines.len().saturating_sub(height));
    let visible: Vec<Line> = lines.into_iter().skip(offset).take(height).collect();
    frame.render_widget(Paragraph::new(visible), inner);
}

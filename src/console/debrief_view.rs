//! The drill's debrief as a console screen: the verdict on top, the debrief's text (the same
//! Markdown `drill debrief` prints, rendered) to scroll through, and the modelled RTO of every
//! drill of the scenario as a bar chart, so a trainer can put it on the big screen after a game
//! day. Read only: `q` or Esc leaves.

use super::render::markdown;
use super::theme::Theme;
use crate::drill::debrief::Debrief;
use crate::drill::debrief_md::span;
use crate::report::Verdict;
use crate::report::time::human;
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind};
use futures_util::StreamExt;
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Paragraph, Wrap};

/// The screen's state: the debrief, its rendered text, and how far it is scrolled.
pub struct DebriefView {
    pub debrief: Debrief,
    lines: Vec<Line<'static>>,
    pub scroll: u16,
    theme: Theme,
}

impl DebriefView {
    pub fn new(debrief: Debrief, theme: Theme) -> DebriefView {
        let text = crate::drill::debrief_md::render(&debrief);
        // The header shows the title, and the chart the trend: the text starts after them and
        // stops before the trend (its table and plot are the chart's).
        let body = text.split_once("\n## RTO").map_or(text.as_str(), |(_, b)| b);
        let body = body.split("\n## Drills of this scenario").next().unwrap_or(body);
        let lines = markdown::lines(&format!("## RTO{body}"), &theme);
        DebriefView { debrief, lines, scroll: 0, theme }
    }

    /// Handles a key; true when the screen should close.
    pub fn on_key(&mut self, key: KeyEvent) -> bool {
        if key.kind == KeyEventKind::Release {
            return false;
        }
        let last = self.lines.len().saturating_sub(1) as u16;
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return true,
            KeyCode::Down | KeyCode::Char('j') => self.scroll = (self.scroll + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => self.scroll = (self.scroll + 20).min(last),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(20),
            KeyCode::Home | KeyCode::Char('g') => self.scroll = 0,
            KeyCode::End | KeyCode::Char('G') => self.scroll = last,
            _ => {}
        }
        false
    }
}

pub fn draw(f: &mut Frame, view: &DebriefView) {
    let d = &view.debrief;
    let t = &view.theme;
    let trend_height = (d.trend.len() as u16 + 2).min(12);
    let [head, body, chart_at, foot] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(5),
        Constraint::Length(trend_height),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let (verdict, style) = match d.rto.verdict {
        Verdict::Ok => ("target met", t.ok()),
        Verdict::Missed => ("target MISSED", t.bad()),
        Verdict::NoTarget => ("no target", t.dim()),
        Verdict::NotMeasured => ("not measured", t.warn()),
    };
    let rto = d.rto.modelled_ms.map_or("—".to_string(), span);
    let header = vec![
        Line::from(vec![
            Span::styled(format!("Debrief: {} ", d.title), t.title()),
            Span::styled(format!("({}) ", d.scenario), t.dim()),
            Span::raw(format!("run {} · {:?} · driven by {} · pace {}", d.run_id, d.status, d.trainee, d.pace)),
        ]),
        Line::from(vec![
            Span::raw(format!("RTO {rto} modelled against {}: ", d.rto.target.as_deref().unwrap_or("no target"))),
            Span::styled(verdict, style),
            Span::styled(
                format!(
                    "   waits {} · decisions {} · faults {}",
                    human(d.waits_wall_ms as i64),
                    human(d.decisions_total_ms as i64),
                    d.faults.iter().map(|x| x.count).sum::<usize>()
                ),
                t.dim(),
            ),
        ]),
    ];
    f.render_widget(Paragraph::new(header).block(Block::default().borders(Borders::BOTTOM)), head);
    let text = Paragraph::new(view.lines.clone()).wrap(Wrap { trim: false }).scroll((view.scroll, 0));
    f.render_widget(text, body);
    let bars: Vec<Bar> = d
        .trend
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let minutes = row.rto_modelled_ms.map_or(0, |m| m / 60_000);
            let text = row.rto_modelled_ms.map_or("not measured".into(), span);
            let label = format!("#{} {}", i + 1, row.started_at.get(..16).unwrap_or(&row.started_at));
            let style = if row.run_id == d.run_id { t.accent() } else { t.dim() };
            Bar::default().value(minutes).text_value(text).label(Line::from(label)).style(style)
        })
        .collect();
    let chart = BarChart::default()
        .block(Block::default().borders(Borders::TOP).title("Drills of this scenario: modelled RTO"))
        .direction(Direction::Horizontal)
        .bar_width(1)
        .bar_gap(0)
        .data(BarGroup::default().bars(&bars));
    f.render_widget(chart, chart_at);
    f.render_widget(Paragraph::new(Span::styled("j/k ↑/↓ scroll · PgUp/PgDn · q quit", t.dim())), foot);
}

/// Shows the debrief full screen until `q`; the terminal is restored however it ends.
pub async fn show(debrief: Debrief) -> std::io::Result<()> {
    let mut view = DebriefView::new(debrief, Theme::from_env());
    let mut guard = super::terminal::Guard::enter()?;
    let mut input = crossterm::event::EventStream::new();
    loop {
        guard.terminal.draw(|f| draw(f, &view)).map_err(|e| std::io::Error::other(e.to_string()))?;
        match input.next().await {
            Some(Ok(TermEvent::Key(k))) if view.on_key(k) => return Ok(()),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::debrief::{DataLoss, Decision, DrillRto, FaultHandled, Span as Wait, TrendRow};
    use crate::journal::RunStatus;
    use crossterm::event::KeyModifiers;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn row(id: &str, at: &str, rto_min: u64) -> TrendRow {
        TrendRow {
            run_id: id.into(),
            started_at: at.into(),
            status: RunStatus::Succeeded,
            rto_wall_ms: Some(rto_min * 1000),
            rto_modelled_ms: Some(rto_min * 60_000),
            pace: "60".into(),
            waits_wall_ms: 0,
            decisions_total_ms: 0,
            faults: 0,
        }
    }

    fn debrief() -> Debrief {
        Debrief {
            debrief_format: 1,
            scenario: "failed-copy-storm".into(),
            title: "A failed copy and a throttling storm".into(),
            run_id: "20261203T120000Z-failback-b0ab".into(),
            trainee: "alex".into(),
            status: RunStatus::Succeeded,
            started_at: "2026-12-03T12:00:00.000Z".into(),
            finished_at: Some("2026-12-03T12:01:50.000Z".into()),
            pace: "60".into(),
            rto: DrillRto {
                target: Some("2h".into()),
                wall_ms: Some(85_000),
                decisions_ms: 5_000,
                modelled_ms: Some(4_805_000),
                verdict: Verdict::Ok,
                reason: None,
            },
            downtime: DrillRto {
                target: None,
                wall_ms: Some(70_000),
                decisions_ms: 0,
                modelled_ms: Some(4_200_000),
                verdict: Verdict::NoTarget,
                reason: None,
            },
            waits: vec![Wait {
                step: "failback-rds".into(),
                name: "orders_db/wait-restored".into(),
                started_at: "2026-12-03T12:00:30.000Z".into(),
                ms: 21_000,
            }],
            waits_total_ms: 21_000,
            waits_wall_ms: 21_000,
            retries: Vec::new(),
            notes: Vec::new(),
            decisions: vec![Decision {
                step: "failback-ec2".into(),
                kind: "gate".into(),
                outcome: "approved".into(),
                user: "alex".into(),
                auto: false,
                asked_at: Some("2026-12-03T12:00:20.000Z".into()),
                decided_at: "2026-12-03T12:00:25.000Z".into(),
                took_ms: Some(5_000),
            }],
            decisions_total_ms: 5_000,
            data_loss: vec![DataLoss {
                step: "failback-rds".into(),
                resource: "orders_db".into(),
                recovery_point: Some("2026-12-03T12:00:26.000Z".into()),
                writes_stopped_at: Some("2026-12-03T12:00:40.000Z".into()),
                window_ms: Some(14_000),
            }],
            writes: None,
            faults: vec![FaultHandled {
                at: "2026-12-03T12:00:31.000Z".into(),
                last_at: "2026-12-03T12:00:31.000Z".into(),
                count: 1,
                fault: "copy_error".into(),
                operation: Some("ec2.CopySnapshot".into()),
                by: "scenario".into(),
                then: "failback-ec2: snapshot snap-1 failed; copying again (2 of 3)".into(),
            }],
            left_behind: Vec::new(),
            trend: vec![
                row("20261201T120000Z-failback-aaaa", "2026-12-01T12:00:00.000Z", 95),
                row("20261203T120000Z-failback-b0ab", "2026-12-03T12:00:00.000Z", 80),
            ],
        }
    }

    fn screen(view: &DebriefView) -> String {
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        terminal.draw(|f| draw(f, view)).unwrap();
        terminal.backend().to_string()
    }

    #[test]
    fn the_debrief_screen_shows_verdict_text_and_trend() {
        let mut view = DebriefView::new(debrief(), Theme::from_no_color(Some("1".into())));
        insta::assert_snapshot!("debrief_screen", screen(&view));
        let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
        assert!(!view.on_key(key(KeyCode::Char('j'))));
        assert_eq!(view.scroll, 1);
        assert!(view.on_key(key(KeyCode::Char('q'))), "q leaves");
    }
}

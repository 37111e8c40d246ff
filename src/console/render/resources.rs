//! The resources pane: every declared resource, primary and recovery side by side (stacked when
//! the pane is narrow), with when each side was read and which polls are stale or failing.

use super::current::matches_filter;
use super::text::{age, clock, cut};
use crate::console::app::{App, Pane};
use crate::engine::poller::{ResourceView, SideView};
use crate::runbook::ResourceType;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Wide enough for two side-by-side columns.
const SIDE_BY_SIDE: usize = 46;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let r = &app.resources;
    let block = super::pane_block(app, Pane::Resources, format!("Resources {}", r.rows.len()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let wide = width >= SIDE_BY_SIDE;
    let col = width.saturating_sub(2) / 2;
    if wide {
        lines.push(Line::from(Span::styled(format!("{:<col$}  {}", "PRIMARY", "RECOVERY"), t.dim())));
    }
    let height = inner.height as usize;
    let offset = app.res_scroll as usize;
    let rows: Vec<&ResourceView> =
        r.rows.iter().filter(|row| matches_filter(&app.filter, &row.name, row.kind.as_str())).collect();
    let mut drawn = 0;
    for row in &rows {
        // Lines below the pane are not built; the scroll limit counts them roughly.
        if lines.len() > offset + height {
            break;
        }
        drawn += 1;
        let mut head =
            vec![Span::styled(row.name.clone(), t.title()), Span::styled(format!("  {}", short(row.kind)), t.dim())];
        if let Some(p) = &row.points_to {
            let style = if p == "primary" { t.ok() } else { t.warn() };
            head.push(Span::styled(format!("  → {p}"), style));
        }
        lines.push(Line::from(head));
        let p = side_lines(app, row, row.primary.as_ref(), !wide);
        let q = side_lines(app, row, row.recovery.as_ref(), !wide);
        if wide {
            for k in 0..p.len().max(q.len()) {
                let left = p.get(k).cloned().unwrap_or_default();
                let right = q.get(k).cloned().unwrap_or_default();
                let cell = cut(&left.0, col.saturating_sub(3));
                let pad = col.saturating_sub(cell.chars().count() + 2);
                lines.push(Line::from(vec![
                    Span::styled(format!("  {cell}"), left.1),
                    Span::raw(" ".repeat(pad)),
                    Span::styled(cut(&right.0, col), right.1),
                ]));
            }
            // A failing poll's reason gets the full width: it is what the operator acts on.
            for (label, side) in [("primary", row.primary.as_ref()), ("recovery", row.recovery.as_ref())] {
                if let Some(e) = side.and_then(|s| s.error.as_ref().map(|e| (e, s.failures))) {
                    let text = format!("  ⚠ {label} poll failing ({}x): {}", e.1, e.0);
                    lines.push(Line::from(Span::styled(cut(&text, width * 3), t.bad())));
                }
            }
        } else {
            let sides: &[(&str, &Vec<(String, Style)>)] =
                if row.kind == ResourceType::Route53Record { &[("=", &p)] } else { &[("P", &p), ("R", &q)] };
            for (label, side) in sides.iter().copied() {
                for (k, (text, style)) in side.iter().enumerate() {
                    let label = if k == 0 { label } else { " " };
                    lines.push(Line::from(vec![
                        Span::styled(format!("  {label} "), t.dim()),
                        Span::styled(cut(text, width.saturating_sub(4)), *style),
                    ]));
                }
            }
        }
    }
    let mut foot = format!("{} poll rounds", r.cycles);
    if r.cycles > 0 {
        foot.push_str(&format!(" · {} AWS calls a round", r.calls_last_cycle));
    }
    lines.push(Line::from(Span::styled(foot, t.dim())));
    let rough_rest = (rows.len() - drawn) * 3;
    let limit = (super::rows(&lines, inner.width) + rough_rest).saturating_sub(height) as u16;
    let mut limits = app.limits.get();
    limits.resources = limit;
    app.limits.set(limits);
    let offset = app.res_scroll.min(limit) as usize;
    let visible: Vec<Line> = lines.into_iter().skip(offset).take(height).collect();
    frame.render_widget(Paragraph::new(visible).wrap(ratatui::widgets::Wrap { trim: false }), inner);
}

/// What one side says, one line per fact: status and age first, then details.
fn side_lines(app: &App, row: &ResourceView, side: Option<&SideView>, with_error: bool) -> Vec<(String, Style)> {
    let t = &app.theme;
    let Some(side) = side else {
        let none = if row.kind == ResourceType::Route53Record { "" } else { "not named" };
        return vec![(none.to_string(), t.dim())];
    };
    let mut out = Vec::new();
    let refreshed = side.refreshed.map(|at| age(at, app.now));
    match &side.status {
        None if side.error.is_none() => out.push(("reading…".to_string(), t.dim())),
        None => {}
        Some(s) if !s.exists => out.push((format!("absent{}", suffix(&refreshed)), t.warn())),
        Some(s) => {
            let word = s.status.clone().unwrap_or_else(|| "present".into());
            let style = status_style(app, &word);
            out.push((format!("{word}{}", suffix(&refreshed)), style));
            let fenced = app.view.header.fenced_at;
            for (k, v) in s.details.iter().filter(|(k, _)| k != "points to") {
                out.push(match (k.as_str(), crate::engine::run_view::parse_ts(v), fenced) {
                    // Once the fence holds, what matters is which side of it the point is:
                    // after it, nothing recovery took is missing from it.
                    ("recovery point", Some(at), Some(fenced)) => match fenced.duration_since(at) {
                        Ok(before) if !before.is_zero() => (
                            format!("recovery point {} before the fence: writes since are lost", clock(before)),
                            t.bad(),
                        ),
                        _ => ("recovery point after the fence: nothing lost ✓".to_string(), t.ok()),
                    },
                    // The age of the latest recovery point, against the RPO target.
                    ("recovery point", Some(at), None) => {
                        let old = app.now.duration_since(at).unwrap_or_default();
                        match app.view.header.rpo_target {
                            Some(rpo) if old > rpo => {
                                (format!("recovery point {} old > RPO", age(at, app.now)), t.bad())
                            }
                            Some(_) => (format!("restorable to {} ago ✓", age(at, app.now)), t.ok()),
                            None => (format!("restorable to {} ago", age(at, app.now)), Style::new()),
                        }
                    }
                    _ => (format!("{k} {v}"), Style::new()),
                });
            }
        }
    }
    if let Some(e) = &side.error {
        if with_error {
            out.push((format!("⚠ poll failing ({}x): {e}", side.failures), t.bad()));
        } else {
            out.push((format!("⚠ poll failing ({}x)", side.failures), t.bad()));
        }
    } else if side.status.is_some() && side.is_stale(app.now, app.resources.interval) {
        out.push(("⚠ stale".to_string(), t.warn()));
    }
    out
}

fn suffix(refreshed: &Option<String>) -> String {
    refreshed.as_ref().map(|a| format!(" · {a} ago")).unwrap_or_default()
}

fn status_style(app: &App, word: &str) -> Style {
    let t = &app.theme;
    let w = word.to_lowercase();
    if ["running", "available", "active", "create_complete", "update_complete"].contains(&w.as_str()) {
        t.ok()
    } else if w.contains("fail") || w.contains("delet") || w == "terminated" || w.contains("rollback") {
        t.bad()
    } else if w.contains("stop") || w.contains("progress") || w.contains("ing") {
        t.warn()
    } else {
        Style::new()
    }
}

fn short(kind: ResourceType) -> &'static str {
    match kind {
        ResourceType::Ec2Instance => "EC2",
        ResourceType::RdsInstance => "RDS",
        ResourceType::AuroraCluster => "Aurora",
        ResourceType::DynamodbTable => "DynamoDB",
        ResourceType::CloudformationStack => "stack",
        ResourceType::Route53Record => "DNS",
    }
}

//! The debrief as Markdown (the JSON is the [`Debrief`] itself), with the trend of the
//! scenario's drills as a table and a bar plot that reads in a terminal.

use super::debrief::{Debrief, TrendRow};
use crate::report::Verdict;
use crate::report::time::human;
use std::fmt::Write;

fn ms(v: Option<u64>) -> String {
    v.map_or("—".into(), span)
}

/// A duration for people: to the millisecond under a minute, to the second above (a modelled
/// hour's milliseconds are noise).
pub fn span(ms: u64) -> String {
    if ms >= 60_000 { human((ms / 1000 * 1000) as i64) } else { human(ms as i64) }
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "met",
        Verdict::Missed => "MISSED",
        Verdict::NoTarget => "no target",
        Verdict::NotMeasured => "not measured",
    }
}

/// Escapes what would break a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn render(d: &Debrief) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "# Debrief: {} ({})\n", d.title, d.scenario);
    let _ = writeln!(w, "- Run: `{}`, driven by {}, {:?}", d.run_id, d.trainee, d.status);
    let _ = writeln!(w, "- From {} to {}", d.started_at, d.finished_at.as_deref().unwrap_or("(not finished)"));
    let pace = match d.pace.as_str() {
        "instant" => "instant (AWS's operations finish at once: no modelled time)".to_string(),
        p => format!("{p} (AWS's modelled time runs {p}× the wall clock)"),
    };
    let _ = writeln!(w, "- Pace: {pace}\n");
    let _ = writeln!(w, "## RTO\n");
    let r = &d.rto;
    let _ = writeln!(
        w,
        "**{}** modelled against a target of {} — {} (wall clock {}, of which decisions {}).",
        ms(r.modelled_ms),
        r.target.as_deref().unwrap_or("none"),
        verdict(r.verdict),
        ms(r.wall_ms),
        human(r.decisions_ms as i64)
    );
    if let Some(reason) = &r.reason {
        let _ = writeln!(w, "\n{reason}.");
    }
    let down = &d.downtime;
    match down.modelled_ms.or(down.wall_ms) {
        Some(_) => {
            let _ = writeln!(
                w,
                "\nDowntime, from the fence to the smoke test: **{}** modelled (wall clock {}).",
                ms(down.modelled_ms),
                ms(down.wall_ms)
            );
        }
        None => {
            let why = down.reason.as_deref().unwrap_or("not measured");
            let _ = writeln!(w, "\nDowntime: not measured ({why}).");
        }
    }
    let _ = writeln!(w, "\n## Where the time went\n");
    let _ = writeln!(
        w,
        "Waiting on AWS: {} waits, {} in all, {} of wall time with one under way; decisions {} in {}; {} errors and retries.\n",
        d.waits.len(),
        human(d.waits_total_ms as i64),
        human(d.waits_wall_ms as i64),
        human(d.decisions_total_ms as i64),
        d.decisions.len(),
        d.retries.len()
    );
    if !d.waits.is_empty() {
        let pace = d.pace.parse::<crate::sandbox::realism::Pace>().ok().and_then(|p| p.factor());
        let modelled = |ms: u64| pace.map_or("—".into(), |p| span((ms as f64 * p) as u64));
        let _ = writeln!(w, "| Wait | Step | Wall time | Modelled |\n|---|---|---|---|");
        for s in d.waits.iter().take(12) {
            let _ = writeln!(w, "| {} | {} | {} | {} |", s.name, s.step, human(s.ms as i64), modelled(s.ms));
        }
        if d.waits.len() > 12 {
            let _ = writeln!(w, "| … {} more | | | |", d.waits.len() - 12);
        }
        let _ = writeln!(w);
    }
    happenings(w, "Errors and retries", &d.retries);
    let _ = writeln!(w, "## Decisions\n");
    if d.decisions.is_empty() {
        let _ = writeln!(w, "None.\n");
    } else {
        let _ = writeln!(w, "| Step | Kind | Answer | Who | Took |\n|---|---|---|---|---|");
        for x in &d.decisions {
            let who = if x.auto { format!("{} (automatic)", x.user) } else { x.user.clone() };
            let _ = writeln!(w, "| {} | {} | {} | {} | {} |", x.step, x.kind, x.outcome, cell(&who), ms(x.took_ms));
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(w, "## Data-loss window\n");
    if d.data_loss.is_empty() {
        let _ = writeln!(w, "No resource recorded a recovery point.\n");
    } else {
        let _ = writeln!(w, "| Resource | Recovery point | Writes stopped | Window |\n|---|---|---|---|");
        for x in &d.data_loss {
            let window = x.window_ms.map_or("—".into(), human);
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} |",
                x.resource,
                x.recovery_point.as_deref().unwrap_or("—"),
                x.writes_stopped_at.as_deref().unwrap_or("—"),
                window
            );
        }
        let _ = writeln!(
            w,
            "\nWrites stopped when the fence (`recovery.fence`) was proved to hold, or, with no fence, at the DNS \
             flip. A window of zero or less: the recovery point came after the last write recovery took, and \
             nothing was lost.\n"
        );
    }
    match &d.writes {
        Some(x) => {
            let _ = writeln!(
                w,
                "The scenario's writer wrote {} items to recovery's `{}` from {} (the last accepted at {}): \
                 **{} came home, {} lost**{}{}.{}\n",
                x.written,
                x.table,
                x.first_at.as_deref().unwrap_or("—"),
                x.last_at.as_deref().unwrap_or("—"),
                x.home,
                x.lost,
                x.recovery_point.as_deref().map(|p| format!(" (the table's recovery point {p}")).unwrap_or_default(),
                match (x.recovery_point.is_some(), x.window_ms) {
                    (true, Some(ms)) if ms <= 0 => format!("; the last accepted write came {} before it)", human(-ms)),
                    (true, Some(ms)) => {
                        let pace = d.pace.parse::<crate::sandbox::realism::Pace>().ok().and_then(|p| p.factor());
                        let modelled = pace.map(|p| format!(", {} modelled", span((ms.max(0) as f64 * p) as u64)));
                        format!("; writes went on {} after it{})", human(ms), modelled.unwrap_or_default())
                    }
                    (true, None) => ")".into(),
                    _ => String::new(),
                },
                match &x.first_refused_at {
                    Some(at) => format!(
                        " Recovery refused {} writes from {at} on (the fence): the application was told.",
                        x.refused
                    ),
                    None => String::new(),
                },
            );
            if x.lost_before_point > 0 {
                let _ = writeln!(w, "**{} lost writes were made before the recovery point.**\n", x.lost_before_point);
            }
        }
        None => {
            let _ = writeln!(w, "This scenario has no writers.\n");
        }
    }
    let _ = writeln!(w, "## Faults met\n");
    if d.faults.is_empty() {
        let _ = writeln!(w, "None.\n");
    } else {
        let _ = writeln!(w, "| At | Fault | Operation | Calls | By | Handled |\n|---|---|---|---|---|---|");
        for f in &d.faults {
            let op = f.operation.as_deref().unwrap_or("—");
            let at = if f.count > 1 { format!("{} – {}", f.at, f.last_at) } else { f.at.clone() };
            let _ = writeln!(w, "| {at} | {} | {op} | {} | {} | {} |", f.fault, f.count, f.by, cell(&f.then));
        }
        let _ = writeln!(w);
    }
    happenings(w, "What the tool did about problems", &d.notes);
    let _ = writeln!(w, "## Left behind\n");
    if d.left_behind.is_empty() {
        let _ = writeln!(w, "Nothing.\n");
    } else {
        for x in &d.left_behind {
            let _ = writeln!(w, "- {} `{}` ({}, {}): {}", x.kind, x.id, x.resource, x.region, x.why);
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(w, "## Drills of this scenario\n");
    let _ = writeln!(
        w,
        "| Run | Started | Pace | Status | RTO (modelled) | Waiting (wall) | Decisions | Faults |\n|---|---|---|---|---|---|---|---|"
    );
    for t in &d.trend {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {:?} | {} | {} | {} | {} |",
            t.run_id,
            t.started_at,
            t.pace,
            t.status,
            ms(t.rto_modelled_ms),
            human(t.waits_wall_ms as i64),
            human(t.decisions_total_ms as i64),
            t.faults
        );
    }
    let _ = writeln!(w, "\n```\n{}```", plot(&d.trend));
    out
}

/// A titled list of what happened in which step, when there is any.
fn happenings(w: &mut String, title: &str, items: &[super::debrief::Retry]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(w, "{title}:\n");
    for x in items {
        let _ = writeln!(w, "- {} {}: {}", x.at, x.step, x.what);
    }
    let _ = writeln!(w);
}

/// A bar per drill, its modelled RTO to scale (40 columns for the longest).
pub fn plot(trend: &[TrendRow]) -> String {
    let longest = trend.iter().filter_map(|t| t.rto_modelled_ms).max().unwrap_or(0).max(1);
    let mut out = String::from("RTO (modelled)\n");
    for t in trend {
        let label: String = t.run_id.chars().take(22).collect();
        match t.rto_modelled_ms {
            Some(m) => {
                let width = ((m as f64 / longest as f64) * 40.0).round() as usize;
                let _ = writeln!(out, "{label:<22} {} {}", "█".repeat(width.max(1)), span(m));
            }
            None => {
                let _ = writeln!(out, "{label:<22} (not measured)");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::RunStatus;

    fn row(id: &str, ms: Option<u64>) -> TrendRow {
        TrendRow {
            run_id: id.into(),
            started_at: "2026-12-03T00:00:00Z".into(),
            status: RunStatus::Succeeded,
            rto_wall_ms: ms.map(|m| m / 60),
            rto_modelled_ms: ms,
            pace: "60".into(),
            waits_wall_ms: 0,
            decisions_total_ms: 0,
            faults: 0,
        }
    }

    #[test]
    fn the_plot_scales_bars_to_the_longest() {
        let text = plot(&[row("a", Some(3_600_000)), row("b", Some(1_800_000)), row("c", None)]);
        let bars: Vec<usize> = text.lines().skip(1).map(|l| l.matches('█').count()).collect();
        assert_eq!(bars, vec![40, 20, 0], "{text}");
        assert!(text.contains("1h") && text.contains("30m") && text.contains("(not measured)"), "{text}");
    }
}

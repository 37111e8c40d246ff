//! The report as Markdown, for people: a post-incident review, a ticket, a wiki page. Every fact
//! comes from the [`Report`] (the JSON form holds the same and more), so the two never disagree.

use super::model::*;
use super::time::human;
use crate::journal::{RunStatus, StepStatus, SubPhase, Verdict as PreflightVerdict};
use serde_json::Value;
use std::fmt::Write;

/// Renders the whole report.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let day = r.run.started_at.get(..10).unwrap_or_default().to_string();
    header(&mut out, &r.run);
    objectives(&mut out, &r.objectives, &day);
    timeline(&mut out, &r.steps, &day);
    retained(&mut out, &r.retained);
    configuration(&mut out, &r.configuration);
    rehearsals(&mut out, &r.rehearsals);
    if let Some(u) = &r.undo {
        undo(&mut out, u);
    }
    calls(&mut out, &r.aws_calls);
    if !r.warnings.is_empty() {
        out.push_str("\n## Warnings\n\n");
        for w in &r.warnings {
            let _ = writeln!(out, "- {}", one_line(w));
        }
    }
    out
}

/// Text safe inside a table cell: no line breaks, pipes escaped.
fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A code span that survives backticks in the text.
fn code(s: &str) -> String {
    if s.contains('`') { format!("`` {s} ``") } else { format!("`{s}`") }
}

/// A journal time: the time of day alone on the run's first day, the full time otherwise.
fn at(ts: &str, day: &str) -> String {
    match ts.strip_prefix(day).and_then(|t| t.strip_prefix('T')) {
        Some(t) => t.trim_end_matches('Z').to_string(),
        None => ts.to_string(),
    }
}

fn opt_at(ts: &Option<String>, day: &str) -> String {
    ts.as_deref().map(|t| at(t, day)).unwrap_or_else(|| "-".into())
}

fn dur(ms: Option<u64>) -> String {
    ms.map(|m| human(m as i64)).unwrap_or_else(|| "-".into())
}

fn word<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(|s| s.replace('_', " "))).unwrap_or_default()
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "ok",
        Verdict::Missed => "**missed**",
        Verdict::NoTarget => "no target",
        Verdict::NotMeasured => "not measured",
    }
}

fn header(out: &mut String, run: &RunHeader) {
    let _ = writeln!(out, "# After-action report: {}\n", one_line(&run.title));
    let row = |out: &mut String, k: &str, v: String| {
        let _ = writeln!(out, "| {k} | {} |", cell(&v));
    };
    out.push_str("| | |\n|---|---|\n");
    row(out, "Runbook", format!("{} ({})", code(&run.runbook), run.runbook_path));
    row(out, "Run", code(&run.run_id));
    row(out, "Started by", run.user.clone());
    let resumed: Vec<String> = run
        .sessions
        .iter()
        .filter(|s| s.what != SessionKind::Started && s.what != SessionKind::Finished)
        .map(|s| format!("{} by {} at {}", word(s.what), s.user.as_deref().unwrap_or("?"), s.at))
        .collect();
    if !resumed.is_empty() {
        row(out, "Sessions", resumed.join("; "));
    }
    let against = match (&run.endpoint_url, run.sandbox) {
        (Some(url), true) => format!("the local sandbox ({url})"),
        (Some(url), false) => format!("the endpoint {url}"),
        (None, _) => "AWS (default endpoints)".to_string(),
    };
    row(out, "Against", against);
    row(out, "Dry run", if run.dry_run { "yes: no mutating call was sent".into() } else { "no".into() });
    match run.phase {
        Some(crate::runbook::Phase::Stage) => row(out, "Phase", "stage: prepared without disruption".into()),
        Some(crate::runbook::Phase::CutOver) => row(out, "Phase", "cut-over: the stage steps were skipped".into()),
        None => {}
    }
    row(out, "Started", run.started_at.clone());
    let finished = match (&run.finished_at, run.status) {
        (Some(f), _) => f.clone(),
        (None, RunStatus::Running) => "not finished (running, or stopped and resumable)".into(),
        (None, _) => "-".into(),
    };
    row(out, "Finished", finished);
    row(out, "Duration", dur(run.duration_ms));
    row(out, "Status", format!("**{}**", run.status.as_str()));
    if !run.inputs.is_empty() {
        let inputs: Vec<String> = run
            .inputs
            .iter()
            .map(|(k, v)| code(&format!("{k}={}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))))
            .collect();
        row(out, "Inputs", inputs.join(", "));
    }
    for a in &run.accounts {
        row(out, "Account guard", format!("{}, at {}", a.describe(), a.at));
    }
    row(out, "pilotlight", run.pilotlight_version.clone());
}

fn objectives(out: &mut String, o: &Objectives, day: &str) {
    out.push_str("\n## Recovery objectives\n\n");
    let rto = &o.rto;
    let target = rto.target.as_deref().map(|t| format!("target {t}")).unwrap_or_else(|| "no target".into());
    match rto.measured_ms {
        Some(ms) => {
            let _ = writeln!(out, "**RTO: {}** ({target}: {}).", human(ms as i64), verdict(rto.verdict));
        }
        None => {
            let _ = writeln!(out, "**RTO: not measured** ({target}).");
        }
    }
    let moment = |m: &Moment| {
        format!(
            "{} at {}{}",
            one_line(&m.what),
            at(&m.at, day),
            m.step.as_deref().map(|s| format!(" (step {})", code(s))).unwrap_or_default()
        )
    };
    out.push('\n');
    if let Some(m) = &rto.start {
        let _ = writeln!(out, "- From the first disruptive (mutating) call: {}", moment(m));
    }
    if let Some(m) = &rto.dns_flip {
        let _ = writeln!(out, "- DNS flipped: {}", moment(m));
    }
    if let Some(m) = &rto.smoke_test {
        let _ = writeln!(out, "- First smoke test passed after the flip: {}", moment(m));
    }
    if let Some(reason) = &rto.reason {
        let _ = writeln!(out, "- {}", one_line(reason));
    }
    let downtime = &o.downtime;
    match downtime.measured_ms {
        Some(ms) => {
            let _ = writeln!(
                out,
                "\n**Downtime: {}** (from the fence to the first smoke test after the flip).",
                human(ms as i64)
            );
        }
        None => {
            let _ = writeln!(out, "\n**Downtime: not measured**.");
        }
    }
    out.push('\n');
    if let Some(m) = &downtime.start {
        let _ = writeln!(out, "- From the fence: {}", moment(m));
    }
    if let Some(m) = &downtime.end {
        let _ = writeln!(out, "- To the smoke test: {}", moment(m));
    }
    if let Some(reason) = &downtime.reason {
        let _ = writeln!(out, "- {}", one_line(reason));
    }
    let rpo_target = o.rpo_target.as_deref().map(|t| format!("target {t}")).unwrap_or_else(|| "no target".into());
    if o.rpo.is_empty() {
        let _ =
            writeln!(out, "\n**RPO** ({rpo_target}): not measured: no failback in this run reported a recovery point.");
        return;
    }
    let _ = writeln!(
        out,
        "\n**RPO** per resource ({rpo_target}): its data-loss window, from its recovery point to when recovery \
         stopped taking writes (zero or less: nothing lost).\n"
    );
    out.push_str(
        "| Resource | Step | Recovery point | Writes stopped | Data-loss window | Verdict | Note |\n|---|---|---|---|---|---|---|\n",
    );
    for p in &o.rpo {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            code(&p.resource),
            code(&p.step),
            p.recovery_point.as_deref().unwrap_or("-"),
            p.measured_at.as_ref().map(|m| cell(&moment(m))).unwrap_or_else(|| "-".into()),
            p.measured_ms.map(human).unwrap_or_else(|| "-".into()),
            verdict(p.verdict),
            p.reason.as_deref().map(cell).unwrap_or_default()
        );
    }
}

fn timeline(out: &mut String, steps: &[StepReport], day: &str) {
    let _ = writeln!(out, "\n## Timeline\n\nTimes are UTC on {day} unless a date is given.\n");
    out.push_str("| Step | Action | Status | Start | End | Duration | Attempts | AWS calls (mutating) |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for s in steps {
        let status = match s.status {
            StepStatus::Pending if s.started_at.is_none() => "not reached".to_string(),
            StepStatus::Failed => "**failed**".to_string(),
            other => word(other),
        };
        let _ = writeln!(
            out,
            "| {}{} | {} | {} | {} | {} | {} | {} | {} ({}) |",
            code(&s.id),
            s.group.as_deref().map(|g| format!(" (group {})", code(g))).unwrap_or_default(),
            s.action.as_deref().map(code).unwrap_or_else(|| "manual".into()),
            status,
            opt_at(&s.started_at, day),
            opt_at(&s.finished_at, day),
            dur(s.duration_ms),
            s.attempts,
            s.calls.total,
            s.calls.mutating
        );
    }
    for s in steps {
        let worth = !s.gates.is_empty()
            || s.preflight.is_some()
            || !s.decisions.is_empty()
            || !s.substeps.is_empty()
            || s.reason.is_some()
            || s.last_error.is_some();
        if !worth {
            continue;
        }
        let title = s.title.as_deref().map(|t| format!(": {}", one_line(t))).unwrap_or_default();
        let _ = writeln!(out, "\n### {}{title}\n", code(&s.id));
        let before = out.len();
        if let Some(p) = &s.preflight {
            let count = |v| p.checks.iter().filter(|c| c.verdict == v).count();
            let (warn, fail) = (count(PreflightVerdict::Warn), count(PreflightVerdict::Fail));
            let _ =
                writeln!(out, "- Preflight at {}: {} checks, {warn} warn, {fail} fail", at(&p.at, day), p.checks.len());
            for c in p.checks.iter().filter(|c| c.verdict != PreflightVerdict::Pass) {
                let _ =
                    writeln!(out, "  - {} {} {}: {}", c.verdict.word(), code(&c.resource), c.rule, one_line(&c.why));
            }
        }
        for g in &s.gates {
            let by = if g.auto { format!("{} (`--auto-approve`)", g.user) } else { g.user.clone() };
            let mut line = format!("- Gate {} by {by} at {}", word(g.outcome), at(&g.at, day));
            if let Some(t) = &g.typed {
                let _ = write!(line, "; typed {}", code(t));
            }
            if !g.checked.is_empty() {
                let _ = write!(line, "; checked: {}", g.checked.join("; "));
            }
            if let Some(r) = &g.reason {
                let _ = write!(line, "; reason: {r}");
            }
            if !g.approved_by.is_empty() {
                let _ = write!(line, "; approved by {} (the driver first)", g.approved_by.join(", "));
            }
            let _ = writeln!(out, "{}", one_line(&line));
        }
        for d in &s.decisions {
            let reason = d.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "- After a failure, {} chose {} at {}{}",
                d.user,
                word(d.outcome),
                at(&d.at, day),
                one_line(&reason)
            );
        }
        if let Some(r) = &s.reason {
            let _ = writeln!(out, "- Reason: {}", one_line(r));
        }
        if let Some(e) = &s.last_error {
            let _ = writeln!(out, "- Last error: {}", one_line(e));
        }
        if s.substeps.is_empty() {
            continue;
        }
        if out.len() > before {
            out.push('\n');
        }
        out.push_str("| Sub-step | Status | Start | End | Duration | Attempts | AWS calls (mutating) | Waited for |\n");
        out.push_str("|---|---|---|---|---|---|---|---|\n");
        for sub in &s.substeps {
            let status = match sub.phase {
                SubPhase::Done => "done",
                SubPhase::Reset => "reset: undone by a rollback, or to be done again",
                SubPhase::Started | SubPhase::Waiting => "**not finished**",
            };
            let _ = writeln!(
                out,
                "| {} | {status} | {} | {} | {} | {} | {} ({}) | {} |",
                code(&sub.name),
                at(&sub.started_at, day),
                opt_at(&sub.finished_at, day),
                dur(sub.duration_ms),
                sub.attempts,
                sub.calls.total,
                sub.calls.mutating,
                cell(&waits(&sub.waits))
            );
        }
    }
}

/// What a sub-step waited for: every change when there are few, else the first and the last.
fn waits(w: &[WaitRecord]) -> String {
    match w {
        [] => String::new(),
        [_, _, _, ..] if w.len() > 3 => {
            format!("{}; ...; {} ({} changes)", w[0].what, w[w.len() - 1].what, w.len())
        }
        _ => w.iter().map(|x| x.what.as_str()).collect::<Vec<_>>().join("; "),
    }
}

fn retained(out: &mut String, items: &[RetainedItem]) {
    out.push_str("\n## Retained resources\n\n");
    if items.is_empty() {
        out.push_str("The run's actions kept nothing.\n");
        return;
    }
    let _ = writeln!(
        out,
        "{} item(s) kept on purpose. pilotlight deletes none of them; each line says how, for when the team decides to.\n",
        items.len()
    );
    out.push_str("| Resource | Kind | Id | Region | Why | Delete with |\n|---|---|---|---|---|---|\n");
    for i in items {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            code(&i.resource),
            cell(&i.kind),
            cell(&code(&i.id)),
            cell(&i.region),
            cell(&i.why),
            cell(&code(&i.delete_with))
        );
    }
}

fn configuration(out: &mut String, records: &[ConfigRecord]) {
    out.push_str("\n## Configuration recorded and re-applied\n\n");
    if records.is_empty() {
        out.push_str("No action recorded a configuration.\n");
        return;
    }
    for (n, c) in records.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "### {} (step {})\n", code(&c.resource), code(&c.step));
        out.push_str("| Setting | Recorded before failback |\n|---|---|\n");
        let mut flat = Vec::new();
        flatten("", &c.recorded, &mut flat);
        for (k, v) in flat {
            let _ = writeln!(out, "| {} | {} |", cell(&k), cell(&v));
        }
        if c.reapplied.is_empty() {
            out.push_str("\nRe-applied after the restore: nothing (the restore carried every setting over).\n");
        } else {
            out.push_str("\nRe-applied after the restore:\n\n");
            for r in &c.reapplied {
                let _ = writeln!(out, "- {}", one_line(r));
            }
        }
    }
}

/// Each test failback's parts and the window they predict (only when the run rehearsed).
fn rehearsals(out: &mut String, all: &[Rehearsal]) {
    if all.is_empty() {
        return;
    }
    out.push_str("\n## Test failbacks (rehearsals)\n\n");
    out.push_str(
        "| Resource | Step | Rehearsed as (removed) | Parts | Predicted failback window |\n|---|---|---|---|---|\n",
    );
    for r in all {
        let parts: Vec<String> = r.durations_s.iter().map(|(k, s)| format!("{k} {}", seconds(*s))).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            code(&r.resource),
            code(&r.step),
            code(&r.rehearsed_as),
            cell(&parts.join(", ")),
            seconds(r.predicted_window_s)
        );
    }
    for r in all.iter().filter(|r| !r.remaining_differences.is_empty()) {
        let _ = writeln!(out, "\n{} would still differ from primary after its failback:\n", code(&r.resource));
        for d in &r.remaining_differences {
            let _ = writeln!(out, "- {}", one_line(d));
        }
    }
}

/// Seconds as `1m 2s 500ms`.
fn undo(out: &mut String, u: &crate::journal::UndoState) {
    out.push_str("\n## Undo\n\n");
    let ended = match &u.finished {
        Some((at, true)) => format!("finished {at}: primary is as it was before the failbacks"),
        Some((at, false)) => format!("stopped with a failure {at}; `pilotlight undo` goes on from there"),
        None => "not finished (cut off; `pilotlight undo` goes on from there)".into(),
    };
    let _ = writeln!(out, "Asked by {} at {}: {}. {}.\n", u.user, u.started_at, one_line(&u.reason), ended);
    out.push_str("| Step | Resource | Undone | Put back | Note |\n|---|---|---|---|---|\n");
    for (step, s) in &u.steps {
        let resources = s.outputs.get("resources").and_then(Value::as_object).cloned().unwrap_or_default();
        for (name, r) in &resources {
            let put_back: Vec<String> =
                r.get("put_back").and_then(Value::as_array).into_iter().flatten().map(|v| code(&scalar(v))).collect();
            let note = r.get("why").or_else(|| r.get("error")).map(scalar).unwrap_or_default();
            let undone = if r.get("undone").and_then(Value::as_bool) == Some(true) { "yes" } else { "no" };
            let _ = writeln!(
                out,
                "| {} | {} | {undone} | {} | {} |",
                code(step),
                code(name),
                put_back.join(", "),
                cell(&note)
            );
        }
        if let Some(e) = &s.error {
            let _ = writeln!(out, "| {} | - | **failed** | | {} |", code(step), cell(e));
        }
    }
}

fn seconds(s: f64) -> String {
    human((s * 1000.0).round() as i64)
}

/// A recorded configuration as `path = value` lines: objects by key, lists of objects by their
/// `id` (else their position), lists of plain values joined.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        Value::Object(map) if !map.is_empty() => map.iter().for_each(|(k, v)| flatten(&join(k), v, out)),
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            for (n, item) in items.iter().enumerate() {
                let key = item.get("id").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| n.to_string());
                flatten(&format!("{prefix}[{key}]"), item, out);
            }
        }
        Value::Array(items) if items.is_empty() => out.push((prefix.to_string(), "none".into())),
        Value::Array(items) => out.push((prefix.to_string(), items.iter().map(scalar).collect::<Vec<_>>().join(", "))),
        Value::Object(_) => out.push((prefix.to_string(), "none".into())),
        other => out.push((prefix.to_string(), scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn calls(out: &mut String, rows: &[CallRow]) {
    out.push_str("\n## AWS calls\n\n");
    if rows.is_empty() {
        out.push_str("No AWS call was journaled.\n");
        return;
    }
    out.push_str(
        "Journaled calls (successful polls inside waits are not journaled). Each call is journaled with the \
         sub-step that made it and so with its resource; calls outside any resource's sub-step are under the \
         step.\n\n",
    );
    out.push_str("| Step | Resource | Calls | Mutating | Errors |\n|---|---|---|---|---|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            code(&r.step),
            r.resource.as_deref().map(code).unwrap_or_else(|| "(the step)".into()),
            r.count.total,
            r.count.mutating,
            r.count.errors,
        );
    }
}

//! One line per journal entry, for headless runs and logs a person reads.

use crate::journal::{CallOutcome, Entry, Event, StepStatus, SubPhase, Verdict};

/// The line for an entry, or `None` for entries too chatty to print (successful reads).
pub fn line(entry: &Entry) -> Option<String> {
    let time = entry.ts.get(11..23).unwrap_or(&entry.ts);
    let text = match &entry.event {
        Event::RunStarted { run_id, runbook_title, dry_run, endpoint_url, .. } => format!(
            "run {run_id} started: {runbook_title}{}{}",
            if *dry_run { " (dry run)" } else { "" },
            endpoint_url.as_ref().map(|u| format!(" against {u}")).unwrap_or_default()
        ),
        Event::RunResumed { user, endpoint_override } => match endpoint_override {
            Some(to) => format!("run resumed by {user}, acting against {to} instead of what the run recorded"),
            None => format!("run resumed by {user}"),
        },
        Event::RunInterrupted { user } => format!("run interrupted by {user}"),
        Event::RunAbandoned { user, reason } => format!("run abandoned by {user}: {reason}"),
        Event::UndoStarted { user, reason } => format!("undo started by {user}: {reason}"),
        Event::UndoStepFinished { step, ok: true, .. } => format!("{step}: undone"),
        Event::UndoStepFinished { step, error, .. } => {
            format!("{step}: undo FAILED ({})", error.as_deref().unwrap_or("no reason recorded"))
        }
        Event::RolledBack { step, ok: true, .. } => format!("{step}: rolled back: primary is as it was before it"),
        Event::RolledBack { step, error, .. } => {
            format!("{step}: rollback FAILED ({})", error.as_deref().unwrap_or("no reason recorded"))
        }
        Event::UndoFinished { ok: true } => "undo finished: primary is as it was before the failback".into(),
        Event::UndoFinished { ok: false } => {
            "undo stopped with a failure; mend the cause and give `pilotlight undo` again".into()
        }
        Event::Approval { step, identity, driver: true, needed, .. } => {
            format!("{step}: approved by the driver, {identity}; waiting for {} more approver(s)", needed - 1)
        }
        Event::Approval { step, identity, .. } => format!("{step}: approved by {identity}"),
        Event::RunSupersedes { run_id, reason } => format!("this run supersedes run {run_id}: {reason}"),
        Event::StepStatus { step, status, reason } => {
            let word = match status {
                StepStatus::Pending => "pending",
                StepStatus::AwaitingGate => "awaiting gate",
                StepStatus::Running => "running",
                StepStatus::AwaitingDecision => "FAILED, awaiting a decision",
                StepStatus::Succeeded => "succeeded",
                StepStatus::Failed => "FAILED",
                StepStatus::Skipped => "skipped",
            };
            format!("{step}: {word}{}", reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())
        }
        Event::GateDecided { step, outcome, user, auto, reason, .. } => format!(
            "{step}: gate {} by {}{}",
            format!("{outcome:?}").to_lowercase(),
            if *auto { "--auto-approve" } else { user },
            reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
        ),
        Event::PreflightChecked { step, checks } => {
            // Passes are counted; what warns or fails is said, one line each.
            let mut lines = vec![format!(
                "{step}: preflight: {} checks, {} warn, {} fail",
                checks.len(),
                checks.iter().filter(|c| c.verdict == Verdict::Warn).count(),
                checks.iter().filter(|c| c.verdict == Verdict::Fail).count()
            )];
            for c in checks.iter().filter(|c| c.verdict != Verdict::Pass) {
                lines.push(format!(
                    "{time}  {step}: preflight {} {} {}: {}",
                    c.verdict.word(),
                    c.resource,
                    c.rule,
                    c.why
                ));
            }
            lines.join("\n")
        }
        Event::ActionStarted { step, action, attempt, .. } => format!("{step}: {action} attempt {attempt}"),
        Event::AwsCall { outcome: CallOutcome::Ok | CallOutcome::NotFound, mutating: false, .. } => return None,
        Event::AwsCall { step, service, operation, target, region, outcome, message, .. } => format!(
            "{step}: {service} {operation} {target} ({region}) {}{}",
            format!("{outcome:?}").to_lowercase(),
            message.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
        ),
        Event::SubStepsReset { step, names, .. } => {
            let names: Vec<String> = names.iter().map(ToString::to_string).collect();
            format!("{step}: reset (undone by a rollback, or to be done again): {}", names.join(", "))
        }
        Event::SubStep { step, name, phase, data, .. } => match phase {
            SubPhase::Started => format!("{step}: {name} ..."),
            SubPhase::Waiting => format!("{step}: {name}: waiting, {}", data.as_str().unwrap_or_default()),
            SubPhase::Done if data.is_null() => format!("{step}: {name} done"),
            SubPhase::Done => format!("{step}: {name} done: {}", brief(data)),
            SubPhase::Reset => format!("{step}: {name} reset"),
        },
        Event::AccountChecked { .. } => {
            format!(
                "account guard: {}",
                crate::journal::AccountCheck::of(entry).map(|c| c.describe()).unwrap_or_default()
            )
        }
        Event::ActionLog { step, message } => format!("{step}: {message}"),
        Event::ActionFinished { step, ok: true, outputs, .. } => {
            let shown: Vec<String> = outputs
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "stdout" | "stderr"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{step}: done {}", shown.join(" "))
        }
        Event::ActionFinished { step, error, .. } => format!("{step}: error: {}", error.as_deref().unwrap_or("")),
        Event::FailureDecided { step, outcome, user, .. } => format!("{step}: {user} chose {outcome:?}"),
        Event::RunFinished { status } => format!("run {}", status.as_str()),
    };
    Some(format!("{time}  {text}"))
}

/// A sub-step's result on one line: long values (recorded configurations) are cut.
fn brief(v: &serde_json::Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(160) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

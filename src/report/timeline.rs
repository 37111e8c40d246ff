//! The timeline: each step and sub-step with its times, attempts, waits and the operators'
//! answers, as the journal's state holds them.

use super::model::{CallCount, PreflightReport, StepReport, SubStepReport};
use super::time::elapsed;
use crate::journal::{CallRecord, RunState, StepStatus};
use crate::runbook::Runbook;

/// Every step the runbook names, in its order, then any other step the journal mentions.
pub fn steps(state: &RunState, runbook: Option<&Runbook>) -> Vec<StepReport> {
    let mut ids: Vec<&str> = runbook.map(|rb| rb.steps.iter().map(|s| s.id.as_str()).collect()).unwrap_or_default();
    for id in state.steps.keys() {
        if !ids.contains(&id.as_str()) {
            ids.push(id);
        }
    }
    ids.into_iter()
        .map(|id| {
            let from_runbook = runbook.and_then(|rb| rb.steps.iter().find(|s| s.id == id));
            let s = state.step(id);
            let finished_at = if s.status.is_final() { s.finished_at.clone() } else { None };
            let calls_of = |sub: Option<&crate::journal::SubId>| {
                count(state.calls.iter().filter(|c| c.step == id && (sub.is_none() || c.sub.as_ref() == sub)))
            };
            let substeps = s
                .substeps
                .iter()
                .map(|(sub_id, sub)| SubStepReport {
                    name: sub_id.to_string(),
                    resource: sub_id.resource.clone(),
                    calls: calls_of(Some(sub_id)),
                    duration_ms: sub.finished_at.as_deref().and_then(|f| elapsed(&sub.first_at, f)),
                    phase: sub.phase,
                    started_at: sub.first_at.clone(),
                    finished_at: sub.finished_at.clone(),
                    attempts: sub.starts,
                    waits: sub.waits.clone(),
                })
                .collect();
            StepReport {
                title: from_runbook.map(|r| r.title.clone()),
                action: from_runbook.map(|r| r.action.clone()).unwrap_or(s.action.clone()),
                group: from_runbook.and_then(|r| r.group.clone()),
                status: s.status,
                duration_ms: match (&s.opened_at, &finished_at) {
                    (Some(a), Some(b)) => elapsed(a, b),
                    _ => None,
                },
                started_at: s.opened_at.clone(),
                finished_at,
                attempts: s.attempts,
                reason: s.reason.clone(),
                last_error: s.last_error.clone().filter(|_| s.status != StepStatus::Succeeded),
                gates: s.gates.clone(),
                decisions: s.decisions.clone(),
                substeps,
                calls: calls_of(None),
                preflight: s
                    .preflight
                    .as_ref()
                    .map(|(at, checks)| PreflightReport { at: at.clone(), checks: checks.clone() }),
                id: id.to_string(),
            }
        })
        .collect()
}

/// Counts calls: each once, mutating ones also as mutating, failed ones also as errors.
pub fn count<'a>(calls: impl Iterator<Item = &'a CallRecord>) -> CallCount {
    calls.fold(CallCount::default(), |mut c, call| {
        c.total += 1;
        c.mutating += u32::from(call.mutating);
        c.errors += u32::from(call.is_error());
        c
    })
}

//! The timeline: each step and sub-step with its times, attempts, waits and the operators'
//! answers, read from the journal in order (the replayed state keeps only the latest of each,
//! and an after-action record needs the first start and every answer).

use super::calls::{CallFact, resource_of};
use super::model::{CallCount, DecisionRecord, GateRecord, StepReport, SubStepReport, WaitRecord};
use super::time::elapsed;
use crate::journal::{Entry, Event, RunState, StepStatus, SubPhase};
use crate::runbook::Runbook;
use indexmap::IndexMap;

#[derive(Default)]
struct StepAcc {
    first_at: Option<String>,
    final_at: Option<String>,
    action: Option<String>,
    gates: Vec<GateRecord>,
    decisions: Vec<DecisionRecord>,
    substeps: IndexMap<String, SubAcc>,
}

struct SubAcc {
    first_at: String,
    phase: SubPhase,
    finished_at: Option<String>,
    starts: u32,
    waits: Vec<WaitRecord>,
}

/// Every step the runbook names, in its order, then any other step the journal mentions.
pub fn steps(entries: &[Entry], runbook: Option<&Runbook>, state: &RunState, calls: &[CallFact]) -> Vec<StepReport> {
    let mut acc: IndexMap<String, StepAcc> = IndexMap::new();
    if let Some(rb) = runbook {
        for s in &rb.steps {
            acc.entry(s.id.clone()).or_default();
        }
    }
    for entry in entries {
        let Some(step) = entry.event.step() else { continue };
        let a = acc.entry(step.to_string()).or_default();
        let ts = &entry.ts;
        match &entry.event {
            Event::StepStatus { status, .. } => {
                a.first_at.get_or_insert_with(|| ts.clone());
                // A failed step offered again on resume is running again: not final any more.
                a.final_at = status.is_final().then(|| ts.clone());
            }
            Event::ActionStarted { action, .. } => {
                a.first_at.get_or_insert_with(|| ts.clone());
                a.action.get_or_insert_with(|| action.clone());
            }
            Event::ActionFinished { ok: true, .. } => {
                // Success counts even if the process died before the step's `succeeded` entry.
                a.final_at.get_or_insert_with(|| ts.clone());
            }
            Event::GateDecided { outcome, user, typed, checked, reason, auto, .. } => a.gates.push(GateRecord {
                at: ts.clone(),
                outcome: *outcome,
                user: user.clone(),
                auto: *auto,
                typed: typed.clone(),
                checked: checked.clone(),
                reason: reason.clone(),
            }),
            Event::FailureDecided { outcome, user, reason, .. } => a.decisions.push(DecisionRecord {
                at: ts.clone(),
                outcome: *outcome,
                user: user.clone(),
                reason: reason.clone(),
            }),
            Event::SubStep { name, phase, data, .. } => {
                let sub = a.substeps.entry(name.clone()).or_insert_with(|| SubAcc {
                    first_at: ts.clone(),
                    phase: *phase,
                    finished_at: None,
                    starts: 0,
                    waits: Vec::new(),
                });
                sub.phase = *phase;
                match phase {
                    SubPhase::Started => {
                        sub.starts += 1;
                        sub.finished_at = None;
                    }
                    SubPhase::Waiting => sub.waits.push(WaitRecord {
                        at: ts.clone(),
                        what: data.as_str().map(str::to_string).unwrap_or_else(|| data.to_string()),
                    }),
                    SubPhase::Done | SubPhase::Reset => sub.finished_at = Some(ts.clone()),
                }
            }
            _ => {}
        }
    }
    acc.into_iter()
        .map(|(id, a)| {
            let from_runbook = runbook.and_then(|rb| rb.steps.iter().find(|s| s.id == id));
            let replayed = state.step(&id);
            let finished_at = if replayed.status.is_final() { a.final_at } else { None };
            let substeps = a
                .substeps
                .into_iter()
                .map(|(name, s)| SubStepReport {
                    resource: resource_of(&name).map(str::to_string),
                    calls: count(calls.iter().filter(|c| c.step == id && c.substep.as_deref() == Some(name.as_str()))),
                    duration_ms: s.finished_at.as_deref().and_then(|f| elapsed(&s.first_at, f)),
                    name,
                    phase: s.phase,
                    started_at: s.first_at,
                    finished_at: s.finished_at,
                    attempts: s.starts,
                    waits: s.waits,
                })
                .collect();
            StepReport {
                title: from_runbook.map(|s| s.title.clone()),
                action: from_runbook.map(|s| s.action.clone()).unwrap_or(a.action),
                group: from_runbook.and_then(|s| s.group.clone()),
                status: replayed.status,
                duration_ms: match (&a.first_at, &finished_at) {
                    (Some(s), Some(f)) => elapsed(s, f),
                    _ => None,
                },
                started_at: a.first_at,
                finished_at,
                attempts: replayed.attempts,
                reason: replayed.reason,
                last_error: replayed.last_error.filter(|_| replayed.status != StepStatus::Succeeded),
                gates: a.gates,
                decisions: a.decisions,
                substeps,
                calls: count(calls.iter().filter(|c| c.step == id)),
                id,
            }
        })
        .collect()
}

/// Counts calls: each once, mutating ones also as mutating, failed ones also as errors.
pub fn count<'a>(calls: impl Iterator<Item = &'a CallFact>) -> CallCount {
    calls.fold(CallCount::default(), |mut c, call| {
        c.total += 1;
        c.mutating += u32::from(call.mutating);
        c.errors += u32::from(call.error);
        c
    })
}

//! The after-action report (`pilotlight report RUN_ID`): what a run did, when, to what, what it
//! kept and how to remove it, and how it measured against the runbook's RTO and RPO targets.
//!
//! It is built from the journal alone (plus the runbook copy the run started with, for step
//! titles, actions, resource identifiers and targets), so it can be written for a finished run, a
//! failed one, or one still running in another terminal, and it says the same thing every time.
//! [`build`] is pure: journal entries and a runbook in, a [`Report`] out; [`markdown::render`]
//! turns it into Markdown and `serde_json` into JSON.

pub mod downtime;
pub mod markdown;
pub mod model;
pub mod objectives;
pub mod outcome;
pub mod outputs;
pub mod time;
pub mod timeline;

#[cfg(test)]
mod tests;

pub use model::*;

use crate::engine::store::{JOURNAL_FILE, RUNBOOK_FILE, RunStore};
use crate::journal::{CallRecord, Entry, Event, JournalError, RunState, StepStatus, read_entries};
use crate::runbook::Runbook;
use std::path::{Path, PathBuf};

/// Why no report could be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no run `{id}` under {} (see `pilotlight runs`)", runs_dir.display())]
    NotFound { id: String, runs_dir: PathBuf },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{}: the journal has no run_started entry", path.display())]
    NotStarted { path: PathBuf },
}

/// Reads run `id` under `state_dir` and builds its report. A runbook copy that is missing or no
/// longer loads (a newer or older pilotlight) only costs titles and targets: it becomes a
/// warning, not an error.
pub fn load(state_dir: &Path, id: &str) -> Result<Report, ReportError> {
    let store = RunStore::new(state_dir);
    let dir = store.dir(id);
    let journal = dir.join(JOURNAL_FILE);
    // An id with a path separator would name another directory.
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') || !journal.is_file() {
        return Err(ReportError::NotFound { id: id.to_string(), runs_dir: state_dir.join("runs") });
    }
    let (entries, _) = read_entries(&journal)?;
    let (runbook, warning) = runbook_copy(&dir, &entries);
    let mut report = build(&entries, runbook.as_ref()).ok_or(ReportError::NotStarted { path: journal })?;
    report.warnings.splice(0..0, warning);
    Ok(report)
}

/// The runbook the run started with (its copy in the run directory, loaded as `resume` loads it),
/// or why it could not be read.
fn runbook_copy(dir: &Path, entries: &[Entry]) -> (Option<Runbook>, Option<String>) {
    let path = dir.join(RUNBOOK_FILE);
    let source = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => return (None, Some(format!("{}: {e}; titles, actions and targets are missing", path.display()))),
    };
    let base_dir = entries
        .iter()
        .find_map(|e| match &e.event {
            Event::RunStarted { base_dir, .. } => Some(PathBuf::from(base_dir)),
            _ => None,
        })
        .unwrap_or_else(|| dir.to_path_buf());
    match crate::runbook::load_for_resume(&path, &base_dir, &source, &crate::actions::REGISTRY) {
        Ok(loaded) => (Some(loaded.runbook), None),
        Err(e) => {
            (None, Some(format!("the runbook copy does not load ({e}); titles, actions and targets are missing")))
        }
    }
}

/// Builds the report from a run's journal and the runbook it ran; `None` when the journal has no
/// `run_started` entry (nothing to report on).
pub fn build(entries: &[Entry], runbook: Option<&Runbook>) -> Option<Report> {
    from_state(&RunState::replay(entries), runbook)
}

/// Builds the report from a run's state (the one reducer's reading of the journal).
pub fn from_state(state: &RunState, runbook: Option<&Runbook>) -> Option<Report> {
    let run = header(state)?;
    let steps = timeline::steps(state, runbook);
    let from_outputs = outputs::read(&state.finished_attempts);
    let targets = runbook.map(|rb| rb.targets.clone()).unwrap_or_default();
    let rto = objectives::rto(state, &steps, run.dry_run, runbook, targets.rto.as_deref());
    let fence = downtime::fence(state);
    let stopped = downtime::writes_stopped(fence.as_ref(), &rto);
    let objectives = Objectives {
        rpo: objectives::rpo(&from_outputs.recovery_points, targets.rpo.as_deref(), &stopped),
        downtime: downtime::downtime(fence.as_ref(), &rto),
        rto,
        rpo_target: targets.rpo.clone(),
    };
    let mut warnings = from_outputs.warnings;
    warnings.extend(call_warnings(&state.calls));
    for s in steps.iter().filter(|s| s.status == StepStatus::Failed || s.status == StepStatus::AwaitingDecision) {
        if s.substeps.iter().any(|sub| sub.calls.mutating > 0) {
            warnings.push(format!(
                "step `{}` did not succeed: a resource whose failback failed lists nothing it kept; \
                 look for resources tagged `pilotlight:run={}`",
                s.id, run.run_id
            ));
        }
    }
    Some(Report {
        report_format: REPORT_FORMAT,
        aws_calls: call_rows(&steps, &state.calls),
        run,
        objectives,
        steps,
        retained: from_outputs.retained,
        configuration: from_outputs.configuration,
        rehearsals: from_outputs.rehearsals,
        undo: state.undo.clone(),
        warnings,
    })
}

fn header(state: &RunState) -> Option<RunHeader> {
    let Some(Event::RunStarted {
        run_id,
        runbook,
        runbook_title,
        runbook_path,
        inputs,
        dry_run,
        endpoint_url,
        sandbox,
        user,
        pilotlight_version,
        phase,
        ..
    }) = &state.started
    else {
        return None;
    };
    let started_at = state.sessions.iter().find(|s| s.what == SessionKind::Started).map(|s| s.at.clone())?;
    Some(RunHeader {
        run_id: run_id.clone(),
        runbook: runbook.clone(),
        title: runbook_title.clone(),
        runbook_path: runbook_path.clone(),
        user: user.clone(),
        pilotlight_version: pilotlight_version.clone(),
        dry_run: *dry_run,
        phase: *phase,
        sandbox: *sandbox,
        endpoint_url: endpoint_url.clone(),
        inputs: inputs.clone(),
        duration_ms: state.finished_at.as_deref().and_then(|f| time::elapsed(&started_at, f)),
        started_at,
        finished_at: state.finished_at.clone(),
        status: state.status(),
        sessions: state.sessions.clone(),
        accounts: state.accounts.clone(),
    })
}

/// One row per step with calls outside any resource's sub-step, and one per (step, resource), in
/// the order of the steps and of each resource's first call.
fn call_rows(steps: &[StepReport], calls: &[CallRecord]) -> Vec<CallRow> {
    let mut rows: Vec<CallRow> = Vec::new();
    for step in steps {
        let mut keys: Vec<Option<&str>> = Vec::new();
        for c in calls.iter().filter(|c| c.step == step.id) {
            if !keys.contains(&c.resource()) {
                keys.push(c.resource());
            }
        }
        keys.sort_by_key(|k| k.is_some());
        for key in keys {
            let mine: Vec<&CallRecord> = calls.iter().filter(|c| c.step == step.id && c.resource() == key).collect();
            rows.push(CallRow {
                step: step.id.clone(),
                resource: key.map(str::to_string),
                count: timeline::count(mine.iter().copied()),
                first_mutating_at: mine.iter().find(|c| c.mutating).map(|c| c.ts.clone()),
            });
        }
    }
    rows
}

fn call_warnings(calls: &[CallRecord]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.mutating && !c.answered())
        .map(|c| {
            format!(
                "step `{}`: {} has no journaled outcome (entry {}): the process stopped while sending it, or it is in \
                 flight; it may or may not have happened",
                c.step,
                c.label(),
                c.seq
            )
        })
        .collect()
}

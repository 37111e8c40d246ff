//! The drill's debrief: RTO against the target in modelled time, where the time went (each wait
//! on AWS, each retry, each decision), the data-loss window per resource, every gate with who
//! decided and how long they took, the faults met and what the run did about each, what was
//! left behind, and the previous drills of the same scenario. Built from the journal alone (with
//! the report's reading of it) and the drill's own files, so it says the same thing every time.

pub use super::modelled::DrillRto;
use super::{DrillRecord, FaultMet, Injection};
use crate::engine::store::{JOURNAL_FILE, RunStore};
use crate::journal::{CallOutcome, Entry, Event, RunStatus, StepStatus, read_entries};
use crate::report::time::{between, elapsed};
use crate::report::{Report, RetainedItem};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const DEBRIEF_FORMAT: u32 = 1;

/// How long after a fault the journal is searched for what the run did about it.
const FOLLOW_UP_MS: i64 = 300_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Debrief {
    pub debrief_format: u32,
    pub scenario: String,
    pub title: String,
    pub run_id: String,
    /// Who drove the run (the journal's `run_started` user).
    pub trainee: String,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub pace: String,
    pub rto: DrillRto,
    /// The fence to the smoke test, measured as RTO is.
    #[serde(default = "super::modelled::unmeasured")]
    pub downtime: DrillRto,
    /// Each wait on AWS (a `wait-*` sub-step), longest first.
    pub waits: Vec<Span>,
    pub waits_total_ms: u64,
    /// Wall time with at least one wait under way (waits of parallel steps overlap).
    pub waits_wall_ms: u64,
    /// Each AWS call answered with an error, and each attempt of a step after its first.
    pub retries: Vec<Retry>,
    /// What the tool said it did about a problem (a copy made again, a forced stop, an answer
    /// it did not expect).
    pub notes: Vec<Retry>,
    /// Every gate and failure decision: who, and how long it took from being asked.
    pub decisions: Vec<Decision>,
    pub decisions_total_ms: u64,
    pub data_loss: Vec<DataLoss>,
    /// What the scenario's writer wrote to recovery and what of it came home.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<WritesSeen>,
    pub faults: Vec<FaultHandled>,
    pub left_behind: Vec<RetainedItem>,
    /// The previous drills of this scenario, oldest first, then this one.
    pub trend: Vec<TrendRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub step: String,
    pub name: String,
    pub started_at: String,
    pub ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    pub at: String,
    pub step: String,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub step: String,
    /// `gate` or `failure`.
    pub kind: String,
    pub outcome: String,
    pub user: String,
    pub auto: bool,
    pub asked_at: Option<String>,
    pub decided_at: String,
    pub took_ms: Option<u64>,
}

/// How much data a resource's failback may have left behind: from its recovery point until
/// recovery stopped taking writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataLoss {
    pub step: String,
    pub resource: String,
    pub recovery_point: Option<String>,
    /// When recovery stopped taking writes, as far as the run knows: the fence holding, else the
    /// DNS flip (the report's RPO row).
    pub writes_stopped_at: Option<String>,
    pub window_ms: Option<i64>,
}

/// The data-loss window as the scenario's writer saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WritesSeen {
    pub table: String,
    pub written: usize,
    pub home: usize,
    pub lost: usize,
    pub first_at: Option<String>,
    pub last_at: Option<String>,
    /// The table's recovery point (its failback's export).
    pub recovery_point: Option<String>,
    /// Lost writes made before the recovery point: none, or the failback lost data it had.
    pub lost_before_point: usize,
    /// Writes recovery refused (the fence): the application was told, nothing was lost.
    #[serde(default)]
    pub refused: usize,
    #[serde(default)]
    pub first_refused_at: Option<String>,
    /// From the recovery point to the last write to recovery (the DNS flip stopped them).
    pub window_ms: Option<i64>,
}

/// Faults of one kind on one operation met one after another, and what the run did about them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultHandled {
    pub at: String,
    pub last_at: String,
    pub count: usize,
    pub fault: String,
    pub operation: Option<String>,
    /// `scenario` or `trainer`.
    pub by: String,
    /// How it was handled, from the journal: sent again until answered, a note of what the tool
    /// did (a copy made again, a forced stop), a step that failed and why, or absorbed (no error
    /// reached the journal: the SDK's retries).
    pub then: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendRow {
    pub run_id: String,
    pub started_at: String,
    pub status: RunStatus,
    #[serde(default)]
    pub pace: String,
    pub rto_wall_ms: Option<u64>,
    pub rto_modelled_ms: Option<u64>,
    /// Wall time with at least one wait under way.
    #[serde(default)]
    pub waits_wall_ms: u64,
    pub decisions_total_ms: u64,
    pub faults: usize,
}

/// Why there is no debrief.
#[derive(Debug, thiserror::Error)]
pub enum DebriefError {
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error("run `{0}` is not a drill (no {file} beside its journal)", file = super::DRILL_FILE)]
    NotDrill(String),
}

/// The debrief of drill `run_id`, with the previous drills of its scenario.
pub fn load(state_dir: &Path, run_id: &str) -> Result<Debrief, DebriefError> {
    let mut debrief = load_alone(state_dir, run_id)?;
    let store = RunStore::new(state_dir);
    let (runs, _) = store.list();
    let mut trend: Vec<TrendRow> = runs
        .iter()
        .filter(|r| r.id != run_id)
        .filter(|r| super::read_record(&store.dir(&r.id)).is_some_and(|d| d.scenario == debrief.scenario))
        .filter_map(|r| load_alone(state_dir, &r.id).ok())
        .filter(|d| d.started_at < debrief.started_at)
        .map(|d| d.row())
        .collect();
    trend.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    trend.push(debrief.row());
    debrief.trend = trend;
    Ok(debrief)
}

fn load_alone(state_dir: &Path, run_id: &str) -> Result<Debrief, DebriefError> {
    let report = crate::report::load(state_dir, run_id)?;
    let dir = RunStore::new(state_dir).dir(run_id);
    let record = super::read_record(&dir).ok_or_else(|| DebriefError::NotDrill(run_id.to_string()))?;
    let entries = read_entries(&dir.join(JOURNAL_FILE)).map(|(e, _)| e).unwrap_or_default();
    let mut debrief = build(&report, &entries, &record, &super::injections(&dir), &super::faults_met(&dir));
    debrief.writes = super::writers::record(&dir).map(|w| writes_seen(&report, &debrief.data_loss, w));
    Ok(debrief)
}

impl Debrief {
    fn row(&self) -> TrendRow {
        TrendRow {
            run_id: self.run_id.clone(),
            started_at: self.started_at.clone(),
            status: self.status,
            pace: self.pace.clone(),
            rto_wall_ms: self.rto.wall_ms,
            rto_modelled_ms: self.rto.modelled_ms,
            waits_wall_ms: self.waits_wall_ms,
            decisions_total_ms: self.decisions_total_ms,
            faults: self.faults.iter().map(|f| f.count).sum(),
        }
    }
}

/// Builds the debrief (without the trend) from the run's report, its journal and its drill files.
pub fn build(
    report: &Report,
    entries: &[Entry],
    record: &DrillRecord,
    injections: &[Injection],
    met: &[FaultMet],
) -> Debrief {
    let mut waits = waits(entries);
    waits.sort_by_key(|w| std::cmp::Reverse(w.ms));
    let decisions = decisions(entries);
    let taken: Vec<(&str, Option<u64>)> = decisions.iter().map(|d| (d.decided_at.as_str(), d.took_ms)).collect();
    let rto = super::modelled::rto(report, record, &taken);
    let downtime = super::modelled::downtime(report, record, &taken);
    let data_loss = report
        .objectives
        .rpo
        .iter()
        .map(|r| DataLoss {
            step: r.step.clone(),
            resource: r.resource.clone(),
            recovery_point: r.recovery_point.clone(),
            writes_stopped_at: r.measured_at.as_ref().map(|m| m.at.clone()),
            window_ms: r.measured_ms,
        })
        .collect();
    Debrief {
        debrief_format: DEBRIEF_FORMAT,
        scenario: record.scenario.clone(),
        title: record.title.clone(),
        run_id: report.run.run_id.clone(),
        trainee: report.run.user.clone(),
        status: report.run.status,
        started_at: report.run.started_at.clone(),
        finished_at: report.run.finished_at.clone(),
        pace: record.pace.clone(),
        rto,
        downtime,
        waits_total_ms: waits.iter().map(|w| w.ms).sum(),
        waits_wall_ms: union_ms(&waits),
        waits,
        retries: retries(entries),
        notes: entries
            .iter()
            .filter_map(|e| match &e.event {
                Event::ActionLog { step, message } if about_a_problem(message) => {
                    Some(Retry { at: e.ts.clone(), step: step.clone(), what: message.clone() })
                }
                _ => None,
            })
            .collect(),
        decisions_total_ms: decisions.iter().filter_map(|d| d.took_ms).sum(),
        decisions,
        data_loss,
        writes: None,
        faults: runs_of(met).iter().map(|run| handled(run, record, injections, entries)).collect(),
        left_behind: report.retained.clone(),
        trend: Vec::new(),
    }
}

/// The writer's record against the table's recovery point (its `dynamodb.failback` step's).
fn writes_seen(report: &Report, data_loss: &[DataLoss], w: super::writers::WritersRecord) -> WritesSeen {
    let step = report.steps.iter().find(|s| s.action.as_deref() == Some("dynamodb.failback")).map(|s| s.id.clone());
    let point = data_loss.iter().find(|d| Some(&d.step) == step.as_ref()).and_then(|d| d.recovery_point.clone());
    let lost_before_point = match &point {
        Some(p) => w.lost.iter().filter(|l| between(p, &l.at).is_some_and(|t| t < 0)).count(),
        None => 0,
    };
    let window_ms = point.as_deref().zip(w.last_at.as_deref()).and_then(|(p, last)| between(p, last));
    WritesSeen {
        table: w.table,
        written: w.written,
        home: w.home,
        lost: w.lost.len(),
        first_at: w.first_at,
        last_at: w.last_at,
        recovery_point: point,
        lost_before_point,
        refused: w.refused,
        first_refused_at: w.first_refused_at,
        window_ms,
    }
}

/// Whether a note of an action says what it did about a problem (not a check's result or a
/// difference it recorded).
fn about_a_problem(message: &str) -> bool {
    ["again", "forcing", "answered `", "failed", "refused", "throttl", "not visible"]
        .iter()
        .any(|k| message.contains(k))
}

/// The wall time covered by at least one of `spans`.
fn union_ms(spans: &[Span]) -> u64 {
    let mut ranges: Vec<(i64, i64)> =
        spans.iter().filter_map(|s| crate::report::time::millis(&s.started_at).map(|t| (t, t + s.ms as i64))).collect();
    ranges.sort();
    let (mut total, mut reach) = (0i64, i64::MIN);
    for (start, end) in ranges {
        let from = start.max(reach);
        if end > from {
            total += end - from;
        }
        reach = reach.max(end);
    }
    total as u64
}

/// Every wait on AWS (a `wait-*` sub-step) from its start to its end, each time it ran: a wait
/// done again (a copy that failed, made again) counts each time; one cut off by a kill counts
/// from its restart (how long the process was down is not a wait).
fn waits(entries: &[Entry]) -> Vec<Span> {
    let mut open: std::collections::HashMap<(String, String), String> = Default::default();
    let mut out = Vec::new();
    for e in entries {
        let Event::SubStep { step, name, phase, .. } = &e.event else { continue };
        if !name.part.starts_with("wait") {
            continue;
        }
        let key = (step.clone(), name.to_string());
        match phase {
            crate::journal::SubPhase::Started => {
                open.insert(key, e.ts.clone());
            }
            crate::journal::SubPhase::Done => {
                if let Some(start) = open.remove(&key) {
                    let ms = elapsed(&start, &e.ts).unwrap_or(0);
                    out.push(Span { step: key.0, name: key.1, started_at: start, ms });
                }
            }
            _ => {}
        }
    }
    out
}

/// Every gate and failure decision, with how long it waited for its answer.
fn decisions(entries: &[Entry]) -> Vec<Decision> {
    // Keyed by step and whether a gate (true) or a failure decision (false) was asked.
    let mut asked: std::collections::HashMap<(String, bool), String> = Default::default();
    let mut out = Vec::new();
    for e in entries {
        match &e.event {
            Event::StepStatus {
                step,
                status: status @ (StepStatus::AwaitingGate | StepStatus::AwaitingDecision),
                ..
            } => {
                asked.insert((step.clone(), *status == StepStatus::AwaitingGate), e.ts.clone());
            }
            Event::GateDecided { step, outcome, user, auto, .. } => {
                let asked_at = asked.remove(&(step.clone(), true));
                out.push(Decision {
                    step: step.clone(),
                    kind: "gate".into(),
                    outcome: format!("{outcome:?}").to_lowercase(),
                    user: user.clone(),
                    auto: *auto,
                    took_ms: asked_at.as_deref().and_then(|a| elapsed(a, &e.ts)),
                    asked_at,
                    decided_at: e.ts.clone(),
                });
            }
            Event::RunFinished { .. } => {
                asked.insert((String::new(), false), e.ts.clone());
            }
            // `pilotlight undo`: the decision to put primary back, from when the run stopped.
            Event::UndoStarted { user, reason } => {
                let asked_at = asked.remove(&(String::new(), false));
                out.push(Decision {
                    step: "(the run)".into(),
                    kind: "undo".into(),
                    outcome: format!("put primary back: {reason}"),
                    user: user.clone(),
                    auto: false,
                    took_ms: asked_at.as_deref().and_then(|a| elapsed(a, &e.ts)),
                    asked_at,
                    decided_at: e.ts.clone(),
                });
            }
            Event::FailureDecided { step, outcome, user, .. } => {
                let asked_at = asked.remove(&(step.clone(), false));
                out.push(Decision {
                    step: step.clone(),
                    kind: "failure".into(),
                    outcome: format!("{outcome:?}").to_lowercase(),
                    user: user.clone(),
                    auto: user == "--auto-approve",
                    took_ms: asked_at.as_deref().and_then(|a| elapsed(a, &e.ts)),
                    asked_at,
                    decided_at: e.ts.clone(),
                });
            }
            _ => {}
        }
    }
    out
}

/// Errors AWS answered (each retried by the tool, or failing its step), and attempts after the
/// first.
fn retries(entries: &[Entry]) -> Vec<Retry> {
    entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::AwsCall { step, service, operation, target, outcome: CallOutcome::Error, message, .. } => {
                let why = message.as_deref().unwrap_or("no message");
                Some(Retry {
                    at: e.ts.clone(),
                    step: step.clone(),
                    what: format!("{service} {operation} {target}: {why}"),
                })
            }
            Event::ActionStarted { step, attempt, .. } if *attempt > 1 => {
                Some(Retry { at: e.ts.clone(), step: step.clone(), what: format!("attempt {attempt}") })
            }
            _ => None,
        })
        .collect()
}

/// The faults met, grouped by kind and operation, in the order each group was first met.
fn runs_of(met: &[FaultMet]) -> Vec<Vec<FaultMet>> {
    let mut groups: Vec<Vec<FaultMet>> = Vec::new();
    for f in met {
        match groups.iter_mut().find(|g| g[0].fault == f.fault && g[0].operation == f.operation) {
            Some(g) => g.push(f.clone()),
            None => groups.push(vec![f.clone()]),
        }
    }
    groups
}

/// A run of faults, who asked for it, and how the journal shows it was handled.
fn handled(run: &[FaultMet], record: &DrillRecord, injections: &[Injection], entries: &[Entry]) -> FaultHandled {
    let (first, last) = (&run[0], &run[run.len() - 1]);
    let by_scenario = record.faults.iter().any(|f| f.kind.name() == first.fault);
    let by_trainer = injections.iter().any(|i| i.fault.kind.name() == first.fault && i.at <= first.at);
    let by = if by_trainer && !by_scenario { "trainer" } else { "scenario" };
    let (service, op) = first.operation.as_deref().and_then(|o| o.split_once('.')).unwrap_or(("", ""));
    let same_op = |s: &str, o: &str| op.is_empty() || (s.eq_ignore_ascii_case(service) && o == op);
    let after = |from: &str, e: &Entry| between(from, &e.ts).is_some_and(|t| t >= 0);
    let soon = |e: &Entry| between(&first.at, &e.ts).is_some_and(|t| (0..=FOLLOW_UP_MS).contains(&t));
    let errors = entries
        .iter()
        .filter(|e| after(&first.at, e) && between(&last.at, &e.ts).is_some_and(|t| t <= FOLLOW_UP_MS))
        .filter(|e| matches!(&e.event, Event::AwsCall { service: s, operation: o, outcome: CallOutcome::Error, .. } if same_op(s, o)))
        .count();
    let answered = entries.iter().find(|e| {
        after(&last.at, e)
            && matches!(&e.event, Event::AwsCall { service: s, operation: o, outcome: CallOutcome::Ok, .. } if same_op(s, o))
    });
    let failed = entries.iter().filter(|e| soon(e)).find_map(|e| match &e.event {
        Event::StepStatus { step, status: StepStatus::Failed | StepStatus::AwaitingDecision, reason } => {
            Some((e.ts.clone(), format!("{step} failed: {}", reason.as_deref().unwrap_or("no reason"))))
        }
        _ => None,
    });
    // What the tool says when it handles a fault that leaves a resource stuck.
    let handling = match first.fault.as_str() {
        "copy_error" => Some("copying again"),
        "hang_stopping" => Some("forcing the stop"),
        _ => None,
    };
    let note = entries.iter().filter(|e| soon(e)).find_map(|e| match &e.event {
        Event::ActionLog { step, message } if handling.map_or(about_a_problem(message), |h| message.contains(h)) => {
            Some(format!("{step}: {message}"))
        }
        _ => None,
    });
    let stuck = handling.is_some();
    let then = match (answered, failed.clone()) {
        _ if stuck => note.or(failed.map(|f| f.1)),
        (Some(ok), Some((at, why))) if at < ok.ts => Some(why),
        (None, Some((_, why))) => Some(why),
        (Some(ok), _) => {
            let took = between(&first.at, &ok.ts)
                .map_or(String::new(), |t| format!(", {} after the first", crate::report::time::human(t)));
            Some(if errors == 0 {
                format!("absorbed by the SDK's retries; answered at {}{took}", ok.ts)
            } else {
                format!(
                    "{errors} errors reached the journal; the tool sent the call again until AWS answered at {}{took}",
                    ok.ts
                )
            })
        }
        (None, None) => note,
    }
    .unwrap_or_else(|| "absorbed: no error reached the journal".into());
    FaultHandled {
        at: first.at.clone(),
        last_at: last.at.clone(),
        count: run.len(),
        fault: first.fault.clone(),
        operation: first.operation.clone(),
        by: by.into(),
        then,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(at: &str, ms: u64) -> Span {
        Span { step: "s".into(), name: "w".into(), started_at: at.into(), ms }
    }

    #[test]
    fn overlapping_waits_count_once() {
        let spans = [
            span("2026-12-03T00:00:00Z", 10_000),
            span("2026-12-03T00:00:05Z", 10_000),
            span("2026-12-03T00:00:30Z", 1_000),
            span("2026-12-03T00:00:30.500Z", 100),
        ];
        assert_eq!(union_ms(&spans), 16_000);
    }
}

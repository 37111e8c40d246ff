//! A drill's windows in modelled time: RTO against its target and downtime, each the wall-clock
//! window less the people's decisions inside it, times the pace, plus those decisions. The
//! decisions come in as (when decided, how long it took).

use super::DrillRecord;
use crate::report::time::between;
use crate::report::{Report, Verdict};
use serde::{Deserialize, Serialize};

/// RTO of a drill: measured on the wall clock, and in modelled time (the wait on AWS times the
/// pace, plus the people's decisions as they took them), against the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRto {
    pub target: Option<String>,
    pub wall_ms: Option<u64>,
    /// Decisions inside the RTO window (people's time: not scaled by the pace).
    pub decisions_ms: u64,
    pub modelled_ms: Option<u64>,
    pub verdict: Verdict,
    pub reason: Option<String>,
}

/// RTO in modelled time: the wall-clock RTO less the decisions inside it, times the pace, plus
/// those decisions (people's time runs at the pace of people).
pub(super) fn rto(report: &Report, record: &DrillRecord, decisions: &[(&str, Option<u64>)]) -> DrillRto {
    let r = &report.objectives.rto;
    let target = record.targets.rto.clone().or(r.target.clone());
    let start = r.start.as_ref().map(|s| s.at.as_str());
    modelled((start, r.measured_ms, r.reason.clone()), target, record, decisions)
}

/// Downtime (the fence to the smoke test) as RTO is measured: no target of its own.
pub(super) fn downtime(report: &Report, record: &DrillRecord, decisions: &[(&str, Option<u64>)]) -> DrillRto {
    let d = &report.objectives.downtime;
    let start = d.start.as_ref().map(|s| s.at.as_str());
    modelled((start, d.measured_ms, d.reason.clone()), None, record, decisions)
}

/// A wall-clock window (its start, length, and why it was not measured) in modelled time: the
/// wait on AWS times the pace, plus the people's decisions inside it as they took them.
fn modelled(
    (start, wall_ms, why): (Option<&str>, Option<u64>, Option<String>),
    target: Option<String>,
    record: &DrillRecord,
    decisions: &[(&str, Option<u64>)],
) -> DrillRto {
    let window = start.zip(wall_ms);
    let decisions_ms: u64 = window
        .map(|(start, wall)| {
            decisions
                .iter()
                .filter(|(at, _)| between(start, at).is_some_and(|t| t >= 0 && t as u64 <= wall))
                .filter_map(|(_, took)| *took)
                .sum()
        })
        .unwrap_or(0);
    let (modelled_ms, reason) = match (wall_ms, record.factor()) {
        (None, _) => (None, why),
        (Some(_), None) => (None, Some("at the instant pace AWS's time is not modelled".into())),
        (Some(wall), Some(pace)) => {
            let aws = wall.saturating_sub(decisions_ms) as f64 * pace;
            (Some(aws as u64 + decisions_ms), None)
        }
    };
    let verdict = match (modelled_ms, target.as_deref().map(humantime::parse_duration)) {
        (None, _) => Verdict::NotMeasured,
        (Some(_), None) | (Some(_), Some(Err(_))) => Verdict::NoTarget,
        (Some(m), Some(Ok(t))) if u128::from(m) <= t.as_millis() => Verdict::Ok,
        (Some(_), Some(Ok(_))) => Verdict::Missed,
    };
    DrillRto { target, wall_ms, decisions_ms, modelled_ms, verdict, reason }
}

/// A debrief written before downtime was measured.
pub(super) fn unmeasured() -> DrillRto {
    DrillRto {
        target: None,
        wall_ms: None,
        decisions_ms: 0,
        modelled_ms: None,
        verdict: Verdict::NotMeasured,
        reason: Some("not measured by the version that wrote this debrief".into()),
    }
}

//! RTO and RPO as the journal shows them, compared with the runbook's `targets`.
//!
//! RTO runs from the run's first disruptive AWS call (a stop, a detach, a rename, a delete, a DNS
//! change: [`crate::journal::DISRUPTIVE`]; never a snapshot, a copy or the permissions stack's
//! CreateStack, nor anything a rehearsal does; its `sending` entry) to the later of the DNS flip
//! step (`route53.upsert_record`) succeeding and the first smoke test succeeding after it (an
//! `exec` step, or a `check.resource` step on anything but a DNS record: the check that DNS points
//! at primary is not a smoke test): traffic is back and shown to work. RPO, per resource, is its
//! data-loss window: from the `recovery_point` time the action reported to when recovery stopped
//! taking writes (the fence holding, else the DNS flip: [`super::downtime`]).
//!
//! Whatever the journal cannot show is reported as not measured, with the reason; nothing is
//! estimated.

use super::model::{Moment, Rpo, Rto, StepReport, Verdict};
use super::outputs::RecoveryPoint;
use super::time::{between, millis};
use crate::journal::{RunState, StepStatus};
use crate::runbook::{ResourceType, Runbook};
use std::time::Duration;

/// The action that flips DNS.
pub const DNS_FLIP_ACTION: &str = "route53.upsert_record";
/// Actions whose success after the flip counts as the smoke test passing (a `check.resource` on a
/// DNS record excepted: see [`is_smoke_test`]).
pub const SMOKE_TEST_ACTIONS: [&str; 2] = ["check.resource", "exec"];

/// Whether step `id` (of action `action`) is a smoke test: an `exec` step, or a `check.resource`
/// step whose resource is not a DNS record (unknown without the runbook: then only `exec`).
fn is_smoke_test(id: &str, action: Option<&str>, runbook: Option<&Runbook>) -> bool {
    match action {
        Some("exec") => true,
        Some("check.resource") => runbook.is_some_and(|rb| {
            let step = rb.steps.iter().find(|s| s.id == id);
            let resource = step.and_then(|s| s.with.get("resource")).and_then(|r| r.as_str());
            resource.and_then(|r| rb.resources.get(r)).is_some_and(|r| r.kind != ResourceType::Route53Record)
        }),
        _ => false,
    }
}

/// Compares a measurement with a target duration (`4h`, `15m`).
fn verdict(ms: i64, target: Option<&str>) -> (Verdict, Option<String>) {
    match target.map(|t| (t, humantime::parse_duration(t))) {
        None => (Verdict::NoTarget, None),
        Some((_, Ok(t))) if Duration::from_millis(ms.max(0) as u64) <= t => (Verdict::Ok, None),
        Some((_, Ok(_))) => (Verdict::Missed, None),
        Some((t, Err(e))) => (Verdict::NoTarget, Some(format!("the target `{t}` is not a duration: {e}"))),
    }
}

/// Each step's standing success (seq, step, time), in journal order: its `succeeded` status,
/// or its action's success when the process stopped before the status was written.
fn successes<'a>(state: &'a RunState, steps: &[StepReport]) -> Vec<(u64, &'a str, &'a str)> {
    let mut out: Vec<(u64, &str, &str)> = state
        .steps
        .iter()
        .filter_map(|(id, s)| s.succeeded.as_ref().map(|(seq, at)| (*seq, id.as_str(), at.as_str())))
        // Only steps that are succeeded now (a success later offered again and failed does not count).
        .filter(|(_, id, _)| steps.iter().any(|r| r.id == *id && r.status == StepStatus::Succeeded))
        .collect();
    out.sort_by_key(|(seq, _, _)| *seq);
    out
}

fn not_measured(target: Option<&str>, start: &Option<Moment>, reason: String) -> Rto {
    Rto {
        target: target.map(str::to_string),
        measured_ms: None,
        verdict: Verdict::NotMeasured,
        reason: Some(reason),
        start: start.clone(),
        dns_flip: None,
        smoke_test: None,
    }
}

/// `runbook_known`: whether the steps come from the runbook copy (then a step not reached yet is
/// known too) or from the journal alone.
pub fn rto(
    state: &RunState,
    steps: &[StepReport],
    dry_run: bool,
    runbook: Option<&Runbook>,
    target: Option<&str>,
) -> Rto {
    let runbook_known = runbook.is_some();
    let start = state.first_disruption().map(|c| Moment {
        at: c.ts.clone(),
        seq: c.seq,
        step: Some(c.step.clone()),
        what: c.label(),
    });
    let flips: Vec<&StepReport> = steps.iter().filter(|s| s.action.as_deref() == Some(DNS_FLIP_ACTION)).collect();
    if flips.is_empty() {
        let reason = if runbook_known {
            format!("the runbook has no DNS flip step (action `{DNS_FLIP_ACTION}`)")
        } else {
            format!(
                "no DNS flip step (action `{DNS_FLIP_ACTION}`) has started, and without the runbook copy the steps \
                 still to come are unknown"
            )
        };
        return not_measured(target, &start, reason);
    }
    if let Some(open) = flips.iter().find(|s| !matches!(s.status, StepStatus::Succeeded | StepStatus::Skipped)) {
        let status = serde_json::to_value(open.status).ok().and_then(|v| v.as_str().map(str::to_string));
        return not_measured(
            target,
            &start,
            format!(
                "no DNS flip yet: step `{}` has not succeeded (it is {})",
                open.id,
                status.unwrap_or_default().replace('_', " ")
            ),
        );
    }
    let done = successes(state, steps);
    // With several flip steps, traffic is back when the last of them succeeded.
    let Some(&(flip_seq, flip_step, flip_at)) =
        done.iter().filter(|(_, s, _)| flips.iter().any(|f| f.id == *s)).max_by_key(|(seq, _, _)| *seq)
    else {
        return not_measured(target, &start, "the DNS flip was skipped: this run did not move traffic".into());
    };
    let dns_flip = Moment {
        at: flip_at.to_string(),
        seq: flip_seq,
        step: Some(flip_step.into()),
        what: format!("{flip_step} succeeded"),
    };
    let smoke = done.iter().find(|(seq, s, _)| {
        *seq > flip_seq && steps.iter().any(|r| r.id == *s && is_smoke_test(&r.id, r.action.as_deref(), runbook))
    });
    let Some(&(smoke_seq, smoke_step, smoke_at)) = smoke else {
        let mut r = not_measured(
            target,
            &start,
            "no smoke test (an `exec` step, or a `check.resource` step on anything but a DNS record) has passed \
             since the DNS flip"
                .into(),
        );
        r.dns_flip = Some(dns_flip);
        return r;
    };
    let smoke_test = Moment {
        at: smoke_at.to_string(),
        seq: smoke_seq,
        step: Some(smoke_step.into()),
        what: format!("{smoke_step} succeeded"),
    };
    let Some(start) = start else {
        let reason = if dry_run {
            "a dry run makes no disruptive call".to_string()
        } else {
            "no disruptive AWS call (a stop, a detach, a rename, a delete, a DNS change) was journaled, so there \
             was no disruption to measure from"
                .to_string()
        };
        let mut r = not_measured(target, &None, reason);
        r.dns_flip = Some(dns_flip);
        r.smoke_test = Some(smoke_test);
        return r;
    };
    let end = if millis(&smoke_test.at) >= millis(&dns_flip.at) { &smoke_test.at } else { &dns_flip.at };
    let Some(ms) = between(&start.at, end) else {
        let reason = format!("the journal times `{}` and `{end}` cannot be read", start.at);
        return not_measured(target, &Some(start), reason);
    };
    let (verdict, reason) = verdict(ms, target);
    Rto {
        target: target.map(str::to_string),
        measured_ms: Some(ms.max(0) as u64),
        verdict,
        reason,
        start: Some(start),
        dns_flip: Some(dns_flip),
        smoke_test: Some(smoke_test),
    }
}

/// Each resource's data-loss window: from its recovery point to `writes_stopped` (see
/// [`super::downtime::writes_stopped`]).
pub fn rpo(points: &[RecoveryPoint], target: Option<&str>, writes_stopped: &Result<Moment, String>) -> Vec<Rpo> {
    points
        .iter()
        .map(|p| {
            let mut row = Rpo {
                step: p.step.clone(),
                resource: p.resource.clone(),
                recovery_point: p.at.clone(),
                measured_at: writes_stopped.as_ref().ok().cloned(),
                measured_ms: None,
                verdict: Verdict::NotMeasured,
                reason: None,
            };
            let Some(point) = &p.at else {
                row.reason = Some("the failback reported no recovery point time".into());
                return row;
            };
            let at = match writes_stopped {
                Ok(at) => at,
                Err(why) => {
                    row.reason = Some(why.clone());
                    return row;
                }
            };
            let Some(ms) = between(point, &at.at) else {
                row.reason = Some(format!("the recovery point `{point}` is not an RFC 3339 time"));
                return row;
            };
            let (verdict, reason) = verdict(ms, target);
            row.measured_ms = Some(ms);
            row.verdict = verdict;
            let mut notes: Vec<String> = reason.into_iter().collect();
            if ms <= 0 {
                notes.push(
                    "the recovery point was taken after recovery stopped taking writes: nothing written to recovery \
                     is missing from it"
                        .into(),
                );
            }
            row.reason = (!notes.is_empty()).then(|| notes.join("; "));
            row
        })
        .collect()
}

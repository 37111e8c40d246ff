//! RTO against its definition on hand-built journals: from the first disruptive call (not the
//! permissions stack, not a snapshot) to the smoke test after the DNS flip (not the DNS check);
//! and when it cannot be measured, why.

use super::*;
/// Catches an RTO measured from the wrong start (the run's start, the step's start, the
/// permissions stack's CreateStack, a snapshot), to the wrong end (a check that passed before the
/// flip, the DNS check after it, the flip alone), or compared with the target the wrong way
/// round; and an RPO measured from the step start instead of the resource's first mutating call.
#[test]
fn rto_runs_from_the_first_disruptive_call_to_the_first_smoke_test_after_the_flip() {
    let rb = runbook(RUNBOOK);
    let report = build(&entries(full_run()), Some(&rb)).unwrap();
    let rto = &report.objectives.rto;
    assert_eq!(rto.start.as_ref().map(|m| m.at.as_str()), Some("2026-11-22T04:00:26.000Z"), "the rename");
    assert_eq!(rto.dns_flip.as_ref().map(|m| m.at.as_str()), Some("2026-11-22T04:01:50.000Z"));
    let smoke = rto.smoke_test.as_ref().and_then(|m| m.step.as_deref());
    assert_eq!(smoke, Some("smoke"), "not the check before the flip, nor the DNS check after it");
    assert_eq!(rto.measured_ms, Some((130 - 26) * 1000));
    assert_eq!(rto.verdict, Verdict::Ok, "104 s is within 5m");
    assert_eq!(rto.target.as_deref(), Some("5m"));

    let rpo = &report.objectives.rpo;
    assert_eq!(rpo.len(), 1);
    assert_eq!(rpo[0].resource, "orders_db");
    assert_eq!(rpo[0].measured_ms, Some(6000), "first CreateDBSnapshot (21 s) minus the recovery point (15 s)");
    assert_eq!(rpo[0].verdict, Verdict::Ok);
    assert_eq!(report.objectives.rpo_target.as_deref(), Some("15m"));

    let tight = runbook(&RUNBOOK.replace("targets: { rto: 5m, rpo: 15m }", "targets: { rto: 1m, rpo: 5s }"));
    let report = build(&entries(full_run()), Some(&tight)).unwrap();
    assert_eq!(report.objectives.rto.verdict, Verdict::Missed);
    assert_eq!(report.objectives.rpo[0].verdict, Verdict::Missed);
    let untargeted = runbook(&RUNBOOK.replace("targets: { rto: 5m, rpo: 15m }", ""));
    let report = build(&entries(full_run()), Some(&untargeted)).unwrap();
    assert_eq!(report.objectives.rto.verdict, Verdict::NoTarget);
    assert_eq!(report.objectives.rto.measured_ms, Some(104_000), "measured even without a target");
}

/// Catches an RTO guessed when traffic has not moved back: a run stopped before the flip, a
/// flip with no smoke test after it, a runbook without a flip, and a dry run.
#[test]
fn rto_is_not_measured_without_a_dns_flip_and_a_smoke_test_after_it() {
    let rb = runbook(RUNBOOK);
    let mut events = full_run();
    events.truncate(
        events.iter().position(|(_, e)| matches!(e, Event::StepStatus { step, .. } if step == "flip-dns")).unwrap(),
    );
    let rto = build(&entries(events), Some(&rb)).unwrap().objectives.rto;
    assert_eq!(rto.verdict, Verdict::NotMeasured);
    assert_eq!(rto.measured_ms, None);
    let reason = rto.reason.unwrap();
    assert!(reason.contains("no DNS flip yet") && reason.contains("flip-dns"), "{reason}");
    assert!(rto.start.is_some(), "the start is known and shown");

    let mut events = full_run();
    events.truncate(
        events.iter().position(|(_, e)| matches!(e, Event::StepStatus { step, .. } if step == "smoke")).unwrap(),
    );
    let rto = build(&entries(events), Some(&rb)).unwrap().objectives.rto;
    assert_eq!(rto.verdict, Verdict::NotMeasured);
    assert!(rto.reason.unwrap().contains("no smoke test"));
    assert!(rto.dns_flip.is_some());

    let no_flip = runbook(&RUNBOOK.replace(
        "  - { id: flip-dns, title: Flip, gate: { type_to_confirm: app.example.internal. }, action: route53.upsert_record, with: { resource: app_dns, to: primary } }\n",
        "",
    ));
    let without_flip: Vec<(u32, Event)> =
        full_run().into_iter().filter(|(_, e)| e.step() != Some("flip-dns")).collect();
    let rto = build(&entries(without_flip), Some(&no_flip)).unwrap().objectives.rto;
    assert_eq!(rto.verdict, Verdict::NotMeasured);
    assert!(rto.reason.unwrap().contains("the runbook has no DNS flip step"));
    let mut events = full_run();
    events.truncate(
        events.iter().position(|(_, e)| matches!(e, Event::StepStatus { step, .. } if step == "flip-dns")).unwrap(),
    );
    let rto = build(&entries(events), None).unwrap().objectives.rto;
    assert!(rto.reason.unwrap().contains("without the runbook copy"), "not a claim that the runbook has no flip");

    let dry: Vec<(u32, Event)> = full_run()
        .into_iter()
        .map(|(s, e)| if matches!(e, Event::RunStarted { .. }) { (s, run_started(true)) } else { (s, e) })
        .filter(|(_, e)| !matches!(e, Event::AwsCall { mutating: true, .. }))
        .collect();
    let rto = build(&entries(dry), Some(&rb)).unwrap().objectives.rto;
    assert_eq!(rto.verdict, Verdict::NotMeasured);
    assert!(rto.reason.unwrap().contains("dry run"));
}

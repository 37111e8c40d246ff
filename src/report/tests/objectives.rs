//! RTO against its definition on hand-built journals: from the first disruptive call (not the
//! permissions stack, not a snapshot) to the smoke test after the DNS flip (not the DNS check);
//! and when it cannot be measured, why.

use super::*;
/// Catches an RTO measured from the wrong start (the run's start, the step's start, the
/// permissions stack's CreateStack, a snapshot), to the wrong end (a check that passed before the
/// flip, the DNS check after it, the flip alone), or compared with the target the wrong way
/// round; and, with no fence, a data-loss window ended anywhere but at the DNS flip (recovery
/// took writes until traffic moved: the first disruptive call, the step's start are too early).
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
    assert_eq!(rpo[0].measured_ms, Some(95_000), "no fence: the flip (110 s) minus the recovery point (15 s)");
    assert!(rpo[0].measured_at.as_ref().unwrap().what.contains("no fence"));
    let downtime = &report.objectives.downtime;
    assert_eq!(downtime.measured_ms, None);
    assert!(downtime.reason.as_deref().unwrap().contains("no fence step"), "{downtime:?}");
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

/// A run with a fence before its failback: the fence's StopInstances (8 s) and its policy, proved
/// at 9.5 s; the recovery point taken at 15 s, after it.
fn fenced_run() -> Vec<(u32, Event)> {
    use CallOutcome::*;
    use SubPhase::*;
    let f = "fence";
    let mut events = vec![
        (0, run_started(false)),
        (7, status(f, StepStatus::Running)),
        (7, action(f, "recovery.fence", 1)),
        (7, sub(f, "app_server/read", Started, Value::Null)),
        (7, within("app_server/read", call(f, "DescribeInstances", "app-server", false, Ok))),
        (8, within("app_server/stop", call(f, "StopInstances", "i-1", true, Sending))),
        (8, within("app_server/stop", call(f, "StopInstances", "i-1", true, Ok))),
        (9, within("sessions/policy", call(f, "PutResourcePolicy", "arn:table/sessions", true, Sending))),
        (9, within("sessions/policy", call(f, "PutResourcePolicy", "arn:table/sessions", true, Ok))),
        (10, finished(f, true, json!({ "fenced_at": "2026-11-22T04:00:09.500Z", "resources": {} }))),
        (10, status(f, StepStatus::Succeeded)),
    ];
    // The failback and the rest as in the unfenced run (its events from 10 s on).
    events.extend(full_run().into_iter().filter(|(at, _)| *at >= 10));
    events
}

/// Catches downtime measured from anything but the fence (the run's start, the failback's first
/// disruptive call, the fence's proof), a data-loss window that does not end at the fence once
/// there is one (the flip, the first disruptive call of the failback), and a window of zero or
/// less shown without saying nothing was lost.
#[test]
fn downtime_runs_from_the_fence_and_the_data_loss_window_ends_where_it_held() {
    let report = build(&entries(fenced_run()), None).unwrap();
    let o = &report.objectives;
    let start = o.downtime.start.as_ref().unwrap();
    assert_eq!((start.at.as_str(), start.step.as_deref()), ("2026-11-22T04:00:08.000Z", Some("fence")));
    assert!(start.what.contains("StopInstances"), "{start:?}");
    assert_eq!(o.downtime.end.as_ref().and_then(|m| m.step.as_deref()), Some("smoke"));
    assert_eq!(o.downtime.measured_ms, Some((130 - 8) * 1000));
    assert_eq!(o.rto.start.as_ref().map(|m| m.at.as_str()), Some("2026-11-22T04:00:08.000Z"), "a fence disrupts");
    let rpo = &o.rpo[0];
    assert_eq!(rpo.measured_at.as_ref().map(|m| m.at.as_str()), Some("2026-11-22T04:00:09.500Z"));
    assert_eq!(rpo.measured_ms, Some(9_500 - 15_000), "fenced 5.5 s before the recovery point: nothing lost");
    assert_eq!(rpo.verdict, Verdict::NoTarget, "measured (no runbook copy here, so no target)");
    assert!(rpo.reason.as_deref().unwrap().contains("nothing written to recovery is missing"));

    // A fence step that has not succeeded still took the application down, but stopped no
    // writes that the journal can prove: the window runs to the flip.
    let unfinished: Vec<(u32, Event)> = fenced_run()
        .into_iter()
        .filter(|(_, e)| !matches!(e, Event::StepStatus { step, status: StepStatus::Succeeded, .. } if step == "fence"))
        .filter(|(_, e)| !matches!(e, Event::ActionFinished { step, .. } if step == "fence"))
        .collect();
    let o = build(&entries(unfinished), None).unwrap().objectives;
    assert_eq!(o.downtime.measured_ms, Some((130 - 8) * 1000), "down from its StopInstances all the same");
    assert_eq!(o.rpo[0].measured_ms, Some(95_000));
}

/// Catches a failback by switchover whose RTO starts at the global database's making in the stage
/// (nothing serving changes) or misses the switchover (recovery's cluster stops taking writes).
#[test]
fn a_switchover_starts_the_rto_and_the_global_database_made_before_it_does_not() {
    use CallOutcome::*;
    let rb = runbook(RUNBOOK);
    let mut events = full_run();
    let at =
        events.iter().position(|(_, e)| matches!(e, Event::StepStatus { step, .. } if step == "failback-rds")).unwrap();
    let a = "failback-aurora";
    events.splice(
        at..at,
        [
            (7, call("stage", "CreateGlobalCluster", "inventory-pl-global", true, Sending)),
            (8, call("stage", "CreateGlobalCluster", "inventory-pl-global", true, Ok)),
            (9, call(a, "SwitchoverGlobalCluster", "inventory-pl-global", true, Sending)),
            (9, call(a, "SwitchoverGlobalCluster", "inventory-pl-global", true, Ok)),
        ],
    );
    let rto = build(&entries(events), Some(&rb)).unwrap().objectives.rto;
    let start = rto.start.expect("a start");
    assert!(start.what.contains("SwitchoverGlobalCluster"), "{start:?}");
    assert_eq!(start.at, "2026-11-22T04:00:09.000Z");
}

//! Unit tests of the report on hand-built journals: the arithmetic of RTO and RPO, which resource
//! each call is counted against, and that nothing an action kept goes missing.

use super::*;
use crate::journal::{CallOutcome, Event, FailureOutcome, GateOutcome, RunStatus, StepStatus, SubId, SubPhase};
use crate::runbook::Runbook;
use indexmap::IndexMap;
use serde_json::{Value, json};
use std::path::Path;

mod objectives;

const RUNBOOK: &str = r#"
version: 1
name: report-test
title: Report test
environments:
  primary: { region: us-east-1 }
  recovery: { region: us-west-2 }
resources:
  app_server: { type: ec2_instance, primary: app-server, recovery: app-server }
  worker: { type: ec2_instance, primary: worker, recovery: worker }
  orders_db: { type: rds_instance, primary: orders-db, recovery: orders-db }
  app_dns: { type: route53_record, zone: example.internal., record_name: app.example.internal., record_type: A, primary: 10.0.1.10, recovery: 10.1.1.10 }
targets: { rto: 5m, rpo: 15m }
steps:
  - { id: failback-ec2, title: EC2, group: fb, action: ec2.failback, with: { resources: [app_server, worker] } }
  - { id: failback-rds, title: RDS, group: fb, action: rds.failback, with: { resource: orders_db } }
  - { id: check-early, title: Before the flip, action: check.resource, with: { resource: orders_db, side: primary, property: exists, equals: "true" } }
  - { id: flip-dns, title: Flip, gate: { type_to_confirm: app.example.internal. }, action: route53.upsert_record, with: { resource: app_dns, to: primary } }
  - { id: check-dns, title: DNS points at primary, action: check.resource, with: { resource: app_dns, side: primary, property: points_to, equals: primary } }
  - { id: wait-a-bit, title: Manual, gate: confirm }
  - { id: smoke, title: Smoke, action: exec, with: { command: "true" } }
"#;

fn runbook(text: &str) -> Runbook {
    crate::runbook::load_str(Path::new("test.yaml"), Path::new("."), text, &crate::actions::REGISTRY)
        .unwrap_or_else(|e| panic!("{e}"))
        .runbook
}

/// Entries at the given seconds after 04:00:00, numbered in order.
fn entries(events: Vec<(u32, Event)>) -> Vec<Entry> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, (s, event))| Entry {
            seq: i as u64 + 1,
            ts: format!("2026-11-22T{:02}:{:02}:{:02}.000Z", 4 + s / 3600, (s / 60) % 60, s % 60),
            event,
        })
        .collect()
}

fn run_started(dry_run: bool) -> Event {
    Event::RunStarted {
        run_id: "20261122T040000Z-report-test-abcd".into(),
        runbook: "report-test".into(),
        runbook_title: "Report test".into(),
        runbook_path: "test.yaml".into(),
        base_dir: ".".into(),
        inputs: IndexMap::new(),
        dry_run,
        endpoint_url: Some("http://127.0.0.1:5000".into()),
        sandbox: false,
        user: "alice".into(),
        pilotlight_version: "0.1.0".into(),
        phase: None,
    }
}

fn status(step: &str, status: StepStatus) -> Event {
    Event::StepStatus { step: step.into(), status, reason: None }
}

fn action(step: &str, action: &str, attempt: u32) -> Event {
    Event::ActionStarted { step: step.into(), action: action.into(), attempt, params: Value::Null }
}

fn sub(step: &str, name: &str, phase: SubPhase, data: Value) -> Event {
    Event::SubStep { step: step.into(), name: SubId::parse(name), attempt: 1, phase, data }
}

/// An AWS call made outside any sub-step; see [`within`].
fn call(step: &str, operation: &str, target: &str, mutating: bool, outcome: CallOutcome) -> Event {
    Event::AwsCall {
        step: step.into(),
        sub: None,
        service: "ec2".into(),
        operation: operation.into(),
        target: target.into(),
        region: "us-east-1".into(),
        mutating,
        outcome,
        message: None,
    }
}

/// The call as the sub-step `sub` journals it.
fn within(sub: &str, mut call: Event) -> Event {
    if let Event::AwsCall { sub: s, .. } = &mut call {
        *s = Some(SubId::parse(sub));
    }
    call
}

fn finished(step: &str, ok: bool, outputs: Value) -> Event {
    let outputs: IndexMap<String, Value> = serde_json::from_value(outputs).unwrap();
    Event::ActionFinished { step: step.into(), attempt: 1, ok, outputs, error: (!ok).then(|| "broke".into()) }
}

fn kept(resource: &str, id: &str) -> Value {
    json!({ "resource": resource, "kind": "rds_snapshot", "id": id, "region": "us-east-1",
            "why": "recovery point", "delete_with": format!("aws rds delete-db-snapshot --db-snapshot-identifier {id}") })
}

/// The permissions stack made at 5 s; an RDS failback (a snapshot at 21 s, the recovery point
/// at 15 s, the first disruption, the rename, at 26 s); a check before the flip, the flip
/// succeeding at 110 s, the DNS check at 113 s and the smoke test at 130 s.
fn full_run() -> Vec<(u32, Event)> {
    use CallOutcome::*;
    use SubPhase::*;
    let s = "failback-rds";
    vec![
        (0, run_started(false)),
        // The permissions stack: a change, not a disruption.
        (5, call("install", "CreateStack", "pilotlight-failback-permissions", true, Sending)),
        (6, call("install", "CreateStack", "pilotlight-failback-permissions", true, Ok)),
        (10, status(s, StepStatus::Running)),
        (10, action(s, "rds.failback", 1)),
        (11, sub(s, "orders_db/read", Started, Value::Null)),
        (12, within("orders_db/read", call(s, "DescribeDBInstances", "orders-db", false, Ok))),
        (13, sub(s, "orders_db/read", Done, json!({ "primary": "orders-db" }))),
        (20, sub(s, "orders_db/snapshot-recovery", Started, json!({ "snapshot": "pl-snap" }))),
        (21, within("orders_db/snapshot-recovery", call(s, "CreateDBSnapshot", "orders-db", true, Sending))),
        (22, within("orders_db/snapshot-recovery", call(s, "CreateDBSnapshot", "orders-db", true, Ok))),
        (23, sub(s, "orders_db/snapshot-recovery", Waiting, json!("snapshot pl-snap creating"))),
        (25, sub(s, "orders_db/snapshot-recovery", Done, json!({ "id": "pl-snap" }))),
        // The first disruption: primary's instance renamed away.
        (26, sub(s, "orders_db/rename-primary", Started, Value::Null)),
        (26, within("orders_db/rename-primary", call(s, "ModifyDBInstance", "orders-db", true, Sending))),
        (27, within("orders_db/rename-primary", call(s, "ModifyDBInstance", "orders-db", true, Ok))),
        (27, sub(s, "orders_db/rename-primary", Done, Value::Null)),
        (
            30,
            finished(
                s,
                true,
                json!({
                    "resources": { "orders_db": {
                        "recovery_point": "2026-11-22T04:00:15.000Z",
                        "recorded_config": { "class": "db.t3.micro", "tags": { "env": "primary" } },
                        "reapplied": ["deletion protection: false -> true"],
                        "retained": [kept("orders_db", "pl-snap"), kept("orders_db", "pl-copy")]
                    } },
                    "retained": [kept("orders_db", "pl-snap"), kept("orders_db", "pl-copy")]
                }),
            ),
        ),
        (30, status(s, StepStatus::Succeeded)),
        (40, status("check-early", StepStatus::Running)),
        (40, action("check-early", "check.resource", 1)),
        (41, finished("check-early", true, json!({}))),
        (50, status("check-early", StepStatus::Succeeded)),
        (100, status("flip-dns", StepStatus::AwaitingGate)),
        (
            101,
            Event::GateDecided {
                step: "flip-dns".into(),
                outcome: GateOutcome::Approved,
                user: "bob".into(),
                typed: Some("app.example.internal.".into()),
                checked: vec![],
                reason: None,
                auto: false,
            },
        ),
        (101, status("flip-dns", StepStatus::Running)),
        (101, action("flip-dns", "route53.upsert_record", 1)),
        (102, call("flip-dns", "ChangeResourceRecordSets", "app.example.internal.", true, Sending)),
        (103, call("flip-dns", "ChangeResourceRecordSets", "app.example.internal.", true, Ok)),
        (110, finished("flip-dns", true, json!({}))),
        (110, status("flip-dns", StepStatus::Succeeded)),
        // The DNS check after the flip: not the smoke test.
        (112, status("check-dns", StepStatus::Running)),
        (112, action("check-dns", "check.resource", 1)),
        (113, finished("check-dns", true, json!({}))),
        (113, status("check-dns", StepStatus::Succeeded)),
        (120, status("wait-a-bit", StepStatus::Succeeded)),
        (125, status("smoke", StepStatus::Running)),
        (125, action("smoke", "exec", 1)),
        (130, finished("smoke", true, json!({ "exit_code": 0 }))),
        (130, status("smoke", StepStatus::Succeeded)),
        (131, Event::RunFinished { status: RunStatus::Succeeded }),
    ]
}

/// Catches calls counted against another resource than the sub-step that made them (resources
/// of one action run at once, so several sub-steps are open together and targets do not tell
/// them apart), a mutating call counted twice (sending and outcome), an outcome paired with
/// another resource's `sending` of the same call, an error outcome not counted, and calls outside
/// sub-steps lost. Every call carries its sub-step: nothing is left unattributed.
#[test]
fn every_call_is_counted_against_the_sub_step_that_made_it() {
    use CallOutcome::*;
    use SubPhase::*;
    let s = "failback-ec2";
    let events = vec![
        (0, run_started(false)),
        (1, status(s, StepStatus::Running)),
        (1, action(s, "ec2.failback", 1)),
        (2, call(s, "DescribeInstances", "app-server", false, Ok)),
        (3, sub(s, "app_server/read", Started, Value::Null)),
        (3, sub(s, "worker/read", Started, Value::Null)),
        (4, within("worker/read", call(s, "DescribeInstances", "worker", false, Ok))),
        (4, within("app_server/read", call(s, "DescribeInstances", "app-server", false, Ok))),
        (5, sub(s, "worker/read", Done, json!({ "volumes": ["vol-1"] }))),
        (5, sub(s, "worker/snapshot", Started, json!({ "volumes": ["vol-1"] }))),
        (5, within("app_server/read", call(s, "DescribeVolumes", "app-server", false, Ok))),
        (6, sub(s, "app_server/read", Done, json!({ "volumes": ["vol-1"] }))),
        (6, sub(s, "app_server/snapshot", Started, json!({ "volumes": ["vol-1"] }))),
        // Both resources name the same volume id (in two regions, say): only the journaled
        // sub-step tells the calls apart.
        (7, within("worker/snapshot", call(s, "DescribeSnapshots", "snapshots of this run", false, Ok))),
        (7, within("worker/snapshot", call(s, "CreateSnapshot", "vol-1", true, Sending))),
        (7, within("app_server/snapshot", call(s, "CreateSnapshot", "vol-1", true, Sending))),
        (8, within("app_server/snapshot", call(s, "CreateSnapshot", "vol-1", true, Error))),
        (8, within("worker/snapshot", call(s, "CreateSnapshot", "vol-1", true, Ok))),
        (9, sub(s, "worker/snapshot", Done, json!({ "vol-1": "snap-w1" }))),
        (9, within("app_server/snapshot", call(s, "DescribeSnapshots", "snapshots of this run", false, Ok))),
        (10, sub(s, "app_server/snapshot", Done, json!({ "vol-1": "snap-a1" }))),
        (11, call(s, "DescribeInstances", "i-123", false, Ok)),
        (12, finished(s, true, json!({ "resources": {}, "retained": [] }))),
        (12, status(s, StepStatus::Succeeded)),
    ];
    let rb = runbook(RUNBOOK);
    let report = build(&entries(events), Some(&rb)).unwrap();
    let row =
        |r: Option<&str>| report.aws_calls.iter().find(|c| c.step == s && c.resource.as_deref() == r).cloned().unwrap();
    let worker = row(Some("worker"));
    assert_eq!((worker.count.total, worker.count.mutating, worker.count.errors), (3, 1, 0), "{worker:?}");
    let app = row(Some("app_server"));
    assert_eq!((app.count.total, app.count.mutating, app.count.errors), (4, 1, 1), "{app:?}");
    let step = row(None);
    assert_eq!(step.count.total, 2, "before any sub-step and after every sub-step: {step:?}");
    assert_eq!(step.first_mutating_at, None);
    assert_eq!(worker.first_mutating_at.as_deref(), Some("2026-11-22T04:00:07.000Z"));

    let ec2 = report.steps.iter().find(|x| x.id == s).unwrap();
    assert_eq!(ec2.calls.total, 9, "every call once: 4 reads, 2 mutating, 3 more reads");
    assert_eq!(ec2.calls.mutating, 2);
    let substep = |n: &str| ec2.substeps.iter().find(|x| x.name == n).unwrap().calls;
    assert_eq!(substep("worker/read").total, 1);
    assert_eq!(substep("app_server/read").total, 2);
    assert_eq!(substep("worker/snapshot").total, 2);
    assert_eq!(substep("app_server/snapshot").total, 2);
    assert_eq!((substep("app_server/snapshot").errors, substep("worker/snapshot").errors), (1, 0));
}

/// Catches retained items lost when an attempt failed (the resources that succeeded kept things
/// in AWS), listed twice when a retry reports them again, or taken only from the top-level list.
#[test]
fn every_retained_item_of_every_attempt_is_listed_once() {
    use SubPhase::*;
    let (a, b) = ("failback-rds", "conclude");
    let events = vec![
        (0, run_started(false)),
        (1, action(a, "rds.failback", 1)),
        (1, sub(a, "orders_db/snapshot", Started, Value::Null)),
        (2, within("orders_db/snapshot", call(a, "CreateDBSnapshot", "orders-db", true, CallOutcome::Sending))),
        (2, within("orders_db/snapshot", call(a, "CreateDBSnapshot", "orders-db", true, CallOutcome::Ok))),
        (
            3,
            finished(
                a,
                false,
                json!({ "resources": { "orders_db": { "retained": [kept("orders_db", "snap-1")] }, "other": { "error": "x" } },
                        "retained": [kept("orders_db", "snap-1")] }),
            ),
        ),
        (3, status(a, StepStatus::AwaitingDecision)),
        (
            4,
            Event::FailureDecided {
                step: a.into(),
                outcome: FailureOutcome::Retry,
                user: "alice".into(),
                reason: None,
            },
        ),
        (5, action(a, "rds.failback", 2)),
        (
            6,
            finished(
                a,
                true,
                json!({ "resources": { "orders_db": { "retained": [kept("orders_db", "snap-1"), kept("orders_db", "snap-2")] } },
                        "retained": [kept("orders_db", "snap-1"), kept("orders_db", "snap-2")] }),
            ),
        ),
        (6, status(a, StepStatus::Succeeded)),
        (7, action(b, "recovery.conclude", 1)),
        (8, finished(b, true, json!({ "resources": { "worker": { "retained": [kept("worker", "snap-final")] } } }))),
        (8, status(b, StepStatus::Succeeded)),
    ];
    let report = build(&entries(events), None).unwrap();
    let ids: Vec<&str> = report.retained.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["snap-1", "snap-2", "snap-final"]);
    assert_eq!(report.retained[2].step, "conclude");
    assert!(report.retained[0].delete_with.contains("snap-1"));
    let rds = report.steps.iter().find(|s| s.id == a).unwrap();
    assert_eq!(rds.attempts, 2);
    assert_eq!(rds.decisions.len(), 1);
    assert!(rds.last_error.is_none(), "a step that succeeded in the end shows no stale error");
    let md = markdown::render(&report);
    for id in ids {
        assert!(md.contains(id), "{id} missing from the Markdown");
    }
}

/// Catches a call sent by a process that was killed being marked as answered by the outcome of
/// the call the resumed run sent again (the first may or may not have happened), and sub-steps
/// of a killed attempt still counted as open after the resume.
#[test]
fn a_call_cut_off_by_a_kill_stays_unanswered_after_the_resume() {
    use SubPhase::*;
    let s = "failback-rds";
    let events = vec![
        (0, run_started(false)),
        (1, action(s, "rds.failback", 1)),
        (2, sub(s, "orders_db/keep", Started, Value::Null)),
        (3, within("orders_db/keep", call(s, "ModifyDBInstance", "orders-db", true, CallOutcome::Sending))),
        (60, Event::RunResumed { user: "carol".into(), endpoint_override: None }),
        (61, action(s, "rds.failback", 2)),
        (61, call(s, "DescribeDBInstances", "orders-db", false, CallOutcome::Ok)),
        (62, sub(s, "orders_db/keep", Started, Value::Null)),
        (63, within("orders_db/keep", call(s, "ModifyDBInstance", "orders-db", true, CallOutcome::Sending))),
        (64, within("orders_db/keep", call(s, "ModifyDBInstance", "orders-db", true, CallOutcome::Ok))),
        (65, sub(s, "orders_db/keep", Done, Value::Null)),
    ];
    let report = build(&entries(events), None).unwrap();
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("entry 4"), "the first ModifyDBInstance: {}", report.warnings[0]);
    let rows: Vec<(Option<&str>, u32)> =
        report.aws_calls.iter().map(|r| (r.resource.as_deref(), r.count.total)).collect();
    assert_eq!(rows, [(None, 1), (Some("orders_db"), 2)], "the read after the resume is outside any sub-step");
    let keep = &report.steps[0].substeps[0];
    assert_eq!((keep.attempts, keep.phase), (2, SubPhase::Done));
    assert_eq!(keep.started_at, "2026-11-22T04:00:02.000Z", "its first start");
    assert_eq!(keep.duration_ms, Some(63_000));
    assert_eq!(report.run.status, RunStatus::Running);
    assert_eq!(report.run.finished_at, None);
    assert_eq!(report.run.sessions.iter().filter(|x| x.what == SessionKind::Resumed).count(), 1);
}

/// Catches an RPO computed from a missing or unreadable recovery point, or while recovery still
/// takes writes (no fence, no flip: the window has no end yet).
#[test]
fn rpo_without_a_usable_recovery_point_is_not_measured() {
    use SubPhase::*;
    let s = "failback-rds";
    let events = |point: Value| {
        entries(vec![
            (0, run_started(false)),
            (10, action(s, "rds.failback", 1)),
            (11, sub(s, "orders_db/snapshot", Started, Value::Null)),
            (12, within("orders_db/snapshot", call(s, "CreateDBSnapshot", "orders-db", true, CallOutcome::Sending))),
            (13, finished(s, true, json!({ "resources": { "orders_db": { "recovery_point": point } } }))),
        ])
    };
    let rpo = &build(&events(Value::Null), None).unwrap().objectives.rpo[0];
    assert_eq!((rpo.verdict, rpo.measured_ms), (Verdict::NotMeasured, None));
    assert!(rpo.reason.as_deref().unwrap().contains("no recovery point"));
    let rpo = &build(&events(json!("last tuesday")), None).unwrap().objectives.rpo[0];
    assert_eq!(rpo.verdict, Verdict::NotMeasured);
    let rpo = &build(&events(json!("2026-11-22T04:00:12.250Z")), None).unwrap().objectives.rpo[0];
    assert_eq!((rpo.verdict, rpo.measured_ms), (Verdict::NotMeasured, None));
    assert!(rpo.reason.as_deref().unwrap().contains("still takes writes"), "{rpo:?}");
}

/// Catches a Markdown report missing a section, and a JSON form that does not read back as the
/// same report.
#[test]
fn markdown_has_every_section_and_json_reads_back() {
    let rb = runbook(RUNBOOK);
    let report = build(&entries(full_run()), Some(&rb)).unwrap();
    let md = markdown::render(&report);
    for heading in [
        "# After-action report: Report test",
        "## Recovery objectives",
        "## Timeline",
        "## Retained resources",
        "## Configuration recorded and re-applied",
        "## AWS calls",
    ] {
        assert!(md.contains(heading), "{heading} missing:\n{md}");
    }
    assert!(md.contains("**RTO: 1m 44s** (target 5m: ok)"), "{md}");
    assert!(md.contains("| class | db.t3.micro |") && md.contains("| tags.env | primary |"), "{md}");
    assert!(md.contains("- deletion protection: false -> true"));
    assert!(md.contains("Gate approved by bob at 04:01:41.000; typed `app.example.internal.`"), "{md}");
    assert!(md.contains("| `wait-a-bit` | manual | succeeded |"), "{md}");
    assert!(md.contains("| `failback-rds` (group `fb`) | `rds.failback` | succeeded |"), "{md}");
    assert!(md.contains("snapshot pl-snap creating"), "what the sub-step waited for");
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
    assert!(
        build(&entries(vec![(0, Event::RunResumed { user: "x".into(), endpoint_override: None })]), None).is_none(),
        "no run_started"
    );
}

/// An environment whose role comes from a step's output is guarded when first used, not at the
/// start: a run that succeeded must not report it as refused.
#[test]
fn the_account_guard_row_says_what_happened_to_each_environment() {
    let check = |env: &str, account: Option<&str>, ok: bool, message: Option<&str>| Event::AccountChecked {
        env: env.into(),
        region: "us-east-1".into(),
        expected: Some("123456789012".into()),
        account: account.map(str::to_string),
        arn: None,
        ok,
        message: message.map(str::to_string),
    };
    let deferred = "its role comes from `{{ steps.install.outputs.role }}`: checked when first used, through that role";
    let events = vec![
        (0, run_started(false)),
        (1, check("recovery", Some("123456789012"), true, None)),
        (1, check("primary", None, true, Some(deferred))),
        (2, check("other", Some("999999999999"), false, Some("refusing to act"))),
        (2, check("nocreds", None, false, Some("no credentials"))),
    ];
    let md = markdown::render(&build(&entries(events), Some(&runbook(RUNBOOK))).unwrap());
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| Account guard |")).collect();
    assert_eq!(rows.len(), 4, "{md}");
    assert!(rows[0].contains("recovery (us-east-1) is account 123456789012, at "), "{}", rows[0]);
    assert!(
        rows[1].contains(&format!(
            "primary (us-east-1): account 123456789012 expected, not checked at the start ({deferred})"
        )),
        "{}",
        rows[1]
    );
    assert!(!rows[1].contains("REFUSED"), "{}", rows[1]);
    assert!(rows[2].contains("other (us-east-1): REFUSED, account 999999999999, expected 123456789012"), "{}", rows[2]);
    assert!(
        rows[3].contains("nocreds (us-east-1): REFUSED, its account could not be read (no credentials)"),
        "{}",
        rows[3]
    );
}

/// The outcome lines (console and line mode) say what the report's objectives and retained
/// sections say, in brief.
#[test]
fn the_outcome_lines_give_rto_rpo_what_was_kept_and_the_report_command() {
    let report = build(&entries(full_run()), Some(&runbook(RUNBOOK))).unwrap();
    let lines = outcome::lines(&report);
    assert_eq!(lines[0], "RTO 1m 44s (within the 5m target)", "{lines:?}");
    assert!(lines[1].starts_with("RPO ") && lines[1].contains("the 15m target"), "{lines:?}");
    let kept = report.retained.len();
    assert!(kept > 1 && lines[2].starts_with(&format!("Kept {kept} items (")), "{lines:?}");
    assert_eq!(lines.last().unwrap(), "Report: pilotlight report 20261122T040000Z-report-test-abcd");
}

/// What a rollback or an undo put back in use is no longer listed as retained (until a later
/// failback keeps it again), what they kept aside is, and the undo has its own section.
#[test]
fn what_a_rollback_or_an_undo_put_back_is_no_longer_retained() {
    let a = "failback-rds";
    let kept_db = |id: &str| {
        json!({ "resource": "orders_db", "kind": "rds_instance", "id": id, "region": "us-east-1",
                                     "why": "kept", "delete_with": format!("aws rds delete-db-instance --db-instance-identifier {id}") })
    };
    let failback = json!({ "resources": { "orders_db": { "retained": [kept_db("orders-db-pre-failback-abcd"), kept("orders_db", "snap-1")] } } });
    let put_back = |aside: &str| {
        serde_json::from_value::<IndexMap<String, Value>>(json!({ "resources": { "orders_db": {
            "undone": true, "put_back": ["orders-db-pre-failback-abcd"], "retained": [kept_db(aside)] } } }))
        .unwrap()
    };
    let events = vec![
        (0, run_started(false)),
        (1, action(a, "rds.failback", 1)),
        (2, finished(a, false, failback.clone())),
        (
            3,
            Event::FailureDecided {
                step: a.into(),
                outcome: FailureOutcome::Rollback,
                user: "ana".into(),
                reason: None,
            },
        ),
        (
            4,
            Event::RolledBack {
                step: a.into(),
                ok: true,
                outputs: put_back("orders-db-failed-back-abcd"),
                error: None,
                reset: vec![],
            },
        ),
        (5, status(a, StepStatus::Failed)),
    ];
    let report = build(&entries(events.clone()), None).unwrap();
    let ids: Vec<&str> = report.retained.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["snap-1", "orders-db-failed-back-abcd"], "the original is primary's again");

    let mut events = events;
    events.extend([
        (6, action(a, "rds.failback", 2)),
        (7, finished(a, true, failback)),
        (8, Event::RunFinished { status: RunStatus::Succeeded }),
        (9, Event::UndoStarted { user: "bo".into(), reason: "the data is wrong".into() }),
        (
            10,
            Event::UndoStepFinished {
                step: a.into(),
                ok: true,
                outputs: put_back("orders-db-failed-back-efgh"),
                error: None,
            },
        ),
        (11, Event::UndoFinished { ok: true }),
        (12, Event::RunFinished { status: RunStatus::Undone }),
    ]);
    let report = build(&entries(events), None).unwrap();
    let ids: Vec<&str> = report.retained.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["snap-1", "orders-db-failed-back-abcd", "orders-db-failed-back-efgh"]);
    assert_eq!(report.run.status, RunStatus::Undone);
    let md = markdown::render(&report);
    assert!(md.contains("## Undo") && md.contains("Asked by bo") && md.contains("the data is wrong"), "{md}");
    assert!(md.contains("| `failback-rds` | `orders_db` | yes | `orders-db-pre-failback-abcd` |"), "{md}");
}

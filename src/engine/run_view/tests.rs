//! Journal entries in, run view out.

use super::*;
use crate::journal::{CallOutcome, GateOutcome, SubId, SubPhase};
use std::path::Path;

pub(crate) const CONSOLE_RUNBOOK: &str = include_str!("../../../tests/fixtures/console.yaml");

/// The console fixture, loaded as a run would load it (files need not exist).
pub(crate) fn console_runbook() -> LoadedRunbook {
    crate::runbook::load_for_resume(
        Path::new("tests/fixtures/console.yaml"),
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")),
        CONSOLE_RUNBOOK,
        &crate::actions::REGISTRY,
    )
    .expect("the console fixture loads")
}

pub(crate) fn inputs() -> IndexMap<String, Value> {
    IndexMap::from([("principal".to_string(), Value::String("arn:aws:iam::123456789012:root".into()))])
}

/// Entries with increasing times, one second apart from 12:00:00.
pub(crate) struct Feed(pub u64);

impl Feed {
    pub(crate) fn entry(&mut self, event: Event) -> Entry {
        self.0 += 1;
        Entry { seq: self.0, ts: format!("2026-11-22T12:{:02}:{:02}.000Z", self.0 / 60, self.0 % 60), event }
    }
}

/// The run's `run_started`, with the id the console's snapshots show.
pub(crate) fn started() -> Event {
    Event::RunStarted {
        run_id: "console-20261122-120000-abcd".into(),
        runbook: "console".into(),
        runbook_title: "Console walk-through".into(),
        runbook_path: "console.yaml".into(),
        base_dir: ".".into(),
        inputs: inputs(),
        dry_run: false,
        endpoint_url: Some("http://127.0.0.1:5000".into()),
        sandbox: true,
        user: "ana".into(),
        pilotlight_version: "0.1.0".into(),
        phase: None,
    }
}

/// The account guard's verdict for primary.
pub(crate) fn primary_checked() -> Event {
    Event::AccountChecked {
        env: "primary".into(),
        region: "us-east-1".into(),
        expected: Some("123456789012".into()),
        account: Some("123456789012".into()),
        arn: None,
        ok: true,
        message: None,
    }
}

pub(crate) fn status(step: &str, status: StepStatus) -> Event {
    Event::StepStatus { step: step.into(), status, reason: None }
}

pub(crate) fn call(step: &str, operation: &str, mutating: bool, outcome: CallOutcome) -> Event {
    Event::AwsCall {
        step: step.into(),
        sub: None,
        service: "cloudformation".into(),
        operation: operation.into(),
        target: "console-permissions".into(),
        region: "us-east-1".into(),
        mutating,
        outcome,
        message: None,
    }
}

#[test]
fn a_fresh_view_has_every_step_pending_with_rendered_parameters() {
    let view = RunView::new("r1", &console_runbook(), &inputs());
    assert_eq!(view.steps.len(), 4);
    assert!(view.steps.iter().all(|s| s.status == StepStatus::Pending));
    let deploy = &view.steps[1];
    assert_eq!(deploy.params.as_ref().unwrap()["parameters"]["TrustedPrincipalArn"], "arn:aws:iam::123456789012:root");
    assert!(deploy.mutating, "a stack deploy changes AWS");
    assert!(!view.steps[3].mutating, "check.resource only reads");
    assert_eq!(view.header.rto_target, Some(Duration::from_secs(4 * 3600)));
    assert_eq!(view.header.envs.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["primary", "recovery"]);
    assert_eq!(view.current(), 0);
}

#[test]
fn entries_move_steps_through_their_states_and_the_current_step_follows() {
    let mut view = RunView::new("r1", &console_runbook(), &inputs());
    let mut feed = Feed(0);
    for e in [started(), primary_checked(), status("primary-ready", StepStatus::AwaitingGate)] {
        view.apply(&feed.entry(e));
    }
    assert_eq!(view.header.mode, RunMode::Sandbox);
    assert_eq!(view.header.envs[0].ok, Some(true));
    assert_eq!(view.current(), 0);
    for e in [
        Event::GateDecided {
            step: "primary-ready".into(),
            outcome: GateOutcome::Approved,
            user: "ana".into(),
            typed: None,
            checked: vec![],
            reason: None,
            auto: false,
        },
        status("primary-ready", StepStatus::Succeeded),
        status("deploy", StepStatus::AwaitingGate),
    ] {
        view.apply(&feed.entry(e));
    }
    assert_eq!(view.steps[0].decision.as_deref(), Some("approved by ana"));
    assert_eq!(view.current(), 1);
    view.apply(&feed.entry(Event::ActionStarted {
        step: "deploy".into(),
        action: "cloudformation.deploy".into(),
        attempt: 1,
        params: Value::Null,
    }));
    assert_eq!(view.steps[1].status, StepStatus::Running);
    assert_eq!(view.header.first_disruption_at, None, "no change yet");
    view.apply(&feed.entry(call("deploy", "DescribeStacks", false, CallOutcome::Ok)));
    view.apply(&feed.entry(call("deploy", "CreateStack", true, CallOutcome::Sending)));
    let sending_at = view.calls().iter().last().unwrap().ts.clone();
    view.apply(&feed.entry(call("deploy", "CreateStack", true, CallOutcome::Ok)));
    assert_eq!(view.calls().len(), 2, "the outcome replaces the `sending` line");
    let create = view.calls().iter().last().unwrap();
    assert_eq!((create.outcome, create.ts.as_str()), (CallOutcome::Ok, sending_at.as_str()));
    assert_eq!(view.header.first_disruption_at, None, "the stack is a change, not a disruption");
    view.apply(&feed.entry(call("deploy", "StopInstances", true, CallOutcome::Sending)));
    let stop_at = view.calls().iter().last().unwrap().ts.clone();
    assert_eq!(view.header.first_disruption_at, parse_ts(&stop_at), "a stop is where the RTO clock starts");
    let now = parse_ts(&stop_at).unwrap() + Duration::from_secs(60);
    assert_eq!(view.rto_elapsed(now), Some(Duration::from_secs(60)));
    let started = parse_ts("2026-11-22T12:00:07.000Z").unwrap();
    assert_eq!(view.steps[1].elapsed(now), now.duration_since(started).ok(), "since its action started at 12:00:07");
}

#[test]
fn sub_steps_appear_in_order_with_what_they_wait_for() {
    let mut view = RunView::new("r1", &console_runbook(), &inputs());
    let mut feed = Feed(0);
    let sub = |name: &str, phase, data| Event::SubStep {
        step: "deploy".into(),
        name: SubId::parse(name),
        attempt: 1,
        phase,
        data,
    };
    for e in [
        sub("create-stack", SubPhase::Started, Value::Null),
        sub("create-stack", SubPhase::Done, Value::Null),
        sub("wait-stack", SubPhase::Started, Value::Null),
        sub("wait-stack", SubPhase::Waiting, Value::String("CREATE_IN_PROGRESS".into())),
    ] {
        view.apply(&feed.entry(e));
    }
    let subs = &view.steps[1].substeps;
    assert_eq!(subs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["create-stack", "wait-stack"]);
    assert_eq!(subs[0].phase, SubPhase::Done);
    assert_eq!(subs[1].waiting_for.as_deref(), Some("CREATE_IN_PROGRESS"));
    view.apply(&feed.entry(sub("wait-stack", SubPhase::Reset, Value::Null)));
    assert_eq!(view.steps[1].substeps[1].waiting_for, None, "a reset clears what it waited for");
}

#[test]
fn a_failure_keeps_its_error_and_outputs_render_into_later_steps() {
    let mut view = RunView::new("r1", &console_runbook(), &inputs());
    let mut feed = Feed(0);
    view.apply(&feed.entry(Event::ActionFinished {
        step: "deploy".into(),
        attempt: 1,
        ok: false,
        outputs: IndexMap::new(),
        error: Some("CreateStack on console-permissions: AccessDenied".into()),
    }));
    view.apply(&feed.entry(status("deploy", StepStatus::AwaitingDecision)));
    assert_eq!(view.steps[1].last_error.as_deref(), Some("CreateStack on console-permissions: AccessDenied"));
    assert_eq!(view.current(), 1, "the step waiting for a decision is the current one");
    view.apply(&feed.entry(Event::RunInterrupted { user: "ana".into() }));
    assert!(view.interrupted);
    view.apply(&feed.entry(Event::RunResumed { user: "ana".into(), endpoint_override: None }));
    assert!(!view.interrupted);
}

#[test]
fn a_long_run_keeps_only_the_latest_calls() {
    let mut view = RunView::new("r1", &console_runbook(), &inputs());
    let mut feed = Feed(0);
    for _ in 0..calls::KEEP + 20 {
        view.apply(&feed.entry(call("deploy", "DescribeStacks", false, CallOutcome::Ok)));
    }
    assert_eq!((view.calls().len(), view.calls().dropped), (calls::KEEP, 20));
}

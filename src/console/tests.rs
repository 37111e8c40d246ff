//! The console drawn into a `TestBackend` at each stage a responder meets, compared with insta
//! snapshots (`src/console/snapshots/`), and the keys that answer gates checked against the
//! answers the engine receives. The clock and run id are fixed, so nothing needs masking.

use super::app::{App, Dialog, Exit};
use super::keymap::Keymap;
use super::msg::{FailureAsk, GateAsk, Msg};
use super::render;
use super::theme::Theme;
use crate::aws::resource_status::ResourceStatus;
use crate::engine::poller::Resources;
use crate::engine::run_view::tests::{self as view_tests, Feed, console_runbook, inputs};
use crate::engine::run_view::{RunView, parse_ts};
use crate::engine::{FailureAnswer, GateAnswer};
use crate::journal::{CallOutcome, Event, StepStatus, SubId, SubPhase};
use crate::runbook::{Gate, Side};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::oneshot;

const RUN_ID: &str = "console-20261122-120000-abcd";

pub(super) fn app() -> App {
    let loaded = console_runbook();
    let view = RunView::new(RUN_ID, &loaded, &inputs());
    let resources = Resources::new(&loaded.runbook, Duration::from_secs(5));
    let (keys, _) = Keymap::load(None);
    let mut app = App::new(view, resources, keys, Theme { color: false });
    app.now = parse_ts("2026-11-22T12:02:00.000Z").unwrap();
    // Keys in these tests come one after another at once; the guard has its own test.
    app.decision_delay = Duration::ZERO;
    app
}

pub(super) fn started(app: &mut App, feed: &mut Feed) {
    for e in [view_tests::started(), view_tests::primary_checked()] {
        app.on_msg(Msg::Entry(feed.entry(e)));
    }
}

fn status(app: &mut App, feed: &mut Feed, step: &str, status: StepStatus) {
    app.on_msg(Msg::Entry(feed.entry(Event::StepStatus { step: step.into(), status, reason: None })));
}

pub(super) fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| render::draw(f, app)).unwrap();
    terminal.backend().to_string()
}

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn typed(app: &mut App, text: &str) {
    text.chars().for_each(|c| key(app, KeyCode::Char(c)));
}

/// Opens the gate of step `index` as the engine would ask for it.
fn ask_gate(app: &mut App, feed: &mut Feed, index: usize) -> oneshot::Receiver<GateAnswer> {
    let step = app.view.steps[index].clone();
    status(app, feed, &step.id, StepStatus::AwaitingGate);
    let (reply, answer) = oneshot::channel();
    let ask = GateAsk {
        step: step.id.clone(),
        index,
        total: app.view.steps.len(),
        title: step.title.clone(),
        gate: step.gate.clone(),
        instructions: step.instructions.clone(),
        action: step.action.clone().map(|a| format!("{a} {}", step.params.clone().unwrap_or(Value::Null))),
    };
    app.on_msg(Msg::Gate(ask, reply));
    answer
}

/// Steps 1 and 2 done, step 3 (the DNS flip) running with sub-steps and calls.
fn running_flip(app: &mut App, feed: &mut Feed) {
    started(app, feed);
    status(app, feed, "primary-ready", StepStatus::Succeeded);
    let e = |event| Msg::Entry(event);
    app.on_msg(e(feed.entry(Event::ActionStarted {
        step: "deploy".into(),
        action: "cloudformation.deploy".into(),
        attempt: 1,
        params: Value::Null,
    })));
    for (op, mutating) in [("DescribeStacks", false), ("CreateStack", true), ("DescribeStacks", false)] {
        for outcome in if mutating { vec![CallOutcome::Sending, CallOutcome::Ok] } else { vec![CallOutcome::Ok] } {
            app.on_msg(e(feed.entry(Event::AwsCall {
                step: "deploy".into(),
                sub: None,
                service: "cloudformation".into(),
                operation: op.into(),
                target: "console-permissions".into(),
                region: "us-east-1".into(),
                mutating,
                outcome,
                message: None,
            })));
        }
    }
    app.on_msg(e(feed.entry(Event::ActionFinished {
        step: "deploy".into(),
        attempt: 1,
        ok: true,
        outputs: [("RoleArn".to_string(), Value::String("arn:aws:iam::123456789012:role/console-failback".into()))]
            .into_iter()
            .collect(),
        error: None,
    })));
    status(app, feed, "deploy", StepStatus::Succeeded);
    app.on_msg(e(feed.entry(Event::GateDecided {
        step: "flip".into(),
        outcome: crate::journal::GateOutcome::Approved,
        user: "ana".into(),
        typed: Some("app.example.internal.".into()),
        checked: vec![],
        reason: None,
        auto: false,
    })));
    app.on_msg(e(feed.entry(Event::ActionStarted {
        step: "flip".into(),
        action: "route53.upsert_record".into(),
        attempt: 1,
        params: Value::Null,
    })));
    let sub = |name: &str, phase, data| Event::SubStep {
        step: "flip".into(),
        name: SubId::parse(name),
        attempt: 1,
        phase,
        data,
    };
    for ev in [
        sub("read-record", SubPhase::Started, Value::Null),
        sub("read-record", SubPhase::Done, Value::Null),
        sub("upsert", SubPhase::Started, Value::Null),
        sub("upsert", SubPhase::Done, Value::Null),
        sub("wait-insync", SubPhase::Started, Value::Null),
        sub("wait-insync", SubPhase::Waiting, Value::String("PENDING".into())),
    ] {
        app.on_msg(e(feed.entry(ev)));
    }
}

pub(super) fn with_resources(app: &mut App) {
    let at = parse_ts("2026-11-22T12:01:57.000Z");
    let mut r = app.resources.clone();
    for row in &mut r.rows {
        let (p, q) = match row.name.as_str() {
            "app_server" => ("running", "stopped"),
            "orders_db" => ("available", "available"),
            "sessions_table" => ("ACTIVE", "ACTIVE"),
            "app_dns" => ("10.1.1.10", ""),
            _ => ("CREATE_COMPLETE", ""),
        };
        let is_db = row.name == "orders_db";
        for (side, word) in [(Side::Primary, p), (Side::Recovery, q)] {
            if let Some(v) = row.side_mut(side) {
                let mut s = ResourceStatus::present(Some(word.to_string()), None);
                if is_db {
                    s.details.push(("class".into(), "db.t3.micro".into()));
                }
                v.status = Some(s);
                v.refreshed = at;
            }
        }
        if row.name == "app_dns" {
            row.points_to = Some("recovery".into());
        }
    }
    r.cycles = 3;
    r.calls_last_cycle = 9;
    app.resources = r;
}

#[test]
fn fresh_run() {
    let mut app = app();
    started(&mut app, &mut Feed(0));
    insta::assert_snapshot!(screen(&app, 140, 34));
}

#[test]
fn gate_checklist_waiting_with_one_item_ticked() {
    let mut app = app();
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    let mut answer = ask_gate(&mut app, &mut feed, 0);
    key(&mut app, KeyCode::Char(' '));
    insta::assert_snapshot!(screen(&app, 140, 34));
    key(&mut app, KeyCode::Char('y'));
    assert!(answer.try_recv().is_err(), "a checklist with an item unticked does not approve");
    assert_eq!(app.notice.as_deref(), Some("tick every item first (1 left; space ticks)"));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Enter);
    let checked = vec!["AWS Health is clear".to_string(), "The primary VPC is reachable".to_string()];
    assert_eq!(answer.try_recv().unwrap(), GateAnswer::Approve { typed: None, checked });
}

#[test]
fn gate_confirm_waiting() {
    let mut app = app();
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    status(&mut app, &mut feed, "primary-ready", StepStatus::Succeeded);
    let mut answer = ask_gate(&mut app, &mut feed, 1);
    insta::assert_snapshot!(screen(&app, 140, 34));
    // Skip asks for a reason, and an empty one is refused.
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Enter);
    assert!(answer.try_recv().is_err());
    typed(&mut app, "stack installed by hand");
    key(&mut app, KeyCode::Enter);
    assert_eq!(answer.try_recv().unwrap(), GateAnswer::Skip { reason: "stack installed by hand".into() });
}

/// The checks before a gate are where the operator decides: a count, then what warns or fails.
#[test]
fn gate_waiting_with_its_preflight() {
    use crate::journal::{PreflightCheck, Verdict};
    let mut app = app();
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    let check = |resource: &str, rule: &str, verdict, why: &str| PreflightCheck {
        resource: resource.into(),
        rule: rule.into(),
        verdict,
        why: why.into(),
    };
    let checks = vec![
        check("primary", "account", Verdict::Pass, "primary (us-east-1) is account 123456789012"),
        check("orders_db", "exists", Verdict::Pass, "both sides' instances exist"),
        check(
            "orders_db",
            "storage",
            Verdict::Warn,
            "recovery grew to 150 GiB (primary 100 GiB): the restore takes 150 GiB, and storage never shrinks",
        ),
    ];
    app.on_msg(Msg::Entry(feed.entry(Event::PreflightChecked { step: "flip".into(), checks })));
    let _answer = ask_gate(&mut app, &mut feed, 2);
    let shown = screen(&app, 140, 34);
    assert!(shown.contains("Preflight 3 checks, 1 warn, 0 fail"), "{shown}");
    insta::assert_snapshot!(shown);
}

#[test]
fn gate_type_to_confirm_half_typed() {
    let mut app = app();
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    let mut answer = ask_gate(&mut app, &mut feed, 2);
    typed(&mut app, "app.exa");
    insta::assert_snapshot!(screen(&app, 140, 34));
    key(&mut app, KeyCode::Enter);
    assert!(answer.try_recv().is_err(), "half the text does not approve");
    // Letters that are keys elsewhere (y approves, q quits) only type here.
    typed(&mut app, "mple.internal.yq");
    key(&mut app, KeyCode::Enter);
    assert!(answer.try_recv().is_err(), "extra text does not approve");
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Backspace);
    // Esc hides the dialog and keeps the text; enter brings it back.
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.dialog, None);
    key(&mut app, KeyCode::Enter);
    assert!(matches!(&app.dialog, Some(Dialog::Gate { typed, .. }) if typed == "app.example.internal."));
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        answer.try_recv().unwrap(),
        GateAnswer::Approve { typed: Some("app.example.internal.".into()), checked: vec![] }
    );
}

#[test]
fn action_running_with_sub_steps() {
    let mut app = app();
    running_flip(&mut app, &mut Feed(0));
    with_resources(&mut app);
    let flip = &app.view.steps[2];
    assert_eq!(flip.gate, Gate::TypeToConfirm("app.example.internal.".into()));
    insta::assert_snapshot!(screen(&app, 140, 34));
}

#[test]
fn step_failed_with_its_error() {
    let mut app = app();
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    status(&mut app, &mut feed, "primary-ready", StepStatus::Succeeded);
    let error = "cloudformation CreateStack on console-permissions (us-east-1): AccessDenied: not authorized to perform iam:CreateRole";
    app.on_msg(Msg::Entry(feed.entry(Event::ActionFinished {
        step: "deploy".into(),
        attempt: 2,
        ok: false,
        outputs: Default::default(),
        error: Some(error.into()),
    })));
    status(&mut app, &mut feed, "deploy", StepStatus::AwaitingDecision);
    let (reply, mut answer) = oneshot::channel();
    app.on_msg(Msg::Failure(
        FailureAsk { step: "deploy".into(), attempt: 2, error: error.into(), can_roll_back: false },
        reply,
    ));
    insta::assert_snapshot!(screen(&app, 140, 34));
    key(&mut app, KeyCode::Char('r'));
    assert_eq!(answer.try_recv().unwrap(), FailureAnswer::Retry);
}

#[test]
fn help() {
    let mut app = app();
    started(&mut app, &mut Feed(0));
    key(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!(screen(&app, 140, 34));
}

#[test]
fn resources_with_a_failing_poll() {
    let mut app = app();
    running_flip(&mut app, &mut Feed(0));
    with_resources(&mut app);
    let row = app.resources.rows.iter_mut().find(|r| r.name == "orders_db").unwrap();
    let side = row.side_mut(Side::Recovery).unwrap();
    side.error = Some("rds DescribeDBInstances on orders-db (us-west-2): ThrottlingException: Rate exceeded".into());
    side.failures = 3;
    side.refreshed = parse_ts("2026-11-22T12:00:30.000Z");
    insta::assert_snapshot!(screen(&app, 140, 34));
}

#[test]
fn an_80x24_terminal() {
    let mut app = app();
    let mut feed = Feed(0);
    running_flip(&mut app, &mut feed);
    with_resources(&mut app);
    insta::assert_snapshot!("80x24_steps_and_current", screen(&app, 80, 24));
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    insta::assert_snapshot!("80x24_resources_tab", screen(&app, 80, 24));
}

#[test]
fn quitting_mid_run_asks_first() {
    let mut app = app();
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    let _answer = ask_gate(&mut app, &mut feed, 1);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('q'));
    assert_eq!(app.dialog, Some(Dialog::ConfirmQuit));
    assert_eq!(app.exit, None);
    key(&mut app, KeyCode::Esc);
    assert_eq!((app.dialog.clone(), app.exit), (None, None), "esc stays");
    key(&mut app, KeyCode::Char('q'));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(app.exit, Some(Exit::Quit));
}

#[test]
fn watching_offers_no_decision() {
    let mut app = app();
    app.read_only = true;
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    status(&mut app, &mut feed, "primary-ready", StepStatus::AwaitingGate);
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(app.notice.as_deref(), Some("watching: decisions are made in the console that drives the run"));
    key(&mut app, KeyCode::Char('q'));
    assert_eq!(app.exit, Some(Exit::Quit), "a watcher leaves at once: it holds nothing");
}

#[test]
fn a_long_action_lists_what_is_open_and_summarises_what_is_done() {
    let mut app = app();
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    app.on_msg(Msg::Entry(feed.entry(Event::ActionStarted {
        step: "deploy".into(),
        action: "cloudformation.deploy".into(),
        attempt: 1,
        params: Value::Null,
    })));
    for k in 0..12 {
        let phase = if k == 11 { SubPhase::Started } else { SubPhase::Done };
        app.on_msg(Msg::Entry(feed.entry(Event::SubStep {
            step: "deploy".into(),
            name: SubId::step(format!("part-{k:02}")),
            attempt: 1,
            phase,
            data: Value::Null,
        })));
    }
    let screen = screen(&app, 140, 34);
    assert!(screen.contains("✓ 8 more sub-steps done"), "{screen}");
    assert!(!screen.contains("part-07 "), "{screen}");
    for shown in ["part-08", "part-09", "part-10", "▶ part-11"] {
        assert!(screen.contains(shown), "{shown} is listed:\n{screen}");
    }
}

#[test]
fn enter_opens_a_steps_full_output_and_the_filter_narrows_the_calls() {
    let mut app = app();
    let mut feed = Feed(0);
    running_flip(&mut app, &mut feed);
    key(&mut app, KeyCode::Char('k'));
    assert_eq!(app.shown_step(), 1, "k moves to the deploy step");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.dialog, Some(Dialog::Output { step: 1, scroll: 0 }));
    let shown = screen(&app, 140, 34);
    assert!(shown.contains("Output: deploy"), "{shown}");
    assert!(shown.contains("RoleArn: arn:aws:iam::123456789012:role/console-failback"), "{shown}");
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "create");
    key(&mut app, KeyCode::Enter);
    let shown = screen(&app, 140, 34);
    assert!(shown.contains("AWS calls (1, filter `create`)"), "{shown}");
    assert!(shown.contains("filter: create"), "the footer says a filter is on:\n{shown}");
}

#[test]
fn a_second_press_meant_for_the_last_gate_does_not_pass_the_next_one() {
    let mut app = app();
    app.decision_delay = super::app::DECISION_DELAY;
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    let mut answer = ask_gate(&mut app, &mut feed, 1);
    key(&mut app, KeyCode::Char('y'));
    assert!(answer.try_recv().is_err(), "y right after the dialog opened is ignored");
    assert_eq!(app.notice.as_deref(), Some("a new decision just opened: read it, then answer"));
    std::thread::sleep(super::app::DECISION_DELAY);
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(answer.try_recv().unwrap(), GateAnswer::Approve { typed: None, checked: vec![] });
}

#[test]
fn ctrl_c_offers_to_quit_whatever_the_key_file_says_and_keeps_a_failure_waiting() {
    let mut app = app();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.conf");
    std::fs::write(&file, "quit = Q\n").unwrap();
    let (keys, problems) = Keymap::load(Some(&file));
    assert!(problems.is_empty(), "{problems:?}");
    app.keymap = keys;
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    let (reply, mut answer) = oneshot::channel();
    app.on_msg(Msg::Failure(
        FailureAsk { step: "deploy".into(), attempt: 1, error: "boom\nsecond line".into(), can_roll_back: false },
        reply,
    ));
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(app.dialog, Some(Dialog::ConfirmQuit));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.dialog, Some(Dialog::Failure), "the failure is still waiting, and enter reopens it");
    key(&mut app, KeyCode::Char('r'));
    assert_eq!(answer.try_recv().unwrap(), FailureAnswer::Retry);
}

/// A failed failback step offers rolling back (asked first); another step does not.
#[test]
fn a_failed_failback_step_offers_a_rollback_asked_first() {
    let mut app = app();
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    let (reply, mut answer) = oneshot::channel();
    let ask = FailureAsk { step: "deploy".into(), attempt: 1, error: "boom".into(), can_roll_back: false };
    app.on_msg(Msg::Failure(ask, reply));
    key(&mut app, KeyCode::Enter);
    assert!(!screen(&app, 140, 34).contains("roll back"), "not offered for a step that is not a failback");
    key(&mut app, KeyCode::Char('b'));
    assert_eq!(app.dialog, Some(Dialog::Failure), "nothing to roll back");
    assert!(answer.try_recv().is_err());

    let mut app = super::tests::app();
    started(&mut app, &mut feed);
    let (reply, mut answer) = oneshot::channel();
    let ask = FailureAsk { step: "deploy".into(), attempt: 1, error: "boom".into(), can_roll_back: true };
    app.on_msg(Msg::Failure(ask, reply));
    key(&mut app, KeyCode::Enter);
    assert!(screen(&app, 140, 34).contains("roll back: put primary back as it was before this step"));
    key(&mut app, KeyCode::Char('b'));
    assert_eq!(app.dialog, Some(Dialog::ConfirmRollback));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.dialog, Some(Dialog::Failure), "no is back to the decision");
    key(&mut app, KeyCode::Char('b'));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(answer.try_recv().unwrap(), FailureAnswer::Rollback);
}

#[test]
fn a_resumed_failure_decision_is_shown_on_its_own_step() {
    let mut app = app();
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    status(&mut app, &mut feed, "primary-ready", StepStatus::Succeeded);
    status(&mut app, &mut feed, "deploy", StepStatus::Failed);
    status(&mut app, &mut feed, "flip", StepStatus::Failed);
    let (reply, _answer) = oneshot::channel();
    app.on_msg(Msg::Failure(
        FailureAsk { step: "deploy".into(), attempt: 1, error: "boom".into(), can_roll_back: false },
        reply,
    ));
    assert_eq!(app.shown_step(), 1, "the step the decision is about, not the last one that failed");
}

#[test]
fn the_mouse_wheel_scrolls_the_focused_pane() {
    use crossterm::event::{MouseEvent, MouseEventKind};
    let mut app = app();
    started(&mut app, &mut Feed(0));
    let wheel = |kind| MouseEvent { kind, column: 10, row: 10, modifiers: KeyModifiers::NONE };
    app.on_mouse(wheel(MouseEventKind::ScrollDown));
    app.on_mouse(wheel(MouseEventKind::ScrollDown));
    assert_eq!(app.shown_step(), 2, "the wheel moves down the steps");
    app.on_mouse(wheel(MouseEventKind::ScrollUp));
    assert_eq!(app.shown_step(), 1);
}

/// The action line says where an action works: a failback from recovery into primary (from the
/// action catalog), a deploy in the one environment it names or defaults to.
#[test]
fn a_failback_acts_from_recovery_into_primary_and_a_deploy_where_it_is_told() {
    use super::render::current::where_it_acts;
    let mut app = app();
    started(&mut app, &mut Feed(0));
    let failback = where_it_acts(&app.view, "ec2.failback", None).unwrap();
    assert!(failback.starts_with("in recovery (") && failback.contains(" → primary ("), "{failback}");
    let deploy = where_it_acts(&app.view, "cloudformation.deploy", None).unwrap();
    assert!(deploy.starts_with("in primary (") && !deploy.contains('→'), "{deploy}");
    let named = serde_json::json!({ "environment": "recovery" });
    let there = where_it_acts(&app.view, "cloudformation.deploy", Some(&named)).unwrap();
    assert!(there.starts_with("in recovery (") && !there.contains('→'), "{there}");
}

/// When the run ends, the outcome is where the eye is: at the top of the current pane, with the
/// command that writes the report (the header alone said "succeeded").
#[test]
fn a_finished_run_shows_its_outcome_above_the_step() {
    let mut app = app();
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    assert!(app.outcome.is_none(), "no outcome while the run goes on");
    for step in app.view.steps.iter().map(|s| s.id.clone()).collect::<Vec<_>>() {
        status(&mut app, &mut feed, &step, StepStatus::Succeeded);
    }
    app.on_msg(Msg::Entry(feed.entry(Event::RunFinished { status: crate::journal::RunStatus::Succeeded })));
    let shown = screen(&app, 160, 40);
    assert!(shown.contains("Run succeeded"), "{shown}");
    assert!(shown.contains("RTO not measured"), "no DNS flip in this run:\n{shown}");
    assert!(shown.contains("Kept nothing"), "{shown}");
    assert!(shown.contains(&format!("Report: pilotlight report {RUN_ID}")), "{shown}");
    // A step the operator picks is shown without it.
    key(&mut app, KeyCode::Up);
    assert!(app.selected.is_some());
    assert!(!screen(&app, 160, 40).contains("Run succeeded"));
}

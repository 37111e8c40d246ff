//! The console in team mode: a watcher approves a gate waiting for approvers with its approve key
//! (asked first), anyone hands the run over by name, and both say what they need without a team.
//! What the keys send is checked at the [`TeamLink`](crate::team::asks::TeamLink); what the table
//! does with it is tested against moto (`tests/it/team_console.rs`).

use super::app::{App, Dialog};
use super::msg::Msg;
use super::tests::{app, screen, started};
use crate::engine::run_view::tests::{Feed, status};
use crate::journal::{Event, GateOutcome, StepStatus};
use crate::team::asks::TeamAsk;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;

const DRIVER: &str = "arn:aws:iam::123456789012:user/ana";

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn entry(app: &mut App, feed: &mut Feed, e: Event) {
    app.on_msg(Msg::Entry(feed.entry(e)));
}

/// The driver's approval of `flip`'s gate: its ask of the others.
fn drivers_ask() -> Event {
    Event::Approval { step: "flip".into(), identity: DRIVER.into(), user_id: "AIDAANA".into(), driver: true, needed: 2 }
}

/// Step 3 (`flip`, two approvers) at its gate, approved by its driver and waiting for one more.
fn waiting_for_a_second_approver(app: &mut App, feed: &mut Feed) {
    started(app, feed);
    app.view.steps[2].approvers = 2;
    entry(app, feed, status("flip", StepStatus::AwaitingGate));
    entry(app, feed, drivers_ask());
}

fn linked(app: &mut App) -> mpsc::UnboundedReceiver<TeamAsk> {
    let (tx, rx) = mpsc::unbounded_channel();
    app.team = Some(tx);
    rx
}

/// Catches a watch console whose approve key does nothing in team mode, approves without asking
/// first, sends anything but the waiting step, or offers to approve a gate no one asked for yet.
#[test]
fn a_watcher_approves_a_gate_waiting_for_approvers_after_confirming() {
    let mut app = app();
    app.read_only = true;
    let mut asks = linked(&mut app);
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(app.notice.as_deref(), Some("no gate waits for a second approver now"));
    assert!(asks.try_recv().is_err());
    app.notice = None;

    app.view.steps[2].approvers = 2;
    entry(&mut app, &mut feed, status("flip", StepStatus::AwaitingGate));
    entry(&mut app, &mut feed, drivers_ask());
    let shown = screen(&app, 140, 34);
    assert!(shown.contains("Approvals: 1 of 2"), "{shown}");
    assert!(shown.contains(&format!("✓ {DRIVER}")), "{shown}");
    assert!(shown.contains("press y to approve it as your AWS identity"), "{shown}");
    assert!(shown.contains("y approve (second)"), "the footer offers it: {shown}");

    key(&mut app, KeyCode::Char('y'));
    let ask = app.view.steps[2].ask.expect("the driver's ask");
    assert_eq!(app.dialog, Some(Dialog::ConfirmApproval { step: "flip".into(), ask }));
    assert!(asks.try_recv().is_err(), "asked first");
    let shown = screen(&app, 140, 34);
    assert!(shown.contains("Second approval"), "{shown}");
    assert!(shown.contains("approved so far (1 of 2)"), "{shown}");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.dialog, None);
    assert!(asks.try_recv().is_err(), "esc approves nothing");

    key(&mut app, KeyCode::Char('y'));
    key(&mut app, KeyCode::Enter);
    assert_eq!(asks.try_recv().unwrap(), TeamAsk::Approve { step: "flip".into(), ask });
    assert_eq!(app.notice.as_deref(), Some("approving `flip` as your AWS identity…"));
    app.on_msg(Msg::Notice("flip: approved as arn:aws:iam::123456789012:user/bo".into()));
    assert!(screen(&app, 140, 34).contains("flip: approved as arn:aws:iam::123456789012:user/bo"));

    // The second approval journaled: the gate has all it needs, nothing more to approve.
    let second = Event::Approval {
        step: "flip".into(),
        identity: "arn:aws:iam::123456789012:user/bo".into(),
        user_id: "AIDABO".into(),
        driver: false,
        needed: 2,
    };
    entry(&mut app, &mut feed, second);
    assert!(app.waiting_for_approvers().is_none());
    assert!(screen(&app, 140, 34).contains("Approvals: 2 of 2"));
}

/// Catches a console that keeps an earlier ask's approvals after its driver stopped (a gate
/// asked again is approved again) or after the gate was decided.
#[test]
fn approvals_shown_are_of_the_gates_current_ask() {
    let mut app = app();
    let mut feed = Feed(0);
    waiting_for_a_second_approver(&mut app, &mut feed);
    assert_eq!(app.view.steps[2].approvals, vec![DRIVER.to_string()]);
    entry(&mut app, &mut feed, Event::RunInterrupted { user: "ana".into() });
    assert!(app.view.steps[2].approvals.is_empty(), "the driver stopped: its ask is gone");
    assert!(app.waiting_for_approvers().is_none());

    entry(&mut app, &mut feed, drivers_ask());
    assert!(app.waiting_for_approvers().is_some());
    let decided = Event::GateDecided {
        step: "flip".into(),
        outcome: GateOutcome::Approved,
        user: "ana".into(),
        typed: Some("app.example.internal.".into()),
        checked: vec![],
        reason: None,
        auto: false,
    };
    entry(&mut app, &mut feed, decided);
    entry(&mut app, &mut feed, status("flip", StepStatus::Running));
    assert!(app.view.steps[2].approvals.is_empty());
    assert!(app.waiting_for_approvers().is_none());
}

/// Catches a driver's console that is silent while its gate waits for others, or lets the
/// driver's own approve key stand for a second approval.
#[test]
fn the_drivers_console_says_its_gate_waits_for_others() {
    let mut app = app();
    let mut asks = linked(&mut app);
    let mut feed = Feed(0);
    waiting_for_a_second_approver(&mut app, &mut feed);
    let shown = screen(&app, 140, 34);
    assert!(shown.contains("Approvals: 1 of 2"), "{shown}");
    assert!(shown.contains("waiting for others: y in `pilotlight watch"), "{shown}");
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(app.dialog, None);
    assert!(asks.try_recv().is_err());
    let notice = app.notice.clone().unwrap_or_default();
    assert!(notice.starts_with("`flip` waits for 1 more approver(s), each from their own machine"), "{notice}");
}

/// Catches a handover key that sends without a name, trims nothing, takes keys meant for the
/// text as commands, or pretends to work on a run that is not shared.
#[test]
fn a_handover_is_asked_by_name_in_team_mode_only() {
    let mut local = app();
    started(&mut local, &mut Feed(0));
    key(&mut local, KeyCode::Char('H'));
    assert_eq!(local.dialog, None);
    assert_eq!(local.notice.as_deref(), Some("team mode only: this run is not shared (run it with --team TABLE)"));

    for read_only in [false, true] {
        let mut app = app();
        app.read_only = read_only;
        let mut asks = linked(&mut app);
        started(&mut app, &mut Feed(0));
        key(&mut app, KeyCode::Char('H'));
        assert_eq!(app.dialog, Some(Dialog::HandoverTo(String::new())));
        assert!(screen(&app, 140, 34).contains("Hand the run over"));
        key(&mut app, KeyCode::Enter);
        assert!(asks.try_recv().is_err(), "no name, no handover");
        assert!(app.notice.as_deref().unwrap_or_default().starts_with("hand over to whom?"));
        // Letters that are keys elsewhere (q quits, y approves) only type here.
        for c in " bo@qy-laptop ".chars() {
            key(&mut app, KeyCode::Char(c));
        }
        key(&mut app, KeyCode::Enter);
        assert_eq!(asks.try_recv().unwrap(), TeamAsk::Handover { to: "bo@qy-laptop".into() });
        assert_eq!(app.exit, None);
        assert_eq!(app.dialog, None);
        assert_eq!(app.notice.as_deref(), Some("asking the driver to hand the run over to bo@qy-laptop…"));
    }
}

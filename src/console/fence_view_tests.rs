//! The fence in the console: the downtime clock from the fence's first disruptive call, and a
//! recovery point read against the fence once it holds (not against the RPO target).

use super::msg::Msg;
use super::tests::{app, screen, started, with_resources};
use crate::aws::resource_status::ResourceStatus;
use crate::engine::run_view::parse_ts;
use crate::engine::run_view::tests::{Feed, call, status};
use crate::journal::{CallOutcome, Event, StepStatus};
use crate::runbook::Side;
use indexmap::IndexMap;
use serde_json::{Value, json};
use std::time::Duration;

/// Catches a console that shows no downtime once recovery is fenced, starts it anywhere but at
/// the fence's first disruptive call, or judges a recovery point by its age after the fence.
#[test]
fn a_fence_starts_the_downtime_clock_and_recovery_points_are_read_against_it() {
    let mut app = app();
    let mut feed = Feed(0);
    started(&mut app, &mut feed);
    with_resources(&mut app);
    let point = |app: &mut super::app::App, at: &str| {
        let row = app.resources.rows.iter_mut().find(|r| r.name == "orders_db").unwrap();
        let side = row.side_mut(Side::Recovery).unwrap();
        let mut s = ResourceStatus::present(Some("available".into()), None);
        s.details.push(("recovery point".into(), at.into()));
        side.status = Some(s);
    };
    point(&mut app, "2026-11-22T12:00:10.000Z");
    assert!(!screen(&app, 140, 34).contains("down "), "no fence, no downtime clock");

    let entry = |app: &mut super::app::App, feed: &mut Feed, e: Event| app.on_msg(Msg::Entry(feed.entry(e)));
    entry(&mut app, &mut feed, status("deploy", StepStatus::Running));
    let start = Event::ActionStarted {
        step: "deploy".into(),
        action: "recovery.fence".into(),
        attempt: 1,
        params: Value::Null,
    };
    entry(&mut app, &mut feed, start);
    entry(&mut app, &mut feed, call("deploy", "StopInstances", true, CallOutcome::Sending));
    let stop_at = parse_ts(&app.view.calls().iter().last().unwrap().ts).unwrap();
    assert_eq!(app.view.header.fence_began_at, Some(stop_at));
    assert_eq!(app.view.downtime_elapsed(stop_at + Duration::from_secs(42)), Some(Duration::from_secs(42)));
    assert!(screen(&app, 140, 34).contains("(fencing)"), "not proved yet");

    let outputs: IndexMap<String, Value> = IndexMap::from([("fenced_at".into(), json!("2026-11-22T12:00:20.000Z"))]);
    entry(
        &mut app,
        &mut feed,
        Event::ActionFinished { step: "deploy".into(), attempt: 1, ok: true, outputs, error: None },
    );
    entry(&mut app, &mut feed, status("deploy", StepStatus::Succeeded));
    assert_eq!(app.view.header.fenced_at, parse_ts("2026-11-22T12:00:20.000Z"));
    assert!(screen(&app, 140, 34).contains("(fenced)"));
    // Wide enough for the resource panel's columns to hold the whole line.
    let text = screen(&app, 320, 34);
    assert!(text.contains("recovery point 0:10 before the fence"), "ten seconds before it: {text}");
    point(&mut app, "2026-11-22T12:00:30.000Z");
    assert!(screen(&app, 320, 34).contains("after the fence: nothing lost"), "taken after it");
}

/// Catches the fence (and the conclusion) shown as acting in primary, or from recovery into it:
/// they act in recovery only.
#[test]
fn the_fence_and_the_conclusion_are_shown_acting_in_recovery_only() {
    let app = app();
    let place = |action: &str| super::render::current::where_it_acts(&app.view, action, None).unwrap();
    for action in ["recovery.fence", "recovery.conclude"] {
        let at = place(action);
        assert!(at.starts_with("in recovery (") && !at.contains("primary"), "{action}: {at}");
    }
    assert!(place("ec2.failback").contains("recovery (") && place("ec2.failback").contains("→ primary ("));
}

/// Catches a console that does not say a run is a stage run (nothing disruptive) or a cut-over
/// (the window): the operator must see which one they are driving.
#[test]
fn the_header_says_which_phase_the_run_is() {
    for (phase, word) in
        [(Some(crate::runbook::Phase::Stage), "STAGE"), (Some(crate::runbook::Phase::CutOver), "CUT-OVER")]
    {
        let mut app = app();
        let mut feed = Feed(0);
        let mut first = crate::engine::run_view::tests::started();
        if let Event::RunStarted { phase: p, .. } = &mut first {
            *p = phase;
        }
        app.on_msg(Msg::Entry(feed.entry(first)));
        let top = screen(&app, 140, 34).lines().next().unwrap_or_default().to_string();
        assert!(top.contains(&format!("│ {word} ")), "{top}");
    }
    let mut app = app();
    started(&mut app, &mut Feed(0));
    let top = screen(&app, 140, 34).lines().next().unwrap_or_default().to_string();
    assert!(!top.contains("STAGE") && !top.contains("CUT-OVER"), "a run of every step says no phase: {top}");
}

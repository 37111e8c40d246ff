//! A dry run makes no mutating AWS call, proved from moto's request recorder.

use super::support::{action_notes, journal, only_run, pilotlight, recorded, run, seeded_moto, state_dir};
use pilotlight::journal::Event;
use pilotlight::sandbox::moto_api;

#[test]
fn dry_run_sends_no_mutating_call() {
    let (moto, url) = seeded_moto();
    moto_api::start_recording(moto.port).unwrap();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "runbooks/failback.yaml", "--headless", "--auto-approve", "--dry-run", "--endpoint-url", &url]);
    let out = run(cmd);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0));

    let calls = recorded(moto.port);
    let mutating: Vec<&str> = calls.iter().filter(|r| r.mutating()).map(|r| r.operation.as_str()).collect();
    assert!(mutating.is_empty(), "dry run sent mutating calls: {mutating:?}");
    // The recorder did see the run's reads, so an empty list above means something.
    for op in ["DescribeStacks", "DescribeTable", "DescribeInstances", "GetCallerIdentity"] {
        assert!(calls.iter().any(|r| r.operation == op), "expected a {op} read in {calls:?}");
    }
    let (_, dir) = only_run(state.path());
    let notes: Vec<String> = journal(&dir)
        .into_iter()
        .filter_map(|e| match e.event {
            Event::ActionLog { message, .. } if message.starts_with("dry run: would") => Some(message),
            _ => None,
        })
        .collect();
    assert!(notes.iter().any(|n| n.contains("would create stack pilotlight-failback-permissions")), "{notes:?}");
    assert!(
        notes.iter().any(|n| n.contains("would UPSERT app.example.internal. A from 10.1.1.10 to 10.0.1.10")),
        "{notes:?}"
    );
    // The plan shows each failback's whole sequence, later sub-steps simulated from earlier ones.
    for expected in [
        "would copy snap-(dry run /dev/sda1) to us-east-1",
        "would rename orders-db to orders-db-pre-failback-",
        "would restore orders-db (db.t3.micro) from pl-",
        "would delete instance inventory-2 of cluster inventory",
        "would restore cluster inventory from pl-",
        "would create instance inventory-1 (db.r6g.large) in inventory",
        "would stop i-",
    ] {
        assert!(notes.iter().any(|n| n.contains(expected)), "{expected:?} in {notes:#?}");
    }
}

#[test]
fn a_command_declared_read_only_says_so_in_the_plan_and_the_dry_run() {
    let state = state_dir();
    let rb = state.path().join("smoke.yaml");
    std::fs::write(
        &rb,
        r#"version: 1
name: smoke
title: smoke
environments:
  primary: { region: us-east-1 }
  recovery: { region: us-west-2 }
steps:
  - id: look
    title: look
    action: exec
    with: { command: "echo looked > looked.txt", read_only: true }
  - id: touch
    title: touch
    action: exec
    with: { command: "echo touched > touched.txt" }
"#,
    )
    .unwrap();
    let mut plan = pilotlight(state.path());
    plan.args(["plan", rb.to_str().unwrap()]);
    let out = run(plan);
    let text = String::from_utf8_lossy(&out.stdout);
    let look = text.find("[look]").unwrap();
    let touch = text.find("[touch]").unwrap();
    assert!(text[look..touch].contains("runs in dry run (declared read-only)"), "{text}");
    assert!(text[touch..].contains("not run in a dry run"), "{text}");

    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--dry-run"]).current_dir(state.path());
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0));
    assert!(state.path().join("looked.txt").exists(), "the declared read-only command ran");
    assert!(!state.path().join("touched.txt").exists(), "the other did not");
    let notes = action_notes(state.path());
    assert!(notes.contains(&"dry run: runs `echo looked > looked.txt` (declared read-only)".to_string()), "{notes:?}");
    assert!(notes.contains(&"dry run: would run `echo touched > touched.txt`".to_string()), "{notes:?}");
}

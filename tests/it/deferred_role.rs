//! An environment whose role comes from a step's output (the failback permissions stack's
//! `RoleArn`): before that step has run it refuses to act, saying why; after it, every call in
//! that environment is signed with the role's temporary credentials; the account guard says
//! the environment is checked when first used.

use super::support::{block_on, journal, moto, only_run, pilotlight, recorded, run, state_dir};
use pilotlight::journal::{Event, StepStatus};
use pilotlight::sandbox::moto_api;
use pilotlight::sandbox::seed::{Part, seed_parts};

const RUNBOOK: &str = r#"
version: 1
name: deferred-role
title: A role from a step
environments:
  primary:
    region: us-east-1
    account_id: "123456789012"
    role_arn: "{{ steps.make-role.outputs.stdout }}"
  recovery: { region: us-west-2, account_id: "123456789012" }
resources:
  app_server: { type: ec2_instance, primary: app-server, recovery: app-server }
steps:
  - id: too-early
    title: Uses primary before the role exists
    action: check.resource
    with: { resource: app_server, property: exists, equals: "true" }
    on_failure: continue
  - id: make-role
    title: Produces the role
    action: exec
    with: { command: "printf arn:aws:iam::123456789012:role/pilotlight-failback" }
  - id: in-time
    title: Uses primary through the role
    action: check.resource
    with: { resource: app_server, property: exists, equals: "true" }
"#;

#[test]
fn an_environment_whose_role_comes_from_a_step_acts_only_after_it_and_through_that_role() {
    let server = moto();
    let url = server.endpoint_url();
    block_on(seed_parts(&url, &[Part::Ec2])).unwrap();
    let work = state_dir();
    let path = work.path().join("deferred.yaml");
    std::fs::write(&path, RUNBOOK).unwrap();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run"]).arg(&path).args(["--headless", "--auto-approve", "--endpoint-url", &url]);
    moto_api::start_recording(server.port).unwrap();
    let out = run(cmd);
    moto_api::stop_recording(server.port).unwrap();
    assert_eq!(out.status.code(), Some(1), "the early step failed (on_failure: continue), so the run fails");

    let (_, dir) = only_run(state.path());
    let entries = journal(&dir);
    let guard = entries.iter().find_map(|e| match &e.event {
        Event::AccountChecked { env, message, .. } if env == "primary" => message.clone(),
        _ => None,
    });
    assert!(guard.is_some_and(|m| m.contains("checked when first used")), "the guard says when primary is checked");
    let status = |step: &str| {
        entries
            .iter()
            .rev()
            .find_map(|e| match &e.event {
                Event::StepStatus { step: s, status, reason } if s == step => Some((*status, reason.clone())),
                _ => None,
            })
            .unwrap()
    };
    let (early, why) = status("too-early");
    assert_eq!(early, StepStatus::Failed);
    assert!(
        why.unwrap_or_default()
            .contains("takes its role from `{{ steps.make-role.outputs.stdout }}`, which is not available yet"),
        "the early step says why it cannot act"
    );
    assert_eq!(status("in-time").0, StepStatus::Succeeded);

    // The later step's reads in primary were signed with the role's temporary credentials.
    let calls = recorded(server.port);
    let assumed = calls.iter().position(|c| c.operation == "AssumeRole").expect("the role is assumed");
    let reads: Vec<_> =
        calls[assumed..].iter().filter(|c| c.operation == "DescribeInstances" && c.region == "us-east-1").collect();
    assert!(!reads.is_empty());
    assert!(reads.iter().all(|c| c.access_key.starts_with("ASIA")), "through the role");
}

//! `recovery.fence` on the seeded sandbox through the realism layer (which applies DynamoDB's
//! resource-based policies as AWS does; moto stores them and ignores them), checked with
//! describes and writes of the test's own: recovery's instances stopped, its table's writes
//! refused, the table's own policy kept; `pilotlight undo` lifts the fence.

use super::realism::{FaultKind, FaultSpec, RealismProxy};
use super::support::{
    Kill, action_notes, block_on, journal, kill_at_every_point_under_aws_rules, only_run, pilotlight, run, sdk,
    seeded_moto, state_dir,
};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use pilotlight::journal::{Event, SubPhase};
use pilotlight::sandbox::seed::Part;
use serde_json::{Value, json};

const FIXTURE: &str = "tests/fixtures/fence.yaml";
const TABLE: &str = "arn:aws:dynamodb:us-west-2:123456789012:table/sessions";

fn ddb(url: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk(url, "us-west-2"))
}

/// A write to recovery's table at `url`: `Ok`, or AWS's error code.
fn write(url: &str, pk: &str) -> Result<(), String> {
    let put = ddb(url).put_item().table_name("sessions").item("pk", AttributeValue::S(pk.into()));
    block_on(put.send()).map(|_| ()).map_err(|e| e.code().unwrap_or("?").to_string())
}

/// The table's policy at `url`: its statements' Sids, or the error code.
fn policy(url: &str) -> Result<Vec<String>, String> {
    let out = block_on(ddb(url).get_resource_policy().resource_arn(TABLE).send());
    let out = out.map_err(|e| e.code().unwrap_or("?").to_string())?;
    let doc: Value = serde_json::from_str(out.policy().unwrap()).unwrap();
    Ok(doc["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap_or("").to_string()).collect())
}

fn put_policy(url: &str, doc: &Value) {
    block_on(ddb(url).put_resource_policy().resource_arn(TABLE).policy(doc.to_string()).send()).unwrap();
}

/// Recovery's instances' states, read straight from moto.
fn recovery_states(url: &str) -> Vec<String> {
    let ec2 = aws_sdk_ec2::Client::new(&sdk(url, "us-west-2"));
    let out = block_on(ec2.describe_instances().send()).unwrap();
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| i.state().and_then(|s| s.name()).unwrap().as_str().to_string())
        .collect()
}

fn deny_writes() -> Value {
    json!({ "Version": "2012-10-17", "Statement": [{ "Sid": "NoWrites", "Effect": "Deny", "Principal": "*",
        "Action": ["dynamodb:PutItem"], "Resource": TABLE }] })
}

/// Catches a layer that does not apply a policy (moto's behaviour), applies it before a reader
/// could see it, or keeps applying one that was deleted.
#[test]
fn a_tables_resource_policy_denies_writes_through_the_layer_only() {
    let (moto, url) = seeded_moto();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let layer = proxy.endpoint_url();
    put_policy(&layer, &deny_writes());
    assert_eq!(write(&url, "bare-moto"), Ok(()), "moto ignores the policy");
    assert_eq!(policy(&layer), Err("PolicyNotFoundException".into()), "the first get after the put lags");
    assert_eq!(policy(&layer), Ok(vec!["NoWrites".into()]));
    assert_eq!(write(&layer, "layer"), Err("AccessDeniedException".into()));
    block_on(ddb(&layer).delete_resource_policy().resource_arn(TABLE).send()).unwrap();
    assert_eq!(write(&layer, "after-delete"), Ok(()));
}

/// Catches a fence that clobbers the table's own policy, records its moment before the policy
/// applies (at the put's answer), leaves recovery's compute running, or cannot be lifted; and a
/// lift that starts or deletes more than the fence did.
#[test]
fn the_fence_stops_recovery_and_refuses_its_writes_and_undo_lifts_it() {
    let (moto, url) = seeded_moto();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let layer = proxy.endpoint_url();
    let own = json!({ "Version": "2012-10-17", "Statement": [{ "Sid": "Readers", "Effect": "Allow",
        "Principal": { "AWS": "arn:aws:iam::123456789012:root" }, "Action": "dynamodb:GetItem", "Resource": TABLE }] });
    put_policy(&layer, &own);
    assert!(recovery_states(&url).iter().all(|s| s == "running"));

    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", &layer]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    let states = recovery_states(&url);
    assert!(states.len() == 2 && states.iter().all(|s| s == "stopped"), "stopped, not terminated: {states:?}");
    assert_eq!(policy(&url), Ok(vec!["Readers".into(), "PilotlightFenceWrites".into()]), "the own policy kept");
    assert_eq!(write(&layer, "after-fence"), Err("AccessDeniedException".into()));

    // The moment: the probe's refusal, after the put was answered; not the put's answer.
    let (id, dir) = only_run(state.path());
    let entries = journal(&dir);
    let put_answered = entries
        .iter()
        .rfind(|e| matches!(&e.event, Event::AwsCall { operation, mutating: true, .. } if operation == "PutResourcePolicy"))
        .expect("the policy put")
        .ts
        .clone();
    let probes = entries
        .iter()
        .filter(|e| matches!(&e.event, Event::AwsCall { operation, mutating: true, .. } if operation == "PutItem"))
        .count();
    assert!(probes >= 2, "a probe write, journaled (sending and its answer): {probes}");
    let fenced_at = entries
        .iter()
        .find_map(|e| match &e.event {
            Event::ActionFinished { ok: true, outputs, .. } => outputs["fenced_at"].as_str().map(str::to_string),
            _ => None,
        })
        .expect("fenced_at");
    assert!(fenced_at > put_answered, "{fenced_at} after the put's answer {put_answered}");
    assert!(entries.iter().any(|e| matches!(&e.event,
        Event::SubStep { name, phase: SubPhase::Done, .. } if name.to_string() == "sessions_table/wait-fenced")));

    let mut cmd = pilotlight(state.path());
    cmd.args(["undo", &id, "--reason", "stay on recovery", "--yes", "--endpoint-url", &layer]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(recovery_states(&url).iter().all(|s| s == "running"), "started again");
    assert_eq!(policy(&url), Ok(vec!["Readers".into()]), "the table's own policy, as it was");
    assert_eq!(write(&layer, "after-lift"), Ok(()));
}

/// Catches a fence that takes a put policy for a fence: on an endpoint that stores policies and
/// never applies them (bare moto), the step fails within the eventual-consistency grace, naming
/// the table and why, instead of waiting out the step's timeout or passing.
#[test]
fn a_fence_that_does_not_hold_fails_clearly() {
    let (_moto, url) = seeded_moto();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", &url]);
    let started = std::time::Instant::now();
    let out = run(cmd);
    assert_ne!(out.status.code(), Some(0));
    let (_, dir) = only_run(state.path());
    let error = journal(&dir)
        .into_iter()
        .find_map(|e| match e.event {
            Event::ActionFinished { ok: false, error, .. } => error,
            _ => None,
        })
        .expect("the fence step failed");
    assert!(error.contains("the fence does not hold on sessions") && error.contains("moto"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(120), "within the grace, not the step's timeout");
    assert_eq!(write(&url, "still-open"), Ok(()), "bare moto still takes writes: the step was right to fail");
}

/// What the fence leaves, read straight from moto: recovery's instances' states, and the table's
/// policy statements.
fn fenced_world(url: &str) -> (Vec<String>, Result<Vec<String>, String>) {
    let mut states = recovery_states(url);
    states.sort();
    (states, policy(url))
}

/// Catches a fence that, resumed after a kill at any journal entry, stops an instance twice,
/// puts its statement twice (or over a policy it read before its own put), or ends anywhere but
/// where an uninterrupted fence does.
#[test]
fn a_kill_after_any_journal_entry_of_the_fence_resumes_to_the_same_end_state() {
    let parts = [Part::Ec2, Part::Dynamodb];
    let killed = kill_at_every_point_under_aws_rules(&parts, &[FIXTURE], 2, Kill::AfterEveryEntry, fenced_world);
    assert!(killed.run >= 8, "{killed:?}");
}

/// Catches a fence that, killed with a mutating call sent and unanswered, repeats it blindly
/// (a second stop is harmless; a second put over the lagging read is refused by its revision).
#[test]
fn a_kill_before_any_answer_of_the_fence_resumes_to_the_same_end_state() {
    let parts = [Part::Ec2, Part::Dynamodb];
    let killed = kill_at_every_point_under_aws_rules(&parts, &[FIXTURE], 2, Kill::BeforeEveryAnswer, fenced_world);
    assert!(killed.run >= 3, "{killed:?}");
}

/// Catches a fence that waits forever on a recovery instance stuck in `stopping` (AWS's advice:
/// force the stop), or forces it without saying what an unflushed file system means.
#[test]
fn a_recovery_instance_stuck_stopping_is_forced_and_the_fence_holds() {
    let (moto, url) = seeded_moto();
    let hang = FaultSpec {
        operation: Some("ec2.StopInstances".into()),
        resource: Some("us-west-2".into()),
        ..FaultSpec::of(FaultKind::HangStopping)
    };
    let proxy = RealismProxy::with_faults(moto.port, &[hang]);
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let notes = action_notes(state.path());
    assert!(notes.iter().any(|n| n.contains("forcing the stop") && n.contains("snapshotted next")), "{notes:?}");
    assert!(recovery_states(&url).iter().all(|s| s == "stopped"));
}

/// Catches a fence that sends a policy DynamoDB refuses for its size (20 KB, whitespace counted;
/// bare moto takes any size, the layer refuses it), instead of saying so before anything is sent.
#[test]
fn a_fence_that_would_take_the_policy_over_20_kb_says_so_and_sends_nothing() {
    let (moto, url) = seeded_moto();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let layer = proxy.endpoint_url();
    let statement = |i: usize| {
        json!({ "Sid": format!("Reader{i}"), "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::123456789012:root" },
            "Action": "dynamodb:GetItem", "Resource": TABLE })
    };
    let sized = |n: usize| json!({ "Version": "2012-10-17", "Statement": (0..n).map(statement).collect::<Vec<_>>() });
    let over = sized(200);
    assert!(over.to_string().len() > 20 * 1024);
    let refused = block_on(ddb(&layer).put_resource_policy().resource_arn(TABLE).policy(over.to_string()).send());
    assert_eq!(refused.map_err(|e| e.code().unwrap_or("?").to_string()).err().as_deref(), Some("ValidationException"));
    block_on(ddb(&url).put_resource_policy().resource_arn(TABLE).policy(over.to_string()).send())
        .expect("bare moto takes any size");
    block_on(ddb(&url).delete_resource_policy().resource_arn(TABLE).send()).unwrap();

    // The table's own policy just under the limit: the fence's statement would take it over.
    let n = (1..200).take_while(|n| sized(*n).to_string().len() <= 20 * 1024 - 100).last().unwrap();
    put_policy(&layer, &sized(n));
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", &layer]);
    let out = run(cmd);
    assert_ne!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("the fence cannot deny writes on sessions") && stdout.contains("20480-byte"), "{stdout}");
    let (_, dir) = only_run(state.path());
    let puts = journal(&dir)
        .iter()
        .filter(|e| matches!(&e.event, Event::AwsCall { operation, .. } if operation == "PutResourcePolicy"))
        .count();
    assert_eq!(puts, 0, "nothing sent");
    assert_eq!(policy(&url).map(|s| s.len()), Ok(n), "the table's own policy as it was");
}

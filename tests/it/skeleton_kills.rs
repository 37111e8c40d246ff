//! The walking skeleton killed at every point and resumed: after each journal entry (a kill
//! after `sending` and before the call, during a stack wait, between Route 53's `upsert_sent` and
//! `change_id`), and after each mutating call was answered but before the journal heard of it.
//! Every resume reaches the end state of an uninterrupted run: one stack created and removed,
//! one DNS value. So does a run that loses the answer to each of its mutating calls.

use super::support::{Kill, block_on, kill_at_every_point, sdk};
use pilotlight::sandbox::seed::Part;

const ARGS: [&str; 1] = ["tests/fixtures/skeleton.yaml"];
const PARTS: [Part; 2] = [Part::Ec2, Part::Dns];

/// What the skeleton leaves behind, read with describe calls of its own.
#[derive(Debug, PartialEq)]
struct EndState {
    /// Every stack of that name ever created (deleted ones included), with its status.
    stacks: Vec<String>,
    /// The record's values.
    dns: Vec<String>,
}

fn end_state(url: &str) -> EndState {
    let config = sdk(url, "us-east-1");
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let r53 = aws_sdk_route53::Client::new(&config);
    block_on(async {
        let listed = cfn.list_stacks().send().await.expect("ListStacks");
        let stacks = listed
            .stack_summaries()
            .iter()
            .filter(|s| s.stack_name() == Some("skeleton-permissions"))
            .map(|s| s.stack_status().map(|x| x.as_str().to_string()).unwrap_or_default())
            .collect();
        let zones = r53.list_hosted_zones_by_name().dns_name("example.internal.").send().await.expect("zones");
        let zone =
            zones.hosted_zones().iter().find(|z| z.name() == "example.internal.").expect("zone").id().to_string();
        let sets = r53.list_resource_record_sets().hosted_zone_id(zone).send().await.expect("records");
        let dns = sets
            .resource_record_sets()
            .iter()
            .filter(|r| r.name() == "app.example.internal." && r.r#type().as_str() == "A")
            .flat_map(|r| r.resource_records().iter().map(|v| v.value().to_string()))
            .collect();
        EndState { stacks, dns }
    })
}

#[test]
fn a_kill_after_any_journal_entry_of_the_skeleton_resumes_to_the_same_end_state() {
    let points = kill_at_every_point(&PARTS, &ARGS, 2, Kill::AfterEveryEntry, end_state).points;
    assert!(points > 40, "the skeleton journals its calls and sub-steps ({points} kill points)");
    eprintln!("skeleton: {points} journal entries; killed and resumed after one of each class");
}

#[test]
fn a_kill_after_any_mutating_call_of_the_skeleton_was_answered_resumes_to_the_same_end_state() {
    let points = kill_at_every_point(&PARTS, &ARGS, 2, Kill::BeforeEveryAnswer, end_state).run;
    // CreateStack, ChangeResourceRecordSets, DeleteStack.
    assert!(points >= 3, "one kill point per mutating call ({points})");
    eprintln!("skeleton: killed after each of {points} mutating calls was answered, then resumed");
}

#[test]
fn a_lost_answer_to_any_mutating_call_of_the_skeleton_makes_nothing_twice() {
    let ops = super::lost_answers::lose_each_answer(&PARTS, &ARGS, 2, end_state);
    assert_eq!(ops, ["CreateStack", "ChangeResourceRecordSets", "DeleteStack"]);
}

#[test]
fn an_internal_error_answer_to_any_mutating_call_of_the_skeleton_makes_nothing_twice() {
    let fault = super::realism::Fault::InternalError;
    let ops = super::lost_answers::spoil_each_answer(&PARTS, &ARGS, 2, fault, end_state);
    assert_eq!(ops, ["CreateStack", "ChangeResourceRecordSets", "DeleteStack"]);
}

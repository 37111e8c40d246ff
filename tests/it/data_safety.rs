//! Nothing that holds data is deleted without a retained copy: `cloudformation.delete` refuses a
//! stack whose data-holding resources would be destroyed, `cloudformation.deploy` refuses an
//! update that drops one, and a stack whose data is retained is deleted with the data kept.

use super::support::{block_on, moto, pilotlight, run, sdk, state_dir};
use std::path::Path;
use std::process::Output;

fn template(table: &str, policy: &str) -> String {
    [
        "AWSTemplateFormatVersion: \"2010-09-09\"",
        "Resources:",
        "  Orders:",
        "    Type: AWS::DynamoDB::Table",
        policy,
        "    Properties:",
        &format!("      TableName: {table}"),
        "      BillingMode: PAY_PER_REQUEST",
        "      AttributeDefinitions: [{ AttributeName: pk, AttributeType: S }]",
        "      KeySchema: [{ AttributeName: pk, KeyType: HASH }]",
    ]
    .iter()
    .filter(|l| !l.is_empty())
    .map(|l| format!("{l}\n"))
    .collect()
}

/// Deploys `body` as `stack`, then (unless `delete` is false) deletes it, in one headless run.
fn deploy_and_delete(state: &Path, url: &str, stack: &str, body: &str, delete: bool) -> Output {
    std::fs::write(state.join(format!("{stack}.yaml")), body).unwrap();
    let mut rb = format!(
        "version: 1\nname: data-safety\ntitle: data safety\nenvironments:\n  primary: {{ region: us-east-1 }}\n  recovery: {{ region: us-west-2 }}\n\
steps:\n  - id: deploy\n    title: deploy\n    action: cloudformation.deploy\n    with: {{ stack_name: {stack}, template: {stack}.yaml }}\n"
    );
    if delete {
        rb.push_str(&format!("  - id: delete\n    title: delete\n    action: cloudformation.delete\n    with: {{ stack_name: {stack} }}\n"));
    }
    let path = state.join(format!("{stack}-runbook.yaml"));
    std::fs::write(&path, rb).unwrap();
    // Each run is its own operator session (a refused run stays unfinished, and a second run of
    // the same runbook against the same environments would be refused in the same state).
    let session = state_dir();
    let mut cmd = pilotlight(session.path());
    cmd.args(["run", path.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", url]);
    run(cmd)
}

fn table_exists(url: &str, table: &str) -> bool {
    let client = aws_sdk_dynamodb::Client::new(&sdk(url, "us-east-1"));
    block_on(client.describe_table().table_name(table).send()).is_ok()
}

fn stack_exists(url: &str, stack: &str) -> bool {
    let client = aws_sdk_cloudformation::Client::new(&sdk(url, "us-east-1"));
    block_on(client.describe_stacks().stack_name(stack).send()).is_ok_and(|o| !o.stacks().is_empty())
}

#[test]
fn a_stack_holding_data_is_only_deleted_when_the_data_is_retained() {
    let moto = moto();
    let url = moto.endpoint_url();
    let state = state_dir();

    // No DeletionPolicy, and Snapshot (which keeps no copy of a DynamoDB table): refused.
    for (stack, policy) in [("plain", ""), ("snapshot", "    DeletionPolicy: Snapshot")] {
        let out = deploy_and_delete(state.path(), &url, stack, &template(&format!("{stack}-orders"), policy), true);
        assert_eq!(out.status.code(), Some(1), "{stack}: the delete step is refused");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("refusing to delete stack {stack}")), "{stdout}");
        assert!(stdout.contains("AWS::DynamoDB::Table Orders"), "the refusal names the resource: {stdout}");
        assert!(stack_exists(&url, stack) && table_exists(&url, &format!("{stack}-orders")), "nothing was deleted");
    }

    // Retain: the stack goes, the table stays.
    let out =
        deploy_and_delete(state.path(), &url, "kept", &template("kept-orders", "    DeletionPolicy: Retain"), true);
    assert_eq!(out.status.code(), Some(0), "with the table retained, the stack is deleted");
    assert!(!stack_exists(&url, "kept"), "the stack is gone");
    assert!(table_exists(&url, "kept-orders"), "the retained table is still there");
}

#[test]
fn an_update_that_drops_a_table_is_refused() {
    let moto = moto();
    let url = moto.endpoint_url();
    let state = state_dir();
    let out = deploy_and_delete(state.path(), &url, "app", &template("app-orders", ""), false);
    assert_eq!(out.status.code(), Some(0));
    let without_table = "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n";
    let out = deploy_and_delete(state.path(), &url, "app", without_table, false);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("refusing to update stack app") && stdout.contains("AWS::DynamoDB::Table Orders"),
        "{stdout}"
    );
    assert!(table_exists(&url, "app-orders"), "the table is still there");
    // An update that keeps the table goes ahead. (After an update moto forgets a stack's
    // resources, which the guards then treat as unknown, so this comes last.)
    let out =
        deploy_and_delete(state.path(), &url, "app", &template("app-orders", "    DeletionPolicy: Retain"), false);
    assert_eq!(out.status.code(), Some(0), "an update that keeps the table is allowed");
}

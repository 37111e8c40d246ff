//! Nothing that holds data is deleted without a retained copy: `cloudformation.delete` refuses a
//! stack whose data-holding resources would be destroyed, and deletes it once they are retained.

use super::support::{block_on, moto, pilotlight, run, sdk, state_dir};

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
POLICY    Properties:
      TableName: stack-orders
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{ AttributeName: pk, AttributeType: S }]
      KeySchema: [{ AttributeName: pk, KeyType: HASH }]
"#;

const RUNBOOK: &str = r#"version: 1
name: data-safety
title: deploy and delete a stack that holds a table
environments:
  primary: { region: us-east-1 }
  recovery: { region: us-west-2 }
steps:
  - id: deploy
    title: deploy
    action: cloudformation.deploy
    with: { stack_name: data-stack, template: stack.yaml }
  - id: delete
    title: delete
    action: cloudformation.delete
    with: { stack_name: data-stack }
"#;

fn table_exists(url: &str) -> bool {
    let client = aws_sdk_dynamodb::Client::new(&sdk(url, "us-east-1"));
    block_on(client.describe_table().table_name("stack-orders").send()).is_ok()
}

fn stack_exists(url: &str) -> bool {
    let client = aws_sdk_cloudformation::Client::new(&sdk(url, "us-east-1"));
    block_on(client.describe_stacks().stack_name("data-stack").send()).is_ok_and(|o| !o.stacks().is_empty())
}

#[test]
fn a_stack_holding_data_is_only_deleted_when_the_data_is_retained() {
    let moto = moto();
    let url = moto.endpoint_url();
    let state = state_dir();
    let rb = state.path().join("rb.yaml");
    std::fs::write(&rb, RUNBOOK).unwrap();
    let template = state.path().join("stack.yaml");
    let go = || {
        let mut cmd = pilotlight(state.path());
        cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", &url]);
        run(cmd)
    };

    std::fs::write(&template, TEMPLATE.replace("POLICY", "")).unwrap();
    let out = go();
    assert_eq!(out.status.code(), Some(1), "the delete step is refused");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("refusing to delete stack data-stack"), "{stdout}");
    assert!(stdout.contains("AWS::DynamoDB::Table Orders"), "the refusal names the resource: {stdout}");
    assert!(stack_exists(&url) && table_exists(&url), "nothing was deleted");

    std::fs::write(&template, TEMPLATE.replace("POLICY", "    DeletionPolicy: Retain\n")).unwrap();
    let out = go();
    assert_eq!(out.status.code(), Some(0), "with the table retained, the stack is deleted");
    assert!(!stack_exists(&url), "the stack is gone");
    assert!(table_exists(&url), "the retained table is still there");
}

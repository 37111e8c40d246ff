//! The failback permissions stack grants exactly what the tool can send, and that is enough:
//! under moto's IAM enforcement a failback acting only through the stack's role succeeds, and a
//! role missing one permission fails with an error naming the API and the missing action.

use super::support::{block_on, pilotlight, repo, run, sdk, state_dir};
use pilotlight::sandbox::moto_api;
use pilotlight::sandbox::seed::{Part, seed_parts};
use std::collections::BTreeSet;

const TEMPLATE: &str = "assets/failback-permissions.yaml";
const FIXTURE: &str = "tests/fixtures/permissions-failback.yaml";

/// The IAM actions the template's policy allows (`service:Operation` list items).
fn template_actions(text: &str) -> BTreeSet<String> {
    let item = regex::Regex::new(r"^\s*- ([a-z0-9]+:[A-Za-z0-9]+)\s*$").unwrap();
    text.lines().filter_map(|l| item.captures(l).map(|c| c[1].to_string())).collect()
}

#[test]
fn the_template_grants_exactly_the_operations_the_tool_can_send() {
    let text = std::fs::read_to_string(repo().join(TEMPLATE)).unwrap();
    let granted = template_actions(&text);
    let sendable: BTreeSet<String> = pilotlight::aws::ops::READS
        .iter()
        .chain(pilotlight::aws::ops::WRITES)
        .flat_map(|list| list.iter())
        // The responder installs and deletes the stack itself; the role never needs CloudFormation.
        .filter(|(service, _)| *service != "cloudformation")
        .map(|(service, op)| format!("{service}:{op}"))
        .collect();
    // S3 and CloudWatch Logs are not called by the tool: DynamoDB's export and import act on
    // the caller's behalf (writing and reading the staging bucket, logging the import). RDS
    // checks iam:PassRole for the roles a restored instance is given again.
    let on_behalf = |a: &&String| a.starts_with("s3:") || a.starts_with("logs:") || *a == "iam:PassRole";
    let missing: Vec<&String> = sendable.difference(&granted).collect();
    let extra: Vec<&String> = granted.difference(&sendable).filter(|a| !on_behalf(a)).collect();
    assert!(granted.iter().filter(on_behalf).count() >= 5, "the export and import permissions are granted");
    assert!(missing.is_empty() && extra.is_empty(), "not granted: {missing:?}; granted but never sent: {extra:?}");
    for never in ["ec2:TerminateInstances", "ec2:DeleteVolume", "rds:DeleteDBCluster", "rds:DeleteDBSnapshot"] {
        assert!(!granted.contains(never), "{never} must not be granted");
    }
}

/// A responder user (with only sts:AssumeRole) and its keys, made through CloudFormation.
const RESPONDER: &str = r#"
Resources:
  Responder:
    Type: AWS::IAM::User
    Properties: { UserName: responder }
  AssumePolicy:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: assume-any-role
      Users: [!Ref Responder]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - { Effect: Allow, Action: "sts:AssumeRole", Resource: "*" }
  Key:
    Type: AWS::IAM::AccessKey
    Properties: { UserName: !Ref Responder }
Outputs:
  Arn: { Value: !GetAtt Responder.Arn }
  KeyId: { Value: !Ref Key }
  Secret: { Value: !GetAtt Key.SecretAccessKey }
"#;

struct World {
    key_id: String,
    secret: String,
    role_arn: String,
}

/// Seeds a fresh world, makes the responder and installs the permissions stack (without
/// `drop`, if given), then turns IAM enforcement on.
fn world(port: u16, url: &str, drop: Option<&str>) -> World {
    moto_api::request(port, "POST", "/moto-api/reset-auth", "inf").unwrap();
    moto_api::reset(port).unwrap();
    block_on(seed_parts(url, &[Part::Ec2, Part::Rds, Part::Aurora, Part::Dynamodb, Part::StagingBucket])).unwrap();
    let cfn = aws_sdk_cloudformation::Client::new(&sdk(url, "us-east-1"));
    let outputs = |stack: &'static str| {
        let cfn = cfn.clone();
        async move {
            let out = cfn.describe_stacks().stack_name(stack).send().await.unwrap();
            let outs = out.stacks()[0].outputs().to_vec();
            move |key: &str| {
                outs.iter().find(|o| o.output_key() == Some(key)).and_then(|o| o.output_value()).unwrap().to_string()
            }
        }
    };
    let mut template = std::fs::read_to_string(repo().join(TEMPLATE)).unwrap();
    if let Some(action) = drop {
        let line = format!("              - {action}\n");
        assert!(template.contains(&line), "{action} is in the template");
        template = template.replace(&line, "");
    }
    block_on(async {
        use aws_sdk_cloudformation::types::{Capability, Parameter};
        cfn.create_stack()
            .stack_name("responder")
            .template_body(RESPONDER)
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .unwrap();
        let responder = outputs("responder").await;
        cfn.create_stack()
            .stack_name("pilotlight-failback-permissions")
            .template_body(template)
            .parameters(
                Parameter::builder().parameter_key("TrustedPrincipalArn").parameter_value(responder("Arn")).build(),
            )
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .unwrap();
        let stack = outputs("pilotlight-failback-permissions").await;
        let (status, _) = moto_api::request(port, "POST", "/moto-api/reset-auth", "0").unwrap();
        assert_eq!(status, 200, "IAM enforcement on");
        World { key_id: responder("KeyId"), secret: responder("Secret"), role_arn: stack("RoleArn") }
    })
}

fn failback(w: &World, url: &str) -> std::process::Output {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", url])
        .args(["--var", &format!("role_arn={}", w.role_arn)])
        .env("AWS_ACCESS_KEY_ID", &w.key_id)
        .env("AWS_SECRET_ACCESS_KEY", &w.secret);
    run(cmd)
}

#[test]
fn under_iam_enforcement_the_role_alone_fails_back_and_one_missing_permission_is_named() {
    let moto = super::support::moto();
    let url = moto.endpoint_url();

    // The responder's own keys can do nothing but assume the role.
    let w = world(moto.port, &url, None);
    let out = failback(&w, &url);
    assert_eq!(out.status.code(), Some(0), "the failback succeeds through the role alone");
    moto_api::request(moto.port, "POST", "/moto-api/reset-auth", "inf").unwrap();
    let rds = aws_sdk_rds::Client::new(&sdk(&url, "us-east-1"));
    let restored = block_on(rds.describe_db_instances().db_instance_identifier("orders-db").send()).unwrap();
    let tags = restored.db_instances()[0].tag_list().to_vec();
    assert!(
        tags.iter().any(|t| t.key() == Some("pilotlight:stage") && t.value() == Some("restored")),
        "orders-db was restored by the failback"
    );

    // The same role without one permission: the failback stops at that call and says which.
    let w = world(moto.port, &url, Some("rds:RestoreDBInstanceFromDBSnapshot"));
    let out = failback(&w, &url);
    moto_api::request(moto.port, "POST", "/moto-api/reset-auth", "inf").unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.contains("RestoreDBInstanceFromDBSnapshot")
            && l.contains("AccessDenied")
            && l.contains("rds:RestoreDBInstanceFromDBSnapshot")),
        "the error names the API and the missing action:\n{stdout}"
    );
}

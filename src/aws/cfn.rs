//! CloudFormation reads shared by the deploy/delete actions and the status poller.

use super::{ActionError, Call, CallLog, call};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::Stack;

/// The stack, or `None` when CloudFormation says it does not exist (deleted stacks are not
/// returned by name).
pub async fn describe_stack(
    client: &Client,
    log: &dyn CallLog,
    name: &str,
    region: &str,
) -> Result<Option<Stack>, ActionError> {
    let c = Call { service: "cloudformation", operation: "DescribeStacks", target: name, region, mutating: false };
    match call(log, &c, client.describe_stacks().stack_name(name).send()).await? {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(e) => {
            let text = super::error_text(&e);
            if text.contains("does not exist") { Ok(None) } else { Err(c.error(text)) }
        }
    }
}

/// The stack status as text.
pub fn status(stack: &Stack) -> String {
    stack.stack_status().map(|s| s.as_str().to_string()).unwrap_or_else(|| "UNKNOWN".into())
}

/// Why a stack operation failed: the first failed resource event with a reason, else the stack's
/// own status reason. Operators need this, not just "ROLLBACK_COMPLETE".
pub async fn failure_reason(client: &Client, log: &dyn CallLog, name: &str, region: &str) -> String {
    let c = Call { service: "cloudformation", operation: "DescribeStackEvents", target: name, region, mutating: false };
    let Ok(Ok(out)) = call(log, &c, client.describe_stack_events().stack_name(name).send()).await else {
        return "no reason available (DescribeStackEvents failed)".into();
    };
    // Events come newest first; the root cause is the oldest failure.
    let failed = out.stack_events().iter().rev().find(|e| {
        e.resource_status().is_some_and(|s| s.as_str().ends_with("_FAILED")) && e.resource_status_reason().is_some()
    });
    if let Some(e) = failed {
        return format!(
            "{} {}: {}",
            e.logical_resource_id().unwrap_or("?"),
            e.resource_status().map(|s| s.as_str()).unwrap_or("?"),
            e.resource_status_reason().unwrap_or("")
        );
    }
    out.stack_events()
        .iter()
        .find_map(|e| e.resource_status_reason().map(str::to_string))
        .unwrap_or_else(|| "no reason given by CloudFormation".into())
}

/// True for states CloudFormation will not leave by itself.
pub fn is_terminal(status: &str) -> bool {
    // REVIEW_IN_PROGRESS (a change set awaiting review) only moves when someone executes it.
    status == "REVIEW_IN_PROGRESS" || !status.ends_with("_IN_PROGRESS")
}

/// Resource types that hold data: deleting one without a retained copy loses it.
const DATA_HOLDING: &[&str] = &[
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::EC2::Volume",
    "AWS::EC2::Instance",
    "AWS::S3::Bucket",
    "AWS::EFS::FileSystem",
    "AWS::FSx::FileSystem",
    "AWS::ElastiCache::CacheCluster",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::Redshift::Cluster",
    "AWS::Neptune::DBCluster",
    "AWS::DocDB::DBCluster",
    "AWS::Kinesis::Stream",
    "AWS::SQS::Queue",
];

/// Data-holding resources a stack deletion would destroy: those whose template gives no
/// `DeletionPolicy` of `Retain`, `RetainExceptOnCreate` or `Snapshot` (each of which keeps a copy).
pub async fn unretained_data_resources(
    client: &Client,
    log: &dyn CallLog,
    name: &str,
    region: &str,
) -> Result<Vec<String>, ActionError> {
    let mut held = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let c =
            Call { service: "cloudformation", operation: "ListStackResources", target: name, region, mutating: false };
        let out = call(log, &c, client.list_stack_resources().stack_name(name).set_next_token(token.clone()).send())
            .await?
            .map_err(|e| c.error(super::error_text(&e)))?;
        for r in out.stack_resource_summaries() {
            let kind = r.resource_type().unwrap_or_default();
            if DATA_HOLDING.contains(&kind) {
                let logical = r.logical_resource_id().unwrap_or_default().to_string();
                held.push((logical, kind.to_string(), r.physical_resource_id().unwrap_or("?").to_string()));
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let c = Call { service: "cloudformation", operation: "GetTemplate", target: name, region, mutating: false };
    let out = call(log, &c, client.get_template().stack_name(name).send())
        .await?
        .map_err(|e| c.error(super::error_text(&e)))?;
    // JSON is YAML, and the YAML reader ignores CloudFormation's short-form tags (`!Ref`).
    let template = crate::runbook::yaml_tree::parse(out.template_body().unwrap_or_default())
        .map(|(tree, _)| tree.to_json())
        .unwrap_or_default();
    Ok(held
        .into_iter()
        .filter(|(logical, _, _)| {
            let policy = template.pointer(&format!("/Resources/{logical}/DeletionPolicy")).and_then(|v| v.as_str());
            !matches!(policy, Some("Retain" | "RetainExceptOnCreate" | "Snapshot"))
        })
        .map(|(logical, kind, physical)| format!("{kind} {logical} ({physical})"))
        .collect())
}

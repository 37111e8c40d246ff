//! CloudFormation reads shared by the deploy/delete actions and the status poller.

use super::{ActionError, CallLog, at, read};
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
    match read(log, at(name, region), client.describe_stacks().stack_name(name)).await? {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(e) if e.text().contains("does not exist") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The stack status as text.
pub fn status(stack: &Stack) -> String {
    stack.stack_status().map(|s| s.as_str().to_string()).unwrap_or_else(|| "UNKNOWN".into())
}

/// Why a stack operation failed: the first failed resource event with a reason, else the stack's
/// own status reason. Operators need this, not just "ROLLBACK_COMPLETE".
pub async fn failure_reason(client: &Client, log: &dyn CallLog, name: &str, region: &str) -> String {
    let req = client.describe_stack_events().stack_name(name);
    let Ok(Ok(out)) = read(log, at(name, region), req).await else {
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

/// Resource types that hold data: deleting one without a retained copy loses it. A nested stack
/// counts, since its own resources may hold data.
const DATA_HOLDING: &[&str] = &[
    "AWS::CloudFormation::Stack",
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

/// The types for which `DeletionPolicy: Snapshot` keeps a copy (CloudFormation ignores it, and
/// deletes, for the others).
const SNAPSHOT_KEEPS_COPY: &[&str] = &[
    "AWS::EC2::Volume",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::ElastiCache::CacheCluster",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::Redshift::Cluster",
    "AWS::Neptune::DBCluster",
    "AWS::DocDB::DBCluster",
];

/// A data-holding resource of a stack.
#[derive(Debug, Clone)]
pub struct DataResource {
    pub logical: String,
    pub kind: String,
    pub physical: String,
}

impl std::fmt::Display for DataResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.logical.is_empty() {
            return write!(f, "{} that CloudFormation does not name", self.kind);
        }
        write!(f, "{} {} ({})", self.kind, self.logical, self.physical)
    }
}

/// A template as JSON. JSON is YAML, and the YAML reader ignores CloudFormation's short-form
/// tags (`!Ref`), which is all that is needed to read `Resources`.
pub fn parse_template(body: &str) -> serde_json::Value {
    crate::runbook::yaml_tree::parse(body).map(|(tree, _)| tree.to_json()).unwrap_or_default()
}

/// True when deleting `r` leaves a copy behind, by its `DeletionPolicy` in `template`.
pub fn keeps_copy(template: &serde_json::Value, r: &DataResource) -> bool {
    let policy = template.pointer(&format!("/Resources/{}/DeletionPolicy", r.logical)).and_then(|v| v.as_str());
    match policy {
        Some("Retain" | "RetainExceptOnCreate") => true,
        Some("Snapshot") => SNAPSHOT_KEEPS_COPY.contains(&r.kind.as_str()),
        _ => false,
    }
}

/// The stack's data-holding resources.
pub async fn data_resources(
    client: &Client,
    log: &dyn CallLog,
    name: &str,
    region: &str,
) -> Result<Vec<DataResource>, ActionError> {
    let mut held = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let req = client.list_stack_resources().stack_name(name).set_next_token(token.clone());
        let out = read(log, at(name, region), req).await??;
        for r in out.stack_resource_summaries() {
            // Already gone (a stack whose delete failed part-way): nothing left to lose.
            if r.resource_status().is_some_and(|s| s.as_str() == "DELETE_COMPLETE") {
                continue;
            }
            let kind = r.resource_type().unwrap_or_default();
            // A resource CloudFormation does not name cannot be proven harmless: count it.
            // (AWS always names them; moto forgets them after an update.)
            if kind.is_empty() || DATA_HOLDING.contains(&kind) {
                held.push(DataResource {
                    logical: r.logical_resource_id().unwrap_or_default().to_string(),
                    kind: if kind.is_empty() { "(a resource of unknown type)".into() } else { kind.to_string() },
                    physical: r.physical_resource_id().unwrap_or("?").to_string(),
                });
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(held);
        }
    }
}

/// The template text the stack was last deployed with.
pub async fn deployed_body(
    client: &Client,
    log: &dyn CallLog,
    name: &str,
    region: &str,
) -> Result<String, ActionError> {
    let out = read(log, at(name, region), client.get_template().stack_name(name)).await??;
    Ok(out.template_body().unwrap_or_default().to_string())
}

/// Data-holding resources a stack deletion would destroy without a copy.
pub async fn unretained_data_resources(
    client: &Client,
    log: &dyn CallLog,
    name: &str,
    region: &str,
) -> Result<Vec<DataResource>, ActionError> {
    let held = data_resources(client, log, name, region).await?;
    if held.is_empty() {
        return Ok(held);
    }
    let template = parse_template(&deployed_body(client, log, name, region).await?);
    Ok(held.into_iter().filter(|r| !keeps_copy(&template, r)).collect())
}

/// Data-holding resources an update from `old_template` (the deployed text) to `new_template`
/// would delete without a copy: those the new template drops or gives another type.
/// (Replacements caused by property changes are only visible through a change set, which this
/// does not create.)
pub async fn data_dropped_by_update(
    client: &Client,
    log: &dyn CallLog,
    name: &str,
    region: &str,
    old_template: &str,
    new_template: &str,
) -> Result<Vec<DataResource>, ActionError> {
    let held = data_resources(client, log, name, region).await?;
    if held.is_empty() {
        return Ok(held);
    }
    let old = parse_template(old_template);
    let new = parse_template(new_template);
    Ok(held
        .into_iter()
        .filter(|r| {
            let type_in = |t: &serde_json::Value| {
                if r.logical.is_empty() {
                    return None; // unnamed: cannot be matched, so it counts as dropped
                }
                t.pointer(&format!("/Resources/{}/Type", r.logical)).and_then(|v| v.as_str()).map(str::to_string)
            };
            // The type CloudFormation reported, or (when it did not say) the deployed template's.
            let old_type = if DATA_HOLDING.contains(&r.kind.as_str()) { Some(r.kind.clone()) } else { type_in(&old) };
            let dropped = match (type_in(&new), old_type) {
                (Some(new_type), Some(old_type)) => new_type != old_type,
                _ => true,
            };
            dropped && !keeps_copy(&old, r)
        })
        .collect())
}

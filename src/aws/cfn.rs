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

//! `pilotlight undo RUN_ID`: one failback step undone, resource by resource, from what its
//! sub-steps journaled (what `read` recorded before anything changed, what the restore made).
//! Each resource type's own module says how ([`super::ec2::undo`], [`super::rds::undo`],
//! [`super::rds::aurora::undo`], [`super::dynamodb::undo`]); here, which one, for which
//! resources, how many at once. A resource whose failback never restored anything (it failed
//! and rolled back, or was never reached) is left alone and says so.

use super::{dynamodb, each_resource, ec2, rds};
use crate::actions::{ActionCx, Outputs};
use crate::aws::ActionError;
use serde_json::Value;

pub use crate::runbook::model::UNDOABLE_ACTIONS as UNDOABLE;

/// Where each failback's point of no return begins: its first sub-step that changes primary's
/// resource (`aurora`: the first of these the run reached; `dynamodb`: the delete of an import,
/// the sync of an in-place failback). After a rollback, that sub-step and every later one of
/// the resource are reset so a retry does them again; the recorded configuration, the recovery
/// point and its copy (and DynamoDB's safety backup) are kept and used again.
pub fn point_of_no_return(action: &str) -> &'static [&'static str] {
    match action {
        "rds.failback" => &["keep-primary"],
        "aurora.failback" => &["remove-custom-endpoints", "protection-off"],
        "ec2.failback" => &["enter-standby", "suspend-replacement", "stop-primary"],
        "dynamodb.failback" => &["delete-primary", "sync"],
        // Lifted: the stop and the policy are put up again on a retry (what `read` found is kept).
        "recovery.fence" => &["wait-stoppable", "policy"],
        _ => &[],
    }
}

/// The resources a journaled failback step named (`resource`, then `resources`).
fn names(params: &Value) -> Vec<String> {
    let one = params.get("resource").and_then(Value::as_str).map(str::to_string);
    let many = params.get("resources").and_then(Value::as_array).into_iter().flatten();
    one.into_iter().chain(many.filter_map(|v| v.as_str().map(str::to_string))).collect()
}

/// Undoes the failback step `cx.step` ran as `action` with `params` (as its last attempt
/// rendered them): outputs `resources` (per resource: `undone`, `put_back`, `retained`) and
/// `retained` (the failed-back copies, kept aside).
pub async fn undo_step(cx: &ActionCx<'_>, action: &str, params: &Value) -> Result<Outputs, ActionError> {
    if action == "recovery.fence" {
        return super::fence::lift::lift(cx, params).await;
    }
    let names = names(params);
    let limit = params.get("max_parallel").and_then(Value::as_u64).map_or(cx.max_parallel, |n| n as usize);
    let config = cx.envs.config("primary", cx.log).await?;
    match action {
        "ec2.failback" => {
            let (primary, autoscaling) = (aws_sdk_ec2::Client::new(&config), aws_sdk_autoscaling::Client::new(&config));
            each_resource(&names, limit, |name| {
                let (primary, autoscaling) = (&primary, &autoscaling);
                async move { ec2::undo::undo(cx, &name, primary, autoscaling).await }
            })
            .await
        }
        "rds.failback" => {
            let primary = aws_sdk_rds::Client::new(&config);
            each_resource(&names, limit, |name| {
                let primary = &primary;
                async move { rds::undo::instance(cx, &name, primary).await }
            })
            .await
        }
        "aurora.failback" => {
            let primary = aws_sdk_rds::Client::new(&config);
            each_resource(&names, limit, |name| {
                let primary = &primary;
                async move { rds::aurora::undo::undo(cx, &name, primary).await }
            })
            .await
        }
        "dynamodb.failback" => {
            let primary = aws_sdk_dynamodb::Client::new(&config);
            each_resource(&names, limit, |name| {
                let primary = &primary;
                async move { dynamodb::undo::undo(cx, &name, primary).await }
            })
            .await
        }
        other => Err(ActionError::Failed(format!("{other} has no undo (only {})", UNDOABLE.join(", ")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_come_from_resource_then_resources() {
        assert_eq!(names(&json!({ "resource": "a", "resources": ["b", "c"] })), ["a", "b", "c"]);
        assert_eq!(names(&json!({ "resources": ["b"] })), ["b"]);
        assert!(names(&json!({})).is_empty());
    }
}

//! The fence on a recovery DynamoDB table: a resource-based policy statement denying every
//! principal its writes ([`super::FENCE_SID`]), merged into the policy the table had, proved by
//! GetResourcePolicy answering the new revision and a probe write being refused.

use super::FENCE_SID;
use crate::actions::{ActionCx, Poll};
use crate::aws::{ActionError, CallLog, at, mutate, read};
use crate::journal::SubId;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The writes the fence denies: every way an item is written (PartiQL's too).
pub const DENIED: &[&str] = &[
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
];

/// The largest resource-based policy DynamoDB takes, whitespace counted (PutResourcePolicy,
/// `Policy`: "The maximum size supported for a resource-based policy document is 20 KB").
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// How many times the fence reads a table's policy and puts its own over it when the put finds
/// the policy changed since the read (GetResourcePolicy lags a put by a few seconds).
const POLICY_READS: u32 = 6;

/// A table's resource-based policy and its revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub document: String,
    pub revision: String,
}

/// What the fence's `read` of a table recorded: its ARN, its key (for the probe) and the policy
/// it had before the fence (put back when the fence is lifted).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableRead {
    pub arn: String,
    /// (attribute, type: S, N or B) of each key attribute.
    pub key: Vec<(String, String)>,
    pub policy_before: Option<Policy>,
}

/// The table's policy now, `None` when it has none.
pub async fn policy(log: &dyn CallLog, ddb: &Client, region: &str, arn: &str) -> Result<Option<Policy>, ActionError> {
    match read(log, at(arn, region), ddb.get_resource_policy().resource_arn(arn)).await? {
        Ok(out) => Ok(Some(Policy {
            document: out.policy().unwrap_or_default().to_string(),
            revision: out.revision_id().unwrap_or_default().to_string(),
        })),
        Err(f) if f.is_not_found() => Ok(None),
        Err(f) => Err(f.into()),
    }
}

fn statements(document: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(document).ok().and_then(|d| d.get("Statement").cloned()) {
        Some(Value::Array(a)) => a,
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

/// Whether a policy document holds the fence's statement.
pub fn has_fence(document: &str) -> bool {
    statements(document).iter().any(|s| s.get("Sid").and_then(Value::as_str) == Some(FENCE_SID))
}

/// `before`'s statements (none when it had no policy) and the fence's, as one document.
pub fn fenced(before: Option<&str>, arn: &str) -> String {
    let mut all: Vec<Value> = before.map(statements).unwrap_or_default();
    all.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(FENCE_SID));
    all.push(json!({
        "Sid": FENCE_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": DENIED,
        "Resource": arn,
    }));
    json!({ "Version": "2012-10-17", "Statement": all }).to_string()
}

/// A document without the fence's statement; `None` when nothing else is left.
pub fn unfenced(document: &str) -> Option<String> {
    let rest: Vec<Value> =
        statements(document).into_iter().filter(|s| s.get("Sid").and_then(Value::as_str) != Some(FENCE_SID)).collect();
    (!rest.is_empty()).then(|| json!({ "Version": "2012-10-17", "Statement": rest }).to_string())
}

/// Takes the fence's statement off the table's policy, keeping the rest (the policy is deleted
/// when nothing else is left), each change conditional on the revision just read; `false` when
/// the policy held no fence. Run inside a sub-step (it mutates).
pub async fn remove_fence(cx: &ActionCx<'_>, ddb: &Client, region: &str, arn: &str) -> Result<bool, ActionError> {
    let Some(now) = policy(cx.log, ddb, region, arn).await?.filter(|p| has_fence(&p.document)) else {
        return Ok(false);
    };
    if cx.dry_run {
        cx.log.note(format!("dry run: would take the fence's statement off {arn}'s policy"))?;
        return Ok(false);
    }
    match unfenced(&now.document) {
        Some(rest) => {
            let req = ddb.put_resource_policy().resource_arn(arn).policy(rest).expected_revision_id(&now.revision);
            mutate(cx.log, at(arn, region), req).await??;
        }
        None => {
            let req = ddb.delete_resource_policy().resource_arn(arn).expected_revision_id(&now.revision);
            mutate(cx.log, at(arn, region), req).await??;
        }
    }
    Ok(true)
}

/// Fences recovery's table `table` (resource `name`).
pub(super) async fn fence(
    cx: &ActionCx<'_>,
    name: &str,
    ddb: &Client,
    region: &str,
    table: &str,
) -> Result<Value, ActionError> {
    let read: TableRead = cx
        .sub(&SubId::of(name, "read"), json!({ "table": table }), |_| async {
            let out = read(cx.log, at(table, region), ddb.describe_table().table_name(table)).await??;
            let t = out.table().ok_or_else(|| ActionError::Failed(format!("DynamoDB answered no table {table}")))?;
            let arn = t.table_arn().unwrap_or_default().to_string();
            let types: Vec<(String, String)> = t
                .attribute_definitions()
                .iter()
                .map(|d| (d.attribute_name().to_string(), d.attribute_type().as_str().to_string()))
                .collect();
            let key = t
                .key_schema()
                .iter()
                .map(|k| {
                    let kind = types.iter().find(|(n, _)| n == k.attribute_name()).map_or("S", |(_, t)| t.as_str());
                    (k.attribute_name().to_string(), kind.to_string())
                })
                .collect();
            let before = policy(cx.log, ddb, region, &arn).await?.filter(|p| !has_fence(&p.document));
            Ok(TableRead { arn, key, policy_before: before })
        })
        .await?;
    let arn = read.arn.as_str();
    let revision: Option<String> = cx
        .sub(&SubId::of(name, "policy"), json!({ "table": table, "deny": DENIED }), |_| async {
            let mut pause = cx.pauses.retry;
            for read_no in 1..=POLICY_READS {
                // Read again: a resumed put may have been applied, or someone changed the policy.
                let now = policy(cx.log, ddb, region, arn).await?;
                if let Some(p) = now.as_ref().filter(|p| has_fence(&p.document)) {
                    return Ok(Some(p.revision.clone()));
                }
                let document = fenced(now.as_ref().map(|p| p.document.as_str()), arn);
                // Refused before anything is sent: DynamoDB takes no policy over 20 KB.
                let limit = MAX_POLICY_BYTES;
                if document.len() > limit {
                    return Err(ActionError::Failed(format!(
                        "the fence cannot deny writes on {table}: its policy with the fence's statement would be {} \
                         bytes, over DynamoDB's {limit}-byte limit for a resource-based policy; shorten the table's \
                         own policy, or fence its writers another way",
                        document.len()
                    )));
                }
                if cx.dry_run {
                    cx.log.note(format!("dry run: would deny writes on {table} with the policy {document}"))?;
                    return Ok(None);
                }
                // Only over the policy just read: a change made meanwhile is refused, not overwritten.
                let expected = now.as_ref().map_or("NO_POLICY".to_string(), |p| p.revision.clone());
                let req = ddb.put_resource_policy().resource_arn(arn).policy(document).expected_revision_id(expected);
                match mutate(cx.log, at(arn, region), req).await? {
                    Ok(out) => return Ok(out.revision_id().map(str::to_string)),
                    // The read was behind (GetResourcePolicy is eventually consistent: after a
                    // resumed put, or someone's change): read again, a little later.
                    Err(f) if f.code() == Some("PolicyNotFoundException") && read_no < POLICY_READS => {
                        let why = f.text();
                        cx.log.note(format!(
                            "the policy of {table} changed since it was read ({why}): reading it again"
                        ))?;
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(cx.pauses.max_poll);
                    }
                    Err(f) => return Err(f.into()),
                }
            }
            Err(ActionError::Failed(format!("the policy of {table} kept changing under the fence's put")))
        })
        .await?;
    let Some(revision) = revision else {
        return Ok(json!({ "table": table, "fenced_at": null }));
    };
    let sub = SubId::of(name, "wait-fenced");
    let fenced_at: String = cx
        .sub(&sub, json!({ "table": table, "revision": revision }), |_| async {
            let quiet = cx.quiet();
            // When GetResourcePolicy first answered the fence: DynamoDB applies a policy within
            // seconds of that; one still not applied after the eventual-consistency grace never
            // will be (an endpoint that stores policies without applying them, as moto does).
            let visible: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
            cx.wait_for(&sub, cx.timeout, || async {
                let now = policy(&quiet, ddb, region, arn).await?;
                if now.as_ref().is_none_or(|p| !has_fence(&p.document)) {
                    return Ok(Poll::Pending(format!("GetResourcePolicy does not answer revision {revision} yet")));
                }
                let since =
                    *visible.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(std::time::Instant::now);
                if probe(cx, ddb, region, table, &read.key).await? {
                    return Ok(Poll::Ready(crate::journal::now_rfc3339()));
                }
                let grace = cx.pauses.not_found_grace;
                if since.elapsed() > grace {
                    return Err(ActionError::Failed(format!(
                        "the fence does not hold on {table}: a write was still accepted {} after GetResourcePolicy \
                         answered the fence's revision {revision} (DynamoDB applies a policy within seconds; an \
                         endpoint that stores resource-based policies without applying them, as bare moto does, \
                         cannot be fenced this way)",
                        humantime::format_duration(std::time::Duration::from_secs(since.elapsed().as_secs()))
                    )));
                }
                Ok(Poll::Pending("a probe write was not refused: the policy is not applied yet".into()))
            })
            .await
        })
        .await?;
    Ok(json!({
        "table": table,
        "revision": revision,
        "policy_before": read.policy_before.is_some(),
        "fenced_at": fenced_at,
    }))
}

/// A write that can never succeed (its condition asks the key to be absent and present at once):
/// `true` when the table's policy refused it, `false` when DynamoDB evaluated its condition (the
/// policy is not applied yet). Nothing is written either way.
pub(super) async fn probe(
    cx: &ActionCx<'_>,
    ddb: &Client,
    region: &str,
    table: &str,
    key: &[(String, String)],
) -> Result<bool, ActionError> {
    let Some((first, _)) = key.first() else {
        return Err(ActionError::Failed(format!("DynamoDB table {table} answered no key schema")));
    };
    let mut req = ddb
        .put_item()
        .table_name(table)
        .condition_expression("attribute_not_exists(#k) AND attribute_exists(#k)")
        .expression_attribute_names("#k", first);
    for (attr, kind) in key {
        let value = match kind.as_str() {
            "N" => AttributeValue::N("0".into()),
            "B" => AttributeValue::B(Blob::new(b"pilotlight-fence-probe".to_vec())),
            _ => AttributeValue::S("pilotlight-fence-probe".into()),
        };
        req = req.item(attr, value);
    }
    match mutate(cx.log, at(table, region), req).await? {
        Ok(_) => Err(ActionError::Failed(format!(
            "the fence's probe write to {table} was accepted, though its condition can never hold: nothing is \
             written to a table that honours conditions; stop and look"
        ))),
        Err(f) if f.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(f) if f.code() == Some("AccessDeniedException") && f.text().contains("resource-based policy") => Ok(true),
        Err(f) => Err(f.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:dynamodb:us-west-2:123456789012:table/sessions";

    #[test]
    fn the_fence_is_added_to_a_policy_and_taken_out_again() {
        let own = json!({ "Version": "2012-10-17", "Statement": [
            { "Sid": "Readers", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::1:root" },
              "Action": "dynamodb:GetItem", "Resource": ARN }
        ]})
        .to_string();
        let both = fenced(Some(&own), ARN);
        assert!(has_fence(&both));
        assert_eq!(statements(&both).len(), 2);
        assert!(crate::sandbox::realism::rules::table_policy::denies(&both, "dynamodb:PutItem", ARN));
        let back = unfenced(&both).expect("the table's own statement is left");
        assert_eq!(statements(&back), statements(&own));
        assert!(!has_fence(&back));
        // Alone, the fence leaves nothing: the policy is deleted.
        assert_eq!(unfenced(&fenced(None, ARN)), None);
        // Fencing twice does not add a second statement.
        assert_eq!(statements(&fenced(Some(&both), ARN)).len(), 2);
    }
}

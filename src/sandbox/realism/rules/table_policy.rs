//! DynamoDB's resource-based policies, which moto stores and never applies.
//!
//! AWS (DynamoDB API reference, PutResourcePolicy and GetResourcePolicy): a policy is applied in
//! the authorization of every request to the table, and "the policy application is eventually
//! consistent": a GetResourcePolicy right after a PutResourcePolicy "might return your previous
//! policy, if there was one, or return the PolicyNotFoundException", and it "will take some time
//! to apply the policy to all requests". An explicit `Deny` refuses the request with
//! AccessDeniedException, whoever's identity-based policies allow it. Moto answers the put and
//! the get at once and lets every write through.
//!
//! A policy over 20 KB (whitespace counted) is refused; moto takes any size.
//!
//! Here, a put (or a delete) of a table's policy takes effect a few modelled seconds
//! ([`PROPAGATION`]) after it was answered; until then writes are judged by the policy before it
//! and GetResourcePolicy answers the one before it, and the first GetResourcePolicy after the
//! change answers the one before it at every pace (at the `instant` pace, where nothing takes
//! time, that one lagging answer is what is left of the delay). Evaluated: `Deny` statements for
//! any principal (`"*"` or `{"AWS": "*"}`) without a `Condition`, on `Action` and `Resource` with
//! `*` and `?` wildcards, for PutItem, UpdateItem, DeleteItem, BatchWriteItem and
//! TransactWriteItems (per item: PutItem, UpdateItem, DeleteItem, ConditionCheckItem). Not
//! evaluated (they never refuse here): statements naming principals, conditions, `NotAction`,
//! `NotResource`, PartiQL, reads.

use super::super::model::Pace;
use super::super::timing::{Call, refusal};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a policy change takes to apply, in modelled time ("wait for a few seconds").
pub const PROPAGATION: Duration = Duration::from_secs(5);

/// The largest policy document DynamoDB takes, in bytes, whitespace counted (PutResourcePolicy,
/// `Policy`: "The maximum size supported for a resource-based policy document is 20 KB").
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// The account moto answers for with its default credentials.
const ACCOUNT: &str = "123456789012";

/// One change of a table's policy: (moto port, region, table), the policy after it (`None`:
/// deleted) and its revision, when it applies, and whether the lagging get was answered.
struct Change {
    upstream: u16,
    region: String,
    table: String,
    policy: Option<(String, String)>,
    applies_at: Instant,
    lag_answered: bool,
}

static CHANGES: Mutex<Vec<Change>> = Mutex::new(Vec::new());

pub(super) fn forget(upstream: u16) {
    CHANGES.lock().unwrap().retain(|c| c.upstream != upstream);
}

/// The table a name or ARN names (`arn:aws:dynamodb:REGION:ACCOUNT:table/NAME[/...]`).
fn table_of(name_or_arn: &str) -> &str {
    match name_or_arn.split_once(":table/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => name_or_arn,
    }
}

fn arn(region: &str, table: &str) -> String {
    format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}")
}

/// The policy in force for a table now (`applied`), and the one a get answers.
fn policy_of(upstream: u16, region: &str, table: &str, applied: bool) -> Option<(String, String)> {
    let now = Instant::now();
    let changes = CHANGES.lock().unwrap();
    let mine: Vec<&Change> =
        changes.iter().filter(|c| c.upstream == upstream && c.region == region && c.table == table).collect();
    let in_force = |c: &&&Change| c.applies_at <= now && (applied || c.lag_answered);
    mine.iter().rev().find(in_force).and_then(|c| c.policy.clone())
}

/// Whether `pattern` (IAM's `*` and `?` wildcards, case-insensitive) matches `text`.
fn matches(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// Whether a policy document explicitly denies `action` (`dynamodb:PutItem`) on `resource` to
/// every principal (see the module's doc for what is evaluated).
pub fn denies(policy: &str, action: &str, resource: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else { return false };
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => return false,
    };
    statements.iter().any(|s| {
        let anyone = match s.get("Principal") {
            Some(Value::String(p)) => p == "*",
            Some(Value::Object(o)) => strings(o.get("AWS")).iter().any(|p| p == "*"),
            _ => false,
        };
        s.get("Effect").and_then(Value::as_str) == Some("Deny")
            && anyone
            && s.get("Condition").is_none()
            && strings(s.get("Action")).iter().any(|a| matches(a, action))
            && strings(s.get("Resource")).iter().any(|r| matches(r, resource))
    })
}

/// The (action, table) pairs a write request is authorized on.
fn writes(call: &Call<'_>) -> Vec<(&'static str, String)> {
    let Ok(body) = serde_json::from_str::<Value>(call.body) else { return Vec::new() };
    let table = |v: &Value| v.get("TableName").and_then(Value::as_str).map(|t| table_of(t).to_string());
    match call.operation {
        "PutItem" => table(&body).map(|t| vec![("PutItem", t)]).unwrap_or_default(),
        "UpdateItem" => table(&body).map(|t| vec![("UpdateItem", t)]).unwrap_or_default(),
        "DeleteItem" => table(&body).map(|t| vec![("DeleteItem", t)]).unwrap_or_default(),
        "BatchWriteItem" => body
            .get("RequestItems")
            .and_then(Value::as_object)
            .map(|m| m.keys().map(|t| ("BatchWriteItem", table_of(t).to_string())).collect())
            .unwrap_or_default(),
        "TransactWriteItems" => body
            .get("TransactItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|item| {
                [
                    ("Put", "PutItem"),
                    ("Update", "UpdateItem"),
                    ("Delete", "DeleteItem"),
                    ("ConditionCheck", "ConditionCheckItem"),
                ]
                .into_iter()
                .filter_map(move |(key, action)| item.get(key).and_then(table).map(|t| (action, t)))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// AWS's refusal of a write the table's policy denies, or the lagging answer of a get.
pub(super) fn refuse(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    let call = Call::read(head, body)?;
    if call.service != "dynamodb" {
        return None;
    }
    if call.operation == "GetResourcePolicy" {
        return lagging_get(&call, upstream);
    }
    if call.operation == "PutResourcePolicy" {
        let body: Value = serde_json::from_str(call.body).ok()?;
        let size = body.get("Policy")?.as_str()?.len();
        // The reference names the limit, not the error: a validation error, as for any parameter.
        return (size > MAX_POLICY_BYTES).then(|| {
            let message = format!("Policy size {size} bytes exceeds the maximum of {MAX_POLICY_BYTES} bytes");
            refusal("dynamodb", "ValidationException", &message)
        });
    }
    for (action, table) in writes(&call) {
        let Some((policy, _)) = policy_of(upstream, call.region, &table, true) else { continue };
        let resource = arn(call.region, &table);
        if denies(&policy, &format!("dynamodb:{action}"), &resource) {
            let message = format!(
                "User: arn:aws:iam::{ACCOUNT}:user/caller is not authorized to perform: dynamodb:{action} on \
                 resource: {resource} with an explicit deny in a resource-based policy"
            );
            return Some(refusal("dynamodb", "AccessDeniedException", &message));
        }
    }
    None
}

/// A GetResourcePolicy while the latest change has not reached every reader: the policy before
/// it (or PolicyNotFoundException), once at every pace and until it applies at a modelled one.
fn lagging_get(call: &Call<'_>, upstream: u16) -> Option<Vec<u8>> {
    let body: Value = serde_json::from_str(call.body).ok()?;
    let table = table_of(body.get("ResourceArn")?.as_str()?).to_string();
    let now = Instant::now();
    {
        let mut changes = CHANGES.lock().unwrap();
        let latest =
            changes.iter_mut().rev().find(|c| c.upstream == upstream && c.region == call.region && c.table == table)?;
        if latest.lag_answered && latest.applies_at <= now {
            return None;
        }
        latest.lag_answered = true;
    }
    // The state before the latest change: the newest earlier change that applied.
    let before = {
        let changes = CHANGES.lock().unwrap();
        let mine: Vec<&Change> =
            changes.iter().filter(|c| c.upstream == upstream && c.region == call.region && c.table == table).collect();
        mine.iter().rev().skip(1).find(|c| c.applies_at <= now).and_then(|c| c.policy.clone())
    };
    Some(match before {
        None => refusal(
            "dynamodb",
            "PolicyNotFoundException",
            &format!("Resource-based policy not found for the provided ResourceArn: {}", arn(call.region, &table)),
        ),
        Some((policy, revision)) => {
            let answer = json!({ "Policy": policy, "RevisionId": revision }).to_string();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            )
            .into_bytes()
        }
    })
}

/// Notes a policy moto accepted (PutResourcePolicy, DeleteResourcePolicy) or a table it deleted
/// (its policy goes with it), to apply [`PROPAGATION`] later at `pace`.
pub fn note(head: &str, body: &str, upstream: u16, answer: &[u8], pace: Pace) {
    let Some(call) = Call::read(head, body) else { return };
    if call.service != "dynamodb" || !answer.starts_with(b"HTTP/1.1 200") {
        return;
    }
    let Ok(request) = serde_json::from_str::<Value>(body) else { return };
    let answered = |a: &[u8]| -> Option<Value> {
        let text = String::from_utf8_lossy(a);
        serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()
    };
    let (table, policy) = match call.operation {
        "PutResourcePolicy" => {
            let Some(arn) = request.get("ResourceArn").and_then(Value::as_str) else { return };
            let policy = request.get("Policy").and_then(Value::as_str).unwrap_or_default().to_string();
            let revision = answered(answer)
                .and_then(|a| a.get("RevisionId").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            (table_of(arn).to_string(), Some((policy, revision)))
        }
        "DeleteResourcePolicy" => {
            let Some(arn) = request.get("ResourceArn").and_then(Value::as_str) else { return };
            (table_of(arn).to_string(), None)
        }
        "DeleteTable" => {
            let Some(name) = request.get("TableName").and_then(Value::as_str) else { return };
            let mut changes = CHANGES.lock().unwrap();
            changes.retain(|c| !(c.upstream == upstream && c.region == call.region && c.table == table_of(name)));
            return;
        }
        _ => return,
    };
    CHANGES.lock().unwrap().push(Change {
        upstream,
        region: call.region.to_string(),
        table,
        policy,
        applies_at: Instant::now() + pace.wall(PROPAGATION),
        lag_answered: false,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "arn:aws:dynamodb:us-west-2:123456789012:table/sessions";

    fn deny(action: Value, resource: &str) -> String {
        json!({ "Version": "2012-10-17", "Statement": [
            { "Effect": "Deny", "Principal": "*", "Action": action, "Resource": resource }
        ]})
        .to_string()
    }

    #[test]
    fn a_deny_for_everyone_on_the_action_and_table_refuses() {
        assert!(denies(&deny(json!(["dynamodb:PutItem"]), TABLE), "dynamodb:PutItem", TABLE));
        assert!(denies(&deny(json!("dynamodb:*"), "*"), "dynamodb:UpdateItem", TABLE));
        assert!(denies(&deny(json!("dynamodb:Put*"), "arn:aws:dynamodb:*:*:table/sess*"), "dynamodb:PutItem", TABLE));
        assert!(!denies(&deny(json!(["dynamodb:PutItem"]), TABLE), "dynamodb:GetItem", TABLE));
        assert!(!denies(&deny(json!(["dynamodb:PutItem"]), TABLE), "dynamodb:PutItem", &format!("{TABLE}2")));
    }

    #[test]
    fn allows_named_principals_and_conditions_are_not_evaluated() {
        let allow = json!({ "Statement": [{ "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*" }] });
        assert!(!denies(&allow.to_string(), "dynamodb:PutItem", TABLE));
        let named = json!({ "Statement": [{ "Effect": "Deny", "Principal": { "AWS": "arn:aws:iam::1:root" },
            "Action": "*", "Resource": "*" }] });
        assert!(!denies(&named.to_string(), "dynamodb:PutItem", TABLE));
        let conditional = json!({ "Statement": [{ "Effect": "Deny", "Principal": { "AWS": ["*"] },
            "Action": "*", "Resource": "*", "Condition": { "Bool": { "aws:SecureTransport": "false" } } }] });
        assert!(!denies(&conditional.to_string(), "dynamodb:PutItem", TABLE));
    }

    #[test]
    fn tables_are_read_from_names_and_arns() {
        assert_eq!(table_of("sessions"), "sessions");
        assert_eq!(table_of(TABLE), "sessions");
        assert_eq!(table_of(&format!("{TABLE}/stream/2026")), "sessions");
    }
}

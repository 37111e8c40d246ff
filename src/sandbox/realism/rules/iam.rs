//! IAM's policy simulator, which moto does not have (SimulatePrincipalPolicy answers HTTP 500):
//! the rules layer answers it from the principal's identity policies (those the test deployed,
//! [`know_policies`]), the way IAM evaluates them: allowed when an
//! `Allow` statement matches the action and the resource (wildcards `*` and `?`), unless a `Deny`
//! matches; `implicitDeny` otherwise. A statement with a condition matches nothing (no context is
//! given). Groups, managed policies, boundaries and SCPs are not modelled.

use super::param;
use crate::sandbox::realism::wire::decoded;
use serde_json::Value;
use std::sync::Mutex;

/// The form parameters `NAME.member.N`, decoded, in order.
fn listed(body: &str, name: &str) -> Vec<String> {
    (1..).map_while(|n| param(body, &format!("{name}.member.{n}")).map(decoded)).collect()
}

/// Identity policies (moto port, principal ARN, documents) as the test that deployed them says.
/// Moto's IAM has them too, but the layer cannot read them under moto's IAM enforcement (its
/// own IAM reads would need a signature of their own; `/moto-api/data.json` fails on IAM models).
static POLICIES: Mutex<Vec<(u16, String, Vec<Value>)>> = Mutex::new(Vec::new());

/// Tells the simulator on `upstream` the identity policies of `principal` (what the test
/// deployed for it).
pub fn know_policies(upstream: u16, principal: &str, documents: Vec<Value>) {
    let mut all = POLICIES.lock().unwrap();
    all.retain(|(p, who, _)| !(*p == upstream && who == principal));
    all.push((upstream, principal.to_string(), documents));
}

pub fn forget(upstream: u16) {
    POLICIES.lock().unwrap().retain(|(p, _, _)| *p != upstream);
}

fn documents(upstream: u16, principal: &str) -> Option<Vec<Value>> {
    let all = POLICIES.lock().unwrap();
    all.iter().find(|(p, who, _)| *p == upstream && who == principal).map(|(_, _, d)| d.clone())
}

/// `*` and `?` wildcards; case-insensitive when `fold` (actions).
fn matches(pattern: &str, text: &str, fold: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if fold {
        (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(&p, &t)
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// IAM's decision for one action on one resource under these documents.
fn decision(docs: &[Value], action: &str, resource: &str) -> &'static str {
    let mut allowed = false;
    for s in docs.iter().flat_map(|d| match &d["Statement"] {
        Value::Array(a) => a.clone(),
        one => vec![one.clone()],
    }) {
        if s.get("Condition").is_some() {
            continue;
        }
        let hit = strings(&s["Action"]).iter().any(|a| matches(a, action, true))
            && strings(&s["Resource"]).iter().any(|r| matches(r, resource, false));
        match (hit, s["Effect"].as_str()) {
            (true, Some("Deny")) => return "explicitDeny",
            (true, Some("Allow")) => allowed = true,
            _ => {}
        }
    }
    if allowed { "allowed" } else { "implicitDeny" }
}

/// The simulator's answer for a SimulatePrincipalPolicy request.
pub fn simulate(body: &str, upstream: u16) -> Option<Vec<u8>> {
    let principal = decoded(param(body, "PolicySourceArn")?);
    // A principal no test described: moto answers (it has no simulator).
    let docs = documents(upstream, &principal)?;
    let mut resources = listed(body, "ResourceArns");
    if resources.is_empty() {
        resources.push("*".into());
    }
    let mut results = String::new();
    for action in listed(body, "ActionNames") {
        for resource in &resources {
            let d = decision(&docs, &action, resource);
            results.push_str(&format!(
                "<member><EvalActionName>{action}</EvalActionName><EvalResourceName>{resource}</EvalResourceName><EvalDecision>{d}</EvalDecision><MatchedStatements/><MissingContextValues/></member>"
            ));
        }
    }
    let xml = format!(
        "<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>{results}</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>aws-rules</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>"
    );
    Some(
        format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}", xml.len()).into_bytes(),
    )
}

#[test]
fn wildcards_match_as_iam_does() {
    assert!(matches("rds:Describe*", "rds:DescribeDBInstances", true));
    assert!(matches("RDS:describe*", "rds:DescribeDBInstances", true));
    assert!(matches(
        "arn:aws:rds:*:*:db:orders-db-pl-test-*",
        "arn:aws:rds:us-east-1:1:db:orders-db-pl-test-ab",
        false
    ));
    assert!(!matches("arn:aws:rds:*:*:db:orders-db", "arn:aws:rds:us-east-1:1:db:orders-db-2", false));
    assert_eq!(decoded("arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx+y"), "arn:aws:iam::1:role/x y");
}

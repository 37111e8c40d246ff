//! CloudFormation refuses to make or update a stack whose template declares IAM resources unless
//! the request acknowledges them (CreateStack, UpdateStack: `InsufficientCapabilitiesException`,
//! HTTP 400): `CAPABILITY_IAM`, or `CAPABILITY_NAMED_IAM` when one of them has a custom name.
//! Moto makes the stack anyway.

use crate::sandbox::realism::wire::{decoded, param, refusal};

/// The IAM resource properties that give a custom name (which needs `CAPABILITY_NAMED_IAM`).
const NAMES: [&str; 5] = ["RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName"];

/// AWS's refusal of a stack request that does not acknowledge its template's IAM resources.
pub fn refuse(action: &str, body: &str) -> Option<Vec<u8>> {
    if !matches!(action, "CreateStack" | "UpdateStack") {
        return None;
    }
    let template = decoded(param(body, "TemplateBody")?);
    if !template.contains("AWS::IAM::") {
        return None;
    }
    let given: Vec<String> = body
        .split('&')
        .filter_map(|kv| kv.strip_prefix("Capabilities.member."))
        .filter_map(|kv| kv.split_once('=').map(|(_, v)| decoded(v)))
        .collect();
    let named = NAMES.iter().any(|n| template.contains(n));
    let needed = if named { "CAPABILITY_NAMED_IAM" } else { "CAPABILITY_IAM" };
    let enough = given.iter().any(|c| c == "CAPABILITY_NAMED_IAM") || given.iter().any(|c| c == needed);
    (!enough).then(|| refusal("InsufficientCapabilitiesException", &format!("Requires capabilities : [{needed}]")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_resources_need_the_capability_named_ones_the_named_capability() {
        let body = |template: &str, caps: &str| format!("Action=CreateStack&TemplateBody={template}{caps}");
        let policy = "Resources%3A%0A%20P%3A%20%7BType%3A%20AWS%3A%3AIAM%3A%3AManagedPolicy%7D";
        assert!(refuse("CreateStack", &body(policy, "")).is_some());
        assert!(refuse("CreateStack", &body(policy, "&Capabilities.member.1=CAPABILITY_IAM")).is_none());
        let named = "Resources%3A%20%7BR%3A%20%7BType%3A%20AWS%3A%3AIAM%3A%3ARole%2C%20RoleName%3A%20x%7D%7D";
        assert!(refuse("CreateStack", &body(named, "&Capabilities.member.1=CAPABILITY_IAM")).is_some());
        assert!(refuse("UpdateStack", &body(named, "&Capabilities.member.1=CAPABILITY_NAMED_IAM")).is_none());
        assert!(
            refuse("CreateStack", &body("Resources%3A%20%7BT%3A%20%7BType%3A%20AWS%3A%3ASNS%3A%3ATopic%7D%7D", ""))
                .is_none()
        );
    }
}

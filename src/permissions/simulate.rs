//! Whether each side's credentials may make every call the runbook needs, asked of IAM's policy
//! simulator (SimulatePrincipalPolicy) before anything changes: one question per statement of
//! the template `pilotlight permissions` makes for that side, with the statement's exact actions
//! and resources, for the principal the credentials are (an assumed role's role, or the user).
//!
//! Statements with a condition (KMS only through a service, DNS by record name) are not asked:
//! without the request's context the simulator cannot evaluate them. Service control policies
//! and permission boundaries the simulator does not see are not covered either.

use super::{Scope, Side, statements};
use crate::aws::{ActionError, AwsEnvs, CallLog, at, read};
use serde_json::Value;

/// What the simulator said for one side.
pub enum Simulated {
    /// Every call allowed: how many (action, resource) pairs were asked.
    Allowed { principal: String, asked: usize, unasked: usize },
    /// Calls refused: `action on resource (decision)`.
    Denied { principal: String, denied: Vec<String> },
    /// The root user: nothing to ask.
    Root,
}

/// The IAM principal behind an STS identity ARN: an assumed role's role (its path is not in the
/// session ARN: a role with a path is not found), a user as is; `None` for the root user.
pub fn principal(identity: &str) -> Option<String> {
    let rest = identity.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (partition, service, _, account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    match (service, resource.split_once('/')) {
        ("sts", Some(("assumed-role", role_session))) => {
            let role = role_session.split('/').next()?;
            Some(format!("arn:{partition}:iam::{account}:role/{role}"))
        }
        ("iam", _) if resource == "root" => None,
        ("iam", Some(_)) => Some(identity.to_string()),
        _ => None,
    }
}

/// A template resource (`*`, or `{"Fn::Sub": "arn:${AWS::Partition}:..."}`) as an ARN of this
/// account; `RoleName` is the role the template makes, here the principal's own name.
fn resolve(resource: &Value, partition: &str, account: &str, role: &str) -> Option<String> {
    let text = resource.as_str().or_else(|| resource.get("Fn::Sub")?.as_str())?;
    Some(
        text.replace("${AWS::Partition}", partition).replace("${AWS::AccountId}", account).replace("${RoleName}", role),
    )
}

/// Asks the simulator about every unconditioned statement `side` needs, as the credentials of
/// environment `env`.
pub async fn check(
    scope: &Scope,
    side: Side,
    env: &str,
    envs: &AwsEnvs,
    log: &dyn CallLog,
) -> Result<Simulated, ActionError> {
    let identity = envs.check_account(env, log).await?;
    let Some(principal) = principal(&identity.arn) else { return Ok(Simulated::Root) };
    let partition = identity.arn.split(':').nth(1).unwrap_or("aws").to_string();
    let role = principal.rsplit('/').next().unwrap_or_default().to_string();
    let iam = aws_sdk_iam::Client::new(&envs.config(env, log).await?);
    let (mut asked, mut unasked, mut denied) = (0, 0, Vec::new());
    for statement in statements::all(scope, side) {
        let actions: Vec<String> = statement["Action"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        let resources: Vec<String> = statement["Resource"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| resolve(r, &partition, &identity.account, &role))
            .filter(|r| r != "*")
            .collect();
        if statement.get("Condition").is_some() {
            unasked += actions.len();
            continue;
        }
        asked += actions.len() * resources.len().max(1);
        let mut marker: Option<String> = None;
        loop {
            let req = iam
                .simulate_principal_policy()
                .policy_source_arn(&principal)
                .set_action_names(Some(actions.clone()))
                .set_resource_arns((!resources.is_empty()).then(|| resources.clone()))
                .set_marker(marker.take());
            let out = read(log, at(&principal, "global"), req).await??;
            for r in out.evaluation_results() {
                let per_resource = r.resource_specific_results();
                if per_resource.is_empty() {
                    if r.eval_decision().as_str() != "allowed" {
                        let on = r.eval_resource_name().unwrap_or("*");
                        denied.push(format!("{} on {on} ({})", r.eval_action_name(), r.eval_decision().as_str()));
                    }
                    continue;
                }
                for p in per_resource.iter().filter(|p| p.eval_resource_decision().as_str() != "allowed") {
                    denied.push(format!(
                        "{} on {} ({})",
                        r.eval_action_name(),
                        p.eval_resource_name(),
                        p.eval_resource_decision().as_str()
                    ));
                }
            }
            match out.marker().filter(|_| out.is_truncated()) {
                Some(m) => marker = Some(m.to_string()),
                None => break,
            }
        }
    }
    Ok(if denied.is_empty() {
        Simulated::Allowed { principal, asked, unasked }
    } else {
        Simulated::Denied { principal, denied }
    })
}

#[cfg(test)]
mod tests {
    use super::principal;

    #[test]
    fn the_principal_of_an_assumed_role_is_its_role_and_root_has_none() {
        assert_eq!(
            principal("arn:aws:sts::123456789012:assumed-role/pilotlight-failback/responder").as_deref(),
            Some("arn:aws:iam::123456789012:role/pilotlight-failback")
        );
        assert_eq!(
            principal("arn:aws:iam::123456789012:user/ops/responder").as_deref(),
            Some("arn:aws:iam::123456789012:user/ops/responder")
        );
        assert_eq!(principal("arn:aws:iam::123456789012:root"), None);
    }
}

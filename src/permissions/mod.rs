//! `pilotlight permissions RUNBOOK`: the IAM a runbook's actions need, as a CloudFormation
//! template made from the runbook itself, so nothing is granted on resources the runbook does
//! not name.
//!
//! Reads go to `Resource: "*"` (most Describe and List calls cannot be scoped). Every call that
//! changes or exposes something is scoped to what the runbook declares: instances by id or `Name`
//! tag, RDS instances and clusters by identifier (and the `<id>-pre-failback-*` names their kept
//! originals get), snapshots by the `pl-` names runs give them, tables by name, the staging bucket,
//! the DNS record names; KMS only through the services that use it (`kms:ViaService`). Primary's needs and recovery's are separate templates, since
//! recovery is often another account ([`Side`]).

pub mod simulate;
mod statements;

use crate::engine::plan;
use crate::runbook::{LoadedRunbook, ResourceType};
use indexmap::IndexMap;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Whose calls a template grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Side {
    /// What the tool does through the `primary` environment (installed in primary's account).
    Primary,
    /// What it does through the `recovery` environment (installed in recovery's account).
    Recovery,
    /// Both, in one role: for one account where one role acts on both sides.
    Both,
}

impl Side {
    fn primary(self) -> bool {
        self != Side::Recovery
    }
    fn recovery(self) -> bool {
        self != Side::Primary
    }
}

/// What [`Scope::actions`] holds for an `aurora.failback` step with `method: switchover`: its
/// calls differ from a snapshot failback's.
const AURORA_SWITCHOVER: &str = "aurora.failback:switchover";

/// What [`Scope::actions`] holds for an `rds.failback` step with `method: replica`.
const RDS_REPLICA: &str = "rds.failback:replica";

/// What the runbook says that scopes the grants.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The runbook's name, for the template's description.
    pub runbook: String,
    pub primary_region: String,
    pub recovery_region: String,
    /// Accounts when the runbook names them (`account_id`), for ARNs in the other side's account.
    pub primary_account: Option<String>,
    pub recovery_account: Option<String>,
    /// The built-in actions the steps use, and the environment a `route53.upsert_record` step uses.
    pub actions: BTreeSet<String>,
    pub dns_environments: BTreeSet<String>,
    /// Declared resources by type: (primary id, recovery id).
    pub resources: IndexMap<ResourceType, Vec<(String, String)>>,
    /// Record names of `route53_record` resources (lower case, no trailing dot).
    pub record_names: Vec<String>,
    pub staging_buckets: BTreeSet<String>,
}

impl Scope {
    /// Reads the scope from a loaded runbook and its resolved inputs.
    pub fn of(loaded: &LoadedRunbook, inputs: &IndexMap<String, Value>) -> Result<Scope, String> {
        let envs = plan::render_environments(loaded, inputs)?;
        let region = |name: &str| envs.get(name).map(|e| e.region.clone()).unwrap_or_default();
        let account = |name: &str| envs.get(name).and_then(|e| e.account_id.clone()).filter(|a| !a.is_empty());
        let mut scope = Scope {
            runbook: loaded.runbook.name.clone(),
            primary_region: region("primary"),
            recovery_region: region("recovery"),
            primary_account: account("primary"),
            recovery_account: account("recovery"),
            ..Scope::default()
        };
        for step in plan::plan(loaded, inputs, None)? {
            // Every step counts, even one its `when:` skips with these inputs: the bundled template is
            // installed by the runbook itself, whatever inputs the run is given.
            let Some(action) = step.action else { continue };
            let params = step.params.unwrap_or(Value::Null);
            if let Some(bucket) = params.get("staging_bucket").and_then(Value::as_str) {
                scope.staging_buckets.insert(bucket.trim().to_string());
            }
            if action == "route53.upsert_record" {
                let env = params.get("environment").and_then(Value::as_str).unwrap_or("primary");
                scope.dns_environments.insert(env.to_string());
            }
            if action == "aurora.failback" && params.get("method").and_then(Value::as_str) == Some("switchover") {
                scope.actions.insert(AURORA_SWITCHOVER.to_string());
            }
            if action == "rds.failback" && params.get("method").and_then(Value::as_str) == Some("replica") {
                scope.actions.insert(RDS_REPLICA.to_string());
            }
            scope.actions.insert(action);
        }
        for res in loaded.runbook.resources.values() {
            if let Some(name) = &res.record_name {
                scope.record_names.push(name.trim_end_matches('.').to_lowercase());
            }
            let (p, r) = (res.primary.clone().unwrap_or_default(), res.recovery.clone().unwrap_or_default());
            scope.resources.entry(res.kind).or_default().push((p, r));
        }
        Ok(scope)
    }

    fn uses(&self, action: &str) -> bool {
        self.actions.contains(action)
    }

    /// The ids of declared resources of `kind` on primary (`true`) or recovery.
    fn ids(&self, kind: ResourceType, primary: bool) -> Vec<&str> {
        let all = self.resources.get(&kind).map(Vec::as_slice).unwrap_or_default();
        all.iter().map(|(p, r)| if primary { p.as_str() } else { r.as_str() }).filter(|i| !i.is_empty()).collect()
    }
}

/// The template granting `side`'s calls: a role the given principal may assume, with one
/// policy. Valid JSON, so valid YAML: CloudFormation takes either.
pub fn template(scope: &Scope, side: Side) -> Value {
    let statements = statements::all(scope, side);
    let which = match side {
        Side::Primary => "primary",
        Side::Recovery => "recovery",
        Side::Both => "primary and recovery",
    };
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "pilotlight failback permissions for {which}, generated from runbook {} (temporary; delete when the recovery is concluded)",
            scope.runbook
        ),
        "Parameters": {
            "TrustedPrincipalArn": {
                "Type": "String",
                "Description": "The principal (user or role ARN) the incident responder acts as, allowed to assume the role."
            },
            "RoleName": { "Type": "String", "Default": "pilotlight-failback" }
        },
        "Resources": {
            "FailbackRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": { "Ref": "RoleName" },
                    "MaxSessionDuration": 43200,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": { "AWS": { "Ref": "TrustedPrincipalArn" } },
                            "Action": "sts:AssumeRole"
                        }]
                    },
                    "Tags": [{ "Key": "managed-by", "Value": "pilotlight" }]
                }
            },
            "FailbackPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "pilotlight-failback",
                    "Roles": [{ "Ref": "FailbackRole" }],
                    "PolicyDocument": { "Version": "2012-10-17", "Statement": statements }
                }
            }
        },
        "Outputs": {
            "RoleArn": { "Value": { "Fn::GetAtt": ["FailbackRole", "Arn"] } }
        }
    })
}

/// Every `service:Operation` the template grants (for the check that it matches what the tool
/// can send).
pub fn granted(template: &Value) -> BTreeSet<String> {
    let statements = &template["Resources"]["FailbackPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    statements
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const RUNBOOK: &str = r#"
version: 1
name: cross
title: Cross-account failback
environments:
  primary: { region: eu-west-1, account_id: "111111111111" }
  recovery: { region: eu-central-1, account_id: "222222222222" }
resources:
  web: { type: ec2_instance, primary: i-0123456789abcdef0, recovery: web }
  db: { type: rds_instance, primary: orders, recovery: orders-dr }
steps:
  - id: ec2
    title: EC2
    action: ec2.failback
    with: { resource: web, kms_key_id: alias/primary-ebs }
  - id: rds
    title: RDS
    action: rds.failback
    with: { resource: db }
  - id: conclude
    title: Conclude
    action: recovery.conclude
"#;

    fn template_for(side: Side) -> String {
        let loaded =
            crate::runbook::load_str(Path::new("cross.yaml"), Path::new("."), RUNBOOK, &crate::actions::REGISTRY)
                .expect("loads");
        let inputs = crate::runbook::inputs::resolve_for_plan(&loaded.runbook, &[]).expect("inputs");
        template(&Scope::of(&loaded, &inputs).expect("scope"), side).to_string()
    }

    /// Catches a grant outside what the runbook names: another instance, another database, the
    /// other side's calls, or the other account's ARNs written as this account's.
    #[test]
    fn grants_name_the_runbooks_resources_in_their_own_regions_and_accounts() {
        let primary = template_for(Side::Primary);
        assert!(primary.contains("eu-west-1:${AWS::AccountId}:instance/i-0123456789abcdef0"), "{primary}");
        assert!(!primary.contains("aws:ResourceTag/Name"), "an instance named by id needs no tag condition");
        assert!(primary.contains("eu-west-1:${AWS::AccountId}:db:orders-pre-failback-*"));
        // The copy's source is recovery's snapshot, in recovery's account and region.
        assert!(primary.contains("rds:eu-central-1:222222222222:snapshot:pl-*"), "{primary}");
        assert!(
            primary.contains(r#""kms:ViaService":["ec2.eu-west-1.amazonaws.com""#),
            "KMS only through the services"
        );
        assert!(!primary.contains("rds:CreateDBSnapshot"), "recovery's call");
        let recovery = template_for(Side::Recovery);
        assert!(recovery.contains("eu-central-1:${AWS::AccountId}:db:orders-dr"), "{recovery}");
        assert!(recovery.contains("\"aws:ResourceTag/Name\":[\"web\"]"), "{recovery}");
        assert!(!recovery.contains("rds:RestoreDBInstanceFromDBSnapshot"), "primary's call");
        assert!(!recovery.contains("eu-west-1:${AWS::AccountId}"), "primary is another account");
        assert!(recovery.contains("rds:StopDBInstance") && !recovery.contains("primary-ebs"), "{recovery}");
    }
}

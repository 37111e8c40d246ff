//! `pilotlight preflight`: every failback step's resources checked before anything changes
//! (the checks and their findings: [`crate::actions::failback::preflight`]). Reads only.

use crate::actions::failback::preflight::{Finding, Found, Target, Verdict};
use crate::actions::failback::{dynamodb, ec2, rds};
use crate::aws::{AwsEnvs, CallLog};
use crate::engine::plan;
use crate::runbook::{LoadedRunbook, ResourceType};
use indexmap::IndexMap;
use serde_json::Value;

/// The failback actions preflight knows, and the resource type each takes.
const ACTIONS: &[(&str, ResourceType)] = &[
    ("ec2.failback", ResourceType::Ec2Instance),
    ("rds.failback", ResourceType::RdsInstance),
    ("aurora.failback", ResourceType::AuroraCluster),
    ("dynamodb.failback", ResourceType::DynamodbTable),
];

/// Checks every resource of every failback step of the runbook. Reads only; `log` records them
/// (a no-op for the command, the journal when a run does it).
pub async fn preflight(
    loaded: &LoadedRunbook,
    inputs: &IndexMap<String, Value>,
    envs: &AwsEnvs,
    log: &dyn CallLog,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let steps = match plan::plan(loaded, inputs) {
        Ok(s) => s,
        Err(e) => return vec![finding("-", "-", "runbook", Verdict::Fail, e)],
    };
    let mut accounts = IndexMap::new();
    for env in ["primary", "recovery"] {
        match envs.check_account(env, log).await {
            Ok(a) => {
                let region = envs.region(env).unwrap_or_default();
                out.push(finding(
                    "-",
                    env,
                    "account",
                    Verdict::Pass,
                    format!("{env} ({region}) is account {}", a.account),
                ));
                accounts.insert(env, a.account);
            }
            Err(e) => out.push(finding("-", env, "account", Verdict::Fail, e.to_string())),
        }
    }
    if accounts.len() < 2 {
        return out;
    }
    let (Ok(p_region), Ok(r_region)) = (envs.region("primary"), envs.region("recovery")) else {
        return out;
    };
    let share_with = (accounts["primary"] != accounts["recovery"]).then(|| accounts["primary"].clone());
    for step in steps {
        let Some(kind) = ACTIONS.iter().find(|(a, _)| step.action.as_deref() == Some(*a)).map(|(_, k)| *k) else {
            continue;
        };
        let params = step.params.unwrap_or(Value::Null);
        let kms = params.get("kms_key_id").and_then(Value::as_str);
        let one = params.get("resource").and_then(Value::as_str).map(str::to_string);
        let many = params.get("resources").and_then(Value::as_array).cloned().unwrap_or_default();
        let names = one.into_iter().chain(many.iter().filter_map(|v| v.as_str().map(str::to_string)));
        for name in names {
            let Some(res) = loaded.runbook.resources.get(&name) else { continue };
            let target = Target {
                name: &name,
                primary_id: res.primary.as_deref().unwrap_or_default(),
                recovery_id: res.recovery.as_deref().unwrap_or_default(),
                primary_region: p_region,
                recovery_region: r_region,
                kms,
                primary_account: &accounts["primary"],
                share_with: share_with.as_deref(),
            };
            let found = match kind {
                ResourceType::Ec2Instance => ec2::preflight::check(envs, log, &target).await,
                ResourceType::RdsInstance => rds::preflight::instance_check(envs, log, &target).await,
                ResourceType::AuroraCluster => rds::preflight::cluster_check(envs, log, &target).await,
                ResourceType::DynamodbTable => dynamodb::preflight::check(envs, log, &target).await,
                _ => Ok(Found::default()),
            };
            match found {
                Ok(found) => out.extend(
                    found.0.into_iter().map(|(rule, verdict, why)| finding(&step.id, &name, &rule, verdict, why)),
                ),
                Err(e) => out.push(finding(&step.id, &name, "read", Verdict::Fail, format!("could not read it: {e}"))),
            }
        }
    }
    out
}

fn finding(step: &str, resource: &str, rule: &str, verdict: Verdict, why: String) -> Finding {
    Finding { step: step.into(), resource: resource.into(), rule: rule.into(), verdict, why }
}

/// Whether any check failed.
pub fn failed(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.verdict == Verdict::Fail)
}

//! Preflight: every failback step's resources checked before anything changes (the checks and
//! their findings: [`crate::actions::failback::preflight`]). Reads only. A run does it for each
//! failback step before that step's gate ([`for_step`]), journaled, and a failed check holds the
//! step back; `pilotlight preflight` does it for a whole runbook.

use crate::actions::failback::preflight::{Found, PreflightCheck, Target, Verdict};
use crate::actions::failback::{dynamodb, ec2, rds};
use crate::aws::{AwsEnvs, CallLog};
use crate::permissions::simulate::{self, Simulated};
use crate::permissions::{Scope, Side};
use crate::runbook::{ResourceType, Runbook};
use serde_json::Value;

/// The failback actions preflight knows, and the resource type each takes.
const ACTIONS: &[(&str, ResourceType)] = &[
    ("ec2.failback", ResourceType::Ec2Instance),
    ("rds.failback", ResourceType::RdsInstance),
    ("aurora.failback", ResourceType::AuroraCluster),
    ("dynamodb.failback", ResourceType::DynamodbTable),
];

/// Whether a step's action is one preflight checks.
pub fn checks(action: Option<&str>) -> bool {
    ACTIONS.iter().any(|(a, _)| Some(*a) == action)
}

pub fn check(resource: &str, rule: &str, verdict: Verdict, why: String) -> PreflightCheck {
    PreflightCheck { resource: resource.into(), rule: rule.into(), verdict, why }
}

/// The account guard of both sides: a pass each, or a fail; with the accounts when both pass.
pub async fn accounts(envs: &AwsEnvs, log: &dyn CallLog) -> (Vec<PreflightCheck>, Option<(String, String)>) {
    let mut out = Vec::new();
    let mut found = Vec::new();
    for env in ["primary", "recovery"] {
        match envs.check_account(env, log).await {
            Ok(a) => {
                let region = envs.region(env).unwrap_or_default();
                let why = format!("{env} ({region}) is account {}", a.account);
                out.push(check(env, "account", Verdict::Pass, why));
                found.push(a.account);
            }
            Err(e) => out.push(check(env, "account", Verdict::Fail, e.to_string())),
        }
    }
    let pair = (found.len() == 2).then(|| (found[0].clone(), found[1].clone()));
    (out, pair)
}

/// Checks the resources one failback step names (`params` as the step will be given them).
/// Nothing for a step whose action preflight does not know. In a run (`run_id`), the names the
/// step will make are checked too.
pub async fn for_step(
    runbook: &Runbook,
    action: Option<&str>,
    params: &Value,
    envs: &AwsEnvs,
    log: &dyn CallLog,
    run_id: Option<&str>,
) -> Vec<PreflightCheck> {
    let Some(kind) = ACTIONS.iter().find(|(a, _)| Some(*a) == action).map(|(_, k)| *k) else {
        return Vec::new();
    };
    let (mut out, accounts) = accounts(envs, log).await;
    let (Some((p_account, r_account)), Ok(p_region), Ok(r_region)) =
        (accounts, envs.region("primary"), envs.region("recovery"))
    else {
        return out;
    };
    let share_with = (p_account != r_account).then_some(p_account.as_str());
    let kms = params.get("kms_key_id").and_then(Value::as_str);
    let one = params.get("resource").and_then(Value::as_str).map(str::to_string);
    let many = params.get("resources").and_then(Value::as_array).cloned().unwrap_or_default();
    for name in one.into_iter().chain(many.iter().filter_map(|v| v.as_str().map(str::to_string))) {
        let Some(res) = runbook.resources.get(&name) else { continue };
        let target = Target {
            name: &name,
            primary_id: res.primary.as_deref().unwrap_or_default(),
            recovery_id: res.recovery.as_deref().unwrap_or_default(),
            primary_region: p_region,
            recovery_region: r_region,
            kms,
            primary_account: &p_account,
            share_with,
            run_id,
            rpo: runbook.targets.rpo.as_deref().and_then(|t| humantime::parse_duration(t).ok()),
            stages: crate::actions::failback::runbook_stages(runbook),
            in_place: params.get("method").and_then(Value::as_str) == Some("in-place"),
            switchover: params.get("method").and_then(Value::as_str) == Some("switchover"),
            replica: params.get("method").and_then(Value::as_str) == Some("replica"),
        };
        let found = match kind {
            ResourceType::Ec2Instance => ec2::preflight::check(envs, log, &target).await,
            ResourceType::RdsInstance => rds::preflight::instance_check(envs, log, &target).await,
            ResourceType::AuroraCluster => rds::preflight::cluster_check(envs, log, &target).await,
            ResourceType::DynamodbTable => dynamodb::preflight::check(envs, log, &target).await,
            _ => Ok(Found::default()),
        };
        match found {
            Ok(found) => out.extend(found.0.into_iter().map(|(rule, verdict, why)| check(&name, &rule, verdict, why))),
            Err(e) => out.push(check(&name, "read", Verdict::Fail, format!("could not read it: {e}"))),
        }
    }
    out
}

/// Whether `env`'s credentials may make every call `side` needs ([`simulate`]): one check.
pub async fn permissions(scope: &Scope, side: Side, env: &str, envs: &AwsEnvs, log: &dyn CallLog) -> PreflightCheck {
    const SHOWN: usize = 8;
    match simulate::check(scope, side, env, envs, log).await {
        Ok(Simulated::Allowed { principal, asked, unasked }) => {
            let unasked = if unasked > 0 {
                format!("; {unasked} conditioned grants (KMS, DNS) not asked")
            } else {
                String::new()
            };
            let why = format!(
                "{principal} may make the {asked} calls the runbook needs here (IAM policy simulator{unasked})"
            );
            check(env, "permissions", Verdict::Pass, why)
        }
        Ok(Simulated::Denied { principal, denied }) => {
            let more = denied.len().saturating_sub(SHOWN);
            let mut shown = denied.into_iter().take(SHOWN).collect::<Vec<_>>().join("; ");
            if more > 0 {
                shown.push_str(&format!("; and {more} more"));
            }
            let why = format!(
                "{principal} may not make calls the runbook needs (IAM policy simulator): {shown}; grant them (`pilotlight permissions`)"
            );
            check(env, "permissions", Verdict::Fail, why)
        }
        Ok(Simulated::Root) => {
            check(env, "permissions", Verdict::Warn, "the root user: nothing to simulate; act through a role".into())
        }
        Err(e) => check(
            env,
            "permissions",
            Verdict::Warn,
            format!(
                "could not ask IAM's policy simulator ({e}): give the role iam:SimulatePrincipalPolicy on itself, or check its permissions by hand"
            ),
        ),
    }
}

/// Whether any check failed.
pub fn failed<'a>(checks: impl IntoIterator<Item = &'a PreflightCheck>) -> bool {
    checks.into_iter().any(|c| c.verdict == Verdict::Fail)
}

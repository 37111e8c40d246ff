//! `pilotlight preflight RUNBOOK`: every failback step of a runbook checked before anything
//! changes ([`crate::preflight`]), the account guard once.

use crate::actions::failback::preflight::{Finding, Verdict};
use crate::aws::{AwsEnvs, CallLog};
use crate::engine::plan;
use crate::permissions::{Scope, Side};
use crate::preflight::{accounts, check, checks, for_step, permissions};
use crate::runbook::LoadedRunbook;
use indexmap::IndexMap;
use serde_json::Value;

/// Checks every failback step of the runbook (`pilotlight preflight`); the account guard once.
pub async fn whole_runbook(
    loaded: &LoadedRunbook,
    inputs: &IndexMap<String, Value>,
    envs: &AwsEnvs,
    log: &dyn CallLog,
) -> Vec<Finding> {
    let steps = match plan::plan(loaded, inputs, None) {
        Ok(s) => s,
        Err(e) => return vec![Finding { step: "-".into(), check: check("-", "runbook", Verdict::Fail, e) }],
    };
    let (guard, _) = accounts(envs, log).await;
    let mut out: Vec<Finding> = guard.into_iter().map(|check| Finding { step: "-".into(), check }).collect();
    match Scope::of(loaded, inputs) {
        Ok(scope) => {
            for (env, side) in [("primary", Side::Primary), ("recovery", Side::Recovery)] {
                out.push(Finding { step: "-".into(), check: permissions(&scope, side, env, envs, log).await });
            }
        }
        Err(e) => out.push(Finding { step: "-".into(), check: check("-", "permissions", Verdict::Warn, e) }),
    }
    for step in steps.iter().filter(|s| checks(s.action.as_deref())) {
        let params = step.params.clone().unwrap_or(Value::Null);
        let found = for_step(&loaded.runbook, step.action.as_deref(), &params, envs, log, None).await;
        // The account guard is said once, above.
        let found = found.into_iter().filter(|c| c.rule != "account" || c.verdict == Verdict::Fail);
        out.extend(found.map(|check| Finding { step: step.id.clone(), check }));
    }
    out
}

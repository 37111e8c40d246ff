//! What the per-resource failback actions share: which resources a step names, running them
//! concurrently with a bound (one failing does not cut the others off mid-call), the tags,
//! names and client tokens that make every create findable again, and the record of what is
//! retained.

pub mod conclude;
pub mod dynamodb;
pub mod ec2;
pub mod fence;
pub mod preflight;
pub mod rds;
pub mod rehearsal_end;
pub mod rehearse;
pub mod undo;
pub mod whole_diff;

use super::{ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::ActionError;
use crate::runbook::ResourceType;
use crate::runbook::yaml_tree::Seg;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::future::Future;

/// Resources at once when neither the step nor the runbook says.
pub const DEFAULT_PARALLEL: usize = 4;

/// Tag keys on everything a failback creates or keeps, so a resumed sub-step finds what it may
/// already have made, and people find what a run left behind.
pub const TAG_RUN: &str = "pilotlight:run";
pub const TAG_STEP: &str = "pilotlight:step";
pub const TAG_RESOURCE: &str = "pilotlight:resource";

/// The resources a step names: `resource: a` or `resources: [a, b]`, each of one of `kinds`.
pub fn resource_names(
    cx: &CheckCx,
    one: &Option<String>,
    many: &[String],
    kinds: &[ResourceType],
) -> (Vec<String>, Vec<ParamProblem>) {
    let mut problems = Vec::new();
    let names: Vec<String> = one.iter().chain(many.iter()).cloned().collect();
    if names.is_empty() {
        problems.push((Vec::new(), "give `resource: NAME` or `resources: [NAME, ...]`".to_string()));
    }
    for (i, name) in names.iter().enumerate() {
        let field = if one.is_some() && i == 0 { "resource" } else { "resources" };
        match cx.resource(field, name, kinds) {
            Ok(r) if r.primary.is_none() || r.recovery.is_none() => problems.push((
                vec![Seg::Key(field.into())],
                format!("resource `{name}` needs both a `primary` and a `recovery` identifier to fail back"),
            )),
            Ok(_) => {}
            Err(p) => problems.push(p),
        }
        if names[..i].contains(name) {
            problems.push((vec![Seg::Key(field.into())], format!("resource `{name}` is named twice")));
        }
    }
    (names, problems)
}

/// A deterministic token for an idempotent create (at most 64 characters, as EC2 allows):
/// the same run, step, resource and part always give the same token.
pub fn client_token(cx: &ActionCx<'_>, resource: &str, part: &str) -> String {
    let key = format!("{}\u{0}{}\u{0}{resource}\u{0}{part}", cx.run_id, cx.step);
    // FNV-1a, twice with different offsets: stable across releases (unlike std's hasher).
    use crate::stable_hash::{OFFSET, fnv1a};
    format!("pl-{:016x}{:016x}", fnv1a(key.as_bytes(), OFFSET), fnv1a(key.as_bytes(), 0x8422_2325_cbf2_9ce4))
}

/// Whether `runbook` stages (a `phase: stage` step, or a `failback.rehearse` step whose `stage`
/// is not plainly false: it may keep its copies): only then does a failback look for staged
/// copies before copying (one read per resource), and say whether its copy is incremental or full.
pub fn runbook_stages(runbook: &crate::runbook::Runbook) -> bool {
    let stages = |s: &crate::runbook::Step| {
        let keeps = s.with.get("stage").is_some_and(|v| v != &serde_json::json!(false) && v != "false");
        s.phase == Some(crate::runbook::Phase::Stage) || (s.action.as_deref() == Some("failback.rehearse") && keeps)
    };
    runbook.steps.iter().any(stages)
}

/// The run's short id (its last segment), for names that must stay short.
pub fn short_run_id(run_id: &str) -> &str {
    run_id.rsplit('-').next().unwrap_or(run_id)
}

/// Something a failback keeps on purpose (a detached volume, a renamed instance, a snapshot, a
/// safety backup): listed in the outputs and the after-action report with how to remove it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Retained {
    pub resource: String,
    pub kind: String,
    pub id: String,
    pub region: String,
    pub why: String,
    /// The command that deletes it, for when the team decides to.
    pub delete_with: String,
}

/// Runs the calls of one sub-step at once (a volume's copy, each volume's create) and waits for
/// every one to end, in order: when one fails, none of the others is cut off between its
/// journaled `sending` and its answer (dropped, it would leave a call whose outcome a retry must
/// look for). The first error, in order, if any failed.
pub async fn all_at_once<T, Fut>(each: impl IntoIterator<Item = Fut>) -> Result<Vec<T>, ActionError>
where
    Fut: std::future::Future<Output = Result<T, ActionError>>,
{
    futures_util::future::join_all(each).await.into_iter().collect()
}

/// Runs `one` for every resource, at most `limit` at a time. Each resource reaches its own end
/// (success or a failure at a safe point); none is cut off because another failed. The result
/// has one entry per resource; if any failed, the action fails with every result attached, and a
/// retry re-runs only those (the others' sub-steps are done and replay).
pub async fn each_resource<F, Fut>(names: &[String], limit: usize, one: F) -> Result<Outputs, ActionError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Value, ActionError>>,
{
    let results: Vec<(String, Result<Value, ActionError>)> = futures_util::stream::iter(names.iter().cloned())
        .map(|name| {
            let fut = one(name.clone());
            async move { (name, fut.await) }
        })
        .buffered(limit.max(1))
        .collect()
        .await;
    let mut per_resource = serde_json::Map::new();
    let mut retained = Vec::new();
    let mut failures = Vec::new();
    let mut unanswered = None;
    let mut unanswered_count = 0;
    for (name, result) in results {
        match result {
            // The next attempt finds out what the call did (the others' finished sub-steps replay).
            Err(e @ ActionError::Unanswered { .. }) => {
                failures.push(format!("{name}: {e}"));
                per_resource.insert(name.clone(), json!({ "error": e.to_string() }));
                unanswered_count += 1;
                unanswered.get_or_insert(e);
            }
            Ok(v) => {
                if let Some(items) = v.get("retained").and_then(Value::as_array) {
                    retained.extend(items.iter().cloned());
                }
                per_resource.insert(name, v);
            }
            Err(ActionError::Journal(e)) => return Err(ActionError::Journal(e)),
            Err(e) => {
                per_resource.insert(name.clone(), json!({ "error": e.to_string() }));
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    // Only when nothing else failed: a real failure is reported (and retried) as such, and the
    // unanswered call's open sub-step reconciles on that retry.
    if let Some(e) = unanswered.filter(|_| unanswered_count == failures.len()) {
        return Err(e);
    }
    let mut out = Outputs::new();
    out.insert("resources".into(), Value::Object(per_resource));
    out.insert("retained".into(), Value::Array(retained));
    if failures.is_empty() {
        Ok(out)
    } else {
        Err(ActionError::FailedWithOutputs {
            message: format!("{} of {} resources failed: {}", failures.len(), names.len(), failures.join("; ")),
            outputs: out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unanswered() -> ActionError {
        ActionError::Unanswered { call: "ec2 CreateSnapshot on vol-1 (us-west-2)".into(), message: "dropped".into() }
    }

    fn run(results: Vec<Result<Value, ActionError>>) -> Result<Outputs, ActionError> {
        let names: Vec<String> = (0..results.len()).map(|i| format!("r{i}")).collect();
        let results = std::sync::Mutex::new(results.into_iter().map(Some).collect::<Vec<_>>());
        let one = |name: String| {
            let i: usize = name[1..].parse().unwrap();
            let result = results.lock().unwrap()[i].take().unwrap();
            async move { result }
        };
        block_on(each_resource(&names, 2, one))
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    /// Only unanswered calls: the next attempt finds out what they did.
    #[test]
    fn unanswered_calls_alone_end_the_attempt_as_unanswered() {
        let out = run(vec![Ok(json!({})), Err(unanswered()), Err(unanswered())]);
        assert!(matches!(out, Err(ActionError::Unanswered { .. })), "{out:?}");
    }

    /// A real failure beside an unanswered call is reported as a failure, with both named.
    #[test]
    fn a_real_failure_beside_an_unanswered_call_is_reported() {
        let out = run(vec![Err(unanswered()), Err(ActionError::Failed("attach failed".into()))]);
        let Err(ActionError::FailedWithOutputs { message, outputs }) = out else { panic!("{out:?}") };
        assert!(message.starts_with("2 of 2 resources failed"), "{message}");
        assert!(message.contains("outcome is unknown") && message.contains("attach failed"), "{message}");
        assert!(outputs["resources"]["r0"]["error"].as_str().unwrap().contains("outcome is unknown"));
    }
}

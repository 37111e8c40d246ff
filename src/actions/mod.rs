//! Built-in actions: the AWS (and local) work a step can run.
//!
//! Every action is idempotent and resumable: it reads real state before acting, journals each
//! call, records what it must not forget as checkpoints, and in a dry run says what it would do
//! without sending a mutating call.

pub mod check;
pub mod cloudformation;
pub mod exec;
pub mod route53;

use crate::aws::{ActionError, AwsEnvs, CallLog};
use crate::runbook::yaml_tree::Seg;
use crate::runbook::{Resource, ResourceType, Runbook};
use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// What an action produced, for `{{ steps.id.outputs.x }}` and the journal.
pub type Outputs = IndexMap<String, Value>;

/// A problem in an action's parameters: where under `with:` and what.
pub type ParamProblem = (Vec<Seg>, String);

/// What the format knows about an action.
#[derive(Debug)]
pub struct ActionInfo {
    pub name: &'static str,
    pub summary: &'static str,
    /// Output names; `None` when they depend on the target (stack outputs).
    pub outputs: Option<&'static [&'static str]>,
}

/// Every built-in action.
pub const ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        name: "cloudformation.deploy",
        summary: "create or update a stack from a template file and wait for it to complete",
        outputs: None,
    },
    ActionInfo {
        name: "cloudformation.delete",
        summary: "delete a stack and wait until it is gone",
        outputs: Some(&["stack_status", "deleted"]),
    },
    ActionInfo {
        name: "route53.upsert_record",
        summary: "point a DNS record at a side (or value) and wait until the change is INSYNC",
        outputs: Some(&["old_value", "new_value", "changed", "change_id"]),
    },
    ActionInfo {
        name: "check.resource",
        summary: "read, assert or wait for a property of a declared resource",
        outputs: Some(&["value", "exists", "id"]),
    },
    ActionInfo {
        name: "exec",
        summary: "run a local command (a smoke test) with a timeout and record its exit code and output",
        outputs: Some(&["exit_code", "stdout", "stderr"]),
    },
];

/// Actions later issues will add; naming one gets a clear message instead of "unknown".
const PLANNED: &[&str] = &["ec2.failback", "rds.failback", "aurora.failback", "dynamodb.failback", "recovery.conclude"];

/// Looks an action up by name.
pub fn info(name: &str) -> Option<&'static ActionInfo> {
    ACTIONS.iter().find(|a| a.name == name)
}

/// The message for an action that does not exist (yet).
pub fn unknown_action_message(name: &str) -> String {
    let known: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
    if PLANNED.contains(&name) {
        format!(
            "action `{name}` is planned but not implemented in this version; make this a manual step (remove `action` and `with`) for now. Available: {}",
            known.join(", ")
        )
    } else {
        format!("unknown action `{name}`; available: {}", known.join(", "))
    }
}

/// An action with its decoded parameters.
#[derive(Debug, Clone)]
pub enum ActionCall {
    CloudformationDeploy(cloudformation::DeployParams),
    CloudformationDelete(cloudformation::DeleteParams),
    Route53Upsert(route53::UpsertParams),
    CheckResource(check::CheckParams),
    Exec(exec::ExecParams),
}

fn decode<T: DeserializeOwned>(with: &Value) -> Result<T, ParamProblem> {
    serde_path_to_error::deserialize::<_, T>(with.clone()).map_err(|e| {
        let path = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                _ => None,
            })
            .collect();
        (path, e.into_inner().to_string())
    })
}

/// What parameter checks may look at.
pub struct CheckCx<'a> {
    pub runbook: &'a Runbook,
    pub base_dir: &'a Path,
    /// Whether files the runbook names must exist now. Off when resuming (a step that finished
    /// long ago may name a file that has since moved) and for run-time checks (the action
    /// itself reports a missing file, or uses what it recorded).
    pub check_files: bool,
}

impl CheckCx<'_> {
    /// A declared resource, or a problem at `field`.
    pub fn resource(&self, field: &str, name: &str, kinds: &[ResourceType]) -> Result<&Resource, ParamProblem> {
        let at = vec![Seg::Key(field.into())];
        let Some(r) = self.runbook.resources.get(name) else {
            let known: Vec<&str> = self.runbook.resources.keys().map(String::as_str).collect();
            return Err((at, format!("unknown resource `{name}` (resources: {})", known.join(", "))));
        };
        if !kinds.is_empty() && !kinds.contains(&r.kind) {
            let want: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            return Err((
                at,
                format!("resource `{name}` is a {}, but this action needs a {}", r.kind.as_str(), want.join(" or ")),
            ));
        }
        Ok(r)
    }

    /// A problem if `env` is not a declared environment.
    pub fn environment(&self, field: &str, env: &str) -> Option<ParamProblem> {
        if self.runbook.environments.contains_key(env) {
            return None;
        }
        let known: Vec<&str> = self.runbook.environments.keys().map(String::as_str).collect();
        Some((
            vec![Seg::Key(field.into())],
            format!("unknown environment `{env}` (environments: {})", known.join(", ")),
        ))
    }
}

/// Where an action journals what it does. Beyond AWS calls: checkpoints that a resumed attempt
/// reads back, and notes for the operator.
pub trait ActionLog: CallLog {
    fn checkpoint(&self, key: &str, value: Value) -> Result<(), ActionError>;
    fn note(&self, message: String) -> Result<(), ActionError>;
}

/// Everything an action runs with.
pub struct ActionCx<'a> {
    pub step: &'a str,
    pub runbook: &'a Runbook,
    pub base_dir: &'a Path,
    pub envs: &'a AwsEnvs,
    pub log: &'a dyn ActionLog,
    pub dry_run: bool,
    /// Checkpoints journaled by earlier attempts of this step.
    pub checkpoints: IndexMap<String, Value>,
    /// The previous attempt was cut off mid-way (crash, kill): real state may be mid-change.
    pub interrupted: bool,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// How long waits inside the action may take (the step's timeout).
    pub timeout: Duration,
}

impl ActionCall {
    /// Decodes `with:` for the named action.
    pub fn decode(name: &str, with: &Value) -> Result<ActionCall, ParamProblem> {
        Ok(match name {
            "cloudformation.deploy" => ActionCall::CloudformationDeploy(decode(with)?),
            "cloudformation.delete" => ActionCall::CloudformationDelete(decode(with)?),
            "route53.upsert_record" => ActionCall::Route53Upsert(decode(with)?),
            "check.resource" => ActionCall::CheckResource(decode(with)?),
            "exec" => ActionCall::Exec(decode(with)?),
            other => return Err((Vec::new(), unknown_action_message(other))),
        })
    }

    /// Checks parameters against the runbook (resources, environments, files).
    pub fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        match self {
            ActionCall::CloudformationDeploy(p) => p.check(cx),
            ActionCall::CloudformationDelete(p) => p.check(cx),
            ActionCall::Route53Upsert(p) => p.check(cx),
            ActionCall::CheckResource(p) => p.check(cx),
            ActionCall::Exec(p) => p.check(cx),
        }
    }

    /// Runs the action.
    pub async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        match self {
            ActionCall::CloudformationDeploy(p) => p.run(cx).await,
            ActionCall::CloudformationDelete(p) => p.run(cx).await,
            ActionCall::Route53Upsert(p) => p.run(cx).await,
            ActionCall::CheckResource(p) => p.run(cx).await,
            ActionCall::Exec(p) => p.run(cx).await,
        }
    }

    /// A default time limit for one attempt, when the step gives none.
    pub fn default_timeout(&self) -> Duration {
        match self {
            ActionCall::CloudformationDeploy(_) | ActionCall::CloudformationDelete(_) => Duration::from_secs(60 * 60),
            ActionCall::Route53Upsert(_) => Duration::from_secs(15 * 60),
            ActionCall::CheckResource(_) | ActionCall::Exec(_) => Duration::from_secs(10 * 60),
        }
    }
}

/// The JSON Schema of each action's parameters, for `pilotlight schema`.
pub fn param_schemas(generator: &mut SchemaGenerator) -> Vec<(&'static str, Schema)> {
    fn s<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
        g.subschema_for::<T>()
    }
    vec![
        ("cloudformation.deploy", s::<cloudformation::DeployParams>(generator)),
        ("cloudformation.delete", s::<cloudformation::DeleteParams>(generator)),
        ("route53.upsert_record", s::<route53::UpsertParams>(generator)),
        ("check.resource", s::<check::CheckParams>(generator)),
        ("exec", s::<exec::ExecParams>(generator)),
    ]
}

fn default_primary() -> String {
    "primary".into()
}

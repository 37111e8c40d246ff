//! Built-in actions: the AWS (and local) work a step can run.
//!
//! Every action is idempotent and resumable: it is a sequence of named sub-steps (see
//! [`substep`]), reads real state before acting, journals each call, and in a dry run says what
//! it would do without sending a mutating call. Adding an action is one file implementing
//! [`Action`] and one line in [`REGISTRY`].

pub mod check;
pub mod cloudformation;
pub mod exec;
pub mod failback;
pub mod process_group;
pub mod route53;
pub mod substep;
pub mod template_copy;

pub use crate::runbook::{ActionCatalog, ActionDoc, ActsIn, CheckCx, ParamProblem};
pub use substep::{Poll, Resume};

use crate::aws::{ActionError, AwsEnvs, CallLog};
use crate::journal::{SubId, SubPhase, SubStepState};
use crate::runbook::Runbook;
use crate::runbook::yaml_tree::Seg;
use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::marker::PhantomData;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

/// What an action produced, for `{{ steps.id.outputs.x }}` and the journal.
pub type Outputs = IndexMap<String, Value>;

/// A built-in action: its parameters type is the action (decoded from `with:`).
pub trait Action: DeserializeOwned + JsonSchema + Send + Sync + 'static {
    const NAME: &'static str;
    const SUMMARY: &'static str;
    /// Output names; `None` when they depend on the target (stack outputs).
    const OUTPUTS: Option<&'static [&'static str]>;
    /// The time limit for one attempt when the step gives none.
    const DEFAULT_TIMEOUT: Duration;
    /// Whether it calls AWS (local commands do not).
    const AWS: bool = true;
    /// Whether it only reads (the console shows mutating actions in a warning style).
    const READ_ONLY: bool = false;
    /// Parameters that must not refer to a secret input (validation says where it may go).
    const NO_SECRETS: &'static [&'static str] = &[];
    /// Where it acts when the step names no environment: the console says so.
    const ACTS_IN: ActsIn = ActsIn::Primary;
    /// Whether it disrupts what serves (stops, replaces, fences or points DNS elsewhere):
    /// never in a `phase: stage` step, which must leave both sides serving.
    const DISRUPTS: bool = false;

    /// Checks parameters against the runbook (resources, environments, files).
    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem>;

    /// Runs the action.
    fn run(&self, cx: &ActionCx<'_>) -> impl Future<Output = Result<Outputs, ActionError>> + Send;

    /// What the chosen way of doing it costs or gives up, for `plan` (a faster path's trade-off).
    fn trade_offs(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Every built-in action. One line per action.
pub static REGISTRY: Registry = Registry(&[
    &Entry::<cloudformation::DeployParams>(PhantomData),
    &Entry::<cloudformation::DeleteParams>(PhantomData),
    &Entry::<route53::UpsertParams>(PhantomData),
    &Entry::<check::CheckParams>(PhantomData),
    &Entry::<exec::ExecParams>(PhantomData),
    &Entry::<failback::ec2::Ec2Failback>(PhantomData),
    &Entry::<failback::rds::instance::RdsFailback>(PhantomData),
    &Entry::<failback::rds::aurora::AuroraFailback>(PhantomData),
    &Entry::<failback::rds::aurora::stage::StageSecondary>(PhantomData),
    &Entry::<failback::rds::stage_replica::StageReplica>(PhantomData),
    &Entry::<failback::dynamodb::DynamodbFailback>(PhantomData),
    &Entry::<failback::conclude::Conclude>(PhantomData),
    &Entry::<failback::fence::Fence>(PhantomData),
    &Entry::<failback::rehearse::Rehearse>(PhantomData),
]);

/// Actions later work will add; naming one gets a clear message instead of "unknown".
const PLANNED: &[&str] = &[];

/// The registry: what validation, the schema and the engine ask about actions.
pub struct Registry(&'static [&'static dyn Registered]);

/// An action with its decoded parameters, ready to check and run.
pub struct ActionCall(Box<dyn Prepared>);

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

trait Registered: Sync {
    fn doc(&self) -> ActionDoc;
    fn schema(&self, generator: &mut SchemaGenerator) -> Schema;
    fn decode(&self, with: &Value) -> Result<Box<dyn Prepared>, ParamProblem>;
}

trait Prepared: Send + Sync {
    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem>;
    fn run<'a>(&'a self, cx: &'a ActionCx<'_>) -> BoxFuture<'a, Result<Outputs, ActionError>>;
    fn default_timeout(&self) -> Duration;
    fn trade_offs(&self) -> Vec<String>;
}

struct Entry<A>(PhantomData<fn() -> A>);

impl<A: Action> Registered for Entry<A> {
    fn doc(&self) -> ActionDoc {
        ActionDoc {
            name: A::NAME,
            summary: A::SUMMARY,
            outputs: A::OUTPUTS,
            aws: A::AWS,
            read_only: A::READ_ONLY,
            no_secrets: A::NO_SECRETS,
            acts_in: A::ACTS_IN,
            disrupts: A::DISRUPTS,
        }
    }
    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<A>()
    }
    fn decode(&self, with: &Value) -> Result<Box<dyn Prepared>, ParamProblem> {
        Ok(Box::new(decode::<A>(with)?))
    }
}

impl<A: Action> Prepared for A {
    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        Action::check(self, cx)
    }
    fn run<'a>(&'a self, cx: &'a ActionCx<'_>) -> BoxFuture<'a, Result<Outputs, ActionError>> {
        Box::pin(Action::run(self, cx))
    }
    fn default_timeout(&self) -> Duration {
        A::DEFAULT_TIMEOUT
    }
    fn trade_offs(&self) -> Vec<String> {
        Action::trade_offs(self)
    }
}

impl Registry {
    fn get(&self, name: &str) -> Option<&'static dyn Registered> {
        self.0.iter().copied().find(|e| e.doc().name == name)
    }

    /// Decodes `with:` for the named action.
    pub fn decode(&self, name: &str, with: &Value) -> Result<ActionCall, ParamProblem> {
        match self.get(name) {
            Some(e) => e.decode(with).map(ActionCall),
            None => Err((Vec::new(), self.unknown_message(name))),
        }
    }
}

impl ActionCatalog for Registry {
    fn docs(&self) -> Vec<ActionDoc> {
        self.0.iter().map(|e| e.doc()).collect()
    }

    fn check(&self, action: &str, with: &Value, cx: &CheckCx) -> Vec<ParamProblem> {
        match self.decode(action, with) {
            Ok(call) => call.check(cx),
            Err(p) => vec![p],
        }
    }

    fn param_schema(&self, action: &str, generator: &mut SchemaGenerator) -> Option<Schema> {
        self.get(action).map(|e| e.schema(generator))
    }

    fn unknown_message(&self, name: &str) -> String {
        let known: Vec<&str> = self.0.iter().map(|e| e.doc().name).collect();
        if PLANNED.contains(&name) {
            format!(
                "action `{name}` is planned but not implemented in this version; make this a manual step (remove `action` and `with`) for now. Available: {}",
                known.join(", ")
            )
        } else {
            format!("unknown action `{name}`; available: {}", known.join(", "))
        }
    }
}

impl ActionCall {
    /// Checks parameters against the runbook (resources, environments, files).
    pub fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        self.0.check(cx)
    }

    /// Runs the action.
    pub async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        self.0.run(cx).await
    }

    /// A default time limit for one attempt, when the step gives none.
    pub fn default_timeout(&self) -> Duration {
        self.0.default_timeout()
    }

    /// What the step's chosen path costs or gives up ([`Action::trade_offs`]).
    pub fn trade_offs(&self) -> Vec<String> {
        self.0.trade_offs()
    }
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

/// Where an action journals what it does: AWS calls, its sub-steps, and notes for the operator.
pub trait ActionLog: CallLog {
    fn substep(&self, id: &SubId, phase: SubPhase, data: Value) -> Result<(), ActionError>;
    /// Resets these sub-steps in one journal entry (a rollback undid them).
    fn reset(&self, ids: Vec<SubId>) -> Result<(), ActionError>;
    /// A sub-step of this step as journaled so far (by earlier attempts, then by this one).
    fn recorded(&self, id: &SubId) -> Option<SubStepState>;
    fn note(&self, message: String) -> Result<(), ActionError>;
}

/// Everything an action runs with.
pub struct ActionCx<'a> {
    /// The run's id: names, tokens and tags of what the action creates derive from it.
    pub run_id: &'a str,
    pub step: &'a str,
    pub runbook: &'a Runbook,
    pub base_dir: &'a Path,
    /// The run's directory: copies of what the run sent (templates) are kept there.
    pub run_dir: &'a Path,
    pub envs: &'a AwsEnvs,
    pub log: &'a dyn ActionLog,
    pub dry_run: bool,
    /// The previous attempt was cut off mid-way (crash, kill): real state may be mid-change.
    pub interrupted: bool,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// How long waits inside the action may take (the step's timeout).
    pub timeout: Duration,
    /// Resources at once when the step does not say (`--max-parallel`, the runbook's
    /// `max_parallel`, else 4).
    pub max_parallel: usize,
    /// How long waits pause between polls (see [`crate::pauses`]).
    pub pauses: crate::pauses::Pauses,
}

fn default_primary() -> String {
    "primary".into()
}

//! The runbook format, version 1, as Rust types.
//!
//! These types are the single source of truth for the format: the loader decodes YAML into them and
//! `pilotlight schema` derives the JSON Schema from them, so editor completion and the loader never
//! disagree. Positions for error messages are kept beside the model (in the YAML tree), not inside it,
//! which keeps the schema clean.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A whole runbook file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// Format version; only `1` exists.
    pub version: u32,
    /// Short machine name, used in run ids (letters, digits, `-` and `_`).
    pub name: String,
    /// One-line title shown at the top of the console.
    pub title: String,
    /// What this runbook is for, in Markdown.
    #[serde(default)]
    pub description: String,
    /// Typed parameters, given as `--var key=value`.
    #[serde(default)]
    pub inputs: IndexMap<String, InputSpec>,
    /// Named AWS environments; `primary` and `recovery` are required.
    pub environments: IndexMap<String, Environment>,
    /// Resources the runbook works on and the console watches.
    #[serde(default)]
    pub resources: IndexMap<String, Resource>,
    /// Ordered steps.
    pub steps: Vec<Step>,
    /// Recovery objectives the after-action record is measured against.
    #[serde(default)]
    pub targets: Targets,
    /// At most this many steps of a group at once, and the default for how many resources one
    /// failback step works on at once (default 4; `--max-parallel` overrides it).
    #[serde(default)]
    pub max_parallel: Option<usize>,
}

/// The type of an input parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    String,
    Integer,
    Boolean,
    List,
}

impl InputType {
    /// The word used in the format and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Integer => "integer",
            InputType::Boolean => "boolean",
            InputType::List => "list",
        }
    }
}

/// One typed input parameter.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    #[serde(rename = "type")]
    pub kind: InputType,
    /// What the value means, for `plan` and the console.
    #[serde(default)]
    pub description: String,
    /// Value used when `--var` does not give one; without it the input is required.
    #[serde(default)]
    pub default: Option<Value>,
    /// The only values accepted.
    #[serde(default)]
    pub allowed: Option<Vec<Value>>,
    /// A regular expression the whole value must match (strings, and each item of a list).
    #[serde(default)]
    pub pattern: Option<String>,
    /// Never journaled or shown (replaced by `<secret:NAME>`); a resumed run is given it again
    /// with `--var`. A secret cannot have a default.
    #[serde(default)]
    pub secret: bool,
}

/// Where and as whom the tool acts for one side of the recovery.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
    /// Named profile from the AWS config files.
    #[serde(default)]
    pub profile: Option<String>,
    /// A role assumed for this environment.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// A guard: the tool refuses to act when STS says the credentials are in another account.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Send this environment's calls to another endpoint (the sandbox).
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

/// The kinds of resource the tool knows how to watch (and, later, fail back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Ec2Instance,
    RdsInstance,
    AuroraCluster,
    DynamodbTable,
    CloudformationStack,
    Route53Record,
}

impl ResourceType {
    /// The word used in the format and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Ec2Instance => "ec2_instance",
            ResourceType::RdsInstance => "rds_instance",
            ResourceType::AuroraCluster => "aurora_cluster",
            ResourceType::DynamodbTable => "dynamodb_table",
            ResourceType::CloudformationStack => "cloudformation_stack",
            ResourceType::Route53Record => "route53_record",
        }
    }
}

/// A named resource with its identifier on each side.
///
/// For `ec2_instance` an identifier starting with `i-` is an instance id; anything else is matched
/// against the `Name` tag, so runbooks survive instances being replaced. For `route53_record`,
/// `primary` and `recovery` are the record values that route traffic to each side, and `zone`,
/// `record_name` and `record_type` name the record itself.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: ResourceType,
    #[serde(default)]
    pub description: String,
    /// Identifier in the primary environment.
    #[serde(default)]
    pub primary: Option<String>,
    /// Identifier in the recovery environment.
    #[serde(default)]
    pub recovery: Option<String>,
    /// `route53_record`: the hosted zone name (e.g. `example.com.`) or id.
    #[serde(default)]
    pub zone: Option<String>,
    /// `route53_record`: the record's name.
    #[serde(default)]
    pub record_name: Option<String>,
    /// `route53_record`: the record's type (A, AAAA, CNAME, ...).
    #[serde(default)]
    pub record_type: Option<String>,
}

impl Resource {
    /// The identifier on one side, if the runbook gives one.
    pub fn side(&self, side: Side) -> Option<&str> {
        match side {
            Side::Primary => self.primary.as_deref(),
            Side::Recovery => self.recovery.as_deref(),
        }
    }
}

/// One of the two sides every resource has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Primary,
    Recovery,
}

impl Side {
    /// The environment name a side acts in.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Primary => "primary",
            Side::Recovery => "recovery",
        }
    }
}

/// What an operator must do before a step runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// No gate: the step starts as soon as the one before it ends.
    #[default]
    None,
    /// A yes/no confirmation.
    Confirm,
    /// Every item must be ticked.
    Checklist(Vec<String>),
    /// The operator types this text exactly (for destructive work).
    TypeToConfirm(String),
}

/// The actions `on_failure: rollback` and `pilotlight undo` apply to: the per-resource
/// failbacks, which keep what they replace, and the fence on recovery's writes (lifted).
pub const UNDOABLE_ACTIONS: &[&str] =
    &["ec2.failback", "rds.failback", "aurora.failback", "dynamodb.failback", "recovery.fence"];

/// What happens when a step's action fails after its retries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Stop the run; it can be resumed later.
    #[default]
    Abort,
    /// Mark the step failed and go on.
    Continue,
    /// Ask the operator: retry, skip or abort (or, for a failback step, roll back).
    Ask,
    /// A failback step (`ec2`, `rds`, `aurora`, `dynamodb.failback`) only: put primary back as it
    /// was, from what the failback kept, then stop the run (a resume fails back again).
    Rollback,
}

/// One step of the runbook.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique id (letters, digits, `-`, `_`), used in references and the journal.
    pub id: String,
    pub title: String,
    /// What the operator should know or do, in Markdown.
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub gate: Gate,
    /// A built-in action, e.g. `cloudformation.deploy`. Without one the step is manual.
    #[serde(default)]
    pub action: Option<String>,
    /// The action's parameters; strings may hold `{{ inputs.x }}` and `{{ steps.id.outputs.y }}`.
    #[serde(default)]
    pub with: IndexMap<String, Value>,
    /// Limit for one attempt of the action, e.g. `15m`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Extra attempts after a failure before `on_failure` applies.
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// A condition on inputs; the step is skipped when it is false.
    /// Forms: `inputs.flag`, `not inputs.flag`, `inputs.x == 'value'`, `inputs.x != 'value'`.
    #[serde(default)]
    pub when: Option<String>,
    /// Steps one after another with the same group run concurrently, behind the first one's
    /// gate (the others have none). A failing step does not stop the others; when all have
    /// ended, each failure is handled by its own `on_failure`, and a retry re-runs only it.
    #[serde(default)]
    pub group: Option<String>,
    /// Which phase of a staged failback the step belongs to. `stage` steps prepare without
    /// disrupting (a rehearsal that keeps its copies), hours or days before the window, in a run
    /// of their own (`pilotlight run --phase stage`); `cut-over` steps run in the window
    /// (`--phase cut-over`, which skips the stage steps). A step without a phase runs in both;
    /// a run without `--phase` runs every step.
    #[serde(default)]
    pub phase: Option<Phase>,
    /// How many people approve the gate, each under their own AWS identity: the driver and
    /// `approvers - 1` others from their machines (team mode). Written inside the gate
    /// (`gate: { type_to_confirm: ..., approvers: 2 }`) and taken out of it when the step is
    /// decoded; 0 or 1 is the driver alone.
    #[serde(skip)]
    #[schemars(skip)]
    pub approvers: u8,
}

/// A phase of a staged failback: a step's `phase`, and `pilotlight run --phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Prepare without disruption, before the window; repeatable to refresh.
    Stage,
    /// In the window: fence, final recovery points, incremental copies, the swap, DNS.
    CutOver,
}

impl Phase {
    /// The word used in the format and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Stage => "stage",
            Phase::CutOver => "cut-over",
        }
    }
}

/// Recovery objectives, as durations like `4h` or `15m`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Recovery time objective: first disruptive step to DNS flip and passing smoke test.
    #[serde(default)]
    pub rto: Option<String>,
    /// Recovery point objective: the greatest acceptable age of the data restored.
    #[serde(default)]
    pub rpo: Option<String>,
}

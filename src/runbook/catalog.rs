//! What the runbook layer knows about actions, without depending on them.
//!
//! Validation and the schema need each action's parameters, outputs and checks; the actions
//! need the runbook model. So the runbook layer defines this interface and the actions layer
//! implements it (its registry), and the loader is handed one: no import cycle.

use super::model::{Resource, ResourceType, Runbook};
use super::yaml_tree::Seg;
use schemars::{Schema, SchemaGenerator};
use serde_json::Value;
use std::path::Path;

/// A problem in an action's parameters: where under `with:` and what.
pub type ParamProblem = (Vec<Seg>, String);

/// What the format says about one action.
#[derive(Debug, Clone, Copy)]
pub struct ActionDoc {
    pub name: &'static str,
    pub summary: &'static str,
    /// Output names; `None` when they depend on the target (stack outputs).
    pub outputs: Option<&'static [&'static str]>,
    /// Whether it calls AWS (the account guard runs before step 1 of a runbook that does).
    pub aws: bool,
    /// It only reads (a check): no confirmation styling, safe in a dry run.
    pub read_only: bool,
    /// Parameters that must not refer to a secret input (`exec`'s `command`: a command line is
    /// readable by every local user).
    pub no_secrets: &'static [&'static str],
    /// Where it acts when the step does not name one environment.
    pub acts_in: ActsIn,
    /// It disrupts what serves (a failback, the fence, the DNS flip, concluding): not in a
    /// `phase: stage` step.
    pub disrupts: bool,
}

/// The environments an action acts in when its step names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActsIn {
    /// Primary (a stack, a DNS record, a check).
    Primary,
    /// Recovery only (the fence, concluding the recovery).
    Recovery,
    /// From recovery into primary (the failbacks, the rehearsal).
    RecoveryToPrimary,
}

/// The actions a runbook may name.
pub trait ActionCatalog: Sync {
    /// Every action, in the order `schema` and messages list them.
    fn docs(&self) -> Vec<ActionDoc>;
    /// Decodes `with:` for `action` and checks it against the runbook.
    fn check(&self, action: &str, with: &Value, cx: &CheckCx) -> Vec<ParamProblem>;
    /// The JSON Schema of `action`'s parameters.
    fn param_schema(&self, action: &str, generator: &mut SchemaGenerator) -> Option<Schema>;

    fn find(&self, action: &str) -> Option<ActionDoc> {
        self.docs().into_iter().find(|d| d.name == action)
    }

    /// The message for an action that does not exist.
    fn unknown_message(&self, action: &str) -> String {
        let known: Vec<&str> = self.docs().iter().map(|d| d.name).collect();
        format!("unknown action `{action}`; available: {}", known.join(", "))
    }
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

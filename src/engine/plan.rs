//! Resolving steps against inputs: what `plan` prints and what the engine runs. No AWS calls.

use crate::runbook::condition::Condition;
use crate::runbook::template::{self, Ref};
use crate::runbook::{Environment, Gate, LoadedRunbook, Phase, Step};
use indexmap::IndexMap;
use serde_json::Value;

/// A lookup for templates: inputs, and outputs of steps that have run.
pub fn lookup<'a>(
    inputs: &'a IndexMap<String, Value>,
    outputs: &'a dyn Fn(&str, &str) -> Option<Value>,
) -> impl Fn(&Ref) -> Option<Value> + 'a {
    move |r: &Ref| match r {
        Ref::Input(n) => inputs.get(n).cloned(),
        Ref::StepOutput { step, output } => outputs(step, output),
    }
}

/// Why a step's `when` makes it skip, or `None` when it runs.
pub fn skip_reason(step: &Step, inputs: &IndexMap<String, Value>) -> Option<String> {
    let when = step.when.as_deref()?;
    let cond = Condition::parse(when).ok()?;
    let value = inputs.get(&cond.input).cloned().unwrap_or(Value::Null);
    (!cond.eval(&value)).then(|| format!("`when: {when}` is false"))
}

/// Why a run of `phase` skips `step` (one of `steps`), or `None` when the step runs in it. A stage
/// run runs the stage steps and the steps without a phase before the last of them; a cut-over run,
/// every step but the stage ones; a run without a phase, every step.
pub fn phase_skip(steps: &[Step], step: &Step, phase: Option<Phase>) -> Option<String> {
    match (phase?, step.phase) {
        (Phase::CutOver, Some(Phase::Stage)) => {
            Some("`phase: stage`: a cut-over run uses what the stage run prepared".into())
        }
        (Phase::Stage, Some(Phase::CutOver)) => Some("`phase: cut-over`: not in a stage run".into()),
        (Phase::Stage, None) => {
            let last = steps.iter().rposition(|s| s.phase == Some(Phase::Stage))?;
            let at = steps.iter().position(|s| s.id == step.id)?;
            (at > last).then(|| "after the last `phase: stage` step: not in a stage run".into())
        }
        _ => None,
    }
}

/// Refuses a `--phase` for a runbook without a `phase: stage` step: its stage run would be
/// nothing, its cut-over run the whole runbook, neither what the operator meant. (A cut-over
/// needs no step marked `cut-over`: a step without a phase runs in it.)
pub fn check_phase(runbook: &crate::runbook::Runbook, phase: Option<Phase>) -> Result<(), String> {
    let Some(phase) = phase else { return Ok(()) };
    if runbook.steps.iter().any(|s| s.phase == Some(Phase::Stage)) {
        return Ok(());
    }
    Err(format!(
        "--phase {}: runbook `{}` has no `phase: stage` step, so it has no phases (see the format's `phase`)",
        phase.as_str(),
        runbook.name
    ))
}

/// The gate with its texts rendered.
pub fn render_gate(gate: &Gate, look: &dyn Fn(&Ref) -> Option<Value>) -> Result<Gate, String> {
    Ok(match gate {
        Gate::Checklist(items) => {
            Gate::Checklist(items.iter().map(|i| template::render_text(i, look)).collect::<Result<_, _>>()?)
        }
        Gate::TypeToConfirm(t) => Gate::TypeToConfirm(template::render_text(t, look)?),
        other => other.clone(),
    })
}

/// The `with:` parameters rendered.
pub fn render_with(step: &Step, look: &dyn Fn(&Ref) -> Option<Value>) -> Result<Value, String> {
    template::render(&Value::Object(step.with.clone().into_iter().collect()), look)
}

/// Environments with `{{ inputs.x }}` rendered in their fields.
pub fn render_environments(
    loaded: &LoadedRunbook,
    inputs: &IndexMap<String, Value>,
) -> Result<IndexMap<String, Environment>, String> {
    let no_outputs = |_: &str, _: &str| None;
    let look = lookup(inputs, &no_outputs);
    let r = |s: &String| template::render_text(s, &look);
    let ro = |s: &Option<String>| s.as_ref().map(r).transpose();
    loaded
        .runbook
        .environments
        .iter()
        .map(|(name, e)| {
            Ok((
                name.clone(),
                Environment {
                    region: r(&e.region)?,
                    profile: ro(&e.profile)?,
                    // A role from a step's output is resolved when the step has run.
                    role_arn: if deferred_role(e).is_some() { None } else { ro(&e.role_arn)? },
                    account_id: ro(&e.account_id)?,
                    endpoint_url: ro(&e.endpoint_url)?,
                },
            ))
        })
        .collect()
}

/// The `role_arn` template of an environment whose role comes from a step's output
/// (`{{ steps.install-permissions.outputs.RoleArn }}`).
fn deferred_role(e: &Environment) -> Option<&String> {
    let role = e.role_arn.as_ref()?;
    let refs = template::references(role).unwrap_or_default();
    refs.iter().any(|r| matches!(r, template::Ref::StepOutput { .. })).then_some(role)
}

/// Environments whose role comes from a step's output, with the template to render once it
/// has run.
pub fn deferred_roles(loaded: &LoadedRunbook) -> IndexMap<String, String> {
    loaded.runbook.environments.iter().filter_map(|(name, e)| Some((name.clone(), deferred_role(e)?.clone()))).collect()
}

/// One step as `plan` shows it.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub id: String,
    pub title: String,
    pub gate: Gate,
    /// People who approve the gate (`approvers`, team mode); 0 or 1: the driver alone.
    pub approvers: u8,
    pub action: Option<String>,
    /// Parameters rendered; outputs of earlier steps show as `<steps.id.outputs.name>`.
    pub params: Option<Value>,
    pub skip: Option<String>,
    pub phase: Option<Phase>,
    pub timeout: Option<String>,
    pub retries: u32,
    pub on_failure: String,
}

/// Resolves every step against `inputs`, for a run of `phase`.
pub fn plan(
    loaded: &LoadedRunbook,
    inputs: &IndexMap<String, Value>,
    phase: Option<Phase>,
) -> Result<Vec<PlannedStep>, String> {
    let placeholder = |step: &str, output: &str| Some(Value::String(format!("<steps.{step}.outputs.{output}>")));
    let look = lookup(inputs, &placeholder);
    loaded
        .runbook
        .steps
        .iter()
        .map(|s| {
            Ok(PlannedStep {
                id: s.id.clone(),
                title: template::render_text(&s.title, &look)?,
                gate: render_gate(&s.gate, &look)?,
                approvers: s.approvers,
                action: s.action.clone(),
                params: s.action.as_ref().map(|_| render_with(s, &look)).transpose()?,
                skip: phase_skip(&loaded.runbook.steps, s, phase).or_else(|| skip_reason(s, inputs)),
                phase: s.phase,
                timeout: s.timeout.clone(),
                retries: s.retries,
                on_failure: format!("{:?}", s.on_failure).to_lowercase(),
            })
        })
        .collect()
}

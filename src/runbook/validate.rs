//! Checks that go beyond the shape of the YAML: ids, references, gates, durations, action
//! parameters. Every check reports and moves on, so one pass finds every problem.

use super::catalog::{ActionCatalog, CheckCx};
use super::condition::Condition;
use super::decode::Broken;
use super::diagnostics::Problem;
use super::inputs::{check_value, sample_value};
use super::model::{Gate, Phase, ResourceType, Runbook, Step};
use super::template::{self, Ref};
use super::yaml_tree::{Node, Seg};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// The longest step timeout accepted (restoring large volumes can take a day; a week is a typo).
const MAX_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

fn ident_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Every semantic problem in a decoded runbook.
pub fn validate(
    rb: &Runbook,
    broken: &Broken,
    tree: &Node,
    base_dir: &Path,
    check_files: bool,
    actions: &dyn ActionCatalog,
) -> Vec<Problem> {
    let mut v = Validator { rb, broken, tree, check_files, actions, problems: Vec::new() };
    v.header();
    v.inputs();
    v.environments();
    v.resources();
    v.steps(base_dir);
    v.problems
}

struct Validator<'a> {
    rb: &'a Runbook,
    broken: &'a Broken,
    check_files: bool,
    tree: &'a Node,
    actions: &'a dyn ActionCatalog,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn at(&mut self, path: &[Seg], message: impl Into<String>) {
        let pos = self.tree.locate(path).pos;
        self.problems.push(Problem::new(pos, message));
    }

    fn header(&mut self) {
        if self.broken.header {
            return;
        }
        if self.rb.version != 1 {
            self.at(
                &[key("version")],
                format!("unsupported version {}: this pilotlight reads version 1", self.rb.version),
            );
        }
        if !ident_ok(&self.rb.name) {
            self.at(&[key("name")], "name must be letters, digits, `-` or `_` (it is used in run ids)");
        }
        for (field, value) in [("rto", &self.rb.targets.rto), ("rpo", &self.rb.targets.rpo)] {
            if let Some(d) = value
                && let Err(e) = humantime::parse_duration(d)
            {
                self.at(&[key("targets"), key(field)], format!("`{d}` is not a duration like `15m` or `4h`: {e}"));
            }
        }
    }

    fn inputs(&mut self) {
        for (name, spec) in &self.rb.inputs {
            let path = [key("inputs"), key(name)];
            if !ident_ok(name) {
                self.at(&path, format!("input name `{name}` must be letters, digits, `-` or `_`"));
            }
            if let Some(p) = &spec.pattern
                && let Err(e) = regex::Regex::new(p)
            {
                self.at(
                    &[key("inputs"), key(name), key("pattern")],
                    format!("pattern is not a valid regular expression: {e}"),
                );
            }
            if let Some(allowed) = &spec.allowed {
                for (i, a) in allowed.iter().enumerate() {
                    if let Err(e) = check_value(spec, a, false) {
                        self.at(&[key("inputs"), key(name), key("allowed"), Seg::Index(i)], e);
                    }
                }
            }
            if spec.secret && !matches!(spec.kind, super::model::InputType::String | super::model::InputType::List) {
                self.at(&path, "only string and list inputs can be secret");
            }
            if spec.secret && spec.default.is_some() {
                self.at(
                    &[key("inputs"), key(name), key("default")],
                    "a secret input cannot have a default (it would be in the runbook)",
                );
            }
            if let Some(d) = &spec.default
                && let Err(e) = check_value(spec, d, true)
            {
                self.at(&[key("inputs"), key(name), key("default")], format!("default: {e}"));
            }
        }
    }

    fn environments(&mut self) {
        for required in ["primary", "recovery"] {
            if !self.rb.environments.contains_key(required)
                && !self.broken.environments.contains(required)
                && !self.broken.header
            {
                self.at(&[key("environments")], format!("environment `{required}` is required"));
            }
        }
        for (name, env) in &self.rb.environments {
            let fields = [
                ("region", Some(&env.region)),
                ("profile", env.profile.as_ref()),
                ("role_arn", env.role_arn.as_ref()),
                ("account_id", env.account_id.as_ref()),
                ("endpoint_url", env.endpoint_url.as_ref()),
            ];
            for (field, value) in fields {
                let Some(value) = value else { continue };
                let path = [key("environments"), key(name), key(field)];
                if value.trim().is_empty() {
                    self.at(&path, format!("`{field}` must not be empty"));
                }
                // A role may come from a step (the permissions stack's output): the environment
                // is then usable once that step has run.
                let steps = (field == "role_arn").then_some(self.rb.steps.len());
                self.refs_in(value, &path, steps);
            }
        }
    }

    fn resources(&mut self) {
        for (name, r) in &self.rb.resources {
            let path = [key("resources"), key(name)];
            if !ident_ok(name) {
                self.at(&path, format!("resource name `{name}` must be letters, digits, `-` or `_`"));
            }
            let dns_fields = [("zone", &r.zone), ("record_name", &r.record_name), ("record_type", &r.record_type)];
            if r.kind == ResourceType::Route53Record {
                for (field, value) in
                    dns_fields.iter().chain([("primary", &r.primary), ("recovery", &r.recovery)].iter())
                {
                    if value.is_none() {
                        self.at(&path, format!("a route53_record needs `{field}`"));
                    }
                }
            } else {
                if r.primary.is_none() && r.recovery.is_none() {
                    self.at(&path, format!("resource `{name}` names neither a `primary` nor a `recovery` identifier"));
                }
                for (field, value) in dns_fields {
                    if value.is_some() {
                        self.at(
                            &[key("resources"), key(name), key(field)],
                            format!("`{field}` only applies to route53_record"),
                        );
                    }
                }
            }
        }
    }

    fn steps(&mut self, base_dir: &Path) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, step) in self.rb.steps.iter().enumerate() {
            let path = [key("steps"), Seg::Index(i)];
            let id_path = [key("steps"), Seg::Index(i), key("id")];
            if !ident_ok(&step.id) && !self.broken.steps.contains(&i) {
                self.at(&id_path, format!("step id `{}` must be letters, digits, `-` or `_`", step.id));
            }
            if let Some(first) = seen.get(step.id.as_str()) {
                self.at(&id_path, format!("duplicate step id `{}` (first used by step {})", step.id, first + 1));
            } else {
                seen.insert(&step.id, i);
            }
            if !self.broken.steps.contains(&i) {
                self.step(i, step, &path, base_dir);
            }
        }
        self.groups();
        self.phases();
    }

    /// A staged runbook stages first and cuts over after: no `phase: stage` step after a
    /// `phase: cut-over` one; nothing disruptive that a stage run would take (a step without a
    /// phase before the last stage step runs in it); one phase per group (it runs as one); and
    /// nothing a cut-over run does may use a stage step's outputs, in `with`, a gate or an
    /// environment's role (that run skips the step).
    fn phases(&mut self) {
        let steps = &self.rb.steps;
        let mut problems = Vec::new();
        let first_cut_over = steps.iter().position(|s| s.phase == Some(Phase::CutOver));
        let last_stage = steps.iter().rposition(|s| s.phase == Some(Phase::Stage));
        let is_stage = |id: &str| steps.iter().any(|o| o.id == id && o.phase == Some(Phase::Stage));
        for (i, step) in steps.iter().enumerate() {
            // A step that did not decode has no phase to judge (its own error says why).
            if self.broken.steps.contains(&i) {
                continue;
            }
            let at = |k: &str| vec![key("steps"), Seg::Index(i), key(k)];
            if step.phase == Some(Phase::Stage)
                && let Some(c) = first_cut_over.filter(|c| *c < i)
            {
                problems.push((
                    at("phase"),
                    format!("a `phase: stage` step comes after `phase: cut-over` step `{}`: stage first", steps[c].id),
                ));
            }
            let disrupts = step.action.as_deref().and_then(|a| self.actions.find(a)).is_some_and(|d| d.disrupts);
            if step.phase.is_none() && disrupts && last_stage.is_some_and(|l| i < l) {
                problems.push((
                    at("action"),
                    format!(
                        "`{}` disrupts what serves, and a stage run takes the steps without a phase before its last \
                         stage step `{}`: give it `phase: cut-over`",
                        step.action.as_deref().unwrap_or_default(),
                        steps[last_stage.unwrap_or_default()].id
                    ),
                ));
            }
            if let Some(group) = step.group.as_deref()
                && let Some((f, first)) = steps
                    .iter()
                    .enumerate()
                    .find(|(f, o)| o.group.as_deref() == Some(group) && !self.broken.steps.contains(f))
                && f != i
                && first.phase != step.phase
            {
                problems.push((
                    at("phase"),
                    format!("the steps of group `{group}` run as one: give them all the phase of `{}`", first.id),
                ));
            }
            if step.phase == Some(Phase::Stage) {
                continue;
            }
            let with = Value::Object(step.with.clone().into_iter().collect());
            let gate = match &step.gate {
                Gate::Checklist(items) => items.clone(),
                Gate::TypeToConfirm(t) => vec![t.clone()],
                _ => Vec::new(),
            };
            let texts = template::strings_in(&with).into_iter().map(|t| ("with", t));
            for (field, text) in texts.chain(gate.iter().map(|t| ("gate", t.as_str()))) {
                for r in template::references(text).unwrap_or_default() {
                    if let Ref::StepOutput { step: other, .. } = &r
                        && is_stage(other)
                    {
                        problems.push((
                            at(field),
                            format!("`{r}` is an output of `phase: stage` step `{other}`, which a cut-over run skips"),
                        ));
                    }
                }
            }
        }
        for (name, env) in &self.rb.environments {
            let Some(role) = &env.role_arn else { continue };
            for r in template::references(role).unwrap_or_default() {
                if let Ref::StepOutput { step: other, .. } = &r
                    && is_stage(other)
                {
                    problems.push((
                        vec![key("environments"), key(name), key("role_arn")],
                        format!("`{r}` is an output of `phase: stage` step `{other}`, which a cut-over run skips: give that step no phase"),
                    ));
                }
            }
        }
        for (path, message) in problems {
            self.at(&path, message);
        }
    }

    /// A group is steps one after another with the same `group`, behind the first one's gate;
    /// they run at once, so none may use another's outputs.
    fn groups(&mut self) {
        let steps = &self.rb.steps;
        let mut ended: Vec<&str> = Vec::new();
        let mut problems = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let prev = i.checked_sub(1).and_then(|p| steps[p].group.as_deref());
            if let Some(p) = prev
                && step.group.as_deref() != Some(p)
            {
                ended.push(p);
            }
            let Some(group) = step.group.as_deref() else { continue };
            let at = |k: &str| vec![key("steps"), Seg::Index(i), key(k)];
            if !ident_ok(group) {
                problems.push((at("group"), format!("group `{group}` must be letters, digits, `-` or `_`")));
            }
            if prev != Some(group) {
                if ended.contains(&group) {
                    problems.push((
                        at("group"),
                        format!("the steps of group `{group}` must be one after another (it ended before this step)"),
                    ));
                }
            } else if step.gate != Gate::None {
                problems.push((
                    at("gate"),
                    format!("only the first step of group `{group}` has a gate: the group runs behind it"),
                ));
            }
            let with = Value::Object(step.with.clone().into_iter().collect());
            for text in template::strings_in(&with) {
                for r in template::references(text).unwrap_or_default() {
                    if let Ref::StepOutput { step: other, .. } = &r
                        && steps.iter().any(|o| o.id == *other && o.group.as_deref() == Some(group))
                    {
                        problems.push((
                            at("with"),
                            format!("`{r}` is an output of step `{other}` of the same group `{group}`, which runs at the same time"),
                        ));
                    }
                }
            }
        }
        for (path, message) in problems {
            self.at(&path, message);
        }
    }

    fn step(&mut self, i: usize, step: &Step, path: &[Seg], base_dir: &Path) {
        let sub = |k: &str| {
            let mut p = path.to_vec();
            p.push(key(k));
            p
        };
        self.refs_in(&step.title, &sub("title"), Some(i));
        self.refs_in(&step.instructions, &sub("instructions"), Some(i));
        // What is shown and journaled as it is must not carry a secret.
        let shown: Vec<(&str, Vec<Seg>)> =
            [(step.title.as_str(), sub("title")), (step.instructions.as_str(), sub("instructions"))]
                .into_iter()
                .chain(match &step.gate {
                    Gate::Checklist(items) => items.iter().map(|t| (t.as_str(), sub("gate"))).collect::<Vec<_>>(),
                    Gate::TypeToConfirm(t) => vec![(t.as_str(), sub("gate"))],
                    Gate::None | Gate::Confirm => Vec::new(),
                })
                .collect();
        for (text, path) in shown {
            for r in template::references(text).unwrap_or_default() {
                if let Ref::Input(n) = &r
                    && self.rb.inputs.get(n).is_some_and(|s| s.secret)
                {
                    self.at(&path, format!("secret input `{n}` cannot appear in a title, instructions or a gate (they are shown); use it in `with:`"));
                }
            }
        }
        match &step.gate {
            Gate::Checklist(items) if items.is_empty() => {
                self.at(&sub("gate"), "a checklist gate needs at least one item")
            }
            Gate::Checklist(items) => {
                for item in items {
                    self.refs_in(item, &sub("gate"), Some(i));
                }
            }
            Gate::TypeToConfirm(text) if text.trim().is_empty() => {
                self.at(&sub("gate"), "type_to_confirm needs the text to type")
            }
            Gate::TypeToConfirm(text) => self.refs_in(text, &sub("gate"), Some(i)),
            Gate::None | Gate::Confirm => {}
        }
        if let Some(t) = &step.timeout {
            match humantime::parse_duration(t) {
                Err(e) => self.at(&sub("timeout"), format!("`{t}` is not a duration like `90s` or `15m`: {e}")),
                Ok(d) if d > MAX_TIMEOUT || d.is_zero() => {
                    self.at(&sub("timeout"), format!("timeout `{t}` must be more than 0 and at most 7 days"))
                }
                Ok(_) => {}
            }
        }
        if let Some(w) = &step.when {
            match Condition::parse(w) {
                Ok(c) if !self.rb.inputs.contains_key(&c.input) && !self.broken.inputs.contains(&c.input) => {
                    self.at(&sub("when"), format!("`when` refers to unknown input `{}`", c.input))
                }
                Ok(_) => {}
                Err(e) => self.at(&sub("when"), e),
            }
        }
        let rolls_back = crate::runbook::model::UNDOABLE_ACTIONS.contains(&step.action.as_deref().unwrap_or_default());
        if step.on_failure == crate::runbook::OnFailure::Rollback && !rolls_back {
            self.at(
                &sub("on_failure"),
                format!(
                    "`on_failure: rollback` puts primary back after a failback: only for {}",
                    crate::runbook::model::UNDOABLE_ACTIONS.join(", ")
                ),
            );
        }
        let Some(action) = &step.action else {
            if !step.with.is_empty() {
                self.at(&sub("with"), "`with` is given but the step has no `action`");
            }
            return;
        };
        let Some(info) = self.actions.find(action) else {
            let message = self.actions.unknown_message(action);
            self.at(&sub("action"), message);
            return;
        };
        if step.phase == Some(Phase::Stage) && info.disrupts {
            self.at(
                &sub("phase"),
                format!("`{action}` disrupts what serves: a `phase: stage` step must leave both sides serving (`phase: cut-over`)"),
            );
        }
        let with_path = sub("with");
        let with = Value::Object(step.with.clone().into_iter().collect());
        for s in template::strings_in(&with) {
            self.refs_in(s, &with_path, Some(i));
        }
        for field in info.no_secrets {
            let Some(value) = step.with.get(*field) else { continue };
            let mut named: Vec<String> = Vec::new();
            for s in template::strings_in(value) {
                for r in template::references(s).unwrap_or_default() {
                    if let Ref::Input(name) = r
                        && self.rb.inputs.get(&name).is_some_and(|spec| spec.secret)
                        && !named.contains(&name)
                    {
                        named.push(name);
                    }
                }
            }
            for name in named {
                let var = name.to_uppercase().replace('-', "_");
                let mut path = with_path.clone();
                path.push(Seg::Key((*field).into()));
                self.at(
                    &path,
                    format!(
                        "secret input `{name}` cannot appear in `{field}`: every local user can read a command line \
                         (ps); pass it in `env:` ({var}: \"{{{{ inputs.{name} }}}}\") and use ${var} in the command"
                    ),
                );
            }
        }
        // Type-check the parameters as they would be at run time: inputs take their defaults (or
        // a sample of their type), step outputs a placeholder string.
        let rb = self.rb;
        let lookup = |r: &Ref| -> Option<Value> {
            match r {
                Ref::Input(n) => rb.inputs.get(n).map(|s| s.default.clone().unwrap_or_else(|| sample_value(s.kind))),
                Ref::StepOutput { .. } => Some(Value::String(format!("<{r}>"))),
            }
        };
        let Ok(rendered) = template::render(&with, &lookup) else { return };
        let cx = CheckCx { runbook: self.rb, base_dir, check_files: self.check_files };
        for (p, m) in self.actions.check(info.name, &rendered, &cx) {
            let problem = self.problem_in(&with_path, &p, m);
            self.problems.push(problem);
        }
    }

    fn problem_in(&self, base: &[Seg], rel: &[Seg], message: String) -> Problem {
        let mut full = base.to_vec();
        full.extend_from_slice(rel);
        if let Some(name) = message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
            return Problem::new(self.tree.key_pos(&full, name), message);
        }
        Problem::new(self.tree.locate(&full).pos, message)
    }

    /// Checks the references in one string. `step` is the index of the step the string is in
    /// (None outside steps, where only inputs may be referenced).
    fn refs_in(&mut self, s: &str, path: &[Seg], step: Option<usize>) {
        let refs = match template::references(s) {
            Ok(r) => r,
            Err(e) => return self.at(path, e),
        };
        for r in refs {
            match &r {
                Ref::Input(n) if !self.rb.inputs.contains_key(n) => {
                    self.at(path, format!("`{r}`: unknown input `{n}`"))
                }
                Ref::Input(_) => {}
                Ref::StepOutput { step: id, output } => {
                    let Some(current) = step else {
                        self.at(path, format!("`{r}`: step outputs can only be used inside steps"));
                        continue;
                    };
                    let Some(j) = self.rb.steps.iter().position(|s| &s.id == id) else {
                        if self.broken.header {
                            continue;
                        }
                        self.at(path, format!("`{r}`: unknown step `{id}`"));
                        continue;
                    };
                    if j >= current {
                        self.at(path, format!("`{r}`: step `{id}` does not run before this step"));
                        continue;
                    }
                    if self.broken.steps.contains(&j) {
                        continue;
                    }
                    let declared =
                        self.rb.steps[j].action.as_deref().and_then(|a| self.actions.find(a)).map(|a| a.outputs);
                    match declared {
                        None => self.at(path, format!("`{r}`: step `{id}` has no action, so it has no outputs")),
                        Some(Some(names)) if !names.contains(&output.as_str()) => self.at(
                            path,
                            format!(
                                "`{r}`: `{}` has no output `{output}` (it has: {})",
                                self.rb.steps[j].action.as_deref().unwrap_or(""),
                                names.join(", ")
                            ),
                        ),
                        Some(_) => {}
                    }
                }
            }
        }
    }
}

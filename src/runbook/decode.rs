//! Decodes the positioned YAML tree into the typed model, one piece at a time.
//!
//! Each input, environment, resource and step is decoded on its own, so a mistake in one does not
//! hide the mistakes in the others. serde's messages are kept; serde_path_to_error says where.

use super::diagnostics::Problem;
use super::model::{Runbook, Step};
use super::yaml_tree::{Node, Seg};
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashSet;

/// Decodes `value` (found at `path` in `tree`) into `T`, or says where and why it cannot.
pub fn decode_at<T: DeserializeOwned>(value: Value, tree: &Node, path: &[Seg]) -> Result<T, Problem> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
        let mut full: Vec<Seg> = path.to_vec();
        for seg in err.path().iter() {
            match seg {
                serde_path_to_error::Segment::Map { key } => full.push(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => full.push(Seg::Index(*index)),
                _ => {}
            }
        }
        let message = err.into_inner().to_string();
        let pos = match unknown_field(&message) {
            Some(name) => {
                if full.last() == Some(&Seg::Key(name.to_string())) {
                    full.pop();
                }
                tree.key_pos(&full, name)
            }
            None => tree.locate(&full).pos,
        };
        Problem::new(pos, message)
    })
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// What failed to decode, so validation can skip it instead of reporting knock-on problems
/// (a reference to a step whose own entry was malformed is not a second mistake).
#[derive(Debug, Default)]
pub struct Broken {
    /// Indices of steps that failed to decode (kept as placeholders with their raw `id`).
    pub steps: HashSet<usize>,
    pub inputs: HashSet<String>,
    pub environments: HashSet<String>,
    pub resources: HashSet<String>,
    /// The top-level fields failed to decode and were repaired with placeholders.
    pub header: bool,
}

/// Decodes the whole runbook, collecting a problem from every piece that fails. What fails is
/// replaced by a placeholder (and listed in [`Broken`]) so the rest can still be validated.
pub fn decode(tree: &Node, problems: &mut Vec<Problem>) -> Option<(Runbook, Broken)> {
    let mut root = tree.to_json();
    let Some(obj) = root.as_object_mut() else {
        problems
            .push(Problem::new(tree.pos, "a runbook is a mapping with version, name, title, environments and steps"));
        return None;
    };
    let mut broken = Broken::default();
    let inputs = take_map(obj, tree, "inputs", problems, &mut broken.inputs);
    let environments = take_map(obj, tree, "environments", problems, &mut broken.environments);
    let resources = take_map(obj, tree, "resources", problems, &mut broken.resources);
    let steps = take_steps(obj, tree, problems, &mut broken.steps);
    let mut rb = decode_header(root, tree, problems, &mut broken.header)?;
    if let Some(v) = inputs {
        rb.inputs = v;
    }
    if let Some(v) = environments {
        rb.environments = v;
    }
    if let Some(v) = resources {
        rb.resources = v;
    }
    if let Some(v) = steps {
        rb.steps = v;
    }
    Some((rb, broken))
}

/// Decodes the top level; on failure, reports the problem, repairs the offending field with a
/// placeholder and tries again, so one bad top-level key does not hide the steps' problems.
fn decode_header(mut root: Value, tree: &Node, problems: &mut Vec<Problem>, broken: &mut bool) -> Option<Runbook> {
    for _ in 0..16 {
        match decode_at::<Runbook>(root.clone(), tree, &[]) {
            Ok(rb) => return Some(rb),
            Err(p) => {
                *broken = true;
                let message = p.message.clone();
                problems.push(p);
                let obj = root.as_object_mut()?;
                if let Some(name) = message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
                    obj.remove(name);
                    continue;
                }
                let field = message
                    .strip_prefix("missing field `")
                    .and_then(|r| r.split('`').next())
                    .map(str::to_string)
                    .or_else(|| first_bad_field(obj, tree, &p_pos(problems)))?;
                let placeholder = match field.as_str() {
                    "version" => Value::from(1),
                    "environments" | "inputs" | "resources" | "targets" => Value::Object(Default::default()),
                    "steps" => Value::Array(Vec::new()),
                    _ => Value::String("placeholder".into()),
                };
                obj.insert(field, placeholder);
            }
        }
    }
    None
}

fn p_pos(problems: &[Problem]) -> super::yaml_tree::Pos {
    problems.last().map(|p| p.pos).unwrap_or_default()
}

/// The top-level key whose value holds `pos` (where a type error was reported).
fn first_bad_field(obj: &serde_json::Map<String, Value>, tree: &Node, pos: &super::yaml_tree::Pos) -> Option<String> {
    obj.keys().find(|k| tree.get(k).is_some_and(|n| n.pos == *pos)).cloned()
}

/// Decodes each entry of the mapping under `key` and leaves an empty mapping in its place.
fn take_map<T: DeserializeOwned>(
    obj: &mut serde_json::Map<String, Value>,
    tree: &Node,
    key: &str,
    problems: &mut Vec<Problem>,
    broken: &mut HashSet<String>,
) -> Option<IndexMap<String, T>> {
    let Some(Value::Object(entries)) = obj.get_mut(key) else { return None };
    let entries = std::mem::take(entries);
    let mut out = IndexMap::new();
    for (name, value) in entries {
        let path = [Seg::Key(key.into()), Seg::Key(name.clone())];
        match decode_at::<T>(value, tree, &path) {
            Ok(v) => {
                out.insert(name, v);
            }
            Err(p) => {
                problems.push(p);
                broken.insert(name);
            }
        }
    }
    Some(out)
}

/// Decodes each step; a step that fails becomes a manual placeholder with its raw `id`, so
/// duplicate ids and references to it are still judged correctly.
/// The most approvers a gate may ask for.
pub const MAX_APPROVERS: u64 = 5;

/// Takes `approvers` out of step `i`'s gate mapping (the gate's own variants do not have it):
/// how many people approve the gate. A value that is not 1 to [`MAX_APPROVERS`], or a gate with
/// nothing but approvers, is a problem at its position.
fn take_approvers(step: &mut Value, tree: &Node, i: usize, problems: &mut Vec<Problem>) -> u8 {
    let Some(gate) = step.get_mut("gate").and_then(Value::as_object_mut) else { return 0 };
    let Some(raw) = gate.remove("approvers") else { return 0 };
    let path = [Seg::Key("steps".into()), Seg::Index(i), Seg::Key("gate".into())];
    if gate.is_empty() {
        problems.push(Problem::new(
            tree.key_pos(&path, "approvers"),
            "approvers needs a gate to approve: `gate: { type_to_confirm: TEXT, approvers: 2 }`",
        ));
        return 0;
    }
    match raw.as_u64().filter(|n| (1..=MAX_APPROVERS).contains(n)) {
        Some(n) => n as u8,
        None => {
            let mut at = path.to_vec();
            at.push(Seg::Key("approvers".into()));
            problems.push(Problem::new(
                tree.locate(&at).pos,
                format!("approvers must be a whole number from 1 to {MAX_APPROVERS}, not {raw}"),
            ));
            0
        }
    }
}

fn take_steps(
    obj: &mut serde_json::Map<String, Value>,
    tree: &Node,
    problems: &mut Vec<Problem>,
    broken: &mut HashSet<usize>,
) -> Option<Vec<Step>> {
    let Some(Value::Array(items)) = obj.get_mut("steps") else { return None };
    let items = std::mem::take(items);
    let mut out = Vec::new();
    for (i, mut value) in items.into_iter().enumerate() {
        let id = value.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        let approvers = take_approvers(&mut value, tree, i, problems);
        // Kept from a broken step so it does not split its group in later checks.
        let group = value.get("group").and_then(Value::as_str).map(str::to_string);
        let path = [Seg::Key("steps".into()), Seg::Index(i)];
        match decode_at::<Step>(value, tree, &path) {
            Ok(v) => out.push(Step { approvers, ..v }),
            Err(p) => {
                problems.push(p);
                broken.insert(i);
                out.push(Step {
                    id,
                    title: String::new(),
                    instructions: String::new(),
                    gate: Default::default(),
                    action: None,
                    with: IndexMap::new(),
                    timeout: None,
                    retries: 0,
                    on_failure: Default::default(),
                    when: None,
                    group,
                    phase: None,
                    approvers: 0,
                });
            }
        }
    }
    Some(out)
}

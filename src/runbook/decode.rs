//! Decodes the positioned YAML tree into the typed model, one piece at a time.
//!
//! Each input, environment, resource and step is decoded on its own, so a mistake in one does not
//! hide the mistakes in the others. serde's messages are kept; serde_path_to_error says where.

use super::diagnostics::Problem;
use super::model::Runbook;
use super::yaml_tree::{Node, Seg};
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

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

/// Decodes the whole runbook, collecting a problem from every piece that fails.
pub fn decode(tree: &Node, problems: &mut Vec<Problem>) -> Option<Runbook> {
    let mut root = tree.to_json();
    let Some(obj) = root.as_object_mut() else {
        problems
            .push(Problem::new(tree.pos, "a runbook is a mapping with version, name, title, environments and steps"));
        return None;
    };
    let before = problems.len();
    let inputs = take_map(obj, tree, "inputs", problems);
    let environments = take_map(obj, tree, "environments", problems);
    let resources = take_map(obj, tree, "resources", problems);
    let steps = take_seq(obj, tree, "steps", problems);
    let header: Option<Runbook> = match decode_at(root, tree, &[]) {
        Ok(h) => Some(h),
        Err(p) => {
            problems.push(p);
            None
        }
    };
    if problems.len() > before {
        return None;
    }
    let mut rb = header?;
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
    Some(rb)
}

/// Decodes each entry of the mapping under `key` and leaves an empty mapping in its place.
fn take_map<T: DeserializeOwned>(
    obj: &mut serde_json::Map<String, Value>,
    tree: &Node,
    key: &str,
    problems: &mut Vec<Problem>,
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
            Err(p) => problems.push(p),
        }
    }
    Some(out)
}

/// Decodes each item of the sequence under `key` and leaves an empty sequence in its place.
fn take_seq<T: DeserializeOwned>(
    obj: &mut serde_json::Map<String, Value>,
    tree: &Node,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<Vec<T>> {
    let Some(Value::Array(items)) = obj.get_mut(key) else { return None };
    let items = std::mem::take(items);
    let mut out = Vec::new();
    for (i, value) in items.into_iter().enumerate() {
        let path = [Seg::Key(key.into()), Seg::Index(i)];
        match decode_at::<T>(value, tree, &path) {
            Ok(v) => out.push(v),
            Err(p) => problems.push(p),
        }
    }
    Some(out)
}

//! The JSON Schema of the runbook format, generated from the Rust types (never hand-written), so
//! editors with a YAML language server complete and check runbooks exactly as the loader does.

use super::catalog::ActionCatalog;
use super::model::Runbook;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

/// The schema as JSON. Each action's `with:` parameters are attached to `Step` with
/// `if action == NAME then with: <params>` clauses.
pub fn runbook_schema(actions: &dyn ActionCatalog) -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let docs = actions.docs();
    let params: Vec<(&str, schemars::Schema)> =
        docs.iter().filter_map(|d| Some((d.name, actions.param_schema(d.name, &mut generator)?))).collect();
    let root = generator.into_root_schema_for::<Runbook>();
    let mut root = root.to_value();
    let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
    let defs = root.get("$defs").cloned().unwrap_or(Value::Null);
    let clauses: Vec<Value> = params
        .into_iter()
        .map(|(name, schema)| {
            let mut with = schema.to_value();
            // The parameters' own definition, where the generator put it.
            let def =
                with.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")).map(String::from);
            match def.and_then(|d| root.pointer_mut(&format!("/$defs/{d}"))) {
                Some(target) => templated_choices(target, &defs),
                None => templated_choices(&mut with, &defs),
            }
            json!({
                "if": { "properties": { "action": { "const": name } }, "required": ["action"] },
                "then": { "properties": { "with": with } }
            })
        })
        .collect();
    let description = std::iter::once("A built-in action. Without one the step is manual.".to_string())
        .chain(docs.iter().map(|a| format!("{}: {}", a.name, a.summary)))
        .collect::<Vec<_>>()
        .join("\n");
    if let Some(step) = root.pointer_mut("/$defs/Step").and_then(Value::as_object_mut) {
        step.insert("allOf".into(), Value::Array(clauses));
        if let Some(action) = step.get_mut("properties").and_then(|p| p.get_mut("action")) {
            *action = json!({
                "description": description,
                "type": ["string", "null"],
                "enum": names.iter().map(|n| Value::from(*n)).chain([Value::Null]).collect::<Vec<_>>()
            });
        }
    }
    approvers_in_gates(&mut root);
    root
}

/// `approvers` inside a gate's mapping, as the loader takes it (`decode::take_approvers`): the
/// gate's own variants do not have it.
fn approvers_in_gates(root: &mut Value) {
    let Some(variants) = root.pointer_mut("/$defs/Gate/oneOf").and_then(Value::as_array_mut) else { return };
    for variant in variants.iter_mut().filter(|v| v["type"] == "object") {
        if let Some(props) = variant.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert(
                "approvers".into(),
                json!({
                    "type": "integer",
                    "minimum": 1,
                    "maximum": super::decode::MAX_APPROVERS,
                    "description": "How many people approve the gate, each under their own AWS identity: the driver and \
                        the others from their machines (`pilotlight watch RUN --team TABLE --approve STEP`). Team mode only."
                }),
            );
        }
    }
}

/// A parameter that is one of a few words (`method: in-place`) or a boolean may also be a template
/// (`method: "{{ inputs.table_method }}"`), as the loader accepts: it is checked once rendered.
fn templated_choices(params: &mut Value, defs: &Value) {
    let template = json!({ "type": "string", "pattern": "^\\s*\\{\\{.*\\}\\}\\s*$" });
    let Some(properties) = params.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for property in properties.values_mut() {
        if property.get("type").and_then(Value::as_str) == Some("boolean") {
            *property = json!({ "anyOf": [property.clone(), template] });
            continue;
        }
        let Some(name) = property.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) else {
            continue;
        };
        let def = &defs[name];
        let consts =
            def.get("oneOf").and_then(Value::as_array).is_some_and(|o| o.iter().all(|c| c.get("const").is_some()));
        if def.get("enum").is_some() || consts {
            *property = json!({ "anyOf": [property.clone(), template] });
        }
    }
}

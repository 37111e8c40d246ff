//! Typed inputs: checking values against their spec and turning `--var key=value` into values.
//!
//! A bad or missing value stops the run before it starts, with every problem listed.

use super::model::{InputSpec, InputType, Runbook};
use indexmap::IndexMap;
use serde_json::Value;

/// Checks a value against an input's type, and (unless `check_constraints` is false, as for
/// `allowed` entries themselves) against its `allowed` list and `pattern`.
pub fn check_value(spec: &InputSpec, value: &Value, check_constraints: bool) -> Result<(), String> {
    let type_ok = match spec.kind {
        InputType::String => value.is_string(),
        InputType::Integer => value.is_i64() || value.is_u64(),
        InputType::Boolean => value.is_boolean(),
        InputType::List => value.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
    };
    if !type_ok {
        return Err(format!("{value} is not a {}", describe(spec.kind)));
    }
    if !check_constraints {
        return Ok(());
    }
    if let Some(allowed) = &spec.allowed {
        let items: Vec<&Value> = match value.as_array() {
            Some(a) => a.iter().collect(),
            None => vec![value],
        };
        for item in items {
            if !allowed.contains(item) {
                let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
                return Err(format!("{item} is not one of the allowed values: {}", list.join(", ")));
            }
        }
    }
    if let Some(pattern) = &spec.pattern {
        let re = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("bad pattern: {e}"))?;
        let strings: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for s in strings {
            if !re.is_match(s) {
                return Err(format!("{s:?} does not match the pattern `{pattern}`"));
            }
        }
    }
    Ok(())
}

fn describe(kind: InputType) -> &'static str {
    match kind {
        InputType::String => "string",
        InputType::Integer => "integer",
        InputType::Boolean => "boolean (true or false)",
        InputType::List => "list of strings",
    }
}

/// A value of the right type, for type-checking templates whose input has no default.
pub fn sample_value(kind: InputType) -> Value {
    match kind {
        InputType::String => Value::String(String::new()),
        InputType::Integer => Value::from(0),
        InputType::Boolean => Value::Bool(false),
        InputType::List => Value::Array(Vec::new()),
    }
}

/// Parses the text of `--var name=value` for an input of this type. Lists are comma-separated or
/// a JSON array.
pub fn parse_var(spec: &InputSpec, raw: &str) -> Result<Value, String> {
    match spec.kind {
        InputType::String => Ok(Value::String(raw.to_string())),
        InputType::Integer => {
            raw.trim().parse::<i64>().map(Value::from).map_err(|_| format!("{raw:?} is not an integer"))
        }
        InputType::Boolean => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("{raw:?} is not a boolean (true or false)")),
        },
        InputType::List => {
            let t = raw.trim();
            if t.starts_with('[') {
                serde_json::from_str::<Vec<String>>(t)
                    .map(|v| Value::Array(v.into_iter().map(Value::String).collect()))
                    .map_err(|e| format!("{raw:?} is not a JSON list of strings: {e}"))
            } else if t.is_empty() {
                Ok(Value::Array(Vec::new()))
            } else {
                Ok(Value::Array(t.split(',').map(|s| Value::String(s.trim().to_string())).collect()))
            }
        }
    }
}

/// A message about a secret input's value without the value in it.
pub fn scrub(spec: &InputSpec, message: &str, raw: &str) -> String {
    if !spec.secret || raw.is_empty() {
        return message.to_string();
    }
    let mut out = message.replace(&format!("{raw:?}"), "<secret>").replace(raw, "<secret>");
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out = out.replace(part, "<secret>");
    }
    out
}

/// Secrets shorter than this could match ordinary text everywhere, so redacting them would
/// garble the journal; a runbook input rule, enforced when the value is given.
pub const MIN_SECRET_LEN: usize = 6;

/// A secret too short to redact safely (it would match ordinary text) is refused.
pub fn check_secret_len(spec: &InputSpec, value: &Value) -> Result<(), String> {
    let min = MIN_SECRET_LEN;
    let too_short = |v: &Value| v.as_str().is_some_and(|s| s.chars().count() < min);
    if spec.secret && (too_short(value) || value.as_array().is_some_and(|a| a.iter().any(too_short))) {
        return Err(format!("a secret must be at least {min} characters (shorter ones cannot be redacted safely)"));
    }
    Ok(())
}

/// Resolves every input from `--var` pairs and defaults. Returns every problem, not just the first.
pub fn resolve(rb: &Runbook, vars: &[(String, String)]) -> Result<IndexMap<String, Value>, Vec<String>> {
    resolve_inner(rb, vars, false)
}

/// Like [`resolve`], for a plan: a secret input that is not given stands as its
/// `<secret:NAME>` marker instead of being required (a plan needs no secret).
pub fn resolve_for_plan(rb: &Runbook, vars: &[(String, String)]) -> Result<IndexMap<String, Value>, Vec<String>> {
    resolve_inner(rb, vars, true)
}

fn resolve_inner(
    rb: &Runbook,
    vars: &[(String, String)],
    secret_markers: bool,
) -> Result<IndexMap<String, Value>, Vec<String>> {
    let mut problems = Vec::new();
    let mut given: IndexMap<&str, &str> = IndexMap::new();
    for (k, v) in vars {
        if !rb.inputs.contains_key(k) {
            let known: Vec<&str> = rb.inputs.keys().map(String::as_str).collect();
            problems.push(format!(
                "--var {k}: runbook `{}` has no input `{k}` (inputs: {})",
                rb.name,
                known.join(", ")
            ));
        }
        given.insert(k, v);
    }
    let mut out = IndexMap::new();
    for (name, spec) in &rb.inputs {
        let value = match (given.get(name.as_str()), &spec.default) {
            (Some(raw), _) => match parse_var(spec, raw) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("--var {name}: {}", scrub(spec, &e, raw)));
                    continue;
                }
            },
            (None, Some(d)) => d.clone(),
            (None, None) if secret_markers && spec.secret => {
                let marker = Value::String(format!("<secret:{name}>"));
                let value = if spec.kind == InputType::List { Value::Array(vec![marker]) } else { marker };
                out.insert(name.clone(), value);
                continue;
            }
            (None, None) => {
                problems
                    .push(format!("input `{name}` is required ({}): give --var {name}=VALUE", spec.description.trim()));
                continue;
            }
        };
        if let Err(e) = check_value(spec, &value, true) {
            let raw = given.get(name.as_str()).copied().unwrap_or_default();
            problems.push(format!("input `{name}`: {}", scrub(spec, &e, raw)));
            continue;
        }
        if let Err(e) = check_secret_len(spec, &value) {
            problems.push(format!("input `{name}`: {e}"));
            continue;
        }
        out.insert(name.clone(), value);
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

/// The environment variable that gives an input: `PILOTLIGHT_VAR_DB_PASSWORD` for `db_password`.
pub fn env_var_name(input: &str) -> String {
    format!("PILOTLIGHT_VAR_{}", input.to_uppercase().replace('-', "_"))
}

/// Splits `key=value`.
pub fn split_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("--var {s:?}: expected KEY=VALUE")),
    }
}

//! `{{ inputs.x }}` and `{{ steps.id.outputs.y }}` references inside runbook strings.
//!
//! Deliberately tiny: a reference names a value, nothing more (no filters, no logic), so that a
//! runbook read under stress means exactly what it says and validation can check every reference.

use serde_json::Value;

/// A value a template may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    Input(String),
    StepOutput { step: String, output: String },
}

impl std::fmt::Display for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ref::Input(name) => write!(f, "inputs.{name}"),
            Ref::StepOutput { step, output } => write!(f, "steps.{step}.outputs.{output}"),
        }
    }
}

/// A piece of a string: literal text or a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Ref(Ref),
}

fn parse_ref(expr: &str) -> Result<Ref, String> {
    let parts: Vec<&str> = expr.split('.').collect();
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match parts.as_slice() {
        ["inputs", name] if ok(name) => Ok(Ref::Input((*name).to_string())),
        ["steps", step, "outputs", output] if ok(step) && ok(output) => {
            Ok(Ref::StepOutput { step: (*step).to_string(), output: (*output).to_string() })
        }
        _ => Err(format!("`{{{{ {expr} }}}}` is not a reference: use `inputs.NAME` or `steps.ID.outputs.NAME`")),
    }
}

fn pieces(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("unclosed `{{{{` in {s:?}"))?;
        out.push(Piece::Ref(parse_ref(after[..end].trim())?));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Every reference in a string.
pub fn references(s: &str) -> Result<Vec<Ref>, String> {
    Ok(pieces(s)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Ref(r) => Some(r),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Every string inside a JSON value, for checking references in action parameters.
pub fn strings_in(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(strings_in).collect(),
        Value::Object(map) => map.values().flat_map(strings_in).collect(),
        _ => Vec::new(),
    }
}

/// Renders every string in `value`. A string that is exactly one reference takes the referenced
/// value with its type (so `{{ inputs.count }}` stays an integer); otherwise references are
/// interpolated as text.
pub fn render(value: &Value, lookup: &dyn Fn(&Ref) -> Option<Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => render_str(s, lookup)?,
        Value::Array(items) => Value::Array(items.iter().map(|v| render(v, lookup)).collect::<Result<_, _>>()?),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), render(v, lookup)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn render_str(s: &str, lookup: &dyn Fn(&Ref) -> Option<Value>) -> Result<Value, String> {
    let pieces = pieces(s)?;
    let get = |r: &Ref| lookup(r).ok_or_else(|| format!("`{r}` has no value yet"));
    if let [Piece::Ref(r)] = pieces.as_slice() {
        return get(r);
    }
    let mut out = String::new();
    for p in &pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Ref(r) => match get(r)? {
                Value::String(v) => out.push_str(&v),
                other => out.push_str(&other.to_string()),
            },
        }
    }
    Ok(Value::String(out))
}

/// Renders a string to a string (titles, instructions, environment fields).
pub fn render_text(s: &str, lookup: &dyn Fn(&Ref) -> Option<Value>) -> Result<String, String> {
    Ok(match render_str(s, lookup)? {
        Value::String(v) => v,
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(r: &Ref) -> Option<Value> {
        match r {
            Ref::Input(n) if n == "count" => Some(json!(3)),
            Ref::Input(n) if n == "name" => Some(json!("db")),
            Ref::StepOutput { step, output } if step == "flip" && output == "old_value" => Some(json!("10.1.1.10")),
            _ => None,
        }
    }

    #[test]
    fn whole_reference_keeps_its_type() {
        assert_eq!(render(&json!("{{ inputs.count }}"), &scope).unwrap(), json!(3));
        assert_eq!(render(&json!("n={{inputs.count}} {{ inputs.name }}"), &scope).unwrap(), json!("n=3 db"));
        assert_eq!(render(&json!(["{{ steps.flip.outputs.old_value }}"]), &scope).unwrap(), json!(["10.1.1.10"]));
    }

    #[test]
    fn bad_references_are_errors() {
        assert!(references("{{ input.x }}").is_err());
        assert!(references("{{ inputs.x").is_err());
        assert!(render(&json!("{{ inputs.missing }}"), &scope).is_err());
        assert_eq!(references("a {{ steps.s1.outputs.o }} b").unwrap().len(), 1);
    }
}

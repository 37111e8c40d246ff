//! The `when:` condition of a step: a test on one input, small enough to read at a glance.
//!
//! Forms: `inputs.flag`, `not inputs.flag`, `inputs.x == 'value'`, `inputs.x != 'value'`.
//! Literals are YAML-like: `'text'`, `"text"`, `true`, `false`, integers.

use serde_json::Value;

/// A parsed `when:` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub input: String,
    negate: bool,
    compare: Option<(bool, Value)>,
}

impl Condition {
    /// Parses a condition, with a message that shows the accepted forms on failure.
    pub fn parse(src: &str) -> Result<Condition, String> {
        let bad = || {
            format!(
                "cannot read condition `{src}`: use `inputs.x`, `not inputs.x`, `inputs.x == 'v'` or `inputs.x != 'v'`"
            )
        };
        let mut s = src.trim();
        let negate = match s.strip_prefix("not ") {
            Some(rest) => {
                s = rest.trim();
                true
            }
            None => false,
        };
        let (lhs, compare) = if let Some((l, r)) = s.split_once("==") {
            (l.trim(), Some((true, literal(r.trim()).ok_or_else(bad)?)))
        } else if let Some((l, r)) = s.split_once("!=") {
            (l.trim(), Some((false, literal(r.trim()).ok_or_else(bad)?)))
        } else {
            (s, None)
        };
        let name = lhs.strip_prefix("inputs.").ok_or_else(bad)?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(bad());
        }
        if negate && compare.is_some() {
            return Err(bad());
        }
        Ok(Condition { input: name.to_string(), negate, compare })
    }

    /// Evaluates against the input's value.
    pub fn eval(&self, value: &Value) -> bool {
        match &self.compare {
            Some((eq, lit)) => (value == lit) == *eq,
            None => truthy(value) != self.negate,
        }
    }
}

fn literal(s: &str) -> Option<Value> {
    let quoted = |q: char| s.len() >= 2 && s.starts_with(q) && s.ends_with(q);
    if quoted('\'') || quoted('"') {
        return Some(Value::String(s[1..s.len() - 1].to_string()));
    }
    match s {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        _ => s.parse::<i64>().ok().map(Value::from),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forms() {
        assert!(Condition::parse("inputs.flag").unwrap().eval(&json!(true)));
        assert!(!Condition::parse("not inputs.flag").unwrap().eval(&json!(true)));
        assert!(Condition::parse("inputs.kind == 'real'").unwrap().eval(&json!("real")));
        assert!(Condition::parse("inputs.kind != 'real'").unwrap().eval(&json!("test")));
        assert!(Condition::parse("inputs.n == 3").unwrap().eval(&json!(3)));
        assert!(Condition::parse("steps.x").is_err());
        assert!(Condition::parse("inputs.x == bare").is_err());
    }
}

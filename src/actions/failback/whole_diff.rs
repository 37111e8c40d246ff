//! Primary's whole Describe before the failback against the same Describe after it, field by
//! field ([`crate::aws::answer_tree`] reads every field the SDK models). A failback that says
//! "done" while a setting silently went missing is the failure this exists for, so every field
//! that differs is reported with its reason, except the few that must differ because the resource
//! is a new one (ids, create times, status), which each resource type names explicitly.
//!
//! Lists are compared as sets (AWS does not promise an order); tags whose key starts with
//! `pilotlight:` mark this tool's work, not configuration, and are left out on both sides.

use serde_json::Value;

/// How one resource type's fields are judged.
pub struct Rules<'a> {
    /// Fields that differ on any new resource (ids, create times, status): not reported.
    pub must_differ: &'a [&'a str],
    /// Fields that may still differ, and why (storage grew with the snapshot, a new secret).
    pub reasons: &'a [(&'a str, &'a str)],
}

/// The reason given for a field no rule names.
pub const UNKNOWN: &str = "not re-applied by this version of pilotlight: set it by hand if it matters";

/// `path: before -> after (why)` for every field that differs, in path order. A `path` in the
/// rules matches that field and everything under it (`endpoint` covers `endpoint.address`).
pub fn differences(before: &Value, after: &Value, rules: &Rules<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let (before, after) = (strip("", &own_tags_removed(before), rules), strip("", &own_tags_removed(after), rules));
    walk("", &before, &after, rules, &mut out);
    out
}

/// The tree without the fields that must differ; inside lists a field's path is `list[].field`.
fn strip(path: &str, v: &Value, rules: &Rules<'_>) -> Value {
    match v {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter_map(|(k, v)| {
                    let sub = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    let gone = rules.must_differ.iter().any(|r| covers(r, &sub));
                    (!gone).then(|| (k.clone(), strip(&sub, v, rules)))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|i| strip(&format!("{path}[]"), i, rules)).collect()),
        other => other.clone(),
    }
}

fn covers(rule: &str, path: &str) -> bool {
    path == rule || path.strip_prefix(rule).is_some_and(|rest| rest.starts_with('.'))
}

fn walk(path: &str, before: &Value, after: &Value, rules: &Rules<'_>, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let sub = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                walk(&sub, b.get(k).unwrap_or(&Value::Null), a.get(k).unwrap_or(&Value::Null), rules, out);
            }
        }
        (b, a) if same(b, a) => {}
        (b, a) => {
            let why = rules.reasons.iter().find(|(r, _)| covers(r, path)).map_or(UNKNOWN, |(_, why)| why);
            out.push(format!("{path}: {} -> {} ({why})", shown(b), shown(a)));
        }
    }
}

/// Equal, with lists taken as sets and an empty list as none.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => sorted(x) == sorted(y),
        (Value::Array(x), Value::Null) | (Value::Null, Value::Array(x)) => x.is_empty(),
        _ => a == b,
    }
}

fn sorted(items: &[Value]) -> Vec<String> {
    let mut texts: Vec<String> = items.iter().map(Value::to_string).collect();
    texts.sort();
    texts
}

fn shown(v: &Value) -> String {
    match v {
        Value::Null => "(none)".to_string(),
        Value::Array(items) if items.is_empty() => "(none)".to_string(),
        other => other.to_string(),
    }
}

/// The tree without tags whose key starts with `pilotlight:` (in any `tag_list`/`tags` list of
/// `{key, value}` items), so this tool's own marks never count as a difference.
fn own_tags_removed(v: &Value) -> Value {
    match v {
        Value::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), own_tags_removed(v))).collect()),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|item| !item.get("key").and_then(Value::as_str).is_some_and(|k| k.starts_with("pilotlight:")))
                .map(own_tags_removed)
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_field_that_differs_is_named_with_its_reason_and_new_ids_are_not() {
        let before = json!({
            "id": "db-1", "created": "t1", "size": 100, "class": "db.t3.micro",
            "logs": ["postgresql", "upgrade"], "endpoint": { "address": "a", "port": 5432 },
            "groups": [{ "id": "sg-1", "status": "active" }],
            "tag_list": [{ "key": "team", "value": "orders" }, { "key": "pilotlight:run", "value": "r1" }],
        });
        let after = json!({
            "id": "db-2", "created": "t2", "size": 150, "class": "db.t3.micro",
            "logs": ["upgrade", "postgresql"], "endpoint": { "address": "a", "port": 5433 },
            "groups": [{ "id": "sg-1", "status": "adding" }],
            "tag_list": [{ "key": "team", "value": "orders" }, { "key": "pilotlight:run", "value": "r2" }],
            "monitoring_interval": 60,
        });
        let rules =
            Rules { must_differ: &["id", "created", "groups[].status"], reasons: &[("size", "storage never shrinks")] };
        assert_eq!(
            differences(&before, &after, &rules),
            [
                format!("endpoint.port: 5432 -> 5433 ({UNKNOWN})"),
                format!("monitoring_interval: (none) -> 60 ({UNKNOWN})"),
                "size: 100 -> 150 (storage never shrinks)".to_string(),
            ]
        );
        assert!(differences(&before, &before, &rules).is_empty());
        let lost_tag = json!({ "tag_list": [{ "key": "pilotlight:run", "value": "r2" }] });
        assert_eq!(
            differences(&json!({ "tag_list": [{ "key": "team", "value": "orders" }] }), &lost_tag, &rules),
            [format!("tag_list: [{{\"key\":\"team\",\"value\":\"orders\"}}] -> (none) ({UNKNOWN})")]
        );
    }

    #[test]
    fn a_rule_covers_a_field_and_what_is_under_it_not_a_longer_name() {
        assert!(covers("endpoint", "endpoint"));
        assert!(covers("endpoint", "endpoint.address"));
        assert!(!covers("endpoint", "endpoint_type"));
    }
}

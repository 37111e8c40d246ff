//! An SDK answer (a Describe's resource: `DbInstance`, `DbCluster`, `TableDescription`) as a JSON
//! tree, read from its `Debug` rendering: every field the SDK models, with no list of fields to
//! keep up to date by hand. The failback records primary's whole Describe before anything changes
//! and compares it, field by field, with the result ([`crate::actions::failback::whole_diff`]).
//!
//! The SDK's types derive `Debug` (the SDK has no stable serde support), so this reads the grammar
//! `derive(Debug)` writes: `Name { field: value, .. }`, `Some(v)`, `None`, `[a, b]`, `{"k": v}`,
//! string literals, numbers, booleans, unit variants (`Available`), `Unknown(UnknownVariantValue("x"))`
//! and bare tokens (a `DateTime` renders as `2026-12-03T13:02:25Z`). `None`, empty lists and
//! empty structures are left out: AWS answers the same by omitting the element.

use serde_json::{Map, Value};
use std::fmt::Debug;

/// The tree of `value`'s `Debug` rendering; a rendering this reader does not understand becomes
/// one string (compared whole) rather than an error.
pub fn tree(value: &impl Debug) -> Value {
    let text = format!("{value:?}");
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    match p.value() {
        Some(v) if p.at_end() => prune(v).unwrap_or(Value::Null),
        _ => Value::String(text),
    }
}

/// Drops nulls, empty lists and empty objects, recursively.
fn prune(v: Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Array(items) => {
            let items: Vec<Value> = items.into_iter().filter_map(prune).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Value::Object(fields) => {
            let fields: Map<String, Value> = fields.into_iter().filter_map(|(k, v)| Some((k, prune(v)?))).collect();
            (!fields.is_empty()).then_some(Value::Object(fields))
        }
        other => Some(other),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.i == self.s.len()
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'"' => self.string().map(Value::String),
            b'[' => {
                self.i += 1;
                self.items(b']').map(Value::Array)
            }
            b'{' => {
                self.i += 1;
                self.map().map(Value::Object)
            }
            _ => self.named(),
        }
    }

    /// An identifier-led value (`Some(..)`, `Name { .. }`, `Available`) or a bare token.
    fn named(&mut self) -> Option<Value> {
        let token = self.token();
        if token.is_empty() {
            return None;
        }
        let ident =
            token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && token.as_bytes()[0].is_ascii_alphabetic();
        if ident && self.eat(b'(') {
            let mut inner = self.items(b')')?;
            return Some(match (token.as_str(), inner.len()) {
                (_, 1) => inner.remove(0),
                _ => Value::Array(inner),
            });
        }
        if ident && self.eat(b'{') {
            return self.fields().map(Value::Object);
        }
        Some(match token.as_str() {
            "None" => Value::Null,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => match token.parse::<serde_json::Number>() {
                Ok(n) => Value::Number(n),
                Err(_) => Value::String(token),
            },
        })
    }

    /// A run of characters up to whitespace or punctuation (`,`, brackets).
    fn token(&mut self) -> String {
        self.skip_ws();
        let start = self.i;
        while let Some(&c) = self.s.get(self.i) {
            if c.is_ascii_whitespace() || b",{}[]()\"".contains(&c) {
                break;
            }
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// Comma-separated values up to `close`.
    fn items(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            if self.eat(close) {
                return Some(out);
            }
            out.push(self.value()?);
            if !self.eat(b',') && self.peek() != Some(close) {
                return None;
            }
        }
    }

    /// `field: value, ..` up to `}`; a trailing `..` (non-exhaustive) is skipped.
    fn fields(&mut self) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        loop {
            if self.eat(b'}') {
                return Some(out);
            }
            let mut name = self.token();
            if name == ".." {
                continue;
            }
            if name.ends_with(':') {
                name.pop();
            } else if !self.eat(b':') {
                return None;
            }
            let v = self.value()?;
            out.insert(name, v);
            if !self.eat(b',') && self.peek() != Some(b'}') {
                return None;
            }
        }
    }

    /// `{"key": value, ..}` (a `HashMap`), keys rendered as text.
    fn map(&mut self) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        loop {
            if self.eat(b'}') {
                return Some(out);
            }
            let key = match self.value()? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            if !self.eat(b':') {
                return None;
            }
            out.insert(key, self.value()?);
            if !self.eat(b',') && self.peek() != Some(b'}') {
                return None;
            }
        }
    }

    /// A Rust string literal as `Debug` writes it.
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'0' => out.push(0),
                        b'u' => {
                            let end = self.i + self.s[self.i..].iter().position(|&b| b == b'}')?;
                            let hex = std::str::from_utf8(&self.s[self.i + 1..end]).ok()?;
                            let ch = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                            out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                            self.i = end + 1;
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tree;
    use serde_json::json;

    #[derive(Debug)]
    #[allow(dead_code)]
    enum Status {
        Available,
        Unknown(String),
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Group {
        id: Option<String>,
        status: Option<Status>,
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Instance {
        identifier: Option<String>,
        size: Option<i32>,
        ratio: f64,
        multi_az: Option<bool>,
        groups: Option<Vec<Group>>,
        empty: Vec<String>,
        missing: Option<String>,
        created: Option<aws_sdk_rds::primitives::DateTime>,
        tags: std::collections::BTreeMap<String, String>,
        status: Status,
    }

    #[test]
    fn every_field_of_a_derived_debug_becomes_a_tree_without_the_empty_ones() {
        let i = Instance {
            identifier: Some("orders-db \"a\", {b}: [c]\n".into()),
            size: Some(-20),
            ratio: 1.5,
            multi_az: Some(false),
            groups: Some(vec![
                Group { id: Some("sg-1".into()), status: Some(Status::Available) },
                Group { id: None, status: Some(Status::Unknown("new-one".into())) },
            ]),
            empty: vec![],
            missing: None,
            created: Some(aws_sdk_rds::primitives::DateTime::from_secs(1_764_766_945)),
            tags: [("team".to_string(), "orders".to_string())].into(),
            status: Status::Available,
        };
        assert_eq!(
            tree(&i),
            json!({
                "identifier": "orders-db \"a\", {b}: [c]\n",
                "size": -20,
                "ratio": 1.5,
                "multi_az": false,
                "groups": [{ "id": "sg-1", "status": "Available" }, { "status": "new-one" }],
                "created": "2025-12-03T13:02:25Z",
                "tags": { "team": "orders" },
                "status": "Available",
            })
        );
    }

    #[test]
    fn a_real_sdk_answer_is_read_whole() {
        use aws_sdk_rds::types::{DbInstance, Endpoint, Tag, VpcSecurityGroupMembership};
        let db = DbInstance::builder()
            .db_instance_identifier("orders-db")
            .allocated_storage(100)
            .endpoint(Endpoint::builder().address("orders-db.x.rds.amazonaws.com").port(5432).build())
            .vpc_security_groups(VpcSecurityGroupMembership::builder().vpc_security_group_id("sg-1").build())
            .tag_list(Tag::builder().key("team").value("orders").build())
            .build();
        assert_eq!(
            tree(&db),
            json!({
                "db_instance_identifier": "orders-db",
                "allocated_storage": 100,
                "endpoint": { "address": "orders-db.x.rds.amazonaws.com", "port": 5432 },
                "vpc_security_groups": [{ "vpc_security_group_id": "sg-1" }],
                "tag_list": [{ "key": "team", "value": "orders" }],
            })
        );
    }
}

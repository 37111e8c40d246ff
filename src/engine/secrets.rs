//! Secret inputs (`secret: true`): used by actions, never written to the journal or shown.
//!
//! Every event is redacted before it is journaled or observed, so a token that ends up in a
//! command line, an error message or a smoke test's output appears as `<secret:NAME>`. The
//! journal therefore cannot restore a secret: a resumed run is given it again with `--var`.

use crate::journal::Event;
use crate::runbook::Runbook;
use indexmap::IndexMap;
use serde_json::Value;

/// The secret values of a run, longest first (so a secret containing another is replaced whole).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Vec<(String, String)>,
}

impl Secrets {
    /// Collects the values of the runbook's secret inputs (strings, and each item of a list).
    pub fn new(runbook: &Runbook, inputs: &IndexMap<String, Value>) -> Secrets {
        let mut values = Vec::new();
        for name in runbook.inputs.iter().filter(|(_, s)| s.secret).map(|(n, _)| n) {
            let items: Vec<&Value> = match inputs.get(name) {
                Some(Value::Array(items)) => items.iter().collect(),
                Some(v) => vec![v],
                None => Vec::new(),
            };
            for v in items {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if !text.is_empty() {
                    values.push((name.clone(), text));
                }
            }
        }
        values.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        Secrets { values }
    }

    /// The inputs as the journal records them: secret ones replaced by a marker.
    pub fn journaled_inputs(runbook: &Runbook, inputs: &IndexMap<String, Value>) -> IndexMap<String, Value> {
        inputs
            .iter()
            .map(|(k, v)| {
                let secret = runbook.inputs.get(k).is_some_and(|s| s.secret);
                (k.clone(), if secret { Value::String(format!("<secret:{k}>")) } else { v.clone() })
            })
            .collect()
    }

    fn redact_str(&self, s: &mut String) {
        for (name, value) in &self.values {
            if s.contains(value.as_str()) {
                *s = s.replace(value.as_str(), &format!("<secret:{name}>"));
            }
        }
    }

    /// Replaces secret values in every string of `v`.
    pub fn redact_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => self.redact_str(s),
            Value::Array(items) => items.iter_mut().for_each(|i| self.redact_value(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.redact_value(i)),
            _ => {}
        }
    }

    /// The event with every secret value replaced.
    pub fn redact_event(&self, event: Event) -> Event {
        if self.values.is_empty() {
            return event;
        }
        let Ok(mut v) = serde_json::to_value(&event) else { return event };
        self.redact_value(&mut v);
        serde_json::from_value(v).unwrap_or(event)
    }

    /// A text with every secret value replaced (for what is shown at a gate).
    pub fn redact_text(&self, text: &str) -> String {
        let mut s = text.to_string();
        self.redact_str(&mut s);
        s
    }
}

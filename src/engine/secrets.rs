//! Secret inputs (`secret: true`): used by actions, never written to the journal or shown.
//!
//! Every event's free-text fields (parameters, outputs, errors, notes, reasons) are redacted
//! before the event is journaled or observed, so a token that ends up in a command line, an
//! error or a smoke test's output appears as `<secret:NAME>`. Ids, statuses and keys are never
//! touched. The journal cannot restore a secret: a resumed run is given it again with `--var`,
//! and the markers in journaled outputs and sub-step records are turned back into the values.

use crate::journal::Event;
use crate::runbook::Runbook;
use indexmap::IndexMap;
use serde_json::Value;

/// The secret values of a run, longest first (so a secret containing another is replaced whole).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Vec<(String, String)>,
}

fn marker(name: &str) -> String {
    format!("<secret:{name}>")
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
            for text in items.into_iter().filter_map(Value::as_str) {
                if !text.is_empty() {
                    values.push((name.clone(), text.to_string()));
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
                (k.clone(), if secret { Value::String(marker(k)) } else { v.clone() })
            })
            .collect()
    }

    fn redact_str(&self, s: &mut String) {
        for (name, value) in &self.values {
            if s.contains(value.as_str()) {
                *s = s.replace(value.as_str(), &marker(name));
            }
        }
    }

    /// Replaces secret values in every string of `v` (keys are left alone).
    pub fn redact_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => self.redact_str(s),
            Value::Array(items) => items.iter_mut().for_each(|i| self.redact_value(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.redact_value(i)),
            _ => {}
        }
    }

    /// Puts the values back where markers stand (outputs and checkpoints read from a journal).
    pub fn unredact_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                for (name, value) in &self.values {
                    let m = marker(name);
                    if s.contains(&m) {
                        *s = s.replace(&m, value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.unredact_value(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.unredact_value(i)),
            _ => {}
        }
    }

    fn redact_opt(&self, s: &mut Option<String>) {
        if let Some(s) = s {
            self.redact_str(s);
        }
    }

    /// The event with secret values replaced in its free-text fields.
    pub fn redact_event(&self, mut event: Event) -> Event {
        if self.values.is_empty() {
            return event;
        }
        match &mut event {
            Event::StepStatus { reason, .. } => self.redact_opt(reason),
            Event::GateDecided { typed, reason, checked, .. } => {
                self.redact_opt(typed);
                self.redact_opt(reason);
                checked.iter_mut().for_each(|c| self.redact_str(c));
            }
            Event::ActionStarted { params, .. } => self.redact_value(params),
            Event::PreflightChecked { checks, .. } => checks.iter_mut().for_each(|c| self.redact_str(&mut c.why)),
            Event::AwsCall { target, message, .. } => {
                self.redact_str(target);
                self.redact_opt(message);
            }
            Event::SubStep { data, .. } => self.redact_value(data),
            Event::AccountChecked { message, .. } => self.redact_opt(message),
            Event::ActionLog { message, .. } => self.redact_str(message),
            Event::ActionFinished { outputs, error, .. } => {
                outputs.values_mut().for_each(|v| self.redact_value(v));
                self.redact_opt(error);
            }
            Event::FailureDecided { reason, .. } => self.redact_opt(reason),
            Event::RunAbandoned { reason, .. } | Event::UndoStarted { reason, .. } => self.redact_str(reason),
            Event::UndoStepFinished { outputs, error, .. } | Event::RolledBack { outputs, error, .. } => {
                outputs.values_mut().for_each(|v| self.redact_value(v));
                self.redact_opt(error);
            }
            Event::UndoFinished { .. }
            | Event::SubStepsReset { .. }
            | Event::RunStarted { .. }
            | Event::RunSupersedes { .. }
            | Event::Approval { .. }
            | Event::RunResumed { .. }
            | Event::RunInterrupted { .. }
            | Event::RunFinished { .. } => {}
        }
        event
    }

    /// A text with every secret value replaced (for what is shown).
    pub fn redact_text(&self, text: &str) -> String {
        let mut s = text.to_string();
        self.redact_str(&mut s);
        s
    }

    /// A JSON value shown as text, redacted before it is escaped (so no escaping hides a value).
    pub fn redact_json(&self, v: &Value) -> String {
        let mut v = v.clone();
        self.redact_value(&mut v);
        v.to_string()
    }
}

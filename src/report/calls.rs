//! Which sub-step, and so which resource, each journaled AWS call belongs to.
//!
//! The journal records a call with its step but not its sub-step, so the attribution comes from
//! journal order: a call belongs to the sub-step of its step that was open (started, not yet
//! done or reset) when it was journaled. A failback action runs its resources concurrently, so
//! sub-steps of several resources can be open at once; then the call's target decides, looked up
//! among the identifiers each open resource has journaled so far (sub-step details and results)
//! and the runbook's own identifiers for it. A call that matches no open resource, or several, is
//! left unattributed: a wrong attribution would be worse than an honest count under the step.

use crate::journal::{CallOutcome, Entry, Event, SubPhase};
use crate::runbook::Runbook;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// One AWS call (a mutating call's `sending` and outcome entries make one call).
#[derive(Debug, Clone, PartialEq)]
pub struct CallFact {
    /// The entry that counts the call: `sending` for a mutating call, the outcome for a read.
    pub seq: u64,
    pub at: String,
    pub step: String,
    pub service: String,
    pub operation: String,
    pub target: String,
    pub region: String,
    pub mutating: bool,
    /// The open sub-step it was made in.
    pub substep: Option<String>,
    /// That sub-step's resource (the part of its name before `/`).
    pub resource: Option<String>,
    /// Made while several resources' sub-steps were open, and the target did not tell which.
    pub unattributed: bool,
    pub error: bool,
    /// False for a mutating call whose outcome was never journaled (the process stopped while it
    /// was in flight: it may or may not have happened).
    pub answered: bool,
}

impl CallFact {
    /// `service Operation target (region)`, for the report's text.
    pub fn label(&self) -> String {
        format!("{} {} {} ({})", self.service, self.operation, self.target, self.region)
    }
}

/// The resource a sub-step works on: the part of `resource/part` before the slash.
pub fn resource_of(substep: &str) -> Option<&str> {
    substep.split_once('/').map(|(r, _)| r).filter(|r| !r.is_empty())
}

/// A sub-step open in a step, in the order they started.
struct Open {
    name: String,
    resource: Option<String>,
}

/// Scans the journal and returns every call, attributed, in journal order.
pub fn attribute(entries: &[Entry], runbook: Option<&Runbook>) -> Vec<CallFact> {
    let mut open: HashMap<String, Vec<Open>> = HashMap::new();
    // (step, resource) -> identifiers journaled for it so far.
    let mut known: HashMap<(String, String), HashSet<String>> = HashMap::new();
    let mut pending: HashMap<(String, String, String, String, String), Vec<usize>> = HashMap::new();
    let mut calls: Vec<CallFact> = Vec::new();
    for entry in entries {
        match &entry.event {
            Event::SubStep { step, name, phase, data, .. } => {
                let list = open.entry(step.clone()).or_default();
                list.retain(|o| &o.name != name);
                if let Some(resource) = resource_of(name) {
                    let ids = known
                        .entry((step.clone(), resource.to_string()))
                        .or_insert_with(|| runbook_ids(runbook, resource).into_iter().collect::<HashSet<String>>());
                    collect_strings(data, ids);
                }
                if matches!(phase, SubPhase::Started | SubPhase::Waiting) {
                    list.push(Open { name: name.clone(), resource: resource_of(name).map(str::to_string) });
                }
            }
            // Whatever was open ends with the attempt.
            Event::ActionFinished { step, .. } => {
                open.remove(step);
            }
            // A new attempt (a retry, or the run resumed after a kill) also starts with no call
            // in flight: an outcome after this point answers a call sent after it.
            Event::ActionStarted { step, .. } => {
                open.remove(step);
                pending.retain(|k, _| &k.0 != step);
            }
            Event::RunResumed { .. } | Event::RunInterrupted { .. } => {
                open.clear();
                pending.clear();
            }
            Event::AwsCall { step, service, operation, target, region, mutating, outcome, .. } => {
                let key = (step.clone(), service.clone(), operation.clone(), target.clone(), region.clone());
                if *outcome != CallOutcome::Sending
                    && *mutating
                    && let Some(i) = pending.get_mut(&key).and_then(|q| (!q.is_empty()).then(|| q.remove(0)))
                {
                    calls[i].error = *outcome == CallOutcome::Error;
                    calls[i].answered = true;
                    continue;
                }
                let (substep, resource, unattributed) = place(open.get(step), &known, step, target);
                if *outcome == CallOutcome::Sending {
                    pending.entry(key).or_default().push(calls.len());
                }
                calls.push(CallFact {
                    seq: entry.seq,
                    at: entry.ts.clone(),
                    step: step.clone(),
                    service: service.clone(),
                    operation: operation.clone(),
                    target: target.clone(),
                    region: region.clone(),
                    mutating: *mutating,
                    substep,
                    resource,
                    unattributed,
                    error: *outcome == CallOutcome::Error,
                    answered: *outcome != CallOutcome::Sending,
                });
            }
            _ => {}
        }
    }
    calls
}

/// Where a call made now in `step` goes: (sub-step, resource, unattributed).
fn place(
    open: Option<&Vec<Open>>,
    known: &HashMap<(String, String), HashSet<String>>,
    step: &str,
    target: &str,
) -> (Option<String>, Option<String>, bool) {
    let Some(open) = open.filter(|o| !o.is_empty()) else { return (None, None, false) };
    let mut resources: Vec<&Option<String>> = open.iter().map(|o| &o.resource).collect();
    resources.sort();
    resources.dedup();
    let chosen: Option<&Option<String>> = if resources.len() == 1 {
        Some(resources[0])
    } else {
        let matching: Vec<&Option<String>> = resources
            .into_iter()
            .filter(|r| match r {
                Some(r) => known.get(&(step.to_string(), r.clone())).is_some_and(|ids| names(ids, target)),
                None => false,
            })
            .collect();
        (matching.len() == 1).then(|| matching[0])
    };
    match chosen {
        // The latest started open sub-step of that resource (the innermost, if they nest).
        Some(resource) => {
            let sub = open.iter().rev().find(|o| &o.resource == resource).map(|o| o.name.clone());
            (sub, resource.clone(), false)
        }
        None => (None, None, true),
    }
}

/// True when the call's target is one of the identifiers, or has one as a word
/// (`snap-1 (copy)`).
fn names(ids: &HashSet<String>, target: &str) -> bool {
    ids.contains(target) || target.split_whitespace().any(|w| ids.contains(w.trim_matches(|c| c == '(' || c == ')')))
}

/// The runbook's own identifiers for a resource: calls often target them (`DescribeInstances
/// worker`) before any sub-step has journaled an id.
fn runbook_ids(runbook: Option<&Runbook>, resource: &str) -> Vec<String> {
    runbook
        .and_then(|rb| rb.resources.get(resource))
        .map(|r| r.primary.iter().chain(r.recovery.iter()).cloned().collect())
        .unwrap_or_default()
}

/// Every string value (not key) in a sub-step's data, at any depth, except very short ones
/// (which would match words in descriptive targets by accident).
fn collect_strings(v: &Value, into: &mut HashSet<String>) {
    match v {
        Value::String(s) if s.len() >= 3 => {
            into.insert(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, into)),
        Value::Object(map) => map.values().for_each(|i| collect_strings(i, into)),
        _ => {}
    }
}

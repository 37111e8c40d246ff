//! Every journaled AWS call, with its outcome and the sub-step that made it.
//!
//! A mutating call is journaled twice: `sending` before it goes out (evidence it may have
//! happened) and its outcome after. The two make one [`CallRecord`]: the outcome is matched to
//! the oldest unanswered `sending` of the same call (step, sub-step, service, operation, target,
//! region). A new attempt of the step, a resume and an interruption leave nothing in flight: an
//! outcome after them answers a call sent after them.

use crate::journal::event::{CallOutcome, Entry, Event};
use crate::journal::sub_id::SubId;
use std::collections::HashMap;
use std::time::SystemTime;

/// One AWS call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    /// The entry that counts the call: `sending` for a mutating call, the outcome for a read.
    pub seq: u64,
    /// That entry's time, as journaled.
    pub ts: String,
    pub at: Option<SystemTime>,
    pub step: String,
    /// The sub-step that made it; `None` for a call outside any sub-step.
    pub sub: Option<SubId>,
    pub service: String,
    pub operation: String,
    pub target: String,
    pub region: String,
    pub mutating: bool,
    /// `sending` until the outcome is journaled.
    pub outcome: CallOutcome,
    pub message: Option<String>,
}

impl CallRecord {
    /// `service Operation target (region)`.
    pub fn label(&self) -> String {
        format!("{} {} {} ({})", self.service, self.operation, self.target, self.region)
    }

    /// The resource whose sub-step made it.
    pub fn resource(&self) -> Option<&str> {
        self.sub.as_ref().and_then(|s| s.resource.as_deref())
    }

    pub fn is_error(&self) -> bool {
        self.outcome == CallOutcome::Error
    }

    /// False for a mutating call whose outcome was never journaled (the process stopped while it
    /// was in flight: it may or may not have happened).
    pub fn answered(&self) -> bool {
        self.outcome != CallOutcome::Sending
    }
}

type CallKey = (String, Option<SubId>, String, String, String, String);

/// Mutating calls sent and not yet answered, by call.
#[derive(Debug, Clone, Default)]
pub(super) struct PendingCalls(HashMap<CallKey, Vec<usize>>);

impl PendingCalls {
    /// Applies an `aws_call` entry; returns the index of the call it journaled or answered.
    pub(super) fn apply(&mut self, calls: &mut Vec<CallRecord>, entry: &Entry) -> usize {
        let Event::AwsCall { step, sub, service, operation, target, region, mutating, outcome, message } = &entry.event
        else {
            unreachable!("only aws_call entries are routed here")
        };
        let key = (step.clone(), sub.clone(), service.clone(), operation.clone(), target.clone(), region.clone());
        if *mutating
            && *outcome != CallOutcome::Sending
            && let Some(i) = self.0.get_mut(&key).and_then(|q| (!q.is_empty()).then(|| q.remove(0)))
        {
            calls[i].outcome = *outcome;
            calls[i].message = message.clone();
            return i;
        }
        if *outcome == CallOutcome::Sending {
            self.0.entry(key).or_default().push(calls.len());
        }
        calls.push(CallRecord {
            seq: entry.seq,
            ts: entry.ts.clone(),
            at: humantime::parse_rfc3339_weak(&entry.ts).ok(),
            step: step.clone(),
            sub: sub.clone(),
            service: service.clone(),
            operation: operation.clone(),
            target: target.clone(),
            region: region.clone(),
            mutating: *mutating,
            outcome: *outcome,
            message: message.clone(),
        });
        calls.len() - 1
    }

    pub(super) fn forget_step(&mut self, step: &str) {
        self.0.retain(|k, _| k.0 != step);
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

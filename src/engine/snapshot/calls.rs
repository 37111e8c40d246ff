//! The recent AWS calls of a run: a bounded list, so a long run's console stays small.

use crate::journal::CallOutcome;
use std::collections::VecDeque;
use std::time::SystemTime;

/// How many calls (and action log lines per step) a snapshot keeps; the journal has them all.
pub const KEEP: usize = 500;

/// One AWS call as the console's log shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallView {
    /// The journal's time, as recorded.
    pub ts: String,
    pub at: Option<SystemTime>,
    pub step: String,
    pub service: String,
    pub operation: String,
    pub target: String,
    pub region: String,
    pub mutating: bool,
    pub outcome: CallOutcome,
    pub message: Option<String>,
}

/// The last [`KEEP`] calls, oldest first. A mutating call is journaled twice (`sending`, then its
/// outcome); the outcome replaces the `sending` line, so each call shows once.
#[derive(Debug, Clone, Default)]
pub struct Calls {
    list: VecDeque<CallView>,
    /// Calls dropped off the front so far.
    pub dropped: u64,
}

impl Calls {
    pub fn push(&mut self, call: CallView) {
        if call.outcome != CallOutcome::Sending {
            let open = self.list.iter().rposition(|c| {
                c.outcome == CallOutcome::Sending
                    && c.step == call.step
                    && c.operation == call.operation
                    && c.target == call.target
            });
            if let Some(k) = open {
                let ts = self.list[k].ts.clone();
                self.list[k] = CallView { ts, ..call };
                return;
            }
        }
        self.list.push_back(call);
        if self.list.len() > KEEP {
            self.list.pop_front();
            self.dropped += 1;
        }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &CallView> {
        self.list.iter()
    }

    /// The calls of one step, oldest first.
    pub fn of_step<'a>(&'a self, step: &'a str) -> impl DoubleEndedIterator<Item = &'a CallView> + 'a {
        self.list.iter().filter(move |c| c.step == step)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

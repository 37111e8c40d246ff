//! The recent AWS calls of a run, as the console lists them: the last [`KEEP`] of the state's.

use crate::journal::CallRecord;

/// How many calls (and action log lines per step) the console shows; the journal has them all.
pub const KEEP: usize = 500;

/// The last [`KEEP`] calls, oldest first (a mutating call's `sending` and outcome make one).
#[derive(Debug, Clone, Copy)]
pub struct Calls<'a> {
    list: &'a [CallRecord],
    /// Calls before the window.
    pub dropped: u64,
}

impl<'a> Calls<'a> {
    pub fn of(all: &'a [CallRecord]) -> Calls<'a> {
        let from = all.len().saturating_sub(KEEP);
        Calls { list: &all[from..], dropped: from as u64 }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &'a CallRecord> + 'a {
        self.list.iter()
    }

    /// The calls of one step, oldest first.
    pub fn of_step(&self, step: &'a str) -> impl DoubleEndedIterator<Item = &'a CallRecord> + 'a {
        self.list.iter().filter(move |c| c.step == step)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

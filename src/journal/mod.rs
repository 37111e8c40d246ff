//! The run journal: every decision and AWS call, append-only, fsynced; the basis of resume,
//! `runs` and the after-action record.

pub mod event;
pub mod file;
pub mod source;
pub mod state;
pub mod sub_id;

pub use event::*;
#[cfg(test)]
pub use file::TEST_SYNC_DELAY_MS;
pub use file::{
    CRASH_AFTER_ENV, CRASH_BEFORE_ANSWER_ENV, CRASH_EXIT_CODE, Journal, JournalError, now_rfc3339, read_entries,
};
pub use source::{EntrySource, JOURNAL_FILE, RUNBOOK_FILE, Replica, os_user};
pub use state::{
    AccountCheck, CallRecord, DISRUPTIVE, Decided, DecisionRecord, FENCE_ACTION, FenceState, FinishedAttempt,
    GateRecord, RunState, SessionEvent, SessionKind, StepState, SubStepState, UndoState, UndoStepRecord, WaitRecord,
};
pub use sub_id::SubId;

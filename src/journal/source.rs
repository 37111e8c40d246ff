//! What the journal is read from and written to besides its file: the sources a watcher follows
//! (the file, a team table), the replica every entry is also written to (a team table), the
//! names of a run directory's files, and who the user is.

use super::{Entry, JournalError};

/// A run directory's journal.
pub const JOURNAL_FILE: &str = "journal.jsonl";
/// A run directory's copy of the runbook it started with.
pub const RUNBOOK_FILE: &str = "runbook.yaml";

/// Where a watcher reads a run's new entries: the local journal file
/// (`crate::engine::follow::Follower`), or a team table (`crate::team::follow`).
pub trait EntrySource: Send {
    /// The entries added since the last call, in order.
    fn poll(&mut self) -> Result<Vec<Entry>, JournalError>;
}

/// A second home for every journal entry (team mode's table, `crate::team`). Called under the
/// journal's lock right after the local append: an error stops the run there, before the
/// mutating call a `sending` entry announces.
pub trait Replica: Send + Sync {
    fn append(&self, entry: &Entry) -> Result<(), String>;
}

/// The OS user, recorded with every decision: `$USER`/`$LOGNAME`, else the account name of the
/// real user id (shells started by `su` or services often have no `$USER`).
pub fn os_user() -> String {
    if let Some(name) = ["USER", "LOGNAME"].iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty())) {
        return name;
    }
    // SAFETY: getuid cannot fail; getpwuid returns null or a pointer to static storage that is
    // read at once, on this thread, before any other passwd call.
    unsafe {
        let uid = libc::getuid();
        let pw = libc::getpwuid(uid);
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned();
        }
        format!("uid {uid}")
    }
}

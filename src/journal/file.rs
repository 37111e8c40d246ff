//! The journal file: append-only JSON lines, each flushed and fsynced before the next step of
//! work, so that whatever the process did before it died is on disk.

use super::event::{CallOutcome, Entry, Event};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Why a journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// The entry is on this machine's disk and could not be replicated (team mode).
    #[error("journal entry {seq} did not reach the team table: {message}")]
    Replica { seq: u64, message: String },
    #[error("{}:{line}: not a journal entry: {message}", path.display())]
    Corrupt { path: PathBuf, line: usize, message: String },
}

/// An open journal, positioned for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
    /// Set when an append failed: nothing more is written, so no entry can follow a gap.
    failed: bool,
    /// Outcomes of mutating calls journaled by this process (for [`CRASH_BEFORE_ANSWER_ENV`]).
    answers: u64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io { path: path.to_path_buf(), source }
}

/// The current time as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl Journal {
    /// Creates a new journal; fails if one exists (a run id is never reused).
    pub fn create(path: &Path) -> Result<Journal, JournalError> {
        let file = OpenOptions::new().create_new(true).append(true).open(path).map_err(io_err(path))?;
        // The new file's directory entry must survive a power loss too.
        if let Some(dir) = path.parent() {
            crate::durable::sync_dir(dir).map_err(io_err(dir))?;
        }
        Ok(Journal { path: path.to_path_buf(), file, next_seq: 1, failed: false, answers: 0 })
    }

    /// Opens an existing journal for appending and returns what it holds. A torn last line (the
    /// process died mid-write) is cut off, so the next entry starts on a clean line.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Entry>), JournalError> {
        let (entries, good_len) = read_entries(path)?;
        // Append mode: every write lands at the end, even after the file was cut back.
        let file = OpenOptions::new().read(true).append(true).open(path).map_err(io_err(path))?;
        let len = file.metadata().map_err(io_err(path))?.len();
        if good_len < len {
            file.set_len(good_len).map_err(io_err(path))?;
            file.sync_all().map_err(io_err(path))?;
        }
        let next_seq = entries.last().map(|e| e.seq + 1).unwrap_or(1);
        Ok((Journal { path: path.to_path_buf(), file, next_seq, failed: false, answers: 0 }, entries))
    }

    /// Takes no more entries (the replica refused one: another machine drives the run now).
    pub fn refuse_more(&mut self) {
        self.failed = true;
    }

    /// Appends one event and makes it durable before returning.
    pub fn append(&mut self, event: Event) -> Result<Entry, JournalError> {
        if self.failed {
            let source = std::io::Error::other("an earlier append failed; the journal takes no more entries");
            return Err(JournalError::Io { path: self.path.clone(), source });
        }
        if let Event::AwsCall { mutating: true, outcome: CallOutcome::Ok | CallOutcome::Error, .. } = &event {
            self.answers += 1;
            if crash_point(&CRASH_BEFORE_ANSWER) == Some(self.answers) {
                // The other crash-test kill: AWS answered the call, and the entry saying how
                // never reaches the disk.
                // SAFETY: _exit only ends the process.
                unsafe { libc::_exit(CRASH_EXIT_CODE) };
            }
        }
        let entry = Entry { seq: self.next_seq, ts: now_rfc3339(), event };
        let mut line = serde_json::to_string(&entry)
            .map_err(|e| JournalError::Io { path: self.path.clone(), source: std::io::Error::other(e) })?;
        line.push('\n');
        let before = self.file.metadata().map_err(io_err(&self.path))?.len();
        let written =
            self.file.write_all(line.as_bytes()).and_then(|()| self.file.flush()).and_then(|()| self.file.sync_data());
        #[cfg(test)]
        std::thread::sleep(std::time::Duration::from_millis(
            TEST_SYNC_DELAY_MS.load(std::sync::atomic::Ordering::SeqCst),
        ));
        if let Err(e) = written {
            // Leave no fragment behind, and take nothing more.
            let _ = self.file.set_len(before);
            self.failed = true;
            return Err(JournalError::Io { path: self.path.clone(), source: e });
        }
        self.next_seq += 1;
        if crash_point(&CRASH_AFTER) == Some(entry.seq) {
            // The crash tests' kill: the entry is on disk, nothing after it happens, no
            // destructor runs (as with SIGKILL).
            // SAFETY: _exit only ends the process.
            unsafe { libc::_exit(CRASH_EXIT_CODE) };
        }
        Ok(entry)
    }
}

/// A slow disk for unit tests: each append waits this long after its fsync.
#[cfg(test)]
pub static TEST_SYNC_DELAY_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The exit code of a process stopped by [`CRASH_AFTER_ENV`] or [`CRASH_BEFORE_ANSWER_ENV`].
pub const CRASH_EXIT_CODE: i32 = 86;

/// Fault injection for crash tests: `PILOTLIGHT_CRASH_AFTER_ENTRY=N` ends the process the moment
/// journal entry N is durable, so a test can prove that a run resumes from a kill after any
/// entry. Never set in real use.
pub const CRASH_AFTER_ENV: &str = "PILOTLIGHT_CRASH_AFTER_ENTRY";

/// Fault injection for crash tests: `PILOTLIGHT_CRASH_BEFORE_ANSWER=N` ends the process instead
/// of journaling the outcome of the Nth mutating call this process made: a kill after AWS acted
/// and before the journal heard of it. Never set in real use.
pub const CRASH_BEFORE_ANSWER_ENV: &str = "PILOTLIGHT_CRASH_BEFORE_ANSWER";

static CRASH_AFTER: CrashPoint = CrashPoint { env: CRASH_AFTER_ENV, at: std::sync::OnceLock::new() };
static CRASH_BEFORE_ANSWER: CrashPoint = CrashPoint { env: CRASH_BEFORE_ANSWER_ENV, at: std::sync::OnceLock::new() };

/// A crash point read once from its environment variable.
struct CrashPoint {
    env: &'static str,
    at: std::sync::OnceLock<Option<u64>>,
}

fn crash_point(point: &CrashPoint) -> Option<u64> {
    *point.at.get_or_init(|| std::env::var(point.env).ok().and_then(|v| v.parse().ok()))
}

/// Reads every entry. Returns the entries and the byte length of the well-formed prefix: a last
/// line that is incomplete or unreadable is a torn write and is left out; an unreadable line
/// followed by good ones is corruption and an error.
pub fn read_entries(path: &Path) -> Result<(Vec<Entry>, u64), JournalError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut reader = BufReader::new(file);
    let mut entries = Vec::new();
    let mut good_len = 0u64;
    let mut pending_bad: Option<(usize, String)> = None;
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if let Some((line, message)) = pending_bad.take() {
            return Err(JournalError::Corrupt { path: path.to_path_buf(), line, message });
        }
        let complete = buf.ends_with(b"\n");
        let text = String::from_utf8_lossy(&buf);
        if text.trim().is_empty() && complete {
            good_len += n as u64;
            continue;
        }
        match serde_json::from_str::<Entry>(text.trim_end()) {
            Ok(entry) if complete => {
                entries.push(entry);
                good_len += n as u64;
            }
            Ok(_) => pending_bad = Some((line_no, "line is not terminated".into())),
            // A complete line that does not parse was written whole: corruption, not a torn write.
            Err(e) if complete => {
                return Err(JournalError::Corrupt { path: path.to_path_buf(), line: line_no, message: e.to_string() });
            }
            Err(e) => pending_bad = Some((line_no, e.to_string())),
        }
    }
    Ok((entries, good_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::RunStatus;

    #[test]
    fn torn_last_line_is_cut_and_appending_continues() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let mut j = Journal::create(&path).unwrap();
        j.append(Event::RunResumed { user: "a".into(), endpoint_override: None }).unwrap();
        j.append(Event::RunFinished { status: RunStatus::Failed }).unwrap();
        drop(j);
        let good = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"seq\":3,\"ts\":\"20").unwrap();
        let (mut j, entries) = Journal::open(&path).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good, "the torn tail is cut off");
        assert_eq!(j.append(Event::RunResumed { user: "b".into(), endpoint_override: None }).unwrap().seq, 3);
        assert_eq!(read_entries(&path).unwrap().0.len(), 3);
    }

    #[test]
    fn a_bad_line_in_the_middle_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let mut j = Journal::create(&path).unwrap();
        j.append(Event::RunResumed { user: "a".into(), endpoint_override: None }).unwrap();
        drop(j);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"garbage\n{}\n").unwrap();
        let err = read_entries(&path).unwrap_err();
        assert!(err.to_string().contains(":2: not a journal entry"), "{err}");
    }

    #[test]
    fn a_complete_bad_last_line_is_corruption_not_a_torn_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let mut j = Journal::create(&path).unwrap();
        j.append(Event::RunResumed { user: "a".into(), endpoint_override: None }).unwrap();
        drop(j);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"event\":\"from_the_future\"}\n")
            .unwrap();
        assert!(Journal::open(&path).is_err(), "a whole line is never cut off");
    }
}

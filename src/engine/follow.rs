//! Follows a run's journal while another process appends to it: `watch` reads only the lines
//! added since its last look, and only whole lines (a line being written is read next time).

use crate::journal::{Entry, JournalError};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

pub use crate::journal::EntrySource;

impl EntrySource for Follower {
    fn poll(&mut self) -> Result<Vec<Entry>, JournalError> {
        Follower::poll(self)
    }
}

pub struct Follower {
    path: PathBuf,
    /// Bytes of whole lines read so far. A line still being written (or a torn write the
    /// journal later cuts off and writes again) is read again from here next time.
    offset: u64,
}

impl Follower {
    pub fn new(path: PathBuf) -> Follower {
        Follower { path, offset: 0 }
    }

    /// The entries appended since the last call. A line that does not parse is passed over
    /// (the entries carry sequence numbers; the run view ignores any it has seen).
    pub fn poll(&mut self) -> Result<Vec<Entry>, JournalError> {
        let io = |source| JournalError::Io { path: self.path.clone(), source };
        let mut file = std::fs::File::open(&self.path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < self.offset {
            // The journal was cut back (a torn last line removed): read it again.
            self.offset = 0;
        }
        file.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let Some(last_newline) = bytes.iter().rposition(|b| *b == b'\n') else { return Ok(Vec::new()) };
        self.offset += last_newline as u64 + 1;
        let entries = String::from_utf8_lossy(&bytes[..=last_newline])
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|line| match serde_json::from_str::<Entry>(line) {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "watch: a journal line does not parse");
                    None
                }
            })
            .collect();
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn only_whole_new_lines_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let line = |seq: u64| {
            format!(r#"{{"seq":{seq},"ts":"2026-11-22T12:00:0{seq}.000Z","event":"run_resumed","user":"ana"}}"#)
        };
        std::fs::write(&path, format!("{}\n", line(1))).unwrap();
        let mut f = Follower::new(path.clone());
        assert_eq!(f.poll().unwrap().len(), 1);
        assert!(f.poll().unwrap().is_empty(), "nothing new");
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        let second = line(2);
        let (head, tail) = second.split_at(20);
        file.write_all(head.as_bytes()).unwrap();
        assert!(f.poll().unwrap().is_empty(), "half a line waits");
        file.write_all(format!("{tail}\n{}\n", line(3)).as_bytes()).unwrap();
        let seqs: Vec<u64> = f.poll().unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [2, 3]);
    }

    #[test]
    fn a_journal_cut_back_and_written_again_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let line = |seq: u64| {
            format!(r#"{{"seq":{seq},"ts":"2026-11-22T12:00:0{seq}.000Z","event":"run_resumed","user":"ana"}}"#)
        };
        std::fs::write(&path, format!("{}\n{}\n", line(1), line(2))).unwrap();
        let mut f = Follower::new(path.clone());
        assert_eq!(f.poll().unwrap().len(), 2);
        // A resume cuts a torn line and the file ends up shorter than what was read.
        std::fs::write(&path, format!("{}\n", line(1))).unwrap();
        assert!(f.poll().unwrap().iter().all(|e| e.seq == 1), "read again from the start");
        std::fs::write(&path, format!("{}\n{{\"torn\n{}\n", line(1), line(3))).unwrap();
        let seqs: Vec<u64> = f.poll().unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3], "a line that does not parse is passed over");
    }
}

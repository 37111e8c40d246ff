//! Follows a run's journal while another process appends to it: `watch` reads only the lines
//! added since its last look, and only whole lines (a line being written is read next time).

use crate::journal::{Entry, JournalError};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

pub struct Follower {
    path: PathBuf,
    /// Bytes of whole lines read so far.
    offset: u64,
    /// The start of a line not yet complete.
    partial: Vec<u8>,
}

impl Follower {
    pub fn new(path: PathBuf) -> Follower {
        Follower { path, offset: 0, partial: Vec::new() }
    }

    /// The entries appended since the last call.
    pub fn poll(&mut self) -> Result<Vec<Entry>, JournalError> {
        let io = |source| JournalError::Io { path: self.path.clone(), source };
        let mut file = std::fs::File::open(&self.path).map_err(io)?;
        file.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        self.offset += bytes.len() as u64;
        self.partial.extend_from_slice(&bytes);
        let Some(last_newline) = self.partial.iter().rposition(|b| *b == b'\n') else { return Ok(Vec::new()) };
        let whole: Vec<u8> = self.partial.drain(..=last_newline).collect();
        let mut entries = Vec::new();
        for line in String::from_utf8_lossy(&whole).lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Entry>(line) {
                Ok(e) => entries.push(e),
                Err(e) => {
                    return Err(JournalError::Corrupt { path: self.path.clone(), line: 0, message: e.to_string() });
                }
            }
        }
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
}

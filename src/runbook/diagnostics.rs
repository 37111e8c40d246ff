//! Problems found in a runbook, printed as `file:line:col: message`, all of them at once.

use super::yaml_tree::Pos;
use std::fmt;
use std::path::PathBuf;

/// One problem at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pos: Pos,
    pub message: String,
}

impl Problem {
    pub fn new(pos: Pos, message: impl Into<String>) -> Problem {
        Problem { pos, message: message.into() }
    }
}

/// Every problem found in one file, sorted by position.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl Diagnostics {
    pub fn new(file: PathBuf, mut problems: Vec<Problem>) -> Diagnostics {
        problems.sort_by_key(|a| a.pos);
        problems.dedup();
        Diagnostics { file, problems }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file.display(), p.pos.line, p.pos.col, p.message)?;
        }
        Ok(())
    }
}

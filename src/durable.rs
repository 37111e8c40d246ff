//! Writing files so they survive a crash: the data, then the directory entry that names it.
//! The run store, the journal and the template copies all need it; it lives below them all.

use std::path::Path;

/// Writes `text` to `path` and makes it durable (the file, then its directory's entry).
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Flushes a directory's entries to disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

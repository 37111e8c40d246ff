//! Process checks by PID, used for the sandbox server and run locks.

/// True if a process with this PID exists.
pub fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the PID exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The command line of a live process (Linux `/proc`), to make sure a recorded PID still
/// belongs to the process we started before signalling it.
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(raw.split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect::<Vec<_>>().join(" "))
}

/// Sends SIGTERM, waits up to `grace`, then SIGKILL. Returns once the process is gone.
pub fn terminate(pid: i32, grace: std::time::Duration) {
    if pid <= 0 {
        return;
    }
    // SAFETY: plain signal sends to a PID we verified is ours.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let start = std::time::Instant::now();
    while alive(pid) && !is_zombie(pid) && start.elapsed() < grace {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if alive(pid) && !is_zombie(pid) {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(false)
}

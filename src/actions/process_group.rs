//! The process group an `exec` command runs in, and what stops it: the action itself when the
//! command ends or times out, a watchdog process when pilotlight dies without a word (SIGKILL,
//! the OOM killer), and a resume that finds survivors by their marker if even that failed.

/// Set in every command's environment (`run/step/attempt`), so that a survivor of a killed
/// attempt is recognised as ours before it is stopped (a process group id can be reused).
pub const MARKER_ENV: &str = "PILOTLIGHT_COMMAND";

/// Set in a watchdog's environment, to the marker of the command it watches.
pub const WATCHDOG_ENV: &str = "PILOTLIGHT_WATCHDOG";

/// The watchdog: it waits on a pipe only pilotlight holds open. When pilotlight dies, however
/// it dies, the kernel closes the pipe, `read` returns, and the group is killed. (`PR_SET_PDEATHSIG`
/// would not do: it follows the spawning thread, and reaches only the shell, not its children.)
const WATCHDOG_SCRIPT: &str = r#"read _; kill -9 -"$0""#;

/// Kills the command's process group when dropped: on a timeout, and after a normal exit to
/// stop anything the command left running in the background. Its watchdog is stopped first.
pub struct KillGroup {
    pgid: i32,
    watchdog: Option<std::process::Child>,
}

impl KillGroup {
    /// The group `pgid`, watched by a watchdog process of its own (in its own process group, so
    /// a Ctrl-C at the terminal does not reach it). Without `sh` there is no watchdog, and a
    /// resume still stops what a killed attempt left.
    pub fn watched(pgid: i32, marker: &str) -> KillGroup {
        use std::os::unix::process::CommandExt;
        let watchdog = std::process::Command::new("/bin/sh")
            .args(["-c", WATCHDOG_SCRIPT, &pgid.to_string()])
            .env(WATCHDOG_ENV, marker)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn();
        if let Err(e) = &watchdog {
            tracing::warn!(pgid, "exec: no watchdog for the command's process group: {e}");
        }
        KillGroup { pgid, watchdog: watchdog.ok() }
    }
}

impl Drop for KillGroup {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            // Stopped while its pipe is still open, so it never acts on a group id that may be
            // reused once the group is gone; reaped so no zombie is left.
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        // SAFETY: signals the process group created for this command; ESRCH once it is empty.
        unsafe { libc::killpg(self.pgid, libc::SIGKILL) };
    }
}

/// Stops the processes of group `pgid` that carry `marker` in their environment; how many.
pub fn stop_survivors(pgid: i32, marker: &str) -> usize {
    if pgid <= 1 || marker.is_empty() {
        return 0;
    }
    let wanted = format!("{MARKER_ENV}={marker}");
    let Ok(procs) = std::fs::read_dir("/proc") else { return 0 };
    let mut stopped = 0;
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        // The process group is the 5th field of /proc/PID/stat, after the `(comm)` field.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let group = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<i32>().ok());
        if group != Some(pgid) {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        if environ.split(|b| *b == 0).any(|var| var == wanted.as_bytes()) {
            // SAFETY: signals a process verified above to be in the recorded group and ours.
            if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                stopped += 1;
            }
        }
    }
    stopped
}

//! Blocking work done from async code (a journal fsync, a template copy, the sandbox's health
//! check over TCP) without holding a runtime worker: the console's drawing, the resource polls
//! and the timers of other steps go on meanwhile.

/// Runs `f`, which blocks, after telling a multi-thread runtime so, which then moves this
/// worker's other tasks to another thread (`block_in_place`). Outside a runtime, on a
/// current-thread runtime (some tests) or on a blocking thread, it just runs `f`.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

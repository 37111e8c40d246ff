//! Waiting for AWS to reach a state: starts fast (sub-second, so sandbox runs are quick) and
//! backs off to a polite interval for real AWS.

use super::ActionError;
use std::future::Future;
use std::time::{Duration, Instant};

/// First delay between polls.
pub const FIRST_DELAY: Duration = Duration::from_millis(200);
/// Longest delay between polls.
pub const MAX_DELAY: Duration = Duration::from_secs(15);

/// Polls `check` until it returns `Some`, an error, or `timeout` passes, `first` apart at first,
/// doubling up to `max` (the run's pauses: [`FIRST_DELAY`] and [`MAX_DELAY`] unless scaled).
pub async fn until<T, F, Fut>(first: Duration, max: Duration, timeout: Duration, mut check: F) -> Result<T, ActionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ActionError>>,
{
    let start = Instant::now();
    let mut delay = first;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(ActionError::Timeout(timeout));
        }
        tokio::time::sleep(delay.min(timeout - elapsed)).await;
        delay = (delay * 2).min(max);
    }
}

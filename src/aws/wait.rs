//! Waiting for AWS to reach a state: starts fast (sub-second, so sandbox runs are quick) and
//! backs off to a polite interval for real AWS.

use super::ActionError;
use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, an error, or `timeout` passes, `first` apart at first,
/// doubling up to `max` (the run's pauses: [`crate::pauses::Pauses`]'s `first_poll` and
/// `max_poll`).
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

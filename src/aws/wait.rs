//! Waiting for AWS to reach a state: starts fast (sub-second, so sandbox runs are quick) and
//! backs off to a polite interval for real AWS.

use super::ActionError;
use std::future::Future;
use std::time::{Duration, Instant};

/// A wait sees its end at most about a tenth late: no pause between polls is longer than a
/// tenth of the time waited so far (a 30 s volume is seen ready by about 33 s, not 40 s).
const OVERSHOOT: u32 = 10;

/// Polls `check` until it returns `Some`, an error, or `timeout` passes, `first` apart at first,
/// doubling up to `max` (the run's pauses: [`crate::pauses::Pauses`]'s `first_poll` and
/// `max_poll`), and never more than a tenth of the time waited so far ([`OVERSHOOT`]).
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
        delay = next_delay(delay, first, max, start.elapsed());
    }
}

/// The pause after `delay`, `waited` into a wait: doubled, at most `max`, at most a tenth of the
/// time waited (at least `first`).
fn next_delay(delay: Duration, first: Duration, max: Duration, waited: Duration) -> Duration {
    (delay * 2).min(max).min((waited / OVERSHOOT).max(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When a wait polls (in virtual time: polls cost nothing) for work that ends at `end`.
    fn seen_at(end: Duration, first: Duration, max: Duration) -> (Duration, usize) {
        let (mut now, mut delay, mut polls) = (Duration::ZERO, first, 1);
        while now < end {
            now += delay;
            polls += 1;
            delay = next_delay(delay, first, max, now);
        }
        (now, polls)
    }

    /// Catches a schedule that sees the end of a short wait a third late (doubling alone saw a
    /// 30 s volume at 40 s), or that polls a long wait more often than every `max`.
    #[test]
    fn a_wait_sees_its_end_at_most_a_tenth_late_and_backs_off_to_max() {
        let (first, max) = (Duration::from_millis(200), Duration::from_secs(15));
        for secs in [1u64, 5, 13, 30, 45, 90, 600, 3600] {
            let end = Duration::from_secs(secs);
            let (seen, _) = seen_at(end, first, max);
            assert!(seen <= end.mul_f64(1.1) + first, "{secs} s seen at {seen:?}");
        }
        let (_, polls) = seen_at(Duration::from_secs(3600), first, max);
        assert!(polls < 3600 / 15 + 80, "an hour's wait polls at most every 15 s once long: {polls} polls");
    }
}

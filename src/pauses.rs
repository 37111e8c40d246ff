//! The engine's fixed pauses, in one place so that a test (or a trainer with a patient sandbox)
//! can shorten them all at once.
//!
//! Real AWS needs them: describe calls lag behind creates (the pause after an unanswered call),
//! a failed call is often fine a moment later (the pause before a retry), and a wait should not
//! poll a 15-minute restore ten times a second (the first poll delay, doubled up to 15 s). The
//! sandbox finishes every operation at once, and a test suite that waits 2 s after each of ~30
//! lost answers spends a minute doing nothing. `PILOTLIGHT_PAUSE_SCALE` (a factor, `1` by
//! default, `0.01` in the tests) multiplies every one of them; it never skips a pause or a read.

use std::time::Duration;

/// Scales every pause: `0.01` makes a 2 s pause 20 ms.
pub const PAUSE_SCALE_ENV: &str = "PILOTLIGHT_PAUSE_SCALE";

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pauses {
    /// After an unanswered mutating call, before the next attempt looks for what it made (times
    /// the number of unanswered calls in a row).
    pub unanswered: Duration,
    /// Before a retry (times the failures since the operator last decided).
    pub retry: Duration,
    /// The first delay between two polls of a wait (it doubles up to `max_poll`).
    pub first_poll: Duration,
    pub max_poll: Duration,
    /// How long a wait takes "not found" for something made a moment ago as "not visible yet"
    /// (EC2 and others are eventually consistent), before it counts as an error.
    pub not_found_grace: Duration,
    /// The first pause of a read AWS throttled past the SDK's own retries (it doubles).
    pub throttled_read: Duration,
    /// How long an instance may stay `stopping` before the failback forces the stop (AWS's
    /// advice for an instance stuck in `stopping`).
    pub force_stop_after: Duration,
}

impl Default for Pauses {
    fn default() -> Self {
        Pauses {
            unanswered: Duration::from_secs(2),
            retry: Duration::from_millis(500),
            first_poll: Duration::from_millis(200),
            max_poll: Duration::from_secs(15),
            not_found_grace: Duration::from_secs(300),
            throttled_read: Duration::from_secs(1),
            force_stop_after: Duration::from_secs(600),
        }
    }
}

impl Pauses {
    /// Every pause times `factor` (at least a millisecond each, so a wait still yields).
    pub fn scaled(factor: f64) -> Pauses {
        let d = Pauses::default();
        let scale = |t: Duration| t.mul_f64(factor).max(Duration::from_millis(1));
        Pauses {
            unanswered: scale(d.unanswered),
            retry: scale(d.retry),
            first_poll: scale(d.first_poll),
            max_poll: scale(d.max_poll),
            not_found_grace: scale(d.not_found_grace),
            throttled_read: scale(d.throttled_read),
            force_stop_after: scale(d.force_stop_after),
        }
    }

    /// From `PILOTLIGHT_PAUSE_SCALE`, or the defaults when it is not set.
    pub fn from_env() -> Result<Pauses, String> {
        match std::env::var(PAUSE_SCALE_ENV) {
            Err(_) => Ok(Pauses::default()),
            Ok(text) => match text.trim().parse::<f64>() {
                Ok(f) if f > 0.0 && f <= 1.0 => Ok(Pauses::scaled(f)),
                _ => Err(format!("{PAUSE_SCALE_ENV}={text}: expected a factor above 0 and at most 1 (like 0.01)")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a scale that lengthens a pause, drops one to zero (a wait would spin), or an
    /// unreadable value taken silently.
    #[test]
    fn a_scale_shortens_every_pause_and_nonsense_is_refused() {
        let fast = Pauses::scaled(0.01);
        assert_eq!(fast.unanswered, Duration::from_millis(20));
        assert_eq!(fast.retry, Duration::from_millis(5));
        assert_eq!(fast.first_poll, Duration::from_millis(2));
        assert_eq!(fast.not_found_grace, Duration::from_secs(3));
        assert_eq!(Pauses::scaled(0.000_001).first_poll, Duration::from_millis(1));
        assert_eq!(Pauses::scaled(1.0), Pauses::default());
    }
}

//! Small text helpers shared by the regions: durations, ages, truncation.

use std::time::{Duration, SystemTime};

/// `1:02:03` or `2:03`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `4s`, `3m`, `2h`, `5d`: how long ago, roughly.
pub fn age(then: SystemTime, now: SystemTime) -> String {
    let s = now.duration_since(then).unwrap_or_default().as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// A target as written in runbooks (`4h`, `15m`, `1h 30m`).
pub fn target(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// At most `width` characters, with `…` when cut.
pub fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// The time of day of a journal time (`12:03:09`).
pub fn time_of_day(ts: &str) -> &str {
    ts.get(11..19).unwrap_or(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_ages_and_cuts() {
        assert_eq!(clock(Duration::from_secs(62)), "1:02");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
        let t = SystemTime::UNIX_EPOCH;
        assert_eq!(age(t, t + Duration::from_secs(59)), "59s");
        assert_eq!(age(t, t + Duration::from_secs(7200)), "2h");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(time_of_day("2026-11-22T12:03:09.000Z"), "12:03:09");
    }
}

//! Timestamps: the journal writes RFC 3339 UTC with milliseconds; AWS times in action outputs
//! come with any number of fractional digits and, from some services, an offset instead of `Z`.

use std::time::{Duration, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, or `None` when the text is not an RFC 3339 time.
pub fn millis(ts: &str) -> Option<i64> {
    let ts = ts.trim();
    let (base, offset_s) = match ts.strip_suffix('Z').or_else(|| ts.strip_suffix('z')) {
        Some(base) => (base, 0i64),
        None => {
            // `...+HH:MM` or `...-HH:MM`
            let cut = ts.len().checked_sub(6)?;
            let (base, off) = ts.split_at(cut);
            let sign = match off.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = off[1..].split_once(':')?;
            (base, sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60))
        }
    };
    let t = humantime::parse_rfc3339(&format!("{base}Z")).ok()?;
    let ms = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).ok()?,
        Err(e) => -i64::try_from(e.duration().as_millis()).ok()?,
    };
    Some(ms - offset_s * 1000)
}

/// `to - from` in milliseconds, when both are times.
pub fn between(from: &str, to: &str) -> Option<i64> {
    Some(millis(to)? - millis(from)?)
}

/// A non-negative duration between two journal times (the journal's clock only moves on).
pub fn elapsed(from: &str, to: &str) -> Option<u64> {
    between(from, to).map(|d| d.max(0) as u64)
}

/// `1h 2m 3s 456ms`; `0s` for zero; a leading `-` for negative spans.
pub fn human(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let text = humantime::format_duration(Duration::from_millis(ms.unsigned_abs())).to_string();
    if ms < 0 { format!("-{text}") } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches recovery points from AWS (microseconds, offsets) that fail to parse, which would
    /// leave every RPO unmeasured.
    #[test]
    fn parses_journal_and_aws_times() {
        let base = millis("2026-11-22T05:16:07Z").unwrap();
        assert_eq!(millis("2026-11-22T05:16:07.585Z"), Some(base + 585));
        assert_eq!(millis("2026-11-22T05:16:07.414585Z"), Some(base + 414));
        assert_eq!(millis("2026-11-22T06:16:07+01:00"), Some(base));
        assert_eq!(millis("2026-11-22T04:46:07-00:30"), Some(base));
        assert_eq!(millis("yesterday"), None);
        assert_eq!(between("2026-11-22T05:16:07Z", "2026-11-22T05:16:06.5Z"), Some(-500));
        assert_eq!(elapsed("2026-11-22T05:16:07Z", "2026-11-22T05:16:06.5Z"), Some(0));
        assert_eq!(human(3_723_456), "1h 2m 3s 456ms");
        assert_eq!(human(-1500), "-1s 500ms");
        assert_eq!(human(0), "0s");
    }
}

//! Engine versions as RDS writes them (`15.4`, `8.0.mysql_aurora.3.05.2`): a restore from a
//! snapshot may not go below the snapshot's version (recovery may have been upgraded during the
//! incident, and RDS refuses a downgrade), so the later of primary's and the snapshot's is asked
//! for.

use std::cmp::Ordering;

/// Compares two engine versions part by part: numbers as numbers, anything else as text.
pub fn compare(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| v.split(['.', '_', '-']).map(str::to_string).collect::<Vec<_>>();
    for (x, y) in parts(a).iter().zip(parts(b).iter()) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            _ => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    parts(a).len().cmp(&parts(b).len())
}

/// The version a restore asks for: primary's, unless the snapshot is newer (then the snapshot's).
pub fn for_restore(primary: Option<&str>, snapshot: Option<&str>) -> Option<String> {
    match (primary, snapshot) {
        (Some(p), Some(s)) if compare(s, p) == Ordering::Greater => Some(s.to_string()),
        (p, s) => p.or(s).map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_number_and_a_restore_never_goes_below_the_snapshot() {
        assert_eq!(compare("15.4", "14.9"), Ordering::Greater);
        assert_eq!(compare("15.10", "15.9"), Ordering::Greater, "numbers, not text");
        assert_eq!(compare("8.0.mysql_aurora.3.05.2", "8.0.mysql_aurora.3.04.1"), Ordering::Greater);
        assert_eq!(compare("16.1", "16.1"), Ordering::Equal);
        assert_eq!(for_restore(Some("15.4"), Some("16.1")).as_deref(), Some("16.1"), "recovery was upgraded");
        assert_eq!(for_restore(Some("16.1"), Some("15.4")).as_deref(), Some("16.1"), "primary's when newer");
        assert_eq!(for_restore(None, Some("15.4")).as_deref(), Some("15.4"));
    }
}

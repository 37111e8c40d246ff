//! What a read of a declared resource on one side found (`ResourceStatus`): what `check.resource`
//! asserts and what the console's status panels show. The reads themselves are in
//! [`super::resource_read`].

use crate::runbook::{Resource, Side};

/// A resource's status on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceStatus {
    pub exists: bool,
    /// The state or status word AWS reports (`running`, `available`, `ACTIVE`, `CREATE_COMPLETE`),
    /// or a DNS record's values.
    pub status: Option<String>,
    /// The AWS id behind a name (an instance id for a Name tag).
    pub id: Option<String>,
    /// Facts the console shows beside the status (`class`, `volumes`, `items`, ...), in order.
    pub details: Vec<(String, String)>,
}

impl ResourceStatus {
    pub fn absent() -> ResourceStatus {
        ResourceStatus { exists: false, status: None, id: None, details: Vec::new() }
    }
    pub fn present(status: Option<String>, id: Option<String>) -> ResourceStatus {
        ResourceStatus { exists: true, status, id, details: Vec::new() }
    }
}

/// Which side a DNS record's current `value` routes to: the side whose declared value it holds
/// (`primary` or `recovery`), else `neither`.
pub fn points_to(res: &Resource, value: &str) -> &'static str {
    [Side::Primary, Side::Recovery]
        .into_iter()
        .find(|side| res.side(*side).is_some_and(|want| same_values(want, value)))
        .map_or("neither", Side::as_str)
}

/// Compares comma-separated value lists regardless of order and spacing.
fn same_values(a: &str, b: &str) -> bool {
    fn split(s: &str) -> Vec<&str> {
        let mut v: Vec<&str> = s.split(',').map(str::trim).filter(|x| !x.is_empty()).collect();
        v.sort_unstable();
        v
    }
    split(a) == split(b)
}

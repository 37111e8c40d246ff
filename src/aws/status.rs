//! Reads the live status of a declared resource on one side: what `check.resource` asserts and
//! what the console's status panels show, primary and recovery side by side.

use super::{ActionError, AwsEnvs, CallLog};
use crate::runbook::{Resource, ResourceType, Side};

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

/// Reads the status of `res` on `side`, in that side's environment: the console's batched
/// read ([`super::status_batch::read_many`]) for one resource, so a check and a panel agree.
pub async fn read(
    envs: &AwsEnvs,
    log: &dyn CallLog,
    name: &str,
    res: &Resource,
    side: Side,
) -> Result<ResourceStatus, ActionError> {
    if res.kind != ResourceType::Route53Record && res.side(side).is_none() {
        return Err(ActionError::Failed(format!("resource `{name}` has no {} identifier", side.as_str())));
    }
    let reads = super::status_batch::read_many(envs, log, res.kind, side, &[(name.to_string(), res.clone())]).await?;
    match reads.into_iter().next() {
        Some((_, Ok(status))) => Ok(status),
        Some((_, Err(e))) => Err(ActionError::Failed(e)),
        None => Err(ActionError::Failed(format!("resource `{name}` was not read"))),
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

//! A DB instance given another parameter group by ModifyDBInstance uses it only after a reboot:
//! until then DescribeDBInstances reports the group with `ParameterApplyStatus` `pending-reboot`
//! ("Working with DB parameter groups", RDS user guide: "the DB instance must be rebooted ... to
//! use the new DB parameter group"). Moto reports every group `in-sync` at once, so a failback
//! that attaches primary's group (a cross-region read replica starts with the engine's default)
//! and never reboots would look done while the instance runs on defaults.
//!
//! Noted from answered calls: a ModifyDBInstance with `DBParameterGroupName` marks the instance
//! (under its new identifier if renamed in the same call), a rename carries the mark, a
//! RebootDBInstance or a DeleteDBInstance clears it.

use super::super::wire::{each_element, field, param};
use std::sync::Mutex;

/// Instances (moto port, region, identifier) whose new parameter group waits for a reboot.
static PENDING: Mutex<Vec<(u16, String, String)>> = Mutex::new(Vec::new());

pub(super) fn forget(upstream: u16) {
    PENDING.lock().unwrap_or_else(|p| p.into_inner()).retain(|p| p.0 != upstream);
}

/// Notes what an answered call did to an instance's parameter group.
pub(super) fn note(action: &str, region: &str, body: &str, upstream: u16) {
    let Some(id) = param(body, "DBInstanceIdentifier").map(str::to_ascii_lowercase) else { return };
    let mut all = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    let at = |p: &(u16, String, String), id: &str| p.0 == upstream && p.1 == region && p.2 == id;
    match action {
        "ModifyDBInstance" => {
            let new = param(body, "NewDBInstanceIdentifier").map(str::to_ascii_lowercase);
            let marked = all.iter().any(|p| at(p, &id)) || param(body, "DBParameterGroupName").is_some();
            all.retain(|p| !at(p, &id));
            if marked {
                all.push((upstream, region.to_string(), new.unwrap_or(id)));
            }
        }
        "RebootDBInstance" | "DeleteDBInstance" => all.retain(|p| !at(p, &id)),
        _ => {}
    }
}

/// A DescribeDBInstances answer with each marked instance's groups `pending-reboot`.
pub(super) fn report(region: &str, body: &str, upstream: u16) -> String {
    let marked: Vec<String> = {
        let all = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().filter(|p| p.0 == upstream && p.1 == region).map(|p| p.2.clone()).collect()
    };
    if marked.is_empty() {
        return body.to_string();
    }
    each_element(body, "DBInstance", |one| {
        let id = field(one, "DBInstanceIdentifier").unwrap_or_default().to_ascii_lowercase();
        if marked.contains(&id) {
            one.replace(
                "<ParameterApplyStatus>in-sync</ParameterApplyStatus>",
                "<ParameterApplyStatus>pending-reboot</ParameterApplyStatus>",
            )
        } else {
            one.to_string()
        }
    })
}

//! Preflight: what can be known before a failback's point of no return, without changing
//! anything. Each failback step's resources are read on both sides and checked against the
//! rules a failback would otherwise meet after the original was renamed, emptied or stopped
//! (AWS's refusals, a global database, an Auto Scaling group, copies in flight). Each check says
//! pass, warn or fail, and why; a fail names what to change.
//!
//! These are the findings' types. The checks of each resource type live beside its action
//! (`rds::preflight`, `ec2::preflight`, `dynamodb::preflight`), so the rules and the calls they
//! guard are read together; [`crate::preflight`] runs them for a runbook. Every call is a read.

use serde::{Deserialize, Serialize};

pub use crate::journal::{PreflightCheck, Verdict};

/// One check of one resource, with the failback step that names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub step: String,
    #[serde(flatten)]
    pub check: PreflightCheck,
}

/// What a resource's checks are given.
pub struct Target<'a> {
    pub name: &'a str,
    pub primary_id: &'a str,
    pub recovery_id: &'a str,
    pub primary_region: &'a str,
    pub recovery_region: &'a str,
    /// The step's `kms_key_id`.
    pub kms: Option<&'a str>,
    pub primary_account: &'a str,
    /// The primary account, when recovery is in another one.
    pub share_with: Option<&'a str>,
    /// The run about to fail the resource back (not in `pilotlight preflight`): the names it
    /// will make are known.
    pub run_id: Option<&'a str>,
    /// The runbook's RPO target, when it sets one.
    pub rpo: Option<std::time::Duration>,
    /// The runbook stages ([`super::runbook_stages`]): say what is staged for the copy.
    pub stages: bool,
    /// The step fails a table back in place (`method: in-place`), not by export and import.
    pub in_place: bool,
    /// The step fails a cluster back by switchover (`method: switchover`), not by snapshot.
    pub switchover: bool,
    /// The step fails an instance back through a read replica (`method: replica`).
    pub replica: bool,
}

impl Target<'_> {
    /// `recovery-point-age`: the newest recovery point recovery already holds (`newest`, Unix
    /// seconds: RDS's and Aurora's latest restorable time, DynamoDB's point-in-time recovery)
    /// against the RPO target. The failback takes a fresh one; this is the safety net should it
    /// go wrong after its point of no return and recovery be lost too: data newer than it would
    /// be lost. A warning, never a fail; nothing when the runbook sets no RPO target.
    pub fn recovery_point_age(&self, found: &mut Found, newest: Option<i64>, what: &str) {
        let Some(rpo) = self.rpo else { return };
        let target = humantime::format_duration(rpo);
        let Some(newest) = newest else {
            found.warn(
                "recovery-point-age",
                format!(
                    "recovery's {what} {} has no recovery point of its own (no automated backups or point-in-time \
                     recovery): should the failback fail after its point of no return and recovery be lost too, \
                     everything since the failover would be; take a backup first (RPO target {target})",
                    self.recovery_id
                ),
            );
            return;
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let age = std::time::Duration::from_secs(now.saturating_sub(newest).max(0) as u64);
        let shown = humantime::format_duration(age);
        if age > rpo {
            found.warn(
                "recovery-point-age",
                format!(
                    "the newest recovery point of recovery's {what} {} is {shown} old, more than the RPO target \
                     {target}: take a backup before the failback, so a failure past its point of no return cannot \
                     lose more than the target",
                    self.recovery_id
                ),
            );
        } else {
            found.pass(
                "recovery-point-age",
                format!("recovery's newest recovery point is {shown} old (RPO target {target})"),
            );
        }
    }
}

/// What the checks of one resource found, before they are given their step.
#[derive(Default)]
pub struct Found(pub Vec<(String, Verdict, String)>);

impl Found {
    pub fn pass(&mut self, rule: &str, why: impl Into<String>) {
        self.0.push((rule.into(), Verdict::Pass, why.into()));
    }
    pub fn warn(&mut self, rule: &str, why: impl Into<String>) {
        self.0.push((rule.into(), Verdict::Warn, why.into()));
    }
    pub fn fail(&mut self, rule: &str, why: impl Into<String>) {
        self.0.push((rule.into(), Verdict::Fail, why.into()));
    }
    /// `rule` passes when `problem` is `None`, else fails with it.
    pub fn check(&mut self, rule: &str, problem: Option<String>, ok: impl Into<String>) {
        match problem {
            Some(why) => self.fail(rule, why),
            None => self.pass(rule, ok),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn target(rpo: Option<Duration>) -> Target<'static> {
        Target {
            name: "orders_db",
            primary_id: "orders-db",
            recovery_id: "orders-db",
            primary_region: "us-east-1",
            recovery_region: "us-west-2",
            kms: None,
            primary_account: "1",
            share_with: None,
            run_id: None,
            rpo,
            stages: false,
            in_place: false,
            switchover: false,
            replica: false,
        }
    }

    fn age(rpo: Option<Duration>, newest: Option<i64>) -> Vec<(String, Verdict, String)> {
        let mut found = Found::default();
        target(rpo).recovery_point_age(&mut found, newest, "DB instance");
        found.0
    }

    /// Within the target passes, older warns, none warns, and no target checks nothing.
    #[test]
    fn the_newest_recovery_point_is_held_against_the_rpo_target() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let rpo = Some(Duration::from_secs(15 * 60));
        let fresh = age(rpo, Some(now - 60));
        assert_eq!(fresh[0].1, Verdict::Pass, "{fresh:?}");
        let old = age(rpo, Some(now - 3600));
        assert_eq!(old[0].1, Verdict::Warn, "{old:?}");
        assert!(old[0].2.contains("1h") && old[0].2.contains("more than the RPO target 15m"), "{old:?}");
        let none = age(rpo, None);
        assert_eq!(none[0].1, Verdict::Warn);
        assert!(none[0].2.contains("no recovery point of its own"), "{none:?}");
        assert!(age(None, Some(now - 86_400)).is_empty(), "no RPO target, no check");
    }
}

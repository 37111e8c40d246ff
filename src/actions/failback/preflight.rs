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

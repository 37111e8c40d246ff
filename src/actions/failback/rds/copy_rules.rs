//! RDS's rules on the recovery snapshot's way into primary, checked before anything changes: at
//! a failback's `read` (it stops there, with what to give or change) and in preflight (each rule
//! a check). Without them RDS refuses at the share or the copy, in its own words.
//!
//! - **A key for the copy** (CopyDBSnapshot, CopyDBClusterSnapshot, `KmsKeyId`): an encrypted
//!   snapshot copied into another region, or shared from another account, is encrypted there
//!   with a key of primary's region that the step names (`kms_key_id`); the key must exist and
//!   be enabled (KMS DescribeKey, `KeyState`).
//! - **No sharing of the AWS-managed key** (RDS user guide, "Sharing a DB snapshot": a snapshot
//!   encrypted with the default key of the account that shares it cannot be shared): recovery in
//!   another account needs its instance or cluster on a customer managed key whose key policy
//!   lets primary's account use it. DescribeKey's `KeyManager` tells the two apart.
//! - **TDE across regions** (CopyDBSnapshot, `OptionGroupName`: a snapshot of an Oracle or SQL
//!   Server instance that uses Transparent Data Encryption must be copied into another region
//!   with an option group of that region; RDS user guide, "Option group considerations"): the
//!   copy is given primary's option group, which must have TDE too.

use super::instance_config::custom;
use super::snapshots::Kind;
use crate::aws::{ActionError, AwsEnvs, CallLog, at, read};
use aws_sdk_rds::Client;
use aws_sdk_rds::types::{DbCluster, DbInstance};

/// What is copied, from where to where.
pub struct Copy<'a> {
    pub kind: Kind,
    /// The recovery instance or cluster.
    pub source: &'a str,
    /// Recovery's storage key (its ARN on AWS) when its storage is encrypted.
    pub encrypted: Option<&'a str>,
    /// (recovery, primary).
    pub regions: (&'a str, &'a str),
    /// The step's `kms_key_id`.
    pub kms: Option<&'a str>,
    /// The primary account, when recovery is in another one.
    pub share_with: Option<&'a str>,
    /// For instances: the engine and (recovery's, primary's) option groups.
    pub options: Option<Options<'a>>,
}

/// An instance's engine and option groups, for the TDE rule.
pub struct Options<'a> {
    pub engine: &'a str,
    pub recovery: Option<&'a str>,
    pub primary: Option<&'a str>,
}

/// One rule's outcome: `Ok` says why it holds, `Err` why RDS would refuse.
pub struct Outcome {
    pub rule: &'static str,
    pub result: Result<String, String>,
}

impl<'a> Copy<'a> {
    /// Copying the snapshot of recovery instance `rec` into primary, where `pri` is.
    pub fn instance(
        rec: &'a DbInstance,
        pri: &'a DbInstance,
        regions: (&'a str, &'a str),
        kms: Option<&'a str>,
        share_with: Option<&'a str>,
    ) -> Self {
        let group = |db: &'a DbInstance| db.option_group_memberships().first().and_then(|g| g.option_group_name());
        Copy {
            kind: Kind::Instance,
            source: rec.db_instance_identifier().unwrap_or_default(),
            encrypted: rec.storage_encrypted().unwrap_or(false).then(|| rec.kms_key_id().unwrap_or_default()),
            regions,
            kms,
            share_with,
            options: Some(Options {
                engine: rec.engine().unwrap_or_default(),
                recovery: group(rec),
                primary: group(pri),
            }),
        }
    }

    /// Copying the snapshot of recovery cluster `rec` into primary.
    pub fn cluster(
        rec: &'a DbCluster,
        regions: (&'a str, &'a str),
        kms: Option<&'a str>,
        share_with: Option<&'a str>,
    ) -> Self {
        Copy {
            kind: Kind::Cluster,
            source: rec.db_cluster_identifier().unwrap_or_default(),
            encrypted: rec.storage_encrypted().unwrap_or(false).then(|| rec.kms_key_id().unwrap_or_default()),
            regions,
            kms,
            share_with,
            options: None,
        }
    }

    fn cross_region(&self) -> bool {
        self.regions.0 != self.regions.1
    }

    fn noun(&self) -> &'static str {
        match self.kind {
            Kind::Instance => "DB instance",
            Kind::Cluster => "cluster",
        }
    }

    /// The option group the copy into primary is given: primary's, when it is not a default one
    /// and the copy crosses regions (CopyDBSnapshot, `OptionGroupName`).
    pub fn option_group(&self) -> Option<String> {
        let primary = self.options.as_ref()?.primary.map(str::to_string);
        custom(&primary).filter(|_| self.cross_region())
    }

    /// Every rule, read with the sides' own credentials; only reads.
    pub async fn check(&self, envs: &AwsEnvs, log: &dyn CallLog) -> Result<Vec<Outcome>, ActionError> {
        let mut out = vec![
            Outcome { rule: "encrypted-copy-key", result: self.copy_key(envs, log).await? },
            Outcome { rule: "shareable-key", result: self.shareable(envs, log).await? },
        ];
        if self.options.is_some() {
            out.push(Outcome { rule: "tde-option-group", result: self.tde(envs, log).await? });
        }
        Ok(out)
    }

    async fn copy_key(&self, envs: &AwsEnvs, log: &dyn CallLog) -> Result<Result<String, String>, ActionError> {
        let (from, to) = self.regions;
        if self.encrypted.is_none() {
            return Ok(Ok("not encrypted".into()));
        }
        let Some(kms) = self.kms else {
            if !self.cross_region() && self.share_with.is_none() {
                return Ok(Ok("copied with recovery's key (same account and region)".into()));
            }
            let why = if self.cross_region() {
                format!("a copy of its snapshot into {to} must be encrypted with a KMS key of {to}")
            } else {
                "a copy of a snapshot shared from another account must be encrypted with a key of the account that copies it".into()
            };
            return Ok(Err(format!(
                "recovery {} {} ({from}) is encrypted, and {why}: give the step `kms_key_id` (a key in {to} the primary side may use)",
                self.noun(),
                self.source
            )));
        };
        Ok(match describe_key(envs, "primary", log, kms, to).await? {
            None => Err(format!("the step's kms_key_id {kms} is not a key in {to}: the copy would be refused")),
            Some(k) if k.state != "Enabled" => {
                Err(format!("the step's kms_key_id {kms} is {} in {to}: RDS cannot encrypt the copy with it", k.state))
            }
            Some(k) => Ok(format!("the copy is encrypted with {}", k.arn)),
        })
    }

    async fn shareable(&self, envs: &AwsEnvs, log: &dyn CallLog) -> Result<Result<String, String>, ActionError> {
        let (Some(account), Some(key)) = (self.share_with, self.encrypted) else {
            return Ok(Ok("nothing to share (same account, or not encrypted)".into()));
        };
        let recovery_region = self.regions.0;
        Ok(match describe_key(envs, "recovery", log, key, recovery_region).await? {
            Some(k) if k.aws_managed => Err(format!(
                "recovery {} {} is encrypted with the AWS managed key {}, and RDS does not share a snapshot \
                 encrypted with it with another account: move it to a customer managed key whose key policy lets \
                 account {account} use it",
                self.noun(),
                self.source,
                k.arn
            )),
            Some(k) => Ok(format!("customer managed key {}: its key policy must let account {account} use it", k.arn)),
            None => Err(format!("recovery's key {key} is not found in {recovery_region}")),
        })
    }

    async fn tde(&self, envs: &AwsEnvs, log: &dyn CallLog) -> Result<Result<String, String>, ActionError> {
        let Some(o) = &self.options else { return Ok(Ok(String::new())) };
        let (from, to) = self.regions;
        let tde_engine = o.engine.starts_with("oracle") || o.engine.starts_with("sqlserver");
        if !tde_engine || !self.cross_region() {
            return Ok(Ok("no TDE option group needed (engine or region)".into()));
        }
        let recovery = Client::new(&envs.config("recovery", log).await?);
        if !has_tde(log, &recovery, o.recovery, from).await? {
            return Ok(Ok("recovery does not use TDE".into()));
        }
        let primary = Client::new(&envs.config("primary", log).await?);
        let group = o.primary.unwrap_or("-");
        Ok(if has_tde(log, &primary, o.primary, to).await? {
            Ok(format!("the copy into {to} is given primary's option group {group}, which has TDE"))
        } else {
            Err(format!(
                "recovery {} {} uses TDE (option group {}), and a copy of its snapshot into {to} needs an option group \
                 of {to} with TDE; primary's ({group}) has none: add TDE to it",
                self.noun(),
                self.source,
                o.recovery.unwrap_or("-")
            ))
        })
    }
}

/// The outcomes as the failback's error: every refusal, and that nothing changed.
pub fn refusals(outcomes: &[Outcome]) -> Result<(), ActionError> {
    let refused: Vec<&str> = outcomes.iter().filter_map(|o| o.result.as_ref().err()).map(String::as_str).collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(ActionError::Failed(format!("{}. Nothing was changed.", refused.join("; "))))
}

/// A KMS key as DescribeKey gives it.
struct Key {
    arn: String,
    aws_managed: bool,
    state: String,
}

async fn describe_key(
    envs: &AwsEnvs,
    side: &str,
    log: &dyn CallLog,
    key: &str,
    region: &str,
) -> Result<Option<Key>, ActionError> {
    let kms = aws_sdk_kms::Client::new(&envs.config(side, log).await?);
    let answer = read(log, at(key, region), kms.describe_key().key_id(key)).await?;
    let found = answer.map(|out| {
        out.key_metadata().map(|m| Key {
            arn: m.arn().unwrap_or(key).to_string(),
            aws_managed: m.key_manager().map(|k| k.as_str()) == Some("AWS"),
            state: m.key_state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        })
    });
    super::or_none(found)
}

/// Whether the option group has Transparent Data Encryption (`TDE`; Oracle's older `TDE_HSM`).
async fn has_tde(log: &dyn CallLog, client: &Client, group: Option<&str>, region: &str) -> Result<bool, ActionError> {
    let Some(group) = group else { return Ok(false) };
    let req = client.describe_option_groups().option_group_name(group);
    let out = super::or_none(read(log, at(group, region), req).await?.map(Some))?;
    Ok(out
        .iter()
        .flat_map(|o| o.option_groups_list())
        .flat_map(|g| g.options())
        .any(|o| o.option_name().is_some_and(|n| n == "TDE" || n == "TDE_HSM")))
}

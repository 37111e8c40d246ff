//! RDS's encryption and option rules on snapshot copies and shares (listed in the module above),
//! and what moto says of keys put as AWS says it:
//!
//! - Storage encrypted with the account's default key is `default_kms_key_id` in moto's answers;
//!   on AWS it is the ARN of the key behind `alias/aws/rds`. The rules layer gives that ARN (moto
//!   makes the key when asked for the alias).
//! - Moto's DescribeKey says `KeyManager: CUSTOMER` of every key, also of the AWS managed ones
//!   behind `alias/aws/*` (moto describes those "Default key"). The rules layer says `AWS`.

use super::super::wire::decoded;
use super::{ask_upstream, ask_upstream_as, field, param, refusal, rewrite_body};

/// Moto's key id for storage encrypted with the account's default key.
const MOTO_DEFAULT_KEY: &str = "default_kms_key_id";

/// The region and service of a request's signature (its credential scope).
fn scope(head: &str) -> Option<(&str, &str)> {
    let scope = head.split("/aws4_request").next()?;
    let mut parts = scope.rsplit('/');
    let service = parts.next()?;
    Some((parts.next()?, service))
}

/// The region named by an RDS ARN, and the resource's identifier (its last part).
fn arn_region(arn: &str) -> Option<(&str, &str)> {
    Some((arn.strip_prefix("arn:aws:rds:")?.split(':').next()?, arn.rsplit(':').next()?))
}

/// The request's head signed for `region` instead of its own.
fn signed_for(head: &str, region: &str) -> Option<String> {
    let (here, service) = scope(head)?;
    Some(head.replace(&format!("/{here}/{service}/aws4_request"), &format!("/{region}/{service}/aws4_request")))
}

/// A copy of an encrypted snapshot from another region without a KMS key of this one is refused.
pub fn cross_region_copy_without_key(head: &str, body: &str, upstream: u16, kind: &str) -> Option<Vec<u8>> {
    if param(body, "KmsKeyId").is_some() {
        return None;
    }
    let source = decoded(param(body, &format!("Source{kind}Identifier"))?);
    let (from, id) = arn_region(&source)?;
    if Some(from) == scope(head).map(|s| s.0) {
        return None;
    }
    let query = format!("Action=Describe{kind}s&Version=2014-10-31&{kind}Identifier={id}");
    let answer = ask_upstream(upstream, &signed_for(head, from)?, &query)?;
    (field(&answer, "StorageEncrypted").or(field(&answer, "Encrypted")) == Some("true"))
        .then(|| refusal("InvalidParameterValue", "Must specify new KMS key for cross region encrypted snapshot copy."))
}

/// A key for the copy of an unencrypted cluster snapshot is refused (CopyDBClusterSnapshot,
/// `KmsKeyId`: "If you copy an unencrypted DB cluster snapshot and specify a value for the
/// KmsKeyId parameter, an error is returned"). The words are ours.
pub fn key_for_an_unencrypted_cluster_copy(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    param(body, "KmsKeyId")?;
    let source = decoded(param(body, "SourceDBClusterSnapshotIdentifier")?);
    let (head, id) = match arn_region(&source) {
        Some((from, id)) => (signed_for(head, from)?, id.to_string()),
        None => (head.to_string(), source.clone()),
    };
    let query = format!("Action=DescribeDBClusterSnapshots&Version=2014-10-31&DBClusterSnapshotIdentifier={id}");
    let answer = ask_upstream(upstream, &head, &query)?;
    (field(&answer, "StorageEncrypted") == Some("false")).then(|| {
        refusal("InvalidParameterValue", &format!("{id} is not encrypted: a KmsKeyId cannot be given for its copy."))
    })
}

/// A snapshot encrypted with the AWS managed key is not shared with another account
/// (ModifyDBSnapshotAttribute / ModifyDBClusterSnapshotAttribute, `restore`). The words are ours;
/// the rule is the RDS user guide's ("Sharing a DB snapshot").
pub fn shared_with_the_default_key(head: &str, body: &str, upstream: u16, kind: &str) -> Option<Vec<u8>> {
    if param(body, "AttributeName") != Some("restore") || param(body, "ValuesToAdd.AttributeValue.1").is_none() {
        return None;
    }
    let id = param(body, &format!("{kind}Identifier"))?;
    let answer =
        ask_upstream(upstream, head, &format!("Action=Describe{kind}s&Version=2014-10-31&{kind}Identifier={id}"))?;
    let key = field(&answer, "KmsKeyId")?;
    (key == MOTO_DEFAULT_KEY || key.contains("alias/aws/")).then(|| {
        refusal(
            "InvalidParameterValue",
            &format!(
                "{id} is encrypted with the default KMS key of the account and cannot be shared with another account."
            ),
        )
    })
}

/// A snapshot of an instance with TDE, copied into another region, needs an option group of that
/// region with TDE (CopyDBSnapshot, `OptionGroupName`). The words are ours.
pub fn tde_copy_without_option_group(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    let source = decoded(param(body, "SourceDBSnapshotIdentifier")?);
    let (from, snapshot) = arn_region(&source)?;
    if Some(from) == scope(head).map(|s| s.0) {
        return None;
    }
    let there = signed_for(head, from)?;
    let snap = ask_upstream(
        upstream,
        &there,
        &format!("Action=DescribeDBSnapshots&Version=2014-10-31&DBSnapshotIdentifier={snapshot}"),
    )?;
    let instance = field(&snap, "DBInstanceIdentifier")?;
    let db = ask_upstream(
        upstream,
        &there,
        &format!("Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier={instance}"),
    )?;
    if !has_tde(upstream, &there, field(&db, "OptionGroupName")?) {
        return None;
    }
    match param(body, "OptionGroupName") {
        Some(group) if has_tde(upstream, head, group) => None,
        given => Some(refusal(
            "InvalidParameterCombination",
            &format!(
                "{snapshot} uses Transparent Data Encryption: a copy into another region needs an option group with TDE \
                 there (OptionGroupName: {})",
                given.unwrap_or("none given")
            ),
        )),
    }
}

fn has_tde(upstream: u16, head: &str, group: &str) -> bool {
    let query = format!("Action=DescribeOptionGroups&Version=2014-10-31&OptionGroupName={group}");
    ask_upstream(upstream, head, &query).is_some_and(|a| a.contains("<OptionName>TDE</OptionName>"))
}

/// Moto's answers about keys as AWS gives them (see the module's doc).
pub fn answer(request: &str, upstream: u16, answer: Vec<u8>) -> Vec<u8> {
    let head = request.split("\r\n\r\n").next().unwrap_or_default();
    let marker = format!("<KmsKeyId>{MOTO_DEFAULT_KEY}</KmsKeyId>");
    if String::from_utf8_lossy(&answer).contains(&marker) {
        let Some(arn) = default_key_arn(upstream, head) else { return answer };
        return rewrite_body(&answer, |body| body.replace(&marker, &format!("<KmsKeyId>{arn}</KmsKeyId>")));
    }
    if head.contains("TrentService.DescribeKey") && String::from_utf8_lossy(&answer).contains("\"Default key\"") {
        return rewrite_body(&answer, |body| body.replace("\"KeyManager\": \"CUSTOMER\"", "\"KeyManager\": \"AWS\""));
    }
    answer
}

/// The ARN of the key behind `alias/aws/rds` in the request's account and region.
fn default_key_arn(upstream: u16, head: &str) -> Option<String> {
    let auth = head.lines().find(|l| l.to_ascii_lowercase().starts_with("authorization:"))?;
    let (region, service) = scope(auth)?;
    // Signed as KMS's: the same account and region.
    let head = head.replace(
        auth,
        &auth.replace(&format!("/{region}/{service}/aws4_request"), &format!("/{region}/kms/aws4_request")),
    );
    let protocol = "Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: TrentService.DescribeKey";
    let answer = ask_upstream_as(upstream, &head, protocol, r#"{"KeyId": "alias/aws/rds"}"#)?;
    let key: serde_json::Value = serde_json::from_str(&answer).ok()?;
    key["KeyMetadata"]["Arn"].as_str().map(str::to_string)
}

//! RDS read replicas as RDS makes them, where moto 5.2.5 differs (measured; see
//! `docs/design/replica-failback.md`, section 2). Groundwork for a failback through a replica:
//!
//! - **A replica's source keeps automated backups** (RDS user guide, "Working with DB instance
//!   read replicas": the source must have backup retention enabled): CreateDBInstanceReadReplica
//!   of a source whose BackupRetentionPeriod is 0 is refused (InvalidDBInstanceState). Moto makes
//!   the replica.
//! - **Across regions, a replica of an encrypted source needs a key of its own region**
//!   (CreateDBInstanceReadReplica, `KmsKeyId`: "If you create an encrypted cross-Region read
//!   replica, you must specify a KMS key identifier for the destination Amazon Web Services
//!   Region"), and **takes a parameter group only for MySQL, Oracle and Db2** (`DBParameterGroupName`:
//!   "Specifying a parameter group for this operation is only supported for MySQL DB instances for
//!   cross-Region read replicas, ... for Db2 DB instances, and for Oracle DB instances"):
//!   InvalidParameterCombination (the message is the layer's own; AWS documents none). Moto makes
//!   the replica, with its own default key.
//! - **Only a replica is promoted** (PromoteReadReplica: InvalidDBInstanceState; an unknown
//!   instance: DBInstanceNotFound). Moto promotes any instance, and answers HTTP 500 for an
//!   unknown one.
//! - **A promoted instance is a replica no more**: DescribeDBInstances gives it no
//!   `ReadReplicaSourceDBInstanceIdentifier`, and its former source no longer lists it in
//!   `ReadReplicaDBInstanceIdentifiers`, under its name or a later one. Moto keeps both, so a wait
//!   for the promotion to be done would never end.

use super::super::wire::{ask_upstream, decoded, each_element, field, param, refusal};
use std::sync::Mutex;

/// Promoted replicas (moto port, region, identifier): renamed ones under their old name too
/// (moto's source lists keep the old one), until another instance is made under it.
static PROMOTED: Mutex<Vec<(u16, String, String)>> = Mutex::new(Vec::new());

pub(super) fn forget(upstream: u16) {
    PROMOTED.lock().unwrap_or_else(|p| p.into_inner()).retain(|(p, _, _)| *p != upstream);
}

/// The refusal RDS would give, before moto sees the call.
pub(super) fn refuse(action: &str, (head, region): (&str, &str), body: &str, upstream: u16) -> Option<Vec<u8>> {
    match action {
        "CreateDBInstanceReadReplica" => {
            let source = decoded(param(body, "SourceDBInstanceIdentifier")?);
            let (source_region, id) = match source.split(':').collect::<Vec<_>>().as_slice() {
                ["arn", _, "rds", r, _, "db", id] => (r.to_string(), id.to_string()),
                _ => (region.to_string(), source.clone()),
            };
            // Moto serves the region of the request's credential scope: asked as the source's.
            let head = head.replace(&format!("/{region}/rds/"), &format!("/{source_region}/rds/"));
            let query = format!("Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier={id}");
            let described = ask_upstream(upstream, &head, &query)?;
            if field(&described, "BackupRetentionPeriod") == Some("0") {
                return Some(refusal(
                    "InvalidDBInstanceState",
                    &format!(
                        "Automated backups are not enabled for this database instance ({id}). To enable automated \
                         backups, use ModifyDBInstance to set the backup retention period to a non-zero value."
                    ),
                ));
            }
            if source_region == region {
                return None;
            }
            let engine = field(&described, "Engine").unwrap_or_default();
            let takes_group = engine == "mysql" || engine.starts_with("oracle") || engine.starts_with("db2");
            if param(body, "DBParameterGroupName").is_some() && !takes_group {
                return Some(refusal(
                    "InvalidParameterCombination",
                    &format!("A cross-Region read replica of a {engine} instance takes no DBParameterGroupName."),
                ));
            }
            let encrypted = field(&described, "StorageEncrypted") == Some("true");
            (encrypted && param(body, "KmsKeyId").is_none()).then(|| {
                refusal(
                    "InvalidParameterCombination",
                    &format!("{id} is encrypted: a cross-Region read replica of it needs a KmsKeyId of {region}."),
                )
            })
        }
        "PromoteReadReplica" => {
            let id = param(body, "DBInstanceIdentifier")?;
            let query = format!("Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier={id}");
            let described = ask_upstream(upstream, head, &query)?;
            if field(&described, "DBInstanceIdentifier").is_none() {
                return Some(refusal("DBInstanceNotFound", &format!("DBInstance {id} not found.")));
            }
            let replica =
                field(&described, "ReadReplicaSourceDBInstanceIdentifier").is_some() && !promoted(upstream, region, id);
            (!replica).then(|| refusal("InvalidDBInstanceState", &format!("DB Instance {id} is not a read replica.")))
        }
        _ => None,
    }
}

fn promoted(upstream: u16, region: &str, id: &str) -> bool {
    let all = PROMOTED.lock().unwrap_or_else(|p| p.into_inner());
    all.iter().any(|(p, r, i)| *p == upstream && r == region && i.eq_ignore_ascii_case(id))
}

/// Notes what an answered call did: a promotion, the rename of a promoted replica, or a new
/// instance under a name a promoted one had.
pub(super) fn note(action: &str, region: &str, body: &str, upstream: u16) {
    let mut all = PROMOTED.lock().unwrap_or_else(|p| p.into_inner());
    match action {
        "PromoteReadReplica" => {
            if let Some(id) = param(body, "DBInstanceIdentifier") {
                all.push((upstream, region.to_string(), id.to_ascii_lowercase()));
            }
        }
        "ModifyDBInstance" => {
            let (Some(old), Some(new)) = (param(body, "DBInstanceIdentifier"), param(body, "NewDBInstanceIdentifier"))
            else {
                return;
            };
            let was_promoted = all.iter().any(|(p, r, i)| *p == upstream && r == region && i.eq_ignore_ascii_case(old));
            // Another instance now has the name: it is not the promoted one.
            all.retain(|(p, r, i)| !(*p == upstream && r == region && i.eq_ignore_ascii_case(new)));
            if was_promoted {
                all.push((upstream, region.to_string(), new.to_ascii_lowercase()));
            }
        }
        "CreateDBInstanceReadReplica"
        | "CreateDBInstance"
        | "RestoreDBInstanceFromDBSnapshot"
        | "RestoreDBInstanceToPointInTime"
        | "RestoreDBInstanceFromS3" => {
            let made = param(body, "DBInstanceIdentifier").or_else(|| param(body, "TargetDBInstanceIdentifier"));
            if let Some(id) = made {
                all.retain(|(p, r, i)| !(*p == upstream && r == region && i.eq_ignore_ascii_case(id)));
            }
        }
        _ => {}
    }
}

/// A DescribeDBInstances answer with promoted replicas shown as RDS shows them: no source of
/// their own, and not listed by their former source.
pub(super) fn report_promoted(region: &str, body: &str, upstream: u16) -> String {
    let all: Vec<(String, String)> = {
        let all = PROMOTED.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().filter(|(p, _, _)| *p == upstream).map(|(_, r, i)| (r.clone(), i.clone())).collect()
    };
    if all.is_empty() {
        return body.to_string();
    }
    // Moto lists a replica in another region by ARN, one in the source's own region by name.
    let is_promoted = |listed: &str| match listed.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "rds", r, _, "db", id] => all.iter().any(|(pr, pi)| pr == r && pi.eq_ignore_ascii_case(id)),
        _ => all.iter().any(|(pr, pi)| pr == region && pi.eq_ignore_ascii_case(listed)),
    };
    each_element(body, "DBInstance", |one| {
        let mut one = one.to_string();
        let id = field(&one, "DBInstanceIdentifier").unwrap_or_default().to_string();
        if all.iter().any(|(r, i)| r == region && i.eq_ignore_ascii_case(&id)) {
            one = without(&one, "ReadReplicaSourceDBInstanceIdentifier", |_| true);
        }
        without(&one, "ReadReplicaDBInstanceIdentifier", is_promoted)
    })
}

/// `xml` without each `<tag>value</tag>` whose value `drop` accepts.
fn without(xml: &str, tag: &str, drop: impl Fn(&str) -> bool) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let Some(len) = rest[start..].find(&close) else { break };
        let value = &rest[start + open.len()..start + len];
        out.push_str(&rest[..start]);
        if !drop(value) {
            out.push_str(&rest[start..start + len + close.len()]);
        }
        rest = &rest[start + len + close.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::without;

    #[test]
    fn without_drops_only_the_values_it_is_told_to() {
        let xml = "<L><I>a</I><I>b</I></L><X>1</X>";
        assert_eq!(without(xml, "I", |v| v == "a"), "<L><I>b</I></L><X>1</X>");
        assert_eq!(without(xml, "X", |_| true), "<L><I>a</I><I>b</I></L>");
        assert_eq!(without(xml, "Y", |_| true), xml);
    }
}

//! **An RDS identifier in use is taken** (ModifyDBInstance `NewDBInstanceIdentifier`,
//! CreateDBInstanceReadReplica: DBInstanceAlreadyExists; ModifyDBCluster
//! `NewDBClusterIdentifier`, CreateDBCluster, RestoreDBClusterFromSnapshot:
//! DBClusterAlreadyExistsFault; RDS user guide, "Renaming a DB instance": "you can't rename to an
//! existing name"). An identifier is unique per account and region, so a rename, a replica, a
//! cluster create or a cluster restore under a name another instance or cluster holds is refused,
//! and nothing changes.
//!
//! Moto (measured, 5.2.5) drops the other one instead: a rename into a live name replaces that
//! instance or cluster in its store (its data, tags and deletion protection gone) and answers OK;
//! a cluster create or restore under a live name replaces it too and then answers with an unrelated
//! error (DBClusterSnapshotAlreadyExistsFault); a replica under a live name overwrites it. A tool
//! that renamed or restored in the wrong order would destroy primary's original in the sandbox
//! and pass. (Moto itself refuses CreateDBInstance and RestoreDBInstanceFromDBSnapshot under a
//! live instance's name.)

use super::super::wire::{ask_upstream, param, refusal};

/// The refusal for a call that would take an identifier another instance or cluster of the
/// region holds; `None` when the name is free (or the call names none).
pub(super) fn taken(action: &str, head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    let (kind, wanted, current) = match action {
        "ModifyDBInstance" => {
            (Kind::Instance, param(body, "NewDBInstanceIdentifier")?, param(body, "DBInstanceIdentifier"))
        }
        "CreateDBInstanceReadReplica" => (Kind::Instance, param(body, "DBInstanceIdentifier")?, None),
        "ModifyDBCluster" => {
            (Kind::Cluster, param(body, "NewDBClusterIdentifier")?, param(body, "DBClusterIdentifier"))
        }
        "CreateDBCluster" | "RestoreDBClusterFromSnapshot" => {
            (Kind::Cluster, param(body, "DBClusterIdentifier")?, None)
        }
        _ => return None,
    };
    // RDS stores identifiers in lower case: `Orders-DB` and `orders-db` are one name.
    let wanted = wanted.to_ascii_lowercase();
    // A rename to the name it already has is not a collision (RDS refuses it otherwise).
    if current.is_some_and(|c| c.eq_ignore_ascii_case(&wanted)) {
        return None;
    }
    let (query, element, code, what) = match kind {
        Kind::Instance => (
            format!("Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier={wanted}"),
            "<DBInstanceIdentifier>",
            "DBInstanceAlreadyExists",
            "DB instance",
        ),
        Kind::Cluster => (
            format!("Action=DescribeDBClusters&Version=2014-10-31&DBClusterIdentifier={wanted}"),
            "<DBClusterIdentifier>",
            "DBClusterAlreadyExistsFault",
            "DB cluster",
        ),
    };
    let described = ask_upstream(upstream, head, &query)?;
    let held =
        described.split(element).skip(1).filter_map(|s| s.split('<').next()).any(|id| id.eq_ignore_ascii_case(&wanted));
    held.then(|| refusal(code, &format!("{what} {wanted} already exists.")))
}

#[derive(Clone, Copy)]
enum Kind {
    Instance,
    Cluster,
}

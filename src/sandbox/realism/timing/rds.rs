//! RDS and Aurora's in-between states: snapshots `creating` or `copying` with their progress, an
//! instance `creating`, `renaming` or `backing-up`, a cluster `creating` or `renaming`; and AWS's
//! refusals meanwhile.

use super::super::wire::{ask_upstream, decoded, each_element, element, field, param, refusal};
use super::{At, Call, Clock, What, begin, begin_with, busy, percent};

/// Notes the work moto's answer started. Moto also makes a restore it answers with an error
/// (`DBSnapshotAlreadyExists`: an automated snapshot of a renamed instance still has the name;
/// AWS restores): that restore is read back and timed as AWS's.
pub(super) fn note(call: &Call<'_>, answered: &str, ok: bool, at: At<'_>, clock: &Clock) {
    if !ok {
        return restored_despite_an_error(call, answered, at, clock);
    }
    let gib = || field(answered, "AllocatedStorage").and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let op = format!("rds.{}", call.operation);
    match call.operation {
        "CreateDBSnapshot" | "CopyDBSnapshot" => {
            let Some(id) = field(answered, "DBSnapshotIdentifier") else { return };
            let instance = field(answered, "DBInstanceIdentifier").unwrap_or_default();
            let (state, moved) = match call.operation {
                "CopyDBSnapshot" => {
                    ("copying", super::rds_incremental::copied_gib(call, at, id, (gib(), clock.changed_share)))
                }
                _ => (
                    "creating",
                    super::rds_incremental::snapshot_gib(call, at, (id, instance), (gib(), clock.changed_share)),
                ),
            };
            begin(clock, at, What::DbSnapshot, id, state, &op, moved);
            if call.operation == "CreateDBSnapshot" && !instance.is_empty() {
                begin(clock, at, What::DbInstance, instance, "backing-up", &op, moved);
            }
        }
        "CreateDBClusterSnapshot" | "CopyDBClusterSnapshot" => {
            let Some(id) = field(answered, "DBClusterSnapshotIdentifier") else { return };
            let state = if call.operation == "CopyDBClusterSnapshot" { "copying" } else { "creating" };
            begin(clock, at, What::ClusterSnapshot, id, state, &op, clock.sizes.aurora_gib.unwrap_or_else(gib));
        }
        "RestoreDBInstanceFromDBSnapshot" | "CreateDBInstance" => {
            let Some(id) = field(answered, "DBInstanceIdentifier") else { return };
            begin(clock, at, What::DbInstance, id, "creating", &op, gib());
        }
        // A read replica in another region is made from a snapshot of its source copied across:
        // `creating` for a full copy of its storage (then it catches up: `rules::replica_lag`).
        "CreateDBInstanceReadReplica" => {
            let Some(id) = field(answered, "DBInstanceIdentifier") else { return };
            begin(clock, at, What::DbInstance, id, "creating", &op, gib());
        }
        // Promotion reboots the instance ("several minutes or longer").
        "PromoteReadReplica" => {
            let Some(id) = field(answered, "DBInstanceIdentifier") else { return };
            begin(clock, at, What::DbInstance, id, "modifying", &op, gib());
        }
        "DeleteDBInstance" => {
            let Some(id) = field(answered, "DBInstanceIdentifier") else { return };
            let Some(element) = element(answered, "DBInstance") else { return };
            begin_with(clock, at, (What::DbInstance, id, "deleting"), &op, gib(), Some(element.to_string()));
        }
        // A secondary of a global database copies the whole cluster volume across regions
        // before it is `available`.
        "CreateDBCluster" if param(call.body, "GlobalClusterIdentifier").is_some() => {
            let Some(id) = field(answered, "DBClusterIdentifier") else { return };
            let op = "rds.CreateDBCluster.secondary";
            begin(clock, at, What::Cluster, id, "creating", op, clock.sizes.aurora_gib.unwrap_or_else(gib));
        }
        // Detached, a cluster is promoted to stand alone (status `promoting`), in its own region.
        "RemoveFromGlobalCluster" => {
            let Some(arn) = param(call.body, "DbClusterIdentifier").map(super::super::wire::decoded) else {
                return;
            };
            if let Some((region, id)) = super::super::rules::global_db::cluster_arn(&arn) {
                let at = At { upstream: at.upstream, region };
                begin(clock, at, What::Cluster, id, "promoting", "rds.RemoveFromGlobalCluster", 0.0);
            }
        }
        "RestoreDBClusterFromSnapshot" => {
            let Some(id) = field(answered, "DBClusterIdentifier") else { return };
            begin(clock, at, What::Cluster, id, "creating", &op, clock.sizes.aurora_gib.unwrap_or_else(gib));
        }
        "ModifyDBInstance" | "ModifyDBCluster" => {
            let (what, new) = if call.operation == "ModifyDBInstance" {
                (What::DbInstance, "NewDBInstanceIdentifier")
            } else {
                (What::Cluster, "NewDBClusterIdentifier")
            };
            // A rename is `renaming` for its time; other changes are the rules' `modifying`.
            if let Some(renamed) = param(call.body, new) {
                begin(clock, at, what, renamed, "renaming", &format!("{op}.rename"), 0.0);
            }
        }
        _ => {}
    }
}

pub(super) fn show(call: &Call<'_>, answered: &str, at: At<'_>) -> String {
    match call.operation {
        "DescribeDBSnapshots" => snapshots(answered, "DBSnapshot", "DBSnapshotIdentifier", What::DbSnapshot, at),
        "DescribeDBClusterSnapshots" => {
            snapshots(answered, "DBClusterSnapshot", "DBClusterSnapshotIdentifier", What::ClusterSnapshot, at)
        }
        "DescribeDBInstances" => each_element(answered, "DBInstance", |one| {
            match field(one, "DBInstanceIdentifier").and_then(|id| busy(at, What::DbInstance, id)) {
                Some(work) => one.replacen(
                    "<DBInstanceStatus>available</DBInstanceStatus>",
                    &format!("<DBInstanceStatus>{}</DBInstanceStatus>", work.state),
                    1,
                ),
                None => one.to_string(),
            }
        }),
        "DescribeDBClusters" => each_element(answered, "DBCluster", |one| {
            match field(one, "DBClusterIdentifier").and_then(|id| busy(at, What::Cluster, id)) {
                Some(work) => {
                    one.replacen("<Status>available</Status>", &format!("<Status>{}</Status>", work.state), 1)
                }
                None => one.to_string(),
            }
        }),
        _ => answered.to_string(),
    }
}

/// A describe of an instance moto removed at its delete, while AWS would still be deleting it:
/// AWS's answer, the instance `deleting` (moto says DBInstanceNotFound).
pub(super) fn still_deleting(call: &Call<'_>, answer: &str, at: At<'_>) -> Option<Vec<u8>> {
    if call.operation != "DescribeDBInstances" || !answer.contains("DBInstanceNotFound") {
        return None;
    }
    let id = named(call.body, "DBInstanceIdentifier")?;
    let gone = busy(at, What::DbInstance, &id)?.gone?;
    let xml = format!(
        "<DescribeDBInstancesResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><DescribeDBInstancesResult><DBInstances>{gone}</DBInstances></DescribeDBInstancesResult><ResponseMetadata><RequestId>realism</RequestId></ResponseMetadata></DescribeDBInstancesResponse>"
    );
    Some(
        format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}", xml.len()).into_bytes(),
    )
}

/// See [`note`]: the restore moto made while refusing it, read back and noted as made.
fn restored_despite_an_error(call: &Call<'_>, answered: &str, at: At<'_>, clock: &Clock) {
    let (describe, id_param, what) = match call.operation {
        "RestoreDBInstanceFromDBSnapshot" => ("DescribeDBInstances", "DBInstanceIdentifier", What::DbInstance),
        "RestoreDBClusterFromSnapshot" => ("DescribeDBClusters", "DBClusterIdentifier", What::Cluster),
        _ => return,
    };
    let quirk = ["DBSnapshotAlreadyExists", "DBClusterSnapshotAlreadyExistsFault"].iter().any(|c| answered.contains(c));
    let Some(id) = param(call.body, id_param).filter(|_| quirk) else { return };
    let query = format!("Action={describe}&Version=2014-10-31&{id_param}={id}");
    let Some(described) = ask_upstream(at.upstream, call.head, &query).filter(|d| d.contains(&format!(">{id}<")))
    else {
        return;
    };
    let gib = field(&described, "AllocatedStorage").and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    begin(clock, at, what, id, "creating", &format!("rds.{}", call.operation), gib);
}

/// Snapshots under way say their state and `PercentProgress` (which moto gives clusters only).
fn snapshots(answered: &str, element: &str, id_tag: &str, what: What, at: At<'_>) -> String {
    each_element(answered, element, |one| {
        let Some(work) = field(one, id_tag).and_then(|id| busy(at, what, id)) else { return one.to_string() };
        let progress = format!("<PercentProgress>{}</PercentProgress>", percent(&work));
        let one = one.replacen("<Status>available</Status>", &format!("<Status>{}</Status>", work.state), 1);
        if one.contains("<PercentProgress>100</PercentProgress>") {
            one.replacen("<PercentProgress>100</PercentProgress>", &progress, 1)
        } else {
            one.replacen(&format!("</{id_tag}>"), &format!("</{id_tag}>{progress}"), 1)
        }
    })
}

/// The identifier a parameter names: an ARN's last part, or the identifier itself.
fn named(body: &str, name: &str) -> Option<String> {
    let value = decoded(param(body, name)?);
    value.rsplit(':').next().map(str::to_string)
}

pub(super) fn refuse(call: &Call<'_>, at: At<'_>) -> Option<Vec<u8>> {
    let body = call.body;
    // An identifier still being deleted is taken: a restore, a create or a rename into it is
    // refused (DBInstanceAlreadyExists) until the delete is done.
    let taken = match call.operation {
        "RestoreDBInstanceFromDBSnapshot" | "CreateDBInstance" | "CreateDBInstanceReadReplica" => {
            named(body, "DBInstanceIdentifier")
        }
        "ModifyDBInstance" => named(body, "NewDBInstanceIdentifier"),
        _ => None,
    };
    if let Some(id) = taken
        && busy(at, What::DbInstance, &id).is_some_and(|w| w.state == "deleting")
    {
        return Some(refusal("DBInstanceAlreadyExists", &format!("DB instance {id} already exists (deleting).")));
    }
    let (what, id, code, kind) = match call.operation {
        "RestoreDBInstanceFromDBSnapshot" => {
            (What::DbSnapshot, named(body, "DBSnapshotIdentifier")?, "InvalidDBSnapshotState", "snapshot")
        }
        "CopyDBSnapshot" => {
            (What::DbSnapshot, named(body, "SourceDBSnapshotIdentifier")?, "InvalidDBSnapshotState", "snapshot")
        }
        "RestoreDBClusterFromSnapshot" => (
            What::ClusterSnapshot,
            named(body, "SnapshotIdentifier")?,
            "InvalidDBClusterSnapshotStateFault",
            "cluster snapshot",
        ),
        "CopyDBClusterSnapshot" => (
            What::ClusterSnapshot,
            named(body, "SourceDBClusterSnapshotIdentifier")?,
            "InvalidDBClusterSnapshotStateFault",
            "cluster snapshot",
        ),
        "CreateDBInstance" => {
            (What::Cluster, named(body, "DBClusterIdentifier")?, "InvalidDBClusterStateFault", "DB cluster")
        }
        // A replica is promoted, and an instance rebooted, once it is available
        // (PromoteReadReplica, RebootDBInstance: InvalidDBInstanceState).
        "ModifyDBInstance" | "DeleteDBInstance" | "PromoteReadReplica" | "RebootDBInstance" => {
            (What::DbInstance, named(body, "DBInstanceIdentifier")?, "InvalidDBInstanceState", "DB instance")
        }
        "ModifyDBCluster" | "DeleteDBCluster" => {
            (What::Cluster, named(body, "DBClusterIdentifier")?, "InvalidDBClusterStateFault", "DB cluster")
        }
        _ => return None,
    };
    let work = busy(at, what, &id)?;
    // A snapshot being taken leaves its instance usable (`backing-up`); only stop is refused, by
    // the rules.
    if work.state == "backing-up" {
        return None;
    }
    Some(refusal(code, &format!("The {kind} {id} is not available: it is {}.", work.state)))
}

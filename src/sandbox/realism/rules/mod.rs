//! AWS's rules that moto does not enforce, put between the tool and moto by the realism
//! proxy ([`super::RealismProxy::with_aws_rules`]). Each rule says where AWS
//! documents it; each has a test showing that bare moto accepts what AWS refuses.
//!
//! - **An import's client token** ([`dynamodb`]): a repeated ImportTable token answers the import
//!   already made; moto imports again.
//! - **BatchWriteItem's limits** ([`dynamodb`]): at most 25 requests, and not a put and a delete
//!   of one item, in a call; moto writes any number, and both.
//! - **gp3 baseline** (RDS user guide, "General Purpose SSD storage", gp3): an RDS instance on
//!   gp3 below 400 GiB (200 GiB for Oracle; SQL Server has no threshold) gets the baseline 3,000
//!   IOPS and 125 MiB/s, which DescribeDBInstances reports, and RDS refuses an explicit `Iops` or
//!   `StorageThroughput` at that size with InvalidParameterCombination (seen in
//!   terraform-provider-aws #28271, #28361). At or above the threshold the baseline is 12,000
//!   IOPS and 500 MiB/s. Moto reports neither value and accepts both parameters.
//!
//! - **No downgrade on restore** (RestoreDBClusterFromSnapshot, `EngineVersion`): a cluster is
//!   not restored at a lower engine version than its snapshot's; moto restores at any version.
//! - **Serverless v2 capacity is not restored** (Aurora user guide, restoring Serverless v2): a
//!   cluster restored (or created) without `ServerlessV2ScalingConfiguration` has none, renamed
//!   or not, and every `db.serverless` instance added to it is refused. Moto copies the snapshot's; the rules layer
//!   hides it from describes and refuses such members.
//! - **A snapshot keeps its instance busy** (RDS user guide, DB instance status `backing-up`):
//!   after CreateDBSnapshot the instance reports `backing-up` for a while (here: its next three
//!   describes), and StopDBInstance is refused meanwhile (InvalidDBInstanceState). Moto stays
//!   `available` and stops at once.
//! - **A modification takes a while** (ModifyDBInstance/ModifyDBCluster with ApplyImmediately):
//!   RDS answers `available` with the change in `PendingModifiedValues` for a moment, then
//!   `modifying`, then `available` again (here: two describes each). Moto applies it at once.
//!   A rename takes the change under way with it; what is made under the old name next has none.
//!   Deletion protection alone is set at once (it is never a pending value).
//! - **EC2 is eventually consistent** (EC2 API reference, "Eventual consistency"): a snapshot or
//!   volume just made may be unknown to the next describe that names it
//!   (`InvalidSnapshot.NotFound`, `InvalidVolume.NotFound`); here, the first such describe.
//!   A snapshot just made (CreateSnapshot, CreateSnapshots, CopySnapshot) is also missing from
//!   the first list of snapshots (a describe by filters) that would have shown it, even when its
//!   answer was lost on the way. Moto knows and lists it at once.
//! - **An attachment takes a moment** (EC2 user guide, attaching a volume): after AttachVolume the
//!   volume is `in-use` while its attachment is still `attaching` (here: two describes of it);
//!   an instance started meanwhile may boot without it, so the rules refuse StartInstances then.
//!   Moto reports `attached` at once.
//! - **Running is not booted** (EC2 user guide, status checks): after StartInstances the status
//!   checks are `initializing` for a while (here: two DescribeInstanceStatus answers). Moto
//!   reports `ok` at once.
//! - **A stopped Auto Scaling member is replaced** (Auto Scaling user guide, health checks): an
//!   `InService` member that stops fails its health check and is terminated (with it every
//!   volume marked DeleteOnTermination). Here it is terminated as soon as it is stopped. Moto's
//!   group leaves it alone.
//!   A group's suspended `HealthCheck` or `ReplaceUnhealthy` process stops that (the rules too).
//! - **Standby may not take a group below its minimum** (EnterStandby,
//!   `ShouldDecrementDesiredCapacity`: the desired capacity after it must be at least the minimum
//!   size): refused with ValidationError. Moto lowers the desired capacity below the minimum.
//! - **A storage autoscaling limit above the storage** (RDS user guide, storage autoscaling: the
//!   maximum storage threshold is at least 10% more than the allocated storage): a
//!   ModifyDBInstance with a lower `MaxAllocatedStorage` is refused. Moto accepts any.
//!
//! - **Cluster endpoints belong to the account and region** (Aurora user guide, "Amazon Aurora
//!   endpoint connections": `<cluster>.cluster-<id>.<region>.rds.amazonaws.com`, the id one per
//!   account and region): a cluster restored under the same identifier has the same endpoints,
//!   which is why a failback restores under the original identifier. Moto makes a new random id
//!   (and hosted zone) per cluster; the rules layer reports one per region.
//!
//! - **Roles are associated with an available resource only** (AddRoleToDBInstance,
//!   AddRoleToDBCluster): refused while a modification is under way. Moto associates at once.
//! - **An encrypted snapshot copied to another region needs that region's key** (CopyDBSnapshot,
//!   CopyDBClusterSnapshot, `KmsKeyId`: "you must specify a KMS key identifier for the destination
//!   Region"): refused with InvalidParameterValue ("Must specify new KMS key for cross region
//!   encrypted snapshot copy"). Moto copies it.
//! - **The AWS managed key is not shared** (RDS user guide, "Sharing a DB snapshot"): a snapshot
//!   encrypted with the account's default key (`aws/rds`) cannot be shared with another account;
//!   ModifyDB(Cluster)SnapshotAttribute adding an account is refused. Moto shares it. Moto also
//!   names that key `default_kms_key_id` and calls every key customer managed; the layer answers
//!   as AWS does ([`keys`]).
//! - **No key for an unencrypted cluster snapshot's copy** (CopyDBClusterSnapshot, `KmsKeyId`:
//!   "an error is returned"). Moto encrypts the copy.
//! - **TDE needs an option group across regions** (CopyDBSnapshot, `OptionGroupName`: "If your
//!   source DB instance uses Transparent Data Encryption for Oracle or Microsoft SQL Server, you
//!   must specify this option when copying across AWS Regions"): a copy of such a snapshot
//!   without an option group with TDE in the destination region is refused. Moto copies it.
//!
//! - **An RDS identifier in use is taken** ([`rds_names`]): a rename, a read replica, a cluster
//!   create or restore under the name of another instance or cluster of the region is refused
//!   (DBInstanceAlreadyExists, DBClusterAlreadyExistsFault). Moto replaces the other one.
//!
//! - **Read replicas** ([`rds_replicas`]): a source without automated backups makes none; only a
//!   replica is promoted; a promoted one is a replica no more in describes. Moto differs in each.
//!
//! - **A table's resource-based policy applies, a few seconds after it is put**
//!   ([`table_policy`]): an explicit deny refuses writes; moto stores the policy and ignores it.
//!
//! - **Aurora Global Database** ([`global_db`]), which moto cannot make from a cluster outside
//!   us-east-1 nor switch over: answered by the layer, with RDS's refusals.
//!
//! - **IAM's policy simulator** (SimulatePrincipalPolicy), which moto lacks: answered from the
//!   principal's policies in moto ([`iam`]).
//!
//! (Moto itself refuses a restore with less storage than the snapshot holds: measured, not
//! repeated here.)

mod cfn_capabilities;
mod dynamodb;
mod ec2;
pub mod fast_restore;
pub mod global_db;
pub mod iam;
mod keys;
mod parameter_apply;
mod rds_names;
mod rds_replicas;
pub mod replica_lag;
pub mod table_policy;

use super::wire::{ask_upstream, ask_upstream_as, each_element, field, param, refusal, rewrite_body};
use std::collections::HashSet;
use std::sync::Mutex;

/// Forgets what the rules noted about moto on `upstream` (its state was reset): a server of the
/// pool serves many tests, and one test's restored cluster must not hide the next one's capacity.
pub fn forget(upstream: u16) {
    NO_CAPACITY.lock().unwrap().retain(|e| e.0 != upstream);
    BACKING_UP.lock().unwrap().retain(|e| e.0 != upstream);
    MODIFYING.lock().unwrap().retain(|e| e.0 != upstream);
    ec2::forget(upstream);
    iam::forget(upstream);
    dynamodb::forget(upstream);
    table_policy::forget(upstream);
    rds_replicas::forget(upstream);
    replica_lag::forget(upstream);
    fast_restore::forget(upstream);
    parameter_apply::forget(upstream);
    global_db::forget(upstream);
    super::timing::forget(upstream);
    super::limits::forget(upstream);
}

/// Clusters (moto port, identifier) restored without a Serverless v2 capacity: on AWS they have
/// none until a ModifyDBCluster gives them one.
static NO_CAPACITY: Mutex<Vec<(u16, String)>> = Mutex::new(Vec::new());

/// Instances (moto port, `region/identifier`, describes left) busy with a snapshot. Keyed by
/// region too: recovery's `orders-db` taking a snapshot leaves primary's `orders-db` alone.
static BACKING_UP: Mutex<Vec<(u16, String, u32)>> = Mutex::new(Vec::new());

/// `region/id`: an RDS identifier is unique within its region only.
fn in_region(region: &str, id: &str) -> String {
    format!("{region}/{id}")
}

/// Whether `key` ([`in_region`]) is still backing up; `describe` uses up one of its busy describes.
fn backing_up(upstream: u16, key: &str, describe: bool) -> bool {
    let mut busy = BACKING_UP.lock().unwrap();
    let Some(entry) = busy.iter_mut().find(|(p, i, left)| *p == upstream && i == key && *left > 0) else {
        return false;
    };
    if describe {
        entry.2 -= 1;
    }
    true
}

/// Instances and clusters (moto port, `region/identifier`, describes left) with a modification
/// under way.
static MODIFYING: Mutex<Vec<(u16, String, u32)>> = Mutex::new(Vec::new());

/// How far the modification of `key` ([`in_region`]) is along: `Some(left)` describes to go
/// (4..1), then `None`. A describe uses one up.
fn modifying(upstream: u16, key: &str, describe: bool) -> Option<u32> {
    let mut busy = MODIFYING.lock().unwrap();
    let entry = busy.iter_mut().find(|(p, i, left)| *p == upstream && i == key && *left > 0)?;
    let left = entry.2;
    if describe {
        entry.2 -= 1;
    }
    Some(left)
}

/// A role is associated only with an `available` instance or cluster (AddRoleToDBInstance,
/// AddRoleToDBCluster: InvalidDBInstanceState / InvalidDBClusterStateFault): refused while a
/// modification is under way.
fn busy_modifying(region: &str, body: &str, id_param: &str, code: &str, upstream: u16) -> Option<Vec<u8>> {
    let id = param(body, id_param)?;
    modifying(upstream, &in_region(region, id), false)
        .map(|_| refusal(code, &format!("{id} is not in the available state (modifying).")))
}

/// Describes of `id` that would still have shown its modification under way: a wait that
/// returned before the change took effect leaves some.
pub fn modification_describes_left(upstream: u16, region: &str, id: &str) -> u32 {
    modifying(upstream, &in_region(region, id), false).unwrap_or(0)
}

fn no_capacity(upstream: u16) -> HashSet<String> {
    NO_CAPACITY.lock().unwrap().iter().filter(|(p, _)| *p == upstream).map(|(_, c)| c.clone()).collect()
}

/// The size below which gp3 takes only its baseline, for `engine`; `None` where any size may be
/// given IOPS (SQL Server). The tool has the same rule (`actions::failback::rds::storage`); this
/// one is written again from RDS's user guide on purpose: the layer is what the tool is checked
/// against, and a rule shared with the tool could not catch the tool's misreading of it.
fn gp3_threshold(engine: &str) -> Option<i64> {
    if engine.starts_with("sqlserver") {
        None
    } else if engine.starts_with("oracle") {
        Some(200)
    } else {
        Some(400)
    }
}

/// AWS's refusal of this request, if AWS would refuse it; `None` sends it on to moto.
pub fn refuse(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    if let Some(refused) = table_policy::refuse(head, body, upstream) {
        return Some(refused);
    }
    if let Some(again) = dynamodb::repeated_import(head, body, upstream) {
        return Some(again);
    }
    if let Some(refused) = dynamodb::batch_write_refusal(head, body) {
        return Some(refused);
    }
    let region = super::wire::region(head).unwrap_or_default();
    let action = param(body, "Action")?;
    if let Some(refused) = rds_names::taken(action, head, body, upstream) {
        return Some(refused);
    }
    if let Some(refused) = rds_replicas::refuse(action, (head, region), body, upstream) {
        return Some(refused);
    }
    if let Some(refused) = global_db::refuse(action, region, body, upstream) {
        return Some(refused);
    }
    if let Some(refused) = cfn_capabilities::refuse(action, body) {
        return Some(refused);
    }
    match action {
        action @ ("DescribeSnapshots" | "DescribeVolumes" | "AttachVolume" | "DetachVolume" | "StartInstances"
        | "EnterStandby") => ec2::refuse(action, head, body, upstream),
        "RestoreDBInstanceFromDBSnapshot" => gp3_baseline(head, body, upstream).or_else(|| {
            note_made(region, body, "DBInstanceIdentifier", upstream);
            None
        }),
        "ModifyDBInstance" => {
            gp3_baseline(head, body, upstream).or_else(|| storage_limit(head, body, upstream)).or_else(|| {
                note_modification(region, body, "DBInstanceIdentifier", upstream);
                None
            })
        }
        "CreateDBInstance" => {
            gp3_baseline(head, body, upstream).or_else(|| serverless_member(body, upstream)).or_else(|| {
                note_made(region, body, "DBInstanceIdentifier", upstream);
                None
            })
        }
        "CreateDBCluster" => {
            note_capacity(body, upstream);
            note_made(region, body, "DBClusterIdentifier", upstream);
            None
        }
        "AddRoleToDBInstance" => {
            busy_modifying(region, body, "DBInstanceIdentifier", "InvalidDBInstanceState", upstream)
        }
        "AddRoleToDBCluster" => {
            busy_modifying(region, body, "DBClusterIdentifier", "InvalidDBClusterStateFault", upstream)
        }
        "RestoreDBClusterFromSnapshot" => no_downgrade(head, body, upstream).or_else(|| {
            note_capacity(body, upstream);
            note_made(region, body, "DBClusterIdentifier", upstream);
            None
        }),
        "ModifyDBCluster" => {
            note_capacity(body, upstream);
            note_modification(region, body, "DBClusterIdentifier", upstream);
            None
        }
        "CopyDBSnapshot" => keys::cross_region_copy_without_key(head, body, upstream, "DBSnapshot")
            .or_else(|| keys::tde_copy_without_option_group(head, body, upstream)),
        "CopyDBClusterSnapshot" => keys::cross_region_copy_without_key(head, body, upstream, "DBClusterSnapshot")
            .or_else(|| keys::key_for_an_unencrypted_cluster_copy(head, body, upstream)),
        "ModifyDBSnapshotAttribute" => keys::shared_with_the_default_key(head, body, upstream, "DBSnapshot"),
        "ModifyDBClusterSnapshotAttribute" => {
            keys::shared_with_the_default_key(head, body, upstream, "DBClusterSnapshot")
        }
        "CreateDBSnapshot" => {
            let id = param(body, "DBInstanceIdentifier")?;
            BACKING_UP.lock().unwrap().push((upstream, in_region(region, id), 3));
            None
        }
        "SimulatePrincipalPolicy" => iam::simulate(body, upstream),
        "StopDBInstance" => {
            let id = param(body, "DBInstanceIdentifier")?;
            backing_up(upstream, &in_region(region, id), false)
                .then(|| refusal("InvalidDBInstanceState", &format!("Instance {id} is not in available state.")))
        }
        _ => None,
    }
}

/// A storage autoscaling limit must be at least 10% above the instance's storage.
fn storage_limit(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    let max: i64 = param(body, "MaxAllocatedStorage")?.parse().ok()?;
    let size: i64 = match param(body, "AllocatedStorage") {
        Some(s) => s.parse().ok()?,
        None => {
            let id = param(body, "DBInstanceIdentifier")?;
            let query = format!("Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier={id}");
            field(&ask_upstream(upstream, head, &query)?, "AllocatedStorage")?.parse().ok()?
        }
    };
    (max * 10 < size * 11).then(|| {
        refusal(
            "InvalidParameterCombination",
            &format!("Max storage size {max} must be at least 10% greater than the storage size {size}."),
        )
    })
}

/// A cluster restore may not ask for a lower engine version than its snapshot's.
fn no_downgrade(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    let wanted = param(body, "EngineVersion")?;
    let snapshot = param(body, "SnapshotIdentifier")?;
    let query = format!("Action=DescribeDBClusterSnapshots&Version=2014-10-31&DBClusterSnapshotIdentifier={snapshot}");
    let described = ask_upstream(upstream, head, &query)?;
    let has = field(&described, "EngineVersion")?;
    older(wanted, has).then(|| {
        refusal(
            "InvalidParameterCombination",
            &format!("Cannot restore a DB cluster at engine version {wanted} from a snapshot of version {has}."),
        )
    })
}

/// A change applied immediately (not a rename, which RDS reports as `renaming`) is under way for
/// the next four describes of its target. A rename takes a change under way with it: it is the
/// renamed resource's, not that of whatever is made under the old identifier next.
fn note_modification(region: &str, body: &str, id_param: &str, upstream: u16) {
    let Some(id) = param(body, id_param) else { return };
    let key = in_region(region, id);
    let mut busy = MODIFYING.lock().unwrap();
    let new_id = ["NewDBInstanceIdentifier", "NewDBClusterIdentifier"].iter().find_map(|p| param(body, p));
    if let Some(new_id) = new_id {
        let new_key = in_region(region, new_id);
        busy.iter_mut().filter(|(p, i, _)| *p == upstream && *i == key).for_each(|e| e.1 = new_key.clone());
    } else if param(body, "ApplyImmediately") == Some("true") && changes_settings(body) {
        busy.retain(|(p, i, _)| !(*p == upstream && *i == key));
        busy.push((upstream, key, 4));
    }
}

/// Whether a ModifyDB* request changes more than deletion protection: a flag RDS sets at once
/// (it is in neither `PendingModifiedValues` nor `ClusterPendingModifiedValues`), so turning it
/// on or off puts nothing under way.
fn changes_settings(body: &str) -> bool {
    const AT_ONCE: [&str; 6] =
        ["Action", "Version", "DBInstanceIdentifier", "DBClusterIdentifier", "ApplyImmediately", "DeletionProtection"];
    body.split('&').filter_map(|pair| pair.split('=').next()).any(|name| !name.is_empty() && !AT_ONCE.contains(&name))
}

/// A resource made under an identifier (restored, created) has no change under way: one noted
/// for an earlier resource of that identifier (deleted, renamed away) is not its.
fn note_made(region: &str, body: &str, id_param: &str, upstream: u16) {
    let Some(id) = param(body, id_param) else { return };
    let key = in_region(region, id);
    MODIFYING.lock().unwrap().retain(|(p, i, _)| !(*p == upstream && *i == key));
}

/// Whether engine version `a` is lower than `b` (numbers compared as numbers).
fn older(a: &str, b: &str) -> bool {
    let parts = |v: &str| v.split(['.', '_', '-']).map(|p| (p.parse::<u64>().ok(), p.to_string())).collect::<Vec<_>>();
    parts(a) < parts(b)
}

/// Keeps track of clusters restored without, or given, a Serverless v2 capacity.
/// A cluster made (created or restored) without a capacity has none; one given a capacity has one;
/// a renamed cluster keeps what it had under its new name.
fn note_capacity(body: &str, upstream: u16) {
    let Some(cluster) = param(body, "DBClusterIdentifier") else { return };
    let given = param(body, "ServerlessV2ScalingConfiguration.MinCapacity").is_some();
    let made = matches!(param(body, "Action"), Some("RestoreDBClusterFromSnapshot" | "CreateDBCluster"));
    let mut list = NO_CAPACITY.lock().unwrap();
    let had_none = list.iter().any(|(p, c)| *p == upstream && c == cluster);
    if given || made {
        list.retain(|(p, c)| !(*p == upstream && c == cluster));
    }
    if !given && made {
        list.push((upstream, cluster.to_string()));
    }
    if let Some(renamed) = param(body, "NewDBClusterIdentifier") {
        list.retain(|(p, c)| !(*p == upstream && (c == cluster || c == renamed)));
        if had_none && !given {
            list.push((upstream, renamed.to_string()));
        }
    }
}

/// A `db.serverless` member of a cluster with no Serverless v2 capacity is refused.
fn serverless_member(body: &str, upstream: u16) -> Option<Vec<u8>> {
    let cluster = param(body, "DBClusterIdentifier")?;
    (param(body, "DBInstanceClass") == Some("db.serverless") && no_capacity(upstream).contains(cluster)).then(|| {
        refusal(
            "InvalidDBClusterStateFault",
            &format!(
                "Set the Serverless v2 scaling configuration on the parent DB cluster {cluster} before creating a Serverless v2 DB instance."
            ),
        )
    })
}

/// gp3 under its engine's threshold takes no explicit IOPS or throughput.
fn gp3_baseline(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    if param(body, "Iops").is_none() && param(body, "StorageThroughput").is_none() {
        return None;
    }
    // What the request does not say comes from the snapshot (a restore) or the instance (a modify).
    let from = match param(body, "Action")? {
        "RestoreDBInstanceFromDBSnapshot" => ask_upstream(
            upstream,
            head,
            &format!(
                "Action=DescribeDBSnapshots&Version=2014-10-31&DBSnapshotIdentifier={}",
                param(body, "DBSnapshotIdentifier")?
            ),
        ),
        "ModifyDBInstance" => ask_upstream(
            upstream,
            head,
            &format!(
                "Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier={}",
                param(body, "DBInstanceIdentifier")?
            ),
        ),
        _ => None,
    }
    .unwrap_or_default();
    let storage_type = param(body, "StorageType").or_else(|| field(&from, "StorageType"))?;
    let engine = param(body, "Engine").or_else(|| field(&from, "Engine")).unwrap_or("postgres");
    let size: i64 = param(body, "AllocatedStorage").or_else(|| field(&from, "AllocatedStorage"))?.parse().ok()?;
    let threshold = gp3_threshold(engine)?;
    (storage_type == "gp3" && size < threshold).then(|| {
        refusal(
            "InvalidParameterCombination",
            &format!("You can't specify IOPS or storage throughput for engine {engine} and a storage size less than {threshold}."),
        )
    })
}

/// Moto's answer as AWS would give it.
pub fn answer(request: &str, upstream: u16, answer: Vec<u8>) -> Vec<u8> {
    dynamodb::note_import(request, upstream, &answer);
    if answer.starts_with(b"HTTP/1.1 200")
        && let Some(body) = request.split("\r\n\r\n").nth(1)
        && let Some(action) = param(body, "Action")
    {
        let region = super::wire::region(request).unwrap_or_default();
        rds_replicas::note(action, region, body, upstream);
        parameter_apply::note(action, region, body, upstream);
        replica_lag::note(action, region, body, upstream);
        let text = String::from_utf8_lossy(&answer);
        global_db::note(action, body, text.split_once("\r\n\r\n").map_or("", |(_, b)| b), upstream);
    }
    if let Some(rewritten) = ec2::answer(request, upstream, &answer) {
        return rewritten;
    }
    let answer = keys::answer(request, upstream, answer);
    let instances = request.contains("Action=DescribeDBInstances");
    let clusters = ["Action=DescribeDBClusters", "Action=RestoreDBClusterFromSnapshot", "Action=CreateDBCluster&"]
        .iter()
        .any(|a| request.contains(a));
    if !instances && !clusters {
        return answer;
    }
    let region = super::wire::region(request).unwrap_or_default();
    rewrite_body(&answer, |body| {
        if instances {
            let body = report_backing_up(region, &report_gp3_baseline(body), upstream);
            let body = rds_replicas::report_promoted(region, &body, upstream);
            let body = parameter_apply::report(region, &body, upstream);
            report_modifying(region, &body, "DBInstance", "DBInstanceIdentifier", "DBInstanceStatus", upstream)
        } else {
            let body = stable_endpoints(&hide_capacity(body, &no_capacity(upstream)));
            let body = global_db::report_members(&body, upstream);
            report_modifying(region, &body, "DBCluster", "DBClusterIdentifier", "Status", upstream)
        }
    })
}

/// Every gp3 instance without IOPS reports its baseline IOPS and throughput, as RDS does.
fn report_gp3_baseline(body: &str) -> String {
    each_element(body, "DBInstance", |one| {
        let gp3 = field(one, "StorageType") == Some("gp3") && field(one, "Iops").is_none();
        let Some(size) = field(one, "AllocatedStorage").and_then(|s| s.parse::<i64>().ok()).filter(|_| gp3) else {
            return one.to_string();
        };
        let threshold = gp3_threshold(field(one, "Engine").unwrap_or_default());
        let (iops, tput) = if threshold.is_some_and(|t| size >= t) { (12000, 500) } else { (3000, 125) };
        one.replacen(
            "<StorageType>gp3</StorageType>",
            &format!("<StorageType>gp3</StorageType><Iops>{iops}</Iops><StorageThroughput>{tput}</StorageThroughput>"),
            1,
        )
    })
}

/// Cluster endpoints with the one id of the account and region, and one hosted zone, as on AWS.
fn stable_endpoints(body: &str) -> String {
    let endpoint = regex::Regex::new(r"\.cluster-(ro-|custom-)?[a-z0-9]{12}\.").unwrap();
    let zone = regex::Regex::new(r"<HostedZoneId>[^<]*</HostedZoneId>").unwrap();
    let body = endpoint.replace_all(body, ".cluster-${1}pl0region0id.");
    zone.replace_all(&body, "<HostedZoneId>Z2R2ITUGPM61AM</HostedZoneId>").into_owned()
}

/// Clusters restored without a Serverless v2 capacity report none, as on AWS.
fn hide_capacity(body: &str, clusters: &HashSet<String>) -> String {
    each_element(body, "DBCluster", |one| {
        match (field(one, "DBClusterIdentifier"), field(one, "ServerlessV2ScalingConfiguration")) {
            (Some(id), Some(inner)) if clusters.contains(id) => one.replacen(
                &format!("<ServerlessV2ScalingConfiguration>{inner}</ServerlessV2ScalingConfiguration>"),
                "",
                1,
            ),
            _ => one.to_string(),
        }
    })
}

/// An instance busy with a snapshot reports `backing-up` instead of `available`.
fn report_backing_up(region: &str, body: &str, upstream: u16) -> String {
    each_element(body, "DBInstance", |one| match field(one, "DBInstanceIdentifier") {
        Some(id)
            if field(one, "DBInstanceStatus") == Some("available")
                && backing_up(upstream, &in_region(region, id), true) =>
        {
            one.replacen(
                "<DBInstanceStatus>available</DBInstanceStatus>",
                "<DBInstanceStatus>backing-up</DBInstanceStatus>",
                1,
            )
        }
        _ => one.to_string(),
    })
}

/// A modification under way: `available` with the change pending for two describes, then
/// `modifying` for two.
fn report_modifying(region: &str, body: &str, element: &str, id_tag: &str, status_tag: &str, upstream: u16) -> String {
    each_element(body, element, |one| {
        let available = format!("<{status_tag}>available</{status_tag}>");
        let Some(left) = field(one, id_tag)
            .filter(|_| one.contains(&available))
            .and_then(|id| modifying(upstream, &in_region(region, id), true))
        else {
            return one.to_string();
        };
        let without = match (one.find("<PendingModifiedValues>"), one.find("</PendingModifiedValues>")) {
            (Some(a), Some(b)) => format!("{}{}", &one[..a], &one[b + "</PendingModifiedValues>".len()..]),
            _ => one.replace("<PendingModifiedValues/>", ""),
        };
        if left > 2 {
            let pending =
                "<PendingModifiedValues><BackupRetentionPeriod>7</BackupRetentionPeriod></PendingModifiedValues>";
            without.replacen(&available, &format!("{available}{pending}"), 1)
        } else {
            without.replacen(&available, &format!("<{status_tag}>modifying</{status_tag}>"), 1)
        }
    })
}

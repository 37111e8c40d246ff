//! Aurora Global Database as RDS runs it, answered by the layer: moto 5.2.5 cannot make one from
//! a cluster outside us-east-1 (it looks for the source in us-east-1 only), answers HTTP 500 for
//! SwitchoverGlobalCluster, and keeps a detached cluster's `GlobalClusterIdentifier`
//! (`docs/design/replica-failback.md`, section 2). Moto still holds the clusters; the layer holds
//! the global clusters, their members and their switchovers:
//!
//! - **CreateGlobalCluster** from an existing cluster of any region, by ARN
//!   (`SourceDBClusterIdentifier`): GlobalClusterAlreadyExistsFault for a taken identifier,
//!   DBClusterNotFoundFault for an unknown source, InvalidDBClusterStateFault for a source
//!   already in a global database, InvalidParameterValue for a source that is not an ARN.
//! - **A secondary**: CreateDBCluster with `GlobalClusterIdentifier` in another region:
//!   GlobalClusterNotFoundFault for an unknown global database, InvalidParameterCombination for
//!   another engine or engine version (major and minor), a master user (a secondary takes the
//!   primary's, and reports it: moto is given it), an encrypted database's secondary without a
//!   key, and a second cluster of the database in one region. It is `creating` for its initial copy
//!   (`rds.CreateDBCluster.secondary`, timed in [`super::super::timing`]).
//! - **SwitchoverGlobalCluster** (`TargetDbClusterIdentifier`, an ARN): the target becomes the
//!   writer once the switchover's modelled time (`rds.SwitchoverGlobalCluster`) has passed;
//!   meanwhile the global cluster reports `FailoverState` (`switching-over`, from, to, no data loss) and
//!   refuses another switchover or a removal (InvalidGlobalClusterStateFault). Refused for a target
//!   that is the writer, not a member, still `creating`, without a DB instance, or on another
//!   engine version.
//! - **RemoveFromGlobalCluster** (`DbClusterIdentifier`, an ARN): the cluster stands alone, and
//!   describes of it no longer name the global database; it is `promoting` for a while
//!   (`rds.RemoveFromGlobalCluster`). The writer only once it is the last member (Aurora user
//!   guide, "Removing a cluster from an Amazon Aurora global database").
//! - **DeleteGlobalCluster**: only once it has no members (InvalidGlobalClusterStateFault).
//! - **A member is not deleted** (the writer with other members: InvalidGlobalClusterStateFault,
//!   as users of RDS report it; else InvalidDBClusterStateFault) **nor renamed**
//!   (InvalidGlobalClusterStateFault; not documented either way, so the tool never relies on it).
//!
//! Where AWS's exact wording is not documented the message is the layer's own.

use super::super::model::Pace;
use super::super::timing::{self, Clock, What};
use super::super::wire::{ask_upstream, decoded, each_element, field, param, refusal};
use std::sync::Mutex;
use std::time::Instant;

/// One global database on one moto server.
#[derive(Debug, Clone)]
struct Global {
    upstream: u16,
    id: String,
    resource_id: String,
    engine: String,
    version: String,
    encrypted: bool,
    /// Member cluster ARNs, and whether each is the writer.
    members: Vec<(String, bool)>,
    /// A switchover under way: from, to, and when it is done.
    switching: Option<(String, String, Instant)>,
}

static GLOBALS: Mutex<Vec<Global>> = Mutex::new(Vec::new());

pub(super) fn forget(upstream: u16) {
    GLOBALS.lock().unwrap_or_else(|p| p.into_inner()).retain(|g| g.upstream != upstream);
}

/// `(region, cluster id)` of a cluster ARN.
pub(crate) fn cluster_arn(arn: &str) -> Option<(&str, &str)> {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "rds", region, _, "cluster", id] => Some((region, id)),
        _ => None,
    }
}

/// Ends the switchovers whose time has passed: the target is the writer.
fn settle(all: &mut [Global]) {
    for g in all.iter_mut() {
        if let Some((_, to, done)) = g.switching.clone()
            && Instant::now() >= done
        {
            for (arn, writer) in &mut g.members {
                *writer = *arn == to;
            }
            g.switching = None;
        }
    }
}

/// The cluster `id` as moto describes it in `region` (asked as the client, in that region).
fn describe_cluster(upstream: u16, head: &str, region: &str, id: &str) -> Option<String> {
    let asked = super::super::wire::region(head).unwrap_or_default();
    let head = head.replace(&format!("/{asked}/rds/"), &format!("/{region}/rds/"));
    let query = format!("Action=DescribeDBClusters&Version=2014-10-31&DBClusterIdentifier={id}");
    ask_upstream(upstream, &head, &query).filter(|d| field(d, "DBClusterIdentifier").is_some())
}

fn xml(g: &Global) -> String {
    let members: String = g
        .members
        .iter()
        .map(|(arn, writer)| {
            format!(
                "<GlobalClusterMember><DBClusterArn>{arn}</DBClusterArn><Readers/><IsWriter>{writer}</IsWriter>\
                 <GlobalWriteForwardingStatus>disabled</GlobalWriteForwardingStatus>{}</GlobalClusterMember>",
                if *writer { "" } else { "<SynchronizationStatus>connected</SynchronizationStatus>" }
            )
        })
        .collect();
    // The global cluster's own status during a switchover is not documented; its FailoverState is.
    let (status, failover) = match &g.switching {
        Some((from, to, _)) => (
            "available",
            format!(
                "<FailoverState><Status>switching-over</Status><FromDbClusterArn>{from}</FromDbClusterArn>\
                 <ToDbClusterArn>{to}</ToDbClusterArn><IsDataLossAllowed>false</IsDataLossAllowed></FailoverState>"
            ),
        ),
        None => ("available", String::new()),
    };
    format!(
        "<GlobalClusterIdentifier>{id}</GlobalClusterIdentifier><GlobalClusterResourceId>{rid}</GlobalClusterResourceId>\
         <GlobalClusterArn>arn:aws:rds::123456789012:global-cluster:{id}</GlobalClusterArn><Status>{status}</Status>\
         <Engine>{engine}</Engine><EngineVersion>{version}</EngineVersion><StorageEncrypted>{enc}</StorageEncrypted>\
         <DeletionProtection>false</DeletionProtection><GlobalClusterMembers>{members}</GlobalClusterMembers>{failover}",
        id = g.id,
        rid = g.resource_id,
        engine = g.engine,
        version = g.version,
        enc = g.encrypted,
    )
}

fn ok(action: &str, result: &str) -> Vec<u8> {
    let xml = format!(
        "<{action}Response xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>aws-rules-global</RequestId></ResponseMetadata></{action}Response>"
    );
    format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}", xml.len()).into_bytes()
}

fn not_found(id: &str) -> Vec<u8> {
    refusal("GlobalClusterNotFoundFault", &format!("Global cluster {id} not found."))
}

/// The layer's answer to a Global Database call (moto is not asked); `None` for any other call.
pub fn emulate(head: &str, body: &str, upstream: u16, clock: &Clock) -> Option<Vec<u8>> {
    let action = param(body, "Action")?;
    if action == "CreateDBCluster" {
        return secondary_with_master_user(head, body, upstream);
    }
    if !matches!(
        action,
        "CreateGlobalCluster"
            | "DescribeGlobalClusters"
            | "SwitchoverGlobalCluster"
            | "FailoverGlobalCluster"
            | "RemoveFromGlobalCluster"
            | "DeleteGlobalCluster"
    ) {
        return None;
    }
    let mut all = GLOBALS.lock().unwrap_or_else(|p| p.into_inner());
    settle(&mut all);
    let id = param(body, "GlobalClusterIdentifier").map(decoded);
    let index = id.as_ref().and_then(|id| all.iter().position(|g| g.upstream == upstream && &g.id == id));
    Some(match action {
        "CreateGlobalCluster" => {
            let id = id?;
            if index.is_some() {
                return Some(refusal(
                    "GlobalClusterAlreadyExistsFault",
                    &format!("Global cluster {id} already exists."),
                ));
            }
            let Some(source) = param(body, "SourceDBClusterIdentifier").map(decoded) else {
                return Some(refusal(
                    "InvalidParameterValue",
                    "The layer models a global database made from an existing cluster only.",
                ));
            };
            let Some((region, cluster)) = cluster_arn(&source) else {
                return Some(refusal("InvalidParameterValue", &format!("Malformed db cluster arn {source}")));
            };
            let Some(described) = describe_cluster(upstream, head, region, cluster) else {
                return Some(refusal("DBClusterNotFoundFault", &format!("DBCluster {source} not found.")));
            };
            if all.iter().any(|g| g.upstream == upstream && g.members.iter().any(|(a, _)| *a == source)) {
                return Some(refusal(
                    "InvalidDBClusterStateFault",
                    &format!("DB cluster {source} is already a member of a global cluster."),
                ));
            }
            let g = Global {
                upstream,
                resource_id: format!("cluster-{:020x}", all.len() + 1),
                id,
                engine: field(&described, "Engine").unwrap_or_default().to_string(),
                version: field(&described, "EngineVersion").unwrap_or_default().to_string(),
                encrypted: field(&described, "StorageEncrypted") == Some("true"),
                members: vec![(source, true)],
                switching: None,
            };
            let answer = ok(action, &format!("<GlobalCluster>{}</GlobalCluster>", xml(&g)));
            all.push(g);
            answer
        }
        "DescribeGlobalClusters" => {
            let listed: Vec<&Global> = match (&id, index) {
                (Some(id), None) => return Some(not_found(id)),
                (Some(_), Some(i)) => vec![&all[i]],
                (None, _) => all.iter().filter(|g| g.upstream == upstream).collect(),
            };
            let each: String =
                listed.iter().map(|g| format!("<GlobalClusterMember>{}</GlobalClusterMember>", xml(g))).collect();
            ok(action, &format!("<GlobalClusters>{each}</GlobalClusters>"))
        }
        "FailoverGlobalCluster" => refusal(
            "InvalidParameterValue",
            "The sandbox models SwitchoverGlobalCluster only (a failover with data loss is not a failback).",
        ),
        "SwitchoverGlobalCluster" => {
            let id = id?;
            let Some(i) = index else { return Some(not_found(&id)) };
            let target = decoded(param(body, "TargetDbClusterIdentifier")?);
            match switchover(&mut all[i], (head, upstream), &target, clock) {
                Ok(()) => ok(action, &format!("<GlobalCluster>{}</GlobalCluster>", xml(&all[i]))),
                Err(refused) => refused,
            }
        }
        "RemoveFromGlobalCluster" => {
            let id = id?;
            let Some(i) = index else { return Some(not_found(&id)) };
            let member = decoded(param(body, "DbClusterIdentifier")?);
            let g = &mut all[i];
            if g.switching.is_some() {
                return Some(refusal(
                    "InvalidGlobalClusterStateFault",
                    &format!("Global cluster {id} is switching over; try again once it is done."),
                ));
            }
            let Some(at) = g.members.iter().position(|(a, _)| *a == member) else {
                return Some(refusal(
                    "DBClusterNotFoundFault",
                    &format!("DB cluster {member} is not a member of global cluster {id}."),
                ));
            };
            if g.members[at].1 && g.members.len() > 1 {
                return Some(refusal(
                    "InvalidGlobalClusterStateFault",
                    &format!(
                        "The primary cluster {member} of global cluster {id} can be removed only once it is the last member."
                    ),
                ));
            }
            g.members.remove(at);
            ok(action, &format!("<GlobalCluster>{}</GlobalCluster>", xml(g)))
        }
        "DeleteGlobalCluster" => {
            let id = id?;
            let Some(i) = index else { return Some(not_found(&id)) };
            if !all[i].members.is_empty() {
                return Some(refusal(
                    "InvalidGlobalClusterStateFault",
                    &format!("Global Cluster arn:aws:rds::123456789012:global-cluster:{id} is not empty"),
                ));
            }
            let g = all.remove(i);
            ok(action, &format!("<GlobalCluster>{}</GlobalCluster>", xml(&g)))
        }
        _ => return None,
    })
}

/// A secondary (CreateDBCluster with `GlobalClusterIdentifier`, already past [`refuse`]) made in
/// moto with the primary's master user name, which on RDS it shares with the primary (its data
/// is the primary's, users included); moto would leave it without one. Moto's answer, as is.
fn secondary_with_master_user(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    let id = decoded(param(body, "GlobalClusterIdentifier")?);
    let writer = {
        let mut all = GLOBALS.lock().unwrap_or_else(|p| p.into_inner());
        settle(&mut all);
        let g = all.iter().find(|g| g.upstream == upstream && g.id == id)?;
        g.members.iter().find(|(_, w)| *w).map(|(a, _)| a.clone())?
    };
    let (region, cluster) = cluster_arn(&writer)?;
    let user = field(&describe_cluster(upstream, head, region, cluster)?, "MasterUsername")?.to_string();
    let asked = format!("{body}&MasterUsername={user}&MasterUserPassword=secondary-of-{cluster}");
    let mut answer = ask_upstream(upstream, head, &asked)?;
    // Moto names a new cluster's automated snapshot by the minute and refuses a second cluster of
    // that name within it (one renamed away, then made again), though it makes the cluster: AWS
    // makes it and says so.
    if answer.contains("DBClusterSnapshotAlreadyExistsFault") {
        let made =
            param(body, "DBClusterIdentifier").and_then(|id| describe_cluster(upstream, head, region_of(head), id));
        if let Some(cluster) = made.as_deref().and_then(|d| super::super::wire::element(d, "DBCluster")) {
            answer = format!(
                "<CreateDBClusterResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><CreateDBClusterResult>{cluster}\
                 </CreateDBClusterResult><ResponseMetadata><RequestId>aws-rules-global</RequestId></ResponseMetadata>\
                 </CreateDBClusterResponse>"
            );
        }
    }
    let status = if answer.contains("<ErrorResponse") { "400 Bad Request" } else { "200 OK" };
    Some(
        format!("HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{answer}", answer.len())
            .into_bytes(),
    )
}

fn region_of(head: &str) -> &str {
    super::super::wire::region(head).unwrap_or_default()
}

/// Starts a switchover of `g` to `target`, or says why RDS refuses it.
fn switchover(g: &mut Global, (head, upstream): (&str, u16), target: &str, clock: &Clock) -> Result<(), Vec<u8>> {
    if let Some(refused) = switchover_refusal(g, (head, upstream), target) {
        return Err(refused);
    }
    let from = g.members.iter().find(|(_, w)| *w).map(|(a, _)| a.clone()).unwrap_or_default();
    let modelled = clock.model.duration("rds.SwitchoverGlobalCluster", 0.0);
    let wall = if matches!(clock.pace, Pace::Instant) { Default::default() } else { clock.pace.wall(modelled) };
    g.switching = Some((from, target.to_string(), Instant::now() + wall));
    Ok(())
}

fn switchover_refusal(g: &Global, (head, upstream): (&str, u16), target: &str) -> Option<Vec<u8>> {
    if g.switching.is_some() {
        return Some(refusal(
            "InvalidGlobalClusterStateFault",
            &format!("Global cluster {} is already switching over.", g.id),
        ));
    }
    let Some((_, writer)) = g.members.iter().find(|(a, _)| a == target) else {
        return Some(refusal(
            "DBClusterNotFoundFault",
            &format!("DB cluster {target} is not a member of global cluster {}.", g.id),
        ));
    };
    if *writer {
        return Some(refusal(
            "InvalidParameterValue",
            &format!("DB cluster {target} is already the primary cluster of global cluster {}.", g.id),
        ));
    }
    let (region, id) = cluster_arn(target)?;
    let at = timing::At { upstream, region };
    if timing::state(at, What::Cluster, id).is_some() {
        return Some(refusal("InvalidDBClusterStateFault", &format!("DB cluster {id} is not available.")));
    }
    let described = describe_cluster(upstream, head, region, id)?;
    if !described.contains("<DBClusterMember>") {
        return Some(refusal(
            "InvalidDBClusterStateFault",
            &format!("DB cluster {id} has no DB instance to take over as the writer."),
        ));
    }
    let version = field(&described, "EngineVersion").unwrap_or_default();
    (version != g.version).then(|| {
        refusal(
            "InvalidParameterCombination",
            &format!(
                "The engine version of {id} ({version}) differs from the primary's ({}): a switchover needs the same version.",
                g.version
            ),
        )
    })
}

/// The global database cluster `id` of `region` is a member of, if any: its identifier, whether
/// the cluster is its writer, and whether it has other members.
fn member_of(upstream: u16, region: &str, id: &str) -> Option<(String, bool, bool)> {
    let mut all = GLOBALS.lock().unwrap_or_else(|p| p.into_inner());
    settle(&mut all);
    let is = |arn: &str| cluster_arn(arn).is_some_and(|(r, i)| r == region && i.eq_ignore_ascii_case(id));
    all.iter().filter(|g| g.upstream == upstream).find_map(|g| {
        let (_, writer) = g.members.iter().find(|(a, _)| is(a))?;
        Some((g.id.clone(), *writer, g.members.len() > 1))
    })
}

/// RDS's refusal of a secondary cluster it would not make, of the delete or the rename of a
/// member; `None` sends the call on.
pub(super) fn refuse(action: &str, region: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    match action {
        "CreateDBCluster" => {
            let id = decoded(param(body, "GlobalClusterIdentifier")?);
            let mut all = GLOBALS.lock().unwrap_or_else(|p| p.into_inner());
            settle(&mut all);
            let Some(g) = all.iter().find(|g| g.upstream == upstream && g.id == id) else {
                return Some(not_found(&id));
            };
            let engine = param(body, "Engine").unwrap_or_default();
            if engine != g.engine {
                return Some(refusal(
                    "InvalidParameterCombination",
                    &format!("The engine {engine} does not match global cluster {id}'s ({}).", g.engine),
                ));
            }
            // Reported by users of RDS (cloudposse/terraform-aws-rds-cluster #89, #157): a
            // secondary takes these from the primary.
            for (given, what) in
                [("MasterUsername", "user name"), ("MasterUserPassword", "password"), ("DatabaseName", "database name")]
            {
                if param(body, given).is_some() {
                    return Some(refusal(
                        "InvalidParameterCombination",
                        &format!("Cannot specify {what} for cross region replication cluster"),
                    ));
                }
            }
            // Aurora user guide, global databases: a secondary runs the primary's major and minor
            // engine version; an encrypted one needs a key of its own region (KMS keys are
            // regional; CreateDBCluster `KmsKeyId`).
            let major_minor = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
            if let Some(version) = param(body, "EngineVersion").filter(|v| major_minor(v) != major_minor(&g.version)) {
                return Some(refusal(
                    "InvalidParameterCombination",
                    &format!("The engine version {version} does not match global cluster {id}'s ({}).", g.version),
                ));
            }
            if g.encrypted && param(body, "KmsKeyId").is_none() {
                return Some(refusal(
                    "InvalidParameterCombination",
                    &format!(
                        "Global cluster {id} is encrypted: a secondary in {region} needs a KmsKeyId of that region."
                    ),
                ));
            }
            let here = g.members.iter().any(|(a, _)| cluster_arn(a).is_some_and(|(r, _)| r == region));
            here.then(|| {
                refusal(
                    "InvalidParameterCombination",
                    &format!("Global cluster {id} already has a cluster in {region}."),
                )
            })
        }
        "DeleteDBCluster" => {
            let named = decoded(param(body, "DBClusterIdentifier")?);
            let (region, id) = cluster_arn(&named).unwrap_or((region, &named));
            let (g, writer, others) = member_of(upstream, region, id)?;
            Some(if writer && others {
                refusal(
                    "InvalidGlobalClusterStateFault",
                    "Unable to delete cluster that is a primary member of global cluster while there are other global cluster members",
                )
            } else {
                refusal(
                    "InvalidDBClusterStateFault",
                    &format!(
                        "Cluster {id} is a member of global cluster {g}: remove it from the global cluster first."
                    ),
                )
            })
        }
        "ModifyDBCluster" => {
            param(body, "NewDBClusterIdentifier")?;
            let named = decoded(param(body, "DBClusterIdentifier")?);
            let (region, id) = cluster_arn(&named).unwrap_or((region, &named));
            member_of(upstream, region, id).map(|(g, _, _)| {
                refusal(
                    "InvalidGlobalClusterStateFault",
                    &format!("Cluster {id} is a member of global cluster {g}: remove it before renaming it."),
                )
            })
        }
        _ => None,
    }
}

/// Notes a secondary moto made (CreateDBCluster with `GlobalClusterIdentifier`, answered).
pub(super) fn note(action: &str, body: &str, answer: &str, upstream: u16) {
    if action != "CreateDBCluster" {
        return;
    }
    let (Some(id), Some(arn)) = (param(body, "GlobalClusterIdentifier").map(decoded), field(answer, "DBClusterArn"))
    else {
        return;
    };
    let mut all = GLOBALS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(g) = all.iter_mut().find(|g| g.upstream == upstream && g.id == id)
        && !g.members.iter().any(|(a, _)| a == arn)
    {
        g.members.push((arn.to_string(), false));
    }
}

/// A DescribeDBClusters answer with each cluster's `GlobalClusterIdentifier` as the layer knows
/// it (moto keeps a removed member's, and never knows a member outside us-east-1).
pub(super) fn report_members(body: &str, upstream: u16) -> String {
    let all: Vec<Global> = {
        let mut all = GLOBALS.lock().unwrap_or_else(|p| p.into_inner());
        settle(&mut all);
        all.iter().filter(|g| g.upstream == upstream).cloned().collect()
    };
    each_element(body, "DBCluster", |one| {
        let mut one = match field(one, "GlobalClusterIdentifier") {
            Some(g) => one.replacen(&format!("<GlobalClusterIdentifier>{g}</GlobalClusterIdentifier>"), "", 1),
            None => one.to_string(),
        };
        let arn = field(&one, "DBClusterArn").unwrap_or_default().to_string();
        if let Some(g) = all.iter().find(|g| g.members.iter().any(|(a, _)| *a == arn))
            && let Some(end) = one.find("</DBClusterIdentifier>")
        {
            let at = end + "</DBClusterIdentifier>".len();
            one.insert_str(at, &format!("<GlobalClusterIdentifier>{}</GlobalClusterIdentifier>", g.id));
        }
        one
    })
}

#[cfg(test)]
mod tests {
    use super::cluster_arn;
    use crate::sandbox::realism::wire::decoded;

    #[test]
    fn arns_are_read_decoded_or_not() {
        let arn = decoded("arn%3Aaws%3Ards%3Aus-west-2%3A123456789012%3Acluster%3Ainventory");
        assert_eq!(cluster_arn(&arn), Some(("us-west-2", "inventory")));
        assert_eq!(cluster_arn("inventory"), None);
        assert_eq!(cluster_arn("arn:aws:rds:us-east-1:1:db:inventory-1"), None, "an instance is no cluster");
    }
}

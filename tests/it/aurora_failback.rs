//! `aurora.failback` against moto, checked with independent describe calls: the cluster is
//! served again under its original identifier with its instances (identifiers, classes,
//! promotion tiers), deletion protection and tags, the original cluster is kept renamed and
//! protected, a second failback works, and a kill after any journal entry resumes to the same
//! end state with nothing made twice.

use super::support::{
    Kill, block_on, journal, kill_at_every_point, only_run, pilotlight, run, sdk, seeded_moto, state_dir,
};
use pilotlight::journal::Event;
use pilotlight::sandbox::seed::Part;
use std::collections::BTreeMap;

const FIXTURE: &str = "tests/fixtures/aurora-failback.yaml";
pub(super) const KEPT_PREFIX: &str = "inventory-pre-failback-";

/// A cluster as RDS reports it: status, protection, members (id -> writer, tier), tags.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cluster {
    pub(super) status: String,
    pub(super) deletion_protection: bool,
    pub(super) engine: String,
    pub(super) members: BTreeMap<String, (bool, Option<i32>)>,
    pub(super) tags: BTreeMap<String, String>,
}

/// A DB instance: its cluster, class, promotion tier and status.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Member {
    pub(super) cluster: Option<String>,
    pub(super) class: String,
    pub(super) tier: Option<i32>,
    pub(super) status: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct World {
    pub(super) clusters: BTreeMap<String, Cluster>,
    pub(super) instances: BTreeMap<String, Member>,
    pub(super) snapshots: usize,
}

pub(super) fn world(url: &str, region: &str) -> World {
    let rds = aws_sdk_rds::Client::new(&sdk(url, region));
    block_on(async {
        let out = rds.describe_db_clusters().send().await.unwrap();
        let clusters = out
            .db_clusters()
            .iter()
            .map(|c| {
                let cluster = Cluster {
                    status: c.status().unwrap_or_default().to_string(),
                    deletion_protection: c.deletion_protection().unwrap_or_default(),
                    engine: c.engine().unwrap_or_default().to_string(),
                    members: c
                        .db_cluster_members()
                        .iter()
                        .map(|m| {
                            let id = m.db_instance_identifier().unwrap().to_string();
                            (id, (m.is_cluster_writer().unwrap_or_default(), m.promotion_tier()))
                        })
                        .collect(),
                    tags: c
                        .tag_list()
                        .iter()
                        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap_or_default().to_string()))
                        .collect(),
                };
                (c.db_cluster_identifier().unwrap().to_string(), cluster)
            })
            .collect();
        let out = rds.describe_db_instances().send().await.unwrap();
        let instances = out
            .db_instances()
            .iter()
            .filter(|d| d.db_cluster_identifier().is_some())
            .map(|d| {
                let m = Member {
                    cluster: d.db_cluster_identifier().map(String::from),
                    class: d.db_instance_class().unwrap_or_default().to_string(),
                    tier: d.promotion_tier(),
                    status: d.db_instance_status().unwrap_or_default().to_string(),
                };
                (d.db_instance_identifier().unwrap().to_string(), m)
            })
            .collect();
        let snaps = rds.describe_db_cluster_snapshots().send().await.unwrap();
        let snapshots = snaps
            .db_cluster_snapshots()
            .iter()
            .filter(|s| s.db_cluster_snapshot_identifier().unwrap().starts_with("pl-"))
            .count();
        World { clusters, instances, snapshots }
    })
}

fn failback(state: &std::path::Path, url: &str) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", url]);
    run(cmd)
}

fn kept(w: &World) -> Vec<&String> {
    w.clusters.keys().filter(|id| id.starts_with(KEPT_PREFIX)).collect()
}

/// After a failback: `inventory` is this run's restore with the members, protection and tags
/// it had before, and one more original cluster is kept (renamed, protected, tagged).
fn assert_failed_back(before: &World, after: &World, original: &Cluster, members: &BTreeMap<String, Member>) {
    let now = &after.clusters["inventory"];
    assert_eq!(now.status, "available");
    assert_eq!(now.tags.get("pilotlight:stage").map(String::as_str), Some("restored"), "a new cluster from the copy");
    assert_eq!(now.deletion_protection, original.deletion_protection, "deletion protection is back");
    assert_eq!(now.engine, original.engine);
    assert_eq!(now.members, original.members, "the same instances, writer and promotion tiers");
    let user = |t: &BTreeMap<String, String>| {
        t.iter().filter(|(k, _)| !k.starts_with("pilotlight:")).map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>()
    };
    assert_eq!(user(&now.tags), user(&original.tags), "the cluster's tags are back");
    for (id, was) in members {
        let is = &after.instances[id];
        assert_eq!((&is.cluster, &is.class, is.tier), (&was.cluster, &was.class, was.tier), "{id} recreated alike");
        assert_eq!(is.status, "available");
    }
    assert_eq!(after.instances.len(), before.instances.len(), "no instance lost or made twice");
    assert_eq!(after.clusters.len(), before.clusters.len() + 1, "the original is kept");
    let new_kept: Vec<&String> = kept(after).into_iter().filter(|id| !before.clusters.contains_key(*id)).collect();
    assert_eq!(new_kept.len(), 1);
    let k = &after.clusters[new_kept[0]];
    assert!(k.deletion_protection, "the kept cluster is protected from deletion");
    assert_eq!(k.tags.get("pilotlight:stage").map(String::as_str), Some("pre-failback"));
    assert!(k.members.is_empty(), "the kept cluster has no instances (its storage holds the old data)");
}

#[test]
fn aurora_failback_restores_the_cluster_and_its_instances_and_keeps_the_original_twice_over() {
    let (_moto, url) = seeded_moto();
    let p0 = world(&url, "us-east-1");
    let r0 = world(&url, "us-west-2");
    let original = p0.clusters["inventory"].clone();
    assert!(original.deletion_protection && original.members.len() == 2, "the seed: {original:?}");
    let members: BTreeMap<String, Member> = p0
        .instances
        .iter()
        .filter(|(_, m)| m.cluster.as_deref() == Some("inventory"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let state = state_dir();
    let out = failback(state.path(), &url);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let p1 = world(&url, "us-east-1");
    let r1 = world(&url, "us-west-2");
    assert_failed_back(&p0, &p1, &original, &members);
    assert_eq!((r1.snapshots, p1.snapshots), (1, 1), "one recovery point, one copy in primary");
    assert_eq!(
        (r1.clusters.len(), r1.instances.len()),
        (r0.clusters.len(), r0.instances.len()),
        "recovery is only read"
    );

    let (_, dir) = only_run(state.path());
    let retained = journal(&dir)
        .iter()
        .find_map(|e| match &e.event {
            Event::ActionFinished { ok: true, outputs, .. } => outputs.get("retained").cloned(),
            _ => None,
        })
        .expect("retained items");
    let ids: Vec<&str> = retained.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&kept(&p1)[0].as_str()), "the kept cluster is listed as retained: {ids:?}");
    assert_eq!(ids.len(), 3, "the kept cluster and both snapshots");

    // The real failback after the test one.
    let again = state_dir();
    let out = failback(again.path(), &url);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let p2 = world(&url, "us-east-1");
    assert_failed_back(&p1, &p2, &original, &members);
}

/// Clusters (kept ones named `kept`), members, and the snapshots made in primary and recovery.
pub(super) type Summary = (Vec<(String, Cluster)>, BTreeMap<String, Member>, usize, usize);

/// The end state (kept names carry the run id, so they are counted, not named).
pub(super) fn summary(url: &str) -> Summary {
    let p = world(url, "us-east-1");
    let r = world(url, "us-west-2");
    let mut clusters: Vec<(String, Cluster)> = p
        .clusters
        .into_iter()
        .map(|(id, mut c)| {
            c.tags.retain(|k, _| !matches!(k.as_str(), "pilotlight:run" | "pilotlight:step"));
            (if id.starts_with(KEPT_PREFIX) { "kept".into() } else { id }, c)
        })
        .collect();
    clusters.sort_by(|a, b| a.0.cmp(&b.0));
    (clusters, p.instances, p.snapshots, r.snapshots)
}

#[test]
fn a_kill_after_any_journal_entry_of_an_aurora_failback_resumes_to_the_same_end_state() {
    let points = kill_at_every_point(&[Part::Aurora], &[FIXTURE], 2, Kill::AfterEveryEntry, summary).points;
    assert!(points > 30, "a failback journals its sub-steps ({points} kill points)");
    eprintln!("aurora.failback: {points} journal entries; killed and resumed after one of each class");
}

/// Every mutating call of the failback reached AWS and its answer was lost with the process:
/// the resume finds what the call did (by token, name or tag) instead of doing it twice.
#[test]
fn a_kill_after_any_mutating_call_of_aurora_failback_was_answered_resumes_to_the_same_end_state() {
    let points = kill_at_every_point(&[Part::Aurora], &[FIXTURE], 2, Kill::BeforeEveryAnswer, summary).run;
    assert!(points > 3, "one kill point per mutating call ({points})");
    eprintln!("aurora.failback: killed after each of {points} mutating calls was answered, then resumed");
}

/// The answer to each kind of mutating call of the failback is lost once on the way back (the
/// next attempt looks for what the call made): nothing is made twice.
#[test]
fn a_lost_answer_to_any_mutating_call_of_aurora_failback_makes_nothing_twice() {
    let ops = super::lost_answers::lose_each_answer(&[Part::Aurora], &[FIXTURE], 2, summary);
    assert!(ops.len() > 2, "the failback sends several kinds of mutating call: {ops:?}");
    eprintln!("aurora.failback: an answer lost for each of {} operations: {ops:?}", ops.len());
}

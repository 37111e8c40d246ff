//! `rds.failback` against moto, checked with independent describe calls: the primary instance is
//! served again under its original identifier with the recorded configuration, the original is
//! kept renamed with deletion protection on, a second failback works, and a kill after any
//! journal entry resumes to the same end state with nothing made twice.

use super::support::{
    Kill, block_on, journal, kill_at_every_point, only_run, pilotlight, run, sdk, seeded_moto, state_dir,
};
use pilotlight::journal::Event;
use pilotlight::sandbox::seed::Part;
use std::collections::BTreeMap;

const FIXTURE: &str = "tests/fixtures/rds-failback.yaml";

/// A DB instance as RDS reports it, with what failback must carry over.
#[derive(Debug, Clone, PartialEq)]
struct Db {
    status: String,
    class: String,
    engine: String,
    deletion_protection: bool,
    parameter_group: Option<String>,
    multi_az: bool,
    storage: (Option<String>, Option<i32>),
    tags: BTreeMap<String, String>,
}

/// Class, engine, deletion protection, parameter group, Multi-AZ, storage and user tags.
type DbConfig = (String, String, bool, Option<String>, bool, (Option<String>, Option<i32>), BTreeMap<String, String>);

impl Db {
    /// The configuration failback must restore (status and pilotlight's tags left out).
    fn config(&self) -> DbConfig {
        let user = self.tags.iter().filter(|(k, _)| !k.starts_with("pilotlight:")).map(|(k, v)| (k.clone(), v.clone()));
        (
            self.class.clone(),
            self.engine.clone(),
            self.deletion_protection,
            self.parameter_group.clone(),
            self.multi_az,
            self.storage.clone(),
            user.collect(),
        )
    }
}

/// Every DB instance in a region, and how many snapshots this tool made there.
fn world(url: &str, region: &str) -> (BTreeMap<String, Db>, usize) {
    let rds = aws_sdk_rds::Client::new(&sdk(url, region));
    block_on(async {
        let out = rds.describe_db_instances().send().await.unwrap();
        let dbs = out
            .db_instances()
            .iter()
            .map(|d| {
                let db = Db {
                    status: d.db_instance_status().unwrap_or_default().to_string(),
                    class: d.db_instance_class().unwrap_or_default().to_string(),
                    engine: d.engine().unwrap_or_default().to_string(),
                    deletion_protection: d.deletion_protection().unwrap_or_default(),
                    parameter_group: d
                        .db_parameter_groups()
                        .first()
                        .and_then(|g| g.db_parameter_group_name())
                        .map(String::from),
                    multi_az: d.multi_az().unwrap_or_default(),
                    storage: (d.storage_type().map(String::from), d.allocated_storage()),
                    tags: d
                        .tag_list()
                        .iter()
                        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap_or_default().to_string()))
                        .collect(),
                };
                (d.db_instance_identifier().unwrap().to_string(), db)
            })
            .collect();
        let snaps = rds.describe_db_snapshots().send().await.unwrap();
        let ours =
            snaps.db_snapshots().iter().filter(|s| s.db_snapshot_identifier().unwrap().starts_with("pl-")).count();
        (dbs, ours)
    })
}

fn failback(state: &std::path::Path, url: &str) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", url]);
    run(cmd)
}

fn kept(dbs: &BTreeMap<String, Db>) -> Vec<(&String, &Db)> {
    dbs.iter().filter(|(id, _)| id.starts_with("orders-db-pre-failback-")).collect()
}

/// After a failback: `orders-db` is this run's restore with the configuration it had before,
/// and one more original is kept (renamed, protected, tagged).
fn assert_failed_back(before: &BTreeMap<String, Db>, after: &BTreeMap<String, Db>, original: &Db) {
    let now = &after["orders-db"];
    assert_eq!(now.status, "available");
    assert_eq!(now.tags.get("pilotlight:stage").map(String::as_str), Some("restored"), "a new instance from the copy");
    assert_eq!(now.config(), original.config(), "the restored instance has the recorded configuration");
    assert_eq!(after.len(), before.len() + 1, "the original is kept, nothing else made or lost");
    assert_eq!(kept(after).len(), kept(before).len() + 1);
    let newly_kept =
        kept(after).into_iter().find(|(id, _)| !before.contains_key(*id)).expect("a newly kept instance").1;
    assert!(newly_kept.deletion_protection, "the kept original is protected from deletion");
    assert_eq!(newly_kept.tags.get("pilotlight:stage").map(String::as_str), Some("pre-failback"));
    assert_eq!(newly_kept.class, before["orders-db"].class);
}

#[test]
fn rds_failback_restores_under_the_original_identifier_and_keeps_the_original_twice_over() {
    let (_moto, url) = seeded_moto();
    let (p0, _) = world(&url, "us-east-1");
    let (r0, _) = world(&url, "us-west-2");
    let original = p0["orders-db"].clone();
    let state = state_dir();
    let out = failback(state.path(), &url);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (p1, p_snaps) = world(&url, "us-east-1");
    let (r1, r_snaps) = world(&url, "us-west-2");
    assert_failed_back(&p0, &p1, &original);
    assert_eq!((r_snaps, p_snaps), (1, 1), "one recovery point, one copy in primary");
    assert_eq!(r1, r0, "recovery is only read");

    let (_, dir) = only_run(state.path());
    let retained = journal(&dir)
        .iter()
        .find_map(|e| match &e.event {
            Event::ActionFinished { ok: true, outputs, .. } => outputs.get("retained").cloned(),
            _ => None,
        })
        .expect("retained items");
    let ids: Vec<&str> = retained.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    let kept_id = kept(&p1)[0].0;
    assert!(ids.contains(&kept_id.as_str()), "{kept_id} is listed as retained: {ids:?}");
    assert_eq!(ids.len(), 3, "the kept original and both snapshots");

    // The real failback after the test one.
    let again = state_dir();
    let out = failback(again.path(), &url);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (p2, p_snaps) = world(&url, "us-east-1");
    assert_failed_back(&p1, &p2, &original);
    assert_eq!(p_snaps, 2);
}

/// The end state that matters (kept names carry the run id, so they are counted, not named).
fn summary(url: &str) -> (Vec<(String, Db)>, usize, usize, usize) {
    let (p, p_snaps) = world(url, "us-east-1");
    let (r, r_snaps) = world(url, "us-west-2");
    let mut shape: Vec<(String, Db)> = p
        .into_iter()
        .map(|(id, mut db)| {
            db.tags.retain(|k, _| !matches!(k.as_str(), "pilotlight:run" | "pilotlight:step"));
            let id = if id.starts_with("orders-db-pre-failback-") { "kept".to_string() } else { id };
            (id, db)
        })
        .collect();
    shape.sort_by(|a, b| a.0.cmp(&b.0));
    (shape, r.len(), p_snaps, r_snaps)
}

#[test]
fn a_kill_after_any_journal_entry_of_an_rds_failback_resumes_to_the_same_end_state() {
    let points = kill_at_every_point(&[Part::Rds], &[FIXTURE], 2, Kill::AfterEveryEntry, summary).points;
    assert!(points > 20, "a failback journals its sub-steps ({points} kill points)");
    eprintln!("rds.failback: {points} journal entries; killed and resumed after one of each class");
}

/// Every mutating call of the failback reached AWS and its answer was lost with the process:
/// the resume finds what the call did (by token, name or tag) instead of doing it twice.
#[test]
fn a_kill_after_any_mutating_call_of_rds_failback_was_answered_resumes_to_the_same_end_state() {
    let points = kill_at_every_point(&[Part::Rds], &[FIXTURE], 2, Kill::BeforeEveryAnswer, summary).run;
    assert!(points > 3, "one kill point per mutating call ({points})");
    eprintln!("rds.failback: killed after each of {points} mutating calls was answered, then resumed");
}

/// The answer to each kind of mutating call of the failback is lost once on the way back (the
/// next attempt looks for what the call made): nothing is made twice.
#[test]
fn a_lost_answer_to_any_mutating_call_of_rds_failback_makes_nothing_twice() {
    let ops = super::lost_answers::lose_each_answer(&[Part::Rds], &[FIXTURE], 2, summary);
    assert!(ops.len() > 2, "the failback sends several kinds of mutating call: {ops:?}");
    eprintln!("rds.failback: an answer lost for each of {} operations: {ops:?}", ops.len());
}

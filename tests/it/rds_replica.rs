//! `rds.failback` with `method: replica`, after `rds.stage-replica`, against moto behind the
//! AWS-rules layer (which serves CloudWatch's replica metrics and AWS's replica rules), checked
//! with independent describe calls: the stage changes nothing of either side's and leaves a
//! caught-up read replica in primary's region; the cut-over makes no snapshot, promotes the
//! replica and gives it the original identifier, keeping the original; the stage waits until
//! the replica has caught up; a kill after any journal entry of the cut-over, a lost answer to
//! any mutating call, and a refused rename (rolled back, then resumed) all end as the
//! uninterrupted run did.

use super::realism::{Fault, FaultRule, RealismProxy};
use super::support::{
    Kill, action_notes, block_on, journal, kill_at_every_point_of_a_cut_over_under_aws_rules, only_run, pilotlight,
    resource_outputs, run, sdk, seeded_moto, state_dir,
};
use pilotlight::journal::{CallOutcome, Event, SubPhase};
use pilotlight::sandbox::realism::model::{Model, Pace};
use pilotlight::sandbox::seed::Part;
use std::collections::BTreeMap;
use std::path::Path;

const FIXTURE: &str = "tests/fixtures/rds-replica.yaml";
const ROLLBACK: &str = "tests/fixtures/rds-replica-rollback.yaml";
const SOURCE: &str = "arn:aws:rds:us-west-2:123456789012:db:orders-db";

fn phase(state: &Path, url: &str, fixture: &str, phase: &str) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["run", fixture, "--phase", phase, "--headless", "--auto-approve", "--endpoint-url", url]);
    run(cmd)
}

/// One DB instance as RDS (through the layer) describes it.
#[derive(Debug, Clone, PartialEq)]
struct Db {
    resource_id: String,
    status: String,
    source: Option<String>,
    replicas: Vec<String>,
    deletion_protection: bool,
    class: String,
    stage: Option<String>,
}

/// Every `orders-db` DB instance of a region by identifier (kept originals under one name), and the
/// snapshots this tool made there.
fn dbs(url: &str, region: &str) -> (BTreeMap<String, Db>, usize) {
    let rds = aws_sdk_rds::Client::new(&sdk(url, region));
    block_on(async {
        let out = rds.describe_db_instances().send().await.expect("DescribeDBInstances");
        let all = out
            .db_instances()
            .iter()
            .filter(|d| d.db_instance_identifier().is_some_and(|id| id.starts_with("orders-db")))
            .map(|d| {
                let id = d.db_instance_identifier().unwrap_or_default();
                let id = if id.contains("-pre-failback-") { "KEPT".to_string() } else { id.to_string() };
                let stage = d.tag_list().iter().find(|t| t.key() == Some("pilotlight:stage")).and_then(|t| t.value());
                let db = Db {
                    resource_id: d.dbi_resource_id().unwrap_or_default().to_string(),
                    status: d.db_instance_status().unwrap_or_default().to_string(),
                    source: d.read_replica_source_db_instance_identifier().map(String::from),
                    replicas: d.read_replica_db_instance_identifiers().to_vec(),
                    deletion_protection: d.deletion_protection().unwrap_or_default(),
                    class: d.db_instance_class().unwrap_or_default().to_string(),
                    stage: stage.map(String::from),
                };
                (id, db)
            })
            .collect();
        let snaps = rds.describe_db_snapshots().send().await.expect("DescribeDBSnapshots");
        let ours =
            snaps.db_snapshots().iter().filter(|s| s.db_snapshot_identifier().unwrap().starts_with("pl-")).count();
        (all, ours)
    })
}

/// The end state a kill or a lost answer must not change: primary's instances (resource ids left
/// out: each world's are its own) and the snapshots on both sides.
/// One instance in an end state: identifier, status, replica source, deletion protection, stage tag.
type EndDb = (String, String, Option<String>, bool, Option<String>);

fn end_state(url: &str) -> Vec<EndDb> {
    let (p, p_snaps) = dbs(url, "us-east-1");
    let (r, r_snaps) = dbs(url, "us-west-2");
    let mut out: Vec<_> =
        p.into_iter().map(|(id, d)| (id, d.status, d.source, d.deletion_protection, d.stage)).collect();
    out.push((format!("snapshots {p_snaps} {r_snaps}"), format!("recovery {}", r.len()), None, false, None));
    out
}

#[test]
fn a_replica_failback_brings_the_staged_replica_home_under_the_original_name_and_keeps_the_original() {
    let (moto, _url) = seeded_moto();
    let layer = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let ruled = layer.endpoint_url();
    // Primary runs on a parameter group of its own (a cross-region replica gets the default).
    let east = aws_sdk_rds::Client::new(&sdk(&ruled, "us-east-1"));
    block_on(async {
        let group = east.create_db_parameter_group().db_parameter_group_name("orders-params");
        group.db_parameter_group_family("postgres16").description("orders").send().await.unwrap();
        let set =
            east.modify_db_instance().db_instance_identifier("orders-db").db_parameter_group_name("orders-params");
        set.apply_immediately(true).send().await.unwrap();
        east.reboot_db_instance().db_instance_identifier("orders-db").send().await.unwrap();
    });
    // Describes until the modification has taken effect (the layer shows it for a few).
    while pilotlight::sandbox::realism::rules::modification_describes_left(moto.port, "us-east-1", "orders-db") > 0 {
        dbs(&ruled, "us-east-1");
    }
    let (p0, r0) = (dbs(&ruled, "us-east-1").0, dbs(&ruled, "us-west-2").0);
    let original = p0["orders-db"].clone();

    // The stage: a caught-up replica of recovery's instance in us-east-1; nothing else changes.
    let staged = state_dir();
    let out = phase(staged.path(), &ruled, FIXTURE, "stage");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (p1, _) = dbs(&ruled, "us-east-1");
    let replica = p1["orders-db-pl-replica"].clone();
    assert_eq!(replica.source.as_deref(), Some(SOURCE), "a replica of recovery's instance");
    assert_eq!(replica.stage.as_deref(), Some("read-replica"));
    assert!(replica.deletion_protection, "protected while staged");
    assert_eq!(replica.class, original.class, "primary's class");
    assert_eq!(p1["orders-db"], original, "primary's instance untouched by the stage");
    assert_eq!(p1.len(), 2);
    let (r1, _) = dbs(&ruled, "us-west-2");
    assert_eq!(r1["orders-db"].replicas, vec!["arn:aws:rds:us-east-1:123456789012:db:orders-db-pl-replica"]);
    assert_eq!(r1["orders-db"].resource_id, r0["orders-db"].resource_id);
    let o = resource_outputs(&only_run(staged.path()).1, "stage-rds", "orders_db");
    assert!(o["caught_up_at"].is_string() && o["remove_with"].as_str().unwrap().contains("delete-db-instance"), "{o}");
    let again = state_dir();
    assert_eq!(phase(again.path(), &ruled, FIXTURE, "stage").status.code(), Some(0), "a second stage finds it");
    assert_eq!(dbs(&ruled, "us-east-1").0, p1, "and makes nothing more");

    // The cut-over.
    let state = state_dir();
    let out = phase(state.path(), &ruled, FIXTURE, "cut-over");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("preflight WARN orders_db staged"), "what is staged passes: {stdout}");
    let (p2, p_snaps) = dbs(&ruled, "us-east-1");
    let home = &p2["orders-db"];
    assert_eq!(home.resource_id, replica.resource_id, "`orders-db` is the staged replica, renamed");
    assert_eq!(home.source, None, "promoted: a replica no more");
    assert_eq!(home.status, "available");
    assert_eq!(home.deletion_protection, original.deletion_protection, "deletion protection as before");
    assert_eq!(p2["KEPT"].resource_id, original.resource_id, "the original is kept");
    assert!(p2["KEPT"].deletion_protection);
    assert_eq!(p2.len(), 2, "orders-db and the kept original, nothing else: {:?}", p2.keys());
    let (r2, r_snaps) = dbs(&ruled, "us-west-2");
    assert_eq!((p_snaps, r_snaps), (0, 0), "no snapshot on either side");
    assert_eq!(r2["orders-db"].resource_id, r0["orders-db"].resource_id, "recovery's instance stays");
    assert!(r2["orders-db"].replicas.is_empty(), "and has no replica now: {:?}", r2["orders-db"]);

    let (_, dir) = only_run(state.path());
    let o = resource_outputs(&dir, "failback-rds", "orders_db");
    assert_eq!(o["method"], "replica");
    assert!(o["recovery_point"].is_string(), "{o}");
    assert_eq!(o["remaining_differences"], serde_json::json!([]), "{o}");
    assert_eq!(o["retained"].as_array().map(Vec::len), Some(1), "the kept original: {o}");
    // Primary's parameter group set on the promoted replica, and in use (rebooted for it).
    let out = block_on(east.describe_db_instances().db_instance_identifier("orders-db").send()).unwrap();
    let groups = out.db_instances()[0].db_parameter_groups();
    let g = (groups[0].db_parameter_group_name(), groups[0].parameter_apply_status());
    assert_eq!(g, (Some("orders-params"), Some("in-sync")));
    // Primary is disrupted (the original renamed) only after the recovery point was proved.
    let entries = journal(&dir);
    let proved = entries.iter().position(|e| {
        matches!(&e.event, Event::SubStep { name, phase: SubPhase::Done, .. } if name.to_string().ends_with("/caught-up"))
    });
    let renamed = entries.iter().position(|e| {
        matches!(&e.event, Event::AwsCall { operation, sub: Some(sub), .. }
            if operation == "ModifyDBInstance" && sub.to_string().ends_with("/keep-primary"))
    });
    assert!(proved.expect("proved caught up") < renamed.expect("the original renamed"));
}

#[test]
fn without_a_stage_the_replica_failback_fails_back_by_snapshot_and_says_so() {
    let (moto, _url) = seeded_moto();
    let layer = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let state = state_dir();
    let out = phase(state.path(), &layer.endpoint_url(), FIXTURE, "cut-over");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let notes = action_notes(state.path());
    let said = "orders_db: no staged replica orders-db-pl-replica in us-east-1: failing back by snapshot instead";
    assert!(notes.iter().any(|n| n.starts_with(said)), "{notes:?}");
    let warned = "preflight WARN orders_db staged: orders_db: nothing staged (no read replica orders-db-pl-replica)";
    assert!(stdout.contains(warned), "preflight says so before the gate: {stdout}");
    let (p, snaps) = dbs(&layer.endpoint_url(), "us-east-1");
    assert_eq!(snaps, 1, "the snapshot path's copy");
    assert!(p.contains_key("KEPT") && !p.contains_key("orders-db-pl-replica"));
}

/// Catches a promotion before the replica holds everything: at a pace where the layer's replica
/// takes seconds to catch up after it is made, the stage's proof comes from a datapoint no
/// earlier than the moment its modelled lag reached 0.
#[test]
fn the_stage_waits_until_the_replica_has_caught_up() {
    let (moto, _url) = seeded_moto();
    let pace = 600.0;
    let layer = RealismProxy::timed(moto.port, Pace::Factor(pace), Vec::new());
    let ruled = layer.endpoint_url();
    let state = state_dir();
    let out = phase(state.path(), &ruled, FIXTURE, "stage");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (_, dir) = only_run(state.path());
    let made = journal(&dir)
        .into_iter()
        .find_map(|e| match e.event {
            Event::AwsCall { operation, outcome: CallOutcome::Ok, .. }
                if operation == "CreateDBInstanceReadReplica" =>
            {
                Some(e.ts)
            }
            _ => None,
        })
        .expect("the replica was made");
    let copy = pilotlight::sandbox::realism::timing::modelled(moto.port, "us-east-1", "orders-db-pl-replica")
        .expect("the layer timed the replica's copy");
    let catch_up = Model::bundled().duration("rds.CreateDBInstanceReadReplica.catch-up", 0.0);
    let caught = (copy + catch_up).div_f64(pace);
    let o = resource_outputs(&dir, "stage-rds", "orders_db");
    let at = o["caught_up_at"].as_str().expect("the proof's time");
    let proved = pilotlight::engine::run_view::parse_ts(at).expect("RFC 3339");
    let made = pilotlight::engine::run_view::parse_ts(&made).expect("RFC 3339");
    // The datapoint's period starts at most one modelled minute (0.1 s here) early of the moment.
    let earliest = made + caught - std::time::Duration::from_millis(150);
    assert!(proved >= earliest, "proved at {at}, the replica caught up at the earliest {earliest:?}");
}

#[test]
fn a_kill_after_any_journal_entry_of_a_replica_cut_over_resumes_to_the_same_end_state() {
    let stage = [FIXTURE, "--phase", "stage"];
    let args = [FIXTURE, "--phase", "cut-over"];
    let killed = kill_at_every_point_of_a_cut_over_under_aws_rules(
        &[Part::Rds],
        &stage,
        &args,
        2,
        Kill::AfterEveryEntry,
        end_state,
    );
    assert!(killed.points > 25, "the cut-over journals its sub-steps ({killed:?})");
}

#[test]
fn a_lost_answer_to_any_mutating_call_of_a_replica_failback_makes_nothing_twice() {
    let ops = super::lost_answers::lose_each_answer_under_aws_rules(&[Part::Rds], &[FIXTURE], 2, end_state);
    for op in ["CreateDBInstanceReadReplica", "PromoteReadReplica", "ModifyDBInstance", "AddTagsToResource"] {
        assert!(ops.iter().any(|o| o == op), "{op} in {ops:?}");
    }
}

/// The rename of the promoted replica refused once: `on_failure: rollback` puts the original
/// back under its identifier (the same instance), the promoted replica kept; a resume brings it
/// home.
#[test]
fn a_refused_rename_puts_the_original_back_and_a_resume_brings_the_replica_home() {
    let (moto, _url) = seeded_moto();
    let layer = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let ruled = layer.endpoint_url();
    assert_eq!(phase(state_dir().path(), &ruled, ROLLBACK, "stage").status.code(), Some(0));
    let (before, _) = dbs(&ruled, "us-east-1");
    let fault = Fault::Refuse { code: "InvalidDBInstanceState", message: "The instance is busy." };
    let needle = "Action=ModifyDBInstance&Version=2014-10-31&DBInstanceIdentifier=orders-db-pl-replica";
    let refusing = RealismProxy::with_aws_rules(moto.port, vec![FaultRule { needle, times: 1, fault }]);
    let state = state_dir();
    let out = phase(state.path(), &refusing.endpoint_url(), ROLLBACK, "cut-over");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let (after, _) = dbs(&ruled, "us-east-1");
    // The same instance, as it was (the keep's tag, this run's, stays on it).
    let as_was = |d: &Db| Db { stage: None, ..d.clone() };
    assert_eq!(as_was(&after["orders-db"]), before["orders-db"], "the original is back under its identifier");
    let promoted = &after["orders-db-pl-replica"];
    assert_eq!((&promoted.resource_id, &promoted.source), (&before["orders-db-pl-replica"].resource_id, &None));

    let (id, _) = only_run(state.path());
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &refusing.endpoint_url()]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "a resume fails back: {}", String::from_utf8_lossy(&out.stdout));
    let (home, _) = dbs(&ruled, "us-east-1");
    assert_eq!(home["orders-db"].resource_id, before["orders-db-pl-replica"].resource_id, "the replica is home");
    assert_eq!(home["KEPT"].resource_id, before["orders-db"].resource_id);
}

/// Catches a replica failback that would only learn at AWS's refusal, in the window, that it
/// cannot be taken: recovery's instance encrypted with no key of primary's region given, and
/// without automated backups. Preflight fails both before any mutating call.
#[test]
fn preflight_fails_a_replica_failback_rds_would_refuse() {
    let (moto, url) = seeded_moto();
    let west = aws_sdk_rds::Client::new(&sdk(&url, "us-west-2"));
    let delete = west.delete_db_instance().db_instance_identifier("orders-db").skip_final_snapshot(true);
    block_on(delete.send()).expect("DeleteDBInstance");
    let sealed = super::support::postgres(&west, "orders-db").storage_encrypted(true).backup_retention_period(0);
    block_on(sealed.send()).expect("CreateDBInstance");
    pilotlight::sandbox::moto_api::start_recording(moto.port).unwrap();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["preflight", FIXTURE, "--endpoint-url", &url]);
    let out = run(cmd);
    pilotlight::sandbox::moto_api::stop_recording(moto.port).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let mutating = super::support::recorded(moto.port).iter().filter(|c| c.mutating()).count();
    assert_eq!(mutating, 0, "preflight only reads");
    for said in [
        "replica: recovery's instance has no automated backups",
        "replica-key: recovery's instance is encrypted",
        "staged: orders_db: nothing staged (no read replica orders-db-pl-replica)",
    ] {
        assert!(stdout.contains(said), "{said}\n{stdout}");
    }
}

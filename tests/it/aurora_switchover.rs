//! `aurora.failback` with `method: switchover`, after `aurora.stage-secondary`, against moto
//! behind the AWS-rules layer (which answers the Global Database calls moto cannot model), checked
//! with independent describe calls: the stage changes nothing of either side's and leaves a
//! secondary in primary's region; the cut-over makes no snapshot, switches over, takes the global
//! database apart and gives the secondary the original identifier with the original's members,
//! keeping the original; a kill after any journal entry of the cut-over, a lost answer to any
//! mutating call, and a refused instance (rolled back, then resumed) all end as the
//! uninterrupted run did.

use super::aurora_failback::{KEPT_PREFIX, Member, summary, world};
use super::realism::{Fault, FaultRule, RealismProxy};
use super::support::{
    Kill, block_on, journal, kill_at_every_point_of_a_cut_over_under_aws_rules, only_run, pilotlight, rds_code, run,
    sdk, seeded_moto, state_dir,
};
use pilotlight::journal::Event;
use pilotlight::sandbox::seed::Part;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const FIXTURE: &str = "tests/fixtures/aurora-switchover.yaml";
const ROLLBACK: &str = "tests/fixtures/aurora-switchover-rollback.yaml";

fn phase(state: &Path, url: &str, fixture: &str, phase: &str) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["run", fixture, "--phase", phase, "--headless", "--auto-approve", "--endpoint-url", url]);
    run(cmd)
}

fn outputs(state: &Path) -> Value {
    let (_, dir) = only_run(state);
    journal(&dir)
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            Event::ActionFinished { ok: true, outputs, .. } => {
                Some(Value::Object(outputs.clone().into_iter().collect()))
            }
            _ => None,
        })
        .expect("the action finished")
}

/// The cluster's resource id (it survives a rename) and the global database it is in, as RDS
/// (through the layer) describes it.
fn identity(url: &str, region: &str, id: &str) -> Option<(String, Option<String>, Option<String>)> {
    let rds = aws_sdk_rds::Client::new(&sdk(url, region));
    let out = block_on(rds.describe_db_clusters().db_cluster_identifier(id).send()).ok()?;
    let c = out.db_clusters().first()?;
    Some((
        c.db_cluster_resource_id().unwrap_or_default().to_string(),
        c.global_cluster_identifier().map(str::to_string),
        c.master_username().map(str::to_string),
    ))
}

fn members_of(url: &str, cluster: &str) -> BTreeMap<String, Member> {
    world(url, "us-east-1").instances.into_iter().filter(|(_, m)| m.cluster.as_deref() == Some(cluster)).collect()
}

#[test]
fn a_switchover_failback_brings_the_staged_secondary_home_under_the_original_name_and_keeps_the_original() {
    let (moto, url) = seeded_moto();
    let layer = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let ruled = layer.endpoint_url();
    let (p0, r0) = (world(&url, "us-east-1"), world(&url, "us-west-2"));
    let original = p0.clusters["inventory"].clone();
    let members = members_of(&url, "inventory");
    let recovery_id = identity(&ruled, "us-west-2", "inventory").unwrap();

    // The stage: a secondary in us-east-1 in a global database from recovery; nothing else.
    let staged = state_dir();
    let out = phase(staged.path(), &ruled, FIXTURE, "stage");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let p1 = world(&url, "us-east-1");
    let secondary = identity(&ruled, "us-east-1", "inventory-pl-secondary").expect("the staged secondary");
    assert_eq!(secondary.1.as_deref(), Some("inventory-pl-global"), "in the global database");
    assert_eq!(secondary.2.as_deref(), Some("pilot"), "with the primary's master user, as RDS reports it");
    assert_eq!(identity(&ruled, "us-west-2", "inventory").unwrap().1.as_deref(), Some("inventory-pl-global"));
    assert_eq!(p1.clusters["inventory"], original, "primary's cluster untouched by the stage");
    assert_eq!(members_of(&url, "inventory"), members);
    assert_eq!(members_of(&url, "inventory-pl-secondary").len(), 1, "one staging instance");
    assert_eq!(world(&url, "us-west-2"), r0, "recovery untouched by the stage");
    let again = state_dir();
    let out = phase(again.path(), &ruled, FIXTURE, "stage");
    assert_eq!(out.status.code(), Some(0), "a second stage finds what is staged");
    assert_eq!(world(&url, "us-east-1"), p1, "and makes nothing more");

    // The cut-over.
    let state = state_dir();
    let out = phase(state.path(), &ruled, FIXTURE, "cut-over");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("preflight WARN inventory_cluster staged"), "what is staged passes: {stdout}");
    assert!(!stdout.contains("always full"), "a switchover copies no snapshot: {stdout}");
    let p2 = world(&url, "us-east-1");
    let now = &p2.clusters["inventory"];
    let home = identity(&ruled, "us-east-1", "inventory").unwrap();
    assert_eq!(home.0, secondary.0, "`inventory` is the staged secondary (its resource id), renamed");
    assert_eq!(home.1, None, "standing alone");
    assert_eq!(now.status, "available");
    assert_eq!(now.deletion_protection, original.deletion_protection, "deletion protection as before");
    assert_eq!(now.members, original.members, "the same instances, writer and promotion tiers");
    for (id, was) in &members {
        let is = &p2.instances[id];
        assert_eq!((&is.cluster, &is.class, is.tier), (&was.cluster, &was.class, was.tier), "{id} recreated alike");
    }
    assert!(!p2.instances.contains_key("inventory-pl-secondary-1"), "the staging instance is gone");
    let user = |t: &BTreeMap<String, String>| t.iter().filter(|(k, _)| !k.starts_with("pilotlight:")).count();
    assert_eq!(user(&now.tags), user(&original.tags), "the cluster's tags are back");
    let kept: Vec<_> = p2.clusters.iter().filter(|(id, _)| id.starts_with(KEPT_PREFIX)).collect();
    assert_eq!(kept.len(), 1, "the original is kept: {:?}", p2.clusters.keys());
    assert!(kept[0].1.deletion_protection && kept[0].1.members.is_empty());
    assert_eq!(p2.clusters.len(), 2, "inventory and the kept original, nothing else: {:?}", p2.clusters.keys());
    assert_eq!((p2.snapshots, world(&url, "us-west-2").snapshots), (0, 0), "no snapshot on either side");
    let rec = identity(&ruled, "us-west-2", "inventory").unwrap();
    assert_eq!((rec.0, rec.1), (recovery_id.0, None), "recovery's cluster stands alone again, the same cluster");
    let east = aws_sdk_rds::Client::new(&sdk(&ruled, "us-east-1"));
    let gone = east.describe_global_clusters().global_cluster_identifier("inventory-pl-global");
    assert_eq!(rds_code(block_on(gone.send())), "GlobalClusterNotFoundFault", "the empty global database is gone");

    let o = &outputs(state.path())["resources"]["inventory_cluster"];
    assert_eq!(o["method"], "switchover");
    assert!(o["recovery_point"].is_string(), "{o}");
    assert_eq!(o["remaining_differences"], serde_json::json!([]), "{o}");
    assert_eq!(o["retained"].as_array().map(Vec::len), Some(1), "the kept original: {o}");
}

#[test]
fn without_a_stage_the_switchover_failback_makes_the_secondary_in_the_window_and_says_so() {
    let (moto, _url) = seeded_moto();
    let layer = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let state = state_dir();
    let out = phase(state.path(), &layer.endpoint_url(), FIXTURE, "cut-over");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("nothing staged (no global database inventory-pl-global)"), "{stdout}");
    let warned = "preflight WARN inventory_cluster staged: inventory_cluster: nothing staged (no global database";
    assert!(stdout.contains(warned), "preflight says so before the gate: {stdout}");
    assert!(identity(&layer.endpoint_url(), "us-east-1", "inventory").is_some());
}

/// The cut-over's end state: the clusters (kept names counted), members and snapshots.
fn end_state(url: &str) -> super::aurora_failback::Summary {
    summary(url)
}

#[test]
fn a_kill_after_any_journal_entry_of_a_switchover_cut_over_resumes_to_the_same_end_state() {
    let stage = [FIXTURE, "--phase", "stage"];
    let args = [FIXTURE, "--phase", "cut-over"];
    let killed = kill_at_every_point_of_a_cut_over_under_aws_rules(
        &[Part::Aurora],
        &stage,
        &args,
        2,
        Kill::AfterEveryEntry,
        end_state,
    );
    assert!(killed.points > 40, "the cut-over journals its sub-steps ({killed:?})");
}

#[test]
fn a_lost_answer_to_any_mutating_call_of_a_switchover_failback_makes_nothing_twice() {
    let ops = super::lost_answers::lose_each_answer_under_aws_rules(&[Part::Aurora], &[FIXTURE], 2, end_state);
    for op in [
        "CreateGlobalCluster",
        "CreateDBCluster",
        "SwitchoverGlobalCluster",
        "RemoveFromGlobalCluster",
        "DeleteGlobalCluster",
    ] {
        assert!(ops.iter().any(|o| o == op), "{op} in {ops:?}");
    }
}

/// An instance refused once after the secondary took the original's name: `on_failure: rollback`
/// puts the original back (its whole Describe as before), the secondary set aside, kept; a resume
/// brings the secondary home from there.
#[test]
fn a_refused_instance_puts_the_original_back_and_a_resume_brings_the_secondary_home() {
    let (moto, url) = seeded_moto();
    let layer = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let staged = state_dir();
    assert_eq!(phase(staged.path(), &layer.endpoint_url(), ROLLBACK, "stage").status.code(), Some(0));
    let before = super::undo::aurora_cluster(&layer.endpoint_url());
    let secondary = identity(&layer.endpoint_url(), "us-east-1", "inventory-pl-secondary").unwrap().0;
    let fault = Fault::Refuse {
        code: "InsufficientDBInstanceCapacity",
        message: "Cannot create a database instance because there is no capacity for the class in the zone.",
    };
    let refusing =
        RealismProxy::with_aws_rules(moto.port, vec![FaultRule { needle: "Action=CreateDBInstance", times: 1, fault }]);
    let state = state_dir();
    let out = phase(state.path(), &refusing.endpoint_url(), ROLLBACK, "cut-over");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("rolled back: primary is as it was before it"), "{stdout}");
    let after = super::undo::aurora_cluster(&layer.endpoint_url());
    let case = &super::undo::AURORA;
    assert_eq!(super::undo::unexpected(case, &before, &after), Vec::<String>::new(), "the original as before");

    let (id, _) = only_run(state.path());
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &refusing.endpoint_url()]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "a resume fails back: {}", String::from_utf8_lossy(&out.stdout));
    let home = identity(&layer.endpoint_url(), "us-east-1", "inventory").unwrap();
    assert_eq!(home.0, secondary, "`inventory` is the secondary again");
    assert_eq!(members_of(&url, "inventory").len(), 2);
}

/// Catches a rollback that leaves recovery a read-only secondary: the first detach refused once,
/// after the switchover; `on_failure: rollback` switches the global database back (recovery's
/// cluster the writer again, primary's untouched), and a resume switches over again and fails
/// back.
#[test]
fn a_refused_detach_switches_back_and_a_resume_switches_over_again() {
    let (moto, url) = seeded_moto();
    let layer = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let ruled = layer.endpoint_url();
    assert_eq!(phase(state_dir().path(), &ruled, ROLLBACK, "stage").status.code(), Some(0));
    let before = super::undo::aurora_cluster(&ruled);
    let fault = Fault::Refuse { code: "InvalidGlobalClusterStateFault", message: "The global cluster is busy." };
    let refusing = RealismProxy::with_aws_rules(
        moto.port,
        vec![FaultRule { needle: "Action=RemoveFromGlobalCluster", times: 1, fault }],
    );
    let state = state_dir();
    let out = phase(state.path(), &refusing.endpoint_url(), ROLLBACK, "cut-over");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("rolled back"), "{stdout}");
    let east = aws_sdk_rds::Client::new(&sdk(&ruled, "us-east-1"));
    let writer = || {
        let out = block_on(east.describe_global_clusters().global_cluster_identifier("inventory-pl-global").send())
            .expect("the global database is still there");
        let g = &out.global_clusters()[0];
        g.global_cluster_members()
            .iter()
            .find(|m| m.is_writer() == Some(true))
            .and_then(|m| m.db_cluster_arn())
            .map(String::from)
    };
    assert_eq!(
        writer().as_deref(),
        Some("arn:aws:rds:us-west-2:123456789012:cluster:inventory"),
        "recovery writes again"
    );
    let after = super::undo::aurora_cluster(&ruled);
    assert_eq!(
        super::undo::unexpected(&super::undo::AURORA, &before, &after),
        Vec::<String>::new(),
        "primary untouched"
    );

    let (id, _) = only_run(state.path());
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &refusing.endpoint_url()]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "a resume fails back: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(identity(&ruled, "us-west-2", "inventory").unwrap().1, None, "recovery stands alone");
    assert_eq!(members_of(&url, "inventory").len(), 2);
    let gone = east.describe_global_clusters().global_cluster_identifier("inventory-pl-global");
    assert_eq!(rds_code(block_on(gone.send())), "GlobalClusterNotFoundFault");
}

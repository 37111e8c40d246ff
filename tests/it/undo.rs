//! `pilotlight undo RUN_ID` after a failback that went through, for each failback action,
//! behind the AWS rules layer: primary's resource is as it was before the run (its whole
//! Describe, read with the SDK, and for DynamoDB every item), what was failed back is kept
//! aside, the report says so, the run cannot be resumed, and a second failback succeeds. A kill
//! anywhere in an undo goes on when `undo` is given again.

use super::dynamodb_failback::table;
use super::realism::RealismProxy;
use super::support::{block_on, journal, killed_after, only_run, pilotlight, run, sdk, seeded_moto, state_dir};
use pilotlight::aws::answer_tree::tree;
use pilotlight::journal::{CRASH_AFTER_ENV, Event};
use pilotlight::sandbox::seed::PRIMARY_REGION;
use serde_json::{Value, json};
use std::path::Path;

/// Every path where `a` and `b` differ (objects by key, arrays by index).
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                differences(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), p, q, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} -> {b}")),
        _ => {}
    }
}

fn rds_instance(url: &str) -> Value {
    let rds = aws_sdk_rds::Client::new(&sdk(url, PRIMARY_REGION));
    block_on(async {
        let out = rds.describe_db_instances().db_instance_identifier("orders-db").send().await.unwrap();
        tree(&out.db_instances()[0])
    })
}

pub(super) fn aurora_cluster(url: &str) -> Value {
    let rds = aws_sdk_rds::Client::new(&sdk(url, PRIMARY_REGION));
    block_on(async {
        let out = rds.describe_db_clusters().db_cluster_identifier("inventory").send().await.unwrap();
        let cluster = out.db_clusters()[0].clone();
        let mut members = serde_json::Map::new();
        for m in cluster.db_cluster_members() {
            let id = m.db_instance_identifier().unwrap();
            let out = rds.describe_db_instances().db_instance_identifier(id).send().await.unwrap();
            members.insert(id.to_string(), tree(&out.db_instances()[0]));
        }
        json!({ "cluster": tree(&cluster), "members": members })
    })
}

pub(super) fn ec2_instances(url: &str) -> Value {
    let ec2 = aws_sdk_ec2::Client::new(&sdk(url, PRIMARY_REGION));
    block_on(async {
        let out = ec2.describe_instances().send().await.unwrap();
        let all: serde_json::Map<String, Value> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).is_some_and(|s| s.as_str() != "terminated"))
            .map(|i| (i.instance_id().unwrap().to_string(), tree(i)))
            .collect();
        Value::Object(all)
    })
}

fn dynamodb_table(url: &str) -> Value {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(url, PRIMARY_REGION));
    let described = block_on(async {
        let out = ddb.describe_table().table_name("sessions").send().await.unwrap();
        tree(out.table().unwrap())
    });
    let items: Vec<String> = table(url, PRIMARY_REGION).unwrap().items.into_iter().collect();
    json!({ "table": described, "items": items })
}

/// One failback action's case: its fixture, its run's extra arguments, the whole of primary's
/// resource, and the paths an undo may change (with why, in the test's words).
pub(super) struct Case {
    fixture: &'static str,
    extra: &'static [&'static str],
    pub(super) whole: fn(&str) -> Value,
    /// Path fragments that may differ after the undo.
    may_differ: &'static [&'static str],
}

/// The clock moves on: the latest time the instance can be restored to. Aurora's instances are
/// created again in the original cluster (it holds the data), so they are new.
const RDS: Case = Case {
    fixture: "tests/fixtures/rds-failback.yaml",
    extra: &[],
    whole: rds_instance,
    may_differ: &[".latest_restorable_time:"],
};
pub(super) const AURORA: Case = Case {
    fixture: "tests/fixtures/aurora-failback.yaml",
    extra: &[],
    whole: aurora_cluster,
    may_differ: &[".latest_restorable_time:", ".instance_create_time:"],
};
/// The same instance, failed back through a read replica (staged in the same run): undo sets the
/// promoted replica aside as it does a restore.
const RDS_REPLICA: Case = Case { fixture: "tests/fixtures/rds-replica.yaml", ..RDS };
/// The same, failed back through a global database (staged in the same run): undo sets the
/// renamed secondary aside as it does a restore.
const AURORA_SWITCHOVER: Case = Case { fixture: "tests/fixtures/aurora-switchover.yaml", ..AURORA };
/// The same volume ids at the same devices, attached again; a stop and start gives an instance a
/// new public IPv4 address (as the failback's own does, unless it is an Elastic IP).
pub(super) const EC2: Case = Case {
    fixture: "tests/fixtures/ec2-failback.yaml",
    extra: &[],
    whole: ec2_instances,
    may_differ: &[".ebs.attach_time:", ".public_ip", ".public_dns_name:"],
};
/// A table has no rename: what is put back is a restore of the safety backup, so it is a new
/// table (creation time, stream, the restore's summary). Moto answers a restored table's warm
/// throughput as 0.
const DYNAMODB: Case = Case {
    fixture: "tests/fixtures/dynamodb-failback.yaml",
    extra: &[],
    whole: dynamodb_table,
    may_differ: &[
        ".table.creation_date_time:",
        ".table.latest_stream_label:",
        ".table.latest_stream_arn:",
        ".table.restore_summary:",
        ".table.warm_throughput.",
    ],
};

/// The same, for a table synced in place: undo restores the safety backup under its name (a
/// table has no rename), so the undone table is new in the same ways.
const DYNAMODB_IN_PLACE: Case = Case { fixture: "tests/fixtures/dynamodb-in-place.yaml", ..DYNAMODB };

fn failback(state: &Path, url: &str, case: &Case) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["run", case.fixture, "--headless", "--auto-approve", "--endpoint-url", url]).args(case.extra);
    run(cmd)
}

fn undo(state: &Path, id: &str, url: &str, kill_after: Option<u64>) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["undo", id, "--reason", "the failed-back data is wrong", "--yes", "--endpoint-url", url]);
    if let Some(n) = kill_after {
        cmd.env(CRASH_AFTER_ENV, n.to_string());
    }
    run(cmd)
}

fn report(state: &Path, id: &str) -> Value {
    let mut cmd = pilotlight(state);
    cmd.args(["report", id, "--format", "json"]);
    serde_json::from_slice(&run(cmd).stdout).expect("the report is JSON")
}

/// What differs between `before` and `after` that the case does not allow.
pub(super) fn unexpected(case: &Case, before: &Value, after: &Value) -> Vec<String> {
    let mut all = Vec::new();
    differences("", before, after, &mut all);
    all.retain(|d| !case.may_differ.iter().any(|m| d.contains(m)));
    all
}

/// Fails back, undoes, checks primary is as before and the record says so, then fails back again.
fn round_trip(case: &Case) {
    let (moto, _) = seeded_moto();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let url = proxy.endpoint_url();
    let before = (case.whole)(&url);
    let state = state_dir();
    let out = failback(state.path(), &url, case);
    assert_eq!(out.status.code(), Some(0), "{}: {}", case.fixture, String::from_utf8_lossy(&out.stdout));
    let failed_back = (case.whole)(&url);
    assert!(!unexpected(case, &before, &failed_back).is_empty(), "{}: the failback changed primary", case.fixture);
    let (id, _) = only_run(state.path());

    let out = undo(state.path(), &id, &url, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}: {stdout}{}", case.fixture, String::from_utf8_lossy(&out.stderr));
    let after = (case.whole)(&url);
    assert_eq!(unexpected(case, &before, &after), Vec::<String>::new(), "{}: primary as before", case.fixture);

    let r = report(state.path(), &id);
    assert_eq!(r["run"]["status"], "undone", "{}", case.fixture);
    assert_eq!(r["undo"]["reason"], "the failed-back data is wrong");
    let retained: Vec<&str> = r["retained"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    let undo_steps = r["undo"]["steps"].as_object().unwrap();
    for (_, s) in undo_steps {
        for (name, res) in s["outputs"]["resources"].as_object().unwrap() {
            assert_eq!(res["undone"], true, "{}: {name} undone: {res}", case.fixture);
            for kept in res["retained"].as_array().unwrap() {
                assert!(retained.contains(&kept["id"].as_str().unwrap()), "{name}: the failed-back copy is retained");
            }
            for back in res["put_back"].as_array().unwrap() {
                assert!(!retained.contains(&back.as_str().unwrap()), "{name}: {back} is in use again, not retained");
            }
        }
    }
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--endpoint-url", &url]);
    assert_eq!(run(cmd).status.code(), Some(2), "an undone run is not resumed");
    let again = undo(state.path(), &id, &url, None);
    assert_eq!(again.status.code(), Some(0), "an undone run is undone already");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already been undone"));

    // The undone run no longer stands in the way, and primary can be failed back again.
    let out = failback(state.path(), &url, case);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: a second failback: {}",
        case.fixture,
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn undo_puts_an_rds_instance_back_and_a_second_failback_succeeds() {
    round_trip(&RDS);
}

#[test]
fn undo_puts_an_aurora_cluster_back_and_a_second_failback_succeeds() {
    round_trip(&AURORA);
}

#[test]
fn undo_puts_an_rds_instance_failed_back_through_a_replica_back_and_a_second_failback_succeeds() {
    round_trip(&RDS_REPLICA);
}

#[test]
fn undo_puts_an_aurora_cluster_failed_back_by_switchover_back_and_a_second_failback_succeeds() {
    round_trip(&AURORA_SWITCHOVER);
}

#[test]
fn undo_puts_ec2_volumes_back_and_a_second_failback_succeeds() {
    round_trip(&EC2);
}

#[test]
fn undo_puts_a_dynamodb_table_back_and_a_second_failback_succeeds() {
    round_trip(&DYNAMODB);
}

#[test]
fn undo_puts_a_table_synced_in_place_back_and_a_second_failback_succeeds() {
    round_trip(&DYNAMODB_IN_PLACE);
}

/// Killed after each of the undo's journal entries in turn (one in three), then given again:
/// every time the RDS instance ends as it was before the failback.
#[test]
fn a_kill_during_an_undo_goes_on_when_undo_is_given_again() {
    let case = &RDS;
    let fresh = || {
        let (moto, _) = seeded_moto();
        let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
        let state = state_dir();
        let before = (case.whole)(&proxy.endpoint_url());
        let out = failback(state.path(), &proxy.endpoint_url(), case);
        assert_eq!(out.status.code(), Some(0));
        (moto, proxy, state, before)
    };
    let (_moto, proxy, state, _) = fresh();
    let (id, dir) = only_run(state.path());
    let first = journal(&dir).last().unwrap().seq + 1;
    assert_eq!(undo(state.path(), &id, &proxy.endpoint_url(), None).status.code(), Some(0));
    let entries = journal(&dir);
    let last = entries.iter().rev().find(|e| matches!(e.event, Event::UndoFinished { .. })).unwrap().seq;
    // Waits journal the state changes they happen to see, so each fresh world's failback and
    // undo can be a few entries longer or shorter than the reference's: the kill points are
    // counted from where each world's undo begins (and one past its undo's end finds it done).
    for offset in (0..last - first).step_by(3) {
        let (_moto, proxy, state, before) = fresh();
        let (id, dir) = only_run(state.path());
        let at = journal(&dir).last().unwrap().seq + 1 + offset;
        let url = proxy.endpoint_url();
        let killed = undo(state.path(), &id, &url, Some(at));
        let out = if killed_after(&killed, &dir, at) { undo(state.path(), &id, &url, None) } else { killed };
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "killed after entry {at}: {stdout}");
        assert_eq!(unexpected(case, &before, &(case.whole)(&url)), Vec::<String>::new(), "killed after entry {at}");
    }
}

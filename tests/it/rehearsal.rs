//! `failback.rehearse`, the test failback done by the tool: the recovery point copied home and
//! restored side by side under a temporary name, checked, timed and removed, primary only read.
//! Checked with the request record and describe calls to moto itself, through the rules layer.

use super::realism::{Fault, FaultRule, RealismProxy};
use super::support::{block_on, journal, moto, only_run, pilotlight, postgres, recorded, run, sdk, state_dir};
use aws_sdk_rds::Client;
use pilotlight::journal::{CallOutcome, Event};
use pilotlight::sandbox::moto_api;
use serde_json::Value;

const FIXTURE: &str = "tests/fixtures/rds-rehearsal.yaml";

/// Primary's instances as (identifier, create time, status, deletion protection), and the manual
/// snapshots of both regions.
type Instances = Vec<(String, String, String, bool)>;

fn world_now(url: &str) -> (Instances, Vec<String>) {
    let primary = Client::new(&sdk(url, "us-east-1"));
    let out = block_on(primary.describe_db_instances().send()).unwrap();
    let mut dbs: Instances = out
        .db_instances()
        .iter()
        .map(|d| {
            (
                d.db_instance_identifier().unwrap_or_default().to_string(),
                d.instance_create_time().map(|t| t.to_string()).unwrap_or_default(),
                d.db_instance_status().unwrap_or_default().to_string(),
                d.deletion_protection().unwrap_or(false),
            )
        })
        .collect();
    dbs.sort();
    let mut snaps = Vec::new();
    for region in ["us-east-1", "us-west-2"] {
        let rds = Client::new(&sdk(url, region));
        let out = block_on(rds.describe_db_snapshots().snapshot_type("manual").send()).unwrap();
        snaps.extend(out.db_snapshots().iter().filter_map(|s| s.db_snapshot_identifier().map(str::to_string)));
    }
    (dbs, snaps)
}

/// `orders-db` on both sides (primary's gp3 at 100 GiB with deletion protection, recovery's grown
/// to 150 GiB: the restore must follow the rules of the AWS-rules issue).
fn world(url: &str) {
    let primary = Client::new(&sdk(url, "us-east-1"));
    let create = postgres(&primary, "orders-db").storage_type("gp3").allocated_storage(100).deletion_protection(true);
    block_on(create.send()).expect("CreateDBInstance");
    let recovery = Client::new(&sdk(url, "us-west-2"));
    block_on(postgres(&recovery, "orders-db").storage_type("gp3").allocated_storage(150).send())
        .expect("CreateDBInstance");
}

fn rehearse(state: &std::path::Path, proxy: &RealismProxy) -> (Option<i32>, String) {
    let mut cmd = pilotlight(state);
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A sound world: the rehearsal goes through under AWS's rules, primary's instance is only read
/// (no mutating call names it; its identifier, create time, status and protection are as before),
/// nothing it made is left in either region, and each part's duration is reported.
#[test]
fn a_rehearsal_restores_side_by_side_reports_its_durations_and_leaves_nothing_behind() {
    let moto = moto();
    let url = moto.endpoint_url();
    world(&url);
    let before = world_now(&url);
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let state = state_dir();
    moto_api::start_recording(moto.port).unwrap();
    let (status, stdout) = rehearse(state.path(), &proxy);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(status, Some(0), "{stdout}");
    assert_eq!(world_now(&url), before, "primary as it was, nothing left behind");

    let (run_id, dir) = only_run(state.path());
    let short = run_id.rsplit('-').next().unwrap();
    let test_id = format!("orders-db-pl-test-{short}");
    let calls = recorded(moto.port);
    let on_primary: Vec<String> = calls
        .iter()
        .filter(|c| c.mutating() && c.region == "us-east-1" && c.operation != "AssumeRole")
        .map(|c| format!("{} {}", c.operation, c.body))
        .collect();
    for call in &on_primary {
        assert!(!call.contains("Identifier=orders-db&") && !call.ends_with("Identifier=orders-db"), "{call}");
    }
    for op in ["RestoreDBInstanceFromDBSnapshot", "DeleteDBInstance", "CopyDBSnapshot", "DeleteDBSnapshot"] {
        assert!(on_primary.iter().any(|c| c.starts_with(op)), "{op} in primary: {on_primary:#?}");
    }
    let restore = on_primary.iter().find(|c| c.starts_with("RestoreDBInstanceFromDBSnapshot")).unwrap();
    assert!(restore.contains(&format!("DBInstanceIdentifier={test_id}")), "{restore}");
    assert!(
        restore.contains("AllocatedStorage=150") && !restore.contains("Iops="),
        "the failback's parameters: {restore}"
    );
    assert!(restore.contains("DeletionProtection=false"), "{restore}");

    let out = outputs_of(&dir, "orders_db");
    assert_eq!(out["rehearsed_as"], test_id.as_str());
    for part in ["snapshot", "copy", "restore", "configure"] {
        assert!(out["durations_s"][part].as_f64().is_some(), "{part} timed: {out}");
    }
    assert!(out["predicted_window_s"].as_f64().is_some(), "{out}");
    let remaining: Vec<&str> =
        out["remaining_differences"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        !remaining.iter().any(|d| d.starts_with("db_instance_identifier") || d.starts_with("deletion_protection")),
        "{remaining:#?}"
    );

    // The report says how long each part took, and measures no RPO from a rehearsal.
    let report = |json: bool| {
        let mut cmd = pilotlight(state.path());
        cmd.args(["report", &run_id]);
        if json {
            cmd.args(["--format", "json"]);
        }
        let out = cmd.output().expect("pilotlight report");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let json: Value = serde_json::from_str(&report(true)).unwrap();
    let rehearsal = &json["rehearsals"][0];
    assert_eq!(
        (rehearsal["resource"].as_str(), rehearsal["rehearsed_as"].as_str()),
        (Some("orders_db"), Some(test_id.as_str()))
    );
    assert_eq!(
        rehearsal["durations_s"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["snapshot", "copy", "restore", "configure"]
    );
    assert_eq!(json["objectives"]["rpo"], serde_json::json!([]), "no RPO from a rehearsal");
    let markdown = report(false);
    assert!(markdown.contains("## Test failbacks (rehearsals)"), "{markdown}");
    assert!(markdown.contains(&format!("| `orders_db` | `test-failback` | `{test_id}` | snapshot ")), "{markdown}");
}

/// RDS out of capacity for the restore (a refusal moto never gives).
const NO_CAPACITY: Fault = Fault::Refuse {
    code: "InsufficientDBInstanceCapacity",
    message: "Cannot create a database instance because there is no capacity for db.t3.micro in us-east-1a.",
};

/// A world where the restore is refused: the rehearsal fails with RDS's words, primary is
/// untouched and what the rehearsal made is removed; once the cause is gone, a resume rehearses
/// again from a new snapshot and passes.
#[test]
fn a_refused_restore_fails_the_rehearsal_with_primary_untouched_and_a_resume_rehearses_again() {
    let moto = moto();
    let url = moto.endpoint_url();
    world(&url);
    let before = world_now(&url);
    let refused = FaultRule { needle: "Action=RestoreDBInstanceFromDBSnapshot", times: usize::MAX, fault: NO_CAPACITY };
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![refused]);
    let state = state_dir();
    let (status, stdout) = rehearse(state.path(), &proxy);
    assert_ne!(status, Some(0), "{stdout}");
    assert!(stdout.contains("the rehearsal of orders-db failed"), "{stdout}");
    assert!(stdout.contains("InsufficientDBInstanceCapacity"), "{stdout}");
    assert_eq!(world_now(&url), before, "primary as it was, nothing left behind");

    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let (id, dir) = only_run(state.path());
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(world_now(&url), before, "primary as it was, nothing left behind");
    let snapshots_taken = journal(&dir)
        .iter()
        .filter(|e| matches!(&e.event, Event::AwsCall { operation, outcome: CallOutcome::Ok, .. } if operation == "CreateDBSnapshot"))
        .count();
    assert_eq!(snapshots_taken, 2, "the resume took a new recovery snapshot (the first was removed)");
}

/// The end state of a rehearsal of the seeded world: primary's instances (identifier, status,
/// protection) and how many manual snapshots either region holds.
fn end_state(url: &str) -> (Vec<(String, String, bool)>, usize) {
    let (dbs, snaps) = world_now(url);
    (dbs.into_iter().map(|(id, _, status, protection)| (id, status, protection)).collect(), snaps.len())
}

/// A kill after any journal entry of a rehearsal (one of each class), then a resume: the same end
/// state, primary as it was and nothing left behind.
#[test]
fn a_kill_after_any_journal_entry_of_a_rehearsal_resumes_to_the_same_end_state() {
    use super::support::{Kill, kill_at_every_point};
    use pilotlight::sandbox::seed::Part;
    let points = kill_at_every_point(&[Part::Rds], &[FIXTURE], 2, Kill::AfterEveryEntry, end_state).points;
    assert!(points > 20, "a rehearsal journals its sub-steps ({points} kill points)");
}

/// The answer to each mutating call of a rehearsal is lost with the process: the resume finds
/// what the call did instead of doing it twice, and removes all of it.
#[test]
fn a_kill_after_any_mutating_call_of_a_rehearsal_was_answered_resumes_to_the_same_end_state() {
    use super::support::{Kill, kill_at_every_point};
    use pilotlight::sandbox::seed::Part;
    let points = kill_at_every_point(&[Part::Rds], &[FIXTURE], 2, Kill::BeforeEveryAnswer, end_state).run;
    assert!(points > 5, "one kill point per mutating call ({points})");
}

const EC2_FIXTURE: &str = "tests/fixtures/ec2-rehearsal.yaml";

/// Primary's `app-server` (state, and its volumes by device) and how many volumes and own
/// snapshots each region holds.
type Ec2World = (String, Vec<(String, String)>, Vec<(usize, usize)>);

fn ec2_now(url: &str) -> Ec2World {
    use super::support::own_snapshots;
    let primary = aws_sdk_ec2::Client::new(&sdk(url, "us-east-1"));
    let name = aws_sdk_ec2::types::Filter::builder().name("tag:Name").values("app-server").build();
    let out = block_on(primary.describe_instances().filters(name).send()).unwrap();
    let i = out.reservations()[0].instances()[0].clone();
    let mut volumes: Vec<(String, String)> = i
        .block_device_mappings()
        .iter()
        .map(|b| {
            let id = b.ebs().and_then(|e| e.volume_id()).unwrap_or_default();
            (b.device_name().unwrap_or_default().to_string(), id.to_string())
        })
        .collect();
    volumes.sort();
    let state = i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default();
    let counts = ["us-east-1", "us-west-2"]
        .iter()
        .map(|region| {
            let ec2 = aws_sdk_ec2::Client::new(&sdk(url, region));
            let vols = block_on(ec2.describe_volumes().send()).unwrap().volumes().len();
            (vols, block_on(own_snapshots(&ec2)))
        })
        .collect();
    (state, volumes, counts)
}

/// An EC2 instance's rehearsal under AWS's rules: the recovery point copied home and its volumes
/// created in the instance's zone, then all of it deleted; the instance only read (no stop,
/// detach or attach); each part timed. With the zone out of capacity for the volumes, the
/// rehearsal fails with EC2's words and leaves nothing behind.
#[test]
fn an_ec2_rehearsal_creates_the_volumes_in_the_zone_and_leaves_nothing_behind() {
    use pilotlight::sandbox::seed::{Part, seed_parts};
    let moto = moto();
    let url = moto.endpoint_url();
    block_on(seed_parts(&url, &[Part::Ec2])).expect("seed");
    let before = ec2_now(&url);
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let state = state_dir();
    moto_api::start_recording(moto.port).unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", EC2_FIXTURE, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(ec2_now(&url), before, "the instance as it was, nothing left behind");
    let ops: Vec<String> = recorded(moto.port).into_iter().filter(|c| c.mutating()).map(|c| c.operation).collect();
    for op in ["CreateSnapshots", "CopySnapshot", "CreateVolume", "DeleteVolume", "DeleteSnapshot"] {
        assert!(ops.iter().any(|o| o == op), "{op}: {ops:?}");
    }
    for op in ["StopInstances", "DetachVolume", "AttachVolume", "StartInstances"] {
        assert!(!ops.iter().any(|o| o == op), "{op} must not be sent: {ops:?}");
    }
    let (_, dir) = only_run(state.path());
    let res = outputs_of(&dir, "app_server");
    assert_eq!(res["durations_s"].as_object().unwrap().keys().collect::<Vec<_>>(), ["snapshot", "copy", "volumes"]);

    let no_capacity = Fault::Refuse {
        code: "InsufficientVolumeCapacity",
        message: "There is not enough capacity to fulfill your EBS volume provision request.",
    };
    let proxy = RealismProxy::with_aws_rules(
        moto.port,
        vec![FaultRule { needle: "Action=CreateVolume", times: usize::MAX, fault: no_capacity }],
    );
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", EC2_FIXTURE, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("the rehearsal of ") && stdout.contains("InsufficientVolumeCapacity"), "{stdout}");
    assert_eq!(ec2_now(&url), before, "the instance as it was, nothing left behind");
}

/// A resource's outputs from the first successful action of a run.
fn outputs_of(run_dir: &std::path::Path, resource: &str) -> Value {
    let outputs = journal(run_dir)
        .iter()
        .find_map(|e| match &e.event {
            Event::ActionFinished { ok: true, outputs, .. } => Some(outputs.clone()),
            _ => None,
        })
        .expect("the rehearsal finished");
    outputs["resources"][resource].clone()
}

/// The table's rehearsal: the recovery table exported and imported into a temporary table with
/// primary's configuration, checked and deleted; primary's table untouched (configuration and
/// every item), no safety backup taken, no temporary table left; each part timed. With the
/// import refused, the rehearsal fails and leaves no table behind.
#[test]
fn a_table_rehearsal_imports_into_a_temporary_table_and_leaves_primary_as_it_was() {
    use super::dynamodb_failback::{backups, fresh_world, table};
    use super::dynamodb_rollback::{NO_IMPORT, refused};
    use pilotlight::sandbox::seed::{PRIMARY_REGION, RECOVERY_REGION};
    let rehearse = |state: &std::path::Path, proxy: &RealismProxy| {
        let mut cmd = pilotlight(state);
        cmd.args(["run", "tests/fixtures/dynamodb-rehearsal.yaml", "--headless", "--auto-approve"])
            .args(["--endpoint-url", &proxy.endpoint_url()]);
        run(cmd)
    };
    let tables = |url: &str| {
        let ddb = aws_sdk_dynamodb::Client::new(&super::support::sdk(url, PRIMARY_REGION));
        let out = super::support::block_on(ddb.list_tables().send()).unwrap();
        out.table_names().to_vec()
    };
    let (moto, url) = fresh_world();
    let before = table(&url, PRIMARY_REGION).unwrap();
    let recovery = table(&url, RECOVERY_REGION).unwrap();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let state = state_dir();
    let out = rehearse(state.path(), &proxy);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(table(&url, PRIMARY_REGION), Some(before.clone()), "primary's table as it was");
    assert_eq!(tables(&url), ["sessions"], "no temporary table left");
    assert!(backups(&url).is_empty(), "no safety backup: nothing of primary's is replaced");
    let (_, dir) = only_run(state.path());
    let outputs = journal(&dir)
        .iter()
        .find_map(|e| match &e.event {
            Event::ActionFinished { ok: true, outputs, .. } => Some(outputs.clone()),
            _ => None,
        })
        .unwrap();
    let res = &outputs["resources"]["sessions_table"];
    assert_eq!(res["items"]["imported"].as_u64(), Some(recovery.items.len() as u64), "{res}");
    let parts: Vec<&String> = res["durations_s"].as_object().unwrap().keys().collect();
    assert_eq!(parts, ["export", "import", "configure"]);
    assert!(res["rehearsed_as"].as_str().unwrap().starts_with("sessions-pl-test-"), "{res}");

    let proxy = RealismProxy::with_aws_rules(moto.port, vec![refused("DynamoDB_20120810.ImportTable", NO_IMPORT)]);
    let state = state_dir();
    let out = rehearse(state.path(), &proxy);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("the rehearsal of table sessions failed") && stdout.contains("LimitExceededException"),
        "{stdout}"
    );
    assert_eq!(table(&url, PRIMARY_REGION), Some(before), "primary's table as it was");
    assert_eq!(tables(&url), ["sessions"], "no temporary table left");
}

/// An Aurora cluster's rehearsal under AWS's rules, on a Serverless v2 cluster whose recovery side
/// runs a newer engine version: restored side by side with the failback's parameters (the
/// snapshot's version, the capacity given again: without it RDS refuses its `db.serverless`
/// member), its member created, compared, and all of it deleted; primary's cluster only read.
#[test]
fn an_aurora_rehearsal_restores_the_cluster_and_its_members_side_by_side_and_removes_them() {
    use super::aurora_rules::cluster;
    let moto = moto();
    let url = moto.endpoint_url();
    cluster(&url, "us-east-1", "15.4", true);
    cluster(&url, "us-west-2", "16.1", true);
    let rds = Client::new(&sdk(&url, "us-east-1"));
    let now = || {
        let clusters = block_on(rds.describe_db_clusters().send()).unwrap();
        let mut ids: Vec<String> =
            clusters.db_clusters().iter().filter_map(|c| c.db_cluster_identifier().map(str::to_string)).collect();
        let dbs = block_on(rds.describe_db_instances().send()).unwrap();
        ids.extend(dbs.db_instances().iter().filter_map(|d| d.db_instance_identifier().map(str::to_string)));
        let snaps = block_on(rds.describe_db_cluster_snapshots().snapshot_type("manual").send()).unwrap();
        (ids, snaps.db_cluster_snapshots().len())
    };
    let before = now();
    let dir = tempfile::tempdir().unwrap();
    let runbook = dir.path().join("aurora-rehearsal.yaml");
    let fixture = std::fs::read_to_string("tests/fixtures/aurora-failback.yaml").unwrap();
    let (head, _) = fixture.split_once("steps:").unwrap();
    let steps = "steps:\n  - id: test-failback\n    title: Rehearse\n    action: failback.rehearse\n    with:\n      resource: inventory_cluster\n";
    std::fs::write(&runbook, format!("{head}{steps}")).unwrap();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let state = state_dir();
    moto_api::start_recording(moto.port).unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.arg("run").arg(&runbook).args(["--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(now(), before, "primary as it was, nothing left behind");
    let calls = recorded(moto.port);
    let restore = calls.iter().find(|c| c.operation == "RestoreDBClusterFromSnapshot").expect("a restore");
    assert!(restore.body.contains("DBClusterIdentifier=inventory-pl-test-"), "{}", restore.body);
    assert!(restore.body.contains("ServerlessV2ScalingConfiguration.MinCapacity=0.5"), "{}", restore.body);
    for c in calls.iter().filter(|c| c.mutating() && c.region == "us-east-1") {
        assert!(
            !c.body.contains("Identifier=inventory&") && !c.body.ends_with("Identifier=inventory"),
            "{} {}",
            c.operation,
            c.body
        );
    }
    let (_, run_dir) = only_run(state.path());
    let res = outputs_of(&run_dir, "inventory_cluster");
    let parts: Vec<&String> = res["durations_s"].as_object().unwrap().keys().collect();
    assert_eq!(parts, ["snapshot", "copy", "restore", "instances", "configure"], "{res}");
}

/// What the layer modelled for each snapshot a step's outputs name under `key`, against the full
/// and the incremental figure: `true` for incremental.
fn incremental(port: u16, outputs: &Value, key: &str, region: &str, operation: &str, url: &str) -> Vec<bool> {
    use pilotlight::sandbox::realism::timing::{CHANGED_SHARE, modelled};
    let ec2 = aws_sdk_ec2::Client::new(&sdk(url, region));
    let model = super::realism::Model::bundled();
    let ids: Vec<String> = match &outputs[key] {
        Value::Object(m) => m.values().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    assert!(!ids.is_empty(), "{key}: {outputs}");
    ids.iter()
        .map(|id| {
            let out = block_on(ec2.describe_snapshots().snapshot_ids(id).send()).unwrap();
            let gib = f64::from(out.snapshots()[0].volume_size().unwrap());
            let took = modelled(port, region, id).unwrap_or_else(|| panic!("modelled {key} {id} in {region}"));
            assert!(took == model.duration(operation, gib) || took == model.duration(operation, gib * CHANGED_SHARE));
            took == model.duration(operation, gib * CHANGED_SHARE)
        })
        .collect()
}

/// Catches a staging rehearsal that deletes what it staged (or lists it nowhere), and a failback
/// whose snapshots and copies are not incremental after it; without staging (the rehearsal
/// removed its snapshots) they are full, as on AWS.
#[test]
fn a_staging_rehearsal_keeps_its_snapshots_and_the_failbacks_copies_are_incremental() {
    use pilotlight::sandbox::seed::{Part, seed_parts};
    for stage in [true, false] {
        let moto = moto();
        let url = moto.endpoint_url();
        block_on(seed_parts(&url, &[Part::Ec2])).expect("seed");
        let proxy = RealismProxy::timed(moto.port, super::realism::Pace::Factor(6000.0), Vec::new());
        let var = format!("stage={stage}");
        let (state, out) =
            super::support::run_fixture("tests/fixtures/ec2-staged.yaml", &["--var", &var], &proxy.endpoint_url());
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
        let (_, dir) = only_run(state.path());
        let rehearsal = outputs_of(&dir, "app_server");
        let failback = journal(&dir)
            .into_iter()
            .find_map(|e| match e.event {
                Event::ActionFinished { step, ok: true, outputs, .. } if step == "failback-ec2" => {
                    Some(outputs["resources"]["app_server"].clone())
                }
                _ => None,
            })
            .expect("the failback's outputs");
        let snaps = incremental(moto.port, &failback, "recovery_snapshots", "us-west-2", "ec2.CreateSnapshot", &url);
        let copies = incremental(moto.port, &failback, "primary_snapshots", "us-east-1", "ec2.CopySnapshot", &url);
        assert!(snaps.iter().chain(&copies).all(|i| *i == stage), "stage={stage}: {snaps:?} {copies:?}");
        let kept: Vec<String> =
            rehearsal["retained"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
        let made = ["snapshots", "copies"].map(|k| rehearsal[k].as_array().unwrap().len()).iter().sum::<usize>();
        assert_eq!(kept.len(), if stage { made } else { 0 }, "{rehearsal}");
        for (region, key) in [("us-west-2", "snapshots"), ("us-east-1", "copies")] {
            let ec2 = aws_sdk_ec2::Client::new(&sdk(&url, region));
            for id in rehearsal[key].as_array().unwrap().iter().filter_map(Value::as_str) {
                let there =
                    block_on(ec2.describe_snapshots().snapshot_ids(id).send()).is_ok_and(|o| !o.snapshots().is_empty());
                assert_eq!(there, stage, "{id} kept only when staging");
                assert_eq!(kept.iter().any(|k| k == id), stage);
            }
        }
    }
}

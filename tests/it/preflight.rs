//! `pilotlight preflight`: on a sound world every check passes (some warn) and nothing changes;
//! on a world made to break the rules each broken rule fails, naming its resource and rule,
//! before any mutating call (moto's request record), and the command exits non-zero.

use super::support::{block_on, moto, pilotlight, postgres, recorded, run, sdk, seed, state_dir};
use pilotlight::sandbox::moto_api;

const RUNBOOK: &str = "runbooks/failback.yaml";

/// `pilotlight preflight` of the bundled runbook against moto on `port`, recorded: its output
/// and how many mutating calls it made.
fn preflight(port: u16, url: &str) -> (std::process::Output, usize) {
    moto_api::start_recording(port).unwrap();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["preflight", RUNBOOK, "--endpoint-url", url]);
    let out = run(cmd);
    moto_api::stop_recording(port).unwrap();
    let mutating = recorded(port).iter().filter(|c| c.mutating()).count();
    (out, mutating)
}

#[test]
fn preflight_passes_on_the_hard_world_and_changes_nothing() {
    let moto = moto();
    let url = moto.endpoint_url();
    let mut cmd = pilotlight(state_dir().path());
    cmd.args(["sandbox", "seed", "--variant", "hard", "--endpoint-url", &url]);
    assert_eq!(run(cmd).status.code(), Some(0));
    // Every volume of recovery's worker snapshotted just now; app-server's never.
    let ec2 = aws_sdk_ec2::Client::new(&sdk(&url, "us-west-2"));
    block_on(async {
        let named = aws_sdk_ec2::types::Filter::builder().name("tag:Name").values("worker").build();
        let out = ec2.describe_instances().filters(named).send().await.unwrap();
        let worker = out.reservations()[0].instances()[0].clone();
        for m in worker.block_device_mappings() {
            let volume = m.ebs().and_then(|e| e.volume_id()).unwrap();
            ec2.create_snapshot().volume_id(volume).send().await.expect("CreateSnapshot");
        }
    });
    let (out, mutating) = preflight(moto.port, &url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(mutating, 0, "preflight only reads");
    for line in [
        "pass  -                  primary            account: primary (us-east-1) is account 123456789012",
        "WARN  failback-rds       orders_db          storage: recovery grew to 150 GiB (primary 100 GiB)",
        "WARN  failback-aurora    inventory_cluster  engine-version: recovery runs 16.1, primary 15.4",
        // The bundled runbook stages; an Aurora cluster's copy cannot be.
        "WARN  failback-aurora    inventory_cluster  staged: nothing can be staged for cluster inventory: Aurora's cluster snapshot copies are always full",
        "pass  failback-ec2       app_server         auto-scaling: group app-server is at its minimum (1)",
        "pass  failback-rds       orders_db          recovery-point-age: recovery's newest recovery point is",
        "pass  failback-ec2       worker             recovery-point-age: recovery's newest recovery point is",
        "WARN  failback-ec2       app_server         recovery-point-age: recovery's instance app-server has no recovery point of its own",
        "0 fail",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    // The same findings for scripts.
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["preflight", RUNBOOK, "--format", "json", "--endpoint-url", &url]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0));
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON findings");
    let storage = findings.iter().find(|f| f["resource"] == "orders_db" && f["rule"] == "storage").unwrap();
    assert_eq!((storage["step"].as_str(), storage["verdict"].as_str()), (Some("failback-rds"), Some("warn")));
}

/// The demo world, broken three ways: recovery's orders-db is encrypted (a copy into primary's
/// region needs a key, and the bundled runbook gives none), primary's inventory is in a global
/// database, recovery's sessions table has point-in-time recovery off.
#[test]
fn preflight_fails_each_broken_rule_by_resource_and_rule_before_any_mutating_call() {
    let moto = moto();
    let url = moto.endpoint_url();
    seed(&url);
    let recovery_rds = aws_sdk_rds::Client::new(&sdk(&url, "us-west-2"));
    let delete = recovery_rds.delete_db_instance().db_instance_identifier("orders-db").skip_final_snapshot(true);
    block_on(delete.send()).expect("DeleteDBInstance");
    block_on(postgres(&recovery_rds, "orders-db").storage_encrypted(true).send()).expect("CreateDBInstance");
    let primary_rds = aws_sdk_rds::Client::new(&sdk(&url, "us-east-1"));
    let out = block_on(primary_rds.describe_db_clusters().db_cluster_identifier("inventory").send()).unwrap();
    let arn = out.db_clusters()[0].db_cluster_arn().unwrap().to_string();
    let global = primary_rds.create_global_cluster().global_cluster_identifier("inventory-global");
    block_on(global.source_db_cluster_identifier(arn).send()).expect("CreateGlobalCluster");
    super::dynamodb_failback::set_recovery_pitr(&url, false);

    let (out, mutating) = preflight(moto.port, &url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(mutating, 0, "preflight only reads");
    for line in [
        "FAIL  failback-rds       orders_db          encrypted-copy-key: recovery DB instance orders-db (us-west-2) is encrypted",
        "FAIL  failback-aurora    inventory_cluster  global-cluster: primary cluster inventory is a member of global database inventory-global",
        "FAIL  failback-dynamodb  sessions_table     recovery-pitr: the recovery table sessions (us-west-2) has point-in-time recovery off",
        "WARN  failback-dynamodb  sessions_table     recovery-point-age: recovery's table sessions has no recovery point of its own",
        "3 fail",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
}

/// In a run, a failback step's resources are checked before its gate and the checks journaled;
/// a failed check holds the step back before anything is sent (under --auto-approve the run
/// fails there, and says what to mend). Recovery's table has point-in-time recovery off.
#[test]
fn a_run_checks_a_failback_step_before_its_gate_and_a_failed_check_sends_nothing() {
    let moto = moto();
    let url = moto.endpoint_url();
    seed(&url);
    super::dynamodb_failback::set_recovery_pitr(&url, false);
    moto_api::start_recording(moto.port).unwrap();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/dynamodb-failback.yaml", "--headless", "--auto-approve", "--endpoint-url", &url]);
    let out = run(cmd);
    moto_api::stop_recording(moto.port).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("preflight FAIL sessions_table recovery-pitr: the recovery table sessions"), "{stdout}");
    assert!(stdout.contains("preflight failed; nothing was changed"), "{stdout}");
    assert!(!stdout.contains("gate approved"), "held back before its gate:\n{stdout}");
    let mutating: Vec<String> = recorded(moto.port).into_iter().filter(|c| c.mutating()).map(|c| c.operation).collect();
    assert!(mutating.is_empty(), "nothing was sent: {mutating:?}");
    let (_, dir) = super::support::only_run(state.path());
    let checked = super::support::journal(&dir)
        .into_iter()
        .find_map(|e| match e.event {
            pilotlight::journal::Event::PreflightChecked { checks, .. } => Some(checks),
            _ => None,
        })
        .expect("the checks are journaled");
    assert!(checked.iter().any(|c| c.rule == "recovery-pitr" && c.verdict == pilotlight::journal::Verdict::Fail));

    // Mended, the same run is resumed: checked again, it passes and fails back.
    super::dynamodb_failback::set_recovery_pitr(&url, true);
    let (id, _) = super::support::only_run(state.path());
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &url]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    // The report says what was checked before the gate (the latest checks of the step).
    let mut cmd = pilotlight(state.path());
    cmd.args(["report", &id]);
    let report = String::from_utf8_lossy(&run(cmd).stdout).into_owned();
    assert!(report.contains("- Preflight at "), "{report}");
    assert!(report.contains(" checks, 0 warn, 0 fail"), "{report}");
    let mut cmd = pilotlight(state.path());
    cmd.args(["report", &id, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&run(cmd).stdout).unwrap();
    let step = json["steps"].as_array().unwrap().iter().find(|s| s["preflight"].is_object()).expect("a preflight");
    assert!(step["preflight"]["checks"].as_array().unwrap().iter().any(|c| c["rule"] == "recovery-pitr"));
}

/// In a run the names its failback will make are known: one taken by something the run did not
/// make (here an instance under the kept name `orders-db-pre-failback-<run>`) fails the step's
/// preflight before anything is sent; once it is gone, the same run fails back.
#[test]
fn a_name_the_run_will_make_taken_by_something_else_fails_the_steps_preflight() {
    let moto = moto();
    let url = moto.endpoint_url();
    let primary = aws_sdk_rds::Client::new(&sdk(&url, "us-east-1"));
    let recovery = aws_sdk_rds::Client::new(&sdk(&url, "us-west-2"));
    block_on(postgres(&primary, "orders-db").send()).expect("CreateDBInstance");
    // Encrypted, and the fixture names no key: the first run stops at preflight.
    block_on(postgres(&recovery, "orders-db").storage_encrypted(true).send()).expect("CreateDBInstance");
    let state = state_dir();
    let resume = |state: &std::path::Path| {
        let (id, _) = super::support::only_run(state);
        let mut cmd = pilotlight(state);
        cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &url]);
        run(cmd)
    };
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/rds-failback.yaml", "--headless", "--auto-approve", "--endpoint-url", &url]);
    let out = run(cmd);
    assert_ne!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (id, _) = super::support::only_run(state.path());
    let kept = format!("orders-db-pre-failback-{}", id.rsplit('-').next().unwrap());

    // Mended, but the kept name is taken meanwhile.
    let delete = recovery.delete_db_instance().db_instance_identifier("orders-db").skip_final_snapshot(true);
    block_on(delete.send()).expect("DeleteDBInstance");
    block_on(postgres(&recovery, "orders-db").send()).expect("CreateDBInstance");
    block_on(postgres(&primary, &kept).send()).expect("CreateDBInstance");
    moto_api::start_recording(moto.port).unwrap();
    let out = resume(state.path());
    moto_api::stop_recording(moto.port).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    let taken = format!(
        "preflight FAIL orders_db taken-names: names this run will make are taken by something it did not make: {kept} (us-east-1; not made by pilotlight)"
    );
    assert!(stdout.contains(&taken), "{stdout}");
    let mutating: Vec<String> = recorded(moto.port).into_iter().filter(|c| c.mutating()).map(|c| c.operation).collect();
    assert!(mutating.is_empty(), "nothing was sent: {mutating:?}");

    block_on(primary.delete_db_instance().db_instance_identifier(&kept).skip_final_snapshot(true).send()).unwrap();
    let out = resume(state.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

/// The action takes what its preflight has just read (`--auto-approve`: the gate passes at
/// once, see `pilotlight::aws::read_memo`): before the first change each side's instance is read
/// once, not once by the checks and again by the action's first sub-step (it was twice before).
/// After the first change nothing is taken: the instance is read from AWS again.
#[test]
fn an_action_takes_its_preflights_reads_once_and_none_after_its_first_change() {
    let (moto, url) = super::support::seeded_moto();
    moto_api::start_recording(moto.port).unwrap();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/rds-failback.yaml", "--headless", "--auto-approve", "--endpoint-url", &url]);
    let out = run(cmd);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let calls = recorded(moto.port);
    let of_orders_db = |c: &&super::support::Recorded| {
        c.operation == "DescribeDBInstances" && c.body.split('&').any(|kv| kv == "DBInstanceIdentifier=orders-db")
    };
    let first_change = calls.iter().position(|c| c.mutating()).expect("the failback changed something");
    for region in ["us-west-2", "us-east-1"] {
        let before = calls[..first_change].iter().filter(of_orders_db).filter(|c| c.region == region).count();
        assert_eq!(before, 1, "orders-db in {region} read once before the first change");
    }
    let after = calls[first_change..].iter().filter(of_orders_db).filter(|c| c.region == "us-east-1").count();
    assert!(after >= 2, "after the first change primary's instance is read from AWS: {after} reads");
}

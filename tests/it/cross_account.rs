//! Recovery in another account: each failback shares its recovery snapshot with the primary
//! account (EC2 create-volume permission, RDS and Aurora restore attribute), in the recovery
//! region, before copying it into primary. moto stores the share but cannot let the other
//! account see the snapshot, so the copy fails there; the calls are proved from moto's request
//! record, and primary is left untouched.

use super::support::{block_on, moto, pilotlight, recorded, run, sdk, state_dir};
use pilotlight::sandbox::moto_api;
use pilotlight::sandbox::seed::{Part, seed_parts_in};

const PRIMARY_ACCOUNT: &str = "123456789012";

#[test]
fn a_cross_account_failback_shares_each_recovery_snapshot_with_primary_before_copying() {
    let server = moto();
    let url = server.endpoint_url();
    block_on(seed_parts_in(&url, &[Part::Ec2, Part::Rds, Part::Aurora], Some("222222222222"))).unwrap();
    let primary_dbs = || {
        let rds = aws_sdk_rds::Client::new(&sdk(&url, "us-east-1"));
        let out = block_on(rds.describe_db_instances().send()).unwrap();
        let mut ids: Vec<String> =
            out.db_instances().iter().map(|d| d.db_instance_identifier().unwrap().to_string()).collect();
        ids.sort();
        ids
    };
    let before = primary_dbs();
    moto_api::start_recording(server.port).unwrap();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/cross-account-failback.yaml", "--headless", "--auto-approve"])
        .args(["--endpoint-url", &url]);
    let out = run(cmd);
    moto_api::stop_recording(server.port).unwrap();
    assert_ne!(out.status.code(), Some(0), "moto cannot complete a cross-account copy");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("recovery (us-west-2) is account 222222222222"), "recovery is the other account");

    let calls = recorded(server.port);
    let position = |op: &str| calls.iter().position(|c| c.operation == op);
    for (share, field, copy) in [
        ("ModifySnapshotAttribute", "UserId.1", "CopySnapshot"),
        ("ModifyDBSnapshotAttribute", "ValuesToAdd.AttributeValue.1", "CopyDBSnapshot"),
        ("ModifyDBClusterSnapshotAttribute", "ValuesToAdd.AttributeValue.1", "CopyDBClusterSnapshot"),
    ] {
        let at = position(share).unwrap_or_else(|| panic!("no {share} in the record"));
        let call = &calls[at];
        assert_eq!(call.region, "us-west-2", "{share} goes to the recovery region");
        assert!(
            call.body.contains(&format!("{field}={PRIMARY_ACCOUNT}")),
            "{share} names the primary account: {}",
            call.body
        );
        let copied = position(copy).unwrap_or_else(|| panic!("no {copy} in the record"));
        assert!(copied > at, "{copy} only after {share}");
        assert_eq!(calls[copied].region, "us-east-1", "{copy} is made in primary");
    }
    // Nothing disruptive happened in primary: the copies failed before any stop or rename.
    for op in ["StopInstances", "DetachVolume", "ModifyDBInstance", "DeleteDBInstance", "ModifyDBCluster"] {
        assert!(position(op).is_none(), "{op} must not be sent when the recovery point never reached primary");
    }
    assert_eq!(primary_dbs(), before);
}

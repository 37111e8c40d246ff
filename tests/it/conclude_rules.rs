//! `recovery.conclude` under AWS's rules ([`super::realism::rules`]): the final snapshot leaves the
//! recovery instance `backing-up` for a while, when RDS refuses to stop it. Conclude must wait for
//! a state it can stop from, not skip the stop and then wait (up to 24 hours) for a stop nobody
//! sent.

use super::realism::RealismProxy;
use super::support::{block_on, moto, pilotlight, postgres, run, sdk, state_dir};
use aws_sdk_rds::Client;

const RUNBOOK: &str = r#"
version: 1
name: conclude-rules
title: Conclude one database
environments:
  primary: { region: us-east-1, account_id: "123456789012" }
  recovery: { region: us-west-2, account_id: "123456789012" }
resources:
  orders_db: { type: rds_instance, primary: orders-db, recovery: orders-db }
steps:
  - id: conclude
    title: Return recovery to pilot light
    action: recovery.conclude
    with: { resources: [orders_db] }
    timeout: 20s
"#;

/// The rule itself: bare moto stops an instance that is backing up; RDS (the rules) refuses.
#[test]
fn aws_rules_an_instance_backing_up_reports_it_and_cannot_be_stopped() {
    let moto = moto();
    let url = moto.endpoint_url();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let ruled = Client::new(&sdk(&proxy.endpoint_url(), "us-west-2"));
    for id in ["ruled", "bare"] {
        block_on(postgres(&ruled, id).send()).unwrap();
        block_on(
            ruled.create_db_snapshot().db_instance_identifier(id).db_snapshot_identifier(format!("{id}-s")).send(),
        )
        .unwrap();
    }
    let out = block_on(ruled.describe_db_instances().db_instance_identifier("ruled").send()).unwrap();
    assert_eq!(out.db_instances()[0].db_instance_status(), Some("backing-up"));
    let stop = block_on(ruled.stop_db_instance().db_instance_identifier("ruled").send());
    let code = stop.map(|_| ()).map_err(|e| aws_sdk_rds::error::ProvideErrorMetadata::code(&e).map(str::to_string));
    assert_eq!(code.unwrap_err().as_deref(), Some("InvalidDBInstanceState"));
    let bare = Client::new(&sdk(&url, "us-west-2"));
    block_on(bare.stop_db_instance().db_instance_identifier("bare").send()).expect("moto stops it");
}

/// An RDS identifier is unique within its region only: recovery's `orders-db` taking a snapshot
/// keeps recovery's instance busy, never primary's of the same name (the layer once keyed the
/// busy instance by identifier alone, and primary's answered `backing-up` meanwhile).
#[test]
fn aws_rules_a_snapshot_keeps_busy_only_the_instance_of_its_region() {
    let moto = moto();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let (primary, recovery) =
        (Client::new(&sdk(&proxy.endpoint_url(), "us-east-1")), Client::new(&sdk(&proxy.endpoint_url(), "us-west-2")));
    for rds in [&primary, &recovery] {
        block_on(postgres(rds, "orders-db").send()).unwrap();
    }
    let snapshot = recovery.create_db_snapshot().db_instance_identifier("orders-db").db_snapshot_identifier("point");
    block_on(snapshot.send()).unwrap();
    let status = |rds: &Client| {
        let out = block_on(rds.describe_db_instances().db_instance_identifier("orders-db").send()).unwrap();
        out.db_instances()[0].db_instance_status().map(str::to_string)
    };
    assert_eq!(status(&primary).as_deref(), Some("available"), "primary's instance took no snapshot");
    assert_eq!(status(&recovery).as_deref(), Some("backing-up"), "recovery's is busy with it");
}

/// Defect 8 of the AWS-rules issue: conclude waits for the instance to leave `backing-up`, then
/// stops it (before the fix: no stop was sent, and `wait-stopped` ran to the step's timeout).
#[test]
fn conclude_waits_for_a_busy_instance_then_stops_it() {
    let moto = moto();
    let url = moto.endpoint_url();
    let rds = Client::new(&sdk(&url, "us-west-2"));
    block_on(postgres(&rds, "orders-db").send()).unwrap();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let state = state_dir();
    let path = state.path().join("conclude.yaml");
    std::fs::write(&path, RUNBOOK).unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", path.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let now = block_on(rds.describe_db_instances().db_instance_identifier("orders-db").send()).unwrap();
    assert_eq!(now.db_instances()[0].db_instance_status(), Some("stopped"));
}

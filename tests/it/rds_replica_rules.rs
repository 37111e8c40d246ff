//! RDS read replicas under the AWS-rules layer ([`pilotlight::sandbox::realism`]), the ground a
//! failback through a replica stands on (`docs/design/replica-failback.md`): a source without
//! automated backups makes no replica, only a replica is promoted, and a promoted one is a
//! replica no more in describes, under its name or a later one. Bare moto differs in each (shown
//! first). Checked with describe calls to moto itself and through the layer.

use super::realism::RealismProxy;
use super::support::{block_on, moto, postgres, rds_code, sdk};
use aws_sdk_rds::Client;

fn arn(id: &str) -> String {
    format!("arn:aws:rds:us-west-2:123456789012:db:{id}")
}

fn replica(rds: &Client, id: &str, source: &str) -> String {
    let req =
        rds.create_db_instance_read_replica().db_instance_identifier(id).source_db_instance_identifier(arn(source));
    rds_code(block_on(req.send()))
}

/// `id`'s source, as a describe of it says.
fn source_of(rds: &Client, id: &str) -> Option<String> {
    let out = block_on(rds.describe_db_instances().db_instance_identifier(id).send()).expect("DescribeDBInstances");
    out.db_instances()[0].read_replica_source_db_instance_identifier().map(str::to_string)
}

/// What `id` lists as its replicas.
fn replicas_of(rds: &Client, id: &str) -> Vec<String> {
    let out = block_on(rds.describe_db_instances().db_instance_identifier(id).send()).expect("DescribeDBInstances");
    out.db_instances()[0].read_replica_db_instance_identifiers().to_vec()
}

/// Catches a layer that lets a source without backups make a replica, promotes what is no
/// replica (or answers an unknown one with a server error), or leaves a promoted replica looking
/// like a replica (a wait for the promotion would never end), renamed or not.
#[test]
fn aws_rules_replicas_need_backups_only_replicas_are_promoted_and_a_promoted_one_is_no_replica() {
    let moto = moto();
    let url = moto.endpoint_url();
    let west = Client::new(&sdk(&url, "us-west-2"));
    block_on(postgres(&west, "no-backups").backup_retention_period(0).send()).expect("CreateDBInstance");
    block_on(postgres(&west, "orders-db").backup_retention_period(7).send()).expect("CreateDBInstance");
    let bare_east = Client::new(&sdk(&url, "us-east-1"));
    block_on(postgres(&bare_east, "plain").send()).expect("CreateDBInstance");
    // What moto does on its own: a replica of a source without backups, and any instance promoted.
    assert_eq!(replica(&bare_east, "bare-replica", "no-backups"), "accepted");
    assert_eq!(rds_code(block_on(bare_east.promote_read_replica().db_instance_identifier("plain").send())), "accepted");

    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let east = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    let ruled_west = Client::new(&sdk(&proxy.endpoint_url(), "us-west-2"));
    assert_eq!(replica(&east, "no-replica", "no-backups"), "InvalidDBInstanceState");
    assert_eq!(replica(&east, "orders-db-replica", "orders-db"), "accepted");
    let promote = |id: &str| rds_code(block_on(east.promote_read_replica().db_instance_identifier(id).send()));
    assert_eq!(promote("nothing-here"), "DBInstanceNotFound");
    assert_eq!(promote("plain"), "InvalidDBInstanceState", "not a replica");
    assert!(source_of(&east, "orders-db-replica").is_some(), "a replica until promoted");

    assert_eq!(promote("orders-db-replica"), "accepted");
    assert_eq!(source_of(&east, "orders-db-replica"), None, "promoted: no source");
    assert!(replicas_of(&ruled_west, "orders-db").is_empty(), "the source no longer lists it");
    assert!(source_of(&bare_east, "orders-db-replica").is_some(), "moto itself still calls it a replica");
    assert_eq!(promote("orders-db-replica"), "InvalidDBInstanceState", "promoted once");

    // A replica in its source's own region is listed by name, not by ARN.
    block_on(postgres(&bare_east, "local-source").backup_retention_period(7).send()).expect("CreateDBInstance");
    let local = east
        .create_db_instance_read_replica()
        .db_instance_identifier("local-replica")
        .source_db_instance_identifier("local-source");
    assert_eq!(rds_code(block_on(local.send())), "accepted");
    assert_eq!(replicas_of(&east, "local-source").len(), 1, "listed while a replica");
    assert_eq!(promote("local-replica"), "accepted");
    assert!(replicas_of(&east, "local-source").is_empty(), "promoted: no longer listed by its source");

    let rename = east
        .modify_db_instance()
        .db_instance_identifier("orders-db-replica")
        .new_db_instance_identifier("orders-db-promoted")
        .apply_immediately(true);
    assert_eq!(rds_code(block_on(rename.send())), "accepted");
    assert_eq!(source_of(&east, "orders-db-promoted"), None, "renamed, still no replica");
    assert!(replicas_of(&ruled_west, "orders-db").is_empty());
}

//! Aurora Global Database under the AWS-rules layer, the ground a failback through a switchover
//! stands on (`docs/design/replica-failback.md`, section 1f): moto cannot make a global database
//! from a us-west-2 cluster nor switch one over (shown first); the layer answers both as RDS
//! does, with RDS's refusals, and describes of the clusters name their global database only
//! while they are members. Checked through the SDK, with describes of moto itself where the
//! layer must not have touched moto's state.

use super::realism::{Pace, RealismProxy};
use super::support::{block_on, moto, rds_code, sdk};
use aws_sdk_rds::Client;

const WEST_ARN: &str = "arn:aws:rds:us-west-2:123456789012:cluster:inventory";
const EAST_ARN: &str = "arn:aws:rds:us-east-1:123456789012:cluster:inventory-secondary";

fn cluster(rds: &Client, id: &str) {
    let req = rds
        .create_db_cluster()
        .db_cluster_identifier(id)
        .engine("aurora-postgresql")
        .engine_version("15.4")
        .master_username("pilot")
        .master_user_password("light-password-1")
        .backup_retention_period(7);
    block_on(req.send()).expect("CreateDBCluster");
}

fn secondary(rds: &Client, id: &str, global: &str, engine: &str) -> String {
    let req = rds
        .create_db_cluster()
        .db_cluster_identifier(id)
        .engine(engine)
        .engine_version("15.4")
        .global_cluster_identifier(global);
    rds_code(block_on(req.send()))
}

/// The secondary's one instance (a switchover needs one to take over as the writer).
fn staging_instance(
    rds: &Client,
) -> aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder {
    rds.create_db_instance()
        .db_instance_identifier("inventory-secondary-1")
        .db_cluster_identifier("inventory-secondary")
        .engine("aurora-postgresql")
        .db_instance_class("db.r6g.large")
}

fn global_of(rds: &Client, id: &str) -> Option<String> {
    let out = block_on(rds.describe_db_clusters().db_cluster_identifier(id).send()).expect("DescribeDBClusters");
    out.db_clusters()[0].global_cluster_identifier().map(str::to_string)
}

/// (member ARN, is writer) of global database `id`, and whether a switchover is pending.
fn members(rds: &Client, id: &str) -> (Vec<(String, bool)>, bool) {
    let out = block_on(rds.describe_global_clusters().global_cluster_identifier(id).send()).expect("DescribeGlobal");
    let g = &out.global_clusters()[0];
    let members = g
        .global_cluster_members()
        .iter()
        .map(|m| (m.db_cluster_arn().unwrap_or_default().to_string(), m.is_writer() == Some(true)))
        .collect();
    (members, g.failover_state().is_some())
}

/// Catches a layer that cannot make a global database from recovery's region, lets a secondary
/// be made that RDS refuses, switches over to a cluster that cannot take over (no instance,
/// still creating), lets a member be deleted or renamed, removes the writer before its
/// secondaries, deletes a global database with members, or leaves a removed cluster naming its
/// former global database.
#[test]
fn aws_rules_a_global_database_from_us_west_2_switches_over_and_comes_apart_as_rds_allows() {
    let moto = moto();
    let url = moto.endpoint_url();
    let bare_west = Client::new(&sdk(&url, "us-west-2"));
    let bare_east = Client::new(&sdk(&url, "us-east-1"));
    cluster(&bare_west, "inventory");
    // Moto on its own: no global database from a us-west-2 cluster, and no switchover at all.
    let bare = bare_east.create_global_cluster().global_cluster_identifier("g").source_db_cluster_identifier(WEST_ARN);
    assert_eq!(rds_code(block_on(bare.send())), "DBClusterNotFoundFault");
    let bare_switch =
        bare_east.switchover_global_cluster().global_cluster_identifier("g").target_db_cluster_identifier(EAST_ARN);
    assert_ne!(rds_code(block_on(bare_switch.send())), "accepted");

    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let west = Client::new(&sdk(&proxy.endpoint_url(), "us-west-2"));
    let east = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    let create = |source: &str| {
        let req = east.create_global_cluster().global_cluster_identifier("inventory-global");
        rds_code(block_on(req.source_db_cluster_identifier(source).send()))
    };
    assert_eq!(create("inventory"), "InvalidParameterValue", "an ARN, not a name");
    assert_eq!(create("arn:aws:rds:us-west-2:123456789012:cluster:nothing"), "DBClusterNotFoundFault");
    assert_eq!(create(WEST_ARN), "accepted");
    assert_eq!(create(WEST_ARN), "GlobalClusterAlreadyExistsFault");
    assert_eq!(global_of(&west, "inventory").as_deref(), Some("inventory-global"));

    // The secondary: no master user of its own, the global database's engine, one per region.
    assert_eq!(secondary(&east, "inventory-secondary", "nothing", "aurora-postgresql"), "GlobalClusterNotFoundFault");
    assert_eq!(
        secondary(&east, "inventory-secondary", "inventory-global", "aurora-mysql"),
        "InvalidParameterCombination"
    );
    let with_user = east
        .create_db_cluster()
        .db_cluster_identifier("inventory-secondary")
        .engine("aurora-postgresql")
        .global_cluster_identifier("inventory-global")
        .master_username("pilot")
        .master_user_password("light-password-1");
    assert_eq!(rds_code(block_on(with_user.send())), "InvalidParameterCombination");
    let other_version = east
        .create_db_cluster()
        .db_cluster_identifier("inventory-secondary")
        .engine("aurora-postgresql")
        .engine_version("16.1")
        .global_cluster_identifier("inventory-global");
    assert_eq!(rds_code(block_on(other_version.send())), "InvalidParameterCombination", "another version");
    assert_eq!(secondary(&east, "inventory-secondary", "inventory-global", "aurora-postgresql"), "accepted");
    assert_eq!(
        secondary(&east, "inventory-second-try", "inventory-global", "aurora-postgresql"),
        "InvalidParameterCombination"
    );
    assert_eq!(members(&east, "inventory-global").0, vec![(WEST_ARN.to_string(), true), (EAST_ARN.to_string(), false)]);

    let switch = || {
        let req = east.switchover_global_cluster().global_cluster_identifier("inventory-global");
        rds_code(block_on(req.target_db_cluster_identifier(EAST_ARN).send()))
    };
    assert_eq!(switch(), "InvalidDBClusterStateFault", "no DB instance to take over");
    block_on(staging_instance(&east).send()).expect("CreateDBInstance");

    // Members are neither deleted nor renamed, the writer not removed before its secondaries.
    let delete = west.delete_db_cluster().db_cluster_identifier("inventory").skip_final_snapshot(true);
    assert_eq!(rds_code(block_on(delete.send())), "InvalidGlobalClusterStateFault");
    let rename = east
        .modify_db_cluster()
        .db_cluster_identifier("inventory-secondary")
        .new_db_cluster_identifier("inventory")
        .apply_immediately(true);
    assert_eq!(rds_code(block_on(rename.clone().send())), "InvalidGlobalClusterStateFault");
    let remove = |arn: &str| {
        let req = east.remove_from_global_cluster().global_cluster_identifier("inventory-global");
        rds_code(block_on(req.db_cluster_identifier(arn).send()))
    };
    assert_eq!(remove(WEST_ARN), "InvalidGlobalClusterStateFault", "the writer goes last");

    assert_eq!(switch(), "accepted");
    assert_eq!(switch(), "InvalidParameterValue", "already the writer");
    assert_eq!(members(&east, "inventory-global").0, vec![(WEST_ARN.to_string(), false), (EAST_ARN.to_string(), true)]);
    let drop = east.delete_global_cluster().global_cluster_identifier("inventory-global");
    assert_eq!(rds_code(block_on(drop.send())), "InvalidGlobalClusterStateFault", "not empty");
    assert_eq!(remove(EAST_ARN), "InvalidGlobalClusterStateFault", "the new writer goes last");
    assert_eq!(remove(WEST_ARN), "accepted");
    assert_eq!(global_of(&west, "inventory"), None, "stands alone");
    assert_eq!(global_of(&east, "inventory-secondary").as_deref(), Some("inventory-global"));
    assert!(global_of(&bare_east, "inventory-secondary").is_some(), "moto itself still names it");
    assert_eq!(remove(EAST_ARN), "accepted");
    assert_eq!(global_of(&east, "inventory-secondary"), None, "stands alone");
    let drop = east.delete_global_cluster().global_cluster_identifier("inventory-global");
    assert_eq!(rds_code(block_on(drop.send())), "accepted");
    let gone = east.describe_global_clusters().global_cluster_identifier("inventory-global");
    assert_eq!(rds_code(block_on(gone.send())), "GlobalClusterNotFoundFault");
    assert_eq!(rds_code(block_on(rename.clone().new_db_cluster_identifier("inventory-home").send())), "accepted");
}

/// Catches a layer that makes a secondary available before its initial copy or switches over
/// at once: in AWS's time a secondary is `creating` (and refused as a target), and a switchover
/// is pending (the old writer still the writer) for the model's time.
#[test]
fn a_secondary_is_creating_for_its_copy_and_a_switchover_takes_the_models_time() {
    let moto = moto();
    // At 600× AWS's time: the secondary's copy of an empty cluster (10 modelled minutes) is 1 s,
    // the switchover (5) half a second.
    let proxy = RealismProxy::timed(moto.port, Pace::Factor(600.0), Vec::new());
    let west = Client::new(&sdk(&proxy.endpoint_url(), "us-west-2"));
    let east = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    cluster(&west, "inventory");
    let req = east.create_global_cluster().global_cluster_identifier("g").source_db_cluster_identifier(WEST_ARN);
    block_on(req.send()).expect("CreateGlobalCluster");
    assert_eq!(secondary(&east, "inventory-secondary", "g", "aurora-postgresql"), "accepted");
    let status = || {
        let out = block_on(east.describe_db_clusters().db_cluster_identifier("inventory-secondary").send()).unwrap();
        out.db_clusters()[0].status().unwrap_or_default().to_string()
    };
    assert_eq!(status(), "creating");
    let switch = || {
        let req = east.switchover_global_cluster().global_cluster_identifier("g");
        rds_code(block_on(req.target_db_cluster_identifier(EAST_ARN).send()))
    };
    assert_eq!(switch(), "InvalidDBClusterStateFault", "still copying");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while status() != "available" {
        assert!(std::time::Instant::now() < deadline, "the secondary never became available");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    block_on(staging_instance(&east).send()).expect("CreateDBInstance, once the cluster is available");
    assert_eq!(switch(), "accepted");
    let (now, pending) = members(&east, "g");
    assert!(pending, "a switchover under way reports its FailoverState");
    assert_eq!(now[0], (WEST_ARN.to_string(), true), "the old writer until it is done");
    while members(&east, "g").1 {
        assert!(std::time::Instant::now() < deadline, "the switchover never ended");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(members(&east, "g").0[1], (EAST_ARN.to_string(), true));
}

/// Catches a layer that lets an encrypted global database take a secondary without a key of the
/// secondary's region (KMS keys are regional).
#[test]
fn aws_rules_an_encrypted_global_databases_secondary_needs_a_key_of_its_region() {
    let moto = moto();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let west = Client::new(&sdk(&proxy.endpoint_url(), "us-west-2"));
    let east = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    let req = west
        .create_db_cluster()
        .db_cluster_identifier("inventory")
        .engine("aurora-postgresql")
        .engine_version("15.4")
        .master_username("pilot")
        .master_user_password("light-password-1")
        .storage_encrypted(true);
    block_on(req.send()).expect("CreateDBCluster");
    let req = east.create_global_cluster().global_cluster_identifier("g").source_db_cluster_identifier(WEST_ARN);
    block_on(req.send()).expect("CreateGlobalCluster");
    assert_eq!(secondary(&east, "inventory-secondary", "g", "aurora-postgresql"), "InvalidParameterCombination");
    let keyed = east
        .create_db_cluster()
        .db_cluster_identifier("inventory-secondary")
        .engine("aurora-postgresql")
        .engine_version("15.4")
        .global_cluster_identifier("g")
        .storage_encrypted(true)
        .kms_key_id("arn:aws:kms:us-east-1:123456789012:key/east-key");
    assert_eq!(rds_code(block_on(keyed.send())), "accepted");
}

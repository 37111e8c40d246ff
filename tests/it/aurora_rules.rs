//! `aurora.failback` under AWS's rules ([`super::aws_rules`]): the restore runs after the original
//! cluster was renamed away, so a restore (or a member) AWS refuses leaves the identifier empty.

use super::fault_proxy::FaultProxy;
use super::support::{block_on, moto, pilotlight, run, sdk, state_dir};
use aws_sdk_rds::Client;
use aws_sdk_rds::types::ServerlessV2ScalingConfiguration;

/// Cluster `inventory` (aurora-postgresql at `version`) with one member `inventory-1`: Serverless
/// v2 (0.5–8 ACUs, `db.serverless`) or provisioned (`db.r6g.large`).
fn cluster(url: &str, region: &str, version: &str, serverless: bool) {
    let rds = Client::new(&sdk(url, region));
    let scaling =
        serverless.then(|| ServerlessV2ScalingConfiguration::builder().min_capacity(0.5).max_capacity(8.0).build());
    block_on(
        rds.create_db_cluster()
            .db_cluster_identifier("inventory")
            .engine("aurora-postgresql")
            .engine_version(version)
            .master_username("pilot")
            .master_user_password("light-password-1")
            // Primary keeps backups 7 days, recovery 3: the restore takes 3, the reapply sets 7.
            .backup_retention_period(if region == "us-east-1" { 7 } else { 3 })
            .set_serverless_v2_scaling_configuration(scaling)
            .send(),
    )
    .expect("CreateDBCluster");
    block_on(
        rds.create_db_instance()
            .db_instance_identifier("inventory-1")
            .db_cluster_identifier("inventory")
            .engine("aurora-postgresql")
            .db_instance_class(if serverless { "db.serverless" } else { "db.r6g.large" })
            .send(),
    )
    .expect("CreateDBInstance");
}

/// Fails back `inventory` through the rules layer; the output.
fn failback(proxy: &FaultProxy) -> std::process::Output {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/aurora-failback.yaml", "--headless", "--auto-approve"])
        .args(["--endpoint-url", &proxy.endpoint_url()]);
    run(cmd)
}

/// The restored `inventory` in primary, read through `client`.
fn restored(client: &Client) -> aws_sdk_rds::types::DbCluster {
    let out = block_on(client.describe_db_clusters().db_cluster_identifier("inventory").send()).unwrap();
    out.db_clusters()[0].clone()
}

/// The rules themselves: bare moto restores a cluster below its snapshot's version and gives a
/// restored cluster the snapshot's Serverless v2 capacity; under the rules, as on AWS, neither.
#[test]
fn aws_rules_a_cluster_restore_neither_downgrades_nor_keeps_serverless_capacity() {
    let moto = moto();
    let url = moto.endpoint_url();
    cluster(&url, "us-east-1", "15.4", true);
    let bare = Client::new(&sdk(&url, "us-east-1"));
    block_on(
        bare.create_db_cluster_snapshot()
            .db_cluster_identifier("inventory")
            .db_cluster_snapshot_identifier("snap")
            .send(),
    )
    .unwrap();
    let proxy = FaultProxy::with_aws_rules(moto.port, Vec::new());
    let ruled = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    let restore = |c: &Client, id: &str, version: Option<&str>| {
        block_on(
            c.restore_db_cluster_from_snapshot()
                .db_cluster_identifier(id)
                .snapshot_identifier("snap")
                .engine("aurora-postgresql")
                .set_engine_version(version.map(str::to_string))
                .send(),
        )
        .map(|_| ())
        .map_err(|e| aws_sdk_rds::error::ProvideErrorMetadata::code(&e).map(str::to_string))
    };
    restore(&bare, "bare", Some("14.9")).expect("moto restores below the snapshot's version");
    assert_eq!(restore(&ruled, "down", Some("14.9")).unwrap_err().as_deref(), Some("InvalidParameterCombination"));
    restore(&ruled, "same", None).expect("the snapshot's own version");
    let has = |c: &Client, id: &str| {
        let out = block_on(c.describe_db_clusters().db_cluster_identifier(id).send()).unwrap();
        out.db_clusters()[0].serverless_v2_scaling_configuration().is_some()
    };
    assert!(has(&bare, "same"), "moto copies the snapshot's capacity");
    assert!(!has(&ruled, "same"), "AWS restores none");
    let member = block_on(
        ruled
            .create_db_instance()
            .db_instance_identifier("same-1")
            .db_cluster_identifier("same")
            .engine("aurora-postgresql")
            .db_instance_class("db.serverless")
            .send(),
    );
    assert!(member.is_err(), "a db.serverless member of a cluster with no capacity is refused");
}

/// Defect 2 of the AWS-rules issue: recovery was upgraded during the incident (16.1, primary runs
/// 15.4). The restore must not ask for primary's lower version.
#[test]
fn aurora_failback_restores_at_the_snapshots_newer_engine_version() {
    let moto = moto();
    let url = moto.endpoint_url();
    cluster(&url, "us-east-1", "15.4", false);
    cluster(&url, "us-west-2", "16.1", false);
    let proxy = FaultProxy::with_aws_rules(moto.port, Vec::new());
    let out = failback(&proxy);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("is restored at engine version 16.1 (the snapshot's; primary ran 15.4)")
    );
    let now = restored(&Client::new(&sdk(&url, "us-east-1")));
    assert_eq!(now.engine_version(), Some("16.1"));
    assert_eq!(now.backup_retention_period(), Some(7));
    // Defect 7: the wait after the re-applied configuration lasts until it took effect.
    assert_eq!(super::aws_rules::modification_describes_left(moto.port, "inventory"), 0, "the wait ended too soon");
    assert_eq!(failback(&proxy).status.code(), Some(0), "and the real failback after the test one");
}

/// Defect 2 of the AWS-rules issue: a Serverless v2 cluster is restored with its capacity, so its
/// `db.serverless` member can be created again.
#[test]
fn aurora_failback_restores_a_serverless_v2_cluster_with_its_capacity() {
    let moto = moto();
    let url = moto.endpoint_url();
    cluster(&url, "us-east-1", "15.4", true);
    cluster(&url, "us-west-2", "15.4", true);
    let proxy = FaultProxy::with_aws_rules(moto.port, Vec::new());
    let out = failback(&proxy);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let now = restored(&Client::new(&sdk(&proxy.endpoint_url(), "us-east-1")));
    let scaling = now.serverless_v2_scaling_configuration().expect("capacity, as AWS reports it after the restore");
    assert_eq!((scaling.min_capacity(), scaling.max_capacity()), (Some(0.5), Some(8.0)));
    let members: Vec<&str> = now.db_cluster_members().iter().filter_map(|m| m.db_instance_identifier()).collect();
    assert_eq!(members, ["inventory-1"]);
    assert_eq!(failback(&proxy).status.code(), Some(0), "and the real failback after the test one");
}

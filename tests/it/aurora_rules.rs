//! `aurora.failback` under AWS's rules ([`super::realism::rules`]): the restore runs after the original
//! cluster was renamed away, so a restore (or a member) AWS refuses leaves the identifier empty.

use super::realism::RealismProxy;
use super::support::{block_on, moto, pilotlight, run, sdk, state_dir};
use aws_sdk_rds::Client;
use aws_sdk_rds::types::ServerlessV2ScalingConfiguration;

/// Cluster `inventory` (aurora-postgresql at `version`) with one member `inventory-1`: Serverless
/// v2 (0.5–8 ACUs, `db.serverless`) or provisioned (`db.r6g.large`).
pub fn cluster(url: &str, region: &str, version: &str, serverless: bool) {
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
fn failback(proxy: &RealismProxy) -> std::process::Output {
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

/// A snapshot `snap` of primary's `inventory` (made through bare moto), and the rules layer in
/// front of moto: bare moto's client, the layer, and a client through it.
fn snapshotted(url: &str, port: u16) -> (Client, RealismProxy, Client) {
    let bare = Client::new(&sdk(url, "us-east-1"));
    block_on(
        bare.create_db_cluster_snapshot()
            .db_cluster_identifier("inventory")
            .db_cluster_snapshot_identifier("snap")
            .send(),
    )
    .unwrap();
    let proxy = RealismProxy::with_aws_rules(port, Vec::new());
    let ruled = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    (bare, proxy, ruled)
}

/// The rules themselves: bare moto restores a cluster below its snapshot's version and gives a
/// restored cluster the snapshot's Serverless v2 capacity; under the rules, as on AWS, neither.
#[test]
fn aws_rules_a_cluster_restore_neither_downgrades_nor_keeps_serverless_capacity() {
    let moto = moto();
    let url = moto.endpoint_url();
    cluster(&url, "us-east-1", "15.4", true);
    let (bare, _proxy, ruled) = snapshotted(&url, moto.port);
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

/// The rule of a change under way across a rename (and of deletion protection, set at once): a
/// cluster modified with ApplyImmediately and then renamed away keeps its change under way under
/// its new name, and the cluster restored under the old name next is `available` at once. Before the fix the restored cluster reported
/// the renamed one's modification (pending, then `modifying`), and every failback's wait for the
/// restore polled three times for a change that was not its.
#[test]
fn aws_rules_a_change_under_way_goes_with_the_renamed_cluster_not_to_the_next_of_its_name() {
    let moto = moto();
    let url = moto.endpoint_url();
    cluster(&url, "us-east-1", "15.4", false);
    let (_, _proxy, ruled) = snapshotted(&url, moto.port);
    let modify = ruled.modify_db_cluster().db_cluster_identifier("inventory").apply_immediately(true);
    // Deletion protection alone is set at once; a backup retention period is a change under way.
    block_on(modify.clone().deletion_protection(false).send()).expect("ModifyDBCluster");
    assert_eq!(super::realism::rules::modification_describes_left(moto.port, "us-east-1", "inventory"), 0);
    block_on(modify.clone().backup_retention_period(9).send()).expect("ModifyDBCluster");
    block_on(modify.new_db_cluster_identifier("inventory-kept").send()).expect("rename");
    let left = |id: &str| super::realism::rules::modification_describes_left(moto.port, "us-east-1", id);
    assert_eq!(left("inventory-kept"), 4, "the change under way went with the rename");
    let restored = block_on(
        ruled
            .restore_db_cluster_from_snapshot()
            .db_cluster_identifier("inventory")
            .snapshot_identifier("snap")
            .engine("aurora-postgresql")
            .send(),
    )
    // Moto, not AWS: a restore in the minute of the cluster's creation answers this, yet restores.
    .map_or_else(
        |e| aws_sdk_rds::error::ProvideErrorMetadata::code(&e).map(str::to_string),
        |_| Some("DBClusterSnapshotAlreadyExistsFault".to_string()),
    );
    assert_eq!(restored.as_deref(), Some("DBClusterSnapshotAlreadyExistsFault"), "RestoreDBClusterFromSnapshot");
    let status = |id: &str| {
        let out = block_on(ruled.describe_db_clusters().db_cluster_identifier(id).send()).unwrap();
        let c = out.db_clusters()[0].clone();
        (c.status().map(str::to_string), c.pending_modified_values().is_some())
    };
    // Moto's restored cluster is `creating` for its first describe; none shows a change under way.
    let seen: Vec<_> = (0..3).map(|_| status("inventory")).collect();
    assert!(
        seen.iter().all(|(s, pending)| s.as_deref() != Some("modifying") && !pending),
        "the restored cluster has no change under way: {seen:?}"
    );
    assert_eq!(seen[2], (Some("available".into()), false));
    assert_eq!(left("inventory"), 0);
    assert!(status("inventory-kept").1, "the renamed one still has its change pending");
}

/// Defect 2 of the AWS-rules issue: recovery was upgraded during the incident (16.1, primary runs
/// 15.4). The restore must not ask for primary's lower version.
#[test]
fn aurora_failback_restores_at_the_snapshots_newer_engine_version() {
    let moto = moto();
    let url = moto.endpoint_url();
    cluster(&url, "us-east-1", "15.4", false);
    cluster(&url, "us-west-2", "16.1", false);
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
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
    assert_eq!(
        super::realism::rules::modification_describes_left(moto.port, "us-east-1", "inventory"),
        0,
        "the wait ended too soon"
    );
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
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let out = failback(&proxy);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let now = restored(&Client::new(&sdk(&proxy.endpoint_url(), "us-east-1")));
    let scaling = now.serverless_v2_scaling_configuration().expect("capacity, as AWS reports it after the restore");
    assert_eq!((scaling.min_capacity(), scaling.max_capacity()), (Some(0.5), Some(8.0)));
    let members: Vec<&str> = now.db_cluster_members().iter().filter_map(|m| m.db_instance_identifier()).collect();
    assert_eq!(members, ["inventory-1"]);
    assert_eq!(failback(&proxy).status.code(), Some(0), "and the real failback after the test one");
}

/// Defect 3 of the AWS-rules issue, for Aurora: the cluster's and its member's whole Describe,
/// before and after, field by field. Primary's cluster has IAM authentication, log exports and an
/// associated role; its member a zone, public access, Enhanced Monitoring, a CA certificate and
/// auto minor version upgrade off. Before the fix the restored cluster and its new member took
/// none of them (recovery's settings or the defaults), and the step said nothing of it.
#[test]
fn aurora_failback_leaves_the_whole_describe_of_cluster_and_members_as_it_was() {
    use pilotlight::actions::failback::rds::aurora::cluster_config::RULES as CLUSTER;
    use pilotlight::actions::failback::rds::instance_config::RULES as INSTANCE;
    use pilotlight::actions::failback::whole_diff::{UNKNOWN, differences};
    use pilotlight::aws::answer_tree::tree;
    let moto = moto();
    let url = moto.endpoint_url();
    let primary = Client::new(&sdk(&url, "us-east-1"));
    block_on(
        primary
            .create_db_cluster()
            .db_cluster_identifier("inventory")
            .engine("aurora-postgresql")
            .master_username("pilot")
            .master_user_password("light-password-1")
            .enable_iam_database_authentication(true)
            .enable_cloudwatch_logs_exports("postgresql")
            .send(),
    )
    .expect("CreateDBCluster");
    let role = "arn:aws:iam::123456789012:role/aurora-s3-import";
    let add = primary.add_role_to_db_cluster().db_cluster_identifier("inventory").role_arn(role);
    block_on(add.feature_name("s3Import").send()).expect("AddRoleToDBCluster");
    let monitoring = "arn:aws:iam::123456789012:role/rds-monitoring";
    block_on(
        primary
            .create_db_instance()
            .db_instance_identifier("inventory-1")
            .db_cluster_identifier("inventory")
            .engine("aurora-postgresql")
            .db_instance_class("db.r6g.large")
            .availability_zone("us-east-1b")
            .publicly_accessible(true)
            .monitoring_interval(15)
            .monitoring_role_arn(monitoring)
            .ca_certificate_identifier("rds-ca-ecc384-g1")
            .auto_minor_version_upgrade(false)
            .send(),
    )
    .expect("CreateDBInstance");
    cluster(&url, "us-west-2", "16.1", false);
    // Read as AWS answers: through the rules layer (moto gives each cluster new endpoints).
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let ruled = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    let member = || {
        let out = block_on(ruled.describe_db_instances().db_instance_identifier("inventory-1").send()).unwrap();
        out.db_instances()[0].clone()
    };
    let (cluster_before, member_before) = (restored(&ruled), member());

    let out = failback(&proxy);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let (cluster_after, member_after) = (restored(&ruled), member());
    let mut differ = differences(&tree(&cluster_before), &tree(&cluster_after), &CLUSTER);
    differ.extend(differences(&tree(&member_before), &tree(&member_after), &INSTANCE));
    let unexplained: Vec<&String> = differ.iter().filter(|d| d.contains(UNKNOWN)).collect();
    assert!(unexplained.is_empty(), "differs with no reason: {unexplained:#?}\nall: {differ:#?}");
    assert_eq!(cluster_after.iam_database_authentication_enabled(), Some(true));
    assert_eq!(cluster_after.enabled_cloudwatch_logs_exports(), ["postgresql"]);
    assert_eq!(cluster_after.associated_roles().len(), 1);
    assert_eq!(member_after.availability_zone(), Some("us-east-1b"));
    assert_eq!(member_after.publicly_accessible(), Some(true));
    assert_eq!((member_after.monitoring_interval(), member_after.monitoring_role_arn()), (Some(15), Some(monitoring)));
    assert_eq!(member_after.ca_certificate_identifier(), Some("rds-ca-ecc384-g1"));
    assert_eq!(member_after.auto_minor_version_upgrade(), Some(false));
}

/// Issue 14, a way back for Aurora: the cluster restore fails after the original's instances were
/// deleted and the cluster renamed away (RDS has no capacity for it, a refusal moto never gives).
/// The original cluster takes its identifier back, deletion protection on as it was, with its
/// instance created in it again; the step fails saying so. A resume without the fault fails back.
#[test]
fn aurora_failback_puts_the_original_cluster_back_when_the_restore_fails() {
    use super::realism::{Fault, FaultRule};
    let moto = moto();
    let url = moto.endpoint_url();
    cluster(&url, "us-east-1", "16.1", false);
    cluster(&url, "us-west-2", "16.1", false);
    let primary = Client::new(&sdk(&url, "us-east-1"));
    let protect = primary.modify_db_cluster().db_cluster_identifier("inventory").deletion_protection(true);
    block_on(protect.apply_immediately(true).send()).expect("ModifyDBCluster");
    let clusters = || {
        let out = block_on(primary.describe_db_clusters().send()).unwrap();
        let mut all: Vec<(String, String, bool, Vec<String>)> = out
            .db_clusters()
            .iter()
            .map(|c| {
                let members =
                    c.db_cluster_members().iter().filter_map(|m| m.db_instance_identifier()).map(String::from);
                (
                    c.db_cluster_identifier().unwrap_or_default().to_string(),
                    c.cluster_create_time().map(|t| t.to_string()).unwrap_or_default(),
                    c.deletion_protection().unwrap_or(false),
                    members.collect(),
                )
            })
            .collect();
        all.sort();
        all
    };
    let before = clusters();
    assert_eq!(before.len(), 1);
    assert!(before[0].2 && before[0].3 == ["inventory-1"], "{before:?}");

    let no_capacity = Fault::Refuse {
        code: "InsufficientDBClusterCapacityFault",
        message: "Cannot satisfy the cluster's capacity in us-east-1.",
    };
    let refused = FaultRule { needle: "Action=RestoreDBClusterFromSnapshot", times: usize::MAX, fault: no_capacity };
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![refused]);
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/aurora-failback.yaml", "--headless", "--auto-approve"])
        .args(["--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("the original is back under inventory"), "{stdout}");
    assert_eq!(clusters(), before, "the original cluster under its identifier, protected, with its instance");

    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let (id, _) = super::support::only_run(state.path());
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let after = clusters();
    let kept = after.iter().find(|c| c.0.contains("-pre-failback-")).expect("the original kept");
    assert_eq!(kept.1, before[0].1, "the kept one is the original");
    let restored = after.iter().find(|c| c.0 == "inventory").expect("restored");
    assert_eq!(restored.3, ["inventory-1"], "the restored cluster has its instance");
}

/// Issue 14, a kill during the Aurora way back: the cluster restore is refused, and the run is
/// killed after each journal entry of the rollback in turn (one per class a resume cannot tell
/// apart), then resumed with the refusal still there. Every time the original cluster ends under
/// its identifier, protected, with its instance, and nothing else is left in primary.
#[test]
fn a_kill_during_the_aurora_rollback_resumes_to_primary_as_it_was() {
    use super::realism::{Fault, FaultRule};
    use pilotlight::journal::{CRASH_AFTER_ENV, Event};
    let moto = moto();
    let url = moto.endpoint_url();
    let world = || {
        pilotlight::sandbox::moto_api::reset(moto.port).unwrap();
        super::realism::rules::forget(moto.port);
        cluster(&url, "us-east-1", "16.1", false);
        cluster(&url, "us-west-2", "16.1", false);
        let primary = Client::new(&sdk(&url, "us-east-1"));
        let protect = primary.modify_db_cluster().db_cluster_identifier("inventory").deletion_protection(true);
        block_on(protect.apply_immediately(true).send()).expect("ModifyDBCluster");
    };
    let shape = || {
        let primary = Client::new(&sdk(&url, "us-east-1"));
        let out = block_on(primary.describe_db_clusters().send()).unwrap();
        let mut all: Vec<(String, bool, Vec<String>)> = out
            .db_clusters()
            .iter()
            .map(|c| {
                let members =
                    c.db_cluster_members().iter().filter_map(|m| m.db_instance_identifier()).map(String::from);
                (
                    c.db_cluster_identifier().unwrap_or_default().to_string(),
                    c.deletion_protection() == Some(true),
                    members.collect(),
                )
            })
            .collect();
        all.sort();
        all
    };
    let refused = || FaultRule {
        needle: "Action=RestoreDBClusterFromSnapshot",
        times: usize::MAX,
        fault: Fault::Refuse { code: "InsufficientDBClusterCapacityFault", message: "No capacity." },
    };
    let start = |state: &std::path::Path, proxy: &RealismProxy, kill: Option<u64>| {
        let mut cmd = pilotlight(state);
        cmd.args(["run", "tests/fixtures/aurora-failback.yaml", "--headless", "--auto-approve"])
            .args(["--endpoint-url", &proxy.endpoint_url()]);
        if let Some(n) = kill {
            cmd.env(CRASH_AFTER_ENV, n.to_string());
        }
        run(cmd)
    };
    world();
    let before = shape();
    assert_eq!(before, [("inventory".to_string(), true, vec!["inventory-1".to_string()])]);
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![refused()]);
    let state = state_dir();
    assert_ne!(start(state.path(), &proxy, None).status.code(), Some(0));
    assert_eq!(shape(), before, "the uninterrupted rollback");
    let (_, dir) = super::support::only_run(state.path());
    let entries = super::support::journal(&dir);
    let first = entries
        .iter()
        .find(|e| matches!(&e.event, Event::SubStep { name, .. } if name.to_string().contains("rollback-")))
        .expect("a rollback")
        .seq;
    let points: Vec<u64> = super::support::kill_classes(&entries).into_iter().filter(|p| *p >= first).collect();
    assert!(points.len() >= 4, "kill points in the rollback: {points:?}");
    for point in points {
        world();
        let proxy = RealismProxy::with_aws_rules(moto.port, vec![refused()]);
        let state = state_dir();
        let killed = start(state.path(), &proxy, Some(point));
        let out = super::support::resumed_after_kill(killed, state.path(), point, &proxy.endpoint_url());
        assert_ne!(out.status.code(), Some(0), "the restore still fails");
        let now = shape();
        assert_eq!(now, before, "killed after entry {point}:\n{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// Catches a layer that lets a `db.serverless` member into a cluster created without a Serverless
/// v2 capacity, or forgets that a renamed cluster still has none (a switchover failback creates a
/// secondary and renames it in): bare moto accepts both.
#[test]
fn aws_rules_a_cluster_created_without_capacity_takes_no_serverless_member_renamed_or_not() {
    let moto = moto();
    let bare = Client::new(&sdk(&moto.endpoint_url(), "us-east-1"));
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let ruled = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    let create = |rds: &Client, id: &str, scaling: bool| {
        let scaling =
            scaling.then(|| ServerlessV2ScalingConfiguration::builder().min_capacity(0.5).max_capacity(8.0).build());
        let req = rds
            .create_db_cluster()
            .db_cluster_identifier(id)
            .engine("aurora-postgresql")
            .master_username("pilot")
            .master_user_password("light-password-1")
            .set_serverless_v2_scaling_configuration(scaling);
        block_on(req.send()).expect("CreateDBCluster");
    };
    let member = |rds: &Client, id: &str, cluster: &str| {
        let req = rds
            .create_db_instance()
            .db_instance_identifier(id)
            .db_cluster_identifier(cluster)
            .engine("aurora-postgresql")
            .db_instance_class("db.serverless");
        block_on(req.send()).map(|_| ()).map_err(|e| e.to_string())
    };
    create(&bare, "bare", false);
    member(&bare, "bare-1", "bare").expect("moto takes a db.serverless member without a capacity");
    create(&ruled, "none", false);
    assert!(member(&ruled, "none-1", "none").is_err(), "no capacity: refused");
    create(&ruled, "some", true);
    member(&ruled, "some-1", "some").expect("with a capacity");
    let rename = ruled
        .modify_db_cluster()
        .db_cluster_identifier("none")
        .new_db_cluster_identifier("renamed")
        .apply_immediately(true);
    block_on(rename.send()).expect("rename");
    assert!(member(&ruled, "renamed-1", "renamed").is_err(), "renamed, still no capacity: refused");
}

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

/// Catches a layer that lets an encrypted source's cross-region replica go without a key of its
/// region, or gives a PostgreSQL replica across regions a parameter group RDS does not take; the
/// same replica with a key, and a MySQL one with a group, are made.
#[test]
fn aws_rules_a_cross_region_replica_needs_a_key_when_encrypted_and_takes_a_group_only_for_mysql() {
    let moto = moto();
    let url = moto.endpoint_url();
    let west = Client::new(&sdk(&url, "us-west-2"));
    let sealed = postgres(&west, "sealed").backup_retention_period(7).storage_encrypted(true);
    block_on(sealed.send()).expect("CreateDBInstance");
    block_on(postgres(&west, "pg").backup_retention_period(7).send()).expect("CreateDBInstance");
    let my = postgres(&west, "my").engine("mysql").backup_retention_period(7);
    block_on(my.send()).expect("CreateDBInstance");
    let with_group = |rds: &Client, id: &str, source: &str| {
        let req = rds
            .create_db_instance_read_replica()
            .db_instance_identifier(id)
            .source_db_instance_identifier(arn(source))
            .db_parameter_group_name("custom-group");
        rds_code(block_on(req.send()))
    };
    // What moto does on its own: both made.
    let bare_east = Client::new(&sdk(&url, "us-east-1"));
    let group = bare_east
        .create_db_parameter_group()
        .db_parameter_group_name("custom-group")
        .db_parameter_group_family("postgres16")
        .description("the replicas' group");
    block_on(group.send()).expect("CreateDBParameterGroup");
    assert_eq!(replica(&bare_east, "bare-sealed", "sealed"), "accepted");
    assert_eq!(with_group(&bare_east, "bare-pg", "pg"), "accepted");

    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let east = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    assert_eq!(replica(&east, "sealed-replica", "sealed"), "InvalidParameterCombination");
    let keyed = east
        .create_db_instance_read_replica()
        .db_instance_identifier("sealed-replica")
        .source_db_instance_identifier(arn("sealed"))
        .kms_key_id("arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555");
    assert_eq!(rds_code(block_on(keyed.send())), "accepted");
    assert_eq!(with_group(&east, "pg-replica", "pg"), "InvalidParameterCombination");
    assert_eq!(replica(&east, "pg-replica", "pg"), "accepted", "without the group");
    assert_eq!(with_group(&east, "my-replica", "my"), "accepted", "MySQL takes one");
}

/// `metric` of instance `id` in `region` through the layer: (period starts, values), oldest first.
fn metric(url: &str, region: &str, (metric, id): (&str, &str)) -> Result<(Vec<f64>, Vec<f64>), String> {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
    let cw = aws_sdk_cloudwatch::Client::new(&sdk(url, region));
    let dimension = Dimension::builder().name("DBInstanceIdentifier").value(id).build();
    let m = Metric::builder().namespace("AWS/RDS").metric_name(metric).dimensions(dimension).build();
    let stat = MetricStat::builder().metric(m).period(60).stat("Maximum").build();
    let query = MetricDataQuery::builder().id("m").metric_stat(stat).build();
    let now = std::time::SystemTime::now();
    let req = cw
        .get_metric_data()
        .metric_data_queries(query)
        .start_time((now - std::time::Duration::from_secs(600)).into())
        .end_time((now + std::time::Duration::from_secs(60)).into())
        .scan_by(ScanBy::TimestampAscending);
    let out = block_on(req.send()).map_err(|e| format!("{e:?}"))?;
    let r = &out.metric_data_results()[0];
    Ok((r.timestamps().iter().map(|t| t.as_secs_f64()).collect(), r.values().to_vec()))
}

/// Catches a layer whose CloudWatch answers are broken while other work is under way (an answer
/// rewritten as text), that publishes a replica's lag while it is still `creating`, or whose
/// replica never catches up: at pace 600 a 20 GiB replica is `creating` for 1.4 s, then its lag
/// (and its source's slot lag) falls to 0 within a second.
#[test]
fn aws_rules_cloudwatch_reports_a_replicas_lag_only_once_made_and_falling_to_zero() {
    use pilotlight::sandbox::realism::model::Pace;
    let moto = moto();
    let proxy = RealismProxy::timed(moto.port, Pace::Factor(600.0), Vec::new());
    let url = proxy.endpoint_url();
    let west = Client::new(&sdk(&moto.endpoint_url(), "us-west-2"));
    block_on(postgres(&west, "orders-db").backup_retention_period(7).send()).expect("CreateDBInstance");
    let east = Client::new(&sdk(&url, "us-east-1"));
    assert_eq!(replica(&east, "orders-db-replica", "orders-db"), "accepted");
    let lag = ("ReplicaLag", "orders-db-replica");
    let (times, _) = metric(&url, "us-east-1", lag).expect("an answer while the replica is creating");
    assert!(times.is_empty(), "nothing published while creating: {times:?}");
    assert_eq!(metric(&url, "us-east-1", ("CPUUtilization", "orders-db-replica")), Ok((vec![], vec![])));
    std::thread::sleep(std::time::Duration::from_millis(2600));
    let (times, values) = metric(&url, "us-east-1", lag).expect("an answer");
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert!(values.first().is_some_and(|v| *v > 0.0), "behind once made: {values:?}");
    assert_eq!(values.last(), Some(&0.0), "caught up: {values:?}");
    let (_, slot) = metric(&url, "us-west-2", ("OldestReplicationSlotLag", "orders-db")).expect("an answer");
    assert!(slot.first().is_some_and(|v| *v > 0.0) && slot.last() == Some(&0.0), "{slot:?}");
    let promote = east.promote_read_replica().db_instance_identifier("orders-db-replica");
    assert_eq!(rds_code(block_on(promote.send())), "accepted");
    std::thread::sleep(std::time::Duration::from_millis(600));
    let (after, _) = metric(&url, "us-east-1", lag).expect("an answer");
    assert!(after.is_empty(), "a promoted instance is no replica: {after:?}");
}

/// `id`'s parameter groups' apply status, as a describe of it says.
fn apply_status(rds: &Client, id: &str) -> Vec<String> {
    let out = block_on(rds.describe_db_instances().db_instance_identifier(id).send()).expect("DescribeDBInstances");
    out.db_instances()[0]
        .db_parameter_groups()
        .iter()
        .map(|g| g.parameter_apply_status().unwrap_or_default().to_string())
        .collect()
}

/// Catches a layer (and so a failback) that takes a parameter group set by ModifyDBInstance as in
/// use at once: RDS uses it only once the instance is rebooted, and says `pending-reboot` until
/// then, under a new name too.
#[test]
fn aws_rules_a_parameter_group_set_again_waits_for_a_reboot() {
    let moto = moto();
    let url = moto.endpoint_url();
    let bare = Client::new(&sdk(&url, "us-east-1"));
    let group = bare
        .create_db_parameter_group()
        .db_parameter_group_name("primary-group")
        .db_parameter_group_family("postgres16")
        .description("primary's settings");
    block_on(group.send()).expect("CreateDBParameterGroup");
    block_on(postgres(&bare, "bare-db").send()).expect("CreateDBInstance");
    let set = |rds: &Client, id: &str| {
        let req = rds.modify_db_instance().db_instance_identifier(id).db_parameter_group_name("primary-group");
        block_on(req.apply_immediately(true).send()).expect("ModifyDBInstance");
    };
    // What moto does on its own: in use at once.
    set(&bare, "bare-db");
    assert_eq!(apply_status(&bare, "bare-db"), ["in-sync"]);

    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let east = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    block_on(postgres(&east, "orders-db").send()).expect("CreateDBInstance");
    assert_eq!(apply_status(&east, "orders-db"), ["in-sync"]);
    set(&east, "orders-db");
    assert_eq!(apply_status(&east, "orders-db"), ["pending-reboot"]);
    let rename =
        east.modify_db_instance().db_instance_identifier("orders-db").new_db_instance_identifier("orders-db-2");
    block_on(rename.apply_immediately(true).send()).expect("ModifyDBInstance");
    assert_eq!(apply_status(&east, "orders-db-2"), ["pending-reboot"], "renamed, still waiting");
    block_on(east.reboot_db_instance().db_instance_identifier("orders-db-2").send()).expect("RebootDBInstance");
    assert_eq!(apply_status(&east, "orders-db-2"), ["in-sync"]);
}

/// Catches a layer that lets an instance be rebooted while it is still being made (moto reboots
/// anything at once): RDS reboots an `available` instance only (InvalidDBInstanceState).
#[test]
fn aws_rules_an_instance_is_rebooted_only_once_available() {
    use pilotlight::sandbox::realism::model::Pace;
    let moto = moto();
    let bare = Client::new(&sdk(&moto.endpoint_url(), "us-east-1"));
    block_on(postgres(&bare, "bare-db").send()).expect("CreateDBInstance");
    let reboot =
        |rds: &Client, id: &str| rds_code(block_on(rds.reboot_db_instance().db_instance_identifier(id).send()));
    assert_eq!(reboot(&bare, "bare-db"), "accepted");

    let proxy = RealismProxy::timed(moto.port, Pace::Factor(6000.0), Vec::new());
    let east = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    block_on(postgres(&east, "orders-db").send()).expect("CreateDBInstance");
    assert_eq!(reboot(&east, "orders-db"), "InvalidDBInstanceState", "still creating");
    // rds.CreateDBInstance's 8 modelled minutes at pace 6000: 80 ms.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(reboot(&east, "orders-db"), "accepted");
}

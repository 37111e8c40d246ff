//! `pilotlight sandbox seed`: builds the demo disaster-recovery world in a moto server.
//!
//! The world is a PRIMARY environment in us-east-1 and a RECOVERY environment in us-west-2,
//! frozen in the state "after a failover": the app runs in recovery, DNS points at recovery,
//! and recovery holds data written after the failover. That is the starting point the bundled
//! failback runbooks expect, so a responder can rehearse bringing everything home.
//!
//! Seeding is idempotent: every resource is described before it is created, and whatever an
//! earlier run left behind is reported as existing instead of being created (or rewritten) again.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::error::DisplayErrorContext;

/// Where the demo world lives; the bundled runbooks' defaults name these.
pub const PRIMARY_REGION: &str = "us-east-1";
pub const RECOVERY_REGION: &str = "us-west-2";
pub const INSTANCE_NAME: &str = "app-server"; // EC2 Name tag, both sides
pub const RDS_INSTANCE: &str = "orders-db"; // RDS instance id, both sides
pub const AURORA_CLUSTER: &str = "inventory"; // Aurora cluster id, both sides (+ one instance "inventory-1")
pub const DYNAMODB_TABLE: &str = "sessions"; // table, both sides
pub const HOSTED_ZONE: &str = "example.internal."; // Route 53 zone (global)
pub const RECORD_NAME: &str = "app.example.internal."; // A record
pub const PRIMARY_IP: &str = "10.0.1.10";
pub const RECOVERY_IP: &str = "10.1.1.10";

/// The single DB instance inside the Aurora cluster.
const AURORA_INSTANCE: &str = "inventory-1";
/// Demo credentials; moto never checks them, but RDS requires them on create.
const MASTER_USERNAME: &str = "pilot";
const MASTER_PASSWORD: &str = "pilotlight-sandbox-1";
/// Instance states that count as "the app server exists"; terminated ones are history.
const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];
/// Item payloads; the recovery-only items are the newer data failback must bring home.
const DATA_BEFORE_FAILOVER: &str = "written before the failover";
const DATA_AFTER_FAILOVER: &str = "written in recovery after the failover";

/// What a seed run did, as human-readable items
/// (e.g. "us-east-1 ec2 instance app-server (i-123)").
#[derive(Debug, Default, Clone)]
pub struct SeedReport {
    pub created: Vec<String>,
    pub existing: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{service} {operation} on {target} ({region}): {message}")]
    Aws { service: &'static str, operation: &'static str, target: String, region: String, message: String },
}

/// Which half of the DR pair a region plays; it decides tags, deletion protection and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Primary,
    Recovery,
}

impl Side {
    fn region(self) -> &'static str {
        match self {
            Side::Primary => PRIMARY_REGION,
            Side::Recovery => RECOVERY_REGION,
        }
    }

    /// Value of the `env` tag.
    fn env(self) -> &'static str {
        match self {
            Side::Primary => "primary",
            Side::Recovery => "recovery",
        }
    }

    /// Only the primary databases are protected, so runbooks meet both cases.
    fn deletion_protection(self) -> bool {
        self == Side::Primary
    }
}

/// Seeds the moto server at `endpoint_url` (e.g. "http://127.0.0.1:5123").
pub async fn seed(endpoint_url: &str) -> Result<SeedReport, SeedError> {
    let mut report = SeedReport::default();
    let primary = sdk_config(endpoint_url, PRIMARY_REGION).await;
    let recovery = sdk_config(endpoint_url, RECOVERY_REGION).await;

    for (side, config) in [(Side::Primary, &primary), (Side::Recovery, &recovery)] {
        tracing::debug!(region = side.region(), "seeding sandbox region");
        ensure_instance(&aws_sdk_ec2::Client::new(config), side, &mut report).await?;
        let rds = aws_sdk_rds::Client::new(config);
        ensure_rds(&rds, side, &mut report).await?;
        ensure_aurora(&rds, side, &mut report).await?;
        ensure_table(&aws_sdk_dynamodb::Client::new(config), side, &mut report).await?;
    }
    // Route 53 is global; moto serves it from any region, us-east-1 is the conventional one.
    ensure_dns(&aws_sdk_route53::Client::new(&primary), &mut report).await?;
    Ok(report)
}

/// One SdkConfig per region, all pointed at the same moto server with its dummy credentials,
/// so nothing ever reaches (or needs credentials for) real AWS.
async fn sdk_config(endpoint_url: &str, region: &'static str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .endpoint_url(endpoint_url)
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "pilotlight-sandbox",
        ))
        .load()
        .await
}

/// Error context for one service in one region, so call sites only name the operation and target.
#[derive(Debug, Clone, Copy)]
struct Scope {
    service: &'static str,
    region: &'static str,
}

impl Scope {
    fn error(self, operation: &'static str, target: &str, message: impl Into<String>) -> SeedError {
        SeedError::Aws {
            service: self.service,
            operation,
            target: target.to_owned(),
            region: self.region.to_owned(),
            message: message.into(),
        }
    }

    /// A `map_err` adapter for SDK and builder errors, keeping the whole source chain as text.
    fn fail<E: std::error::Error>(self, operation: &'static str, target: &str) -> impl FnOnce(E) -> SeedError + use<E> {
        let target = target.to_owned();
        move |err| self.error(operation, &target, DisplayErrorContext(&err).to_string())
    }
}

impl SeedReport {
    fn found(&mut self, item: String) {
        self.existing.push(item);
    }

    fn made(&mut self, item: String) {
        self.created.push(item);
    }
}

/// Ensures the tagged app server exists (launched running) with a data volume at /dev/sdf.
async fn ensure_instance(ec2: &aws_sdk_ec2::Client, side: Side, report: &mut SeedReport) -> Result<(), SeedError> {
    use aws_sdk_ec2::types::{
        BlockDeviceMapping, EbsBlockDevice, Filter, InstanceType, ResourceType, Tag, TagSpecification, VolumeType,
    };
    let region = side.region();
    let scope = Scope { service: "ec2", region };
    let mut live = Filter::builder().name("instance-state-name");
    for state in LIVE_STATES {
        live = live.values(state);
    }
    let by_name = Filter::builder().name("tag:Name").values(INSTANCE_NAME).build();
    let found = ec2.describe_instances().filters(by_name).filters(live.build()).send().await;
    let found = found.map_err(scope.fail("DescribeInstances", INSTANCE_NAME))?;
    let mut instances = found.reservations().iter().flat_map(|r| r.instances());
    if let Some(id) = instances.find_map(|i| i.instance_id()) {
        report.found(format!("{region} ec2 instance {INSTANCE_NAME} ({id})"));
        return Ok(());
    }

    // moto ships default AMIs in every region; any of them will do for a demo server.
    let images = ec2.describe_images().send().await;
    let images = images.map_err(scope.fail("DescribeImages", INSTANCE_NAME))?;
    let image = images.images().iter().find_map(|image| {
        let root = image.root_device_name().unwrap_or("/dev/sda1");
        image.image_id().map(|id| (id, root))
    });
    let Some((image_id, root_device)) = image else {
        return Err(scope.error("DescribeImages", INSTANCE_NAME, "no AMI available"));
    };

    // moto only creates a root volume when no mappings are given, so the root is listed explicitly.
    let ebs = |device: &str, size_gib: i32| {
        let volume = EbsBlockDevice::builder().volume_size(size_gib).volume_type(VolumeType::Gp3);
        let volume = volume.delete_on_termination(true).build();
        BlockDeviceMapping::builder().device_name(device).ebs(volume).build()
    };
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(tag("Name", INSTANCE_NAME))
        .tags(tag("env", side.env()))
        .build();
    let launched = ec2
        .run_instances()
        .image_id(image_id)
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .block_device_mappings(ebs(root_device, 8))
        .block_device_mappings(ebs("/dev/sdf", 20))
        .tag_specifications(tags)
        .send()
        .await
        .map_err(scope.fail("RunInstances", INSTANCE_NAME))?;
    let id = launched.instances().first().and_then(|i| i.instance_id());
    let id = id.unwrap_or("id not reported");
    report.made(format!("{region} ec2 instance {INSTANCE_NAME} ({id})"));
    Ok(())
}

/// Looks a DB instance up by id: `Some(status)` when it exists, `None` when RDS says it does not.
async fn db_instance_status(rds: &aws_sdk_rds::Client, id: &str, scope: Scope) -> Result<Option<String>, SeedError> {
    match rds.describe_db_instances().db_instance_identifier(id).send().await {
        Ok(out) => {
            let status = out.db_instances().first().map(|db| db.db_instance_status().unwrap_or("unknown"));
            Ok(status.map(str::to_owned))
        }
        Err(err) if err.as_service_error().is_some_and(|e| e.is_db_instance_not_found_fault()) => Ok(None),
        Err(err) => Err(scope.fail("DescribeDBInstances", id)(err)),
    }
}

fn rds_env_tag(side: Side) -> aws_sdk_rds::types::Tag {
    aws_sdk_rds::types::Tag::builder().key("env").value(side.env()).build()
}

/// Ensures the standalone Postgres instance `orders-db`.
async fn ensure_rds(rds: &aws_sdk_rds::Client, side: Side, report: &mut SeedReport) -> Result<(), SeedError> {
    let region = side.region();
    let scope = Scope { service: "rds", region };
    if let Some(status) = db_instance_status(rds, RDS_INSTANCE, scope).await? {
        report.found(format!("{region} rds instance {RDS_INSTANCE} ({status})"));
        return Ok(());
    }
    rds.create_db_instance()
        .db_instance_identifier(RDS_INSTANCE)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username(MASTER_USERNAME)
        .master_user_password(MASTER_PASSWORD)
        .deletion_protection(side.deletion_protection())
        .tags(rds_env_tag(side))
        .send()
        .await
        .map_err(scope.fail("CreateDBInstance", RDS_INSTANCE))?;
    report.made(format!("{region} rds instance {RDS_INSTANCE}"));
    Ok(())
}

/// Ensures the Aurora cluster `inventory` and its one instance; each is checked on its own so a
/// run interrupted between the two completes the pair next time.
async fn ensure_aurora(rds: &aws_sdk_rds::Client, side: Side, report: &mut SeedReport) -> Result<(), SeedError> {
    let region = side.region();
    let scope = Scope { service: "rds", region };
    let cluster = match rds.describe_db_clusters().db_cluster_identifier(AURORA_CLUSTER).send().await {
        Ok(out) => out.db_clusters().first().map(|c| c.status().unwrap_or("unknown").to_owned()),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_db_cluster_not_found_fault()) => None,
        Err(err) => return Err(scope.fail("DescribeDBClusters", AURORA_CLUSTER)(err)),
    };
    if let Some(status) = cluster {
        report.found(format!("{region} aurora cluster {AURORA_CLUSTER} ({status})"));
    } else {
        rds.create_db_cluster()
            .db_cluster_identifier(AURORA_CLUSTER)
            .engine("aurora-postgresql")
            .master_username(MASTER_USERNAME)
            .master_user_password(MASTER_PASSWORD)
            .deletion_protection(side.deletion_protection())
            .tags(rds_env_tag(side))
            .send()
            .await
            .map_err(scope.fail("CreateDBCluster", AURORA_CLUSTER))?;
        report.made(format!("{region} aurora cluster {AURORA_CLUSTER}"));
    }

    if let Some(status) = db_instance_status(rds, AURORA_INSTANCE, scope).await? {
        report.found(format!("{region} aurora instance {AURORA_INSTANCE} ({status})"));
        return Ok(());
    }
    rds.create_db_instance()
        .db_instance_identifier(AURORA_INSTANCE)
        .db_cluster_identifier(AURORA_CLUSTER)
        .engine("aurora-postgresql")
        .db_instance_class("db.r6g.large")
        .tags(rds_env_tag(side))
        .send()
        .await
        .map_err(scope.fail("CreateDBInstance", AURORA_INSTANCE))?;
    report.made(format!("{region} aurora instance {AURORA_INSTANCE} (cluster {AURORA_CLUSTER})"));
    Ok(())
}

/// Ensures the `sessions` table. Items are written only when the table is new: an existing table
/// may hold the results of a rehearsal, which a re-seed must not overwrite.
async fn ensure_table(ddb: &aws_sdk_dynamodb::Client, side: Side, report: &mut SeedReport) -> Result<(), SeedError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        StreamSpecification, StreamViewType, Tag,
    };
    let region = side.region();
    let scope = Scope { service: "dynamodb", region };
    match ddb.describe_table().table_name(DYNAMODB_TABLE).send().await {
        Ok(out) => {
            let items = out.table().and_then(|t| t.item_count()).unwrap_or(0);
            report.found(format!("{region} dynamodb table {DYNAMODB_TABLE} ({items} items)"));
            return Ok(());
        }
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(err) => return Err(scope.fail("DescribeTable", DYNAMODB_TABLE)(err)),
    }

    let invalid = || scope.fail("CreateTable", DYNAMODB_TABLE);
    let key = AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S);
    let key_schema = KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash);
    let stream = StreamSpecification::builder().stream_enabled(true).stream_view_type(StreamViewType::NewAndOldImages);
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build().map_err(invalid());
    ddb.create_table()
        .table_name(DYNAMODB_TABLE)
        .attribute_definitions(key.build().map_err(invalid())?)
        .key_schema(key_schema.build().map_err(invalid())?)
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(stream.build().map_err(invalid())?)
        .tags(tag("app", "demo")?)
        .tags(tag("env", side.env())?)
        .send()
        .await
        .map_err(scope.fail("CreateTable", DYNAMODB_TABLE))?;

    // Both sides hold the pre-failover sessions; only recovery has the ones written since.
    let mut items: Vec<(String, &str)> = (1..=3).map(|n| (format!("session-{n}"), DATA_BEFORE_FAILOVER)).collect();
    if side == Side::Recovery {
        items.extend((4..=5).map(|n| (format!("session-{n}"), DATA_AFTER_FAILOVER)));
    }
    for (pk, data) in &items {
        ddb.put_item()
            .table_name(DYNAMODB_TABLE)
            .item("pk", AttributeValue::S(pk.clone()))
            .item("data", AttributeValue::S((*data).to_owned()))
            .send()
            .await
            .map_err(scope.fail("PutItem", &format!("{DYNAMODB_TABLE}/{pk}")))?;
    }
    report.made(format!("{region} dynamodb table {DYNAMODB_TABLE} ({} items)", items.len()));
    Ok(())
}

/// DNS names compare case-insensitively and with or without the trailing root dot.
fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.').eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// Ensures the hosted zone and the app A record. The record starts out pointing at recovery
/// (the failover already happened); an existing record is left alone because an earlier
/// rehearsal may have flipped it back to primary.
async fn ensure_dns(r53: &aws_sdk_route53::Client, report: &mut SeedReport) -> Result<(), SeedError> {
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
    let scope = Scope { service: "route53", region: PRIMARY_REGION };
    let zones = r53.list_hosted_zones_by_name().dns_name(HOSTED_ZONE).send().await;
    let zones = zones.map_err(scope.fail("ListHostedZonesByName", HOSTED_ZONE))?;
    let zone_id = if let Some(zone) = zones.hosted_zones().iter().find(|z| same_name(z.name(), HOSTED_ZONE)) {
        report.found(format!("global route53 hosted zone {HOSTED_ZONE} ({})", zone.id()));
        zone.id().to_owned()
    } else {
        let created = r53.create_hosted_zone().name(HOSTED_ZONE).caller_reference("pilotlight-sandbox");
        let created = created.send().await.map_err(scope.fail("CreateHostedZone", HOSTED_ZONE))?;
        let Some(zone) = created.hosted_zone() else {
            return Err(scope.error("CreateHostedZone", HOSTED_ZONE, "response carries no hosted zone"));
        };
        report.made(format!("global route53 hosted zone {HOSTED_ZONE} ({})", zone.id()));
        zone.id().to_owned()
    };

    // Listing starts at our name and type, so an existing record heads the page.
    let records = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .start_record_name(RECORD_NAME)
        .start_record_type(RrType::A)
        .send()
        .await
        .map_err(scope.fail("ListResourceRecordSets", RECORD_NAME))?;
    let mut sets = records.resource_record_sets().iter();
    if let Some(set) = sets.find(|r| same_name(r.name(), RECORD_NAME) && *r.r#type() == RrType::A) {
        let values: Vec<&str> = set.resource_records().iter().map(|v| v.value()).collect();
        report.found(format!("global route53 A record {RECORD_NAME} -> {}", values.join(", ")));
        return Ok(());
    }

    let invalid = || scope.fail("ChangeResourceRecordSets", RECORD_NAME);
    let value = ResourceRecord::builder().value(RECOVERY_IP).build().map_err(invalid())?;
    let set = ResourceRecordSet::builder().name(RECORD_NAME).r#type(RrType::A).ttl(60);
    let set = set.resource_records(value).build().map_err(invalid())?;
    let change = Change::builder().action(ChangeAction::Upsert).resource_record_set(set);
    let batch = ChangeBatch::builder()
        .comment("pilotlight sandbox: app served from recovery after the failover")
        .changes(change.build().map_err(invalid())?)
        .build()
        .map_err(invalid())?;
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(batch)
        .send()
        .await
        .map_err(scope.fail("ChangeResourceRecordSets", RECORD_NAME))?;
    report.made(format!("global route53 A record {RECORD_NAME} -> {RECOVERY_IP} (recovery)"));
    Ok(())
}

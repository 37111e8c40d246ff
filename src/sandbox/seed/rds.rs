//! The RDS side of the demo world: the standalone Postgres instance `orders-db` and the Aurora
//! cluster `inventory` with two members.

use aws_sdk_rds::Client;

use super::{
    AURORA_CLUSTER, AURORA_READER, AURORA_READER_TIER, AURORA_WRITER, RDS_INSTANCE, Scope, SeedError, SeedReport, Side,
    Variant,
};
use aws_sdk_rds::types::ServerlessV2ScalingConfiguration;

/// Demo credentials; moto never checks them, but RDS requires them on create.
const MASTER_USERNAME: &str = "pilot";
const MASTER_PASSWORD: &str = "pilotlight-sandbox-1";

/// Looks a DB instance up by id: `Some(status)` when it exists, `None` when RDS says it does not.
async fn db_instance_status(rds: &Client, id: &str, scope: Scope) -> Result<Option<String>, SeedError> {
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
/// `scale` multiplies its storage (a drill's bigger world).
pub(super) async fn ensure_rds(
    rds: &Client,
    side: Side,
    variant: Variant,
    scale: i32,
    report: &mut SeedReport,
) -> Result<(), SeedError> {
    let region = side.region();
    let scope = Scope { service: "rds", region };
    if let Some(status) = db_instance_status(rds, RDS_INSTANCE, scope).await? {
        report.found(format!("{region} rds instance {RDS_INSTANCE} ({status})"));
        return Ok(());
    }
    // Hard: gp3 under 400 GiB (RDS reports its baseline IOPS), and recovery grew meanwhile.
    let (storage, gib) = match (variant, side) {
        (Variant::Demo, _) => (None, 20),
        (Variant::Hard, Side::Primary) => (Some("gp3"), 100),
        (Variant::Hard, Side::Recovery) => (Some("gp3"), 150),
    };
    rds.create_db_instance()
        .db_instance_identifier(RDS_INSTANCE)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage((gib * scale).min(65_536))
        .set_storage_type(storage.map(str::to_string))
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

/// Ensures the Aurora cluster `inventory` and its two instances; each is checked on its own so a
/// run interrupted part way completes the set next time.
pub(super) async fn ensure_aurora(
    rds: &Client,
    side: Side,
    variant: Variant,
    report: &mut SeedReport,
) -> Result<(), SeedError> {
    // Hard: Serverless v2, and recovery was upgraded during the incident.
    let hard = variant == Variant::Hard;
    let version = match (hard, side) {
        (false, _) => None,
        (true, Side::Primary) => Some("15.4"),
        (true, Side::Recovery) => Some("16.1"),
    };
    let scaling = hard.then(|| ServerlessV2ScalingConfiguration::builder().min_capacity(0.5).max_capacity(8.0).build());
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
            .set_engine_version(version.map(str::to_string))
            .set_serverless_v2_scaling_configuration(scaling)
            .master_username(MASTER_USERNAME)
            .master_user_password(MASTER_PASSWORD)
            .deletion_protection(side.deletion_protection())
            .tags(rds_env_tag(side))
            .send()
            .await
            .map_err(scope.fail("CreateDBCluster", AURORA_CLUSTER))?;
        report.made(format!("{region} aurora cluster {AURORA_CLUSTER}"));
    }

    // The writer comes first (the first member becomes the writer) and keeps the default
    // promotion tier; the second member's explicit tier is what a restore must not lose.
    let class = if hard { "db.serverless" } else { "db.r6g.large" };
    ensure_aurora_instance(rds, side, AURORA_WRITER, class, None, report).await?;
    ensure_aurora_instance(rds, side, AURORA_READER, class, Some(AURORA_READER_TIER), report).await
}

/// Ensures one member of the `inventory` cluster; `promotion_tier` None leaves RDS's default.
async fn ensure_aurora_instance(
    rds: &Client,
    side: Side,
    id: &str,
    class: &str,
    promotion_tier: Option<i32>,
    report: &mut SeedReport,
) -> Result<(), SeedError> {
    let region = side.region();
    let scope = Scope { service: "rds", region };
    if let Some(status) = db_instance_status(rds, id, scope).await? {
        report.found(format!("{region} aurora instance {id} ({status})"));
        return Ok(());
    }
    rds.create_db_instance()
        .db_instance_identifier(id)
        .db_cluster_identifier(AURORA_CLUSTER)
        .engine("aurora-postgresql")
        .db_instance_class(class)
        .set_promotion_tier(promotion_tier)
        .tags(rds_env_tag(side))
        .send()
        .await
        .map_err(scope.fail("CreateDBInstance", id))?;
    report.made(format!("{region} aurora instance {id} (cluster {AURORA_CLUSTER})"));
    Ok(())
}

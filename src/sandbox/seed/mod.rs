//! `pilotlight sandbox seed`: builds the demo disaster-recovery world in a moto server.
//!
//! The world is a PRIMARY environment in us-east-1 and a RECOVERY environment in us-west-2,
//! frozen in the state "after a failover": the app runs in recovery, DNS points at recovery,
//! and recovery holds data written after the failover. That is the starting point the bundled
//! failback runbooks expect, so a responder can rehearse bringing everything home.
//!
//! Each side holds (one file per service below):
//! - EC2 (`ec2`): `app-server` (root + a 20 GiB gp3 data volume at /dev/sdf) and `worker` (root,
//!   a 30 GiB gp3 volume at /dev/sdf and a 10 GiB io1 volume with 100 IOPS at /dev/sdg), so
//!   failback has to carry each volume's type, size and IOPS across. Every volume is tagged
//!   `Name` = `<instance>:<device>` so volumes can be matched to their counterparts by tag.
//! - RDS and Aurora (`rds`): the Postgres instance `orders-db`, and the Aurora cluster `inventory`
//!   with a writer `inventory-1` (default promotion tier) and `inventory-2` (promotion tier 2),
//!   so a restore must rebuild every member with its tier. Only the primary databases have
//!   deletion protection, so runbooks meet both cases.
//! - DynamoDB (`dynamodb`): the table `sessions` (key `pk`, GSI `by_user`, TTL on `expires_at`,
//!   point-in-time recovery on, a stream, tags app/env/owner, deletion protection on the primary
//!   side only). Primary holds session-1..3; recovery holds those plus session-4..25 written
//!   after the failover, the data failback must bring home.
//!   PITR is on in recovery because an export to S3 needs it.
//!
//! Outside the pair: the S3 bucket `pilotlight-failback-staging` in the primary region (`s3`), where
//! the DynamoDB failback exports the recovery table to and imports the primary table from, and the
//! global Route 53 zone with the app's A record, pointing at recovery (`dns`).
//!
//! Seeding is idempotent: every resource is described before it is created, and whatever an
//! earlier run left behind is reported as existing instead of being created (or rewritten) again.

mod dns;
mod dynamodb;
mod ec2;
mod rds;
mod s3;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::error::DisplayErrorContext;

/// Where the demo world lives; the bundled runbooks' defaults name these.
pub const PRIMARY_REGION: &str = "us-east-1";
pub const RECOVERY_REGION: &str = "us-west-2";
pub const INSTANCE_NAME: &str = "app-server"; // EC2 Name tag, both sides
pub const WORKER_INSTANCE: &str = "worker"; // EC2 Name tag, both sides (three volumes, one io1)
pub const RDS_INSTANCE: &str = "orders-db"; // RDS instance id, both sides
pub const AURORA_CLUSTER: &str = "inventory"; // Aurora cluster id, both sides
pub const AURORA_WRITER: &str = "inventory-1"; // first member, default promotion tier
pub const AURORA_READER: &str = "inventory-2"; // second member
pub const AURORA_READER_TIER: i32 = 2; // promotion tier of AURORA_READER
pub const DYNAMODB_TABLE: &str = "sessions"; // table, both sides
pub const DYNAMODB_INDEX: &str = "by_user"; // GSI on `user` of DYNAMODB_TABLE
pub const DYNAMODB_TTL_ATTRIBUTE: &str = "expires_at"; // TTL attribute of DYNAMODB_TABLE
pub const PRIMARY_SESSIONS: usize = 3; // items session-1..3 in primary
pub const RECOVERY_SESSIONS: usize = 25; // items session-1..25 in recovery
/// Items alike on both sides of a table a drill's world gives a size (`table_gib`): each stands
/// for about a thousandth of it, and the 22 sessions recovery took since the failover are 2 % of it.
pub const SIZED_TABLE_ITEMS: usize = 1000;
pub const STAGING_BUCKET: &str = "pilotlight-failback-staging"; // S3, primary region only
pub const HOSTED_ZONE: &str = "example.internal."; // Route 53 zone (global)
pub const RECORD_NAME: &str = "app.example.internal."; // A record
pub const PRIMARY_IP: &str = "10.0.1.10";
pub const RECOVERY_IP: &str = "10.1.1.10";

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
    /// The S3 bucket is made with raw HTTP to 127.0.0.1, which needs the port from the endpoint URL.
    #[error("cannot use the sandbox endpoint {endpoint_url} for raw S3 calls: {reason}")]
    Endpoint { endpoint_url: String, reason: String },
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

    /// Only the primary databases (and table) are protected, so runbooks meet both cases.
    fn deletion_protection(self) -> bool {
        self == Side::Primary
    }
}

/// Which world to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Variant {
    /// Both sides alike: the failback's easy case.
    #[default]
    Demo,
    /// What a real incident leaves behind, for game days against AWS's rules: `orders-db` on gp3
    /// under 400 GiB with recovery's grown to 150 GiB, `inventory` an Aurora Serverless v2
    /// cluster whose recovery side was upgraded (15.4 → 16.1), and primary `app-server` an
    /// `InService` member of an Auto Scaling group at its minimum. (`worker` keeps data on three volumes in
    /// both variants.)
    Hard,
}

/// One part of the demo world (tests that exercise one resource type seed only that part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Ec2,
    Rds,
    Aurora,
    Dynamodb,
    StagingBucket,
    Dns,
}

impl Part {
    pub const ALL: [Part; 6] = [Part::Ec2, Part::Rds, Part::Aurora, Part::Dynamodb, Part::StagingBucket, Part::Dns];
}

/// Seeds the moto server at `endpoint_url` (e.g. "http://127.0.0.1:5123").
pub async fn seed(endpoint_url: &str) -> Result<SeedReport, SeedError> {
    seed_parts(endpoint_url, &Part::ALL).await
}

/// Seeds only the given parts of the world.
pub async fn seed_parts(endpoint_url: &str, parts: &[Part]) -> Result<SeedReport, SeedError> {
    seed_parts_in(endpoint_url, parts, None).await
}

/// Seeds the whole world of `variant`.
pub async fn seed_variant(endpoint_url: &str, variant: Variant) -> Result<SeedReport, SeedError> {
    seed_world(endpoint_url, &Part::ALL, None, variant, (1, 0)).await
}

/// Seeds the whole world of `variant` with every data volume's and the RDS instance's storage
/// `scale` times the usual (a drill's bigger world: copies and restores take longer), and
/// `bulk_items` more items alike on both sides of the table (a world that gives the table a
/// size: each item then stands for a small share of it, and recovery's difference, the sessions
/// written since the failover, is a small part of it).
pub async fn seed_scaled(
    endpoint_url: &str,
    variant: Variant,
    scale: u32,
    bulk_items: usize,
) -> Result<SeedReport, SeedError> {
    let scale = i32::try_from(scale.clamp(1, 1000)).unwrap_or(1);
    seed_world(endpoint_url, &Part::ALL, None, variant, (scale, bulk_items)).await
}

/// Seeds the given parts with the recovery side in `recovery_account` (another account, as on
/// AWS: moto isolates accounts, reached by assuming any role in them); `None` keeps one account.
pub async fn seed_parts_in(
    endpoint_url: &str,
    parts: &[Part],
    recovery_account: Option<&str>,
) -> Result<SeedReport, SeedError> {
    seed_world(endpoint_url, parts, recovery_account, Variant::Demo, (1, 0)).await
}

async fn seed_world(
    endpoint_url: &str,
    parts: &[Part],
    recovery_account: Option<&str>,
    variant: Variant,
    (scale, bulk_items): (i32, usize),
) -> Result<SeedReport, SeedError> {
    let mut report = SeedReport::default();
    let primary = sdk_config(endpoint_url, PRIMARY_REGION).await;
    let mut recovery = sdk_config(endpoint_url, RECOVERY_REGION).await;
    if let Some(account) = recovery_account {
        recovery = in_account(&recovery, account).await?;
    }

    for (side, config) in [(Side::Primary, &primary), (Side::Recovery, &recovery)] {
        tracing::debug!(region = side.region(), "seeding sandbox region");
        if parts.contains(&Part::Ec2) {
            ec2::ensure_instances(&aws_sdk_ec2::Client::new(config), side, scale, &mut report).await?;
            if variant == Variant::Hard && side == Side::Primary {
                ec2::ensure_auto_scaling(config, &mut report).await?;
            }
        }
        let rds = aws_sdk_rds::Client::new(config);
        if parts.contains(&Part::Rds) {
            rds::ensure_rds(&rds, side, variant, scale, &mut report).await?;
        }
        if parts.contains(&Part::Aurora) {
            rds::ensure_aurora(&rds, side, variant, &mut report).await?;
        }
        if parts.contains(&Part::Dynamodb) {
            dynamodb::ensure_table(&aws_sdk_dynamodb::Client::new(config), side, bulk_items, &mut report).await?;
        }
    }
    if parts.contains(&Part::StagingBucket) {
        s3::ensure_staging_bucket(endpoint_url, &mut report).await?;
    }
    if parts.contains(&Part::Dns) {
        // Route 53 is global; moto serves it from any region, us-east-1 is the conventional one.
        dns::ensure_dns(&aws_sdk_route53::Client::new(&primary), &mut report).await?;
    }
    Ok(report)
}

/// One SdkConfig per region, all pointed at the same moto server with its dummy credentials,
/// so nothing ever reaches (or needs credentials for) real AWS.
pub async fn sdk_config(endpoint_url: &str, region: &'static str) -> SdkConfig {
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

/// `config` acting in `account`: moto answers AssumeRole into any role of any account with
/// credentials that act there.
async fn in_account(config: &SdkConfig, account: &str) -> Result<SdkConfig, SeedError> {
    let scope = Scope { service: "sts", region: RECOVERY_REGION };
    let role = format!("arn:aws:iam::{account}:role/pilotlight-seed");
    let out = aws_sdk_sts::Client::new(config)
        .assume_role()
        .role_arn(&role)
        .role_session_name("pilotlight-seed")
        .send()
        .await
        .map_err(scope.fail("AssumeRole", &role))?;
    let c = out.credentials().ok_or_else(|| scope.error("AssumeRole", &role, "no credentials in the answer"))?;
    let creds = aws_sdk_ec2::config::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "pilotlight-sandbox-account",
    );
    Ok(config.to_builder().credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(creds)).build())
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

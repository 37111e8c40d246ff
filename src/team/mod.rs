//! Team mode: one run shared by many responders on many machines, its journal and its lease in a
//! DynamoDB table the team already trusts (conditional writes, strongly consistent reads).
//!
//! The local state directory stays the run's home on each machine: every entry is appended to
//! the local journal (fsynced, as without a team) and then to the team table under the lease
//! ([`table`]). The driver holds the run's lease ([`lease`]); a machine that takes over rebuilds
//! its local copy from the table ([`shared_run`]) and resumes as a local resume does. Opt-in:
//! without `--team` nothing here runs.

pub mod approve;
pub mod asks;
pub mod blobs;
pub mod claim;
pub mod follow;
pub mod init;
pub mod lease;
pub mod shared_run;
pub mod table;
pub mod worker;

use aws_config::BehaviorVersion;
use std::sync::Arc;

/// Where the team table is, as given on the command line (and kept in a team run's directory,
/// `team.json`, so that every later command on that run goes through the table).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TeamConfig {
    pub table: String,
    /// The table's region; else the SDK's (`AWS_REGION`, the profile).
    pub region: Option<String>,
    /// Sends the table's calls here (the sandbox), apart from the run's own endpoint.
    pub endpoint_url: Option<String>,
    /// The sandbox's fixed fake credentials.
    pub sandbox_credentials: bool,
}

/// Why team mode could not go on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TeamError {
    #[error("team table {table}: {op} failed: {message}")]
    Call { table: String, op: String, message: String },
    #[error(
        "run {run} is driven by {holder} (its lease runs {secs} s more): resume it once the lease expires, or once they stop or hand it over"
    )]
    LeaseHeld { run: String, holder: String, secs: u64 },
    #[error("run {run} was handed over to {to}: only they may resume it for {secs} s more")]
    HandedOver { run: String, to: String, secs: u64 },
    #[error("run {run}: {holder} took the lease at the same moment; try again")]
    LeaseRace { run: String, holder: String },
    #[error(
        "run {run} was taken over by {holder}: this machine no longer holds its lease and stopped before its next mutating call"
    )]
    LeaseLost { run: String, holder: String },
    #[error(
        "run {run}: the lease could not be renewed ({why}); this machine stopped before its next mutating call, since another may take the run over"
    )]
    LeaseExpiring { run: String, why: String },
    #[error("run {run}: entry {seq} is already in the team table (another writer)")]
    SeqTaken { run: String, seq: u64 },
    #[error(
        "run {run} of the same runbook against the same environments is unfinished in team table {table} ({status}; {driver}): two runs would act on the same resources at once. Continue it with `pilotlight resume {run} --team {table}`, or give it up with `pilotlight abandon {run} --team {table} --reason \"...\"`"
    )]
    Conflict { run: String, table: String, status: String, driver: String },
    #[error("no run {run} in team table {table}")]
    NotFound { run: String, table: String },
    #[error("the team table's runtime stopped")]
    Gone,
}

/// The team table, reached from its own runtime ([`worker`]).
pub struct TeamStore {
    pub(crate) worker: worker::Worker,
    pub(crate) table: table::Table,
    sts: aws_sdk_sts::Client,
    /// Who these credentials are, asked of STS once.
    identity: std::sync::OnceLock<table::ApprovalItem>,
    pub config: TeamConfig,
}

impl TeamStore {
    /// Builds the table's client (no call is made yet).
    pub fn connect(config: &TeamConfig) -> Result<Arc<TeamStore>, TeamError> {
        let worker = worker::Worker::start().map_err(|e| TeamError::Call {
            table: config.table.clone(),
            op: "start".into(),
            message: e.to_string(),
        })?;
        let c = config.clone();
        let (client, sts, s3) = worker
            .run(async move {
                let sdk = sdk_config(&c).await;
                (aws_sdk_dynamodb::Client::new(&sdk), aws_sdk_sts::Client::new(&sdk), s3_client(&sdk, &c))
            })
            .ok_or(TeamError::Gone)?;
        let blobs = blobs::Blobs { s3, bucket: Default::default() };
        let table = table::Table { client, name: config.table.clone(), blobs };
        Ok(Arc::new(TeamStore { worker, table, sts, identity: Default::default(), config: config.clone() }))
    }

    /// Runs one table operation on the team runtime and waits for it.
    pub fn call<T, F>(&self, op: impl FnOnce(table::Table) -> F) -> Result<T, TeamError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, TeamError>> + Send + 'static,
    {
        self.worker.run(op(self.table.clone())).unwrap_or(Err(TeamError::Gone))
    }

    /// The AWS identity of this machine's team credentials (STS GetCallerIdentity): who approves.
    pub fn identity(&self) -> Result<table::ApprovalItem, TeamError> {
        if let Some(id) = self.identity.get() {
            return Ok(id.clone());
        }
        let (sts, table) = (self.sts.clone(), self.table.name.clone());
        let who = self
            .worker
            .run(async move {
                let out = sts.get_caller_identity().send().await.map_err(|e| TeamError::Call {
                    table,
                    op: "sts:GetCallerIdentity".into(),
                    message: aws_sdk_sts::error::DisplayErrorContext(&e).to_string(),
                })?;
                Ok(table::ApprovalItem {
                    user_id: out.user_id().unwrap_or_default().to_string(),
                    arn: out.arn().unwrap_or_default().to_string(),
                })
            })
            .unwrap_or(Err(TeamError::Gone))?;
        Ok(self.identity.get_or_init(|| who).clone())
    }

    pub fn name(&self) -> &str {
        &self.table.name
    }
}

/// The SDK configuration for the team table's account and region.
pub async fn sdk_config(c: &TeamConfig) -> aws_config::SdkConfig {
    // A table out of reach (a partition) fails a call in seconds instead of holding the driver:
    // it then stops before its next mutating call rather than act on a lease it cannot renew.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .operation_attempt_timeout(std::time::Duration::from_secs(10))
        .operation_timeout(std::time::Duration::from_secs(30))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
    if let Some(r) = &c.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(url) = &c.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if c.sandbox_credentials {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "pilotlight-sandbox",
        ));
    }
    loader.load().await
}

/// The bucket's client. An endpoint of its own (the sandbox's) takes bucket names in the path:
/// `<bucket>.127.0.0.1` names no host.
pub fn s3_client(sdk: &aws_config::SdkConfig, c: &TeamConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(c.endpoint_url.is_some()).build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Who a machine's driver is, for people: `user@host`.
pub fn who() -> String {
    if let Ok(name) = std::env::var(NAME_ENV)
        && !name.trim().is_empty()
    {
        return name.trim().to_string();
    }
    format!("{}@{}", crate::journal::os_user(), hostname())
}

/// Overrides [`who`] (two responders sharing one login, or tests standing for two machines).
pub const NAME_ENV: &str = "PILOTLIGHT_TEAM_NAME";

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into a buffer we own.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    if ok { String::from_utf8_lossy(&buf[..end]).into_owned() } else { "unknown-host".into() }
}

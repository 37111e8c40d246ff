//! Shared test support: a clean moto server per test (leased from a pool, see [`Moto`]), the
//! `pilotlight` binary, temporary state directories, SDK clients for independent checks, and
//! moto's request recorder.

use pilotlight::sandbox::{MotoServer, moto_api};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use super::kills::*;

/// A moto server of the pool, lent to one test. Every lease starts clean: the pool resets the
/// server's state, turns IAM enforcement off and clears its request recording before lending it.
/// Dropped, the server goes back to the pool, unless the test panicked (then it is stopped by its
/// PID: a test that failed half-way may have left it in any state). The servers still pooled
/// when the test binary exits are stopped by their PIDs then (`atexit`).
///
/// Starting a moto server and warming the Python modules of the services a test touches costs
/// 1–2 s of CPU; the suite took ~95 of them. A reset costs a few milliseconds.
pub struct Moto(Option<MotoServer>);

impl std::ops::Deref for Moto {
    type Target = MotoServer;
    fn deref(&self) -> &MotoServer {
        self.0.as_ref().expect("a leased server")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let Some(server) = self.0.take() else { return };
        if !std::thread::panicking() {
            pool().lock().unwrap_or_else(|e| e.into_inner()).push(server);
        }
    }
}

fn pool() -> &'static std::sync::Mutex<Vec<MotoServer>> {
    static POOL: std::sync::OnceLock<std::sync::Mutex<Vec<MotoServer>>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        extern "C" fn stop_pooled() {
            if let Some(pool) = POOL.get() {
                // Each server is stopped by its own PID (MotoServer's drop).
                pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
            }
            // Then their logs, machine-image lists and recordings go with them.
            let _ = std::fs::remove_dir_all(servers_dir());
        }
        // SAFETY: registers a plain function with no arguments, run once at process exit.
        unsafe { libc::atexit(stop_pooled) };
        std::sync::Mutex::new(Vec::new())
    })
}

/// Leases a clean moto server from the pool, or starts one (installing moto into the shared venv
/// if needed). Fails loudly: a test that needs moto never skips.
pub fn moto() -> Moto {
    loop {
        let pooled = pool().lock().unwrap_or_else(|e| e.into_inner()).pop();
        let Some(server) = pooled else { break };
        // One that cannot be cleaned is stopped (dropped here) and the next one tried.
        if clean(server.port).is_ok() {
            return Moto(Some(server));
        }
    }
    let venv = shared_venv();
    let dir = servers_dir();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("these tests need {}: {e}", dir.display());
    }
    let log = dir.join(format!("moto-{}.log", fastrand::u32(..)));
    match MotoServer::start(&venv, &log) {
        Ok(m) => Moto(Some(m)),
        Err(e) => panic!("these tests need moto and could not start it: {e}"),
    }
}

/// Where this test process's moto servers keep their files (log, machine images, recording):
/// removed when the process exits, so a suite leaves nothing behind in the temp directory.
fn servers_dir() -> PathBuf {
    std::env::temp_dir().join(format!("pilotlight-test-moto-{}", std::process::id()))
}

/// What a fresh moto server is: no resources, IAM enforcement off, nothing recorded.
fn clean(port: u16) -> std::io::Result<()> {
    super::realism::rules::forget(port);
    moto_api::request(port, "POST", "/moto-api/reset-auth", "inf")?;
    moto_api::reset(port)?;
    moto_api::stop_recording(port)?;
    moto_api::request(port, "POST", "/moto-api/recorder/reset-recording", "").map(|_| ())
}

/// The moto venv every test (and the binary under test) shares, so moto installs once.
pub fn shared_venv() -> PathBuf {
    pilotlight::sandbox::server::venv_dir(&pilotlight::cli::default_state_dir())
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// The `pilotlight` binary with a private state directory and no stray AWS settings.
pub fn pilotlight(state: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pilotlight"));
    c.env("PILOTLIGHT_STATE_DIR", state)
        .env(pilotlight::sandbox::server::VENV_ENV, shared_venv())
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // The engine's pauses (2 s after an unanswered call, 500 ms before a retry, 200 ms
        // before a wait's second poll) at a hundredth: moto finishes everything at once.
        .env(pilotlight::pauses::PAUSE_SCALE_ENV, "0.01")
        .current_dir(repo());
    c
}

/// Runs a command and returns its output, echoing it for failing-test diagnosis.
pub fn run(mut cmd: Command) -> Output {
    let out = cmd.output().expect("run pilotlight");
    eprintln!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `fixture` headless and auto-approved against `endpoint`, with `args` after it
/// (`--var k=v`, `--phase stage`): the state directory it ran in (its one run inside) and the output.
pub fn run_fixture(fixture: &str, args: &[&str], endpoint: &str) -> (tempfile::TempDir, Output) {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", fixture, "--headless", "--auto-approve", "--endpoint-url", endpoint]).args(args);
    let out = run(cmd);
    (state, out)
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

/// SDK configuration pointed at moto, for checks independent of the code under test.
pub fn sdk(url: &str, region: &str) -> aws_config::SdkConfig {
    block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .endpoint_url(url)
            .credentials_provider(aws_sdk_sts::config::Credentials::new("testing", "testing", None, None, "test"))
            .load(),
    )
}

/// The account moto's default credentials belong to.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// How many EBS snapshots the account owns in `ec2`'s region. Filtered by `owner-id`: moto's
/// `Owner=self` filters nothing (it answers with the snapshots of its built-in images too).
pub async fn own_snapshots(ec2: &aws_sdk_ec2::Client) -> usize {
    let owner = aws_sdk_ec2::types::Filter::builder().name("owner-id").values(MOTO_ACCOUNT).build();
    ec2.describe_snapshots().filters(owner).send().await.expect("DescribeSnapshots").snapshots().len()
}

/// A CreateDBInstance of a small postgres instance `id` (20 GiB, gp2); tests set on it what
/// their world needs before sending it.
pub fn postgres(
    rds: &aws_sdk_rds::Client,
    id: &str,
) -> aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder {
    rds.create_db_instance()
        .db_instance_identifier(id)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("pilot")
        .master_user_password("light-password-1")
}

/// A private moto server seeded with the demo world, and its endpoint URL.
pub fn seeded_moto() -> (Moto, String) {
    let server = moto();
    let url = server.endpoint_url();
    seed(&url);
    (server, url)
}

/// Seeds moto with the demo world through the product's own seeder.
pub fn seed(url: &str) {
    block_on(pilotlight::sandbox::seed::seed(url)).expect("seed the sandbox");
}

/// What the actions of the only run under `state` said (its journal's action notes), in order.
pub fn action_notes(state: &Path) -> Vec<String> {
    let (_, dir) = only_run(state);
    journal(&dir)
        .into_iter()
        .filter_map(|e| match e.event {
            pilotlight::journal::Event::ActionLog { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

/// The outputs the successful end of step `step` gave for resource `name` (a failback's or a
/// rehearsal's `resources.NAME`), in the run at `dir`.
pub fn resource_outputs(dir: &Path, step: &str, name: &str) -> serde_json::Value {
    journal(dir)
        .into_iter()
        .find_map(|e| match e.event {
            pilotlight::journal::Event::ActionFinished { step: s, ok: true, outputs, .. } if s == step => {
                Some(outputs["resources"][name].clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("the outputs of {step}"))
}

/// An RDS call's outcome as its error code, or `accepted`: what the rules tests compare.
pub fn rds_code<E: aws_sdk_rds::error::ProvideErrorMetadata>(
    r: Result<impl Sized, aws_sdk_rds::error::SdkError<E>>,
) -> String {
    match r {
        Ok(_) => "accepted".into(),
        Err(e) => e.as_service_error().and_then(|s| s.code()).unwrap_or("no code").to_string(),
    }
}

/// The only run directory under a state directory.
pub fn only_run(state: &Path) -> (String, PathBuf) {
    let dirs: Vec<_> = std::fs::read_dir(state.join("runs")).expect("runs dir").flatten().collect();
    assert_eq!(dirs.len(), 1, "expected exactly one run");
    (dirs[0].file_name().to_string_lossy().into_owned(), dirs[0].path())
}

/// Whether a run started with `PILOTLIGHT_CRASH_AFTER_ENTRY=at` was killed there. Waits journal
/// the state changes they happen to see, so a run on a fresh world can be a few entries shorter
/// than the reference run its kill points were taken from: one that ended before entry `at`, not
/// killed, is the uninterrupted run, and its own output stands for the resume's. Any other exit
/// fails the test.
pub fn killed_after(out: &Output, run_dir: &Path, at: u64) -> bool {
    if out.status.code() == Some(pilotlight::journal::CRASH_EXIT_CODE) {
        return true;
    }
    let end = journal(run_dir).last().map_or(0, |e| e.seq);
    assert!(end < at, "not killed after entry {at} (exit {:?}), though the journal got to {end}", out.status.code());
    false
}

/// The run under `state` started with kill point `at`: resumed headless through `url` when it
/// was killed there ([`killed_after`]), else (it ended first) its own outcome.
pub fn resumed_after_kill(killed: Output, state: &Path, at: u64, url: &str) -> Output {
    let (id, dir) = only_run(state);
    if !killed_after(&killed, &dir, at) {
        return killed;
    }
    let mut cmd = pilotlight(state);
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", url]);
    run(cmd)
}

/// What a process printed, standard output then error: for an assertion's message.
pub fn printed(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Every journal entry of a run.
pub fn journal(run_dir: &Path) -> Vec<pilotlight::journal::Entry> {
    pilotlight::journal::read_entries(&run_dir.join("journal.jsonl")).expect("read journal").0
}

/// One AWS request as moto recorded it, reduced to its operation.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub operation: String,
    /// The request body (form-encoded for query APIs).
    pub body: String,
    /// The region from the request's signature scope.
    pub region: String,
    /// The access key that signed it (moto's assumed-role keys start with `ASIA`).
    pub access_key: String,
}

impl Recorded {
    /// Whether the request can change state: query/JSON operations other than Describe/List/Get,
    /// IAM's policy simulator and DynamoDB's item reads, and REST calls other than GET.
    pub fn mutating(&self) -> bool {
        if self.operation.starts_with("REST ") {
            return self.method != "GET";
        }
        !["Describe", "List", "Get", "Simulate", "Scan", "Query", "BatchGetItem"]
            .iter()
            .any(|p| self.operation.starts_with(p))
    }
}

/// Moto's recording, without its own control calls.
pub fn recorded(port: u16) -> Vec<Recorded> {
    use base64_decode as b64;
    moto_api::recording(port)
        .expect("download recording")
        .into_iter()
        .filter(|r| !r["url"].as_str().unwrap_or("").contains("/moto-api/"))
        .map(|r| {
            let method = r["method"].as_str().unwrap_or("").to_string();
            let raw = r["body"].as_str().unwrap_or("");
            let body = if r["body_encoded"].as_bool().unwrap_or(false) { b64(raw) } else { raw.to_string() };
            let target = r["headers"]["X-Amz-Target"].as_str().map(|t| t.rsplit('.').next().unwrap_or(t).to_string());
            let action = body.split('&').find_map(|kv| kv.strip_prefix("Action=")).map(str::to_string);
            let url = r["url"].as_str().unwrap_or("");
            let operation = target.or(action).unwrap_or_else(|| format!("REST {url}"));
            let auth = r["headers"]["Authorization"].as_str().unwrap_or("");
            let scope: Vec<&str> = auth.split("Credential=").nth(1).unwrap_or("").split('/').collect();
            let region = scope.get(2).unwrap_or(&"").to_string();
            let access_key = scope.first().unwrap_or(&"").to_string();
            Recorded { method, operation, body, region, access_key }
        })
        .collect()
}

/// Minimal standard base64 decoding (the recorder encodes bodies).
fn base64_decode(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let Some(v) = T.iter().position(|t| *t == c) else { continue };
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A temporary state directory.
pub fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Polls the only run under `state` until its journal satisfies `ready`; returns the run directory.
pub fn wait_for_journal(
    state: &std::path::Path,
    what: &str,
    ready: impl Fn(&[pilotlight::journal::Entry]) -> bool,
) -> std::path::PathBuf {
    let start = std::time::Instant::now();
    loop {
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "the run never reached {what}");
        let dir = std::fs::read_dir(state.join("runs"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok)
            .map(|e| e.path());
        // The run directory appears a moment before its journal does.
        if let Some(dir) = dir
            && dir.join("journal.jsonl").exists()
            && ready(&journal(&dir))
        {
            return dir;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

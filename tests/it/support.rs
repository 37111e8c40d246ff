//! Shared test support: a clean moto server per test (leased from a pool, see [`Moto`]), the
//! `pilotlight` binary, temporary state directories, SDK clients for independent checks, and
//! moto's request recorder.

use pilotlight::sandbox::{MotoServer, moto_api};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    let log =
        std::env::temp_dir().join(format!("pilotlight-test-moto-{}-{}.log", std::process::id(), fastrand::u32(..)));
    match MotoServer::start(&venv, &log) {
        Ok(m) => Moto(Some(m)),
        Err(e) => panic!("these tests need moto and could not start it: {e}"),
    }
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

/// Where a crash test kills a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kill {
    /// Right after each journal entry is durable, every entry in turn (not a sample).
    AfterEveryEntry,
    /// After each mutating AWS call was answered and before its outcome reaches the journal:
    /// AWS acted, the run never heard.
    BeforeEveryAnswer,
}

/// The journaled outcome of a mutating call.
fn is_answer(event: &pilotlight::journal::Event) -> bool {
    use pilotlight::journal::{CallOutcome, Event};
    matches!(event, Event::AwsCall { mutating: true, outcome: CallOutcome::Ok | CallOutcome::Error, .. })
}

/// Set to `1` to kill at every point instead of one point per class (`.ci/run` does).
pub const EXHAUSTIVE_KILLS_ENV: &str = "PILOTLIGHT_EXHAUSTIVE_KILLS";

/// What a kill test covered.
#[derive(Debug, Clone, Copy)]
pub struct Killed {
    /// Kill points of the uninterrupted run.
    pub points: u64,
    /// Classes of points a resume cannot tell apart (see [`kill_classes`]).
    pub classes: u64,
    /// Points killed and resumed: one per class, or all of them in the exhaustive form.
    pub run: u64,
}

/// The kill points after journal entries `1..total`, grouped into classes that a resume cannot
/// tell apart: the same state as the one reducer replays it (each step's status, gate, attempts,
/// in-flight flag, outputs and failure count; each sub-step's phase, detail and result; the run's
/// status), and the same number of answered mutating calls (what AWS has done). Times, waits and
/// unanswered `sending` entries are left out: the engine and the actions decide from none of
/// them (a kill right after `sending` comes before the call is sent). Returns the last point of
/// each class, in order.
pub fn kill_classes(entries: &[pilotlight::journal::Entry]) -> Vec<u64> {
    use pilotlight::journal::RunState;
    let mut state = RunState::default();
    let mut answered = 0u64;
    let mut last: Vec<(String, u64)> = Vec::new();
    for (i, entry) in entries.iter().enumerate().take(entries.len().saturating_sub(1)) {
        state.apply(entry);
        answered += u64::from(is_answer(&entry.event));
        let steps: Vec<serde_json::Value> = state
            .steps
            .iter()
            .map(|(id, s)| {
                let subs: Vec<serde_json::Value> =
                    s.substeps.iter().map(|(sub, x)| serde_json::json!([sub, x.phase, x.detail, x.result])).collect();
                serde_json::json!([
                    id,
                    s.status,
                    s.gate_passed,
                    s.attempts,
                    s.in_flight,
                    s.outputs,
                    s.failures_since_decision,
                    subs
                ])
            })
            .collect();
        let key = serde_json::json!([state.status(), answered, steps]).to_string();
        match last.iter_mut().find(|(k, _)| *k == key) {
            Some((_, point)) => *point = i as u64 + 1,
            None => last.push((key, i as u64 + 1)),
        }
    }
    let mut points: Vec<u64> = last.into_iter().map(|(_, p)| p).collect();
    points.sort();
    points
}

/// Kills a run at the points `kill` names and resumes it, on `workers` moto servers side by
/// side; each world is reset and re-seeded (`parts`) first. `end_state` reads the world
/// independently (describe calls); after every kill and resume it must equal the end state of an
/// uninterrupted run. After every entry, one point per class is killed (see [`kill_classes`]),
/// or every point when `PILOTLIGHT_EXHAUSTIVE_KILLS=1`; after every answer, every point (each
/// answer is its own class: AWS has done one more thing).
pub fn kill_at_every_point<S: PartialEq + std::fmt::Debug + Sync>(
    parts: &[pilotlight::sandbox::seed::Part],
    args: &[&str],
    workers: usize,
    kill: Kill,
    end_state: impl Fn(&str) -> S + Sync,
) -> Killed {
    kill_at_points(parts, args, Setup { workers, rules: false, stage: None }, kill, end_state)
}

/// [`kill_at_every_point`] for the cut-over of a staged runbook: every world, before the run
/// that is killed, gets an uninterrupted stage run of `stage` (in a state directory of its own,
/// as hours before the window), so the cut-over meets what staging left.
pub fn kill_at_every_point_of_a_cut_over<S: PartialEq + std::fmt::Debug + Sync>(
    parts: &[pilotlight::sandbox::seed::Part],
    stage: &[&str],
    args: &[&str],
    workers: usize,
    kill: Kill,
    end_state: impl Fn(&str) -> S + Sync,
) -> Killed {
    kill_at_points(parts, args, Setup { workers, rules: false, stage: Some(stage) }, kill, end_state)
}

/// [`kill_at_every_point`] with every run going through the AWS-rules layer (a fresh proxy per
/// world), for what bare moto cannot do (apply a table's resource-based policy); `end_state`
/// still reads moto itself.
pub fn kill_at_every_point_under_aws_rules<S: PartialEq + std::fmt::Debug + Sync>(
    parts: &[pilotlight::sandbox::seed::Part],
    args: &[&str],
    workers: usize,
    kill: Kill,
    end_state: impl Fn(&str) -> S + Sync,
) -> Killed {
    kill_at_points(parts, args, Setup { workers, rules: true, stage: None }, kill, end_state)
}

/// [`kill_at_every_point_of_a_cut_over`] with every run (the stage run too) going through the
/// AWS-rules layer, for what bare moto cannot do (an Aurora Global Database).
pub fn kill_at_every_point_of_a_cut_over_under_aws_rules<S: PartialEq + std::fmt::Debug + Sync>(
    parts: &[pilotlight::sandbox::seed::Part],
    stage: &[&str],
    args: &[&str],
    workers: usize,
    kill: Kill,
    end_state: impl Fn(&str) -> S + Sync,
) -> Killed {
    kill_at_points(parts, args, Setup { workers, rules: true, stage: Some(stage) }, kill, end_state)
}

/// How the worlds of a kill test are set up.
#[derive(Clone, Copy)]
struct Setup<'a> {
    /// Moto servers side by side.
    workers: usize,
    /// Every run through the AWS-rules layer.
    rules: bool,
    /// A stage run's arguments, run uninterrupted on each fresh world first.
    stage: Option<&'a [&'a str]>,
}

/// An uninterrupted headless run of `args` through `url`, in a state directory of its own.
fn stage_run(args: &[&str], url: &str) {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run"]).args(args).args(["--headless", "--auto-approve", "--endpoint-url", url]);
    let out = cmd.output().expect("run pilotlight");
    assert_eq!(out.status.code(), Some(0), "the stage run: {}", String::from_utf8_lossy(&out.stdout));
}

fn kill_at_points<S: PartialEq + std::fmt::Debug + Sync>(
    parts: &[pilotlight::sandbox::seed::Part],
    args: &[&str],
    Setup { workers, rules, stage }: Setup<'_>,
    kill: Kill,
    end_state: impl Fn(&str) -> S + Sync,
) -> Killed {
    use pilotlight::journal::{CRASH_AFTER_ENV, CRASH_BEFORE_ANSWER_ENV, CRASH_EXIT_CODE, Entry, Event, RunStatus};
    let start_run = |state: &Path, url: &str, kill_at: Option<u64>| {
        let mut cmd = pilotlight(state);
        cmd.args(["run"]).args(args).args(["--headless", "--auto-approve", "--endpoint-url", url]);
        if let Some(n) = kill_at {
            let env = if kill == Kill::AfterEveryEntry { CRASH_AFTER_ENV } else { CRASH_BEFORE_ANSWER_ENV };
            cmd.env(env, n.to_string());
        }
        cmd.output().expect("run pilotlight")
    };
    let (entries, expected) = uninterrupted_at(parts, args, &end_state, (rules, stage));
    let total = entries.len() as u64;
    // How far a run got, in the unit of the kill points.
    let progress = |entries: &[Entry]| match kill {
        Kill::AfterEveryEntry => entries.len() as u64,
        Kill::BeforeEveryAnswer => entries.iter().filter(|e| is_answer(&e.event)).count() as u64,
    };
    let all: Vec<u64> = match kill {
        Kill::AfterEveryEntry => (1..total).collect(),
        Kill::BeforeEveryAnswer => (1..=progress(&entries)).collect(),
    };
    let classes = match kill {
        Kill::AfterEveryEntry => kill_classes(&entries),
        Kill::BeforeEveryAnswer => all.clone(),
    };
    let exhaustive = std::env::var(EXHAUSTIVE_KILLS_ENV).is_ok_and(|v| v == "1");
    let points = if exhaustive { all.clone() } else { classes.clone() };

    on_fresh_worlds(&points, parts, workers, |server, &at| {
        let layer = rules.then(|| super::realism::RealismProxy::with_aws_rules(server.port, Vec::new()));
        let url = server.endpoint_url();
        let state = state_dir();
        let run_url = layer.as_ref().map_or(url.clone(), |l| l.endpoint_url());
        if let Some(stage) = stage {
            stage_run(stage, &run_url);
        }
        let out = start_run(state.path(), &run_url, Some(at));
        let (id, dir) = only_run(state.path());
        if out.status.code() == Some(0) {
            // Waits journal the state changes they happen to see, so a run can be a
            // few entries shorter than the uninterrupted one: this kill point lies
            // past its end. It must have ended where the uninterrupted run did.
            let len = progress(&journal(&dir));
            assert!(len < at, "not killed at point {at} ({kill:?}), though it got to {len}");
            assert_eq!(&end_state(&url), &expected, "the end state of a run shorter than {at}");
            return;
        }
        assert_eq!(out.status.code(), Some(CRASH_EXIT_CODE), "killed at point {at} ({kill:?})");
        let mut resume = pilotlight(state.path());
        resume.args(["resume", &id, "--headless", "--auto-approve"]);
        let out = resume.output().expect("resume");
        assert_eq!(
            out.status.code(),
            Some(0),
            "resumed after a kill at point {at} ({kill:?}): {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let last = journal(&dir).last().map(|e| e.event.clone());
        assert!(matches!(last, Some(Event::RunFinished { status: RunStatus::Succeeded })));
        assert_eq!(&end_state(&url), &expected, "the end state after a kill at point {at} ({kill:?})");
    });
    let killed = Killed { points: all.len() as u64, classes: classes.len() as u64, run: points.len() as u64 };
    assert!(killed.classes >= 1 && killed.classes <= killed.points, "{killed:?}");
    eprintln!("{kill:?}: {killed:?}{}", if exhaustive { " (exhaustive)" } else { "" });
    killed
}

/// Runs `each` for every point, on `workers` moto servers side by side (points dealt out in
/// turn); each point gets a world reset and seeded with `parts` first.
pub fn on_fresh_worlds<P: Sync>(
    points: &[P],
    parts: &[pilotlight::sandbox::seed::Part],
    workers: usize,
    each: impl Fn(&MotoServer, &P) + Sync,
) {
    let workers = workers.max(1);
    std::thread::scope(|scope| {
        for w in 0..workers {
            let each = &each;
            scope.spawn(move || {
                let server = moto();
                for point in points.iter().skip(w).step_by(workers) {
                    fresh_world(&server, parts);
                    each(&server, point);
                }
            });
        }
    });
}

/// A world reset and seeded with `parts`.
pub fn fresh_world(server: &MotoServer, parts: &[pilotlight::sandbox::seed::Part]) {
    moto_api::reset(server.port).expect("reset moto");
    super::realism::rules::forget(server.port);
    block_on(pilotlight::sandbox::seed::seed_parts(&server.endpoint_url(), parts)).expect("seed");
}

/// An uninterrupted headless run of `args` on a fresh world: its journal and the end state.
pub fn uninterrupted<S>(
    parts: &[pilotlight::sandbox::seed::Part],
    args: &[&str],
    end_state: impl Fn(&str) -> S,
) -> (Vec<pilotlight::journal::Entry>, S) {
    uninterrupted_at(parts, args, end_state, (false, None))
}

/// [`uninterrupted`] through the AWS-rules layer.
pub fn uninterrupted_under_aws_rules<S>(
    parts: &[pilotlight::sandbox::seed::Part],
    args: &[&str],
    end_state: impl Fn(&str) -> S,
) -> (Vec<pilotlight::journal::Entry>, S) {
    uninterrupted_at(parts, args, end_state, (true, None))
}

/// [`uninterrupted`], through the AWS-rules layer when `rules`.
fn uninterrupted_at<S>(
    parts: &[pilotlight::sandbox::seed::Part],
    args: &[&str],
    end_state: impl Fn(&str) -> S,
    (rules, stage): (bool, Option<&[&str]>),
) -> (Vec<pilotlight::journal::Entry>, S) {
    let server = moto();
    fresh_world(&server, parts);
    let url = server.endpoint_url();
    let layer = rules.then(|| super::realism::RealismProxy::with_aws_rules(server.port, Vec::new()));
    let run_url = layer.as_ref().map_or(url.clone(), |l| l.endpoint_url());
    if let Some(stage) = stage {
        stage_run(stage, &run_url);
    }
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run"]).args(args).args(["--headless", "--auto-approve", "--endpoint-url", &run_url]);
    let out = cmd.output().expect("run pilotlight");
    assert_eq!(out.status.code(), Some(0), "uninterrupted run: {}", String::from_utf8_lossy(&out.stdout));
    let (_, dir) = only_run(state.path());
    (journal(&dir), end_state(&url))
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

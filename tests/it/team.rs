//! Team mode against moto: the team store made from its template, a run shared through the team
//! table, and a driver killed (at a gate, in a failback sub-step, during a wait) whose run
//! another machine takes over once the lease expires. Two state directories stand for two
//! machines; every check reads moto or the table itself.

use super::support::{
    block_on, fresh_world, journal, moto, only_run, pilotlight, recorded, sdk, state_dir, wait_for_journal,
};
use super::team_blobs::{BUCKET, blob};
use pilotlight::journal::{CRASH_AFTER_ENV, CRASH_BEFORE_ANSWER_ENV, CRASH_EXIT_CODE, Event, RunStatus, SubPhase};
use pilotlight::sandbox::moto_api;
use pilotlight::sandbox::seed::Part;
use std::path::Path;
use std::process::Command;

pub(super) const TABLE: &str = "pl-team";
const FAILBACK: [&str; 3] = ["tests/fixtures/ec2-failback.yaml", "--var", "which=app_server"];
/// The lease's time in these tests: a dead driver's run can be taken over after it.
const LEASE_SECS: &str = "2";

/// A moto server with the EC2 world seeded and the team store made: the server and its URL.
pub(super) fn team_world() -> (super::support::Moto, String) {
    let server = moto();
    let url = server.endpoint_url();
    fresh_world(&server, &[Part::Ec2]);
    assert_eq!(init(&url).status.code(), Some(0));
    (server, url)
}

/// A journal whose run waits at a gate.
pub(super) fn at_a_gate(entries: &[pilotlight::journal::Entry]) -> bool {
    use pilotlight::journal::StepStatus;
    entries.iter().any(|e| matches!(&e.event, Event::StepStatus { status: StepStatus::AwaitingGate, .. }))
}

/// `team init` against `url`.
pub(super) fn init(url: &str) -> std::process::Output {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["team", "init", "--table", TABLE, "--bucket", BUCKET, "--region", "us-east-1"]);
    cmd.args(["--endpoint-url", url]);
    cmd.output().expect("team init")
}

/// `pilotlight` on one machine: its own state directory and name, the team table at `url`.
pub(super) fn machine(state: &Path, name: &str, url: &str, args: &[&str]) -> Command {
    let mut cmd = pilotlight(state);
    cmd.env(pilotlight::team::NAME_ENV, name).env(pilotlight::team::lease::TTL_ENV, LEASE_SECS);
    cmd.args(args).args(["--headless", "--team", TABLE, "--team-endpoint-url", url, "--team-region", "us-east-1"]);
    cmd
}

pub(super) fn start_args(url: &str) -> Vec<&str> {
    let mut args = vec!["run"];
    args.extend(FAILBACK);
    args.extend(["--endpoint-url", url]);
    args
}

/// The table's copy of a run's journal, read with the SDK.
pub(super) fn table_entries(url: &str, run: &str) -> Vec<pilotlight::journal::Entry> {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(url, "us-east-1"));
    let out = block_on(
        ddb.query()
            .table_name(TABLE)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :e)")
            .expression_attribute_values(":pk", V::S(format!("run#{run}")))
            .expression_attribute_values(":e", V::S("e#".into()))
            .send(),
    )
    .expect("Query the team table");
    out.items()
        .iter()
        .map(|i| match i.get("entry") {
            Some(entry) => serde_json::from_str(entry.as_s().unwrap()).unwrap(),
            None => serde_json::from_str(&blob(url, i["blob"].as_s().unwrap())).unwrap(),
        })
        .collect()
}

/// Waits until the team table holds every entry of the local journal in `dir` (the driver
/// appends locally first, then to the table).
pub(super) fn wait_until_the_table_has(url: &str, run: &str, dir: &Path) {
    let start = std::time::Instant::now();
    while table_entries(url, run) != journal(dir) {
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "the table never caught up with {run}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Waits until run `run`'s lease in the table has expired (a killed driver's), at most 30 s.
pub(super) fn wait_until_the_lease_expires(url: &str, run: &str) {
    use pilotlight::team::{TeamConfig, TeamStore, table::now_ms};
    let config = TeamConfig {
        table: TABLE.into(),
        region: Some("us-east-1".into()),
        endpoint_url: Some(url.into()),
        sandbox_credentials: true,
    };
    let store = TeamStore::connect(&config).expect("the team table");
    let start = std::time::Instant::now();
    loop {
        let r = run.to_string();
        let lease = store.call(|t| async move { t.lease(&r).await }).expect("GetItem");
        if lease.is_none_or(|l| l.expires_ms < now_ms()) {
            return;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the lease of {run} never expired");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// EC2's creating calls in moto's record (what a repeated call would make twice).
pub(super) fn made(port: u16) -> Vec<String> {
    let mut ops: Vec<String> = recorded(port)
        .into_iter()
        .map(|r| r.operation)
        .filter(|op| ["CreateSnapshot", "CreateSnapshots", "CopySnapshot", "CreateVolume"].contains(&op.as_str()))
        .collect();
    ops.sort();
    ops
}

#[test]
fn team_init_makes_the_store_once_with_recovery_protection_versioning_and_no_public_access() {
    let server = moto();
    let url = server.endpoint_url();
    // Through the AWS-rules layer: a stack with an IAM resource needs its capability.
    let rules = super::realism::RealismProxy::with_aws_rules(server.port, Vec::new());
    let out = init(&rules.endpoint_url());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("made (CREATE_COMPLETE)"), "{text}");
    assert!(text.contains("bucket pl-team-blobs: journal entries and runbooks over 100 KiB"), "{text}");
    let config = sdk(&url, "us-east-1");
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    block_on(async {
        let t = ddb.describe_table().table_name(TABLE).send().await.expect("DescribeTable");
        let t = t.table().unwrap();
        let keys: Vec<_> = t.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().as_str())).collect();
        assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);
        assert_eq!(t.deletion_protection_enabled(), Some(true));
        let b = ddb.describe_continuous_backups().table_name(TABLE).send().await.expect("DescribeContinuousBackups");
        let pitr = b.continuous_backups_description().and_then(|d| d.point_in_time_recovery_description());
        assert_eq!(pitr.and_then(|p| p.point_in_time_recovery_status()).map(|s| s.as_str()), Some("ENABLED"));
    });
    // The bucket is there (S3's REST API, path-style). Moto's CloudFormation ignores a bucket's
    // VersioningConfiguration and PublicAccessBlockConfiguration, so the sandbox cannot show
    // them applied: the template is checked to ask for them.
    let (code, _) = moto_api::request(server.port, "GET", "/pl-team-blobs?versioning", "").expect("GET ?versioning");
    assert_eq!(code, 200, "the bucket exists");
    let template = pilotlight::team::init::TEMPLATE;
    for asked in ["Status: Enabled", "BlockPublicAcls: true", "BlockPublicPolicy: true", "RestrictPublicBuckets: true"]
    {
        assert!(template.contains(asked), "the template asks for {asked}");
    }
    let again = init(&url);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already there"));
}

/// Where machine A's driver dies.
#[derive(Debug, Clone, Copy)]
enum Death {
    /// Killed (SIGKILL) while its gate waits for an answer.
    AtAGate,
    /// AWS answered the failback's nth mutating call; the process died before journaling it.
    InASubStep(u64),
    /// Right after journal entry n, which starts a wait (a `wait-` sub-step).
    DuringAWait(u64),
}

/// A drives the EC2 failback with `--team` and dies; B (another state directory) is refused
/// while A's lease runs, then takes the run over from the table and finishes it. The end state is
/// the uninterrupted one, nothing was made twice, and B's journal is the table's.
fn taken_over_after(death: Death, expected: &super::ec2_failback::EndState, expected_made: &[String]) {
    let (server, url) = team_world();
    moto_api::start_recording(server.port).expect("record");
    let (a, b) = (state_dir(), state_dir());
    let mut driver = machine(a.path(), "ana@laptop", &url, &start_args(&url));
    match death {
        Death::AtAGate => {
            let mut child = driver
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("start A");
            wait_for_journal(a.path(), "a gate", at_a_gate);
            child.kill().expect("SIGKILL A");
            child.wait().expect("reap A");
        }
        Death::InASubStep(n) | Death::DuringAWait(n) => {
            let env = if matches!(death, Death::InASubStep(_)) { CRASH_BEFORE_ANSWER_ENV } else { CRASH_AFTER_ENV };
            let out = driver.arg("--auto-approve").env(env, n.to_string()).output().expect("run A");
            assert_eq!(out.status.code(), Some(CRASH_EXIT_CODE), "A dies ({death:?})");
        }
    }
    let (id, _) = only_run(a.path());
    let resume = |auto: bool| {
        let mut cmd = machine(b.path(), "ben@desk", &url, &["resume", &id]);
        if auto {
            cmd.arg("--auto-approve");
        }
        cmd.output().expect("resume on B")
    };
    let early = resume(true);
    let said = String::from_utf8_lossy(&early.stderr).into_owned();
    if matches!(death, Death::AtAGate) {
        // A was killed by a signal just now: its lease still runs.
        assert_eq!(early.status.code(), Some(1), "B is refused while A's lease runs: {said}");
        assert!(said.contains("ana@laptop") && said.contains("lease"), "{said}");
        wait_until_the_lease_expires(&url, &id);
    } else if early.status.code() != Some(0) {
        assert!(said.contains("ana@laptop"), "{said}");
        wait_until_the_lease_expires(&url, &id);
    }
    let out = if early.status.code() == Some(0) { early } else { resume(true) };
    assert_eq!(
        out.status.code(),
        Some(0),
        "B takes over after {death:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = b.path().join("runs").join(&id);
    let entries = journal(&dir);
    assert!(matches!(entries.last().map(|e| &e.event), Some(Event::RunFinished { status: RunStatus::Succeeded })));
    assert_eq!(table_entries(&url, &id), entries, "B's journal is the table's");
    assert!(entries.iter().any(|e| matches!(&e.event, Event::RunResumed { .. })));
    assert_eq!(&super::ec2_failback::summary(&url), expected, "the end state after {death:?}");
    assert_eq!(made(server.port), expected_made, "nothing made twice after {death:?}");
}

#[test]
fn a_driver_killed_at_a_gate_in_a_sub_step_or_during_a_wait_is_taken_over_by_another_machine() {
    // The uninterrupted run, its journal (for the kill points) and what it made.
    let server = moto();
    fresh_world(&server, &[Part::Ec2]);
    moto_api::start_recording(server.port).expect("record");
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run"]).args(FAILBACK).args(["--headless", "--auto-approve", "--endpoint-url", &server.endpoint_url()]);
    assert_eq!(cmd.output().expect("run").status.code(), Some(0));
    let entries = journal(&only_run(state.path()).1);
    let expected = super::ec2_failback::summary(&server.endpoint_url());
    let expected_made = made(server.port);
    assert!(expected_made.len() >= 3, "{expected_made:?}");
    let wait = entries
        .iter()
        .find(|e| {
            matches!(&e.event, Event::SubStep { name, phase: SubPhase::Started, .. } if name.part.starts_with("wait-"))
        })
        .expect("the failback waits")
        .seq;
    for death in [Death::AtAGate, Death::InASubStep(3), Death::DuringAWait(wait)] {
        taken_over_after(death, &expected, &expected_made);
    }
}

/// A driver cut off from the team table (its DynamoDB calls refused by the fault proxy, its AWS
/// calls going through) while its gate waits: B takes the run over once the lease expires and
/// finishes it. When the partition heals and A's gate is answered, A learns at its next append
/// that B holds the lease, and stops before any mutating call: nothing is made twice.
#[test]
fn a_partitioned_driver_stops_before_its_next_mutating_call_once_another_machine_took_over() {
    use pilotlight::sandbox::realism::faults::{Fault, Matcher};
    use pilotlight::sandbox::realism::proxy::{RealismProxy, Rule};
    use std::io::Write;
    let (server, url) = team_world();
    let proxy = RealismProxy::with_rules(server.port, Vec::new());
    let (a, b) = (state_dir(), state_dir());
    let mut driver = machine(a.path(), "ana@laptop", &proxy.endpoint_url(), &start_args(&url));
    let mut child = driver
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start A");
    let dir_a = wait_for_journal(a.path(), "a gate", at_a_gate);
    let (id, _) = only_run(a.path());
    // A appends to its own journal first, then to the table: the partition comes once the table
    // has the gate too, or it would cut A off mid-append (a different failure: A stops there).
    wait_until_the_table_has(&url, &id, &dir_a);
    // The partition: every DynamoDB call from A is refused before it reaches the table.
    let partition = Matcher { needle: Some("DynamoDB_20120810".into()), times: usize::MAX, ..Default::default() };
    let refuse = Fault::Refuse { code: "RequestTimeout", message: "the network is down" };
    proxy.rules.lock().unwrap().push(std::sync::Arc::new(Rule::new(partition, refuse, "partition")));
    moto_api::start_recording(server.port).expect("record");
    wait_until_the_lease_expires(&url, &id);
    let mut resume = machine(b.path(), "ben@desk", &url, &["resume", &id, "--auto-approve"]);
    let out = resume.output().expect("resume on B");
    assert_eq!(out.status.code(), Some(0), "B takes over: {}", String::from_utf8_lossy(&out.stderr));
    let made_by_b = made(server.port);
    assert!(!made_by_b.is_empty(), "B made the failback's snapshots and volumes");
    // The partition heals; A's operator answers the gate.
    proxy.rules.lock().unwrap().clear();
    child.stdin.take().unwrap().write_all(b"failback\n").expect("answer A's gate");
    let out = child.wait_with_output().expect("A ends");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(out.status.code(), Some(0), "A stops: {said}");
    assert!(said.contains("taken over by ben@desk"), "A says who holds the run: {said}");
    assert_eq!(made(server.port), made_by_b, "A made nothing after B took over");
    let a_entries = journal(&dir_a);
    assert!(
        !a_entries.iter().any(|e| matches!(&e.event, Event::AwsCall { mutating: true, .. })),
        "A announced no mutating call"
    );
    let b_entries = journal(&b.path().join("runs").join(&id));
    assert!(matches!(b_entries.last().map(|e| &e.event), Some(Event::RunFinished { status: RunStatus::Succeeded })));
    assert_eq!(table_entries(&url, &id), b_entries, "the table holds B's run, nothing of A's after the takeover");
    // A's responder follows the hint and resumes on A, without --team: the run's directory says
    // it is a team run, so the resume goes through the table (which says B finished it), never
    // from A's own stale journal.
    let mut again = pilotlight(a.path());
    again.env(pilotlight::team::NAME_ENV, "ana@laptop").args(["resume", &id, "--headless", "--auto-approve"]);
    let out = again.output().expect("resume on A");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already succeeded"));
    assert_eq!(made(server.port), made_by_b, "A still made nothing");
}

/// A lease its holder renewed after another machine read it expired is not taken: the take is
/// conditioned on the version and the expiry it read, and a renewal moves the expiry.
#[test]
fn a_lease_renewed_after_it_was_read_as_expired_is_not_taken() {
    use pilotlight::team::{TeamConfig, TeamError, TeamStore, lease::Lease, table::now_ms};
    let (_server, url) = team_world();
    let config = TeamConfig {
        table: TABLE.into(),
        region: Some("us-east-1".into()),
        endpoint_url: Some(url),
        sandbox_credentials: true,
    };
    let store = TeamStore::connect(&config).expect("the team table");
    let held = Lease::take(&store, "r-renewed", true).expect("A takes a new run's lease");
    let seen = store.call(|t| async move { t.lease("r-renewed").await }).expect("GetItem").expect("a lease");
    // A's heartbeat, late after a network blip, renews it.
    let token = held.token.clone();
    store
        .call(move |t| async move { t.set_expiry("r-renewed", &token, now_ms() + 60_000, None).await })
        .expect("renew");
    let stale = Some((seen.version, seen.expires_ms));
    let taken = store.call(move |t| async move { t.take_lease("r-renewed", stale, "ben", "b-1", 60_000).await });
    assert!(matches!(taken, Err(TeamError::LeaseRace { .. })), "{taken:?}");
    let unknown = Lease::take(&store, "r-unknown", false).err();
    assert!(matches!(unknown, Some(TeamError::NotFound { .. })), "no lease is made for a run the table does not have");
}

/// The lines of a headless output, without the ones that name a machine's own paths.
fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out).lines().filter(|l| !l.starts_with("journal: ")).map(str::to_string).collect()
}

/// A drives the bundled failback with `--team`; watchers on B and C (state directories of their
/// own, nothing of the run on their disks) follow it from the table and print the same steps and
/// calls A printed.
#[test]
fn watchers_on_two_other_machines_follow_the_bundled_failback_from_the_team_table() {
    let (server, url) = super::support::seeded_moto();
    assert_eq!(init(&url).status.code(), Some(0));
    // Through the AWS-rules layer (the fence's table policy, which bare moto ignores); the team
    // table is moto's own.
    let proxy = super::realism::RealismProxy::with_aws_rules(server.port, Vec::new());
    let (a, b, c) = (state_dir(), state_dir(), state_dir());
    let run_url = proxy.endpoint_url();
    let args = ["run", "runbooks/failback.yaml", "--auto-approve", "--endpoint-url", &run_url];
    moto_api::start_recording(server.port).expect("record");
    let started = std::time::Instant::now();
    let driver =
        machine(a.path(), "ana@laptop", &url, &args).stdout(std::process::Stdio::piped()).spawn().expect("start A");
    wait_for_journal(a.path(), "its start", |e| !e.is_empty());
    let (id, _) = only_run(a.path());
    let watch = |state: &Path, name: &str| {
        machine(state, name, &url, &["watch", &id]).stdout(std::process::Stdio::piped()).spawn().expect("watch")
    };
    let (wb, wc) = (watch(b.path(), "ben@desk"), watch(c.path(), "cho@ops"));
    let out_a = driver.wait_with_output().expect("A ends");
    assert_eq!(out_a.status.code(), Some(0), "{}", String::from_utf8_lossy(&out_a.stdout));
    let (out_b, out_c) = (wb.wait_with_output().expect("B"), wc.wait_with_output().expect("C"));
    assert_eq!(out_b.status.code(), Some(0), "B's watch ends with the run");
    let (a_lines, b_lines, c_lines) = (lines(&out_a.stdout), lines(&out_b.stdout), lines(&out_c.stdout));
    assert_eq!(b_lines, c_lines, "B and C show the same run");
    let steps = |l: &[String]| l.iter().filter(|l| l.contains(": succeeded")).count();
    assert!(steps(&b_lines) >= 8 && steps(&b_lines) == steps(&a_lines), "{b_lines:#?}");
    let calls = |l: &[String]| l.iter().filter(|l| l.contains("sending")).count();
    assert!(calls(&b_lines) > 10 && calls(&b_lines) == calls(&a_lines), "every mutating call: {b_lines:#?}");
    // Every step's status and every mutating call, as A printed them (lines with a step's
    // outputs are left out of this comparison: they hold measured durations).
    for line in b_lines.iter().filter(|l| !l.contains(" resources=")) {
        let near = a_lines.iter().find(|l| l.get(..30) == line.get(..30));
        assert!(a_lines.contains(line), "B shows what A printed:\n{line}\nA: {near:?}");
    }
    assert!(!b.path().join("runs").exists(), "a watcher makes no run of its own");

    // What the run cost the table (README "Team mode", costs and limits): its items and bytes,
    // and the calls the driver and the two watchers made.
    let secs = started.elapsed().as_secs_f64();
    let entries = table_entries(&url, &id);
    let sizes: Vec<usize> = entries.iter().map(|e| serde_json::to_string(e).unwrap().len() + 40).collect();
    let bytes: usize = sizes.iter().sum();
    let write_units: usize = sizes.iter().map(|s| 2 * s.div_ceil(1024)).sum();
    let calls = recorded(server.port);
    let count = |op: &str| calls.iter().filter(|r| r.operation == op).count();
    let sending = entries
        .iter()
        .filter(|e| {
            matches!(
                &e.event,
                Event::AwsCall { mutating: true, outcome: pilotlight::journal::CallOutcome::Sending, .. }
            )
        })
        .count();
    let transactions = count("TransactWriteItems");
    eprintln!(
        "team costs: {} entries, {bytes} bytes ({} KiB, largest {} B), {write_units} write units, {transactions} \
         transactions for {sending} mutating calls, {} lease updates, {} queries (2 watchers), {} gets, in {secs:.1} s",
        entries.len(),
        bytes / 1024,
        sizes.iter().max().unwrap_or(&0),
        count("UpdateItem"),
        count("Query"),
        count("GetItem"),
    );
    assert!(transactions >= sending, "every `sending` is written before its call");
    assert!(
        transactions * 10 < entries.len() * 9,
        "answers ride with the next entry: {transactions} of {}",
        entries.len()
    );
}

/// Two machines start the same runbook against the same environments: the second is refused,
/// naming the first's run; once that run is abandoned (from the second machine, after its
/// driver died and its lease expired) the second starts.
#[test]
fn a_second_machine_starting_the_same_runbook_is_refused_until_the_first_run_is_abandoned() {
    let (_server, url) = team_world();
    let (a, b) = (state_dir(), state_dir());
    let mut first = machine(a.path(), "ana@laptop", &url, &start_args(&url))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start A");
    wait_for_journal(a.path(), "a gate", at_a_gate);
    let (id, _) = only_run(a.path());
    let second = |auto: bool| {
        let mut cmd = machine(b.path(), "ben@desk", &url, &start_args(&url));
        if auto {
            cmd.arg("--auto-approve");
        }
        cmd.output().expect("start on B")
    };
    let out = second(true);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&id) && said.contains("driven by ana@laptop"), "names A's run and driver: {said}");
    assert!(!b.path().join("runs").exists() || std::fs::read_dir(b.path().join("runs")).unwrap().next().is_none());
    first.kill().expect("SIGKILL A");
    first.wait().expect("reap A");
    let abandon = |state: &Path| {
        let mut cmd = pilotlight(state);
        cmd.env(pilotlight::team::NAME_ENV, "ben@desk");
        cmd.args(["abandon", &id, "--reason", "ana's laptop died; starting again"]);
        cmd.args(["--team", TABLE, "--team-endpoint-url", &url, "--team-region", "us-east-1"]);
        cmd.output().expect("abandon")
    };
    let early = abandon(b.path());
    assert_eq!(early.status.code(), Some(1), "not while A's lease runs");
    wait_until_the_lease_expires(&url, &id);
    let out = abandon(b.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let last = table_entries(&url, &id).last().map(|e| e.event.clone());
    assert!(matches!(last, Some(Event::RunFinished { status: RunStatus::Abandoned })), "{last:?}");
    let out = second(true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "B starts once A's run is abandoned: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A handover: the driver waiting at its gate is asked to hand the run to ben; it stops at its
/// next heartbeat and gives the lease to him. Another responder is refused meanwhile; ben
/// resumes at once (no wait for an expiry) and finishes.
#[test]
fn a_run_handed_over_stops_its_driver_and_only_the_named_responder_takes_it_at_once() {
    let (_server, url) = team_world();
    let (a, b, c) = (state_dir(), state_dir(), state_dir());
    let mut driver = machine(a.path(), "ana@laptop", &url, &start_args(&url))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start A");
    // Held open: the gate keeps waiting (an end of input would abort it).
    let _gate_input = driver.stdin.take();
    wait_for_journal(a.path(), "a gate", at_a_gate);
    let (id, _) = only_run(a.path());
    let mut ask = pilotlight(c.path());
    ask.args(["handover", &id, "--to", "ben@desk", "--team", TABLE, "--team-endpoint-url", &url]);
    ask.args(["--team-region", "us-east-1"]);
    let out = ask.output().expect("handover");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = driver.wait_with_output().expect("A stops");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("handed over to ben@desk"), "{said}");
    let other = machine(c.path(), "cho@ops", &url, &["resume", &id, "--auto-approve"]).output().expect("resume on C");
    let said = String::from_utf8_lossy(&other.stderr).into_owned();
    assert_eq!(other.status.code(), Some(1), "{said}");
    assert!(said.contains("handed over to ben@desk"), "{said}");
    let out = machine(b.path(), "ben@desk", &url, &["resume", &id, "--auto-approve"]).output().expect("resume on B");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let entries = table_entries(&url, &id);
    assert!(entries.iter().any(|e| matches!(&e.event, Event::RunInterrupted { .. })), "A's stop is journaled");
    assert!(matches!(entries.last().map(|e| &e.event), Some(Event::RunFinished { status: RunStatus::Succeeded })));
}

/// A report with what differs between any two runs made alike: times, durations and counts of
/// seconds, run ids, AWS ids, and the user and machine names.
fn normalized(report: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let volatile = regex::Regex::new(
        r"\d{4}-\d\d-\d\dT[\d:.]+Z?|\d{8}T\d{6}Z-[a-z0-9-]+-[0-9a-f]{4}|(snap|vol|i|ami)-[0-9a-f]+|\d+(\.\d+)? ?(ms|s|min|h)\b",
    )
    .unwrap();
    match report {
        Value::String(s) => Value::String(volatile.replace_all(s, "_").into_owned()),
        Value::Number(_) => Value::from(0),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "user" | "by" | "operator"))
                .map(|(k, v)| (k.clone(), normalized(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A team run's after-action report is a local run's: the same failback on two fresh worlds, one
/// with `--team`, one without, report the same steps, calls, decisions and retained copies.
#[test]
fn a_team_runs_report_is_a_local_runs_report() {
    let report_of = |team: bool| {
        let server = moto();
        let url = server.endpoint_url();
        fresh_world(&server, &[Part::Ec2]);
        let state = state_dir();
        let mut cmd = if team {
            assert_eq!(init(&url).status.code(), Some(0));
            machine(state.path(), "ana@laptop", &url, &start_args(&url))
        } else {
            let mut cmd = pilotlight(state.path());
            cmd.args(start_args(&url)).arg("--headless");
            cmd
        };
        let out = cmd.arg("--auto-approve").output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let (id, _) = only_run(state.path());
        let mut report = pilotlight(state.path());
        report.args(["report", &id, "--format", "json"]);
        let out = report.output().expect("report");
        normalized(&serde_json::from_slice(&out.stdout).expect("a JSON report"))
    };
    let (local, team) = (report_of(false), report_of(true));
    assert_eq!(team, local);
}

/// Secrets are given again on the machine that takes a run over: the table holds none, and a
/// takeover with the run not yet on its disk still knows which inputs to ask for.
#[test]
fn a_takeover_asks_for_the_runs_secrets_again_and_the_table_never_holds_them() {
    use super::secrets::SECRET;
    let server = moto();
    let url = server.endpoint_url();
    assert_eq!(init(&url).status.code(), Some(0));
    let work = state_dir();
    let rb = super::secrets::runbook(work.path());
    let (a, b) = (state_dir(), state_dir());
    let rb = rb.to_str().unwrap();
    let mut first = machine(a.path(), "ana@laptop", &url, &["run", rb, "--auto-approve", "--endpoint-url", &url]);
    let out = first.env("PILOTLIGHT_VAR_TOKEN", SECRET).output().expect("run on A");
    assert_eq!(out.status.code(), Some(1), "the smoke test fails until `go` exists");
    let (id, _) = only_run(a.path());
    std::fs::write(work.path().join("go"), "").unwrap();
    let resume = || machine(b.path(), "ben@desk", &url, &["resume", &id, "--auto-approve"]);
    let out = resume().stdin(std::process::Stdio::null()).output().expect("resume without the secret");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("PILOTLIGHT_VAR_TOKEN"), "says how to give it: {said}");
    let out = resume().env("PILOTLIGHT_VAR_TOKEN", SECRET).output().expect("resume on B");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(work.path().join("used.txt")).unwrap().trim(), SECRET);
    let table = serde_json::to_string(&table_entries(&url, &id)).unwrap();
    assert!(!table.contains(SECRET), "the table never holds a secret");
}

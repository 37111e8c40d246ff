//! `cloudformation.deploy` resumed after a kill: it deploys the run's copy of the template (not a
//! file edited since), a stack that rolled back after the run's own CreateStack is reported and
//! left with its events, not deleted and created again, and a kill mid-wait waits on.

use super::realism::{Fault, FaultRule, RealismProxy};
use super::support::{block_on, journal, moto, only_run, pilotlight, recorded, sdk, seed, state_dir, wait_for_journal};
use pilotlight::journal::{CRASH_AFTER_ENV, CRASH_BEFORE_ANSWER_ENV, CRASH_EXIT_CODE, CallOutcome, Event, SubPhase};
use pilotlight::sandbox::moto_api;
use std::path::{Path, PathBuf};

const STACK: &str = "skeleton-permissions";

/// The skeleton runbook with its template beside it in `dir` (so the test can edit it).
fn runbook_with_own_template(dir: &Path) -> (PathBuf, PathBuf) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(repo.join("tests/fixtures/skeleton.yaml")).unwrap();
    let edited = src.replace("template: ../../assets/failback-permissions.json", "template: permissions.yaml");
    assert_ne!(src, edited, "the skeleton names its template");
    let template = dir.join("permissions.yaml");
    std::fs::copy(repo.join("assets/failback-permissions.json"), &template).unwrap();
    let runbook = dir.join("skeleton.yaml");
    std::fs::write(&runbook, edited).unwrap();
    (runbook, template)
}

/// A seeded moto server and the skeleton runbook with its own template beside it in a temporary
/// directory (kept alive by the returned handle).
fn seeded_world_with_own_template() -> (super::support::Moto, String, tempfile::TempDir, PathBuf, PathBuf) {
    let moto = moto();
    let url = moto.endpoint_url();
    seed(&url);
    let dir = tempfile::tempdir().unwrap();
    let (runbook, template) = runbook_with_own_template(dir.path());
    (moto, url, dir, runbook, template)
}

fn start(state: &Path, runbook: &Path, url: &str, crash: Option<(&str, u64)>) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["run"]).arg(runbook);
    cmd.args(["--headless", "--auto-approve", "--var", "cleanup=false", "--endpoint-url", url]);
    if let Some((env, at)) = crash {
        cmd.env(env, at.to_string());
    }
    cmd.output().expect("run pilotlight")
}

fn resume(state: &Path, id: &str, url: Option<&str>) -> std::process::Output {
    resume_crashing(state, id, url, None)
}

fn resume_crashing(state: &Path, id: &str, url: Option<&str>, crash_after: Option<u64>) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["resume", id, "--headless", "--auto-approve"]);
    if let Some(url) = url {
        cmd.args(["--endpoint-url", url]);
    }
    if let Some(at) = crash_after {
        cmd.env(CRASH_AFTER_ENV, at.to_string());
    }
    cmd.output().expect("resume")
}

/// The seq of the journal entry saying CreateStack is being sent, from an uninterrupted run on a
/// world that is then reset and seeded again.
fn create_stack_sending_seq(runbook: &Path, port: u16, url: &str) -> u64 {
    let state = state_dir();
    let out = start(state.path(), runbook, url, None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (_, dir) = only_run(state.path());
    let seq = journal(&dir)
        .iter()
        .find(|e| {
            matches!(&e.event, Event::AwsCall { operation, outcome: CallOutcome::Sending, .. } if operation == "CreateStack")
        })
        .expect("CreateStack was journaled")
        .seq;
    moto_api::reset(port).unwrap();
    seed(url);
    seq
}

fn deployed_template(url: &str) -> String {
    let client = aws_sdk_cloudformation::Client::new(&sdk(url, "us-east-1"));
    let out = block_on(client.get_template().stack_name(STACK).send()).expect("GetTemplate");
    out.template_body().unwrap_or_default().to_string()
}

#[test]
fn a_resume_deploys_the_template_the_run_first_sent_not_the_file_edited_since() {
    let (moto, url, _dir, runbook, template) = seeded_world_with_own_template();
    let original = std::fs::read_to_string(&template).unwrap();
    let sending = create_stack_sending_seq(&runbook, moto.port, &url);

    // Killed after journaling that CreateStack is being sent, before sending it.
    let state = state_dir();
    let out = start(state.path(), &runbook, &url, Some((CRASH_AFTER_ENV, sending)));
    assert_eq!(out.status.code(), Some(CRASH_EXIT_CODE));
    let (id, run_dir) = only_run(state.path());
    let copy = run_dir.join("templates/deploy/permissions.yaml");
    assert_eq!(std::fs::read_to_string(&copy).expect("the run kept a copy before sending"), original);

    // The file is edited after the gate was passed and the run was cut off.
    let edited = original.replacen("\"Description\": \"", "\"Description\": \"EDITED AFTER THE RUN SENT IT - ", 1);
    assert_ne!(edited, original);
    std::fs::write(&template, &edited).unwrap();

    // A second attempt is cut off too, as soon as it has started: the third must still know
    // what the first sent.
    let second_started = |dir: &Path| {
        journal(dir)
            .iter()
            .any(|e| matches!(&e.event, Event::ActionStarted { step, attempt: 2, .. } if step == "deploy"))
    };
    for further in 1.. {
        if second_started(&run_dir) {
            break;
        }
        assert!(further < 20, "the second attempt never started");
        // Each resume journals a few entries of its own before the attempt starts.
        let at = journal(&run_dir).len() as u64 + further;
        let out = resume_crashing(state.path(), &id, None, Some(at));
        assert_eq!(out.status.code(), Some(CRASH_EXIT_CODE), "{}", String::from_utf8_lossy(&out.stdout));
    }

    let out = resume(state.path(), &id, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let updates = journal(&run_dir)
        .iter()
        .filter(|e| matches!(&e.event, Event::AwsCall { operation, .. } if operation == "UpdateStack"))
        .count();
    assert_eq!(updates, 0, "the edited file was not deployed over the stack");
    assert_eq!(deployed_template(&url).trim(), original.trim(), "the stack holds what the run first sent");
    assert!(stdout.contains("since this run first sent it"), "the resume says the file changed: {stdout}");
    assert!(stdout.contains(&copy.display().to_string()), "and names the copy it deploys: {stdout}");
}

#[test]
fn a_stack_that_rolled_back_after_the_runs_own_create_is_reported_not_deleted() {
    let (moto, url, _dir, runbook, _) = seeded_world_with_own_template();

    // Killed after CreateStack (the skeleton's first mutating call) was answered, before the
    // journal heard.
    let state = state_dir();
    let out = start(state.path(), &runbook, &url, Some((CRASH_BEFORE_ANSWER_ENV, 1)));
    assert_eq!(out.status.code(), Some(CRASH_EXIT_CODE));
    let (id, run_dir) = only_run(state.path());

    // While nobody watched, the stack failed and rolled back (moto cannot roll back a stack:
    // the proxy shows the state AWS would).
    let proxy = RealismProxy::with_rules(
        moto.port,
        vec![FaultRule {
            needle: "Action=DescribeStacks",
            times: usize::MAX,
            fault: Fault::Rewrite { from: "<StackStatus>CREATE_COMPLETE<", to: "<StackStatus>ROLLBACK_COMPLETE<" },
        }],
    );
    moto_api::start_recording(moto.port).unwrap();
    let out = resume(state.path(), &id, Some(&proxy.endpoint_url()));
    moto_api::stop_recording(moto.port).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "the deploy fails and the run stops: {stdout}");
    assert!(
        stdout.contains("rolled back after the CreateStack of attempt 1"),
        "the failure says the run's own create rolled back: {stdout}"
    );
    let calls = recorded(moto.port);
    assert!(calls.iter().any(|c| c.operation == "DescribeStacks"), "the resume read the stack through the proxy");
    let sent: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).filter(|op| op.ends_with("Stack")).collect();
    assert!(sent.is_empty(), "no stack was deleted or created again: {sent:?}");
    let client = aws_sdk_cloudformation::Client::new(&sdk(&url, "us-east-1"));
    let found = block_on(client.describe_stacks().stack_name(STACK).send()).expect("the stack is still there");
    assert_eq!(found.stacks().len(), 1);
    let failed = journal(&run_dir).iter().any(|e| {
        matches!(&e.event, Event::StepStatus { step, status: pilotlight::journal::StepStatus::Failed, .. } if step == "deploy")
    });
    assert!(failed, "the deploy step is journaled as failed");

    // Reported once: the operator's retry deletes the rolled-back stack and creates it again
    // (which, through the same proxy, rolls back too, and is reported as this attempt's own).
    moto_api::start_recording(moto.port).unwrap();
    let mut retry = pilotlight(state.path());
    retry.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    retry.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = retry.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"r\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    moto_api::stop_recording(moto.port).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let sent: Vec<String> =
        recorded(moto.port).into_iter().map(|c| c.operation).filter(|op| op.ends_with("Stack")).collect();
    assert_eq!(sent, ["DeleteStack", "CreateStack"], "the retry deleted the reported stack and created it again");
    let last = stdout.lines().rfind(|l| l.contains("failed to create and rolled back")).unwrap_or_default();
    assert!(!last.contains("cut off"), "the new rollback is reported as the retry's own: {last}");
}

/// Killed (SIGKILL) while waiting for a stack that is still being created: the resume waits for
/// the same stack and creates no second one. (moto creates stacks at once; the proxy shows
/// `CREATE_IN_PROGRESS` for a while, as AWS would.)
#[test]
fn a_run_killed_during_a_stack_wait_resumes_waiting_for_the_same_stack() {
    let (moto, url, _dir, runbook, _) = seeded_world_with_own_template();
    let proxy = RealismProxy::start(
        moto.port,
        FaultRule {
            needle: "Action=DescribeStacks",
            times: usize::MAX,
            fault: Fault::Rewrite { from: "<StackStatus>CREATE_COMPLETE<", to: "<StackStatus>CREATE_IN_PROGRESS<" },
        },
    );
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run"]).arg(&runbook);
    cmd.args(["--headless", "--auto-approve", "--var", "cleanup=false", "--endpoint-url", &proxy.endpoint_url()]);
    let mut child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let run_dir = wait_for_journal(state.path(), "the stack wait", |entries| {
        entries.iter().any(
            |e| matches!(&e.event, Event::SubStep { name, phase: SubPhase::Waiting, .. } if name.part == "wait-stack"),
        )
    });
    child.kill().unwrap(); // SIGKILL, mid-wait
    child.wait().unwrap();
    let id = run_dir.file_name().unwrap().to_string_lossy().into_owned();

    // The stack completes; the resume (straight to moto, an override it journals) waits on.
    let out = resume(state.path(), &id, Some(&url));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let client = aws_sdk_cloudformation::Client::new(&sdk(&url, "us-east-1"));
    let listed = block_on(client.list_stacks().send()).unwrap();
    let ours: Vec<_> = listed.stack_summaries().iter().filter(|s| s.stack_name() == Some(STACK)).collect();
    assert_eq!(ours.len(), 1, "one stack was ever created: {ours:?}");
    let creates = journal(&run_dir)
        .iter()
        .filter(|e| {
            matches!(&e.event, Event::AwsCall { operation, outcome: CallOutcome::Sending, .. } if operation == "CreateStack")
        })
        .count();
    assert_eq!(creates, 1, "CreateStack was sent once");
}

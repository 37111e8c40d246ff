//! Team mode's two-person rule against moto: a gate with `approvers` waits after its driver
//! approved until another AWS identity (a moto IAM user with keys of its own) approves it from
//! its own machine; the driver's own identity never counts, and an approval is of one ask.

use super::support::{block_on, journal, moto, only_run, pilotlight, sdk, state_dir, wait_for_journal};
use super::team::{TABLE, machine, team_world};
use pilotlight::journal::Event;
use std::process::Command;

/// An IAM user in moto with access keys of its own: (key id, secret).
pub(super) fn iam_user(url: &str, name: &str) -> (String, String) {
    let iam = aws_sdk_iam::Client::new(&sdk(url, "us-east-1"));
    block_on(async {
        iam.create_user().user_name(name).send().await.expect("CreateUser");
        let key = iam.create_access_key().user_name(name).send().await.expect("CreateAccessKey");
        let key = key.access_key().expect("a key");
        (key.access_key_id().to_string(), key.secret_access_key().to_string())
    })
}

/// An approval item of moto IAM user `name` for `gate` (`<run>#<step>#<ask>`), written straight
/// into the table (not by `watch --approve`), as a bypass or a late answer would.
fn approval_written_by_hand(url: &str, name: &str, gate: &str) {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(url, "us-east-1"));
    let iam = aws_sdk_iam::Client::new(&sdk(url, "us-east-1"));
    block_on(async {
        let user = iam.get_user().user_name(name).send().await.expect("GetUser");
        let user_id = user.user().expect("the user").user_id().to_string();
        ddb.put_item()
            .table_name(TABLE)
            .item("pk", V::S(format!("approver#{user_id}")))
            .item("sk", V::S(gate.into()))
            .item("gate", V::S(gate.into()))
            .item("user_id", V::S(user_id))
            .item("arn", V::S(format!("arn:aws:iam::123456789012:user/{name}")))
            .send()
            .await
            .expect("PutItem");
    });
}

/// A two-approver gate: the driver (IAM user ana) approves and waits; an approval from ana's own
/// credentials is refused and does not count; ben's approval, from his own keys on his own
/// machine, lets the step run. Both identities are in the journal and in the report.
#[test]
fn a_two_approver_gate_waits_refuses_the_drivers_own_identity_and_goes_on_a_second_identitys_approval() {
    let (_server, url) = team_world();
    let (ana, ben) = (iam_user(&url, "ana"), iam_user(&url, "ben"));
    let keys = |cmd: &mut Command, (id, secret): &(String, String)| {
        cmd.env("AWS_ACCESS_KEY_ID", id).env("AWS_SECRET_ACCESS_KEY", secret);
    };
    let (a, b) = (state_dir(), state_dir());
    let args = ["run", "tests/fixtures/ec2-failback-two-person.yaml", "--auto-approve"];
    let mut driver = machine(a.path(), "ana@laptop", &url, &args);
    driver.args(["--endpoint-url", &url]).stdout(std::process::Stdio::piped());
    keys(&mut driver, &ana);
    let driver = driver.spawn().expect("start A");
    let dir = wait_for_journal(a.path(), "the driver's approval", |e| {
        e.iter().any(|e| matches!(&e.event, Event::Approval { driver: true, .. }))
    });
    let (id, _) = only_run(a.path());
    super::team::wait_until_the_table_has(&url, &id, &dir);
    let approve = |creds: &(String, String)| {
        let mut cmd = machine(b.path(), "ben@desk", &url, &["watch", &id, "--approve", "failback-ec2"]);
        keys(&mut cmd, creds);
        cmd.output().expect("watch --approve")
    };
    // The driver's own identity, from another machine: refused, nothing written.
    let out = approve(&ana);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("driver's own identity") && said.contains("user/ana"), "{said}");
    // Nor does an approval item written under ana's identity by other means (for this ask of the
    // gate: the driver's approval's entry).
    let ask = journal(&dir)
        .iter()
        .find(|e| matches!(&e.event, Event::Approval { driver: true, .. }))
        .map(|e| e.seq)
        .expect("the driver's approval");
    approval_written_by_hand(&url, "ana", &format!("{id}#failback-ec2#{ask}"));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let waiting = journal(&dir);
    assert!(
        !waiting.iter().any(|e| matches!(&e.event, Event::GateDecided { .. } | Event::ActionStarted { .. })),
        "the gate still waits for a second person"
    );
    // Ben approves from his machine with his own keys; the run goes on and ends.
    let out = approve(&ben);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("approved as arn:aws:iam::123456789012:user/ben"), "{said}");
    let out = driver.wait_with_output().expect("A ends");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let entries = journal(&dir);
    let approvals: Vec<(String, bool)> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::Approval { identity, driver, .. } => Some((identity.clone(), *driver)),
            _ => None,
        })
        .collect();
    assert_eq!(
        approvals,
        [
            ("arn:aws:iam::123456789012:user/ana".to_string(), true),
            ("arn:aws:iam::123456789012:user/ben".to_string(), false)
        ]
    );
    let mut report = pilotlight(a.path());
    report.args(["report", &id]);
    let text = String::from_utf8_lossy(&report.output().expect("report").stdout).into_owned();
    assert!(
        text.contains("approved by arn:aws:iam::123456789012:user/ana, arn:aws:iam::123456789012:user/ben"),
        "{text}"
    );
}

/// Without a team table there is no second machine to approve from: refused before anything
/// runs, saying how.
#[test]
fn a_two_approver_gate_needs_team_mode() {
    let server = moto();
    let url = server.endpoint_url();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/ec2-failback-two-person.yaml", "--headless", "--auto-approve"]);
    cmd.args(["--endpoint-url", &url]);
    let out = cmd.output().expect("run");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(out.status.code(), Some(0));
    assert!(said.contains("needs 2 approvers") && said.contains("--team"), "{said}");
    // The plan says so before any run.
    let mut plan = pilotlight(state.path());
    plan.args(["plan", "tests/fixtures/ec2-failback-two-person.yaml"]);
    let shown = String::from_utf8_lossy(&plan.output().expect("plan").stdout).into_owned();
    assert!(shown.contains("approvers: 2 (the driver, then 1 other AWS identity"), "{shown}");
    assert!(shown.contains("--approve failback-ec2"), "{shown}");
}

/// An approval is of one ask of a gate: a driver killed while its gate waited for approvers is
/// taken over, the new driver asks again, and an approval given to the old ask does not pass the
/// new one; an approval of the new ask does.
#[test]
fn an_approval_of_an_earlier_ask_of_the_gate_does_not_pass_the_next_one() {
    let (_server, url) = team_world();
    let (ana, ben, cho) = (iam_user(&url, "ana"), iam_user(&url, "ben"), iam_user(&url, "cho"));
    let keys = |cmd: &mut Command, (id, secret): &(String, String)| {
        cmd.env("AWS_ACCESS_KEY_ID", id).env("AWS_SECRET_ACCESS_KEY", secret);
    };
    let (a, b, c) = (state_dir(), state_dir(), state_dir());
    let args = ["run", "tests/fixtures/ec2-failback-two-person.yaml", "--auto-approve", "--endpoint-url", &url];
    let mut first = machine(a.path(), "ana@laptop", &url, &args);
    first.stdout(std::process::Stdio::null());
    keys(&mut first, &ana);
    let mut first = first.spawn().expect("start A");
    let dir = wait_for_journal(a.path(), "the driver's approval", |e| {
        e.iter().any(|e| matches!(&e.event, Event::Approval { driver: true, .. }))
    });
    let (id, _) = only_run(a.path());
    // Killed once the table has the driver's approval too (A appends locally first): the new
    // driver's ask is then the second.
    super::team::wait_until_the_table_has(&url, &id, &dir);
    first.kill().expect("SIGKILL A");
    first.wait().expect("reap A");
    let old_ask = journal(&dir).iter().find(|e| matches!(&e.event, Event::Approval { .. })).map(|e| e.seq).unwrap();
    // Ben's approval of the old ask, arriving late.
    approval_written_by_hand(&url, "ben", &format!("{id}#failback-ec2#{old_ask}"));
    super::team::wait_until_the_lease_expires(&url, &id);
    // Cho takes the run over and asks again.
    let mut second = machine(b.path(), "cho@ops", &url, &["resume", &id, "--auto-approve"]);
    second.stdout(std::process::Stdio::null());
    keys(&mut second, &cho);
    let second = second.spawn().expect("resume on B");
    let asks = |n: usize| {
        move |e: &[pilotlight::journal::Entry]| {
            e.iter().filter(|e| matches!(&e.event, Event::Approval { driver: true, .. })).count() >= n
        }
    };
    let dir_b = wait_for_journal(b.path(), "the new ask", asks(2));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(
        !journal(&dir_b).iter().any(|e| matches!(&e.event, Event::GateDecided { .. })),
        "the old ask's approval does not pass the new one"
    );
    let mut approve = machine(c.path(), "ben@desk", &url, &["watch", &id, "--approve", "failback-ec2"]);
    keys(&mut approve, &ben);
    let out = approve.output().expect("watch --approve");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = second.wait_with_output().expect("B ends");
    assert_eq!(out.status.code(), Some(0));
}

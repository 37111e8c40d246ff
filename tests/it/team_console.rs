//! Team mode's console keys end to end: a watcher on another machine (the real binary in tmux,
//! with its own AWS keys) hands the run over by name and, once the new driver asks the gate
//! again, approves it as the second person with its approve key. The journal and the report say
//! who approved; no `--approve` or `handover` command is used.

use super::console_tmux::Tmux;
use super::support::{journal, only_run, pilotlight, printed, state_dir, wait_for_journal};
use super::team::{TABLE, machine, team_world, wait_until_the_table_has};
use super::team_approvals::iam_user;
use pilotlight::journal::Event;
use std::process::Command;

/// The approvals journaled since the run's latest `run_resumed`: (identity, driver).
fn approvals_of_the_latest_ask(entries: &[pilotlight::journal::Entry]) -> Vec<(String, bool)> {
    let from = entries.iter().rposition(|e| matches!(e.event, Event::RunResumed { .. })).unwrap_or(0);
    entries[from..]
        .iter()
        .filter_map(|e| match &e.event {
            Event::Approval { identity, driver, .. } => Some((identity.clone(), *driver)),
            _ => None,
        })
        .collect()
}

/// Catches a watch console whose handover or approve key does nothing, reaches the wrong run,
/// approves under another identity than its own credentials', or approves an ask of the gate
/// that a handover ended.
#[test]
fn a_watcher_hands_the_run_over_and_approves_the_gate_with_its_keys() {
    let (_server, url) = team_world();
    let (ana, ben, dan) = (iam_user(&url, "ana"), iam_user(&url, "ben"), iam_user(&url, "dan"));
    let keys = |cmd: &mut Command, (id, secret): &(String, String)| {
        cmd.env("AWS_ACCESS_KEY_ID", id).env("AWS_SECRET_ACCESS_KEY", secret);
    };
    let (a, b, d) = (state_dir(), state_dir(), state_dir());
    let runbook = "tests/fixtures/ec2-failback-two-person.yaml";
    let mut driver = machine(a.path(), "ana@laptop", &url, &["run", runbook, "--auto-approve", "--endpoint-url", &url]);
    driver.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    keys(&mut driver, &ana);
    let driver = driver.spawn().expect("start A");
    let dir = wait_for_journal(a.path(), "the driver's approval", |e| {
        e.iter().any(|e| matches!(&e.event, Event::Approval { driver: true, .. }))
    });
    let (id, _) = only_run(a.path());
    wait_until_the_table_has(&url, &id, &dir);

    // Ben watches from his machine, in the console, with his own keys.
    let tmux = Tmux::new();
    let env =
        format!("AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} {}=ben@desk", ben.0, ben.1, pilotlight::team::NAME_ENV);
    let args =
        format!("watch {id} --team {TABLE} --team-endpoint-url {url} --team-region us-east-1 --endpoint-url {url}");
    tmux.start_with("ben", b.path(), &env, &args);
    tmux.wait_for("ben", "user/ana");
    tmux.wait_for("ben", "press y to approve it as your AWS identity");

    // He hands the run over to Dan: A stops before anything more.
    tmux.keys("ben", &["H"]);
    tmux.wait_for("ben", "Hand the run over");
    tmux.text("ben", "dan@desk");
    tmux.keys("ben", &["Enter"]);
    let out = driver.wait_with_output().expect("A stops");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("handed over to dan@desk"), "{said}");
    tmux.wait_for("ben", &format!("asked run {id}'s driver to hand it to dan@desk"));
    assert!(
        !journal(&dir).iter().any(|e| matches!(&e.event, Event::Approval { driver: false, .. })),
        "nothing was approved yet"
    );

    // Dan takes the run over; his gate asks again, and Ben approves this ask with his key.
    let mut resume = machine(d.path(), "dan@desk", &url, &["resume", &id, "--auto-approve", "--endpoint-url", &url]);
    resume.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    keys(&mut resume, &dan);
    let resume = resume.spawn().expect("resume on D");
    let dan_dir = wait_for_journal(d.path(), "Dan's ask of the gate", |e| {
        approvals_of_the_latest_ask(e).iter().any(|(who, driver)| *driver && who.ends_with("user/dan"))
    });
    wait_until_the_table_has(&url, &id, &dan_dir);
    tmux.wait_for("ben", "✓ arn:aws:iam::123456789012:user/dan");
    tmux.keys("ben", &["y"]);
    tmux.wait_for("ben", "Second approval");
    tmux.keys("ben", &["Enter"]);
    let out = resume.wait_with_output().expect("D ends");
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    tmux.wait_for("ben", "approved as arn:aws:iam::123456789012:user/ben");

    let entries = journal(&dan_dir);
    assert_eq!(
        approvals_of_the_latest_ask(&entries),
        [
            ("arn:aws:iam::123456789012:user/dan".to_string(), true),
            ("arn:aws:iam::123456789012:user/ben".to_string(), false)
        ]
    );
    let mut report = pilotlight(d.path());
    report.args(["report", &id]);
    let text = String::from_utf8_lossy(&report.output().expect("report").stdout).into_owned();
    assert!(
        text.contains("approved by arn:aws:iam::123456789012:user/dan, arn:aws:iam::123456789012:user/ben"),
        "{text}"
    );
}

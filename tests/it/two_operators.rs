//! Two operators, one runbook: a second run against the same environments is refused while the
//! first is unfinished, until it is resumed to its end or abandoned (journaled: who and why).

use super::support::{journal, pilotlight, run, state_dir};
use pilotlight::journal::{Event, RunStatus};

fn start(state: &std::path::Path, rb: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve"]).args(extra);
    run(cmd)
}

#[test]
fn a_second_run_against_the_same_environments_waits_for_the_first_to_end_or_be_abandoned() {
    let state = state_dir();
    let rb = state.path().join("smoke.yaml");
    std::fs::write(
        &rb,
        "version: 1\nname: smoke\ntitle: smoke\ninputs:\n  region: { type: string, default: us-east-1 }\n\
environments:\n  primary: { region: \"{{ inputs.region }}\" }\n  recovery: { region: us-west-2 }\n\
steps:\n  - id: smoke\n    title: smoke\n    action: exec\n    with: { command: \"test -f ok\" }\n",
    )
    .unwrap();
    assert_eq!(start(state.path(), &rb, &[]).status.code(), Some(1), "the first run fails and stays unfinished");
    let (runs, _) = pilotlight::engine::RunStore::new(state.path()).list();
    let first = runs[0].id.clone();

    let out = start(state.path(), &rb, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("run {first} of runbook `smoke` against the same environments is unfinished (failed")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("pilotlight resume {first}"))
            && stderr.contains(&format!("pilotlight abandon {first} --reason")),
        "{stderr}"
    );
    assert_eq!(pilotlight::engine::RunStore::new(state.path()).list().0.len(), 1, "no second run was created");

    // A dry run changes nothing, and other environments are other resources: both may start.
    assert_eq!(start(state.path(), &rb, &["--dry-run"]).status.code(), Some(0));
    assert_eq!(start(state.path(), &rb, &["--var", "region=eu-west-1"]).status.code(), Some(1), "it ran (and failed)");
    assert_eq!(pilotlight::engine::RunStore::new(state.path()).list().0.len(), 3);

    let mut cmd = pilotlight(state.path());
    cmd.args(["abandon", &first]);
    assert_eq!(run(cmd).status.code(), Some(2), "a reason is required");
    let mut cmd = pilotlight(state.path());
    cmd.args(["abandon", &first, "--reason", "superseded by the bridge call's decision"]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0));
    let dir = pilotlight::engine::RunStore::new(state.path()).dir(&first);
    let entries = journal(&dir);
    assert!(entries.iter().any(|e| matches!(&e.event, Event::RunAbandoned { reason, user } if reason == "superseded by the bridge call's decision" && !user.is_empty())));
    assert!(matches!(entries.last().unwrap().event, Event::RunFinished { status: RunStatus::Abandoned }));

    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &first, "--headless"]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was abandoned"), "an abandoned run is not resumed");

    std::fs::write(state.path().join("ok"), "").unwrap();
    assert_eq!(start(state.path(), &rb, &[]).status.code(), Some(0), "with the first abandoned, a new run starts");
}

/// A run that never sent a mutating call (here: no credentials, so every guard refused) does not
/// block the next run of the runbook until someone abandons it by hand: the next run supersedes
/// it, and both journals say so.
#[test]
fn a_run_that_changed_nothing_is_superseded_by_the_next_one_journaled_in_both() {
    let state = state_dir();
    let home = state_dir();
    let start = || {
        let mut cmd = pilotlight(state.path());
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("HOME", home.path())
            .env("AWS_CONFIG_FILE", home.path().join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("credentials"))
            .args(["run", "runbooks/failback.yaml", "--headless", "--auto-approve"])
            .args(["--endpoint-url", "http://127.0.0.1:9"]);
        run(cmd)
    };
    assert_eq!(start().status.code(), Some(1), "no credentials: the guard refuses");
    let store = pilotlight::engine::RunStore::new(state.path());
    let first = store.list().0[0].id.clone();

    let out = start();
    assert_eq!(out.status.code(), Some(1), "still no credentials, but the run started");
    let runs = store.list().0;
    assert_eq!(runs.len(), 2, "{runs:?}");
    let second = runs.iter().find(|r| r.id != first).unwrap().id.clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("this run supersedes run {first}: run {first} (failed")), "{stdout}");
    assert!(stdout.contains("never sent a mutating call"), "{stdout}");

    let old = journal(&store.dir(&first));
    let reason = format!("superseded by run {second}: this run never sent a mutating call");
    assert!(old.iter().any(|e| matches!(&e.event, Event::RunAbandoned { reason: r, .. } if *r == reason)), "{old:?}");
    assert!(matches!(old.last().unwrap().event, Event::RunFinished { status: RunStatus::Abandoned }));
    let new = journal(&store.dir(&second));
    assert!(matches!(&new[1].event, Event::RunSupersedes { run_id, .. } if *run_id == first), "{:?}", new[1]);
    assert_eq!(pilotlight::journal::RunState::replay(&new).supersedes.as_deref(), Some(first.as_str()));
}

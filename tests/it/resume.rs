//! A run killed (SIGKILL, the process, not a function return) between two actions resumes from
//! its journal and finishes without repeating the completed action.

use super::support::{journal, pilotlight, recorded, run, seeded_moto, state_dir, wait_for_journal};
use pilotlight::journal::{Event, RunStatus, StepStatus};
use pilotlight::sandbox::moto_api;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn killed_between_actions_resumes_without_repeating_the_first() {
    let (moto, url) = seeded_moto();
    moto_api::start_recording(moto.port).unwrap();
    let state = state_dir();

    // No --auto-approve: the run stops at the `flip` gate, waiting on standard input.
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/resume.yaml", "--headless", "--endpoint-url", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let run_dir = wait_for_journal(state.path(), "the flip gate", |entries| {
        entries.iter().any(
            |e| matches!(&e.event, Event::StepStatus { step, status: StepStatus::AwaitingGate, .. } if step == "flip"),
        )
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let id = run_dir.file_name().unwrap().to_string_lossy().into_owned();

    // The process died; leave a torn last line as a crash mid-write would.
    let mut f = std::fs::OpenOptions::new().append(true).open(run_dir.join("journal.jsonl")).unwrap();
    write!(f, "{{\"seq\": 999, \"ts\": \"2026-").unwrap();
    drop(f);

    let mut list = pilotlight(state.path());
    list.arg("runs");
    let out = run(list);
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = listing.lines().find(|l| l.starts_with(&id)).expect("the run is listed");
    assert_eq!(line.split_whitespace().nth(1), Some("running"), "a killed run is listed as running: {line}");

    let mut resume = pilotlight(state.path());
    resume.args(["resume", &id, "--headless", "--auto-approve"]);
    let out = run(resume);
    assert_eq!(out.status.code(), Some(0), "resume finishes the run");

    let creates = recorded(moto.port).into_iter().filter(|r| r.operation == "CreateStack").count();
    assert_eq!(creates, 1, "CreateStack was sent once across both processes");
    let entries = journal(&run_dir);
    let deploy_starts =
        entries.iter().filter(|e| matches!(&e.event, Event::ActionStarted { step, .. } if step == "deploy")).count();
    assert_eq!(deploy_starts, 1, "the completed deploy action was not started again");
    assert!(entries.iter().any(|e| matches!(e.event, Event::RunResumed { .. })));
    assert!(entries.iter().any(|e| matches!(&e.event, Event::ActionFinished { step, ok: true, .. } if step == "flip")));
    assert!(matches!(entries.last().unwrap().event, Event::RunFinished { status: RunStatus::Succeeded }));
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "the torn line was cut and numbering continued: {seqs:?}");
}

#[test]
fn an_action_killed_mid_way_runs_again_and_finished_steps_do_not() {
    // Kill inside a running action (a slow smoke test after the stack and the DNS flip): the
    // resumed run starts that action again as attempt 2 and sends no mutating call for the
    // steps that had finished.
    let (moto, url) = seeded_moto();
    let state = state_dir();
    let rb = state.path().join("slow.yaml");
    let src = std::fs::read_to_string(super::support::fixture("resume.yaml"))
        .unwrap()
        .replace("../../assets", &format!("{}/assets", super::support::repo().display()))
        + "  - id: after\n    title: wait here\n    action: exec\n    with: { command: \"echo $$ > sleeper.pid; test -f done || exec sleep 60\" }\n";
    std::fs::write(&rb, src).unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let pid_file = state.path().join("sleeper.pid");
    let run_dir = wait_for_journal(state.path(), "the exec step", |entries| {
        entries.iter().any(|e| matches!(&e.event, Event::ActionStarted { step, .. } if step == "after"))
            && std::fs::read_to_string(&pid_file).is_ok_and(|p| !p.trim().is_empty())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    // Should the killed run's command outlive it (its watchdog stops it), stop it by its PID.
    let sleeper: i32 = std::fs::read_to_string(state.path().join("sleeper.pid")).unwrap().trim().parse().unwrap();
    pilotlight::sandbox::process::terminate(sleeper, Duration::from_secs(2));
    std::fs::write(state.path().join("done"), "").unwrap();
    let id = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    moto_api::start_recording(moto.port).unwrap();
    let mut resume = pilotlight(state.path());
    resume.args(["resume", &id, "--headless", "--auto-approve"]);
    let out = run(resume);
    assert_eq!(out.status.code(), Some(0));
    let mutating: Vec<String> = recorded(moto.port).into_iter().filter(|r| r.mutating()).map(|r| r.operation).collect();
    assert!(mutating.is_empty(), "resume repeated a mutating call: {mutating:?}");
    let entries = journal(&run_dir);
    let after_starts: Vec<u32> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::ActionStarted { step, attempt, .. } if step == "after" => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(after_starts, [1, 2], "the interrupted exec ran again as attempt 2");
    for step in ["deploy", "flip"] {
        let starts =
            entries.iter().filter(|e| matches!(&e.event, Event::ActionStarted { step: s, .. } if s == step)).count();
        assert_eq!(starts, 1, "finished step {step} was not started again");
    }
    assert!(entries.iter().any(
        |e| matches!(&e.event, Event::ActionLog { step, message } if step == "after" && message.contains("interrupted"))
    ));
}

#[test]
fn resuming_a_finished_run_changes_nothing() {
    let (_moto, url) = seeded_moto();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/resume.yaml", "--headless", "--auto-approve", "--endpoint-url", &url]);
    assert_eq!(run(cmd).status.code(), Some(0));
    let (id, dir) = super::support::only_run(state.path());
    let before = std::fs::read(dir.join("journal.jsonl")).unwrap();
    let mut resume = pilotlight(state.path());
    resume.args(["resume", &id, "--headless", "--auto-approve"]);
    let out = run(resume);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already succeeded"));
    assert_eq!(std::fs::read(dir.join("journal.jsonl")).unwrap(), before, "the journal was not touched");
}

#[test]
fn ctrl_c_stops_the_run_and_the_command_it_was_running() {
    a_signal_stops_the_run_and_the_command_it_was_running(libc::SIGINT, "interrupted");
}

#[test]
fn sigterm_stops_the_run_and_the_command_it_was_running() {
    a_signal_stops_the_run_and_the_command_it_was_running(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sighup_stops_the_run_and_the_command_it_was_running() {
    a_signal_stops_the_run_and_the_command_it_was_running(libc::SIGHUP, "SIGHUP");
}

/// A signal to the line-mode process stops the run (journaled, resumable) and the process group
/// of the command its step was running.
fn a_signal_stops_the_run_and_the_command_it_was_running(signal: i32, said: &str) {
    let state = state_dir();
    let rb = state.path().join("slow.yaml");
    std::fs::write(
        &rb,
        "version: 1\nname: slow\ntitle: slow\nenvironments:\n  primary: { region: us-east-1 }\n  recovery: { region: us-west-2 }\n\
steps:\n  - id: wait\n    title: a long smoke test\n    action: exec\n    with: { command: \"sleep 60 & echo $! > sleeper.pid; wait\" }\n",
    )
    .unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid_file = state.path().join("sleeper.pid");
    wait_for_journal(state.path(), "the exec step", |_| {
        std::fs::read_to_string(&pid_file).is_ok_and(|p| !p.trim().is_empty())
    });
    let sleeper: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    // SAFETY: signals the child this test spawned.
    unsafe { libc::kill(child.id() as i32, signal) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{said}; continue the run with: pilotlight resume")), "{stderr}");
    let start = Instant::now();
    while pilotlight::sandbox::process::alive(sleeper) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let zombie_or_gone =
        std::fs::read_to_string(format!("/proc/{sleeper}/stat")).map(|s| s.contains(") Z")).unwrap_or(true);
    assert!(zombie_or_gone, "the smoke test's process was stopped with the run");
    let (_, dir) = super::support::only_run(state.path());
    assert!(journal(&dir).iter().any(|e| matches!(e.event, Event::RunInterrupted { .. })));
}

#[test]
fn ctrl_c_at_a_gate_prompt_exits_at_once() {
    let state = state_dir();
    let rb = state.path().join("gate.yaml");
    std::fs::write(
        &rb,
        "version: 1\nname: gate\ntitle: gate\nenvironments:\n  primary: { region: us-east-1 }\n  recovery: { region: us-west-2 }\n\
steps:\n  - id: ask\n    title: waits for the operator\n    gate: confirm\n",
    )
    .unwrap();
    let mut cmd = pilotlight(state.path());
    // Standard input stays open and silent: the prompt is waiting on it.
    cmd.args(["run", rb.to_str().unwrap(), "--headless"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    wait_for_journal(state.path(), "the gate", |entries| {
        entries.iter().any(|e| matches!(&e.event, Event::StepStatus { status: StepStatus::AwaitingGate, .. }))
    });
    let started = Instant::now();
    // SAFETY: signals the child this test spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(5), "pilotlight still runs after Ctrl-C at a prompt");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(child.wait().unwrap().code(), Some(1));
}

/// A resume acts where the run started unless told otherwise by a flag, and a change is
/// journaled and said; a stray AWS_ENDPOINT_URL in the shell does not move it.
#[test]
fn a_resume_keeps_the_recorded_endpoint_and_journals_an_override() {
    let state = state_dir();
    let rb = state.path().join("where.yaml");
    std::fs::write(
        &rb,
        "version: 1\nname: where\ntitle: where\nenvironments:\n  primary: { region: us-east-1 }\n  recovery: { region: us-west-2 }\n\
steps:\n  - id: look\n    title: look\n    action: exec\n    with: { command: \"echo $AWS_ENDPOINT_URL >> seen.txt; test -f ok\" }\n",
    )
    .unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", "http://127.0.0.1:9"]);
    assert_eq!(cmd.output().unwrap().status.code(), Some(1));
    let (id, dir) = super::support::only_run(state.path());

    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve"]).env("AWS_ENDPOINT_URL", "http://127.0.0.1:7");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AWS_ENDPOINT_URL in your shell is not used on resume"));

    std::fs::write(state.path().join("ok"), "").unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", "http://127.0.0.1:8"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("acting against endpoint http://127.0.0.1:8 instead of what the run recorded"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let overrides: Vec<Option<pilotlight::journal::Endpoint>> = journal(&dir)
        .into_iter()
        .filter_map(|e| match e.event {
            Event::RunResumed { endpoint_override, .. } => Some(endpoint_override),
            _ => None,
        })
        .collect();
    assert_eq!(overrides, [None, Some(pilotlight::journal::Endpoint::Url { url: "http://127.0.0.1:8".into() })]);
    let seen = std::fs::read_to_string(state.path().join("seen.txt")).unwrap();
    assert_eq!(seen.lines().collect::<Vec<_>>(), ["http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:8"]);
}

/// A command that starts something in the background and waits, and a run of it left running
/// once the background process is there: pilotlight, the background process's pid, the run's id.
fn a_run_while_its_command_runs(state: &Path) -> (std::process::Child, i32, String) {
    let rb = state.join("orphan.yaml");
    std::fs::write(
        &rb,
        "version: 1\nname: orphan\ntitle: orphan\nenvironments:\n  primary: { region: us-east-1 }\n  recovery: { region: us-west-2 }\n\
steps:\n  - id: wait\n    title: a long smoke test\n    action: exec\n    with: { command: \"test -f ok && exit 0; sleep 300 & echo $! > sleeper.pid; wait\" }\n",
    )
    .unwrap();
    let mut cmd = pilotlight(state);
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve"]).stdout(Stdio::null()).stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let pid_file = state.join("sleeper.pid");
    wait_for_journal(state, "the command", |_| std::fs::read_to_string(&pid_file).is_ok_and(|p| !p.trim().is_empty()));
    let sleeper: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let (id, _) = super::support::only_run(state);
    (child, sleeper, id)
}

/// The watchdog of run `id`'s command, waited for (it starts just after the command).
fn watchdog_of(id: &str) -> i32 {
    let start = Instant::now();
    loop {
        let found = processes_with_env("PILOTLIGHT_WATCHDOG", &format!("{id}/"));
        if let [pid] = found[..] {
            return pid;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the command has one watchdog: {found:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes whose environment holds `var` starting with `prefix`.
fn processes_with_env(var: &str, prefix: &str) -> Vec<i32> {
    let wanted = format!("{var}={prefix}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v.starts_with(wanted.as_bytes())))
        })
        .collect()
}

/// Waits up to five seconds for `pid` to end; true when it is gone (or a zombie no one reaps).
fn ends_soon(pid: i32) -> bool {
    let start = Instant::now();
    while pilotlight::sandbox::process::alive(pid) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.contains(") Z")).unwrap_or(true)
}

/// SIGKILL cannot be caught, yet the command's process group does not outlive pilotlight: its
/// watchdog sees pilotlight's end of a pipe close and kills the group.
#[test]
fn a_command_does_not_outlive_a_sigkilled_run() {
    let state = state_dir();
    let (mut child, sleeper, id) = a_run_while_its_command_runs(state.path());
    watchdog_of(&id);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(ends_soon(sleeper), "the command's background process ended with pilotlight");
    let start = Instant::now();
    while !processes_with_env("PILOTLIGHT_WATCHDOG", &format!("{id}/")).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5), "the watchdog ended too");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Should the watchdog die too (a `kill -9` of everything), the group is journaled, and the
/// resume stops what is left of it (recognised by its marker) before running the command again.
#[test]
fn a_resume_stops_what_a_killed_run_left_running_first() {
    let state = state_dir();
    let (mut child, sleeper, id) = a_run_while_its_command_runs(state.path());
    let watchdog = watchdog_of(&id);
    // SAFETY: SIGKILL to the watchdog of the run this test started (found by its environment).
    unsafe { libc::kill(watchdog, libc::SIGKILL) };
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(pilotlight::sandbox::process::alive(sleeper), "SIGKILL left the command's background process running");

    std::fs::write(state.path().join("ok"), "").unwrap();
    let (_, dir) = super::support::only_run(state.path());
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve"]);
    assert_eq!(run(cmd).status.code(), Some(0));
    assert!(ends_soon(sleeper), "the survivor was stopped on resume");
    assert!(journal(&dir).iter().any(|e| matches!(&e.event, Event::ActionLog { message, .. }
        if message.starts_with("stopped ") && message.contains(" process(es) the interrupted attempt left running (process group"))));
}

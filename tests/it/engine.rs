//! The engine driven headless by a scripted operator (no AWS): gates, skips, aborts, failure
//! decisions, `when`, and resume after an abort.

use super::support::state_dir;
use pilotlight::engine::{FailureAnswer, FailureRequest, GateAnswer, GateRequest, Operator, Run, RunOptions, RunStore};
use pilotlight::journal::{Event, GateOutcome, RunStatus, StepStatus};
use pilotlight::runbook::{self, inputs};
use std::collections::VecDeque;
use std::path::Path;

/// Answers from a script, and remembers what it was asked.
#[derive(Default)]
struct Script {
    gates: VecDeque<GateAnswer>,
    failures: VecDeque<FailureAnswer>,
    asked: Vec<String>,
}

impl Operator for Script {
    async fn gate(&mut self, r: GateRequest<'_>) -> GateAnswer {
        self.asked.push(format!("gate {}", r.step.id));
        self.gates.pop_front().expect("an unexpected gate")
    }
    async fn failure(&mut self, r: FailureRequest<'_>) -> FailureAnswer {
        self.asked.push(format!("failure {} attempt {}", r.step.id, r.attempt));
        self.failures.pop_front().expect("an unexpected failure prompt")
    }
}

const RUNBOOK: &str = r#"
version: 1
name: engine
title: Engine behaviour
inputs:
  extra: { type: boolean, default: false }
environments:
  primary: { region: us-east-1 }
  recovery: { region: us-west-2 }
steps:
  - id: ready
    title: Ready
    gate: { checklist: [one, two] }
  - id: destroy
    title: Destructive
    gate: { type_to_confirm: orders-db }
  - id: flaky
    title: Fails once, then works
    action: exec
    with: { command: "test -f marker || { touch marker; echo broken >&2; exit 3; }" }
    on_failure: ask
  - id: optional
    title: Only with extra
    when: inputs.extra
  - id: later
    title: Confirm
    gate: confirm
"#;

fn start(dir: &Path, state: &Path) -> Run {
    let path = dir.join("engine.yaml");
    std::fs::write(&path, RUNBOOK).unwrap();
    let loaded = runbook::load_file(&path, &pilotlight::actions::REGISTRY).unwrap();
    let resolved = inputs::resolve(&loaded.runbook, &[]).unwrap();
    Run::start(&RunStore::new(state), loaded, resolved, RunOptions::default(), Box::new(|_| {})).unwrap()
}

/// Writes `src` as a runbook in `work` and starts a run of it (no inputs, default options).
fn start_src(work: &Path, state: &Path, name: &str, src: &str) -> Run {
    let path = work.join(name);
    std::fs::write(&path, src).unwrap();
    let loaded = runbook::load_file(&path, &pilotlight::actions::REGISTRY).unwrap();
    Run::start(&RunStore::new(state), loaded, Default::default(), RunOptions::default(), Box::new(|_| {})).unwrap()
}

#[test]
fn gates_failures_and_resume_after_abort() {
    let work = state_dir();
    let state = state_dir();
    let run = start(work.path(), state.path());
    let id = run.id.clone();
    let approve = |typed: Option<&str>, checked: &[&str]| GateAnswer::Approve {
        typed: typed.map(str::to_string),
        checked: checked.iter().map(|s| s.to_string()).collect(),
    };
    let mut op = Script::default();
    op.gates.extend([
        approve(None, &["one"]),         // not every item ticked: asked again
        approve(None, &["one", "two"]),  // ready
        approve(Some("orders_db"), &[]), // mistyped: asked again
        approve(Some("orders-db"), &[]), // destroy
        GateAnswer::Abort,               // later: abort the run
    ]);
    op.failures.push_back(FailureAnswer::Retry);
    let status = super::support::block_on(run.drive(&mut op)).unwrap();
    assert_eq!(status, RunStatus::Aborted);
    assert_eq!(
        op.asked,
        ["gate ready", "gate ready", "gate destroy", "gate destroy", "failure flaky attempt 1", "gate later"]
    );
    let state_now = run.state();
    assert_eq!(state_now.step("flaky").status, StepStatus::Succeeded);
    assert_eq!(state_now.step("flaky").attempts, 2);
    assert_eq!(state_now.step("optional").status, StepStatus::Skipped);
    assert!(state_now.step("optional").reason.unwrap().contains("inputs.extra"));
    drop(run);

    // Resume: only the aborted gate is asked again.
    let run = Run::resume(&RunStore::new(state.path()), &id, Default::default(), Box::new(|_| {})).unwrap();
    let mut op = Script::default();
    op.gates.push_back(GateAnswer::Skip { reason: "not needed today".into() });
    let status = super::support::block_on(run.drive(&mut op)).unwrap();
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(op.asked, ["gate later"]);
    let entries = pilotlight::journal::read_entries(&run.dir.join("journal.jsonl")).unwrap().0;
    let typed: Vec<Option<String>> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::GateDecided { step, typed, outcome: GateOutcome::Approved, .. } if step == "destroy" => {
                Some(typed.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(typed, [Some("orders-db".to_string())], "only the matching confirmation is journaled as an approval");
    assert!(entries.iter().any(|e| matches!(&e.event,
        Event::StepStatus { step, status: StepStatus::Skipped, reason: Some(r) } if step == "later" && r == "not needed today")));
}

#[test]
fn a_run_cannot_be_driven_twice_at_once() {
    let work = state_dir();
    let state = state_dir();
    let run = start(work.path(), state.path());
    let second = Run::resume(&RunStore::new(state.path()), &run.id, Default::default(), Box::new(|_| {}));
    assert!(matches!(second, Err(pilotlight::engine::EngineError::Locked(_))));
}

#[test]
fn bad_vars_are_all_reported_before_anything_runs() {
    let work = state_dir();
    let path = work.path().join("engine.yaml");
    std::fs::write(
        &path,
        RUNBOOK.replace(
            "extra: { type: boolean, default: false }",
            "extra: { type: boolean }\n  n: { type: integer, default: 1 }",
        ),
    )
    .unwrap();
    let loaded = runbook::load_file(&path, &pilotlight::actions::REGISTRY).unwrap();
    let problems =
        inputs::resolve(&loaded.runbook, &[("n".into(), "many".into()), ("typo".into(), "1".into())]).unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("no input `typo`")));
    assert!(problems.iter().any(|p| p.contains("\"many\" is not an integer")));
    assert!(problems.iter().any(|p| p.contains("input `extra` is required")));
}

#[test]
fn outputs_of_a_skipped_step_do_not_wedge_the_run() {
    let work = state_dir();
    let state = state_dir();
    let run = start_src(
        work.path(),
        state.path(),
        "skip.yaml",
        r#"
version: 1
name: skip
title: A later step uses the output of a skipped one
environments:
  primary: { region: us-east-1 }
  recovery: { region: us-west-2 }
steps:
  - id: produce
    title: Produces an output
    gate: confirm
    action: exec
    with: { command: "echo produced" }
  - id: show
    title: Shows it
    instructions: "It said {{ steps.produce.outputs.stdout }}"
    gate: confirm
  - id: use
    title: Uses it
    action: exec
    with: { command: "echo {{ steps.produce.outputs.stdout }}" }
    on_failure: continue
"#,
    );
    let mut op = InstructionsSeen::default();
    let status = super::support::block_on(run.drive(&mut op)).unwrap();
    assert_eq!(status, RunStatus::Failed, "the run ends (failed), it does not stop with an engine error");
    assert_eq!(op.instructions, ["", "It said <steps.produce.outputs.stdout: not available>"]);
    let use_step = run.state().step("use");
    assert_eq!(use_step.status, StepStatus::Failed);
    assert!(use_step.last_error.unwrap().contains("cannot resolve parameters"));
    let id = run.id.clone();
    drop(run);

    // On resume the failed step (on_failure: continue) is offered again, and can be skipped.
    let run = Run::resume(&RunStore::new(state.path()), &id, Default::default(), Box::new(|_| {})).unwrap();
    let mut op = Script::default();
    op.failures.push_back(FailureAnswer::Skip { reason: "done by hand".into() });
    assert_eq!(super::support::block_on(run.drive(&mut op)).unwrap(), RunStatus::Succeeded);
    assert_eq!(op.asked, ["failure use attempt 1"]);
}

/// Skips the first gate, approves the rest, and keeps the instructions it was shown.
#[derive(Default)]
struct InstructionsSeen {
    instructions: Vec<String>,
}

impl Operator for InstructionsSeen {
    async fn gate(&mut self, r: GateRequest<'_>) -> GateAnswer {
        self.instructions.push(r.instructions.clone());
        if self.instructions.len() == 1 {
            GateAnswer::Skip { reason: "not today".into() }
        } else {
            GateAnswer::Approve { typed: None, checked: Vec::new() }
        }
    }
    async fn failure(&mut self, _: FailureRequest<'_>) -> FailureAnswer {
        FailureAnswer::Abort
    }
}

/// The console will drive a run from a spawned task on a multi-threaded runtime while it draws;
/// this keeps `Run::drive` spawnable (Send + 'static with an owned operator).
#[test]
fn a_run_can_be_driven_from_a_spawned_task() {
    let work = state_dir();
    let state = state_dir();
    let run = start(work.path(), state.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let status = rt.block_on(async move {
        let task = tokio::spawn(async move {
            let mut op = Script::default();
            op.gates.extend([
                GateAnswer::Approve { typed: None, checked: vec!["one".into(), "two".into()] },
                GateAnswer::Approve { typed: Some("orders-db".into()), checked: Vec::new() },
                GateAnswer::Approve { typed: None, checked: Vec::new() },
            ]);
            op.failures.push_back(FailureAnswer::Retry);
            run.drive(&mut op).await
        });
        task.await.unwrap()
    });
    assert_eq!(status.unwrap(), RunStatus::Succeeded);
}

#[test]
fn a_failed_step_is_offered_again_on_resume_and_can_be_skipped() {
    let work = state_dir();
    let state = state_dir();
    let run = start_src(
        work.path(),
        state.path(),
        "fails.yaml",
        "version: 1\nname: fails\ntitle: fails\nenvironments:\n  primary: { region: us-east-1 }\n  recovery: { region: us-west-2 }\n\
steps:\n  - id: broken\n    title: always fails\n    action: exec\n    with: { command: \"exit 3\" }\n  - id: after\n    title: after\n",
    );
    let id = run.id.clone();
    let status = super::support::block_on(run.drive(&mut Script::default())).unwrap();
    assert_eq!(status, RunStatus::Failed, "on_failure: abort stops the run");
    drop(run);

    let run = Run::resume(&RunStore::new(state.path()), &id, Default::default(), Box::new(|_| {})).unwrap();
    let mut op = Script::default();
    op.failures.push_back(FailureAnswer::Skip { reason: "fixed by hand".into() });
    let status = super::support::block_on(run.drive(&mut op)).unwrap();
    assert_eq!(op.asked, ["failure broken attempt 1"], "resume asks before trying the failed step again");
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(run.state().step("broken").status, StepStatus::Skipped);
    assert_eq!(run.state().step("broken").attempts, 1, "a skipped step is not run again");
}

#[test]
fn exec_returns_when_the_command_exits_even_if_it_left_something_running() {
    let work = state_dir();
    let state = state_dir();
    let run = start_src(
        work.path(),
        state.path(),
        "bg.yaml",
        "version: 1\nname: bg\ntitle: bg\nenvironments:\n  primary: { region: us-east-1 }\n  recovery: { region: us-west-2 }\n\
steps:\n  - id: smoke\n    title: starts a helper and exits\n    action: exec\n    with: { command: \"sleep 30 & echo started\" }\n    timeout: 20s\n",
    );
    let started = std::time::Instant::now();
    let status = super::support::block_on(run.drive(&mut Script::default())).unwrap();
    assert_eq!(status, RunStatus::Succeeded);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(run.state().step("smoke").outputs["stdout"], "started\n");
}

#[test]
fn secret_inputs_are_used_but_never_journaled_or_printed() {
    let work = state_dir();
    let state = state_dir();
    let path = work.path().join("secret.yaml");
    std::fs::write(
        &path,
        r#"version: 1
name: secret
title: a smoke test with a token
inputs:
  token: { type: string, secret: true, description: API token for the smoke test }
environments:
  primary: { region: us-east-1 }
  recovery: { region: us-west-2 }
steps:
  - id: smoke
    title: smoke test
    instructions: Calls the health endpoint with the token
    gate: confirm
    action: exec
    with: { command: "echo $TOKEN > used.txt; echo token=$TOKEN; echo $TOKEN >&2; exit 4", env: { TOKEN: "{{ inputs.token }}" } }
    on_failure: abort
"#,
    )
    .unwrap();
    let secret = "s3cr3t-T0KEN-value";
    let mut cmd = super::support::pilotlight(state.path());
    cmd.args(["run", path.to_str().unwrap(), "--headless", "--var", &format!("token={secret}")])
        .stdin(std::process::Stdio::piped());
    let mut child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the smoke test fails (exit 4)");
    assert_eq!(
        std::fs::read_to_string(work.path().join("used.txt")).unwrap().trim(),
        secret,
        "the command got the real value"
    );
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!printed.contains(secret), "the secret was printed:\n{printed}");
    assert!(printed.contains("<secret:token>"), "{printed}");
    let (id, dir) = super::support::only_run(state.path());
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    assert!(!journal.contains(secret), "the secret is in the journal");
    assert!(journal.contains("token=<secret:token>"), "the smoke test's output is journaled, redacted");

    // The journal cannot give the secret back: resume asks for it, and checks it like a run.
    let resume = |vars: &[&str]| {
        let mut cmd = super::support::pilotlight(state.path());
        cmd.args(["resume", &id, "--headless", "--auto-approve"]);
        for v in vars {
            cmd.args(["--var", v]);
        }
        super::support::run(cmd)
    };
    let out = resume(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("input `token` is secret and not in the journal: give it again as PILOTLIGHT_VAR_TOKEN, in a --var-file, or with --var token=VALUE")
    );
    let out = resume(&["token=short"]);
    assert_eq!(out.status.code(), Some(2), "a secret too short to redact is refused");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("short\""), "and not echoed");
    let given = format!("token={secret}");
    let out = resume(&[given.as_str()]);
    assert_eq!(out.status.code(), Some(1), "retried with the secret given again; the command still exits 4");
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!printed.contains(secret), "{printed}");
    let entries = pilotlight::journal::read_entries(&dir.join("journal.jsonl")).unwrap().0;
    let attempts =
        entries.iter().filter(|e| matches!(&e.event, Event::ActionStarted { step, .. } if step == "smoke")).count();
    assert_eq!(attempts, 2);
    assert!(!std::fs::read_to_string(dir.join("journal.jsonl")).unwrap().contains(secret));
}

#[test]
fn secrets_are_kept_out_of_what_is_shown_and_out_of_error_messages() {
    let base = "version: 1\nname: s\ntitle: s\ninputs:\n  token: { type: string, secret: true, pattern: \"tok-[a-z]+\" }\n\
environments:\n  primary: { region: us-east-1 }\n  recovery: { region: us-west-2 }\nsteps:\n";
    for (step, needle) in [
        ("  - id: a\n    title: \"uses {{ inputs.token }}\"\n", "secret input `token` cannot appear in a title"),
        (
            "  - id: a\n    title: t\n    gate: { type_to_confirm: \"{{ inputs.token }}\" }\n",
            "secret input `token` cannot appear",
        ),
        (
            "  - id: a\n    title: t\n    action: exec\n    with: { command: [curl, -H, \"token: {{ inputs.token }}\", x] }\n",
            "secret input `token` cannot appear in `command`: every local user can read a command line (ps); pass it in `env:` (TOKEN: \"{{ inputs.token }}\") and use $TOKEN in the command",
        ),
    ] {
        let err = runbook::load_str(
            Path::new("s.yaml"),
            Path::new("."),
            &format!("{base}{step}"),
            &pilotlight::actions::REGISTRY,
        )
        .unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
    let integer = "version: 1\nname: s\ntitle: s\ninputs:\n  pin: { type: integer, secret: true }\n\
environments:\n  primary: { region: us-east-1 }\n  recovery: { region: us-west-2 }\nsteps: []\n";
    let err =
        runbook::load_str(Path::new("s.yaml"), Path::new("."), integer, &pilotlight::actions::REGISTRY).unwrap_err();
    assert!(err.to_string().contains("only string and list inputs can be secret"), "{err}");

    let ok = runbook::load_str(
        Path::new("s.yaml"),
        Path::new("."),
        &format!("{base}  - id: a\n    title: t\n"),
        &pilotlight::actions::REGISTRY,
    )
    .unwrap();
    let problems = inputs::resolve(&ok.runbook, &[("token".into(), "WRONG-secret-value".into())]).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("does not match the pattern"), "{problems:?}");
    assert!(!problems[0].contains("WRONG-secret-value"), "the value is not echoed: {problems:?}");
    // A run needs the secret; a plan does not, and shows its marker.
    assert!(inputs::resolve(&ok.runbook, &[]).is_err());
    assert_eq!(inputs::resolve_for_plan(&ok.runbook, &[]).unwrap()["token"], "<secret:token>");
}

#[test]
fn a_hung_command_is_stopped_at_the_timeout_and_keeps_its_output() {
    let work = state_dir();
    let state = state_dir();
    let run = start_src(
        work.path(),
        state.path(),
        "hang.yaml",
        "version: 1\nname: hang\ntitle: hang\nenvironments:\n  primary: { region: us-east-1 }\n  recovery: { region: us-west-2 }\n\
steps:\n  - id: smoke\n    title: hangs\n    action: exec\n    with: { command: \"echo early; sleep 60\" }\n    timeout: 2s\n",
    );
    let started = std::time::Instant::now();
    let status = super::support::block_on(run.drive(&mut Script::default())).unwrap();
    assert_eq!(status, RunStatus::Failed);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "stopped at its own timeout: {:?}",
        started.elapsed()
    );
    let entries = pilotlight::journal::read_entries(&run.dir.join("journal.jsonl")).unwrap().0;
    let finished = entries.iter().find_map(|e| match &e.event {
        Event::ActionFinished { outputs, error, .. } => Some((outputs.clone(), error.clone())),
        _ => None,
    });
    let (outputs, error) = finished.unwrap();
    assert_eq!(outputs["stdout"], "early\n", "what it printed before hanging is journaled");
    assert!(error.unwrap().contains("did not finish within 2s"));
}

//! Failure decisions and retries that must survive a kill, and the account guard before step 1.
//!
//! A kill is simulated in-process by dropping the future of `Run::drive` (what a killed process
//! leaves behind is exactly the journal written so far), then dropping the `Run` (its lock) and
//! resuming from the journal.

use super::support::{block_on, journal, moto, only_run, pilotlight, run, state_dir};
use pilotlight::engine::{
    FailureAnswer, FailureRequest, GateAnswer, GateRequest, Observer, Operator, ResumeOptions, Run, RunOptions,
    RunStore,
};
use pilotlight::journal::{Entry, Event, FailureOutcome, RunStatus, StepStatus};
use pilotlight::runbook;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, oneshot};

/// How long a drive may take before the test gives up on it (a hang is a failure, not a wait).
const PATIENCE: Duration = Duration::from_secs(60);

/// A step that always fails (`exit 3`) and asks the operator, then a manual step.
const ASK: &str = r#"
version: 1
name: ask
title: A failure that asks
environments:
  primary: { region: us-east-1 }
  recovery: { region: us-west-2 }
steps:
  - id: broken
    title: Always fails
    action: exec
    with: { command: "exit 3" }
    on_failure: ask
  - id: after
    title: Afterwards
"#;

/// A step that always fails, with two retries, and stops the run once they are spent.
const RETRIES: &str = r#"
version: 1
name: retries
title: Retries across a kill
environments:
  primary: { region: us-east-1 }
  recovery: { region: us-west-2 }
steps:
  - id: broken
    title: Always fails
    action: exec
    with: { command: "exit 3" }
    retries: 2
    on_failure: abort
"#;

/// Writes `src` as a runbook in `work` and starts a run of it with `observer`.
fn start(work: &Path, state: &Path, src: &str, observer: Observer) -> Run {
    let path = work.join("runbook.yaml");
    std::fs::write(&path, src).unwrap();
    let loaded = runbook::load_file(&path, &pilotlight::actions::REGISTRY).unwrap();
    Run::start(&RunStore::new(state), loaded, Default::default(), RunOptions::default(), observer).unwrap()
}

/// Resumes a run as a person at the terminal would (no --auto-approve).
fn resume(state: &Path, id: &str) -> Run {
    let options = ResumeOptions { auto_approve: false, ..Default::default() };
    Run::resume(&RunStore::new(state), id, options, Box::new(|_| {})).unwrap()
}

/// Attempt numbers of the `ActionStarted` entries of `step`, in journal order.
fn attempts_started(entries: &[Entry], step: &str) -> Vec<u32> {
    entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::ActionStarted { step: s, attempt, .. } if s == step => Some(*attempt),
            _ => None,
        })
        .collect()
}

/// Where the first entry matching `pred` is in the journal.
fn position(entries: &[Entry], pred: impl Fn(&Event) -> bool) -> Option<usize> {
    entries.iter().position(|e| pred(&e.event))
}

/// An operator who walked away from the failure prompt: it says when it is asked, then never
/// answers (the process is killed while the question is on the screen).
struct AtThePrompt {
    asked: Option<oneshot::Sender<()>>,
}

impl Operator for AtThePrompt {
    async fn gate(&mut self, r: GateRequest<'_>) -> GateAnswer {
        panic!("unexpected gate for {}", r.step.id)
    }
    async fn failure(&mut self, _: FailureRequest<'_>) -> FailureAnswer {
        if let Some(tx) = self.asked.take() {
            let _ = tx.send(());
        }
        std::future::pending().await
    }
}

/// Answers failure prompts from a script, and remembers what it was asked and how many attempts
/// the journal showed at that moment.
struct Script {
    journal: PathBuf,
    failures: VecDeque<FailureAnswer>,
    asked: Vec<String>,
    attempts_when_asked: Vec<Vec<u32>>,
}

impl Script {
    fn new(run: &Run, failures: impl IntoIterator<Item = FailureAnswer>) -> Script {
        Script {
            journal: run.dir.join("journal.jsonl"),
            failures: failures.into_iter().collect(),
            asked: Vec::new(),
            attempts_when_asked: Vec::new(),
        }
    }
}

impl Operator for Script {
    async fn gate(&mut self, r: GateRequest<'_>) -> GateAnswer {
        panic!("unexpected gate for {}", r.step.id)
    }
    async fn failure(&mut self, r: FailureRequest<'_>) -> FailureAnswer {
        self.asked.push(format!("failure {} attempt {}", r.step.id, r.attempt));
        let entries = pilotlight::journal::read_entries(&self.journal).unwrap().0;
        self.attempts_when_asked.push(attempts_started(&entries, r.step.id.as_str()));
        self.failures.pop_front().unwrap_or_else(|| panic!("an unexpected failure prompt: {}", r.step.id))
    }
}

/// Starts the `ASK` runbook and kills it while the failure prompt of its first attempt is open.
/// Returns the run id; the journal is checked to say the step awaits a decision.
fn killed_at_the_failure_prompt(work: &Path, state: &Path) -> String {
    let run = start(work, state, ASK, Box::new(|_| {}));
    let (tx, rx) = oneshot::channel();
    let mut op = AtThePrompt { asked: Some(tx) };
    block_on(async {
        tokio::select! {
            r = run.drive(&mut op) => panic!("the drive ended although nobody answered: {r:?}"),
            asked = tokio::time::timeout(PATIENCE, rx) => asked.expect("asked in time").expect("asked"),
        }
    });
    // The drive future is gone (the "kill"); this is what the journal holds.
    let entries = journal(&run.dir);
    let awaiting = position(&entries, |e| {
        matches!(e, Event::StepStatus { step, status: StepStatus::AwaitingDecision, reason: Some(r) }
            if step == "broken" && r.contains("exited with"))
    })
    .expect("the failure awaiting a decision is journaled, with its error");
    assert_eq!(position(&entries, |e| matches!(e, Event::FailureDecided { .. })), None, "nobody decided anything");
    let failed_at =
        position(&entries, |e| matches!(e, Event::ActionFinished { step, ok: false, .. } if step == "broken"));
    assert!(failed_at.is_some_and(|f| f < awaiting), "journaled after the failure it is about");
    assert_eq!(attempts_started(&entries, "broken"), [1]);
    assert!(!entries.iter().any(|e| matches!(e.event, Event::RunFinished { .. })), "the run did not finish");
    let id = run.id.clone();
    drop(run);
    id
}

/// Catches a failure prompt that is not journaled before it is shown: a run killed at the
/// prompt would then look "running" on resume and try the action again (here `exit 3`; in a
/// failback, a mutation) before anyone decided. On resume the operator must be asked first, and a
/// skip must not run the action again.
#[test]
fn a_run_killed_at_the_failure_prompt_asks_again_and_a_skip_does_not_run_the_action() {
    let work = state_dir();
    let state = state_dir();
    let id = killed_at_the_failure_prompt(work.path(), state.path());

    let run = resume(state.path(), &id);
    let mut op = Script::new(&run, [FailureAnswer::Skip { reason: "fixed by hand".into() }]);
    let status = block_on(async { tokio::time::timeout(PATIENCE, run.drive(&mut op)).await }).expect("in time");
    assert_eq!(status.unwrap(), RunStatus::Succeeded);
    assert_eq!(op.asked, ["failure broken attempt 1"], "asked about the failure it was killed at");
    assert_eq!(op.attempts_when_asked, [vec![1]], "no new attempt before the decision");

    let entries = journal(&run.dir);
    assert_eq!(attempts_started(&entries, "broken"), [1], "a skipped step is not run again");
    let step = run.state().step("broken");
    assert_eq!((step.status, step.attempts), (StepStatus::Skipped, 1));
    assert_eq!(step.reason.as_deref(), Some("fixed by hand"));
    assert_eq!(run.state().step("after").status, StepStatus::Succeeded);
    let awaiting = position(&entries, |e| matches!(e, Event::StepStatus { status: StepStatus::AwaitingDecision, .. }));
    let decided = position(&entries, |e| {
        matches!(e, Event::FailureDecided { step, outcome: FailureOutcome::Skip, reason: Some(r), .. }
            if step == "broken" && r == "fixed by hand")
    });
    assert!(awaiting < decided, "awaiting {awaiting:?}, decided {decided:?}");
}

/// The same kill, answered with a retry: the action runs again exactly once (attempt 2), and
/// its failure is asked about again (the retry did not use up the decision).
#[test]
fn a_run_killed_at_the_failure_prompt_retries_only_when_told_to() {
    let work = state_dir();
    let state = state_dir();
    let id = killed_at_the_failure_prompt(work.path(), state.path());

    let run = resume(state.path(), &id);
    let mut op = Script::new(&run, [FailureAnswer::Retry, FailureAnswer::Skip { reason: "gave up".into() }]);
    let status = block_on(async { tokio::time::timeout(PATIENCE, run.drive(&mut op)).await }).expect("in time");
    assert_eq!(status.unwrap(), RunStatus::Succeeded);
    assert_eq!(op.asked, ["failure broken attempt 1", "failure broken attempt 2"]);
    assert_eq!(op.attempts_when_asked, [vec![1], vec![1, 2]], "attempt 2 only after the retry was chosen");

    let entries = journal(&run.dir);
    assert_eq!(attempts_started(&entries, "broken"), [1, 2]);
    let step = run.state().step("broken");
    assert_eq!((step.status, step.attempts), (StepStatus::Skipped, 2));
    let outcomes: Vec<FailureOutcome> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::FailureDecided { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, [FailureOutcome::Retry, FailureOutcome::Skip]);
    let awaiting: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.event, Event::StepStatus { status: StepStatus::AwaitingDecision, .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(awaiting.len(), 2, "each failure prompt of a run is journaled before it is shown");
}

/// Catches retries counted in memory: a run killed between attempts would get `retries` fresh
/// retries on resume, so a kill buys extra attempts (with a mutating action, extra mutations).
/// `retries: 2` allows exactly three attempts, however many processes they are spread over.
#[test]
fn retries_are_counted_across_a_kill_between_attempts() {
    let work = state_dir();
    let state = state_dir();
    let first_failure = Arc::new(Notify::new());
    let observer: Observer = {
        let first_failure = first_failure.clone();
        Box::new(move |e: &Entry| {
            if matches!(e.event, Event::ActionFinished { ok: false, .. }) {
                first_failure.notify_one();
            }
        })
    };
    let run = start(work.path(), state.path(), RETRIES, observer);
    let mut op = Script::new(&run, []);
    block_on(async {
        tokio::select! {
            r = run.drive(&mut op) => panic!("the drive ended before it was killed: {r:?}"),
            // The engine now sleeps before its first retry: the kill lands there.
            waited = tokio::time::timeout(PATIENCE, first_failure.notified()) => waited.expect("a failure in time"),
        }
    });
    let entries = journal(&run.dir);
    assert_eq!(attempts_started(&entries, "broken"), [1], "killed after the first attempt");
    assert!(
        !entries.iter().any(|e| matches!(e.event, Event::StepStatus { status: StepStatus::Failed, .. })),
        "not failed yet: two retries are left"
    );
    let id = run.id.clone();
    drop(run);

    let run = resume(state.path(), &id);
    let mut op = Script::new(&run, []);
    let status = block_on(async { tokio::time::timeout(PATIENCE, run.drive(&mut op)).await }).expect("in time");
    assert_eq!(status.unwrap(), RunStatus::Failed, "the retries are spent: on_failure: abort stops the run");
    assert!(op.asked.is_empty(), "a step between retries is not a failed step to ask about: {:?}", op.asked);
    let entries = journal(&run.dir);
    assert_eq!(attempts_started(&entries, "broken"), [1, 2, 3], "1 attempt + 2 retries, across both processes");
    let failed = entries.iter().filter(|e| matches!(e.event, Event::ActionFinished { ok: false, .. })).count();
    assert_eq!(failed, 3);
    let step = run.state().step("broken");
    assert_eq!((step.status, step.attempts), (StepStatus::Failed, 3));
}

/// The `AccountChecked` entries of a journal: (env, ok, expected, account, message).
type Check = (String, bool, Option<String>, Option<String>, Option<String>);

fn account_checks(entries: &[Entry]) -> Vec<(usize, Check)> {
    entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.event {
            Event::AccountChecked { env, ok, expected, account, message, .. } => {
                Some((i, (env.clone(), *ok, expected.clone(), account.clone(), message.clone())))
            }
            _ => None,
        })
        .collect()
}

/// Catches an account guard that skips environments without `account_id` (a run could act in
/// whatever account the recovery credentials belong to, with no record of which), that checks
/// an environment more than once per run in the journal, or that runs after step 1 has started.
/// moto's credentials belong to account 123456789012.
#[test]
fn every_environment_is_checked_and_journaled_once_before_step_1() {
    let moto = moto();
    let url = moto.endpoint_url();
    let state = state_dir();
    let rb = state.path().join("guarded.yaml");
    std::fs::write(
        &rb,
        r#"version: 1
name: guarded
title: One read, primary guarded, recovery not
environments:
  primary: { region: us-east-1, account_id: "123456789012" }
  recovery: { region: us-west-2 }
resources:
  stack: { type: cloudformation_stack, primary: guarded-permissions }
steps:
  - id: read
    title: Read the stack
    action: check.resource
    with: { resource: stack, property: exists }
"#,
    )
    .unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", &url]);
    assert_eq!(run(cmd).status.code(), Some(0));

    let (_, dir) = only_run(state.path());
    let entries = journal(&dir);
    let checks = account_checks(&entries);
    let account = Some("123456789012".to_string());
    assert_eq!(checks.len(), 2, "one per environment: {checks:?}");
    let (_, (env, ok, expected, got, message)) = &checks[0];
    assert_eq!((env.as_str(), *ok, expected, got, message), ("primary", true, &account, &account, &None));
    let (_, (env, ok, expected, got, message)) = &checks[1];
    assert_eq!((env.as_str(), *ok, expected, got), ("recovery", true, &None, &account));
    let warning = message.as_deref().expect("a warning that nothing guards recovery");
    assert!(warning.contains("no account_id") && warning.contains("123456789012"), "{warning}");

    let first_step = position(&entries, |e| matches!(e, Event::StepStatus { .. })).expect("step 1 ran");
    assert!(checks.iter().all(|(i, _)| *i < first_step), "checked before step 1 (at {first_step}): {checks:?}");
}

/// Catches a guard that asks STS for runbooks that never call AWS: a local smoke test would
/// need AWS credentials and a network, and fail without them. No endpoint is given here, so
/// asking STS would go to real AWS with fake credentials and fail the run.
#[test]
fn a_runbook_without_aws_actions_checks_no_account() {
    let state = state_dir();
    let rb = state.path().join("local.yaml");
    std::fs::write(
        &rb,
        r#"version: 1
name: local
title: Only local commands
environments:
  primary: { region: us-east-1, account_id: "123456789012" }
  recovery: { region: us-west-2 }
steps:
  - id: smoke
    title: Smoke test
    action: exec
    with: { command: "echo ok" }
  - id: note
    title: Tell the team
"#,
    )
    .unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve"]);
    assert_eq!(run(cmd).status.code(), Some(0));
    let (_, dir) = only_run(state.path());
    let entries = journal(&dir);
    let checks = account_checks(&entries);
    assert!(checks.is_empty(), "no account check without an AWS action: {checks:?}");
    assert!(matches!(entries.last().unwrap().event, Event::RunFinished { status: RunStatus::Succeeded }));
}

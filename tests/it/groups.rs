//! Step groups: consecutive steps with the same `group` run concurrently behind the first one's
//! gate, at most `max_parallel` at once; a failing step does not stop the others, the run then
//! fails, and a resume re-runs only the failed step. The format rejects a split group, a gate
//! inside a group and a reference to another step of the same group.

use super::support::{block_on, state_dir};
use pilotlight::engine::{FailureAnswer, FailureRequest, GateAnswer, GateRequest, Operator, Run, RunOptions, RunStore};
use pilotlight::journal::{Event, RunStatus, StepStatus, read_entries};
use pilotlight::runbook;
use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

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
        self.asked.push(format!("failure {}", r.step.id));
        self.failures.pop_front().expect("an unexpected failure prompt")
    }
}

const GROUPED: &str = r#"
version: 1
name: grouped
title: A group of steps
max_parallel: 3
environments:
  primary: { region: us-east-1 }
  recovery: { region: us-west-2 }
steps:
  - id: slow-a
    title: Slow A
    group: work
    gate: confirm
    action: exec
    with: { command: "sleep 1" }
  - id: slow-b
    title: Slow B
    group: work
    action: exec
    with: { command: "sleep 1" }
  - id: broken
    title: Broken until fixed
    group: work
    action: exec
    with: { command: "test -f fixed || { echo not fixed >&2; exit 3; }" }
  - id: after
    title: After the group
    gate: confirm
"#;

fn start(work: &Path, state: &Path, max_parallel: Option<usize>) -> Run {
    let path = work.join("grouped.yaml");
    std::fs::write(&path, GROUPED).unwrap();
    let loaded = runbook::load_file(&path, &pilotlight::actions::REGISTRY).unwrap();
    let options = RunOptions { max_parallel, ..Default::default() };
    Run::start(&RunStore::new(state), loaded, Default::default(), options, Box::new(|_| {})).unwrap()
}

fn approve() -> GateAnswer {
    GateAnswer::Approve { typed: None, checked: Vec::new() }
}

fn action_starts(dir: &Path, step: &str) -> usize {
    let entries = read_entries(&dir.join("journal.jsonl")).unwrap().0;
    entries.iter().filter(|e| matches!(&e.event, Event::ActionStarted { step: s, .. } if s == step)).count()
}

#[test]
fn a_group_runs_behind_one_gate_concurrently_and_a_resume_reruns_only_the_failed_step() {
    let (work, state) = (state_dir(), state_dir());
    let run = start(work.path(), state.path(), None);
    let (id, dir) = (run.id.clone(), run.dir.clone());
    let mut op = Script::default();
    op.gates.push_back(approve());
    let began = Instant::now();
    let status = block_on(run.drive(&mut op)).unwrap();
    let took = began.elapsed();
    assert_eq!(status, RunStatus::Failed, "a failed step of the group fails the run (on_failure: abort)");
    assert_eq!(op.asked, ["gate slow-a"], "one gate for the group; the step after it is not reached");
    assert!(took < Duration::from_millis(1900), "the two 1 s steps ran side by side ({took:?})");
    let st = run.state();
    assert_eq!(st.step("slow-a").status, StepStatus::Succeeded, "the others reached their end");
    assert_eq!(st.step("slow-b").status, StepStatus::Succeeded);
    assert_eq!(st.step("broken").status, StepStatus::Failed);
    drop(run);

    // Fixed; resume: the failed step is offered again and re-run alone, then the run goes on.
    std::fs::write(work.path().join("fixed"), "").unwrap();
    let run = Run::resume(&RunStore::new(state.path()), &id, Default::default(), Box::new(|_| {})).unwrap();
    let mut op = Script::default();
    op.failures.push_back(FailureAnswer::Retry);
    op.gates.push_back(approve());
    assert_eq!(block_on(run.drive(&mut op)).unwrap(), RunStatus::Succeeded);
    assert_eq!(op.asked, ["failure broken", "gate after"]);
    assert_eq!(
        (action_starts(&dir, "slow-a"), action_starts(&dir, "slow-b"), action_starts(&dir, "broken")),
        (1, 1, 2)
    );
}

#[test]
fn max_parallel_one_runs_a_group_one_step_at_a_time() {
    let (work, state) = (state_dir(), state_dir());
    std::fs::write(work.path().join("fixed"), "").unwrap();
    let run = start(work.path(), state.path(), Some(1));
    let mut op = Script::default();
    op.gates.extend([approve(), approve()]);
    let began = Instant::now();
    assert_eq!(block_on(run.drive(&mut op)).unwrap(), RunStatus::Succeeded);
    assert!(began.elapsed() >= Duration::from_secs(2), "one at a time: {:?}", began.elapsed());
    // And the journal shows it: each action finishes before the next starts.
    let entries = read_entries(&run.dir.join("journal.jsonl")).unwrap().0;
    let mut open = 0;
    for e in &entries {
        match &e.event {
            Event::ActionStarted { .. } => {
                open += 1;
                assert_eq!(open, 1, "two actions in flight at once");
            }
            Event::ActionFinished { .. } => open -= 1,
            _ => {}
        }
    }
}

#[test]
fn the_format_rejects_a_split_group_a_gate_inside_a_group_and_a_reference_within_it() {
    let src = r#"version: 1
name: bad-groups
title: Bad groups
environments:
  primary: { region: us-east-1 }
  recovery: { region: us-west-2 }
steps:
  - id: a
    title: A
    group: g
    action: exec
    with: { command: "true" }
  - id: b
    title: B
    group: g
    gate: confirm
    action: exec
    with: { command: "echo {{ steps.a.outputs.stdout }}" }
  - id: c
    title: C
  - id: d
    title: D
    group: g
"#;
    let err = runbook::load_str(Path::new("bad.yaml"), Path::new("."), src, &pilotlight::actions::REGISTRY)
        .expect_err("invalid");
    let text = err.to_string();
    for (pos, message) in [
        ("bad.yaml:16:11", "only the first step of group `g` has a gate"),
        ("bad.yaml:18:11", "`steps.a.outputs.stdout` is an output of step `a` of the same group `g`"),
        ("bad.yaml:23:12", "the steps of group `g` must be one after another"),
    ] {
        assert!(text.lines().any(|l| l.starts_with(pos) && l.contains(message)), "{pos} {message:?} in:\n{text}");
    }
}

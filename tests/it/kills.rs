//! The kill harness: a run killed at every point (after each journal entry, or before each
//! mutating call's answer is journaled) on fresh worlds, resumed, and its end state compared with
//! an uninterrupted run's; and the worlds it runs on.

use super::support::{block_on, journal, moto, only_run, pilotlight, state_dir};
use pilotlight::sandbox::{MotoServer, moto_api};
use std::path::Path;

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

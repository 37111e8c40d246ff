//! Opening the console on a run: driving it (`run`, `resume`, `demo`) or following another
//! process's run read-only (`watch`).

use super::app::{App, Exit};
use super::keymap::{self, Keymap};
use super::msg::{ChannelOperator, Msg, Sender};
use super::terminal::Guard;
use super::theme::Theme;
use crate::engine::follow::{EntrySource, Follower};
use crate::engine::poller::{Poller, Resources};
use crate::engine::run_view::RunView;
use crate::engine::{EngineError, Run, RunStore, store};
use crate::journal::RunStatus;
use crossterm::event::EventStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often each resource type is polled when all is well, unless `PILOTLIGHT_POLL_INTERVAL`
/// (`10s`, `1m`) says otherwise.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// While the run waits for a person (a gate, a decision) resources change slowly: the polls
/// slow to this many intervals, which keeps an idle console's CPU low.
const IDLE_FACTOR: u32 = 6;

/// The poll interval: `PILOTLIGHT_POLL_INTERVAL`, else [`POLL_INTERVAL`]; never under a second.
pub fn poll_interval() -> Duration {
    std::env::var("PILOTLIGHT_POLL_INTERVAL")
        .ok()
        .and_then(|v| humantime::parse_duration(v.trim()).ok())
        .unwrap_or(POLL_INTERVAL)
        .max(Duration::from_secs(1))
}

/// How often `watch` looks for new journal lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// Where the user's `keys.conf` is looked for.
pub fn keys_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "pilotlight").map(|d| d.config_dir().join(keymap::FILE))
}

/// How a console session ended.
#[derive(Debug)]
pub enum Ended {
    /// The run reached an end (the console stayed open until the operator left).
    Finished(RunStatus),
    /// The operator quit or a signal closed the console while the run was still going; it was
    /// journaled as interrupted and stays resumable.
    Left { signal: bool },
    /// The engine could not go on.
    Error(String),
    /// A handover of this team run to that name was asked (`pilotlight handover`): the run
    /// stopped as on a quit, and its lease goes to that name.
    HandedOver(String),
}

/// The channel the engine's observer feeds: create it before the run starts so the run's first
/// entries reach the console.
pub fn channel() -> (Sender, mpsc::UnboundedReceiver<Msg>) {
    mpsc::unbounded_channel()
}

/// The engine observer that sends each journal entry to the console.
pub fn observer(tx: Sender) -> crate::engine::Observer {
    Box::new(move |entry| {
        let _ = tx.send(Msg::Entry(entry.clone()));
    })
}

fn app_for(view: RunView, runbook: &crate::runbook::Runbook) -> App {
    let (keys, problems) = Keymap::load(keys_file().as_deref());
    let mut app = App::new(view, Resources::new(runbook, poll_interval()), keys, Theme::from_env());
    if !problems.is_empty() {
        app.notice = Some(problems.join("; "));
    }
    app
}

fn pace(app: &mut App, poller: &Poller) {
    let busy = poll_interval();
    app.poll = Some(super::app::Pacing { control: poller.control(), busy, idle: busy * IDLE_FACTOR, running: true });
}

/// SIGTERM and SIGHUP close the console like a quit (the run stays resumable).
fn forward_signals(tx: Sender) {
    use tokio::signal::unix::{SignalKind, signal};
    for (kind, name) in [(SignalKind::terminate(), "SIGTERM"), (SignalKind::hangup(), "SIGHUP")] {
        let Ok(mut s) = signal(kind) else { continue };
        let tx = tx.clone();
        tokio::spawn(async move {
            if s.recv().await.is_some() {
                let _ = tx.send(Msg::Signal(name));
            }
        });
    }
}

/// Drives `run` with the console as its operator until the operator leaves.
pub async fn drive(run: Run, tx: Sender, mut rx: mpsc::UnboundedReceiver<Msg>) -> Result<Ended, EngineError> {
    let mut app = app_for(run.view()?, run.runbook());
    app.team = run.team_store().map(|store| {
        let tell = tx.clone();
        crate::team::asks::serve(store, run.id.clone(), None, move |line| {
            let _ = tell.send(Msg::Notice(line));
        })
    });
    let envs = Arc::new(run.read_envs());
    let poll_tx = tx.clone();
    let poller = Poller::spawn(run.runbook(), envs, poll_interval(), move |r| {
        let _ = poll_tx.send(Msg::Resources(r));
    });
    pace(&mut app, &poller);
    forward_signals(tx.clone());
    let mut guard =
        Guard::enter().map_err(|source| EngineError::Io { context: "cannot open the console".into(), source })?;
    let mut operator = ChannelOperator { tx: tx.clone() };
    let driving = async {
        let result = run.drive(&mut operator).await.map_err(|e| e.to_string());
        let _ = tx.send(Msg::Finished(result));
        std::future::pending::<()>().await;
    };
    let mut handed_to = None;
    let exit = tokio::select! {
        exit = super::event_loop(&mut guard.terminal, &mut app, &mut rx, EventStream::new()) => exit,
        _ = driving => unreachable!("the drive future never completes"),
        to = run.handover_requested() => {
            handed_to = Some(to);
            Ok(Exit::Signal)
        }
    };
    drop(guard);
    // The drive future is gone: unless the run ended, it stopped here, whatever ended the
    // console (a quit, a signal, a terminal error), and the journal says so.
    if app.finished.is_none() {
        run.interrupted()?;
    }
    let exit = exit.map_err(|source| EngineError::Io { context: "the console failed".into(), source })?;
    Ok(match app.finished {
        None if handed_to.is_some() => Ended::HandedOver(handed_to.unwrap_or_default()),
        Some(Ok(status)) => Ended::Finished(status),
        Some(Err(e)) => Ended::Error(e),
        None => Ended::Left { signal: exit == Exit::Signal },
    })
}

/// Follows run `id` read-only: its journal, and live resource polls. No decision, no mutating call.
pub async fn watch(store: &RunStore, id: &str, connect: Option<crate::aws::ConnectOptions>) -> Result<(), EngineError> {
    let dir = store.dir(id);
    let journal = dir.join(store::JOURNAL_FILE);
    if !journal.is_file() {
        return Err(EngineError::NotFound(id.to_string()));
    }
    watch_from(&dir, id, Box::new(Follower::new(journal)), connect, None).await
}

/// The watch console on entries from `follower`; `dir` holds the run's runbook copy. With `team`
/// (the team table, and `dir` as the mirror of its run), its keys approve a gate waiting for
/// approvers and ask for a handover.
pub async fn watch_from(
    dir: &std::path::Path,
    id: &str,
    mut follower: Box<dyn EntrySource>,
    connect: Option<crate::aws::ConnectOptions>,
    team: Option<Arc<crate::team::TeamStore>>,
) -> Result<(), EngineError> {
    let entries = follower.poll()?;
    let (loaded, inputs, recorded) = store::load_run_copy(dir, &entries)?;
    let mut view = RunView::new(id, &loaded, &inputs);
    entries.iter().for_each(|e| view.apply(e));
    let mut app = app_for(view, &loaded.runbook);
    app.read_only = true;
    let (tx, mut rx) = channel();
    app.team = team.map(|store| {
        let tell = tx.clone();
        // The approvals' follower keeps its runbook copy beside the watch's own.
        let mirror = dir.join("approvals");
        crate::team::asks::serve(store, id.to_string(), Some(mirror), move |line| {
            let _ = tell.send(Msg::Notice(line));
        })
    });
    let envs = crate::engine::plan::render_environments(&loaded, &inputs).map_err(EngineError::Invalid)?;
    let envs = Arc::new(crate::aws::AwsEnvs::new(envs, connect.unwrap_or(recorded)));
    let poll_tx = tx.clone();
    let poller = Poller::spawn(&loaded.runbook, envs, poll_interval(), move |r| {
        let _ = poll_tx.send(Msg::Resources(r));
    });
    pace(&mut app, &poller);
    forward_signals(tx.clone());
    let follow_tx = tx.clone();
    let following = tokio::spawn(async move {
        loop {
            tokio::time::sleep(FOLLOW_EVERY).await;
            match crate::blocking::blocking(|| follower.poll()) {
                Ok(entries) => entries.into_iter().for_each(|e| {
                    let _ = follow_tx.send(Msg::Entry(e));
                }),
                Err(e) => {
                    let _ = follow_tx.send(Msg::Finished(Err(e.to_string())));
                    break;
                }
            }
        }
    });
    let mut guard =
        Guard::enter().map_err(|source| EngineError::Io { context: "cannot open the console".into(), source })?;
    let exit = super::event_loop(&mut guard.terminal, &mut app, &mut rx, EventStream::new()).await;
    drop(guard);
    following.abort();
    exit.map(|_| ()).map_err(|source| EngineError::Io { context: "the console failed".into(), source })
}

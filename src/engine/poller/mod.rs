//! Live resource status for the console, in gitui's shape (fetch, last result, pending flag,
//! notification): one background task per resource type and side, each with at most one
//! request in flight, reading all of its resources at once ([`resource_read::read_many`]),
//! backing off when polls fail or are throttled. Nothing here runs on the draw or input path:
//! the front end gets a copy of the whole picture through its `notify` callback.

mod view;

pub use view::{ResourceView, Resources, SideView};

use crate::aws::{ActionError, AwsEnvs, Call, CallLog, resource_read};
use crate::runbook::{Resource, ResourceType, Runbook, Side};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

/// The longest wait between polls of a failing type.
const MAX_BACKOFF: Duration = Duration::from_secs(120);

/// Counts the calls a poll makes; nothing is journaled (polls only read).
#[derive(Default)]
struct Counting(AtomicU32);

impl CallLog for Counting {
    fn before_mutating(&self, call: &Call<'_>) -> Result<(), ActionError> {
        Err(ActionError::Failed(format!("refused {}: resource polls only read", call.label())))
    }
    fn finished(&self, _: &Call<'_>, _: Option<String>) -> Result<(), ActionError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

struct Shared {
    resources: Mutex<Resources>,
    /// The wait between good polls, in milliseconds (changed by [`PollControl::set_interval`]).
    interval_ms: AtomicU64,
    /// Per group: rounds completed and calls in its last round.
    rounds: Mutex<Vec<(u64, u32)>>,
    /// Polls in flight.
    in_flight: AtomicU32,
    /// One per task: a poke made while its poll is in flight is kept (a permit) and answered
    /// by one more poll right after, never by a second request at once.
    pokes: Vec<Notify>,
}

/// The running poller; dropping it stops every task.
pub struct Poller {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

impl Poller {
    /// Starts polling every resource of `runbook` every `interval`, calling `notify` with the
    /// whole picture after each poll.
    pub fn spawn(
        runbook: &Runbook,
        envs: Arc<AwsEnvs>,
        interval: Duration,
        notify: impl Fn(Resources) + Send + Sync + 'static,
    ) -> Poller {
        let groups = groups(runbook);
        let shared = Arc::new(Shared {
            resources: Mutex::new(Resources::new(runbook, interval)),
            interval_ms: AtomicU64::new(interval.as_millis() as u64),
            rounds: Mutex::new(vec![(0, 0); groups.len()]),
            in_flight: AtomicU32::new(0),
            pokes: groups.iter().map(|_| Notify::new()).collect(),
        });
        let notify = Arc::new(notify);
        let tasks = groups
            .into_iter()
            .enumerate()
            .map(|(slot, (kind, side, items))| {
                let (shared, envs, notify) = (shared.clone(), envs.clone(), notify.clone());
                tokio::spawn(async move {
                    let mut wait = interval;
                    loop {
                        shared.in_flight.fetch_add(1, Ordering::Relaxed);
                        let log = Counting::default();
                        let read = resource_read::read_many(&envs, &log, kind, side, &items).await;
                        let ok = read.is_ok();
                        let throttled = read.as_ref().err().is_some_and(|e| e.to_string().contains("Throttl"));
                        let picture = shared.record(slot, side, &items, read, log.0.load(Ordering::Relaxed));
                        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                        notify(picture);
                        let interval = Duration::from_millis(shared.interval_ms.load(Ordering::Relaxed));
                        wait = if ok { interval } else { (wait * if throttled { 4 } else { 2 }).min(MAX_BACKOFF) };
                        // A failing type keeps its back-off: a poke does not cut it short.
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = shared.pokes[slot].notified(), if ok => {}
                        }
                    }
                })
            })
            .collect();
        Poller { shared, tasks }
    }

    /// The last picture.
    pub fn last(&self) -> Resources {
        self.shared.resources.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether a poll is in flight.
    pub fn is_pending(&self) -> bool {
        self.shared.in_flight.load(Ordering::Relaxed) > 0
    }

    /// Polls every type now rather than at its next turn (a poll in flight is not doubled).
    pub fn fetch(&self) {
        self.control().fetch();
    }

    /// A handle a front end keeps to pace the polls: quick while an action changes resources,
    /// slow while the run waits for a person.
    pub fn control(&self) -> PollControl {
        PollControl(self.shared.clone())
    }
}

/// Paces a [`Poller`] from the front end.
#[derive(Clone)]
pub struct PollControl(Arc<Shared>);

impl PollControl {
    /// Polls every type now (one waiting poll each; a type whose poll is in flight polls
    /// once more when it ends).
    pub fn fetch(&self) {
        self.0.pokes.iter().for_each(Notify::notify_one);
    }

    /// The wait between good polls from now on.
    pub fn set_interval(&self, interval: Duration) {
        self.0.interval_ms.store(interval.as_millis() as u64, Ordering::Relaxed);
        self.0.resources.lock().unwrap_or_else(|p| p.into_inner()).interval = interval;
    }
}

impl Shared {
    /// Merges one poll into the picture and returns a copy of it.
    fn record(
        &self,
        slot: usize,
        side: Side,
        items: &[(String, Resource)],
        read: Result<resource_read::Reads, ActionError>,
        calls: u32,
    ) -> Resources {
        let now = SystemTime::now();
        let mut r = self.resources.lock().unwrap_or_else(|p| p.into_inner());
        let mut rounds = self.rounds.lock().unwrap_or_else(|p| p.into_inner());
        rounds[slot] = (rounds[slot].0 + 1, calls);
        r.cycles = rounds.iter().map(|(n, _)| *n).min().unwrap_or(0);
        r.calls_last_cycle = rounds.iter().map(|(_, c)| *c).sum();
        let results: Vec<(String, Result<_, String>)> = match read {
            Ok(reads) => reads,
            Err(e) => items.iter().map(|(n, _)| (n.clone(), Err(e.to_string()))).collect(),
        };
        for (name, result) in results {
            let Some(row) = r.rows.iter_mut().find(|row| row.name == name) else { continue };
            if let Ok(s) = &result
                && row.kind == ResourceType::Route53Record
            {
                row.points_to = s.details.iter().find(|(k, _)| k == "points to").map(|(_, v)| v.clone());
            }
            let Some(view) = row.side_mut(side) else { continue };
            match result {
                Ok(s) => {
                    view.status = Some(s);
                    view.error = None;
                    view.refreshed = Some(now);
                    view.failures = 0;
                }
                Err(e) => {
                    view.error = Some(e);
                    view.failures += 1;
                }
            }
        }
        r.clone()
    }
}

/// Resources of one type on one side: what one batched read covers.
pub type Group = (ResourceType, Side, Vec<(String, Resource)>);

/// The resources grouped by type and side, one group per poll task (and per read of `status`).
/// A DNS record is read once, on the primary side (it is one global object).
pub fn groups(runbook: &Runbook) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for side in [Side::Primary, Side::Recovery] {
        for (name, res) in &runbook.resources {
            let named =
                if res.kind == ResourceType::Route53Record { side == Side::Primary } else { res.side(side).is_some() };
            if !named {
                continue;
            }
            match out.iter_mut().find(|(k, s, _)| *k == res.kind && *s == side) {
                Some(g) => g.2.push((name.clone(), res.clone())),
                None => out.push((res.kind, side, vec![(name.clone(), res.clone())])),
            }
        }
    }
    out
}

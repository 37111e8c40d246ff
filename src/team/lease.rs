//! The run's lease: one driver at a time, a heartbeat, an expiry, and a version that every
//! take bumps (the fencing token every append is checked against).
//!
//! A driver that lost its lease (partitioned, paused, too slow) learns it at its next append and
//! stops there; and before an append that announces a mutating call (`sending`) it makes sure
//! the lease has at least half its time left, renewing it if need be, so that no other machine
//! can take the run over while that call is on its way. Expiry compares the holder's clock with
//! the taker's: clocks further apart than half the lease's time weaken that margin (the fencing
//! token still stops the old driver at its next append).

use super::table::{LeaseToken, now_ms};
use super::{TeamError, TeamStore, who};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a lease lasts without a heartbeat, in seconds (default 60). A dead driver's run can
/// be taken over after this long; the heartbeat renews it every quarter of it.
pub const TTL_ENV: &str = "PILOTLIGHT_TEAM_LEASE_SECS";

pub fn ttl() -> Duration {
    std::env::var(TTL_ENV)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(60))
}

struct Held {
    /// Until when no other machine can take it (by this machine's monotonic clock, counted from
    /// before the write that set it).
    valid_until: Instant,
    lost: Option<TeamError>,
}

/// A lease this process holds.
pub struct Lease {
    store: Arc<TeamStore>,
    pub run: String,
    pub token: LeaseToken,
    /// `user@host (process N)`.
    pub holder: String,
    ttl: Duration,
    held: Arc<Mutex<Held>>,
    heartbeat: tokio::task::JoinHandle<()>,
    /// A handover asked of this driver (`pilotlight handover`), seen at a heartbeat.
    handover: tokio::sync::watch::Receiver<Option<String>>,
}

impl Lease {
    /// Takes the lease of a new run (`new`), or of an existing one whose lease has expired, was
    /// given up, or was handed over to this machine's [`who`].
    pub fn take(store: &Arc<TeamStore>, run: &str, new: bool) -> Result<Arc<Lease>, TeamError> {
        let me = who();
        let holder = format!("{me} (process {})", std::process::id());
        let holder_id = format!("{:016x}", fastrand::u64(..));
        let seen = match new {
            true => None,
            false => {
                let r = run.to_string();
                match store.call(|t| async move { t.lease(&r).await })? {
                    // Every team run's lease is taken before anything of it is in the table.
                    None => return Err(TeamError::NotFound { run: run.into(), table: store.name().into() }),
                    Some(l) => {
                        let now = now_ms();
                        let handed_to_me = l.handed_to.as_deref() == Some(me.as_str());
                        if l.expires_ms > now && !handed_to_me {
                            let secs = (l.expires_ms - now).div_ceil(1000);
                            return Err(match l.handed_to {
                                Some(to) => TeamError::HandedOver { run: run.into(), to, secs },
                                None => TeamError::LeaseHeld { run: run.into(), holder: l.holder, secs },
                            });
                        }
                        Some((l.version, l.expires_ms))
                    }
                }
            }
        };
        let ttl = ttl();
        let ttl_ms = ttl.as_millis() as u64;
        let sent = Instant::now();
        let (r, h, id) = (run.to_string(), holder.clone(), holder_id.clone());
        let token = store.call(|t| async move { t.take_lease(&r, seen, &h, &id, ttl_ms).await })?;
        let held = Arc::new(Mutex::new(Held { valid_until: sent + ttl, lost: None }));
        let (asked, handover) = tokio::sync::watch::channel(None);
        let beat =
            Beat { table: store.table.clone(), run: run.to_string(), token: token.clone(), ttl, held: held.clone() };
        let heartbeat = store.worker.spawn(heartbeat(beat, asked));
        tracing::info!(run, version = token.version, "team: lease taken");
        Ok(Arc::new(Lease { store: store.clone(), run: run.into(), token, holder, ttl, held, heartbeat, handover }))
    }

    /// The team table this lease is in.
    pub fn store(&self) -> &Arc<TeamStore> {
        &self.store
    }

    fn lost(&self) -> Option<TeamError> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).lost.clone()
    }

    /// Before an append that announces a mutating call: the lease must have half its time left
    /// (renewed here if not), or the call is not made.
    pub fn ready_to_send(&self) -> Result<(), TeamError> {
        if let Some(e) = self.lost() {
            return Err(e);
        }
        let left =
            self.held.lock().unwrap_or_else(|p| p.into_inner()).valid_until.saturating_duration_since(Instant::now());
        if left >= self.ttl / 2 {
            return Ok(());
        }
        let sent = Instant::now();
        let (r, token, until) = (self.run.clone(), self.token.clone(), now_ms() + self.ttl.as_millis() as u64);
        match self.store.call(|t| async move { t.set_expiry(&r, &token, until, None).await }) {
            Ok(_) => {
                self.held.lock().unwrap_or_else(|p| p.into_inner()).valid_until = sent + self.ttl;
                Ok(())
            }
            Err(e @ TeamError::LeaseLost { .. }) => Err(self.mark_lost(e)),
            Err(e) => Err(TeamError::LeaseExpiring { run: self.run.clone(), why: e.to_string() }),
        }
    }

    /// After the append that announced a mutating call: the lease must still have an eighth of
    /// its time (the append itself may have taken long), or the call is not made: no other
    /// machine may take the run over while it is on its way.
    pub fn still_ready_to_send(&self) -> Result<(), TeamError> {
        let left =
            self.held.lock().unwrap_or_else(|p| p.into_inner()).valid_until.saturating_duration_since(Instant::now());
        if left >= self.ttl / 8 {
            return Ok(());
        }
        Err(TeamError::LeaseExpiring {
            run: self.run.clone(),
            why: format!("{} ms of it were left once the table had the call", left.as_millis()),
        })
    }

    fn mark_lost(&self, e: TeamError) -> TeamError {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).lost = Some(e.clone());
        e
    }

    /// Appends journal entries under the lease.
    pub fn append(&self, entries: Vec<(u64, String)>) -> Result<(), TeamError> {
        if let Some(e) = self.lost() {
            return Err(e);
        }
        let (r, token) = (self.run.clone(), self.token.clone());
        match self.store.call(|t| async move { t.append(&r, &token, &entries).await }) {
            Err(e @ TeamError::LeaseLost { .. }) => Err(self.mark_lost(e)),
            other => other,
        }
    }

    /// Resolves with the name a handover was asked for (`pilotlight handover`); never without.
    pub async fn handover_requested(&self) -> String {
        let mut rx = self.handover.clone();
        loop {
            if let Some(to) = rx.borrow_and_update().clone() {
                return to;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Gives the lease up, so another machine may resume at once: to anyone (expiry now), or,
    /// when a handover was asked, to that name alone until the lease's time is up. Best effort:
    /// a lease already lost or a table out of reach just expires.
    pub fn release(&self) {
        self.heartbeat.abort();
        if self.lost().is_some() {
            return;
        }
        let (r, token) = (self.run.clone(), self.token.clone());
        let to = self.handover.borrow().clone();
        let until = if to.is_some() { now_ms() + self.ttl.as_millis() as u64 } else { 0 };
        if let Err(e) = self.store.call(|t| async move { t.set_expiry(&r, &token, until, to.as_deref()).await }) {
            tracing::warn!(run = %self.run, error = %e, "team: the lease could not be given up; it expires");
        }
    }
}

/// Gives a lease up when dropped, unless [`GiveUpUnlessKept::keep`] was called: a start, a
/// takeover or an abandon that fails after taking the lease (a secret missing, a journal that
/// cannot be written) must not leave the run locked for the lease's time.
pub struct GiveUpUnlessKept(Option<Arc<Lease>>);

impl GiveUpUnlessKept {
    pub fn new(lease: Option<&Arc<Lease>>) -> GiveUpUnlessKept {
        GiveUpUnlessKept(lease.cloned())
    }

    pub fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for GiveUpUnlessKept {
    fn drop(&mut self) {
        if let Some(lease) = self.0.take() {
            lease.release();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// What the heartbeat renews.
struct Beat {
    table: super::table::Table,
    run: String,
    token: LeaseToken,
    ttl: Duration,
    held: Arc<Mutex<Held>>,
}

/// Renews the lease every quarter of its time until it is lost (then says so at the next
/// append) or the process ends; passes on a handover asked meanwhile.
async fn heartbeat(beat: Beat, asked: tokio::sync::watch::Sender<Option<String>>) {
    let Beat { table, run, token, ttl, held } = beat;
    loop {
        tokio::time::sleep(ttl / 4).await;
        let sent = Instant::now();
        match table.set_expiry(&run, &token, now_ms() + ttl.as_millis() as u64, None).await {
            Ok(handover) => {
                held.lock().unwrap_or_else(|p| p.into_inner()).valid_until = sent + ttl;
                if handover.is_some() && asked.borrow().is_none() {
                    tracing::info!(run, to = ?handover, "team: handover asked");
                    let _ = asked.send(handover);
                }
            }
            Err(e @ TeamError::LeaseLost { .. }) => {
                tracing::warn!(run, error = %e, "team: lease lost");
                held.lock().unwrap_or_else(|p| p.into_inner()).lost = Some(e);
                return;
            }
            Err(e) => tracing::warn!(run, error = %e, "team: heartbeat failed; trying again"),
        }
    }
}

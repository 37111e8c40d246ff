//! Sub-steps: how a multi-call action survives a kill between any two AWS calls.
//!
//! An action is a sequence of named sub-steps. Each journals `started` (with what it is about to
//! do) and `done` (with what it produced: snapshot ids, a recorded configuration). On resume a
//! done sub-step returns its recorded result without calling AWS; one that started and did not
//! finish is run again with [`Resume::previous`] set, and must first find what it may already
//! have created (by client token, deterministic name, or the `pilotlight:run` tag) before acting.
//! Waits are sub-steps too: polls are not journaled one by one, only the state changes they see,
//! and a resumed wait re-attaches to the same AWS work (its ids come from earlier done sub-steps).

use super::{ActionCx, ActionLog};
use crate::aws::{ActionError, Call, CallLog, Transient, wait};
use crate::journal::{SubId, SubPhase, SubStepState};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::time::{Duration, Instant};

tokio::task_local! {
    /// The sub-step whose work is being polled: every AWS call journaled meanwhile carries it.
    /// A task-local rather than a parameter because resources of one action run concurrently
    /// inside one task; each sub-step's future sets it whenever it is polled.
    static CURRENT: SubId;
}

/// The sub-step the calling code runs in, if any.
pub fn current() -> Option<SubId> {
    CURRENT.try_with(SubId::clone).ok()
}

/// What a sub-step knows about its earlier runs.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// The `started` detail of an earlier run that did not finish: it may have acted.
    pub previous: Option<Value>,
    /// The journal holds nothing of this sub-step: it never started in this run, so nothing it
    /// makes exists yet, and a look for what it may have made is a wasted round trip.
    pub first: bool,
}

impl Resume {
    /// True when an earlier run of this sub-step started and did not finish.
    pub fn resumed(&self) -> bool {
        self.previous.is_some()
    }

    /// `look`'s answer (what an earlier run of this sub-step made, if any), or `None` without
    /// asking on the sub-step's first run: nothing of it exists yet.
    pub async fn look<T>(
        &self,
        look: impl Future<Output = Result<Option<T>, ActionError>>,
    ) -> Result<Option<T>, ActionError> {
        if self.first { Ok(None) } else { look.await }
    }

    /// How many times to list what this sub-step may have made before making it: none the first
    /// time, once after a rollback undid it (what it made is gone, or in a state a list shows),
    /// `resumed` times when an earlier run was cut off (EC2's lists are eventually consistent).
    pub fn looks(&self, resumed: u32) -> u32 {
        if self.first {
            0
        } else if self.resumed() {
            resumed
        } else {
            1
        }
    }
}

/// One poll of a wait.
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the text says what it waits for (`snapshot snap-1 pending (45%)`).
    Pending(String),
}

impl ActionCx<'_> {
    /// The journaled state of a sub-step (the recorder's, the one reducer's).
    pub fn recorded(&self, id: &SubId) -> Option<SubStepState> {
        self.log.recorded(id)
    }

    /// The result a done sub-step journaled; `None` when it is not done (never reached, cut off,
    /// or undone by a rollback). How `undo` learns what a failback recorded and made.
    pub fn result_of<T: DeserializeOwned>(&self, id: &SubId) -> Result<Option<T>, ActionError> {
        match self.recorded(id).filter(SubStepState::is_done) {
            None => Ok(None),
            Some(done) => serde_json::from_value(done.result).map(Some).map_err(|e| {
                ActionError::Failed(format!("the journaled result of sub-step {id} cannot be read back: {e}"))
            }),
        }
    }

    /// Runs sub-step `name` once for this step: a done one returns its recorded result, an
    /// interrupted one runs again with [`Resume::previous`] set. `detail` is journaled with
    /// `started` (what the sub-step is about to do). Every AWS call made inside is journaled with
    /// `name`.
    pub async fn sub<T, F, Fut>(&self, name: &SubId, detail: Value, f: F) -> Result<T, ActionError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Resume) -> Fut,
        Fut: Future<Output = Result<T, ActionError>>,
    {
        let before = self.recorded(name);
        if let Some(done) = before.as_ref().filter(|s| s.is_done()) {
            return serde_json::from_value(done.result.clone()).map_err(|e| {
                ActionError::Failed(format!("the journaled result of sub-step {name} cannot be read back: {e}"))
            });
        }
        let first = before.is_none();
        let previous = before.filter(SubStepState::is_open).map(|s| s.detail);
        self.mark(name, SubPhase::Started, detail)?;
        let value = CURRENT.scope(name.clone(), f(Resume { previous, first })).await?;
        let json = serde_json::to_value(&value)
            .map_err(|e| ActionError::Failed(format!("sub-step {name}: result not serialisable: {e}")))?;
        self.mark(name, SubPhase::Done, json)?;
        Ok(value)
    }

    /// Records that a rollback undid these sub-steps, so a retry runs them again: one journal
    /// entry for all of them, so a kill never leaves some reset and the rest not.
    pub fn reset(&self, names: &[&SubId]) -> Result<(), ActionError> {
        let undone: Vec<SubId> = names
            .iter()
            .filter(|name| self.recorded(name).is_some_and(|s| s.phase != SubPhase::Reset))
            .map(|name| (*name).clone())
            .collect();
        if undone.is_empty() { Ok(()) } else { self.log.reset(undone) }
    }

    /// Polls `check` until it is ready, up to `timeout`, journaling each change of what it waits
    /// for (not each poll). Reads inside should use [`ActionCx::quiet`].
    pub async fn wait_for<T, F, Fut>(&self, name: &SubId, timeout: Duration, mut check: F) -> Result<T, ActionError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<T>, ActionError>>,
    {
        let last: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
        let start = Instant::now();
        let result = wait::until(self.pauses.first_poll, self.pauses.max_poll, timeout, || {
            let fut = check();
            let last = &last;
            async move {
                // Throttling beyond the SDK's own retries, and "not found" for something made a
                // moment ago, say nothing about the state waited for: the wait goes on (a
                // "not found" for `not_found_grace` only), and the wait says so.
                let answer = match fut.await {
                    Err(e) if e.transient() == Some(Transient::Throttled) => Poll::Pending(format!("throttled: {e}")),
                    Err(e)
                        if e.transient() == Some(Transient::NotFound)
                            && start.elapsed() < self.pauses.not_found_grace =>
                    {
                        Poll::Pending(format!("not visible yet: {e}"))
                    }
                    other => other?,
                };
                match answer {
                    Poll::Ready(v) => Ok(Some(v)),
                    Poll::Pending(what) => {
                        let changed = {
                            let mut seen = last.lock().unwrap_or_else(|p| p.into_inner());
                            let changed = seen.as_deref() != Some(what.as_str());
                            *seen = Some(what.clone());
                            changed
                        };
                        if changed {
                            self.mark(name, SubPhase::Waiting, Value::String(what))?;
                        }
                        Ok(None)
                    }
                }
            }
        })
        .await;
        match result {
            Err(ActionError::Timeout(_)) => Err(ActionError::Failed(format!(
                "{name}: still waiting after {} for {}",
                humantime::format_duration(Duration::from_secs(start.elapsed().as_secs())),
                last.into_inner().unwrap_or_else(|p| p.into_inner()).unwrap_or_else(|| "the first answer".into())
            ))),
            other => other,
        }
    }

    /// A wait that is a sub-step of its own rather than the body of a [`Self::sub`]: journaled
    /// `started` and `done` around [`Self::wait_for`] (so the record shows when it ended), and
    /// never replayed: a resume waits again, waiting being a read.
    pub async fn wait_alone<T, F, Fut>(&self, name: &SubId, timeout: Duration, check: F) -> Result<T, ActionError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<T>, ActionError>>,
    {
        self.mark(name, SubPhase::Started, Value::Null)?;
        let value = self.wait_for(name, timeout, check).await?;
        self.mark(name, SubPhase::Done, Value::Null)?;
        Ok(value)
    }

    /// A call log for polls: failed calls are journaled, successful reads are not (a wait of
    /// hours would otherwise journal thousands of identical lines).
    pub fn quiet(&self) -> QuietLog<'_> {
        QuietLog { inner: self.log }
    }

    fn mark(&self, name: &SubId, phase: SubPhase, data: Value) -> Result<(), ActionError> {
        self.log.substep(name, phase, data)
    }
}

/// See [`ActionCx::quiet`]. A wait never mutates, so mutating calls are refused here.
pub struct QuietLog<'a> {
    inner: &'a dyn ActionLog,
}

impl CallLog for QuietLog<'_> {
    fn before_mutating(&self, call: &Call<'_>) -> Result<(), ActionError> {
        Err(ActionError::Failed(format!("a wait must not change anything: refused {}", call.label())))
    }

    fn finished(&self, call: &Call<'_>, error: Option<String>) -> Result<(), ActionError> {
        if error.is_some() { self.inner.finished(call, error) } else { Ok(()) }
    }

    fn pauses(&self) -> crate::pauses::Pauses {
        self.inner.pauses()
    }

    /// A wait keeps its latest answer for the step's next read of the same thing
    /// ([`crate::aws::read_memo`]); it never takes one (each poll asks AWS).
    fn memo(&self) -> Option<crate::aws::read_memo::MemoUse<'_>> {
        match self.inner.memo()? {
            crate::aws::read_memo::MemoUse::Take(m) => Some(crate::aws::read_memo::MemoUse::KeepLatest(m)),
            _ => None,
        }
    }
}

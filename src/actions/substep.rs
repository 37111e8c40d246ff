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
use crate::aws::{ActionError, Call, CallLog, wait};
use crate::journal::{SubPhase, SubStepState, now_rfc3339};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::time::{Duration, Instant};

/// What a sub-step knows about its earlier runs.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// The `started` detail of an earlier run that did not finish: it may have acted.
    pub previous: Option<Value>,
}

impl Resume {
    /// True when an earlier run of this sub-step started and did not finish.
    pub fn resumed(&self) -> bool {
        self.previous.is_some()
    }
}

/// One poll of a wait.
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the text says what it waits for (`snapshot snap-1 pending (45%)`).
    Pending(String),
}

impl ActionCx<'_> {
    /// The journaled state of a sub-step.
    pub fn recorded(&self, name: &str) -> Option<SubStepState> {
        self.substeps.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// Runs sub-step `name` once for this step: a done one returns its recorded result, an
    /// interrupted one runs again with [`Resume::previous`] set. `detail` is journaled with
    /// `started` (what the sub-step is about to do).
    pub async fn sub<T, F, Fut>(&self, name: &str, detail: Value, f: F) -> Result<T, ActionError>
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
        let previous = before.filter(SubStepState::is_open).map(|s| s.detail);
        self.mark(name, SubPhase::Started, detail)?;
        let value = f(Resume { previous }).await?;
        let json = serde_json::to_value(&value)
            .map_err(|e| ActionError::Failed(format!("sub-step {name}: result not serialisable: {e}")))?;
        self.mark(name, SubPhase::Done, json)?;
        Ok(value)
    }

    /// Records that a rollback undid these sub-steps, so a retry runs them again.
    pub fn reset(&self, names: &[&str]) -> Result<(), ActionError> {
        for name in names {
            if self.recorded(name).is_some_and(|s| s.phase != SubPhase::Reset) {
                self.mark(name, SubPhase::Reset, Value::Null)?;
            }
        }
        Ok(())
    }

    /// Polls `check` until it is ready, up to `timeout`, journaling each change of what it waits
    /// for (not each poll). Reads inside should use [`ActionCx::quiet`].
    pub async fn wait_for<T, F, Fut>(&self, name: &str, timeout: Duration, mut check: F) -> Result<T, ActionError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<T>, ActionError>>,
    {
        let last: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
        let start = Instant::now();
        let result = wait::until(timeout, || {
            let fut = check();
            let last = &last;
            async move {
                match fut.await? {
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

    /// A call log for polls: failed calls are journaled, successful reads are not (a wait of
    /// hours would otherwise journal thousands of identical lines).
    pub fn quiet(&self) -> QuietLog<'_> {
        QuietLog { inner: self.log }
    }

    fn mark(&self, name: &str, phase: SubPhase, data: Value) -> Result<(), ActionError> {
        self.log.substep(name, phase, data.clone())?;
        let mut map = self.substeps.lock().unwrap_or_else(|p| p.into_inner());
        let ts = now_rfc3339();
        let entry = map.entry(name.to_string()).or_insert_with(|| SubStepState {
            phase,
            attempt: self.attempt,
            detail: Value::Null,
            result: Value::Null,
            waiting_for: None,
            started_at: ts.clone(),
            finished_at: None,
        });
        entry.phase = phase;
        entry.attempt = self.attempt;
        match phase {
            SubPhase::Started => {
                entry.detail = data;
                entry.started_at = ts;
                entry.finished_at = None;
            }
            SubPhase::Waiting => entry.waiting_for = data.as_str().map(str::to_string),
            SubPhase::Done => {
                entry.result = data;
                entry.finished_at = Some(ts);
            }
            SubPhase::Reset => entry.result = Value::Null,
        }
        Ok(())
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
}

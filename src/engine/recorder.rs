//! Appends events to the journal, keeps the replayed state current, and tells the front end.
//!
//! One recorder per run, shared by the engine and the action it is running (actions journal
//! their AWS calls and sub-steps through [`StepLog`]).

use super::secrets::Secrets;
use crate::actions::ActionLog;
use crate::aws::{ActionError, Call, CallLog};
use crate::journal::{CallOutcome, Entry, Event, Journal, JournalError, RunState, SubId, SubPhase, SubStepState};
use serde_json::Value;
use std::sync::Mutex;

/// Called with every entry as it is journaled (the front end's event feed).
pub type Observer = Box<dyn Fn(&Entry) + Send + Sync>;

pub use crate::journal::Replica;

pub struct Recorder {
    /// Held while an entry is appended (and fsynced, and replicated).
    journal: Mutex<Journal>,
    replica: Option<Box<dyn Replica>>,
    /// Held only to apply or copy: reading the state never waits for the disk.
    state: Mutex<RunState>,
    observer: Observer,
    secrets: Secrets,
}

impl Recorder {
    pub fn new(journal: Journal, state: RunState, observer: Observer, secrets: Secrets) -> Recorder {
        Recorder { journal: Mutex::new(journal), replica: None, state: Mutex::new(state), observer, secrets }
    }

    /// Replicates every entry from now on.
    pub fn with_replica(mut self, replica: Option<Box<dyn Replica>>) -> Recorder {
        self.replica = replica;
        self
    }

    /// Journals an event (durably, with secret values redacted) and applies it to the state.
    /// The live state keeps the real values (later steps use them); the journal and the
    /// observer get the redacted event.
    pub fn record(&self, event: Event) -> Result<Entry, JournalError> {
        let redacted = self.secrets.redact_event(event.clone());
        // The append waits for the disk (fsync): the runtime is told, so that this worker's
        // other tasks move to another thread meanwhile.
        let entry = crate::blocking::blocking(|| {
            let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
            let entry = journal.append(redacted)?;
            if let Some(replica) = &self.replica
                && let Err(message) = replica.append(&entry)
            {
                // Nothing more is journaled here: this machine no longer drives the run.
                journal.refuse_more();
                return Err(JournalError::Replica { seq: entry.seq, message });
            }
            // Applied under the journal's lock, so the state follows the journal's order.
            self.state.lock().unwrap_or_else(|p| p.into_inner()).apply(&Entry { event, ..entry.clone() });
            Ok::<_, JournalError>(entry)
        })?;
        tracing::debug!(seq = entry.seq, event = ?entry.event, "journaled");
        (self.observer)(&entry);
        Ok(entry)
    }

    /// A copy of the state as journaled so far.
    pub fn state(&self) -> RunState {
        self.read(RunState::clone)
    }

    /// Reads the state as journaled so far without copying it.
    pub fn read<R>(&self, f: impl FnOnce(&RunState) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The journal as one step's action sees it.
pub struct StepLog<'a> {
    pub recorder: &'a Recorder,
    pub step: String,
    pub attempt: u32,
    pub dry_run: bool,
    /// The run's pauses (see [`CallLog::pauses`]).
    pub pauses: crate::pauses::Pauses,
    /// Answers the action may take instead of asking again: its preflight's, and each wait's
    /// latest ([`crate::aws::read_memo`]). `None` where two environments share a region.
    pub memo: Option<std::sync::Arc<crate::aws::read_memo::ReadMemo>>,
}

impl StepLog<'_> {
    fn aws(&self, call: &Call<'_>, outcome: CallOutcome, message: Option<String>) -> Event {
        Event::AwsCall {
            step: self.step.clone(),
            sub: crate::actions::substep::current(),
            service: call.service.into(),
            operation: call.operation.into(),
            target: call.target.into(),
            region: call.region.into(),
            mutating: call.mutating,
            outcome,
            message,
        }
    }
}

impl CallLog for StepLog<'_> {
    fn before_mutating(&self, call: &Call<'_>) -> Result<(), ActionError> {
        if self.dry_run {
            return Err(ActionError::DryRunViolation(call.label()));
        }
        self.recorder.record(self.aws(call, CallOutcome::Sending, None))?;
        Ok(())
    }

    fn finished(&self, call: &Call<'_>, error: Option<String>) -> Result<(), ActionError> {
        let outcome = if error.is_some() { CallOutcome::Error } else { CallOutcome::Ok };
        self.recorder.record(self.aws(call, outcome, error))?;
        Ok(())
    }

    fn not_found(&self, call: &Call<'_>, message: String) -> Result<(), ActionError> {
        self.recorder.record(self.aws(call, CallOutcome::NotFound, Some(message)))?;
        Ok(())
    }

    fn pauses(&self) -> crate::pauses::Pauses {
        self.pauses
    }

    fn memo(&self) -> Option<crate::aws::read_memo::MemoUse<'_>> {
        self.memo.as_deref().map(crate::aws::read_memo::MemoUse::Take)
    }
}

impl ActionLog for StepLog<'_> {
    fn substep(&self, id: &SubId, phase: SubPhase, data: Value) -> Result<(), ActionError> {
        let event = Event::SubStep { step: self.step.clone(), name: id.clone(), attempt: self.attempt, phase, data };
        self.recorder.record(event)?;
        Ok(())
    }

    fn reset(&self, names: Vec<SubId>) -> Result<(), ActionError> {
        self.recorder.record(Event::SubStepsReset { step: self.step.clone(), names, attempt: self.attempt })?;
        Ok(())
    }

    fn recorded(&self, id: &SubId) -> Option<SubStepState> {
        self.recorder.read(|s| s.substep(&self.step, id).cloned())
    }

    fn note(&self, message: String) -> Result<(), ActionError> {
        self.recorder.record(Event::ActionLog { step: self.step.clone(), message })?;
        Ok(())
    }
}

/// The log for run-level calls (the account guard): the calls are summed up in the run's own
/// events (`account_checked`), and nothing run-level may mutate.
pub struct RunLog;

impl CallLog for RunLog {
    fn before_mutating(&self, call: &Call<'_>) -> Result<(), ActionError> {
        Err(ActionError::Failed(format!("refused {}: run-level checks only read", call.label())))
    }
    fn finished(&self, _: &Call<'_>, _: Option<String>) -> Result<(), ActionError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    /// A slow disk (each fsync held for 20 ms) does not stop the runtime's other tasks: on a
    /// runtime with a single worker, a ticker keeps ticking while a task journals 20 entries.
    #[test]
    fn a_slow_journal_append_does_not_hold_the_runtime() {
        use std::sync::Mutex;
        use std::time::Instant;
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create(&dir.path().join("journal.jsonl")).unwrap();
        let observer: Observer = Box::new(|_| {});
        let recorder = Arc::new(Recorder::new(journal, RunState::default(), observer, Secrets::default()));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        // The longest pause between two ticks while the entries were written.
        let longest = Arc::new(Mutex::new(Duration::ZERO));
        let writing = Arc::new(AtomicU64::new(0));
        crate::journal::TEST_SYNC_DELAY_MS.store(20, Ordering::SeqCst);
        runtime.block_on(async {
            let (gap, during) = (longest.clone(), writing.clone());
            let ticker = tokio::spawn(async move {
                let mut last = Instant::now();
                loop {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    let now = Instant::now();
                    if during.load(Ordering::SeqCst) == 1 {
                        let mut g = gap.lock().unwrap();
                        *g = (*g).max(now - last);
                    }
                    last = now;
                }
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            let (writer, during) = (recorder.clone(), writing.clone());
            tokio::spawn(async move {
                during.store(1, Ordering::SeqCst);
                for i in 0..20 {
                    writer.record(Event::ActionLog { step: "s".into(), message: format!("entry {i}") }).unwrap();
                }
                // One more tick sees the last append's pause.
                tokio::time::sleep(Duration::from_millis(10)).await;
                during.store(0, Ordering::SeqCst);
            })
            .await
            .unwrap();
            ticker.abort();
        });
        crate::journal::TEST_SYNC_DELAY_MS.store(0, Ordering::SeqCst);
        let (entries, _) = crate::journal::read_entries(&dir.path().join("journal.jsonl")).unwrap();
        assert_eq!(entries.len(), 20, "all 20 entries were journaled");
        // Held on the one worker, the ticker would pause for all 20 appends (400 ms).
        let longest = *longest.lock().unwrap();
        assert!(longest < Duration::from_millis(150), "the ticker paused {longest:?} while the journal waited");
    }
}

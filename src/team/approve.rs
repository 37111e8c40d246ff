//! The second person's side of the two-person rule: wait until the driver has approved a gate
//! and waits for others, check that these credentials are not the driver's identity, then write
//! the approval under this identity ([`super::table::Table::put_approval`]).

use super::follow::TeamFollower;
use super::{TeamError, TeamStore};
use crate::journal::EntrySource;
use crate::journal::{Event, RunStatus};
use std::sync::Arc;

/// Why an approval was not given.
#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error(
        "refused: your credentials are the driver's own identity ({0}); a second approver approves with their own credentials"
    )]
    SelfApproval(String),
    #[error("run {run} ended ({status}) before step `{step}` asked for approval")]
    Ended { run: String, step: String, status: String },
    #[error("step `{step}`'s gate was decided before this approval: it waits for none now")]
    Decided { step: String },
    #[error(
        "step `{step}`'s gate was asked again since you confirmed (its driver stopped, or the run was taken over): nothing was approved; approve the new ask"
    )]
    AskedAgain { step: String },
    #[error(transparent)]
    Team(#[from] TeamError),
    #[error("{0}")]
    Journal(String),
}

/// Blocks until `step` of `run` waits for approvers, then approves it as this machine's identity.
/// With `only` (the entry of the ask a person saw and confirmed), that ask alone is approved: one
/// its driver's stop ended, or one asked again since, is refused instead of waited for. Returns the
/// line to print.
pub fn when_asked(
    store: &Arc<TeamStore>,
    run: &str,
    step: &str,
    mut entries: TeamFollower,
    only: Option<u64>,
) -> Result<String, ApproveError> {
    let me = store.identity()?;
    let mut asks = Asks::default();
    loop {
        for entry in entries.poll().map_err(|e| ApproveError::Journal(e.to_string()))? {
            asks.see(entry, run, step)?;
        }
        if let Some(Ask { seq, driver, identity }) = asks.standing(step, only)? {
            if driver == me.user_id {
                return Err(ApproveError::SelfApproval(identity));
            }
            let (t, r, s, who) = (store.clone(), run.to_string(), step.to_string(), me.clone());
            t.call(|table| async move { table.put_approval(&r, &s, seq, &who).await })?;
            return Ok(format!("{step}: approved as {} (the driver is {identity})", me.arn));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// The driver's ask of a gate: its approval's entry, the driver's user id and ARN.
#[derive(Debug, Clone, PartialEq)]
struct Ask {
    seq: u64,
    driver: String,
    identity: String,
}

/// The driver's latest ask of one gate, as the journal goes: neither decided nor cut off by its
/// driver stopping.
#[derive(Debug, Default)]
struct Asks {
    latest: Option<Ask>,
}

impl Asks {
    /// Takes one entry in; a gate decided or a run ended for good leaves nothing to approve.
    fn see(&mut self, entry: crate::journal::Entry, run: &str, step: &str) -> Result<(), ApproveError> {
        match entry.event {
            Event::Approval { step: s, driver: true, user_id, identity, .. } if s == step => {
                self.latest = Some(Ask { seq: entry.seq, driver: user_id, identity });
            }
            Event::RunResumed { .. } | Event::RunInterrupted { .. } => self.latest = None,
            Event::GateDecided { step: s, .. } if s == step => {
                return Err(ApproveError::Decided { step: step.into() });
            }
            Event::RunFinished {
                status: status @ (RunStatus::Succeeded | RunStatus::Abandoned | RunStatus::Undone),
            } => {
                return Err(ApproveError::Ended { run: run.into(), step: step.into(), status: status.as_str().into() });
            }
            _ => {}
        }
        Ok(())
    }

    /// The ask to approve now, once the journal so far is in: the latest; with `only`, that one
    /// ask or a refusal.
    fn standing(&mut self, step: &str, only: Option<u64>) -> Result<Option<Ask>, ApproveError> {
        match (only, self.latest.take()) {
            (Some(seq), Some(ask)) if ask.seq == seq => Ok(Some(ask)),
            (Some(_), _) => Err(ApproveError::AskedAgain { step: step.into() }),
            (None, ask) => Ok(ask),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Entry;

    fn entry(seq: u64, event: Event) -> Entry {
        Entry { seq, ts: format!("2026-12-05T12:00:{seq:02}Z"), event }
    }

    fn ask(seq: u64, who: &str) -> Entry {
        let event = Event::Approval {
            step: "flip".into(),
            identity: format!("arn:aws:iam::123456789012:user/{who}"),
            user_id: who.to_uppercase(),
            driver: true,
            needed: 2,
        };
        entry(seq, event)
    }

    fn seen(entries: Vec<Entry>) -> Asks {
        let mut asks = Asks::default();
        for e in entries {
            asks.see(e, "r", "flip").unwrap();
        }
        asks
    }

    /// Catches a confirmed approval carried over to an ask the person never saw: after a
    /// takeover, or once the driver stopped, it is refused rather than given to the next ask.
    #[test]
    fn an_approval_confirmed_for_one_ask_is_of_that_ask_only() {
        let standing = |entries, only| seen(entries).standing("flip", only).map(|a| a.map(|a| a.seq));
        assert_eq!(standing(vec![ask(3, "ana")], Some(3)).unwrap(), Some(3));
        let stopped = || vec![ask(3, "ana"), entry(4, Event::RunInterrupted { user: "ana".into() })];
        assert!(matches!(standing(stopped(), Some(3)), Err(ApproveError::AskedAgain { .. })));
        let mut again = stopped();
        again.extend([entry(5, Event::RunResumed { user: "dan".into(), endpoint_override: None }), ask(7, "dan")]);
        assert!(matches!(standing(again.clone(), Some(3)), Err(ApproveError::AskedAgain { .. })));
        assert_eq!(standing(again.clone(), Some(7)).unwrap(), Some(7));
        // `watch --approve STEP` approves whichever ask stands, and waits while none does.
        assert_eq!(standing(again, None).unwrap(), Some(7));
        assert_eq!(standing(stopped(), None).unwrap(), None);
    }
}

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
    #[error(transparent)]
    Team(#[from] TeamError),
    #[error("{0}")]
    Journal(String),
}

/// Blocks until `step` of `run` waits for approvers, then approves it as this machine's identity.
/// Returns the line to print.
pub fn when_asked(
    store: &Arc<TeamStore>,
    run: &str,
    step: &str,
    mut entries: TeamFollower,
) -> Result<String, ApproveError> {
    let me = store.identity()?;
    // The driver's latest ask of the gate not yet decided nor cut off by its driver stopping:
    // its sequence number, the driver's user id and ARN.
    let mut asked: Option<(u64, String, String)> = None;
    loop {
        for entry in entries.poll().map_err(|e| ApproveError::Journal(e.to_string()))? {
            match entry.event {
                Event::Approval { step: s, driver: true, user_id, identity, .. } if s == step => {
                    asked = Some((entry.seq, user_id, identity));
                }
                Event::RunResumed { .. } | Event::RunInterrupted { .. } => asked = None,
                Event::GateDecided { step: s, .. } if s == step => {
                    return Err(ApproveError::Decided { step: step.into() });
                }
                Event::RunFinished {
                    status: status @ (RunStatus::Succeeded | RunStatus::Abandoned | RunStatus::Undone),
                } => {
                    return Err(ApproveError::Ended {
                        run: run.into(),
                        step: step.into(),
                        status: status.as_str().into(),
                    });
                }
                _ => {}
            }
        }
        if let Some((ask, driver, identity)) = asked.take() {
            if driver == me.user_id {
                return Err(ApproveError::SelfApproval(identity));
            }
            let (t, r, s, who) = (store.clone(), run.to_string(), step.to_string(), me.clone());
            t.call(|table| async move { table.put_approval(&r, &s, ask, &who).await })?;
            return Ok(format!("{step}: approved as {} (the driver is {identity})", me.arn));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

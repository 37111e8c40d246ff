//! What a console in team mode asks of the team table: a second approval of a gate (watching)
//! and a handover (driving or watching). The console only sends a [`TeamAsk`]; this carries it
//! out off the console's thread, through the same calls as `watch --approve` and `handover`, and
//! tells the operator what came of it in one line.

use super::{TeamError, TeamStore};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// One thing a team-mode console asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamAsk {
    /// Approve `step`'s gate as this machine's AWS identity: its ask journaled at `ask` (the
    /// driver's approval a person saw), and no later one.
    Approve { step: String, ask: u64 },
    /// Ask the run's driver to hand the run over to `to`.
    Handover { to: String },
}

/// Where a team-mode console sends its asks.
pub type TeamLink = mpsc::UnboundedSender<TeamAsk>;

/// Serves `run`'s asks until the console drops its [`TeamLink`]; `mirror` is where a watcher of
/// the run keeps its runbook copy (an approval follows the table's journal to find the ask it
/// approves; a driver's console has none and approves nothing). Each outcome, good or bad, goes
/// to `tell`.
pub fn serve(
    store: Arc<TeamStore>,
    run: String,
    mirror: Option<PathBuf>,
    tell: impl Fn(String) + Send + Sync + 'static,
) -> TeamLink {
    let (tx, mut rx) = mpsc::unbounded_channel::<TeamAsk>();
    let tell = Arc::new(tell);
    tokio::spawn(async move {
        while let Some(ask) = rx.recv().await {
            let (store, run, mirror, tell) = (store.clone(), run.clone(), mirror.clone(), tell.clone());
            // Each on its own: an approval may wait for its ask while a handover goes through.
            tokio::task::spawn_blocking(move || {
                let line = match ask {
                    TeamAsk::Approve { step, ask } => match &mirror {
                        Some(mirror) => approve(&store, &run, (&step, ask), mirror),
                        None => "the driver approves at its gate; others approve from their watch consoles".into(),
                    },
                    TeamAsk::Handover { to } => handover(&store, &run, &to).unwrap_or_else(|e| e.to_string()),
                };
                (*tell)(line);
            });
        }
    });
    tx
}

/// A second approval, as `watch --approve STEP` gives it, of the one ask the person confirmed.
fn approve(store: &Arc<TeamStore>, run: &str, (step, ask): (&str, u64), mirror: &std::path::Path) -> String {
    let approved = super::follow::TeamFollower::open(store.clone(), run, mirror)
        .map_err(super::approve::ApproveError::from)
        .and_then(|entries| super::approve::when_asked(store, run, step, entries, Some(ask)));
    approved.unwrap_or_else(|e| format!("not approved: {e}"))
}

/// Asks `run`'s driver to hand it over to `to`; the line says what happens next.
pub fn handover(store: &TeamStore, run: &str, to: &str) -> Result<String, TeamError> {
    let (r, who) = (run.to_string(), to.to_string());
    let table = store.name().to_string();
    let asked = store.call(|t| async move { t.request_handover(&r, &who).await })?;
    Ok(if asked {
        format!(
            "asked run {run}'s driver to hand it to {to}: it stops at its next heartbeat (within a quarter of the \
             lease's time); then {to} continues it with: pilotlight resume {run} --team {table}"
        )
    } else {
        format!(
            "no one drives run {run} now: anyone (or {to}) may continue it with: pilotlight resume {run} --team {table}"
        )
    })
}

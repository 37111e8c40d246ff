//! What the journal says about `pilotlight undo`: who asked, why, and how each failback step's
//! undo ended. Given its meaning here, in the one reducer, like every other event.

use crate::journal::event::{Entry, Event};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An undo of the run's failbacks, as journaled so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UndoState {
    pub started_at: String,
    pub user: String,
    pub reason: String,
    /// When it last ended, and whether every step was undone.
    pub finished: Option<(String, bool)>,
    /// Each failback step's last undo, in the order they were undone.
    pub steps: IndexMap<String, UndoStepRecord>,
}

/// How one failback step's undo ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UndoStepRecord {
    pub at: String,
    pub ok: bool,
    pub outputs: IndexMap<String, Value>,
    pub error: Option<String>,
}

impl UndoState {
    /// True once an undo ended with every step undone.
    pub fn done(&self) -> bool {
        self.finished.as_ref().is_some_and(|(_, ok)| *ok)
    }

    /// Applies an undo entry to `undo` (`None` until the first `undo_started`); false for any
    /// other entry.
    pub fn apply(undo: &mut Option<UndoState>, entry: &Entry) -> bool {
        match &entry.event {
            Event::UndoStarted { user, reason } => {
                // A second `undo_started` (journaled by an older version) keeps the first's who and why.
                undo.get_or_insert_with(|| UndoState {
                    started_at: entry.ts.clone(),
                    user: user.clone(),
                    reason: reason.clone(),
                    ..UndoState::default()
                });
            }
            Event::UndoStepFinished { step, ok, outputs, error } => {
                if let Some(u) = undo.as_mut() {
                    let record = UndoStepRecord {
                        at: entry.ts.clone(),
                        ok: *ok,
                        outputs: outputs.clone(),
                        error: error.clone(),
                    };
                    u.steps.insert(step.clone(), record);
                }
            }
            Event::UndoFinished { ok } => {
                if let Some(u) = undo.as_mut() {
                    u.finished = Some((entry.ts.clone(), *ok));
                }
            }
            _ => return false,
        }
        true
    }
}

//! The operator's side of a run: the decisions the engine asks a front end for.
//!
//! The console and the line-mode runner each implement [`Operator`]; tests implement it with a
//! script. The engine validates every answer (a mistyped confirmation is asked again) and
//! journals it before acting on it.

use crate::runbook::{Gate, Step};

/// A gate waiting for a decision.
#[derive(Debug, Clone)]
pub struct GateRequest<'a> {
    pub step: &'a Step,
    /// 0-based position and number of steps, for "step 3 of 11".
    pub index: usize,
    pub total: usize,
    /// The step's title, rendered.
    pub title: String,
    /// The gate with its texts rendered.
    pub gate: Gate,
    /// The step's instructions, rendered.
    pub instructions: String,
    /// A one-line summary of the action the step will run, if any.
    pub action: Option<String>,
}

/// An answer at a gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateAnswer {
    /// Go ahead. `typed` is what was typed at a type-to-confirm gate; `checked` the items ticked.
    Approve {
        typed: Option<String>,
        checked: Vec<String>,
    },
    Skip {
        reason: String,
    },
    Abort,
}

/// A failed action waiting for a decision (`on_failure: ask`).
#[derive(Debug, Clone)]
pub struct FailureRequest<'a> {
    pub step: &'a Step,
    pub attempt: u32,
    pub error: String,
    /// Whether `Rollback` is offered: a failback step's action failed.
    pub can_roll_back: bool,
}

/// An answer after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureAnswer {
    Retry,
    Skip {
        reason: String,
    },
    Abort,
    /// Put primary back as it was, then stop the run (only when `can_roll_back`).
    Rollback,
}

/// A front end that makes the operator's decisions.
#[allow(async_fn_in_trait)]
pub trait Operator {
    async fn gate(&mut self, request: GateRequest<'_>) -> GateAnswer;
    async fn failure(&mut self, request: FailureRequest<'_>) -> FailureAnswer;
}

/// Whether an answer satisfies a gate; the reason when it does not.
pub fn check_answer(gate: &Gate, answer: &GateAnswer) -> Result<(), String> {
    let GateAnswer::Approve { typed, checked } = answer else { return Ok(()) };
    match gate {
        Gate::TypeToConfirm(text) if typed.as_deref() != Some(text.as_str()) => {
            Err(format!("typed text does not match; type exactly: {text}"))
        }
        Gate::Checklist(items) => match items.iter().find(|i| !checked.contains(i)) {
            Some(missing) => Err(format!("not ticked: {missing}")),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

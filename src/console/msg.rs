//! What reaches the console: journal entries, decisions the engine asks for, resource polls and
//! the run's end, all over one channel. The console never reaches into the engine.

use crate::engine::poller::Resources;
use crate::engine::{FailureAnswer, FailureRequest, GateAnswer, GateRequest, Operator};
use crate::journal::{Entry, RunStatus};
use crate::runbook::Gate;
use tokio::sync::{mpsc, oneshot};

/// A gate the engine waits at, owned (the request borrows the step).
#[derive(Debug, Clone, PartialEq)]
pub struct GateAsk {
    pub step: String,
    pub index: usize,
    pub total: usize,
    pub title: String,
    pub gate: Gate,
    pub instructions: String,
    pub action: Option<String>,
}

/// A failed step waiting for retry, skip or abort.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureAsk {
    pub step: String,
    pub attempt: u32,
    pub error: String,
    /// A failback step: rolling back is offered.
    pub can_roll_back: bool,
}

#[derive(Debug)]
pub enum Msg {
    Entry(Entry),
    Gate(GateAsk, oneshot::Sender<GateAnswer>),
    Failure(FailureAsk, oneshot::Sender<FailureAnswer>),
    Resources(Resources),
    /// The engine stopped driving: the run's status, or why it could not go on.
    Finished(Result<RunStatus, String>),
    /// A signal (SIGTERM, SIGHUP) asks the console to close; the run stays resumable.
    Signal(&'static str),
    /// A line for the operator from outside the run (what became of a team ask,
    /// [`crate::team::asks`]).
    Notice(String),
}

pub type Sender = mpsc::UnboundedSender<Msg>;

/// The engine's [`Operator`] for the console: each question goes to the console as a message
/// and the answer comes back on a one-shot channel.
pub struct ChannelOperator {
    pub tx: Sender,
}

impl ChannelOperator {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Msg) -> T {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(make(reply)).is_ok()
            && let Ok(a) = answer.await
        {
            return a;
        }
        // The console is gone (it quit, or the process is closing): no one can answer, so
        // nothing is decided; the drive is dropped and the run stays resumable.
        std::future::pending().await
    }
}

impl Operator for ChannelOperator {
    async fn gate(&mut self, r: GateRequest<'_>) -> GateAnswer {
        let ask = GateAsk {
            step: r.step.id.clone(),
            index: r.index,
            total: r.total,
            title: r.title,
            gate: r.gate,
            instructions: r.instructions,
            action: r.action,
        };
        self.ask(|reply| Msg::Gate(ask, reply)).await
    }

    async fn failure(&mut self, r: FailureRequest<'_>) -> FailureAnswer {
        let ask =
            FailureAsk { step: r.step.id.clone(), attempt: r.attempt, error: r.error, can_roll_back: r.can_roll_back };
        self.ask(|reply| Msg::Failure(ask, reply)).await
    }
}

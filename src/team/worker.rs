//! The team table's own runtime: one thread with a current-thread tokio runtime that makes every
//! DynamoDB call of team mode and runs the lease's heartbeat.
//!
//! Why a thread of its own: the journal appends from synchronous code (the recorder, under its
//! lock, inside `block_in_place`), where a runtime cannot be entered again; and the heartbeat
//! must go on while the run's own runtime is busy or blocked on a gate. The SDK client is built
//! and used only here, so its connection pool lives on one runtime.

use std::future::Future;
use std::pin::Pin;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The thread and its runtime; dropping the last handle ends both (the heartbeat with them).
pub struct Worker {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    handle: tokio::runtime::Handle,
}

impl Worker {
    pub fn start() -> std::io::Result<Worker> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = rt.handle().clone();
        let (jobs, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        std::thread::Builder::new().name("pilotlight-team".into()).spawn(move || {
            rt.block_on(async move {
                while let Some(job) = rx.recv().await {
                    tokio::spawn(job);
                }
            })
        })?;
        Ok(Worker { jobs, handle })
    }

    /// Runs `fut` on the team runtime and waits for its result (blocking this thread: callers
    /// on an async runtime go through [`crate::blocking::blocking`]). `None` only if the team
    /// runtime is gone.
    pub fn run<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.jobs
            .send(Box::pin(async move {
                let _ = tx.send(fut.await);
            }))
            .ok()?;
        crate::blocking::blocking(|| rx.recv().ok())
    }

    /// Starts `fut` on the team runtime without waiting (the heartbeat).
    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) -> tokio::task::JoinHandle<()> {
        self.handle.spawn(fut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_from_plain_threads_and_from_inside_another_runtime() {
        let w = Worker::start().unwrap();
        assert_eq!(w.run(async { 1 + 1 }), Some(2));
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let got = rt.block_on(async { tokio::spawn(async move { w.run(async { "in" }) }).await.unwrap() });
        assert_eq!(got, Some("in"));
    }
}

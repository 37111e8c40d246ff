//! Which front end drives a run: the full-screen console (the default on a terminal) or line mode
//! (`--headless`). Chosen before the run starts, so its first journal entries reach it.

use super::args::Mode;
use super::exit::{FAILED, INVALID, OK};
use super::{print, prompt::LinePrompt};
use crate::console::live::{self, Ended};
use crate::console::msg::{Msg, Sender};
use crate::engine::{Observer, Run};
use crate::journal::RunStatus;
use tokio::sync::mpsc::UnboundedReceiver;

pub enum Front {
    Line,
    Console(Sender, UnboundedReceiver<Msg>),
}

impl Front {
    /// The console unless `--headless`; when standard input or output is not a terminal, says so
    /// and suggests `--headless` instead of drawing.
    pub fn choose(mode: Mode) -> Result<Front, u8> {
        if mode.headless {
            return Ok(Front::Line);
        }
        if let Some(why) = crate::console::terminal::unusable() {
            eprintln!("{why}: the console needs a terminal; use --headless for line mode (scripts, CI)");
            return Err(INVALID);
        }
        let (tx, rx) = live::channel();
        Ok(Front::Console(tx, rx))
    }

    /// The engine's observer for this front end.
    pub fn observer(&self) -> Observer {
        match self {
            Front::Line => Box::new(|entry| {
                if let Some(line) = print::line(entry) {
                    println!("{line}");
                }
            }),
            Front::Console(tx, _) => live::observer(tx.clone()),
        }
    }

    /// Drives the run to its end, or until the operator leaves; returns the exit code.
    pub async fn drive(self, run: Run) -> u8 {
        match self {
            Front::Line => drive_lines(run).await,
            Front::Console(tx, rx) => {
                let (id, table) = (run.id.clone(), run.team_table());
                match live::drive(run, tx, rx).await {
                    Ok(Ended::Finished(RunStatus::Succeeded)) => {
                        println!("run {id} succeeded; its report: pilotlight report {id}");
                        OK
                    }
                    Ok(Ended::Finished(status)) => {
                        eprintln!("run {id} {}; continue it with: pilotlight resume {id}", status.as_str());
                        FAILED
                    }
                    Ok(Ended::HandedOver(to)) => handed_over_message(&id, &to, table.as_deref()),
                    Ok(Ended::Left { signal }) => {
                        let why = if signal { "closed by a signal" } else { "left the console" };
                        eprintln!("{why}; run {id} stays resumable: pilotlight resume {id}");
                        FAILED
                    }
                    Ok(Ended::Error(e)) | Err(crate::engine::EngineError::Invalid(e)) => {
                        eprintln!("run {id} stopped: {e}; continue it with: pilotlight resume {id}");
                        FAILED
                    }
                    Err(e) => {
                        eprintln!("run {id} stopped: {e}; continue it with: pilotlight resume {id}");
                        FAILED
                    }
                }
            }
        }
    }
}

async fn drive_lines(run: Run) -> u8 {
    let mut operator = LinePrompt::default();
    // Ctrl-C stops the run here rather than killing the process outright, so the action in
    // flight is dropped cleanly (an `exec` command's process group is killed with it). The
    // journal already holds everything; the interrupted action re-reads real state on resume.
    // SIGTERM and SIGHUP (a closed SSH session) stop it the same way.
    let signal = |kind| async move {
        match tokio::signal::unix::signal(kind) {
            Ok(mut s) => s.recv().await,
            Err(_) => std::future::pending().await,
        }
    };
    use tokio::signal::unix::SignalKind;
    let outcome = tokio::select! {
        r = run.drive(&mut operator) => r,
        _ = tokio::signal::ctrl_c() => return interrupted(&run, "interrupted"),
        _ = signal(SignalKind::terminate()) => return interrupted(&run, "SIGTERM"),
        _ = signal(SignalKind::hangup()) => return interrupted(&run, "SIGHUP"),
        to = run.handover_requested() => return handed_over(&run, &to),
    };
    if outcome.is_ok() {
        print_outcome(&run);
    }
    match outcome {
        Ok(RunStatus::Succeeded) => OK,
        Ok(status) => {
            eprintln!("run {} {}; continue it with: pilotlight resume {}", run.id, status.as_str(), run.id);
            FAILED
        }
        Err(e) => {
            eprintln!("run {} stopped: {e}; continue it with: pilotlight resume {}", run.id, run.id);
            FAILED
        }
    }
}

/// The run's outcome (RTO, RPO, what was kept, the report command) as the last lines.
fn print_outcome(run: &Run) {
    let Some(report) = crate::report::from_state(&run.state(), Some(run.runbook())) else { return };
    println!("outcome:");
    for line in crate::report::outcome::lines(&report) {
        println!("  {line}");
    }
}

fn interrupted(run: &Run, why: &str) -> u8 {
    let _ = run.interrupted();
    eprintln!("\n{why}; continue the run with: pilotlight resume {}", run.id);
    FAILED
}

/// A handover asked of this driver: stopped as on Ctrl-C; the lease goes to `to` as the run is
/// dropped.
fn handed_over(run: &Run, to: &str) -> u8 {
    let _ = run.interrupted();
    handed_over_message(&run.id, to, run.team_table().as_deref())
}

fn handed_over_message(id: &str, to: &str, table: Option<&str>) -> u8 {
    let table = table.unwrap_or("TABLE");
    eprintln!("\nrun {id} handed over to {to}, who continues it with: pilotlight resume {id} --team {table}");
    OK
}

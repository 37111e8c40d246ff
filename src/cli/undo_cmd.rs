//! `pilotlight undo RUN_ID`: asks for the run id to be typed (unless `--yes`), then drives the
//! engine's undo in line mode, one line per journal entry, Ctrl-C leaving it resumable.

use super::exit::{FAILED, INVALID, OK};
use crate::engine::{EngineError, ResumeOptions, Run, RunStore};
use crate::journal::RunStatus;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// `options` carry how AWS is reached, the secret inputs and the pauses, as for a resume.
pub async fn undo(id: &str, (reason, yes): (&str, bool), options: ResumeOptions, state_dir: &Path) -> u8 {
    if reason.trim().is_empty() {
        eprintln!("--reason: say why the failback is undone (it is journaled)");
        return INVALID;
    }
    let observer = Box::new(|entry: &crate::journal::Entry| {
        if let Some(line) = super::print::line(entry) {
            println!("{line}");
        }
    });
    let store = RunStore::new(state_dir);
    // Asked before the run is opened (which journals), once it is known it can be undone.
    let opened = match crate::engine::undo::check_undoable(&store, id) {
        Ok(()) if !yes && !confirmed(id) => {
            eprintln!("not confirmed; nothing was changed");
            return FAILED;
        }
        Ok(()) => Run::for_undo(&store, id, options, observer),
        Err(e) => Err(e),
    };
    let run = match opened {
        Ok(run) => run,
        Err(e @ EngineError::AlreadyUndone(_)) => {
            println!("{e}");
            return OK;
        }
        Err(e @ (EngineError::NotFound(_) | EngineError::Invalid(_))) => {
            eprintln!("{e}");
            return INVALID;
        }
        Err(e) => {
            eprintln!("{e}");
            return FAILED;
        }
    };
    let outcome = tokio::select! {
        r = run.undo(reason) => r,
        _ = tokio::signal::ctrl_c() => {
            let _ = run.interrupted();
            eprintln!("\ninterrupted; go on with: pilotlight undo {id} --reason ...");
            return FAILED;
        }
    };
    match outcome {
        Ok(RunStatus::Undone) => {
            println!(
                "run {id} undone: primary is back as it was; what was failed back is kept (pilotlight report {id})"
            );
            OK
        }
        Ok(status) => {
            eprintln!(
                "the undo of run {id} stopped ({}); mend the cause and give `pilotlight undo {id}` again",
                status.as_str()
            );
            FAILED
        }
        Err(e) => {
            eprintln!("the undo of run {id} stopped: {e}; give `pilotlight undo {id}` again");
            FAILED
        }
    }
}

/// Asks for the run id on the terminal; without one, only `--yes` confirms.
fn confirmed(id: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        eprintln!("undo changes primary: give --yes to confirm without a terminal");
        return false;
    }
    eprint!("This puts primary back as it was before run {id}'s failbacks. Type the run id to confirm: ");
    let _ = std::io::stderr().flush();
    let mut typed = String::new();
    std::io::stdin().lock().read_line(&mut typed).is_ok() && typed.trim() == id
}

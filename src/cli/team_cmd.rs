//! `pilotlight team ...` (the team store) and `pilotlight watch` (a run followed from this
//! machine's journal or from a team table).

use super::args::{Connect, Team, TeamCommand};
use super::exit::{FAILED, INVALID, OK};
use super::run_cmd::{connect_options, following, team_config};
use crate::engine::RunStore;
use crate::engine::follow::{EntrySource, Follower};
use std::path::{Path, PathBuf};

pub async fn team(command: TeamCommand, state_dir: &Path) -> u8 {
    match command {
        TeamCommand::Init { table, bucket, region, connect } => {
            let connect = match connect_options(&connect, state_dir, true) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let args = Team { team: Some(table), team_region: region, team_endpoint_url: None };
            let Some(config) = team_config(&args, connect.as_ref()) else { return FAILED };
            // An endpoint given for the whole command (not the sandbox's) is the store's too.
            let config = crate::team::TeamConfig {
                endpoint_url: config.endpoint_url.or_else(|| connect.and_then(|c| c.endpoint_url)),
                ..config
            };
            match crate::team::init::init(&config, bucket.as_deref(), std::time::Duration::from_secs(600)).await {
                Ok(made) => {
                    let what = match (made.already, made.bucket_added) {
                        (true, true) => "already there, bucket added",
                        (true, false) => "already there",
                        _ => "made",
                    };
                    println!("team store {}: stack {} {what} ({})", config.table, made.stack, made.status);
                    println!(
                        "  point-in-time recovery: {}; deletion protection: {}",
                        on(made.point_in_time_recovery),
                        on(made.deletion_protection)
                    );
                    match &made.bucket {
                        Some(b) => println!("  bucket {b}: journal entries and runbooks over 100 KiB"),
                        None => println!(
                            "  no bucket: a journal entry or runbook over 100 KiB stops a team run (give the store \
                             one with --bucket NAME)"
                        ),
                    }
                    println!("  share a run with: pilotlight run RUNBOOK --team {}", config.table);
                    OK
                }
                Err(e) => {
                    eprintln!("{e}");
                    FAILED
                }
            }
        }
    }
}

fn on(b: bool) -> &'static str {
    if b { "on" } else { "OFF" }
}

/// `pilotlight watch`: the run's entries from this machine's journal, or from the team table
/// (`--team`, any machine), in the console or as lines.
pub async fn watch(
    id: &str,
    (headless, approve): (bool, Option<&str>),
    (connect, team): (&Connect, &Team),
    state_dir: &Path,
) -> u8 {
    if !headless && let Some(why) = crate::console::terminal::unusable() {
        eprintln!("{why}: `watch` draws the console and needs a terminal; `watch --headless` prints the run as lines");
        return INVALID;
    }
    let connect = match connect_options(connect, state_dir, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = RunStore::new(state_dir);
    let mut approval = None;
    let mut shared = None;
    let (dir, source): (PathBuf, Box<dyn EntrySource>) = match team_config(team, connect.as_ref()) {
        Some(config) => {
            let opened = following(&config, id, state_dir).and_then(|(t, mirror, f)| {
                shared = Some(t.clone());
                if let Some(step) = approve {
                    let asked = crate::team::follow::TeamFollower::open(t.clone(), id, &mirror)?;
                    let (id, step) = (id.to_string(), step.to_string());
                    approval = Some(tokio::task::spawn_blocking(move || {
                        crate::team::approve::when_asked(&t, &id, &step, asked, None)
                    }));
                }
                Ok((mirror, f))
            });
            match opened {
                Ok((mirror, f)) => (mirror, Box::new(f)),
                Err(e) => {
                    eprintln!("{e}");
                    return if matches!(e, crate::team::TeamError::NotFound { .. }) { INVALID } else { FAILED };
                }
            }
        }
        None => {
            let dir = store.dir(id);
            let journal = dir.join(crate::engine::store::JOURNAL_FILE);
            if !journal.is_file() {
                eprintln!("{}", crate::engine::EngineError::NotFound(id.to_string()));
                return INVALID;
            }
            (dir, Box::new(Follower::new(journal)))
        }
    };
    if headless && let Some(approval) = approval.take() {
        // The approval first: a refused one ends the watch at once.
        match approval.await {
            Ok(Ok(line)) => println!("{line}"),
            Ok(Err(e)) => {
                eprintln!("{e}");
                return FAILED;
            }
            Err(e) => {
                eprintln!("the approval stopped: {e}");
                return FAILED;
            }
        }
    }
    let watched = match headless {
        true => watch_lines(source).await,
        false => crate::console::live::watch_from(&dir, id, source, connect, shared).await,
    };
    let mut code = match watched {
        Ok(()) => OK,
        Err(e) => {
            eprintln!("{e}");
            FAILED
        }
    };
    if let Some(approval) = approval {
        if !approval.is_finished() {
            // The console was left before the step asked: nothing was approved (the task ends
            // with the process).
            eprintln!("no approval given: the watch ended before its step waited for approvers");
            return FAILED;
        }
        match approval.await {
            Ok(Ok(line)) => println!("{line}"),
            Ok(Err(e)) => {
                eprintln!("{e}");
                code = FAILED;
            }
            Err(e) => eprintln!("the approval stopped: {e}"),
        }
    }
    code
}

/// Prints each entry's line as it comes, until the run ends for good (succeeded, abandoned,
/// undone) or Ctrl-C. A run that stopped (failed, aborted, its driver gone) may be resumed, on
/// this machine or another: the watch goes on.
async fn watch_lines(mut source: Box<dyn EntrySource>) -> Result<(), crate::engine::EngineError> {
    use crate::journal::{Event, RunStatus};
    loop {
        for entry in crate::blocking::blocking(|| source.poll())? {
            if let Some(line) = super::print::line(&entry) {
                println!("{line}");
            }
            if let Event::RunFinished { status: RunStatus::Succeeded | RunStatus::Abandoned | RunStatus::Undone } =
                entry.event
            {
                return Ok(());
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// `pilotlight handover`: asks the run's driver to hand it to `to`.
pub fn handover(id: &str, to: &str, team: &Team) -> u8 {
    let Some(config) = team_config(team, None) else {
        eprintln!("handover: give the run's --team TABLE");
        return INVALID;
    };
    match crate::team::TeamStore::connect(&config).and_then(|t| crate::team::asks::handover(&t, id, to)) {
        Ok(line) => {
            println!("{line}");
            OK
        }
        Err(e) => {
            eprintln!("{e}");
            FAILED
        }
    }
}

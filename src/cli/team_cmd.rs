//! `pilotlight team ...`: the team store.

use super::args::{Team, TeamCommand};
use super::exit::{FAILED, OK};
use super::run_cmd::{connect_options, team_config};
use std::path::Path;

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
                    let what = if made.already { "already there" } else { "made" };
                    println!("team store {}: stack {} {what} ({})", config.table, made.stack, made.status);
                    println!(
                        "  point-in-time recovery: {}; deletion protection: {}",
                        on(made.point_in_time_recovery),
                        on(made.deletion_protection)
                    );
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

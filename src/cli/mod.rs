//! The command-line front end: argument parsing and the commands. The full-screen console will
//! be a second front end over the same engine.

pub mod args;
pub mod commands;
pub mod drill_cmd;
pub mod front;
pub mod preflight_cmd;
pub mod print;
pub mod prompt;
pub mod run_cmd;
pub mod sandbox_cmd;
pub mod team_cmd;
pub mod undo_cmd;
pub mod vars;

pub use args::Cli;

/// Exit codes, as documented in `--help`.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const INVALID: u8 = 2;
}

/// The default state directory (the user's data directory).
pub fn default_state_dir() -> std::path::PathBuf {
    directories::ProjectDirs::from("", "", "pilotlight")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| std::path::PathBuf::from(".pilotlight"))
}

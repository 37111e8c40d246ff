//! pilotlight: walks an incident responder through an AWS disaster-recovery runbook (failback
//! first) and runs the AWS work underneath each step.
//!
//! The engine (`runbook`, `engine`, `journal`, `actions`, `aws`, `sandbox`) and the after-action
//! `report` have no terminal dependency; `cli` holds the front ends.

// The failback actions' futures nest deeply (sub-steps inside per-resource streams inside
// the engine); clippy's layout queries need more than the default depth.
#![recursion_limit = "256"]

pub mod actions;
pub mod aws;
pub mod blocking;
pub mod cli;
pub mod console;
pub mod drill;
pub mod durable;
pub mod engine;
pub mod journal;
pub mod pauses;
pub mod permissions;
pub mod preflight;
pub mod report;
pub mod runbook;
pub mod sandbox;
pub mod stable_hash;
pub mod team;

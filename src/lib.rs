//! pilotlight: walks an incident responder through an AWS disaster-recovery runbook (failback
//! first) and runs the AWS work underneath each step.
//!
//! The engine (`runbook`, `engine`, `journal`, `actions`, `aws`, `sandbox`) has no terminal
//! dependency; `cli` holds the front ends.

pub mod actions;
pub mod aws;
pub mod cli;
pub mod engine;
pub mod journal;
pub mod runbook;
pub mod sandbox;

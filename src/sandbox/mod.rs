//! The sandbox: a moto server started by the tool itself on loopback, seeded with a primary and
//! a recovery environment.

pub mod moto_api;
pub mod process;
pub mod realism;
pub mod seed;
pub mod server;

pub use server::{MotoServer, SandboxError, SandboxInfo};

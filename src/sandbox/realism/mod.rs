//! The realism layer: an HTTP proxy between the tool and moto that makes the sandbox behave like
//! AWS where moto does not. It enforces AWS's rules that moto skips ([`rules`]) and injects the
//! faults a test or a scenario asks for ([`proxy`]), and it gives AWS's operations the time they
//! take on AWS at a chosen pace ([`timing`], [`model`]). The tests and the sandbox use this one
//! layer (the sandbox runs it as a process of its own: [`process`]), so what the tests prove
//! about AWS's rules and waits is what a trainee meets.

mod cbor;
pub mod faults;
pub mod limits;
pub mod model;
pub mod process;
pub mod proxy;
pub mod rules;
pub mod timing;
mod wire;

pub use faults::{FaultKind, FaultSpec};
pub use limits::Limits;
pub use model::{Model, Pace};
pub use proxy::{Fault, FaultRule, Matcher, RealismProxy, Rule, Setup};
pub use timing::Clock;

//! The fence, downtime and when recovery stopped taking writes, as the journal shows them.
//!
//! - **The fence**: the run's latest `recovery.fence` step. It *began* with its first disruptive
//!   call (the application goes down there, whether or not the step succeeded) and *held*, once
//!   the step succeeded, from its `fenced_at` output: the moment it was proved (instances
//!   `stopped`, a probe write refused). A fence that never held stops no writes.
//! - **Downtime** runs from the fence beginning to the first smoke test passing after the DNS
//!   flip (the RTO's end, [`super::objectives::rto`]). Without a fence, recovery kept serving
//!   until the flip and the journal cannot tell when users lost the application: not measured.
//! - **Writes stopped**, which each resource's data-loss window ends at: the fence holding; with
//!   no fence, the DNS flip (recovery took writes until traffic moved); with neither, recovery
//!   still takes them and nothing is measured.

use super::model::{Downtime, Moment, Rto};
use super::time::between;
use crate::journal::RunState;

pub use crate::journal::FENCE_ACTION;

/// The fence as the report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fence {
    pub step: String,
    /// Its first disruptive call (`None` when it made none: everything was already fenced).
    pub began: Option<Moment>,
    /// When it was proved to hold.
    pub held: Option<Moment>,
}

/// The run's fence ([`RunState::fence`]), with its moments.
pub fn fence(state: &RunState) -> Option<Fence> {
    let f = state.fence()?;
    let began = f.began.map(|c| Moment { at: c.ts.clone(), seq: c.seq, step: Some(c.step.clone()), what: c.label() });
    let held = f.held.zip(f.succeeded).map(|(at, (seq, _))| Moment {
        at: at.to_string(),
        seq,
        step: Some(f.step.to_string()),
        what: "writes fenced (instances stopped, a probe write refused)".into(),
    });
    Some(Fence { step: f.step.to_string(), began, held })
}

/// Fence beginning → first smoke test passed after the flip.
pub fn downtime(fence: Option<&Fence>, rto: &Rto) -> Downtime {
    let not = |reason: String| Downtime { measured_ms: None, start: None, end: None, reason: Some(reason) };
    let Some(fence) = fence else {
        return not(format!(
            "no fence step (`{FENCE_ACTION}`) ran: recovery kept serving, and taking writes, until the DNS \
             flip; when users lost the application is not in the journal"
        ));
    };
    let Some(start) = fence.began.clone().or_else(|| fence.held.clone()) else {
        return not(format!("the fence step `{}` reported no moment (a dry run fences nothing)", fence.step));
    };
    let Some(end) = rto.smoke_test.clone() else {
        let mut d = not("no smoke test has passed since the DNS flip".into());
        d.start = Some(start);
        return d;
    };
    let ms = between(&start.at, &end.at);
    Downtime {
        measured_ms: ms.map(|ms| ms.max(0) as u64),
        reason: ms.is_none().then(|| format!("the journal times `{}` and `{}` cannot be read", start.at, end.at)),
        start: Some(start),
        end: Some(end),
    }
}

/// When recovery stopped taking writes (see the module's doc), or why that is unknown.
pub fn writes_stopped(fence: Option<&Fence>, rto: &Rto) -> Result<Moment, String> {
    if let Some(held) = fence.and_then(|f| f.held.clone()) {
        return Ok(held);
    }
    match &rto.dns_flip {
        Some(flip) => Ok(Moment {
            what: format!("{} (no fence: recovery took writes until traffic moved)", flip.what),
            ..flip.clone()
        }),
        None => Err("recovery still takes writes: no fence has held and DNS has not been flipped".into()),
    }
}

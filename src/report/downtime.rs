//! The fence, downtime and when recovery stopped taking writes, as the journal shows them.
//!
//! - **The fence**: the run's `recovery.fence` step that succeeded (the last, if several). It
//!   *began* with its first disruptive call (the application goes down there) and *held* from its
//!   `fenced_at` output: the moment it was proved (instances `stopped`, a probe write refused).
//! - **Downtime** runs from the fence beginning to the first smoke test passing after the DNS
//!   flip (the RTO's end, [`super::objectives::rto`]). Without a fence, recovery kept serving
//!   until the flip and the journal cannot tell when users lost the application: not measured.
//! - **Writes stopped**, which each resource's data-loss window ends at: the fence holding; with
//!   no fence, the DNS flip (recovery took writes until traffic moved); with neither, recovery
//!   still takes them and nothing is measured.

use super::model::{Downtime, Moment, Rto, StepReport};
use super::time::between;
use crate::journal::{DISRUPTIVE, RunState, StepStatus};
use serde_json::Value;

/// The action that fences recovery's writes.
pub const FENCE_ACTION: &str = "recovery.fence";

/// The fence as the journal shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fence {
    pub step: String,
    /// Its first disruptive call (`None` when it made none: everything was already fenced).
    pub began: Option<Moment>,
    /// When it was proved to hold.
    pub held: Option<Moment>,
}

/// The run's fence, if a fence step succeeded.
pub fn fence(state: &RunState, steps: &[StepReport]) -> Option<Fence> {
    let step =
        steps.iter().rev().find(|s| s.action.as_deref() == Some(FENCE_ACTION) && s.status == StepStatus::Succeeded)?;
    let st = state.steps.get(&step.id)?;
    let began = state
        .calls
        .iter()
        .find(|c| c.mutating && c.step == step.id && DISRUPTIVE.contains(&c.operation.as_str()))
        .map(|c| Moment { at: c.ts.clone(), seq: c.seq, step: Some(c.step.clone()), what: c.label() });
    let held =
        st.outputs.get("fenced_at").and_then(Value::as_str).zip(st.succeeded.as_ref()).map(|(at, (seq, _))| Moment {
            at: at.to_string(),
            seq: *seq,
            step: Some(step.id.clone()),
            what: "writes fenced (instances stopped, a probe write refused)".into(),
        });
    Some(Fence { step: step.id.clone(), began, held })
}

/// Fence beginning → first smoke test passed after the flip.
pub fn downtime(fence: Option<&Fence>, rto: &Rto) -> Downtime {
    let not = |reason: String| Downtime { measured_ms: None, start: None, end: None, reason: Some(reason) };
    let Some(fence) = fence else {
        return not(format!(
            "no fence step (`{FENCE_ACTION}`) succeeded: recovery kept serving, and taking writes, until the DNS \
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
    if let Some(f) = fence {
        return f.held.clone().ok_or_else(|| format!("the fence step `{}` reported no `fenced_at`", f.step));
    }
    match &rto.dns_flip {
        Some(flip) => Ok(Moment {
            what: format!("{} (no fence: recovery took writes until traffic moved)", flip.what),
            ..flip.clone()
        }),
        None => Err("recovery still takes writes: no fence step has succeeded and DNS has not been flipped".into()),
    }
}

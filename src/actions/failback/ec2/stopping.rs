//! Waiting for an instance to stop, as AWS advises for one stuck in `stopping`: after
//! [`crate::pauses::Pauses::force_stop_after`] the stop is sent again with `Force=true`
//! (journaled, and said: a forced stop flushes no file-system cache). The failback's stop of
//! primary and the fence's stop of recovery wait the same way.

use super::reads::{instance, state_of};
use crate::actions::{ActionCx, Poll};
use crate::aws::{ActionError, at, mutate};
use crate::journal::SubId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Polls `inst` (in `region`) until it is `stopped`, forcing the stop once if it stays
/// `stopping`; `consequence` says what an unflushed file system means for this instance. Returns
/// the moment it was seen stopped. Run inside the sub-step `name`.
pub(in crate::actions::failback) async fn until_stopped(
    cx: &ActionCx<'_>,
    name: &SubId,
    client: &aws_sdk_ec2::Client,
    (inst, region): (&str, &str),
    consequence: &str,
) -> Result<String, ActionError> {
    let start = Instant::now();
    let forced = AtomicBool::new(false);
    let quiet = cx.quiet();
    cx.wait_for(name, cx.timeout, || async {
        let state = state_of(&instance(&quiet, client, inst, region).await?);
        if state == "stopping" && start.elapsed() >= cx.pauses.force_stop_after && !forced.swap(true, Ordering::SeqCst)
        {
            let waited = humantime::format_duration(cx.pauses.force_stop_after);
            cx.log.note(format!(
                "{inst} still stopping after {waited}: forcing the stop (no file-system flush: {consequence})"
            ))?;
            mutate(cx.log, at(inst, region), client.stop_instances().instance_ids(inst).force(true)).await??;
        }
        match state.as_str() {
            "stopped" => Ok(Poll::Ready(crate::journal::now_rfc3339())),
            "terminated" => Err(ActionError::Failed(format!("instance {inst} is terminated"))),
            other => Ok(Poll::Pending(format!("{inst} {other}"))),
        }
    })
    .await
}

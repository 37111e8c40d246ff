//! Waiting for an instance to stop, as AWS advises for one stuck in `stopping`: after
//! [`crate::pauses::Pauses::force_stop_after`] the stop is sent again with `Force=true`
//! (journaled, and said: a forced stop flushes no file-system cache). The failback's stop of
//! primary, the fence's and the conclusion's stops of recovery wait the same way; the fence and
//! the conclusion stop a recovery instance with the same sub-steps ([`stop_instance`]).

use super::reads::{instance, state_of};
use crate::actions::failback::rds::wait_status;
use crate::actions::{ActionCx, Poll};
use crate::aws::{ActionError, at, mutate};
use crate::journal::SubId;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Stops instance `inst` of resource `name`: waits for a state a stop can be sent from
/// (`wait-stoppable`: EC2 refuses a stop while `pending`), stops it if it runs (`stop`), and
/// waits until it is stopped (`wait-stopped`, forcing a stop that hangs). Returns whether this
/// sent the stop, and when it was seen stopped (`None` in a dry run). Never terminates.
pub(in crate::actions::failback) async fn stop_instance(
    cx: &ActionCx<'_>,
    name: &str,
    client: &aws_sdk_ec2::Client,
    (inst, region): (&str, &str),
    consequence: &str,
) -> Result<(bool, Option<String>), ActionError> {
    let quiet = cx.quiet();
    let stoppable = &["running", "stopping", "stopped", "terminated"];
    wait_status(cx, &SubId::of(name, "wait-stoppable"), json!({ "instance": inst }), stoppable, || async {
        Ok(vec![(format!("instance {inst}"), Some(state_of(&instance(&quiet, client, inst, region).await?)))])
    })
    .await?;
    // `Option`s: a journal of an earlier version recorded these sub-steps' results as null.
    let sent: Option<bool> = cx
        .sub(&SubId::of(name, "stop"), json!({ "instance": inst }), |_| async {
            if state_of(&instance(cx.log, client, inst, region).await?) != "running" {
                return Ok(Some(false));
            }
            if cx.dry_run {
                cx.log.note(format!("dry run: would stop {inst} in {region}"))?;
                return Ok(Some(false));
            }
            mutate(cx.log, at(inst, region), client.stop_instances().instance_ids(inst)).await??;
            Ok(Some(true))
        })
        .await?;
    if cx.dry_run {
        return Ok((false, None));
    }
    let wait = SubId::of(name, "wait-stopped");
    let stopped: Option<String> = cx
        .sub(&wait, json!({ "instance": inst }), |_| async {
            until_stopped(cx, &wait, client, (inst, region), consequence).await.map(Some)
        })
        .await?;
    Ok((sent == Some(true), stopped))
}

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

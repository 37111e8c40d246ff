//! How a rehearsal of one resource ends (`failback.rehearse`), the same for every type: what it
//! made is removed whether it went through or not; a failure marks its sub-steps undone (a retry
//! rehearses again) and says that primary was only read; a success reports how long each part
//! took, the prediction of the failback's window.

use crate::actions::ActionCx;
use crate::aws::ActionError;
use crate::journal::SubId;
use serde_json::{Value, json};
use std::future::Future;

/// Ends the rehearsal of `name` (`what`: how the error names it): `remove` runs after `tried`
/// either way, except when a call may have landed unanswered or the journal failed (the next
/// attempt looks first). On failure the sub-steps `after_read` are marked undone.
pub async fn settle<T, Fut>(
    cx: &ActionCx<'_>,
    (name, what): (&str, &str),
    tried: Result<T, ActionError>,
    remove: impl FnOnce() -> Fut,
    after_read: &[&str],
) -> Result<T, ActionError>
where
    Fut: Future<Output = Result<(), ActionError>>,
{
    match tried {
        Err(e @ (ActionError::Unanswered { .. } | ActionError::Journal(_))) => Err(e),
        Err(e) => {
            remove().await?;
            let names: Vec<SubId> = after_read.iter().map(|p| SubId::of(name, *p)).collect();
            cx.reset(&names.iter().collect::<Vec<_>>())?;
            Err(ActionError::Failed(format!(
                "the rehearsal of {what} failed: {e}. Primary was only read; what the rehearsal made was removed. \
                 This is what the failback would meet: mend it, then retry"
            )))
        }
        Ok(done) => {
            remove().await?;
            Ok(done)
        }
    }
}

/// Each part's seconds ([`durations`]) and their sum, the predicted window, also said in the
/// journal (`what` rehearsed as `made`).
pub fn timed(
    cx: &ActionCx<'_>,
    (name, what, made): (&str, &str, &str),
    parts: &[(&str, &str, &str)],
) -> Result<(serde_json::Map<String, Value>, f64), ActionError> {
    let took = durations(cx, name, parts);
    let window: f64 = took.values().filter_map(Value::as_f64).sum();
    let each: Vec<String> = took.iter().map(|(k, v)| format!("{k} {v} s")).collect();
    cx.log.note(format!(
        "{what}: rehearsed as {made} and removed; {}; the same parts of the failback would take about {window:.1} s",
        each.join(", ")
    ))?;
    Ok((took, window))
}

/// Seconds each part (`label`, first sub-step, last sub-step) of a resource's rehearsal took,
/// from the journal: the first sub-step's first start to the last one's end (a resumed part
/// counts from its first start).
fn durations(cx: &ActionCx<'_>, name: &str, parts: &[(&str, &str, &str)]) -> serde_json::Map<String, Value> {
    let at = |part: &str, end: bool| {
        let s = cx.recorded(&SubId::of(name, part))?;
        let t = if end { s.finished_at? } else { s.first_at };
        humantime::parse_rfc3339_weak(&t).ok()
    };
    parts
        .iter()
        .filter_map(|(label, first, last)| {
            let took = at(last, true)?.duration_since(at(first, false)?).ok()?;
            Some((label.to_string(), json!((took.as_secs_f64() * 10.0).round() / 10.0)))
        })
        .collect()
}

//! How long each part of a rehearsal took, read from the journal: the prediction of the
//! failback's window (`failback.rehearse`).

use crate::actions::ActionCx;
use crate::journal::SubId;
use serde_json::{Value, json};

/// Seconds each part (`label`, first sub-step, last sub-step) of a resource's rehearsal took,
/// from the journal: the first sub-step's first start to the last one's end (a resumed part
/// counts from its first start).
pub fn durations(cx: &ActionCx<'_>, name: &str, parts: &[(&str, &str, &str)]) -> serde_json::Map<String, Value> {
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

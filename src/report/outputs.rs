//! What the failback actions put in their outputs: retained items, recorded configurations and
//! recovery points (`ActionFinished.outputs`: `resources.<name>.{recovery_point, recorded_config,
//! reapplied, retained}` and a top-level `retained` list).
//!
//! Failed attempts are read too: an action that fails for one resource still reports what the
//! others kept, and those things exist in AWS whether or not the step was retried.

use super::model::{ConfigRecord, Rehearsal, RetainedItem};
use crate::actions::failback::Retained;
use crate::journal::FinishedAttempt;
use indexmap::IndexMap;
use serde_json::Value;

/// A resource's recovery point as its failback reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryPoint {
    pub step: String,
    pub resource: String,
    /// `None` when the action reported `null` (a dry run, or no time from AWS).
    pub at: Option<String>,
}

/// What the outputs of every attempt hold.
#[derive(Debug, Default)]
pub struct FromOutputs {
    pub retained: Vec<RetainedItem>,
    pub configuration: Vec<ConfigRecord>,
    pub recovery_points: Vec<RecoveryPoint>,
    pub rehearsals: Vec<Rehearsal>,
    pub warnings: Vec<String>,
}

pub fn read(attempts: &[FinishedAttempt]) -> FromOutputs {
    let mut out = FromOutputs::default();
    // Keyed so that a retry or a second attempt that reports the same thing again replaces it
    // in place rather than listing it twice.
    let mut retained: IndexMap<(String, String, String), RetainedItem> = IndexMap::new();
    let mut config: IndexMap<(String, String), ConfigRecord> = IndexMap::new();
    let mut points: IndexMap<(String, String), RecoveryPoint> = IndexMap::new();
    let mut rehearsals: IndexMap<(String, String), Rehearsal> = IndexMap::new();
    for FinishedAttempt { step, outputs, .. } in attempts {
        let resources = outputs.get("resources").and_then(Value::as_object);
        // An undo or a rollback put these back in use: no longer kept aside (a later failback
        // that keeps them again lists them again).
        let put_back = resources.into_iter().flat_map(|r| r.values()).filter_map(|v| v.get("put_back"));
        for id in put_back.filter_map(Value::as_array).flatten().filter_map(Value::as_str) {
            retained.retain(|(_, kept, _), _| kept != id);
        }
        let lists = outputs.get("retained").into_iter().chain(
            resources.into_iter().flat_map(|r| r.values().filter_map(|v| v.get("retained")).collect::<Vec<_>>()),
        );
        for item in lists.filter_map(Value::as_array).flatten() {
            match serde_json::from_value::<Retained>(item.clone()) {
                Ok(r) => {
                    let key = (r.kind.clone(), r.id.clone(), r.region.clone());
                    retained.insert(
                        key,
                        RetainedItem {
                            step: step.clone(),
                            resource: r.resource,
                            kind: r.kind,
                            id: r.id,
                            region: r.region,
                            why: r.why,
                            delete_with: r.delete_with,
                        },
                    );
                }
                Err(e) => out.warnings.push(format!("step {step}: a retained item could not be read ({e}): {item}")),
            }
        }
        for (name, r) in resources.into_iter().flatten() {
            let key = (step.clone(), name.clone());
            if let Some(recorded) = r.get("recorded_config").filter(|v| !v.is_null()) {
                let reapplied = r
                    .get("reapplied")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect()
                    })
                    .unwrap_or_default();
                config.insert(
                    key.clone(),
                    ConfigRecord { step: step.clone(), resource: name.clone(), recorded: recorded.clone(), reapplied },
                );
            }
            if let Some(window) = r.get("predicted_window_s").and_then(Value::as_f64) {
                let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                let rehearsal = Rehearsal {
                    step: step.clone(),
                    resource: name.clone(),
                    rehearsed_as: r.get("rehearsed_as").map(text).unwrap_or_default(),
                    durations_s: r
                        .get("durations_s")
                        .and_then(Value::as_object)
                        .map(|d| d.iter().filter_map(|(k, v)| Some((k.clone(), v.as_f64()?))).collect())
                        .unwrap_or_default(),
                    predicted_window_s: window,
                    remaining_differences: r
                        .get("remaining_differences")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(text).collect())
                        .unwrap_or_default(),
                };
                rehearsals.insert(key.clone(), rehearsal);
            }
            if let Some(point) = r.get("recovery_point") {
                let at = point.as_str().map(str::to_string);
                points.insert(key, RecoveryPoint { step: step.clone(), resource: name.clone(), at });
            }
        }
    }
    out.retained = retained.into_values().collect();
    out.configuration = config.into_values().collect();
    out.recovery_points = points.into_values().collect();
    out.rehearsals = rehearsals.into_values().collect();
    out
}

//! `route53.upsert_record`: flip the record that routes production traffic.
//!
//! The old value is journaled (a sub-step) before the change, so a run interrupted after the
//! flip still reports (and can flip back to) what the record pointed at before.

use super::{Action, ActionCx, CheckCx, Outputs, ParamProblem, Poll, default_primary};
use crate::aws::dns::{self, RecordValue};
use crate::aws::{ActionError, at, mutate, read};
use crate::journal::SubId;
use crate::runbook::yaml_tree::Seg;
use crate::runbook::{ResourceType, Side};
use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// Parameters of `route53.upsert_record`. Name the record by a declared `route53_record` resource
/// (with `to: primary|recovery`, or an explicit `value`), or by `zone`, `record_name`,
/// `record_type` and `value`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertParams {
    /// Environment whose credentials make the change.
    #[serde(default = "default_primary")]
    pub environment: String,
    /// A declared `route53_record` resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Point the record at this side's value (from the resource).
    #[serde(default)]
    pub to: Option<Side>,
    /// The new value; several values are comma-separated.
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub record_name: Option<String>,
    #[serde(default)]
    pub record_type: Option<String>,
    /// TTL for the record; defaults to the record's current TTL, else 60.
    #[serde(default)]
    pub ttl: Option<i64>,
}

/// The record and value an upsert resolves to.
struct Target {
    zone: String,
    name: String,
    rtype: String,
    values: Vec<String>,
}

impl Action for UpsertParams {
    const NAME: &'static str = "route53.upsert_record";
    const DISRUPTS: bool = true;
    const SUMMARY: &'static str = "point a DNS record at a side (or value) and wait until the change is INSYNC";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["old_value", "new_value", "changed", "change_id"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        let mut out: Vec<ParamProblem> = cx.environment("environment", &self.environment).into_iter().collect();
        if let Err(p) = self.target(cx.runbook) {
            out.push(p);
        }
        out
    }

    /// Sub-steps: `record-old-value` (what the record routed to before; journaled before any
    /// change, so a flip can always be undone), `upsert` (the change; a resumed one whose value
    /// is already in place re-sends the identical, idempotent UPSERT to get a change id to wait
    /// on), `wait-insync`.
    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let t = self.target(cx.runbook).map_err(|(_, m)| ActionError::Failed(m))?;
        let client = Client::new(&cx.envs.config(&self.environment, cx.log).await?);
        let zone_id = dns::zone_id(&client, cx.log, &t.zone).await?;
        let current = dns::read_record(&client, cx.log, &zone_id, &t.name, &t.rtype).await?;
        let old_value: Value = cx
            .sub(&SubId::step("record-old-value"), Value::Null, |_| async {
                Ok(current.as_ref().map(|c| Value::from(c.joined())).unwrap_or(Value::Null))
            })
            .await?;
        let new_value = t.values.join(",");
        let mut out = Outputs::new();
        out.insert("old_value".into(), old_value);
        out.insert("new_value".into(), json!(new_value));
        let in_place = same(current.as_ref(), &t.values);
        if cx.dry_run {
            let from = current.as_ref().map(RecordValue::joined).unwrap_or_else(|| "(no record)".into());
            if in_place {
                cx.log.note(format!("dry run: {} {} already points at {new_value}", t.name, t.rtype))?;
            } else {
                cx.log.note(format!("dry run: would UPSERT {} {} from {from} to {new_value}", t.name, t.rtype))?;
            }
            out.insert("changed".into(), json!(false));
            out.insert("change_id".into(), Value::Null);
            return Ok(out);
        }
        let ttl = self.ttl_for(current.as_ref());
        let (client, zone_id, t, new_value) = (&client, &zone_id, &t, &new_value);
        let change_id: Option<String> = cx
            .sub(&SubId::step("upsert"), json!({ "value": new_value }), |resume| async move {
                if in_place && !resume.resumed() {
                    cx.log.note(format!("{} {} already points at {new_value}; nothing to change", t.name, t.rtype))?;
                    return Ok(None);
                }
                Ok(Some(upsert(cx, client, zone_id, t, ttl).await?))
            })
            .await?;
        if let Some(id) = &change_id {
            cx.sub(&SubId::step("wait-insync"), json!({ "change_id": id }), |_| wait_insync(cx, client, id)).await?;
        }
        out.insert("changed".into(), json!(change_id.is_some()));
        out.insert("change_id".into(), json!(change_id));
        Ok(out)
    }
}

impl UpsertParams {
    fn target(&self, runbook: &crate::runbook::Runbook) -> Result<Target, ParamProblem> {
        let key = |k: &str| vec![Seg::Key(k.into())];
        let res = match &self.resource {
            Some(r) => match runbook.resources.get(r) {
                Some(res) if res.kind == ResourceType::Route53Record => Some(res),
                Some(res) => {
                    return Err((
                        key("resource"),
                        format!("resource `{r}` is a {}, not a route53_record", res.kind.as_str()),
                    ));
                }
                None => return Err((key("resource"), format!("unknown resource `{r}`"))),
            },
            None => None,
        };
        let pick =
            |own: &Option<String>, from_res: Option<&Option<String>>, field: &str| -> Result<String, ParamProblem> {
                own.clone().or_else(|| from_res.and_then(Clone::clone)).ok_or_else(|| {
                    (Vec::new(), format!("`{field}` is needed (or a `resource` that is a route53_record)"))
                })
            };
        let zone = pick(&self.zone, res.map(|r| &r.zone), "zone")?;
        let name = pick(&self.record_name, res.map(|r| &r.record_name), "record_name")?;
        let rtype = pick(&self.record_type, res.map(|r| &r.record_type), "record_type")?;
        let value = match (&self.value, self.to, res) {
            (Some(v), _, _) => v.clone(),
            (None, Some(side), Some(r)) => r
                .side(side)
                .map(str::to_string)
                .ok_or_else(|| (key("to"), format!("the resource has no {} value", side.as_str())))?,
            (None, Some(_), None) => return Err((key("to"), "`to` needs a `resource`".into())),
            (None, None, _) => return Err((Vec::new(), "give `to: primary|recovery` or a `value`".into())),
        };
        let values: Vec<String> = value.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return Err((key("value"), "the new value is empty".into()));
        }
        Ok(Target { zone, name: dns::fqdn(&name), rtype: rtype.to_ascii_uppercase(), values })
    }

    /// The TTL to write: the one given, else the record's current one, else 60 s.
    fn ttl_for(&self, current: Option<&RecordValue>) -> i64 {
        self.ttl.or(current.and_then(|c| c.ttl)).unwrap_or(60)
    }
}

fn same(current: Option<&RecordValue>, wanted: &[String]) -> bool {
    let Some(c) = current else { return false };
    let mut a: Vec<&str> = c.values.iter().map(String::as_str).collect();
    let mut b: Vec<&str> = wanted.iter().map(String::as_str).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

async fn upsert(
    cx: &ActionCx<'_>,
    client: &Client,
    zone_id: &str,
    t: &Target,
    ttl: i64,
) -> Result<String, ActionError> {
    let build_err = |e: aws_sdk_route53::error::BuildError| ActionError::Failed(format!("route53 request: {e}"));
    let mut records = Vec::new();
    for v in &t.values {
        records.push(ResourceRecord::builder().value(v).build().map_err(build_err)?);
    }
    let set = ResourceRecordSet::builder()
        .name(&t.name)
        .r#type(RrType::from(t.rtype.as_str()))
        .ttl(ttl)
        .set_resource_records(Some(records))
        .build()
        .map_err(build_err)?;
    let change = Change::builder().action(ChangeAction::Upsert).resource_record_set(set).build().map_err(build_err)?;
    let batch = ChangeBatch::builder()
        .comment(format!("pilotlight step {}", cx.step))
        .changes(change)
        .build()
        .map_err(build_err)?;
    let req = client.change_resource_record_sets().hosted_zone_id(zone_id).change_batch(batch);
    let out = mutate(cx.log, at(&t.name, "global"), req).await??;
    Ok(out.change_info().map(|i| i.id().trim_start_matches("/change/").to_string()).unwrap_or_default())
}

async fn wait_insync(cx: &ActionCx<'_>, client: &Client, change_id: &str) -> Result<(), ActionError> {
    if change_id.is_empty() {
        return Ok(());
    }
    let quiet = cx.quiet();
    // Inside the caller's `wait-insync` sub-step, which journals its start and end once.
    cx.wait_for(&SubId::step("wait-insync"), cx.timeout, || async {
        let out = read(&quiet, at(change_id, "global"), client.get_change().id(change_id)).await??;
        Ok(match out.change_info().map(|i| i.status().clone()) {
            Some(ChangeStatus::Insync) => Poll::Ready(()),
            other => Poll::Pending(format!(
                "change {change_id} {}",
                other.map(|s| s.as_str().to_string()).unwrap_or_else(|| "unknown".into())
            )),
        })
    })
    .await
}

//! `check.resource`: read, assert or wait for a property of a declared resource.

use super::{Action, ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::resource_read;
use crate::aws::resource_status::{self, ResourceStatus};
use crate::aws::{ActionError, wait};
use crate::runbook::yaml_tree::Seg;
use crate::runbook::{ResourceType, Side};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

/// Which property to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Property {
    /// State or status word (`running`, `available`, `ACTIVE`, `CREATE_COMPLETE`), or a DNS
    /// record's values.
    #[default]
    Status,
    /// `true` or `false`.
    Exists,
    /// `route53_record` only: `primary`, `recovery` or `neither`, from the resource's values.
    PointsTo,
}

/// Parameters of `check.resource`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckParams {
    /// A declared resource.
    pub resource: String,
    #[serde(default = "primary")]
    pub side: Side,
    #[serde(default)]
    pub property: Property,
    /// The value the property must have.
    #[serde(default)]
    pub equals: Option<String>,
    /// Values any one of which passes.
    #[serde(default)]
    pub one_of: Option<Vec<String>>,
    /// Keep polling until the property matches (up to the step's timeout), instead of failing at
    /// the first mismatch.
    #[serde(default)]
    pub wait: bool,
}

fn primary() -> Side {
    Side::Primary
}

impl Action for CheckParams {
    const NAME: &'static str = "check.resource";
    const SUMMARY: &'static str = "read, assert or wait for a property of a declared resource";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["value", "exists", "id"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
    const READ_ONLY: bool = true;

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        let mut out = Vec::new();
        match cx.resource("resource", &self.resource, &[]) {
            Ok(r) => {
                if self.property == Property::PointsTo && r.kind != ResourceType::Route53Record {
                    out.push((vec![Seg::Key("property".into())], "points_to only applies to route53_record".into()));
                }
                if r.kind != ResourceType::Route53Record && r.side(self.side).is_none() {
                    out.push((
                        vec![Seg::Key("side".into())],
                        format!("resource `{}` has no {} identifier", self.resource, self.side.as_str()),
                    ));
                }
            }
            Err(p) => out.push(p),
        }
        if self.equals.is_some() && self.one_of.is_some() {
            out.push((vec![Seg::Key("one_of".into())], "give `equals` or `one_of`, not both".into()));
        }
        if self.wait && self.equals.is_none() && self.one_of.is_none() {
            out.push((vec![Seg::Key("wait".into())], "`wait` needs `equals` or `one_of` to wait for".into()));
        }
        out
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let res = cx
            .runbook
            .resources
            .get(&self.resource)
            .ok_or_else(|| ActionError::Failed(format!("unknown resource `{}`", self.resource)))?;
        let expected = self.expected();
        let read = || async { resource_read::read_one(cx.envs, cx.log, &self.resource, res, self.side).await };
        let matches = |v: &str| expected.as_ref().is_none_or(|e| e.iter().any(|x| x == v));
        let (s, value) = if self.wait && !cx.dry_run {
            wait::until(cx.pauses.first_poll, cx.pauses.max_poll, cx.timeout, || async {
                let s = read().await?;
                let value = self.value_of(cx, &s);
                Ok(matches(&value).then_some((s, value)))
            })
            .await
            .map_err(|e| match e {
                ActionError::Timeout(d) => ActionError::Failed(format!(
                    "{} ({}) did not reach {} {:?} within {}",
                    self.resource,
                    self.side.as_str(),
                    self.property_name(),
                    expected.clone().unwrap_or_default(),
                    humantime::format_duration(d)
                )),
                other => other,
            })?
        } else {
            let s = read().await?;
            let value = self.value_of(cx, &s);
            (s, value)
        };
        if !matches(&value) && cx.dry_run {
            // Earlier steps did not really act in a dry run, so a check may not hold yet.
            cx.log.note(format!(
                "dry run: {} ({}): {} is {value:?} now; a real run needs {}",
                self.resource,
                self.side.as_str(),
                self.property_name(),
                expected.clone().unwrap_or_default().join(" or ")
            ))?;
        } else if !matches(&value) {
            return Err(ActionError::Failed(format!(
                "{} ({}): {} is {value:?}, expected {}",
                self.resource,
                self.side.as_str(),
                self.property_name(),
                expected.unwrap_or_default().join(" or ")
            )));
        }
        cx.log.note(format!("{} ({}): {} is {value}", self.resource, self.side.as_str(), self.property_name()))?;
        Ok([
            ("value".to_string(), json!(value)),
            ("exists".to_string(), json!(s.exists)),
            ("id".to_string(), json!(s.id)),
        ]
        .into_iter()
        .collect())
    }
}

impl CheckParams {
    fn expected(&self) -> Option<Vec<String>> {
        self.equals.clone().map(|e| vec![e]).or_else(|| self.one_of.clone())
    }

    fn value_of(&self, cx: &ActionCx<'_>, s: &ResourceStatus) -> String {
        match self.property {
            Property::Exists => s.exists.to_string(),
            Property::Status => s.status.clone().unwrap_or_else(|| if s.exists { "unknown" } else { "absent" }.into()),
            Property::PointsTo => match cx.runbook.resources.get(&self.resource) {
                Some(res) => resource_status::points_to(res, s.status.as_deref().unwrap_or("")).to_string(),
                None => "neither".to_string(),
            },
        }
    }

    fn property_name(&self) -> &'static str {
        match self.property {
            Property::Status => "status",
            Property::Exists => "exists",
            Property::PointsTo => "points_to",
        }
    }
}

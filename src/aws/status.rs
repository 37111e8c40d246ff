//! Reads the live status of a declared resource on one side: what `check.resource` asserts and
//! what the console's status panels show, primary and recovery side by side.

use super::{ActionError, AwsEnvs, CallLog, at, cfn, dns, ops};
use crate::runbook::{Resource, ResourceType, Side};
use aws_sdk_ec2::types::Filter;

/// A resource's status on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceStatus {
    pub exists: bool,
    /// The state or status word AWS reports (`running`, `available`, `ACTIVE`, `CREATE_COMPLETE`),
    /// or a DNS record's values.
    pub status: Option<String>,
    /// The AWS id behind a name (an instance id for a Name tag).
    pub id: Option<String>,
    /// Facts the console shows beside the status (`class`, `volumes`, `items`, ...), in order.
    pub details: Vec<(String, String)>,
}

impl ResourceStatus {
    pub fn absent() -> ResourceStatus {
        ResourceStatus { exists: false, status: None, id: None, details: Vec::new() }
    }
    pub fn present(status: Option<String>, id: Option<String>) -> ResourceStatus {
        ResourceStatus { exists: true, status, id, details: Vec::new() }
    }
}

/// Reads the status of `res` on `side`, in that side's environment.
pub async fn read(
    envs: &AwsEnvs,
    log: &dyn CallLog,
    name: &str,
    res: &Resource,
    side: Side,
) -> Result<ResourceStatus, ActionError> {
    let env = side.as_str();
    let config = envs.config(env, log).await?;
    let region = envs.region(env)?.to_string();
    let id = match res.kind {
        // A record is one global object; its "sides" are the values that route to each.
        ResourceType::Route53Record => return read_dns(&aws_sdk_route53::Client::new(&config), log, res).await,
        _ => res.side(side),
    };
    let Some(id) = id else {
        return Err(ActionError::Failed(format!("resource `{name}` has no {env} identifier")));
    };
    match res.kind {
        ResourceType::Ec2Instance => read_instance(&aws_sdk_ec2::Client::new(&config), log, id, &region).await,
        ResourceType::RdsInstance => {
            let client = aws_sdk_rds::Client::new(&config);
            let req = client.describe_db_instances().db_instance_identifier(id);
            match ops::read(log, at(id, &region), req, |r| r.send()).await? {
                Ok(out) => Ok(out
                    .db_instances()
                    .first()
                    .map(|d| {
                        ResourceStatus::present(
                            d.db_instance_status().map(str::to_string),
                            d.db_instance_arn().map(str::to_string),
                        )
                    })
                    .unwrap_or_else(ResourceStatus::absent)),
                Err(e) if e.is_not_found() => Ok(ResourceStatus::absent()),
                Err(e) => Err(e.into()),
            }
        }
        ResourceType::AuroraCluster => {
            let client = aws_sdk_rds::Client::new(&config);
            let req = client.describe_db_clusters().db_cluster_identifier(id);
            match ops::read(log, at(id, &region), req, |r| r.send()).await? {
                Ok(out) => Ok(out
                    .db_clusters()
                    .first()
                    .map(|d| {
                        ResourceStatus::present(d.status().map(str::to_string), d.db_cluster_arn().map(str::to_string))
                    })
                    .unwrap_or_else(ResourceStatus::absent)),
                Err(e) if e.is_not_found() => Ok(ResourceStatus::absent()),
                Err(e) => Err(e.into()),
            }
        }
        ResourceType::DynamodbTable => {
            let client = aws_sdk_dynamodb::Client::new(&config);
            match ops::read(log, at(id, &region), client.describe_table().table_name(id), |r| r.send()).await? {
                Ok(out) => Ok(out
                    .table()
                    .map(|t| {
                        ResourceStatus::present(
                            t.table_status().map(|s| s.as_str().to_string()),
                            t.table_arn().map(str::to_string),
                        )
                    })
                    .unwrap_or_else(ResourceStatus::absent)),
                Err(e) if e.is_not_found() => Ok(ResourceStatus::absent()),
                Err(e) => Err(e.into()),
            }
        }
        ResourceType::CloudformationStack => {
            let client = aws_sdk_cloudformation::Client::new(&config);
            Ok(match cfn::describe_stack(&client, log, id, &region).await? {
                Some(s) => ResourceStatus::present(Some(cfn::status(&s)), s.stack_id().map(str::to_string)),
                None => ResourceStatus::absent(),
            })
        }
        ResourceType::Route53Record => read_dns(&aws_sdk_route53::Client::new(&config), log, res).await,
    }
}

/// An instance by id (`i-...`) or by Name tag; terminated instances do not count.
async fn read_instance(
    client: &aws_sdk_ec2::Client,
    log: &dyn CallLog,
    id: &str,
    region: &str,
) -> Result<ResourceStatus, ActionError> {
    let mut req = client.describe_instances();
    req = if id.starts_with("i-") {
        req.instance_ids(id)
    } else {
        req.filters(Filter::builder().name("tag:Name").values(id).build())
    };
    let out = match ops::read(log, at(id, region), req, |r| r.send()).await? {
        Ok(out) => out,
        Err(e) if e.is_not_found() => return Ok(ResourceStatus::absent()),
        Err(e) => return Err(e.into()),
    };
    let live: Vec<_> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| i.state().and_then(|s| s.name()).is_none_or(|n| n.as_str() != "terminated"))
        .collect();
    match live.as_slice() {
        [] => Ok(ResourceStatus::absent()),
        [i] => Ok(ResourceStatus::present(
            i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()),
            i.instance_id().map(str::to_string),
        )),
        many => Err(ActionError::Failed(format!(
            "ec2 DescribeInstances on {id} ({region}): {} live instances are named {id}; name one by its instance id",
            many.len()
        ))),
    }
}

async fn read_dns(
    client: &aws_sdk_route53::Client,
    log: &dyn CallLog,
    res: &Resource,
) -> Result<ResourceStatus, ActionError> {
    let (Some(zone), Some(name), Some(rtype)) = (&res.zone, &res.record_name, &res.record_type) else {
        return Err(ActionError::Failed("route53_record needs zone, record_name and record_type".into()));
    };
    let zone_id = dns::zone_id(client, log, zone).await?;
    Ok(match dns::read_record(client, log, &zone_id, name, rtype).await? {
        Some(v) => ResourceStatus::present(Some(v.joined()), Some(zone_id)),
        None => ResourceStatus::absent(),
    })
}

/// Which side a DNS record's current `value` routes to: the side whose declared value it holds
/// (`primary` or `recovery`), else `neither`.
pub fn points_to(res: &Resource, value: &str) -> &'static str {
    [Side::Primary, Side::Recovery]
        .into_iter()
        .find(|side| res.side(*side).is_some_and(|want| same_values(want, value)))
        .map_or("neither", Side::as_str)
}

/// Compares comma-separated value lists regardless of order and spacing.
fn same_values(a: &str, b: &str) -> bool {
    fn split(s: &str) -> Vec<&str> {
        let mut v: Vec<&str> = s.split(',').map(str::trim).filter(|x| !x.is_empty()).collect();
        v.sort_unstable();
        v
    }
    split(a) == split(b)
}

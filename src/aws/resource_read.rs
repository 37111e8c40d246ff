//! Reads the status of every resource of one type on one side in as few calls as the API
//! allows: one DescribeInstances, DescribeDBInstances, DescribeDBClusters or DescribeStacks for
//! all of them (more only when AWS pages the answer). DynamoDB has no batch describe, so tables
//! are one DescribeTable each; a DNS record is its zone lookup and record read. The console's
//! resource poller calls this; the details are what its panels show.

use super::resource_status::{ResourceStatus, points_to};
use super::{ActionError, AwsEnvs, CallLog, at, cfn, dns, ops};
use crate::runbook::{Resource, ResourceType, Side};
use aws_sdk_ec2::types::Filter;

/// Each named resource's status (or why that one could not be read).
pub type Reads = Vec<(String, Result<ResourceStatus, String>)>;

/// Reads the status of `res` on `side`, in that side's environment: the console's batched
/// read ([`read_many`]) for one resource, so a check and a panel agree.
pub async fn read_one(
    envs: &AwsEnvs,
    log: &dyn CallLog,
    name: &str,
    res: &Resource,
    side: Side,
) -> Result<ResourceStatus, ActionError> {
    if res.kind != ResourceType::Route53Record && res.side(side).is_none() {
        return Err(ActionError::Failed(format!("resource `{name}` has no {} identifier", side.as_str())));
    }
    let reads = read_many(envs, log, res.kind, side, &[(name.to_string(), res.clone())]).await?;
    match reads.into_iter().next() {
        Some((_, Ok(status))) => Ok(status),
        Some((_, Err(e))) => Err(ActionError::Failed(e)),
        None => Err(ActionError::Failed(format!("resource `{name}` was not read"))),
    }
}

/// Reads `items` (resource name and declaration, all of `kind`) on `side`. An error is returned
/// when the call for all of them failed.
pub async fn read_many(
    envs: &AwsEnvs,
    log: &dyn CallLog,
    kind: ResourceType,
    side: Side,
    items: &[(String, Resource)],
) -> Result<Reads, ActionError> {
    let env = side.as_str();
    let config = envs.config(env, log).await?;
    let region = envs.region(env)?.to_string();
    let ids: Vec<(String, String)> =
        items.iter().filter_map(|(n, r)| Some((n.clone(), r.side(side)?.to_string()))).collect();
    let all = ids.iter().map(|(_, id)| id.as_str()).collect::<Vec<_>>().join(",");
    match kind {
        ResourceType::Ec2Instance => ec2(&aws_sdk_ec2::Client::new(&config), log, &region, &ids).await,
        ResourceType::RdsInstance => rds(&aws_sdk_rds::Client::new(&config), log, &region, &all, &ids).await,
        ResourceType::AuroraCluster => aurora(&aws_sdk_rds::Client::new(&config), log, &region, &all, &ids).await,
        ResourceType::CloudformationStack => {
            stacks(&aws_sdk_cloudformation::Client::new(&config), log, &region, &all, &ids).await
        }
        ResourceType::DynamodbTable => {
            let client = aws_sdk_dynamodb::Client::new(&config);
            let mut out = Vec::new();
            for (name, id) in &ids {
                out.push((name.clone(), table(&client, log, &region, id).await.map_err(|e| e.to_string())));
            }
            Ok(out)
        }
        ResourceType::Route53Record => {
            let client = aws_sdk_route53::Client::new(&config);
            let mut out = Vec::new();
            for (name, res) in items {
                out.push((name.clone(), record(&client, log, res).await.map_err(|e| e.to_string())));
            }
            Ok(out)
        }
    }
}

fn detail(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// An SDK time as RFC 3339 (what the console parses to show an age).
fn rfc3339(t: &aws_sdk_rds::primitives::DateTime) -> String {
    t.fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime).unwrap_or_else(|_| t.to_string())
}

fn yes_no(b: Option<bool>) -> &'static str {
    if b.unwrap_or(false) { "on" } else { "off" }
}

/// One DescribeInstances for all of them: by Name tag, plus instance ids when some are ids.
async fn ec2(
    client: &aws_sdk_ec2::Client,
    log: &dyn CallLog,
    region: &str,
    ids: &[(String, String)],
) -> Result<Reads, ActionError> {
    let (by_id, by_name): (Vec<_>, Vec<_>) = ids.iter().partition(|(_, id)| id.starts_with("i-"));
    let mut found = Vec::new();
    for (filter, values) in [("instance-id", &by_id), ("tag:Name", &by_name)] {
        if values.is_empty() {
            continue;
        }
        let names: Vec<String> = values.iter().map(|(_, id)| id.clone()).collect();
        let names = &names;
        found.extend(
            all_pages(|token| async move {
                let req = client
                    .describe_instances()
                    .filters(Filter::builder().name(filter).set_values(Some(names.clone())).build())
                    .set_next_token(token);
                let out = ops::read(log, at(&names.join(","), region), req).await??;
                let instances = out.reservations().iter().flat_map(|r| r.instances()).cloned().collect();
                Ok((instances, out.next_token().map(str::to_string)))
            })
            .await?,
        );
    }
    let live: Vec<_> =
        found.iter().filter(|i| i.state().and_then(|s| s.name()).is_none_or(|n| n.as_str() != "terminated")).collect();
    Ok(ids
        .iter()
        .map(|(name, id)| {
            let mine: Vec<_> = live
                .iter()
                .filter(|i| {
                    i.instance_id() == Some(id.as_str())
                        || i.tags().iter().any(|t| t.key() == Some("Name") && t.value() == Some(id.as_str()))
                })
                .collect();
            let read = match mine.as_slice() {
                [] => Ok(ResourceStatus::absent()),
                [i] => {
                    let mut s = ResourceStatus::present(
                        i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()),
                        i.instance_id().map(str::to_string),
                    );
                    s.details.push(detail("id", i.instance_id().unwrap_or("?")));
                    if let Some(t) = i.instance_type() {
                        s.details.push(detail("type", t.as_str()));
                    }
                    s.details.push(detail("volumes", i.block_device_mappings().len()));
                    Ok(s)
                }
                many => Err(format!(
                    "ec2 DescribeInstances on {id} ({region}): {} live instances are named {id}; name one by its instance id",
                    many.len()
                )),
            };
            (name.clone(), read)
        })
        .collect())
}

/// RDS identifiers are stored in lower case: `MyDb` in a runbook is `mydb` in AWS.
fn same_id(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b))
}

/// The Describe filter naming every identifier.
fn id_filter(name: &str, ids: &[(String, String)]) -> aws_sdk_rds::types::Filter {
    aws_sdk_rds::types::Filter::builder()
        .name(name)
        .set_values(Some(ids.iter().map(|(_, id)| id.clone()).collect()))
        .build()
}

/// Each named resource matched (by RDS identifier) among what a describe found.
fn by_id<T>(
    ids: &[(String, String)],
    found: &[T],
    id_of: impl Fn(&T) -> Option<&str>,
    read: impl Fn(&T) -> ResourceStatus,
) -> Reads {
    ids.iter()
        .map(|(name, id)| {
            let status = found.iter().find(|d| same_id(id_of(d), id)).map_or_else(ResourceStatus::absent, &read);
            (name.clone(), Ok(status))
        })
        .collect()
}

/// Every item of a paged describe: `page` is asked with the marker (or next token) of the page
/// before (`None` first) until an answer has none.
async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, ActionError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), ActionError>>,
{
    let mut found = Vec::new();
    let mut marker = None;
    loop {
        let (items, next) = page(marker.take()).await?;
        found.extend(items);
        match next {
            Some(m) => marker = Some(m),
            None => return Ok(found),
        }
    }
}

/// One DescribeDBInstances for all of them (filtered by identifier; more only when paged).
async fn rds(
    client: &aws_sdk_rds::Client,
    log: &dyn CallLog,
    region: &str,
    all: &str,
    ids: &[(String, String)],
) -> Result<Reads, ActionError> {
    let found = all_pages(|marker| async move {
        let req = client.describe_db_instances().filters(id_filter("db-instance-id", ids)).set_marker(marker);
        let out = ops::read(log, at(all, region), req).await??;
        Ok((out.db_instances().to_vec(), out.marker().map(str::to_string)))
    })
    .await?;
    Ok(by_id(
        ids,
        &found,
        |d| d.db_instance_identifier(),
        |d| {
            let mut s = ResourceStatus::present(
                d.db_instance_status().map(str::to_string),
                d.db_instance_arn().map(str::to_string),
            );
            if let Some(c) = d.db_instance_class() {
                s.details.push(detail("class", c));
            }
            s.details.push(detail("multi-AZ", yes_no(d.multi_az())));
            s.details.push(detail("protection", yes_no(d.deletion_protection())));
            if let Some(t) = d.latest_restorable_time() {
                s.details.push(detail("recovery point", rfc3339(t)));
            }
            s
        },
    ))
}

/// One DescribeDBClusters for all of them (filtered by identifier; more only when paged).
async fn aurora(
    client: &aws_sdk_rds::Client,
    log: &dyn CallLog,
    region: &str,
    all: &str,
    ids: &[(String, String)],
) -> Result<Reads, ActionError> {
    let found = all_pages(|marker| async move {
        let req = client.describe_db_clusters().filters(id_filter("db-cluster-id", ids)).set_marker(marker);
        let out = ops::read(log, at(all, region), req).await??;
        Ok((out.db_clusters().to_vec(), out.marker().map(str::to_string)))
    })
    .await?;
    Ok(by_id(
        ids,
        &found,
        |c| c.db_cluster_identifier(),
        |c| {
            let mut s = ResourceStatus::present(c.status().map(str::to_string), c.db_cluster_arn().map(str::to_string));
            let members = c.db_cluster_members();
            let writer = members
                .iter()
                .find(|m| m.is_cluster_writer() == Some(true))
                .and_then(|m| m.db_instance_identifier())
                .unwrap_or("none");
            s.details.push(detail("members", format!("{} (writer {writer})", members.len())));
            s.details.push(detail("protection", yes_no(c.deletion_protection())));
            if let Some(t) = c.latest_restorable_time() {
                s.details.push(detail("recovery point", rfc3339(t)));
            }
            s
        },
    ))
}

/// Stacks: one DescribeStacks by name for a single stack; for several, one DescribeStacks of
/// every live stack (paged), matched by name or stack id.
async fn stacks(
    client: &aws_sdk_cloudformation::Client,
    log: &dyn CallLog,
    region: &str,
    all: &str,
    ids: &[(String, String)],
) -> Result<Reads, ActionError> {
    let mut found: Vec<aws_sdk_cloudformation::types::Stack> = Vec::new();
    if let [(_, id)] = ids {
        found.extend(cfn::describe_stack(client, log, id, region).await?);
    } else {
        found = all_pages(|token| async move {
            let out = ops::read(log, at(all, region), client.describe_stacks().set_next_token(token)).await??;
            Ok((out.stacks().to_vec(), out.next_token().map(str::to_string)))
        })
        .await?;
    }
    Ok(ids
        .iter()
        .map(|(name, id)| {
            let stack = found.iter().find(|s| s.stack_name() == Some(id.as_str()) || s.stack_id() == Some(id.as_str()));
            let read = match stack.map(|s| (cfn::status(s), s.stack_id())) {
                Some((status, stack_id)) if status != "DELETE_COMPLETE" => {
                    ResourceStatus::present(Some(status), stack_id.map(str::to_string))
                }
                _ => ResourceStatus::absent(),
            };
            (name.clone(), Ok(read))
        })
        .collect())
}

async fn table(
    client: &aws_sdk_dynamodb::Client,
    log: &dyn CallLog,
    region: &str,
    id: &str,
) -> Result<ResourceStatus, ActionError> {
    match ops::read(log, at(id, region), client.describe_table().table_name(id)).await? {
        Ok(out) => Ok(match out.table() {
            None => ResourceStatus::absent(),
            Some(t) => {
                let mut s = ResourceStatus::present(
                    t.table_status().map(|s| s.as_str().to_string()),
                    t.table_arn().map(str::to_string),
                );
                s.details.push(detail("items", t.item_count().unwrap_or(0)));
                let stream = t.stream_specification().map(|s| s.stream_enabled());
                s.details.push(detail("stream", yes_no(stream)));
                s
            }
        }),
        Err(e) if e.is_not_found() => Ok(ResourceStatus::absent()),
        Err(e) => Err(e.into()),
    }
}

async fn record(
    client: &aws_sdk_route53::Client,
    log: &dyn CallLog,
    res: &Resource,
) -> Result<ResourceStatus, ActionError> {
    let (Some(zone), Some(name), Some(rtype)) = (&res.zone, &res.record_name, &res.record_type) else {
        return Err(ActionError::Failed("route53_record needs zone, record_name and record_type".into()));
    };
    let zone_id = dns::zone_id(client, log, zone).await?;
    Ok(match dns::read_record(client, log, &zone_id, name, rtype).await? {
        Some(v) => {
            let value = v.joined();
            let mut s = ResourceStatus::present(Some(value.clone()), Some(zone_id));
            s.details.push(detail("points to", points_to(res, &value)));
            s
        }
        None => ResourceStatus::absent(),
    })
}

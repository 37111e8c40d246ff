//! Route 53 reads and changes shared by the DNS flip action and the status poller.

use super::{ActionError, CallLog, at, read};
use aws_sdk_route53::Client;
use aws_sdk_route53::types::RrType;

/// A record's current values and TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordValue {
    pub values: Vec<String>,
    pub ttl: Option<i64>,
}

impl RecordValue {
    /// The values as one string, comma-separated (how outputs and the console show them).
    pub fn joined(&self) -> String {
        self.values.join(",")
    }
}

/// `name` with exactly one trailing dot, lower case (how Route 53 compares names).
pub fn fqdn(name: &str) -> String {
    format!("{}.", name.trim().trim_end_matches('.').to_ascii_lowercase())
}

/// The hosted zone id for a zone name or id. Ids (`Z...` or `/hostedzone/Z...`) are used as given.
pub async fn zone_id(client: &Client, log: &dyn CallLog, zone: &str) -> Result<String, ActionError> {
    if let Some(id) = zone.strip_prefix("/hostedzone/") {
        return Ok(id.to_string());
    }
    if !zone.contains('.') {
        return Ok(zone.to_string());
    }
    let wanted = fqdn(zone);
    let out = read(log, at(zone, "global"), client.list_hosted_zones_by_name().dns_name(&wanted)).await??;
    let no_zone = |message: String| ActionError::Aws {
        service: "route53",
        operation: "ListHostedZonesByName",
        target: zone.into(),
        region: "global".into(),
        message,
        code: None,
    };
    let matches: Vec<&str> = out.hosted_zones().iter().filter(|z| fqdn(z.name()) == wanted).map(|z| z.id()).collect();
    match matches.as_slice() {
        [one] => Ok(one.trim_start_matches("/hostedzone/").to_string()),
        [] => Err(no_zone(format!("no hosted zone named {wanted}"))),
        _ => Err(no_zone(format!("{} hosted zones are named {wanted}; give the zone id instead", matches.len()))),
    }
}

/// The record's current values, or `None` if it does not exist.
pub async fn read_record(
    client: &Client,
    log: &dyn CallLog,
    zone_id: &str,
    name: &str,
    rtype: &str,
) -> Result<Option<RecordValue>, ActionError> {
    let name = fqdn(name);
    let req = client
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .start_record_name(&name)
        .start_record_type(RrType::from(rtype))
        .max_items(10);
    let out = read(log, at(&name, "global"), req).await??;
    let found = out
        .resource_record_sets()
        .iter()
        .find(|r| fqdn(r.name()) == name && r.r#type().as_str().eq_ignore_ascii_case(rtype));
    Ok(found.map(|r| RecordValue {
        values: r.resource_records().iter().map(|v| v.value().to_string()).collect(),
        ttl: r.ttl(),
    }))
}

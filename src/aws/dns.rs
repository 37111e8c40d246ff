//! Route 53 reads and changes shared by the DNS flip action and the status poller.

use super::{ActionError, Call, CallLog, call, error_text};
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
    let c = Call {
        service: "route53",
        operation: "ListHostedZonesByName",
        target: zone,
        region: "global",
        mutating: false,
    };
    let out = call(log, &c, client.list_hosted_zones_by_name().dns_name(&wanted).send())
        .await?
        .map_err(|e| c.error(error_text(&e)))?;
    let matches: Vec<&str> = out.hosted_zones().iter().filter(|z| fqdn(z.name()) == wanted).map(|z| z.id()).collect();
    match matches.as_slice() {
        [one] => Ok(one.trim_start_matches("/hostedzone/").to_string()),
        [] => Err(c.error(format!("no hosted zone named {wanted}"))),
        _ => Err(c.error(format!("{} hosted zones are named {wanted}; give the zone id instead", matches.len()))),
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
    let c = Call {
        service: "route53",
        operation: "ListResourceRecordSets",
        target: &name,
        region: "global",
        mutating: false,
    };
    let out = call(
        log,
        &c,
        client
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .start_record_name(&name)
            .start_record_type(RrType::from(rtype))
            .max_items(10)
            .send(),
    )
    .await?
    .map_err(|e| c.error(error_text(&e)))?;
    let found = out
        .resource_record_sets()
        .iter()
        .find(|r| fqdn(r.name()) == name && r.r#type().as_str().eq_ignore_ascii_case(rtype));
    Ok(found.map(|r| RecordValue {
        values: r.resource_records().iter().map(|v| v.value().to_string()).collect(),
        ttl: r.ttl(),
    }))
}

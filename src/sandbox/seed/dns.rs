//! The global part of the demo world: the Route 53 zone and the app's A record.

use super::{HOSTED_ZONE, PRIMARY_REGION, RECORD_NAME, RECOVERY_IP, Scope, SeedError, SeedReport};

/// DNS names compare case-insensitively and with or without the trailing root dot.
fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.').eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// Ensures the hosted zone and the app A record. The record starts out pointing at recovery
/// (the failover already happened); an existing record is left alone because an earlier
/// rehearsal may have flipped it back to primary.
pub(super) async fn ensure_dns(r53: &aws_sdk_route53::Client, report: &mut SeedReport) -> Result<(), SeedError> {
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
    let scope = Scope { service: "route53", region: PRIMARY_REGION };
    let zones = r53.list_hosted_zones_by_name().dns_name(HOSTED_ZONE).send().await;
    let zones = zones.map_err(scope.fail("ListHostedZonesByName", HOSTED_ZONE))?;
    let zone_id = if let Some(zone) = zones.hosted_zones().iter().find(|z| same_name(z.name(), HOSTED_ZONE)) {
        report.found(format!("global route53 hosted zone {HOSTED_ZONE} ({})", zone.id()));
        zone.id().to_owned()
    } else {
        let created = r53.create_hosted_zone().name(HOSTED_ZONE).caller_reference("pilotlight-sandbox");
        let created = created.send().await.map_err(scope.fail("CreateHostedZone", HOSTED_ZONE))?;
        let Some(zone) = created.hosted_zone() else {
            return Err(scope.error("CreateHostedZone", HOSTED_ZONE, "response carries no hosted zone"));
        };
        report.made(format!("global route53 hosted zone {HOSTED_ZONE} ({})", zone.id()));
        zone.id().to_owned()
    };

    // Listing starts at our name and type, so an existing record heads the page.
    let records = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .start_record_name(RECORD_NAME)
        .start_record_type(RrType::A)
        .send()
        .await
        .map_err(scope.fail("ListResourceRecordSets", RECORD_NAME))?;
    let mut sets = records.resource_record_sets().iter();
    if let Some(set) = sets.find(|r| same_name(r.name(), RECORD_NAME) && *r.r#type() == RrType::A) {
        let values: Vec<&str> = set.resource_records().iter().map(|v| v.value()).collect();
        report.found(format!("global route53 A record {RECORD_NAME} -> {}", values.join(", ")));
        return Ok(());
    }

    let invalid = || scope.fail("ChangeResourceRecordSets", RECORD_NAME);
    let value = ResourceRecord::builder().value(RECOVERY_IP).build().map_err(invalid())?;
    let set = ResourceRecordSet::builder().name(RECORD_NAME).r#type(RrType::A).ttl(60);
    let set = set.resource_records(value).build().map_err(invalid())?;
    let change = Change::builder().action(ChangeAction::Upsert).resource_record_set(set);
    let batch = ChangeBatch::builder()
        .comment("pilotlight sandbox: app served from recovery after the failover")
        .changes(change.build().map_err(invalid())?)
        .build()
        .map_err(invalid())?;
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(batch)
        .send()
        .await
        .map_err(scope.fail("ChangeResourceRecordSets", RECORD_NAME))?;
    report.made(format!("global route53 A record {RECORD_NAME} -> {RECOVERY_IP} (recovery)"));
    Ok(())
}

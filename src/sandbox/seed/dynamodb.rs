//! The DynamoDB side of the demo world: the `sessions` table, with the newer data in recovery.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
    StreamViewType, Tag, TimeToLiveSpecification,
};

use super::{
    DYNAMODB_INDEX, DYNAMODB_TABLE, DYNAMODB_TTL_ATTRIBUTE, PRIMARY_SESSIONS, RECOVERY_SESSIONS, Scope, SeedError,
    SeedReport, Side,
};

/// Item payloads; the recovery-only items are the newer data failback must bring home.
const DATA_BEFORE_FAILOVER: &str = "written before the failover";
const DATA_AFTER_FAILOVER: &str = "written in recovery after the failover";
/// Items session-1..this existed before the failover, so both sides hold them.
const SESSIONS_BEFORE_FAILOVER: usize = 3;
/// 2100-01-01T00:00:00Z in epoch seconds: far enough ahead that TTL never expires a demo item.
const EXPIRES_AT: &str = "4102444800";
/// Sessions belong to this many users (`user-0`..), so the `by_user` index has several per key.
const USERS: usize = 3;

/// Ensures the `sessions` table. Everything about it (index, TTL, PITR, tags, items) is set only
/// when the table is new: an existing table may hold the results of a rehearsal, which a re-seed
/// must not overwrite. `bulk` more items, alike on both sides, stand for the rest of a table a
/// drill's world gives a size.
pub(super) async fn ensure_table(
    ddb: &Client,
    side: Side,
    bulk: usize,
    report: &mut SeedReport,
) -> Result<(), SeedError> {
    let region = side.region();
    let scope = Scope { service: "dynamodb", region };
    match ddb.describe_table().table_name(DYNAMODB_TABLE).send().await {
        Ok(out) => {
            let items = out.table().and_then(|t| t.item_count()).unwrap_or(0);
            report.found(format!("{region} dynamodb table {DYNAMODB_TABLE} ({items} items)"));
            return Ok(());
        }
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(err) => return Err(scope.fail("DescribeTable", DYNAMODB_TABLE)(err)),
    }

    create_table(ddb, side, scope).await?;
    // moto makes a new table ACTIVE at once; on AWS these two calls would wait for that state.
    let ttl = TimeToLiveSpecification::builder().enabled(true).attribute_name(DYNAMODB_TTL_ATTRIBUTE).build();
    ddb.update_time_to_live()
        .table_name(DYNAMODB_TABLE)
        .time_to_live_specification(ttl.map_err(scope.fail("UpdateTimeToLive", DYNAMODB_TABLE))?)
        .send()
        .await
        .map_err(scope.fail("UpdateTimeToLive", DYNAMODB_TABLE))?;
    // Both sides: an export to S3 (how failback copies the recovery table) needs PITR.
    let pitr = PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build();
    ddb.update_continuous_backups()
        .table_name(DYNAMODB_TABLE)
        .point_in_time_recovery_specification(pitr.map_err(scope.fail("UpdateContinuousBackups", DYNAMODB_TABLE))?)
        .send()
        .await
        .map_err(scope.fail("UpdateContinuousBackups", DYNAMODB_TABLE))?;

    // Both sides hold the pre-failover sessions; only recovery has the ones written since, and
    // clearly more of them, so a failback that lost the newer data cannot pass for complete.
    let count = match side {
        Side::Primary => PRIMARY_SESSIONS,
        Side::Recovery => RECOVERY_SESSIONS,
    };
    for n in 1..=count {
        let pk = format!("session-{n}");
        let data = if n <= SESSIONS_BEFORE_FAILOVER { DATA_BEFORE_FAILOVER } else { DATA_AFTER_FAILOVER };
        ddb.put_item()
            .table_name(DYNAMODB_TABLE)
            .item("pk", AttributeValue::S(pk.clone()))
            .item("data", AttributeValue::S(data.to_owned()))
            .item("user", AttributeValue::S(format!("user-{}", n % USERS)))
            .item(DYNAMODB_TTL_ATTRIBUTE, AttributeValue::N(EXPIRES_AT.to_owned()))
            .send()
            .await
            .map_err(scope.fail("PutItem", &format!("{DYNAMODB_TABLE}/{pk}")))?;
    }
    put_bulk(ddb, bulk, scope).await?;
    let count = count + bulk;
    let details = format!("index {DYNAMODB_INDEX}, TTL on {DYNAMODB_TTL_ATTRIBUTE}, PITR on");
    report.made(format!("{region} dynamodb table {DYNAMODB_TABLE} ({count} items, {details})"));
    Ok(())
}

/// Writes `bulk` items `bulk-<n>` (the same on either side: written before the failover), 25 to
/// a BatchWriteItem, DynamoDB's limit.
async fn put_bulk(ddb: &Client, bulk: usize, scope: Scope) -> Result<(), SeedError> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let items: Vec<WriteRequest> = (0..bulk)
        .map(|n| {
            let item = [
                ("pk", AttributeValue::S(format!("bulk-{n}"))),
                ("data", AttributeValue::S(DATA_BEFORE_FAILOVER.to_owned())),
                ("user", AttributeValue::S(format!("user-{}", n % USERS))),
            ];
            let put = PutRequest::builder().set_item(Some(item.map(|(k, v)| (k.to_string(), v)).into_iter().collect()));
            put.build().map(|p| WriteRequest::builder().put_request(p).build())
        })
        .collect::<Result<_, _>>()
        .map_err(scope.fail("BatchWriteItem", DYNAMODB_TABLE))?;
    for chunk in items.chunks(25) {
        let out = ddb
            .batch_write_item()
            .request_items(DYNAMODB_TABLE, chunk.to_vec())
            .send()
            .await
            .map_err(scope.fail("BatchWriteItem", DYNAMODB_TABLE))?;
        if out.unprocessed_items().is_some_and(|u| !u.is_empty()) {
            return Err(scope.error("BatchWriteItem", DYNAMODB_TABLE, "items left unprocessed"));
        }
    }
    Ok(())
}

/// Creates the table: key `pk` only, the `by_user` index, a stream, and its tags. Like the
/// primary databases, only the primary table has deletion protection, so a failback has to turn
/// it off before the delete and put it back on the new table.
async fn create_table(ddb: &Client, side: Side, scope: Scope) -> Result<(), SeedError> {
    let invalid = || scope.fail("CreateTable", DYNAMODB_TABLE);
    let string_attribute = |name: &str| {
        let definition = AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S);
        definition.build().map_err(invalid())
    };
    let hash_key = |name: &str| {
        let element = KeySchemaElement::builder().attribute_name(name).key_type(KeyType::Hash);
        element.build().map_err(invalid())
    };
    // PAY_PER_REQUEST: the index takes no provisioned throughput either.
    let index = GlobalSecondaryIndex::builder()
        .index_name(DYNAMODB_INDEX)
        .key_schema(hash_key("user")?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(invalid())?;
    let stream = StreamSpecification::builder().stream_enabled(true).stream_view_type(StreamViewType::NewAndOldImages);
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build().map_err(invalid());
    ddb.create_table()
        .table_name(DYNAMODB_TABLE)
        .attribute_definitions(string_attribute("pk")?)
        .attribute_definitions(string_attribute("user")?)
        .key_schema(hash_key("pk")?)
        .global_secondary_indexes(index)
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(stream.build().map_err(invalid())?)
        .deletion_protection_enabled(side.deletion_protection())
        .tags(tag("app", "demo")?)
        .tags(tag("env", side.env())?)
        .tags(tag("owner", "payments-team")?)
        .send()
        .await
        .map_err(scope.fail("CreateTable", DYNAMODB_TABLE))?;
    Ok(())
}

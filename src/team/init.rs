//! `pilotlight team init`: the team store from the bundled CloudFormation template, in the
//! account and region the team chooses, then checked with independent reads (the table's key,
//! point-in-time recovery and deletion protection).

use super::{TeamConfig, TeamError};
use aws_sdk_cloudformation::types::Parameter;
use aws_sdk_dynamodb::error::DisplayErrorContext;

/// The bundled template: the table (and the bucket when named), both kept when the stack goes.
pub const TEMPLATE: &str = include_str!("team-store.yaml");

/// What `team init` made or found.
#[derive(Debug)]
pub struct Made {
    pub stack: String,
    /// `CREATE_COMPLETE`, or the status of a stack that was already there.
    pub status: String,
    pub already: bool,
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
    /// The stack's bucket, recorded in the table for texts too large for an item.
    pub bucket: Option<String>,
    /// The stack was there without a bucket and was updated to make the one asked for.
    pub bucket_added: bool,
}

pub fn stack_name(table: &str) -> String {
    format!("pilotlight-team-{table}")
}

fn fail(op: &str, table: &str, e: impl std::error::Error) -> TeamError {
    TeamError::Call { table: table.into(), op: op.into(), message: DisplayErrorContext(&e).to_string() }
}

/// Creates the stack unless it exists (or updates one made without a bucket when `bucket` names
/// one), waits for it (up to `wait`), and reads the table back.
pub async fn init(c: &TeamConfig, bucket: Option<&str>, wait: std::time::Duration) -> Result<Made, TeamError> {
    let config = super::sdk_config(c).await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let stack = stack_name(&c.table);
    let status = |s: &aws_sdk_cloudformation::types::Stack| s.stack_status().map(|x| x.as_str().to_string());
    let bucket_of = |s: &aws_sdk_cloudformation::types::Stack| {
        s.outputs()
            .iter()
            .find(|o| o.output_key() == Some("BucketName"))
            .and_then(|o| o.output_value())
            .map(String::from)
    };
    let existing = match cfn.describe_stacks().stack_name(&stack).send().await {
        Ok(out) => out.stacks().first().map(|s| (status(s), bucket_of(s))),
        Err(e)
            if e.as_service_error().and_then(|s| s.meta().message()).is_some_and(|m| m.contains("does not exist")) =>
        {
            None
        }
        Err(e) => return Err(fail("DescribeStacks", &c.table, e)),
    };
    let already = existing.is_some();
    let param = |k: &str, v: &str| Parameter::builder().parameter_key(k).parameter_value(v).build();
    let bucket_added = matches!((&existing, bucket), (Some((_, None)), Some(_)));
    if let (true, Some(bucket)) = (bucket_added, bucket) {
        // A store made without a bucket gains one: the same template, the table unchanged.
        cfn.update_stack()
            .stack_name(&stack)
            .template_body(TEMPLATE)
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
            .parameters(param("TableName", &c.table))
            .parameters(param("BucketName", bucket))
            .send()
            .await
            .map_err(|e| fail("UpdateStack", &c.table, e))?;
    }
    if !already {
        cfn.create_stack()
            .stack_name(&stack)
            .template_body(TEMPLATE)
            // The member policy is an IAM resource (unnamed): AWS refuses the stack without this.
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
            .parameters(param("TableName", &c.table))
            .parameters(param("BucketName", bucket.unwrap_or("")))
            .tags(aws_sdk_cloudformation::types::Tag::builder().key("pilotlight").value("team-store").build())
            .send()
            .await
            .map_err(|e| fail("CreateStack", &c.table, e))?;
    }
    let started = std::time::Instant::now();
    let (status, made_bucket) = loop {
        let out =
            cfn.describe_stacks().stack_name(&stack).send().await.map_err(|e| fail("DescribeStacks", &c.table, e))?;
        let s = out.stacks().first().and_then(status).unwrap_or_default();
        if !s.ends_with("_IN_PROGRESS") {
            break (s, out.stacks().first().and_then(bucket_of));
        }
        if started.elapsed() > wait {
            return Err(TeamError::Call {
                table: c.table.clone(),
                op: "CreateStack".into(),
                message: format!("stack {stack} still {s} after {} s", wait.as_secs()),
            });
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    };
    if !matches!(status.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE") {
        return Err(TeamError::Call {
            table: c.table.clone(),
            op: "CreateStack".into(),
            message: format!("stack {stack} is {status} (see its events)"),
        });
    }
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let table =
        ddb.describe_table().table_name(&c.table).send().await.map_err(|e| fail("DescribeTable", &c.table, e))?;
    let keys: Vec<String> = table
        .table()
        .map(|t| t.key_schema().iter().map(|k| format!("{}:{}", k.attribute_name(), k.key_type().as_str())).collect())
        .unwrap_or_default();
    if keys != ["pk:HASH", "sk:RANGE"] {
        return Err(TeamError::Call {
            table: c.table.clone(),
            op: "DescribeTable".into(),
            message: format!("the table's key is {keys:?}, not pk (hash) and sk (range): not a pilotlight team table"),
        });
    }
    let deletion_protection = table.table().and_then(|t| t.deletion_protection_enabled()).unwrap_or(false);
    let pitr = ddb
        .describe_continuous_backups()
        .table_name(&c.table)
        .send()
        .await
        .map_err(|e| fail("DescribeContinuousBackups", &c.table, e))?;
    let mut point_in_time_recovery = pitr
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        .is_some_and(|s| s.as_str() == "ENABLED");
    if !point_in_time_recovery {
        // The template asks for it; a stack made before it did, or an emulator that ignores the
        // property, leaves it off: the team's record must be recoverable to any second.
        let spec = aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .build()
            .map_err(|e| fail("UpdateContinuousBackups", &c.table, e))?;
        let out = ddb
            .update_continuous_backups()
            .table_name(&c.table)
            .point_in_time_recovery_specification(spec)
            .send()
            .await
            .map_err(|e| fail("UpdateContinuousBackups", &c.table, e))?;
        point_in_time_recovery = out
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .is_some_and(|s| s.as_str() == "ENABLED");
    }
    // Where team runs put texts too large for an item (`super::blobs`): the stack's bucket.
    if let Some(bucket) = &made_bucket {
        ddb.put_item()
            .table_name(&c.table)
            .item("pk", aws_sdk_dynamodb::types::AttributeValue::S(super::blobs::CONFIG_PK.into()))
            .item("sk", aws_sdk_dynamodb::types::AttributeValue::S(super::blobs::CONFIG_SK.into()))
            .item("bucket", aws_sdk_dynamodb::types::AttributeValue::S(bucket.clone()))
            .send()
            .await
            .map_err(|e| fail("PutItem", &c.table, e))?;
    }
    Ok(Made { stack, status, already, point_in_time_recovery, deletion_protection, bucket: made_bucket, bucket_added })
}

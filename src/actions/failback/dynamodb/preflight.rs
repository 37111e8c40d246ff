//! Preflight of `dynamodb.failback` ([`crate::actions::failback::preflight`]): both tables
//! exist, the primary table is one an import can rebuild (no local secondary indexes, not a
//! global table), its configuration can be given to an import, and the recovery table has the
//! point-in-time recovery an export needs. The same rules `read` applies, before the gate. In
//! place (`method: in-place`): not a global table, and both tables have the same keys.

use super::config::TableConfig;
use super::reads;
use crate::actions::failback::preflight::{Found, Target};
use crate::aws::{ActionError, AwsEnvs, CallLog};
use aws_sdk_dynamodb::Client;

pub async fn check(envs: &AwsEnvs, log: &dyn CallLog, t: &Target<'_>) -> Result<Found, ActionError> {
    let p = Client::new(&envs.config("primary", log).await?);
    let r = Client::new(&envs.config("recovery", log).await?);
    let mut found = Found::default();
    // Both sides at once, then primary's settings beside recovery's point-in-time recovery.
    let (rec, pri) = tokio::join!(
        reads::table(log, &r, t.recovery_region, t.recovery_id),
        reads::table(log, &p, t.primary_region, t.primary_id)
    );
    let (Some(rec), Some(pri)) = (rec?, pri?) else {
        found.fail(
            "exists",
            format!(
                "the table must exist on both sides: primary {} ({}), recovery {} ({})",
                t.primary_id, t.primary_region, t.recovery_id, t.recovery_region
            ),
        );
        return Ok(found);
    };
    found.pass("exists", "both sides' tables exist");
    let (settings, pitr) = tokio::join!(
        reads::settings(log, &p, t.primary_region, &pri),
        reads::pitr(log, &r, t.recovery_region, t.recovery_id)
    );
    let config = TableConfig::of(&pri, settings?);
    let (pitr, newest) = pitr?;
    if t.in_place {
        let recovery = TableConfig::of(&rec, Default::default());
        found.check(
            "in-place",
            config.in_place_refusal(&recovery),
            "not a global table, and both tables have the same keys (names, roles, types)",
        );
    } else {
        found.check("importable", config.unsupported(), "an import can rebuild it (no local indexes, no replicas)");
        let parameters = config.creation_parameters().err().map(|e| e.to_string());
        found.check(
            "import-parameters",
            parameters,
            "its keys, indexes, billing and encryption can be given to an import",
        );
        let off = (!pitr).then(|| {
            format!(
                "the recovery table {} ({}) has point-in-time recovery off, and an export to S3 needs it: `aws dynamodb update-continuous-backups --region {} --table-name {} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true`",
                t.recovery_id, t.recovery_region, t.recovery_region, t.recovery_id
            )
        });
        found.check("recovery-pitr", off, "the recovery table has point-in-time recovery (an export needs it)");
    }
    t.recovery_point_age(&mut found, newest, "table");
    Ok(found)
}

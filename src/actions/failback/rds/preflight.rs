//! Preflight of `rds.failback` and `aurora.failback` ([`crate::actions::failback::preflight`]):
//! both sides exist, the copy can be made (an encrypted snapshot into another region needs a
//! key there), what the restore will take from recovery (a newer engine version, grown storage),
//! Aurora's global databases and member names, snapshot copies already in flight against
//! RDS's per-region quota, and in a runbook that stages what is staged (for a cluster: that
//! nothing can be, its copy is always full).

use super::aurora::cluster;
use super::copy_rules::{Copy, Outcome};
use super::instance::instance;
use super::snapshots::{Kind, describe};
use super::{kept_id, made_id, storage, version};
use crate::actions::failback::TAG_RUN;
use crate::actions::failback::preflight::{Found, Target};
use crate::aws::{ActionError, AwsEnvs, CallLog, at, read};
use aws_sdk_rds::Client;

/// RDS copies at most this many DB snapshots into one region at once (per account), and this
/// many DB cluster snapshots (RDS user guide, "Copying a DB snapshot"; Aurora user guide).
const COPIES_IN_FLIGHT: usize = 20;
const CLUSTER_COPIES_IN_FLIGHT: usize = 5;

async fn clients(envs: &AwsEnvs, log: &dyn CallLog) -> Result<(Client, Client), ActionError> {
    Ok((Client::new(&envs.config("primary", log).await?), Client::new(&envs.config("recovery", log).await?)))
}

/// The failback's own recovery point comes after this: how many snapshots are still being made
/// or copied in primary's region (`creating`, `copying`, `pending`).
fn in_flight<'s>(statuses: impl Iterator<Item = Option<&'s str>>) -> usize {
    statuses.filter(|s| matches!(s, Some("creating" | "copying" | "pending"))).count()
}

fn quota(found: &mut Found, rule: &str, busy: usize, limit: usize, what: &str, region: &str) {
    if busy >= limit {
        found.fail(
            rule,
            format!("{busy} {what} are being made or copied in {region}, RDS's limit is {limit}: the failback's copy would be refused; wait for them"),
        );
    } else {
        found.pass(rule, format!("{busy} of at most {limit} {what} in flight in {region}"));
    }
}

fn newer_version(found: &mut Found, primary: Option<&str>, recovery: Option<&str>) {
    match version::for_restore(primary, recovery) {
        Some(v) if Some(v.as_str()) != primary => found.warn(
            "engine-version",
            format!(
                "recovery runs {v}, primary {}: the restore takes {v} (RDS restores no lower); check the application with it",
                primary.unwrap_or("-")
            ),
        ),
        _ => found.pass("engine-version", format!("restored at primary's {}", primary.unwrap_or("-"))),
    }
}

/// An RDS instance.
pub async fn instance_check(envs: &AwsEnvs, log: &dyn CallLog, t: &Target<'_>) -> Result<Found, ActionError> {
    let (p, r) = clients(envs, log).await?;
    let mut found = Found::default();
    // Both sides at once: two round trips that wait for nothing of each other.
    let (rec, pri) = tokio::join!(
        instance(log, &r, t.recovery_id, t.recovery_region),
        instance(log, &p, t.primary_id, t.primary_region)
    );
    let (Some(rec), Some(pri)) = (rec?, pri?) else {
        found.fail("exists", missing("DB instance", t));
        return Ok(found);
    };
    found.pass("exists", "both sides' instances exist");
    t.recovery_point_age(&mut found, rec.latest_restorable_time().map(|d| d.secs()), "DB instance");
    if t.replica {
        replica_check(&mut found, log, &p, t, &rec).await?;
    } else if t.stages {
        let staged = super::staged::newest(log, &p, (t.name, t.recovery_id, t.primary_region)).await?;
        let said = super::staged::say(t.name, t.primary_region, staged.as_ref(), rec.allocated_storage());
        match staged {
            Some(_) => found.pass("staged", said),
            None => found.warn(
                "staged",
                format!("{said}, in the window (a staging rehearsal before it keeps a copy it is incremental against)"),
            ),
        }
    }
    let copy = Copy::instance(&rec, &pri, (t.recovery_region, t.primary_region), t.kms, t.share_with);
    record(&mut found, copy.check(envs, log).await?);
    newer_version(&mut found, pri.engine_version(), rec.engine_version());
    let s = storage::for_restore(
        pri.engine().unwrap_or_default(),
        pri.storage_type(),
        pri.allocated_storage(),
        pri.iops(),
        pri.storage_throughput(),
        rec.allocated_storage(),
    );
    if s.allocated > pri.allocated_storage() {
        found.warn(
            "storage",
            format!(
                "recovery grew to {} GiB (primary {} GiB): the restore takes {} GiB, and storage never shrinks",
                rec.allocated_storage().unwrap_or_default(),
                pri.allocated_storage().unwrap_or_default(),
                s.allocated.unwrap_or_default()
            ),
        );
    } else {
        found.pass("storage", format!("restored with primary's {} GiB", pri.allocated_storage().unwrap_or_default()));
    }
    let req = p.describe_db_snapshots().snapshot_type("manual");
    let (snaps, taken) =
        tokio::join!(read(log, at(t.primary_id, t.primary_region), req), names_taken(log, (&p, &r), t, Kind::Instance));
    let busy = in_flight(snaps??.db_snapshots().iter().map(|s| s.status()));
    quota(&mut found, "snapshot-copies", busy, COPIES_IN_FLIGHT, "DB snapshots", t.primary_region);
    names_free(&mut found, taken?);
    Ok(found)
}

/// A failback through a read replica ([`super::replica`]): whether one can be taken (`replica`:
/// the engine, one account, recovery's backups) and what is staged (`staged`).
async fn replica_check(
    found: &mut Found,
    log: &dyn CallLog,
    p: &Client,
    t: &Target<'_>,
    rec: &aws_sdk_rds::types::DbInstance,
) -> Result<(), ActionError> {
    let refused =
        super::replica::refusal(rec.engine().unwrap_or_default(), t.share_with, rec.backup_retention_period());
    match refused {
        Some(why) => found.fail("replica", why),
        None => found.pass("replica", "a read replica of recovery's instance can be made in primary's region"),
    }
    if rec.storage_encrypted() == Some(true) && t.kms.is_none() {
        found.fail(
            "replica-key",
            "recovery's instance is encrypted: a read replica of it in another region needs a KMS key of that region \
             (the step's `kms_key_id`)",
        );
    }
    let id = super::replica::replica_id(t.primary_id);
    let staged = instance(log, p, &id, t.primary_region).await?;
    let source = rec.db_instance_arn().unwrap_or_default();
    let said = match staged
        .as_ref()
        .map(|d| (d.db_instance_status().unwrap_or("unknown"), d.read_replica_source_db_instance_identifier()))
    {
        Some(("available", Some(s))) if s == source => {
            found.pass("staged", format!("{}: staged read replica {id} (available) of {source}: the failback promotes it, no copy in the window", t.name));
            return Ok(());
        }
        Some((status, Some(s))) if s == source => {
            format!(
                "{}: staged read replica {id} is {status} (its initial copy is not done): the failback waits for it in the window",
                t.name
            )
        }
        Some(_) => format!(
            "{}: {id} exists but is no replica of {source}: the failback will not adopt it (it stops if {id} carries \
             this resource's stage tag, else takes the snapshot path)",
            t.name
        ),
        None => format!(
            "{}: nothing staged (no read replica {id}): the failback takes the snapshot path, a full copy in the window",
            t.name
        ),
    };
    found.warn("staged", said);
    Ok(())
}

/// The names the failback will make (the kept original, the recovery snapshot and its copy)
/// held by something this run did not make, each with why (read at once). `None` outside a run.
async fn names_taken(
    log: &dyn CallLog,
    (p, r): (&Client, &Client),
    t: &Target<'_>,
    kind: Kind,
) -> Result<Option<(String, Vec<String>)>, ActionError> {
    let Some(run) = t.run_id else { return Ok(None) };
    let kept = kept_id(run, t.primary_id);
    let (recovery_snap, copy) = (made_id(run, t.name, "recovery"), made_id(run, t.name, "primary-copy"));
    let (holder, recovery_snap_now, copy_now) = tokio::join!(
        super::keep::describe(kind, log, p, &kept, t.primary_region),
        describe(kind, log, r, &recovery_snap, t.recovery_region),
        describe(kind, log, p, &copy, t.primary_region),
    );
    let not_this_run = |tags: &indexmap::IndexMap<String, String>| tags.get(TAG_RUN).map(String::as_str) != Some(run);
    let mut taken = Vec::new();
    if let Some(held) = holder?.filter(|h| not_this_run(&h.tags)) {
        let by = held.tags.get(TAG_RUN).map_or("not made by pilotlight".into(), |b| format!("made by run {b}"));
        taken.push(format!("{kept} ({}; {by})", t.primary_region));
    }
    for (id, now, region) in [(recovery_snap, recovery_snap_now, t.recovery_region), (copy, copy_now, t.primary_region)]
    {
        if now?.is_some_and(|s| not_this_run(&s.tags)) {
            taken.push(format!("{id} ({region})"));
        }
    }
    Ok(Some((kept, taken)))
}

/// The `taken-names` check from [`names_taken`]: a name held by anything else stops the
/// failback at that point, after it began.
fn names_free(found: &mut Found, taken: Option<(String, Vec<String>)>) {
    let Some((kept, taken)) = taken else { return };
    if taken.is_empty() {
        found.pass("taken-names", format!("the names this run will make are free ({kept}, its snapshots)"));
    } else {
        found.fail(
            "taken-names",
            format!(
                "names this run will make are taken by something it did not make: {}; the failback would stop there \
                 with the recovery snapshot taken: rename or delete them, or start a new run (new names)",
                taken.join(", ")
            ),
        );
    }
}

/// An Aurora cluster.
pub async fn cluster_check(envs: &AwsEnvs, log: &dyn CallLog, t: &Target<'_>) -> Result<Found, ActionError> {
    let (p, r) = clients(envs, log).await?;
    let mut found = Found::default();
    let (rec, pri) = tokio::join!(
        cluster(log, &r, t.recovery_id, t.recovery_region),
        cluster(log, &p, t.primary_id, t.primary_region)
    );
    let (Some(rec), Some(pri)) = (rec?, pri?) else {
        found.fail("exists", missing("cluster", t));
        return Ok(found);
    };
    found.pass("exists", "both sides' clusters exist");
    t.recovery_point_age(&mut found, rec.latest_restorable_time().map(|d| d.secs()), "cluster");
    let copy = Copy::cluster(&rec, (t.recovery_region, t.primary_region), t.kms, t.share_with);
    record(&mut found, copy.check(envs, log).await?);
    newer_version(&mut found, pri.engine_version(), rec.engine_version());
    // An identifier (AWS) or an ARN (moto): the identifier is its last part either way.
    let global = pri.global_cluster_identifier().filter(|g| !g.is_empty()).map(|g| g.rsplit(':').next().unwrap_or(g));
    let global = global.map(|g| {
        format!(
            "primary cluster {} is a member of global database {g}: a restore under its identifier is not; fail back through the global database (switchover) instead",
            t.primary_id
        )
    });
    found.check("global-cluster", global, "not in a global database");
    let strays: Vec<&str> = pri
        .db_cluster_members()
        .iter()
        .filter_map(|m| m.db_instance_identifier())
        .filter(|m| !m.starts_with(t.primary_id))
        .collect();
    if strays.is_empty() {
        found.pass("member-names", "every member's identifier starts with the cluster's");
    } else {
        found.warn(
            "member-names",
            format!(
                "members {} do not start with {}: the generated permissions template (`pilotlight permissions`) does not let the role delete and recreate them",
                strays.join(", "),
                t.primary_id
            ),
        );
    }
    if t.switchover {
        switchover_check(&mut found, log, (&p, &r), t, (&rec, &pri)).await?;
    } else if t.stages {
        // Aurora user guide, "Copying a DB cluster snapshot": "Aurora doesn't support
        // incremental snapshot copying"; what a stage run copies ahead does not shorten it.
        found.warn(
            "staged",
            format!(
                "nothing can be staged for cluster {}: Aurora's cluster snapshot copies are always full, so its whole \
                 copy happens in the window (its size: the cluster's VolumeBytesUsed in CloudWatch)",
                t.recovery_id
            ),
        );
    }
    let req = p.describe_db_cluster_snapshots().snapshot_type("manual");
    let (snaps, taken) =
        tokio::join!(read(log, at(t.primary_id, t.primary_region), req), names_taken(log, (&p, &r), t, Kind::Cluster));
    let busy = in_flight(snaps??.db_cluster_snapshots().iter().map(|s| s.status()));
    quota(&mut found, "snapshot-copies", busy, CLUSTER_COPIES_IN_FLIGHT, "DB cluster snapshots", t.primary_region);
    names_free(&mut found, taken?);
    Ok(found)
}

/// A failback by switchover ([`super::aurora::global`]): recovery's cluster in no global database
/// but the staging one (`recovery-global`), and what is staged (`staged`: the global database
/// and its secondary, or a warning that the whole initial copy would be in the window).
async fn switchover_check(
    found: &mut Found,
    log: &dyn CallLog,
    (p, r): (&Client, &Client),
    t: &Target<'_>,
    (rec, pri): (&aws_sdk_rds::types::DbCluster, &aws_sdk_rds::types::DbCluster),
) -> Result<(), ActionError> {
    let s = super::aurora::global::Staging::of(t.primary_id);
    let other = rec.global_cluster_identifier().filter(|g| !g.is_empty() && *g != s.global).map(|g| {
        format!(
            "recovery cluster {} is in global database {g}, not the staging one ({}): a cluster is in one global \
             database at most; remove it from {g} first",
            t.recovery_id, s.global
        )
    });
    found.check("recovery-global", other, "recovery's cluster is in no other global database");
    let why = super::aurora::global::refusal(t.share_with, pri.backtrack_window());
    found.check("global-database", why, "one account, no backtracking: a global database can hold both clusters");
    let global = super::aurora::global::global(log, r, &s.global, t.recovery_region).await?;
    let secondary = cluster(log, p, &s.cluster, t.primary_region).await?;
    match (global, secondary) {
        (Some(_), Some(c)) if c.status() == Some("available") => found.pass(
            "staged",
            format!(
                "{}: staged secondary {} (available) in global database {}: the switchover copies nothing in the window",
                t.name, s.cluster, s.global
            ),
        ),
        (Some(_), Some(c)) => found.warn(
            "staged",
            format!(
                "{}: staged secondary {} is {} (its initial copy is not done): the failback waits for it in the window",
                t.name,
                s.cluster,
                c.status().unwrap_or("unknown")
            ),
        ),
        _ => found.warn(
            "staged",
            format!(
                "{}: nothing staged (no global database {} with a secondary {}): the failback makes them in the \
                 window, with the initial copy of the whole cluster; run the stage first (`aurora.stage-secondary`)",
                t.name, s.global, s.cluster
            ),
        ),
    }
    Ok(())
}

/// The copy's rules ([`super::copy_rules`]) as checks.
fn record(found: &mut Found, outcomes: Vec<Outcome>) {
    for o in outcomes {
        match o.result {
            Ok(why) => found.pass(o.rule, why),
            Err(why) => found.fail(o.rule, why),
        }
    }
}

fn missing(what: &str, t: &Target<'_>) -> String {
    format!(
        "the {what} must exist on both sides: primary {} ({}), recovery {} ({})",
        t.primary_id, t.primary_region, t.recovery_id, t.recovery_region
    )
}

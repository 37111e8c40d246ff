//! `rds.failback` with `method: replica`: an RDS instance's data comes home through a
//! cross-Region read replica of the recovery instance instead of a snapshot copy and restore
//! (`docs/design/replica-failback.md`, sections 1a–1d).
//!
//! **Staged** (`rds.stage-replica`, [`super::stage_replica`], hours before the window): a read
//! replica `<primary>-pl-replica` of the recovery instance (by ARN) in primary's region, with
//! primary's class, zone, subnet group, security groups and option group, deletion protection on.
//! RDS copies a snapshot of the source across, then replicates every write. The stage waits
//! until CloudWatch shows it caught up once ([`super::replica_lag`]: the replica's lag, or for
//! PostgreSQL its source's slot lag, at 0), so the cut-over finds it healthy.
//! The name carries no run: a cut-over run adopts it only when it is tagged
//! `pilotlight:stage=read-replica` for the resource and replicates recovery's instance.
//!
//! **Cut-over**, after the fence: `caught-up` (CloudWatch, [`super::replica_lag`]: a period
//! starting after this sub-step began with nothing outstanding; its start is the recovery point),
//! then at once `promote` / `wait-promoted` (PromoteReadReplica: replication stops, the replica
//! reboots as a standalone instance) and the keep of the original (`keep-primary`,
//! `wait-primary-kept`, as for a snapshot), then `rename-replica` / `wait-renamed` (the promoted
//! replica takes the original identifier, so endpoints keep working), then `reapply-config` and
//! the comparison, as after a restore; then, if the parameter group RDS gave the replica was
//! replaced, a reboot that makes primary's take effect (`reboot`, `wait-rebooted`). If the promotion
//! or the rename fails, the original is put back under its identifier ([`super::put_back`]) and the
//! promoted replica stays, kept, under its own name or the rollback's set-aside one.
//!
//! Nothing staged (or not this resource's): the cut-over says so and fails back by snapshot, a
//! full copy in the window (the choice is journaled in `path`, so a resume takes the same way).
//!
//! What it gives: no snapshot, copy or restore in the window (a promotion and two renames). What
//! it costs: a second instance in primary's region, billed from the stage on, and cross-Region
//! replication of every write; MySQL, MariaDB and PostgreSQL only, both sides in one account,
//! recovery's automated backups on.

use super::instance::{Layout, One, instance};
use super::instance_config::custom;
use super::keep::instance_status;
use super::put_back::ROLLBACK;
use super::replica_lag::{self, Signal, Verdict};
use super::{TAG_STAGE, tag_map, tags, wait_status, with_suffix};
use crate::actions::Poll;
use crate::actions::failback::TAG_RESOURCE;
use crate::aws::{ActionError, at, mutate};
use aws_sdk_rds::types::DbInstance;
use serde_json::{Value, json};
use std::time::SystemTime;

/// The stage tag of a staged replica.
pub const STAGED: &str = "read-replica";

/// Where the staged replica of primary instance `primary_id` is: `<id>-pl-replica`.
pub fn replica_id(primary_id: &str) -> String {
    with_suffix(primary_id, "-pl-replica")
}

/// Why a failback through a replica cannot be taken, if it cannot (`None`: it can).
pub fn refusal(engine: &str, share_with: Option<&str>, recovery_backups: Option<i32>) -> Option<String> {
    if Signal::of(engine).is_none() {
        return Some(format!(
            "a failback through a read replica is offered for MySQL, MariaDB and PostgreSQL; this instance is {engine}"
        ));
    }
    if let Some(account) = share_with {
        return Some(format!(
            "primary is in another account ({account}) than recovery: RDS makes no read replica across accounts"
        ));
    }
    if recovery_backups == Some(0) {
        return Some(
            "recovery's instance has no automated backups (backup retention 0): RDS makes a read replica only of a \
             source with them; set a retention period on it first"
                .to_string(),
        );
    }
    None
}

/// Whether tags mark a staged replica of resource `name` (by any run).
fn is_staged(tags: &indexmap::IndexMap<String, String>, name: &str) -> bool {
    tags.get(TAG_RESOURCE).map(String::as_str) == Some(name) && tags.get(TAG_STAGE).map(String::as_str) == Some(STAGED)
}

/// The replica's source, as RDS reports it (an ARN across regions).
fn source_of(db: &DbInstance) -> Option<&str> {
    db.read_replica_source_db_instance_identifier()
}

impl One<'_, '_> {
    /// Whether this failback goes through the staged replica (`path`, journaled): `false` when
    /// nothing of this resource's is staged (said, and the snapshot path taken).
    pub(super) async fn replica_path(&self, l: &Layout) -> Result<bool, ActionError> {
        let cx = self.cx;
        let id = replica_id(&l.primary_id);
        let chosen: String = cx
            .sub(&self.sub_name("path"), json!({ "replica": id }), |_| async {
                if let Some(why) = refusal(&l.config.engine, l.share_with.as_deref(), l.recovery_backups) {
                    return Err(ActionError::Failed(format!("{}: method replica: {why}", self.name)));
                }
                let found = instance(cx.log, self.primary, &id, &l.primary_region).await?;
                let staged = found.as_ref().is_some_and(|db| is_staged(&tag_map(db.tag_list()), self.name));
                if staged {
                    return Ok("replica".to_string());
                }
                let why = match found {
                    Some(_) => format!("{id} exists but is not a staged replica of {}", self.name),
                    None => format!("no staged replica {id} in {}", l.primary_region),
                };
                cx.log.note(format!(
                    "{}: {why}: failing back by snapshot instead (a full copy in the window); stage one with \
                     rds.stage-replica for the next time",
                    self.name
                ))?;
                Ok("snapshot".to_string())
            })
            .await?;
        Ok(chosen == "replica")
    }

    /// The staged replica, found or made (sub-steps `replica`, `wait-replica`): its ARN.
    pub(super) async fn stage_replica(&self, l: &Layout) -> Result<String, ActionError> {
        let cx = self.cx;
        let (id, region) = (replica_id(&l.primary_id), l.primary_region.as_str());
        if let Some(why) = refusal(&l.config.engine, l.share_with.as_deref(), l.recovery_backups) {
            return Err(ActionError::Failed(format!("{}: {why}", self.name)));
        }
        let arn: String = cx
            .sub(&self.sub_name("replica"), json!({ "replica": id, "source": l.recovery_arn }), |_| async {
                if cx.dry_run {
                    cx.log.note(format!("dry run: would make read replica {id} of {} in {region}", l.recovery_arn))?;
                    return Ok(String::new());
                }
                if let Some(db) = instance(cx.log, self.primary, &id, region).await? {
                    return self.adopt(&db, l);
                }
                let c = &l.config;
                let req = self
                    .primary
                    .create_db_instance_read_replica()
                    .db_instance_identifier(&id)
                    .source_db_instance_identifier(&l.recovery_arn)
                    .db_instance_class(&c.class)
                    .set_availability_zone(c.availability_zone.clone().filter(|_| !c.multi_az))
                    .multi_az(c.multi_az)
                    .set_db_subnet_group_name(c.subnet_group.clone())
                    .set_vpc_security_group_ids((!c.security_groups.is_empty()).then(|| c.security_groups.clone()))
                    .set_option_group_name(custom(&c.option_group))
                    // A cross-Region replica gets the engine's default parameter group unless given
                    // one, which RDS takes for MySQL only; `reapply-config` sets primary's after
                    // the promotion for the others.
                    .set_db_parameter_group_name(custom(&c.parameter_group).filter(|_| c.engine == "mysql"))
                    // Storage as the source's (a type of provisioned IOPS would need its IOPS
                    // too); `reapply-config` sets primary's if it differs.
                    .set_port(c.port)
                    .set_publicly_accessible(c.publicly_accessible)
                    .copy_tags_to_snapshot(c.copy_tags_to_snapshot)
                    .set_kms_key_id(self.kms.map(str::to_string).filter(|_| l.recovery_encrypted))
                    .deletion_protection(true)
                    .set_tags(Some(tags(cx, self.name, STAGED)));
                match mutate(cx.log, at(&id, region), req).await? {
                    Ok(out) => Ok(out.db_instance().and_then(|d| d.db_instance_arn()).unwrap_or_default().to_string()),
                    // An earlier attempt's answer was lost: it is ours if it says so.
                    Err(f) if f.code() == Some("DBInstanceAlreadyExists") => {
                        let db = instance(cx.log, self.primary, &id, region).await?;
                        self.adopt(&db.ok_or_else(|| super::not_ours("DB instance", &id, region))?, l)
                    }
                    Err(f) => Err(f.into()),
                }
            })
            .await?;
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-replica"), json!({ "replica": id }), &["available"], || async {
            let now = instance(&quiet, self.primary, &id, region).await?;
            Ok(vec![(format!("read replica {id}"), now.map(|d| instance_status(&d)))])
        })
        .await?;
        Ok(arn)
    }

    /// A replica under the staging name is adopted only when it is this resource's staged one and
    /// replicates recovery's instance.
    fn adopt(&self, db: &DbInstance, l: &Layout) -> Result<String, ActionError> {
        let id = db.db_instance_identifier().unwrap_or_default();
        if !is_staged(&tag_map(db.tag_list()), self.name) {
            return Err(ActionError::Failed(format!(
                "DB instance {id} exists in {} but is not a staged replica of {} (pilotlight:stage={STAGED}): nothing \
                 was changed; rename or remove it",
                l.primary_region, self.name
            )));
        }
        match source_of(db) {
            Some(s) if !l.recovery_arn.is_empty() && s == l.recovery_arn => {
                Ok(db.db_instance_arn().unwrap_or_default().to_string())
            }
            other => Err(ActionError::Failed(format!(
                "the staged replica {id} replicates {} instead of recovery's {}: stage it again",
                other.unwrap_or("nothing (it was promoted)"),
                l.recovery_arn
            ))),
        }
    }

    /// Waits (sub-step `part`) until CloudWatch proves the replica holds every write recovery took
    /// before the sub-step began ([`replica_lag`]); the recovery point (RFC 3339).
    pub(super) async fn caught_up(&self, part: &str, l: &Layout) -> Result<String, ActionError> {
        let cx = self.cx;
        let signal = Signal::of(&l.config.engine)
            .ok_or_else(|| ActionError::Failed(format!("{}: no replica signal for {}", self.name, l.config.engine)))?;
        let replica = replica_id(&l.primary_id);
        // PostgreSQL's proof is the source's slot lag, in recovery's region.
        let (env, id, region) = match signal {
            Signal::ReplicaLag => ("primary", replica.as_str(), l.primary_region.as_str()),
            Signal::SourceSlotLag => ("recovery", l.recovery_id.as_str(), l.recovery_region.as_str()),
        };
        let detail = json!({ "replica": replica, "metric": signal.metric(), "of": id });
        let name = self.sub_name(part);
        cx.sub(&name, detail, |_| async {
            if cx.dry_run {
                return Ok(String::new());
            }
            let client = aws_sdk_cloudwatch::Client::new(&cx.envs.config(env, cx.log).await?);
            // Any attempt's own start: a later one proves as much (the fence came before both).
            let since = SystemTime::now();
            let after = replica_lag::epoch(since);
            let quiet = cx.quiet();
            let point = cx
                .wait_for(&name, cx.timeout, || {
                    let (client, quiet, replica) = (&client, &quiet, &replica);
                    async move {
                        // The source's slot lag speaks of its laggiest replica: this one must be it,
                        // still replicating recovery's instance.
                        if signal == Signal::SourceSlotLag {
                            let now = instance(quiet, self.primary, replica, &l.primary_region).await?;
                            if now.as_ref().and_then(source_of) != Some(l.recovery_arn.as_str()) {
                                return Err(ActionError::Failed(format!(
                                    "{replica} no longer replicates {}: the slot lag proves nothing for it",
                                    l.recovery_arn
                                )));
                            }
                        }
                        let points = replica_lag::points(quiet, client, (signal, id, region), since).await?;
                        Ok(match replica_lag::verdict(&points, after) {
                            Verdict::CaughtUp(t) => Poll::Ready(t),
                            Verdict::Behind(v) if v < 0.0 => {
                                Poll::Pending(format!("{} of {id}: -1 (replication not running)", signal.metric()))
                            }
                            Verdict::Behind(v) => {
                                Poll::Pending(format!("{} of {id}: {v} {}", signal.metric(), signal.unit()))
                            }
                            Verdict::NoData => Poll::Pending(format!(
                                "{} of {id}: no datapoint since this wait began",
                                signal.metric()
                            )),
                        })
                    }
                })
                .await?;
            Ok(rfc3339(point))
        })
        .await
    }

    /// `promote`, `wait-promoted`: the replica stands alone (PromoteReadReplica, with primary's
    /// backup retention; RDS made the replica without backups).
    pub(super) async fn promote(&self, l: &Layout) -> Result<(), ActionError> {
        let cx = self.cx;
        let (id, region) = (replica_id(&l.primary_id), l.primary_region.as_str());
        cx.sub(&self.sub_name("promote"), json!({ "replica": id }), |_| async {
            if cx.dry_run {
                return cx.log.note(format!("dry run: would promote {id}"));
            }
            let db = instance(cx.log, self.primary, &id, region).await?.ok_or_else(|| {
                ActionError::Failed(format!("the staged replica {id} is gone from {region}: stage it again"))
            })?;
            if source_of(&db).is_none() {
                // Promoted by an earlier attempt whose answer was lost.
                return Ok(());
            }
            let backups = l.config.backup_retention.filter(|d| *d > 0).unwrap_or(1);
            let req = self.primary.promote_read_replica().db_instance_identifier(&id).backup_retention_period(backups);
            mutate(cx.log, at(&id, region), req).await??;
            Ok(())
        })
        .await?;
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-promoted"), json!({ "instance": id }), &["available"], || async {
            let now = instance(&quiet, self.primary, &id, region).await?;
            let status = now.map(|d| match source_of(&d) {
                Some(_) => format!("{} (still a replica)", instance_status(&d)),
                None => instance_status(&d),
            });
            Ok(vec![(format!("promoted replica {id}"), status)])
        })
        .await
    }

    /// `rename-replica`, `wait-renamed`: the promoted replica takes the original identifier,
    /// tagged as this run's `restored` first so that a resumed run and a way back know it. A way
    /// back of this run may have set it aside: it comes back from there.
    pub(super) async fn rename_replica(&self, l: &Layout) -> Result<(), ActionError> {
        let cx = self.cx;
        let (region, id) = (l.primary_region.as_str(), l.primary_id.as_str());
        let staged = replica_id(id);
        cx.sub(&self.sub_name("rename-replica"), json!({ "instance": staged, "renamed_to": id }), |_| async {
            if cx.dry_run {
                return cx.log.note(format!("dry run: would rename {staged} to {id}"));
            }
            self.keeper(l).rename_in(&staged, |t| is_staged(t, self.name)).await
        })
        .await?;
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-renamed"), json!({ "instance": id }), &["available"], || async {
            let now = instance(&quiet, self.primary, id, region).await?;
            Ok(vec![(format!("instance {id}"), now.map(|d| instance_status(&d)))])
        })
        .await
    }

    /// `method: replica` in the window: caught up, promoted while the original is kept, renamed
    /// in, configured as primary was.
    pub(super) async fn run_replica(&self, l: &Layout) -> Result<Value, ActionError> {
        let cx = self.cx;
        let arn = self.stage_replica(l).await?;
        let point = self.caught_up("caught-up", l).await?;
        // Both wait minutes and need nothing of each other; primary is disrupted only after the
        // recovery point.
        let (promoted, kept) = futures_util::future::join(self.promote(l), self.keeper(l).keep()).await;
        kept?;
        self.or_put_back(l, promoted).await?;
        let renamed = self.rename_replica(l).await;
        self.or_put_back(l, renamed).await?;
        let (reapplied, remaining) = self.reapply(l, &[]).await?;
        let (p, k) = (&l.primary_region, &l.kept_id);
        let why = format!("the primary instance {} before failback (renamed, deletion protection on)", l.primary_id);
        let retained = vec![super::kept_db(super::snapshots::Kind::Instance, self.name, (p, k), why)];
        if !cx.dry_run {
            cx.log.note(format!(
                "{}: failed back through the read replica {} (recovery point {point}); recovery's instance {} \
                 stands alone and is kept",
                self.name,
                replica_id(&l.primary_id),
                l.recovery_id
            ))?;
        }
        Ok(json!({
            "instance": l.primary_id,
            "kept_instance": k,
            "method": "replica",
            "replica": replica_id(&l.primary_id),
            "replica_arn": arn,
            "recovery_point": point,
            "recorded_config": l.config,
            "reapplied": reapplied,
            "remaining_differences": remaining,
            "retained": retained,
        }))
    }

    /// `done`, or its failure after the original was put back under its identifier. Not when
    /// the call may have landed or the journal cannot be written (the next attempt looks first),
    /// nor in a dry run.
    async fn or_put_back(&self, l: &Layout, done: Result<(), ActionError>) -> Result<(), ActionError> {
        let e = match done {
            Ok(()) => return Ok(()),
            Err(e @ (ActionError::Unanswered { .. } | ActionError::Journal(_))) => return Err(e),
            Err(e) if self.cx.dry_run => return Err(e),
            Err(e) => e,
        };
        let id = &l.primary_id;
        self.cx.log.note(format!("{id}: the failback through the replica failed ({e}); putting the original back"))?;
        // A proof taken before a promotion that was never sent is taken again after the way back
        // (a promoted replica publishes no lag to prove anything with).
        let promoted = self.cx.recorded(&self.sub_name("promote")).is_some_and(|s| s.is_done());
        let mut undone = vec!["rename-replica", "wait-renamed"];
        if !promoted {
            undone.extend(["caught-up", "promote", "wait-promoted"]);
        }
        self.keeper(l).put_back(l.config.deletion_protection, &undone).await?;
        Err(ActionError::Failed(format!(
            "the failback of {id} through its replica failed ({e}); the original was renamed back to {id} (deletion \
             protection as it was), so primary is as before and nothing was lost; the replica, if promoted, is kept \
             under {} or {}; mend the cause and retry",
            replica_id(id),
            self.keeper(l).aside_id(&ROLLBACK)
        )))
    }
}

/// Epoch seconds as RFC 3339 (UTC, milliseconds).
fn rfc3339(secs: f64) -> String {
    let t = aws_sdk_rds::primitives::DateTime::from_secs_f64(secs);
    super::time(Some(&t)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{refusal, replica_id};

    #[test]
    fn a_replica_is_refused_for_other_engines_across_accounts_and_without_backups() {
        assert!(refusal("sqlserver-se", None, Some(7)).is_some_and(|w| w.contains("sqlserver-se")));
        assert!(refusal("postgres", Some("111122223333"), Some(7)).is_some_and(|w| w.contains("across accounts")));
        assert!(refusal("mysql", None, Some(0)).is_some_and(|w| w.contains("automated backups")));
        assert_eq!(refusal("postgres", None, Some(7)), None);
        assert_eq!(refusal("mariadb", None, None), None);
    }

    #[test]
    fn the_staging_name_stays_within_rdss_63_characters() {
        assert_eq!(replica_id("orders-db"), "orders-db-pl-replica");
        let long = replica_id(&"x".repeat(70));
        assert_eq!(long.len(), 63);
        assert!(long.ends_with("-pl-replica"));
    }
}

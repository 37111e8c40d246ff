//! `aurora.failback` with `method: switchover`: the data comes home through an Aurora Global
//! Database instead of a snapshot copy (`docs/design/replica-failback.md`, sections 1f and 4).
//!
//! **Staged** (`aurora.stage-secondary`, hours before the window; or by the failback itself when
//! nothing is staged, with the whole initial copy in the window): a global database
//! `<primary>-pl-global` made from the recovery cluster, and in primary's region a secondary
//! cluster `<primary>-pl-secondary` (primary's subnet group, security groups and parameter
//! group) with one instance `<primary>-pl-secondary-1` (the class of primary's writer). RDS
//! copies the cluster volume once and then replicates every write, typically within a second.
//! The names do not carry a run: the cut-over run finds what a stage run made (tagged
//! `pilotlight:stage=global-secondary` and the resource; anything else under the name is not
//! adopted).
//!
//! **Cut-over**, after the fence: `switchover` (SwitchoverGlobalCluster to the secondary: RDS
//! synchronises first, so nothing written to recovery is lost; recovery becomes a read-only
//! secondary), `wait-switchover` (the secondary is the writer: this moment is the recovery
//! point), `detach-recovery` and `detach-secondary` (RemoveFromGlobalCluster, the secondary then
//! the writer last, as RDS requires: the writer's detach waits only until recovery's has left the
//! global database, so recovery's promotion to a standalone, writable cluster with the same data
//! runs beside it, waited for before anything of primary's is touched, `wait-recovery-standalone`),
//! `delete-global`
//! (the empty global database holds nothing). Then the swap as
//! for a snapshot, except that instead of a restore the secondary is renamed to the original
//! identifier (`rename-secondary`); the original's instances are created in it while its staging
//! instance goes (`delete-staging-instance`: its data is the cluster volume's; the recorded
//! promotion tiers decide which member RDS makes the writer).
//!
//! What it gives: no snapshot, copy or restore in the window (the switchover is minutes). What it
//! costs: a second cluster and instance in primary's region, billed from the stage on, and
//! cross-region replication of every write; the same engine version on both sides.

use super::{Layout, One, cluster};
use crate::actions::Poll;
use crate::actions::failback::TAG_RESOURCE;
use crate::actions::failback::rds::keep::cluster_status;
use crate::actions::failback::rds::snapshots::Kind;
use crate::actions::failback::rds::{TAG_STAGE, instance::instance, or_none, tag_map, tags, wait_status, with_suffix};
use crate::aws::{ActionError, CallLog, at, mutate, read};
use aws_sdk_rds::Client;
use aws_sdk_rds::types::GlobalCluster;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The stage tag of a staged secondary.
pub const STAGED: &str = "global-secondary";

/// What staging makes, under names of primary's cluster (no run in them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Staging {
    pub global: String,
    pub cluster: String,
    pub instance: String,
}

impl Staging {
    pub fn of(primary_id: &str) -> Staging {
        Staging {
            global: with_suffix(primary_id, "-pl-global"),
            cluster: with_suffix(primary_id, "-pl-secondary"),
            instance: with_suffix(primary_id, "-pl-secondary-1"),
        }
    }
}

/// A member of a global database: (cluster ARN, writer).
pub(super) fn members(g: &GlobalCluster) -> Vec<(String, bool)> {
    g.global_cluster_members()
        .iter()
        .map(|m| (m.db_cluster_arn().unwrap_or_default().to_string(), m.is_writer() == Some(true)))
        .collect()
}

/// Whether a switchover or failover of `g` is under way.
pub(super) fn switching(g: &GlobalCluster) -> bool {
    g.failover_state().and_then(|f| f.status()).is_some_and(|s| !s.as_str().is_empty())
}

/// The global database `id`, or `None`.
pub async fn global(
    log: &dyn CallLog,
    client: &Client,
    id: &str,
    region: &str,
) -> Result<Option<GlobalCluster>, ActionError> {
    let req = client.describe_global_clusters().global_cluster_identifier(id);
    or_none(read(log, at(id, region), req).await?.map(|o| o.global_clusters().first().cloned()))
}

fn staged_tags(cx: &crate::actions::ActionCx<'_>, name: &str) -> Vec<aws_sdk_rds::types::Tag> {
    tags(cx, name, STAGED)
}

/// Whether tags mark a staged secondary of resource `name` (by any run).
fn is_staged(tags: &indexmap::IndexMap<String, String>, name: &str) -> bool {
    tags.get(TAG_RESOURCE).map(String::as_str) == Some(name) && tags.get(TAG_STAGE).map(String::as_str) == Some(STAGED)
}

impl One<'_, '_> {
    /// `method: switchover` ([`global`]): the staged secondary (made now if missing), the
    /// switchover and detaches, then the swap with the secondary renamed in instead of a restore.
    pub(super) async fn run_switchover(&self, l: &Layout) -> Result<Value, ActionError> {
        if l.recovery_arn.is_empty() {
            return Err(ActionError::Failed(format!(
                "{}: this run's read of the clusters predates the switchover method; start a new run",
                self.name
            )));
        }
        if let Some(why) = refusal(l.share_with.as_deref(), l.config.backtrack_window) {
            return Err(ActionError::Failed(format!("{}: {why}", self.name)));
        }
        let secondary = self.stage_secondary(l).await?;
        // The switchover and the detaches first, then the swap: a rollback resets the failback's
        // sub-steps from the swap's first on, and a resume must not switch over again (the
        // global database is gone by then).
        let recovery_point = self.switch_over(l, &secondary).await?;
        let old = self.members(l);
        let renamed = async {
            old.remove_endpoints(&l.custom_endpoints).await?;
            self.protection_off(l, "protection-off").await?;
            old.delete(&l.members).await?;
            self.keeper(l).keep().await?;
            self.rename_secondary(l).await
        };
        self.or_put_back(l, &old, renamed.await).await?;
        // The staging instance goes while the original's members are created: the data is the
        // cluster volume's, not an instance's. The first failure stops both (a failure's way back
        // is the step's rollback: the original back under its name, the secondary set aside).
        futures_util::future::try_join(old.recreate(&l.members), self.delete_staging_instance(l)).await?;
        old.recreate_endpoints(&l.custom_endpoints).await?;
        let (reapplied, remaining) = self.reapply(l, &[]).await?;
        let (p, k) = (&l.primary_region, &l.kept_id);
        let why = format!(
            "the primary cluster {} before failback (renamed, no instances, deletion protection on; its storage holds \
             the pre-failback data)",
            l.primary_id
        );
        let staging = Staging::of(&l.primary_id);
        Ok(json!({
            "method": "switchover",
            "cluster": l.primary_id,
            "kept_cluster": k,
            "instances": l.members.iter().map(|m| &m.id).collect::<Vec<_>>(),
            "custom_endpoints": l.custom_endpoints.iter().map(|e| &e.id).collect::<Vec<_>>(),
            "from_secondary": staging.cluster,
            "global_database": staging.global,
            "recovery_point": recovery_point,
            "recorded_config": { "cluster": l.config, "instances": l.members, "custom_endpoints": l.custom_endpoints },
            "reapplied": reapplied,
            "remaining_differences": remaining,
            "retained": [super::super::kept_db(Kind::Cluster, self.name, (p, k), why)],
        }))
    }

    /// The staged secondary, found or made (sub-steps `global-database`, `secondary-cluster`,
    /// `wait-secondary`, `secondary-instance`, `wait-secondary-instance`): its ARN.
    pub(super) async fn stage_secondary(&self, l: &Layout) -> Result<String, ActionError> {
        let cx = self.cx;
        let s = Staging::of(&l.primary_id);
        let (p_region, r_region) = (l.primary_region.as_str(), l.recovery_region.as_str());
        // Said once, before this run makes anything (a resume finds its own making).
        let first = !cx.recorded(&self.sub_name("global-database")).is_some_and(|s| s.is_done());
        // Read once for the note and the sub-step's look (a resumed attempt looks again).
        let mut seen = None;
        if first {
            let found = global(cx.log, self.recovery, &s.global, r_region).await?;
            let said = match &found {
                Some(_) => {
                    format!("{}: staged global database {} found: nothing to copy in the window", self.name, s.global)
                }
                None => format!(
                    "{}: nothing staged (no global database {}): the secondary is made now, its initial copy of the \
                     whole cluster in the window",
                    self.name, s.global
                ),
            };
            cx.log.note(said)?;
            seen = Some(found);
        }
        let st = &s;
        cx.sub(&self.sub_name("global-database"), json!({ "global": s.global, "source": l.recovery_arn }), |resume| {
            // What the note's read found, on the sub-step's first run only.
            let seen = seen.clone().filter(|_| resume.first);
            async move {
                if cx.dry_run {
                    return cx
                        .log
                        .note(format!("dry run: would make global database {} from {}", st.global, l.recovery_arn));
                }
                let found = match seen {
                    Some(found) => found,
                    None => global(cx.log, self.recovery, &st.global, r_region).await?,
                };
                if let Some(g) = found {
                    return self.ours(&g, &st.global, &l.recovery_arn);
                }
                let req = self
                    .recovery
                    .create_global_cluster()
                    .global_cluster_identifier(&st.global)
                    .source_db_cluster_identifier(&l.recovery_arn)
                    .set_tags(Some(staged_tags(cx, self.name)));
                match mutate(cx.log, at(&st.global, r_region), req).await? {
                    Ok(_) => Ok(()),
                    // An earlier attempt's answer was lost: it is ours if recovery is in it.
                    Err(f) if f.code() == Some("GlobalClusterAlreadyExistsFault") => {
                        let g = global(cx.log, self.recovery, &st.global, r_region)
                            .await?
                            .ok_or_else(|| gone(&st.global))?;
                        self.ours(&g, &st.global, &l.recovery_arn)
                    }
                    Err(f) => Err(f.into()),
                }
            }
        })
        .await?;
        let arn: String = cx
            .sub(&self.sub_name("secondary-cluster"), json!({ "cluster": s.cluster, "global": s.global }), |_| async {
                if cx.dry_run {
                    cx.log.note(format!("dry run: would make secondary cluster {} in {p_region}", s.cluster))?;
                    return Ok(String::new());
                }
                if let Some(c) = cluster(cx.log, self.primary, &s.cluster, p_region).await? {
                    return self.adopt(&c, &s);
                }
                let c = &l.config;
                let req = self
                    .primary
                    .create_db_cluster()
                    .db_cluster_identifier(&s.cluster)
                    .global_cluster_identifier(&s.global)
                    .engine(&c.engine)
                    .set_engine_version(l.recovery_engine_version.clone())
                    .set_db_cluster_parameter_group_name(super::super::instance_config::custom(&c.parameter_group))
                    .set_db_subnet_group_name(c.subnet_group.clone())
                    .set_vpc_security_group_ids((!c.security_groups.is_empty()).then(|| c.security_groups.clone()))
                    .set_port(c.port)
                    .set_storage_encrypted(l.recovery_encrypted.then_some(true))
                    .set_kms_key_id(self.kms.map(str::to_string).filter(|_| l.recovery_encrypted))
                    // What primary's cluster has that a member or the comparison after needs: a
                    // `db.serverless` member is refused without a capacity; the rest is set again
                    // by `reapply-config` if RDS did not take it.
                    .set_serverless_v2_scaling_configuration(c.serverless_v2.map(|(min, max)| {
                        aws_sdk_rds::types::ServerlessV2ScalingConfiguration::builder()
                            .min_capacity(min)
                            .max_capacity(max)
                            .build()
                    }))
                    .set_storage_type(c.io_optimized.then(|| "aurora-iopt1".to_string()))
                    .copy_tags_to_snapshot(c.copy_tags_to_snapshot)
                    .set_enable_iam_database_authentication(c.iam_auth.then_some(true))
                    .set_enable_cloudwatch_logs_exports((!c.log_exports.is_empty()).then(|| c.log_exports.clone()))
                    .set_tags(Some(staged_tags(cx, self.name)));
                match mutate(cx.log, at(&s.cluster, p_region), req).await? {
                    Ok(out) => Ok(out.db_cluster().and_then(|c| c.db_cluster_arn()).unwrap_or_default().to_string()),
                    Err(f) if f.code() == Some("DBClusterAlreadyExistsFault") => {
                        let c = cluster(cx.log, self.primary, &s.cluster, p_region).await?;
                        self.adopt(&c.ok_or_else(|| conflict("DB cluster", &s.cluster, p_region))?, &s)
                    }
                    Err(f) => Err(f.into()),
                }
            })
            .await?;
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-secondary"), json!({ "cluster": s.cluster }), &["available"], || async {
            let now = cluster(&quiet, self.primary, &s.cluster, p_region).await?;
            Ok(vec![(format!("secondary cluster {}", s.cluster), now.map(|c| cluster_status(&c)))])
        })
        .await?;
        let writer = l.members.iter().find(|m| m.writer).or(l.members.first());
        let class = writer.map_or("db.r6g.large".to_string(), |m| m.class.clone());
        cx.sub(&self.sub_name("secondary-instance"), json!({ "instance": s.instance, "class": class }), |_| async {
            if cx.dry_run {
                return cx.log.note(format!("dry run: would create instance {} in {}", s.instance, s.cluster));
            }
            if let Some(db) = instance(cx.log, self.primary, &s.instance, p_region).await? {
                return if db.db_cluster_identifier() == Some(s.cluster.as_str())
                    && is_staged(&tag_map(db.tag_list()), self.name)
                {
                    Ok(())
                } else {
                    Err(conflict("DB instance", &s.instance, p_region))
                };
            }
            let req = self
                .primary
                .create_db_instance()
                .db_instance_identifier(&s.instance)
                .db_cluster_identifier(&s.cluster)
                .engine(&l.config.engine)
                .db_instance_class(&class)
                .set_tags(Some(staged_tags(cx, self.name)));
            mutate(cx.log, at(&s.instance, p_region), req).await??;
            Ok(())
        })
        .await?;
        self.wait_staging_instance("wait-secondary-instance", l, "available").await?;
        Ok(arn)
    }

    /// A global database under the staging name is this tool's when recovery's cluster is in it.
    fn ours(&self, g: &GlobalCluster, id: &str, recovery_arn: &str) -> Result<(), ActionError> {
        if members(g).iter().any(|(a, _)| a == recovery_arn) {
            Ok(())
        } else {
            Err(ActionError::Failed(format!(
                "global database {id} exists without the recovery cluster {recovery_arn} in it: it is not this \
                 failback's staging, so nothing was changed; rename or remove it"
            )))
        }
    }

    /// A cluster under the secondary's name is adopted only when staged for this resource and in
    /// the staging global database.
    fn adopt(&self, c: &aws_sdk_rds::types::DbCluster, s: &Staging) -> Result<String, ActionError> {
        let in_global = c.global_cluster_identifier() == Some(s.global.as_str());
        if is_staged(&tag_map(c.tag_list()), self.name) && in_global {
            Ok(c.db_cluster_arn().unwrap_or_default().to_string())
        } else {
            Err(conflict("DB cluster", &s.cluster, self.cx.envs.region("primary").unwrap_or_default()))
        }
    }

    /// The switchover and the detaches (see the module's doc): the recovery point, when the
    /// secondary became the writer.
    pub(super) async fn switch_over(&self, l: &Layout, secondary_arn: &str) -> Result<String, ActionError> {
        let cx = self.cx;
        let s = Staging::of(&l.primary_id);
        let (p_region, r_region) = (l.primary_region.as_str(), l.recovery_region.as_str());
        cx.sub(&self.sub_name("switchover"), json!({ "global": s.global, "to": secondary_arn }), |_| async {
            if cx.dry_run {
                return cx.log.note(format!("dry run: would switch {} over to {secondary_arn}", s.global));
            }
            let g = global(cx.log, self.recovery, &s.global, r_region).await?.ok_or_else(|| gone(&s.global))?;
            self.switch_to(&g, (&s.global, r_region), secondary_arn).await
        })
        .await?;
        let point = self.wait_for_writer("wait-switchover", (&s.global, r_region), secondary_arn).await?;
        // From here until both are detached, recovery's cluster is a read-only secondary: a failure
        // says so, and how to give recovery its writes back if the failback is abandoned.
        let detached = async {
            self.detach(&s.global, (&l.recovery_arn, r_region, &l.recovery_id), "recovery").await?;
            self.detach(&s.global, (secondary_arn, p_region, &s.cluster), "secondary").await
        };
        detached.await.map_err(|e| match e {
            ActionError::Failed(why) => ActionError::Failed(format!(
                "{why}; the switchover is done: recovery's cluster {} is a read-only secondary of global database {} \
                 whose writer is {secondary_arn}. Resume to finish the failback; to abandon it instead, switch back \
                 (aws rds switchover-global-cluster --region {r_region} --global-cluster-identifier {} \
                 --target-db-cluster-identifier {})",
                l.recovery_id, s.global, s.global, l.recovery_arn
            )),
            other => other,
        })?;
        // Recovery's promotion ran beside the writer's detach; it stands alone before anything of
        // primary's is touched.
        self.wait_standalone(l).await?;
        cx.sub(&self.sub_name("delete-global"), json!({ "global": s.global }), |_| async {
            if cx.dry_run {
                return Ok(());
            }
            let Some(g) = global(cx.log, self.recovery, &s.global, r_region).await? else { return Ok(()) };
            if !g.global_cluster_members().is_empty() {
                return Err(ActionError::Failed(format!("global database {} still has members", s.global)));
            }
            let req = self.recovery.delete_global_cluster().global_cluster_identifier(&s.global);
            // GlobalClusterNotFoundFault: gone already, as this sub-step wants.
            or_none(mutate(cx.log, at(&s.global, r_region), req).await?.map(Some))?;
            Ok(())
        })
        .await?;
        Ok(point)
    }

    /// SwitchoverGlobalCluster of `g` to `target` (called in the writer's region: recovery's, the
    /// global database's first), unless `target` is the writer already or being switched to.
    pub(super) async fn switch_to(
        &self,
        g: &GlobalCluster,
        (global_id, region): (&str, &str),
        target: &str,
    ) -> Result<(), ActionError> {
        let towards = g.failover_state().and_then(|f| f.to_db_cluster_arn()) == Some(target);
        let writer = members(g).iter().any(|(a, w)| a == target && *w);
        if (writer && !switching(g)) || (switching(g) && towards) {
            return Ok(());
        }
        let req = self
            .recovery
            .switchover_global_cluster()
            .global_cluster_identifier(global_id)
            .target_db_cluster_identifier(target);
        mutate(self.cx.log, at(global_id, region), req).await??;
        Ok(())
    }

    /// Waits (sub-step `part`) until `writer` is the global database's writer with no switchover
    /// under way; when it was, as the sub-step's result.
    pub(super) async fn wait_for_writer(
        &self,
        part: &str,
        (global_id, region): (&str, &str),
        writer: &str,
    ) -> Result<String, ActionError> {
        let cx = self.cx;
        let (name, quiet) = (self.sub_name(part), cx.quiet());
        cx.sub(&name, json!({ "global": global_id, "writer": writer }), |_| async {
            if cx.dry_run {
                return Ok(String::new());
            }
            cx.wait_for(&name, cx.timeout, || async {
                let g = global(&quiet, self.recovery, global_id, region).await?.ok_or_else(|| gone(global_id))?;
                let now = members(&g).into_iter().find(|(_, w)| *w).map(|(a, _)| a).unwrap_or_default();
                Ok(if now == writer && !switching(&g) {
                    Poll::Ready(crate::journal::now_rfc3339())
                } else {
                    Poll::Pending(format!("global database {global_id}: writer {now}, switching over to {writer}"))
                })
            })
            .await
        })
        .await
    }

    /// The secondary takes the original identifier (`rename-secondary`, `wait-renamed`), tagged
    /// as this run's `restored` first so that a resumed run and a rollback know it.
    pub(super) async fn rename_secondary(&self, l: &Layout) -> Result<(), ActionError> {
        let cx = self.cx;
        let s = Staging::of(&l.primary_id);
        let (region, id) = (l.primary_region.as_str(), l.primary_id.as_str());
        cx.sub(&self.sub_name("rename-secondary"), json!({ "cluster": s.cluster, "renamed_to": id }), |_| async {
            if cx.dry_run {
                return cx.log.note(format!("dry run: would rename {} to {id}", s.cluster));
            }
            self.keeper(l).rename_in(&s.cluster, |t| is_staged(t, self.name)).await
        })
        .await?;
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name("wait-renamed"), json!({ "cluster": id }), &["available"], || async {
            let now = cluster(&quiet, self.primary, id, region).await?;
            Ok(vec![(format!("cluster {id}"), now.map(|c| cluster_status(&c)))])
        })
        .await
    }

    /// Deletes the staging instance, which the renamed secondary no longer needs once the original's
    /// instances are created in it (`delete-staging-instance`, `wait-staging-instance-deleted`).
    pub(super) async fn delete_staging_instance(&self, l: &Layout) -> Result<(), ActionError> {
        let cx = self.cx;
        let s = Staging::of(&l.primary_id);
        let region = l.primary_region.as_str();
        cx.sub(&self.sub_name("delete-staging-instance"), json!({ "instance": s.instance }), |_| async {
            if cx.dry_run {
                return cx.log.note(format!("dry run: would delete the staging instance {}", s.instance));
            }
            let Some(db) = instance(cx.log, self.primary, &s.instance, region).await? else { return Ok(()) };
            if db.db_instance_status() == Some("deleting") {
                return Ok(());
            }
            if !is_staged(&tag_map(db.tag_list()), self.name) {
                return Err(conflict("DB instance", &s.instance, region));
            }
            let req = self.primary.delete_db_instance().db_instance_identifier(&s.instance);
            // Gone between the look and the delete is what this sub-step is for (the wait below
            // confirms it), as `delete-global` takes a global database already gone.
            or_none(mutate(cx.log, at(&s.instance, region), req).await?.map(Some))?;
            Ok(())
        })
        .await?;
        self.wait_staging_instance("wait-staging-instance-deleted", l, "gone").await
    }

    /// Waits (sub-step `part`) until the staging instance is `ready` (`gone` once deleted).
    async fn wait_staging_instance(&self, part: &str, l: &Layout, ready: &str) -> Result<(), ActionError> {
        let (cx, s, region) = (self.cx, Staging::of(&l.primary_id), l.primary_region.as_str());
        let quiet = cx.quiet();
        wait_status(cx, &self.sub_name(part), json!({ "instance": s.instance }), &[ready], || async {
            let now = instance(&quiet, self.primary, &s.instance, region).await?;
            let status = now.map(|d| d.db_instance_status().unwrap_or("unknown").to_string());
            Ok(vec![(format!("instance {}", s.instance), status)])
        })
        .await
    }
}

/// Why a failback by switchover cannot be done for this layout, before any call: a global
/// database has its clusters in one account (Aurora user guide, "Limitations of Amazon Aurora
/// global databases"), and no backtracking (the same page).
pub fn refusal(share_with: Option<&str>, backtrack_window: Option<i64>) -> Option<String> {
    if let Some(account) = share_with {
        return Some(format!(
            "primary ({account}) and recovery are in different accounts: a global database's clusters are all in \
             one account; fail back by snapshot (`method: snapshot`)"
        ));
    }
    backtrack_window.filter(|w| *w > 0).map(|_| {
        "primary's cluster has backtracking on, which a global database does not support: fail back by snapshot \
         (`method: snapshot`)"
            .to_string()
    })
}

pub(super) fn gone(id: &str) -> ActionError {
    ActionError::Failed(format!("global database {id} is gone: the switchover cannot go on; see the journal"))
}

fn conflict(what: &str, id: &str, region: &str) -> ActionError {
    ActionError::Failed(format!(
        "{what} {id} exists in {region} but is not a staged secondary of this resource (pilotlight:stage={STAGED}): \
         nothing was changed; rename or remove it"
    ))
}

/// What `method: switchover` gives and costs, for `plan` and the README.
pub fn trade_off() -> String {
    "switchover: no snapshot, copy or restore in the window (a switchover of minutes; RDS synchronises first, so \
     nothing is lost); costs a secondary cluster and instance in primary's region from the stage on, and \
     cross-region replication of every write; needs the same engine version on both sides"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::{Staging, refusal};

    #[test]
    fn a_switchover_is_refused_across_accounts_and_with_backtracking() {
        assert!(refusal(Some("111122223333"), None).is_some_and(|w| w.contains("different accounts")));
        assert!(refusal(None, Some(3600)).is_some_and(|w| w.contains("backtracking")));
        assert_eq!(refusal(None, Some(0)), None);
        assert_eq!(refusal(None, None), None);
    }

    #[test]
    fn staging_names_stay_within_rdss_63_characters() {
        let s = Staging::of(&"x".repeat(60));
        assert!(s.cluster.len() <= 63 && s.cluster.ends_with("-pl-secondary"), "{}", s.cluster);
        assert!(s.instance.len() <= 63 && s.instance.ends_with("-pl-secondary-1"), "{}", s.instance);
        assert_eq!(Staging::of("inventory").global, "inventory-pl-global");
    }
}

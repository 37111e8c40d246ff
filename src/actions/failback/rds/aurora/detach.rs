//! Taking the global database apart after a switchover ([`super::global`]): each member detached
//! in its own region (`detach-<which>`, `wait-<which>-detached`), recovery's first, and the proof
//! that recovery's cluster stands alone, writable, before anything of primary's is touched
//! (`wait-recovery-standalone`).

use super::global::{global, members};
use super::{Layout, One, cluster};
use crate::actions::failback::rds::keep::cluster_status;
use crate::actions::failback::rds::wait_status;
use crate::aws::{ActionError, at, mutate};
use serde_json::json;

impl One<'_, '_> {
    /// RemoveFromGlobalCluster for one member, called in its own region, then a wait until it
    /// stands alone (`detach-<which>`, `wait-<which>-detached`).
    pub(super) async fn detach(
        &self,
        global_id: &str,
        (arn, region, id): (&str, &str, &str),
        which: &str,
    ) -> Result<(), ActionError> {
        let cx = self.cx;
        let client = if which == "recovery" { self.recovery } else { self.primary };
        cx.sub(&self.sub_name(&format!("detach-{which}")), json!({ "global": global_id, "cluster": arn }), |_| async {
            if cx.dry_run {
                return cx.log.note(format!("dry run: would detach {arn} from {global_id}"));
            }
            let Some(g) = global(cx.log, client, global_id, region).await? else { return Ok(()) };
            if !members(&g).iter().any(|(a, _)| a == arn) {
                return Ok(());
            }
            let req =
                client.remove_from_global_cluster().global_cluster_identifier(global_id).db_cluster_identifier(arn);
            mutate(cx.log, at(id, region), req).await??;
            Ok(())
        })
        .await?;
        let quiet = cx.quiet();
        let name = self.sub_name(&format!("wait-{which}-detached"));
        if which == "recovery" {
            // RDS detaches the writer once it is the last member: that is all the next detach
            // needs. Recovery's promotion to a standalone cluster goes on meanwhile; the failback
            // waits for it after the writer's detach (`wait-recovery-standalone`).
            let detail = json!({ "global": global_id, "cluster": id });
            return wait_status(cx, &name, detail, &["left"], || async {
                let g = global(&quiet, client, global_id, region).await?;
                let member = g.is_some_and(|g| members(&g).iter().any(|(a, _)| a == arn));
                let now = if member { "still a member" } else { "left" };
                Ok(vec![(format!("cluster {id} in {global_id}"), Some(now.to_string()))])
            })
            .await;
        }
        wait_status(cx, &name, json!({ "cluster": id }), &["available"], || async {
            let now = cluster(&quiet, client, id, region).await?;
            let status = now.map(|c| match c.global_cluster_identifier() {
                Some(g) if !g.is_empty() => format!("still in {g}"),
                _ => cluster_status(&c),
            });
            Ok(vec![(format!("cluster {id}"), status)])
        })
        .await
    }

    /// Waits until recovery's detached cluster stands alone, writable (`wait-recovery-standalone`):
    /// its promotion ran beside the writer's detach.
    pub(super) async fn wait_standalone(&self, l: &Layout) -> Result<(), ActionError> {
        let (cx, quiet) = (self.cx, self.cx.quiet());
        let (id, region) = (l.recovery_id.as_str(), l.recovery_region.as_str());
        let name = self.sub_name("wait-recovery-standalone");
        wait_status(cx, &name, json!({ "cluster": id }), &["available"], || async {
            let now = cluster(&quiet, self.recovery, id, region).await?;
            let status = now.map(|c| match c.global_cluster_identifier() {
                Some(g) if !g.is_empty() => format!("still in {g}"),
                _ => cluster_status(&c),
            });
            Ok(vec![(format!("recovery's cluster {id}"), status)])
        })
        .await
    }
}

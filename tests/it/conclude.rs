//! `recovery.conclude` against moto, checked with independent describe calls: every recovery
//! resource gets a final recovery point (kept) and the recovery compute is stopped, never
//! terminated or deleted; primary is not touched; concluding again works.

use super::support::{block_on, journal, only_run, pilotlight, run, sdk, seeded_moto, state_dir};
use pilotlight::journal::Event;
use std::collections::BTreeMap;

const FIXTURE: &str = "tests/fixtures/conclude.yaml";

/// What concluding changes in one region.
#[derive(Debug, PartialEq)]
struct Side {
    /// EC2 Name -> state.
    instances: BTreeMap<String, String>,
    ec2_snapshots: usize,
    /// RDS instance id -> status (cluster members included).
    db_instances: BTreeMap<String, String>,
    clusters: BTreeMap<String, String>,
    db_snapshots: usize,
    cluster_snapshots: usize,
    table_backups: usize,
    tables: Vec<String>,
}

fn side(url: &str, region: &str) -> Side {
    let config = sdk(url, region);
    let (ec2, rds, ddb) =
        (aws_sdk_ec2::Client::new(&config), aws_sdk_rds::Client::new(&config), aws_sdk_dynamodb::Client::new(&config));
    block_on(async {
        let out = ec2.describe_instances().send().await.unwrap();
        let instances = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| {
                let name = i.tags().iter().find(|t| t.key() == Some("Name")).and_then(|t| t.value()).unwrap_or("");
                (name.to_string(), i.state().and_then(|s| s.name()).unwrap().as_str().to_string())
            })
            .collect();
        let ec2_snapshots = super::support::own_snapshots(&ec2).await;
        let out = rds.describe_db_instances().send().await.unwrap();
        let db_instances = out
            .db_instances()
            .iter()
            .map(|d| (d.db_instance_identifier().unwrap().to_string(), d.db_instance_status().unwrap().to_string()))
            .collect();
        let out = rds.describe_db_clusters().send().await.unwrap();
        let clusters = out
            .db_clusters()
            .iter()
            .map(|c| (c.db_cluster_identifier().unwrap().to_string(), c.status().unwrap().to_string()))
            .collect();
        let pl = |id: Option<&str>| id.unwrap().starts_with("pl-");
        let db_snapshots = rds
            .describe_db_snapshots()
            .send()
            .await
            .unwrap()
            .db_snapshots()
            .iter()
            .filter(|s| pl(s.db_snapshot_identifier()))
            .count();
        let cluster_snapshots = rds
            .describe_db_cluster_snapshots()
            .send()
            .await
            .unwrap()
            .db_cluster_snapshots()
            .iter()
            .filter(|s| pl(s.db_cluster_snapshot_identifier()))
            .count();
        let backups = ddb.list_backups().send().await.unwrap();
        let table_backups =
            backups.backup_summaries().iter().filter(|b| b.backup_status().unwrap().as_str() == "AVAILABLE").count();
        let tables = ddb.list_tables().send().await.unwrap().table_names().to_vec();
        Side {
            instances,
            ec2_snapshots,
            db_instances,
            clusters,
            db_snapshots,
            cluster_snapshots,
            table_backups,
            tables,
        }
    })
}

fn conclude(state: &std::path::Path, url: &str) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", url]);
    run(cmd)
}

#[test]
fn concluding_takes_final_recovery_points_then_stops_the_recovery_compute_and_can_run_again() {
    let (moto, url) = seeded_moto();
    let (p0, r0) = (side(&url, "us-east-1"), side(&url, "us-west-2"));
    assert!(r0.instances.values().all(|s| s == "running"), "the seed runs recovery: {r0:?}");
    let state = state_dir();
    pilotlight::sandbox::moto_api::start_recording(moto.port).unwrap();
    let out = conclude(state.path(), &url);
    pilotlight::sandbox::moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    // Each instance's final recovery point is one CreateSnapshots, consistent across its volumes.
    let calls = super::support::recorded(moto.port);
    let ops = |op: &str| calls.iter().filter(|c| c.operation == op).count();
    assert_eq!((ops("CreateSnapshots"), ops("CreateSnapshot")), (2, 0), "one per instance, none per volume");
    let (p1, r1) = (side(&url, "us-east-1"), side(&url, "us-west-2"));
    assert_eq!(p1, p0, "primary is not touched");
    assert_eq!(r1.instances.len(), r0.instances.len(), "nothing terminated");
    assert!(r1.instances.values().all(|s| s == "stopped"), "recovery instances stopped: {:?}", r1.instances);
    assert_eq!(r1.db_instances.get("orders-db").map(String::as_str), Some("stopped"));
    assert_eq!(r1.clusters.get("inventory").map(String::as_str), Some("stopped"));
    assert_eq!(r1.db_instances.len(), r0.db_instances.len(), "no DB instance deleted");
    assert_eq!(r1.tables, r0.tables, "no table deleted");
    // Final recovery points: one per recovery volume (app-server 2, worker 3), one DB snapshot,
    // one cluster snapshot, one table backup.
    assert_eq!(r1.ec2_snapshots, r0.ec2_snapshots + 5);
    assert_eq!((r1.db_snapshots, r1.cluster_snapshots), (1, 1));
    assert_eq!(r1.table_backups, r0.table_backups + 1);

    let (_, dir) = only_run(state.path());
    let retained = journal(&dir)
        .iter()
        .find_map(|e| match &e.event {
            Event::ActionFinished { ok: true, outputs, .. } => outputs.get("retained").cloned(),
            _ => None,
        })
        .expect("retained items");
    assert_eq!(retained.as_array().unwrap().len(), 5 + 3, "every final recovery point is listed as retained");

    // Concluding again (e.g. after a later failover's failback) works: new recovery points,
    // nothing left to stop.
    let again = state_dir();
    let out = conclude(again.path(), &url);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let r2 = side(&url, "us-west-2");
    assert_eq!(r2.ec2_snapshots, r1.ec2_snapshots + 5);
    assert!(r2.instances.values().all(|s| s == "stopped"));
}

//! Staging an RDS instance (`failback.rehearse` with `stage: true`): the rehearsal keeps its
//! snapshot and the snapshot's copy in primary's region, and the failback's copy in the window is
//! then incremental (RDS user guide, incremental snapshot copying: an earlier copy of the same DB
//! instance still in the destination region). Checked with describe calls to moto itself and the
//! realism layer's record of what it modelled.

use super::realism::{Model, Pace, RealismProxy};
use super::support::{Moto, block_on, moto, only_run, postgres, resource_outputs, run_fixture, sdk};
use aws_sdk_rds::Client;
use pilotlight::sandbox::realism::timing::{CHANGED_SHARE, modelled};

/// A moto server with `orders-db` (postgres, 100 GiB) in both regions, and the realism layer in
/// front of it, timed at a pace that makes a modelled hour a fraction of a second, with
/// `changed_share` of the data changed since a previous snapshot.
pub(super) fn orders_db_both_sides(changed_share: f64) -> (Moto, RealismProxy) {
    let moto = moto();
    let url = moto.endpoint_url();
    for region in ["us-east-1", "us-west-2"] {
        block_on(postgres(&Client::new(&sdk(&url, region)), "orders-db").allocated_storage(100).send())
            .expect("CreateDBInstance");
    }
    let proxy = RealismProxy::timed_with_change(moto.port, Pace::Factor(6000.0), changed_share, Vec::new());
    (moto, proxy)
}

/// Catches a staging rehearsal that deletes what it staged (or lists it nowhere), and a failback
/// whose copy is not incremental after it; without staging (the rehearsal removed its snapshots)
/// the copy is full, as on AWS.
#[test]
fn a_staging_rehearsal_keeps_the_databases_copy_and_the_failbacks_copy_is_incremental() {
    for stage in [true, false] {
        let (moto, proxy) = orders_db_both_sides(CHANGED_SHARE);
        let url = moto.endpoint_url();
        let var = format!("stage={stage}");
        let (state, out) = run_fixture("tests/fixtures/rds-staged.yaml", &["--var", &var], &proxy.endpoint_url());
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
        let (_, dir) = only_run(state.path());
        let rehearsal = resource_outputs(&dir, "test-failback", "orders_db");
        let failback = resource_outputs(&dir, "failback-rds", "orders_db");

        let copy = failback["primary_snapshot"].as_str().expect("the failback's copy");
        let took = modelled(moto.port, "us-east-1", copy).expect("the copy was modelled");
        let model = Model::bundled();
        let (full, changed) =
            (model.duration("rds.CopyDBSnapshot", 100.0), model.duration("rds.CopyDBSnapshot", 100.0 * CHANGED_SHARE));
        assert_eq!(took, if stage { changed } else { full }, "stage={stage}: the failback's copy took {took:?}");

        let kept: Vec<(String, String)> = rehearsal["retained"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].as_str().unwrap().to_string(), r["region"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(kept.len(), if stage { 2 } else { 0 }, "{rehearsal}");
        for (id, region) in &kept {
            let rds = Client::new(&sdk(&url, region));
            let there = block_on(rds.describe_db_snapshots().db_snapshot_identifier(id).send())
                .is_ok_and(|o| !o.db_snapshots().is_empty());
            assert!(there, "{id} ({region}) is kept, as listed");
        }
        // Without staging the rehearsal's snapshots are gone: only the failback's (and moto's
        // automated ones) are left.
        let primary = Client::new(&sdk(&url, "us-east-1"));
        let manual = block_on(primary.describe_db_snapshots().snapshot_type("manual").send()).unwrap();
        let rehearsal_copies = manual
            .db_snapshots()
            .iter()
            .filter(|s| s.db_snapshot_identifier().is_some_and(|i| i.contains("rehearsal")))
            .count();
        assert_eq!(rehearsal_copies, usize::from(stage), "stage={stage}: the rehearsal's copy in primary");
    }
}

/// A DB instance's first snapshot holds the whole database; a later one, while an earlier one
/// of the same instance is in its region, only what changed (RDS user guide, "Creating a DB
/// snapshot"). Catches a layer that times every snapshot as full, or the first as incremental.
#[test]
fn a_later_snapshot_of_the_same_instance_is_incremental() {
    let moto = moto();
    let proxy = RealismProxy::timed(moto.port, Pace::Factor(6000.0), Vec::new());
    let rds = Client::new(&sdk(&proxy.endpoint_url(), "us-west-2"));
    // No automated backups: the instance has no snapshot before the first one taken here.
    block_on(postgres(&rds, "orders-db").allocated_storage(100).backup_retention_period(0).send()).unwrap();
    let model = Model::bundled();
    let (full, changed) =
        (model.duration("rds.CreateDBSnapshot", 100.0), model.duration("rds.CreateDBSnapshot", 100.0 * CHANGED_SHARE));
    for (id, expected) in [("first", full), ("second", changed)] {
        let take = rds.create_db_snapshot().db_instance_identifier("orders-db").db_snapshot_identifier(id);
        block_on(take.send()).unwrap_or_else(|e| panic!("CreateDBSnapshot {id}: {e}"));
        assert_eq!(modelled(moto.port, "us-west-2", id), Some(expected), "the {id} snapshot");
        // The instance is free again before the next snapshot (at this pace, a few ms).
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
}

/// Catches a layer whose incremental copies move a fixed share whatever the world says: with 2 %
/// of the data changed (the cut-over), the failback's copy after a staging rehearsal is
/// modelled as 2 % of the database, not a tenth.
#[test]
fn the_worlds_changed_share_sets_what_an_incremental_copy_moves() {
    let (moto, proxy) = orders_db_both_sides(0.02);
    let (state, out) = run_fixture("tests/fixtures/rds-staged.yaml", &["--var", "stage=true"], &proxy.endpoint_url());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (_, dir) = only_run(state.path());
    let copy = resource_outputs(&dir, "failback-rds", "orders_db")["primary_snapshot"].as_str().unwrap().to_string();
    let expected = Model::bundled().duration("rds.CopyDBSnapshot", 100.0 * 0.02);
    assert_eq!(modelled(moto.port, "us-east-1", &copy), Some(expected), "2 % of 100 GiB");
}

//! EBS fast snapshot restore: the AWS-rules layer's emulation of the API moto 5.2.5 lacks
//! (checked against bare moto, which refuses it), and `ec2.failback` with
//! `fast_snapshot_restore: true`, whose volumes are made only from copies whose fast snapshot
//! restore is `enabled` (the full benefit), and which turns it off again once they are made.

use super::realism::RealismProxy;
use super::support::{block_on, journal, only_run, pilotlight, resource_outputs, run, sdk, seeded_moto, state_dir};
use pilotlight::journal::{CallOutcome, Event};
use pilotlight::sandbox::realism::model::{Model, Pace};

const FIXTURE: &str = "tests/fixtures/ec2-fast-restore.yaml";

/// The fast snapshot restore states of `snapshot` in us-east-1, zone by zone.
fn states(url: &str, snapshot: &str) -> Vec<(String, String)> {
    let ec2 = aws_sdk_ec2::Client::new(&sdk(url, "us-east-1"));
    let f = aws_sdk_ec2::types::Filter::builder().name("snapshot-id").values(snapshot).build();
    let out = block_on(ec2.describe_fast_snapshot_restores().filters(f).send()).expect("DescribeFastSnapshotRestores");
    out.fast_snapshot_restores()
        .iter()
        .map(|f| (f.availability_zone().unwrap().to_string(), f.state().unwrap().as_str().to_string()))
        .collect()
}

/// Catches a layer without fast snapshot restore, one that enables it on a snapshot that is not
/// there or in a zone of another region, or one that is `enabled` at once at a pace where AWS
/// takes 60 minutes per TiB to optimize.
#[test]
fn aws_rules_fast_snapshot_restore_goes_enabling_optimizing_enabled_and_is_disabled_again() {
    let (moto, url) = seeded_moto();
    let ec2 = |url: &str| aws_sdk_ec2::Client::new(&sdk(url, "us-east-1"));
    let bare = ec2(&url);
    let snap = block_on(async {
        let vols = bare.describe_volumes().send().await.unwrap();
        // The largest, so that optimizing lasts long enough to be seen.
        let largest = vols.volumes().iter().max_by_key(|v| v.size()).unwrap();
        let vol = largest.volume_id().unwrap().to_string();
        bare.create_snapshot().volume_id(vol).send().await.unwrap().snapshot_id().unwrap().to_string()
    });
    let enable = |url: &str, snapshot: &str, zone: &str| {
        let client = ec2(url);
        let req = client.enable_fast_snapshot_restores().availability_zones(zone).source_snapshot_ids(snapshot);
        block_on(req.send()).map(|o| o.successful().len()).map_err(|e| {
            e.as_service_error()
                .and_then(aws_sdk_ec2::error::ProvideErrorMetadata::code)
                .unwrap_or("no code")
                .to_string()
        })
    };
    // Moto on its own has none of it.
    assert!(enable(&url, &snap, "us-east-1a").is_err(), "moto 5.2.5 implements no fast snapshot restore");

    let pace = 60.0;
    let proxy = RealismProxy::timed(moto.port, Pace::Factor(pace), Vec::new());
    let ruled = proxy.endpoint_url();
    assert_eq!(enable(&ruled, "snap-0000000000000000f", "us-east-1a"), Err("InvalidSnapshot.NotFound".into()));
    assert_eq!(enable(&ruled, &snap, "us-west-2a"), Err("InvalidParameterValue".into()));
    assert_eq!(enable(&ruled, &snap, "us-east-1a"), Ok(1));
    assert_eq!(states(&ruled, &snap), [("us-east-1a".into(), "enabling".into())]);
    // The seeded volume's size at 60 minutes per TiB, after a minute of enabling, at the pace.
    let gib = block_on(bare.describe_snapshots().snapshot_ids(&snap).send()).unwrap().snapshots()[0]
        .volume_size()
        .unwrap() as f64;
    let whole = Model::bundled().duration("ec2.EnableFastSnapshotRestores", gib).div_f64(pace);
    std::thread::sleep(std::time::Duration::from_secs_f64(62.0 / pace));
    assert_eq!(states(&ruled, &snap), [("us-east-1a".into(), "optimizing".into())]);
    std::thread::sleep(whole);
    assert_eq!(states(&ruled, &snap), [("us-east-1a".into(), "enabled".into())]);
    assert_eq!(enable(&ruled, &snap, "us-east-1a"), Ok(1), "asked again: its state, nothing new");
    let ruled_ec2 = ec2(&ruled);
    let off = ruled_ec2.disable_fast_snapshot_restores().availability_zones("us-east-1a").source_snapshot_ids(&snap);
    block_on(off.send()).expect("DisableFastSnapshotRestores");
    assert_eq!(states(&ruled, &snap), [("us-east-1a".into(), "disabling".into())]);
    std::thread::sleep(std::time::Duration::from_secs_f64(62.0 / pace));
    assert!(states(&ruled, &snap).is_empty(), "disabled");
}

/// Catches a failback that makes its volumes before the copies' fast snapshot restore is
/// `enabled` (lazy loading after all), or leaves it on (billed): at pace 600 each copy takes its
/// minute of enabling and 60 minutes per TiB to optimize.
#[test]
fn a_fast_restore_failback_makes_its_volumes_from_enabled_copies_and_turns_it_off_after() {
    let (moto, _url) = seeded_moto();
    let pace = 600.0;
    let proxy = RealismProxy::timed(moto.port, Pace::Factor(pace), Vec::new());
    let ruled = proxy.endpoint_url();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", &ruled]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (_, dir) = only_run(state.path());
    let o = resource_outputs(&dir, "failback-ec2", "app_server");
    assert_eq!(o["fast_snapshot_restore"], true);
    assert_eq!(o["large_volumes"], serde_json::json!([]), "nothing loads lazily: {o}");
    let calls: Vec<(String, String)> = journal(&dir)
        .into_iter()
        .filter_map(|e| match e.event {
            Event::AwsCall { operation, outcome: CallOutcome::Ok, mutating: true, .. } => Some((operation, e.ts)),
            _ => None,
        })
        .collect();
    let when = |op: &str| -> Vec<std::time::SystemTime> {
        calls.iter().filter(|(o, _)| o == op).map(|(_, t)| pilotlight::engine::run_view::parse_ts(t).unwrap()).collect()
    };
    let (enabled, made, disabled) =
        (when("EnableFastSnapshotRestores"), when("CreateVolume"), when("DisableFastSnapshotRestores"));
    assert_eq!((enabled.len(), disabled.len()), (1, 1), "one call for all the copies, each way: {calls:?}");
    // The smallest copy's whole enabling, at the pace: no volume is made before it.
    let smallest = 8.0;
    let at_least = Model::bundled().duration("ec2.EnableFastSnapshotRestores", smallest).div_f64(pace);
    assert!(made.iter().all(|m| *m >= enabled[0] + at_least), "volumes made from enabled copies only");
    assert!(made.iter().all(|m| *m <= disabled[0]), "turned off once the volumes are made");
    let copies: Vec<String> =
        o["primary_snapshots"].as_object().unwrap().values().map(|v| v.as_str().unwrap().to_string()).collect();
    assert!(!copies.is_empty());
    for c in &copies {
        assert!(states(&ruled, c).iter().all(|(_, s)| s == "disabling"), "{c}: off again");
    }
}

//! The realism layer's clock ([`super::realism::timing`]): AWS's operations take the model's time
//! at the proxy's pace, and every describe meanwhile shows AWS's in-between states.

use super::realism::{Model, Pace, RealismProxy};
use super::support::{journal, only_run, pilotlight, run, seeded_moto, state_dir};
use pilotlight::engine::run_view::parse_ts;
use pilotlight::journal::{Entry, Event, SubPhase};
use std::collections::BTreeMap;
use std::time::Duration;

/// Every sub-step's wall time (step/name), from its journaled `started` to its `done`.
pub fn sub_step_times(entries: &[Entry]) -> BTreeMap<String, Duration> {
    let mut started = BTreeMap::new();
    let mut took = BTreeMap::new();
    for e in entries {
        let Event::SubStep { step, name, phase, .. } = &e.event else { continue };
        let key = format!("{step}/{name}");
        let at = parse_ts(&e.ts).expect("journal timestamps parse");
        match phase {
            SubPhase::Started => {
                started.insert(key, at);
            }
            SubPhase::Done => {
                if let Some(from) = started.get(&key) {
                    took.insert(key, at.duration_since(*from).unwrap_or_default());
                }
            }
            _ => {}
        }
    }
    took
}

/// From the answer to `step`'s last successful `operation` to the end of its sub-step `wait`.
fn call_to_wait_done(entries: &[Entry], step: &str, operation: &str, wait: &str) -> Duration {
    let is_step = |s: &String| s == step;
    // A resource's wait follows its own call (`app_server/...`), not another resource's.
    let resource = wait.rsplit_once('/').map(|(r, _)| format!("{r}/"));
    let own = |sub: &Option<pilotlight::journal::SubId>| {
        resource.as_ref().is_none_or(|r| sub.as_ref().is_some_and(|s| s.to_string().starts_with(r.as_str())))
    };
    let called = entries.iter().rev().find_map(|e| match &e.event {
        Event::AwsCall { step: s, sub, operation: op, outcome: pilotlight::journal::CallOutcome::Ok, .. }
            if is_step(s) && op == operation && own(sub) =>
        {
            parse_ts(&e.ts)
        }
        _ => None,
    });
    let done = entries.iter().rev().find_map(|e| match &e.event {
        Event::SubStep { step: s, name, phase: SubPhase::Done, .. } if is_step(s) && name.to_string() == wait => {
            parse_ts(&e.ts)
        }
        _ => None,
    });
    match (called, done) {
        (Some(c), Some(d)) => d.duration_since(c).unwrap_or_default(),
        other => panic!("{step}: {operation} then {wait} not both in the journal: {other:?}"),
    }
}

/// The bundled failback through the layer at 600× (its modelled two hours in seconds): every wait
/// sees AWS's in-between states, with progress where AWS gives it, and the tool goes on only when
/// the modelled work is done (the rules refuse what AWS refuses meanwhile: a volume from a
/// pending snapshot, a restore from a snapshot still being copied, a start while stopping).
/// Without the clock, moto answers `completed` and `available` at once and none of these states
/// is ever seen.
#[test]
fn the_bundled_failback_at_a_pace_waits_through_every_in_between_state() {
    let (moto, _) = seeded_moto();
    let pace = 600.0;
    let proxy = RealismProxy::timed(moto.port, Pace::Factor(pace), Vec::new());
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args([
        "run",
        "runbooks/failback.yaml",
        "--headless",
        "--auto-approve",
        "--endpoint-url",
        &proxy.endpoint_url(),
    ]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "the failback goes through every modelled wait");
    let (_, dir) = only_run(state.path());
    let entries = journal(&dir);
    let waits: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::SubStep { phase: SubPhase::Waiting, data, name, step, .. } => Some(format!("{step}/{name}: {data}")),
            _ => None,
        })
        .collect();
    let seen = |sub: &str, state: &str| waits.iter().any(|w| w.contains(sub) && w.contains(state));
    // Operations of two modelled minutes or more (a fifth of a second or more here): their state
    // is always seen. A shorter one's (a start: 33 ms) can end before a loaded machine's first
    // poll, so for those the tool is shown not to go on before AWS would (below).
    for (sub, state) in [
        ("app_server/wait-recovery-snapshots", " pending "),
        ("app_server/wait-primary-copies", " pending "),
        ("orders_db/wait-recovery-snapshot", "creating"),
        ("orders_db/wait-primary-copy", "copying"),
        ("orders_db/wait-primary-kept", "renaming"),
        ("orders_db/wait-restored", "creating"),
        ("orders_db/wait-rehearsal-removed", "deleting"),
        ("inventory_cluster/wait-primary-copy", "copying"),
        ("inventory_cluster/wait-restored", "creating"),
        ("inventory_cluster/wait-instances-available", "creating"),
        ("inventory_cluster/wait-cluster-kept", "renaming"),
        ("sessions_table/wait-export", "IN_PROGRESS"),
        ("sessions_table/wait-import", "IN_PROGRESS"),
    ] {
        assert!(seen(sub, state), "{sub} saw {state}:\n{}", waits.join("\n"));
    }
    // The short ones: from the call's answer to the end of its wait, at least the modelled time.
    let model = Model::bundled();
    for (step, operation, wait, modelled) in [
        ("install-permissions", "CreateStack", "wait-stack", "cloudformation.CreateStack"),
        ("failback-ec2", "StopInstances", "app_server/wait-primary-stopped", "ec2.StopInstances"),
        ("failback-ec2", "StartInstances", "app_server/wait-status-checks", "ec2.StartInstances"),
        ("failback-dynamodb", "CreateBackup", "sessions_table/wait-backup", "dynamodb.CreateBackup"),
        ("flip-dns", "ChangeResourceRecordSets", "wait-insync", "route53.ChangeResourceRecordSets"),
    ] {
        let took = call_to_wait_done(&entries, step, operation, wait);
        let floor = model.duration(modelled, 0.0).div_f64(pace);
        assert!(took + Duration::from_millis(2) >= floor, "{step} {wait}: {took:?} after {operation}, model {floor:?}");
    }
    // Progress moves: a snapshot's percentage is seen rising.
    let progress: Vec<u32> = waits
        .iter()
        .filter(|w| w.contains("app_server/wait-recovery-snapshots"))
        .filter_map(|w| w.split(" pending ").nth(1)?.split('%').next()?.parse().ok())
        .collect();
    assert!(progress.len() >= 2 && progress.windows(2).any(|p| p[1] > p[0]), "{progress:?}");

    // No chain finishes before AWS would have (a lower bound only: the machine may be slow).
    // The RDS failback snapshots recovery, copies it home and restores it, one after another;
    // the bundled runbook's rehearsal staged the database (its snapshot and copy are kept), so
    // the snapshot and the copy move the changed share.
    let gib = 20.0;
    let share = pilotlight::sandbox::realism::timing::CHANGED_SHARE;
    let chain = [
        ("rds.CreateDBSnapshot", gib * share),
        ("rds.CopyDBSnapshot", gib * share),
        ("rds.RestoreDBInstanceFromDBSnapshot", gib),
    ]
    .iter()
    .map(|(op, gib)| model.duration(op, *gib))
    .sum::<Duration>()
    .div_f64(pace);
    let took = sub_step_times(&entries);
    let rds: Duration = ["wait-recovery-snapshot", "wait-primary-copy", "wait-restored"]
        .iter()
        .map(|s| took[&format!("failback-rds/orders_db/{s}")])
        .sum();
    assert!(rds >= chain.mul_f64(0.95), "the RDS waits took {rds:?}, the model {chain:?}");
}

/// At `--pace 1` the model's short operations take their real time: a volume made from nothing is
/// `creating` for the model's 10 s (to the describe), an attach meanwhile is refused as AWS
/// refuses it, and it is `available` soon after (a real-time test of about ten seconds; the upper
/// bound is loose: the machine is shared).
#[test]
fn at_pace_one_a_short_operation_takes_its_modelled_real_time() {
    use super::support::{block_on, sdk};
    use std::time::Instant;
    let moto = super::support::moto();
    super::support::fresh_world(&moto, &[]);
    let proxy = RealismProxy::timed(moto.port, Pace::Factor(1.0), Vec::new());
    let modelled = Model::bundled().duration("ec2.CreateVolume", 8.0);
    assert!(modelled >= Duration::from_secs(5) && modelled <= Duration::from_secs(20), "{modelled:?}");
    let ec2 = aws_sdk_ec2::Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    block_on(async {
        let started = Instant::now();
        let made = ec2.create_volume().availability_zone("us-east-1a").size(8).send().await.unwrap();
        let id = made.volume_id().unwrap().to_string();
        let mut states = Vec::new();
        let mut refused = None;
        let became_available = loop {
            assert!(started.elapsed() < modelled + Duration::from_secs(10), "still {states:?}");
            match ec2.describe_volumes().volume_ids(&id).send().await {
                Ok(out) => {
                    let state = out.volumes()[0].state().unwrap().as_str().to_string();
                    if state == "available" {
                        break started.elapsed();
                    }
                    if refused.is_none() {
                        let instance = ec2
                            .run_instances()
                            .image_id("ami-760aaa0f")
                            .min_count(1)
                            .max_count(1)
                            .send()
                            .await
                            .unwrap();
                        let instance = instance.instances()[0].instance_id().unwrap().to_string();
                        let attach = ec2.attach_volume().volume_id(&id).instance_id(instance).device("/dev/sdf");
                        refused =
                            Some(attach.send().await.unwrap_err().into_service_error().meta().code().map(String::from));
                    }
                    states.push(state);
                }
                // EC2's eventual consistency: the first describe of a new id may miss it.
                Err(e) => states.push(format!("{:?}", e.into_service_error().meta().code())),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(states.iter().any(|s| s == "creating"), "{states:?}");
        assert_eq!(refused, Some(Some("IncorrectState".to_string())), "an attach while creating is refused");
        assert!(became_available >= modelled, "available after {became_available:?}, modelled {modelled:?}");
        assert!(became_available < modelled + Duration::from_secs(3), "available after {became_available:?}");
    });
}

/// A run killed during a long modelled wait (the RDS failback's cross-region copy, 14 modelled
/// minutes) resumes onto the same copy: it waits for the snapshot it already asked for, no copy
/// is asked for twice, and the run ends as an uninterrupted one does.
#[test]
fn a_run_killed_in_a_long_modelled_wait_resumes_onto_the_same_copy() {
    use super::support::{recorded, wait_for_journal};
    use pilotlight::sandbox::moto_api;
    let (moto, _) = seeded_moto();
    let proxy = RealismProxy::timed(moto.port, Pace::Factor(120.0), Vec::new());
    moto_api::start_recording(moto.port).unwrap();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/rds-failback.yaml", "--headless", "--auto-approve"])
        .args(["--endpoint-url", &proxy.endpoint_url()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let dir = wait_for_journal(state.path(), "the wait for the copy", |entries| {
        entries.iter().any(|e| {
            matches!(&e.event, Event::SubStep { name, phase: SubPhase::Waiting, .. } if name.to_string().ends_with("wait-primary-copy"))
        })
    });
    child.kill().unwrap(); // SIGKILL, mid-wait: the copy is still `copying` (14 modelled minutes, 7 s here)
    child.wait().unwrap();
    let id = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut resume = pilotlight(state.path());
    resume.args(["resume", &id, "--headless", "--auto-approve"]);
    let out = run(resume);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "the resumed run finishes");
    let copies = recorded(moto.port).into_iter().filter(|r| r.operation == "CopyDBSnapshot").count();
    assert_eq!(copies, 1, "the copy was asked for once, across both processes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.contains("wait-primary-copy: waiting") && l.contains("copying")),
        "the resume waited for the copy under way: {stdout}"
    );
}

/// A deleted RDS instance is `deleting` for the model's six minutes (here at 60×, six seconds):
/// moto forgets it at once, the layer describes it as AWS does, and its identifier stays taken
/// (a rename into it is refused with DBInstanceAlreadyExists) until the delete is done.
#[test]
fn a_deleted_instance_is_deleting_and_its_identifier_taken_for_the_modelled_time() {
    use super::support::{block_on, postgres, sdk};
    let moto = super::support::moto();
    super::support::fresh_world(&moto, &[]);
    let proxy = RealismProxy::timed(moto.port, Pace::Factor(60.0), Vec::new());
    let direct = aws_sdk_rds::Client::new(&sdk(&moto.endpoint_url(), "us-east-1"));
    let rds = aws_sdk_rds::Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    block_on(async {
        for id in ["doomed", "other"] {
            postgres(&direct, id).send().await.unwrap();
        }
        rds.delete_db_instance().db_instance_identifier("doomed").skip_final_snapshot(true).send().await.unwrap();
        let described = rds.describe_db_instances().db_instance_identifier("doomed").send().await.unwrap();
        assert_eq!(described.db_instances()[0].db_instance_status(), Some("deleting"));
        let bare = direct.describe_db_instances().db_instance_identifier("doomed").send().await;
        assert!(bare.is_err(), "moto itself has forgotten it");
        let rename = rds
            .modify_db_instance()
            .db_instance_identifier("other")
            .new_db_instance_identifier("doomed")
            .apply_immediately(true)
            .send()
            .await
            .unwrap_err();
        assert_eq!(rename.into_service_error().meta().code(), Some("DBInstanceAlreadyExists"));
    });
}

/// A deleted DynamoDB table is `DELETING` for the model's minute (here at 20×, three seconds): moto
/// forgets it at once, the layer describes it as AWS does, and no table of its name can be made
/// meanwhile (CreateTable refused with ResourceInUseException); once the delete is done, DescribeTable
/// says it is gone and the name is free.
#[test]
fn a_deleted_table_is_deleting_and_its_name_taken_for_the_modelled_time() {
    use super::support::{block_on, sdk};
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let moto = super::support::moto();
    super::support::fresh_world(&moto, &[]);
    let proxy = RealismProxy::timed(moto.port, Pace::Factor(20.0), Vec::new());
    let direct = aws_sdk_dynamodb::Client::new(&sdk(&moto.endpoint_url(), "us-east-1"));
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    let create = |client: &aws_sdk_dynamodb::Client| {
        client
            .create_table()
            .table_name("doomed")
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
    };
    block_on(async {
        create(&direct).send().await.unwrap();
        ddb.delete_table().table_name("doomed").send().await.unwrap();
        let described = ddb.describe_table().table_name("doomed").send().await.unwrap();
        assert_eq!(described.table().and_then(|t| t.table_status()).map(|s| s.as_str()), Some("DELETING"));
        assert!(direct.describe_table().table_name("doomed").send().await.is_err(), "moto itself has forgotten it");
        let again = create(&ddb).send().await.unwrap_err();
        assert_eq!(again.into_service_error().meta().code(), Some("ResourceInUseException"));
        tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
        assert!(ddb.describe_table().table_name("doomed").send().await.is_err(), "gone after the modelled minute");
        create(&ddb).send().await.expect("the name is free again");
    });
}

/// Catches a model that takes a snapshot or a copy for incremental because the volume was once
/// snapshotted there, though that snapshot was deleted since (a rehearsal removes its copies: on
/// AWS the failback's copy is then full), and one that never takes it for incremental.
#[test]
fn a_snapshot_or_copy_is_incremental_only_while_an_earlier_one_of_its_volume_exists_there() {
    let (moto, _) = seeded_moto();
    let proxy = RealismProxy::timed(moto.port, Pace::Factor(6000.0), Vec::new());
    let (west, east) = (
        super::support::sdk(&proxy.endpoint_url(), "us-west-2"),
        super::support::sdk(&proxy.endpoint_url(), "us-east-1"),
    );
    let (recovery, primary) = (aws_sdk_ec2::Client::new(&west), aws_sdk_ec2::Client::new(&east));
    let model = Model::bundled();
    let settle = || std::thread::sleep(Duration::from_millis(300));
    super::support::block_on(async {
        let vols = recovery.describe_volumes().send().await.unwrap();
        let vol = &vols.volumes()[0];
        let (volume, gib) = (vol.volume_id().unwrap().to_string(), f64::from(vol.size().unwrap()));
        let modelled = |region: &str, id: &str| pilotlight::sandbox::realism::timing::modelled(moto.port, region, id);
        let snap = || async {
            recovery.create_snapshot().volume_id(&volume).send().await.unwrap().snapshot_id().unwrap().to_string()
        };
        let primary = &primary;
        let copy = |from: String| async move {
            let req = primary.copy_snapshot().source_region("us-west-2").source_snapshot_id(from);
            req.send().await.unwrap().snapshot_id().unwrap().to_string()
        };
        let full = |op: &str| model.duration(op, gib);
        let part = |op: &str| model.duration(op, gib * pilotlight::sandbox::realism::timing::CHANGED_SHARE);

        let first = snap().await;
        assert_eq!(modelled("us-west-2", &first), Some(full("ec2.CreateSnapshot")), "the first is full");
        settle();
        let second = snap().await;
        assert_eq!(modelled("us-west-2", &second), Some(part("ec2.CreateSnapshot")), "the next is incremental");
        settle();
        let copied = copy(second.clone()).await;
        assert_eq!(modelled("us-east-1", &copied), Some(full("ec2.CopySnapshot")), "no earlier copy in primary");
        settle();
        let again = copy(second.clone()).await;
        assert_eq!(modelled("us-east-1", &again), Some(part("ec2.CopySnapshot")), "an earlier copy is there");
        settle();
        for id in [&copied, &again] {
            primary.delete_snapshot().snapshot_id(id.as_str()).send().await.unwrap();
        }
        for id in [&first, &second] {
            recovery.delete_snapshot().snapshot_id(id.as_str()).send().await.unwrap();
        }
        let third = snap().await;
        assert_eq!(modelled("us-west-2", &third), Some(full("ec2.CreateSnapshot")), "every earlier one deleted");
        settle();
        let last = copy(third).await;
        assert_eq!(modelled("us-east-1", &last), Some(full("ec2.CopySnapshot")), "the earlier copies deleted");
    });
}

/// A drill's world may give tables and Aurora clusters a size moto does not hold: the table then
/// reports it, its export is timed at it, each item a scan reads or a batch writes stands for its
/// share of it (at a partition's rate), and an Aurora cluster snapshot is timed at the cluster's.
#[test]
fn a_world_with_data_sizes_times_tables_and_clusters_at_them() {
    use pilotlight::sandbox::realism::timing::{Clock, DataSizes, modelled};
    let (moto, _) = seeded_moto();
    let sizes = DataSizes { table_gib: Some(50.0), aurora_gib: Some(1024.0) };
    let clock = Clock { pace: Pace::Factor(1_000_000.0), sizes, ..Clock::default() };
    let proxy = RealismProxy::timed_with_clock(moto.port, clock, Vec::new());
    let url = proxy.endpoint_url();
    let (west, east) = (super::support::sdk(&url, "us-west-2"), super::support::sdk(&url, "us-east-1"));
    let model = Model::bundled();
    let table = pilotlight::sandbox::seed::DYNAMODB_TABLE;
    super::support::block_on(async {
        let ddb = aws_sdk_dynamodb::Client::new(&west);
        let t = ddb.describe_table().table_name(table).send().await.unwrap();
        let t = t.table().unwrap();
        assert_eq!(t.table_size_bytes(), Some(50 << 30), "the table reports the world's size");
        let items = t.item_count().unwrap() as f64;

        let all = ddb.scan().table_name(table).send().await.unwrap();
        assert_eq!(all.count() as f64, items);
        let scanned = |what: &str| modelled(moto.port, "us-west-2", &format!("{what} {table}"));
        assert_eq!(scanned("Scan"), Some(model.duration("dynamodb.Scan", 50.0)), "the whole table read");
        ddb.scan().table_name(table).limit(5).send().await.unwrap();
        assert_eq!(scanned("Scan"), Some(model.duration("dynamodb.Scan", 50.0 * 5.0 / items)), "a fifth of it");

        let puts: Vec<_> = (0..4)
            .map(|n| {
                let item = [("pk".to_string(), aws_sdk_dynamodb::types::AttributeValue::S(format!("new-{n}")))];
                let put = aws_sdk_dynamodb::types::PutRequest::builder().set_item(Some(item.into_iter().collect()));
                aws_sdk_dynamodb::types::WriteRequest::builder().put_request(put.build().unwrap()).build()
            })
            .collect();
        ddb.batch_write_item().request_items(table, puts).send().await.unwrap();
        // An item stands for its share of the table as moto held it when first timed: four of
        // `items`, however many the write leaves.
        let written = model.duration("dynamodb.BatchWriteItem", 50.0 * 4.0 / items);
        assert_eq!(scanned("BatchWriteItem"), Some(written));

        let arn = t.table_arn().unwrap();
        let bucket = pilotlight::sandbox::seed::STAGING_BUCKET;
        let export = ddb.export_table_to_point_in_time().table_arn(arn).s3_bucket(bucket).s3_prefix("sized");
        let export = export.export_format(aws_sdk_dynamodb::types::ExportFormat::DynamodbJson).send().await.unwrap();
        let export = export.export_description().unwrap().export_arn().unwrap().to_string();
        let export_time = model.duration("dynamodb.ExportTableToPointInTime", 50.0);
        assert_eq!(modelled(moto.port, "us-west-2", &export), Some(export_time), "the export at the world's size");

        let rds = aws_sdk_rds::Client::new(&east);
        let req = rds
            .create_db_cluster_snapshot()
            .db_cluster_identifier(pilotlight::sandbox::seed::AURORA_CLUSTER)
            .db_cluster_snapshot_identifier("sized");
        req.send().await.unwrap();
        let snapshot_time = model.duration("rds.CreateDBClusterSnapshot", 1024.0);
        assert_eq!(modelled(moto.port, "us-east-1", "sized"), Some(snapshot_time), "the cluster at the world's size");
    });
}

//! A staged failback in two runs (`pilotlight run --phase stage`, then `--phase cut-over`): the
//! stage run disrupts nothing and keeps its copies; the cut-over run skips the stage steps, its
//! copies move only what changed since, and a kill after any of its journal entries resumes to
//! the same end state. Checked with describe calls to moto itself and the realism layer's record
//! of what it modelled.

use super::realism::Model;
use super::support::{
    Kill, action_notes, block_on, journal, kill_at_every_point_of_a_cut_over, only_run, own_snapshots, pilotlight,
    resource_outputs, run, run_fixture, sdk, seeded_moto, state_dir,
};
use aws_sdk_rds::Client;
use pilotlight::journal::{Event, StepStatus};
use pilotlight::sandbox::realism::timing::{CHANGED_SHARE, modelled};
use pilotlight::sandbox::seed::Part;
use serde_json::Value;
use std::path::Path;

const RDS_STAGED: &str = "tests/fixtures/rds-staged.yaml";
const CUT_OVER: &str = "tests/fixtures/cut-over.yaml";

/// A step's status in the run at `dir`, and its reason, as the one reducer replays the journal.
fn status_of(dir: &Path, step: &str) -> (StepStatus, Option<String>) {
    let state = pilotlight::journal::RunState::replay(&journal(dir));
    let found = state.steps.get(step).map(|s| (s.status, s.reason.clone()));
    found.unwrap_or_else(|| panic!("no status for {step}"))
}

/// Primary's DB instances: identifier and status, in order.
fn primary_dbs(url: &str) -> Vec<(String, String)> {
    let rds = Client::new(&sdk(url, "us-east-1"));
    let out = block_on(rds.describe_db_instances().send()).expect("DescribeDBInstances");
    let mut dbs: Vec<(String, String)> = out
        .db_instances()
        .iter()
        .map(|d| {
            (
                d.db_instance_identifier().unwrap_or_default().to_string(),
                d.db_instance_status().unwrap_or_default().into(),
            )
        })
        .collect();
    dbs.sort();
    dbs
}

/// Catches a stage run that runs a cut-over step (primary renamed, a restore), one that leaves
/// nothing staged, a cut-over run that rehearses again, and a cut-over whose copy is full though
/// the stage run's copy is in primary's region.
#[test]
fn a_stage_run_disrupts_nothing_and_the_cut_over_run_copies_only_what_changed() {
    let (moto, proxy) = super::rds_staging::orders_db_both_sides(CHANGED_SHARE);
    let url = moto.endpoint_url();
    let before = primary_dbs(&url);

    let (stage, out) = run_fixture(RDS_STAGED, &["--phase", "stage"], &proxy.endpoint_url());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (_, stage_dir) = only_run(stage.path());
    assert_eq!(status_of(&stage_dir, "test-failback").0, StepStatus::Succeeded);
    let (skipped, why) = status_of(&stage_dir, "failback-rds");
    assert_eq!(skipped, StepStatus::Skipped);
    assert!(why.as_deref().is_some_and(|w| w.contains("not in a stage run")), "{why:?}");
    assert_eq!(primary_dbs(&url), before, "the stage run renamed or restored nothing in primary");
    let staged = resource_outputs(&stage_dir, "test-failback", "orders_db");
    assert_eq!(staged["retained"].as_array().map(Vec::len), Some(2), "the snapshot and its copy are kept: {staged}");

    let (cut, out) = run_fixture(RDS_STAGED, &["--phase", "cut-over"], &proxy.endpoint_url());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (_, cut_dir) = only_run(cut.path());
    let (skipped, why) = status_of(&cut_dir, "test-failback");
    assert_eq!(skipped, StepStatus::Skipped, "the cut-over does not rehearse again");
    assert!(why.as_deref().is_some_and(|w| w.contains("cut-over run")), "{why:?}");
    assert_eq!(status_of(&cut_dir, "failback-rds").0, StepStatus::Succeeded);
    let copy = resource_outputs(&cut_dir, "failback-rds", "orders_db");
    let copy = copy["primary_snapshot"].as_str().expect("the failback's copy");
    let model = Model::bundled();
    let changed = model.duration("rds.CopyDBSnapshot", 100.0 * CHANGED_SHARE);
    assert_eq!(modelled(moto.port, "us-east-1", copy), Some(changed), "the cut-over's copy is incremental");
    let after = primary_dbs(&url);
    assert_eq!(after.len(), 2, "restored under the original name, the original kept: {after:?}");
    assert!(after.iter().any(|(id, _)| id == "orders-db"));
}

/// `--phase` on a runbook with no step of that phase is refused before any run starts: it would
/// run the whole runbook (or nothing) where the operator meant one phase.
#[test]
fn a_phase_the_runbook_does_not_have_is_refused_before_a_run_starts() {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    // No AWS call is made: nothing listens on this port.
    let args = ["tests/fixtures/ec2-failback.yaml", "--phase", "stage", "--headless", "--auto-approve"];
    cmd.args(["run"]).args(args).args(["--endpoint-url", "http://127.0.0.1:9"]);
    let out = run(cmd);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--phase stage: runbook `ec2-failback` has no `phase: stage` step, so it has no phases"),
        "{err}"
    );
    assert!(!state.path().join("runs").exists() || std::fs::read_dir(state.path().join("runs")).unwrap().count() == 0);
}

/// What a cut-over leaves, as shapes and counts (ids differ between worlds): primary's
/// application server (state, and how many of its volumes a failback made), primary's and
/// recovery's volumes and own snapshots by `pilotlight:stage`, recovery's worker, and primary's
/// DB instances (the kept original counted, not named) with their snapshots.
#[derive(Debug, PartialEq)]
struct CutOverEnd {
    app_server: (String, usize),
    worker: String,
    volumes: Vec<(String, String, usize)>,
    snapshots: (usize, usize),
    dbs: Vec<(String, String)>,
    db_snapshots: (usize, usize),
}

fn cut_over_end(url: &str) -> CutOverEnd {
    let (p, r) = (aws_sdk_ec2::Client::new(&sdk(url, "us-east-1")), aws_sdk_ec2::Client::new(&sdk(url, "us-west-2")));
    let instance = |ec2: &aws_sdk_ec2::Client, name: &str| {
        let tag = aws_sdk_ec2::types::Filter::builder().name("tag:Name").values(name).build();
        let out = block_on(ec2.describe_instances().filters(tag).send()).expect("DescribeInstances");
        let i = out.reservations()[0].instances()[0].clone();
        let volumes: Vec<String> =
            i.block_device_mappings().iter().filter_map(|m| m.ebs()?.volume_id().map(str::to_string)).collect();
        (i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default(), volumes)
    };
    let (app_state, attached) = instance(&p, "app-server");
    let (worker, _) = instance(&r, "worker");
    let stage_of = |v: &aws_sdk_ec2::types::Volume| {
        let tag = v.tags().iter().find(|t| t.key() == Some("pilotlight:stage"));
        tag.and_then(|t| t.value()).unwrap_or("-").to_string()
    };
    let vols = block_on(p.describe_volumes().send()).expect("DescribeVolumes");
    let attached_made = vols
        .volumes()
        .iter()
        .filter(|v| attached.iter().any(|a| Some(a.as_str()) == v.volume_id()) && stage_of(v) != "-")
        .count();
    let mut volumes: Vec<(String, String, usize)> = Vec::new();
    for v in vols.volumes() {
        let (stage, state) = (stage_of(v), v.state().map(|s| s.as_str().to_string()).unwrap_or_default());
        match volumes.iter_mut().find(|(s, st, _)| *s == stage && *st == state) {
            Some(row) => row.2 += 1,
            None => volumes.push((stage, state, 1)),
        }
    }
    volumes.sort();
    let manual = |region: &str| {
        let rds = Client::new(&sdk(url, region));
        let out = block_on(rds.describe_db_snapshots().snapshot_type("manual").send()).expect("DescribeDBSnapshots");
        out.db_snapshots().len()
    };
    let dbs = primary_dbs(url)
        .into_iter()
        .map(|(id, status)| (if id.starts_with("orders-db-pre-failback-") { "kept".into() } else { id }, status))
        .collect();
    CutOverEnd {
        app_server: (app_state, attached_made),
        worker,
        volumes,
        snapshots: (block_on(own_snapshots(&p)), block_on(own_snapshots(&r))),
        dbs,
        db_snapshots: (manual("us-east-1"), manual("us-west-2")),
    }
}

/// A kill after any journal entry of a cut-over (one of each class; every entry in CI's
/// exhaustive run), with the stage run's snapshots and copies in both regions, then a resume:
/// the same end state. Catches a resume that takes a staged copy for its own (they differ only
/// by run and stage tags) or repeats a stop, rename or restore.
#[test]
fn a_kill_after_any_journal_entry_of_a_cut_over_resumes_to_the_same_end_state() {
    let stage = [CUT_OVER, "--phase", "stage"];
    let cut_over = [CUT_OVER, "--phase", "cut-over"];
    let parts = [Part::Ec2, Part::Rds];
    let killed = kill_at_every_point_of_a_cut_over(&parts, &stage, &cut_over, 2, Kill::AfterEveryEntry, cut_over_end);
    assert!(killed.points > 40, "a cut-over journals the fence's and both failbacks' sub-steps ({killed:?})");
}

/// The `staged` preflight findings of the run at `dir`, per resource: verdict and why.
fn staged_checks(dir: &Path) -> Vec<(String, pilotlight::journal::Verdict, String)> {
    let mut found: Vec<(String, pilotlight::journal::Verdict, String)> = journal(dir)
        .into_iter()
        .filter_map(|e| match e.event {
            Event::PreflightChecked { checks, .. } => Some(checks),
            _ => None,
        })
        .flatten()
        .filter(|c| c.rule == "staged")
        .map(|c| (c.resource, c.verdict, c.why))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Catches a cut-over that finds nothing staged and says nothing, before its gate or before it
/// copies (its copies are full, and the window holds all of them), and one that names as staged
/// what is not a kept rehearsal copy of that device in primary.
#[test]
fn a_cut_over_says_what_it_found_staged_and_that_a_copy_without_it_is_full() {
    let (_moto, url) = seeded_moto();
    let (cut, out) = run_fixture(CUT_OVER, &["--phase", "cut-over"], &url);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (_, dir) = only_run(cut.path());
    let staged = resource_outputs(&dir, "failback-ec2", "app_server")["staged"].clone();
    let devices = staged.as_object().expect("per device");
    assert!(!devices.is_empty() && devices.values().all(Value::is_null), "nothing was staged: {staged}");
    let notes = action_notes(cut.path());
    let full = notes.iter().filter(|n| n.contains("nothing staged in us-east-1") && n.contains("the copy is full"));
    assert_eq!(full.count(), devices.len() + 1, "each volume and the database: {notes:?}");
    assert_eq!(resource_outputs(&dir, "failback-rds", "orders_db")["staged"], Value::Null);
    let before_the_gate = staged_checks(&dir);
    let names: Vec<&str> = before_the_gate.iter().map(|(r, _, _)| r.as_str()).collect();
    assert_eq!(names, ["app_server", "orders_db"], "{before_the_gate:?}");
    for (resource, verdict, why) in &before_the_gate {
        assert_eq!(*verdict, pilotlight::journal::Verdict::Warn, "{resource}: {why}");
        assert!(why.contains("nothing staged in us-east-1") && why.contains("GiB"), "{resource}: {why}");
    }

    let (_moto, url) = seeded_moto();
    let (stage, out) = run_fixture(CUT_OVER, &["--phase", "stage"], &url);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    drop(stage);
    let (cut, out) = run_fixture(CUT_OVER, &["--phase", "cut-over"], &url);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (_, dir) = only_run(cut.path());
    let staged = resource_outputs(&dir, "failback-ec2", "app_server")["staged"].clone();
    let ec2 = aws_sdk_ec2::Client::new(&sdk(&url, "us-east-1"));
    for (device, id) in staged.as_object().expect("per device") {
        let id = id.as_str().unwrap_or_else(|| panic!("{device} was staged: {staged}"));
        let snap = block_on(ec2.describe_snapshots().snapshot_ids(id).send()).expect("DescribeSnapshots");
        let tags: std::collections::BTreeMap<&str, &str> =
            snap.snapshots()[0].tags().iter().filter_map(|t| Some((t.key()?, t.value()?))).collect();
        assert_eq!(tags.get("pilotlight:stage"), Some(&"rehearsal-copy"), "{id}: {tags:?}");
        assert_eq!(tags.get("pilotlight:device"), Some(&device.as_str()), "{id}: {tags:?}");
    }
    let db_copy = resource_outputs(&dir, "failback-rds", "orders_db")["staged"]
        .as_str()
        .expect("the database was staged")
        .to_string();
    let rds = Client::new(&sdk(&url, "us-east-1"));
    let snap =
        block_on(rds.describe_db_snapshots().db_snapshot_identifier(&db_copy).send()).expect("DescribeDBSnapshots");
    let tags: Vec<(&str, &str)> =
        snap.db_snapshots()[0].tag_list().iter().filter_map(|t| Some((t.key()?, t.value()?))).collect();
    assert!(tags.contains(&("pilotlight:stage", "rehearsal-copy")), "{db_copy}: {tags:?}");
    let notes = action_notes(cut.path());
    assert!(notes.iter().any(|n| n.contains("staged copy snap-") && n.contains("only what changed")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains(&format!("staged copy {db_copy}"))), "{notes:?}");
    for (resource, verdict, why) in staged_checks(&dir) {
        assert_eq!(verdict, pilotlight::journal::Verdict::Pass, "{resource}: {why}");
        assert!(why.contains("only what changed"), "{resource}: {why}");
    }
}

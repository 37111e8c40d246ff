//! The realism layer's faults by kind ([`super::realism::faults`]), each met by the EC2 failback
//! of the worker (three volumes) and handled: made again, forced, waited out, or a clear failure
//! naming the fault with primary left as it was. Checked with describes straight to moto and
//! moto's own record of the requests it served.

use super::realism::{FaultKind, FaultSpec, RealismProxy};
use super::support::{action_notes, fresh_world, journal, moto, only_run, pilotlight, recorded, run, sdk, state_dir};
use pilotlight::journal::{CallOutcome, Event};
use pilotlight::sandbox::moto_api;
use pilotlight::sandbox::seed::Part;
use std::sync::atomic::Ordering;

/// Fails back the worker through `proxy` with `env` set; its state directory and output.
fn failback(proxy: &RealismProxy, env: &[(&str, &str)]) -> (tempfile::TempDir, std::process::Output) {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/ec2-failback.yaml", "--var", "which=worker", "--headless", "--auto-approve"])
        .args(["--endpoint-url", &proxy.endpoint_url()]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    (state, run(cmd))
}

/// The primary worker's state and its volumes' ids, read straight from moto.
fn primary_worker(url: &str) -> (String, Vec<String>) {
    let ec2 = aws_sdk_ec2::Client::new(&sdk(url, "us-east-1"));
    super::support::block_on(async {
        let out = ec2
            .describe_instances()
            .filters(aws_sdk_ec2::types::Filter::builder().name("tag:Name").values("worker").build())
            .send()
            .await
            .unwrap();
        let inst = out.reservations()[0].instances()[0].clone();
        let state = inst.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default();
        let mut vols: Vec<String> = inst
            .block_device_mappings()
            .iter()
            .filter_map(|m| m.ebs().and_then(|e| e.volume_id()).map(str::to_string))
            .collect();
        vols.sort();
        (state, vols)
    })
}

fn with(kind: FaultKind, operation: &str) -> FaultSpec {
    FaultSpec { operation: Some(operation.into()), resource: Some("us-east-1".into()), ..FaultSpec::of(kind) }
}

/// A copy into primary that ends in `error` holds nothing: the tool copies again (journaled) and
/// the failback goes on. Moto served four copies for three volumes; the failed one stays
/// described as `error` (left for the operator to remove; it holds no data).
#[test]
fn a_copy_that_ends_in_error_is_made_again() {
    let moto = moto();
    fresh_world(&moto, &[Part::Ec2]);
    let proxy = RealismProxy::with_faults(moto.port, &[FaultSpec::of(FaultKind::CopyError)]);
    moto_api::start_recording(moto.port).unwrap();
    let (state, out) = failback(&proxy, &[]);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "the failback copies again and finishes");
    assert_eq!(proxy.faults.load(Ordering::SeqCst), 1);
    let copies = recorded(moto.port).into_iter().filter(|r| r.operation == "CopySnapshot").count();
    assert_eq!(copies, 4, "three volumes, one copied twice");
    assert!(action_notes(state.path()).iter().any(|n| n.contains("failed") && n.contains("copying again (2 of 3)")));
    let ec2 = aws_sdk_ec2::Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    let errored = super::support::block_on(async {
        let out = ec2.describe_snapshots().owner_ids("self").send().await.unwrap();
        out.snapshots().iter().filter(|s| s.state().is_some_and(|x| x.as_str() == "error")).count()
    });
    assert_eq!(errored, 1, "the failed copy is still described as error");
}

/// An instance that hangs in `stopping` is force-stopped after `force_stop_after` (ten minutes;
/// six seconds at the tests' pause scale), journaled with why, and the failback finishes.
#[test]
fn an_instance_stuck_stopping_is_forced() {
    let moto = moto();
    fresh_world(&moto, &[Part::Ec2]);
    let proxy = RealismProxy::with_faults(moto.port, &[with(FaultKind::HangStopping, "ec2.StopInstances")]);
    moto_api::start_recording(moto.port).unwrap();
    let (state, out) = failback(&proxy, &[]);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "the forced stop ends the hang");
    assert!(
        action_notes(state.path()).iter().any(|n| n.contains("still stopping after") && n.contains("forcing the stop"))
    );
    let stops: Vec<String> =
        recorded(moto.port).into_iter().filter(|r| r.operation == "StopInstances").map(|r| r.body).collect();
    assert_eq!(stops.len(), 2, "{stops:?}");
    assert!(!stops[0].contains("Force=true") && stops[1].contains("Force=true"), "{stops:?}");
}

/// A fault the tool cannot get past fails the step naming AWS's error, with primary as it was:
/// no capacity for a volume, a permission removed.
#[test]
fn faults_that_cannot_be_got_past_fail_clearly_with_primary_untouched() {
    let cases = [
        (with(FaultKind::InsufficientCapacity, "ec2.CreateVolume"), "InsufficientVolumeCapacity"),
        (FaultSpec { count: None, ..with(FaultKind::PermissionRemoved, "ec2.StopInstances") }, "UnauthorizedOperation"),
    ];
    for (spec, code) in cases {
        let moto = moto();
        fresh_world(&moto, &[Part::Ec2]);
        let before = primary_worker(&moto.endpoint_url());
        let proxy = RealismProxy::with_faults(moto.port, std::slice::from_ref(&spec));
        let (state, out) = failback(&proxy, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{} fails the run", spec.describe());
        assert!(stdout.contains("FAILED") && stdout.contains(code), "{code} named: {stdout}");
        assert_eq!(primary_worker(&moto.endpoint_url()), before, "primary as it was after {}", spec.describe());
        let (_, dir) = only_run(state.path());
        let errors = journal(&dir)
            .iter()
            .filter(|e| matches!(&e.event, Event::AwsCall { outcome: CallOutcome::Error, message: Some(m), .. } if m.contains(code)))
            .count();
        assert!(errors >= 1, "the refusal is journaled");
    }
}

/// An answer that comes after the tool's attempt timeout (1.5 s here, 60 s by default): the
/// volume was made, the tool never heard. The next attempt finds it by its client token: moto
/// made three volumes for three, not four.
#[test]
fn an_answer_past_the_attempt_timeout_is_not_made_twice() {
    let moto = moto();
    fresh_world(&moto, &[Part::Ec2]);
    let late = FaultSpec { delay_s: Some(4.0), ..with(FaultKind::DelayedAnswer, "ec2.CreateVolume") };
    let proxy = RealismProxy::with_faults(moto.port, &[late]);
    moto_api::start_recording(moto.port).unwrap();
    let timeout = pilotlight::aws::envs::ATTEMPT_TIMEOUT_ENV;
    let (state, out) = failback(&proxy, &[(timeout, "1.5")]);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "the late answer is found out, not repeated");
    assert_eq!(proxy.faults.load(Ordering::SeqCst), 1);
    let made = recorded(moto.port).into_iter().filter(|r| r.operation == "CreateVolume").count();
    assert_eq!(made, 3, "no volume made twice");
    let (_, dir) = only_run(state.path());
    let unanswered = journal(&dir)
        .iter()
        .filter(|e| matches!(&e.event, Event::AwsCall { operation, outcome: CallOutcome::Error, .. } if operation == "CreateVolume"))
        .count();
    assert_eq!(unanswered, 1, "the timed-out call is journaled as such");
}

/// A KMS key EC2 cannot use fails an encrypted copy asynchronously: the copy call is accepted and
/// the copy ends in `error`, the reason in its StateMessage (EC2 API reference, Snapshot
/// StateMessage). The tool copies again, three times, then fails the step with EC2's reason;
/// primary is as it was.
#[test]
fn a_disabled_kms_key_fails_each_copy_and_then_the_step_with_ec2s_reason() {
    let moto = moto();
    fresh_world(&moto, &[Part::Ec2]);
    let before = primary_worker(&moto.endpoint_url());
    let disabled = FaultSpec { count: Some(1000), ..with(FaultKind::KmsDisabled, "ec2.CopySnapshot") };
    let proxy = RealismProxy::with_faults(moto.port, &[disabled]);
    let (state, out) = failback(&proxy, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "the copies cannot succeed");
    assert!(
        stdout.contains("FAILED") && stdout.contains("KMS key used to encrypt the snapshot copy is disabled"),
        "{stdout}"
    );
    assert!(action_notes(state.path()).iter().any(|n| n.contains("copying again (3 of 3)")), "copied again first");
    assert_eq!(primary_worker(&moto.endpoint_url()), before, "primary as it was");
}

//! AWS's limits in the realism layer ([`super::realism::limits`]): request rates as token buckets
//! per API family, and the snapshot copies in flight to one destination region.

use super::realism::{Limits, Pace, RealismProxy};
use super::support::{fresh_world, journal, moto, only_run, pilotlight, recorded, run, state_dir};
use pilotlight::journal::{CallOutcome, Event};
use pilotlight::sandbox::moto_api;
use pilotlight::sandbox::seed::Part;
use std::sync::atomic::Ordering;

/// Fails back the EC2 instance `which` through `proxy`: its state directory and output.
fn failback(proxy: &RealismProxy, which: &str) -> (tempfile::TempDir, std::process::Output) {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/ec2-failback.yaml", "--var", &format!("which={which}"), "--headless"]).args([
        "--auto-approve",
        "--endpoint-url",
        &proxy.endpoint_url(),
    ]);
    let out = run(cmd);
    (state, out)
}

/// The journaled calls of `operation` refused with `code`.
fn refused(state: &std::path::Path, operation: &str, code: &str) -> usize {
    let (_, dir) = only_run(state);
    journal(&dir)
        .iter()
        .filter(|e| {
            matches!(&e.event, Event::AwsCall { operation: op, outcome: CallOutcome::Error, message: Some(m), .. }
                if op == operation && m.contains(code))
        })
        .count()
}

/// EC2's describes of instances, volumes and snapshots share a bucket of three, refilled at five
/// a second: the failback's waits empty it and AWS answers `RequestLimitExceeded`. The SDK's
/// retries and the tool's own pauses absorb it: the failback ends in one attempt.
#[test]
fn a_throttled_failback_absorbs_an_empty_bucket_in_one_attempt() {
    let moto = moto();
    fresh_world(&moto, &[Part::Ec2]);
    let limits = Limits::bundled().with_bucket("ec2_unfiltered_unpaginated_describe", 3.0, 5.0);
    let proxy = RealismProxy::limited(moto.port, Pace::Instant, limits);
    let (state, out) = failback(&proxy, "worker");
    assert_eq!(out.status.code(), Some(0), "the failback goes through the throttling");
    assert!(proxy.throttled.load(Ordering::SeqCst) > 0, "the bucket ran empty");
    let (_, dir) = only_run(state.path());
    let attempts = journal(&dir).iter().filter(|e| matches!(e.event, Event::ActionStarted { .. })).count();
    assert_eq!(attempts, 1, "no attempt failed on throttling");
}

/// At most one EBS snapshot copy in flight to a region (AWS allows 20): the worker's three copies
/// (a modelled eight minutes each) meet `ResourceLimitExceeded`; the tool sends each refused copy
/// again as a slot frees, and never has two in flight. Before, the first refusal failed the step.
#[test]
fn a_copy_quota_is_waited_out_one_copy_at_a_time() {
    let moto = moto();
    fresh_world(&moto, &[Part::Ec2]);
    let limits = Limits::bundled().with_copy_quota("ec2.CopySnapshot", 1);
    let proxy = RealismProxy::limited(moto.port, Pace::Factor(600.0), limits);
    moto_api::start_recording(moto.port).unwrap();
    let (state, out) = failback(&proxy, "worker");
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "the failback waits for copy slots");
    assert!(refused(state.path(), "CopySnapshot", "ResourceLimitExceeded") > 0, "the quota was met");
    let copies = recorded(moto.port).into_iter().filter(|r| r.operation == "CopySnapshot").count();
    assert_eq!(copies, 3, "each volume copied once: only accepted copies reach moto");
}

/// The benchmark's proxy (bench/README.md): every AWS call waits the clock's latency before it
/// is forwarded (a lower bound, never a timing of the tool), and the proxy counts the calls per
/// operation until told to count afresh.
#[test]
fn the_benchmark_proxy_adds_latency_to_every_call_and_counts_them() {
    use pilotlight::sandbox::realism::process::{calls, forget_calls};
    use std::time::{Duration, Instant};
    let moto = moto();
    let latency = Duration::from_millis(120);
    let clock = super::realism::Clock { latency, ..Default::default() };
    let setup = super::realism::Setup { faults: Vec::new(), aws_rules: true, clock, limits: Limits::default() };
    let proxy = RealismProxy::serve(moto.port, setup, 0).expect("a loopback port");
    let ec2 = aws_sdk_ec2::Client::new(&super::support::sdk(&proxy.endpoint_url(), "us-east-1"));
    let began = Instant::now();
    for _ in 0..3 {
        super::support::block_on(ec2.describe_volumes().send()).expect("DescribeVolumes through the proxy");
    }
    assert!(began.elapsed() >= latency * 3, "each call waited the latency: {:?}", began.elapsed());
    let seen = calls(proxy.port).expect("the proxy's count");
    assert_eq!(seen.get("ec2.DescribeVolumes"), Some(&3), "{seen:?}");
    assert_eq!(seen.values().sum::<u64>(), 3, "only the calls made: {seen:?}");
    forget_calls(proxy.port).expect("counting afresh");
    assert!(calls(proxy.port).expect("the proxy's count").is_empty(), "counted afresh");
}

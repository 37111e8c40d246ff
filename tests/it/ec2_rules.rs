//! `ec2.failback` under AWS's rules ([`super::realism::rules`]): EC2 is eventually consistent (a
//! snapshot or volume just made is "not found" by the next describe naming it), and AWS throttles
//! beyond what the SDK retries. Neither may end an hours-long wait.

use super::realism::{Fault, FaultRule, RealismProxy};
use super::support::{block_on, fresh_world, journal, moto, only_run, pilotlight, run, sdk, state_dir};
use pilotlight::journal::Event;
use pilotlight::sandbox::seed::Part;

/// Fails back the EC2 instance `which` against `url`: its state directory (the run) and output.
fn failback(url: &str, which: &str) -> (tempfile::TempDir, std::process::Output) {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/ec2-failback.yaml", "--var", &format!("which={which}"), "--headless"]).args([
        "--auto-approve",
        "--endpoint-url",
        url,
    ]);
    let out = run(cmd);
    (state, out)
}

/// Defects 5 (attachments, DeleteOnTermination) and 6 of the AWS-rules issue: every snapshot and volume the failback makes is "not found"
/// once, and the first describes of snapshots by id are throttled four times in a row (the SDK gives up after
/// three). The failback goes on through both (the reads wait out the throttling, the waits a
/// made id not visible yet): one attempt, nothing failed. Before the fix the first such answer
/// failed the attempt.
#[test]
fn ec2_failback_waits_through_not_yet_visible_ids_and_throttling() {
    let moto = moto();
    fresh_world(&moto, &[Part::Ec2]);
    let before = delete_on_termination(&moto.endpoint_url());
    let throttled = FaultRule { needle: "&SnapshotId.1=", times: 4, fault: Fault::Throttle };
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![throttled]);
    let (state, out) = failback(&proxy.endpoint_url(), "app_server");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("not visible yet: ec2 Describe"), "a wait met a made id not visible yet:\n{stdout}");
    assert!(
        stdout.lines().any(|l| l.contains("ec2 DescribeSnapshots") && l.contains("RequestLimitExceeded")),
        "throttling past the SDK's retries was met (and waited out):\n{stdout}"
    );
    let (_, dir) = only_run(state.path());
    let attempts = journal(&dir).iter().filter(|e| matches!(e.event, Event::ActionStarted { .. })).count();
    assert_eq!(attempts, 1, "no attempt failed");
    // Defect 5 (part): an attached volume does not get DeleteOnTermination; each device's flag is
    // as it was. And the start waited for every attachment to be `attached` (the rules refuse a
    // start while one is `attaching`).
    assert_eq!(delete_on_termination(&moto.endpoint_url()), before);
    assert!(before.values().any(|d| *d), "the seeded root volume goes with the instance: {before:?}");
    // And `running` was not taken for booted: the status checks were waited for.
    assert!(stdout.contains("status checks: instance initializing"), "{stdout}");
    assert!(stdout.contains("app_server/wait-status-checks done"), "{stdout}");
}

/// A snapshot just made is missing from the next list of snapshots (EC2's eventual consistency);
/// bare moto lists it at once. After a lost answer the tool finds what it made by its tags, in
/// such a list: for the copy into primary (CopySnapshot has no client token) and the recovery
/// snapshots, a resumed sub-step looks again before it makes another. Moto served exactly one
/// CopySnapshot and one CreateSnapshots per volume and instance, as in an undisturbed failback.
#[test]
fn a_lost_answer_is_not_made_twice_when_lists_lag() {
    for (op, needle) in [("CreateSnapshots", "Action=CreateSnapshots&"), ("CopySnapshot", "Action=CopySnapshot&")] {
        let moto = moto();
        fresh_world(&moto, &[Part::Ec2]);
        let lost = FaultRule { needle, times: 1, fault: Fault::DropAnswer };
        let proxy = RealismProxy::with_aws_rules(moto.port, vec![lost]);
        pilotlight::sandbox::moto_api::start_recording(moto.port).unwrap();
        let (_state, out) = failback(&proxy.endpoint_url(), "app_server");
        pilotlight::sandbox::moto_api::stop_recording(moto.port).unwrap();
        assert_eq!(out.status.code(), Some(0), "the failback with the answer to {op} lost");
        let served = super::support::recorded(moto.port).into_iter().filter(|r| r.operation == op).count();
        let expected = if op == "CopySnapshot" { 2 } else { 1 };
        assert_eq!(served, expected, "{op}: nothing made twice");
    }
    // The rule itself: bare moto lists a copy at once, the layer not on the first list.
    let moto = moto();
    fresh_world(&moto, &[Part::Ec2]);
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let ec2 = aws_sdk_ec2::Client::new(&sdk(&proxy.endpoint_url(), "us-west-2"));
    let listed = |ec2: &aws_sdk_ec2::Client| {
        block_on(async {
            let out = ec2.describe_snapshots().owner_ids("self").send().await.unwrap();
            out.snapshots().iter().filter_map(|s| s.snapshot_id().map(str::to_string)).collect::<Vec<_>>()
        })
    };
    let volume = block_on(async {
        let out = ec2.describe_volumes().send().await.unwrap();
        out.volumes()[0].volume_id().unwrap().to_string()
    });
    let made = block_on(async { ec2.create_snapshot().volume_id(&volume).send().await.unwrap() });
    let id = made.snapshot_id().unwrap().to_string();
    assert!(!listed(&ec2).contains(&id), "missing from the first list");
    assert!(listed(&ec2).contains(&id), "listed from the next on");
    let bare = aws_sdk_ec2::Client::new(&sdk(&moto.endpoint_url(), "us-west-2"));
    let made = block_on(async { bare.create_snapshot().volume_id(&volume).send().await.unwrap() });
    assert!(listed(&bare).contains(&made.snapshot_id().unwrap().to_string()), "bare moto lists it at once");
}

/// The primary `app-server`'s DeleteOnTermination per device.
fn delete_on_termination(url: &str) -> std::collections::BTreeMap<String, bool> {
    let ec2 = aws_sdk_ec2::Client::new(&sdk(url, "us-east-1"));
    let name = aws_sdk_ec2::types::Filter::builder().name("tag:Name").values("app-server").build();
    let running = aws_sdk_ec2::types::Filter::builder().name("instance-state-name").values("running").build();
    let out = block_on(ec2.describe_instances().filters(name).filters(running).send()).unwrap();
    let inst = &out.reservations()[0].instances()[0];
    inst.block_device_mappings()
        .iter()
        .map(|m| (m.device_name().unwrap().to_string(), m.ebs().unwrap().delete_on_termination().unwrap_or(false)))
        .collect()
}

/// Defect 5 (part): a restored root volume that does not boot. The status checks report
/// `impaired`: the failback says so and names the kept originals, instead of calling the
/// instance failed back because it is `running`.
#[test]
fn ec2_failback_reports_an_instance_that_fails_its_status_checks() {
    let moto = moto();
    fresh_world(&moto, &[Part::Ec2]);
    let impaired = FaultRule {
        needle: "Action=DescribeInstanceStatus",
        times: usize::MAX,
        fault: Fault::Rewrite { from: "<status>ok</status>", to: "<status>impaired</status>" },
    };
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![impaired]);
    let (_state, out) = failback(&proxy.endpoint_url(), "app_server");
    assert_ne!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("runs but fails its status checks (instance impaired, system impaired)"), "{stdout}");
    assert!(stdout.contains("tagged pilotlight:retained) to attach back by hand"), "{stdout}");
}

/// The EC2 world with `app-server` an `InService` member of group `app` (min `min`, desired 1
/// once attached), failed back under AWS's rules; checks the instance runs again, back in service
/// with the desired capacity as it was and no process left suspended. The run's output.
fn fail_back_an_auto_scaling_member(min: i32, refused_attach: bool) -> String {
    let moto = moto();
    fresh_world(&moto, &[Part::Ec2]);
    let url = moto.endpoint_url();
    let ec2 = aws_sdk_ec2::Client::new(&sdk(&url, "us-east-1"));
    let name = aws_sdk_ec2::types::Filter::builder().name("tag:Name").values("app-server").build();
    let out = block_on(ec2.describe_instances().filters(name).send()).unwrap();
    let inst = out.reservations()[0].instances()[0].clone();
    let (id, image) = (inst.instance_id().unwrap().to_string(), inst.image_id().unwrap().to_string());
    let zone = inst.placement().and_then(|p| p.availability_zone()).unwrap().to_string();
    let asg = aws_sdk_autoscaling::Client::new(&sdk(&url, "us-east-1"));
    block_on(
        asg.create_launch_configuration()
            .launch_configuration_name("app")
            .image_id(image)
            .instance_type("t3.micro")
            .send(),
    )
    .unwrap();
    block_on(
        asg.create_auto_scaling_group()
            .auto_scaling_group_name("app")
            .launch_configuration_name("app")
            .min_size(0)
            .max_size(2)
            .desired_capacity(0)
            .availability_zones(zone)
            .send(),
    )
    .unwrap();
    block_on(asg.attach_instances().auto_scaling_group_name("app").instance_ids(&id).send()).unwrap();
    block_on(asg.update_auto_scaling_group().auto_scaling_group_name("app").min_size(min).send()).unwrap();
    let lifecycle = || {
        let out = block_on(asg.describe_auto_scaling_instances().instance_ids(&id).send()).unwrap();
        out.auto_scaling_instances().first().and_then(|i| i.lifecycle_state()).map(str::to_string)
    };
    assert_eq!(lifecycle().as_deref(), Some("InService"));

    let refusal =
        Fault::Refuse { code: "UnauthorizedOperation", message: "You are not authorized to perform this operation." };
    let rules = match refused_attach {
        true => vec![FaultRule { needle: "Action=AttachVolume", times: 1, fault: refusal }],
        false => Vec::new(),
    };
    let proxy = RealismProxy::with_aws_rules(moto.port, rules);
    let (_state, out) = failback(&proxy.endpoint_url(), "app_server");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // With the attach refused, the originals go back: the end is the same for the group.
    assert_eq!(out.status.code(), Some(if refused_attach { 1 } else { 0 }), "{stdout}");
    let now = block_on(ec2.describe_instances().instance_ids(&id).send()).unwrap();
    let state = now.reservations()[0].instances()[0].state().and_then(|s| s.name()).map(|n| n.as_str().to_string());
    assert_eq!(state.as_deref(), Some("running"), "the same instance runs again");
    assert_eq!(lifecycle().as_deref(), Some("InService"), "back in service in its group");
    let groups = block_on(asg.describe_auto_scaling_groups().auto_scaling_group_names("app").send()).unwrap();
    let group = &groups.auto_scaling_groups()[0];
    assert_eq!(group.desired_capacity(), Some(1), "the desired capacity as it was");
    assert!(group.suspended_processes().is_empty(), "nothing left suspended: {:?}", group.suspended_processes());
    stdout
}

/// Defect 5 of the AWS-rules issue: the primary instance is an `InService` member of an Auto
/// Scaling group, which terminates a stopped member (the rules do it at once). The failback puts
/// it in Standby for the swap and returns it to service after; before the fix the stop got the
/// instance terminated, root volume and all.
#[test]
fn ec2_failback_puts_an_auto_scaling_member_in_standby_for_the_swap() {
    fail_back_an_auto_scaling_member(0, false);
}

/// An Auto Scaling member whose restored volume's attach is refused: the way back puts its
/// volumes back, starts it, and returns it to service (Standby, or its group's suspended
/// replacement, undone); before, it was left in Standby or its group's processes suspended.
#[test]
fn a_refused_attach_returns_an_auto_scaling_member_to_its_group() {
    fail_back_an_auto_scaling_member(0, true);
    let stdout = fail_back_an_auto_scaling_member(1, true);
    assert!(stdout.contains("resume-replacement"), "{stdout}");
}

/// Defect 5, a group at its minimum (min 1, one instance, the usual single server): AWS refuses
/// Standby with a lower desired capacity there (the rules too; moto allows it). The failback
/// suspends the group's HealthCheck and ReplaceUnhealthy for the swap and resumes them after;
/// before the fix EnterStandby was refused after the recovery point was taken.
#[test]
fn ec2_failback_holds_a_group_at_its_minimum_by_suspending_its_replacement() {
    let stdout = fail_back_an_auto_scaling_member(1, false);
    assert!(stdout.contains("suspend-replacement"), "{stdout}");
}

/// Defect 4 of the AWS-rules issue: the recovery point of an instance with data on several
/// volumes is one CreateSnapshots (crash-consistent across them), not a CreateSnapshot per volume
/// taken at different moments while the instance runs. Proved from moto's request record.
#[test]
fn ec2_failback_snapshots_all_volumes_of_the_recovery_instance_at_once() {
    let moto = moto();
    fresh_world(&moto, &[Part::Ec2]);
    pilotlight::sandbox::moto_api::start_recording(moto.port).unwrap();
    let (_state, out) = failback(&moto.endpoint_url(), "worker");
    pilotlight::sandbox::moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let calls = super::support::recorded(moto.port);
    let in_recovery = |op: &str| calls.iter().filter(|c| c.region == "us-west-2" && c.operation == op).count();
    assert_eq!(in_recovery("CreateSnapshots"), 1, "one multi-volume snapshot of the worker's three volumes");
    assert_eq!(in_recovery("CreateSnapshot"), 0, "no volume snapshotted on its own");
    let copies = calls.iter().filter(|c| c.region == "us-east-1" && c.operation == "CopySnapshot").count();
    assert_eq!(copies, 3, "each of the three snapshots copied to primary");
}

//! `ec2.failback` against moto, checked with independent describe calls: the primary instances
//! keep their ids and run on restored volumes at the original devices, the originals are kept
//! (detached, tagged), a second failback works, and a kill after any journal entry resumes to
//! the same end state with nothing made twice.

use super::support::{
    Kill, block_on, journal, kill_at_every_point, only_run, pilotlight, run, sdk, seeded_moto, state_dir,
};
use pilotlight::actions::failback::ec2::compare_config::RULES;
use pilotlight::actions::failback::whole_diff::{UNKNOWN, differences};
use pilotlight::aws::answer_tree::tree;
use pilotlight::journal::Event;
use pilotlight::sandbox::seed::Part;
use std::collections::BTreeMap;

/// One EBS volume as EC2 reports it.
#[derive(Debug, Clone, PartialEq)]
struct Vol {
    id: String,
    size: i32,
    kind: String,
    iops: Option<i32>,
    state: String,
    tags: BTreeMap<String, String>,
}

/// An instance: id, state, and device -> volume id.
#[derive(Debug, Clone)]
struct Inst {
    id: String,
    state: String,
    devices: BTreeMap<String, String>,
}

/// Everything EC2 holds in one region that a failback touches.
#[derive(Debug, Clone)]
struct Region {
    instances: BTreeMap<String, Inst>,
    volumes: BTreeMap<String, Vol>,
    snapshots: usize,
}

fn region(url: &str, name: &str) -> Region {
    let ec2 = aws_sdk_ec2::Client::new(&sdk(url, name));
    block_on(async {
        let out = ec2.describe_instances().send().await.unwrap();
        let mut instances = BTreeMap::new();
        for i in out.reservations().iter().flat_map(|r| r.instances()) {
            let state = i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default();
            if state == "terminated" {
                continue;
            }
            let tag = i.tags().iter().find(|t| t.key() == Some("Name")).and_then(|t| t.value()).unwrap_or("");
            let devices = i
                .block_device_mappings()
                .iter()
                .map(|m| (m.device_name().unwrap().to_string(), m.ebs().unwrap().volume_id().unwrap().to_string()))
                .collect();
            instances.insert(tag.to_string(), Inst { id: i.instance_id().unwrap().to_string(), state, devices });
        }
        let out = ec2.describe_volumes().send().await.unwrap();
        let volumes = out
            .volumes()
            .iter()
            .map(|v| {
                let id = v.volume_id().unwrap().to_string();
                let vol = Vol {
                    id: id.clone(),
                    size: v.size().unwrap_or_default(),
                    kind: v.volume_type().unwrap().as_str().to_string(),
                    iops: v.iops(),
                    state: v.state().unwrap().as_str().to_string(),
                    tags: v
                        .tags()
                        .iter()
                        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
                        .collect(),
                };
                (id, vol)
            })
            .collect();
        let snapshots = super::support::own_snapshots(&ec2).await;
        Region { instances, volumes, snapshots }
    })
}

fn failback(state: &std::path::Path, url: &str, which: &str) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["run", "tests/fixtures/ec2-failback.yaml", "--headless", "--auto-approve", "--endpoint-url", url])
        .args(["--var", &format!("which={which}")]);
    run(cmd)
}

/// Checks one instance after failback against the world before it: same instance, running,
/// each device now holds a new volume shaped like the recovery one, the old one kept.
fn assert_failed_back(name: &str, before_p: &Region, before_r: &Region, after: &Region) {
    let was = &before_p.instances[name];
    let now = &after.instances[name];
    let rec = &before_r.instances[name];
    assert_eq!(now.id, was.id, "{name}: the primary instance is kept, never replaced");
    assert_eq!(now.state, "running", "{name} runs again");
    assert_eq!(now.devices.len(), rec.devices.len(), "{name}: one restored volume per recovery volume");
    for (device, rec_vol) in &rec.devices {
        let new_id = now.devices.get(device).unwrap_or_else(|| panic!("{name}: nothing attached at {device}"));
        let old_id = &was.devices[device];
        assert_ne!(new_id, old_id, "{name} {device}: a restored volume replaced the original");
        let new = &after.volumes[new_id];
        let source = &before_r.volumes[rec_vol];
        assert_eq!(
            (new.size, &new.kind, new.iops),
            (source.size, &source.kind, source.iops),
            "{name} {device}: the restored volume has the recovery volume's size, type and IOPS"
        );
        assert_eq!(new.tags.get("pilotlight:stage").map(String::as_str), Some("restored"));
        let old = &after.volumes[old_id];
        assert_eq!(old.state, "available", "{name} {device}: the original is detached");
        assert_eq!(old.tags.get("pilotlight:retained").map(String::as_str), Some("true"), "and tagged as kept");
        assert_eq!(old.tags.get("pilotlight:former-device"), Some(device));
        assert_eq!(old.tags.get("pilotlight:former-instance"), Some(&was.id));
    }
}

/// Every primary instance's whole Describe, by id.
fn whole_instances(url: &str) -> Vec<(String, serde_json::Value)> {
    let ec2 = aws_sdk_ec2::Client::new(&sdk(url, "us-east-1"));
    let out = block_on(ec2.describe_instances().send()).unwrap();
    let mut all: Vec<(String, serde_json::Value)> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| (i.instance_id().unwrap_or_default().to_string(), tree(i)))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[test]
fn ec2_failback_restores_every_volume_and_keeps_the_originals_twice_over() {
    let (_moto, url) = seeded_moto();
    let (p0, r0) = (region(&url, "us-east-1"), region(&url, "us-west-2"));
    let whole_before = whole_instances(&url);
    let state = state_dir();
    let out = failback(state.path(), &url, "app_server,worker");
    assert_eq!(out.status.code(), Some(0));
    let (p1, r1) = (region(&url, "us-east-1"), region(&url, "us-west-2"));
    // Each instance's whole Describe: nothing differs but what must (volume ids and times).
    for ((id, before), (_, after)) in whole_before.iter().zip(&whole_instances(&url)) {
        let differ = differences(before, after, &RULES);
        assert!(!differ.iter().any(|d| d.contains(UNKNOWN)), "{id} differs with no reason: {differ:#?}");
    }
    for name in ["app-server", "worker"] {
        assert_failed_back(name, &p0, &r0, &p1);
    }
    let recovery_volumes: usize = r0.instances.values().map(|i| i.devices.len()).sum();
    assert_eq!(r1.snapshots, r0.snapshots + recovery_volumes, "one recovery point per recovery volume");
    assert_eq!(p1.snapshots, p0.snapshots + recovery_volumes, "one copy of each in primary");
    assert_eq!(p1.volumes.len(), p0.volumes.len() + recovery_volumes, "no volume deleted, none made twice");
    assert_eq!(p1.instances.len(), p0.instances.len());
    assert_eq!(
        r1.instances.values().map(|i| &i.state).collect::<Vec<_>>(),
        r0.instances.values().map(|i| &i.state).collect::<Vec<_>>(),
        "recovery is only read"
    );

    // The outputs list every retained item: the detached originals and the snapshots.
    let (_, dir) = only_run(state.path());
    let retained = journal(&dir)
        .iter()
        .find_map(|e| match &e.event {
            Event::ActionFinished { ok: true, outputs, .. } => outputs.get("retained").cloned(),
            _ => None,
        })
        .expect("retained items");
    let ids: Vec<&str> = retained.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    for name in ["app-server", "worker"] {
        for old in p0.instances[name].devices.values() {
            assert!(ids.contains(&old.as_str()), "{old} is listed as retained");
        }
    }
    assert_eq!(ids.len(), recovery_volumes * 3, "originals, recovery snapshots and primary copies");

    // The real failback after the test one: works again and keeps what the first one attached.
    let again = state_dir();
    let out = failback(again.path(), &url, "app_server,worker");
    assert_eq!(out.status.code(), Some(0));
    let p2 = region(&url, "us-east-1");
    for name in ["app-server", "worker"] {
        assert_failed_back(name, &p1, &r1, &p2);
    }
}

/// The end state that matters, as counts and shapes (ids differ between worlds).
#[derive(Debug, PartialEq)]
pub struct EndState {
    snapshots: usize,
    primary_volumes: usize,
    kept_volumes: usize,
    instances: usize,
    /// Per primary instance: name, state, restored volumes attached.
    shape: Vec<(String, String, usize)>,
}

pub fn summary(url: &str) -> EndState {
    let (p, r) = (region(url, "us-east-1"), region(url, "us-west-2"));
    let kept =
        p.volumes.values().filter(|v| v.tags.contains_key("pilotlight:retained") && v.state == "available").count();
    let shape = p
        .instances
        .iter()
        .map(|(n, i)| {
            let restored = i.devices.values().filter(|v| p.volumes[*v].tags.contains_key("pilotlight:stage")).count();
            (n.clone(), i.state.clone(), restored)
        })
        .collect();
    EndState {
        snapshots: p.snapshots + r.snapshots,
        primary_volumes: p.volumes.len(),
        kept_volumes: kept,
        instances: p.instances.len() + r.instances.len(),
        shape,
    }
}

#[test]
fn a_kill_after_any_journal_entry_of_an_ec2_failback_resumes_to_the_same_end_state() {
    let args = ["tests/fixtures/ec2-failback.yaml", "--var", "which=app_server"];
    let points = kill_at_every_point(&[Part::Ec2], &args, 2, Kill::AfterEveryEntry, summary).points;
    assert!(points > 30, "a failback journals its sub-steps ({points} kill points)");
    eprintln!("ec2.failback: {points} journal entries; killed and resumed after one of each class");
}

/// Every mutating call of the failback reached AWS and its answer was lost with the process:
/// the resume finds what the call did (by token, name or tag) instead of doing it twice.
#[test]
fn a_kill_after_any_mutating_call_of_ec2_failback_was_answered_resumes_to_the_same_end_state() {
    let args = ["tests/fixtures/ec2-failback.yaml", "--var", "which=app_server"];
    let points = kill_at_every_point(&[Part::Ec2], &args, 2, Kill::BeforeEveryAnswer, summary).run;
    assert!(points > 3, "one kill point per mutating call ({points})");
    eprintln!("ec2.failback: killed after each of {points} mutating calls was answered, then resumed");
}

/// The answer to each kind of mutating call of the failback is lost once on the way back (the
/// next attempt looks for what the call made): nothing is made twice.
#[test]
fn a_lost_answer_to_any_mutating_call_of_ec2_failback_makes_nothing_twice() {
    let args = ["tests/fixtures/ec2-failback.yaml", "--var", "which=app_server"];
    let ops = super::lost_answers::lose_each_answer(&[Part::Ec2], &args, 2, summary);
    assert!(ops.len() > 2, "the failback sends several kinds of mutating call: {ops:?}");
    eprintln!("ec2.failback: an answer lost for each of {} operations: {ops:?}", ops.len());
}

/// The answer to each kind of mutating call is an internal error once, after the call was carried
/// out (AWS: the request may have succeeded). The SDK would send it again; CreateSnapshot and
/// CopySnapshot have no idempotency token: nothing is made twice.
#[test]
fn an_internal_error_answer_to_any_mutating_call_of_an_ec2_failback_makes_nothing_twice() {
    let args = ["tests/fixtures/ec2-failback.yaml", "--var", "which=app_server"];
    let fault = super::realism::Fault::InternalError;
    let ops = super::lost_answers::spoil_each_answer(&[Part::Ec2], &args, 2, fault, summary);
    assert!(ops.contains(&"CopySnapshot".to_string()), "{ops:?}");
}

//! `pilotlight drill`: each bundled scenario drilled end to end headless on the tool's own
//! sandbox, and its debrief's figures checked against the journal (and the faults against the
//! sandbox proxy's own log); a trainer's fault injected into a running drill.

use super::support::{journal, pilotlight, run, state_dir};
use pilotlight::drill::debrief::Debrief;
use pilotlight::journal::{CallOutcome, Entry, Event, StepStatus, SubPhase};
use pilotlight::report::time::{between, elapsed};
use std::path::Path;

/// Stops the test's sandbox (moto and its proxy, by their recorded PIDs) however the test ends.
struct SandboxDown<'a>(&'a Path);

impl Drop for SandboxDown<'_> {
    fn drop(&mut self) {
        let mut c = pilotlight(self.0);
        c.args(["sandbox", "down"]);
        let _ = c.output();
    }
}

fn drill(state: &Path, args: &[&str]) -> (String, std::process::Output) {
    let mut c = pilotlight(state);
    c.arg("drill").args(args).args(["--headless", "--auto-approve"]);
    let out = run(c);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("drill run: "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the drill names its run")
        .to_string();
    (id, out)
}

fn debrief(state: &Path, id: &str) -> Debrief {
    let mut c = pilotlight(state);
    c.args(["drill", "debrief", id, "--format", "json"]);
    let out = run(c);
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("the debrief as JSON")
}

/// The faults the sandbox's proxy logged (its own record, not the drill's).
fn proxy_faults(state: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(state.join("sandbox/realism.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("fault").is_some())
        .collect()
}

/// The debrief's figures, recomputed from the journal by their definitions.
fn check_against_journal(d: &Debrief, entries: &[Entry], pace: Option<f64>) {
    // Waits: one per `wait-*` sub-step done, each from its last start.
    let done_waits = entries
        .iter()
        .filter(
            |e| matches!(&e.event, Event::SubStep { name, phase: SubPhase::Done, .. } if name.part.starts_with("wait")),
        )
        .count();
    assert_eq!(d.waits.len(), done_waits, "one wait per wait sub-step done");
    let longest = &d.waits[0];
    let done = entries
        .iter()
        .find(|e| matches!(&e.event, Event::SubStep { step, name, phase: SubPhase::Done, .. }
            if *step == longest.step && name.to_string() == longest.name && between(&longest.started_at, &e.ts).is_some_and(|t| t >= 0)))
        .expect("the longest wait's end");
    assert_eq!(elapsed(&longest.started_at, &done.ts), Some(longest.ms));
    assert_eq!(d.waits_total_ms, d.waits.iter().map(|w| w.ms).sum::<u64>());
    // Decisions: every gate and failure decision, each timed from when it was asked.
    let decided =
        entries.iter().filter(|e| matches!(e.event, Event::GateDecided { .. } | Event::FailureDecided { .. })).count();
    let undos = entries.iter().filter(|e| matches!(e.event, Event::UndoStarted { .. })).count();
    assert_eq!(d.decisions.len(), decided + undos);
    for x in d.decisions.iter().filter(|x| x.kind == "gate") {
        let asked = entries
            .iter()
            .rev()
            .filter(|e| matches!(&e.event, Event::StepStatus { step, status: StepStatus::AwaitingGate, .. } if *step == x.step))
            .find(|e| e.ts <= x.decided_at)
            .expect("the gate was asked");
        assert_eq!(x.took_ms, elapsed(&asked.ts, &x.decided_at), "gate {}", x.step);
    }
    // RTO: the first disruptive call (a stop, rename, delete, DNS change; not the rehearsal's) to
    // the later of the DNS flip and the smoke test after it (not the DNS check).
    let disruptive =
        ["StopInstances", "DetachVolume", "EnterStandby", "ModifyDBInstance", "ModifyDBCluster", "PutResourcePolicy"];
    let disruptive =
        [&disruptive[..], &["DeleteDBInstance", "DeleteDBCluster", "DeleteDBClusterEndpoint", "DeleteTable"]];
    let start = entries.iter().find(|e| {
        matches!(&e.event, Event::AwsCall { step, operation, mutating: true, .. }
            if step != "test-failback" && disruptive.iter().any(|d| d.contains(&operation.as_str())))
    });
    let flip = entries.iter().find(
        |e| matches!(&e.event, Event::StepStatus { step, status: StepStatus::Succeeded, .. } if step == "flip-dns"),
    );
    match (start, flip) {
        (Some(start), Some(flip)) => {
            let smoke = entries
                .iter()
                .filter(|e| e.seq > flip.seq)
                .find(|e| matches!(&e.event, Event::StepStatus { step, status: StepStatus::Succeeded, .. } if step == "smoke-test"))
                .expect("the smoke test after the flip");
            let wall = elapsed(&start.ts, &smoke.ts).unwrap();
            assert_eq!(d.rto.wall_ms, Some(wall), "RTO from {} to {}", start.ts, smoke.ts);
            if let Some(pace) = pace {
                let aws = (wall - d.rto.decisions_ms) as f64 * pace;
                assert_eq!(d.rto.modelled_ms, Some(aws as u64 + d.rto.decisions_ms));
            }
        }
        _ => assert_eq!(d.rto.wall_ms, None, "no RTO without a DNS flip"),
    }
}

/// When the run's fence held: its step's `fenced_at` output.
fn fence_held(entries: &[Entry]) -> String {
    entries
        .iter()
        .find_map(|e| match &e.event {
            Event::ActionFinished { step, ok: true, outputs, .. } if step == "fence-writes" => {
                outputs.get("fenced_at").and_then(|v| v.as_str()).map(str::to_string)
            }
            _ => None,
        })
        .expect("the fence held")
}

/// Each bundled scenario, drilled headless on one sandbox (each drill resets its world): the calm
/// one at 600x, big-data at 3000x, the others at the instant pace (their faults do not need
/// AWS's time). The
/// trainee of `roll-back` puts primary back with `pilotlight undo`, as its briefing says. A
/// second calm drill makes a trend of two.
#[test]
fn every_bundled_scenario_drills_headless_and_its_debrief_matches_the_journal() {
    let state = state_dir();
    let _down = SandboxDown(state.path());
    let runs = |id: &str| state.path().join("runs").join(id);

    let (calm, out) = drill(state.path(), &["calm", "--pace", "600"]);
    assert_eq!(out.status.code(), Some(0), "the calm drill succeeds");
    let d = debrief(state.path(), &calm);
    assert_eq!((d.scenario.as_str(), d.pace.as_str()), ("calm", "600"));
    check_against_journal(&d, &journal(&runs(&calm)), Some(600.0));
    assert!(d.rto.modelled_ms.is_some_and(|m| m > 20 * 60_000), "AWS's modelled time: {:?}", d.rto);
    assert!(d.faults.is_empty());
    assert_eq!(d.data_loss.len(), 5, "one window per failed-back resource");
    assert!(String::from_utf8_lossy(&out.stdout).contains("# Debrief: A calm failback (calm)"));
    assert!(runs(&calm).join("debrief.md").is_file());
    // The writer: what came home is what primary's table holds (read straight from moto). The
    // runbook's fence held before every recovery point: every window is below zero, and every
    // write recovery accepted came home; the rest recovery refused (read from the writer's log).
    for x in &d.data_loss {
        assert!(x.window_ms.is_some_and(|w| w <= 0), "fenced before the recovery point: {x:?}");
    }
    let writes = d.writes.as_ref().expect("the calm scenario has a writer");
    let logged = pilotlight::drill::writers::writes(&runs(&calm));
    assert!(writes.written > 10 && writes.written == logged.len(), "{writes:?}");
    let info: pilotlight::sandbox::SandboxInfo =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("sandbox/sandbox.json")).unwrap()).unwrap();
    let primary = aws_sdk_dynamodb::Client::new(&super::support::sdk(&info.moto_url(), "us-east-1"));
    let home = super::support::block_on(async {
        let out = primary.scan().table_name("sessions").send().await.unwrap();
        out.items().iter().filter(|i| i["pk"].as_s().is_ok_and(|k| k.starts_with("drill-write-"))).count()
    });
    assert_eq!((writes.home, writes.lost), (home, writes.written - home), "{writes:?}");
    assert_eq!(writes.lost, 0, "fenced: nothing lost {writes:?}");
    let refused = pilotlight::drill::writers::refusals(&runs(&calm));
    assert!(writes.refused > 0 && writes.refused == refused.len(), "the fence refused the writer: {writes:?}");
    let entries = journal(&runs(&calm));
    let fenced_at = fence_held(&entries);
    let policy_sent = entries
        .iter()
        .find(|e| matches!(&e.event, Event::AwsCall { operation, mutating: true, .. } if operation == "PutResourcePolicy"))
        .expect("the fence's policy")
        .ts
        .clone();
    // Refused from when the policy applied (after it was sent, before the tool proved it).
    assert!(
        refused.iter().all(|r| r.at >= policy_sent),
        "refused only once the fence's policy was sent ({policy_sent})"
    );
    assert!(logged.iter().all(|w| w.at <= fenced_at), "nothing accepted after the fence held ({fenced_at})");

    // Without the fence the application writes until the flip: what came after each recovery
    // point is lost, and the report's windows say so.
    let (open, out) = drill(state.path(), &["no-fence", "--pace", "600"]);
    assert_eq!(out.status.code(), Some(0), "the failback itself succeeds");
    let d = debrief(state.path(), &open);
    let writes = d.writes.as_ref().expect("a writer");
    assert!(writes.lost > 0 && writes.refused == 0, "written after the export, before the flip: {writes:?}");
    assert_eq!(writes.lost_before_point, 0, "nothing written before the recovery point was lost");
    let flip = journal(&runs(&open))
        .into_iter()
        .find(
            |e| matches!(&e.event, Event::StepStatus { step, status: StepStatus::Succeeded, .. } if step == "flip-dns"),
        )
        .expect("the flip");
    for x in &d.data_loss {
        assert_eq!(x.writes_stopped_at.as_deref(), Some(flip.ts.as_str()), "no fence: writes stop at the flip");
        assert!(x.window_ms.is_some_and(|w| w > 0), "{x:?}");
    }

    let (storm, out) = drill(state.path(), &["failed-copy-storm", "--pace", "instant"]);
    assert_eq!(out.status.code(), Some(0), "the tool gets past a failed copy and a throttling storm");
    let d = debrief(state.path(), &storm);
    let entries = journal(&runs(&storm));
    check_against_journal(&d, &entries, None);
    let logged = proxy_faults(state.path());
    assert_eq!(d.faults.iter().map(|f| f.count).sum::<usize>(), logged.len(), "every fault the proxy logged");
    let copy = d.faults.iter().find(|f| f.fault == "copy_error").expect("the copy error");
    assert_eq!(copy.count, 1);
    assert!(copy.then.contains("copying again"), "{}", copy.then);
    let storm_faults = d.faults.iter().find(|f| f.fault == "throttling").expect("the storm");
    assert_eq!(storm_faults.count, 25);
    let throttled = entries
        .iter()
        .filter(|e| matches!(&e.event, Event::AwsCall { operation, outcome: CallOutcome::Error, .. } if operation == "DescribeDBSnapshots"))
        .count();
    assert!(
        storm_faults.then.contains(&format!("{throttled} errors reached the journal; the tool sent the call again")),
        "{} ({throttled} throttled calls journaled)",
        storm_faults.then
    );

    let (roll, out) = drill(state.path(), &["roll-back", "--pace", "instant"]);
    assert_eq!(out.status.code(), Some(1), "the EC2 failback cannot finish");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("failback-ec2: FAILED") && stdout.contains("InsufficientVolumeCapacity"), "{stdout}");
    let mut c = pilotlight(state.path());
    c.args(["undo", &roll, "--reason", "no capacity in primary's zone: stay on recovery", "--yes", "--sandbox"]);
    assert!(run(c).status.success(), "the trainee puts primary back");
    let d = debrief(state.path(), &roll);
    check_against_journal(&d, &journal(&runs(&roll)), None);
    assert_eq!(d.status, pilotlight::journal::RunStatus::Undone);
    let undo = d.decisions.iter().find(|x| x.kind == "undo").expect("the decision to roll back");
    assert!(undo.outcome.contains("stay on recovery") && undo.took_ms.is_some(), "{undo:?}");
    let capacity = d.faults.iter().find(|f| f.fault == "insufficient_capacity").expect("the fault");
    assert!(capacity.then.contains("failback-ec2 failed") && capacity.then.contains("InsufficientVolumeCapacity"));

    // A world 25 times bigger: the seed made it so (read straight from moto), and AWS's time for
    // its data misses the 2-hour target whatever the trainee does.
    let (big, out) = drill(state.path(), &["big-data", "--pace", "3000"]);
    assert_eq!(out.status.code(), Some(0));
    let info: pilotlight::sandbox::SandboxInfo =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("sandbox/sandbox.json")).unwrap()).unwrap();
    let rds = aws_sdk_rds::Client::new(&super::support::sdk(&info.moto_url(), "us-west-2"));
    let storage = super::support::block_on(async {
        let out = rds.describe_db_instances().db_instance_identifier("orders-db").send().await.unwrap();
        out.db_instances()[0].allocated_storage().unwrap()
    });
    assert_eq!(storage, 500, "recovery's orders-db at 25 times 20 GiB");
    // The table and the cluster stand for the sizes: the proxy was told them, and the table
    // reports its size through the sandbox's endpoint; moto holds the seed's sessions and 1,000
    // items alike on both sides, each a small share of it.
    assert_eq!(info.realism.as_ref().map(|r| (r.table_gib, r.aurora_gib)), Some((Some(50), Some(1024))));
    let table = |url: &str| {
        let ddb = aws_sdk_dynamodb::Client::new(&super::support::sdk(url, "us-west-2"));
        let out = super::support::block_on(ddb.describe_table().table_name("sessions").send()).unwrap();
        out.table().cloned().unwrap()
    };
    assert_eq!(table(&info.endpoint_url()).table_size_bytes(), Some(50 << 30));
    let items = table(&info.moto_url()).item_count().unwrap() as usize;
    assert!(items >= pilotlight::sandbox::seed::SIZED_TABLE_ITEMS, "{items}");
    let d = debrief(state.path(), &big);
    check_against_journal(&d, &journal(&runs(&big)), Some(3000.0));
    assert_eq!(d.rto.verdict, pilotlight::report::Verdict::Missed, "{:?}", d.rto);

    // The same world on the faster paths: the database through the replica the stage made, the
    // cluster by switchover from the secondary the stage made (their whole copies before the
    // window), the table in place; every recovery point after the fence.
    let (fast, out) = drill(state.path(), &["big-data-fast", "--pace", "3000"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let entries = journal(&runs(&fast));
    let d = debrief(state.path(), &fast);
    check_against_journal(&d, &entries, Some(3000.0));
    let method = |step: &str, resource: &str| {
        entries.iter().find_map(|e| match &e.event {
            Event::ActionFinished { step: s, ok: true, outputs, .. } if s == step => {
                outputs.get("resources").map(|r| r[resource]["method"].clone())
            }
            _ => None,
        })
    };
    assert_eq!(method("failback-rds", "orders_db"), Some(serde_json::json!("replica")));
    assert_eq!(method("failback-aurora", "inventory_cluster"), Some(serde_json::json!("switchover")));
    assert_eq!(method("failback-dynamodb", "sessions_table"), Some(serde_json::json!("in-place")));
    let staged = entries.iter().any(|e| {
        matches!(&e.event, Event::StepStatus { step, status: StepStatus::Succeeded, .. } if step == "stage-aurora-secondary")
    });
    assert!(staged, "the stage made the secondary");
    assert_eq!(d.data_loss.len(), 5);
    for x in &d.data_loss {
        assert!(x.window_ms.is_some_and(|w| w <= 0), "fenced before the recovery point: {x:?}");
    }

    let (again, out) = drill(state.path(), &["calm", "--pace", "instant"]);
    assert_eq!(out.status.code(), Some(0));
    let d = debrief(state.path(), &again);
    let trend: Vec<&str> = d.trend.iter().map(|t| t.run_id.as_str()).collect();
    assert_eq!(trend, [calm.as_str(), again.as_str()], "the calm drills, oldest first");
    let md = pilotlight::drill::debrief_md::render(&d);
    assert!(md.contains("## Drills of this scenario") && md.contains("RTO (modelled)"), "{md}");
}

/// A trainer injects a fault into a running drill from another terminal: journaled as theirs
/// (`trainer.jsonl`), met by the run, and in the debrief as the trainer's with how it was handled.
#[test]
fn a_trainer_injects_a_fault_into_a_running_drill() {
    let state = state_dir();
    let _down = SandboxDown(state.path());
    let mut c = pilotlight(state.path());
    c.args(["drill", "calm", "--pace", "300", "--headless", "--auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().expect("start the drill");
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let id = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("drill run: ").and_then(|r| r.split_whitespace().next()).map(str::to_string))
        .expect("the drill names its run");
    let mut inject = pilotlight(state.path());
    inject.args(["drill", "inject", &id, "hang_stopping", "--resource", "us-east-1"]);
    let out = run(inject);
    assert!(out.status.success(), "the sandbox took the fault");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "the drill gets past the hang: {}", rest.join("\n"));
    let trainer = std::fs::read_to_string(state.path().join("runs").join(&id).join("trainer.jsonl")).unwrap();
    let injection: pilotlight::drill::Injection = serde_json::from_str(trainer.lines().next().unwrap()).unwrap();
    assert_eq!(injection.fault.kind, pilotlight::sandbox::realism::FaultKind::HangStopping);
    assert!(!injection.user.is_empty());
    let d = debrief(state.path(), &id);
    let hang = d.faults.iter().find(|f| f.fault == "hang_stopping").expect("the hang was met");
    assert_eq!((hang.by.as_str(), hang.count), ("trainer", 1));
    assert!(hang.then.contains("forcing the stop"), "{}", hang.then);
    let md = pilotlight::drill::debrief_md::render(&d);
    assert!(md.contains("| hang_stopping | ec2.StopInstances | 1 | trainer |"), "{md}");
}

/// A scenario with mistakes is refused before anything starts, every problem with its line and
/// column; a fault goes only into a drill that exists.
#[test]
fn a_bad_scenario_or_an_unknown_drill_is_refused_clearly() {
    let state = state_dir();
    let bad = state.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\ntitle: t\npace: soon\nfaults:\n  - kind: hang_stopping\n    operation: ec2.StartInstances\n",
    )
    .unwrap();
    let mut c = pilotlight(state.path());
    c.args(["drill", bad.to_str().unwrap(), "--headless", "--auto-approve"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml:3:7: pace:") && err.contains("bad.yaml:5:5: hang_stopping applies to ec2.StopInstances"),
        "{err}"
    );
    assert!(!state.path().join("sandbox/sandbox.json").exists(), "no sandbox was started for it");
    let mut c = pilotlight(state.path());
    c.args(["drill", "no-such-scenario"]);
    let err = String::from_utf8_lossy(&run(c).stderr).into_owned();
    assert!(err.contains("no scenario `no-such-scenario`") && err.contains("calm"), "{err}");
    let mut c = pilotlight(state.path());
    c.args(["drill", "inject", "20261203T000000Z-nothing", "copy_error"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run `20261203T000000Z-nothing`"));
}

/// A trainer's own scenario sets AWS's limits for the drill: one EBS snapshot copy in flight per
/// region (AWS allows 20) at 600x. The tool waits for a slot for each refused copy (journaled),
/// the drill succeeds, and the debrief lists the refusals among its errors and retries.
#[test]
fn a_scenario_sets_a_copy_quota_the_drill_waits_out() {
    let state = state_dir();
    let _down = SandboxDown(state.path());
    let file = state.path().join("one-copy.yaml");
    std::fs::write(
        &file,
        "name: one-copy\ntitle: One copy at a time\nrunbook: failback\npace: \"600\"\nlimits:\n  copy_quotas:\n    ec2.CopySnapshot: 1\n",
    )
    .unwrap();
    let (id, out) = drill(state.path(), &[file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "the drill waits for copy slots");
    assert!(String::from_utf8_lossy(&out.stdout).contains("limit: at most 1 ec2.CopySnapshot in flight"));
    let refused = journal(&state.path().join("runs").join(&id))
        .iter()
        .filter(|e| {
            matches!(&e.event, Event::AwsCall { operation, outcome: CallOutcome::Error, message: Some(m), .. }
            if operation == "CopySnapshot" && m.contains("ResourceLimitExceeded"))
        })
        .count();
    assert!(refused > 0, "the quota was met");
    let d = debrief(state.path(), &id);
    let listed = d
        .retries
        .iter()
        .filter(|r| r.what.contains("CopySnapshot") && r.what.contains("ResourceLimitExceeded"))
        .count();
    assert_eq!(listed, refused, "every refusal in the debrief");
}

//! `pilotlight report` on real runs of the bundled failback runbook against moto: the JSON lists
//! every retained item the journal's outputs list (read here independently of the report code),
//! RTO is measured from the journal's own times, every failed-back resource has its calls; the
//! Markdown has its sections and the retained ids; a run killed before the DNS flip says why RTO
//! is not measured; an unknown run id is a clear error.

use super::support::{journal, only_run, pilotlight, run, seeded_moto, state_dir};
use pilotlight::journal::{CRASH_AFTER_ENV, CRASH_EXIT_CODE, CallOutcome, Entry, Event, StepStatus};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const RUNBOOK: &str = "runbooks/failback.yaml";

fn report(state: &Path, id: &str, json: bool) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["report", id]);
    if json {
        cmd.args(["--format", "json"]);
    }
    cmd.output().expect("run pilotlight report")
}

fn report_json(state: &Path, id: &str) -> Value {
    let out = report(state, id, true);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the JSON report parses")
}

/// Every retained item in every `action_finished` of the journal, as (kind, id, region).
fn retained_in(entries: &[Entry]) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for e in entries {
        let Event::ActionFinished { outputs, .. } = &e.event else { continue };
        let per_resource = outputs.get("resources").and_then(Value::as_object).into_iter().flat_map(|m| m.values());
        let lists = outputs.get("retained").into_iter().chain(per_resource.filter_map(|r| r.get("retained")));
        for item in lists.filter_map(Value::as_array).flatten() {
            let s = |k: &str| item[k].as_str().unwrap_or_default().to_string();
            out.insert((s("kind"), s("id"), s("region")));
        }
    }
    out
}

fn millis(ts: &str) -> i128 {
    humantime::parse_rfc3339(ts).expect("an RFC 3339 time").duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
        as i128
}

/// Catches a report that loses retained items (or invents them), an RTO measured between the wrong
/// journal entries, resources with no calls counted against them, call counts that do not add up
/// to the journal's, and a Markdown report missing a section or a retained id.
#[test]
fn report_of_a_failback_run_lists_what_was_kept_and_measures_rto_and_rpo() {
    let (moto, _) = seeded_moto();
    // Through the AWS-rules layer: it applies the fence's table policy, which bare moto ignores.
    let proxy = super::realism::RealismProxy::with_aws_rules(moto.port, Vec::new());
    let url = proxy.endpoint_url();
    let state = state_dir();
    let started = std::time::Instant::now();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", RUNBOOK, "--headless", "--auto-approve", "--endpoint-url", &url]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "the failback run");
    eprintln!("failback run: {:?}", started.elapsed());
    let (id, dir) = only_run(state.path());
    let entries = journal(&dir);

    let started = std::time::Instant::now();
    let r = report_json(state.path(), &id);
    eprintln!("report --format json: {:?}", started.elapsed());
    assert_eq!(r["run"]["run_id"], id.as_str());
    assert_eq!(r["run"]["status"], "succeeded");
    assert_eq!(r["run"]["endpoint_url"], url.as_str());

    // Retained: exactly what the journal's outputs list, each with how to delete it.
    let expected = retained_in(&entries);
    assert!(expected.len() >= 20, "EC2, RDS, Aurora and the conclusion keep things: {expected:?}");
    let items = r["retained"].as_array().expect("retained");
    let listed: BTreeSet<(String, String, String)> = items
        .iter()
        .map(|i| {
            (i["kind"].as_str().unwrap().into(), i["id"].as_str().unwrap().into(), i["region"].as_str().unwrap().into())
        })
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(items.len(), expected.len(), "each once");
    for i in items {
        let (id, delete) = (i["id"].as_str().unwrap(), i["delete_with"].as_str().unwrap());
        assert!(delete.starts_with("aws ") && delete.contains(id), "{delete}");
    }

    // RTO: the first disruptive call's `sending` (not the permissions stack's CreateStack, not a
    // snapshot, nothing of the rehearsal) to the smoke test succeeding after flip-dns (not the
    // DNS check).
    let first_sending = entries
        .iter()
        .find(|e| {
            matches!(&e.event, Event::AwsCall { step, operation, outcome: CallOutcome::Sending, .. }
                if step != "test-failback" && pilotlight::journal::DISRUPTIVE.contains(&operation.as_str()))
        })
        .expect("a disruptive call");
    let first_mutating = entries
        .iter()
        .find(|e| matches!(e.event, Event::AwsCall { outcome: CallOutcome::Sending, .. }))
        .expect("a mutating call");
    assert!(first_mutating.seq < first_sending.seq, "the stack and the snapshots come before any disruption");
    let succeeded = |step: &str| {
        entries
            .iter()
            .find(|e| matches!(&e.event, Event::StepStatus { step: s, status: StepStatus::Succeeded, .. } if s == step))
            .unwrap_or_else(|| panic!("{step} succeeded"))
    };
    let rto = &r["objectives"]["rto"];
    assert_eq!(rto["verdict"], "ok", "{rto}");
    assert_eq!(rto["target"], "4h");
    assert_eq!(rto["start"]["seq"], first_sending.seq);
    assert_eq!(rto["dns_flip"]["seq"], succeeded("flip-dns").seq);
    assert_eq!(rto["smoke_test"]["step"], "smoke-test", "the smoke test, not the DNS check before it");
    let expected_ms = millis(&succeeded("smoke-test").ts) - millis(&first_sending.ts);
    assert_eq!(rto["measured_ms"].as_i64().map(i128::from), Some(expected_ms));

    // RPO: one per failed-back resource, each with its recovery point, within 15m.
    let rpo = r["objectives"]["rpo"].as_array().unwrap();
    let resources: BTreeSet<&str> = rpo.iter().map(|p| p["resource"].as_str().unwrap()).collect();
    assert_eq!(resources, BTreeSet::from(["app_server", "worker", "orders_db", "inventory_cluster", "sessions_table"]));
    for p in rpo {
        assert!(p["recovery_point"].is_string() && p["measured_ms"].is_i64(), "{p}");
        assert_eq!(p["verdict"], "ok", "{p}");
    }

    // Calls: every failed-back resource has calls and mutating calls; the rows add up to the
    // journal's calls (a mutating call once, by its `sending`; a read by its outcome).
    let rows = r["aws_calls"].as_array().unwrap();
    for (step, resource) in [
        ("failback-ec2", "app_server"),
        ("failback-ec2", "worker"),
        ("failback-rds", "orders_db"),
        ("failback-aurora", "inventory_cluster"),
    ] {
        let row = rows.iter().find(|x| x["step"] == step && x["resource"] == resource).expect("a row per resource");
        assert!(row["total"].as_u64() > Some(0) && row["mutating"].as_u64() > Some(0), "{row}");
    }
    let mut journaled: BTreeMap<String, u64> = BTreeMap::new();
    for e in &entries {
        if let Event::AwsCall { step, mutating, outcome, .. } = &e.event
            && (*mutating == (*outcome == CallOutcome::Sending))
        {
            *journaled.entry(step.clone()).or_default() += 1;
        }
    }
    let mut counted: BTreeMap<String, u64> = BTreeMap::new();
    for row in rows {
        *counted.entry(row["step"].as_str().unwrap().into()).or_default() += row["total"].as_u64().unwrap();
    }
    assert_eq!(counted, journaled);

    let configured: BTreeSet<&str> =
        r["configuration"].as_array().unwrap().iter().map(|c| c["resource"].as_str().unwrap()).collect();
    assert_eq!(configured, BTreeSet::from(["orders_db", "inventory_cluster", "sessions_table"]));
    assert!(r["warnings"].as_array().unwrap().is_empty(), "{}", r["warnings"]);

    let out = report(state.path(), &id, false);
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8(out.stdout).unwrap();
    for heading in [
        "# After-action report: ",
        "## Recovery objectives",
        "**RTO: ",
        "## Timeline",
        "### `failback-ec2`",
        "## Retained resources",
        "## Configuration recorded and re-applied",
        "## AWS calls",
    ] {
        assert!(md.contains(heading), "{heading} missing");
    }
    for (_, id, _) in &expected {
        assert!(md.contains(id.as_str()), "{id} missing from the Markdown");
    }
    let json_len = serde_json::to_string_pretty(&r).unwrap().len();
    eprintln!("journal: {} entries; report: {} bytes of Markdown, {json_len} of JSON", entries.len(), md.len());
    drop(proxy);
    drop(moto);
}

/// Catches an RTO guessed for a run stopped before traffic moved back, a stopped run reported as
/// finished, and a report that needs the runbook file where it was when the run started.
#[test]
fn report_of_a_run_killed_before_the_dns_flip_says_why_rto_is_not_measured() {
    let (_moto, url) = seeded_moto();
    let state = state_dir();
    // The runbook from a directory that is gone when the report is written.
    let elsewhere = state_dir();
    for file in [RUNBOOK, "assets/failback-permissions.json"] {
        let to = elsewhere.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(super::support::repo().join(file), to).unwrap();
    }
    let mut cmd = pilotlight(state.path());
    cmd.arg("run").arg(elsewhere.path().join(RUNBOOK));
    cmd.args(["--headless", "--auto-approve", "--endpoint-url", &url]);
    cmd.env(CRASH_AFTER_ENV, "60");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(CRASH_EXIT_CODE));
    drop(elsewhere);
    let (id, dir) = only_run(state.path());
    assert!(journal(&dir).iter().all(|e| e.event.step() != Some("flip-dns")), "killed before the flip");

    let r = report_json(state.path(), &id);
    assert_eq!(r["run"]["status"], "running");
    assert!(r["run"]["finished_at"].is_null());
    let rto = &r["objectives"]["rto"];
    assert_eq!(rto["verdict"], "not_measured");
    assert!(rto["measured_ms"].is_null());
    let reason = rto["reason"].as_str().unwrap();
    assert!(reason.contains("no DNS flip yet") && reason.contains("flip-dns"), "{reason}");
    let flip = r["steps"].as_array().unwrap().iter().find(|s| s["id"] == "flip-dns").expect("a step not reached");
    assert_eq!(flip["status"], "pending");
    assert_eq!(flip["title"], "Flip DNS back to primary", "from the run's runbook copy");
}

/// Catches an unknown run id that panics, prints nothing useful or exits 0.
#[test]
fn report_of_an_unknown_run_names_the_state_directory() {
    let state = state_dir();
    for id in ["20261122T000000Z-nothing-0000", "../runs", ""] {
        let out = report(state.path(), id, false);
        assert_eq!(out.status.code(), Some(2), "{id}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&state.path().join("runs").display().to_string()) && err.contains("pilotlight runs"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
}

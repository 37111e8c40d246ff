//! `dynamodb.failback` with `method: in-place` against moto behind the AWS-rules layer, checked
//! with independent SDK calls: the primary table holds exactly the recovery table's items and is
//! the same table (ARN, creation time, stream ARN, index, TTL, PITR, deletion protection, tags);
//! only the difference was written, in batches AWS takes; the safety backup is kept and listed;
//! a kill after any journal entry and a lost answer to any mutating call end where an
//! uninterrupted run does. The rules layer refuses what BatchWriteItem refuses and moto takes.

use super::dynamodb_failback::{Table, backups, fresh_world, table};
use super::realism::RealismProxy;
use super::support::{
    Kill, block_on, journal, kill_at_every_point_under_aws_rules, only_run, pilotlight, recorded, run, sdk, state_dir,
};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use pilotlight::actions::failback::dynamodb::IN_PLACE_RULES;
use pilotlight::journal::Event;
use pilotlight::sandbox::moto_api;
use pilotlight::sandbox::seed::{DYNAMODB_TABLE, PRIMARY_REGION, Part, RECOVERY_REGION};
use serde_json::Value;
use std::path::Path;

const FIXTURE: &str = "tests/fixtures/dynamodb-in-place.yaml";
const PARTS: [Part; 1] = [Part::Dynamodb];

/// Items written into recovery on top of the seed: more than two batches, and (at 30 KB each)
/// more than one 1 MB scan page in each of two segments.
const BULK: usize = 80;

fn put(url: &str, region: &str, pk: &str, data: &str) {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(url, region));
    let req = ddb
        .put_item()
        .table_name(DYNAMODB_TABLE)
        .item("pk", AttributeValue::S(pk.into()))
        .item("data", AttributeValue::S(data.into()))
        .item("user", AttributeValue::S("user-1".into()));
    block_on(req.send()).unwrap();
}

/// The primary table's identity: ARN, creation time, stream ARN.
fn identity(url: &str) -> (String, String, String) {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(url, PRIMARY_REGION));
    let out = block_on(ddb.describe_table().table_name(DYNAMODB_TABLE).send()).unwrap();
    let t = out.table().unwrap();
    (
        t.table_arn().unwrap().to_string(),
        format!("{:?}", t.creation_date_time().unwrap()),
        t.latest_stream_arn().unwrap().to_string(),
    )
}

fn failback(state: &Path, url: &str) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", url]);
    run(cmd)
}

fn outputs(state: &Path) -> Value {
    let (_, dir) = only_run(state);
    journal(&dir)
        .iter()
        .find_map(|e| match &e.event {
            Event::ActionFinished { ok: true, outputs, .. } => {
                Some(Value::Object(outputs.clone().into_iter().collect()))
            }
            _ => None,
        })
        .expect("the action finished")
}

#[test]
fn an_in_place_failback_writes_only_the_difference_and_keeps_the_table_its_stream_and_settings() {
    let (moto, url) = fresh_world();
    // Recovery: a changed item, and many new ones; primary: an item recovery does not hold.
    put(&url, RECOVERY_REGION, "session-1", "changed in recovery after the failover");
    let big = "x".repeat(30_000);
    for n in 0..BULK {
        put(&url, RECOVERY_REGION, &format!("bulk-{n}"), &big);
    }
    put(&url, PRIMARY_REGION, "stale-1", "only in primary: recovery deleted it");
    let (p0, r0) = (table(&url, PRIMARY_REGION).unwrap(), table(&url, RECOVERY_REGION).unwrap());
    let id0 = identity(&url);
    let whole = || {
        let ddb = aws_sdk_dynamodb::Client::new(&sdk(&url, PRIMARY_REGION));
        let out = block_on(ddb.describe_table().table_name(DYNAMODB_TABLE).send()).unwrap();
        pilotlight::aws::answer_tree::tree(out.table().unwrap())
    };
    let whole_before = whole();

    let layer = RealismProxy::with_aws_rules(moto.port, Vec::new());
    moto_api::start_recording(moto.port).unwrap();
    let state = state_dir();
    let out = failback(state.path(), &layer.endpoint_url());
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    let p1 = table(&url, PRIMARY_REGION).unwrap();
    assert_eq!(p1.items, r0.items, "primary holds exactly the recovery table's items");
    assert_eq!(p1.config, p0.config, "keys, index, billing, stream, TTL, PITR, deletion protection and tags as before");
    assert_eq!(p1.pilotlight_tags, p0.pilotlight_tags, "the table is not re-tagged: it is the same table");
    assert_eq!(identity(&url), id0, "the same table: ARN, creation time and stream ARN unchanged");
    let differ = pilotlight::actions::failback::whole_diff::differences(&whole_before, &whole(), &IN_PLACE_RULES);
    let unknown = pilotlight::actions::failback::whole_diff::UNKNOWN;
    assert!(!differ.iter().any(|d| d.contains(unknown)), "only the data differs: {differ:#?}");
    assert_eq!(table(&url, RECOVERY_REGION).as_ref(), Some(&r0), "recovery is only read");

    // What was sent: the backup and the difference in batches of at most 25, nothing re-created.
    let calls = recorded(moto.port);
    let mutating: Vec<&str> = calls.iter().filter(|c| c.mutating()).map(|c| c.operation.as_str()).collect();
    let changed = (r0.items.len() - 3) + 1; // the new sessions and bulk items, and session-1
    assert_eq!(mutating.iter().filter(|o| **o == "CreateBackup").count(), 1, "{mutating:?}");
    assert!(
        mutating.iter().all(|o| ["CreateBackup", "BatchWriteItem"].contains(o)),
        "nothing re-created: {mutating:?}"
    );
    let batches: Vec<(usize, usize)> = calls
        .iter()
        .filter(|c| c.operation == "BatchWriteItem")
        .map(|c| (c.body.matches("\"PutRequest\"").count(), c.body.matches("\"DeleteRequest\"").count()))
        .collect();
    assert!(batches.iter().all(|(p, d)| p + d <= 25 && p + d > 0), "batches AWS takes: {batches:?}");
    let (puts, deletes) = batches.iter().fold((0, 0), |(p, d), b| (p + b.0, d + b.1));
    assert_eq!((puts, deletes), (changed, 1), "the difference only, each item once: {batches:?}");
    let scans = calls.iter().filter(|c| c.operation == "Scan").count();
    assert!(scans > 2 * 2 + 2, "two segments a side, recovery's over more than one page, and the verify: {scans}");

    let kept = backups(&url);
    assert_eq!(kept.len(), 1, "one safety backup: {kept:?}");
    assert_eq!(kept[0].1, "AVAILABLE");
    let o = outputs(state.path());
    let res = &o["resources"]["sessions_table"];
    assert_eq!(res["method"], "in-place");
    assert_eq!(res["items"]["put"], changed);
    assert_eq!(res["items"]["deleted"], 1);
    assert_eq!(res["items"]["unchanged"], 2, "session-2 and session-3 were equal on both sides");
    assert_eq!(res["items"]["recovery_table"], r0.items.len());
    assert_eq!(res["items"]["primary_after"], r0.items.len());
    assert_eq!(res["scan_segments"], 2);
    assert!(res["recovery_point"].is_string(), "{res}");
    assert_eq!(res["remaining_differences"].as_array().map(Vec::len), Some(differ.len()), "{res}");
    let retained = o["retained"].as_array().unwrap();
    assert_eq!(retained.len(), 1, "the safety backup, and no export: {retained:?}");
    assert_eq!(retained[0]["kind"], "dynamodb_backup");
    assert_eq!(retained[0]["id"], res["safety_backup"]);

    // Run again: nothing differs now, so nothing is written but the new safety backup.
    moto_api::start_recording(moto.port).unwrap();
    let again = state_dir();
    let out = failback(again.path(), &layer.endpoint_url());
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let mutating: Vec<String> = recorded(moto.port).into_iter().filter(|c| c.mutating()).map(|c| c.operation).collect();
    assert_eq!(mutating, ["CreateBackup"], "a table already in sync gets a backup only");
    assert_eq!(table(&url, PRIMARY_REGION).unwrap().items, r0.items);
}

/// The end state that matters (ARNs and run ids differ between worlds).
#[derive(Debug, PartialEq)]
struct EndState {
    primary: Option<Table>,
    recovery: Option<Table>,
    available_backups: usize,
    backups: usize,
}

fn summary(url: &str) -> EndState {
    let b = backups(url);
    EndState {
        primary: table(url, PRIMARY_REGION),
        recovery: table(url, RECOVERY_REGION),
        available_backups: b.iter().filter(|(_, s)| s == "AVAILABLE").count(),
        backups: b.len(),
    }
}

#[test]
fn a_kill_after_any_journal_entry_of_an_in_place_failback_resumes_to_the_same_end_state() {
    let points = kill_at_every_point_under_aws_rules(&PARTS, &[FIXTURE], 2, Kill::AfterEveryEntry, summary).points;
    assert!(points > 20, "the in-place failback journals its sub-steps and calls ({points} kill points)");
}

/// The answer to each kind of mutating call (the backup, a batch write) is lost once on the way
/// back: the next attempt finds the backup by name and compares again; nothing is made twice.
#[test]
fn a_lost_answer_to_any_mutating_call_of_an_in_place_failback_makes_nothing_twice() {
    let ops = super::lost_answers::lose_each_answer(&PARTS, &[FIXTURE], 2, summary);
    assert!(ops.contains(&"BatchWriteItem".to_string()) && ops.contains(&"CreateBackup".to_string()), "{ops:?}");
}

fn batch(requests: Vec<WriteRequest>) -> aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput {
    aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput::builder()
        .request_items(DYNAMODB_TABLE, requests)
        .build()
        .unwrap()
}

fn put_request(pk: &str) -> WriteRequest {
    let item = [("pk".to_string(), AttributeValue::S(pk.into()))].into_iter().collect();
    WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build().unwrap()).build()
}

fn delete_request(pk: &str) -> WriteRequest {
    let key = [("pk".to_string(), AttributeValue::S(pk.into()))].into_iter().collect();
    WriteRequest::builder().delete_request(DeleteRequest::builder().set_key(Some(key)).build().unwrap()).build()
}

/// BatchWriteItem (API reference): more than 25 requests, or a put and a delete of one item in
/// one call, are refused whole. Bare moto writes both; the rules layer refuses both.
#[test]
fn the_rules_layer_refuses_what_batch_write_item_refuses_and_moto_takes() {
    let (moto, url) = fresh_world();
    let layer = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let send = |endpoint: &str, input: aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput| {
        let ddb = aws_sdk_dynamodb::Client::new(&sdk(endpoint, PRIMARY_REGION));
        let items = input.request_items().cloned().unwrap();
        block_on(ddb.batch_write_item().set_request_items(Some(items)).send())
            .map_err(|e| e.into_service_error().meta().code().unwrap_or_default().to_string())
            .map(|_| ())
    };
    let too_many = || batch((0..26).map(|n| put_request(&format!("many-{n}"))).collect());
    let both = || batch(vec![put_request("session-1"), delete_request("session-1")]);
    assert_eq!(send(&url, too_many()), Ok(()), "moto writes 26 requests");
    assert_eq!(send(&url, both()), Ok(()), "moto takes a put and a delete of one item");
    let before = table(&url, PRIMARY_REGION).unwrap().items;
    assert_eq!(send(&layer.endpoint_url(), too_many()), Err("ValidationException".into()));
    assert_eq!(send(&layer.endpoint_url(), both()), Err("ValidationException".into()));
    assert_eq!(table(&url, PRIMARY_REGION).unwrap().items, before, "a refused batch writes nothing");
    let fine = batch((0..25).map(|n| put_request(&format!("fine-{n}"))).collect());
    assert_eq!(send(&layer.endpoint_url(), fine), Ok(()), "25 requests are taken");
}

/// `plan` shows what the chosen path trades, for each way of failing a table back.
#[test]
fn the_plan_says_what_each_way_of_failing_a_table_back_trades() {
    let plan = |fixture: &str| {
        let state = state_dir();
        let mut cmd = pilotlight(state.path());
        cmd.args(["plan", fixture]);
        let out = run(cmd);
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let in_place = plan(FIXTURE);
    assert!(in_place.contains("trade-off: in place: the same table, ARN and stream"), "{in_place}");
    assert!(in_place.contains("both tables are read in full"), "{in_place}");
    let import = plan("tests/fixtures/dynamodb-failback.yaml");
    assert!(
        import.contains("trade-off: by import: a new table under the same name, with a new ARN and stream"),
        "{import}"
    );
}

/// In place needs no export: a recovery table without point-in-time recovery passes preflight
/// (which an import's preflight fails) and is failed back; both sides' keys are checked instead.
#[test]
fn in_place_needs_no_point_in_time_recovery_and_preflight_checks_the_keys_instead() {
    let (_moto, url) = fresh_world();
    super::dynamodb_failback::set_recovery_pitr(&url, false);
    let findings = |fixture: &str| -> Vec<(String, String)> {
        let state = state_dir();
        let mut cmd = pilotlight(state.path());
        cmd.args(["preflight", fixture, "--format", "json", "--endpoint-url", &url]);
        let out = run(cmd);
        let found: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON findings");
        found.iter().map(|f| (f["rule"].as_str().unwrap().into(), f["verdict"].as_str().unwrap().into())).collect()
    };
    let import = findings("tests/fixtures/dynamodb-failback.yaml");
    assert!(import.contains(&("recovery-pitr".into(), "fail".into())), "{import:?}");
    let in_place = findings(FIXTURE);
    assert!(in_place.contains(&("in-place".into(), "pass".into())), "{in_place:?}");
    assert!(!in_place.iter().any(|(rule, _)| rule == "recovery-pitr" || rule == "importable"), "{in_place:?}");
    let state = state_dir();
    let out = failback(state.path(), &url);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(table(&url, PRIMARY_REGION).unwrap().items, table(&url, RECOVERY_REGION).unwrap().items);
}

fn resume(state: &Path, url: &str) -> std::process::Output {
    let (id, _) = only_run(state);
    let mut cmd = pilotlight(state);
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", url]);
    run(cmd)
}

/// Something changes primary between the sync and its verify (here: a kill between them, and an
/// item deleted meanwhile): the verify fails saying so, and the next attempt syncs again instead
/// of verifying the same table again.
#[test]
fn a_failed_verify_makes_the_next_attempt_sync_again() {
    use pilotlight::journal::{CRASH_AFTER_ENV, CRASH_EXIT_CODE, SubPhase};
    // Where the sync is done, from an uninterrupted run.
    let (_moto, url) = fresh_world();
    let state = state_dir();
    assert_eq!(failback(state.path(), &url).status.code(), Some(0));
    let (_, dir) = only_run(state.path());
    let synced = journal(&dir)
        .iter()
        .find(|e| matches!(&e.event, Event::SubStep { name, phase: SubPhase::Done, .. } if name.part == "sync"))
        .expect("the sync is journaled")
        .seq;

    let (_moto, url) = fresh_world();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", &url]);
    cmd.env(CRASH_AFTER_ENV, synced.to_string());
    assert_eq!(run(cmd).status.code(), Some(CRASH_EXIT_CODE), "killed once the sync is done");
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(&url, PRIMARY_REGION));
    let key = AttributeValue::S("session-2".into());
    block_on(ddb.delete_item().table_name(DYNAMODB_TABLE).key("pk", key).send()).unwrap();

    let out = resume(state.path(), &url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("does not hold what the sync read in recovery"), "{stdout}");
    let out = resume(state.path(), &url);
    assert_eq!(out.status.code(), Some(0), "the sync ran again: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(table(&url, PRIMARY_REGION).unwrap().items, table(&url, RECOVERY_REGION).unwrap().items);
}

/// The sync refused (every BatchWriteItem denied) with `on_failure: rollback`: primary is put
/// back from the safety backup; with the refusal gone, a resume syncs again; and `undo` then
/// puts primary back once more (the rollback reset what it undid, so nothing is taken as done).
#[test]
fn a_rolled_back_in_place_failback_syncs_again_on_resume_and_undo_still_puts_primary_back() {
    use super::dynamodb_rollback::refused;
    use super::realism::Fault;
    let rollback = "tests/fixtures/dynamodb-in-place-rollback.yaml";
    let (moto, url) = fresh_world();
    let before = table(&url, PRIMARY_REGION).unwrap();
    let denied = Fault::Refuse {
        code: "AccessDeniedException",
        message: "User is not authorized to perform: dynamodb:BatchWriteItem on resource: table/sessions",
    };
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![refused("DynamoDB_20120810.BatchWriteItem", denied)]);
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rollback, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("rolled back"), "{stdout}");
    assert_eq!(table(&url, PRIMARY_REGION).unwrap().items, before.items, "put back from the safety backup");

    let out = resume(state.path(), &url);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let recovery = table(&url, RECOVERY_REGION).unwrap();
    assert_eq!(table(&url, PRIMARY_REGION).unwrap().items, recovery.items, "synced again");

    let (id, _) = only_run(state.path());
    let mut cmd = pilotlight(state.path());
    cmd.args(["undo", &id, "--reason", "the failed-back data is wrong", "--yes", "--endpoint-url", &url]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(table(&url, PRIMARY_REGION).unwrap().items, before.items, "undone: primary's items as before");
}

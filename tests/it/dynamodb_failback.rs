//! `dynamodb.failback` against moto, checked with independent SDK calls: the primary table
//! holds exactly the recovery table's items under its own name, with its index, stream, TTL,
//! point-in-time recovery, deletion protection and tags as before; a safety backup is kept and
//! listed; a second failback works; a kill after any journal entry resumes to the same end
//! state; a dry run changes nothing; a recovery table without PITR stops before anything changes.

use super::support::{
    Kill, block_on, journal, kill_at_every_point, moto, only_run, pilotlight, recorded, run, sdk, state_dir,
};
use pilotlight::actions::failback::dynamodb::RULES as TABLE_RULES;
use pilotlight::journal::Event;
use pilotlight::sandbox::moto_api;
use pilotlight::sandbox::seed::{
    DYNAMODB_TABLE, PRIMARY_REGION, PRIMARY_SESSIONS, Part, RECOVERY_REGION, RECOVERY_SESSIONS, STAGING_BUCKET,
    seed_parts,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

const FIXTURE: &str = "tests/fixtures/dynamodb-failback.yaml";
const PARTS: [Part; 2] = [Part::Dynamodb, Part::StagingBucket];

/// (attribute, HASH or RANGE) of a key.
type Keys = Vec<(String, String)>;

/// What a failback must carry over, as DynamoDB reports it (ARNs and times left out).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Config {
    keys: Keys,
    billing: String,
    /// Index name, keys, projection.
    indexes: Vec<(String, Keys, String)>,
    stream: Option<String>,
    ttl: Option<String>,
    pitr: bool,
    pub(super) deletion_protection: bool,
    /// Tags other than pilotlight's own.
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Table {
    pub(super) config: Config,
    pub(super) pilotlight_tags: BTreeMap<String, String>,
    /// Every item, rendered canonically.
    pub(super) items: BTreeSet<String>,
}

pub(super) fn table(url: &str, region: &str) -> Option<Table> {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(url, region));
    block_on(async {
        let t = match ddb.describe_table().table_name(DYNAMODB_TABLE).send().await {
            Ok(out) => out.table().cloned().unwrap(),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => return None,
            Err(e) => panic!("DescribeTable: {e:?}"),
        };
        let keys = |k: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
            k.iter().map(|k| (k.attribute_name().to_string(), k.key_type().as_str().to_string())).collect()
        };
        let ttl = ddb.describe_time_to_live().table_name(DYNAMODB_TABLE).send().await.unwrap();
        let ttl = ttl
            .time_to_live_description()
            .filter(|d| d.time_to_live_status().is_some_and(|s| s.as_str() == "ENABLED"))
            .and_then(|d| d.attribute_name().map(str::to_string));
        let backups = ddb.describe_continuous_backups().table_name(DYNAMODB_TABLE).send().await.unwrap();
        let pitr = backups
            .continuous_backups_description()
            .and_then(|c| c.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .is_some_and(|s| s.as_str() == "ENABLED");
        let tags = ddb.list_tags_of_resource().resource_arn(t.table_arn().unwrap()).send().await.unwrap();
        let (pilotlight_tags, tags): (BTreeMap<_, _>, BTreeMap<_, _>) = tags
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .partition(|(k, _)| k.starts_with("pilotlight:"));
        let mut items = BTreeSet::new();
        let mut start = None;
        loop {
            let out = ddb.scan().table_name(DYNAMODB_TABLE).set_exclusive_start_key(start).send().await.unwrap();
            items.extend(out.items().iter().map(|i| format!("{:?}", i.iter().collect::<BTreeMap<_, _>>())));
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        let config = Config {
            keys: keys(t.key_schema()),
            billing: t.billing_mode_summary().and_then(|b| b.billing_mode()).unwrap().as_str().to_string(),
            indexes: t
                .global_secondary_indexes()
                .iter()
                .map(|g| {
                    let projection = g.projection().and_then(|p| p.projection_type()).unwrap().as_str().to_string();
                    (g.index_name().unwrap().to_string(), keys(g.key_schema()), projection)
                })
                .collect(),
            stream: t
                .stream_specification()
                .filter(|s| s.stream_enabled())
                .map(|s| s.stream_view_type().unwrap().as_str().to_string()),
            ttl,
            pitr,
            deletion_protection: t.deletion_protection_enabled().unwrap_or(false),
            tags,
        };
        Some(Table { config, pilotlight_tags, items })
    })
}

/// (name, status) of every backup of the primary table.
pub(super) fn backups(url: &str) -> Vec<(String, String)> {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(url, PRIMARY_REGION));
    let out = block_on(ddb.list_backups().table_name(DYNAMODB_TABLE).send()).unwrap();
    out.backup_summaries()
        .iter()
        .map(|b| (b.backup_name().unwrap().to_string(), b.backup_status().unwrap().as_str().to_string()))
        .collect()
}

/// Exports of the recovery table.
fn exports(url: &str) -> usize {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(url, RECOVERY_REGION));
    let arn = block_on(ddb.describe_table().table_name(DYNAMODB_TABLE).send())
        .unwrap()
        .table()
        .unwrap()
        .table_arn()
        .unwrap()
        .to_string();
    block_on(ddb.list_exports().table_arn(arn).send()).unwrap().export_summaries().len()
}

/// Keys of the objects in the staging bucket (moto's plain path-style S3 over loopback).
fn staged_objects(url: &str) -> Vec<String> {
    let port: u16 = url.rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap();
    let (status, body) = moto_api::request(port, "GET", &format!("/{STAGING_BUCKET}"), "").unwrap();
    assert_eq!(status, 200, "{body}");
    body.split("<Key>").skip(1).map(|s| s.split("</Key>").next().unwrap().to_string()).collect()
}

/// Turns point-in-time recovery on or off on recovery's sessions table (an export needs it on).
pub(super) fn set_recovery_pitr(url: &str, on: bool) {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(url, RECOVERY_REGION));
    let off = aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(on)
        .build()
        .unwrap();
    let req = ddb.update_continuous_backups().table_name(DYNAMODB_TABLE).point_in_time_recovery_specification(off);
    block_on(req.send()).expect("UpdateContinuousBackups");
}

pub(super) fn fresh_world() -> (super::support::Moto, String) {
    let server = moto();
    let url = server.endpoint_url();
    block_on(seed_parts(&url, &PARTS)).expect("seed");
    (server, url)
}

pub(super) fn failback(state: &Path, url: &str, extra: &[&str]) -> std::process::Output {
    let mut cmd = pilotlight(state);
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", url]).args(extra);
    run(cmd)
}

/// The action's outputs from the run's journal.
fn outputs(state: &Path) -> (String, serde_json::Map<String, Value>) {
    let (id, dir) = only_run(state);
    let out = journal(&dir)
        .iter()
        .find_map(|e| match &e.event {
            Event::ActionFinished { ok: true, outputs, .. } => Some(outputs.clone()),
            _ => None,
        })
        .expect("the action finished");
    (id, out.into_iter().collect())
}

#[test]
fn dynamodb_failback_brings_the_recovery_items_home_with_the_primary_configuration_twice_over() {
    let (moto, url) = fresh_world();
    let (p0, r0) = (table(&url, PRIMARY_REGION).unwrap(), table(&url, RECOVERY_REGION).unwrap());
    assert_eq!((p0.items.len(), r0.items.len()), (PRIMARY_SESSIONS, RECOVERY_SESSIONS));
    assert!(p0.config.deletion_protection && p0.config.stream.is_some() && p0.config.ttl.is_some() && p0.config.pitr);
    assert_ne!(p0.config.tags, r0.config.tags, "the sides' tags differ (env), so the primary's must come back");

    let whole = || {
        let ddb = aws_sdk_dynamodb::Client::new(&sdk(&url, PRIMARY_REGION));
        let out = block_on(ddb.describe_table().table_name(DYNAMODB_TABLE).send()).unwrap();
        pilotlight::aws::answer_tree::tree(out.table().unwrap())
    };
    let whole_before = whole();
    moto_api::start_recording(moto.port).unwrap();
    let state = state_dir();
    let started = Instant::now();
    let out = failback(state.path(), &url, &[]);
    let took = started.elapsed();
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0));
    let calls: Vec<_> = recorded(moto.port).into_iter().filter(|c| !c.operation.starts_with("REST ")).collect();
    let mutating: Vec<&str> = calls.iter().filter(|c| c.mutating()).map(|c| c.operation.as_str()).collect();
    eprintln!(
        "dynamodb.failback of one table: {:.1}s, {} AWS calls, {} mutating: {mutating:?}",
        took.as_secs_f64(),
        calls.len(),
        mutating.len()
    );

    let p1 = table(&url, PRIMARY_REGION).expect("the primary table exists again");
    assert_eq!(p1.items, r0.items, "primary holds exactly the recovery table's items");
    assert_eq!(p1.config, p0.config, "keys, index, billing, stream, TTL, PITR, deletion protection and tags as before");
    // The whole Describe, field by field: what differs has a reason (new stream, recovery's data).
    let differ = pilotlight::actions::failback::whole_diff::differences(&whole_before, &whole(), &TABLE_RULES);
    let unknown = pilotlight::actions::failback::whole_diff::UNKNOWN;
    assert!(!differ.iter().any(|d| d.contains(unknown)), "differs with no reason: {differ:#?}");
    let (run_id, outputs) = outputs(state.path());
    assert_eq!(p1.pilotlight_tags.get("pilotlight:run"), Some(&run_id), "the new table says which run made it");
    assert_eq!(table(&url, RECOVERY_REGION).as_ref(), Some(&r0), "recovery is only read");

    let kept = backups(&url);
    assert_eq!(kept.len(), 1, "one safety backup: {kept:?}");
    assert_eq!(kept[0].1, "AVAILABLE");
    assert!(kept[0].0.contains(&run_id), "named after the run: {kept:?}");
    assert_eq!(exports(&url), 1, "one export");
    let staged = staged_objects(&url);
    assert_eq!(staged.len(), 1, "one data file: {staged:?}");

    let res = &outputs["resources"]["sessions_table"];
    assert_eq!(res["items"]["exported"], RECOVERY_SESSIONS);
    assert_eq!(res["items"]["imported"], RECOVERY_SESSIONS);
    assert!(res["recovery_point"].is_string(), "the recovery point is recorded: {res}");
    assert_eq!(res["recorded_config"]["settings"]["deletion_protection"], true);
    assert_eq!(res["reapplied_config"]["deletion_protection"], true);
    let remaining = res["remaining_differences"].as_array().expect("compared");
    assert!(
        remaining.iter().any(|d| d.as_str().unwrap().starts_with("latest_stream_arn: ")),
        "the new stream is said: {remaining:?}"
    );
    let retained: Vec<(&str, &str)> = outputs["retained"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["id"].as_str().unwrap()))
        .collect();
    assert_eq!(retained.len(), 2, "{retained:?}");
    assert_eq!(retained[0].0, "dynamodb_backup");
    assert!(retained[0].1.contains("/backup/"), "{retained:?}");
    assert!(staged[0].starts_with(retained[1].1.trim_start_matches(&format!("s3://{STAGING_BUCKET}/"))));
    let arn = &res["safety_backup"];
    assert_eq!(retained[0].1, arn.as_str().unwrap());

    // The real failback after the test one: works again and still matches.
    let again = state_dir();
    let out = failback(again.path(), &url, &[]);
    assert_eq!(out.status.code(), Some(0));
    let p2 = table(&url, PRIMARY_REGION).unwrap();
    assert_eq!(p2.items, r0.items);
    assert_eq!(p2.config, p0.config);
    let (second, _) = only_run(again.path());
    assert_eq!(p2.pilotlight_tags.get("pilotlight:run"), Some(&second));
    assert_eq!(backups(&url).len(), 2, "each failback keeps its own safety backup");
    assert_eq!(exports(&url), 2);
}

/// The end state that matters, as counts and contents (ARNs and run ids differ between worlds).
#[derive(Debug, PartialEq)]
struct EndState {
    primary: Option<Table>,
    recovery: Option<Table>,
    available_backups: usize,
    backups: usize,
    exports: usize,
    staged_objects: usize,
}

fn summary(url: &str) -> EndState {
    let strip = |t: Option<Table>| {
        t.map(|mut t| {
            t.pilotlight_tags.remove("pilotlight:run");
            t
        })
    };
    let b = backups(url);
    EndState {
        primary: strip(table(url, PRIMARY_REGION)),
        recovery: strip(table(url, RECOVERY_REGION)),
        available_backups: b.iter().filter(|(_, s)| s == "AVAILABLE").count(),
        backups: b.len(),
        exports: exports(url),
        staged_objects: staged_objects(url).len(),
    }
}

#[test]
fn a_kill_after_any_journal_entry_of_a_dynamodb_failback_resumes_to_the_same_end_state() {
    let started = Instant::now();
    let points = kill_at_every_point(&PARTS, &[FIXTURE], 2, Kill::AfterEveryEntry, summary).points;
    assert!(points > 30, "a failback journals its sub-steps ({points} kill points)");
    eprintln!(
        "dynamodb.failback: {points} journal entries; killed and resumed after one of each class in {:.0}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_dynamodb_dry_run_shows_the_whole_sequence_and_changes_nothing() {
    let (moto, url) = fresh_world();
    let before = summary(&url);
    moto_api::start_recording(moto.port).unwrap();
    let state = state_dir();
    let out = failback(state.path(), &url, &["--dry-run"]);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0));
    let calls = recorded(moto.port);
    let mutating: Vec<&str> = calls.iter().filter(|r| r.mutating()).map(|r| r.operation.as_str()).collect();
    assert!(mutating.is_empty(), "dry run sent mutating calls: {mutating:?}");
    assert_eq!(summary(&url), before, "nothing changed");

    let (_, dir) = only_run(state.path());
    let notes: Vec<String> = journal(&dir)
        .into_iter()
        .filter_map(|e| match e.event {
            Event::ActionLog { message, .. } if message.starts_with("dry run: would") => Some(message),
            _ => None,
        })
        .collect();
    let expected = [
        "would export recovery table sessions (us-west-2) to s3://pilotlight-failback-staging/pilotlight/",
        "would back up primary table sessions as pilotlight-",
        "would delete primary table sessions (deletion protection off first, after its safety backup)",
        "would import s3://pilotlight-failback-staging/pilotlight/",
        "would re-apply to the new table sessions: tags app=demo, env=primary, owner=payments-team",
        "would re-apply to the new table sessions: TTL on attribute expires_at",
        "would re-apply to the new table sessions: point-in-time recovery on",
        "would re-apply to the new table sessions: stream on (NEW_AND_OLD_IMAGES)",
        "would re-apply to the new table sessions: deletion protection on",
    ];
    let mut at = 0;
    for want in expected {
        let found = notes[at..].iter().position(|n| n.contains(want));
        assert!(found.is_some(), "`{want}` in order in {notes:#?}");
        at += found.unwrap_or(0) + 1;
    }
}

#[test]
fn a_recovery_table_without_pitr_stops_the_failback_before_anything_changes() {
    let (moto, url) = fresh_world();
    set_recovery_pitr(&url, false);
    let before = summary(&url);
    moto_api::start_recording(moto.port).unwrap();
    let state = state_dir();
    let out = failback(state.path(), &url, &[]);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(1), "the step fails");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("recovery table sessions (us-west-2) has point-in-time recovery off")
            && stdout.contains("update-continuous-backups"),
        "the error names the table and what to do: {stdout}"
    );
    let mutating: Vec<String> = recorded(moto.port).into_iter().filter(|r| r.mutating()).map(|r| r.operation).collect();
    assert!(mutating.is_empty(), "nothing was sent that changes state: {mutating:?}");
    assert_eq!(summary(&url), before, "the primary table is untouched");
}

/// Every mutating call of the failback reached AWS and its answer was lost with the process:
/// the resume finds what the call did (by token, name or tag) instead of doing it twice.
#[test]
fn a_kill_after_any_mutating_call_of_dynamodb_failback_was_answered_resumes_to_the_same_end_state() {
    let points = kill_at_every_point(&PARTS, &[FIXTURE], 2, Kill::BeforeEveryAnswer, summary).run;
    assert!(points > 3, "one kill point per mutating call ({points})");
    eprintln!("dynamodb.failback: killed after each of {points} mutating calls was answered, then resumed");
}

/// The answer to each kind of mutating call of the failback is lost once on the way back (the
/// next attempt looks for what the call made): nothing is made twice.
#[test]
fn a_lost_answer_to_any_mutating_call_of_dynamodb_failback_makes_nothing_twice() {
    let ops = super::lost_answers::lose_each_answer(&PARTS, &[FIXTURE], 2, summary);
    assert!(ops.len() > 2, "the failback sends several kinds of mutating call: {ops:?}");
    eprintln!("dynamodb.failback: an answer lost for each of {} operations: {ops:?}", ops.len());
}

/// The answer to each kind of mutating call is an internal error once (DynamoDB's
/// `InternalServerError`), after the call was carried out: nothing is made twice.
#[test]
fn an_internal_error_answer_to_any_mutating_call_of_a_dynamodb_failback_makes_nothing_twice() {
    let fault = super::realism::Fault::InternalError;
    let ops = super::lost_answers::spoil_each_answer(&PARTS, &[FIXTURE], 2, fault, summary);
    assert!(ops.contains(&"ExportTableToPointInTime".to_string()), "{ops:?}");
}

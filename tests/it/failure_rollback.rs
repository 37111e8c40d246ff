//! Rolling a failed failback step back after its point of no return: `on_failure: rollback`
//! unasked, and the operator's `:rollback` in the line mode, for failures no automatic way back
//! covers. DynamoDB fails after it replaced primary's table (its configuration refused once):
//! primary's table is put back as it was (configuration and every item, read independently), the
//! failed-back table is kept in a backup, the step and the run fail saying so, and a resume fails
//! back again (a new import, not the old one answered again); also across kills. EC2 fails at
//! the start after the swap, Aurora at its first instance after the restore: each is put back
//! (its whole Describe as before) and a resume fails back.

use super::dynamodb_failback::{Table, backups, fresh_world, table};
use super::dynamodb_rollback::refused;
use super::realism::{Fault, FaultRule, RealismProxy};
use super::support::{journal, killed_after, only_run, pilotlight, run, state_dir};
use pilotlight::journal::CRASH_AFTER_ENV;
use pilotlight::journal::{Event, FailureOutcome};
use pilotlight::sandbox::realism::proxy::Rule;
use pilotlight::sandbox::seed::PRIMARY_REGION;
use std::io::Write;

/// DynamoDB refuses the failed-back table's TTL once (a permission taken away and given back).
fn ttl_refused_once() -> FaultRule {
    let fault = Fault::Refuse {
        code: "AccessDeniedException",
        message: "User is not authorized to perform: dynamodb:UpdateTimeToLive on resource: table/sessions",
    };
    FaultRule { times: 1, ..refused("DynamoDB_20120810.UpdateTimeToLive", fault) }
}

/// What a rolled-back run must show: primary as before, the step failed saying so, the kept-aside
/// backup retained, and a resume that fails back with a second import.
fn assert_rolled_back_then_failed_back(state: &std::path::Path, (port, url): (u16, &str), before: &Table) {
    let after = table(url, PRIMARY_REGION).expect("primary's table is there");
    assert_eq!(after.config, before.config, "configuration as before");
    assert_eq!(after.items, before.items, "every item as before");
    let (id, dir) = only_run(state);
    let entries = journal(&dir);
    assert!(
        entries.iter().any(|e| matches!(&e.event, Event::RolledBack { ok: true, .. })),
        "the rollback is journaled"
    );
    let reason = entries.iter().rev().find_map(|e| match &e.event {
        Event::StepStatus { reason: Some(r), .. } => Some(r.clone()),
        _ => None,
    });
    assert!(reason.as_deref().unwrap_or_default().starts_with("rolled back after it failed"), "{reason:?}");
    assert_eq!(backups(url).len(), 2, "the safety backup and the failed-back table's: {:?}", backups(url));

    let proxy = RealismProxy::with_aws_rules(port, Vec::new());
    let mut cmd = pilotlight(state);
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let failed_back = table(url, PRIMARY_REGION).unwrap();
    assert_eq!(failed_back.config, before.config, "the failback keeps the configuration");
    assert_ne!(failed_back.items, before.items, "primary holds recovery's items now");
    let imports: Vec<String> = journal(&dir)
        .iter()
        .filter_map(|e| match &e.event {
            Event::SubStep { name, data, .. } if name.part == "import" && data.get("import_arn").is_some() => {
                data["import_arn"].as_str().map(str::to_string)
            }
            _ => None,
        })
        .collect();
    assert_eq!(imports.len(), 2, "imported again after the rollback: {imports:?}");
}

#[test]
fn on_failure_rollback_puts_primarys_table_back_and_a_resume_fails_back() {
    let (moto, url) = fresh_world();
    let before = table(&url, PRIMARY_REGION).expect("primary table");
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![ttl_refused_once()]);
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/dynamodb-failback-rollback.yaml", "--headless", "--auto-approve"])
        .args(["--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("failback-dynamodb: rolled back: primary is as it was before it"), "{stdout}");
    assert_rolled_back_then_failed_back(state.path(), (moto.port, &url), &before);
}

#[test]
fn the_operators_rollback_decision_puts_primarys_table_back() {
    let (moto, url) = fresh_world();
    let before = table(&url, PRIMARY_REGION).expect("primary table");
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![ttl_refused_once()]);
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args([
        "run",
        "tests/fixtures/dynamodb-failback-ask.yaml",
        "--headless",
        "--endpoint-url",
        &proxy.endpoint_url(),
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run pilotlight");
    // The gate's text, then the decision after the failure.
    child.stdin.take().unwrap().write_all(b"failback\n:rollback\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(":rollback"), "the decision offers it: {stdout}");
    let (_, dir) = only_run(state.path());
    let decided = journal(&dir)
        .iter()
        .any(|e| matches!(&e.event, Event::FailureDecided { outcome: FailureOutcome::Rollback, .. }));
    assert!(decided, "the operator's decision is journaled");
    assert_rolled_back_then_failed_back(state.path(), (moto.port, &url), &before);
}

/// Killed after each journal entry of an `on_failure: rollback` rollback in turn (one in three),
/// then resumed under --auto-approve: the rollback goes on first (not a retry of the half put-back
/// failback), the run stops failed with primary's table as before, and a further resume fails
/// back.
#[test]
fn a_kill_during_a_decided_rollback_goes_on_with_it_on_resume() {
    let start = |state: &std::path::Path, url: &str, kill: Option<u64>| {
        let mut cmd = pilotlight(state);
        cmd.args(["run", "tests/fixtures/dynamodb-failback-rollback.yaml", "--headless", "--auto-approve"])
            .args(["--endpoint-url", url]);
        if let Some(n) = kill {
            cmd.env(CRASH_AFTER_ENV, n.to_string());
        }
        run(cmd)
    };
    let (moto, _) = fresh_world();
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![ttl_refused_once()]);
    let state = state_dir();
    assert_eq!(start(state.path(), &proxy.endpoint_url(), None).status.code(), Some(1));
    let (_, dir) = only_run(state.path());
    let entries = journal(&dir);
    let first = entries
        .iter()
        .find(|e| matches!(&e.event, Event::FailureDecided { outcome: FailureOutcome::Rollback, .. }))
        .expect("the rollback was decided")
        .seq;
    let last = entries.iter().find(|e| matches!(&e.event, Event::RolledBack { .. })).unwrap().seq;
    drop((moto, proxy));
    for at in (first..last).step_by(3) {
        let (moto, url) = fresh_world();
        let before = table(&url, PRIMARY_REGION).unwrap();
        let proxy = RealismProxy::with_aws_rules(moto.port, vec![ttl_refused_once()]);
        let state = state_dir();
        let killed = start(state.path(), &proxy.endpoint_url(), Some(at));
        let out = super::support::resumed_after_kill(killed, state.path(), at, &proxy.endpoint_url());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "killed after entry {at}: the rollback ends the run: {stdout}");
        assert!(stdout.contains("rolled back: primary is as it was before it"), "killed after entry {at}: {stdout}");
        assert_rolled_back_then_failed_back(state.path(), (moto.port, &url), &before);
    }
}

/// Runs `args` behind the rules layer with `needle` refused once: the run fails saying `says`,
/// and the case's resource is as before (its whole Describe); a resume fails back. The world's
/// moto (kept alive), URL and the resource before, for more checks.
fn put_back_then_resumed(
    case: &super::undo::Case,
    args: &[&str],
    (needle, fault): (&'static str, Fault),
    says: &str,
) -> (super::support::Moto, String, serde_json::Value) {
    put_back_then_resumed_after(case, args, FaultRule { needle, times: 1, fault }.into(), says)
}

/// [`put_back_then_resumed`] with any rule of the proxy (one that lets some calls through first).
fn put_back_then_resumed_after(
    case: &super::undo::Case,
    args: &[&str],
    rule: Rule,
    says: &str,
) -> (super::support::Moto, String, serde_json::Value) {
    let (moto, url) = super::support::seeded_moto();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    proxy.rules.lock().unwrap().push(std::sync::Arc::new(rule));
    let before = (case.whole)(&url);
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run"]).args(args).args(["--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(says), "{says}\n{stdout}");
    let after = (case.whole)(&url);
    assert_eq!(super::undo::unexpected(case, &before, &after), Vec::<String>::new(), "as before");
    let (id, _) = only_run(state.path());
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "a resume fails back: {}", String::from_utf8_lossy(&out.stdout));
    (moto, url, before)
}

const UNAUTHORIZED: Fault =
    Fault::Refuse { code: "UnauthorizedOperation", message: "You are not authorized to perform this operation." };

/// EC2: the instance's start refused once after the restored volumes were attached (past the
/// point of no return); `on_failure: rollback` swaps the original volumes back (the whole
/// Describe of the instance as before: the same volume ids at the same devices, running), and a
/// resume fails back.
#[test]
fn on_failure_rollback_puts_an_instances_volumes_back_when_its_start_is_refused() {
    let args = ["tests/fixtures/ec2-failback-rollback.yaml", "--var", "which=app_server"];
    let says = "failback-ec2: rolled back: primary is as it was before it";
    let case = &super::undo::EC2;
    let (_moto, url, before) = put_back_then_resumed(case, &args, ("Action=StartInstances", UNAUTHORIZED), says);
    assert!(!super::undo::unexpected(case, &before, &(case.whole)(&url)).is_empty(), "failed back");
}

/// Aurora: the first instance refused (no capacity for its class) once the cluster was restored
/// under its identifier (past the point of no return: the original's instances are deleted);
/// `on_failure: rollback` puts the original cluster back with its instances (the whole Describe of
/// both as before), and a resume fails back.
#[test]
fn on_failure_rollback_puts_an_aurora_cluster_back_when_an_instance_is_refused() {
    let fault = Fault::Refuse {
        code: "InsufficientDBInstanceCapacity",
        message: "Cannot create a database instance because there is no capacity for the class in the zone.",
    };
    let args = ["tests/fixtures/aurora-failback-rollback.yaml"];
    let says = "failback-aurora: rolled back: primary is as it was before it";
    put_back_then_resumed(&super::undo::AURORA, &args, ("Action=CreateDBInstance", fault), says);
}

/// EC2's own way back, unasked: the first restored volume's attach refused (past the stop and
/// the detach), the original volumes go back at their devices and the instance is started again
/// (its whole Describe as before); killed after each entry of that way back in turn, a resume
/// ends the same. A resume without the fault fails back.
#[test]
fn a_refused_attach_puts_the_original_volumes_back_even_across_kills() {
    let rule = || FaultRule { needle: "Action=AttachVolume", times: 1, fault: UNAUTHORIZED };
    let start = |state: &std::path::Path, url: &str, kill: Option<u64>| {
        let mut cmd = pilotlight(state);
        cmd.args(["run", "tests/fixtures/ec2-failback.yaml", "--headless", "--auto-approve"]).args([
            "--var",
            "which=app_server",
            "--endpoint-url",
            url,
        ]);
        if let Some(n) = kill {
            cmd.env(CRASH_AFTER_ENV, n.to_string());
        }
        run(cmd)
    };
    let case = &super::undo::EC2;
    let (moto, url) = super::support::seeded_moto();
    let before = super::undo::ec2_instances(&url);
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![rule()]);
    let state = state_dir();
    let out = start(state.path(), &proxy.endpoint_url(), None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("the original volumes were put back"), "{stdout}");
    let after = super::undo::ec2_instances(&url);
    assert_eq!(super::undo::unexpected(case, &before, &after), Vec::<String>::new(), "the instance as before");
    let (id, dir) = only_run(state.path());
    let entries = journal(&dir);
    let refused = entries
        .iter()
        .find(|e| matches!(&e.event, Event::AwsCall { operation, message: Some(_), .. } if operation == "AttachVolume"))
        .expect("the attach was refused")
        .seq;
    let last = entries.iter().rev().find(|e| matches!(&e.event, Event::SubStep { .. })).unwrap().seq;
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    assert_eq!(run(cmd).status.code(), Some(0), "a resume without the fault fails back");
    drop((moto, proxy));

    for at in (refused..=last).step_by(2) {
        let (moto, url) = super::support::seeded_moto();
        let before = super::undo::ec2_instances(&url);
        let proxy = RealismProxy::with_aws_rules(moto.port, vec![rule()]);
        let state = state_dir();
        let killed = start(state.path(), &proxy.endpoint_url(), Some(at));
        let (id, dir) = only_run(state.path());
        let ended = if killed_after(&killed, &dir, at) { None } else { Some(killed) };
        // The fault is spent. Killed before the refusal was recorded as the attach's outcome, the
        // resume attaches and fails back; after, it ends as the uninterrupted run did: the
        // originals back, the instance as before. A further resume then fails back.
        let resume = || {
            let mut cmd = pilotlight(state.path());
            cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
            run(cmd)
        };
        let out = ended.unwrap_or_else(resume);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.code() == Some(1) {
            assert!(stdout.contains("the original volumes were put back"), "killed after entry {at}: {stdout}");
            let now = super::undo::ec2_instances(&url);
            let left = super::undo::unexpected(case, &before, &now);
            assert_eq!(left, Vec::<String>::new(), "killed after entry {at}: the instance as before");
            assert_eq!(resume().status.code(), Some(0), "killed after entry {at}: a further resume fails back");
        } else {
            assert_eq!(out.status.code(), Some(0), "killed after entry {at}: {stdout}");
        }
        let now = super::undo::ec2_instances(&url);
        assert!(!super::undo::unexpected(case, &before, &now).is_empty(), "killed after entry {at}: failed back");
    }
}

/// EC2's own way back when detaching fails (the instance already stopped): its volumes stay or
/// go back at their devices and it is started again (its whole Describe as before), and a resume
/// fails back.
#[test]
fn a_refused_detach_puts_the_instance_back_as_it_was() {
    let args = ["tests/fixtures/ec2-failback.yaml", "--var", "which=app_server"];
    let says = "its original volumes are attached as before";
    let case = &super::undo::EC2;
    let (_moto, url, before) = put_back_then_resumed(case, &args, ("Action=DetachVolume", UNAUTHORIZED), says);
    assert!(!super::undo::unexpected(case, &before, &(case.whole)(&url)).is_empty(), "failed back");
}

/// Aurora's own way back before the restore: the first of the original's instances to go (a
/// reader: the writer goes last) refused its delete (deletion protection already off); the
/// cluster is put back as it was, deletion protection included (its whole Describe and its
/// members' as before), and a resume fails back.
#[test]
fn a_refused_instance_delete_puts_the_aurora_cluster_back_as_it_was() {
    let fault = Fault::Refuse { code: "InvalidDBInstanceState", message: "Instance inventory-2 is not available." };
    let args = ["tests/fixtures/aurora-failback.yaml"];
    let says = "the original is back under inventory";
    put_back_then_resumed(&super::undo::AURORA, &args, ("Action=DeleteDBInstance", fault), says);
}

/// Aurora's own way back when only some of the original's instances were deleted: the reader
/// went, the writer's delete (the second) was refused. The reader is made again in the original
/// cluster as it was, with its own tags and none of the run's (it is the original's member again,
/// not a restored one), and the writer is still the writer (deleted first, AWS would have failed
/// the cluster over to the reader): the whole Describe of the cluster and its members as before.
/// A resume fails back.
#[test]
fn a_refused_second_instance_delete_puts_the_aurora_cluster_back_as_it_was() {
    use pilotlight::sandbox::realism::faults::Matcher;
    let fault = Fault::Refuse { code: "InvalidDBInstanceState", message: "Instance inventory-1 is not available." };
    let second = Matcher { operation: Some("rds.DeleteDBInstance".into()), after: 1, times: 1, ..Default::default() };
    let args = ["tests/fixtures/aurora-failback.yaml"];
    let says = "the original is back under inventory";
    put_back_then_resumed_after(&super::undo::AURORA, &args, Rule::new(second, fault, "second delete"), says);
}

/// The rules layer's import token (DynamoDB API reference, ImportTable `ClientToken`): bare moto
/// imports again under a token it has seen; through the layer the repeated token answers the
/// first import, as AWS does.
#[test]
fn aws_rules_a_repeated_import_token_answers_the_first_import() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, InputFormat, KeySchemaElement, KeyType, S3BucketSource, ScalarAttributeType,
        TableCreationParameters,
    };
    let (moto, url) = fresh_world();
    let import_twice = |endpoint: &str, table: &str| {
        let ddb = aws_sdk_dynamodb::Client::new(&super::support::sdk(endpoint, PRIMARY_REGION));
        let source = S3BucketSource::builder().s3_bucket("pilotlight-failback-staging").s3_key_prefix("none/");
        let key = KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap();
        let attr =
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap();
        let params = TableCreationParameters::builder()
            .table_name(table)
            .key_schema(key)
            .attribute_definitions(attr)
            .billing_mode(BillingMode::PayPerRequest)
            .build()
            .unwrap();
        let once = || {
            let req = ddb
                .import_table()
                .s3_bucket_source(source.clone().build().unwrap())
                .input_format(InputFormat::DynamodbJson)
                .table_creation_parameters(params.clone())
                .client_token(format!("token-{table}"));
            let out = super::support::block_on(req.send()).expect("ImportTable");
            out.import_table_description().and_then(|d| d.import_arn()).unwrap().to_string()
        };
        (once(), once())
    };
    let (first, second) = import_twice(&url, "bare-moto");
    assert_ne!(first, second, "bare moto imports again under the same token");
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let (first, second) = import_twice(&proxy.endpoint_url(), "through-the-rules");
    assert_eq!(first, second, "the layer answers the first import");
}

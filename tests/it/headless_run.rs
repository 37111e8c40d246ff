//! The walking skeleton end to end, headless, against moto: deploy the permissions stack, flip
//! DNS, check resources, delete the stack, each result verified with independent describe calls.

use super::support::{fixture, journal, only_run, pilotlight, recorded, run, sdk, seed, seeded_moto, state_dir};
use pilotlight::journal::{Event, RunStatus};
use pilotlight::sandbox::moto_api;

fn dns_value(url: &str) -> Vec<String> {
    let client = aws_sdk_route53::Client::new(&sdk(url, "us-east-1"));
    super::support::block_on(async {
        let zones = client.list_hosted_zones_by_name().dns_name("example.internal.").send().await.unwrap();
        let zone = zones.hosted_zones().iter().find(|z| z.name() == "example.internal.").unwrap().id().to_string();
        let sets = client.list_resource_record_sets().hosted_zone_id(zone).send().await.unwrap();
        let rec = sets
            .resource_record_sets()
            .iter()
            .find(|r| r.name() == "app.example.internal." && r.r#type().as_str() == "A")
            .unwrap();
        rec.resource_records().iter().map(|r| r.value().to_string()).collect()
    })
}

fn stack_status(url: &str, name: &str) -> Option<String> {
    let client = aws_sdk_cloudformation::Client::new(&sdk(url, "us-east-1"));
    super::support::block_on(async {
        match client.describe_stacks().stack_name(name).send().await {
            Ok(out) => out.stacks().first().and_then(|s| s.stack_status()).map(|s| s.as_str().to_string()),
            Err(_) => None,
        }
    })
}

fn stack_role(url: &str, name: &str) -> Option<String> {
    let client = aws_sdk_cloudformation::Client::new(&sdk(url, "us-east-1"));
    super::support::block_on(async {
        let out = client.describe_stack_resources().stack_name(name).send().await.ok()?;
        out.stack_resources()
            .iter()
            .find(|r| r.resource_type() == Some("AWS::IAM::Role"))
            .and_then(|r| r.physical_resource_id().map(str::to_string))
    })
}

#[test]
fn skeleton_runs_headless_and_its_effects_are_real() {
    let (moto, url) = seeded_moto();
    assert_eq!(dns_value(&url), ["10.1.1.10"], "seeded DNS points at recovery");

    // First run keeps the stack, so its effects can be inspected.
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args([
        "run",
        "tests/fixtures/skeleton.yaml",
        "--headless",
        "--auto-approve",
        "--var",
        "cleanup=false",
        "--endpoint-url",
        &url,
    ]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stack_status(&url, "skeleton-permissions").as_deref(), Some("CREATE_COMPLETE"));
    assert_eq!(stack_role(&url, "skeleton-permissions").as_deref(), Some("skeleton-failback"));
    assert_eq!(dns_value(&url), ["10.0.1.10"], "DNS flipped to primary");

    let (_, dir) = only_run(state.path());
    let entries = journal(&dir);
    let outputs = |step: &str| {
        entries.iter().find_map(|e| match &e.event {
            Event::ActionFinished { step: s, ok: true, outputs, .. } if s == step => Some(outputs.clone()),
            _ => None,
        })
    };
    assert_eq!(outputs("flip").unwrap()["old_value"], "10.1.1.10");
    assert_eq!(outputs("smoke").unwrap()["stdout"], "old=10.1.1.10\n");
    assert!(entries.iter().any(|e| matches!(&e.event, Event::StepStatus { step, status: pilotlight::journal::StepStatus::Skipped, .. } if step == "delete")));
    assert!(entries.iter().any(|e| matches!(&e.event, Event::GateDecided { step, typed: Some(t), auto: true, .. } if step == "flip" && t == "app.example.internal.")));
    assert!(matches!(entries.last().unwrap().event, Event::RunFinished { status: RunStatus::Succeeded }));
    // Looking for the stack before creating it is an answer, not a failure.
    let outcome_of = |op: &str| {
        entries.iter().find_map(|e| match &e.event {
            Event::AwsCall { operation, outcome, .. } if operation == op => Some(*outcome),
            _ => None,
        })
    };
    assert_eq!(outcome_of("DescribeStacks"), Some(pilotlight::journal::CallOutcome::NotFound));
    let errors: Vec<_> = entries
        .iter()
        .filter(|e| matches!(&e.event, Event::AwsCall { outcome: pilotlight::journal::CallOutcome::Error, .. }))
        .collect();
    assert!(errors.is_empty(), "a run that went well journals no failed call: {errors:?}");

    // Second run: deploy and flip are already done (no mutating call for them), then cleanup.
    moto_api::start_recording(moto.port).unwrap();
    let state2 = state_dir();
    let mut cmd = pilotlight(state2.path());
    cmd.args(["run", "tests/fixtures/skeleton.yaml", "--headless", "--auto-approve", "--endpoint-url", &url]);
    let out = run(cmd);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mutating: Vec<_> = recorded(moto.port).into_iter().filter(|r| r.mutating()).collect();
    assert_eq!(
        mutating.iter().map(|r| r.operation.as_str()).collect::<Vec<_>>(),
        ["DeleteStack"],
        "a repeated run only deletes the stack"
    );
    assert!(mutating[0].body.contains("ClientRequestToken=pl-"), "DeleteStack carries a token: {}", mutating[0].body);
    assert_eq!(stack_status(&url, "skeleton-permissions"), None, "stack is gone");
    assert_eq!(dns_value(&url), ["10.0.1.10"]);
}

use super::support::moto;

#[test]
fn a_failing_check_fails_the_run_with_exit_1_and_names_the_resource() {
    let moto = moto();
    let url = moto.endpoint_url();
    // No seed: the instance does not exist.
    let state = state_dir();
    let src = std::fs::read_to_string(fixture("skeleton.yaml")).unwrap();
    let only_check = src.split("steps:").next().unwrap().to_string()
        + "steps:\n  - id: instances\n    title: app server runs\n    action: check.resource\n    with: { resource: app_server, equals: running }\n";
    let path = state.path().join("check.yaml");
    std::fs::write(&path, only_check).unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", path.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", &url]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("app_server (primary): status is \"absent\", expected running"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pilotlight resume"));
}

/// A one-step runbook that reads the permissions stack in `primary`, with the given environment.
fn guard_runbook(dir: &std::path::Path, primary_env: &str) -> std::path::PathBuf {
    let path = dir.join("guard.yaml");
    std::fs::write(
        &path,
        format!(
            "version: 1\nname: guard\ntitle: guard\nenvironments:\n  primary: {primary_env}\n  recovery: {{ region: us-west-2 }}\n\
resources:\n  stack: {{ type: cloudformation_stack, primary: skeleton-permissions }}\n\
steps:\n  - id: read\n    title: read the stack\n    action: check.resource\n    with: {{ resource: stack, property: exists }}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn the_account_guard_refuses_other_accounts_and_role_arn_is_assumed() {
    let moto = moto();
    let url = moto.endpoint_url();
    let state = state_dir();

    // moto's default account is 123456789012: a guard for another account refuses to act.
    let rb = guard_runbook(state.path(), "{ region: us-east-1, account_id: \"999999999999\" }");
    moto_api::start_recording(moto.port).unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", &url]);
    let out = run(cmd);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("account guard: environment `primary` expects account 999999999999, but the credentials are for account 123456789012"),
        "the refusal names both accounts"
    );
    let ops: Vec<String> = recorded(moto.port).into_iter().map(|r| r.operation).collect();
    assert_eq!(
        ops,
        ["GetCallerIdentity", "GetCallerIdentity"],
        "nothing but the identity checks of both environments (before step 1) was sent"
    );

    // With role_arn, the tool assumes the role; moto's credentials then act in that account,
    // which the guard accepts.
    let rb = guard_runbook(
        state.path(),
        "{ region: us-east-1, role_arn: \"arn:aws:iam::111111111111:role/failback\", account_id: \"111111111111\" }",
    );
    moto_api::start_recording(moto.port).unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", &url]);
    let out = run(cmd);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0));
    let ops: Vec<String> = recorded(moto.port).into_iter().map(|r| r.operation).collect();
    assert!(ops.contains(&"AssumeRole".to_string()), "{ops:?}");
}

#[test]
fn status_shows_every_resource_on_both_sides() {
    let (_moto, url) = seeded_moto();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["status", "runbooks/failback.yaml", "--endpoint-url", &url]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = |name: &str| -> Vec<String> {
        let line =
            stdout.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no row for {name}"));
        line.split_whitespace().map(str::to_string).collect()
    };
    assert_eq!(row("app_server")[1..], ["ec2_instance", "running", "running"]);
    assert_eq!(row("orders_db")[1..], ["rds_instance", "available", "available"]);
    assert_eq!(row("inventory_cluster")[1..], ["aurora_cluster", "available", "available"]);
    assert_eq!(row("sessions_table")[1..], ["dynamodb_table", "ACTIVE", "ACTIVE"]);
    assert_eq!(row("app_dns")[1..], ["route53_record", "10.1.1.10", "(points", "to", "recovery)", "-"]);
    assert_eq!(row("permissions_stack")[1..], ["cloudformation_stack", "absent", "-"]);
}

#[test]
fn throttling_is_retried_and_the_stack_is_created_once() {
    use super::realism::{Fault, FaultRule, RealismProxy};
    let moto = moto();
    seed(&moto.endpoint_url());
    // Five throttled CreateStack answers: more than the SDK's three attempts. AWS refused each
    // without acting, so the tool sends it again (journaled each time) within the step's first
    // attempt; before, the attempt failed and the step's own retry finished the job.
    let proxy =
        RealismProxy::start(moto.port, FaultRule { needle: "Action=CreateStack", times: 5, fault: Fault::Throttle });
    moto_api::start_recording(moto.port).unwrap();
    let state = state_dir();
    let rb = state.path().join("throttled.yaml");
    let src = std::fs::read_to_string(fixture("resume.yaml"))
        .unwrap()
        .replace("../../assets", &format!("{}/assets", super::support::repo().display()))
        .replace(
            "      capabilities: [CAPABILITY_NAMED_IAM]\n",
            "      capabilities: [CAPABILITY_NAMED_IAM]\n    retries: 1\n",
        );
    std::fs::write(&rb, src).unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(proxy.injected.load(std::sync::atomic::Ordering::SeqCst), 6, "five throttled, the sixth passed");
    let creates: Vec<_> = recorded(moto.port).into_iter().filter(|r| r.operation == "CreateStack").collect();
    assert_eq!(creates.len(), 1, "moto saw one CreateStack");
    // A token from run, step and attempt: an SDK retry after a lost answer is recognised.
    assert!(creates[0].body.contains("ClientRequestToken=pl-"), "CreateStack carries a token: {}", creates[0].body);
    let (_, dir) = only_run(state.path());
    let finished: Vec<(u32, bool, Option<String>)> = journal(&dir)
        .into_iter()
        .filter_map(|e| match e.event {
            Event::ActionFinished { step, attempt, ok, error, .. } if step == "deploy" => Some((attempt, ok, error)),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert!(finished[0].1, "the first attempt got through the throttling: {finished:?}");
    let throttled = journal(&dir)
        .iter()
        .filter(|e| matches!(&e.event, Event::AwsCall { operation, outcome: pilotlight::journal::CallOutcome::Error, message: Some(m), .. }
            if operation == "CreateStack" && m.contains("Throttling: Rate exceeded")))
        .count();
    assert!(throttled >= 1, "the throttled sends are journaled");
}

/// A one-step runbook waiting (up to `timeout`) for the DNS record to point at primary.
fn wait_for_dns_runbook(dir: &std::path::Path, timeout: &str) -> std::path::PathBuf {
    let src = std::fs::read_to_string(fixture("skeleton.yaml")).unwrap();
    let head = src.split("steps:").next().unwrap();
    let path = dir.join("wait.yaml");
    std::fs::write(
        &path,
        format!(
            "{head}steps:\n  - id: wait\n    title: wait for DNS\n    action: check.resource\n    \
             with: {{ resource: app_dns, property: points_to, equals: primary, wait: true }}\n    timeout: {timeout}\n"
        ),
    )
    .unwrap();
    path
}

fn flip_dns(url: &str, value: &str) {
    let client = aws_sdk_route53::Client::new(&sdk(url, "us-east-1"));
    super::support::block_on(async {
        use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
        let zones = client.list_hosted_zones_by_name().dns_name("example.internal.").send().await.unwrap();
        let zone = zones.hosted_zones()[0].id().to_string();
        let set = ResourceRecordSet::builder()
            .name("app.example.internal.")
            .r#type(RrType::A)
            .ttl(60)
            .resource_records(ResourceRecord::builder().value(value).build().unwrap())
            .build()
            .unwrap();
        let change = Change::builder().action(ChangeAction::Upsert).resource_record_set(set).build().unwrap();
        let batch = ChangeBatch::builder().changes(change).build().unwrap();
        client.change_resource_record_sets().hosted_zone_id(zone).change_batch(batch).send().await.unwrap();
    });
}

#[test]
fn check_resource_waits_for_a_change_and_times_out_without_one() {
    let (_moto, url) = seeded_moto();
    let state = state_dir();

    // Someone else flips DNS a second after the check starts: the waiting check sees it.
    let rb = wait_for_dns_runbook(state.path(), "30s");
    let flipper = {
        let url = url.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(1));
            flip_dns(&url, "10.0.1.10");
        })
    };
    let started = std::time::Instant::now();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", &url]);
    let out = run(cmd);
    flipper.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "it really waited");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "and stopped waiting once DNS changed");

    // Back to recovery, and nobody flips it: the check gives up at its timeout, saying why.
    flip_dns(&url, "10.1.1.10");
    let rb = wait_for_dns_runbook(state.path(), "2s");
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", &url]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("app_dns (primary) did not reach points_to [\"primary\"] within 2s"), "{stdout}");
}

/// A mutating call that reached AWS but whose answer was lost: the SDK does not send it again;
/// the next attempt finds what it did. The run finishes, and nothing exists twice. Route 53 and CloudFormation are JSON/query bodies; the
/// record change is matched by its path.
#[test]
fn a_lost_answer_to_a_mutating_call_makes_nothing_twice() {
    use super::realism::{Fault, FaultRule, RealismProxy};
    let moto = moto();
    seed(&moto.endpoint_url());
    let proxy = RealismProxy::with_rules(
        moto.port,
        vec![
            FaultRule { needle: "Action=CreateStack", times: 1, fault: Fault::DropAnswer },
            FaultRule { needle: "ChangeResourceRecordSetsRequest", times: 1, fault: Fault::DropAnswer },
            FaultRule { needle: "Action=DeleteStack", times: 1, fault: Fault::DropAnswer },
        ],
    );
    moto_api::start_recording(moto.port).unwrap();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args([
        "run",
        "tests/fixtures/skeleton.yaml",
        "--headless",
        "--auto-approve",
        "--endpoint-url",
        &proxy.endpoint_url(),
    ]);
    let out = run(cmd);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(proxy.faults.load(std::sync::atomic::Ordering::SeqCst), 3, "three answers were lost");
    let calls = recorded(moto.port);
    let count = |op: &str| calls.iter().filter(|r| r.operation == op).count();
    assert_eq!(count("CreateStack"), 1, "CreateStack was not sent again blindly after its answer was lost");
    assert_eq!(count("DeleteStack"), 1, "nor DeleteStack");
    let (_, dir) = only_run(state.path());
    let lost = journal(&dir)
        .iter()
        .filter(|e| matches!(&e.event, Event::ActionLog { message, .. } if message.contains("outcome is unknown")))
        .count();
    assert_eq!(lost, 3, "each lost answer is said, and the next attempt looked for what the call did");
    let entries = journal(&dir);
    let output = |step: &str, key: &str| {
        entries.iter().find_map(|e| match &e.event {
            Event::ActionFinished { step: s, ok: true, outputs, .. } if s == step => Some(outputs[key].clone()),
            _ => None,
        })
    };
    assert_eq!(output("deploy", "changed"), Some(serde_json::json!(true)), "the deploy says it created the stack");
    assert_eq!(output("delete", "deleted"), Some(serde_json::json!(true)), "the delete says it deleted it");
    let url = moto.endpoint_url();
    let client = aws_sdk_cloudformation::Client::new(&sdk(&url, "us-east-1"));
    let stacks = super::support::block_on(client.list_stacks().send()).unwrap();
    let created = stacks.stack_summaries().iter().filter(|s| s.stack_name() == Some("skeleton-permissions")).count();
    assert_eq!(created, 1, "one stack was created (and deleted), not two: {stacks:?}");
    assert_eq!(dns_value(&url), ["10.0.1.10"], "DNS points at primary, one value");
}

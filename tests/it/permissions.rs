//! The failback permissions templates are made from the runbook (`pilotlight permissions`): they
//! grant exactly what the tool can send, every change scoped to what the runbook names (cfn-lint
//! and parliament find nothing), and that is enough: under moto's IAM enforcement a failback
//! acting only through the role succeeds, and a role missing one permission fails with an error
//! naming the API and the missing action. Moto's IAM checks actions only (it asks about resource
//! `*`, and knows no condition keys), so that test widens the statements to `*`; the scoping is
//! checked against AWS's own definitions by parliament.

use super::support::{block_on, pilotlight, repo, run, sdk, state_dir};
use pilotlight::sandbox::moto_api;
use pilotlight::sandbox::seed::{Part, seed_parts};
use serde_json::Value;
use std::collections::BTreeSet;

/// The bundled runbook's template, generated from it.
const TEMPLATE: &str = "assets/failback-permissions.json";
const BUNDLED: &str = "runbooks/failback.yaml";
const FIXTURE: &str = "tests/fixtures/permissions-failback.yaml";

/// `pilotlight permissions RUNBOOK --side SIDE` (with `args`), parsed.
fn generated(runbook: &str, side: &str, args: &[&str]) -> Value {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["permissions", runbook, "--side", side]).args(args);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON template")
}

fn statements(template: &Value) -> Vec<Value> {
    template["Resources"]["FailbackPolicy"]["Properties"]["PolicyDocument"]["Statement"].as_array().unwrap().clone()
}

fn actions(statement: &Value) -> Vec<String> {
    statement["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
}

/// The bundled runbook's template is what the generator makes of it (regenerate with
/// `pilotlight permissions runbooks/failback.yaml > assets/failback-permissions.json`).
#[test]
fn the_bundled_template_is_generated_from_the_bundled_runbook() {
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(repo().join(TEMPLATE)).unwrap()).unwrap();
    assert_eq!(on_disk, generated(BUNDLED, "primary", &[]), "regenerate {TEMPLATE}");
}

#[test]
fn the_templates_grant_exactly_the_operations_the_tool_can_send_and_write_nothing_on_star() {
    let both = generated(BUNDLED, "both", &[]);
    // The faster paths' calls, with the inputs that choose them.
    let fast_inputs =
        ["--var", "rds_method=replica", "--var", "aurora_method=switchover", "--var", "table_method=in-place"];
    let fast = generated(BUNDLED, "both", &fast_inputs);
    let granted: BTreeSet<String> = statements(&both).iter().chain(&statements(&fast)).flat_map(actions).collect();
    let sendable: BTreeSet<String> = pilotlight::aws::ops::READS
        .iter()
        .chain(pilotlight::aws::ops::WRITES)
        .flat_map(|list| list.iter())
        // The responder installs and deletes the stack itself; the role never needs CloudFormation.
        .filter(|(service, _)| *service != "cloudformation")
        .map(|(service, op)| format!("{service}:{op}"))
        .collect();
    // Not called by the tool: what DynamoDB's export, import and restore do on the caller's
    // behalf (the staging bucket, the import's logs, the restored table's items), the roles RDS
    // is given, KMS for encrypted copies.
    let item_writes = ["BatchWriteItem", "DeleteItem", "GetItem", "PutItem", "Query", "Scan", "UpdateItem"];
    let on_behalf = |a: &&String| {
        ["s3:", "logs:", "kms:"].iter().any(|s| a.starts_with(s))
            || *a == "iam:PassRole"
            || a.strip_prefix("dynamodb:").is_some_and(|op| item_writes.contains(&op))
    };
    let missing: Vec<&String> = sendable.difference(&granted).collect();
    let extra: Vec<&String> = granted.difference(&sendable).filter(|a| !on_behalf(a)).collect();
    assert!(granted.iter().filter(on_behalf).count() >= 10, "the on-behalf permissions are granted");
    assert!(missing.is_empty() && extra.is_empty(), "not granted: {missing:?}; granted but never sent: {extra:?}");
    assert!(!granted.contains("ec2:TerminateInstances"), "ec2:TerminateInstances must not be granted");
    // EC2 deletes only what a rehearsal tagged as its own.
    for delete in ["ec2:DeleteVolume", "ec2:DeleteSnapshot"] {
        for s in statements(&both).into_iter().filter(|s| actions(s).contains(&delete.to_string())) {
            let stages = &s["Condition"]["StringEquals"]["aws:ResourceTag/pilotlight:stage"];
            let stages: Vec<&str> = stages.as_array().unwrap().iter().filter_map(Value::as_str).collect();
            assert!(stages.iter().all(|st| st.starts_with("rehearsal-")), "{delete}: {s}");
        }
    }
    // Deleted: only the snapshots a run makes (the rehearsal's).
    let of = |action: &str| -> Vec<String> {
        let granting = statements(&both).into_iter().filter(|s| actions(s).contains(&action.to_string()));
        granting
            .flat_map(|s| s["Resource"].as_array().unwrap().iter().map(|r| r.to_string()).collect::<Vec<_>>())
            .collect()
    };
    let snapshots = of("rds:DeleteDBSnapshot");
    assert!(!snapshots.is_empty() && snapshots.iter().all(|r| r.ends_with(":snapshot:pl-*\"}")), "{snapshots:?}");
    let snapshots = of("rds:DeleteDBClusterSnapshot");
    assert!(
        !snapshots.is_empty() && snapshots.iter().all(|r| r.ends_with(":cluster-snapshot:pl-*\"}")),
        "{snapshots:?}"
    );
    // Clusters: only the rehearsal's.
    let clusters = of("rds:DeleteDBCluster");
    assert_eq!(
        clusters,
        [
            r#"{"Fn::Sub":"arn:${AWS::Partition}:rds:us-east-1:${AWS::AccountId}:cluster:inventory-pl-test-*"}"#,
            r#"{"Fn::Sub":"arn:${AWS::Partition}:rds:us-east-1:${AWS::AccountId}:cluster-snapshot:inventory-pl-test-*"}"#,
        ]
    );
    // Only reads on `*`; every change is scoped to what the runbook names.
    let read = |a: &str| {
        let op = a.split(':').nth(1).unwrap_or_default();
        ["Describe", "List", "Get"].iter().any(|p| op.starts_with(p))
    };
    for s in statements(&both).into_iter().chain(statements(&fast)) {
        if s["Resource"].as_array().unwrap().iter().any(|r| r == "*") {
            let writes: Vec<String> = actions(&s).into_iter().filter(|a| !read(a)).collect();
            assert!(writes.is_empty(), "changes granted on *: {writes:?}");
        }
    }
    let text = both.to_string();
    for scoped in [
        ":db:orders-db\"",
        ":db:orders-db-pre-failback-*",
        ":cluster:inventory-pre-failback-*",
        "table/sessions",
        "s3:::pilotlight-failback-staging/*",
    ] {
        assert!(text.contains(scoped), "{scoped} in {text}");
    }
    assert_eq!(
        of("rds:DeleteDBInstance"),
        [
            r#"{"Fn::Sub":"arn:${AWS::Partition}:rds:us-east-1:${AWS::AccountId}:db:orders-db-pl-test-*"}"#,
            r#"{"Fn::Sub":"arn:${AWS::Partition}:rds:us-east-1:${AWS::AccountId}:db:inventory*-pl-test-*"}"#,
            r#"{"Fn::Sub":"arn:${AWS::Partition}:rds:us-east-1:${AWS::AccountId}:db:inventory*"}"#,
            r#"{"Fn::Sub":"arn:${AWS::Partition}:rds:us-east-1:${AWS::AccountId}:db:inventory-pl-secondary-1"}"#,
        ],
        "only the rehearsal's instances, the cluster's members and the switchover's staging instance"
    );
    // The global database's calls: granted whatever the inputs (the runbook offers the switchover
    // and installs this template itself), only on the staging names; a runbook without the
    // switchover grants none.
    let global = ["rds:CreateGlobalCluster", "rds:SwitchoverGlobalCluster", "rds:DeleteGlobalCluster"];
    let by_default: BTreeSet<String> = statements(&both).iter().flat_map(actions).collect();
    assert!(global.iter().all(|a| by_default.contains(*a)), "the bundled runbook's stage step is granted its calls");
    let snapshot_only: BTreeSet<String> =
        statements(&generated(FIXTURE, "both", &["--var", "role_arn=arn:aws:iam::123456789012:role/x"]))
            .iter()
            .flat_map(actions)
            .collect();
    assert!(global.iter().all(|a| !snapshot_only.contains(*a)), "no global database calls without the switchover");
    let changes_global = |s: &Value| actions(s).iter().any(|a| a.contains("Global") && !a.contains(":Describe"));
    for s in statements(&both).into_iter().chain(statements(&fast)).filter(changes_global) {
        for r in s["Resource"].as_array().unwrap() {
            let r = r.to_string();
            let staging = r.contains("global-cluster:inventory-pl-global")
                || r.contains("cluster:inventory-pl-secondary")
                || r.ends_with(":cluster:inventory\"}");
            assert!(staging, "{r} in {s}");
        }
    }
    // Primary's and recovery's own: recovery's snapshots are taken with recovery's template.
    let primary: BTreeSet<String> = statements(&generated(BUNDLED, "primary", &[])).iter().flat_map(actions).collect();
    let recovery: BTreeSet<String> =
        statements(&generated(BUNDLED, "recovery", &[])).iter().flat_map(actions).collect();
    assert!(primary.contains("rds:RestoreDBInstanceFromDBSnapshot") && !primary.contains("rds:CreateDBSnapshot"));
    assert!(recovery.contains("rds:CreateDBSnapshot") && !recovery.contains("rds:RestoreDBInstanceFromDBSnapshot"));
    assert!(recovery.contains("dynamodb:ExportTableToPointInTime") && !recovery.contains("dynamodb:DeleteTable"));
}

/// The linters every generated template passes: cfn-lint (the template) and parliament (the
/// policy, as CloudFormation would render it), both from PyPI, pinned, in a venv of their own.
/// Parliament finds nothing: no change on `*`, every statement naming each resource type AWS
/// checks for each of its calls. The broad template the bundled runbook had before (every change
/// on `*`) gets seven findings from it.
#[test]
fn cfn_lint_and_parliament_find_nothing_in_the_generated_templates() {
    let venv = lint_venv();
    let dir = state_dir();
    // The bundled runbook with its faster paths chosen too (their calls are granted only then).
    let fast: &[&str] =
        &["--var", "rds_method=replica", "--var", "aurora_method=switchover", "--var", "table_method=in-place"];
    let runbooks = [(BUNDLED, &[][..]), (BUNDLED, fast), ("tests/fixtures/permissions-cross-account.yaml", &[])];
    for ((runbook, args), side) in runbooks.iter().flat_map(|r| ["primary", "recovery", "both"].map(|s| (*r, s))) {
        let template = generated(runbook, side, args);
        let path = dir.path().join(format!("{side}.json"));
        std::fs::write(&path, template.to_string()).unwrap();
        let lint = std::process::Command::new(venv.join("bin/cfn-lint")).arg(&path).output().unwrap();
        assert!(
            lint.status.success(),
            "cfn-lint on {runbook} {side}: {}{}",
            String::from_utf8_lossy(&lint.stdout),
            String::from_utf8_lossy(&lint.stderr)
        );
        let policy = rendered(&template["Resources"]["FailbackPolicy"]["Properties"]["PolicyDocument"]);
        let findings = std::process::Command::new(venv.join("bin/parliament"))
            .args(["--json", "--string", &policy.to_string()])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let found = String::from_utf8_lossy(&findings.stdout);
        assert!(
            findings.status.success() && found.trim().is_empty(),
            "parliament on {runbook} {side}: {found}{}",
            String::from_utf8_lossy(&findings.stderr)
        );
    }
    // The linter does find what it should: a change on `*`.
    let broad = serde_json::json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": ["rds:DeleteDBInstance"], "Resource": "*" }] });
    let out = std::process::Command::new(venv.join("bin/parliament"))
        .args(["--json", "--string", &broad.to_string()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("RESOURCE_STAR"), "parliament flags a change on *");
}

/// The policy as CloudFormation would send it: `Fn::Sub` strings with partition and account.
fn rendered(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("Fn::Sub") => Value::String(
            m["Fn::Sub"]
                .as_str()
                .unwrap()
                .replace("${AWS::Partition}", "aws")
                .replace("${AWS::AccountId}", "111111111111"),
        ),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), rendered(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(rendered).collect()),
        other => other.clone(),
    }
}

/// cfn-lint and parliament, pinned, in a venv made once (pip from PyPI).
fn lint_venv() -> std::path::PathBuf {
    static VENV: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    VENV.get_or_init(|| {
        let venv = dirs_cache().join("lint-venv-cfnlint-1.58.0-parliament-1.6.4");
        if !venv.join("bin/parliament").is_file() {
            let made = std::process::Command::new("python3").args(["-m", "venv"]).arg(&venv).status().unwrap();
            assert!(made.success(), "python3 -m venv");
            let pip = std::process::Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "cfn-lint==1.58.0", "parliament==1.6.4"])
                .status()
                .unwrap();
            assert!(pip.success(), "pip install cfn-lint parliament");
        }
        venv
    })
    .clone()
}

fn dirs_cache() -> std::path::PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("pilotlight")
}

/// The generated template with every statement widened to `*` and no condition: moto's IAM
/// checks actions only.
fn for_moto(mut template: Value, drop: Option<&str>) -> String {
    let statements =
        template["Resources"]["FailbackPolicy"]["Properties"]["PolicyDocument"]["Statement"].as_array_mut().unwrap();
    for s in statements.iter_mut() {
        s["Resource"] = Value::String("*".into());
        s.as_object_mut().unwrap().remove("Condition");
        if let Some(action) = drop {
            s["Action"].as_array_mut().unwrap().retain(|a| a != action);
        }
    }
    statements.retain(|s| !s["Action"].as_array().unwrap().is_empty());
    template.to_string()
}

/// A responder user (with only sts:AssumeRole) and its keys, made through CloudFormation.
const RESPONDER: &str = r#"
Resources:
  Responder:
    Type: AWS::IAM::User
    Properties: { UserName: responder }
  AssumePolicy:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: assume-any-role
      Users: [!Ref Responder]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - { Effect: Allow, Action: "sts:AssumeRole", Resource: "*" }
  Key:
    Type: AWS::IAM::AccessKey
    Properties: { UserName: !Ref Responder }
Outputs:
  Arn: { Value: !GetAtt Responder.Arn }
  KeyId: { Value: !Ref Key }
  Secret: { Value: !GetAtt Key.SecretAccessKey }
"#;

struct World {
    key_id: String,
    secret: String,
    role_arn: String,
}

/// Seeds a fresh world, makes the responder and installs the permissions stack (without
/// `drop`, if given), then turns IAM enforcement on.
fn world(port: u16, url: &str, drop: Option<&str>) -> World {
    moto_api::request(port, "POST", "/moto-api/reset-auth", "inf").unwrap();
    moto_api::reset(port).unwrap();
    block_on(seed_parts(url, &[Part::Ec2, Part::Rds, Part::Aurora, Part::Dynamodb, Part::StagingBucket])).unwrap();
    let cfn = aws_sdk_cloudformation::Client::new(&sdk(url, "us-east-1"));
    let outputs = |stack: &'static str| {
        let cfn = cfn.clone();
        async move {
            let out = cfn.describe_stacks().stack_name(stack).send().await.unwrap();
            let outs = out.stacks()[0].outputs().to_vec();
            move |key: &str| {
                outs.iter().find(|o| o.output_key() == Some(key)).and_then(|o| o.output_value()).unwrap().to_string()
            }
        }
    };
    let generated = generated(FIXTURE, "both", &["--var", "role_arn=arn:aws:iam::123456789012:role/x"]);
    if let Some(action) = drop {
        assert!(generated.to_string().contains(&format!("\"{action}\"")), "{action} is in the template");
    }
    let template = for_moto(generated, drop);
    let policy: Value = serde_json::from_str::<Value>(&template).unwrap()["Resources"]["FailbackPolicy"]["Properties"]
        ["PolicyDocument"]
        .clone();
    block_on(async {
        use aws_sdk_cloudformation::types::{Capability, Parameter};
        cfn.create_stack()
            .stack_name("responder")
            .template_body(RESPONDER)
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .unwrap();
        let responder = outputs("responder").await;
        cfn.create_stack()
            .stack_name("pilotlight-failback-permissions")
            .template_body(template)
            .parameters(
                Parameter::builder().parameter_key("TrustedPrincipalArn").parameter_value(responder("Arn")).build(),
            )
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .unwrap();
        let stack = outputs("pilotlight-failback-permissions").await;
        let (status, _) = moto_api::request(port, "POST", "/moto-api/reset-auth", "0").unwrap();
        assert_eq!(status, 200, "IAM enforcement on");
        let role_arn = stack("RoleArn");
        // What IAM holds for the role, for the rules layer's policy simulator.
        super::realism::rules::iam::know_policies(port, &role_arn, vec![policy]);
        World { key_id: responder("KeyId"), secret: responder("Secret"), role_arn }
    })
}

fn failback(w: &World, url: &str) -> std::process::Output {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", FIXTURE, "--headless", "--auto-approve", "--endpoint-url", url])
        .args(["--var", &format!("role_arn={}", w.role_arn)])
        .env("AWS_ACCESS_KEY_ID", &w.key_id)
        .env("AWS_SECRET_ACCESS_KEY", &w.secret);
    run(cmd)
}

#[test]
fn under_iam_enforcement_the_role_alone_fails_back_and_one_missing_permission_is_named() {
    let moto = super::support::moto();
    let url = moto.endpoint_url();

    // The responder's own keys can do nothing but assume the role.
    let w = world(moto.port, &url, None);
    let out = failback(&w, &url);
    assert_eq!(out.status.code(), Some(0), "the failback succeeds through the role alone");
    moto_api::request(moto.port, "POST", "/moto-api/reset-auth", "inf").unwrap();
    let rds = aws_sdk_rds::Client::new(&sdk(&url, "us-east-1"));
    let restored = block_on(rds.describe_db_instances().db_instance_identifier("orders-db").send()).unwrap();
    let tags = restored.db_instances()[0].tag_list().to_vec();
    assert!(
        tags.iter().any(|t| t.key() == Some("pilotlight:stage") && t.value() == Some("restored")),
        "orders-db was restored by the failback"
    );

    // The same role without one permission: the failback stops at that call and says which.
    let w = world(moto.port, &url, Some("rds:RestoreDBInstanceFromDBSnapshot"));
    let out = failback(&w, &url);
    moto_api::request(moto.port, "POST", "/moto-api/reset-auth", "inf").unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.contains("RestoreDBInstanceFromDBSnapshot")
            && l.contains("AccessDenied")
            && l.contains("rds:RestoreDBInstanceFromDBSnapshot")),
        "the error names the API and the missing action:\n{stdout}"
    );
}

/// `pilotlight preflight` asks IAM's policy simulator (answered by the rules layer, moto has
/// none) whether each side's role may make every call the runbook needs, on its resources: with
/// the whole template it may; without one permission, preflight fails naming the call and the
/// resource, before anything changes.
#[test]
fn preflight_asks_the_policy_simulator_and_names_a_missing_permission() {
    let moto = super::support::moto();
    let url = moto.endpoint_url();
    let proxy = super::realism::RealismProxy::with_aws_rules(moto.port, Vec::new());
    let preflight = |w: &World| {
        let state = state_dir();
        let mut cmd = pilotlight(state.path());
        cmd.args(["preflight", FIXTURE, "--endpoint-url", &proxy.endpoint_url()])
            .args(["--var", &format!("role_arn={}", w.role_arn)])
            .env("AWS_ACCESS_KEY_ID", &w.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &w.secret);
        let out = run(cmd);
        moto_api::request(moto.port, "POST", "/moto-api/reset-auth", "inf").unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let w = world(moto.port, &url, None);
    let (status, stdout) = preflight(&w);
    let role = "arn:aws:iam::123456789012:role/pilotlight-failback";
    assert!(
        stdout.contains(&format!("pass  -                  primary            permissions: {role} may make the ")),
        "{stdout}"
    );
    assert_eq!(status, Some(0), "{stdout}");

    let w = world(moto.port, &url, Some("rds:RestoreDBInstanceFromDBSnapshot"));
    let (status, stdout) = preflight(&w);
    assert_eq!(status, Some(1), "{stdout}");
    let denied = format!(
        "FAIL  -                  primary            permissions: {role} may not make calls the runbook needs (IAM policy simulator): rds:RestoreDBInstanceFromDBSnapshot on arn:aws:rds:us-east-1:123456789012:db:orders-db (implicitDeny)"
    );
    assert!(stdout.contains(&denied), "{stdout}");
}

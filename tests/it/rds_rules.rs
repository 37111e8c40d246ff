//! `rds.failback` under AWS's rules (the fault proxy's rules mode, [`super::realism::rules`]): the
//! restore runs after the original was renamed away, so a restore AWS refuses leaves the
//! identifier with no instance. Checked with describe calls to moto itself.

use super::realism::{Fault, FaultRule, Matcher, RealismProxy, Rule, Setup};
use super::support::{block_on, journal, moto, only_run, pilotlight, postgres, run, sdk, state_dir};
use aws_sdk_rds::Client;
use pilotlight::journal::Event;

/// Fails back `orders-db` (the RDS fixture) through the rules layer; the output.
fn failback(proxy: &RealismProxy) -> std::process::Output {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/rds-failback.yaml", "--headless", "--auto-approve"])
        .args(["--endpoint-url", &proxy.endpoint_url()]);
    run(cmd)
}

/// A postgres instance `id` on gp3 with `gib` of storage, in `region`, and nothing else.
fn gp3_instance(url: &str, region: &str, id: &str, gib: i32) {
    let rds = Client::new(&sdk(url, region));
    block_on(postgres(&rds, id).storage_type("gp3").allocated_storage(gib).send()).expect("CreateDBInstance");
}

/// The rule itself: moto accepts an explicit IOPS on a small gp3 restore and reports no IOPS; the
/// rules layer reports the baseline and refuses the restore, as RDS does.
#[test]
fn aws_rules_gp3_under_400_gib_reports_its_baseline_and_refuses_explicit_iops() {
    let moto = moto();
    let url = moto.endpoint_url();
    gp3_instance(&url, "us-east-1", "small", 100);
    let bare = Client::new(&sdk(&url, "us-east-1"));
    block_on(bare.create_db_snapshot().db_instance_identifier("small").db_snapshot_identifier("small-snap").send())
        .expect("CreateDBSnapshot");
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let ruled = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    let iops = |c: &Client| {
        let out = block_on(c.describe_db_instances().db_instance_identifier("small").send()).unwrap();
        let db = &out.db_instances()[0];
        (db.iops(), db.storage_throughput())
    };
    assert_eq!(iops(&bare), (None, None), "moto reports no IOPS for gp3");
    assert_eq!(iops(&ruled), (Some(3000), Some(125)), "RDS reports the gp3 baseline under 400 GiB");

    let restore = |c: &Client, id: &str| {
        block_on(
            c.restore_db_instance_from_db_snapshot()
                .db_instance_identifier(id)
                .db_snapshot_identifier("small-snap")
                .storage_type("gp3")
                .iops(3000)
                .storage_throughput(125)
                .send(),
        )
        .map(|_| ())
        .map_err(|e| aws_sdk_rds::error::ProvideErrorMetadata::code(&e).map(str::to_string))
    };
    let refused = restore(&ruled, "ruled").expect_err("RDS refuses IOPS on gp3 under 400 GiB");
    assert_eq!(refused.as_deref(), Some("InvalidParameterCombination"));
    restore(&bare, "bare").expect("moto accepts it");
    // A storage autoscaling limit under 10% above the storage: moto takes it, RDS refuses it.
    let limit = |c: &Client| {
        block_on(c.modify_db_instance().db_instance_identifier("small").max_allocated_storage(105).send())
            .map(|_| ())
            .map_err(|e| aws_sdk_rds::error::ProvideErrorMetadata::code(&e).map(str::to_string))
    };
    assert_eq!(limit(&ruled).unwrap_err().as_deref(), Some("InvalidParameterCombination"));
    limit(&bare).expect("moto accepts it");
}

/// Defect 1 and 2 of the AWS-rules issue, together: primary `orders-db` is gp3 at 100 GiB (RDS
/// reports 3,000 IOPS and 125 MiB/s), and recovery's grew to 150 GiB during the incident. The
/// restore must take the snapshot's size (moto refuses less, as RDS does) and no explicit IOPS or
/// throughput (RDS refuses them under 400 GiB); before the fix, the original was renamed away
/// and every attempt of the restore was refused.
#[test]
fn rds_failback_restores_a_small_gp3_instance_whose_recovery_grew() {
    let moto = moto();
    let url = moto.endpoint_url();
    gp3_instance(&url, "us-east-1", "orders-db", 100);
    // Primary's storage autoscaling limit (120 GiB) is below what recovery grew to (150 GiB).
    let primary = Client::new(&sdk(&url, "us-east-1"));
    let limit = primary.modify_db_instance().db_instance_identifier("orders-db").max_allocated_storage(120);
    block_on(limit.apply_immediately(true).send()).expect("ModifyDBInstance");
    gp3_instance(&url, "us-west-2", "orders-db", 150);
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let out = failback(&proxy);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("orders-db is restored with 150 GiB, IOPS -, throughput -"));
    // What stays different from before is said, with why (defect 3: report every difference).
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "orders-db differs from before the failback: allocated_storage: 100 -> 150 (the snapshot held more"
        ),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The limit cannot be put back below the grown storage (RDS refuses it): it is said, not sent.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("max_allocated_storage: 120 -> "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let rds = Client::new(&sdk(&url, "us-east-1"));
    let out = block_on(rds.describe_db_instances().send()).unwrap();
    let restored = out.db_instances().iter().find(|d| d.db_instance_identifier() == Some("orders-db")).unwrap();
    assert_eq!(restored.db_instance_status(), Some("available"));
    assert_eq!(restored.storage_type(), Some("gp3"));
    assert_eq!(
        restored.allocated_storage(),
        Some(150),
        "the snapshot's size: recovery grew, and storage never shrinks"
    );
    let kept =
        out.db_instances().iter().find(|d| d.db_instance_identifier().is_some_and(|i| i.contains("-pre-failback-")));
    assert_eq!(kept.and_then(|d| d.allocated_storage()), Some(100), "the original is kept as it was");

    // The real failback after the test one, from the restored instance.
    let out = failback(&proxy);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Defect 7 of the AWS-rules issue: after the re-applied configuration (ModifyDBInstance with
/// ApplyImmediately), RDS answers `available` with the change pending for a while, then
/// `modifying`. The wait must last until the change took effect; before the fix it returned on
/// the first `available`, and the step said the configuration was back while it was not.
#[test]
fn rds_failback_waits_until_the_reapplied_configuration_took_effect() {
    let moto = moto();
    let url = moto.endpoint_url();
    // Primary keeps backups 7 days; recovery's (and its snapshot's) 3: the restore takes 3.
    for (region, days) in [("us-east-1", 7), ("us-west-2", 3)] {
        let rds = Client::new(&sdk(&url, region));
        block_on(postgres(&rds, "orders-db").backup_retention_period(days).send()).expect("CreateDBInstance");
    }
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let out = failback(&proxy);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("backup retention"), "the restore did not take it, so it is re-applied:\n{stdout}");
    assert_eq!(
        super::realism::rules::modification_describes_left(moto.port, "us-east-1", "orders-db"),
        0,
        "the wait ended before the modification took effect"
    );
}

/// Defect 3 of the AWS-rules issue (in part): the restore takes recovery's snapshot, and with it
/// recovery's settings. IAM database authentication, CloudWatch log exports, auto minor version
/// upgrade, the backup and maintenance windows and the storage autoscaling limit are primary's
/// again after the failback (before the fix all six stayed recovery's).
#[test]
fn rds_failback_keeps_primarys_iam_auth_log_exports_windows_and_storage_limit() {
    let moto = moto();
    let url = moto.endpoint_url();
    let primary = Client::new(&sdk(&url, "us-east-1"));
    block_on(
        postgres(&primary, "orders-db")
            .enable_iam_database_authentication(true)
            .enable_cloudwatch_logs_exports("postgresql")
            .auto_minor_version_upgrade(false)
            .preferred_backup_window("03:00-03:30")
            .preferred_maintenance_window("sun:05:00-sun:05:30")
            .max_allocated_storage(100)
            .send(),
    )
    .expect("CreateDBInstance");
    block_on(postgres(&Client::new(&sdk(&url, "us-west-2")), "orders-db").send()).expect("CreateDBInstance");
    let settings = || {
        let out = block_on(primary.describe_db_instances().db_instance_identifier("orders-db").send()).unwrap();
        let db = out.db_instances()[0].clone();
        (
            db.iam_database_authentication_enabled(),
            db.enabled_cloudwatch_logs_exports().to_vec(),
            db.auto_minor_version_upgrade(),
            db.preferred_backup_window().map(str::to_string),
            db.preferred_maintenance_window().map(str::to_string),
            db.max_allocated_storage(),
        )
    };
    let before = settings();
    assert_eq!(before.0, Some(true), "the world has them: {before:?}");
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let out = failback(&proxy);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(settings(), before, "primary's settings, not recovery's");
}

/// Defect 3 of the AWS-rules issue: primary's whole Describe, before and after the failback,
/// compared field by field (every field the SDK models). Primary has what a restore from
/// recovery's snapshot does not carry: a CA certificate, Enhanced Monitoring, an associated IAM
/// role, a master password managed in Secrets Manager, a zone. After the failback nothing differs
/// but what must (new ids, times, status) and what is reported with its reason (a new secret
/// ARN); before the fix all five stayed recovery's, and the step said nothing of it.
#[test]
fn rds_failback_leaves_primarys_whole_describe_as_it_was_but_for_what_must_differ() {
    use pilotlight::actions::failback::rds::instance_config::RULES;
    use pilotlight::actions::failback::whole_diff::{UNKNOWN, differences};
    use pilotlight::aws::answer_tree::tree;
    let moto = moto();
    let url = moto.endpoint_url();
    let primary = Client::new(&sdk(&url, "us-east-1"));
    let role = "arn:aws:iam::123456789012:role/rds-monitoring";
    block_on(
        postgres(&primary, "orders-db")
            .availability_zone("us-east-1c")
            .ca_certificate_identifier("rds-ca-ecc384-g1")
            .monitoring_interval(30)
            .monitoring_role_arn(role)
            .manage_master_user_password(true)
            .master_user_password("")
            .enable_iam_database_authentication(true)
            .send(),
    )
    .expect("CreateDBInstance");
    let feature_role = "arn:aws:iam::123456789012:role/rds-s3-import";
    let add = primary.add_role_to_db_instance().db_instance_identifier("orders-db").role_arn(feature_role);
    block_on(add.feature_name("s3Import").send()).expect("AddRoleToDBInstance");
    block_on(postgres(&Client::new(&sdk(&url, "us-west-2")), "orders-db").send()).expect("CreateDBInstance");
    let describe = || {
        let out = block_on(primary.describe_db_instances().db_instance_identifier("orders-db").send()).unwrap();
        out.db_instances()[0].clone()
    };
    let before = describe();
    assert_eq!(before.monitoring_interval(), Some(30), "the world has them: {before:?}");
    assert!(before.master_user_secret().is_some() && !before.associated_roles().is_empty(), "{before:?}");

    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let out = failback(&proxy);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let after = describe();
    let differ = differences(&tree(&before), &tree(&after), &RULES);
    let unexplained: Vec<&String> = differ.iter().filter(|d| d.contains(UNKNOWN)).collect();
    assert!(unexplained.is_empty(), "differs with no reason: {unexplained:#?}\nall: {differ:#?}");
    assert_eq!(after.ca_certificate_identifier(), Some("rds-ca-ecc384-g1"));
    assert_eq!((after.monitoring_interval(), after.monitoring_role_arn()), (Some(30), Some(role)));
    assert_eq!(after.availability_zone(), Some("us-east-1c"));
    let roles: Vec<_> = after.associated_roles().iter().map(|r| (r.role_arn(), r.feature_name())).collect();
    assert_eq!(roles, [(Some(feature_role), Some("s3Import"))]);
    assert!(after.master_user_secret().is_some(), "the password is managed in Secrets Manager again");
    assert!(
        stdout.contains("orders-db differs from before the failback: master_user_secret"),
        "the new secret is said:\n{stdout}"
    );
}

/// Defect 9 of the AWS-rules issue (in part): recovery's instance is encrypted, and RDS refuses
/// to copy an encrypted snapshot into another region without a KMS key of that region (the
/// rules; bare moto copies it). Without `kms_key_id` the failback stops at its first sub-step
/// with what to give, before any snapshot is taken; before the fix it took the recovery snapshot
/// and failed at the copy with AWS's words. With a key it fails back.
#[test]
fn rds_failback_of_an_encrypted_recovery_asks_for_a_key_before_anything_changes() {
    let moto = moto();
    let url = moto.endpoint_url();
    let primary = Client::new(&sdk(&url, "us-east-1"));
    block_on(postgres(&primary, "orders-db").send()).expect("CreateDBInstance");
    let recovery = Client::new(&sdk(&url, "us-west-2"));
    block_on(postgres(&recovery, "orders-db").storage_encrypted(true).send()).expect("CreateDBInstance");

    // The rule: bare moto copies the encrypted snapshot across regions without a key; AWS does not.
    let snap = recovery.create_db_snapshot().db_instance_identifier("orders-db").db_snapshot_identifier("enc");
    let arn = block_on(snap.send()).unwrap().db_snapshot().unwrap().db_snapshot_arn().unwrap().to_string();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let copy = |c: &Client, to: &str| {
        block_on(c.copy_db_snapshot().source_db_snapshot_identifier(&arn).target_db_snapshot_identifier(to).send())
            .map(|_| ())
            .map_err(|e| aws_sdk_rds::error::ProvideErrorMetadata::code(&e).map(str::to_string))
    };
    let ruled = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    assert_eq!(copy(&ruled, "ruled").unwrap_err().as_deref(), Some("InvalidParameterValue"));
    copy(&primary, "bare").expect("moto copies it");
    block_on(recovery.delete_db_snapshot().db_snapshot_identifier("enc").send()).unwrap();

    let out = failback(&proxy);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("is encrypted, and a copy of its snapshot into us-east-1 must be encrypted with a KMS key of us-east-1: give the step `kms_key_id`"),
        "{stdout}"
    );
    let snaps = block_on(recovery.describe_db_snapshots().snapshot_type("manual").send()).unwrap();
    assert!(snaps.db_snapshots().is_empty(), "no recovery snapshot taken: {:?}", snaps.db_snapshots());
    let ids: Vec<String> = block_on(primary.describe_db_instances().send())
        .unwrap()
        .db_instances()
        .iter()
        .filter_map(|d| d.db_instance_identifier().map(str::to_string))
        .collect();
    assert_eq!(ids, ["orders-db"], "primary untouched");

    // With a key of primary's region, the same failback goes through.
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::fs::read_to_string("tests/fixtures/rds-failback.yaml").unwrap();
    let keyed =
        fixture.replace("      resource: orders_db\n", "      resource: orders_db\n      kms_key_id: alias/aws/rds\n");
    assert_ne!(keyed, fixture);
    let runbook = dir.path().join("rds-failback.yaml");
    std::fs::write(&runbook, keyed).unwrap();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.arg("run").arg(&runbook).args(["--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Defect 6 of the AWS-rules issue, outside waits: AWS throttles the copy's read of the
/// recovery snapshot (DescribeDBSnapshots by the name the failback gave it, outside any wait)
/// five times in a row, past the SDK's three attempts. The read is sent again after a pause and
/// the failback goes through without another attempt; before the fix the step failed on that
/// read. In one process the copy takes that read from the snapshot wait's last answer
/// (`pilotlight::aws::read_memo`), so the run is killed before the copy's answer is journaled:
/// the resumed copy reads its source from AWS, and meets the throttles.
#[test]
fn rds_failback_waits_out_throttled_reads_outside_waits() {
    let moto = moto();
    let url = moto.endpoint_url();
    for region in ["us-east-1", "us-west-2"] {
        block_on(postgres(&Client::new(&sdk(&url, region)), "orders-db").send()).expect("CreateDBInstance");
    }
    let ruled = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/rds-failback.yaml", "--headless", "--auto-approve"])
        .args(["--endpoint-url", &ruled.endpoint_url()])
        // The second mutating call is the copy: AWS makes it, the journal never hears its answer.
        .env(pilotlight::journal::CRASH_BEFORE_ANSWER_ENV, "2");
    let out = run(cmd);
    assert_eq!(
        out.status.code(),
        Some(pilotlight::journal::CRASH_EXIT_CODE),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The resumed copy's first read is of its source: five throttles meet it.
    let needle = Some("DBSnapshotIdentifier=pl-".to_string());
    let matcher = Matcher { needle, operation: Some("rds.DescribeDBSnapshots".into()), after: 0, times: 5 };
    let faults = vec![Rule::new(matcher, Fault::Throttle, "throttled")];
    let setup = Setup { faults, aws_rules: true, clock: Default::default(), limits: Default::default() };
    let proxy = RealismProxy::serve(moto.port, setup, 0).expect("a loopback port");
    let (id, dir) = only_run(state.path());
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let entries = journal(&dir);
    let throttled_in: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::AwsCall { sub: Some(sub), operation, message: Some(m), .. }
                if operation == "DescribeDBSnapshots" && m.contains("Throttling") =>
            {
                Some(sub.to_string())
            }
            _ => None,
        })
        .collect();
    assert!(!throttled_in.is_empty(), "throttled:\n{stdout}");
    assert!(throttled_in.iter().all(|s| s == "orders_db/copy-to-primary"), "outside waits only: {throttled_in:?}");
    let attempts = entries.iter().filter(|e| matches!(e.event, Event::ActionStarted { .. })).count();
    assert_eq!(attempts, 2, "the killed attempt and the resumed one; none failed on throttling:\n{stdout}");
}

/// Issue 14, a way back: the restore fails after the original was renamed away (here RDS has no
/// capacity for it: InsufficientDBInstanceCapacity). The failback renames
/// the original back under its identifier, deletion protection as it was, and fails saying so;
/// before, `orders-db` was left with no instance. With the cause gone, a resume of the same run
/// keeps and restores again, and fails back. Checked with describe calls (the instance's create
/// time says which instance holds the identifier; moto's resource ids repeat).
#[test]
fn rds_failback_puts_the_original_back_when_the_restore_fails_and_a_resume_fails_back() {
    let moto = moto();
    let url = moto.endpoint_url();
    let primary = Client::new(&sdk(&url, "us-east-1"));
    block_on(postgres(&primary, "orders-db").send()).expect("CreateDBInstance");
    block_on(postgres(&Client::new(&sdk(&url, "us-west-2")), "orders-db").send()).expect("CreateDBInstance");
    let instances = || {
        let out = block_on(primary.describe_db_instances().send()).unwrap();
        let mut all: Vec<(String, String, bool)> = out
            .db_instances()
            .iter()
            .map(|d| {
                let id = d.db_instance_identifier().unwrap_or_default().to_string();
                let created = d.instance_create_time().map(|t| t.to_string()).unwrap_or_default();
                (id, created, d.deletion_protection().unwrap_or(false))
            })
            .collect();
        all.sort();
        all
    };
    let before = instances();
    assert_eq!(before.len(), 1);

    let refused = FaultRule { needle: "Action=RestoreDBInstanceFromDBSnapshot", times: usize::MAX, fault: NO_CAPACITY };
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![refused]);
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/rds-failback.yaml", "--headless", "--auto-approve"])
        .args(["--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("the original was renamed back to orders-db"), "{stdout}");
    assert_eq!(instances(), before, "the original holds its identifier again, as it was; nothing else is left");

    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let (id, _) = super::support::only_run(state.path());
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let after = instances();
    let kept = after.iter().find(|(i, _, _)| i.contains("-pre-failback-")).expect("the original kept");
    assert_eq!(kept.1, before[0].1, "the kept one is the original");
    let restored = after.iter().find(|(i, _, _)| i == "orders-db").expect("restored");
    assert_ne!(restored.1, before[0].1, "orders-db is the restored instance now");
}

/// RDS out of capacity for the restore (a refusal moto never gives).
const NO_CAPACITY: Fault = Fault::Refuse {
    code: "InsufficientDBInstanceCapacity",
    message: "Cannot create a database instance because there is no capacity for db.t3.micro in us-east-1a.",
};

/// The primary and recovery `orders-db` of the rollback tests, on a reset moto (primary's with
/// deletion protection on); the instances of primary as (identifier, create time, deletion
/// protection), sorted.
fn rollback_world(port: u16, url: &str) -> impl Fn() -> Vec<(String, String, bool)> {
    pilotlight::sandbox::moto_api::reset(port).unwrap();
    super::realism::rules::forget(port);
    let primary = Client::new(&sdk(url, "us-east-1"));
    block_on(postgres(&primary, "orders-db").deletion_protection(true).send()).expect("CreateDBInstance");
    block_on(postgres(&Client::new(&sdk(url, "us-west-2")), "orders-db").send()).expect("CreateDBInstance");
    move || {
        let out = block_on(primary.describe_db_instances().send()).unwrap();
        let mut all: Vec<(String, String, bool)> = out
            .db_instances()
            .iter()
            .map(|d| {
                let created = d.instance_create_time().map(|t| t.to_string()).unwrap_or_default();
                let id = d.db_instance_identifier().unwrap_or_default().to_string();
                (id, created, d.deletion_protection().unwrap_or(false))
            })
            .collect();
        all.sort();
        all
    }
}

/// Issue 14, a kill during the way back: the restore fails (RDS has no capacity for it) and the run is killed after each journal entry of the
/// rollback in turn (one per class a resume cannot tell apart), then resumed with the fault still
/// there. Every time the original ends back under its identifier, deletion protection on as it
/// was, and nothing else is left in primary.
#[test]
fn a_kill_during_the_rds_rollback_resumes_to_primary_as_it_was() {
    use pilotlight::journal::{CRASH_AFTER_ENV, Event};
    let moto = moto();
    let url = moto.endpoint_url();
    let refused =
        || FaultRule { needle: "Action=RestoreDBInstanceFromDBSnapshot", times: usize::MAX, fault: NO_CAPACITY };
    let start = |state: &std::path::Path, proxy: &RealismProxy, kill: Option<u64>| {
        let mut cmd = pilotlight(state);
        cmd.args(["run", "tests/fixtures/rds-failback.yaml", "--headless", "--auto-approve"])
            .args(["--endpoint-url", &proxy.endpoint_url()]);
        if let Some(n) = kill {
            cmd.env(CRASH_AFTER_ENV, n.to_string());
        }
        run(cmd)
    };
    // The uninterrupted run: where the rollback starts, and the end state it reaches.
    let instances = rollback_world(moto.port, &url);
    let before = instances();
    assert!(before[0].2, "primary has deletion protection on");
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![refused()]);
    let state = state_dir();
    assert_ne!(start(state.path(), &proxy, None).status.code(), Some(0));
    assert_eq!(instances(), before, "the uninterrupted rollback");
    let (_, dir) = super::support::only_run(state.path());
    let entries = super::support::journal(&dir);
    let first = entries
        .iter()
        .find(|e| matches!(&e.event, Event::SubStep { name, .. } if name.to_string().contains("rollback-")))
        .expect("a rollback")
        .seq;
    let points: Vec<u64> = super::support::kill_classes(&entries).into_iter().filter(|p| *p >= first).collect();
    assert!(points.len() >= 4, "kill points in the rollback: {points:?}");
    for point in points {
        let instances = rollback_world(moto.port, &url);
        let proxy = RealismProxy::with_aws_rules(moto.port, vec![refused()]);
        let state = state_dir();
        let killed = start(state.path(), &proxy, Some(point));
        let out = super::support::resumed_after_kill(killed, state.path(), point, &proxy.endpoint_url());
        assert_ne!(out.status.code(), Some(0), "the restore still fails");
        let now = instances();
        let shown = String::from_utf8_lossy(&out.stdout);
        assert_eq!(now.len(), 1, "killed after entry {point}: {now:?}\n{shown}");
        assert_eq!((&now[0].0, now[0].2), (&before[0].0, true), "killed after entry {point}: {now:?}\n{shown}");
    }
}

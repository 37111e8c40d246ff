//! `rds.failback` under RDS's encryption and option rules (the rules layer's [`super::realism::rules`]
//! `keys`): a snapshot on the AWS managed key is not shared with another account, and a TDE
//! snapshot is copied into another region only with an option group with TDE there. The
//! failback checks both at `read`, before any snapshot, and preflight reports them by rule.
//! Checked with describe calls to moto itself.

use super::realism::RealismProxy;
use super::support::{block_on, moto, pilotlight, postgres, recorded, run, sdk, state_dir};
use aws_sdk_rds::Client;
use pilotlight::sandbox::moto_api;

const RECOVERY_ACCOUNT: &str = "222222222222";

fn code<T, E: aws_sdk_rds::error::ProvideErrorMetadata>(r: Result<T, E>) -> Result<(), Option<String>> {
    r.map(|_| ()).map_err(|e| e.code().map(str::to_string))
}

/// SDK configuration for `region` in the recovery account (moto: an assumed role there).
fn in_recovery_account(url: &str, region: &str) -> aws_config::SdkConfig {
    let config = sdk(url, region);
    let role = format!("arn:aws:iam::{RECOVERY_ACCOUNT}:role/test");
    let out = block_on(aws_sdk_sts::Client::new(&config).assume_role().role_arn(role).role_session_name("t").send())
        .expect("AssumeRole");
    let c = out.credentials().unwrap();
    let creds = aws_sdk_sts::config::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "recovery-account",
    );
    config.to_builder().credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(creds)).build()
}

/// The RDS fixture rewritten by `edit` into a temporary directory; (directory, runbook path).
fn runbook(edit: impl Fn(String) -> String) -> (tempfile::TempDir, std::path::PathBuf) {
    let fixture = std::fs::read_to_string("tests/fixtures/rds-failback.yaml").unwrap();
    let edited = edit(fixture.clone());
    assert_ne!(edited, fixture, "the edit applies");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rds-failback.yaml");
    std::fs::write(&path, edited).unwrap();
    (dir, path)
}

fn with_key(fixture: String) -> String {
    fixture.replace("      resource: orders_db\n", "      resource: orders_db\n      kms_key_id: alias/aws/rds\n")
}

fn cross_account(fixture: String) -> String {
    with_key(fixture).replace(
        "recovery: { region: us-west-2, account_id: \"123456789012\" }",
        &format!(
            "recovery: {{ region: us-west-2, account_id: \"{RECOVERY_ACCOUNT}\", role_arn: \"arn:aws:iam::{RECOVERY_ACCOUNT}:role/pilotlight-recovery\" }}"
        ),
    )
}

/// `pilotlight run` (headless, approved) or `pilotlight preflight` of `runbook` through `proxy`.
fn pilotlight_on(proxy: &RealismProxy, command: &str, runbook: &std::path::Path) -> (Option<i32>, String) {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.arg(command).arg(runbook).args(["--endpoint-url", &proxy.endpoint_url()]);
    if command == "run" {
        cmd.args(["--headless", "--auto-approve"]);
    }
    let out = run(cmd);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The rules: bare moto shares a snapshot on the default key and copies a TDE snapshot across
/// regions without an option group; AWS refuses both. Through the layer the default key is an
/// ARN that DescribeKey calls AWS managed, as on AWS.
#[test]
fn aws_rules_refuse_sharing_the_default_key_and_a_tde_copy_without_its_option_group() {
    let moto = moto();
    let url = moto.endpoint_url();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let bare = Client::new(&sdk(&url, "us-west-2"));
    let ruled = Client::new(&sdk(&proxy.endpoint_url(), "us-west-2"));
    block_on(postgres(&bare, "enc").storage_encrypted(true).send()).expect("CreateDBInstance");
    block_on(bare.create_db_snapshot().db_instance_identifier("enc").db_snapshot_identifier("enc-snap").send())
        .unwrap();
    let share = |c: &Client| {
        code(block_on(
            c.modify_db_snapshot_attribute()
                .db_snapshot_identifier("enc-snap")
                .attribute_name("restore")
                .values_to_add("210987654321")
                .send(),
        ))
    };
    assert_eq!(share(&ruled), Err(Some("InvalidParameterValue".into())), "RDS does not share the default key");
    share(&bare).expect("moto shares it");
    let key = |c: &Client| {
        let out = block_on(c.describe_db_instances().db_instance_identifier("enc").send()).unwrap();
        out.db_instances()[0].kms_key_id().unwrap().to_string()
    };
    assert_eq!(key(&bare), "default_kms_key_id");
    let arn = key(&ruled);
    assert!(arn.starts_with("arn:aws:kms:us-west-2:123456789012:key/"), "{arn}");
    let manager = |url: &str| {
        let kms = aws_sdk_kms::Client::new(&sdk(url, "us-west-2"));
        let out = block_on(kms.describe_key().key_id(&arn).send()).unwrap();
        out.key_metadata().unwrap().key_manager().unwrap().as_str().to_string()
    };
    assert_eq!(manager(&proxy.endpoint_url()), "AWS");
    assert_eq!(manager(&url), "CUSTOMER", "moto calls it customer managed");

    tde_instance(&url, "us-west-2", "tde-db", true);
    let snap = bare.create_db_snapshot().db_instance_identifier("tde-db").db_snapshot_identifier("tde-snap");
    let source = block_on(snap.send()).unwrap().db_snapshot().unwrap().db_snapshot_arn().unwrap().to_string();
    tde_group(&url, "us-east-1", true);
    let copy = |url: &str, to: &str, group: Option<&str>| {
        let c = Client::new(&sdk(url, "us-east-1"));
        let req = c.copy_db_snapshot().source_db_snapshot_identifier(&source).target_db_snapshot_identifier(to);
        code(block_on(req.set_option_group_name(group.map(str::to_string)).send()))
    };
    let refused = Err(Some("InvalidParameterCombination".to_string()));
    assert_eq!(copy(&proxy.endpoint_url(), "ruled", None), refused, "RDS needs an option group with TDE");
    copy(&url, "bare", None).expect("moto copies it");
    copy(&proxy.endpoint_url(), "ruled", Some(TDE_GROUP)).expect("with one, RDS copies it");
}

const TDE_GROUP: &str = "orders-tde";

/// Option group `orders-tde` (Oracle EE 19) in `region`, with the TDE option when `tde`.
fn tde_group(url: &str, region: &str, tde: bool) {
    let rds = Client::new(&sdk(url, region));
    let create = rds
        .create_option_group()
        .option_group_name(TDE_GROUP)
        .engine_name("oracle-ee")
        .major_engine_version("19")
        .option_group_description("orders with TDE");
    block_on(create.send()).expect("CreateOptionGroup");
    if tde {
        let tde = aws_sdk_rds::types::OptionConfiguration::builder().option_name("TDE").build();
        let modify = rds.modify_option_group().option_group_name(TDE_GROUP).options_to_include(tde);
        block_on(modify.apply_immediately(true).send()).expect("ModifyOptionGroup");
    }
}

/// An Oracle EE instance `id` in `region` in option group `orders-tde` (made first, with TDE
/// when `tde`).
fn tde_instance(url: &str, region: &str, id: &str, tde: bool) {
    tde_group(url, region, tde);
    let rds = Client::new(&sdk(url, region));
    let create = rds
        .create_db_instance()
        .db_instance_identifier(id)
        .engine("oracle-ee")
        .engine_version("19.0.0.0.ru-2024-01.rur-2024-01.r1")
        .license_model("bring-your-own-license")
        .db_instance_class("db.m5.large")
        .allocated_storage(100)
        .master_username("pilot")
        .master_user_password("light-password-1")
        .option_group_name(TDE_GROUP);
    block_on(create.send()).expect("CreateDBInstance");
}

/// Recovery in another account on the AWS managed key: the snapshot could be taken but never
/// shared, so the failback stops at `read` with what to change, before any snapshot (before the
/// fix it took one, and the share was refused). Preflight fails the same rule. On a customer
/// managed key the rule passes (moto cannot finish a cross-account copy, so only preflight runs).
#[test]
fn rds_failback_across_accounts_stops_before_any_snapshot_when_recovery_is_on_the_aws_managed_key() {
    let moto = moto();
    let url = moto.endpoint_url();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    block_on(postgres(&Client::new(&sdk(&url, "us-east-1")), "orders-db").send()).expect("CreateDBInstance");
    let recovery = Client::new(&in_recovery_account(&url, "us-west-2"));
    block_on(postgres(&recovery, "orders-db").storage_encrypted(true).send()).expect("CreateDBInstance");
    let (_dir, path) = runbook(cross_account);

    moto_api::start_recording(moto.port).unwrap();
    let (status, stdout) = pilotlight_on(&proxy, "run", &path);
    moto_api::stop_recording(moto.port).unwrap();
    assert_ne!(status, Some(0), "{stdout}");
    assert!(
        stdout.contains("is encrypted with the AWS managed key arn:aws:kms:us-west-2:222222222222:key/"),
        "{stdout}"
    );
    assert!(stdout.contains("move it to a customer managed key whose key policy lets account 123456789012 use it"));
    let mutating: Vec<String> = recorded(moto.port)
        .into_iter()
        .filter(|c| c.mutating() && c.operation != "AssumeRole")
        .map(|c| c.operation)
        .collect();
    assert_eq!(mutating, Vec::<String>::new(), "nothing was changed");
    let snaps = block_on(recovery.describe_db_snapshots().snapshot_type("manual").send()).unwrap();
    assert!(snaps.db_snapshots().is_empty(), "no recovery snapshot taken");

    let (status, stdout) = pilotlight_on(&proxy, "preflight", &path);
    assert_eq!(status, Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  failback-rds       orders_db          shareable-key: recovery DB instance orders-db is encrypted with the AWS managed key"), "{stdout}");

    // On a customer managed key of the recovery account, the share is allowed.
    let kms = aws_sdk_kms::Client::new(&in_recovery_account(&url, "us-west-2"));
    let key = block_on(kms.create_key().send()).unwrap().key_metadata().unwrap().arn().unwrap().to_string();
    block_on(recovery.delete_db_instance().db_instance_identifier("orders-db").skip_final_snapshot(true).send())
        .unwrap();
    block_on(postgres(&recovery, "orders-db").storage_encrypted(true).kms_key_id(&key).send()).unwrap();
    let (status, stdout) = pilotlight_on(&proxy, "preflight", &path);
    assert_eq!(status, Some(0), "{stdout}");
    assert!(stdout.contains(&format!("shareable-key: customer managed key {key}")), "{stdout}");
}

/// An Oracle instance with TDE across regions: the copy into primary is given primary's option
/// group (which has TDE), the failback goes through under the rules and the restored instance is
/// in that group (before the fix RDS refused the copy). With no TDE in primary's group, the
/// failback stops at `read` and preflight fails the rule.
#[test]
fn rds_failback_of_an_oracle_instance_with_tde_gives_the_copy_primarys_option_group() {
    let moto = moto();
    let url = moto.endpoint_url();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    tde_instance(&url, "us-west-2", "orders-db", true);
    tde_instance(&url, "us-east-1", "orders-db", true);
    let path = std::path::Path::new("tests/fixtures/rds-failback.yaml");

    moto_api::start_recording(moto.port).unwrap();
    let (status, stdout) = pilotlight_on(&proxy, "run", path);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(status, Some(0), "{stdout}");
    let calls = recorded(moto.port);
    let copy = calls.iter().find(|c| c.operation == "CopyDBSnapshot").expect("a copy");
    assert!(copy.body.contains(&format!("OptionGroupName={TDE_GROUP}")), "{}", copy.body);
    let primary = Client::new(&sdk(&url, "us-east-1"));
    let out = block_on(primary.describe_db_instances().db_instance_identifier("orders-db").send()).unwrap();
    let db = &out.db_instances()[0];
    assert_eq!(db.option_group_memberships()[0].option_group_name(), Some(TDE_GROUP));
    assert!(db.tag_list().iter().any(|t| t.value() == Some("restored")), "the restored instance");

    // Primary's option group without TDE: nothing changes, and preflight says why.
    let (moto2, proxy2) = {
        let m = super::support::moto();
        let p = RealismProxy::with_aws_rules(m.port, Vec::new());
        (m, p)
    };
    let url2 = moto2.endpoint_url();
    tde_instance(&url2, "us-west-2", "orders-db", true);
    tde_instance(&url2, "us-east-1", "orders-db", false);
    let (status, stdout) = pilotlight_on(&proxy2, "run", path);
    assert_ne!(status, Some(0), "{stdout}");
    assert!(stdout.contains("uses TDE (option group orders-tde), and a copy of its snapshot into us-east-1 needs an option group of us-east-1 with TDE; primary's (orders-tde) has none"), "{stdout}");
    let recovery = Client::new(&sdk(&url2, "us-west-2"));
    let snaps = block_on(recovery.describe_db_snapshots().snapshot_type("manual").send()).unwrap();
    assert!(snaps.db_snapshots().is_empty(), "no recovery snapshot taken");
    let (status, stdout) = pilotlight_on(&proxy2, "preflight", path);
    assert_eq!(status, Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  failback-rds       orders_db          tde-option-group:"), "{stdout}");
}

/// The key the step names for the copy must be there and enabled: a disabled one fails
/// preflight's `encrypted-copy-key` (RDS would refuse the copy), an enabled one passes.
#[test]
fn preflight_fails_a_copy_key_that_is_disabled() {
    let moto = moto();
    let url = moto.endpoint_url();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    block_on(postgres(&Client::new(&sdk(&url, "us-east-1")), "orders-db").send()).expect("CreateDBInstance");
    let recovery = Client::new(&sdk(&url, "us-west-2"));
    block_on(postgres(&recovery, "orders-db").storage_encrypted(true).send()).expect("CreateDBInstance");
    let kms = aws_sdk_kms::Client::new(&sdk(&url, "us-east-1"));
    let key = block_on(kms.create_key().send()).unwrap().key_metadata().unwrap().key_id().to_string();
    block_on(kms.disable_key().key_id(&key).send()).unwrap();
    let (_dir, path) = runbook(|f| {
        f.replace("      resource: orders_db\n", &format!("      resource: orders_db\n      kms_key_id: {key}\n"))
    });
    let (status, stdout) = pilotlight_on(&proxy, "preflight", &path);
    assert_eq!(status, Some(1), "{stdout}");
    let refused = format!(
        "FAIL  failback-rds       orders_db          encrypted-copy-key: the step's kms_key_id {key} is Disabled in us-east-1"
    );
    assert!(stdout.contains(&refused), "{stdout}");
    block_on(kms.enable_key().key_id(&key).send()).unwrap();
    let (status, stdout) = pilotlight_on(&proxy, "preflight", &path);
    assert_eq!(status, Some(0), "{stdout}");
    assert!(stdout.contains("encrypted-copy-key: the copy is encrypted with arn:aws:kms:us-east-1:"), "{stdout}");
}

/// A step's `kms_key_id` is for encrypted snapshots: given with an unencrypted cluster, the copy
/// goes without it (RDS refuses a key for an unencrypted cluster snapshot's copy; before the fix
/// the failback sent it and the copy was refused).
#[test]
fn aurora_failback_gives_the_copy_a_key_only_when_the_cluster_is_encrypted() {
    let moto = moto();
    let url = moto.endpoint_url();
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    super::aurora_rules::cluster(&url, "us-east-1", "15.4", false);
    super::aurora_rules::cluster(&url, "us-west-2", "15.4", false);

    // The rule: bare moto takes a key for an unencrypted cluster snapshot's copy, RDS does not.
    let recovery = Client::new(&sdk(&url, "us-west-2"));
    let snap =
        recovery.create_db_cluster_snapshot().db_cluster_identifier("inventory").db_cluster_snapshot_identifier("s");
    let arn =
        block_on(snap.send()).unwrap().db_cluster_snapshot().unwrap().db_cluster_snapshot_arn().unwrap().to_string();
    let copy = |url: &str, to: &str| {
        let c = Client::new(&sdk(url, "us-east-1"));
        let req = c.copy_db_cluster_snapshot().source_db_cluster_snapshot_identifier(&arn);
        code(block_on(req.target_db_cluster_snapshot_identifier(to).kms_key_id("alias/aws/rds").send()))
    };
    assert_eq!(copy(&proxy.endpoint_url(), "ruled"), Err(Some("InvalidParameterValue".into())));
    copy(&url, "bare").expect("moto copies it");
    block_on(recovery.delete_db_cluster_snapshot().db_cluster_snapshot_identifier("s").send()).unwrap();

    let fixture = std::fs::read_to_string("tests/fixtures/aurora-failback.yaml").unwrap();
    let keyed = fixture.replace(
        "      resource: inventory_cluster\n",
        "      resource: inventory_cluster\n      kms_key_id: alias/aws/rds\n",
    );
    assert_ne!(keyed, fixture);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aurora-failback.yaml");
    std::fs::write(&path, keyed).unwrap();
    moto_api::start_recording(moto.port).unwrap();
    let (status, stdout) = pilotlight_on(&proxy, "run", &path);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(status, Some(0), "{stdout}");
    let calls = recorded(moto.port);
    let copy = calls.iter().find(|c| c.operation == "CopyDBClusterSnapshot").expect("a copy");
    assert!(!copy.body.contains("KmsKeyId"), "{}", copy.body);
    let primary = Client::new(&sdk(&url, "us-east-1"));
    let out = block_on(primary.describe_db_clusters().db_cluster_identifier("inventory").send()).unwrap();
    assert_eq!(out.db_clusters()[0].storage_encrypted(), Some(false), "restored unencrypted, as primary was");
}

//! Each environment is built and checked against its account guard on its own: a slow STS
//! answer for one side does not hold up the other (the console's panels, `status`, a group of
//! steps acting on both sides).

use super::realism::{Fault, FaultRule, RealismProxy};
use super::support::{block_on, moto};
use indexmap::IndexMap;
use pilotlight::aws::{AwsEnvs, ConnectOptions, NoLog};
use pilotlight::runbook::Environment;
use std::time::{Duration, Instant};

#[test]
fn one_environments_slow_account_check_does_not_hold_up_the_other() {
    let moto = moto();
    // Every STS call signed for us-east-1 (the primary) reaches moto two seconds late.
    let proxy = RealismProxy::start(
        moto.port,
        FaultRule { needle: "us-east-1/sts/aws4_request", times: usize::MAX, fault: Fault::Delay(2000) },
    );
    let env = |region: &str| Environment {
        region: region.into(),
        profile: None,
        role_arn: None,
        account_id: Some("123456789012".into()),
        endpoint_url: None,
    };
    let envs: IndexMap<String, Environment> =
        [("primary".to_string(), env("us-east-1")), ("recovery".to_string(), env("us-west-2"))].into_iter().collect();
    let envs =
        AwsEnvs::new(envs, ConnectOptions { endpoint_url: Some(proxy.endpoint_url()), sandbox_credentials: true });
    let (slow, fast) = block_on(async {
        let started = Instant::now();
        let checked = |env: &'static str| {
            let envs = &envs;
            async move {
                let check = envs.check_account(env, &NoLog).await.expect("account check");
                assert_eq!(check.account, "123456789012");
                started.elapsed()
            }
        };
        tokio::join!(checked("primary"), checked("recovery"))
    });
    assert!(proxy.faults.load(std::sync::atomic::Ordering::SeqCst) >= 1, "the primary's STS call was slowed");
    assert!(slow >= Duration::from_secs(2), "the primary waited for its slow answer: {slow:?}");
    assert!(fast < Duration::from_secs(1), "the recovery side did not wait for the primary's: {fast:?}");
}

/// Without credentials anywhere (no `--sandbox`, no profile, no variables), the guard says so,
/// where it looked and what was probably meant, instead of the SDK's words about IMDS.
#[test]
fn without_credentials_the_guard_says_where_it_looked_and_what_was_meant() {
    let state = super::support::state_dir();
    let home = super::support::state_dir();
    let mut cmd = super::support::pilotlight(state.path());
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("credentials"))
        // Nothing is sent: the chain finds no credentials before any request (port 9 discards).
        .args([
            "run",
            "runbooks/failback.yaml",
            "--headless",
            "--auto-approve",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ]);
    let out = super::support::run(cmd);
    assert_ne!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let refused: Vec<&str> = stdout.lines().filter(|l| l.contains("REFUSED")).collect();
    assert_eq!(refused.len(), 2, "primary-admin and recovery are checked at the start: {stdout}");
    for line in refused {
        assert!(line.contains("no AWS credentials were found for environment `"), "{line}");
        assert!(line.contains("the default profile in ~/.aws/config and ~/.aws/credentials"), "{line}");
        assert!(line.contains("--sandbox") && line.contains("AWS_PROFILE"), "{line}");
    }
}

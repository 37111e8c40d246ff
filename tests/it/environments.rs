//! Each environment is built and checked against its account guard on its own: a slow STS
//! answer for one side does not hold up the other (the console's panels, `status`, a group of
//! steps acting on both sides).

use super::fault_proxy::{Fault, FaultProxy, ThrottleRule};
use super::support::{block_on, moto};
use indexmap::IndexMap;
use pilotlight::aws::{AwsEnvs, ConnectOptions, NoLog};
use pilotlight::runbook::Environment;
use std::time::{Duration, Instant};

#[test]
fn one_environments_slow_account_check_does_not_hold_up_the_other() {
    let moto = moto();
    // Every STS call signed for us-east-1 (the primary) reaches moto two seconds late.
    let proxy = FaultProxy::start(
        moto.port,
        ThrottleRule { needle: "us-east-1/sts/aws4_request", times: usize::MAX, fault: Fault::Delay(2000) },
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

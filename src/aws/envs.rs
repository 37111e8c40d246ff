//! One SDK configuration per runbook environment, built once and checked against the account
//! guard before any action uses it.

use super::{ActionError, Call, CallLog, call, error_text};
use crate::runbook::Environment;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::time::Duration;

/// How to reach AWS, beyond what each environment says.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Sends every call to this endpoint (`--endpoint-url`, `--sandbox`); overrides environments.
    pub endpoint_url: Option<String>,
    /// Fixed fake credentials for the sandbox, so no real credential is ever sent to it.
    pub sandbox_credentials: bool,
}

/// SDK configurations for a run's environments (whose fields are already rendered).
pub struct AwsEnvs {
    envs: IndexMap<String, Environment>,
    options: ConnectOptions,
    cache: tokio::sync::Mutex<HashMap<String, SdkConfig>>,
}

impl AwsEnvs {
    pub fn new(envs: IndexMap<String, Environment>, options: ConnectOptions) -> AwsEnvs {
        AwsEnvs { envs, options, cache: tokio::sync::Mutex::new(HashMap::new()) }
    }

    /// The environment's region.
    pub fn region(&self, env: &str) -> Result<&str, ActionError> {
        self.env(env).map(|e| e.region.as_str())
    }

    fn env(&self, env: &str) -> Result<&Environment, ActionError> {
        self.envs.get(env).ok_or_else(|| ActionError::Failed(format!("no environment `{env}` in this runbook")))
    }

    /// The SDK configuration for `env`. The first use verifies the account guard with STS.
    pub async fn config(&self, env: &str, log: &dyn CallLog) -> Result<SdkConfig, ActionError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.get(env) {
            return Ok(c.clone());
        }
        let spec = self.env(env)?;
        let config = self.build(spec).await?;
        if let Some(expected) = &spec.account_id {
            let sts = aws_sdk_sts::Client::new(&config);
            let c = Call {
                service: "sts",
                operation: "GetCallerIdentity",
                target: env,
                region: &spec.region,
                mutating: false,
            };
            let who = call(log, &c, sts.get_caller_identity().send()).await?.map_err(|e| c.error(error_text(&e)))?;
            let actual = who.account().unwrap_or_default();
            if actual != expected {
                return Err(ActionError::Failed(format!(
                    "account guard: environment `{env}` expects account {expected}, but the credentials are for account {actual}; refusing to act"
                )));
            }
        }
        cache.insert(env.to_string(), config.clone());
        Ok(config)
    }

    async fn build(&self, spec: &Environment) -> Result<SdkConfig, ActionError> {
        // A call that hangs (a half-dead connection during a regional incident) is cut off and
        // retried by the SDK instead of holding the step until its own, much longer, timeout.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(60))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(spec.region.clone()))
            .timeout_config(timeouts);
        if let Some(p) = &spec.profile {
            loader = loader.profile_name(p);
        }
        if let Some(url) = self.options.endpoint_url.as_ref().or(spec.endpoint_url.as_ref()) {
            loader = loader.endpoint_url(url);
        }
        if self.options.sandbox_credentials {
            loader =
                loader.credentials_provider(Credentials::new("testing", "testing", None, None, "pilotlight-sandbox"));
        }
        let config = loader.load().await;
        let Some(role) = &spec.role_arn else { return Ok(config) };
        let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
            .session_name("pilotlight")
            .configure(&config)
            .build()
            .await;
        Ok(config.into_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build())
    }
}

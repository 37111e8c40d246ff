//! One SDK configuration per runbook environment, built once and checked against the account
//! guard before any action uses it.

use super::{ActionError, CallLog, at, read};
use crate::runbook::Environment;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How to reach AWS, beyond what each environment says.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Sends every call to this endpoint (`--endpoint-url`, `--sandbox`); overrides environments.
    pub endpoint_url: Option<String>,
    /// Fixed fake credentials for the sandbox, so no real credential is ever sent to it.
    pub sandbox_credentials: bool,
}

/// SDK configurations for a run's environments (whose fields are already rendered). Each
/// environment is built and guarded on its own, so reading one side never waits on the other.
pub struct AwsEnvs {
    envs: IndexMap<String, Environment>,
    options: ConnectOptions,
    /// One HTTPS client for every environment (the SDK would build one, with its own TLS roots
    /// and connection pool, per environment).
    http: aws_sdk_sts::config::SharedHttpClient,
    configs: HashMap<String, OnceCell<SdkConfig>>,
    /// The guard's answer per environment: STS is asked once.
    checks: HashMap<String, OnceCell<AccountCheck>>,
    /// Environments whose role comes from a step's output: the template, and the role once
    /// that step has run (set by the engine before each action).
    deferred: HashMap<String, (String, std::sync::OnceLock<Option<String>>)>,
}

/// What STS said about one environment's credentials.
#[derive(Debug, Clone)]
pub struct AccountCheck {
    pub env: String,
    pub region: String,
    /// The runbook's `account_id`, if it gives one.
    pub expected: Option<String>,
    /// The account the credentials belong to.
    pub account: String,
    pub arn: String,
}

impl AwsEnvs {
    pub fn new(envs: IndexMap<String, Environment>, options: ConnectOptions) -> AwsEnvs {
        let configs = envs.keys().map(|k| (k.clone(), OnceCell::new())).collect();
        let checks = envs.keys().map(|k| (k.clone(), OnceCell::new())).collect();
        AwsEnvs { envs, options, http: https_client(), configs, checks, deferred: HashMap::new() }
    }

    /// The same environments for reads only, with the caller's own credentials where a role
    /// comes from a step's output (the console's resource polls, before and after it exists).
    pub fn for_reads(&self) -> AwsEnvs {
        AwsEnvs { http: self.http.clone(), ..AwsEnvs::new(self.envs.clone(), self.options.clone()) }
    }

    /// Declares environments whose `role_arn` is a template over step outputs.
    pub fn with_deferred_roles(mut self, roles: IndexMap<String, String>) -> AwsEnvs {
        self.deferred = roles.into_iter().map(|(env, tpl)| (env, (tpl, std::sync::OnceLock::new()))).collect();
        self
    }

    /// Environments whose role is still unknown, with the template it comes from.
    pub fn awaiting_roles(&self) -> Vec<(String, String)> {
        self.deferred
            .iter()
            .filter(|(_, (_, role))| role.get().is_none())
            .map(|(env, (tpl, _))| (env.clone(), tpl.clone()))
            .collect()
    }

    /// Sets the role of a deferred environment (once: later calls are ignored); `None` acts
    /// with the environment's own credentials (a dry run, where the step that would produce
    /// the role did not run).
    pub fn resolve_role(&self, env: &str, role_arn: Option<String>) {
        if let Some((_, role)) = self.deferred.get(env) {
            let _ = role.set(role_arn);
        }
    }

    /// The environment names, in runbook order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.envs.keys().map(String::as_str)
    }

    /// The environment's region.
    pub fn region(&self, env: &str) -> Result<&str, ActionError> {
        self.env(env).map(|e| e.region.as_str())
    }

    fn env(&self, env: &str) -> Result<&Environment, ActionError> {
        self.envs.get(env).ok_or_else(|| ActionError::Failed(format!("no environment `{env}` in this runbook")))
    }

    /// The SDK configuration for `env`. The first use verifies the account guard with STS (the
    /// engine does that for every environment before step 1; this covers `status` and tests).
    pub async fn config(&self, env: &str, log: &dyn CallLog) -> Result<SdkConfig, ActionError> {
        let spec = self.env(env)?;
        let config = cell(&self.configs, env)?
            .get_or_try_init(|| async {
                let config = self.build(env, spec).await?;
                if spec.account_id.is_some() {
                    self.checked(env, spec, &config, log).await?;
                }
                Ok::<_, ActionError>(config)
            })
            .await?;
        Ok(config.clone())
    }

    /// Asks STS who the environment's credentials belong to and applies the account guard.
    pub async fn check_account(&self, env: &str, log: &dyn CallLog) -> Result<AccountCheck, ActionError> {
        let spec = self.env(env)?;
        let config = self.config(env, log).await?;
        self.checked(env, spec, &config, log).await
    }

    /// What a local command (an `exec` smoke test) is given, so that its AWS calls go where the
    /// run's go: the environment's region and profile, the run's endpoint, and in a sandbox run
    /// the sandbox's fake credentials in place of the shell's (which are removed, so a smoke
    /// test can never reach real AWS with them). Returns the variables to set and to remove.
    pub fn command_env(&self, env: &str) -> (Vec<(String, String)>, Vec<&'static str>) {
        let mut set: Vec<(String, String)> = Vec::new();
        let mut remove = Vec::new();
        let spec = self.envs.get(env);
        if let Some(e) = spec {
            set.push(("AWS_REGION".into(), e.region.clone()));
            set.push(("AWS_DEFAULT_REGION".into(), e.region.clone()));
        }
        if let Some(url) = self.options.endpoint_url.as_ref().or(spec.and_then(|e| e.endpoint_url.as_ref())) {
            set.push(("AWS_ENDPOINT_URL".into(), url.clone()));
        }
        if self.options.sandbox_credentials {
            set.push(("AWS_ACCESS_KEY_ID".into(), "testing".into()));
            set.push(("AWS_SECRET_ACCESS_KEY".into(), "testing".into()));
            set.push(("AWS_EC2_METADATA_DISABLED".into(), "true".into()));
            remove.extend([
                "AWS_SESSION_TOKEN",
                "AWS_SECURITY_TOKEN",
                "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE",
                "AWS_ROLE_ARN",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                "AWS_SHARED_CREDENTIALS_FILE",
                "AWS_CONFIG_FILE",
            ]);
        } else if let Some(p) = spec.and_then(|e| e.profile.as_ref()) {
            set.push(("AWS_PROFILE".into(), p.clone()));
        }
        (set, remove)
    }

    /// The `account_id` the runbook expects for `env`, if any.
    pub fn expected_account(&self, env: &str) -> Option<String> {
        self.envs.get(env).and_then(|e| e.account_id.clone())
    }

    async fn checked(
        &self,
        env: &str,
        spec: &Environment,
        config: &SdkConfig,
        log: &dyn CallLog,
    ) -> Result<AccountCheck, ActionError> {
        cell(&self.checks, env)?.get_or_try_init(|| self.guard(env, spec, config, log)).await.cloned()
    }

    async fn guard(
        &self,
        env: &str,
        spec: &Environment,
        config: &SdkConfig,
        log: &dyn CallLog,
    ) -> Result<AccountCheck, ActionError> {
        let sts = aws_sdk_sts::Client::new(config);
        let who = match read(log, at(env, &spec.region), sts.get_caller_identity()).await? {
            Ok(who) => who,
            Err(failure) => match credentials_error(&failure.error) {
                Some(missing) => return Err(ActionError::Failed(no_credentials(env, spec, missing, &failure.text()))),
                None => return Err(failure.into()),
            },
        };
        let account = who.account().unwrap_or_default().to_string();
        if let Some(expected) = &spec.account_id
            && &account != expected
        {
            return Err(ActionError::Failed(format!(
                "account guard: environment `{env}` expects account {expected}, but the credentials are for account {account}; refusing to act"
            )));
        }
        Ok(AccountCheck {
            env: env.to_string(),
            region: spec.region.clone(),
            expected: spec.account_id.clone(),
            account,
            arn: who.arn().unwrap_or_default().to_string(),
        })
    }

    async fn build(&self, env: &str, spec: &Environment) -> Result<SdkConfig, ActionError> {
        // A call that hangs (a half-dead connection during a regional incident) is cut off and
        // retried by the SDK instead of holding the step until its own, much longer, timeout.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(attempt_timeout())
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(self.http.clone())
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
        let role = match (&spec.role_arn, self.deferred.get(env)) {
            (Some(role), _) => role,
            (None, Some((tpl, resolved))) => match resolved.get() {
                Some(Some(role)) => role,
                Some(None) => return Ok(config),
                None => {
                    return Err(ActionError::Failed(format!(
                        "environment `{env}` takes its role from `{tpl}`, which is not available yet: the step \
                         that produces it has not run (or did not succeed)"
                    )));
                }
            },
            (None, None) => return Ok(config),
        };
        let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
            .session_name("pilotlight")
            .configure(&config)
            .build()
            .await;
        Ok(config.into_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build())
    }
}

/// The per-environment cell of `map`.
fn cell<'a, T>(map: &'a HashMap<String, OnceCell<T>>, env: &str) -> Result<&'a OnceCell<T>, ActionError> {
    map.get(env).ok_or_else(|| ActionError::Failed(format!("no environment `{env}` in this runbook")))
}

/// The HTTPS client the SDK builds by default (rustls with aws-lc, proxy settings from the
/// environment), made once for all the environments of a run.
fn https_client() -> aws_sdk_sts::config::SharedHttpClient {
    use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig, tls};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        conn.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            conn.set_sleep_impl(c.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}

/// Whether an SDK error comes from the credential chain rather than from AWS: `Some(true)` when no
/// provider in the chain had credentials at all, `Some(false)` when one failed to load them.
fn credentials_error(error: &(dyn std::error::Error + 'static)) -> Option<bool> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(matches!(c, CredentialsError::CredentialsNotLoaded(_)));
        }
        next = e.source();
    }
    None
}

/// What to tell a responder whose credentials could not be found or loaded: where the SDK looked,
/// and what they probably meant (the sandbox, or a profile). The SDK's own words (about an IMDS
/// session token, on a laptop) follow for the specialist.
fn no_credentials(env: &str, spec: &Environment, missing: bool, sdk: &str) -> String {
    let profile = match (&spec.profile, std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty())) {
        (Some(p), _) => format!("the profile `{p}` (the runbook's)"),
        (None, Some(p)) => format!("the profile `{p}` (AWS_PROFILE)"),
        (None, None) => "the default profile".to_string(),
    };
    let what = if missing { "no AWS credentials were found" } else { "AWS credentials could not be loaded" };
    format!(
        "{what} for environment `{env}`: looked in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, {profile} in \
         ~/.aws/config and ~/.aws/credentials, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), the ECS \
         container endpoint and EC2 instance metadata. To practise against the local sandbox, add \
         --sandbox (after `pilotlight sandbox up`) or run `pilotlight demo`; to act on AWS, give the \
         environment a `profile:` in the runbook or set AWS_PROFILE. The SDK said: {}",
        sdk.lines().next().unwrap_or_default()
    )
}

/// How long one attempt of an AWS call may take before it is cut off (and, for a read, retried
/// by the SDK; a mutating call's outcome is then unknown and the next attempt looks for what it
/// made): `PILOTLIGHT_ATTEMPT_TIMEOUT` seconds, else 60.
pub const ATTEMPT_TIMEOUT_ENV: &str = "PILOTLIGHT_ATTEMPT_TIMEOUT";

fn attempt_timeout() -> Duration {
    std::env::var(ATTEMPT_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0 && *s <= 3600.0)
        .map_or(Duration::from_secs(60), Duration::from_secs_f64)
}

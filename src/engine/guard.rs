//! The account guard, run for every environment before step 1 of a runbook that calls AWS.

use super::recorder::RunLog;
use super::{EngineError, Run};
use crate::actions::REGISTRY;
use crate::journal::Event;
use crate::runbook::ActionCatalog;
use futures_util::future::join_all;

impl Run {
    /// The account guard for every environment, before step 1 (on start and on resume): each
    /// environment's credentials are checked with STS and the answer journaled. An environment
    /// without `account_id` is journaled with the account STS reported, and a warning. False
    /// when the guard refused (or STS could not be asked): the run stops before acting. A
    /// runbook whose actions never call AWS (local commands, manual steps) asks STS nothing.
    pub(super) async fn check_accounts(&self) -> Result<bool, EngineError> {
        let uses_aws = self
            .loaded
            .runbook
            .steps
            .iter()
            .any(|s| s.action.as_deref().and_then(|a| REGISTRY.find(a)).is_some_and(|d| d.aws));
        if !uses_aws {
            return Ok(true);
        }
        self.resolve_roles();
        let awaiting = self.envs.awaiting_roles();
        // An environment whose role comes from a later step is guarded when first used (its
        // account is checked then, through that role); it is journaled as such here.
        for (env, template) in &awaiting {
            self.record(Event::AccountChecked {
                env: env.clone(),
                region: self.envs.region(env).unwrap_or_default().to_string(),
                expected: self.envs.expected_account(env),
                account: None,
                arn: None,
                ok: true,
                message: Some(format!("its role comes from `{template}`: checked when first used, through that role")),
            })?;
        }
        let names: Vec<String> =
            self.envs.names().filter(|n| !awaiting.iter().any(|(a, _)| a == n)).map(str::to_string).collect();
        let log = RunLog;
        let checks = join_all(names.iter().map(|env| self.envs.check_account(env, &log))).await;
        let mut all_ok = true;
        for (env, check) in names.iter().zip(checks) {
            let region = self.envs.region(env).unwrap_or_default().to_string();
            let event = match check {
                Ok(c) => Event::AccountChecked {
                    message: c
                        .expected
                        .is_none()
                        .then(|| format!("no account_id in the runbook: acting in account {} as {}", c.account, c.arn)),
                    env: c.env,
                    region: c.region,
                    expected: c.expected,
                    account: Some(c.account),
                    arn: Some(c.arn),
                    ok: true,
                },
                Err(e) => {
                    all_ok = false;
                    Event::AccountChecked {
                        env: env.clone(),
                        region,
                        expected: self.envs.expected_account(env),
                        account: None,
                        arn: None,
                        ok: false,
                        message: Some(e.to_string()),
                    }
                }
            };
            self.record(event)?;
        }
        Ok(all_ok)
    }
}

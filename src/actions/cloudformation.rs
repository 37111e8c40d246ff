//! `cloudformation.deploy` and `cloudformation.delete`: the failback permissions stack is
//! installed at the start of a failback and removed at the end.

use super::template_copy::RunTemplate;
use super::{Action, ActionCx, CheckCx, Outputs, ParamProblem, Poll, default_primary};
use crate::aws::{ActionError, at, cfn, mutate};
use crate::journal::SubId;
use crate::runbook::yaml_tree::Seg;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, Parameter, Tag};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// Parameters of `cloudformation.deploy`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployParams {
    /// Environment to deploy in.
    #[serde(default = "default_primary")]
    pub environment: String,
    pub stack_name: String,
    /// Template file, relative to the runbook file's directory.
    pub template: String,
    /// Template parameters.
    #[serde(default)]
    pub parameters: IndexMap<String, String>,
    /// e.g. `CAPABILITY_NAMED_IAM` for templates that create named IAM resources.
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub tags: IndexMap<String, String>,
}

/// Parameters of `cloudformation.delete`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    #[serde(default = "default_primary")]
    pub environment: String,
    pub stack_name: String,
}

fn template_path(cx_base: &std::path::Path, template: &str) -> PathBuf {
    cx_base.join(template)
}

impl Action for DeployParams {
    const NAME: &'static str = "cloudformation.deploy";
    const SUMMARY: &'static str = "create or update a stack from a template file and wait for it to complete";
    const OUTPUTS: Option<&'static [&'static str]> = None;
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60 * 60);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        let mut out: Vec<ParamProblem> = cx.environment("environment", &self.environment).into_iter().collect();
        let path = template_path(cx.base_dir, &self.template);
        if cx.check_files && !path.is_file() {
            out.push((vec![Seg::Key("template".into())], format!("template file {} does not exist", path.display())));
        }
        if self.stack_name.trim().is_empty() {
            out.push((vec![Seg::Key("stack_name".into())], "stack_name must not be empty".into()));
        }
        for (i, c) in self.capabilities.iter().enumerate() {
            if !Capability::values().contains(&c.as_str()) {
                out.push((
                    vec![Seg::Key("capabilities".into()), Seg::Index(i)],
                    format!("unknown capability `{c}` (known: {})", Capability::values().join(", ")),
                ));
            }
        }
        out
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let env = self.environment.as_str();
        let region = cx.envs.region(env)?.to_string();
        let template = self.template(cx)?;
        let body = template.body.as_str();
        let client = Client::new(&cx.envs.config(env, cx.log).await?);
        let name = self.stack_name.as_str();
        let mut changed = false;
        loop {
            let Some(stack) = cfn::describe_stack(&client, cx.log, name, &region).await? else {
                if cx.dry_run {
                    cx.log.note(format!(
                        "dry run: would create stack {name} in {env} ({region}) from {}",
                        self.template
                    ))?;
                    return Ok(outputs(None, "WOULD_CREATE", false, &Outputs::new()));
                }
                self.create(cx, &client, &template, &region).await?;
                changed = true;
                continue;
            };
            let status = cfn::status(&stack);
            if !cfn::is_terminal(&status) {
                cx.log.note(format!("stack {name} is {status}; waiting for it to settle"))?;
                wait_settled(cx, &client, name, &region).await?;
                continue;
            }
            match status.as_str() {
                "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE" | "IMPORT_COMPLETE" => {}
                "ROLLBACK_COMPLETE" if unreported_create(cx).is_some() => {
                    // This run's own CreateStack failed. Deleting the stack would destroy the
                    // events that say why: stop and say (once; a retry then recreates it).
                    let attempt = unreported_create(cx).unwrap_or_default();
                    cx.sub(&SubId::step(format!("rollback-reported@{attempt}")), json!({ "stack": name }), |_| async {
                        Ok(())
                    })
                    .await?;
                    let reason = cfn::failure_reason(&client, cx.log, name, &region).await;
                    let when = if attempt == cx.attempt {
                        String::new()
                    } else {
                        format!(
                            " after the CreateStack of attempt {attempt}, which was cut off before it saw the outcome"
                        )
                    };
                    return Err(ActionError::Failed(format!(
                        "stack {name} failed to create and rolled back{when}: {reason}. The stack and its events are \
                         left as they are; a retry deletes it and creates it again from the run's copy {}",
                        template.copy.display()
                    )));
                }
                "ROLLBACK_COMPLETE" => {
                    // A failed first create leaves an empty stack that can only be deleted: a
                    // leftover from before this run, or a rollback this run already reported.
                    if cx.dry_run {
                        cx.log
                            .note(format!("dry run: would delete the rolled-back stack {name} and create it again"))?;
                        return Ok(outputs(Some(&stack), "WOULD_RECREATE", false, &Outputs::new()));
                    }
                    cx.log.note(format!(
                        "stack {name} is ROLLBACK_COMPLETE (holds no resources); deleting it to create it again"
                    ))?;
                    delete(cx, &client, name, &region).await?;
                    continue;
                }
                other => {
                    let reason = cfn::failure_reason(&client, cx.log, name, &region).await;
                    return Err(ActionError::Failed(format!(
                        "stack {name} is {other}; it needs attention in the CloudFormation console before it can be deployed: {reason}"
                    )));
                }
            }
            if changed {
                if status == "UPDATE_ROLLBACK_COMPLETE" {
                    let reason = cfn::failure_reason(&client, cx.log, name, &region).await;
                    return Err(ActionError::Failed(format!("stack {name} update failed and rolled back: {reason}")));
                }
                return Ok(outputs(Some(&stack), &status, true, &stack_outputs(&stack)));
            }
            let deployed = cfn::deployed_body(&client, cx.log, name, &region).await?;
            if self.parameters_match(&stack) && deployed.trim() == body.trim() {
                // An attempt cut off after sending (a kill, a lost answer) made this change.
                let earlier = cx.interrupted && sent_in_earlier_attempt(cx, &["create-stack", "update-stack"]);
                let said = if earlier { "; the interrupted attempt's change completed" } else { "; nothing to do" };
                cx.log.note(format!("stack {name} is {status} with this template and these parameters{said}"))?;
                return Ok(outputs(Some(&stack), &status, earlier, &stack_outputs(&stack)));
            }
            // Checked in a dry run too, so the rehearsal shows the refusal the real run would meet.
            let dropped = cfn::data_dropped_by_update(&client, cx.log, name, &region, &deployed, body).await?;
            if !dropped.is_empty() {
                let list: Vec<String> = dropped.iter().map(ToString::to_string).collect();
                return Err(ActionError::Failed(format!(
                    "refusing to update stack {name}: the new template removes data-holding resources that have no retained copy: {}",
                    list.join(", ")
                )));
            }
            if cx.dry_run {
                cx.log.note(format!("dry run: would update stack {name} in {env} ({region})"))?;
                return Ok(outputs(Some(&stack), "WOULD_UPDATE", false, &stack_outputs(&stack)));
            }
            if !self.update(cx, &client, &template, &region).await? {
                return Ok(outputs(Some(&stack), &status, false, &stack_outputs(&stack)));
            }
            changed = true;
        }
    }
}

impl DeployParams {
    /// The template to deploy: the run's copy once it has sent one (see
    /// [`super::template_copy`]). Runs journaled before copies were kept recorded the body with
    /// each CreateStack/UpdateStack sub-step; the latest such body stands in for the copy.
    fn template(&self, cx: &ActionCx<'_>) -> Result<RunTemplate, ActionError> {
        let sent = (1..cx.attempt).rev().find_map(|attempt| {
            ["create-stack", "update-stack"]
                .iter()
                .filter_map(|op| cx.recorded(&SubId::step(format!("{op}@{attempt}"))))
                .find_map(|s| s.detail["body"].as_str().map(str::to_string))
        });
        RunTemplate::read(cx, &self.template, sent.as_deref())
    }

    async fn create(
        &self,
        cx: &ActionCx<'_>,
        client: &Client,
        template: &RunTemplate,
        region: &str,
    ) -> Result<(), ActionError> {
        let name = self.stack_name.as_str();
        let body = template.body.as_str();
        // Should the SDK send the call again (after a server error; it does not after a lost
        // answer), CloudFormation recognises the token and answers as for the first.
        let req = client
            .create_stack()
            .client_request_token(request_token(cx, name, "create-stack"))
            .stack_name(name)
            .template_body(body)
            .set_parameters(Some(self.sdk_parameters()))
            .set_capabilities(Some(self.capabilities.iter().map(|c| Capability::from(c.as_str())).collect()))
            .set_tags(Some(self.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()));
        // The template is journaled with the sub-step, before the call: an attempt cut off
        // after sending is continued with what it sent.
        template.keep()?;
        let step = SubId::step(format!("create-stack@{}", cx.attempt));
        cx.sub(&step, json!({ "body": body }), |_| async {
            match mutate(cx.log, at(name, region), req).await? {
                Ok(_) => Ok(()),
                // The stack did not exist a moment ago: an AlreadyExists now is this very call,
                // sent again by the SDK after a server error (AWS recognises the token and
                // answers as for the first; an emulator may not). What was created is read
                // next, like any stack.
                Err(e) if e.code() == Some("AlreadyExistsException") => {
                    cx.log.note(format!(
                        "CreateStack {name} answered AlreadyExists: the call was sent again, and the first one created it"
                    ))?;
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        })
        .await?;
        wait_settled(cx, client, name, region).await
    }

    /// Sends UpdateStack; false when CloudFormation says there is nothing to update.
    async fn update(
        &self,
        cx: &ActionCx<'_>,
        client: &Client,
        template: &RunTemplate,
        region: &str,
    ) -> Result<bool, ActionError> {
        let name = self.stack_name.as_str();
        let body = template.body.as_str();
        let req = client
            .update_stack()
            .client_request_token(request_token(cx, name, "update-stack"))
            .stack_name(name)
            .template_body(body)
            .set_parameters(Some(self.sdk_parameters()))
            .set_capabilities(Some(self.capabilities.iter().map(|c| Capability::from(c.as_str())).collect()))
            .set_tags(Some(self.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()));
        template.keep()?;
        let step = SubId::step(format!("update-stack@{}", cx.attempt));
        let sent = cx
            .sub(&step, json!({ "body": body }), |_| async {
                match mutate(cx.log, at(name, region), req).await? {
                    Ok(_) => Ok(true),
                    Err(e) if e.text().contains("No updates are to be performed") => Ok(false),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        if sent {
            wait_settled(cx, client, name, region).await?;
        }
        Ok(sent)
    }

    fn sdk_parameters(&self) -> Vec<Parameter> {
        self.parameters.iter().map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build()).collect()
    }

    /// True when the deployed stack already has these parameter values.
    fn parameters_match(&self, stack: &aws_sdk_cloudformation::types::Stack) -> bool {
        let deployed: IndexMap<&str, &str> = stack
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?, p.parameter_value().unwrap_or_default())))
            .collect();
        self.parameters.iter().all(|(k, v)| deployed.get(k.as_str()) == Some(&v.as_str()))
    }
}

fn stack_outputs(stack: &aws_sdk_cloudformation::types::Stack) -> Outputs {
    stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_string(), Value::from(o.output_value().unwrap_or_default()))))
        .collect()
}

fn outputs(
    stack: Option<&aws_sdk_cloudformation::types::Stack>,
    status: &str,
    changed: bool,
    extra: &Outputs,
) -> Outputs {
    let mut out = Outputs::new();
    out.insert("stack_id".into(), json!(stack.and_then(|s| s.stack_id())));
    out.insert("stack_status".into(), json!(status));
    out.insert("changed".into(), json!(changed));
    for (k, v) in extra {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// The attempt of this step whose CreateStack (the latest one sent) has not had its rollback
/// reported yet, if any: a stack in ROLLBACK_COMPLETE is then this run's own failure to say.
fn unreported_create(cx: &ActionCx<'_>) -> Option<u32> {
    let latest = (1..=cx.attempt)
        .rev()
        .find(|attempt| cx.recorded(&SubId::step(format!("create-stack@{attempt}"))).is_some())?;
    cx.recorded(&SubId::step(format!("rollback-reported@{latest}"))).is_none().then_some(latest)
}

/// True when an earlier attempt of this step started one of these stack operations (sub-steps
/// `OPERATION@ATTEMPT`).
fn sent_in_earlier_attempt(cx: &ActionCx<'_>, operations: &[&str]) -> bool {
    (1..cx.attempt)
        .any(|attempt| operations.iter().any(|op| cx.recorded(&SubId::step(format!("{op}@{attempt}"))).is_some()))
}

/// Waits until the stack leaves every *_IN_PROGRESS state (or disappears).
async fn wait_settled(cx: &ActionCx<'_>, client: &Client, name: &str, region: &str) -> Result<(), ActionError> {
    let quiet = cx.quiet();
    cx.wait_alone(&SubId::step("wait-stack"), cx.timeout, || async {
        Ok(match cfn::describe_stack(client, &quiet, name, region).await? {
            Some(s) if !cfn::is_terminal(&cfn::status(&s)) => {
                Poll::Pending(format!("stack {name} {}", cfn::status(&s)))
            }
            _ => Poll::Ready(()),
        })
    })
    .await
}

/// The ClientRequestToken of one stack operation in one attempt (run, step, stack, operation
/// and attempt): the SDK's own retries of that call send the same one.
fn request_token(cx: &ActionCx<'_>, stack: &str, operation: &str) -> String {
    super::failback::client_token(cx, stack, &format!("{operation}@{}", cx.attempt))
}

/// Sends DeleteStack and waits until the stack is gone.
async fn delete(cx: &ActionCx<'_>, client: &Client, name: &str, region: &str) -> Result<(), ActionError> {
    let req = client.delete_stack().client_request_token(request_token(cx, name, "delete-stack")).stack_name(name);
    // A sub-step, so that an attempt after one cut off here knows the stack went by its hand.
    cx.sub(&SubId::step(format!("delete-stack@{}", cx.attempt)), json!({ "stack": name }), |_| async {
        mutate(cx.log, at(name, region), req).await??;
        Ok(())
    })
    .await?;
    wait_deleted(cx, client, name, region).await
}

/// Waits until a deleting stack is gone; a stack that stops short of that is a failure with its reason.
async fn wait_deleted(cx: &ActionCx<'_>, client: &Client, name: &str, region: &str) -> Result<(), ActionError> {
    let quiet = cx.quiet();
    let status = cx
        .wait_alone(&SubId::step("wait-stack-deleted"), cx.timeout, || async {
            Ok(match cfn::describe_stack(client, &quiet, name, region).await? {
                None => Poll::Ready("DELETE_COMPLETE".to_string()),
                Some(s) if cfn::is_terminal(&cfn::status(&s)) => Poll::Ready(cfn::status(&s)),
                Some(s) => Poll::Pending(format!("stack {name} {}", cfn::status(&s))),
            })
        })
        .await?;
    if status == "DELETE_COMPLETE" {
        return Ok(());
    }
    let reason = cfn::failure_reason(client, cx.log, name, region).await;
    Err(ActionError::Failed(format!("stack {name} did not delete ({status}): {reason}")))
}

impl Action for DeleteParams {
    const NAME: &'static str = "cloudformation.delete";
    const SUMMARY: &'static str = "delete a stack and wait until it is gone";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["stack_status", "deleted"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60 * 60);

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        cx.environment("environment", &self.environment).into_iter().collect()
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        let env = self.environment.as_str();
        let region = cx.envs.region(env)?.to_string();
        let client = Client::new(&cx.envs.config(env, cx.log).await?);
        let name = self.stack_name.as_str();
        let result = |status: &str, deleted: bool| -> Outputs {
            [("stack_status".to_string(), json!(status)), ("deleted".to_string(), json!(deleted))].into_iter().collect()
        };
        let gone = || {
            if cx.interrupted && sent_in_earlier_attempt(cx, &["delete-stack"]) {
                cx.log.note(format!("stack {name} is gone: the interrupted attempt's DeleteStack completed"))?;
                return Ok(result("DELETE_COMPLETE", true));
            }
            cx.log.note(format!("stack {name} does not exist in {env}; nothing to delete"))?;
            Ok(result("DELETE_COMPLETE", false))
        };
        let Some(stack) = cfn::describe_stack(&client, cx.log, name, &region).await? else { return gone() };
        let mut status = cfn::status(&stack);
        if status == "DELETE_IN_PROGRESS" {
            if cx.dry_run {
                cx.log.note(format!("dry run: stack {name} is already being deleted"))?;
                return Ok(result(&status, false));
            }
            wait_deleted(cx, &client, name, &region).await?;
            return Ok(result("DELETE_COMPLETE", true));
        }
        if !cfn::is_terminal(&status) {
            // Judge the stack as it will be: an update in flight may still roll back to a
            // template that keeps less.
            wait_settled(cx, &client, name, &region).await?;
            let Some(settled) = cfn::describe_stack(&client, cx.log, name, &region).await? else { return gone() };
            status = cfn::status(&settled);
        }
        if status == "DELETE_COMPLETE" {
            return gone();
        }
        // Nothing that holds data is deleted without a retained copy.
        let unretained = cfn::unretained_data_resources(&client, cx.log, name, &region).await?;
        if !unretained.is_empty() {
            let list: Vec<String> = unretained.iter().map(ToString::to_string).collect();
            return Err(ActionError::Failed(format!(
                "refusing to delete stack {name}: deleting it would destroy data with no retained copy: {}. \
                 Give those resources `DeletionPolicy: Retain` (or `Snapshot`, for types that support it) in the \
                 template and update the stack, or remove them on purpose, first",
                list.join(", ")
            )));
        }
        if cx.dry_run {
            cx.log.note(format!("dry run: would delete stack {name} ({status}) in {env} ({region})"))?;
            return Ok(result(&status, false));
        }
        delete(cx, &client, name, &region).await?;
        Ok(result("DELETE_COMPLETE", true))
    }
}

//! `exec`: run a local command, the responder's own smoke test, with a timeout; its exit code and
//! output go into the journal.

use super::process_group::{KillGroup, MARKER_ENV, stop_survivors};
use super::{Action, ActionCx, CheckCx, Outputs, ParamProblem};
use crate::aws::ActionError;
use crate::journal::SubId;
use crate::journal::SubPhase;
use crate::runbook::yaml_tree::Seg;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;

/// How much of each output stream is kept (the end, where errors usually are).
const KEEP_BYTES: usize = 8 * 1024;

/// A command: a string runs under `sh -c`; a list is the program and its arguments.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Command {
    Shell(String),
    Argv(Vec<String>),
}

/// Parameters of `exec`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecParams {
    pub command: Command,
    /// Working directory, relative to the runbook file's directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// The exit code that means success.
    #[serde(default)]
    pub expect_exit: i32,
    /// Run it in a dry run too (only for commands that change nothing).
    #[serde(default)]
    pub read_only: bool,
    /// The environment whose region, profile and endpoint the command is given (`AWS_REGION`,
    /// `AWS_PROFILE`, `AWS_ENDPOINT_URL`; in a sandbox run the sandbox's credentials instead of
    /// the shell's). `env` entries override them.
    #[serde(default = "default_environment")]
    pub environment: String,
}

fn default_environment() -> String {
    "primary".into()
}

impl Action for ExecParams {
    const NAME: &'static str = "exec";
    const SUMMARY: &'static str =
        "run a local command (a smoke test) with a timeout and record its exit code and output";
    const OUTPUTS: Option<&'static [&'static str]> = Some(&["exit_code", "stdout", "stderr"]);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
    const AWS: bool = false;
    // A command line is readable by every local user (`ps`, /proc): secrets go through `env:`.
    const NO_SECRETS: &'static [&'static str] = &["command"];

    fn check(&self, cx: &CheckCx) -> Vec<ParamProblem> {
        let mut out = Vec::new();
        match &self.command {
            Command::Shell(s) if s.trim().is_empty() => {
                out.push((vec![Seg::Key("command".into())], "command is empty".into()))
            }
            Command::Argv(v) if v.is_empty() => out.push((vec![Seg::Key("command".into())], "command is empty".into())),
            _ => {}
        }
        out.extend(cx.environment("environment", &self.environment));
        if let Some(cwd) = &self.cwd
            && cx.check_files
            && !cx.base_dir.join(cwd).is_dir()
        {
            out.push((vec![Seg::Key("cwd".into())], format!("directory {cwd} does not exist")));
        }
        out
    }

    async fn run(&self, cx: &ActionCx<'_>) -> Result<Outputs, ActionError> {
        if cx.dry_run && !self.read_only {
            cx.log.note(format!("dry run: would run `{}`", self.display()))?;
            return Ok([("exit_code".to_string(), json!(null))].into_iter().collect());
        }
        if cx.dry_run {
            // On the runbook author's word: say so, so nobody mistakes it for a checked fact.
            cx.log.note(format!("dry run: runs `{}` (declared read-only)", self.display()))?;
        }
        let mut cmd = match &self.command {
            Command::Shell(s) => {
                let mut c = tokio::process::Command::new("sh");
                c.arg("-c").arg(s);
                c
            }
            Command::Argv(v) => {
                let Some((program, args)) = v.split_first() else {
                    return Err(ActionError::Failed("command is empty".into()));
                };
                let mut c = tokio::process::Command::new(program);
                c.args(args);
                c
            }
        };
        // An attempt killed mid-command (SIGKILL, a crash) may have left the command's process
        // group running: stop what is left of it before running the command again.
        if let Some(left) = cx.recorded(&SubId::step(SUBSTEP)).filter(|s| s.is_open()) {
            let pgid = left.detail.get("pgid").and_then(serde_json::Value::as_i64).unwrap_or(0) as i32;
            let marker = left.detail.get("marker").and_then(serde_json::Value::as_str).unwrap_or("");
            let stopped = stop_survivors(pgid, marker);
            if stopped > 0 {
                cx.log.note(format!(
                    "stopped {stopped} process(es) the interrupted attempt left running (process group {pgid})"
                ))?;
            }
        }
        let marker = format!("{}/{}/{}", cx.run_id, cx.step, cx.attempt);
        cmd.env(MARKER_ENV, &marker);
        let (aws_env, aws_remove) = cx.envs.command_env(&self.environment);
        for name in aws_remove {
            cmd.env_remove(name);
        }
        cmd.current_dir(cx.base_dir.join(self.cwd.as_deref().unwrap_or(".")))
            .envs(aws_env)
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that when the step's timeout drops this future the
            // command and everything it started are stopped, not just the shell.
            .process_group(0)
            .kill_on_drop(true);
        let mut child =
            cmd.spawn().map_err(|e| ActionError::Failed(format!("cannot start `{}`: {e}", self.display())))?;
        let group = child.id().map(|pid| KillGroup::watched(pid as i32, &marker));
        // Journaled before waiting: a resume after a kill finds the group by its id and marker.
        cx.log.substep(&SubId::step(SUBSTEP), SubPhase::Started, json!({ "pgid": child.id(), "marker": marker }))?;
        let (out_buf, err_buf) = (Tail::default(), Tail::default());
        let readers = [
            tokio::spawn(out_buf.clone().fill(child.stdout.take())),
            tokio::spawn(err_buf.clone().fill(child.stderr.take())),
        ];
        // Wait for the command itself, not for its output pipes (something it started in the
        // background may hold them open), and no longer than the step allows. Then stop the
        // group, which closes the pipes, and keep whatever output arrived.
        let waited = tokio::time::timeout(cx.timeout, child.wait()).await;
        drop(group);
        for reader in readers {
            if tokio::time::timeout(PIPE_DRAIN, reader).await.is_err() {
                // A process that left the group still holds the pipe; what was read is kept.
            }
        }
        let (stdout, stderr) = (out_buf.text(), err_buf.text());
        cx.log.substep(&SubId::step(SUBSTEP), SubPhase::Done, serde_json::Value::Null)?;
        let status = match waited {
            Ok(status) => {
                status.map_err(|e| ActionError::Failed(format!("`{}` failed to run: {e}", self.display())))?
            }
            Err(_) => {
                let outputs = exec_outputs(None, &stdout, &stderr);
                let message = format!(
                    "`{}` did not finish within {}; it was stopped",
                    self.display(),
                    humantime::format_duration(cx.timeout)
                );
                return Err(ActionError::FailedWithOutputs { message, outputs });
            }
        };
        let code = status.code();
        cx.log.note(format!(
            "`{}` exited with {}",
            self.display(),
            code.map_or("a signal".into(), |c| c.to_string())
        ))?;
        let outputs = exec_outputs(code, &stdout, &stderr);
        if code != Some(self.expect_exit) {
            let last = stderr.lines().chain(stdout.lines()).rfind(|l| !l.trim().is_empty()).unwrap_or("").to_string();
            let message = format!(
                "`{}` exited with {} (expected {}): {last}",
                self.display(),
                code.map_or("a signal".into(), |c| c.to_string()),
                self.expect_exit
            );
            return Err(ActionError::FailedWithOutputs { message, outputs });
        }
        Ok(outputs)
    }
}

impl ExecParams {
    fn display(&self) -> String {
        match &self.command {
            Command::Shell(s) => s.clone(),
            Command::Argv(v) => v.join(" "),
        }
    }
}

/// The sub-step that records the command's process group while it runs.
const SUBSTEP: &str = "command";

/// The action's outputs: exit code (none when it was stopped) and the ends of its output.
fn exec_outputs(code: Option<i32>, stdout: &str, stderr: &str) -> Outputs {
    [
        ("exit_code".to_string(), json!(code)),
        ("stdout".to_string(), json!(stdout)),
        ("stderr".to_string(), json!(stderr)),
    ]
    .into_iter()
    .collect()
}

/// How long to wait for output still in the pipes once the command has exited.
const PIPE_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// The end of an output stream, shared between the task reading it and the action, so that
/// what was read survives even when the reader has to be abandoned.
#[derive(Clone, Default)]
struct Tail(std::sync::Arc<std::sync::Mutex<(Vec<u8>, bool)>>);

impl Tail {
    /// Reads `reader` to its end, keeping the last `KEEP_BYTES` or so.
    async fn fill<R: tokio::io::AsyncRead + Unpin>(self, reader: Option<R>) {
        use tokio::io::AsyncReadExt;
        let Some(mut reader) = reader else { return };
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let (kept, cut) = &mut *guard;
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > 2 * KEEP_BYTES {
                let drop = kept.len() - KEEP_BYTES;
                kept.drain(..drop);
                *cut = true;
            }
        }
    }

    /// The kept output as text, starting at a line boundary when it was cut (so no fragment
    /// of a line, say part of a secret, is left at its start).
    fn text(&self) -> String {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (kept, cut) = &*guard;
        let mut start = kept.len().saturating_sub(KEEP_BYTES);
        if start > 0 || *cut {
            start = kept[start..].iter().position(|b| *b == b'\n').map_or(kept.len(), |i| start + i + 1);
        }
        String::from_utf8_lossy(&kept[start..]).into_owned()
    }
}

//! Secret inputs reach a run without the command line: from `PILOTLIGHT_VAR_<NAME>`, a
//! `--var-file`, or a prompt that does not echo; `--var` still works but is warned about.

use super::support::{journal, only_run, pilotlight, repo, run, state_dir};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub const SECRET: &str = "s3cr3t-T0KEN-from-elsewhere";

/// A runbook whose smoke test writes the token it was given to `used.txt` (also team mode's).
pub fn runbook(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("secret.yaml");
    std::fs::write(
        &path,
        r#"version: 1
name: secret
title: a smoke test with a token
inputs:
  token: { type: string, secret: true, description: API token for the smoke test }
environments:
  primary: { region: us-east-1 }
  recovery: { region: us-west-2 }
steps:
  - id: smoke
    title: smoke test
    action: exec
    with: { command: "test -f go || exit 4; echo \"$TOKEN\" > used.txt", env: { TOKEN: "{{ inputs.token }}" } }
"#,
    )
    .unwrap();
    path
}

fn used(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("used.txt")).map(|s| s.trim().to_string()).unwrap_or_default()
}

#[test]
fn a_secret_comes_from_the_environment_or_a_file_and_a_command_line_secret_is_warned_about() {
    let work = state_dir();
    std::fs::write(work.path().join("go"), "").unwrap();
    let rb = runbook(work.path());

    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve"]).env("PILOTLIGHT_VAR_TOKEN", SECRET);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(used(work.path()), SECRET, "the environment variable gave the secret");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "no warning without --var");
    let (_, dir) = only_run(state.path());
    assert!(!std::fs::read_to_string(dir.join("journal.jsonl")).unwrap().contains(SECRET));

    std::fs::remove_file(work.path().join("used.txt")).unwrap();
    let file = work.path().join("vars.yaml");
    std::fs::write(&file, format!("# for the smoke test\ntoken: \"{SECRET}\"\n")).unwrap();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--var-file", file.to_str().unwrap()]);
    assert_eq!(run(cmd).status.code(), Some(0));
    assert_eq!(used(work.path()), SECRET, "the file gave the secret");

    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--var", &format!("token={SECRET}")]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: --var token puts a secret on the command line")
            && stderr.contains("give it as PILOTLIGHT_VAR_TOKEN"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET), "the warning does not repeat the secret");
}

#[test]
fn resume_takes_the_secret_from_the_environment() {
    let work = state_dir();
    let rb = runbook(work.path());
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve"]).env("PILOTLIGHT_VAR_TOKEN", SECRET);
    assert_eq!(run(cmd).status.code(), Some(1), "the smoke test fails until `go` exists");
    let (id, _) = only_run(state.path());
    std::fs::write(work.path().join("go"), "").unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["resume", &id, "--headless", "--auto-approve"]).env("PILOTLIGHT_VAR_TOKEN", SECRET);
    assert_eq!(run(cmd).status.code(), Some(0));
    assert_eq!(used(work.path()), SECRET);
}

#[test]
fn a_missing_secret_is_asked_for_on_a_terminal_without_echo() {
    let work = state_dir();
    std::fs::write(work.path().join("go"), "").unwrap();
    let rb = runbook(work.path());
    let state = state_dir();
    let sock = state.path().join("tmux.sock");
    let tmux = |args: &[&str]| Command::new("tmux").arg("-S").arg(&sock).args(args).output().expect("tmux");
    let script = format!(
        "cd {} && env PILOTLIGHT_STATE_DIR={} AWS_EC2_METADATA_DISABLED=true {} run {} --headless --auto-approve; echo EXIT=$?; sleep 60",
        repo().display(),
        state.path().display(),
        env!("CARGO_BIN_EXE_pilotlight"),
        rb.display()
    );
    assert!(tmux(&["new-session", "-d", "-s", "s", "-x", "120", "-y", "20", &script]).status.success());
    let screen = || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "s"]).stdout).into_owned();
    let wait_for = |text: &str| {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let s = screen();
            if s.contains(text) {
                return s;
            }
            assert!(Instant::now() < until, "never showed {text:?}:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("token (secret input, not shown as you type):");
    assert!(tmux(&["send-keys", "-t", "s", "-l", SECRET]).status.success());
    assert!(tmux(&["send-keys", "-t", "s", "Enter"]).status.success());
    let shown = wait_for("EXIT=");
    let _ = tmux(&["kill-server"]);
    assert!(shown.contains("EXIT=0"), "{shown}");
    assert!(!shown.contains(SECRET), "the secret was echoed:\n{shown}");
    assert_eq!(used(work.path()), SECRET, "the typed secret reached the command");
    let (_, dir) = only_run(state.path());
    assert!(journal(&dir).iter().all(|e| !serde_json::to_string(e).unwrap().contains(SECRET)));
}

/// At the most verbose log level, a secret sent to AWS as a stack parameter reaches AWS and
/// neither the log file nor the journal.
#[test]
fn a_secret_stack_parameter_stays_out_of_the_log_at_trace_and_out_of_the_journal() {
    let (_moto, url) = super::support::seeded_moto();
    let work = state_dir();
    let secret = "arn:aws:iam::123456789012:user/s3cr3t-principal-q7z";
    let rb = work.path().join("stack.yaml");
    std::fs::write(
        &rb,
        format!(
            r#"version: 1
name: stack
title: a stack with a secret parameter
inputs:
  principal: {{ type: string, secret: true }}
environments:
  primary: {{ region: us-east-1 }}
  recovery: {{ region: us-west-2 }}
steps:
  - id: deploy
    title: deploy
    action: cloudformation.deploy
    with:
      stack_name: secret-param
      template: {}/assets/failback-permissions.json
      parameters: {{ TrustedPrincipalArn: "{{{{ inputs.principal }}}}", RoleName: secret-param-role }}
      capabilities: [CAPABILITY_NAMED_IAM]
"#,
            repo().display()
        ),
    )
    .unwrap();
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--headless", "--auto-approve", "--endpoint-url", &url])
        .env("PILOTLIGHT_VAR_PRINCIPAL", secret)
        .env("PILOTLIGHT_LOG", "trace");
    assert_eq!(run(cmd).status.code(), Some(0));
    let client = aws_sdk_cloudformation::Client::new(&super::support::sdk(&url, "us-east-1"));
    let sent = super::support::block_on(client.describe_stacks().stack_name("secret-param").send()).unwrap();
    let params = sent.stacks()[0].parameters();
    assert!(
        params.iter().any(|p| p.parameter_value() == Some(secret)),
        "the secret reached AWS as the parameter: {params:?}"
    );
    let log = std::fs::read_to_string(state.path().join("logs/pilotlight.log")).unwrap();
    assert!(log.contains("journaled"), "trace logging was on: {} bytes", log.len());
    assert!(!log.contains("s3cr3t-principal"), "the secret is in the log file");
    let (_, dir) = only_run(state.path());
    assert!(!std::fs::read_to_string(dir.join("journal.jsonl")).unwrap().contains("s3cr3t-principal"));
}

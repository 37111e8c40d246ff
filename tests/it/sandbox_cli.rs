//! `pilotlight sandbox up|seed|status|down` and the bundled failback runbook on the seeded
//! sandbox with no --var at all.

use super::support::{pilotlight, run, state_dir};

#[test]
fn sandbox_lifecycle_and_bundled_failback_with_defaults() {
    let state = state_dir();
    let sb = |args: &[&str]| {
        let mut c = pilotlight(state.path());
        c.args(args);
        run(c)
    };
    let out = sb(&["sandbox", "status"]);
    assert_eq!(out.status.code(), Some(1), "not running yet");

    let out = sb(&["sandbox", "up"]);
    assert!(out.status.success());
    let info: pilotlight::sandbox::SandboxInfo =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("sandbox/sandbox.json")).unwrap()).unwrap();
    let guard = StopOnDrop(info.pid);
    let first_proxy = info.realism.clone().expect("the realism layer runs in front of moto");
    assert!(info.endpoint_url().ends_with(&first_proxy.port.to_string()), "the tool's endpoint is the proxy");
    assert!(String::from_utf8_lossy(&sb(&["sandbox", "up"]).stdout).contains("already running"));
    assert!(sb(&["sandbox", "status"]).status.success());
    // Another pace: moto stays (and its world), the proxy is replaced.
    let out = sb(&["sandbox", "up", "--pace", "600"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("realism layer restarted"));
    let info: pilotlight::sandbox::SandboxInfo =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("sandbox/sandbox.json")).unwrap()).unwrap();
    let proxy = info.realism.clone().unwrap();
    let _proxy_guard = StopOnDrop(proxy.pid);
    assert_eq!(proxy.pace, "600");
    assert!(!pilotlight::sandbox::realism::process::alive(&first_proxy), "the old proxy was stopped by its PID");
    assert!(String::from_utf8_lossy(&sb(&["sandbox", "status"]).stdout).contains("at pace 600"));

    let first = sb(&["sandbox", "seed"]);
    assert!(first.status.success());
    assert!(String::from_utf8_lossy(&first.stdout).contains("17 created, 0 already there"));
    let again = sb(&["sandbox", "seed"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 created, 17 already there"), "seeding is idempotent");

    let out = sb(&["run", "runbooks/failback.yaml", "--sandbox", "--headless", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "the bundled failback runs on the seeded sandbox with no --var");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("flip-dns: done old_value=\"10.1.1.10\" new_value=\"10.0.1.10\""), "{stdout}");
    assert!(stdout.contains("renaming"), "the run met AWS's time at the sandbox's pace: {stdout}");

    let out = sb(&["sandbox", "down"]);
    assert!(out.status.success());
    assert!(!pilotlight::sandbox::process::alive(info.pid) || is_zombie_or_gone(info.pid), "moto stopped by its PID");
    assert!(!pilotlight::sandbox::realism::process::alive(&proxy), "the proxy stopped by its PID");
    drop(guard);
    assert_eq!(sb(&["sandbox", "status"]).status.code(), Some(1));
}

fn is_zombie_or_gone(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.contains(") Z")).unwrap_or(true)
}

/// Stops the sandbox if the test fails before `sandbox down`.
struct StopOnDrop(i32);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let ours = |c: String| c.contains("moto_server") || c.contains("sandbox realism");
        if pilotlight::sandbox::process::cmdline(self.0).is_some_and(ours) {
            pilotlight::sandbox::process::terminate(self.0, std::time::Duration::from_secs(3));
        }
    }
}

#[test]
fn missing_python_is_a_clear_message() {
    let state = state_dir();
    let mut c = pilotlight(state.path());
    c.args(["sandbox", "up"])
        .env("PATH", "/nonexistent")
        .env(pilotlight::sandbox::server::VENV_ENV, state.path().join("no-venv"));
    let out = run(c);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("python3 was not found on PATH"));
}

/// A smoke test in a sandbox run talks to the sandbox: it gets the run's endpoint and region and
/// the sandbox's fake credentials, never the shell's.
#[test]
fn a_command_in_a_sandbox_run_gets_the_sandbox_not_the_shells_aws() {
    let state = state_dir();
    let mut up = pilotlight(state.path());
    up.args(["sandbox", "up"]);
    assert!(run(up).status.success());
    let info: pilotlight::sandbox::SandboxInfo =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("sandbox/sandbox.json")).unwrap()).unwrap();
    let _guard = StopOnDrop(info.pid);
    let proxy = info.realism.clone().expect("the realism layer runs in front of moto");
    let _proxy_guard = StopOnDrop(proxy.pid);
    let rb = state.path().join("smoke.yaml");
    std::fs::write(
        &rb,
        r#"version: 1
name: smoke
title: smoke
environments:
  primary: { region: eu-west-1 }
  recovery: { region: eu-central-1 }
steps:
  - id: env
    title: what the smoke test sees
    action: exec
    with: { command: "env | grep ^AWS_ | sort > seen.txt", env: { AWS_MAX_ATTEMPTS: '2' } }
  - id: recovery-env
    title: in recovery
    action: exec
    with: { command: "echo $AWS_REGION > recovery.txt", environment: recovery }
"#,
    )
    .unwrap();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", rb.to_str().unwrap(), "--sandbox", "--headless", "--auto-approve"])
        .env("AWS_ACCESS_KEY_ID", "AKIAREALKEYFROMSHELL")
        .env("AWS_SECRET_ACCESS_KEY", "real-secret-from-the-shell")
        .env("AWS_SESSION_TOKEN", "real-session-token")
        .env("AWS_PROFILE", "production")
        .env("AWS_REGION", "us-east-1");
    assert_eq!(run(cmd).status.code(), Some(0));
    let seen = std::fs::read_to_string(state.path().join("seen.txt")).unwrap();
    for expected in [
        format!("AWS_ENDPOINT_URL={}", info.endpoint_url()),
        "AWS_REGION=eu-west-1".to_string(),
        "AWS_DEFAULT_REGION=eu-west-1".to_string(),
        "AWS_ACCESS_KEY_ID=testing".to_string(),
        "AWS_SECRET_ACCESS_KEY=testing".to_string(),
        "AWS_MAX_ATTEMPTS=2".to_string(),
    ] {
        assert!(seen.lines().any(|l| l == expected), "{expected} in:\n{seen}");
    }
    for gone in ["AWS_SESSION_TOKEN", "AWS_PROFILE", "real-secret", "AKIAREAL"] {
        assert!(!seen.contains(gone), "{gone} reached the command:\n{seen}");
    }
    assert_eq!(std::fs::read_to_string(state.path().join("recovery.txt")).unwrap().trim(), "eu-central-1");

    // Moto stopped by another hand: its proxy ends by itself within seconds rather than linger.
    pilotlight::sandbox::process::terminate(info.pid, std::time::Duration::from_secs(3));
    let stopped = std::time::Instant::now();
    while pilotlight::sandbox::realism::process::alive(&proxy) {
        assert!(stopped.elapsed() < std::time::Duration::from_secs(15), "the proxy outlived its moto");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A recorded sandbox whose process is there but no longer answers (stopped, wedged): `--sandbox`
/// says it is not running within seconds, instead of waiting 30 s for an answer.
#[test]
fn a_sandbox_that_does_not_answer_is_reported_within_seconds() {
    let state = state_dir();
    // A process that looks like moto, and a port that accepts and never answers.
    let mut fake = std::process::Command::new("python3")
        .args(["-c", "import time; time.sleep(120)", "moto_server"])
        .spawn()
        .expect("python3");
    let silent = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let info = pilotlight::sandbox::SandboxInfo {
        pid: fake.id() as i32,
        port: silent.local_addr().unwrap().port(),
        started_at: "2026-11-22T00:00:00Z".into(),
        log: state.path().join("moto.log"),
        realism: None,
    };
    std::fs::create_dir_all(state.path().join("sandbox")).unwrap();
    std::fs::write(state.path().join("sandbox/sandbox.json"), serde_json::to_string(&info).unwrap()).unwrap();
    let started = std::time::Instant::now();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "runbooks/failback.yaml", "--sandbox", "--headless", "--auto-approve"]);
    let out = run(cmd);
    let took = started.elapsed();
    fake.kill().unwrap();
    fake.wait().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not running"), "it says the sandbox is not running");
    assert!(took < std::time::Duration::from_secs(10), "said within seconds, not after 30: {took:?}");
}

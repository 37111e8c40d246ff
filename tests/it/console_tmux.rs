//! The console end to end: the real binary in a real terminal (tmux, on a private socket),
//! driven by keys against moto, the screen checked at each stage and the AWS results checked
//! with independent describe calls.

use super::support::{block_on, journal, only_run, repo, sdk, seeded_moto, state_dir};
use pilotlight::journal::{Event, GateOutcome};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of our own, killed on drop.
pub(super) struct Tmux {
    socket: PathBuf,
    started: std::cell::Cell<bool>,
    _dir: tempfile::TempDir,
}

impl Tmux {
    pub(super) fn new() -> Tmux {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux.sock");
        Tmux { socket, started: Default::default(), _dir: dir }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("these tests need tmux (the console's end-to-end tests drive it)");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `pilotlight ARGS` in window `name` (140x36), then keeps the window open to show
    /// how it exited.
    fn start(&self, name: &str, state: &Path, args: &str) {
        self.start_with(name, state, "", args);
    }

    /// [`Self::start`] with more environment (`K=V K=V`, after and over the defaults: another
    /// machine's AWS keys and name).
    pub(super) fn start_with(&self, name: &str, state: &Path, env: &str, args: &str) {
        let bin = env!("CARGO_BIN_EXE_pilotlight");
        let script = format!(
            "cd {repo} && env PILOTLIGHT_STATE_DIR={state} AWS_ACCESS_KEY_ID=testing \
             AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true {env} {bin} {args}; echo EXIT=$?; sleep 120",
            repo = repo().display(),
            state = state.display(),
        );
        if self.started.replace(true) {
            self.tmux(&["new-window", "-t", "pl", "-n", name, &script]);
        } else {
            self.tmux(&["new-session", "-d", "-s", "pl", "-n", name, "-x", "140", "-y", "36", &script]);
        }
    }

    pub(super) fn screen(&self, name: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", &self.target(name)])
    }

    fn target(&self, name: &str) -> String {
        format!("pl:{name}")
    }

    pub(super) fn keys(&self, name: &str, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", &self.target(name), k]);
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    pub(super) fn text(&self, name: &str, text: &str) {
        self.tmux(&["send-keys", "-t", &self.target(name), "-l", text]);
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Waits until the screen shows `text`; fails with the screen as it is.
    pub(super) fn wait_for(&self, name: &str, text: &str) -> String {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen(name);
            if screen.contains(text) {
                // A person reads before answering; the console ignores a decision key pressed
                // within moments of its dialog opening (a second press meant for the last one).
                std::thread::sleep(pilotlight::console::app::DECISION_DELAY + Duration::from_millis(100));
                return screen;
            }
            assert!(Instant::now() < until, "the screen never showed {text:?}; it shows:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pid of the pilotlight process in a window (the shell's child).
    fn pilotlight_pid(&self, name: &str) -> String {
        let shell = self.tmux(&["display-message", "-p", "-t", &self.target(name), "#{pane_pid}"]);
        let out = Command::new("pgrep").args(["-P", shell.trim(), "pilotlight"]).output().unwrap();
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!pid.is_empty(), "no pilotlight process under the shell {shell}");
        pid
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-S").arg(&self.socket).arg("kill-server").output();
    }
}

fn dns_value(url: &str) -> String {
    let client = aws_sdk_route53::Client::new(&sdk(url, "us-east-1"));
    block_on(async {
        let zones = client.list_hosted_zones_by_name().dns_name("example.internal.").send().await.unwrap();
        let zone = zones.hosted_zones().iter().find(|z| z.name() == "example.internal.").unwrap().id().to_string();
        let sets = client.list_resource_record_sets().hosted_zone_id(zone).send().await.unwrap();
        let rec = sets.resource_record_sets().iter().find(|r| r.name() == "app.example.internal.").unwrap();
        rec.resource_records().iter().map(|r| r.value().to_string()).collect::<Vec<_>>().join(",")
    })
}

fn stack_status(url: &str) -> Option<String> {
    let client = aws_sdk_cloudformation::Client::new(&sdk(url, "us-east-1"));
    block_on(async {
        let out = client.describe_stacks().stack_name("console-permissions").send().await.ok()?;
        out.stacks().first().and_then(|s| s.stack_status()).map(|s| s.as_str().to_string())
    })
}

/// The steps pane's rows (state words and titles), without elapsed times.
fn steps_pane(screen: &str) -> Vec<String> {
    screen
        .lines()
        .skip(3)
        .take(4)
        .map(|l| l.chars().skip(1).take(26).collect::<String>().trim_end().to_string())
        .collect()
}

#[test]
fn an_operator_passes_every_gate_kind_in_the_console_and_the_changes_are_real() {
    let (_moto, url) = seeded_moto();
    let state = state_dir();
    let tmux = Tmux::new();
    tmux.start("run", state.path(), &format!("run tests/fixtures/console.yaml --endpoint-url {url}"));

    // A checklist: every item ticked before the step can start.
    let screen = tmux.wait_for("run", "Tick every item before the step can start");
    assert!(screen.contains("? waiting  1. The primary"), "{screen}");
    assert!(screen.contains("[ ] AWS Health is clear"), "{screen}");
    assert!(screen.contains(&format!("ENDPOINT {url}")), "the header says where calls go:\n{screen}");
    tmux.keys("run", &["y"]);
    tmux.wait_for("run", "tick every item first (2 left");
    tmux.keys("run", &["Space", "j", "Space"]);
    tmux.wait_for("run", "All ticked");
    tmux.keys("run", &["y"]);

    // A confirmation, then the stack is created.
    let screen = tmux.wait_for("run", "Start this step?");
    assert!(screen.contains("Step 2 of 4: Install the permissions stack"), "{screen}");
    assert_eq!(stack_status(&url), None, "nothing is created before the operator confirms");
    tmux.keys("run", &["y"]);

    // A typed confirmation: half the text, then the wrong text, do nothing.
    let screen = tmux.wait_for("run", "This step is destructive");
    assert!(screen.contains("Type app.example.internal."), "{screen}");
    assert_eq!(stack_status(&url).as_deref(), Some("CREATE_COMPLETE"));
    assert!(screen.contains("✓ done     2. Install the pe"), "{screen}");
    tmux.text("run", "app.exa");
    tmux.keys("run", &["Enter"]);
    tmux.wait_for("run", "does not match; type exactly `app.example.internal.` (nothing was done)");
    assert_eq!(dns_value(&url), "10.1.1.10", "a half-typed confirmation changes nothing");
    tmux.text("run", "mple.internal.");
    tmux.wait_for("run", "> app.example.internal.");
    tmux.keys("run", &["Enter"]);

    let screen = tmux.wait_for("run", "│ succeeded │");
    assert!(screen.contains("✓ done     4. DNS points at"), "{screen}");
    assert_eq!(dns_value(&url), "10.0.1.10", "DNS points at primary");
    tmux.keys("run", &["q"]);
    let screen = tmux.wait_for("run", "EXIT=0");
    assert!(screen.contains("succeeded; its report: pilotlight report"), "the terminal is back:\n{screen}");

    let (_, dir) = only_run(state.path());
    let typed: Vec<_> = journal(&dir)
        .into_iter()
        .filter_map(|e| match e.event {
            Event::GateDecided { step, outcome: GateOutcome::Approved, typed, checked, auto: false, .. } => {
                Some((step, typed, checked.len()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        typed,
        [
            ("primary-ready".to_string(), None, 2),
            ("deploy".to_string(), None, 0),
            ("flip".to_string(), Some("app.example.internal.".to_string()), 0)
        ],
        "each decision is journaled as made in the console"
    );
}

#[test]
fn a_console_closed_by_a_signal_or_killed_resumes_in_the_same_state() {
    let (_moto, url) = seeded_moto();
    let state = state_dir();
    let tmux = Tmux::new();
    tmux.start("first", state.path(), &format!("run tests/fixtures/console.yaml --endpoint-url {url}"));
    tmux.wait_for("first", "Tick every item");
    tmux.keys("first", &["Space", "j", "Space", "y"]);
    let before = tmux.wait_for("first", "Start this step?");
    assert_eq!(steps_pane(&before)[..2], ["✓ done     1. The primary", "? waiting  2. Install the"]);

    // SIGTERM (a closed SSH session sends SIGHUP alike): the console closes, the terminal is
    // restored, and the run stays resumable.
    let pid = tmux.pilotlight_pid("first");
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let screen = tmux.wait_for("first", "EXIT=1");
    assert!(screen.contains("closed by a signal; run"), "{screen}");
    let (id, dir) = only_run(state.path());
    assert!(journal(&dir).iter().any(|e| matches!(e.event, Event::RunInterrupted { .. })));

    tmux.start("second", state.path(), &format!("resume {id}"));
    let after = tmux.wait_for("second", "Start this step?");
    assert_eq!(steps_pane(&after), steps_pane(&before), "resume shows the same steps:\n{before}\n{after}");
    assert!(after.contains("Step 2 of 4: Install the permissions stack"), "{after}");

    // SIGKILL: nothing can clean up, and the journal still carries the run.
    tmux.keys("second", &["y"]);
    let before = tmux.wait_for("second", "This step is destructive");
    let pid = tmux.pilotlight_pid("second");
    Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    tmux.wait_for("second", "EXIT=137");

    tmux.start("third", state.path(), &format!("resume {id}"));
    let after = tmux.wait_for("third", "This step is destructive");
    assert_eq!(steps_pane(&after), steps_pane(&before), "resume shows the same steps:\n{before}\n{after}");
    assert_eq!(stack_status(&url).as_deref(), Some("CREATE_COMPLETE"), "the stack step is not repeated");
    tmux.text("third", "app.example.internal.");
    tmux.keys("third", &["Enter"]);
    tmux.wait_for("third", "│ succeeded │");
    assert_eq!(dns_value(&url), "10.0.1.10");
    let creates = journal(&dir)
        .iter()
        .filter(|e| matches!(&e.event, Event::AwsCall { operation, outcome: pilotlight::journal::CallOutcome::Ok, .. } if operation == "CreateStack"))
        .count();
    assert_eq!(creates, 1, "one CreateStack across three consoles");
}

#[test]
fn without_a_terminal_run_says_so_and_suggests_headless() {
    let state = state_dir();
    let mut cmd = super::support::pilotlight(state.path());
    cmd.args(["run", "tests/fixtures/console.yaml", "--endpoint-url", "http://127.0.0.1:9"]);
    let out = super::support::run(cmd);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a terminal: the console needs a terminal; use --headless"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing is drawn");
    assert!(!state.path().join("runs").exists(), "no run was started");
}

#[test]
fn watch_follows_a_run_driven_elsewhere_and_offers_no_decision() {
    let (_moto, url) = seeded_moto();
    let state = state_dir();
    let tmux = Tmux::new();
    tmux.start("driver", state.path(), &format!("run tests/fixtures/console.yaml --endpoint-url {url}"));
    tmux.wait_for("driver", "Tick every item");
    let (id, dir) = only_run(state.path());

    tmux.start("watcher", state.path(), &format!("watch {id}"));
    let screen = tmux.wait_for("watcher", "WATCHING (read-only)");
    assert!(screen.contains("? waiting  1. The primary"), "the watcher sees the gate waiting:\n{screen}");
    assert!(!screen.contains("Tick every item"), "the watcher gets no gate dialog:\n{screen}");
    tmux.keys("watcher", &["y"]);
    tmux.wait_for("watcher", "watching: decisions are made in the console that drives the run");

    // The driver decides; the watcher follows.
    tmux.keys("driver", &["Space", "j", "Space", "y"]);
    tmux.wait_for("driver", "Start this step?");
    tmux.keys("driver", &["y"]);
    tmux.wait_for("watcher", "✓ done     2. Install the pe");
    // Step 3 reaches its gate a moment after step 2 is done: the watcher's next frames show it.
    tmux.wait_for("watcher", "? waiting  3. Flip DNS");
    // The watcher moves to step 2 on its own screen and sees its calls.
    tmux.keys("watcher", &["k"]);
    tmux.wait_for("watcher", "cloudformation CreateStack");

    tmux.keys("watcher", &["q"]);
    tmux.wait_for("watcher", "EXIT=0");
    let decided_by_watcher = journal(&dir)
        .iter()
        .filter(|e| matches!(e.event, Event::GateDecided { .. } | Event::RunInterrupted { .. }))
        .count();
    assert_eq!(decided_by_watcher, 2, "only the driver's two decisions are journaled; the watcher added nothing");
}

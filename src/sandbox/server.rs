//! Installing and running the moto server: the sandbox that lets anyone practise failback on a
//! laptop, and the ground the integration tests stand on.
//!
//! moto is installed (pinned) into a venv the tool owns, started on a free loopback port, and
//! stopped by its own PID, which is checked against `/proc` before any signal is sent.

use super::realism::process::{self as realism, RealismInfo};
use super::{moto_api, process};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The moto release the sandbox is built and tested against.
pub const MOTO_VERSION: &str = "5.2.5";
/// Overrides where the moto venv lives (shared by tests and CI so moto installs once).
pub const VENV_ENV: &str = "PILOTLIGHT_MOTO_VENV";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "python3 was not found on PATH; the sandbox needs Python 3.9 or newer with venv (Debian/Ubuntu: apt-get install python3 python3-venv)"
    )]
    NoPython,
    #[error("{step} failed{}: {detail}", .code.map(|c| format!(" (exit {c})")).unwrap_or_default())]
    Install { step: String, code: Option<i32>, detail: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("moto did not answer on 127.0.0.1:{port} within {secs} s; its log: {}", log.display())]
    NotReady { port: u16, secs: u64, log: PathBuf },
    #[error("the sandbox is not running; start it with `pilotlight sandbox up`")]
    NotRunning,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let context = context.into();
    move |source| SandboxError::Io { context, source }
}

/// Where the sandbox keeps its files under the state directory.
pub fn sandbox_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("sandbox")
}

/// The venv moto is installed into: `$PILOTLIGHT_MOTO_VENV`, else `<state>/sandbox/venv`.
pub fn venv_dir(state_dir: &Path) -> PathBuf {
    match std::env::var_os(VENV_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => sandbox_dir(state_dir).join("venv"),
    }
}

/// Installs moto (pinned) into `venv` unless it is already there; returns the server binary.
/// Concurrent callers (parallel tests) wait for one install rather than racing.
pub fn ensure_installed(venv: &Path, progress: &mut dyn FnMut(&str)) -> Result<PathBuf, SandboxError> {
    let server = venv.join("bin").join("moto_server");
    let python = venv.join("bin").join("python");
    let installed = || -> bool {
        server.is_file()
            && Command::new(&python)
                .args(["-c", "import moto,sys; sys.exit(0 if moto.__version__ == sys.argv[1] else 1)", MOTO_VERSION])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    };
    if installed() {
        return Ok(server);
    }
    let parent = venv.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(format!("cannot create {}", parent.display())))?;
    let _lock = FileLock::acquire(&parent.join(".moto-install.lock"))?;
    if installed() {
        return Ok(server);
    }
    let python3 = which("python3").ok_or(SandboxError::NoPython)?;
    if !python.is_file() {
        progress(&format!("creating a Python venv at {}", venv.display()));
        run_step(
            "python3 -m venv (on Debian/Ubuntu: apt-get install python3-venv)",
            Command::new(&python3).arg("-m").arg("venv").arg(venv),
        )?;
    }
    progress(&format!("installing moto[server]=={MOTO_VERSION} (about a minute, once)"));
    run_step(
        "pip install moto",
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "--disable-pip-version-check", "--quiet"])
            .arg(format!("moto[server]=={MOTO_VERSION}")),
    )?;
    if !installed() {
        return Err(SandboxError::Install {
            step: "checking the moto install".into(),
            code: None,
            detail: format!("{} is missing or is not moto {MOTO_VERSION}", server.display()),
        });
    }
    Ok(server)
}

fn run_step(step: &str, cmd: &mut Command) -> Result<(), SandboxError> {
    let out = cmd.stdin(Stdio::null()).output().map_err(io(format!("cannot run {step}")))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let detail: Vec<&str> = stderr.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
    Err(SandboxError::Install { step: step.into(), code: out.status.code(), detail: detail.join("\n") })
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(program)).find(|p| p.is_file())
}

/// An exclusive advisory lock on a file, released on drop.
struct FileLock(#[allow(dead_code)] std::fs::File);

impl FileLock {
    fn acquire(path: &Path) -> Result<FileLock, SandboxError> {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io(format!("cannot open {}", path.display())))?;
        // SAFETY: flock on a file descriptor we own; blocks until the lock is ours.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(SandboxError::Io {
                context: format!("cannot lock {}", path.display()),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(FileLock(f))
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16, SandboxError> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(io("cannot find a free port"))?;
    l.local_addr().map(|a| a.port()).map_err(io("cannot find a free port"))
}

/// The machine images the sandbox offers: one Windows and one Amazon Linux image from moto's own
/// list (the seed launches the first). Without `MOTO_AMIS_PATH` moto loads ~1300 images and makes
/// a snapshot for each in every region it touches, again after every reset: a reset region's
/// first EC2 call takes 0.1–0.8 s and every DescribeSnapshots walks them all (0.07–0.3 s).
const AMIS: &str = r#"[
 {"ami_id": "ami-03cf127a", "state": "available", "public": true, "owner_id": "801119661308",
  "image_location": "amazon/getting-started", "sriov": "simple", "root_device_type": "ebs",
  "root_device_name": "/dev/sda1", "image_type": "machine", "platform": "windows",
  "description": "Microsoft Windows Server 2016 Nano Locale English AMI provided by Amazon",
  "architecture": "x86_64", "name": "Windows_Server-2016-English-Nano-Base-2017.10.13",
  "virtualization_type": "hvm", "hypervisor": "xen"},
 {"ami_id": "ami-760aaa0f", "state": "available", "public": true, "owner_id": "137112412989",
  "image_location": "amazon/getting-started", "sriov": "simple", "root_device_type": "ebs",
  "root_device_name": "/dev/xvda", "image_type": "machine", "platform": null,
  "description": "Amazon Linux AMI 2017.09.1.20171103 x86_64 HVM GP2", "architecture": "x86_64",
  "name": "amzn-ami-hvm-2017.09.1.20171103-x86_64-gp2", "virtualization_type": "hvm", "hypervisor": "xen"}
]"#;

/// Starts `moto_server` on 127.0.0.1:`port`, logging to `log`. With `detach`, the server gets its
/// own process group so it outlives the command that started it (`sandbox up`).
pub fn spawn(server: &Path, port: u16, log: &Path, detach: bool) -> Result<Child, SandboxError> {
    let out = std::fs::File::create(log).map_err(io(format!("cannot create {}", log.display())))?;
    let err = out.try_clone().map_err(io("cannot open the moto log"))?;
    let amis = log.with_extension("amis.json");
    std::fs::write(&amis, AMIS).map_err(io(format!("cannot write {}", amis.display())))?;
    let mut cmd = Command::new(server);
    // Each server records (when asked) into its own file beside its log; moto's default is
    // `./moto_recording`, which parallel servers would share and overwrite.
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_RECORDER_FILEPATH", log.with_extension("recording.jsonl"))
        .env("MOTO_AMIS_PATH", &amis)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    if detach {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd.spawn().map_err(io(format!("cannot start {}", server.display())))
}

/// Waits until moto answers on `port`.
pub fn wait_ready(port: u16, timeout: Duration, log: &Path) -> Result<(), SandboxError> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if moto_api::answers(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(SandboxError::NotReady { port, secs: timeout.as_secs(), log: log.to_path_buf() })
}

/// The running sandbox, as recorded in `<state>/sandbox/sandbox.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SandboxInfo {
    pub pid: i32,
    pub port: u16,
    pub started_at: String,
    pub log: PathBuf,
    /// The realism proxy in front of moto (absent in a sandbox started before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realism: Option<RealismInfo>,
}

impl SandboxInfo {
    /// Where the tool sends its AWS calls: the realism proxy, else moto itself.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.realism.as_ref().map_or(self.port, |r| r.port))
    }

    /// Moto itself: where the seed builds the world (building it is not AWS work to wait for).
    pub fn moto_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn info_path(state_dir: &Path) -> PathBuf {
    sandbox_dir(state_dir).join("sandbox.json")
}

/// The recorded sandbox if its process is alive, is moto, and answers, and its realism proxy
/// (when it has one) is running.
pub fn running(state_dir: &Path) -> Option<SandboxInfo> {
    moto_running(state_dir).filter(|info| info.realism.as_ref().is_none_or(realism::alive))
}

/// The recorded sandbox if moto is alive and answers, whatever became of its proxy.
fn moto_running(state_dir: &Path) -> Option<SandboxInfo> {
    let text = std::fs::read_to_string(info_path(state_dir)).ok()?;
    let info: SandboxInfo = serde_json::from_str(&text).ok()?;
    let ours = process::cmdline(info.pid).is_some_and(|c| c.contains("moto_server"));
    (ours && moto_api::answers(info.port)).then_some(info)
}

/// What `up` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// Moto and the proxy were started.
    Both,
    /// Moto was running; the proxy was (re)started, at the pace asked for.
    Proxy,
    /// Both were running at this pace already.
    Neither,
}

/// Starts the sandbox unless it is already running (installing moto first if needed), with the
/// realism proxy in front with `speed` (a pace, milliseconds added to every call, the data
/// changed between snapshots); a running sandbox with other settings gets a new proxy.
pub fn up(
    state_dir: &Path,
    speed: realism::ProxySettings,
    progress: &mut dyn FnMut(&str),
) -> Result<(SandboxInfo, Started), SandboxError> {
    let dir = sandbox_dir(state_dir);
    let proxy_log = dir.join("realism.log");
    if let Some(mut info) = moto_running(state_dir) {
        let current = info.realism.as_ref().filter(|r| realism::alive(r));
        if current.is_some_and(|r| speed.of(r)) {
            return Ok((info, Started::Neither));
        }
        if let Some(old) = &info.realism {
            realism::stop(old);
        }
        info.realism = Some(realism::spawn(info.port, speed, &proxy_log)?);
        record(state_dir, &info)?;
        return Ok((info, Started::Proxy));
    }
    let server = ensure_installed(&venv_dir(state_dir), progress)?;
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let log = dir.join("moto.log");
    let port = free_port()?;
    let child = spawn(&server, port, &log, true)?;
    let pid = child.id() as i32;
    if let Err(e) = wait_ready(port, Duration::from_secs(30), &log) {
        process::terminate(pid, Duration::from_secs(2));
        return Err(e);
    }
    let proxy = match realism::spawn(port, speed, &proxy_log) {
        Ok(p) => p,
        Err(e) => {
            process::terminate(pid, Duration::from_secs(2));
            return Err(e);
        }
    };
    let info = SandboxInfo { pid, port, started_at: crate::journal::now_rfc3339(), log, realism: Some(proxy) };
    record(state_dir, &info)?;
    Ok((info, Started::Both))
}

/// The sandbox for a drill: moto running (started if need be) and reset to an empty world,
/// behind a proxy started afresh with `speed` (no work, holds or faults left from before).
pub fn fresh(
    state_dir: &Path,
    speed: realism::ProxySettings,
    progress: &mut dyn FnMut(&str),
) -> Result<SandboxInfo, SandboxError> {
    let (mut info, started) = up(state_dir, speed, progress)?;
    if started == Started::Neither {
        if let Some(old) = &info.realism {
            realism::stop(old);
        }
        info.realism = Some(realism::spawn(info.port, speed, &sandbox_dir(state_dir).join("realism.log"))?);
        record(state_dir, &info)?;
    }
    super::moto_api::reset(info.port).map_err(io("cannot reset the sandbox"))?;
    Ok(info)
}

fn record(state_dir: &Path, info: &SandboxInfo) -> Result<(), SandboxError> {
    let json = serde_json::to_string_pretty(info)
        .map_err(|e| SandboxError::Io { context: "sandbox.json".into(), source: e.into() })?;
    std::fs::write(info_path(state_dir), json).map_err(io("cannot record the sandbox"))
}

/// Stops the sandbox by its recorded PIDs (the proxy, then moto; each only if that PID is still
/// ours).
pub fn down(state_dir: &Path) -> Result<Option<SandboxInfo>, SandboxError> {
    let path = info_path(state_dir);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let info: Option<SandboxInfo> = serde_json::from_str(&text).ok();
    if let Some(proxy) = info.as_ref().and_then(|i| i.realism.as_ref()) {
        realism::stop(proxy);
    }
    if let Some(info) = &info
        && process::cmdline(info.pid).is_some_and(|c| c.contains("moto_server"))
    {
        process::terminate(info.pid, Duration::from_secs(5));
    }
    std::fs::remove_file(&path).map_err(io(format!("cannot remove {}", path.display())))?;
    Ok(info)
}

/// A moto server owned by the caller and stopped (by its PID) when dropped: for tests and any
/// short-lived use.
pub struct MotoServer {
    pub port: u16,
    child: Child,
}

impl MotoServer {
    /// Installs moto if needed and starts a private server on a free port.
    pub fn start(venv: &Path, log: &Path) -> Result<MotoServer, SandboxError> {
        let server = ensure_installed(venv, &mut |_| {})?;
        let mut last = None;
        for _ in 0..3 {
            let port = free_port()?;
            let mut child = spawn(&server, port, log, false)?;
            match wait_ready(port, Duration::from_secs(30), log) {
                Ok(()) => return Ok(MotoServer { port, child }),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(SandboxError::NotRunning))
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        process::terminate(self.child.id() as i32, Duration::from_secs(3));
        let _ = self.child.wait();
    }
}

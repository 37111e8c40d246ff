//! The realism proxy as the sandbox's own process: `sandbox up` starts it in front of moto (its
//! own process group, so it outlives the command), the sandbox's endpoint is the proxy's, and
//! `sandbox down` stops it by its PID, checked against `/proc` first.

use super::{Clock, Limits, Pace, RealismProxy, Setup};
use crate::sandbox::{SandboxError, process};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The hidden command line that serves the proxy (`pilotlight sandbox realism ...`).
pub const COMMAND: [&str; 2] = ["sandbox", "realism"];

/// The running proxy, as recorded in `sandbox.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RealismInfo {
    pub pid: i32,
    pub port: u16,
    /// The pace it times AWS's operations at (`instant`, `60`).
    pub pace: String,
    /// Milliseconds added to every AWS call (`sandbox up --latency-ms`; 0 in a sandbox recorded
    /// before it existed).
    #[serde(default)]
    pub latency_ms: u32,
    /// The percent of data changed since a previous snapshot (`sandbox up --changed-percent`;
    /// the default in a sandbox recorded before it existed).
    #[serde(default = "default_changed")]
    pub changed_percent: u32,
    /// The modelled size of every DynamoDB table and Aurora cluster, when a drill's world gives
    /// one ([`super::timing::DataSizes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_gib: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aurora_gib: Option<u32>,
}

fn default_changed() -> u32 {
    DEFAULT_CHANGED_PERCENT
}

/// [`super::timing::CHANGED_SHARE`] as a percent.
pub const DEFAULT_CHANGED_PERCENT: u32 = 10;

/// How the proxy models AWS: its pace, the milliseconds added to every call, the percent of
/// a volume's or database's data changed since its previous snapshot (what an incremental
/// snapshot or copy moves), and the sizes a drill's world gives tables and Aurora clusters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProxySettings {
    pub pace: Pace,
    pub latency_ms: u32,
    pub changed_percent: u32,
    pub table_gib: Option<u32>,
    pub aurora_gib: Option<u32>,
}

impl ProxySettings {
    /// At `pace`, with no added latency and the default change.
    pub fn at(pace: Pace) -> ProxySettings {
        ProxySettings {
            pace,
            latency_ms: 0,
            changed_percent: DEFAULT_CHANGED_PERCENT,
            table_gib: None,
            aurora_gib: None,
        }
    }

    /// Whether the recorded proxy `info` runs with these settings.
    pub fn of(&self, info: &RealismInfo) -> bool {
        info.pace == self.pace.to_string()
            && info.latency_ms == self.latency_ms
            && info.changed_percent == self.changed_percent
            && info.table_gib == self.table_gib
            && info.aurora_gib == self.aurora_gib
    }
}

impl RealismInfo {
    /// The pace as a factor (`None`: instant).
    pub fn pace(&self) -> Option<f64> {
        self.pace.parse::<Pace>().ok().and_then(Pace::factor)
    }
}

/// Starts the proxy in front of moto at `upstream` with `settings`, logging to `log`; returns
/// once it accepts.
pub fn spawn(upstream: u16, settings: ProxySettings, log: &Path) -> Result<RealismInfo, SandboxError> {
    let ProxySettings { pace, latency_ms, changed_percent, table_gib, aurora_gib } = settings;
    let io = |context: &str| {
        let context = context.to_string();
        move |source| SandboxError::Io { context, source }
    };
    let exe = std::env::current_exe().map_err(io("cannot find the pilotlight binary"))?;
    let out = std::fs::File::create(log).map_err(io("cannot create the realism log"))?;
    let err = out.try_clone().map_err(io("cannot open the realism log"))?;
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map_err(io("cannot find a free port"))?
        .port();
    let mut cmd = Command::new(exe);
    cmd.args(COMMAND)
        .args(["--upstream", &upstream.to_string(), "--port", &port.to_string(), "--pace", &pace.to_string()])
        .args(["--latency-ms", &latency_ms.to_string(), "--changed-percent", &changed_percent.to_string()])
        .args(table_gib.map(|g| ["--table-gib".to_string(), g.to_string()]).into_iter().flatten())
        .args(aurora_gib.map(|g| ["--aurora-gib".to_string(), g.to_string()]).into_iter().flatten())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let child = cmd.spawn().map_err(io("cannot start the realism proxy"))?;
    let info = RealismInfo {
        pid: child.id() as i32,
        port,
        pace: pace.to_string(),
        latency_ms,
        changed_percent,
        table_gib,
        aurora_gib,
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(info);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop(&info);
    Err(SandboxError::NotReady { port, secs: 10, log: log.to_path_buf() })
}

/// Whether the recorded proxy is still this tool's proxy process.
pub fn alive(info: &RealismInfo) -> bool {
    process::cmdline(info.pid).is_some_and(|c| c.contains(&COMMAND.join(" ")))
}

/// Stops the recorded proxy by its PID (only if that PID is still the proxy).
pub fn stop(info: &RealismInfo) {
    if alive(info) {
        process::terminate(info.pid, Duration::from_secs(3));
    }
}

/// Serves the proxy (the hidden command's body: AWS's rules, AWS's time with `settings`) until
/// the process is stopped, or moto at `upstream` is gone: a proxy in front of nothing (its moto
/// stopped by another hand) ends by itself rather than linger.
pub fn serve_until_stopped(upstream: u16, port: u16, settings: ProxySettings) -> std::io::Result<()> {
    let latency = Duration::from_millis(settings.latency_ms.into());
    let changed_share = f64::from(settings.changed_percent) / 100.0;
    let sizes = super::timing::DataSizes {
        table_gib: settings.table_gib.map(f64::from),
        aurora_gib: settings.aurora_gib.map(f64::from),
    };
    let clock = Clock { pace: settings.pace, log: true, latency, changed_share, sizes, ..Clock::default() };
    let _proxy = RealismProxy::serve(
        upstream,
        Setup { faults: Vec::new(), aws_rules: true, clock, limits: Limits::bundled() },
        port,
    )?;
    let mut missed = 0;
    while missed < 3 {
        std::thread::sleep(Duration::from_secs(1));
        let answers = std::net::TcpStream::connect(("127.0.0.1", upstream)).is_ok();
        missed = if answers { 0 } else { missed + 1 };
    }
    Ok(())
}

/// Sends the proxy at `port` faults to add (`POST`) or to replace its rules with (`PUT`): how a
/// drill sets its scenario's faults and a trainer injects one. The proxy's refusal, if any.
pub fn send_faults(port: u16, method: &str, faults: &[super::FaultSpec]) -> Result<(), String> {
    let body = serde_json::to_string(faults).map_err(|e| e.to_string())?;
    send(port, method, super::proxy::CONTROL_PATH, &body)
}

/// Replaces the proxy's limits with AWS's bundled ones and `spec`'s set (a drill's scenario).
pub fn send_limits(port: u16, spec: &super::limits::LimitSpec) -> Result<(), String> {
    let body = serde_json::to_string(spec).map_err(|e| e.to_string())?;
    send(port, "PUT", super::proxy::LIMITS_PATH, &body)
}

/// The AWS calls the proxy at `port` has seen since it started or since [`forget_calls`], per
/// `service.Operation` (how the benchmark counts round trips, bench/README.md).
pub fn calls(port: u16) -> Result<std::collections::BTreeMap<String, u64>, String> {
    let body = answer(port, "GET", super::proxy::CALLS_PATH, "")?;
    serde_json::from_str(&body).map_err(|e| format!("the proxy's count of calls: {e}"))
}

/// Makes the proxy at `port` count calls afresh.
pub fn forget_calls(port: u16) -> Result<(), String> {
    answer(port, "DELETE", super::proxy::CALLS_PATH, "").map(drop)
}

/// One request to the proxy's own paths; its refusal, if any.
fn send(port: u16, method: &str, path: &str, body: &str) -> Result<(), String> {
    answer(port, method, path, body).map(drop)
}

/// One request to the proxy's own paths: the body of its answer, or its refusal.
fn answer(port: u16, method: &str, path: &str, body: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("127.0.0.1:{port}: {e}"))?;
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let body = answer.split_once("\r\n\r\n").map_or(answer.clone(), |(_, b)| b.to_string());
    if answer.starts_with("HTTP/1.1 200") { Ok(body) } else { Err(body) }
}

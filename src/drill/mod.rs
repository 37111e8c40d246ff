//! Game days on the sandbox: a scenario ([`scenario`]) builds the world, sets the pace and the
//! faults, and a run of its runbook is the drill; a trainer may inject more faults while it runs
//! ([`inject`]), and the debrief ([`debrief`]) measures the drill from its journal against the
//! scenario's targets and the previous drills of the same scenario.
//!
//! A drill is an ordinary run (the engine knows nothing of drills) with files of its own beside
//! its journal: `drill.json` (the scenario it ran), `trainer.jsonl` (the trainer's injections,
//! each with who and when), `faults-met.jsonl` (the faults the sandbox injected, from its log),
//! and with a writer, `writes.jsonl` and `writers.json` ([`writers`]).

pub mod debrief;
pub mod debrief_md;
mod modelled;
pub mod scenario;
pub mod writers;

use crate::engine::store::RunStore;
use crate::sandbox::realism::FaultSpec;
use scenario::{LoadedScenario, Targets};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

pub const DRILL_FILE: &str = "drill.json";
pub const TRAINER_FILE: &str = "trainer.jsonl";
pub const FAULTS_MET_FILE: &str = "faults-met.jsonl";

/// The scenario a drill ran, as it was when the drill started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRecord {
    pub scenario: String,
    pub title: String,
    pub scenario_path: String,
    /// The scenario's text (the file may change before the debrief).
    pub scenario_source: String,
    pub pace: String,
    pub faults: Vec<FaultSpec>,
    #[serde(default)]
    pub limits: crate::sandbox::realism::limits::LimitSpec,
    pub targets: Targets,
    pub started_at: String,
}

impl DrillRecord {
    pub fn of(loaded: &LoadedScenario) -> DrillRecord {
        DrillRecord {
            scenario: loaded.scenario.name.clone(),
            title: loaded.scenario.title.clone(),
            scenario_path: loaded.path.display().to_string(),
            scenario_source: loaded.source.clone(),
            pace: loaded.pace.to_string(),
            faults: loaded.scenario.faults.clone(),
            limits: loaded.scenario.limits.clone(),
            targets: loaded.scenario.targets.clone(),
            started_at: crate::journal::now_rfc3339(),
        }
    }

    /// The pace as a factor (`None`: instant, no modelled time).
    pub fn factor(&self) -> Option<f64> {
        self.pace.parse::<crate::sandbox::realism::Pace>().ok().and_then(|p| p.factor())
    }
}

/// Writes the drill's record into its run's directory (durably: the debrief depends on it).
pub fn write_record(run_dir: &Path, record: &DrillRecord) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(record).map_err(std::io::Error::other)?;
    crate::durable::write(&run_dir.join(DRILL_FILE), &json)
}

/// The drill record of a run (`None`: not a drill).
pub fn read_record(run_dir: &Path) -> Option<DrillRecord> {
    serde_json::from_slice(&std::fs::read(run_dir.join(DRILL_FILE)).ok()?).ok()
}

/// A fault a trainer injected during a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Injection {
    pub at: String,
    pub user: String,
    pub fault: FaultSpec,
}

/// A fault the sandbox injected (a line of its proxy's log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultMet {
    pub at: String,
    pub fault: String,
    #[serde(default)]
    pub operation: Option<String>,
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default()
}

/// The trainer's injections into a drill, in order.
pub fn injections(run_dir: &Path) -> Vec<Injection> {
    read_lines(&run_dir.join(TRAINER_FILE))
}

/// The faults the sandbox injected during a drill, as kept with it.
pub fn faults_met(run_dir: &Path) -> Vec<FaultMet> {
    read_lines(&run_dir.join(FAULTS_MET_FILE))
}

/// Keeps with the drill the faults the sandbox's proxy logged from `since` on (its log is the
/// sandbox's, and a later `sandbox up` starts it afresh).
pub fn keep_faults_met(run_dir: &Path, proxy_log: &Path, since: &str) -> std::io::Result<usize> {
    let since = crate::report::time::millis(since).unwrap_or(0);
    let met: Vec<FaultMet> = read_lines::<FaultMet>(proxy_log)
        .into_iter()
        .filter(|f| crate::report::time::millis(&f.at).is_some_and(|t| t >= since))
        .collect();
    let mut text = String::new();
    for f in &met {
        text.push_str(&serde_json::to_string(f).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    crate::durable::write(&run_dir.join(FAULTS_MET_FILE), &text)?;
    Ok(met.len())
}

/// Why a fault could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("no run `{0}` (see `pilotlight runs`)")]
    NoRun(String),
    #[error("run `{0}` is not a drill (it has no {DRILL_FILE}): faults go into drills only")]
    NotDrill(String),
    #[error("the sandbox is not running behind its realism proxy: start the drill first")]
    NoSandbox,
    #[error("{0}")]
    Invalid(String),
    #[error("the sandbox's proxy refused the fault: {0}")]
    Refused(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Injects `fault` into the running drill `run_id`: the sandbox's proxy takes it at once, and
/// it is journaled as the trainer's in the drill's `trainer.jsonl` (fsynced).
pub fn inject(state_dir: &Path, run_id: &str, fault: FaultSpec, user: &str) -> Result<Injection, InjectError> {
    let dir = RunStore::new(state_dir).dir(run_id);
    if run_id.is_empty() || run_id.contains(['/', '\\']) || !dir.join(crate::engine::store::JOURNAL_FILE).is_file() {
        return Err(InjectError::NoRun(run_id.to_string()));
    }
    if read_record(&dir).is_none() {
        return Err(InjectError::NotDrill(run_id.to_string()));
    }
    if let Some(problem) = fault.problem() {
        return Err(InjectError::Invalid(problem));
    }
    let info = crate::sandbox::server::running(state_dir).ok_or(InjectError::NoSandbox)?;
    let proxy = info.realism.ok_or(InjectError::NoSandbox)?;
    crate::sandbox::realism::process::send_faults(proxy.port, "POST", std::slice::from_ref(&fault))
        .map_err(InjectError::Refused)?;
    let injection = Injection { at: crate::journal::now_rfc3339(), user: user.to_string(), fault };
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(TRAINER_FILE))?;
    let mut line = serde_json::to_vec(&injection).map_err(std::io::Error::other)?;
    line.push(b'\n');
    file.write_all(&line)?;
    file.sync_all()?;
    Ok(injection)
}

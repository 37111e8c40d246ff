//! The scenario file: a game day's world, pace, faults and targets, in YAML with a JSON Schema
//! (`pilotlight drill schema`), checked like a runbook (every problem at once, each with its file,
//! line and column).

use crate::runbook::diagnostics::{Diagnostics, Problem};
use crate::runbook::yaml_tree::{self, Seg};
use crate::sandbox::realism::limits::LimitSpec;
use crate::sandbox::realism::{FaultSpec, Pace};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A drill scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (letters, digits, `-`): drills of one scenario are compared by it.
    pub name: String,
    pub title: String,
    /// What the trainee is told before the drill starts.
    #[serde(default)]
    pub briefing: String,
    /// The runbook: `failback` (the bundled one) or a path relative to the scenario file
    #[serde(default = "bundled_runbook")]
    pub runbook: String,
    /// The world the sandbox is reset to and seeded with
    #[serde(default)]
    pub world: WorldSpec,
    /// How fast AWS's modelled time runs: `instant`, `1` (real time), `60` (a modelled minute a
    /// second) [default: 60]
    #[serde(default = "default_pace")]
    pub pace: String,
    /// The faults the sandbox injects, each on its operation and resource
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// The application still writing to recovery's `sessions` table during the drill (until the
    /// DNS flip): the debrief counts what of it came home
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writers: Option<super::writers::WriterSpec>,
    /// AWS's limits changed for the drill (request-rate buckets, snapshot copies in flight);
    /// the rest stay AWS's
    #[serde(default)]
    pub limits: LimitSpec,
    /// What the debrief measures against; each overrides the runbook's `targets`
    #[serde(default)]
    pub targets: Targets,
    /// Runbook inputs (`NAME: value`), as `--var` gives them
    #[serde(default)]
    pub inputs: IndexMap<String, String>,
}

/// The world a drill starts from: a variant, its sizes scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorldSpec {
    /// `demo` (both sides alike) or `hard` (what a real incident leaves behind) [default: demo]
    #[serde(default)]
    pub variant: World,
    /// Every data volume's and the RDS instance's storage times this (1 to 1000): bigger data
    /// takes longer to snapshot, copy and restore [default: 1: volumes of 10-30 GiB, a 20 GiB
    /// database]
    #[serde(default = "one")]
    pub storage_scale: u32,
    /// The percent of a volume's or database's data changed since its previous snapshot, 1 to
    /// 100: what an incremental snapshot or copy moves (a staged failback's copies in the
    /// window) [default: 10]
    #[serde(default = "ten")]
    pub changed_percent: u32,
    /// The size every DynamoDB table stands for, in GiB (1 to 65536): its export, import,
    /// backup, restore and delete are timed at it, it reports it, and each item a scan reads or
    /// a batch writes stands for its share [default: what moto holds, a few KiB]
    #[serde(default)]
    pub table_gib: Option<u32>,
    /// The size every Aurora cluster's data stands for, in GiB (1 to 131072): its cluster
    /// snapshots, their always-full copies and restores are timed at it [default: what moto
    /// reports, about nothing]
    #[serde(default)]
    pub aurora_gib: Option<u32>,
}

impl Default for WorldSpec {
    fn default() -> Self {
        WorldSpec { variant: World::Demo, storage_scale: 1, changed_percent: ten(), table_gib: None, aurora_gib: None }
    }
}

fn ten() -> u32 {
    crate::sandbox::realism::process::DEFAULT_CHANGED_PERCENT
}

fn one() -> u32 {
    1
}

/// The seeded variant of a drill's world.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum World {
    #[default]
    Demo,
    Hard,
}

impl From<World> for crate::sandbox::seed::Variant {
    fn from(w: World) -> Self {
        match w {
            World::Demo => crate::sandbox::seed::Variant::Demo,
            World::Hard => crate::sandbox::seed::Variant::Hard,
        }
    }
}

/// Recovery targets in modelled time (`4h`, `90m`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo: Option<String>,
}

fn bundled_runbook() -> String {
    "failback".into()
}

fn default_pace() -> String {
    "60".into()
}

/// A scenario as loaded: where from, its text, and the runbook it names, resolved.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub path: PathBuf,
    pub source: String,
    pub scenario: Scenario,
    pub runbook_path: PathBuf,
    pub pace: Pace,
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("no scenario `{0}`: give a file, or one of the bundled ones: {1}")]
    NotFound(String, String),
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// The directory of bundled scenarios (next to the binary's sources, or the working directory's).
pub fn bundled_dir() -> PathBuf {
    let local = PathBuf::from("scenarios");
    if local.is_dir() { local } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios") }
}

/// The bundled scenarios' names.
pub fn bundled_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(bundled_dir())
        .map(|d| {
            d.flatten().filter_map(|e| e.file_name().to_str()?.strip_suffix(".yaml").map(str::to_string)).collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Loads `name_or_path`: a file, or the name of a bundled scenario.
pub fn load(name_or_path: &str) -> Result<LoadedScenario, ScenarioError> {
    let given = PathBuf::from(name_or_path);
    let path = if given.is_file() {
        given
    } else {
        let bundled = bundled_dir().join(format!("{name_or_path}.yaml"));
        if !bundled.is_file() {
            return Err(ScenarioError::NotFound(name_or_path.to_string(), bundled_names().join(", ")));
        }
        bundled
    };
    let source = std::fs::read_to_string(&path).map_err(|source| ScenarioError::Io { path: path.clone(), source })?;
    load_str(&path, &source)
}

/// Decodes and checks scenario text (`path` for messages and relative runbook paths).
pub fn load_str(path: &Path, source: &str) -> Result<LoadedScenario, ScenarioError> {
    let invalid = |problems| ScenarioError::Invalid(Diagnostics::new(path.to_path_buf(), problems));
    let (tree, yaml_problems) = yaml_tree::parse(source).map_err(|p| invalid(vec![Problem::new(p.pos, p.message)]))?;
    let mut problems: Vec<Problem> = yaml_problems.into_iter().map(|p| Problem::new(p.pos, p.message)).collect();
    let scenario: Scenario = match crate::runbook::decode::decode_at(tree.to_json(), &tree, &[]) {
        Ok(s) => s,
        Err(p) => {
            problems.push(p);
            return Err(invalid(problems));
        }
    };
    let at = |path: &[Seg]| tree.locate(path).pos;
    if scenario.name.is_empty() || !scenario.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        problems.push(Problem::new(at(&[Seg::Key("name".into())]), "name: letters, digits and `-` only"));
    }
    let pace = scenario.pace.parse::<Pace>().unwrap_or_else(|e| {
        problems.push(Problem::new(at(&[Seg::Key("pace".into())]), format!("pace: {e}")));
        Pace::Instant
    });
    for (i, fault) in scenario.faults.iter().enumerate() {
        if let Some(problem) = fault.problem() {
            problems.push(Problem::new(at(&[Seg::Key("faults".into()), Seg::Index(i)]), problem));
        }
    }
    if scenario.writers.is_some_and(|w| !(1.0..=86_400.0).contains(&w.every_s)) {
        let pos = at(&[Seg::Key("writers".into()), Seg::Key("every_s".into())]);
        problems.push(Problem::new(pos, "writers.every_s: modelled seconds from 1 to 86400"));
    }
    if let Some(problem) = scenario.limits.problem() {
        problems.push(Problem::new(at(&[Seg::Key("limits".into())]), problem));
    }
    if !(1..=1000).contains(&scenario.world.storage_scale) {
        let pos = at(&[Seg::Key("world".into()), Seg::Key("storage_scale".into())]);
        problems.push(Problem::new(pos, "world.storage_scale: from 1 to 1000"));
    }
    if !(1..=100).contains(&scenario.world.changed_percent) {
        let pos = at(&[Seg::Key("world".into()), Seg::Key("changed_percent".into())]);
        problems.push(Problem::new(pos, "world.changed_percent: from 1 to 100"));
    }
    // DynamoDB has no table size limit and Aurora's cluster volume grows to 128 TiB: these
    // bounds keep the modelled hours sane.
    for (key, value, max) in
        [("table_gib", scenario.world.table_gib, 65_536), ("aurora_gib", scenario.world.aurora_gib, 131_072)]
    {
        if value.is_some_and(|v| !(1..=max).contains(&v)) {
            let pos = at(&[Seg::Key("world".into()), Seg::Key(key.into())]);
            problems.push(Problem::new(pos, format!("world.{key}: GiB from 1 to {max}")));
        }
    }
    for (key, value) in [("rto", &scenario.targets.rto), ("rpo", &scenario.targets.rpo)] {
        if let Some(v) = value
            && let Err(e) = humantime::parse_duration(v)
        {
            let pos = at(&[Seg::Key("targets".into()), Seg::Key(key.into())]);
            problems.push(Problem::new(pos, format!("targets.{key}: `{v}` is not a duration ({e})")));
        }
    }
    let runbook_path = if scenario.runbook == "failback" {
        crate::runbook::bundled_failback()
    } else {
        path.parent().unwrap_or(Path::new(".")).join(&scenario.runbook)
    };
    if !runbook_path.is_file() {
        let pos = at(&[Seg::Key("runbook".into())]);
        problems.push(Problem::new(pos, format!("runbook: no file {}", runbook_path.display())));
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    Ok(LoadedScenario { path: path.to_path_buf(), source: source.to_string(), scenario, runbook_path, pace })
}

/// The JSON Schema of the scenario format.
pub fn schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    generator.into_root_schema_for::<Scenario>().to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_scenario_loads() {
        let names = bundled_names();
        assert!(names.len() >= 3, "{names:?}");
        for name in names {
            let loaded = load(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(loaded.scenario.name, name, "a bundled scenario's name is its file's");
        }
    }

    #[test]
    fn problems_name_line_and_column() {
        let text = "name: x\ntitle: t\npace: fast\nfaults:\n  - kind: copy_error\n    operation: ec2.CreateVolume\ntargets:\n  rto: soon\n";
        let err = load_str(Path::new("s.yaml"), text).unwrap_err().to_string();
        assert!(err.contains("s.yaml:3:7: pace:"), "{err}");
        assert!(err.contains("s.yaml:5:5: copy_error applies to ec2.CopySnapshot"), "{err}");
        assert!(err.contains("s.yaml:8:8: targets.rto"), "{err}");
        let limits = "name: x\ntitle: t\nlimits:\n  copy_quotas:\n    ec2.CreateVolume: 1\n";
        let err = load_str(Path::new("s.yaml"), limits).unwrap_err().to_string();
        assert!(err.contains("s.yaml:4:3: limits.copy_quotas: no quota for `ec2.CreateVolume`"), "{err}");
        let writers =
            load_str(Path::new("s.yaml"), "name: x\ntitle: t\nwriters:\n  every_s: 0\n").unwrap_err().to_string();
        assert!(writers.contains("s.yaml:4:12: writers.every_s"), "{writers}");
        let unknown = load_str(Path::new("s.yaml"), "name: x\ntitle: t\nfautls: []\n").unwrap_err().to_string();
        assert!(unknown.contains("s.yaml:3:1: unknown field `fautls`"), "{unknown}");
        let changed = "name: x\ntitle: t\nworld:\n  changed_percent: 0\n";
        let changed = load_str(Path::new("s.yaml"), changed).unwrap_err().to_string();
        assert!(changed.contains("s.yaml:4:20: world.changed_percent: from 1 to 100"), "{changed}");
        let sizes = "name: x\ntitle: t\nworld:\n  table_gib: 0\n  aurora_gib: 200000\n";
        let sizes = load_str(Path::new("s.yaml"), sizes).unwrap_err().to_string();
        assert!(sizes.contains("s.yaml:4:14: world.table_gib: GiB from 1 to 65536"), "{sizes}");
        assert!(sizes.contains("s.yaml:5:15: world.aurora_gib: GiB from 1 to 131072"), "{sizes}");
    }
}

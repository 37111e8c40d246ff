//! Runbooks: the YAML format, loading with positioned errors, and validation.

pub mod catalog;
pub mod condition;
pub mod decode;
pub mod diagnostics;
pub mod inputs;
pub mod model;
pub mod schema;
pub mod template;
pub mod validate;
pub mod yaml_tree;

pub use catalog::{ActionCatalog, ActionDoc, ActsIn, CheckCx, ParamProblem};
pub use diagnostics::{Diagnostics, Problem};
pub use model::*;

use std::path::{Path, PathBuf};

/// Why a runbook could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// A runbook that decoded and validated, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedRunbook {
    /// The path as given (used in messages).
    pub path: PathBuf,
    /// Directory that relative paths in the runbook (templates) are resolved against.
    pub base_dir: PathBuf,
    /// The exact text, kept so a run can be resumed even if the file changes.
    pub source: String,
    pub runbook: Runbook,
}

/// The bundled failback runbook (the working directory's `runbooks/`, else the sources').
pub fn bundled_failback() -> PathBuf {
    let local = PathBuf::from("runbooks/failback.yaml");
    if local.is_file() { local } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/failback.yaml") }
}

/// Reads, decodes and validates a runbook file.
pub fn load_file(path: &Path, actions: &dyn ActionCatalog) -> Result<LoadedRunbook, LoadError> {
    let source = std::fs::read_to_string(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
    let base_dir =
        path.canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_else(|| PathBuf::from("."));
    load_str(path, &base_dir, &source, actions)
}

/// Decodes and validates runbook text. `path` is only used in messages; `base_dir` resolves
/// relative paths inside the runbook.
pub fn load_str(
    path: &Path,
    base_dir: &Path,
    source: &str,
    actions: &dyn ActionCatalog,
) -> Result<LoadedRunbook, LoadError> {
    load(path, base_dir, source, true, actions)
}

/// Loads the runbook copy a run started with, for resuming it: the same checks, except that
/// files it names need not exist any more (the steps that used them may be long finished).
pub fn load_for_resume(
    path: &Path,
    base_dir: &Path,
    source: &str,
    actions: &dyn ActionCatalog,
) -> Result<LoadedRunbook, LoadError> {
    load(path, base_dir, source, false, actions)
}

fn load(
    path: &Path,
    base_dir: &Path,
    source: &str,
    check_files: bool,
    actions: &dyn ActionCatalog,
) -> Result<LoadedRunbook, LoadError> {
    let invalid = |problems| LoadError::Invalid(Diagnostics::new(path.to_path_buf(), problems));
    let (tree, yaml_problems) = yaml_tree::parse(source).map_err(|p| invalid(vec![Problem::new(p.pos, p.message)]))?;
    let mut problems: Vec<Problem> = yaml_problems.into_iter().map(|p| Problem::new(p.pos, p.message)).collect();
    let decoded = decode::decode(&tree, &mut problems);
    if let Some((rb, broken)) = &decoded {
        problems.extend(validate::validate(rb, broken, &tree, base_dir, check_files, actions));
    }
    match decoded.map(|(rb, _)| rb) {
        Some(runbook) if problems.is_empty() => Ok(LoadedRunbook {
            path: path.to_path_buf(),
            base_dir: base_dir.to_path_buf(),
            source: source.to_string(),
            runbook,
        }),
        _ => Err(invalid(problems)),
    }
}

//! The run's own copy of a template file. A template is read from the runbook's directory until
//! the run first sends it; from then on every attempt of that run, resumed or retried, sends the
//! copy kept in the run directory. So a file edited (or lost) after the gate was approved is not
//! what a resume deploys, and any number of interrupted attempts agree on what was sent.

use super::ActionCx;
use crate::aws::ActionError;
use std::path::{Path, PathBuf};

/// A template as this run deploys it.
pub struct RunTemplate {
    /// The text to send.
    pub body: String,
    /// The run's copy (it may not exist yet).
    pub copy: PathBuf,
    /// The file as named in the runbook.
    pub source: PathBuf,
}

impl RunTemplate {
    /// Reads the run's copy of `template` when there is one, otherwise the file. An earlier
    /// attempt that sent a body before copies were kept (`sent`, from the journal) counts as a
    /// copy. A file that differs from the copy is said, with where the copy is.
    pub fn read(cx: &ActionCx<'_>, template: &str, sent: Option<&str>) -> Result<RunTemplate, ActionError> {
        let source = cx.base_dir.join(template);
        let name = source.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "template".into());
        let copy = cx.run_dir.join("templates").join(cx.step).join(name);
        let on_disk = std::fs::read_to_string(&source);
        let kept = match std::fs::read_to_string(&copy) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => sent.map(str::to_string),
            Err(e) => return Err(ActionError::Failed(format!("cannot read the run's copy {}: {e}", copy.display()))),
        };
        let Some(body) = kept else {
            let body =
                on_disk.map_err(|e| ActionError::Failed(format!("cannot read template {}: {e}", source.display())))?;
            return Ok(RunTemplate { body, copy, source });
        };
        if on_disk.as_deref().ok() != Some(body.as_str()) {
            cx.log.note(format!(
                "{template} changed (or is gone) since this run first sent it; deploying the run's copy {} \
                 (edit that copy to change what this run deploys)",
                copy.display()
            ))?;
        }
        Ok(RunTemplate { body, copy, source })
    }

    /// Keeps the copy (durably) before the template is first sent; a copy already kept stays.
    pub fn keep(&self) -> Result<(), ActionError> {
        crate::blocking::blocking(|| self.write_copy())
    }

    fn write_copy(&self) -> Result<(), ActionError> {
        if self.copy.exists() {
            return Ok(());
        }
        let failed = |e: std::io::Error| {
            ActionError::Failed(format!(
                "cannot keep a copy of {} at {}: {e}",
                self.source.display(),
                self.copy.display()
            ))
        };
        let dir = self.copy.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(failed)?;
        // Written whole under another name, then renamed: a kill mid-write leaves no torn copy.
        let partial = self.copy.with_extension("partial");
        crate::durable::write(&partial, &self.body).map_err(failed)?;
        std::fs::rename(&partial, &self.copy).map_err(failed)?;
        crate::durable::sync_dir(dir).map_err(failed)?;
        // The new directories' entries too, up to the run directory.
        for parent in dir.ancestors().skip(1).take(2) {
            crate::durable::sync_dir(parent).map_err(failed)?;
        }
        Ok(())
    }
}

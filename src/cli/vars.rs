//! Where input values come from: `--var-file FILE`, `PILOTLIGHT_VAR_<NAME>` environment
//! variables, `--var NAME=VALUE` (each overriding the one before), and for a secret input still
//! missing, a prompt that does not echo when a terminal is there.
//!
//! A secret given with `--var` works but is warned about: the command line is visible to every
//! local user (`ps`, `/proc/*/cmdline`), and lands in shell history and CI logs.

use super::args::Vars;
use super::exit::INVALID;
use crate::runbook::{Runbook, inputs};
use std::io::{IsTerminal, Write};
use std::path::Path;

/// What the values are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A new run: every input; a missing secret is asked for on a terminal.
    Run,
    /// A plan: no prompt (a plan shows secrets as markers).
    Plan,
    /// A resume: the run's secret inputs again (the journal never holds them).
    Resume,
}

/// The environment variable that gives `input`.
pub fn env_name(input: &str) -> String {
    inputs::env_var_name(input)
}

/// Every `NAME=VALUE` pair for `rb`'s inputs, from all sources, later sources winning. Prints
/// each problem (naming the file and line) and returns exit code 2 if there is one.
pub fn gather(rb: &Runbook, vars: &Vars, purpose: Purpose) -> Result<Vec<(String, String)>, u8> {
    let wanted = |name: &str| rb.inputs.get(name).is_some_and(|spec| purpose != Purpose::Resume || spec.secret);
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut problems = Vec::new();
    for file in &vars.var_files {
        match read_var_file(file) {
            Ok(found) => pairs.extend(found.into_iter().filter(|(k, _)| purpose != Purpose::Resume || wanted(k))),
            Err(e) => problems.push(e),
        }
    }
    for name in rb.inputs.keys().filter(|n| wanted(n)) {
        if let Ok(value) = std::env::var(env_name(name)) {
            pairs.push((name.clone(), value));
        }
    }
    for raw in &vars.vars {
        match inputs::split_var(raw) {
            Ok((k, v)) => {
                if rb.inputs.get(&k).is_some_and(|s| s.secret) {
                    eprintln!(
                        "warning: --var {k} puts a secret on the command line, where every local user (ps) and \
                         your shell history can read it; give it as {} or in a --var-file, or leave it out to be asked",
                        env_name(&k)
                    );
                }
                pairs.push((k, v));
            }
            Err(e) => problems.push(e),
        }
    }
    if !problems.is_empty() {
        problems.iter().for_each(|p| eprintln!("{p}"));
        return Err(INVALID);
    }
    if purpose != Purpose::Plan && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        for name in rb.inputs.iter().filter(|(_, s)| s.secret && s.default.is_none()).map(|(n, _)| n) {
            if pairs.iter().any(|(k, _)| k == name) {
                continue;
            }
            match read_hidden(&format!("{name} (secret input, not shown as you type): ")) {
                Ok(value) => pairs.push((name.clone(), value)),
                Err(e) => {
                    eprintln!("cannot read {name} from the terminal: {e}");
                    return Err(INVALID);
                }
            }
        }
    }
    // Later sources win: keep the last value of each name.
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        out.retain(|(name, _)| *name != k);
        out.push((k, v));
    }
    Ok(out)
}

/// `NAME=VALUE` lines, or a flat YAML mapping (`name: value`); `#` starts a comment line.
fn read_var_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--var-file {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" {
            continue;
        }
        let eq = trimmed.find('=');
        let colon = trimmed.find(": ").or_else(|| trimmed.ends_with(':').then(|| trimmed.len() - 1));
        let (key, value) = match (eq, colon) {
            (Some(e), Some(c)) if c < e => (&trimmed[..c], trimmed[c + 1..].trim()),
            (Some(e), _) => (&trimmed[..e], &trimmed[e + 1..]),
            (None, Some(c)) => (&trimmed[..c], trimmed[c + 1..].trim()),
            (None, None) => {
                return Err(format!("{}:{}: expected NAME=VALUE or `name: value`", path.display(), n + 1));
            }
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("{}:{}: the name is empty", path.display(), n + 1));
        }
        out.push((key.to_string(), unquote(value).to_string()));
    }
    Ok(out)
}

/// A value in matching single or double quotes, without them.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Reads a line from the terminal with echo off (restored afterwards, also on error).
fn read_hidden(prompt: &str) -> std::io::Result<String> {
    let mut err = std::io::stderr();
    write!(err, "{prompt}")?;
    err.flush()?;
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal (checked by the caller)
    // and tcsetattr restores the same settings below.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    // SAFETY: as above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_files_take_name_value_lines_and_flat_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vars");
        std::fs::write(&path, "# secrets\ntoken=a=b c\ndb_password: \"p: w\"\nregion: 'eu-west-1'\n---\n").unwrap();
        assert_eq!(
            read_var_file(&path).unwrap(),
            [
                ("token".to_string(), "a=b c".to_string()),
                ("db_password".to_string(), "p: w".to_string()),
                ("region".to_string(), "eu-west-1".to_string())
            ]
        );
        std::fs::write(&path, "ok=1\nnot a pair\n").unwrap();
        assert_eq!(
            read_var_file(&path).unwrap_err(),
            format!("{}:2: expected NAME=VALUE or `name: value`", path.display())
        );
        assert_eq!(env_name("db-password"), "PILOTLIGHT_VAR_DB_PASSWORD");
    }
}

//! What a run writes reaches the disk before the run goes on: the new run directory's entry in
//! `runs/`, the runbook copy, every journal entry, and the run's copy of a template (written
//! whole, renamed into place, its directory synced) before the template is first sent. A test
//! cannot pull the power, so it watches the system calls (strace) of a real run.

use super::support::{only_run, pilotlight, seeded_moto, state_dir};
use std::process::Command;

#[test]
fn a_run_syncs_its_directory_runbook_copy_journal_and_template_copy() {
    let (_moto, url) = seeded_moto();
    let state = state_dir();
    let trace = state.path().join("strace.txt");
    let base = pilotlight(state.path());
    let mut cmd = Command::new("strace");
    // One file per thread (`-ff`): no call is split into `unfinished` and `resumed` halves.
    cmd.args(["-ff", "-y", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", "-o"]).arg(&trace);
    cmd.arg(base.get_program());
    cmd.args(["run", "tests/fixtures/skeleton.yaml", "--headless", "--auto-approve", "--var", "cleanup=false"]);
    cmd.args(["--endpoint-url", &url]);
    for (key, value) in base.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    cmd.current_dir(base.get_current_dir().expect("the tests' working directory"));
    let out = cmd.output().expect("strace is needed for this test");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let (_, dir) = only_run(state.path());
    let mut calls = String::new();
    for file in std::fs::read_dir(state.path()).unwrap().flatten() {
        if file.file_name().to_string_lossy().starts_with("strace.txt.") {
            calls.push_str(&std::fs::read_to_string(file.path()).unwrap());
        }
    }
    let synced = |path: &std::path::Path, call: &str| {
        let needle = format!("<{}>)", path.display());
        calls.lines().any(|l| l.contains(&format!("{call}(")) && l.contains(&needle) && l.ends_with("= 0"))
    };
    let runs = state.path().join("runs");
    assert!(synced(&runs, "fsync"), "the run directory's entry in runs/ is synced");
    assert!(synced(&dir.join("runbook.yaml"), "fsync"), "the runbook copy is synced");
    let journal_syncs = calls.lines().filter(|l| l.contains("fdatasync(") && l.contains("journal.jsonl>)")).count();
    let entries = super::support::journal(&dir).len();
    assert!(journal_syncs >= entries, "every journal entry is synced ({journal_syncs} syncs, {entries} entries)");
    let copies = dir.join("templates/deploy");
    let partial = copies.join("failback-permissions.partial");
    assert!(synced(&partial, "fsync"), "the template copy is synced before it is renamed into place");
    assert!(
        calls.lines().any(|l| l.contains("rename") && l.contains(&partial.display().to_string()) && l.ends_with("= 0")),
        "and renamed into place whole"
    );
    assert!(synced(&copies, "fsync"), "its directory is synced");
    assert!(copies.join("failback-permissions.json").is_file());
}

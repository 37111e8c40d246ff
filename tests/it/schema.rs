//! `pilotlight schema`: generated from the Rust types, committed for editors, and accepted by a
//! real JSON Schema validator (Python's jsonschema, which comes with moto) exactly where the
//! loader accepts.

use super::support::{fixture, moto, pilotlight, repo, run, shared_venv, state_dir};
use std::process::Command;

const CHECK: &str = r#"
import json, sys, yaml, jsonschema
v = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))
for path in sys.argv[2:]:
    for e in v.iter_errors(yaml.safe_load(open(path))):
        print(f"{path}: {list(e.path)}: {e.message}")
"#;

#[test]
fn committed_schema_is_current() {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.arg("schema");
    let out = run(cmd);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(repo().join("assets/runbook.schema.json")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        committed.trim(),
        "assets/runbook.schema.json is stale: run `cargo run -- schema > assets/runbook.schema.json`"
    );
}

#[test]
fn schema_agrees_with_the_loader() {
    drop(moto()); // makes sure the venv (and with it jsonschema and PyYAML) is installed
    let python = shared_venv().join("bin/python");
    let schema = repo().join("assets/runbook.schema.json");
    let good = [
        repo().join("runbooks/failback.yaml"),
        fixture("skeleton.yaml"),
        fixture("resume.yaml"),
        fixture("ec2-failback-two-person.yaml"),
    ];
    let out = Command::new(&python).arg("-c").arg(CHECK).arg(&schema).args(&good).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "valid runbooks must pass the schema");

    let out =
        Command::new(&python).arg("-c").arg(CHECK).arg(&schema).arg(fixture("five-mistakes.yaml")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // A boolean may also be a template (`"{{ inputs.x }}"`), so a word that is neither is "not
    // valid under any of the given schemas", at its own place.
    let not_boolean = "['steps', 4, 'with', 'wait']: 'yes please' is not valid under any of the given schemas";
    for needle in ["'retry' was unexpected", "'cloudformation.deplyo' is not one of", not_boolean] {
        assert!(text.contains(needle), "schema should catch {needle:?}; it said:\n{text}");
    }
}

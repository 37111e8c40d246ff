//! Replay cases as data files (`cases/*.case`), as trippy keeps its state tests: journal lines
//! in, the expected state out.
//!
//! A case file is comment lines (`#`, saying what the case catches), journal entries one JSON
//! object a line (`seq` and `ts` may be left out: entry N gets seq N and a time N milliseconds
//! after 04:00), a line `---`, then the expected state as JSON. The expected JSON is compared as a
//! subset of the state's JSON view: every key it names must match, arrays element by element and
//! of the same length; keys it leaves out are not checked.

use super::RunState;
use crate::journal::Entry;
use serde_json::{Value, json};
use std::path::Path;

/// The state as JSON, for comparing with a case's expectation.
fn view(state: &RunState) -> Value {
    json!({
        "status": state.status(),
        "finished_at": state.finished_at,
        "interrupted": state.interrupted,
        "stopped_at": state.stopped_at,
        "endpoint": state.endpoint,
        "sessions": state.sessions,
        "supersedes": state.supersedes,
        "accounts": state.accounts,
        "steps": state.steps,
        "calls": state.calls.iter().map(|c| json!({
            "seq": c.seq,
            "step": c.step,
            "sub": c.sub,
            "operation": c.operation,
            "target": c.target,
            "mutating": c.mutating,
            "outcome": c.outcome,
        })).collect::<Vec<_>>(),
        "first_change": state.first_change().map(|c| c.seq),
        "finished_attempts": state.finished_attempts.iter().map(|a| json!({
            "step": a.step, "attempt": a.attempt, "ok": a.ok,
        })).collect::<Vec<_>>(),
        "undo": state.undo,
    })
}

/// Where `got` differs from `want` (the keys `want` names), as paths.
fn differences(want: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => differences(wv, gv, &p, out),
                    None if wv.is_null() => {}
                    None => out.push(format!("{p}: missing, expected {wv}")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                differences(wv, gv, &format!("{path}[{i}]"), out);
            }
        }
        _ if want == got => {}
        _ => out.push(format!("{path}: expected {want}, got {got}")),
    }
}

fn entries(journal: &str, file: &Path) -> Vec<Entry> {
    journal
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .enumerate()
        .map(|(i, line)| {
            let mut v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: journal line {}: {e}", file.display(), i + 1));
            let obj = v.as_object_mut().expect("an entry is an object");
            obj.entry("seq").or_insert(json!(i + 1));
            obj.entry("ts").or_insert(json!(format!("2026-11-22T04:00:00.{:03}Z", i + 1)));
            serde_json::from_value(v).unwrap_or_else(|e| panic!("{}: entry {}: {e}", file.display(), i + 1))
        })
        .collect()
}

/// Every case in `cases/`; each failure names its file and the paths that differ.
#[test]
fn replay_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/journal/state/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("cases dir").flatten().map(|e| e.path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "case"));
    files.sort();
    assert!(files.len() >= 8, "the cases are missing from {}", dir.display());
    let mut failed = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read case");
        let (journal, expected) = text.split_once("\n---\n").unwrap_or_else(|| panic!("{}: no `---`", file.display()));
        let want: Value =
            serde_json::from_str(expected).unwrap_or_else(|e| panic!("{}: expected: {e}", file.display()));
        let got = view(&RunState::replay(&entries(journal, file)));
        let mut diffs = Vec::new();
        differences(&want, &got, "", &mut diffs);
        if !diffs.is_empty() {
            failed.push(format!("{}:\n  {}", file.display(), diffs.join("\n  ")));
        }
    }
    assert!(failed.is_empty(), "{} of {} replay cases differ:\n{}", failed.len(), files.len(), failed.join("\n"));
}

/// The comparison itself: a case that expects something else must fail.
#[test]
fn a_case_that_expects_otherwise_fails() {
    let mut diffs = Vec::new();
    differences(&json!({ "a": [1, { "b": 2 }] }), &json!({ "a": [1, { "b": 3, "c": 4 }] }), "", &mut diffs);
    assert_eq!(diffs, [".a[1].b: expected 2, got 3"]);
    diffs.clear();
    differences(&json!({ "a": [1] }), &json!({ "a": [1, 2] }), "", &mut diffs);
    assert_eq!(diffs.len(), 1, "arrays of another length differ");
}

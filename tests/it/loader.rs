//! Loading and validating runbooks: every problem at once, each at its file:line:col, and no
//! input makes the loader panic.

use super::support::{fixture, pilotlight, repo, run, state_dir};
use proptest::prelude::*;
use std::path::Path;

#[test]
fn bundled_runbooks_validate() {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.arg("validate");
    for e in std::fs::read_dir(repo().join("runbooks")).unwrap().flatten() {
        cmd.arg(e.path());
    }
    let out = run(cmd);
    assert!(out.status.success());
    for name in ["skeleton.yaml", "resume.yaml"] {
        pilotlight::runbook::load_file(&fixture(name), &pilotlight::actions::REGISTRY)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn five_mistakes_give_five_positioned_errors_and_exit_2() {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    let path = Path::new("tests/fixtures/five-mistakes.yaml");
    cmd.arg("validate").arg(path);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("tests/fixtures/five-mistakes.yaml:")).collect();
    let expected = [
        ("18:5", "unknown field `retry`"),
        ("19:9", "duplicate step id `one`"),
        ("23:13", "unknown action `cloudformation.deplyo`"),
        ("27:23", "unknown resource `orders_db`"),
        ("33:13", "invalid type: string \"yes please\", expected a boolean"),
    ];
    assert_eq!(errors.len(), expected.len(), "errors: {errors:#?}");
    assert!(stderr.contains("5 problem(s) in tests/fixtures/five-mistakes.yaml"));
    for ((pos, text), line) in expected.iter().zip(&errors) {
        let prefix = format!("tests/fixtures/five-mistakes.yaml:{pos}: ");
        assert!(line.starts_with(&prefix), "{line:?} should start with {prefix:?}");
        assert!(line.contains(text), "{line:?} should mention {text:?}");
    }
}

#[test]
fn semantic_problems_are_all_reported() {
    let src = r#"version: 2
name: "bad name"
title: t
inputs:
  mode: { type: string, allowed: [test, real], default: prod }
environments:
  primary: { region: us-east-1 }
steps:
  - id: a
    title: "{{ inputs.nope }}"
    when: inputs.missing
    timeout: soon
    gate: { checklist: [] }
  - id: b
    title: uses a later step {{ steps.c.outputs.value }}
  - id: c
    title: c
    action: check.resource
    with: { resource: ghost, wait: true }
"#;
    let err = pilotlight::runbook::load_str(Path::new("x.yaml"), Path::new("."), src, &pilotlight::actions::REGISTRY)
        .unwrap_err();
    let text = err.to_string();
    for needle in [
        "x.yaml:1:10: unsupported version 2",
        "x.yaml:2:7: name must be",
        "default: \"prod\" is not one of the allowed values",
        "environment `recovery` is required",
        "unknown input `nope`",
        "`when` refers to unknown input `missing`",
        "`soon` is not a duration",
        "a checklist gate needs at least one item",
        "step `c` does not run before this step",
        "unknown resource `ghost`",
        "`wait` needs `equals` or `one_of`",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn syntax_errors_have_positions() {
    let err = pilotlight::runbook::load_str(
        Path::new("s.yaml"),
        Path::new("."),
        "version: 1\nsteps: [a, b\n",
        &pilotlight::actions::REGISTRY,
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("s.yaml:"), "{err}");
    let err = pilotlight::runbook::load_str(
        Path::new("s.yaml"),
        Path::new("."),
        "a: 1\na: 2\n",
        &pilotlight::actions::REGISTRY,
    )
    .unwrap_err();
    assert!(err.to_string().contains("s.yaml:2:1: duplicate key `a`"), "{err}");
}

fn bundled() -> String {
    std::fs::read_to_string(repo().join("runbooks/failback.yaml")).unwrap()
}

fn load(src: &str) {
    let _ = pilotlight::runbook::load_str(Path::new("fuzz.yaml"), Path::new("."), src, &pilotlight::actions::REGISTRY);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary text never panics the loader.
    #[test]
    fn loader_never_panics_on_arbitrary_text(src in ".{0,400}") {
        load(&src);
    }

    /// YAML-ish noise (the characters YAML cares about) never panics the loader.
    #[test]
    fn loader_never_panics_on_yaml_noise(src in "[ \\-:\\[\\]{}&*!|>'\"#%@`,?\\n\\ta-z0-9]{0,300}") {
        load(&src);
    }

    /// A real runbook with a random slice cut out, or random text spliced in, never panics it.
    #[test]
    fn loader_never_panics_on_mutated_runbooks(at in 0usize..6000, len in 0usize..200, insert in ".{0,20}") {
        let mut src = bundled();
        let at = src.char_indices().map(|(i, _)| i).nth(at % src.chars().count()).unwrap_or(0);
        let end = src[at..].char_indices().map(|(i, _)| at + i).nth(len).unwrap_or(src.len());
        src.replace_range(at..end, &insert);
        load(&src);
    }
}

#[test]
fn bad_vars_exit_2_before_any_run_starts() {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args([
        "run",
        "runbooks/failback.yaml",
        "--var",
        "nope=1",
        "--var",
        "remove_permissions_stack=maybe",
        "--endpoint-url",
        "http://127.0.0.1:9",
    ]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has no input `nope`"), "{stderr}");
    assert!(stderr.contains("\"maybe\" is not a boolean"), "{stderr}");
    assert!(!state.path().join("runs").exists(), "no run was created");
}

#[test]
fn plan_resolves_without_calling_aws() {
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    // An endpoint nothing listens on: plan must not need it.
    cmd.args(["plan", "runbooks/failback.yaml", "--var", "remove_permissions_stack=false"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    let out = run(cmd);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("gate: type `app.example.internal.` to confirm"), "{stdout}");
    assert!(
        stdout.contains(
            "[remove-permissions] (phase: cut-over)  SKIPPED: `when: inputs.remove_permissions_stack` is false"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("\"TrustedPrincipalArn\":\"arn:aws:iam::123456789012:root\""), "{stdout}");

    // What a stage run takes: the checks, the stack and the test failback; nothing disruptive.
    let mut cmd = pilotlight(state.path());
    cmd.args(["plan", "runbooks/failback.yaml", "--phase", "stage"]).env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    let out = run(cmd);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let taken: Vec<&str> =
        stdout.lines().filter(|l| l.contains(". ") && l.contains(" [") && !l.contains("SKIPPED")).collect();
    let ids: Vec<&str> = taken.iter().filter_map(|l| l.split(" [").nth(1)?.split(']').next()).collect();
    assert_eq!(
        ids,
        ["primary-ready", "check-recovery-table", "install-permissions", "check-primary-instance", "test-failback"]
    );
    assert!(stdout.contains("[failback-ec2] (phase: cut-over)  SKIPPED: `phase: cut-over`: not in a stage run"));
}

/// The long fuzz (not in the default test command): `cargo test --test it -- --ignored fuzz`.
/// `PILOTLIGHT_FUZZ_CASES` (default 1,000,000) generated runbooks — random bytes, YAML noise,
/// mutated real runbooks, deep nesting and alias bombs — each loaded with no panic and in under
/// a second. Prints the count, the slowest case and the rate.
#[test]
#[ignore = "long: a million runbooks"]
fn fuzz_the_loader_with_a_million_generated_runbooks() {
    let cases: usize = std::env::var("PILOTLIGHT_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let seeds = [
        bundled(),
        std::fs::read_to_string(repo().join("tests/fixtures/skeleton.yaml")).unwrap(),
        std::fs::read_to_string(repo().join("tests/fixtures/console.yaml")).unwrap(),
    ];
    let mut rng = fastrand::Rng::with_seed(0x70_11_07);
    let noise: Vec<char> = " -:[]{}&*!|>'\"#%@`,?\n\ta-z0-9".chars().collect();
    let started = std::time::Instant::now();
    let mut slowest = (std::time::Duration::ZERO, String::new());
    for i in 0..cases {
        let src = match i % 5 {
            0 => String::from_utf8_lossy(&(0..rng.usize(0..300)).map(|_| rng.u8(..)).collect::<Vec<u8>>()).into_owned(),
            1 => (0..rng.usize(0..300)).map(|_| noise[rng.usize(..noise.len())]).collect(),
            2 | 3 => {
                let base = &seeds[if rng.u8(..) < 16 { 0 } else { 1 + rng.usize(..2) }];
                let mut lines: Vec<&str> = base.lines().collect();
                for _ in 0..rng.usize(1..4) {
                    let at = rng.usize(..lines.len().max(1));
                    match rng.u8(..4) {
                        0 if !lines.is_empty() => {
                            lines.remove(at.min(lines.len() - 1));
                        }
                        1 if !lines.is_empty() => {
                            let l = lines[at.min(lines.len() - 1)];
                            lines.insert(at, l);
                        }
                        2 if !lines.is_empty() => {
                            let (one, other) = (at.min(lines.len() - 1), rng.usize(..lines.len()));
                            lines.swap(one, other);
                        }
                        _ => lines.insert(
                            at.min(lines.len()),
                            ["  - ", "&a ", "*a", ": [", "{{", "}}", "\t", "'"][rng.usize(..8)],
                        ),
                    }
                }
                lines.join("\n")
            }
            _ => {
                let depth = rng.usize(1..5000);
                match rng.u8(..3) {
                    0 => format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
                    1 => format!("{}x", "{a: ".repeat(depth)),
                    _ => {
                        // An alias bomb: each level refers to the one before ten times.
                        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
                        for k in 1..rng.usize(2..30) {
                            s.push_str(&format!("a{k}: &a{k} [{}]\n", vec![format!("*a{}", k - 1); 10].join(", ")));
                        }
                        s.push_str("version: 1\nname: bomb\n");
                        s
                    }
                }
            }
        };
        let t = std::time::Instant::now();
        let outcome = std::panic::catch_unwind(|| load(&src));
        let took = t.elapsed();
        assert!(outcome.is_ok(), "the loader panicked on case {i}:\n{src}");
        assert!(took < std::time::Duration::from_secs(1), "case {i} took {took:?}:\n{src}");
        if took > slowest.0 {
            slowest = (took, src.chars().take(80).collect());
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "fuzz: {cases} runbooks in {elapsed:?} ({:.0}/s), no panic; slowest {:?}: {:?}",
        cases as f64 / elapsed.as_secs_f64(),
        slowest.0,
        slowest.1
    );
}

/// Catches a stage step that would disrupt (a failback), a disruptive step without a phase that a
/// stage run would take, stage steps after the cut-over, a group split across phases, and a
/// cut-over step or an environment's role that needs a stage step's outputs (a cut-over run skips
/// that step); each problem at its position.
#[test]
fn phase_problems_are_reported_at_their_positions() {
    let src = r#"version: 1
name: phases
title: t
environments:
  primary: { region: us-east-1, role_arn: "{{ steps.late.outputs.resources }}" }
  recovery: { region: us-west-2 }
resources:
  db: { type: rds_instance, primary: orders-db, recovery: orders-db }
steps:
  - id: unphased-fb
    title: a failback a stage run would take
    action: rds.failback
    with: { resource: db }
  - id: stage-fb
    title: a failback in the stage phase
    phase: stage
    action: rds.failback
    with: { resource: db }
  - id: cut
    title: cut over
    phase: cut-over
    action: check.resource
    with: { resource: db, side: primary, property: exists, equals: "true" }
  - id: late
    title: staged too late
    phase: stage
    action: failback.rehearse
    with: { resource: db }
  - id: g1
    title: one of a group
    group: g
    phase: cut-over
    action: check.resource
    with: { resource: db, side: primary, property: status, equals: "{{ steps.late.outputs.resources }}" }
  - id: g2
    title: the other, unphased
    group: g
    action: check.resource
    with: { resource: db, side: primary, property: exists, equals: "true" }
"#;
    let err = pilotlight::runbook::load_str(Path::new("p.yaml"), Path::new("."), src, &pilotlight::actions::REGISTRY)
        .unwrap_err();
    let text = err.to_string();
    for needle in [
        "p.yaml:5:43: `steps.late.outputs.resources` is an output of `phase: stage` step `late`, which a cut-over run skips",
        "p.yaml:12:13: `rds.failback` disrupts what serves, and a stage run takes the steps without a phase before its last stage step `late`: give it `phase: cut-over`",
        "p.yaml:16:12: `rds.failback` disrupts what serves: a `phase: stage` step must leave both sides serving",
        "p.yaml:26:12: a `phase: stage` step comes after `phase: cut-over` step `cut`: stage first",
        "p.yaml:34:11: `steps.late.outputs.resources` is an output of `phase: stage` step `late`, which a cut-over run skips",
        "p.yaml:35:5: the steps of group `g` run as one: give them all the phase of `g1`",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn gate_approvers_are_taken_from_the_gate_and_bad_ones_reported_at_their_positions() {
    let src = |gates: [&str; 3]| {
        format!(
            "version: 1\nname: two\ntitle: t\nenvironments:\n  primary: {{ region: us-east-1 }}\n  recovery: {{ region: us-west-2 }}\nsteps:\n  - id: a\n    title: a\n    gate: {}\n  - id: b\n    title: b\n    gate: {}\n  - id: c\n    title: c\n    gate: {}\n",
            gates[0], gates[1], gates[2]
        )
    };
    let good = src(["{ type_to_confirm: flip, approvers: 2 }", "{ checklist: [x], approvers: 1 }", "confirm"]);
    let loaded =
        pilotlight::runbook::load_str(Path::new("g.yaml"), Path::new("."), &good, &pilotlight::actions::REGISTRY)
            .expect("approvers inside a gate");
    let approvers: Vec<u8> = loaded.runbook.steps.iter().map(|s| s.approvers).collect();
    assert_eq!(approvers, [2, 1, 0]);
    assert_eq!(loaded.runbook.steps[0].gate, pilotlight::runbook::Gate::TypeToConfirm("flip".into()));
    let bad = src(["{ type_to_confirm: flip, approvers: 9 }", "{ approvers: 2 }", "{ confirm: yes, approvers: two }"]);
    let err = pilotlight::runbook::load_str(Path::new("g.yaml"), Path::new("."), &bad, &pilotlight::actions::REGISTRY)
        .expect_err("bad approvers")
        .to_string();
    assert!(err.contains("g.yaml:10:") && err.contains("from 1 to 5, not 9"), "{err}");
    assert!(err.contains("g.yaml:13:") && err.contains("approvers needs a gate"), "{err}");
    assert!(err.contains("g.yaml:16:") && err.contains("not \"two\""), "{err}");
}

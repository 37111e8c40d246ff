//! The commands. Each returns its exit code; problems are printed to standard error as they are
//! found, naming the file, line and column or the resource and API.

use super::args::{Command, Connect, Mode, ReportFormat, RunArgs, Vars};
use super::exit::{FAILED, INVALID, OK};
use super::run_cmd::{connect_options, load_with_inputs, pauses, resume, run, run_secrets};
use super::sandbox_cmd;
use super::vars::Purpose;
use crate::engine::{ResumeOptions, RunStore, plan};
use crate::runbook::{self, Gate, LoadError};
use std::path::{Path, PathBuf};

/// Runs one command against a state directory.
pub async fn dispatch(command: Command, state_dir: &Path) -> u8 {
    match command {
        Command::Validate { runbooks } => validate(&runbooks),
        Command::Plan { runbook, vars, phase } => plan_cmd(&runbook, &vars, phase.map(Into::into)),
        Command::Run(args) => run(args, state_dir).await,
        Command::Resume { run_id, vars, mode, connect, team } => {
            resume(&run_id, &vars, mode, &connect, &team, state_dir).await
        }
        Command::Status { runbook, vars, connect } => status(&runbook, &vars, &connect, state_dir).await,
        // Boxed: the checks' futures nest deep enough that the dispatch future's layout
        // overflowed rustc's query depth (in a non-incremental build, as CI's).
        Command::Preflight { runbook, format, vars, connect } => {
            Box::pin(preflight(&runbook, format, &vars, &connect, state_dir)).await
        }
        Command::Runs => runs(state_dir),
        Command::Abandon { run_id, reason, team } => abandon(&run_id, &reason, &team, state_dir),
        Command::Undo { run_id, reason, yes, vars, connect } => {
            let options = connect_options(&connect, state_dir, false).and_then(|connect| {
                let secrets = run_secrets(&run_id, &vars, state_dir, None)?;
                let pauses = pauses(connect.as_ref(), state_dir)?;
                Ok(ResumeOptions { connect, auto_approve: false, secrets, max_parallel: None, pauses, team: None })
            });
            match options {
                Ok(options) => super::undo_cmd::undo(&run_id, (&reason, yes), options, state_dir).await,
                Err(code) => code,
            }
        }
        Command::Report { run_id, format } => report(&run_id, format, state_dir),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&runbook::schema::runbook_schema(&crate::actions::REGISTRY))
                    .unwrap_or_default()
            );
            OK
        }
        Command::Permissions { runbook, side, vars } => permissions(&runbook, side, &vars),
        Command::Sandbox { command } => sandbox_cmd::sandbox(command, state_dir).await,
        Command::Demo { scenario: Some(scenario), pace, mode } => {
            super::drill_cmd::drill_run(&scenario, pace, mode, state_dir).await
        }
        Command::Demo { scenario: None, pace, mode } => {
            demo(pace.unwrap_or(crate::sandbox::realism::model::DEMO_PACE), mode, state_dir).await
        }
        Command::Handover { run_id, to, team } => super::team_cmd::handover(&run_id, &to, &team),
        Command::Team { command } => super::team_cmd::team(command, state_dir).await,
        Command::Drill(args) => super::drill_cmd::drill(args, state_dir).await,
        Command::Watch { run_id, headless, approve, connect, team } => {
            super::team_cmd::watch(&run_id, (headless, approve.as_deref()), (&connect, &team), state_dir).await
        }
    }
}

fn validate(paths: &[PathBuf]) -> u8 {
    let mut code = OK;
    for p in paths {
        match runbook::load_file(p, &crate::actions::REGISTRY) {
            Ok(l) => println!(
                "{}: ok ({} steps, {} resources)",
                p.display(),
                l.runbook.steps.len(),
                l.runbook.resources.len()
            ),
            Err(e) => {
                eprintln!("{e}");
                if let LoadError::Invalid(d) = &e {
                    eprintln!("{} problem(s) in {}", d.problems.len(), p.display());
                }
                code = INVALID;
            }
        }
    }
    code
}

fn permissions(path: &Path, side: crate::permissions::Side, vars: &Vars) -> u8 {
    let (loaded, resolved) = match load_with_inputs(path, vars, Purpose::Plan) {
        Ok(v) => v,
        Err(code) => return code,
    };
    match crate::permissions::Scope::of(&loaded, &resolved) {
        Ok(scope) => {
            let template = crate::permissions::template(&scope, side);
            println!("{}", serde_json::to_string_pretty(&template).unwrap_or_default());
            OK
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            INVALID
        }
    }
}

fn plan_cmd(path: &Path, vars: &Vars, phase: Option<crate::runbook::Phase>) -> u8 {
    let (loaded, resolved) = match load_with_inputs(path, vars, Purpose::Plan) {
        Ok(v) => v,
        Err(code) => return code,
    };
    if let Err(e) = plan::check_phase(&loaded.runbook, phase) {
        eprintln!("{}: {e}", path.display());
        return INVALID;
    }
    let steps = match plan::plan(&loaded, &resolved, phase) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return INVALID;
        }
    };
    let rb = &loaded.runbook;
    println!("{} ({})", rb.title, rb.name);
    let secrets = crate::engine::Secrets::new(rb, &resolved);
    for (k, v) in crate::engine::Secrets::journaled_inputs(rb, &resolved) {
        println!("  input {k} = {v}");
    }
    if let Some(rto) = &rb.targets.rto {
        println!("  target RTO {rto}");
    }
    if let Some(rpo) = &rb.targets.rpo {
        println!("  target RPO {rpo}");
    }
    for (i, s) in steps.iter().enumerate() {
        println!();
        println!(
            "{:>2}. {} [{}]{}{}",
            i + 1,
            s.title,
            s.id,
            s.phase.map(|p| format!(" (phase: {})", p.as_str())).unwrap_or_default(),
            s.skip.as_ref().map(|r| format!("  SKIPPED: {r}")).unwrap_or_default()
        );
        match &s.gate {
            Gate::None => {}
            Gate::Confirm => println!("    gate: confirm"),
            Gate::Checklist(items) => {
                println!("    gate: checklist");
                for item in items {
                    println!("      [ ] {item}");
                }
            }
            Gate::TypeToConfirm(t) => println!("    gate: type `{t}` to confirm"),
        }
        if s.approvers > 1 {
            println!(
                "    approvers: {} (the driver, then {} other AWS identit{} from their machines: `pilotlight watch RUN_ID --team TABLE --approve {}`)",
                s.approvers,
                s.approvers - 1,
                if s.approvers == 2 { "y" } else { "ies" },
                s.id
            );
        }
        match (&s.action, &s.params) {
            (Some(a), Some(p)) => {
                println!("    action: {a} {}", secrets.redact_json(p));
                for trade_off in crate::actions::REGISTRY.decode(a, p).map(|c| c.trade_offs()).unwrap_or_default() {
                    println!("    trade-off: {trade_off}");
                }
                if a == "exec" {
                    let declared = p.get("read_only").and_then(serde_json::Value::as_bool) == Some(true);
                    println!(
                        "    {}",
                        if declared { "runs in dry run (declared read-only)" } else { "not run in a dry run" }
                    );
                }
                println!(
                    "    timeout: {}  retries: {}  on_failure: {}",
                    s.timeout.as_deref().unwrap_or("default"),
                    s.retries,
                    s.on_failure
                );
            }
            _ => println!("    manual step"),
        }
    }
    OK
}

/// A runbook, its inputs and its environments, for a command that only reads (`status`,
/// `preflight`); the exit code when one of them cannot be had.
fn read_only_envs(
    path: &Path,
    vars: &Vars,
    connect: &Connect,
    state_dir: &Path,
) -> Result<(runbook::LoadedRunbook, indexmap::IndexMap<String, serde_json::Value>, crate::aws::AwsEnvs), u8> {
    let (loaded, resolved) = load_with_inputs(path, vars, Purpose::Run)?;
    let connect = connect_options(connect, state_dir, true)?.unwrap_or_default();
    let envs = plan::render_environments(&loaded, &resolved).map_err(|e| {
        eprintln!("{}: {e}", path.display());
        INVALID
    })?;
    Ok((loaded, resolved, crate::aws::AwsEnvs::new(envs, connect)))
}

async fn status(path: &Path, vars: &Vars, connect: &Connect, state_dir: &Path) -> u8 {
    let (loaded, _, envs) = match read_only_envs(path, vars, connect, state_dir) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let envs = std::sync::Arc::new(envs);
    let rows = crate::engine::resource_table::read_all(&loaded.runbook, envs).await;
    let cell = |s: &Option<crate::engine::resource_table::SideStatus>| match s {
        None => "-".to_string(),
        Some(Ok(st)) if !st.exists => "absent".to_string(),
        Some(Ok(st)) => st.status.clone().unwrap_or_else(|| "present".into()),
        Some(Err(e)) => format!("error: {e}"),
    };
    println!("{:<20} {:<21} {:<28} RECOVERY", "RESOURCE", "TYPE", "PRIMARY");
    let mut failed = false;
    for r in &rows {
        failed |= matches!(r.primary, Some(Err(_))) || matches!(r.recovery, Some(Err(_)));
        let primary = match &r.points_to {
            Some(side) => format!("{} (points to {side})", cell(&r.primary)),
            None => cell(&r.primary),
        };
        println!("{:<20} {:<21} {:<28} {}", r.name, r.kind.as_str(), primary, cell(&r.recovery));
    }
    if failed { FAILED } else { OK }
}

async fn preflight(
    path: &Path,
    format: super::args::PreflightFormat,
    vars: &Vars,
    connect: &Connect,
    state_dir: &Path,
) -> u8 {
    use crate::{actions::failback::preflight::Verdict, preflight};
    let (loaded, resolved, envs) = match read_only_envs(path, vars, connect, state_dir) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let findings = super::preflight_cmd::whole_runbook(&loaded, &resolved, &envs, &crate::aws::NoLog).await;
    let code = if preflight::failed(findings.iter().map(|f| &f.check)) { FAILED } else { OK };
    if format == super::args::PreflightFormat::Json {
        println!("{}", serde_json::to_string_pretty(&findings).unwrap_or_default());
        return code;
    }
    for f in &findings {
        let c = &f.check;
        println!("{:<5} {:<18} {:<18} {}: {}", c.verdict.word(), f.step, c.resource, c.rule, c.why);
    }
    let count = |v| findings.iter().filter(|f| f.check.verdict == v).count();
    println!(
        "{} checks: {} pass, {} warn, {} fail",
        findings.len(),
        count(Verdict::Pass),
        count(Verdict::Warn),
        count(Verdict::Fail)
    );
    code
}

fn runs(state_dir: &Path) -> u8 {
    let (list, errors) = RunStore::new(state_dir).list();
    for e in &errors {
        eprintln!("{e}");
    }
    if list.is_empty() {
        println!("no runs under {}", state_dir.display());
    } else {
        println!("{:<44} {:<10} {:<16} {:>5}  LAST EVENT", "RUN", "STATUS", "RUNBOOK", "STEPS");
        for r in list {
            println!(
                "{:<44} {:<10} {:<16} {:>5}  {}{}",
                r.id,
                r.status.as_str(),
                r.runbook,
                format!("{}/{}", r.steps_done, r.steps_seen),
                r.last_at,
                if r.dry_run { "  (dry run)" } else { "" }
            );
        }
    }
    if errors.is_empty() { OK } else { FAILED }
}

fn abandon(id: &str, reason: &str, team: &super::args::Team, state_dir: &Path) -> u8 {
    let team = super::run_cmd::team_config(team, None);
    match crate::engine::conflict::abandon(&RunStore::new(state_dir), id, reason, team.as_ref()) {
        Ok(true) => {
            println!("run {id} abandoned; its report: pilotlight report {id}");
            OK
        }
        Ok(false) => {
            println!("run {id} was already abandoned");
            OK
        }
        Err(e @ (crate::engine::EngineError::NotFound(_) | crate::engine::EngineError::Invalid(_))) => {
            eprintln!("{e}");
            INVALID
        }
        Err(crate::engine::EngineError::AlreadySucceeded(_)) => {
            eprintln!("run {id} succeeded; there is nothing to abandon");
            FAILED
        }
        Err(e) => {
            eprintln!("{e}");
            FAILED
        }
    }
}

/// Prints a run's after-action report. Nothing is written to the run directory: the report is
/// rebuilt from the journal each time, so it always matches it.
fn report(id: &str, format: ReportFormat, state_dir: &Path) -> u8 {
    let report = match crate::report::load(state_dir, id) {
        Ok(r) => r,
        Err(e @ crate::report::ReportError::NotFound { .. }) => {
            eprintln!("{e}");
            return INVALID;
        }
        Err(e) => {
            eprintln!("{e}");
            return FAILED;
        }
    };
    match format {
        ReportFormat::Markdown => print!("{}", crate::report::markdown::render(&report)),
        ReportFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("cannot write the report as JSON: {e}");
                return FAILED;
            }
        },
    }
    OK
}

/// Follows a run that another process drives, read-only.
async fn demo(pace: crate::sandbox::realism::Pace, mode: Mode, state_dir: &Path) -> u8 {
    let code = sandbox_cmd::sandbox(
        super::args::SandboxCommand::Up {
            pace,
            latency_ms: 0,
            changed_percent: crate::sandbox::realism::process::DEFAULT_CHANGED_PERCENT,
        },
        state_dir,
    )
    .await;
    if code != OK {
        return code;
    }
    let code = sandbox_cmd::sandbox(
        super::args::SandboxCommand::Seed { endpoint_url: None, variant: Default::default() },
        state_dir,
    )
    .await;
    if code != OK {
        return code;
    }
    let args = RunArgs {
        runbook: Some(crate::runbook::bundled_failback()),
        vars: super::args::Vars { vars: Vec::new(), var_files: Vec::new() },
        mode,
        dry_run: false,
        phase: None,
        resume: None,
        connect: Connect { sandbox: true, endpoint_url: None },
        team: Default::default(),
    };
    run(args, state_dir).await
}

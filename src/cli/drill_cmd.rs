//! `pilotlight drill`: a game day on the sandbox (see [`crate::drill`]), the trainer's `inject`,
//! the debrief, and the scenario format's schema.

use super::args::{Connect, DebriefFormat, DrillArgs, DrillCommand, Mode, RunArgs, Vars};
use super::exit::{FAILED, INVALID, OK};
use crate::drill::{self, DrillRecord, scenario};
use crate::engine::store::RunStore;
use crate::journal::{Event, RunStatus};
use crate::sandbox::realism::{FaultSpec, Pace};
use std::path::Path;

/// The shortest gap between two writes of a scenario's writer, whatever the pace.
const MIN_WRITE_GAP: std::time::Duration = std::time::Duration::from_millis(20);

pub async fn drill(args: DrillArgs, state_dir: &Path) -> u8 {
    match args.command {
        Some(DrillCommand::Inject { run_id, kind, operation, resource, after, count, delay_s }) => {
            let fault = FaultSpec { kind, operation, resource, after, count, delay_s };
            let user = crate::engine::os_user();
            match crate::blocking::blocking(|| drill::inject(state_dir, &run_id, fault, &user)) {
                Ok(i) => {
                    println!("injected into drill {run_id} at {}: {}", i.at, i.fault.describe());
                    OK
                }
                Err(e @ drill::InjectError::Invalid(_)) => {
                    eprintln!("drill inject: {e}");
                    INVALID
                }
                Err(e) => {
                    eprintln!("drill inject: {e}");
                    FAILED
                }
            }
        }
        Some(DrillCommand::Debrief { run_id, format }) => debrief(&run_id, format, state_dir).await,
        Some(DrillCommand::Schema) => {
            println!("{}", serde_json::to_string_pretty(&scenario::schema()).unwrap_or_default());
            OK
        }
        Some(DrillCommand::List) => {
            for name in scenario::bundled_names() {
                match scenario::load(&name) {
                    Ok(l) => println!("{name:<20} {}", l.scenario.title),
                    Err(e) => println!("{name:<20} (does not load: {e})"),
                }
            }
            OK
        }
        None => {
            let Some(name) = args.scenario else {
                eprintln!("drill: give a SCENARIO (see `pilotlight drill list`)");
                return INVALID;
            };
            drill_run(&name, args.pace, args.mode, state_dir).await
        }
    }
}

async fn debrief(run_id: &str, format: DebriefFormat, state_dir: &Path) -> u8 {
    match drill::debrief::load(state_dir, run_id) {
        Ok(d) => {
            match format {
                DebriefFormat::Markdown => print!("{}", drill::debrief_md::render(&d)),
                DebriefFormat::Json => println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default()),
                DebriefFormat::Console => {
                    if let Some(why) = crate::console::terminal::unusable() {
                        eprintln!("drill debrief: the console needs a terminal ({why}); use --format markdown");
                        return INVALID;
                    }
                    if let Err(e) = crate::console::debrief_view::show(d).await {
                        eprintln!("drill debrief: {e}");
                        return FAILED;
                    }
                }
            }
            OK
        }
        Err(e) => {
            eprintln!("drill debrief: {e}");
            FAILED
        }
    }
}

/// Runs the drill of scenario `name`: a fresh sandbox world at the scenario's pace (or `pace`)
/// with its faults, its runbook, then the debrief.
pub async fn drill_run(name: &str, pace: Option<Pace>, mode: Mode, state_dir: &Path) -> u8 {
    let mut loaded = match scenario::load(name) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return INVALID;
        }
    };
    if let Some(p) = pace {
        loaded.pace = p;
    }
    let mut progress = |line: &str| eprintln!("{line}");
    let speed = crate::sandbox::realism::process::ProxySettings {
        changed_percent: loaded.scenario.world.changed_percent,
        table_gib: loaded.scenario.world.table_gib,
        aurora_gib: loaded.scenario.world.aurora_gib,
        ..crate::sandbox::realism::process::ProxySettings::at(loaded.pace)
    };
    let info = match crate::blocking::blocking(|| crate::sandbox::server::fresh(state_dir, speed, &mut progress)) {
        Ok(info) => info,
        Err(e) => {
            eprintln!("drill: {e}");
            return FAILED;
        }
    };
    if let Err(code) = abandon_earlier(state_dir, &loaded) {
        return code;
    }
    let world = loaded.scenario.world;
    // A table the world gives a size gets items enough that each is a small share of it.
    let bulk = if world.table_gib.is_some() { crate::sandbox::seed::SIZED_TABLE_ITEMS } else { 0 };
    if let Err(e) =
        crate::sandbox::seed::seed_scaled(&info.moto_url(), world.variant.into(), world.storage_scale, bulk).await
    {
        eprintln!("drill: seeding the sandbox failed: {e}");
        return FAILED;
    }
    let Some(proxy) = &info.realism else {
        eprintln!("drill: the sandbox has no realism proxy");
        return FAILED;
    };
    if let Err(e) = crate::sandbox::realism::process::send_faults(proxy.port, "PUT", &loaded.scenario.faults) {
        eprintln!("drill: the sandbox's proxy refused the scenario's faults: {e}");
        return FAILED;
    }
    if let Err(e) = crate::sandbox::realism::process::send_limits(proxy.port, &loaded.scenario.limits) {
        eprintln!("drill: the sandbox's proxy refused the scenario's limits: {e}");
        return FAILED;
    }
    println!("drill: {} ({}) at pace {}", loaded.scenario.title, loaded.scenario.name, loaded.pace);
    if !loaded.scenario.briefing.trim().is_empty() {
        println!("{}", loaded.scenario.briefing.trim_end());
    }
    for f in &loaded.scenario.faults {
        println!("  fault: {}", f.describe());
    }
    for (family, b) in &loaded.scenario.limits.buckets {
        println!("  limit: {family} bucket {} refilled at {}/s", b.capacity, b.refill_per_s);
    }
    for (op, n) in &loaded.scenario.limits.copy_quotas {
        println!("  limit: at most {n} {op} in flight per destination region");
    }
    let record = DrillRecord::of(&loaded);
    let args = RunArgs {
        runbook: Some(loaded.runbook_path.clone()),
        vars: Vars {
            vars: loaded.scenario.inputs.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            var_files: Vec::new(),
        },
        mode,
        dry_run: false,
        phase: None,
        resume: None,
        connect: Connect { sandbox: true, endpoint_url: None },
        team: Default::default(),
    };
    let mut run_dir = None;
    let mut writer = None;
    let (moto_url, endpoint_url) = (info.moto_url(), info.endpoint_url());
    // A write every `every_s` modelled seconds: at the pace, that many wall seconds over the pace.
    // At the instant pace (no modelled time) every 100 ms.
    let every = loaded.scenario.writers.map(|w| match loaded.pace.factor() {
        Some(pace) => std::time::Duration::from_secs_f64(w.every_s / pace).max(MIN_WRITE_GAP),
        None => MIN_WRITE_GAP * 5,
    });
    let code = super::run_cmd::run_with(args, state_dir, &mut |dir| {
        run_dir = Some(dir.to_path_buf());
        drill::write_record(dir, &record).map_err(|e| format!("drill: cannot record the drill: {e}"))?;
        println!("drill run: {} (trainer: pilotlight watch {0} --sandbox)", run_id_of(dir));
        writer = every.map(|every| drill::writers::start(endpoint_url.clone(), dir.to_path_buf(), every));
        Ok(())
    })
    .await;
    let Some(dir) = run_dir else { return code };
    if let Some(w) = writer
        && let Err(e) = drill::writers::finish(w, &moto_url, &dir).await
    {
        eprintln!("drill: cannot tell what the writer's writes became: {e}");
    }
    let log = crate::sandbox::server::sandbox_dir(state_dir).join("realism.log");
    if let Err(e) = drill::keep_faults_met(&dir, &log, &record.started_at) {
        eprintln!("drill: cannot keep the faults met with the drill: {e}");
    }
    match drill::debrief::load(state_dir, &run_id_of(&dir)) {
        Ok(d) => {
            let text = drill::debrief_md::render(&d);
            if let Err(e) = crate::durable::write(&dir.join("debrief.md"), &text) {
                eprintln!("drill: cannot keep the debrief: {e}");
            }
            // After the console's run, the debrief is a console screen too; in line mode, text.
            let on_screen = !mode.headless && crate::console::terminal::unusable().is_none();
            if !on_screen || crate::console::debrief_view::show(d).await.is_err() {
                println!("\n{text}");
            }
        }
        Err(e) => eprintln!("drill: no debrief: {e}"),
    }
    code
}

fn run_id_of(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Abandons the unfinished runs of the scenario's runbook against the sandbox: the world they
/// acted on was just reset (journaled with the reason).
fn abandon_earlier(state_dir: &Path, loaded: &scenario::LoadedScenario) -> Result<(), u8> {
    let Ok(runbook) = crate::runbook::load_file(&loaded.runbook_path, &crate::actions::REGISTRY) else {
        return Ok(());
    };
    let store = RunStore::new(state_dir);
    let (runs, _) = store.list();
    for run in runs.iter().filter(|r| r.runbook == runbook.runbook.name && !r.dry_run) {
        if matches!(run.status, RunStatus::Succeeded | RunStatus::Abandoned | RunStatus::Undone) {
            continue;
        }
        let dir = store.dir(&run.id);
        let sandboxed = crate::journal::read_entries(&dir.join(crate::engine::store::JOURNAL_FILE))
            .ok()
            .and_then(|(entries, _)| entries.into_iter().next())
            .is_some_and(|e| matches!(e.event, Event::RunStarted { sandbox: true, .. }));
        if !sandboxed {
            continue;
        }
        let reason = format!("the sandbox was reset for drill {}", loaded.scenario.name);
        match crate::engine::conflict::abandon(&store, &run.id, &reason, None) {
            Ok(_) => println!("drill: abandoned unfinished run {} ({reason})", run.id),
            Err(e) => {
                eprintln!("drill: cannot abandon unfinished run {}: {e}", run.id);
                return Err(FAILED);
            }
        }
    }
    Ok(())
}

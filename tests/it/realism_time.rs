//! The realism layer's clock ([`super::realism::timing`]): AWS's operations take the model's time
//! at the proxy's pace, and every describe meanwhile shows AWS's in-between states.

use super::realism::{Model, Pace, RealismProxy};
use super::support::{journal, only_run, pilotlight, run, seeded_moto, state_dir};
use pilotlight::engine::run_view::parse_ts;
use pilotlight::journal::{Entry, Event, SubPhase};
use std::collections::BTreeMap;
use std::time::Duration;

/// Every sub-step's wall time (step/name), from its journaled `started` to its `done`.
pub fn sub_step_times(entries: &[Entry]) -> BTreeMap<String, Duration> {
    let mut started = BTreeMap::new();
    let mut took = BTreeMap::new();
    for e in entries {
        let Event::SubStep { step, name, phase, .. } = &e.event else { continue };
        let key = format!("{step}/{name}");
        let at = parse_ts(&e.ts).expect("journal timestamps parse");
        match phase {
            SubPhase::Started => {
                started.insert(key, at);
            }
            SubPhase::Done => {
                if let Some(from) = started.get(&key) {
                    took.insert(key, at.duration_since(*from).unwrap_or_default());
                }
            }
            _ => {}
        }
    }
    took
}

/// The bundled failback through the layer at 600× (its modelled two hours in seconds): every wait
/// sees AWS's in-between states, with progress where AWS gives it, and the tool goes on only when
/// the modelled work is done (the rules refuse what AWS refuses meanwhile: a volume from a
/// pending snapshot, a restore from a snapshot still being copied, a start while stopping).
/// Without the clock, moto answers `completed` and `available` at once and none of these states
/// is ever seen.
#[test]
fn the_bundled_failback_at_a_pace_waits_through_every_in_between_state() {
    let (moto, _) = seeded_moto();
    let pace = 600.0;
    let proxy = RealismProxy::timed(moto.port, Pace::Factor(pace), Vec::new());
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args([
        "run",
        "runbooks/failback.yaml",
        "--headless",
        "--auto-approve",
        "--endpoint-url",
        &proxy.endpoint_url(),
    ]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "the failback goes through every modelled wait");
    let (_, dir) = only_run(state.path());
    let entries = journal(&dir);
    let waits: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::SubStep { phase: SubPhase::Waiting, data, name, step, .. } => Some(format!("{step}/{name}: {data}")),
            _ => None,
        })
        .collect();
    let seen = |sub: &str, state: &str| waits.iter().any(|w| w.contains(sub) && w.contains(state));
    for (sub, state) in [
        ("wait-stack", "CREATE_IN_PROGRESS"),
        ("app_server/wait-recovery-snapshots", " pending "),
        ("app_server/wait-primary-copies", " pending "),
        ("app_server/wait-primary-stopped", "stopping"),
        ("app_server/wait-primary-running", "pending"),
        ("orders_db/wait-recovery-snapshot", "creating"),
        ("orders_db/wait-primary-copy", "copying"),
        ("orders_db/wait-primary-kept", "renaming"),
        ("orders_db/wait-restored", "creating"),
        ("inventory_cluster/wait-primary-copy", "copying"),
        ("inventory_cluster/wait-restored", "creating"),
        ("inventory_cluster/wait-instances-available", "creating"),
        ("inventory_cluster/wait-cluster-kept", "renaming"),
        ("sessions_table/wait-export", "IN_PROGRESS"),
        ("sessions_table/wait-backup", "CREATING"),
        ("sessions_table/wait-import", "IN_PROGRESS"),
        ("wait-insync", "PENDING"),
    ] {
        assert!(seen(sub, state), "{sub} saw {state}:\n{}", waits.join("\n"));
    }
    // Progress moves: a snapshot's percentage is seen rising.
    let progress: Vec<u32> = waits
        .iter()
        .filter(|w| w.contains("app_server/wait-recovery-snapshots"))
        .filter_map(|w| w.split(" pending ").nth(1)?.split('%').next()?.parse().ok())
        .collect();
    assert!(progress.len() >= 2 && progress.windows(2).any(|p| p[1] > p[0]), "{progress:?}");

    // No chain finishes before AWS would have (a lower bound only: the machine may be slow).
    // The RDS failback snapshots recovery, copies it home and restores it, one after another.
    let model = Model::bundled();
    let gib = 20.0;
    let chain = ["rds.CreateDBSnapshot", "rds.CopyDBSnapshot", "rds.RestoreDBInstanceFromDBSnapshot"]
        .iter()
        .map(|op| model.duration(op, gib))
        .sum::<Duration>()
        .div_f64(pace);
    let took = sub_step_times(&entries);
    let rds: Duration = ["wait-recovery-snapshot", "wait-primary-copy", "wait-restored"]
        .iter()
        .map(|s| took[&format!("failback-rds/orders_db/{s}")])
        .sum();
    assert!(rds >= chain.mul_f64(0.95), "the RDS waits took {rds:?}, the model {chain:?}");
}

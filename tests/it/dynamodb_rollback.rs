//! The way back of `dynamodb.failback`: a failure at or after its point of no return (deletion
//! protection off, the delete, the import) puts primary's table back as it was: its items,
//! keys, indexes, billing, stream, TTL, point-in-time recovery, deletion protection and tags,
//! checked with describe calls and a scan of moto itself; a resume then fails back.

use super::dynamodb_failback::{backups, failback, fresh_world, table};
use super::realism::{Fault, FaultRule, RealismProxy};
use super::support::{journal, only_run, pilotlight, resumed_after_kill, run, state_dir};
use pilotlight::journal::{CRASH_AFTER_ENV, Event};
use pilotlight::sandbox::seed::PRIMARY_REGION;

/// DynamoDB refuses the import (a refusal moto never gives).
pub(super) const NO_IMPORT: Fault = Fault::Refuse {
    code: "LimitExceededException",
    message: "There is a limit of 50 concurrent import requests per account.",
};

/// DynamoDB refuses the delete (as when a table is in use by a backup being made).
const NO_DELETE: Fault = Fault::Refuse {
    code: "ResourceInUseException",
    message: "Attempt to change a resource which is still in use: Table is being backed up",
};

pub(super) fn refused(needle: &'static str, fault: Fault) -> FaultRule {
    FaultRule { needle, times: usize::MAX, fault }
}

/// Each destructive call refused in turn: the step fails saying primary was put back, and the
/// table is as it was (configuration and every item); with the fault gone, a resume fails back.
#[test]
fn a_failure_at_each_destructive_call_puts_primarys_table_back_and_a_resume_fails_back() {
    for (needle, fault, restored) in
        [("DynamoDB_20120810.ImportTable", NO_IMPORT, true), ("DynamoDB_20120810.DeleteTable", NO_DELETE, false)]
    {
        let (moto, url) = fresh_world();
        let before = table(&url, PRIMARY_REGION).expect("primary table");
        assert!(before.config.deletion_protection, "the seeded table is protected (the delete turns it off first)");
        let proxy = RealismProxy::with_aws_rules(moto.port, vec![refused(needle, fault)]);
        let state = state_dir();
        let out = failback(state.path(), &proxy.endpoint_url(), &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_ne!(out.status.code(), Some(0), "{needle}: {stdout}");
        assert!(stdout.contains("primary's table was put back as it was"), "{needle}: {stdout}");
        let after = table(&url, PRIMARY_REGION).expect("primary's table is there again");
        assert_eq!(after.config, before.config, "{needle}: configuration as before");
        assert_eq!(after.items, before.items, "{needle}: every item as before");
        let (_, dir) = only_run(state.path());
        let restores = journal(&dir)
            .iter()
            .filter(|e| matches!(&e.event, Event::AwsCall { operation, .. } if operation == "RestoreTableFromBackup"))
            .count();
        assert_eq!(restores > 0, restored, "{needle}: restored from the safety backup only when it was deleted");

        let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
        let (id, _) = only_run(state.path());
        let mut cmd = pilotlight(state.path());
        cmd.args(["resume", &id, "--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
        let out = run(cmd);
        assert_eq!(out.status.code(), Some(0), "{needle}: {}", String::from_utf8_lossy(&out.stdout));
        let failed_back = table(&url, PRIMARY_REGION).unwrap();
        assert_eq!(failed_back.config, before.config, "{needle}: the failback keeps the configuration");
        assert_ne!(failed_back.items, before.items, "{needle}: primary holds recovery's items now");
        assert_eq!(backups(&url).len(), 1, "{needle}: one safety backup, used again: {:?}", backups(&url));
    }
}

/// Killed after each journal entry of the way back in turn (the import refused throughout), then
/// resumed: every time primary's table ends as it was.
#[test]
fn a_kill_during_the_dynamodb_rollback_resumes_to_primarys_table_as_it_was() {
    let start = |state: &std::path::Path, proxy: &RealismProxy, kill: Option<u64>| {
        let mut cmd = pilotlight(state);
        cmd.args(["run", "tests/fixtures/dynamodb-failback.yaml", "--headless", "--auto-approve"])
            .args(["--endpoint-url", &proxy.endpoint_url()]);
        if let Some(n) = kill {
            cmd.env(CRASH_AFTER_ENV, n.to_string());
        }
        run(cmd)
    };
    // Where the rollback's entries are, from an uninterrupted run.
    let (moto, url) = fresh_world();
    let before = table(&url, PRIMARY_REGION).unwrap();
    let proxy = RealismProxy::with_aws_rules(moto.port, vec![refused("DynamoDB_20120810.ImportTable", NO_IMPORT)]);
    let state = state_dir();
    assert_ne!(start(state.path(), &proxy, None).status.code(), Some(0));
    let (_, dir) = only_run(state.path());
    let entries = journal(&dir);
    let first = entries
        .iter()
        .position(|e| matches!(&e.event, Event::SubStep { name, .. } if name.part == "rollback-clear"))
        .expect("the rollback ran");
    let last = entries
        .iter()
        .rposition(|e| matches!(&e.event, Event::SubStep { name, .. } if name.part == "rollback-reapply"))
        .unwrap();
    drop((moto, proxy));
    // One kill point in three across the rollback keeps the test short; each sub-step is hit.
    for at in (first..=last).step_by(3) {
        let (moto, url) = fresh_world();
        let proxy = RealismProxy::with_aws_rules(moto.port, vec![refused("DynamoDB_20120810.ImportTable", NO_IMPORT)]);
        let state = state_dir();
        let killed = start(state.path(), &proxy, Some(entries[at].seq));
        let out = resumed_after_kill(killed, state.path(), entries[at].seq, &proxy.endpoint_url());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_ne!(out.status.code(), Some(0), "the import is still refused: {stdout}");
        let after = table(&url, PRIMARY_REGION).expect("primary's table is there again");
        assert_eq!(after.config, before.config, "killed after entry {}: {stdout}", entries[at].seq);
        assert_eq!(after.items, before.items, "killed after entry {}", entries[at].seq);
    }
}

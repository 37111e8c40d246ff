//! Team mode's texts too large for a DynamoDB item (400 KB): a run's runbook and a journal entry
//! (its inputs) go to the team store's bucket under their SHA-256, the items name them, and a
//! takeover on another machine reads them back whole. Without a bucket such a run stops before
//! anything is written, saying how to make one. Checked with the SDK against moto's table and
//! bucket, not through the tool.

use super::support::{block_on, journal, moto, only_run, pilotlight, printed, sdk, state_dir, wait_for_journal};
use super::team::{TABLE, at_a_gate, machine, table_entries, team_world, wait_until_the_lease_expires};
use pilotlight::journal::{Event, RunStatus};
use std::path::{Path, PathBuf};

/// The bucket the team store's `init` made (an entry or runbook over an item's size goes there).
pub(super) const BUCKET: &str = "pl-team-blobs";

/// An object of the team store's bucket, read with the SDK (path-style, as moto serves it).
pub(super) fn blob(url: &str, key: &str) -> String {
    let config = aws_sdk_s3::config::Builder::from(&sdk(url, "us-east-1")).force_path_style(true).build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    block_on(async {
        let out = s3.get_object().bucket(BUCKET).key(key).send().await.expect("GetObject");
        String::from_utf8(out.body.collect().await.expect("the object's body").into_bytes().to_vec()).unwrap()
    })
}

/// More than the largest text an item keeps (100 KiB), less than an item's 400 KB: the item
/// would take it, so only the tool's own limit sends it to the bucket.
const NOTES_BYTES: usize = 150 * 1024;

/// A runbook whose text and whose run's first entry (its inputs) are over 100 KiB: one command
/// behind a confirm gate.
fn big_runbook(dir: &Path) -> (PathBuf, String) {
    let notes = "n".repeat(NOTES_BYTES);
    let text = format!(
        "version: 1\nname: big-notes\ntitle: A runbook with long notes\nenvironments:\n  primary: {{ region: us-east-1 }}\n  \
         recovery: {{ region: us-west-2 }}\ninputs:\n  notes:\n    type: string\n    default: {notes}\nsteps:\n  - id: hello\n    \
         title: Say hello\n    gate: confirm\n    action: exec\n    with: {{ command: [\"sh\", \"-c\", \"echo hello\"] }}\n"
    );
    let path = dir.join("big-notes.yaml");
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

/// One of the run's items in the table.
#[derive(Debug, Clone)]
struct Item {
    sk: String,
    /// It holds its text (`entry`, `text`).
    inline: bool,
    /// The object it names: key and SHA-256.
    named: Option<(String, String)>,
}

/// The run's items in the table, read with the SDK.
fn items(url: &str, run: &str) -> Vec<Item> {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(url, "us-east-1"));
    let out = block_on(
        ddb.query()
            .table_name(TABLE)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", V::S(format!("run#{run}")))
            .send(),
    )
    .expect("Query");
    let s = |i: &std::collections::HashMap<String, V>, k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
    out.items()
        .iter()
        .map(|i| Item {
            sk: s(i, "sk").unwrap(),
            inline: i.contains_key("entry") || i.contains_key("text"),
            named: s(i, "blob").zip(s(i, "sha256")),
        })
        .collect()
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Catches a team run whose large runbook or entry is refused by DynamoDB, kept in the bucket
/// under a name that is not its content's, or read back by a takeover otherwise than whole.
#[test]
fn texts_too_large_for_an_item_go_to_the_bucket_and_a_takeover_reads_them_back_whole() {
    let (_server, url) = team_world();
    let files = state_dir();
    let (runbook, text) = big_runbook(files.path());
    let (a, b) = (state_dir(), state_dir());
    let runbook = runbook.to_string_lossy().into_owned();
    let mut driver = machine(a.path(), "ana@laptop", &url, &["run", &runbook, "--endpoint-url", &url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start A");
    wait_for_journal(a.path(), "a gate", at_a_gate);
    let (id, a_dir) = only_run(a.path());
    super::team::wait_until_the_table_has(&url, &id, &a_dir);
    driver.kill().expect("SIGKILL A");
    driver.wait().expect("reap A");

    // The runbook's and the first entry's items name objects whose content is theirs.
    let found = items(&url, &id);
    let named: Vec<&Item> = found.iter().filter(|i| i.named.is_some()).collect();
    let sks: Vec<&str> = named.iter().map(|i| i.sk.as_str()).collect();
    assert_eq!(sks, ["e#000000000001", "runbook"], "{found:?}");
    for Item { sk, inline, named } in named.iter().copied() {
        let (key, sha) = named.clone().unwrap();
        assert!(!inline, "{sk} holds its text too");
        assert!(key.starts_with(&format!("runs/{id}/")) && key.ends_with(&sha), "{sk}: {key}");
        let stored = blob(&url, &key);
        assert_eq!(sha256(&stored), sha, "{sk}: the object is the text its item names");
        assert!(stored.len() > NOTES_BYTES, "{sk}: {} bytes", stored.len());
    }
    assert_eq!(blob(&url, &named[1].named.clone().unwrap().0), text, "the runbook, byte for byte");
    assert!(found.iter().filter(|i| i.named.is_none()).all(|i| i.inline || i.sk == "lease"), "{found:?}");

    // B takes the run over from the table and the bucket, and finishes it.
    wait_until_the_lease_expires(&url, &id);
    let out = machine(b.path(), "ben@desk", &url, &["resume", &id, "--auto-approve"]).output().expect("resume on B");
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let b_dir = b.path().join("runs").join(&id);
    let entries = journal(&b_dir);
    assert!(matches!(entries.last().map(|e| &e.event), Some(Event::RunFinished { status: RunStatus::Succeeded })));
    match &entries[0].event {
        Event::RunStarted { inputs, .. } => assert_eq!(inputs["notes"], serde_json::json!("n".repeat(NOTES_BYTES))),
        other => panic!("the first entry is {other:?}"),
    }
    assert_eq!(entries[..journal(&a_dir).len()], journal(&a_dir)[..], "B's journal begins with A's");
    assert_eq!(table_entries(&url, &id), entries, "B's journal is the table's");
    assert_eq!(std::fs::read_to_string(b_dir.join(pilotlight::journal::RUNBOOK_FILE)).unwrap(), text);
}

/// The big runbook run headless with team table `pl-team-plain`, on a machine of its own.
fn run_on_the_plain_store(runbook: &Path, url: &str) -> std::process::Output {
    let state = state_dir();
    pilotlight(state.path())
        .arg("run")
        .arg(runbook)
        .args(["--headless", "--auto-approve", "--endpoint-url", url])
        .args(["--team", "pl-team-plain", "--team-endpoint-url", url, "--team-region", "us-east-1"])
        .output()
        .expect("run")
}

/// Catches a store without a bucket that lets a text too large for an item through half-written,
/// stops the run without saying what to do, or cannot be given a bucket later.
#[test]
fn without_a_bucket_a_large_text_stops_the_run_saying_how_until_the_store_gains_one() {
    let server = moto();
    let url = server.endpoint_url();
    let init = pilotlight(state_dir().path())
        .args(["team", "init", "--table", "pl-team-plain", "--region", "us-east-1", "--endpoint-url", &url])
        .output()
        .expect("team init");
    let said = String::from_utf8_lossy(&init.stdout).into_owned();
    assert_eq!(init.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&init.stderr));
    assert!(said.contains("no bucket: a journal entry or runbook over 100 KiB stops a team run"), "{said}");
    let files = state_dir();
    let (runbook, _) = big_runbook(files.path());
    let out = run_on_the_plain_store(&runbook, &url);
    let said = printed(&out);
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("this team store has no bucket for it")
            && said.contains("pilotlight team init --table pl-team-plain --bucket NAME"),
        "{said}"
    );

    // Given a bucket after all, the same store gains one (its table kept), and the run goes.
    let init = pilotlight(state_dir().path())
        .args(["team", "init", "--table", "pl-team-plain", "--bucket", "pl-team-plain-blobs"])
        .args(["--region", "us-east-1", "--endpoint-url", &url])
        .output()
        .expect("team init --bucket");
    let said = String::from_utf8_lossy(&init.stdout).into_owned();
    assert_eq!(init.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&init.stderr));
    assert!(said.contains("already there, bucket added") && said.contains("bucket pl-team-plain-blobs"), "{said}");
    let out = run_on_the_plain_store(&runbook, &url);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

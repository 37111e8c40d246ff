//! The scenario's writers: the application still taking writes in recovery while the drill runs.
//! A writer puts an item into recovery's `sessions` table every few modelled seconds, from the
//! drill's start until the DNS flip (when the application would write to primary), through the
//! sandbox's endpoint (the realism layer, which applies the table's resource-based policy as AWS
//! does: a fence refuses the writes), and logs each write beside the run's journal: accepted ones
//! in [`WRITES_FILE`], refused ones in [`REFUSED_FILE`]. At the end the drill reads primary's table
//! (straight from moto) for each accepted write: what is there came home; what is not was lost
//! (written after the table's recovery point). The debrief shows the data-loss window as these
//! writes saw it.

use crate::sandbox::seed::{DYNAMODB_TABLE, PRIMARY_REGION, RECOVERY_REGION};
use aws_sdk_dynamodb::types::AttributeValue;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Every write, one JSON line each.
pub const WRITES_FILE: &str = "writes.jsonl";
/// Every write recovery refused (the fence), one JSON line each.
pub const REFUSED_FILE: &str = "writes-refused.jsonl";
/// What came home, written at the drill's end.
pub const WRITERS_FILE: &str = "writers.json";

/// A scenario's writer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriterSpec {
    /// Modelled seconds between two writes to recovery's `sessions` table [default: 60]
    #[serde(default = "sixty")]
    pub every_s: f64,
}

fn sixty() -> f64 {
    60.0
}

/// One write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Written {
    pub pk: String,
    pub at: String,
}

/// What the writer wrote and what of it came home.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WritersRecord {
    pub table: String,
    pub written: usize,
    pub first_at: Option<String>,
    pub last_at: Option<String>,
    /// Writes found in primary's table after the drill.
    pub home: usize,
    /// Writes not in primary's table: lost.
    pub lost: Vec<Written>,
    /// Writes recovery refused (the application was told: not lost).
    #[serde(default)]
    pub refused: usize,
    #[serde(default)]
    pub first_refused_at: Option<String>,
}

/// A running writer.
pub struct Writer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// A DynamoDB client on moto, as the seed makes them (its dummy credentials, never real AWS).
async fn client(moto_url: &str, region: &'static str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&crate::sandbox::seed::sdk_config(moto_url, region).await)
}

/// Whether the run's journal says the DNS flip succeeded (the application writes to primary
/// now), reading only what was appended since `read` bytes.
fn flipped(run_dir: &Path, read: &mut u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(run_dir.join(crate::engine::store::JOURNAL_FILE)) else { return false };
    let mut new = String::new();
    if file.seek(SeekFrom::Start(*read)).and_then(|_| file.read_to_string(&mut new)).is_err() {
        return false;
    }
    // Only whole lines count; a line still being written is read again next time.
    let whole = new.rfind('\n').map_or(0, |i| i + 1);
    *read += whole as u64;
    new[..whole].lines().any(|l| l.contains("\"step\":\"flip-dns\"") && l.contains("\"status\":\"succeeded\""))
}

/// Starts writing to recovery's table through the sandbox's `endpoint_url` every `every` (wall
/// time), logging to the run's directory, until the DNS flip or [`finish`] (a fence makes
/// recovery refuse them meanwhile: logged as refused).
pub fn start(endpoint_url: String, run_dir: PathBuf, every: Duration) -> Writer {
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let task = tokio::spawn(async move {
        let ddb = client(&endpoint_url, RECOVERY_REGION).await;
        let open = |file: &str| std::fs::OpenOptions::new().create(true).append(true).open(run_dir.join(file));
        let (Ok(mut log), Ok(mut refused)) = (open(WRITES_FILE), open(REFUSED_FILE)) else {
            return;
        };
        let (mut n, mut read) = (0u64, 0u64);
        while !stopping.load(Ordering::SeqCst) && !flipped(&run_dir, &mut read) {
            n += 1;
            let write = Written { pk: format!("drill-write-{n:06}"), at: crate::journal::now_rfc3339() };
            let put = ddb
                .put_item()
                .table_name(DYNAMODB_TABLE)
                .item("pk", AttributeValue::S(write.pk.clone()))
                .item("written_at", AttributeValue::S(write.at.clone()))
                .send()
                .await;
            // A write recovery refused is not a write: the application was told so.
            let file = if put.is_ok() { &mut log } else { &mut refused };
            if let Ok(line) = serde_json::to_string(&write) {
                let _ = writeln!(file, "{line}");
            }
            tokio::time::sleep(every).await;
        }
    });
    Writer { stop, task }
}

/// The writes recovery accepted, as logged for a run.
pub fn writes(run_dir: &Path) -> Vec<Written> {
    logged(&run_dir.join(WRITES_FILE))
}

/// The writes recovery refused, as logged for a run.
pub fn refusals(run_dir: &Path) -> Vec<Written> {
    logged(&run_dir.join(REFUSED_FILE))
}

fn logged(path: &Path) -> Vec<Written> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default()
}

/// Stops the writer, reads primary's table for every write, and keeps what came home.
pub async fn finish(writer: Writer, moto_url: &str, run_dir: &Path) -> std::io::Result<WritersRecord> {
    writer.stop.store(true, Ordering::SeqCst);
    let _ = writer.task.await;
    let (written, refused) = (writes(run_dir), refusals(run_dir));
    let ddb = client(moto_url, PRIMARY_REGION).await;
    let mut lost = Vec::new();
    for w in &written {
        let got = ddb
            .get_item()
            .table_name(DYNAMODB_TABLE)
            .key("pk", AttributeValue::S(w.pk.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| std::io::Error::other(format!("dynamodb GetItem {} ({PRIMARY_REGION}): {e}", w.pk)))?;
        if got.item().is_none() {
            lost.push(w.clone());
        }
    }
    let record = WritersRecord {
        table: DYNAMODB_TABLE.into(),
        written: written.len(),
        first_at: written.first().map(|w| w.at.clone()),
        last_at: written.last().map(|w| w.at.clone()),
        home: written.len() - lost.len(),
        lost,
        refused: refused.len(),
        first_refused_at: refused.first().map(|w| w.at.clone()),
    };
    let json = serde_json::to_string_pretty(&record).map_err(std::io::Error::other)?;
    crate::durable::write(&run_dir.join(WRITERS_FILE), &json)?;
    Ok(record)
}

/// What a drill's writer left on record, if it had one.
pub fn record(run_dir: &Path) -> Option<WritersRecord> {
    serde_json::from_slice(&std::fs::read(run_dir.join(WRITERS_FILE)).ok()?).ok()
}

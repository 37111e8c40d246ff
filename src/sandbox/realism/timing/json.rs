//! DynamoDB's in-between states (its JSON protocol): an export or import `IN_PROGRESS`, a table
//! being imported or restored `CREATING`, a table being deleted `DELETING` (moto forgets it at
//! once), a backup `CREATING`; and AWS's refusals meanwhile.

use super::{At, Call, Clock, What, begin, begin_with, busy};
use serde_json::Value;
use std::sync::Mutex;
use std::time::Duration;

pub(super) fn note(call: &Call<'_>, answered: &str, at: At<'_>, clock: &Clock) {
    let Ok(answer) = serde_json::from_str::<Value>(answered) else { return };
    let request: Value = serde_json::from_str(call.body).unwrap_or(Value::Null);
    let op = format!("dynamodb.{}", call.operation);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    // A world that gives tables a size times their work at it, whatever moto reports.
    let gib = |bytes: &Value| clock.sizes.table_gib.unwrap_or(bytes.as_f64().unwrap_or(0.0) / (1u64 << 30) as f64);
    match call.operation {
        "ExportTableToPointInTime" => {
            let export = &answer["ExportDescription"];
            begin(
                clock,
                at,
                What::Export,
                &text(&export["ExportArn"]),
                "IN_PROGRESS",
                &op,
                gib(&export["BilledSizeBytes"]),
            );
        }
        "ImportTable" => {
            let import = &answer["ImportTableDescription"];
            let table = text(&request["TableCreationParameters"]["TableName"]);
            let size = gib(&import["ProcessedSizeBytes"]);
            begin(clock, at, What::Import, &text(&import["ImportArn"]), "IN_PROGRESS", &op, size);
            begin(clock, at, What::Table, &table, "CREATING", &op, size);
        }
        "CreateBackup" => {
            let backup = &answer["BackupDetails"];
            begin(
                clock,
                at,
                What::Backup,
                &text(&backup["BackupArn"]),
                "CREATING",
                &op,
                gib(&backup["BackupSizeBytes"]),
            );
        }
        "DeleteTable" => {
            let table = &answer["TableDescription"];
            let name = text(&table["TableName"]);
            let mut gone = table.clone();
            gone["TableStatus"] = Value::String("DELETING".into());
            let size = gib(&table["TableSizeBytes"]);
            begin_with(clock, at, (What::Table, &name, "DELETING"), &op, size, Some(gone.to_string()));
        }
        "RestoreTableFromBackup" => {
            let table = &answer["TableDescription"];
            begin(clock, at, What::Table, &text(&table["TableName"]), "CREATING", &op, gib(&table["TableSizeBytes"]));
        }
        _ => {}
    }
}

/// Every object naming work under way (by its ARN or table name) reports the in-between state.
pub(super) fn show(call: &Call<'_>, answered: &str, at: At<'_>) -> String {
    if !(call.operation.starts_with("Describe") || call.operation.starts_with("List")) {
        return answered.to_string();
    }
    let Ok(mut answer) = serde_json::from_str::<Value>(answered) else { return answered.to_string() };
    let mut changed = false;
    walk(&mut answer, &mut |object| {
        for (key, what, status) in [
            ("ExportArn", What::Export, "ExportStatus"),
            ("ImportArn", What::Import, "ImportStatus"),
            ("BackupArn", What::Backup, "BackupStatus"),
            ("TableName", What::Table, "TableStatus"),
        ] {
            let Some(id) = object.get(key).and_then(Value::as_str) else { continue };
            if let (Some(work), Some(_)) = (busy(at, what, id), object.get(status)) {
                object.insert(status.to_string(), Value::String(work.state.to_string()));
                changed = true;
            }
        }
    });
    if changed { answer.to_string() } else { answered.to_string() }
}

fn walk(value: &mut Value, f: &mut dyn FnMut(&mut serde_json::Map<String, Value>)) {
    match value {
        Value::Object(object) => {
            f(object);
            for v in object.values_mut() {
                walk(v, f);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, f)),
        _ => {}
    }
}

/// A describe of a table moto removed at its delete, while AWS would still be deleting it: AWS's
/// answer, the table `DELETING` (moto says ResourceNotFoundException).
pub(super) fn still_deleting(call: &Call<'_>, answer: &str, at: At<'_>) -> Option<Vec<u8>> {
    if call.operation != "DescribeTable" || !answer.contains("ResourceNotFoundException") {
        return None;
    }
    let request: Value = serde_json::from_str(call.body).ok()?;
    let gone = busy(at, What::Table, request["TableName"].as_str()?)?.gone?;
    let body = format!("{{\"Table\":{gone}}}");
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0";
    Some(format!("{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes())
}

/// A table still being created or deleted takes no changes, and no table of its name can be
/// made meanwhile (ResourceInUseException), as on AWS.
pub(super) fn refuse(call: &Call<'_>, at: At<'_>) -> Option<Vec<u8>> {
    let request: Value = serde_json::from_str(call.body).ok()?;
    let into = match call.operation {
        "CreateTable" => request["TableName"].as_str(),
        "ImportTable" => request["TableCreationParameters"]["TableName"].as_str(),
        "RestoreTableFromBackup" | "RestoreTableToPointInTime" => request["TargetTableName"].as_str(),
        _ => None,
    };
    if let Some(table) = into {
        let work = busy(at, What::Table, table).filter(|w| w.state == "DELETING")?;
        return Some(super::refusal(
            "dynamodb",
            "ResourceInUseException",
            &format!("Table already exists: {table} (it is {}).", work.state),
        ));
    }
    if !matches!(call.operation, "UpdateTable" | "UpdateTimeToLive" | "UpdateContinuousBackups" | "DeleteTable") {
        return None;
    }
    let table = request["TableName"].as_str()?;
    let work = busy(at, What::Table, table)?;
    Some(super::refusal(
        "dynamodb",
        "ResourceInUseException",
        &format!("Table {table} is {}: it cannot be changed yet.", work.state),
    ))
}

/// A DescribeTable answer with the table's modelled size ([`super::DataSizes`]) as its
/// `TableSizeBytes`.
pub(super) fn sized(answered: &str, gib: f64) -> String {
    let Ok(mut answer) = serde_json::from_str::<Value>(answered) else { return answered.to_string() };
    let Some(table) = answer.get_mut("Table").and_then(Value::as_object_mut) else { return answered.to_string() };
    table.insert("TableSizeBytes".into(), Value::from((gib * (1u64 << 30) as f64) as u64));
    answer.to_string()
}

/// Items moto held in a table when the layer first timed a call on it, per (moto port, region,
/// table): the count each item's share of a sized table is taken from, so later writes (a
/// primary table filling up) do not change what an item stands for.
static ITEMS: Mutex<Vec<(u16, String, String, u64)>> = Mutex::new(Vec::new());

pub(super) fn forget(upstream: u16) {
    ITEMS.lock().unwrap_or_else(|p| p.into_inner()).retain(|e| e.0 != upstream);
}

/// The longest one answer waits (wall time), below the SDK's attempt timeout: at a slow pace a
/// page of a large table would otherwise take minutes, and the client give up on it.
const LONGEST_WAIT: Duration = Duration::from_secs(20);

/// The time a Scan or a BatchWriteItem takes in a world whose tables have a modelled size: each
/// item read (Scan's `ScannedCount`) or written stands for its share of the table (its modelled
/// size over the items moto held when first asked), at a partition's rate
/// ([`super::super::model`]: `dynamodb.Scan`, `dynamodb.BatchWriteItem`). The answer waits that
/// long (at the pace, at most [`LONGEST_WAIT`]) before it goes back: the call is synchronous on
/// AWS too. What it modelled is kept under `<operation> <table>` ([`super::modelled`]).
pub(super) fn item_time(call: &Call<'_>, answer: &str, (head, at): (&str, At<'_>), clock: &Clock) {
    let Some(table_gib) = clock.sizes.table_gib else { return };
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let request: Value = serde_json::from_str(call.body).unwrap_or(Value::Null);
    let touched: Vec<(String, u64)> = match call.operation {
        "Scan" => {
            let answered: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            let table = request["TableName"].as_str().map(str::to_string);
            table.into_iter().map(|t| (t, answered["ScannedCount"].as_u64().unwrap_or(0))).collect()
        }
        "BatchWriteItem" => request["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(t, r)| (t.clone(), r.as_array().map_or(0, Vec::len) as u64))
            .collect(),
        _ => return,
    };
    let mut gib = 0.0;
    for (table, items) in touched.into_iter().filter(|(_, n)| *n > 0) {
        let Some(count) = items_of(head, at, &table) else { continue };
        gib += table_gib * items as f64 / count as f64;
    }
    if gib <= 0.0 {
        return;
    }
    let modelled = clock.model.duration(&format!("dynamodb.{}", call.operation), gib);
    let table = request["TableName"]
        .as_str()
        .map(str::to_string)
        .or_else(|| request["RequestItems"].as_object().and_then(|m| m.keys().next().cloned()));
    super::record(at, &format!("{} {}", call.operation, table.unwrap_or_default()), modelled);
    std::thread::sleep(clock.pace.wall(modelled).min(LONGEST_WAIT));
}

/// [`ITEMS`] for `table`: asked of moto itself the first time (not through the layer).
fn items_of(head: &str, at: At<'_>, table: &str) -> Option<u64> {
    let key = |e: &(u16, String, String, u64)| e.0 == at.upstream && e.1 == at.region && e.2 == table;
    if let Some(e) = ITEMS.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|e| key(e)) {
        return Some(e.3);
    }
    let protocol = "Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.DescribeTable";
    let describe = format!("{{\"TableName\":{}}}", Value::from(table));
    let described = super::super::wire::ask_upstream_as(at.upstream, head, protocol, &describe)?;
    let count = serde_json::from_str::<Value>(&described).ok()?["Table"]["ItemCount"].as_u64().filter(|c| *c > 0)?;
    ITEMS.lock().unwrap_or_else(|p| p.into_inner()).push((
        at.upstream,
        at.region.to_string(),
        table.to_string(),
        count,
    ));
    Some(count)
}

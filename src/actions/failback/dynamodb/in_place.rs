//! `dynamodb.failback` with `method: in-place`: the difference between the recovery table and
//! the primary table is written into the primary table where it stands, after its safety backup,
//! instead of deleting it and importing an export. The table keeps its ARN, its stream (and the
//! stream's consumers), its indexes, settings, tags and alarms; nothing is re-applied.
//!
//! The trade-off (README, "Faster paths"): both tables are read in full (strongly consistent
//! scans: read units on both sides, a time that grows with the table and its read throughput),
//! and the writes are the difference only. Sub-steps after `read`: `safety-backup`,
//! `wait-backup`, `sync` (scan primary for keys and digests, then recovery page by page: an item
//! missing or different in primary is put, a primary item recovery lacks is deleted; refused
//! unless the safety backup is recorded AVAILABLE), `verify` (primary scanned again: its item
//! count and order-free fingerprint must be what `sync` read in recovery), `compare-config`
//! (the whole Describe: only the item count and size may differ).
//!
//! A kill or a lost answer in `sync` is safe to repeat: the next attempt compares again and
//! writes what still differs (a put of an item as it is, a delete of a key already gone, change
//! nothing). The recovery point is when the scan of recovery began: with the fence before it,
//! nothing recovery took is left behind.

use super::items::{self, Item};
use super::replace::Backup;
use super::whole_diff::Rules;
use super::{One, Plan};
use crate::actions::failback::Retained;
use crate::aws::ops::RESEND_TRIES;
use crate::aws::{ActionError, at, mutate, read};
use crate::journal::now_rfc3339;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;

/// BatchWriteItem's limit: "up to 25 item put or delete operations" per call (API reference).
const BATCH: usize = 25;

/// A table this large gets one more scan segment (AWS's advice for parallel scans: about a
/// segment per 2 GB), up to [`MAX_SEGMENTS`].
const BYTES_PER_SEGMENT: i64 = 2 << 30;
const MAX_SEGMENTS: i32 = 16;

/// What `sync` did, as it records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Synced {
    /// When the (strongly consistent) scan of recovery began: the table's recovery point.
    pub(super) recovery_point: String,
    pub(super) recovery_items: u64,
    /// Primary's items when this sync read it (a resumed sync reads a partly synced table).
    pub(super) primary_items_at_sync: u64,
    /// Items missing from primary, or different there: put.
    pub(super) put: u64,
    /// Primary items recovery does not hold: deleted (the safety backup keeps them).
    pub(super) deleted: u64,
    pub(super) unchanged: u64,
    pub(super) segments: i32,
    /// BatchWriteItem calls, and items DynamoDB left unprocessed and were sent again.
    pub(super) batches: u64,
    pub(super) resent: u64,
    /// Order-free fingerprint of recovery's items as read (wrapping sum of their digests, hex).
    pub(super) fingerprint: String,
}

/// What `verify` found in primary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Verified {
    pub(super) items: u64,
    pub(super) fingerprint: String,
}

/// Primary's side of the comparison: key digest to item digest (32 bytes an item: a 50 GiB
/// table of 1 KB items is about 50 M entries, a few GB; the keys themselves are read again,
/// key attributes only, for the few primary items recovery lacks).
type Known = HashMap<u128, u128>;

/// How the whole Describe of a table synced in place is judged against the one recorded before:
/// the same table, so only its data may have changed.
pub const IN_PLACE_RULES: Rules<'static> = Rules {
    must_differ: &[],
    reasons: &[
        ("item_count", "the data is recovery's"),
        ("table_size_bytes", "the data is recovery's"),
        ("global_secondary_indexes[].item_count", "the data is recovery's"),
        ("global_secondary_indexes[].index_size_bytes", "the data is recovery's"),
    ],
};

impl One<'_, '_> {
    /// The in-place failback of one table, after `read`.
    pub(super) async fn in_place(&self, plan: &Plan, segments: Option<i32>) -> Result<Value, ActionError> {
        let backup = self.safety_backup(plan).await?;
        let synced = self.sync(plan, &backup, segments).await?;
        let verified = self.verify(plan, &synced).await?;
        let remaining = self.compare(plan, &IN_PLACE_RULES).await?;
        Ok(self.in_place_outputs(plan, &backup, &synced, &verified, &remaining))
    }

    /// `sync`: writes the difference into primary. Refused unless the safety backup is recorded
    /// AVAILABLE: from here primary's items change.
    async fn sync(&self, p: &Plan, backup: &Backup, segments: Option<i32>) -> Result<Synced, ActionError> {
        let cx = self.cx;
        let (table, region) = (p.primary.name.as_str(), p.primary_region.as_str());
        let backed_up = cx.recorded(&self.sub_name("wait-backup")).is_some_and(|s| s.is_done());
        if !cx.dry_run && !backed_up {
            return Err(ActionError::Failed(format!(
                "refusing to write into primary table {table}: its safety backup is not recorded as available"
            )));
        }
        let detail = json!({ "table": table, "from": p.recovery_table, "safety_backup": backup.arn });
        cx.sub(&self.sub_name("sync"), detail, |_| async {
            let keys: Vec<String> = p.primary.key_schema.iter().map(|k| k.attribute.clone()).collect();
            // The size `read` recorded: DynamoDB refreshes it only every six hours anyway.
            let size = p.recovery_bytes.unwrap_or(0);
            let segments =
                segments.unwrap_or_else(|| (size / BYTES_PER_SEGMENT + 1).min(i64::from(MAX_SEGMENTS)) as i32);

            let known: Mutex<Known> = Mutex::new(HashMap::new());
            let scan_primary = Scan { client: self.primary, region, table, segments, keys_only: None };
            scan_primary
                .each_page(cx.log, |page| {
                    let mut known = known.lock().unwrap();
                    for item in page {
                        if let Some(key) = items::key_digest(&item, &keys) {
                            known.insert(key, items::digest(&item));
                        }
                    }
                    async { Ok(()) }
                })
                .await?;
            let primary_items_at_sync = known.lock().unwrap().len() as u64;
            let recovery_point = now_rfc3339();
            let tally = Mutex::new(Tally::default());
            let scan_recovery = Scan {
                client: self.recovery,
                region: &p.recovery_region,
                table: &p.recovery_table,
                segments,
                keys_only: None,
            };
            scan_recovery
                .each_page(cx.log, |page| {
                    let puts = {
                        let (mut known, mut tally) = (known.lock().unwrap(), tally.lock().unwrap());
                        let mut puts = Vec::new();
                        for item in page {
                            let Some(key) = items::key_digest(&item, &keys) else { continue };
                            let digest = items::digest(&item);
                            tally.recovery_items += 1;
                            tally.fingerprint = tally.fingerprint.wrapping_add(digest);
                            match known.remove(&key) {
                                Some(d) if d == digest => tally.unchanged += 1,
                                _ => puts.push(item),
                            }
                        }
                        puts
                    };
                    let tally = &tally;
                    async move {
                        let requests = puts.into_iter().map(put_request).collect::<Result<Vec<_>, _>>()?;
                        let written = self.write(table, region, requests).await?;
                        let mut t = tally.lock().unwrap();
                        t.put += written.requests;
                        t.batches += written.calls;
                        t.resent += written.resent;
                        Ok(())
                    }
                })
                .await?;
            // Primary's items recovery lacks: their keys read again (key attributes only).
            let stale = known.into_inner().unwrap();
            let stale_keys: Mutex<Vec<Item>> = Mutex::new(Vec::new());
            if !stale.is_empty() {
                let scan = Scan { client: self.primary, region, table, segments, keys_only: Some(&keys) };
                scan.each_page(cx.log, |page| {
                    let mut found = stale_keys.lock().unwrap();
                    for item in page {
                        if let Some(key) = items::key_of(&item, &keys)
                            && stale.contains_key(&items::digest(&key))
                        {
                            found.push(key);
                        }
                    }
                    async { Ok(()) }
                })
                .await?;
            }
            let requests =
                stale_keys.into_inner().unwrap().into_iter().map(delete_request).collect::<Result<Vec<_>, _>>()?;
            let deletes = self.write(table, region, requests).await?;
            let t = tally.into_inner().unwrap();
            let synced = Synced {
                recovery_point,
                recovery_items: t.recovery_items,
                primary_items_at_sync,
                put: t.put,
                deleted: deletes.requests,
                unchanged: t.unchanged,
                segments,
                batches: t.batches + deletes.calls,
                resent: t.resent + deletes.resent,
                fingerprint: format!("{:032x}", t.fingerprint),
            };
            let verb = if cx.dry_run { "dry run: would put" } else { "put" };
            cx.log.note(format!(
                "{verb} {} items into primary table {table} and delete {} ({} unchanged of recovery's {}; {} batches)",
                synced.put, synced.deleted, synced.unchanged, synced.recovery_items, synced.batches
            ))?;
            Ok(synced)
        })
        .await
    }

    /// Sends write requests in batches of [`BATCH`], each batch's unprocessed items sent again
    /// after a pause that doubles (AWS's advice), up to [`RESEND_TRIES`] times. A dry run sends
    /// nothing and counts what it would send.
    async fn write(&self, table: &str, region: &str, requests: Vec<WriteRequest>) -> Result<Written, ActionError> {
        let cx = self.cx;
        let count = requests.len() as u64;
        let (mut calls, mut resent) = (0u64, 0u64);
        if cx.dry_run {
            return Ok(Written { calls: count.div_ceil(BATCH as u64), requests: count, resent: 0 });
        }
        for chunk in requests.chunks(BATCH) {
            let mut pending = chunk.to_vec();
            let mut pause = cx.pauses.throttled_read;
            let mut tries = 0;
            while !pending.is_empty() {
                tries += 1;
                if tries > RESEND_TRIES {
                    return Err(ActionError::Failed(format!(
                        "BatchWriteItem into {table} ({region}) left {} items unprocessed after {RESEND_TRIES} tries; a retry of the step compares again and writes what still differs",
                        pending.len()
                    )));
                }
                let req = self.primary.batch_write_item().request_items(table, pending.clone());
                let out = mutate(cx.log, at(table, region), req).await??;
                calls += 1;
                pending = out.unprocessed_items().and_then(|m| m.get(table)).cloned().unwrap_or_default();
                if !pending.is_empty() {
                    resent += pending.len() as u64;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(cx.pauses.max_poll);
                }
            }
        }
        Ok(Written { calls, requests: count, resent })
    }

    /// `verify`: primary read again in full; its count and fingerprint must be what `sync` read
    /// in recovery. An independent read of what landed, not the sync's own tally.
    async fn verify(&self, p: &Plan, synced: &Synced) -> Result<Verified, ActionError> {
        let cx = self.cx;
        let (table, region) = (p.primary.name.as_str(), p.primary_region.as_str());
        let verify = self.sub_name("verify");
        cx.sub(&verify, json!({ "table": table }), |_| async {
            if cx.dry_run {
                return Ok(Verified { items: synced.recovery_items, fingerprint: synced.fingerprint.clone() });
            }
            let found = Mutex::new((0u64, 0u128));
            let scan = Scan { client: self.primary, region, table, segments: synced.segments, keys_only: None };
            scan.each_page(cx.log, |page| {
                let mut f = found.lock().unwrap();
                for item in page {
                    f.0 += 1;
                    f.1 = f.1.wrapping_add(items::digest(&item));
                }
                async { Ok(()) }
            })
            .await?;
            let (count, sum) = found.into_inner().unwrap();
            let verified = Verified { items: count, fingerprint: format!("{sum:032x}") };
            if verified.items != synced.recovery_items || verified.fingerprint != synced.fingerprint {
                // The next attempt compares and writes again: `sync` must not be taken as done.
                cx.reset(&[&self.sub_name("sync"), &verify])?;
                return Err(ActionError::Failed(format!(
                    "primary table {table} does not hold what the sync read in recovery: {} items (fingerprint {}), recovery had {} (fingerprint {}). Something else wrote to it, or a write was lost; retry the step to compare and write again (its safety backup {} is kept)",
                    verified.items,
                    verified.fingerprint,
                    synced.recovery_items,
                    synced.fingerprint,
                    p.backup_name
                )));
            }
            cx.log.note(format!("primary table {table} holds recovery's {} items as read at the sync", verified.items))?;
            Ok(verified)
        })
        .await
    }

    fn in_place_outputs(&self, p: &Plan, b: &Backup, s: &Synced, v: &Verified, remaining: &[String]) -> Value {
        let region = &p.primary_region;
        let retained = vec![Retained {
            resource: self.name.to_string(),
            kind: "dynamodb_backup".into(),
            id: b.arn.clone(),
            region: region.clone(),
            why: format!(
                "safety backup of primary table {} before recovery's items were written into it",
                p.primary.name
            ),
            delete_with: format!("aws dynamodb delete-backup --region {region} --backup-arn {}", b.arn),
        }];
        json!({
            "method": "in-place",
            "table": p.primary.name,
            "table_arn": p.primary.arn,
            "region": region,
            "recovery_table_arn": p.recovery_arn,
            "recovery_point": s.recovery_point,
            "recovery_point_source": "the start of the strongly consistent scan of the recovery table",
            "items": {
                "recovery_table": s.recovery_items,
                "primary_at_sync": s.primary_items_at_sync,
                "put": s.put,
                "deleted": s.deleted,
                "unchanged": s.unchanged,
                "primary_after": v.items,
            },
            "batches": s.batches,
            "resent_unprocessed": s.resent,
            "scan_segments": s.segments,
            "safety_backup": b.arn,
            "recorded_config": p.primary,
            "remaining_differences": remaining,
            "notes": ["the table, its ARN and its stream are the same: nothing was re-created or re-applied"],
            "retained": retained,
        })
    }
}

/// What one [`One::write`] sent: BatchWriteItem calls, write requests, and requests DynamoDB
/// left unprocessed and that were sent again.
struct Written {
    calls: u64,
    requests: u64,
    resent: u64,
}

#[derive(Default)]
struct Tally {
    recovery_items: u64,
    unchanged: u64,
    put: u64,
    batches: u64,
    resent: u64,
    fingerprint: u128,
}

fn put_request(item: Item) -> Result<WriteRequest, ActionError> {
    let put = PutRequest::builder().set_item(Some(item)).build().map_err(|e| ActionError::Failed(e.to_string()))?;
    Ok(WriteRequest::builder().put_request(put).build())
}

fn delete_request(key: Item) -> Result<WriteRequest, ActionError> {
    let delete = DeleteRequest::builder().set_key(Some(key)).build().map_err(|e| ActionError::Failed(e.to_string()))?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

/// A full, strongly consistent scan of one table, in `segments` parallel segments; of the key
/// attributes only when `keys_only` names them.
struct Scan<'a> {
    client: &'a Client,
    region: &'a str,
    table: &'a str,
    segments: i32,
    keys_only: Option<&'a [String]>,
}

impl Scan<'_> {
    /// Hands every page to `page`, the segments concurrently, each following its
    /// `LastEvaluatedKey` (DynamoDB pages at 1 MB).
    async fn each_page<F, Fut>(&self, log: &dyn crate::aws::CallLog, page: F) -> Result<(), ActionError>
    where
        F: Fn(Vec<Item>) -> Fut,
        Fut: Future<Output = Result<(), ActionError>>,
    {
        let one = |segment: i32| {
            let page = &page;
            async move {
                let mut start: Option<Item> = None;
                loop {
                    let mut req =
                        self.client.scan().table_name(self.table).consistent_read(true).set_exclusive_start_key(start);
                    if self.segments > 1 {
                        req = req.segment(segment).total_segments(self.segments);
                    }
                    if let Some(keys) = self.keys_only {
                        // Placeholders: a key attribute may be a reserved word.
                        let names: Vec<String> = (0..keys.len()).map(|i| format!("#k{i}")).collect();
                        req = req.projection_expression(names.join(", "));
                        for (name, key) in names.iter().zip(keys) {
                            req = req.expression_attribute_names(name, key);
                        }
                    }
                    let out = read(log, at(self.table, self.region), req).await??;
                    start = out.last_evaluated_key().cloned().filter(|k| !k.is_empty());
                    page(out.items.unwrap_or_default()).await?;
                    if start.is_none() {
                        return Ok::<(), ActionError>(());
                    }
                }
            }
        };
        futures_util::future::try_join_all((0..self.segments.max(1)).map(one)).await?;
        Ok(())
    }
}

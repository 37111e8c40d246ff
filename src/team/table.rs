//! The team table's items and the conditional writes that keep two machines from ever both
//! writing the same thing. One table holds every team run:
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `run#<id>` | `lease` | who drives the run: holder, version (the fencing token), expiry |
//! | `run#<id>` | `runbook` | the runbook text the run started with (`text`, or `blob` and `sha256` naming it in the bucket) |
//! | `run#<id>` | `e#<seq, 12 digits>` | one journal entry (its JSON, as in `journal.jsonl`: `entry`, or `blob` and `sha256`) |
//! | `team` | `config` | the store's bucket (`bucket`), written by `team init` |
//! | `target#<key>` | `run` | the unfinished run of a runbook against its environments |
//! | `approver#<STS UserId>` | `<run>#<step>#<ask>` | one approval of one ask of a gate; `gate` (the index key) is the same `<run>#<step>#<ask>` |
//!
//! An approval's partition is its approver's own identity, so that IAM can scope who writes it
//! (`dynamodb:LeadingKeys` = `approver#${aws:userid}`, in the bundled template's policy); the
//! driver finds a gate's approvals through the `by-gate` index.
//!
//! An entry is written in one transaction with a check that the writer still holds the lease at
//! the version it took, and on the condition that its sequence number is free: two writers can
//! never both append entry N, and a driver whose lease was taken over learns it at its next
//! append, before the mutating call that append announces.

use super::TeamError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue as V, ConditionCheck, Put, TransactWriteItem};
use std::collections::HashMap;

pub const LEASE_SK: &str = "lease";
pub const RUNBOOK_SK: &str = "runbook";
pub const TARGET_SK: &str = "run";

pub fn run_pk(run: &str) -> String {
    format!("run#{run}")
}

fn entry_sk(seq: u64) -> String {
    format!("e#{seq:012}")
}

/// The lease item as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseItem {
    /// Who drives: `user@host (process N)`, for people.
    pub holder: String,
    /// A random id per process: two processes of one user on one host differ.
    pub holder_id: String,
    /// Bumped by every take (start, takeover, handover): the fencing token.
    pub version: u64,
    /// Wall-clock milliseconds (the holder's clock) after which another machine may take it.
    pub expires_ms: u64,
    /// Set by a handover: only this holder name may take it before it expires.
    pub handed_to: Option<String>,
    /// Asked by `pilotlight handover` while the driver holds it: the driver stops and hands
    /// the run to this name at its next heartbeat.
    pub handover_to: Option<String>,
}

/// What a writer holds: the version it took and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseToken {
    pub holder_id: String,
    pub version: u64,
}

/// One table, its name and a client made on the team runtime, and the store's bucket for texts
/// too large for an item ([`super::blobs`]).
#[derive(Clone)]
pub struct Table {
    pub client: Client,
    pub name: String,
    pub blobs: super::blobs::Blobs,
}

fn s(v: impl Into<String>) -> V {
    V::S(v.into())
}

fn n(v: u64) -> V {
    V::N(v.to_string())
}

fn key(pk: String, sk: impl Into<String>) -> HashMap<String, V> {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn get_s(item: &HashMap<String, V>, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &HashMap<String, V>, k: &str) -> Option<u64> {
    item.get(k).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

/// The condition that a writer still holds the lease at the version it took (the fencing check
/// of every append and every renewal), with [`held_names`] and [`held_values`].
const HELD: &str = "#v = :v AND holder_id = :h";

fn held_names() -> HashMap<String, String> {
    HashMap::from([("#v".to_string(), "version".to_string())])
}

fn held_values(token: &LeaseToken) -> HashMap<String, V> {
    HashMap::from([(":v".to_string(), n(token.version)), (":h".to_string(), s(&token.holder_id))])
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Table {
    fn fail(&self, op: &str, e: impl std::error::Error) -> TeamError {
        TeamError::Call { table: self.name.clone(), op: op.into(), message: DisplayErrorContext(&e).to_string() }
    }

    /// Appends journal entries (seq, JSON) in one transaction, checked against the lease.
    /// At most 99 entries (DynamoDB's 100 items per transaction, with the lease check).
    pub async fn append(&self, run: &str, token: &LeaseToken, entries: &[(u64, String)]) -> Result<(), TeamError> {
        let check = ConditionCheck::builder()
            .table_name(&self.name)
            .set_key(Some(key(run_pk(run), LEASE_SK)))
            .condition_expression(HELD)
            .set_expression_attribute_names(Some(held_names()))
            .set_expression_attribute_values(Some(held_values(token)))
            .build()
            .map_err(|e| self.fail("TransactWriteItems", e))?;
        let mut items = vec![TransactWriteItem::builder().condition_check(check).build()];
        for (seq, json) in entries {
            let mut item = key(run_pk(run), entry_sk(*seq));
            item.insert("seq".into(), n(*seq));
            if json.len() > super::blobs::INLINE_MAX {
                // In the bucket before the item names it (a lost lease leaves it unnamed).
                let (blob, sha) = self.stow(run, &format!("entry-{seq:012}"), json).await?;
                item.insert("blob".into(), s(blob));
                item.insert("sha256".into(), s(sha));
            } else {
                item.insert("entry".into(), s(json));
            }
            let put = Put::builder()
                .table_name(&self.name)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| self.fail("TransactWriteItems", e))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons: Vec<String> = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc) => Some(tc),
                        _ => None,
                    })
                    .map(|tc| tc.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect())
                    .unwrap_or_default();
                let failed = |i: usize| reasons.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
                if failed(0) {
                    let holder = self.lease(run).await.ok().flatten().map(|l| l.holder).unwrap_or_else(|| "?".into());
                    return Err(TeamError::LeaseLost { run: run.into(), holder });
                }
                if let Some(i) = (1..reasons.len()).find(|i| failed(*i)) {
                    return Err(TeamError::SeqTaken { run: run.into(), seq: entries[i - 1].0 });
                }
                Err(self.fail("TransactWriteItems", e))
            }
        }
    }

    /// The run's journal entries after `after`, in order, read strongly consistent.
    pub async fn entries(&self, run: &str, after: u64) -> Result<Vec<(u64, String)>, TeamError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.name)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :b")
                .expression_attribute_values(":pk", s(run_pk(run)))
                .expression_attribute_values(":a", s(entry_sk(after + 1)))
                .expression_attribute_values(":b", s(entry_sk(u64::MAX / 1_000_000)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.fail("Query", e))?;
            for item in page.items() {
                let Some(seq) = get_n(item, "seq") else { continue };
                if let Some(json) = self.text_of_field(item, "entry").await? {
                    out.push((seq, json));
                }
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<HashMap<String, V>>, TeamError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.fail("GetItem", e))?;
        Ok(out.item().cloned())
    }

    pub async fn lease(&self, run: &str) -> Result<Option<LeaseItem>, TeamError> {
        Ok(self.get(run_pk(run), LEASE_SK).await?.map(|item| LeaseItem {
            holder: get_s(&item, "holder").unwrap_or_default(),
            holder_id: get_s(&item, "holder_id").unwrap_or_default(),
            version: get_n(&item, "version").unwrap_or(0),
            expires_ms: get_n(&item, "expires_ms").unwrap_or(0),
            handed_to: get_s(&item, "handed_to"),
            handover_to: get_s(&item, "handover_to"),
        }))
    }

    /// Takes the lease at version `seen + 1`: only if the lease is still the one read (its
    /// version and expiry, `seen`; or none at all for a new run), so of two machines taking it at
    /// once one fails, and a lease its holder renewed since it was read (a heartbeat after a
    /// network blip: the version stays, the expiry moves) is not taken.
    pub async fn take_lease(
        &self,
        run: &str,
        seen: Option<(u64, u64)>,
        holder: &str,
        holder_id: &str,
        ttl_ms: u64,
    ) -> Result<LeaseToken, TeamError> {
        let version = seen.map_or(0, |(v, _)| v) + 1;
        let mut item = key(run_pk(run), LEASE_SK);
        item.insert("holder".into(), s(holder));
        item.insert("holder_id".into(), s(holder_id));
        item.insert("version".into(), n(version));
        item.insert("expires_ms".into(), n(now_ms() + ttl_ms));
        let put = self.client.put_item().table_name(&self.name).set_item(Some(item));
        let put = match seen {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some((v, expires)) => put
                .condition_expression("#v = :v AND expires_ms = :e")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", n(v))
                .expression_attribute_values(":e", n(expires)),
        };
        match put.send().await {
            Ok(_) => Ok(LeaseToken { holder_id: holder_id.into(), version }),
            Err(e) if is_condition_failed(&e) => {
                let holder = self.lease(run).await.ok().flatten().map(|l| l.holder).unwrap_or_else(|| "?".into());
                Err(TeamError::LeaseRace { run: run.into(), holder })
            }
            Err(e) => Err(self.fail("PutItem", e)),
        }
    }

    /// Moves the lease's expiry on, or sets it (`expires_ms` 0 gives it up; `to` hands it to
    /// that name, who alone may take it before it expires), on the condition that `token`
    /// still holds it. Returns a handover asked of the driver meanwhile, if any.
    pub async fn set_expiry(
        &self,
        run: &str,
        token: &LeaseToken,
        expires_ms: u64,
        to: Option<&str>,
    ) -> Result<Option<String>, TeamError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(run_pk(run), LEASE_SK)))
            .condition_expression(HELD)
            .set_expression_attribute_names(Some(held_names()))
            .set_expression_attribute_values(Some(held_values(token)))
            .expression_attribute_values(":e", n(expires_ms))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        update = match to {
            Some(to) => update
                .update_expression("SET expires_ms = :e, handed_to = :t REMOVE handover_to")
                .expression_attribute_values(":t", s(to)),
            None => update.update_expression("SET expires_ms = :e"),
        };
        match update.send().await {
            Ok(out) => Ok(out.attributes().and_then(|a| get_s(a, "handover_to"))),
            Err(e) if is_condition_failed(&e) => {
                let holder = self.lease(run).await.ok().flatten().map(|l| l.holder).unwrap_or_else(|| "?".into());
                Err(TeamError::LeaseLost { run: run.into(), holder })
            }
            Err(e) => Err(self.fail("UpdateItem", e)),
        }
    }

    /// Asks the run's driver to hand the run to `to`: only while someone holds its lease.
    /// `Ok(false)`: no one drives it now (anyone may resume it).
    pub async fn request_handover(&self, run: &str, to: &str) -> Result<bool, TeamError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(run_pk(run), LEASE_SK)))
            .update_expression("SET handover_to = :t")
            .condition_expression("attribute_exists(pk) AND expires_ms > :now")
            .expression_attribute_values(":t", s(to))
            .expression_attribute_values(":now", n(now_ms()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(self.fail("UpdateItem", e)),
        }
    }

    /// Puts an item that must not exist yet (the runbook copy); one that exists with the same
    /// text is fine (a retried start).
    pub async fn put_runbook(&self, run: &str, text: &str) -> Result<(), TeamError> {
        let mut item = key(run_pk(run), RUNBOOK_SK);
        let sha = super::blobs::sha256(text);
        if text.len() > super::blobs::INLINE_MAX {
            let (blob, _) = self.stow(run, "runbook", text).await?;
            item.insert("blob".into(), s(blob));
        } else {
            item.insert("text".into(), s(text));
        }
        item.insert("sha256".into(), s(&sha));
        let sent = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR sha256 = :h")
            .expression_attribute_values(":h", s(sha))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(TeamError::Call {
                table: self.name.clone(),
                op: "PutItem".into(),
                message: format!("run {run} already has another runbook in the team table"),
            }),
            Err(e) => Err(self.fail("PutItem", e)),
        }
    }

    pub async fn runbook(&self, run: &str) -> Result<Option<String>, TeamError> {
        match self.get(run_pk(run), RUNBOOK_SK).await? {
            Some(item) => self.text_of_field(&item, "text").await,
            None => Ok(None),
        }
    }

    /// The text an item holds in `field`, or names in the bucket (`blob`, checked by `sha256`).
    async fn text_of_field(&self, item: &HashMap<String, V>, field: &str) -> Result<Option<String>, TeamError> {
        if let Some(text) = get_s(item, field) {
            return Ok(Some(text));
        }
        match (get_s(item, "blob"), get_s(item, "sha256")) {
            (Some(blob), Some(sha)) => self.fetch(&blob, &sha).await.map(Some),
            _ => Ok(None),
        }
    }

    fn blob_fail(&self, op: &str, message: String) -> TeamError {
        TeamError::Call { table: self.name.clone(), op: op.into(), message }
    }

    /// The team store's bucket, as `team init` recorded it (read once).
    async fn bucket(&self) -> Result<Option<String>, TeamError> {
        Ok(self.blobs.bucket.get_or_try_init(|| async { self.config_bucket().await }).await?.clone())
    }

    /// Stores a run's text too large for an item in the bucket ([`super::blobs`]): its key and hash.
    pub async fn stow(&self, run: &str, what: &str, text: &str) -> Result<(String, String), TeamError> {
        let Some(bucket) = self.bucket().await? else {
            return Err(self.blob_fail(
                "PutObject",
                format!(
                    "run {run}'s {what} is {} KiB, more than a DynamoDB item holds, and this team store has no bucket \
                     for it: give it one with `pilotlight team init --table {} --bucket NAME`",
                    text.len() / 1024,
                    self.name
                ),
            ));
        };
        self.blobs.put(&bucket, run, what, text).await.map_err(|m| self.blob_fail("PutObject", m))
    }

    /// A stored text, checked against the hash its item names.
    pub async fn fetch(&self, key: &str, sha: &str) -> Result<String, TeamError> {
        let Some(bucket) = self.bucket().await? else {
            return Err(self.blob_fail("GetObject", format!("an item names {key}, and the store records no bucket")));
        };
        self.blobs.get(&bucket, key, sha).await.map_err(|m| self.blob_fail("GetObject", m))
    }

    /// The store's bucket as `team init` recorded it (none: texts over an item's size fail).
    pub async fn config_bucket(&self) -> Result<Option<String>, TeamError> {
        Ok(self.get(super::blobs::CONFIG_PK.into(), super::blobs::CONFIG_SK).await?.and_then(|i| get_s(&i, "bucket")))
    }

    /// Records the store's bucket (`team init`).
    pub async fn put_config_bucket(&self, bucket: &str) -> Result<(), TeamError> {
        let mut item = key(super::blobs::CONFIG_PK.into(), super::blobs::CONFIG_SK);
        item.insert("bucket".into(), s(bucket));
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| self.fail("PutItem", e))?;
        Ok(())
    }

    /// The run holding a target (`target#<key>`), if any.
    pub async fn target(&self, target: &str) -> Result<Option<String>, TeamError> {
        Ok(self.get(format!("target#{target}"), TARGET_SK).await?.and_then(|i| get_s(&i, "run_id")))
    }

    /// Claims a target for `run` if it is free or still held by `replacing` (a finished run).
    /// `Ok(false)`: another run claimed it first.
    pub async fn claim_target(&self, target: &str, run: &str, replacing: Option<&str>) -> Result<bool, TeamError> {
        let mut item = key(format!("target#{target}"), TARGET_SK);
        item.insert("run_id".into(), s(run));
        let put = self.client.put_item().table_name(&self.name).set_item(Some(item));
        let put = match replacing {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(old) => put.condition_expression("run_id = :old").expression_attribute_values(":old", s(old)),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(self.fail("PutItem", e)),
        }
    }
}

fn is_condition_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> bool {
    e.as_service_error().and_then(|se| se.code()) == Some("ConditionalCheckFailedException")
}

/// The index a gate's approvals are found by.
pub const GATE_INDEX: &str = "by-gate";

/// One approval as the table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalItem {
    pub user_id: String,
    pub arn: String,
}

/// One ask of a gate: the run, the step, and the sequence number of the driver's own approval
/// (a gate asked again after a kill is a new ask: an approval of the old one does not count).
pub fn gate_key(run: &str, step: &str, ask: u64) -> String {
    format!("{run}#{step}#{ask}")
}

impl Table {
    /// Writes `who`'s approval of a gate, once (a second one by the same identity changes
    /// nothing).
    pub async fn put_approval(&self, run: &str, step: &str, ask: u64, who: &ApprovalItem) -> Result<(), TeamError> {
        let mut item = key(format!("approver#{}", who.user_id), gate_key(run, step, ask));
        item.insert("gate".into(), s(gate_key(run, step, ask)));
        item.insert("arn".into(), s(&who.arn));
        item.insert("user_id".into(), s(&who.user_id));
        item.insert("at_ms".into(), n(now_ms()));
        let sent = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(self.fail("PutItem", e)),
        }
    }

    /// Every approval of a gate (the index is eventually consistent: one just written shows at
    /// the next look).
    pub async fn approvals(&self, run: &str, step: &str, ask: u64) -> Result<Vec<ApprovalItem>, TeamError> {
        let out = self
            .client
            .query()
            .table_name(&self.name)
            .index_name(GATE_INDEX)
            .key_condition_expression("gate = :g")
            .expression_attribute_values(":g", s(gate_key(run, step, ask)))
            .send()
            .await
            .map_err(|e| self.fail("Query", e))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|i| {
                // The partition says whose it is; an item whose fields disagree is not an approval.
                let user_id = get_s(i, "user_id")?;
                let pk = get_s(i, "pk")?;
                (pk == format!("approver#{user_id}"))
                    .then(|| ApprovalItem { arn: get_s(i, "arn").unwrap_or_default(), user_id })
            })
            .collect())
    }
}

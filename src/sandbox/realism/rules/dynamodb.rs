//! DynamoDB's idempotent import (DynamoDB API reference, ImportTable, `ClientToken`): "If you
//! submit a request with the same client token but a change in other parameters within the
//! 8-hour idempotency window, DynamoDB returns an IdempotentParameterMismatch exception"; with
//! the same parameters it answers with the import it already made, and makes nothing. Moto
//! ignores the token and imports again. Here, a repeated token gets moto's first answer again.
//! And BatchWriteItem's limits ([`batch_write_refusal`]).

use std::sync::Mutex;

/// Imports answered (moto port, client token, the whole HTTP answer).
static IMPORTS: Mutex<Vec<(u16, String, Vec<u8>)>> = Mutex::new(Vec::new());

pub(super) fn forget(upstream: u16) {
    IMPORTS.lock().unwrap().retain(|e| e.0 != upstream);
}

fn is_import(head: &str) -> bool {
    head.to_ascii_lowercase().contains("x-amz-target: dynamodb_20120810.importtable")
}

fn token(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("ClientToken")?.as_str().map(str::to_string)
}

/// The first answer to an import with this request's client token, if there was one.
pub(super) fn repeated_import(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    if !is_import(head) {
        return None;
    }
    let token = token(body)?;
    IMPORTS.lock().unwrap().iter().find(|(p, t, _)| *p == upstream && *t == token).map(|(_, _, a)| a.clone())
}

/// Remembers a successful import's answer under its client token.
pub(super) fn note_import(request: &str, upstream: u16, answer: &[u8]) {
    let Some((head, body)) = request.split_once("\r\n\r\n") else { return };
    if !is_import(head) || !answer.starts_with(b"HTTP/1.1 200") {
        return;
    }
    if let Some(token) = token(body) {
        IMPORTS.lock().unwrap().push((upstream, token, answer.to_vec()));
    }
}

/// BatchWriteItem's limits (API reference, BatchWriteItem: "DynamoDB rejects the entire batch
/// write operation" when "there are more than 25 requests in the batch", or when "you try to
/// perform multiple operations on the same item in the same BatchWriteItem request. For
/// example, you cannot put and delete the same item"). Moto writes any number, and refuses
/// duplicates among the puts and among the deletes only, not a put and a delete of one item.
pub(super) fn batch_write_refusal(head: &str, body: &str) -> Option<Vec<u8>> {
    let call = super::super::timing::Call::read(head, body)?;
    if call.service != "dynamodb" || call.operation != "BatchWriteItem" {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let tables = v.get("RequestItems")?.as_object()?;
    let requests: usize = tables.values().filter_map(|r| r.as_array()).map(Vec::len).sum();
    let refuse = |message: &str| Some(super::super::timing::refusal("dynamodb", "ValidationException", message));
    if requests > 25 {
        return refuse(&format!(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1] ({requests} requests)"
        ));
    }
    for list in tables.values().filter_map(|r| r.as_array()) {
        let puts: Vec<&serde_json::Map<String, serde_json::Value>> =
            list.iter().filter_map(|r| r.pointer("/PutRequest/Item")?.as_object()).collect();
        let deletes = list.iter().filter_map(|r| r.pointer("/DeleteRequest/Key")?.as_object());
        // A delete's key holds exactly the key attributes: a put of the same item has them all, equal.
        for key in deletes {
            if puts.iter().any(|item| key.iter().all(|(name, value)| item.get(name) == Some(value))) {
                return refuse("Provided list of item keys contains duplicates");
            }
        }
    }
    None
}

//! DynamoDB's idempotent import (DynamoDB API reference, ImportTable, `ClientToken`): "If you
//! submit a request with the same client token but a change in other parameters within the
//! 8-hour idempotency window, DynamoDB returns an IdempotentParameterMismatch exception"; with
//! the same parameters it answers with the import it already made, and makes nothing. Moto
//! ignores the token and imports again. Here, a repeated token gets moto's first answer again.

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

//! A team run's texts too large for a DynamoDB item: a journal entry (a run's inputs, an action's
//! outputs) or the runbook. An item holds at most 400 KB, and the entries of one append share a
//! transaction of at most 4 MB, so a text over [`INLINE_MAX`] goes to the team store's bucket
//! instead, and its item names it.
//!
//! Each object's name ends in its own SHA-256 (`runs/<run>/<what>-<sha256>`), it is put before
//! the item that names it is written, and it is checked against that hash when read. So an item
//! never names an object that is not there; two writers racing for one sequence number cannot
//! overwrite each other's object (the loser's is left unnamed); and a reader never takes a changed
//! object for the entry.

use aws_sdk_s3::error::DisplayErrorContext;
use sha2::{Digest, Sha256};

/// The largest text kept in its item: 25 entries of an append (see `shared_run`) stay under the
/// transaction's 4 MB, and a single item far under its 400 KB.
pub const INLINE_MAX: usize = 100 * 1024;

/// Where the team store names its bucket: written by `team init`.
pub const CONFIG_PK: &str = "team";
pub const CONFIG_SK: &str = "config";

/// The bucket's client, and the bucket's name once read from the table.
#[derive(Clone)]
pub struct Blobs {
    pub s3: aws_sdk_s3::Client,
    pub bucket: std::sync::Arc<tokio::sync::OnceCell<Option<String>>>,
}

/// A text's SHA-256, in hex.
pub fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The object a run's text is stored under.
pub fn object_key(run: &str, what: &str, sha: &str) -> String {
    format!("runs/{run}/{what}-{sha}")
}

impl Blobs {
    /// Puts `text` in `bucket` under its name (see the module): its key and hash, or why not.
    pub async fn put(&self, bucket: &str, run: &str, what: &str, text: &str) -> Result<(String, String), String> {
        let sha = sha256(text);
        let key = object_key(run, what, &sha);
        self.s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/json")
            .body(text.as_bytes().to_vec().into())
            .send()
            .await
            .map_err(|e| format!("s3://{bucket}/{key}: {}", DisplayErrorContext(&e)))?;
        Ok((key, sha))
    }

    /// Reads a stored text back and checks it is the one its item names.
    pub async fn get(&self, bucket: &str, key: &str, sha: &str) -> Result<String, String> {
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| format!("s3://{bucket}/{key}: {}", DisplayErrorContext(&e)))?;
        let bytes = out.body.collect().await.map_err(|e| format!("s3://{bucket}/{key}: {e}"))?.into_bytes();
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| format!("s3://{bucket}/{key} is not UTF-8 text"))?;
        if sha256(&text) != sha {
            return Err(format!("s3://{bucket}/{key} is not the text its item names (SHA-256 {sha}): changed since"));
        }
        Ok(text)
    }
}

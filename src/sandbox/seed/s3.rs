//! The failback staging bucket: S3 in the primary region only, where the DynamoDB failback
//! exports the recovery table to and imports the primary table from.
//!
//! Made with moto's plain path-style S3 REST API over loopback rather than the S3 SDK, which
//! would cost the build another large crate for two calls. moto answers unsigned requests while
//! IAM enforcement is off (the seed runs before it is turned on), and an unsigned `PUT /<bucket>`
//! makes the bucket in us-east-1.

use super::{PRIMARY_REGION, STAGING_BUCKET, Scope, SeedError, SeedReport};
use crate::sandbox::moto_api;

/// Ensures the staging bucket. `GET /<bucket>` (ListObjects) answers 200 when it exists and 404
/// `NoSuchBucket` when not; an existing bucket and its objects are left alone.
pub(super) async fn ensure_staging_bucket(endpoint_url: &str, report: &mut SeedReport) -> Result<(), SeedError> {
    let scope = Scope { service: "s3", region: PRIMARY_REGION };
    let port = loopback_port(endpoint_url)?;
    let (status, body) = call(port, "GET", scope, "ListObjects").await?;
    match status {
        200 => {
            report.found(format!("{PRIMARY_REGION} s3 bucket {STAGING_BUCKET}"));
            return Ok(());
        }
        404 if body.contains("NoSuchBucket") => {}
        other => return Err(scope.error("ListObjects", STAGING_BUCKET, unexpected(other, &body))),
    }
    let (status, body) = call(port, "PUT", scope, "CreateBucket").await?;
    if status != 200 {
        return Err(scope.error("CreateBucket", STAGING_BUCKET, unexpected(status, &body)));
    }
    report.made(format!("{PRIMARY_REGION} s3 bucket {STAGING_BUCKET}"));
    Ok(())
}

/// One request on the bucket, with an empty body. `moto_api::request` blocks on a socket, so it
/// runs on the blocking pool rather than on the runtime's worker.
async fn call(
    port: u16,
    method: &'static str,
    scope: Scope,
    operation: &'static str,
) -> Result<(u16, String), SeedError> {
    let path = format!("/{STAGING_BUCKET}");
    let answer = tokio::task::spawn_blocking(move || moto_api::request(port, method, &path, "")).await;
    answer.map_err(scope.fail(operation, STAGING_BUCKET))?.map_err(scope.fail(operation, STAGING_BUCKET))
}

fn unexpected(status: u16, body: &str) -> String {
    let excerpt: String = body.chars().take(300).collect();
    format!("unexpected HTTP {status}: {excerpt}")
}

/// The port of a loopback `http://` endpoint URL: `moto_api` only ever talks to 127.0.0.1.
fn loopback_port(endpoint_url: &str) -> Result<u16, SeedError> {
    let bad = |reason: &str| SeedError::Endpoint { endpoint_url: endpoint_url.to_owned(), reason: reason.to_owned() };
    let rest = endpoint_url.strip_prefix("http://").ok_or_else(|| bad("not an http:// URL"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = authority.rsplit_once(':').ok_or_else(|| bad("it names no port"))?;
    if host != "127.0.0.1" && !host.eq_ignore_ascii_case("localhost") {
        return Err(bad("its host is not 127.0.0.1"));
    }
    port.parse().map_err(|_| bad("its port is not a number from 1 to 65535"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_comes_from_a_loopback_endpoint_only() {
        assert_eq!(loopback_port("http://127.0.0.1:5123").unwrap(), 5123);
        assert_eq!(loopback_port("http://localhost:5123/").unwrap(), 5123);
        for url in ["https://127.0.0.1:5123", "http://127.0.0.1", "http://10.0.0.1:5123", "http://127.0.0.1:x"] {
            assert!(matches!(loopback_port(url), Err(SeedError::Endpoint { .. })), "{url}");
        }
    }
}

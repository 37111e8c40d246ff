//! The wire between the tool and moto, as the realism layer reads and writes it: form-encoded
//! query parameters, XML fields, HTTP answers rebuilt with a new body, and questions of its own
//! sent to moto as the client.

use std::io::{Read, Write};
use std::net::TcpStream;

/// A form-encoded request parameter (`Iops=3000`), decoded.
pub(crate) fn param<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// `%XX` and `+` decoded (form bodies, IAM's URL-encoded policy documents).
pub(crate) fn decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
                continue;
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The region a signed request is for (its credential scope: `Credential=KEY/DATE/REGION/...`).
pub(crate) fn region(head: &str) -> Option<&str> {
    let scope = head.lines().find_map(|l| {
        let lower = l.to_ascii_lowercase();
        lower.starts_with("authorization:").then(|| l.split("Credential=").nth(1))?
    })?;
    scope.split('/').nth(2)
}

/// The first `<tag>...</tag>` element of `xml`, tags included.
pub(crate) fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))?;
    let close = format!("</{tag}>");
    let end = xml[start..].find(&close)? + start + close.len();
    Some(&xml[start..end])
}

/// The first `<tag>value</tag>` in `xml`.
pub(crate) fn field<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

/// An RDS-style (query API) error answer.
pub(crate) fn refusal(code: &str, message: &str) -> Vec<u8> {
    let xml = format!(
        "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>aws-rules</RequestId></ErrorResponse>"
    );
    format!("HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}", xml.len())
        .into_bytes()
}

/// Asks moto (as the client: its signature's region, and its session token under IAM
/// enforcement) for `body`; the answer's body.
pub(crate) fn ask_upstream(upstream: u16, head: &str, body: &str) -> Option<String> {
    ask_upstream_as(upstream, head, "Content-Type: application/x-www-form-urlencoded", body)
}

/// [`ask_upstream`] with these protocol header lines (a JSON protocol's content type and
/// `X-Amz-Target`) instead of the query protocol's.
pub(crate) fn ask_upstream_as(upstream: u16, head: &str, protocol: &str, body: &str) -> Option<String> {
    let auth = head.lines().find(|l| l.to_ascii_lowercase().starts_with("authorization:"))?;
    let token = head.lines().find(|l| l.to_ascii_lowercase().starts_with("x-amz-security-token:"));
    let token = token.map(|t| format!("\r\n{t}")).unwrap_or_default();
    exchange(upstream, &format!("{protocol}\r\n{auth}{token}"), body)
}

/// Sends moto a POST with these header lines and body; the answer's body.
fn exchange(upstream: u16, headers: &str, body: &str) -> Option<String> {
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{upstream}\r\n{headers}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).ok()?;
    up.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    up.read_to_string(&mut answer).ok()?;
    answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// An HTTP answer with its body rewritten by `f` and its Content-Length set to match.
pub(crate) fn rewrite_body(answer: &[u8], f: impl FnOnce(&str) -> String) -> Vec<u8> {
    // A binary answer (CloudWatch's CBOR) is never text to rewrite: lossy decoding would break it.
    let Ok(text) = std::str::from_utf8(answer) else { return answer.to_vec() };
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return answer.to_vec() };
    let body = f(body);
    let head: Vec<String> = head
        .split("\r\n")
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else {
                l.to_string()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}

/// `body` with each `<tag>...</tag>` element replaced by what `f` makes of it.
pub(crate) fn each_element(body: &str, tag: &str, mut f: impl FnMut(&str) -> String) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find(&open) {
        let end = rest[start..].find(&close).map_or(rest.len(), |e| start + e + close.len());
        out.push_str(&rest[..start]);
        out.push_str(&f(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The EC2 ids a describe names (`SnapshotId.1=...`, `VolumeId.2=...`).
pub(crate) fn named_ids<'a>(body: &'a str, prefix: &str) -> Vec<&'a str> {
    body.split('&').filter_map(|kv| kv.strip_prefix(prefix)?.split_once('=').map(|(_, v)| v)).collect()
}

/// An EC2 error answer.
pub(crate) fn ec2_refusal(code: &str, message: &str) -> Vec<u8> {
    let xml = format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>aws-rules</RequestID></Response>"
    );
    format!("HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}", xml.len())
        .into_bytes()
}

//! AWS's rules that moto does not enforce, put between the tool and moto (the fault proxy's
//! rules mode, [`super::fault_proxy::FaultProxy::with_aws_rules`]). Each rule says where AWS
//! documents it; each has a test showing that bare moto accepts what AWS refuses.
//!
//! - **gp3 baseline** (RDS user guide, "General Purpose SSD storage", gp3): an RDS instance on
//!   gp3 below 400 GiB (200 GiB for Oracle; SQL Server has no threshold) gets the baseline 3,000
//!   IOPS and 125 MiB/s, which DescribeDBInstances reports, and RDS refuses an explicit `Iops` or
//!   `StorageThroughput` at that size with InvalidParameterCombination (seen in
//!   terraform-provider-aws #28271, #28361). At or above the threshold the baseline is 12,000
//!   IOPS and 500 MiB/s. Moto reports neither value and accepts both parameters.
//!
//! (Moto itself refuses a restore with less storage than the snapshot holds: measured, not
//! repeated here.)

use std::io::{Read, Write};
use std::net::TcpStream;

/// A form-encoded request parameter (`Iops=3000`), decoded.
fn param<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// The first `<tag>value</tag>` in `xml`.
fn field<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

/// The size below which gp3 takes only its baseline, for `engine`; `None` where any size may be
/// given IOPS (SQL Server).
fn gp3_threshold(engine: &str) -> Option<i64> {
    if engine.starts_with("sqlserver") {
        None
    } else if engine.starts_with("oracle") {
        Some(200)
    } else {
        Some(400)
    }
}

/// An RDS-style (query API) error answer.
fn refusal(code: &str, message: &str) -> Vec<u8> {
    let xml = format!(
        "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>aws-rules</RequestId></ErrorResponse>"
    );
    format!("HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}", xml.len())
        .into_bytes()
}

/// Asks moto (as the client, with its signature's region) for `body`; the answer's body.
fn ask_upstream(upstream: u16, head: &str, body: &str) -> Option<String> {
    let auth = head.lines().find(|l| l.to_ascii_lowercase().starts_with("authorization:"))?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{upstream}\r\nContent-Type: application/x-www-form-urlencoded\r\n{auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).ok()?;
    up.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    up.read_to_string(&mut answer).ok()?;
    answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// AWS's refusal of this request, if AWS would refuse it; `None` sends it on to moto.
pub fn refuse(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    match param(body, "Action")? {
        "RestoreDBInstanceFromDBSnapshot" | "CreateDBInstance" | "ModifyDBInstance" => {
            gp3_baseline(head, body, upstream)
        }
        _ => None,
    }
}

/// gp3 under its engine's threshold takes no explicit IOPS or throughput.
fn gp3_baseline(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    if param(body, "Iops").is_none() && param(body, "StorageThroughput").is_none() {
        return None;
    }
    // What the request does not say comes from the snapshot (a restore) or the instance (a modify).
    let from = match param(body, "Action")? {
        "RestoreDBInstanceFromDBSnapshot" => ask_upstream(
            upstream,
            head,
            &format!(
                "Action=DescribeDBSnapshots&Version=2014-10-31&DBSnapshotIdentifier={}",
                param(body, "DBSnapshotIdentifier")?
            ),
        ),
        "ModifyDBInstance" => ask_upstream(
            upstream,
            head,
            &format!(
                "Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier={}",
                param(body, "DBInstanceIdentifier")?
            ),
        ),
        _ => None,
    }
    .unwrap_or_default();
    let storage_type = param(body, "StorageType").or_else(|| field(&from, "StorageType"))?;
    let engine = param(body, "Engine").or_else(|| field(&from, "Engine")).unwrap_or("postgres");
    let size: i64 = param(body, "AllocatedStorage").or_else(|| field(&from, "AllocatedStorage"))?.parse().ok()?;
    let threshold = gp3_threshold(engine)?;
    (storage_type == "gp3" && size < threshold).then(|| {
        refusal(
            "InvalidParameterCombination",
            &format!("You can't specify IOPS or storage throughput for engine {engine} and a storage size less than {threshold}."),
        )
    })
}

/// Moto's answer as AWS would give it.
pub fn answer(request: &str, answer: Vec<u8>) -> Vec<u8> {
    if !request.contains("Action=DescribeDBInstances") {
        return answer;
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return answer };
    let body = report_gp3_baseline(body);
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

/// Every gp3 instance without IOPS reports its baseline IOPS and throughput, as RDS does.
fn report_gp3_baseline(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("<DBInstance>") {
        let end = rest[start..].find("</DBInstance>").map_or(rest.len(), |e| start + e + "</DBInstance>".len());
        out.push_str(&rest[..start]);
        let one = &rest[start..end];
        let gp3 = field(one, "StorageType") == Some("gp3") && field(one, "Iops").is_none();
        match (gp3, field(one, "AllocatedStorage").and_then(|s| s.parse::<i64>().ok())) {
            (true, Some(size)) => {
                let engine = field(one, "Engine").unwrap_or_default();
                let big = gp3_threshold(engine).is_none_or(|t| size >= t);
                let (iops, tput) = if big && gp3_threshold(engine).is_some() { (12000, 500) } else { (3000, 125) };
                out.push_str(&one.replacen(
                    "<StorageType>gp3</StorageType>",
                    &format!(
                        "<StorageType>gp3</StorageType><Iops>{iops}</Iops><StorageThroughput>{tput}</StorageThroughput>"
                    ),
                    1,
                ));
            }
            _ => out.push_str(one),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

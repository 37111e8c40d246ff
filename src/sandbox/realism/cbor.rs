//! Smithy RPC v2 CBOR, the protocol the SDK speaks to CloudWatch: a request body read into JSON
//! (what the layer needs of it) and an answer written back. Only the CBOR a Smithy client sends:
//! maps with text keys, arrays, text, numbers, booleans, null, byte strings and the epoch-seconds
//! timestamp (tag 1), which is read as its number of seconds.

use minicbor::data::{Tag, Type};
use minicbor::{Decoder, Encoder};
use serde_json::{Map, Value, json};

/// The request line's operation of an RPC v2 call (`POST /service/<svc>/operation/<op>`).
pub(crate) fn operation(head: &str) -> Option<&str> {
    let line = head.lines().next()?;
    let path = line.split(' ').nth(1)?;
    let (_, op) = path.split_once("/operation/")?;
    Some(op.split(['?', '/']).next().unwrap_or(op))
}

/// The body as JSON; `None` when it is not CBOR this reader knows.
pub(crate) fn to_json(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return Some(json!({}));
    }
    value(&mut Decoder::new(body)).ok()
}

fn value(d: &mut Decoder<'_>) -> Result<Value, minicbor::decode::Error> {
    Ok(match d.datatype()? {
        Type::Bool => Value::Bool(d.bool()?),
        Type::Null | Type::Undefined => {
            d.skip()?;
            Value::Null
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => json!(d.u64()?),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => json!(d.i64()?),
        Type::F16 | Type::F32 | Type::F64 => json!(d.f64()?),
        Type::String | Type::StringIndef => {
            let mut s = String::new();
            for part in d.str_iter()? {
                s.push_str(part?);
            }
            Value::String(s)
        }
        Type::Bytes | Type::BytesIndef => {
            let mut n = 0;
            for part in d.bytes_iter()? {
                n += part?.len();
            }
            json!(n)
        }
        Type::Array | Type::ArrayIndef => {
            let len = d.array()?;
            let mut out = Vec::new();
            match len {
                Some(n) => {
                    for _ in 0..n {
                        out.push(value(d)?);
                    }
                }
                None => {
                    while d.datatype()? != Type::Break {
                        out.push(value(d)?);
                    }
                    d.skip()?;
                }
            }
            Value::Array(out)
        }
        Type::Map | Type::MapIndef => {
            let len = d.map()?;
            let mut out = Map::new();
            let mut entry = |d: &mut Decoder<'_>| -> Result<(), minicbor::decode::Error> {
                let key = match value(d)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, value(d)?);
                Ok(())
            };
            match len {
                Some(n) => {
                    for _ in 0..n {
                        entry(d)?;
                    }
                }
                None => {
                    while d.datatype()? != Type::Break {
                        entry(d)?;
                    }
                    d.skip()?;
                }
            }
            Value::Object(out)
        }
        // A timestamp (tag 1) or any other tag: its content.
        Type::Tag => {
            d.tag()?;
            value(d)?
        }
        _ => {
            d.skip()?;
            Value::Null
        }
    })
}

/// What an answer holds: JSON values, and timestamps (written as tag 1, epoch seconds).
pub(crate) enum Cbor {
    Text(String),
    Number(f64),
    Timestamp(f64),
    List(Vec<Cbor>),
    Map(Vec<(String, Cbor)>),
}

/// `c` as CBOR bytes.
pub(crate) fn encode(c: &Cbor) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = write(&mut e, c);
    e.into_writer()
}

fn write(e: &mut Encoder<Vec<u8>>, c: &Cbor) -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
    match c {
        Cbor::Text(s) => {
            e.str(s)?;
        }
        Cbor::Number(n) => {
            e.f64(*n)?;
        }
        Cbor::Timestamp(t) => {
            e.tag(Tag::new(1))?.f64(*t)?;
        }
        Cbor::List(items) => {
            e.array(items.len() as u64)?;
            for i in items {
                write(e, i)?;
            }
        }
        Cbor::Map(entries) => {
            e.map(entries.len() as u64)?;
            for (k, v) in entries {
                e.str(k)?;
                write(e, v)?;
            }
        }
    }
    Ok(())
}

/// An HTTP answer of the RPC v2 CBOR protocol with this status and body.
pub(crate) fn answer(status: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The protocol's error answer: HTTP 400 with `__type` naming the error.
pub(crate) fn refusal(code: &str, message: &str) -> Vec<u8> {
    let body =
        Cbor::Map(vec![("__type".into(), Cbor::Text(code.into())), ("message".into(), Cbor::Text(message.into()))]);
    answer("400 Bad Request", &encode(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back_with_timestamps_as_seconds() {
        let c = Cbor::Map(vec![
            ("Id".into(), Cbor::Text("lag".into())),
            ("Timestamps".into(), Cbor::List(vec![Cbor::Timestamp(1_700_000_000.5)])),
            ("Values".into(), Cbor::List(vec![Cbor::Number(0.0), Cbor::Number(-1.0)])),
        ]);
        let back = to_json(&encode(&c)).unwrap();
        assert_eq!(back, json!({ "Id": "lag", "Timestamps": [1_700_000_000.5], "Values": [0.0, -1.0] }));
        assert_eq!(to_json(&[0x62, 0x61]), None, "a text cut short");
    }

    #[test]
    fn the_operation_is_the_paths_last_part() {
        let head = "POST /service/GraniteServiceVersion20100801/operation/GetMetricData HTTP/1.1\r\nHost: x\r\n";
        assert_eq!(operation(head), Some("GetMetricData"));
        assert_eq!(operation("POST / HTTP/1.1\r\n"), None);
    }
}

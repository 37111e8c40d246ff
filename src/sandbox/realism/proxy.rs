//! A fault-injecting HTTP proxy between the SDK and moto (moto has no throttling of its own):
//! requests matching a rule get an injected error response, or are forwarded and their answer
//! dropped (the call happened; the client never heard) or rewritten; the rest are forwarded.

use super::limits::Limits;
use super::model::Pace;
use super::timing::{self, Clock};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What happens to the first `times` requests whose body contains `needle`.
pub struct FaultRule {
    pub needle: &'static str,
    pub times: usize,
    pub fault: Fault,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A CloudFormation-style `Throttling` error (HTTP 400), as AWS answers under load.
    Throttle,
    /// AWS refuses the request with this code and message (HTTP 400, not retried by the SDK):
    /// what moto never says, such as `InsufficientDBInstanceCapacity`.
    Refuse { code: &'static str, message: &'static str },
    /// The request reaches moto; its answer is thrown away and the connection closed.
    DropAnswer,
    /// The request reaches moto; `from` is replaced by `to` in its answer. For states moto
    /// cannot reach (a stack that rolled back), and only there.
    Rewrite { from: &'static str, to: &'static str },
    /// The request reaches moto this many milliseconds late (a slow endpoint).
    Delay(u64),
    /// The request reaches moto; the client is answered HTTP 500 with the service's internal
    /// error code instead (AWS: the request may have succeeded).
    InternalError,
}

/// What a proxy does: the faults it injects, whether it enforces AWS's rules, and its clock.
pub struct Setup {
    pub faults: Vec<FaultRule>,
    pub aws_rules: bool,
    pub clock: Clock,
    /// AWS's request rates and copy quotas ([`super::limits`]).
    pub limits: Limits,
}

pub struct RealismProxy {
    pub port: u16,
    /// Requests that matched a rule (faulted or, past its `times`, passed through).
    pub injected: Arc<AtomicUsize>,
    /// Requests that were faulted.
    pub faults: Arc<AtomicUsize>,
    /// Requests AWS's limits refused (an empty bucket, a copy quota reached).
    pub throttled: Arc<AtomicUsize>,
}

/// What every connection of one proxy shares: whether it enforces AWS's rules, its clock, its
/// limits, and how many requests the limits refused.
struct Layer {
    aws_rules: bool,
    clock: Clock,
    limits: Limits,
    throttled: Arc<AtomicUsize>,
}

impl RealismProxy {
    /// Starts the proxy on a free loopback port in front of moto at `upstream`. Its threads end
    /// with the test process; every connection is to 127.0.0.1.
    pub fn start(upstream: u16, rule: FaultRule) -> RealismProxy {
        RealismProxy::with_rules(upstream, vec![rule])
    }

    /// The proxy with several rules, each counted on its own (`injected` counts them all).
    pub fn with_rules(upstream: u16, rules: Vec<FaultRule>) -> RealismProxy {
        RealismProxy::serving(upstream, rules, false)
    }

    /// The proxy enforcing AWS's rules that moto does not ([`super::rules`]), and `rules`.
    pub fn with_aws_rules(upstream: u16, rules: Vec<FaultRule>) -> RealismProxy {
        RealismProxy::serving(upstream, rules, true)
    }

    /// The proxy enforcing AWS's rules and timing AWS's operations at `pace` ([`super::timing`]),
    /// with `rules`.
    pub fn timed(upstream: u16, pace: Pace, rules: Vec<FaultRule>) -> RealismProxy {
        let clock = Clock { pace, ..Clock::default() };
        RealismProxy::serve(upstream, Setup { faults: rules, aws_rules: true, clock, limits: Limits::default() }, 0)
            .expect("a loopback port for the realism proxy")
    }

    fn serving(upstream: u16, rules: Vec<FaultRule>, aws_rules: bool) -> RealismProxy {
        RealismProxy::serve(
            upstream,
            Setup { faults: rules, aws_rules, clock: Clock::default(), limits: Limits::default() },
            0,
        )
        .expect("a loopback port for the realism proxy")
    }

    /// The proxy with AWS's rules, AWS's time at `pace`, and `limits` (buckets a test set apply
    /// at every pace).
    pub fn limited(upstream: u16, pace: Pace, limits: Limits) -> RealismProxy {
        let clock = Clock { pace, ..Clock::default() };
        RealismProxy::serve(upstream, Setup { faults: Vec::new(), aws_rules: true, clock, limits }, 0)
            .expect("a loopback port for the realism proxy")
    }

    /// Starts the proxy on 127.0.0.1:`port` (0: a free port) in front of moto at `upstream`. Its
    /// threads end with the process; every connection is to 127.0.0.1.
    pub fn serve(upstream: u16, setup: Setup, port: u16) -> std::io::Result<RealismProxy> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let injected = Arc::new(AtomicUsize::new(0));
        let faults = Arc::new(AtomicUsize::new(0));
        let (counter, faulted) = (injected.clone(), faults.clone());
        let rules: Arc<Vec<(FaultRule, AtomicUsize)>> =
            Arc::new(setup.faults.into_iter().map(|r| (r, AtomicUsize::new(0))).collect());
        let throttled = Arc::new(AtomicUsize::new(0));
        let layer = Arc::new(Layer {
            aws_rules: setup.aws_rules,
            clock: setup.clock,
            limits: setup.limits,
            throttled: throttled.clone(),
        });
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (counter, faulted, rules, layer) = (counter.clone(), faulted.clone(), rules.clone(), layer.clone());
                std::thread::spawn(move || serve(client, upstream, &rules, &layer, &counter, &faulted));
            }
        });
        Ok(RealismProxy { port, injected, faults, throttled })
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// One request: head (with the Connection header forced to close upstream) and body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn serve(
    client: TcpStream,
    upstream: u16,
    rules: &[(FaultRule, AtomicUsize)],
    layer: &Layer,
    injected: &AtomicUsize,
    faults: &AtomicUsize,
) {
    let mut writer = client.try_clone().unwrap();
    let mut reader = BufReader::new(client);
    while let Some((head, body)) = read_request(&mut reader) {
        let text = String::from_utf8_lossy(&head).into_owned() + &String::from_utf8_lossy(&body);
        // The first matching rule with faults left (so rules of one needle take turns), else the
        // first matching one.
        let matched = rules
            .iter()
            .find(|(rule, seen)| text.contains(rule.needle) && seen.load(Ordering::SeqCst) < rule.times)
            .or_else(|| rules.iter().find(|(rule, _)| text.contains(rule.needle)));
        if matched.is_some() {
            injected.fetch_add(1, Ordering::SeqCst);
        }
        let fault =
            matched.filter(|(rule, seen)| seen.fetch_add(1, Ordering::SeqCst) < rule.times).map(|(r, _)| r.fault);
        if fault.is_some() {
            faults.fetch_add(1, Ordering::SeqCst);
        }
        let refusal = match fault {
            Some(Fault::Throttle) => Some(("Throttling", "Rate exceeded")),
            Some(Fault::Refuse { code, message }) => Some((code, message)),
            _ => None,
        };
        if let Some((code, message)) = refusal {
            // JSON-protocol services (DynamoDB, KMS: a target header) answer errors in JSON.
            let (kind, body) = if text.to_ascii_lowercase().contains("x-amz-target:") {
                ("application/x-amz-json-1.0", format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}"))
            } else {
                (
                    "text/xml",
                    format!(
                        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
                    ),
                )
            };
            let response = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if writer.write_all(response.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let (head_text, body_text) = (String::from_utf8_lossy(&head), String::from_utf8_lossy(&body));
        let limited = timing::limited(&head_text, &body_text, upstream, &layer.clock, &layer.limits);
        if limited.is_some() {
            layer.throttled.fetch_add(1, Ordering::SeqCst);
        }
        let refused = limited
            .or_else(|| timing::refuse(&head_text, &body_text, upstream))
            .or_else(|| if layer.aws_rules { super::rules::refuse(&head_text, &body_text, upstream) } else { None });
        if let Some(refused) = refused {
            if writer.write_all(&refused).is_err() {
                return;
            }
            continue;
        }
        if let Some(Fault::Delay(ms)) = fault {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
        let mut answer = Vec::new();
        if up.write_all(&head).and_then(|()| up.write_all(&body)).and_then(|()| up.read_to_end(&mut answer)).is_err() {
            return;
        }
        if fault == Some(Fault::DropAnswer) {
            // The call happened; the client hears nothing and sees the connection close.
            return;
        }
        if let Some(Fault::Rewrite { from, to }) = fault {
            answer = super::wire::rewrite_body(&answer, |body| body.replace(from, to));
        }
        if fault == Some(Fault::InternalError) {
            answer = internal_error(&text);
        }
        if layer.aws_rules {
            answer = super::rules::answer(&text, upstream, answer);
        }
        answer = timing::answer(&head_text, &body_text, upstream, answer, &layer.clock);
        if writer.write_all(&answer).is_err() {
            return;
        }
        // moto closed its side after answering; close ours so the client reconnects cleanly.
        return;
    }
}

/// An HTTP 500 internal-error answer in the protocol of `request` (JSON for DynamoDB, EC2's own
/// XML, the query/REST XML of RDS, CloudFormation and Route 53).
fn internal_error(request: &str) -> Vec<u8> {
    let (kind, body) = if request.to_ascii_lowercase().contains("x-amz-target: dynamodb_") {
        (
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"}"#.to_string(),
        )
    } else if request.contains("Version=2016-11-15") {
        let xml = "<Response><Errors><Error><Code>InternalError</Code><Message>injected</Message></Error></Errors><RequestID>injected</RequestID></Response>";
        ("text/xml", xml.to_string())
    } else {
        let xml = "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>injected</Message></Error><RequestId>injected</RequestId></ErrorResponse>";
        ("text/xml", xml.to_string())
    };
    format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

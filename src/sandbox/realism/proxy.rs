//! A fault-injecting HTTP proxy between the SDK and moto (moto has no throttling of its own):
//! requests matching a rule get an injected error response, or are forwarded and their answer
//! dropped (the call happened; the client never heard) or rewritten; the rest are forwarded.

pub use super::faults::{Fault, Matcher};
use super::limits::Limits;
use super::model::Pace;
use super::timing::{self, Clock};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What happens to the first `times` requests whose body contains `needle` (the tests' short
/// form of a [`Matcher`] on text alone).
pub struct FaultRule {
    pub needle: &'static str,
    pub times: usize,
    pub fault: Fault,
}

/// A rule as the proxy keeps it: its matcher, its fault, a label for the log, and how many
/// requests matched so far.
pub struct Rule {
    pub matcher: Matcher,
    pub fault: Fault,
    pub label: String,
    seen: AtomicUsize,
}

impl Rule {
    pub fn new(matcher: Matcher, fault: Fault, label: impl Into<String>) -> Rule {
        Rule { matcher, fault, label: label.into(), seen: AtomicUsize::new(0) }
    }

    fn matches(&self, text: &str, operation: Option<&str>) -> bool {
        self.matcher.needle.as_deref().is_none_or(|n| text.contains(n))
            && self.matcher.operation.as_deref().is_none_or(|o| Some(o) == operation)
    }

    /// Whether a matching request now would be spoiled (it is past `after`, within `times`).
    fn has_faults_left(&self) -> bool {
        self.seen.load(Ordering::SeqCst) < self.matcher.after.saturating_add(self.matcher.times)
    }
}

impl From<FaultRule> for Rule {
    fn from(r: FaultRule) -> Rule {
        let matcher = Matcher { needle: Some(r.needle.to_string()), operation: None, after: 0, times: r.times };
        Rule::new(matcher, r.fault, r.needle)
    }
}

impl From<&super::faults::FaultSpec> for Rule {
    fn from(spec: &super::faults::FaultSpec) -> Rule {
        let (matcher, fault) = spec.rule();
        Rule::new(matcher, fault, spec.kind.name())
    }
}

/// What a proxy does: the faults it injects, whether it enforces AWS's rules, and its clock.
pub struct Setup {
    pub faults: Vec<Rule>,
    pub aws_rules: bool,
    pub clock: Clock,
    /// AWS's request rates and copy quotas ([`super::limits`]).
    pub limits: Limits,
}

pub struct RealismProxy {
    pub port: u16,
    /// The rules in force (a scenario's, a trainer's injections, a test's).
    pub rules: Rules,
    /// Requests that matched a rule (faulted or, past its `times`, passed through).
    pub injected: Arc<AtomicUsize>,
    /// Requests that were faulted.
    pub faults: Arc<AtomicUsize>,
    /// Requests AWS's limits refused (an empty bucket, a copy quota reached).
    pub throttled: Arc<AtomicUsize>,
}

/// The rules of one proxy, shared by its connections; more can be added while it serves.
pub type Rules = Arc<Mutex<Vec<Arc<Rule>>>>;

/// What every connection of one proxy shares: whether it enforces AWS's rules, its clock, its
/// limits, and how many requests the limits refused.
struct Layer {
    aws_rules: bool,
    clock: Clock,
    /// Replaced whole by a drill's scenario ([`LIMITS_PATH`]).
    limits: Mutex<Limits>,
    throttled: Arc<AtomicUsize>,
    /// AWS calls seen ([`CALLS_PATH`]): a benchmark's count of round trips, and their order.
    calls: Mutex<Calls>,
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
        RealismProxy::timed_with_change(upstream, pace, super::timing::CHANGED_SHARE, rules)
    }

    /// [`RealismProxy::timed`] with `changed_share` of the data changed since a previous
    /// snapshot ([`Clock::changed_share`]).
    pub fn timed_with_change(upstream: u16, pace: Pace, changed_share: f64, rules: Vec<FaultRule>) -> RealismProxy {
        RealismProxy::timed_with_clock(upstream, Clock { pace, changed_share, ..Clock::default() }, rules)
    }

    /// [`RealismProxy::timed`] on `clock` (its pace, change and data sizes).
    pub fn timed_with_clock(upstream: u16, clock: Clock, rules: Vec<FaultRule>) -> RealismProxy {
        RealismProxy::serve(
            upstream,
            Setup {
                faults: rules.into_iter().map(Rule::from).collect(),
                aws_rules: true,
                clock,
                limits: Limits::default(),
            },
            0,
        )
        .expect("a loopback port for the realism proxy")
    }

    fn serving(upstream: u16, rules: Vec<FaultRule>, aws_rules: bool) -> RealismProxy {
        RealismProxy::serve(
            upstream,
            Setup {
                faults: rules.into_iter().map(Rule::from).collect(),
                aws_rules,
                clock: Clock::default(),
                limits: Limits::default(),
            },
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

    /// The proxy with AWS's rules and these faults (as a scenario or `drill inject` names them).
    pub fn with_faults(upstream: u16, faults: &[super::faults::FaultSpec]) -> RealismProxy {
        let faults = faults.iter().map(Rule::from).collect();
        let setup = Setup { faults, aws_rules: true, clock: Clock::default(), limits: Limits::default() };
        RealismProxy::serve(upstream, setup, 0).expect("a loopback port for the realism proxy")
    }

    /// Starts the proxy on 127.0.0.1:`port` (0: a free port) in front of moto at `upstream`. Its
    /// threads end with the process; every connection is to 127.0.0.1.
    pub fn serve(upstream: u16, setup: Setup, port: u16) -> std::io::Result<RealismProxy> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let injected = Arc::new(AtomicUsize::new(0));
        let faults = Arc::new(AtomicUsize::new(0));
        let (counter, faulted) = (injected.clone(), faults.clone());
        let rules: Rules = Arc::new(Mutex::new(setup.faults.into_iter().map(Arc::new).collect()));
        let kept = rules.clone();
        let throttled = Arc::new(AtomicUsize::new(0));
        let layer = Arc::new(Layer {
            aws_rules: setup.aws_rules,
            clock: setup.clock,
            limits: Mutex::new(setup.limits),
            throttled: throttled.clone(),
            calls: Mutex::new(Calls::default()),
        });
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (counter, faulted, rules, layer) = (counter.clone(), faulted.clone(), rules.clone(), layer.clone());
                std::thread::spawn(move || serve(client, upstream, &rules, &layer, &counter, &faulted));
            }
        });
        Ok(RealismProxy { port, rules: kept, injected, faults, throttled })
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

fn serve(client: TcpStream, upstream: u16, rules: &Rules, layer: &Layer, injected: &AtomicUsize, faults: &AtomicUsize) {
    let mut writer = client.try_clone().unwrap();
    let mut reader = BufReader::new(client);
    while let Some((head, body)) = read_request(&mut reader) {
        let (head_text, body_text) = (String::from_utf8_lossy(&head), String::from_utf8_lossy(&body));
        if let Some(answer) = control(&head_text, &body_text, rules, layer) {
            let _ = writer.write_all(&answer);
            return;
        }
        let text = format!("{head_text}{body_text}");
        let call = timing::Call::read(&head_text, &body_text);
        let operation = call.as_ref().map(|c| format!("{}.{}", c.service, c.operation));
        count(layer, operation.as_deref(), call.as_ref());
        if !layer.clock.latency.is_zero() {
            std::thread::sleep(layer.clock.latency);
        }
        let service = call.as_ref().map_or("", |c| c.service);
        let fault = pick(rules, &text, operation.as_deref(), injected);
        if let Some(rule) = &fault {
            faults.fetch_add(1, Ordering::SeqCst);
            if layer.clock.log {
                let line = serde_json::json!({
                    "at": crate::journal::now_rfc3339(),
                    "fault": rule.label,
                    "operation": operation,
                });
                eprintln!("{line}");
            }
        }
        let fault = fault.map(|r| r.fault);
        let refusal = match fault {
            Some(Fault::Throttle) => Some(throttled(service, &text)),
            Some(Fault::Refuse { code, message }) => Some(refused(service, &text, code, message)),
            _ => None,
        };
        if let Some(answer) = refusal {
            if writer.write_all(&answer).is_err() {
                return;
            }
            continue;
        }
        // A copy under a quota is checked and registered as under way one at a time: checked at
        // once, copies sent together would all find the slots free (AWS counts each as it
        // accepts it). Held to the end of this request.
        let _one_copy_at_a_time = {
            let limits = layer.limits.lock().unwrap_or_else(|p| p.into_inner());
            operation.as_ref().is_some_and(|op| limits.copy_quotas.contains_key(op))
        }
        .then(|| COPY_GATE.lock().unwrap_or_else(|p| p.into_inner()));
        let limited = {
            let limits = layer.limits.lock().unwrap_or_else(|p| p.into_inner());
            timing::limited(&head_text, &body_text, upstream, &layer.clock, &limits)
        };
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
        // What moto cannot model the layer answers itself; faults and timing apply to it alike.
        let emulated = layer
            .aws_rules
            .then(|| {
                super::rules::global_db::emulate(&head_text, &body_text, upstream, &layer.clock)
                    .or_else(|| super::rules::fast_restore::emulate(&head_text, &body_text, upstream, &layer.clock))
                    .or_else(|| super::rules::replica_lag::emulate(&head_text, &body, upstream, &layer.clock))
            })
            .flatten();
        let mut answer = match emulated {
            Some(answer) => answer,
            None => {
                let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
                let mut answer = Vec::new();
                let asked = up.write_all(&head).and_then(|()| up.write_all(&body));
                if asked.and_then(|()| up.read_to_end(&mut answer)).is_err() {
                    return;
                }
                answer
            }
        };
        match fault {
            // The call happened (AWS's rules note what it made); the client hears nothing and
            // sees the connection close.
            Some(Fault::DropAnswer) => {
                if layer.aws_rules {
                    super::rules::table_policy::note(&head_text, &body_text, upstream, &answer, layer.clock.pace);
                    super::rules::answer(&text, upstream, answer);
                }
                return;
            }
            Some(Fault::Rewrite { from, to }) => {
                answer = super::wire::rewrite_body(&answer, |body| body.replace(from, to));
            }
            Some(Fault::InternalError) => answer = internal_error(&text),
            Some(Fault::Stick { state, message }) => {
                timing::stick(&head_text, &body_text, upstream, &answer, (state, message))
            }
            Some(Fault::DelayAnswer(ms)) => std::thread::sleep(std::time::Duration::from_millis(ms)),
            _ => {}
        }
        if layer.aws_rules {
            super::rules::table_policy::note(&head_text, &body_text, upstream, &answer, layer.clock.pace);
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

/// Held while a copy under a quota is checked, sent and registered ([`serve`]).
static COPY_GATE: Mutex<()> = Mutex::new(());

/// The rule that spoils this request, if any: the first matching rule with faults left (so
/// rules of one needle take turns), else the first matching one (counted, not spoiled).
fn pick(rules: &Rules, text: &str, operation: Option<&str>, injected: &AtomicUsize) -> Option<Arc<Rule>> {
    let rules = rules.lock().unwrap_or_else(|p| p.into_inner());
    let matched = rules
        .iter()
        .find(|r| r.matches(text, operation) && r.has_faults_left())
        .or_else(|| rules.iter().find(|r| r.matches(text, operation)))?;
    injected.fetch_add(1, Ordering::SeqCst);
    let seen = matched.seen.fetch_add(1, Ordering::SeqCst);
    (seen >= matched.matcher.after && seen - matched.matcher.after < matched.matcher.times).then(|| matched.clone())
}

/// The path a trainer's `drill inject` (and a drill's start) posts faults to: `POST` adds the
/// JSON list of [`super::faults::FaultSpec`]s, `PUT` replaces the rules with them.
pub const CONTROL_PATH: &str = "/_pilotlight/faults";

/// The path a drill's start puts its scenario's limits to (a [`super::limits::LimitSpec`]: AWS's
/// bundled limits with those set).
pub const LIMITS_PATH: &str = "/_pilotlight/limits";

/// The path a benchmark reads the AWS calls the proxy has seen from (`GET`: a JSON object of
/// `service.Operation` to count; `GET .../log`: each call in order, with its milliseconds since
/// the count began, its region and the resource it names, for finding a run's longest chain) and
/// starts counting afresh at (`DELETE`).
pub const CALLS_PATH: &str = "/_pilotlight/calls";

/// The calls seen since the count began ([`CALLS_PATH`]).
#[derive(Default)]
struct Calls {
    counts: BTreeMap<String, u64>,
    log: Vec<serde_json::Value>,
    since: Option<std::time::Instant>,
}

/// The request parameters that name the resource a call is about, in every protocol the layer reads.
const NAMES: [&str; 8] = [
    "DBInstanceIdentifier",
    "DBClusterIdentifier",
    "InstanceId.1",
    "VolumeId",
    "SourceSnapshotId",
    "TargetDBSnapshotIdentifier",
    "TargetDBClusterSnapshotIdentifier",
    "StackName",
];

/// Counts one AWS call (one the layer cannot read is `unknown`) and logs it in order.
fn count(layer: &Layer, operation: Option<&str>, call: Option<&timing::Call<'_>>) {
    let mut calls = layer.calls.lock().unwrap_or_else(|p| p.into_inner());
    *calls.counts.entry(operation.unwrap_or("unknown").to_string()).or_default() += 1;
    let since = *calls.since.get_or_insert_with(std::time::Instant::now);
    let names = |c: &timing::Call<'_>| -> Option<String> {
        let query = NAMES.iter().find_map(|n| super::wire::param(c.body, n));
        let json =
            || serde_json::from_str::<serde_json::Value>(c.body).ok()?.get("TableName")?.as_str().map(String::from);
        query.map(String::from).or_else(json)
    };
    let line = serde_json::json!({
        "ms": since.elapsed().as_millis() as u64,
        "op": operation.unwrap_or("unknown"),
        "region": call.map(|c| c.region),
        "id": call.and_then(names),
    });
    // A sandbox left up through a long drill polls for hours: the log keeps the latest calls
    // only (a benchmark's run is a few hundred), the counts all of them.
    if calls.log.len() >= CALLS_LOGGED {
        calls.log.drain(..CALLS_LOGGED / 2);
    }
    calls.log.push(line);
}

/// At most this many calls are in the log ([`CALLS_PATH`]`/log`); the oldest half goes first.
const CALLS_LOGGED: usize = 20_000;

/// A request to the proxy itself, answered here (`None`: a request for AWS).
fn control(head: &str, body: &str, rules: &Rules, layer: &Layer) -> Option<Vec<u8>> {
    let line = head.lines().next()?;
    let (method, rest) = line.split_once(' ')?;
    if rest.starts_with(LIMITS_PATH) {
        return Some(set_limits(method, body, &layer.limits));
    }
    if rest.starts_with(CALLS_PATH) {
        let mut calls = layer.calls.lock().unwrap_or_else(|p| p.into_inner());
        let log = rest.starts_with(&format!("{CALLS_PATH}/log"));
        return Some(match method {
            "GET" if log => control_answer("200 OK", serde_json::json!(calls.log).to_string()),
            "GET" => control_answer("200 OK", serde_json::json!(calls.counts).to_string()),
            "DELETE" => {
                *calls = Calls::default();
                control_answer("200 OK", "{}".into())
            }
            _ => control_answer("405 Method Not Allowed", "{}".into()),
        });
    }
    if !rest.starts_with(CONTROL_PATH) {
        return None;
    }
    let answer = control_answer;
    let specs: Vec<super::faults::FaultSpec> = match serde_json::from_str(body) {
        Ok(s) => s,
        Err(e) => return Some(answer("400 Bad Request", serde_json::json!({ "error": e.to_string() }).to_string())),
    };
    if let Some(problem) = specs.iter().find_map(|s| s.problem()) {
        return Some(answer("400 Bad Request", serde_json::json!({ "error": problem }).to_string()));
    }
    let mut rules = rules.lock().unwrap_or_else(|p| p.into_inner());
    match method {
        "PUT" => rules.clear(),
        "POST" => {}
        _ => return Some(answer("405 Method Not Allowed", "{}".into())),
    }
    rules.extend(specs.iter().map(|s| Arc::new(Rule::from(s))));
    Some(answer("200 OK", serde_json::json!({ "rules": rules.len() }).to_string()))
}

/// An answer of the proxy's own, in JSON.
fn control_answer(status: &str, body: String) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `PUT` [`LIMITS_PATH`]: AWS's bundled limits with the spec's set replace the proxy's.
fn set_limits(method: &str, body: &str, limits: &Mutex<Limits>) -> Vec<u8> {
    if method != "PUT" {
        return control_answer("405 Method Not Allowed", "{}".into());
    }
    let spec: super::limits::LimitSpec = match serde_json::from_str(body) {
        Ok(s) => s,
        Err(e) => return control_answer("400 Bad Request", serde_json::json!({ "error": e.to_string() }).to_string()),
    };
    if let Some(problem) = spec.problem() {
        return control_answer("400 Bad Request", serde_json::json!({ "error": problem }).to_string());
    }
    *limits.lock().unwrap_or_else(|p| p.into_inner()) = spec.applied();
    control_answer("200 OK", "{}".into())
}

/// The service's throttling error, as AWS answers it.
fn throttled(service: &str, text: &str) -> Vec<u8> {
    match service {
        "ec2" => timing::refusal("ec2", "RequestLimitExceeded", "Request limit exceeded."),
        "dynamodb" => timing::refusal("dynamodb", "ThrottlingException", "Rate exceeded"),
        _ => refused(service, text, "Throttling", "Rate exceeded"),
    }
}

/// A refusal with `code` in the protocol of the request.
fn refused(service: &str, text: &str, code: &str, message: &str) -> Vec<u8> {
    if !service.is_empty() {
        return timing::refusal(service, code, message);
    }
    // A request the layer cannot read the service of: JSON when it names a target, else XML.
    if text.to_ascii_lowercase().contains("x-amz-target:") {
        let body = format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}");
        format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    } else {
        super::wire::refusal(code, message)
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

//! Time in the sandbox: moto finishes every operation at once; AWS does not. When moto answers a
//! call that starts work on AWS (a snapshot, a copy, a restore, a stop, an import, a stack, a DNS
//! change), the layer notes the work with its modelled duration ([`super::model`]) at the pace of
//! the proxy, and until that has passed every describe of the resource shows AWS's in-between
//! state (`pending` with its progress, `creating`, `stopping`, `renaming`, `IN_PROGRESS`,
//! `CREATE_IN_PROGRESS`, `PENDING`, ...), and the calls AWS refuses on a resource in that state
//! are refused as AWS refuses them (a volume from a snapshot still `pending`, a restore from a
//! snapshot still `creating`, a start of an instance still `stopping`).
//!
//! At the `instant` pace nothing is noted: the layer is moto plus AWS's rules.

mod ec2;
mod json;
mod rds;
mod rds_incremental;
mod rest;

use super::limits::Limits;
use super::model::{Model, Pace};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The proxy's clock: its pace and the figures it times operations by.
#[derive(Debug, Clone)]
pub struct Clock {
    pub pace: Pace,
    pub model: Arc<Model>,
    /// Writes each piece of work begun to stderr as a JSON line (the sandbox's proxy process:
    /// its log is the record of what AWS was modelled to take).
    pub log: bool,
    /// Added to every AWS call before it is forwarded: AWS's control plane answers in 50–300 ms,
    /// moto on loopback in a few, so a benchmark of the tool's own time sets this (`sandbox up
    /// --latency-ms`, bench/README.md). Zero by default.
    pub latency: Duration,
    /// The share of a volume's or database's data changed since its previous snapshot: what an
    /// incremental snapshot or copy moves ([`CHANGED_SHARE`] unless a drill's world says).
    pub changed_share: f64,
    /// The modelled size of the world's data where moto's is no guide ([`DataSizes`]).
    pub sizes: DataSizes,
}

/// Sizes a drill's world gives data that moto does not hold: every DynamoDB table (moto's holds
/// a few kilobytes of items) and every Aurora cluster (its storage grows with the data, and moto
/// reports none). When set, DynamoDB's exports, imports, backups, restores and deletes, and
/// Aurora's cluster snapshots, copies and restores are timed at that size, a table reports it as
/// its `TableSizeBytes`, and each item a Scan reads or a BatchWriteItem writes stands for its
/// share of the table (timed at a partition's documented rate). Unset, nothing changes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DataSizes {
    pub table_gib: Option<f64>,
    pub aurora_gib: Option<f64>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            pace: Pace::Instant,
            model: Arc::new(Model::bundled()),
            log: false,
            latency: Duration::ZERO,
            changed_share: CHANGED_SHARE,
            sizes: DataSizes::default(),
        }
    }
}

/// What kind of resource a piece of work is on (ids are unique within a kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Snapshot,
    Volume,
    Instance,
    DbSnapshot,
    ClusterSnapshot,
    DbInstance,
    Cluster,
    Export,
    Import,
    Table,
    Backup,
    Stack,
    Change,
}

/// Work under way on one resource.
#[derive(Debug, Clone)]
pub struct Work {
    pub what: What,
    /// The region and the id (ids are unique per region: recovery and primary often share them).
    pub region: String,
    pub id: String,
    /// The state AWS reports meanwhile (`pending`, `creating`, `IN_PROGRESS`, ...).
    pub state: &'static str,
    /// Why, where AWS says (a snapshot in `error`); empty otherwise.
    pub message: &'static str,
    /// The model's operation (`ec2.CopySnapshot`).
    pub operation: String,
    /// The modelled duration (before the pace).
    pub modelled: Duration,
    /// The resource's last description, for a delete: moto forgets the resource at once, AWS
    /// describes it (`deleting`) until the delete is done.
    pub gone: Option<String>,
    started: Instant,
    wall: Duration,
    upstream: u16,
}

impl Work {
    /// How far along the work is (0.0 to 1.0).
    pub fn progress(&self) -> f64 {
        if self.wall.is_zero() {
            1.0
        } else {
            (self.started.elapsed().as_secs_f64() / self.wall.as_secs_f64()).min(1.0)
        }
    }

    fn under_way(&self) -> bool {
        self.started.elapsed() < self.wall
    }
}

/// Work under way, across every moto server a proxy fronts (keyed by its port).
static WORK: Mutex<Vec<Work>> = Mutex::new(Vec::new());

/// What was modelled for each piece of work begun, done or not: (moto port, region, id, the
/// modelled duration). A line per piece of work, forgotten with its moto server's state; the
/// oldest go past [`MODELLED_KEPT`] (a sandbox serves for days).
static MODELLED: Mutex<Vec<(u16, String, String, Duration)>> = Mutex::new(Vec::new());

/// How many pieces of work [`MODELLED`] keeps: several drills' worth.
const MODELLED_KEPT: usize = 4096;

/// The share of a volume changed since its previous snapshot by default (EBS snapshots and their
/// copies are incremental: only changed blocks move); a drill's world may set another
/// ([`Clock::changed_share`]).
pub const CHANGED_SHARE: f64 = 0.1;

/// Forgets the work noted on moto at `upstream` (its state was reset).
pub fn forget(upstream: u16) {
    WORK.lock().unwrap_or_else(|p| p.into_inner()).retain(|w| w.upstream != upstream);
    MODELLED.lock().unwrap_or_else(|p| p.into_inner()).retain(|m| m.0 != upstream);
    rds_incremental::forget(upstream);
    json::forget(upstream);
}

/// Where a piece of work is: the moto server (its port) and the region of the call.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub upstream: u16,
    pub region: &'a str,
}

/// Whether any work is under way on moto at `upstream` (every answer asks; no copies made).
fn any_under_way(upstream: u16) -> bool {
    WORK.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|w| w.upstream == upstream && w.under_way())
}

/// Notes work that takes `operation`'s modelled time on `gib` GiB.
fn begin(clock: &Clock, at: At<'_>, what: What, id: &str, state: &'static str, operation: &str, gib: f64) {
    begin_with(clock, at, (what, id, state), operation, gib, None);
}

/// [`begin`], with the description of a resource moto already removed ([`Work::gone`]).
fn begin_with(
    clock: &Clock,
    at: At<'_>,
    (what, id, state): (What, &str, &'static str),
    operation: &str,
    gib: f64,
    gone: Option<String>,
) {
    let upstream = at.upstream;
    let modelled = clock.model.duration(operation, gib);
    let wall = clock.pace.wall(modelled);
    if wall.is_zero() || id.is_empty() {
        return;
    }
    if clock.log {
        let line = serde_json::json!({
            "at": crate::journal::now_rfc3339(),
            "operation": operation,
            "region": at.region,
            "id": id,
            "state": state,
            "modelled_s": modelled.as_secs_f64(),
            "wall_s": wall.as_secs_f64(),
        });
        eprintln!("{line}");
    }
    let mut work = WORK.lock().unwrap_or_else(|p| p.into_inner());
    let same = |w: &Work| w.upstream == upstream && w.region == at.region && w.what == what && w.id == id;
    if work.iter().any(|w| same(w) && w.wall == HELD) {
        // A fault holds it in its state: no modelled work ends that.
        return;
    }
    work.retain(|w| {
        w.under_way() && !(w.upstream == upstream && w.region == at.region && w.what == what && w.id == id)
    });
    record(at, id, modelled);
    work.push(Work {
        what,
        region: at.region.to_string(),
        id: id.to_string(),
        state,
        message: "",
        operation: operation.to_string(),
        modelled,
        gone,
        started: Instant::now(),
        wall,
        upstream,
    });
}

/// Keeps what was modelled for `id` ([`modelled`]).
fn record(at: At<'_>, id: &str, modelled: Duration) {
    let mut seen = MODELLED.lock().unwrap_or_else(|p| p.into_inner());
    if seen.len() >= MODELLED_KEPT {
        seen.drain(..MODELLED_KEPT / 2);
    }
    seen.push((at.upstream, at.region.to_string(), id.to_string(), modelled));
}

/// The state AWS would report for this resource while work on it is under way (`creating`), if
/// any: for the rules that refuse what AWS refuses meanwhile.
pub(crate) fn state(at: At<'_>, what: What, id: &str) -> Option<&'static str> {
    busy(at, what, id).map(|w| w.state)
}

/// The work under way on this resource, if any.
fn busy(at: At<'_>, what: What, id: &str) -> Option<Work> {
    WORK.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|w| w.upstream == at.upstream && w.region == at.region && w.what == what && w.id == id && w.under_way())
        .cloned()
}

/// The GiB of `size` GiB that a snapshot (or a copy) `id` of `volume` moves into its region: a
/// share (`changed`, [`Clock::changed_share`]) when an earlier snapshot of the volume still exists there, all of it
/// otherwise. EBS's user guide ("How Amazon EBS snapshots work"): a snapshot copies only the blocks
/// changed since the volume's most recent snapshot; with none left (deleted), it copies all. A
/// copy is incremental only when an earlier copy of the same volume's snapshot is still in the
/// destination (AWS What's New, 9 May 2018). Moto's copy keeps its source's volume id, so one
/// query by volume answers both.
fn incremental(at: At<'_>, head: &str, (id, volume): (&str, &str), (size, changed): (f64, f64)) -> f64 {
    let query =
        format!("Action=DescribeSnapshots&Version=2016-11-15&Filter.1.Name=volume-id&Filter.1.Value.1={volume}");
    let listed = super::wire::ask_upstream(at.upstream, head, &query).unwrap_or_default();
    let earlier = listed.split("<snapshotId>").skip(1).filter_map(|s| s.split('<').next()).any(|other| other != id);
    if earlier { size * changed } else { size }
}

/// What the layer modelled for a piece of work under way or done (its duration before the pace),
/// by the moto server, region and id it is on: for the tests that check the model's choices.
pub fn modelled(upstream: u16, region: &str, id: &str) -> Option<Duration> {
    let seen = MODELLED.lock().unwrap_or_else(|p| p.into_inner());
    seen.iter().rev().find(|m| m.0 == upstream && m.1 == region && m.2 == id).map(|m| m.3)
}

/// The service and operation of a request (`ec2`, `CreateSnapshot`), and its region.
pub(crate) struct Call<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub region: &'a str,
    pub head: &'a str,
    pub body: &'a str,
}

impl<'a> Call<'a> {
    pub fn at(&self, upstream: u16) -> At<'a> {
        At { upstream, region: self.region }
    }

    pub fn read(head: &'a str, body: &'a str) -> Option<Call<'a>> {
        let region = super::wire::region(head)?;
        let scope = head.lines().find_map(|l| {
            let lower = l.to_ascii_lowercase();
            lower.starts_with("authorization:").then(|| l.split("Credential=").nth(1))?
        })?;
        let service = scope.split('/').nth(3)?;
        let target = head.lines().find_map(|l| {
            l.to_ascii_lowercase().starts_with("x-amz-target:").then(|| l.split_once('.').map(|(_, op)| op.trim()))?
        });
        let operation = match (target, super::wire::param(body, "Action")) {
            (Some(op), _) => op,
            (None, Some(action)) => action,
            (None, None) => super::cbor::operation(head).or_else(|| rest::operation(head))?,
        };
        Some(Call { service, operation, region, head, body })
    }
}

/// AWS's refusal of a call over its limits: its API family's bucket is empty (buckets refill in
/// modelled time; at the `instant` pace only buckets a test set apply), or a copy would go past
/// the copies in flight to its destination region. `None` sends it on.
pub(crate) fn limited(head: &str, body: &str, upstream: u16, clock: &Clock, limits: &Limits) -> Option<Vec<u8>> {
    let call = Call::read(head, body)?;
    let at = call.at(upstream);
    let rate = match clock.pace {
        Pace::Factor(f) => Some(f),
        Pace::Instant => limits.at_instant.then_some(1.0),
    };
    if let Some(rate) = rate
        && let Some(code) = super::limits::take(limits, upstream, call.region, call.service, call.operation, rate)
    {
        return Some(refusal(call.service, &code, "Rate exceeded"));
    }
    let operation = format!("{}.{}", call.service, call.operation);
    let quota = limits.copy_quotas.get(&operation)?;
    let in_flight = WORK
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|w| w.upstream == upstream && w.region == at.region && w.operation == operation && w.under_way())
        .count();
    let n = quota.concurrent_per_destination_region;
    (in_flight >= n).then(|| {
        let message = format!("Too many snapshot copies in progress. The limit is {n} for this destination region.");
        refusal(call.service, &quota.error_code, &message)
    })
}

/// An error answer in the protocol of `service`: EC2's XML (HTTP 503 for its request limit, as
/// EC2 answers), DynamoDB's JSON, the query XML of the others.
pub(crate) fn refusal(service: &str, code: &str, message: &str) -> Vec<u8> {
    match service {
        "ec2" if code == "RequestLimitExceeded" => {
            let answer = super::wire::ec2_refusal(code, message);
            String::from_utf8_lossy(&answer).replacen("400 Bad Request", "503 Service Unavailable", 1).into_bytes()
        }
        "ec2" => super::wire::ec2_refusal(code, message),
        "dynamodb" => {
            let body = format!("{{\"__type\":\"com.amazonaws.dynamodb.v20120810#{code}\",\"message\":\"{message}\"}}");
            format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        _ => super::wire::refusal(code, message),
    }
}

/// AWS's refusal of a call on a resource still in an in-between state; `None` sends it on.
pub(crate) fn refuse(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    let call = Call::read(head, body)?;
    let at = call.at(upstream);
    match call.service {
        "ec2" => ec2::refuse(&call, at),
        "rds" => rds::refuse(&call, at),
        "dynamodb" => json::refuse(&call, at),
        _ => None,
    }
}

/// How long a fault holds a resource in its state: for as long as the proxy serves.
const HELD: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Leaves what the answered call made or changed in `state` for as long as the proxy serves,
/// at every pace (a fault: a snapshot copy that ends in `error`, an instance that hangs in
/// `stopping` until a forced stop).
pub(crate) fn stick(
    head: &str,
    body: &str,
    upstream: u16,
    answer: &[u8],
    (state, message): (&'static str, &'static str),
) {
    let Some(call) = Call::read(head, body) else { return };
    let text = String::from_utf8_lossy(answer);
    let answered = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    for (what, id) in ec2::held(&call, answered) {
        let mut work = WORK.lock().unwrap_or_else(|p| p.into_inner());
        work.retain(|w| !(w.upstream == upstream && w.region == call.region && w.what == what && w.id == id));
        work.push(Work {
            what,
            region: call.region.to_string(),
            id,
            state,
            message,
            operation: format!("fault.{}.{}", call.service, call.operation),
            modelled: HELD,
            gone: None,
            started: Instant::now(),
            wall: HELD,
            upstream,
        });
    }
}

/// Ends the holds a call ends (a forced stop of an instance hanging in `stopping`).
fn release(call: &Call<'_>, at: At<'_>) {
    let ended = ec2::released(call);
    if !ended.is_empty() {
        WORK.lock().unwrap_or_else(|p| p.into_inner()).retain(|w| {
            !(w.upstream == at.upstream
                && w.region == at.region
                && w.wall == HELD
                && ended.contains(&(w.what, w.id.as_str())))
        });
    }
}

/// Notes the work moto's answer started, and shows the in-between states of work under way.
pub(crate) fn answer(head: &str, body: &str, upstream: u16, answer: Vec<u8>, clock: &Clock) -> Vec<u8> {
    let answer = timed(head, body, upstream, answer, clock);
    // A world that gives tables a size has them report it.
    match clock.sizes.table_gib {
        Some(gib)
            if answer.starts_with(b"HTTP/1.1 200")
                && Call::read(head, body)
                    .is_some_and(|c| c.service == "dynamodb" && c.operation == "DescribeTable") =>
        {
            super::wire::rewrite_body(&answer, |answered| json::sized(answered, gib))
        }
        _ => answer,
    }
}

/// [`answer`] before a world's sizes are reported.
fn timed(head: &str, body: &str, upstream: u16, answer: Vec<u8>, clock: &Clock) -> Vec<u8> {
    let Some(call) = Call::read(head, body) else { return answer };
    let at = call.at(upstream);
    let text = String::from_utf8_lossy(&answer);
    let ok = text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200");
    if ok {
        release(&call, at);
    }
    if !matches!(clock.pace, Pace::Instant) {
        let answered = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        match call.service {
            "ec2" if ok => ec2::note(&call, answered, at, clock),
            // RDS notes a restore moto made while answering an error (see [`rds::note`]).
            "rds" => rds::note(&call, answered, ok, at, clock),
            "dynamodb" if ok => json::note(&call, answered, at, clock),
            _ if ok => rest::note(&call, answered, at, clock),
            _ => {}
        }
        if ok && call.service == "dynamodb" && clock.sizes.table_gib.is_some() {
            json::item_time(&call, &text, (head, at), clock);
        }
    }
    if !ok {
        let described = match call.service {
            "rds" => rds::still_deleting(&call, &text, at),
            "dynamodb" => json::still_deleting(&call, &text, at),
            _ => None,
        };
        if let Some(described) = described {
            return described;
        }
    }
    // Only reads show in-between states; every other answer passes untouched (and unparsed).
    let read = ["Describe", "List", "Get"].iter().any(|p| call.operation.starts_with(p));
    if !ok || !read || !any_under_way(upstream) {
        return answer;
    }
    super::wire::rewrite_body(&answer, |answered| match call.service {
        "ec2" => ec2::show(&call, answered, at),
        "rds" => rds::show(&call, answered, at),
        "dynamodb" => json::show(&call, answered, at),
        _ => rest::show(&call, answered, at),
    })
}

/// `xml` with the text after each `<{tag}>{id}</{tag}>` of work under way, up to `stop` (the end
/// of the resource's own fields), replaced by what `replace` makes of it.
fn after_id(
    xml: &str,
    tag: &str,
    stop: &str,
    at: At<'_>,
    what: What,
    replace: impl Fn(&str, &Work) -> String,
) -> String {
    let open = format!("<{tag}>");
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(found) = rest.find(&open) {
        let id_start = found + open.len();
        let Some(id_len) = rest[id_start..].find('<') else { break };
        let id = &rest[id_start..id_start + id_len];
        let end = rest[id_start..].find(stop).map_or(rest.len(), |e| id_start + e);
        out.push_str(&rest[..id_start]);
        match busy(at, what, id) {
            Some(work) => out.push_str(&replace(&rest[id_start..end], &work)),
            None => out.push_str(&rest[id_start..end]),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Progress as a whole percentage that stays below 100 while the work is under way.
fn percent(work: &Work) -> u32 {
    ((work.progress() * 100.0) as u32).min(99)
}

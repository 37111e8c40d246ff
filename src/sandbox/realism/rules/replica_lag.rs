//! CloudWatch's `ReplicaLag` for RDS read replicas, answered by the layer: moto keeps no RDS
//! metrics (its CloudWatch holds only what PutMetricData put, and AWS reserves the `AWS/`
//! namespaces for its services), yet it is the one signal RDS gives that a replica holds every
//! write its source took ("Monitoring read replication", RDS user guide: `ReplicaLag`, seconds;
//! 0 is caught up). The SDK asks CloudWatch in Smithy RPC v2 CBOR ([`super::super::cbor`]).
//!
//! **GetMetricData** answers each query of `AWS/RDS` `ReplicaLag` by `DBInstanceIdentifier` from
//! this model, and every other query with no datapoints:
//!
//! - a replica is `creating` for its initial copy ([`super::super::timing`],
//!   `rds.CreateDBInstanceReadReplica`) and publishes nothing meanwhile;
//! - then it replays what its source took during the copy: its lag starts at the copy's
//!   modelled time and falls to 0 over `rds.CreateDBInstanceReadReplica.catch-up`, and stays 0
//!   (the sandbox's writers write to DynamoDB, not to the database);
//! - an instance that is no replica (never, or promoted) publishes nothing.
//!
//! And `OldestReplicationSlotLag` by the *source's* `DBInstanceIdentifier` (bytes of write-ahead
//! log its laggiest replica has not received; PostgreSQL's signal, see
//! `actions::failback::rds::replica_lag`): the largest of its replicas' lags at
//! [`WAL_BYTES_PER_S`], nothing while one of them is still `creating`, nothing without replicas.
//!
//! One datapoint per period, stamped with the period's start, as CloudWatch publishes RDS's
//! metrics; the period is the model's minute at the proxy's pace (a modelled minute in a fifth of
//! a second at pace 300), so a wait for a datapoint after some moment is as long, in modelled
//! time, as on AWS. At the `instant` pace the one datapoint is now's, and a replica is caught up
//! once made. Values are the maximum over the period (what the tool asks for).

use super::super::cbor::{self, Cbor};
use super::super::timing::{self, Clock};
use super::super::wire::{ask_upstream, decoded, field, param};
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A replica made on a moto server.
#[derive(Debug, Clone)]
struct Made {
    upstream: u16,
    region: String,
    id: String,
    /// The source's region and identifier.
    source: (String, String),
    /// When the create was answered.
    at: SystemTime,
}

static MADE: Mutex<Vec<Made>> = Mutex::new(Vec::new());

/// The write-ahead log a source is modelled to write while taking writes (the sandbox's
/// databases hold no data): 1 MiB a second.
const WAL_BYTES_PER_S: f64 = 1_048_576.0;

pub(super) fn forget(upstream: u16) {
    MADE.lock().unwrap_or_else(|p| p.into_inner()).retain(|m| m.upstream != upstream);
}

/// Notes a replica moto made (CreateDBInstanceReadReplica answered).
pub(super) fn note(action: &str, region: &str, body: &str, upstream: u16) {
    if action != "CreateDBInstanceReadReplica" {
        return;
    }
    let (Some(id), Some(source)) = (param(body, "DBInstanceIdentifier"), param(body, "SourceDBInstanceIdentifier"))
    else {
        return;
    };
    let source = decoded(source);
    let source = match source.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "rds", r, _, "db", id] => (r.to_string(), id.to_ascii_lowercase()),
        _ => (region.to_string(), source.to_ascii_lowercase()),
    };
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    made.retain(|m| !(m.upstream == upstream && m.region == region && m.id.eq_ignore_ascii_case(id)));
    let (region, id, at) = (region.to_string(), id.to_ascii_lowercase(), SystemTime::now());
    made.push(Made { upstream, region, id, source, at });
}

/// The answer to a CloudWatch GetMetricData (RPC v2 CBOR); `None` for any other request.
pub fn emulate(head: &str, body: &[u8], upstream: u16, clock: &Clock) -> Option<Vec<u8>> {
    if !head.lines().next()?.contains("/service/GraniteServiceVersion20100801/") {
        return None;
    }
    if cbor::operation(head)? != "GetMetricData" {
        return None;
    }
    let Some(asked) = cbor::to_json(body) else {
        return Some(cbor::refusal("InvalidParameterValue", "The request body is not CBOR."));
    };
    let region = super::super::wire::region(head)?;
    let (start, end) = (seconds(&asked["StartTime"]), seconds(&asked["EndTime"]));
    let (Some(start), Some(end)) = (start, end) else {
        return Some(cbor::refusal("MissingParameter", "StartTime and EndTime are required."));
    };
    let mut results = Vec::new();
    for query in asked["MetricDataQueries"].as_array().into_iter().flatten() {
        let id = query["Id"].as_str().unwrap_or_default().to_string();
        let metric = &query["MetricStat"]["Metric"];
        let instance = metric["Dimensions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["Name"] == "DBInstanceIdentifier")
            .and_then(|d| d["Value"].as_str());
        let window = (start, end);
        let ascending = asked["ScanBy"] == "TimestampAscending";
        let points = match (metric["Namespace"].as_str(), metric["MetricName"].as_str(), instance) {
            (Some("AWS/RDS"), Some("ReplicaLag"), Some(instance)) => {
                lag_of((head, region, instance), upstream, clock).map_or_else(Vec::new, |l| l.series(clock, window))
            }
            (Some("AWS/RDS"), Some("OldestReplicationSlotLag"), Some(instance)) => {
                slot_lag((head, region, instance), upstream, clock, window)
            }
            _ => Vec::new(),
        };
        // Newest first unless asked otherwise (GetMetricData's ScanBy).
        let mut points = points;
        if ascending {
            points.reverse();
        }
        results.push(Cbor::Map(vec![
            ("Id".into(), Cbor::Text(id)),
            ("Label".into(), Cbor::Text(metric["MetricName"].as_str().unwrap_or_default().into())),
            ("Timestamps".into(), Cbor::List(points.iter().map(|p| Cbor::Timestamp(p.0)).collect())),
            ("Values".into(), Cbor::List(points.iter().map(|p| Cbor::Number(p.1)).collect())),
            ("StatusCode".into(), Cbor::Text("Complete".into())),
        ]));
    }
    let answer =
        Cbor::Map(vec![("MetricDataResults".into(), Cbor::List(results)), ("Messages".into(), Cbor::List(vec![]))]);
    Some(cbor::answer("200 OK", &cbor::encode(&answer)))
}

fn seconds(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// The lag model of replica `id`; `None` when it is no replica now (moto's answer as the layer
/// reports it: a promoted one is not).
fn lag_of((head, region, id): (&str, &str, &str), upstream: u16, clock: &Clock) -> Option<Lag> {
    let query = format!("Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier={id}");
    let head = with_region(head, region);
    let described = ask_upstream(upstream, &head, &query)?;
    let described = super::rds_replicas::report_promoted(region, &described, upstream);
    field(&described, "ReadReplicaSourceDBInstanceIdentifier")?;
    let made = {
        let made = MADE.lock().unwrap_or_else(|p| p.into_inner());
        made.iter()
            .rev()
            .find(|m| m.upstream == upstream && m.region == region && m.id.eq_ignore_ascii_case(id))
            .map(|m| m.at)
    };
    let copy = timing::modelled(upstream, region, &id.to_ascii_lowercase()).unwrap_or(Duration::ZERO);
    let catch_up = clock.model.duration("rds.CreateDBInstanceReadReplica.catch-up", 0.0);
    Some(Lag {
        available: made.map_or(0.0, |t| epoch(t) + clock.pace.wall(copy).as_secs_f64()),
        behind: copy.as_secs_f64(),
        catch_up: clock.pace.wall(catch_up).as_secs_f64(),
    })
}

/// The source's `OldestReplicationSlotLag`: at each period, the largest of its replicas' lags in
/// bytes; no datapoint while one of them is not yet available, none without replicas.
fn slot_lag(
    (head, region, id): (&str, &str, &str),
    upstream: u16,
    clock: &Clock,
    window: (f64, f64),
) -> Vec<(f64, f64)> {
    let replicas: Vec<(String, String)> = {
        let made = MADE.lock().unwrap_or_else(|p| p.into_inner());
        made.iter()
            .filter(|m| m.upstream == upstream && m.source.0 == region && m.source.1.eq_ignore_ascii_case(id))
            .map(|m| (m.region.clone(), m.id.clone()))
            .collect()
    };
    let lags: Vec<Lag> = replicas.iter().filter_map(|(r, i)| lag_of((head, r, i), upstream, clock)).collect();
    if lags.is_empty() {
        return Vec::new();
    }
    let mut by_time: Vec<(f64, f64)> = Vec::new();
    let series: Vec<Vec<(f64, f64)>> = lags.iter().map(|l| l.series(clock, window)).collect();
    for (t, _) in &series[0] {
        let each: Vec<Option<f64>> = series.iter().map(|s| s.iter().find(|(u, _)| u == t).map(|(_, v)| *v)).collect();
        if each.iter().all(Option::is_some) {
            let worst = each.into_iter().flatten().fold(0.0, f64::max);
            by_time.push((*t, worst * WAL_BYTES_PER_S));
        }
    }
    by_time
}

/// The request's head as RDS's in `region`: moto serves the service and region of the
/// credential scope.
fn with_region(head: &str, region: &str) -> String {
    let head = head.replace("/monitoring/aws4_request", "/rds/aws4_request");
    match super::super::wire::region(&head) {
        Some(own) if own != region => head.replace(&format!("/{own}/rds/"), &format!("/{region}/rds/")),
        _ => head,
    }
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// A replica's lag over time (wall-clock epoch seconds).
#[derive(Debug, Clone, Copy)]
struct Lag {
    /// When it became `available`.
    available: f64,
    /// How far behind it was then (modelled seconds: its copy's time).
    behind: f64,
    /// How long (wall) it takes to replay that.
    catch_up: f64,
}

impl Lag {
    /// The lag (modelled seconds) at wall time `t`; `None` before it is available.
    fn at(&self, t: f64) -> Option<f64> {
        if t < self.available {
            return None;
        }
        if self.catch_up <= 0.0 {
            return Some(0.0);
        }
        let left = 1.0 - (t - self.available) / self.catch_up;
        Some((self.behind * left.max(0.0)).round())
    }

    /// Datapoints now, at the clock's pace ([`Lag::series_at`]).
    fn series(&self, clock: &Clock, window: (f64, f64)) -> Vec<(f64, f64)> {
        let period = clock.pace.wall(Duration::from_secs(60)).as_secs_f64();
        self.series_at(epoch(SystemTime::now()), period, window)
    }

    /// Datapoints for the periods started in [start, end] and before `now`, newest first, at
    /// most [`MAX_POINTS`]; the maximum over each period (the lag falls, so its start's).
    fn series_at(&self, now: f64, period: f64, (start, end): (f64, f64)) -> Vec<(f64, f64)> {
        if period <= 0.0 {
            return self.at(now).filter(|_| now >= start && now <= end).map(|v| (now, v)).into_iter().collect();
        }
        let mut out = Vec::new();
        let mut p = (now.min(end) / period).floor() * period;
        while p >= start && out.len() < MAX_POINTS {
            if let Some(v) = self.at(p) {
                out.push((p, v));
            }
            p -= period;
        }
        out
    }
}

/// The most datapoints one query is answered (CloudWatch pages at 100 800; the tool asks for
/// minutes).
const MAX_POINTS: usize = 1440;

#[cfg(test)]
mod tests {
    use super::Lag;

    #[test]
    fn a_replica_publishes_nothing_until_available_then_catches_up_to_zero() {
        let lag = Lag { available: 1000.0, behind: 600.0, catch_up: 10.0 };
        assert_eq!(lag.at(999.0), None);
        assert_eq!(lag.at(1000.0), Some(600.0));
        assert_eq!(lag.at(1005.0), Some(300.0));
        assert_eq!(lag.at(1010.0), Some(0.0));
        assert_eq!(lag.at(5000.0), Some(0.0));
        // Periods of 2 s: the ones started in [996, 1012] and before now (1011), newest first.
        let points = lag.series_at(1011.0, 2.0, (996.0, 1012.0));
        assert_eq!(points.first(), Some(&(1010.0, 0.0)));
        assert_eq!(points.last(), Some(&(1000.0, 600.0)));
        assert_eq!(points.len(), 6);
        // Instant: the one datapoint is now's.
        let instant = Lag { available: 1000.0, behind: 0.0, catch_up: 0.0 };
        assert_eq!(instant.series_at(1001.0, 0.0, (990.0, 1002.0)), vec![(1001.0, 0.0)]);
        assert!(instant.series_at(1001.0, 0.0, (990.0, 1000.0)).is_empty());
    }
}

//! Whether a read replica holds every write its source took up to a moment: CloudWatch's
//! `ReplicaLag` (namespace `AWS/RDS`, dimension `DBInstanceIdentifier`, seconds), the one signal
//! RDS gives ("Monitoring read replication", RDS user guide: 0 is caught up; -1 or nothing while
//! replication is not running).
//!
//! A datapoint is the maximum of RDS's samples in its period (about one a minute), stamped with
//! the period's start. One whose period starts at or after a moment, with a value of 0, says the
//! replica had applied what its source had committed when it was sampled: with recovery's writers
//! fenced before the moment, nothing recovery took was outstanding. That period's start is the
//! recovery point. Every later datapoint must say 0 too: a lag again (or -1) means the fence
//! leaks or replication stopped, and the wait goes on. An older datapoint proves nothing about the
//! moment, and a missing one proves nothing at all (CloudWatch publishes RDS's metrics every
//! minute). It is what RDS offers short of SQL on both sides (MySQL's `ReplicaLag` is
//! Seconds_Behind_Master: what the replica received and has not applied).
//!
//! PostgreSQL is read another way. RDS computes its `ReplicaLag` as
//! `now() - pg_last_xact_replay_timestamp()` ("Monitoring and tuning the replication process",
//! RDS for PostgreSQL), which grows on a fenced source instead of reaching 0. What proves it
//! instead is the *source's* `OldestReplicationSlotLag` (bytes of write-ahead log the laggiest
//! replica has not received): 0 on a period after the moment means the replica has every WAL
//! record written before it, and a promoted PostgreSQL standby replays all it received before it
//! takes writes. ([`Signal::of`] picks the metric by engine.)

use crate::aws::{ActionError, CallLog, at, read};
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the datapoints say about the moment asked (see the module's doc).
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Caught up: the start of the earliest period at or after the moment from which on every
    /// period's lag is 0 (epoch seconds).
    CaughtUp(f64),
    /// Behind: the newest lag at or after the moment (seconds; -1: replication not running).
    Behind(f64),
    /// No datapoint at or after the moment yet.
    NoData,
}

/// Reads the datapoints (epoch seconds, value) against `after` (epoch seconds).
pub fn verdict(points: &[(f64, f64)], after: f64) -> Verdict {
    let mut since: Vec<&(f64, f64)> = points.iter().filter(|(t, _)| *t >= after).collect();
    since.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The earliest datapoint from which on every one says 0.
    let from = since.iter().rposition(|(_, v)| *v != 0.0).map_or(0, |last| last + 1);
    if let Some((t, _)) = since.get(from) {
        return Verdict::CaughtUp(*t);
    }
    match since.last() {
        Some((_, v)) => Verdict::Behind(*v),
        None => Verdict::NoData,
    }
}

/// Which metric proves a replica caught up, and on which instance and side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// MySQL, MariaDB: the replica's `ReplicaLag` (seconds), in primary's region.
    ReplicaLag,
    /// PostgreSQL: the source's `OldestReplicationSlotLag` (bytes), in recovery's region.
    SourceSlotLag,
}

impl Signal {
    /// The signal for an engine; `None` for an engine a failback through a replica is not
    /// offered for (SQL Server, Oracle and Db2: their replicas' catch-up is not read here).
    pub fn of(engine: &str) -> Option<Signal> {
        match engine {
            "mysql" | "mariadb" => Some(Signal::ReplicaLag),
            "postgres" => Some(Signal::SourceSlotLag),
            _ => None,
        }
    }

    pub fn metric(self) -> &'static str {
        match self {
            Signal::ReplicaLag => "ReplicaLag",
            Signal::SourceSlotLag => "OldestReplicationSlotLag",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Signal::ReplicaLag => "s",
            Signal::SourceSlotLag => "bytes",
        }
    }
}

/// The period the tool asks for: RDS publishes its metrics every minute.
const PERIOD_S: i32 = 60;

/// `signal`'s datapoints for the instance `id` from a little before `after` to now: (epoch
/// seconds of each period's start, the maximum in it).
pub async fn points(
    log: &dyn CallLog,
    client: &Client,
    (signal, id, region): (Signal, &str, &str),
    after: SystemTime,
) -> Result<Vec<(f64, f64)>, ActionError> {
    let dimension = Dimension::builder().name("DBInstanceIdentifier").value(id).build();
    let metric = Metric::builder().namespace("AWS/RDS").metric_name(signal.metric()).dimensions(dimension).build();
    let stat = MetricStat::builder().metric(metric).period(PERIOD_S).stat("Maximum").build();
    let query = MetricDataQuery::builder().id("lag").metric_stat(stat).return_data(true).build();
    let from = after.checked_sub(Duration::from_secs(5 * 60)).unwrap_or(after);
    let to = SystemTime::now() + Duration::from_secs(60);
    let req = client
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from(from))
        .end_time(DateTime::from(to))
        .scan_by(ScanBy::TimestampAscending);
    let out = read(log, at(id, region), req).await?.map_err(ActionError::from)?;
    let mut all = Vec::new();
    for r in out.metric_data_results() {
        let secs = r.timestamps().iter().map(|t| t.as_secs_f64());
        all.extend(secs.zip(r.values().iter().copied()));
    }
    Ok(all)
}

/// Epoch seconds of a moment.
pub fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::{Verdict, verdict};

    #[test]
    fn only_a_zero_lag_in_a_period_from_the_moment_on_proves_it_caught_up() {
        // Before the moment a zero proves nothing; from it on, the first zero is the point.
        let points = [(90.0, 0.0), (100.0, 4.0), (160.0, 0.0), (220.0, 0.0)];
        assert_eq!(verdict(&points, 100.0), Verdict::CaughtUp(160.0));
        assert_eq!(verdict(&points, 95.0), Verdict::CaughtUp(160.0));
        assert_eq!(verdict(&points, 221.0), Verdict::NoData);
        assert_eq!(verdict(&[(100.0, 4.0), (160.0, 2.0)], 100.0), Verdict::Behind(2.0));
        // -1: replication is not running; never caught up.
        assert_eq!(verdict(&[(100.0, -1.0)], 50.0), Verdict::Behind(-1.0));
        assert_eq!(verdict(&[], 50.0), Verdict::NoData);
        // A lag after the zero: not caught up (the fence leaks, or replication stopped).
        assert_eq!(verdict(&[(100.0, 0.0), (160.0, 3.0)], 100.0), Verdict::Behind(3.0));
        assert_eq!(verdict(&[(100.0, 0.0), (160.0, -1.0), (220.0, 0.0)], 100.0), Verdict::CaughtUp(220.0));
        // Newest first (CloudWatch's default order) reads the same.
        assert_eq!(verdict(&[(220.0, 0.0), (160.0, 0.0), (100.0, 3.0)], 100.0), Verdict::CaughtUp(160.0));
    }
}

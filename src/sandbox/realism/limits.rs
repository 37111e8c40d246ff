//! AWS's limits in the sandbox: request rates as token buckets per API family (EC2's
//! `RequestLimitExceeded`, RDS's and CloudFormation's `Throttling`, ...) and the quotas on
//! snapshot copies in flight to one destination region. The figures and their sources are in
//! `assets/realism-limits.json`; a test or a scenario ([`LimitSpec`]) can set its own.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Instant;

const BUNDLED: &str = include_str!("../../../assets/realism-limits.json");

/// The limits a proxy applies.
#[derive(Debug, Clone, Deserialize)]
pub struct Limits {
    pub about: String,
    pub families: IndexMap<String, Family>,
    pub copy_quotas: IndexMap<String, CopyQuota>,
    /// Whether the buckets apply at the `instant` pace too (a test or scenario that sets its own
    /// asks for them; AWS's own figures apply only where time is modelled).
    #[serde(skip)]
    pub at_instant: bool,
}

/// One token bucket: `capacity` requests, refilled at `refill_per_s` (modelled seconds).
#[derive(Debug, Clone, Deserialize)]
pub struct Family {
    pub service: String,
    /// Operations by name, or `*describe` (Describe*, List*, Get*) / `*mutating` (the rest).
    pub operations: Vec<String>,
    pub capacity: f64,
    pub refill_per_s: f64,
    pub error_code: String,
    pub source: String,
    pub basis: String,
}

/// Copies of one kind in flight to one destination region at most.
#[derive(Debug, Clone, Deserialize)]
pub struct CopyQuota {
    pub concurrent_per_destination_region: usize,
    pub error_code: String,
    pub source: String,
    pub basis: String,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::bundled()
    }
}

impl Limits {
    /// AWS's published figures, bundled.
    pub fn bundled() -> Limits {
        // Part of the source tree and parsed by a test: it cannot fail at run time.
        serde_json::from_str(BUNDLED).expect("assets/realism-limits.json is valid (see its test)")
    }

    /// These limits with `family`'s bucket set (applied at every pace).
    pub fn with_bucket(mut self, family: &str, capacity: f64, refill_per_s: f64) -> Limits {
        if let Some(f) = self.families.get_mut(family) {
            f.capacity = capacity;
            f.refill_per_s = refill_per_s;
        }
        self.at_instant = true;
        self
    }

    /// These limits with at most `n` copies of `operation` (`ec2.CopySnapshot`) in flight.
    pub fn with_copy_quota(mut self, operation: &str, n: usize) -> Limits {
        if let Some(q) = self.copy_quotas.get_mut(operation) {
            q.concurrent_per_destination_region = n;
        }
        self
    }

    /// The family whose bucket `operation` of `service` takes: one naming it, else its kind's.
    fn family(&self, service: &str, operation: &str) -> Option<(&String, &Family)> {
        let of_service = || self.families.iter().filter(move |(_, f)| f.service == service);
        let kind = if ["Describe", "List", "Get"].iter().any(|p| operation.starts_with(p)) {
            "*describe"
        } else {
            "*mutating"
        };
        of_service()
            .find(|(_, f)| f.operations.iter().any(|o| o == operation))
            .or_else(|| of_service().find(|(_, f)| f.operations.iter().any(|o| o == kind)))
    }
}

/// The limits a scenario sets over AWS's bundled ones: buckets by family, copy quotas by operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// Request-rate buckets by family (`ec2_non_mutating`, `rds_api_default`, ...; the families of
    /// `assets/realism-limits.json`), applied at every pace
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub buckets: IndexMap<String, BucketSpec>,
    /// Snapshot copies in flight per destination region, by operation (`ec2.CopySnapshot`,
    /// `rds.CopyDBSnapshot`, `rds.CopyDBClusterSnapshot`)
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub copy_quotas: IndexMap<String, usize>,
}

/// A token bucket: how many requests at once, and how many more each modelled second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    pub capacity: f64,
    pub refill_per_s: f64,
}

impl LimitSpec {
    /// What is wrong with it (a family or quota AWS's figures do not have, a figure out of range).
    pub fn problem(&self) -> Option<String> {
        let bundled = Limits::bundled();
        for (family, b) in &self.buckets {
            if !bundled.families.contains_key(family) {
                let known: Vec<&str> = bundled.families.keys().map(String::as_str).collect();
                return Some(format!("limits.buckets: no family `{family}` (known: {})", known.join(", ")));
            }
            if !(b.capacity >= 1.0 && b.refill_per_s > 0.0) {
                return Some(format!("limits.buckets.{family}: capacity at least 1 and refill_per_s above 0"));
            }
        }
        for (op, n) in &self.copy_quotas {
            if !bundled.copy_quotas.contains_key(op) {
                let known: Vec<&str> = bundled.copy_quotas.keys().map(String::as_str).collect();
                return Some(format!("limits.copy_quotas: no quota for `{op}` (known: {})", known.join(", ")));
            }
            if *n == 0 {
                return Some(format!("limits.copy_quotas.{op}: at least 1"));
            }
        }
        None
    }

    /// AWS's bundled limits with these set.
    pub fn applied(&self) -> Limits {
        let mut limits = Limits::bundled();
        for (family, b) in &self.buckets {
            limits = limits.with_bucket(family, b.capacity, b.refill_per_s);
        }
        for (op, n) in &self.copy_quotas {
            limits = limits.with_copy_quota(op, *n);
        }
        limits
    }
}

/// One bucket's level: (moto port, region, family), its tokens, and when it was last filled.
struct Level {
    upstream: u16,
    region: String,
    family: String,
    tokens: f64,
    filled: Instant,
}

static BUCKETS: Mutex<Vec<Level>> = Mutex::new(Vec::new());

/// Forgets the buckets of moto at `upstream` (its state was reset).
pub fn forget(upstream: u16) {
    BUCKETS.lock().unwrap_or_else(|p| p.into_inner()).retain(|b| b.upstream != upstream);
}

/// Takes a token for this call; `Some(error code)` when its bucket is empty (AWS throttles).
/// `rate` is how many modelled seconds pass per wall second (the pace; 1 at `instant`).
pub(crate) fn take(
    limits: &Limits,
    upstream: u16,
    region: &str,
    service: &str,
    operation: &str,
    rate: f64,
) -> Option<String> {
    let (name, family) = limits.family(service, operation)?;
    let mut buckets = BUCKETS.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let at = buckets.iter().position(|b| b.upstream == upstream && b.region == region && &b.family == name);
    let at = at.unwrap_or_else(|| {
        let family_name = name.clone();
        buckets.push(Level {
            upstream,
            region: region.to_string(),
            family: family_name,
            tokens: family.capacity,
            filled: now,
        });
        buckets.len() - 1
    });
    let bucket = &mut buckets[at];
    let refilled = now.duration_since(bucket.filled).as_secs_f64() * family.refill_per_s * rate;
    bucket.tokens = (bucket.tokens + refilled).min(family.capacity);
    bucket.filled = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        None
    } else {
        Some(family.error_code.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a bundled figure without a source or a family no call can reach.
    #[test]
    fn every_bundled_limit_has_a_source_and_a_bucket_empties_and_refills() {
        let limits = Limits::bundled();
        for (name, f) in &limits.families {
            assert!(f.source.starts_with("https://") && !f.basis.is_empty(), "{name}");
            assert!(f.capacity >= 1.0 && f.refill_per_s > 0.0, "{name}");
        }
        for (name, q) in &limits.copy_quotas {
            assert!(q.source.starts_with("https://") && q.concurrent_per_destination_region > 0, "{name}");
        }
        assert_eq!(limits.family("ec2", "CopySnapshot").unwrap().0, "ec2_ebs_mutating");
        assert_eq!(limits.family("ec2", "DescribeTags").unwrap().0, "ec2_non_mutating");
        assert_eq!(limits.family("ec2", "StopInstances").unwrap().0, "ec2_mutating");
        assert_eq!(limits.family("rds", "DescribeDBInstances").unwrap().0, "rds_api_default");

        let small = Limits::bundled().with_bucket("rds_api_default", 2.0, 1000.0);
        let port = 1;
        assert!(take(&small, port, "r", "rds", "DescribeDBInstances", 1.0).is_none());
        assert!(take(&small, port, "r", "rds", "DescribeDBInstances", 1.0).is_none());
        assert_eq!(take(&small, port, "r", "rds", "DescribeDBInstances", 0.0).as_deref(), Some("Throttling"));
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(take(&small, port, "r", "rds", "DescribeDBInstances", 1.0).is_none(), "refilled");
        forget(port);
    }
}

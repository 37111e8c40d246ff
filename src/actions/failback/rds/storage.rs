//! The storage a restored DB instance is asked for. The restore runs after the original was
//! renamed away, so a request RDS refuses leaves the identifier with no instance: what must follow
//! the snapshot follows it, and only what RDS accepts at that size is named.
//!
//! - **Size**: never less than the snapshot holds (RDS refuses it; recovery may have grown during
//!   the incident), else primary's.
//! - **gp3** (RDS user guide, "General Purpose SSD storage"): below 400 GiB (200 GiB for Oracle)
//!   the volume gets its baseline (3,000 IOPS, 125 MiB/s), which DescribeDBInstances reports as
//!   if set, and RDS refuses an explicit `Iops` or `StorageThroughput` (InvalidParameterCombination).
//!   SQL Server takes them at any size. At or above the threshold primary's values are named.
//! - **io1/io2** need their IOPS and take no throughput; **gp2** and **standard** take neither.

/// What a restore names about storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreStorage {
    pub storage_type: Option<String>,
    pub allocated: Option<i32>,
    pub iops: Option<i32>,
    pub throughput: Option<i32>,
}

/// Primary's recorded storage, as a restore from a snapshot holding `snapshot_gib` may ask for it.
pub fn for_restore(
    engine: &str,
    storage_type: Option<&str>,
    allocated: Option<i32>,
    iops: Option<i32>,
    throughput: Option<i32>,
    snapshot_gib: Option<i32>,
) -> RestoreStorage {
    let allocated = match (allocated, snapshot_gib) {
        (Some(a), Some(s)) => Some(a.max(s)),
        (a, s) => a.or(s),
    };
    let (iops, throughput) = match storage_type {
        Some("gp3") => match gp3_threshold(engine) {
            Some(t) if allocated.is_none_or(|a| a < t) => (None, None),
            _ => (iops, throughput),
        },
        Some("io1" | "io2") => (iops, None),
        _ => (None, None),
    };
    RestoreStorage { storage_type: storage_type.map(str::to_string), allocated, iops, throughput }
}

/// The size below which gp3 takes only its baseline, for `engine`; `None` where any size may be
/// given IOPS and throughput (SQL Server).
pub fn gp3_threshold(engine: &str) -> Option<i32> {
    if engine.starts_with("sqlserver") {
        None
    } else if engine.starts_with("oracle") {
        Some(200)
    } else {
        Some(400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restore(engine: &str, kind: &str, gib: i32, iops: Option<i32>, tput: Option<i32>, snap: i32) -> RestoreStorage {
        for_restore(engine, Some(kind), Some(gib), iops, tput, Some(snap))
    }

    #[test]
    fn small_gp3_names_no_iops_or_throughput_and_takes_the_snapshots_size() {
        let r = restore("postgres", "gp3", 100, Some(3000), Some(125), 150);
        assert_eq!((r.allocated, r.iops, r.throughput), (Some(150), None, None));
        let r = restore("mysql", "gp3", 100, Some(3000), Some(125), 20);
        assert_eq!((r.allocated, r.iops, r.throughput), (Some(100), None, None), "primary's size when larger");
    }

    #[test]
    fn the_threshold_depends_on_the_engine() {
        let r = restore("oracle-ee", "gp3", 300, Some(12000), Some(500), 300);
        assert_eq!((r.iops, r.throughput), (Some(12000), Some(500)), "Oracle's threshold is 200 GiB");
        let r = restore("postgres", "gp3", 300, Some(3000), Some(125), 300);
        assert_eq!((r.iops, r.throughput), (None, None));
        let r = restore("sqlserver-se", "gp3", 100, Some(4000), Some(200), 100);
        assert_eq!((r.iops, r.throughput), (Some(4000), Some(200)), "SQL Server: any size");
        let r = restore("postgres", "gp3", 350, Some(3000), Some(125), 400);
        assert_eq!((r.allocated, r.iops, r.throughput), (Some(400), Some(3000), Some(125)), "grown past it");
    }

    #[test]
    fn provisioned_iops_keeps_its_iops_and_gp2_names_neither() {
        let r = restore("postgres", "io1", 100, Some(5000), Some(125), 100);
        assert_eq!((r.iops, r.throughput), (Some(5000), None));
        let r = restore("postgres", "gp2", 100, Some(300), None, 100);
        assert_eq!((r.iops, r.throughput), (None, None));
    }
}

//! An Aurora cluster's configuration as `aurora.failback` records it before anything changes, and
//! how the whole Describe of the cluster before and after is judged ([`RULES`]).
//!
//! A restore from recovery's snapshot takes recovery's settings or the engine's defaults for
//! IAM authentication, log exports, storage type (I/O-Optimized), backtrack, the Data API and
//! the cluster's IAM roles: the restore is given what it accepts, the rest is set afterwards.

use super::super::instance_config::user_tags;
use crate::actions::failback::whole_diff::Rules;
use aws_sdk_rds::types::DbCluster;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The primary cluster's configuration, read before anything changes. Tags leave out
/// pilotlight's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterConfig {
    pub engine: String,
    pub engine_version: Option<String>,
    pub parameter_group: Option<String>,
    pub subnet_group: Option<String>,
    pub security_groups: Vec<String>,
    pub port: Option<i32>,
    pub deletion_protection: bool,
    pub backup_retention: Option<i32>,
    pub copy_tags_to_snapshot: bool,
    pub tags: IndexMap<String, String>,
    /// Aurora Serverless v2 capacity (ACUs, min and max). A restore does not carry it over, and
    /// without it every `db.serverless` member is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverless_v2: Option<(f64, f64)>,
    #[serde(default)]
    pub iam_auth: bool,
    /// CloudWatch log exports, sorted.
    #[serde(default)]
    pub log_exports: Vec<String>,
    /// `aurora-iopt1` (I/O-Optimized) when primary is; the default storage is not named.
    #[serde(default)]
    pub io_optimized: bool,
    /// Backtrack window (seconds; Aurora MySQL), when on.
    #[serde(default)]
    pub backtrack_window: Option<i64>,
    /// The Data API (HTTP endpoint).
    #[serde(default)]
    pub data_api: bool,
    /// IAM roles associated for features, as (role ARN, feature), sorted.
    #[serde(default)]
    pub roles: Vec<(String, String)>,
}

impl ClusterConfig {
    pub fn of(c: &DbCluster) -> ClusterConfig {
        let mut security_groups: Vec<String> =
            c.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id().map(str::to_string)).collect();
        security_groups.sort();
        let mut log_exports: Vec<String> = c.enabled_cloudwatch_logs_exports().to_vec();
        log_exports.sort();
        let mut roles: Vec<(String, String)> = c
            .associated_roles()
            .iter()
            .filter_map(|r| Some((r.role_arn()?.to_string(), r.feature_name().unwrap_or_default().to_string())))
            .collect();
        roles.sort();
        ClusterConfig {
            engine: c.engine().unwrap_or_default().to_string(),
            engine_version: c.engine_version().map(str::to_string),
            parameter_group: c.db_cluster_parameter_group().map(str::to_string),
            subnet_group: c.db_subnet_group().map(str::to_string).filter(|g| g != "default"),
            security_groups,
            port: c.port(),
            deletion_protection: c.deletion_protection().unwrap_or(false),
            backup_retention: c.backup_retention_period(),
            copy_tags_to_snapshot: c.copy_tags_to_snapshot().unwrap_or(false),
            tags: user_tags(c.tag_list()),
            serverless_v2: c
                .serverless_v2_scaling_configuration()
                .and_then(|s| Some((s.min_capacity()?, s.max_capacity()?))),
            iam_auth: c.iam_database_authentication_enabled().unwrap_or(false),
            log_exports,
            io_optimized: c.storage_type() == Some("aurora-iopt1"),
            backtrack_window: c.backtrack_window().filter(|w| *w > 0),
            data_api: c.http_endpoint_enabled().unwrap_or(false),
            roles,
        }
    }
}

/// How the whole Describe of the restored cluster is judged against primary's before.
pub const RULES: Rules<'static> = Rules {
    must_differ: &[
        "db_cluster_resource_id",
        "cluster_create_time",
        "earliest_restorable_time",
        "latest_restorable_time",
        "status",
        "percent_progress",
        "pending_modified_values",
        "status_infos",
        "clone_group_id",
        "earliest_backtrack_time",
        "backtrack_consumed_change_records",
        "io_optimized_next_allowed_modification_time",
        "automatic_restart_time",
        "capacity",
        "aws_backup_recovery_point_arn",
        "vpc_security_groups[].status",
        "associated_roles[].status",
        "db_cluster_option_group_memberships[].status",
        "domain_memberships[].status",
        "db_cluster_members[].db_cluster_parameter_group_status",
    ],
    reasons: &[
        ("engine_version", "a restore takes the snapshot's engine version (recovery's, which may be newer)"),
        (
            "master_user_secret",
            "a managed secret is not in a snapshot: whatever reads the old secret's ARN needs the new one",
        ),
        ("storage_encrypted", "encryption follows the snapshot copy (recovery's key, or the action's kms_key_id)"),
        ("kms_key_id", "encryption follows the snapshot copy (recovery's key, or the action's kms_key_id)"),
        ("master_username", "follows the snapshot (recovery's cluster)"),
        ("database_name", "follows the snapshot (recovery's cluster)"),
        ("availability_zones", "RDS chooses a restored cluster's zones"),
        ("global_cluster_identifier", "a restored cluster is not a member of a global database: add it again by hand"),
        ("read_replica_identifiers", "replicas stay with the kept original; a failback does not recreate them"),
        ("replication_source_identifier", "a restored cluster replicates from nothing"),
        ("allocated_storage", "Aurora storage grows with the data, which came from recovery"),
        (
            "db_cluster_parameter_group",
            "the engine's default group of the restored version (a custom group is given to the restore)",
        ),
    ],
};

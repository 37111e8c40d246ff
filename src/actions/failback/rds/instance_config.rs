//! An RDS instance's configuration as `rds.failback` records it before anything changes, what a
//! ModifyDBInstance must set again on the restored instance, and how the whole Describe before
//! and after is judged ([`RULES`]).
//!
//! A restore from recovery's snapshot takes recovery's settings or the engine's defaults for
//! much of this (IAM authentication, log exports, monitoring, Performance Insights, the CA, the
//! managed secret, associated roles), so everything here that differs afterwards is set again.

use crate::actions::failback::whole_diff::Rules;
use aws_sdk_rds::operation::modify_db_instance::builders::ModifyDBInstanceFluentBuilder;
use aws_sdk_rds::types::{CloudwatchLogsExportConfiguration, DbInstance, Tag};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The primary instance's configuration, read before anything changes: the restore is given it,
/// and what a restore cannot take is set afterwards. Tags leave out pilotlight's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceConfig {
    pub class: String,
    pub engine: String,
    pub subnet_group: Option<String>,
    pub parameter_group: Option<String>,
    pub option_group: Option<String>,
    pub security_groups: Vec<String>,
    pub multi_az: bool,
    pub storage_type: Option<String>,
    pub allocated_storage: Option<i32>,
    pub iops: Option<i32>,
    pub storage_throughput: Option<i32>,
    pub port: Option<i32>,
    pub publicly_accessible: Option<bool>,
    pub deletion_protection: bool,
    pub backup_retention: Option<i32>,
    pub copy_tags_to_snapshot: bool,
    pub tags: IndexMap<String, String>,
    #[serde(default)]
    pub iam_auth: bool,
    /// CloudWatch log exports, sorted.
    #[serde(default)]
    pub log_exports: Vec<String>,
    #[serde(default)]
    pub auto_minor_version_upgrade: Option<bool>,
    #[serde(default)]
    pub backup_window: Option<String>,
    #[serde(default)]
    pub maintenance_window: Option<String>,
    /// The storage autoscaling limit (GiB), when set.
    #[serde(default)]
    pub max_allocated_storage: Option<i32>,
    /// The zone of a single-AZ instance: the restore asks for it (RDS refuses a zone with Multi-AZ).
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub ca_certificate: Option<String>,
    /// Enhanced Monitoring: interval (seconds, 0 = off) and the role that publishes it.
    #[serde(default)]
    pub monitoring_interval: Option<i32>,
    #[serde(default)]
    pub monitoring_role: Option<String>,
    /// Performance Insights, when on: its KMS key and retention (days).
    #[serde(default)]
    pub performance_insights: Option<PerformanceInsights>,
    /// IAM roles associated for features (`s3Import`, ...), as (role ARN, feature), sorted.
    #[serde(default)]
    pub roles: Vec<(String, String)>,
    /// When the master password is managed in Secrets Manager: the secret's KMS key.
    #[serde(default)]
    pub managed_secret_kms: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceInsights {
    pub kms_key: Option<String>,
    pub retention_days: Option<i32>,
}

impl InstanceConfig {
    pub fn of(db: &DbInstance) -> InstanceConfig {
        let mut security_groups: Vec<String> =
            db.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id().map(str::to_string)).collect();
        security_groups.sort();
        let mut roles: Vec<(String, String)> = db
            .associated_roles()
            .iter()
            .filter_map(|r| Some((r.role_arn()?.to_string(), r.feature_name().unwrap_or_default().to_string())))
            .collect();
        roles.sort();
        let multi_az = db.multi_az().unwrap_or(false);
        InstanceConfig {
            class: db.db_instance_class().unwrap_or_default().to_string(),
            engine: db.engine().unwrap_or_default().to_string(),
            subnet_group: db.db_subnet_group().and_then(|g| g.db_subnet_group_name()).map(str::to_string),
            parameter_group: db
                .db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_name())
                .map(str::to_string),
            option_group: db.option_group_memberships().first().and_then(|g| g.option_group_name()).map(str::to_string),
            security_groups,
            multi_az,
            storage_type: db.storage_type().map(str::to_string),
            allocated_storage: db.allocated_storage(),
            iops: db.iops(),
            storage_throughput: db.storage_throughput(),
            port: db.endpoint().and_then(|e| e.port()).or(db.db_instance_port()).filter(|p| *p > 0),
            publicly_accessible: db.publicly_accessible(),
            deletion_protection: db.deletion_protection().unwrap_or(false),
            backup_retention: db.backup_retention_period(),
            copy_tags_to_snapshot: db.copy_tags_to_snapshot().unwrap_or(false),
            tags: user_tags(db.tag_list()),
            iam_auth: db.iam_database_authentication_enabled().unwrap_or(false),
            log_exports: {
                let mut logs: Vec<String> = db.enabled_cloudwatch_logs_exports().to_vec();
                logs.sort();
                logs
            },
            auto_minor_version_upgrade: db.auto_minor_version_upgrade(),
            backup_window: db.preferred_backup_window().map(str::to_string),
            maintenance_window: db.preferred_maintenance_window().map(str::to_string),
            max_allocated_storage: db.max_allocated_storage(),
            availability_zone: db.availability_zone().filter(|_| !multi_az).map(str::to_string),
            ca_certificate: db.ca_certificate_identifier().map(str::to_string),
            monitoring_interval: db.monitoring_interval(),
            monitoring_role: db.monitoring_role_arn().map(str::to_string),
            performance_insights: db.performance_insights_enabled().unwrap_or(false).then(|| PerformanceInsights {
                kms_key: db.performance_insights_kms_key_id().map(str::to_string),
                retention_days: db.performance_insights_retention_period(),
            }),
            roles,
            managed_secret_kms: db.master_user_secret().map(|s| s.kms_key_id().unwrap_or_default().to_string()),
        }
    }
}

/// Tags without pilotlight's own (`pilotlight:*`), which mark work, not configuration.
pub fn user_tags(list: &[Tag]) -> IndexMap<String, String> {
    super::tag_map(list).into_iter().filter(|(k, _)| !k.starts_with("pilotlight:")).collect()
}

/// A parameter or option group worth naming: the engine's default ones (`default.postgres16`,
/// `default:postgres-16`) are what a restore gets anyway, and naming one that does not exist in
/// the target (a different engine version's default) would fail the restore.
pub fn custom(group: &Option<String>) -> Option<String> {
    group.clone().filter(|g| !g.starts_with("default.") && !g.starts_with("default:"))
}

/// Sets on `req` every recorded setting that differs `now`, and says what (`what: now -> recorded`).
/// Settings the restore left at a default are set only when primary named them.
pub fn reapply(
    want: &InstanceConfig,
    now: &InstanceConfig,
    mut req: ModifyDBInstanceFluentBuilder,
) -> (ModifyDBInstanceFluentBuilder, Vec<String>) {
    let mut changes = Vec::new();
    let mut differs = |what: &str, was: String, is: String| {
        let differ = was != is;
        if differ {
            changes.push(format!("{what}: {is} -> {was}"));
        }
        differ
    };
    if differs("class", want.class.clone(), now.class.clone()) {
        req = req.db_instance_class(&want.class);
    }
    if differs("multi-AZ", want.multi_az.to_string(), now.multi_az.to_string()) {
        req = req.multi_az(want.multi_az);
    }
    if custom(&want.parameter_group).is_some()
        && differs("parameter group", format!("{:?}", want.parameter_group), format!("{:?}", now.parameter_group))
    {
        req = req.set_db_parameter_group_name(want.parameter_group.clone());
    }
    if differs("security groups", want.security_groups.join(","), now.security_groups.join(",")) {
        req = req.set_vpc_security_group_ids(Some(want.security_groups.clone()));
    }
    if differs("backup retention", format!("{:?}", want.backup_retention), format!("{:?}", now.backup_retention)) {
        req = req.set_backup_retention_period(want.backup_retention);
    }
    if differs("deletion protection", want.deletion_protection.to_string(), now.deletion_protection.to_string()) {
        req = req.deletion_protection(want.deletion_protection);
    }
    if differs("copy tags to snapshot", want.copy_tags_to_snapshot.to_string(), now.copy_tags_to_snapshot.to_string()) {
        req = req.copy_tags_to_snapshot(want.copy_tags_to_snapshot);
    }
    if differs("IAM database authentication", want.iam_auth.to_string(), now.iam_auth.to_string()) {
        req = req.enable_iam_database_authentication(want.iam_auth);
    }
    if differs("CloudWatch log exports", want.log_exports.join(","), now.log_exports.join(",")) {
        let enable = want.log_exports.iter().filter(|l| !now.log_exports.contains(l)).cloned().collect();
        let disable = now.log_exports.iter().filter(|l| !want.log_exports.contains(l)).cloned().collect();
        let logs = CloudwatchLogsExportConfiguration::builder()
            .set_enable_log_types(Some(enable))
            .set_disable_log_types(Some(disable))
            .build();
        req = req.cloudwatch_logs_export_configuration(logs);
    }
    // Settings primary named: set again when the restore left them otherwise.
    let named = |w: &Option<String>, n: &Option<String>| w.is_some() && w != n;
    let text = |v: Option<bool>| v.map(|b| b.to_string());
    if named(&text(want.auto_minor_version_upgrade), &text(now.auto_minor_version_upgrade))
        && differs(
            "auto minor version upgrade",
            format!("{:?}", want.auto_minor_version_upgrade),
            format!("{:?}", now.auto_minor_version_upgrade),
        )
    {
        req = req.set_auto_minor_version_upgrade(want.auto_minor_version_upgrade);
    }
    if named(&want.backup_window, &now.backup_window)
        && differs("backup window", format!("{:?}", want.backup_window), format!("{:?}", now.backup_window))
    {
        req = req.set_preferred_backup_window(want.backup_window.clone());
    }
    if named(&want.maintenance_window, &now.maintenance_window)
        && differs(
            "maintenance window",
            format!("{:?}", want.maintenance_window),
            format!("{:?}", now.maintenance_window),
        )
    {
        req = req.set_preferred_maintenance_window(want.maintenance_window.clone());
    }
    // RDS refuses a limit less than 10% above the storage, which may have grown with the
    // snapshot: such a limit stays a remaining difference.
    let fits = want
        .max_allocated_storage
        .is_some_and(|m| now.allocated_storage.is_none_or(|size| i64::from(m) * 10 >= i64::from(size) * 11));
    if fits
        && want.max_allocated_storage != now.max_allocated_storage
        && differs(
            "storage autoscaling limit",
            format!("{:?}", want.max_allocated_storage),
            format!("{:?}", now.max_allocated_storage),
        )
    {
        req = req.set_max_allocated_storage(want.max_allocated_storage);
    }
    if named(&want.ca_certificate, &now.ca_certificate)
        && differs("CA certificate", format!("{:?}", want.ca_certificate), format!("{:?}", now.ca_certificate))
    {
        req = req.set_ca_certificate_identifier(want.ca_certificate.clone());
    }
    // Enhanced Monitoring: RDS requires the role with any interval above 0.
    let monitoring = |c: &InstanceConfig| (c.monitoring_interval.unwrap_or(0), c.monitoring_role.clone());
    if want.monitoring_interval.is_some()
        && differs("Enhanced Monitoring", format!("{:?}", monitoring(want)), format!("{:?}", monitoring(now)))
    {
        req = req.set_monitoring_interval(want.monitoring_interval);
        if want.monitoring_interval.unwrap_or(0) > 0 {
            req = req.set_monitoring_role_arn(want.monitoring_role.clone());
        }
    }
    if differs(
        "Performance Insights",
        format!("{:?}", want.performance_insights),
        format!("{:?}", now.performance_insights),
    ) {
        req = req.enable_performance_insights(want.performance_insights.is_some());
        if let Some(pi) = &want.performance_insights {
            req = req
                .set_performance_insights_kms_key_id(pi.kms_key.clone())
                .set_performance_insights_retention_period(pi.retention_days);
        }
    }
    // A managed master secret is not in a snapshot: RDS makes a new one (a new ARN) on request.
    if want.managed_secret_kms.is_some()
        && now.managed_secret_kms.is_none()
        && differs("master password managed in Secrets Manager", "true".into(), "false".into())
    {
        req = req
            .manage_master_user_password(true)
            .set_master_user_secret_kms_key_id(want.managed_secret_kms.clone().filter(|k| !k.is_empty()));
    }
    (req, changes)
}

/// The IAM roles primary had that the restored instance lacks (AddRoleToDBInstance, one call each).
pub fn missing_roles<'a>(want: &'a InstanceConfig, now: &InstanceConfig) -> Vec<&'a (String, String)> {
    want.roles.iter().filter(|r| !now.roles.contains(r)).collect()
}

/// How the whole Describe of the restored instance is judged against primary's before.
pub const RULES: Rules<'static> = Rules {
    must_differ: &[
        "dbi_resource_id",
        "instance_create_time",
        "latest_restorable_time",
        "db_instance_status",
        "pending_modified_values",
        "status_infos",
        "percent_progress",
        "automatic_restart_time",
        "enhanced_monitoring_resource_arn",
        "aws_backup_recovery_point_arn",
        "storage_volume_status",
        "storage_operation_status",
        "storage_operation_percent_progress",
        "is_storage_config_upgrade_available",
        "vpc_security_groups[].status",
        "option_group_memberships[].status",
        "associated_roles[].status",
        "domain_memberships[].status",
    ],
    reasons: &[
        ("allocated_storage", "the snapshot held more (recovery grew): storage never shrinks"),
        ("iops", "gp3 below its threshold takes the baseline, which nobody names"),
        ("storage_throughput", "gp3 below its threshold takes the baseline, which nobody names"),
        (
            "max_allocated_storage",
            "RDS refuses a storage autoscaling limit less than 10% above the storage, which grew with the snapshot",
        ),
        ("engine_version", "a restore takes the snapshot's engine version (recovery's, which may be newer)"),
        (
            "master_user_secret",
            "a managed secret is not in a snapshot: RDS made a new one, and whatever reads the old secret's ARN needs the new one",
        ),
        (
            "availability_zone",
            "RDS chooses the zones of a Multi-AZ instance (a single-AZ one is restored into primary's zone)",
        ),
        ("secondary_availability_zone", "RDS chooses the zones of a Multi-AZ instance"),
        ("storage_encrypted", "encryption follows the snapshot copy (recovery's key, or the action's kms_key_id)"),
        ("kms_key_id", "encryption follows the snapshot copy (recovery's key, or the action's kms_key_id)"),
        ("master_username", "follows the snapshot (recovery's instance)"),
        ("db_name", "follows the snapshot (recovery's instance)"),
        (
            "read_replica_db_instance_identifiers",
            "read replicas stay with the kept original; a failback does not recreate them",
        ),
        (
            "read_replica_db_cluster_identifiers",
            "read replicas stay with the kept original; a failback does not recreate them",
        ),
        (
            "db_instance_automated_backups_replications",
            "cross-region automated backup replication is not turned on again by this version: do it by hand",
        ),
        ("certificate_details", "follows the CA certificate, set again when primary named one"),
        (
            "db_parameter_groups",
            "the engine's default group of the restored version (a custom group is given to the restore)",
        ),
        (
            "option_group_memberships",
            "the engine's default group of the restored version (a custom group is given to the restore)",
        ),
    ],
};

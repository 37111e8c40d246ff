//! Reads and mutations are different calls in the type system.
//!
//! Every SDK operation the tool uses is listed here once, as a read ([`Reading`]) or a mutation
//! ([`Mutating`]), on the SDK's own request builder type. [`read`] accepts only reading builders
//! and [`mutate`] only mutating ones, so a mutating call cannot be sent (or journaled) as a read:
//! the journal entry, the dry-run refusal and the label in an error all come from the builder's
//! type, not from a flag someone typed at the call site. An operation missing here does not
//! compile, which is the point: adding one is a deliberate, reviewed line.

use super::read_memo::{MemoUse, ReadMemo};
use super::{ActionError, Call, CallLog, RawAnswer, error_text};
use aws_sdk_sts::error::ProvideErrorMetadata;
use std::error::Error;
use std::future::Future;

/// A request builder for an operation that only reads.
pub trait Reading {
    const SERVICE: &'static str;
    const OPERATION: &'static str;
    type Output;
    type Error;
    /// Sends the call, with the SDK's retries.
    fn send_read(self) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
    /// The request's parameters (the key of its answer in a [`super::read_memo::ReadMemo`]).
    fn request(&self) -> &dyn std::fmt::Debug;
}

/// A request builder for an operation that can change state.
pub trait Mutating {
    const SERVICE: &'static str;
    const OPERATION: &'static str;
    type Output;
    type Error;
    /// Sends the call; the SDK does not send it again once it may have reached AWS unanswered
    /// (see [`super::no_resend`]), though it still retries throttling and refusals.
    fn send_once(self) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// Implements [`Reading`] or [`Mutating`] for SDK builders (`module::OperationName` pairs), and
/// lists them in a constant (`service`, `Operation`) so the permissions template can be checked
/// against exactly what the tool can send.
macro_rules! ops {
    ($list:ident = Reading, $sdk:ident, $service:literal: $($module:ident :: $op:ident),* $(,)?) => {
        pastey::paste! { $(
            impl Reading for $sdk::operation::$module::builders::[<$op FluentBuilder>] {
                const SERVICE: &'static str = $service;
                const OPERATION: &'static str = stringify!($op);
                type Output = $sdk::operation::$module::[<$module:camel Output>];
                type Error = $sdk::error::SdkError<$sdk::operation::$module::[<$op Error>], $sdk::config::http::HttpResponse>;
                fn send_read(self) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send {
                    self.send()
                }
                fn request(&self) -> &dyn std::fmt::Debug {
                    self.as_input()
                }
            }
        )* }
        const $list: &[(&str, &str)] = &[$(($service, stringify!($op))),*];
    };
    ($list:ident = Mutating, $sdk:ident, $service:literal: $($module:ident :: $op:ident),* $(,)?) => {
        pastey::paste! { $(
            impl Mutating for $sdk::operation::$module::builders::[<$op FluentBuilder>] {
                const SERVICE: &'static str = $service;
                const OPERATION: &'static str = stringify!($op);
                type Output = $sdk::operation::$module::[<$module:camel Output>];
                type Error = $sdk::error::SdkError<$sdk::operation::$module::[<$op Error>], $sdk::config::http::HttpResponse>;
                fn send_once(self) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send {
                    let once = $sdk::config::Builder::default()
                        .retry_classifier(super::no_resend::NoResendUnanswered::<$sdk::operation::$module::[<$op Error>]>::new());
                    self.customize().config_override(once).send()
                }
            }
        )* }
        const $list: &[(&str, &str)] = &[$(($service, stringify!($op))),*];
    };
}

ops!(STS_READS = Reading, aws_sdk_sts, "sts": get_caller_identity::GetCallerIdentity);
ops!(EC2_READS = Reading, aws_sdk_ec2, "ec2":
    describe_instances::DescribeInstances,
    describe_volumes::DescribeVolumes,
    describe_snapshots::DescribeSnapshots,
    describe_instance_status::DescribeInstanceStatus,
    describe_fast_snapshot_restores::DescribeFastSnapshotRestores,
);
ops!(EC2_WRITES = Mutating, aws_sdk_ec2, "ec2":
    create_snapshot::CreateSnapshot,
    create_snapshots::CreateSnapshots,
    copy_snapshot::CopySnapshot,
    create_volume::CreateVolume,
    stop_instances::StopInstances,
    start_instances::StartInstances,
    detach_volume::DetachVolume,
    attach_volume::AttachVolume,
    create_tags::CreateTags,
    delete_tags::DeleteTags,
    modify_snapshot_attribute::ModifySnapshotAttribute,
    modify_instance_attribute::ModifyInstanceAttribute,
    delete_volume::DeleteVolume,
    delete_snapshot::DeleteSnapshot,
    enable_fast_snapshot_restores::EnableFastSnapshotRestores,
    disable_fast_snapshot_restores::DisableFastSnapshotRestores,
);
ops!(AUTOSCALING_READS = Reading, aws_sdk_autoscaling, "autoscaling":
    describe_auto_scaling_instances::DescribeAutoScalingInstances,
    describe_auto_scaling_groups::DescribeAutoScalingGroups,
);
ops!(AUTOSCALING_WRITES = Mutating, aws_sdk_autoscaling, "autoscaling":
    enter_standby::EnterStandby,
    exit_standby::ExitStandby,
    suspend_processes::SuspendProcesses,
    resume_processes::ResumeProcesses,
);
ops!(RDS_READS = Reading, aws_sdk_rds, "rds":
    describe_db_instances::DescribeDBInstances,
    describe_db_clusters::DescribeDBClusters,
    describe_db_snapshots::DescribeDBSnapshots,
    describe_db_cluster_snapshots::DescribeDBClusterSnapshots,
    list_tags_for_resource::ListTagsForResource,
    describe_db_cluster_endpoints::DescribeDBClusterEndpoints,
    describe_option_groups::DescribeOptionGroups,
    describe_global_clusters::DescribeGlobalClusters,
);
ops!(RDS_WRITES = Mutating, aws_sdk_rds, "rds":
    create_db_snapshot::CreateDBSnapshot,
    copy_db_snapshot::CopyDBSnapshot,
    modify_db_instance::ModifyDBInstance,
    add_role_to_db_instance::AddRoleToDBInstance,
    add_role_to_db_cluster::AddRoleToDBCluster,
    restore_db_instance_from_db_snapshot::RestoreDBInstanceFromDBSnapshot,
    create_db_cluster_snapshot::CreateDBClusterSnapshot,
    copy_db_cluster_snapshot::CopyDBClusterSnapshot,
    modify_db_cluster::ModifyDBCluster,
    delete_db_instance::DeleteDBInstance,
    delete_db_snapshot::DeleteDBSnapshot,
    delete_db_cluster::DeleteDBCluster,
    delete_db_cluster_snapshot::DeleteDBClusterSnapshot,
    restore_db_cluster_from_snapshot::RestoreDBClusterFromSnapshot,
    create_db_instance::CreateDBInstance,
    create_db_cluster_endpoint::CreateDBClusterEndpoint,
    delete_db_cluster_endpoint::DeleteDBClusterEndpoint,
    add_tags_to_resource::AddTagsToResource,
    remove_tags_from_resource::RemoveTagsFromResource,
    modify_db_snapshot_attribute::ModifyDBSnapshotAttribute,
    modify_db_cluster_snapshot_attribute::ModifyDBClusterSnapshotAttribute,
    stop_db_instance::StopDBInstance,
    stop_db_cluster::StopDBCluster,
    create_db_instance_read_replica::CreateDBInstanceReadReplica,
    promote_read_replica::PromoteReadReplica,
    reboot_db_instance::RebootDBInstance,
    create_global_cluster::CreateGlobalCluster,
    create_db_cluster::CreateDBCluster,
    switchover_global_cluster::SwitchoverGlobalCluster,
    remove_from_global_cluster::RemoveFromGlobalCluster,
    delete_global_cluster::DeleteGlobalCluster,
);
ops!(CLOUDWATCH_READS = Reading, aws_sdk_cloudwatch, "cloudwatch": get_metric_data::GetMetricData);
ops!(KMS_READS = Reading, aws_sdk_kms, "kms": describe_key::DescribeKey);
ops!(IAM_READS = Reading, aws_sdk_iam, "iam": simulate_principal_policy::SimulatePrincipalPolicy);
ops!(DYNAMODB_READS = Reading, aws_sdk_dynamodb, "dynamodb":
    describe_table::DescribeTable,
    describe_continuous_backups::DescribeContinuousBackups,
    describe_time_to_live::DescribeTimeToLive,
    list_tags_of_resource::ListTagsOfResource,
    describe_export::DescribeExport,
    list_exports::ListExports,
    describe_import::DescribeImport,
    list_imports::ListImports,
    list_backups::ListBackups,
    describe_backup::DescribeBackup,
    get_resource_policy::GetResourcePolicy,
    scan::Scan,
);
ops!(DYNAMODB_WRITES = Mutating, aws_sdk_dynamodb, "dynamodb":
    export_table_to_point_in_time::ExportTableToPointInTime,
    import_table::ImportTable,
    create_backup::CreateBackup,
    delete_table::DeleteTable,
    restore_table_from_backup::RestoreTableFromBackup,
    update_table::UpdateTable,
    update_time_to_live::UpdateTimeToLive,
    update_continuous_backups::UpdateContinuousBackups,
    tag_resource::TagResource,
    put_resource_policy::PutResourcePolicy,
    delete_resource_policy::DeleteResourcePolicy,
    put_item::PutItem,
    batch_write_item::BatchWriteItem,
);
ops!(CFN_READS = Reading, aws_sdk_cloudformation, "cloudformation":
    describe_stacks::DescribeStacks,
    describe_stack_events::DescribeStackEvents,
    list_stack_resources::ListStackResources,
    get_template::GetTemplate,
);
ops!(CFN_WRITES = Mutating, aws_sdk_cloudformation, "cloudformation":
    create_stack::CreateStack,
    update_stack::UpdateStack,
    delete_stack::DeleteStack,
);
ops!(ROUTE53_READS = Reading, aws_sdk_route53, "route53":
    list_hosted_zones_by_name::ListHostedZonesByName,
    list_resource_record_sets::ListResourceRecordSets,
    get_change::GetChange,
);
ops!(ROUTE53_WRITES = Mutating, aws_sdk_route53, "route53": change_resource_record_sets::ChangeResourceRecordSets);

/// Every operation the tool can send that only reads: (service, operation).
pub const READS: &[&[(&str, &str)]] = &[
    STS_READS,
    EC2_READS,
    AUTOSCALING_READS,
    RDS_READS,
    CLOUDWATCH_READS,
    KMS_READS,
    IAM_READS,
    DYNAMODB_READS,
    CFN_READS,
    ROUTE53_READS,
];
/// Every operation the tool can send that can change state: (service, operation).
pub const WRITES: &[&[(&str, &str)]] =
    &[EC2_WRITES, AUTOSCALING_WRITES, RDS_WRITES, DYNAMODB_WRITES, CFN_WRITES, ROUTE53_WRITES];

/// What a call acts on: the resource it names and the region it goes to.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub target: &'a str,
    pub region: &'a str,
}

/// `At { target, region }`.
pub fn at<'a>(target: &'a str, region: &'a str) -> At<'a> {
    At { target, region }
}

/// An SDK error together with the call it answered, so "not found" can be an answer and anything
/// else becomes an [`ActionError::Aws`] naming the service, operation, target and region.
#[derive(Debug)]
pub struct AwsFailure<E> {
    pub error: E,
    pub label: ActionError,
}

impl<E: Error + ProvideErrorMetadata + RawAnswer + 'static> AwsFailure<E> {
    /// The service's error code (`DBInstanceNotFound`, `InvalidInstanceID.NotFound`, ...).
    pub fn code(&self) -> Option<&str> {
        self.error.code()
    }

    /// `code: message`, or the error chain.
    pub fn text(&self) -> String {
        error_text(&self.error)
    }

    /// True when the code or the text says the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        is_not_found(&self.error)
    }
}

impl<E> From<AwsFailure<E>> for ActionError {
    fn from(f: AwsFailure<E>) -> ActionError {
        f.label
    }
}

/// True when an error's code or text says the thing does not exist.
fn is_not_found<E: Error + ProvideErrorMetadata + RawAnswer + 'static>(e: &E) -> bool {
    let code = e.code().unwrap_or_default();
    code.contains("NotFound") || error_text(e).contains("does not exist")
}

/// The result of one call: the outer error is the journal's (or the dry-run guard's), the inner
/// one the service's.
pub type Sent<T, E> = Result<Result<T, AwsFailure<E>>, ActionError>;

async fn send<T, E, Fut>(log: &dyn CallLog, call: Call<'_>, fut: Fut) -> Sent<T, E>
where
    E: Error + ProvideErrorMetadata + RawAnswer + 'static,
    Fut: Future<Output = Result<T, E>>,
{
    if call.mutating {
        log.before_mutating(&call)?;
    }
    let result = fut.await;
    match &result {
        Err(e) if !call.mutating && is_not_found(e) => log.not_found(&call, error_text(e))?,
        _ => log.finished(&call, result.as_ref().err().map(error_text))?,
    }
    Ok(result.map_err(|error| {
        let text = error_text(&error);
        // The code the SDK parsed, else the one `error_text` read from a body it could not parse.
        let raw = text.split_once(':').map(|(c, _)| c).filter(|c| !c.is_empty() && !c.contains(' '));
        let label = call.error(error.code().or(raw), text.clone());
        AwsFailure { error, label }
    }))
}

/// Reads AWS throttled past the SDK's own attempts are sent again this many times, the pause
/// doubling from [`crate::pauses::Pauses::throttled_read`] up to `max_poll` (1 s to 15 s: about
/// ten minutes in all, as long as a storm of AWS's may last). A read changes nothing, so sending
/// it again is always safe.
pub const THROTTLED_READ_RETRIES: u32 = 40;

/// Sends a reading request, journaling its outcome (each attempt). Throttling past the SDK's
/// retries is waited out ([`THROTTLED_READ_RETRIES`]): a throttling storm during a long failback
/// must not fail a step on a describe.
pub async fn read<B>(log: &dyn CallLog, at: At<'_>, req: B) -> Sent<B::Output, B::Error>
where
    B: Reading + Clone,
    B::Output: Clone + Send + Sync + 'static,
    B::Error: Error + ProvideErrorMetadata + RawAnswer + 'static,
{
    let memo = log.memo().map(|m| (m, ReadMemo::key(B::SERVICE, B::OPERATION, at.region, req.request())));
    if let Some((MemoUse::Take(m), key)) = &memo
        && let Some(answer) = m.take::<B::Output>(key)
    {
        tracing::debug!(
            operation = B::OPERATION,
            target = at.target,
            "answered by a read the step just made (its preflight's, a wait's)"
        );
        return Ok(Ok(answer));
    }
    let answer = read_from_aws(log, at, req).await;
    match (memo, &answer) {
        (Some((MemoUse::Keep(m), key)), Ok(Ok(out))) => m.keep(key, out),
        (Some((MemoUse::KeepLatest(m), key)), Ok(Ok(out))) => m.keep_latest(key, out),
        _ => {}
    }
    answer
}

async fn read_from_aws<B>(log: &dyn CallLog, at: At<'_>, req: B) -> Sent<B::Output, B::Error>
where
    B: Reading + Clone,
    B::Error: Error + ProvideErrorMetadata + RawAnswer + 'static,
{
    let pauses = log.pauses();
    let mut pause = pauses.throttled_read;
    for _ in 0..THROTTLED_READ_RETRIES {
        let call = Call::new(B::SERVICE, B::OPERATION, at, false);
        match send(log, call, req.clone().send_read()).await? {
            Err(f) if f.label.transient() == Some(super::Transient::Throttled) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(pauses.max_poll);
            }
            answer => return Ok(answer),
        }
    }
    let call = Call::new(B::SERVICE, B::OPERATION, at, false);
    send(log, call, req.send_read()).await
}

/// How many times a mutating call AWS refused without acting (throttled, or a snapshot copy
/// refused for the copies in flight) is sent (about ten minutes at AWS's pauses: as long as a
/// throttling storm lasts, or copies take to free a slot).
pub const RESEND_TRIES: u32 = 40;

/// Whether AWS refused the call without acting on it, for a while: throttling (the request was
/// not processed), or a snapshot copy refused because too many are in flight.
fn refused_for_now(operation: &str, code: Option<&str>) -> bool {
    code.is_some_and(|c| super::THROTTLING.contains(&c))
        || (operation.starts_with("Copy") && matches!(code, Some("ResourceLimitExceeded" | "SnapshotQuotaExceeded")))
}

/// Sends a mutating request: journaled (and fsynced) as `sending` before it goes out, refused in
/// a dry run, and its outcome journaled. A call that may have reached AWS without an answer
/// coming back is [`ActionError::Unanswered`]: what it did is found out by the next attempt.
///
/// A call throttled past the SDK's attempts, or a snapshot copy refused because too many are in
/// flight to its destination region (EC2's `ResourceLimitExceeded`, RDS's
/// `SnapshotQuotaExceeded`: a quota that frees as copies finish), is sent again, journaled each
/// time, the pause doubling from [`crate::pauses::Pauses::throttled_read`] to `max_poll`, up to
/// [`RESEND_TRIES`] times: a refused call did nothing, so sending it again is safe.
pub async fn mutate<B>(log: &dyn CallLog, at: At<'_>, req: B) -> Sent<B::Output, B::Error>
where
    B: Mutating + Clone,
    B::Error: Error + ProvideErrorMetadata + RawAnswer + 'static,
{
    if let Some(MemoUse::Take(memo)) = log.memo() {
        memo.clear();
    }
    let pauses = log.pauses();
    let mut pause = pauses.throttled_read;
    let mut tries = 1;
    let sent = loop {
        let call = Call::new(B::SERVICE, B::OPERATION, at, true);
        match send(log, call, req.clone().send_once()).await? {
            Err(f) if tries < RESEND_TRIES && refused_for_now(B::OPERATION, f.code()) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(pauses.max_poll);
                tries += 1;
            }
            sent => break sent,
        }
    };
    let label = Call::new(B::SERVICE, B::OPERATION, at, true).label();
    match sent {
        Err(failure) if failure.error.unanswered() || super::no_resend::may_have_acted(failure.code()) => {
            Err(ActionError::Unanswered { call: label, message: error_text(&failure.error) })
        }
        other => Ok(other),
    }
}

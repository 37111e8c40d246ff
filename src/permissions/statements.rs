//! The policy statements of a generated permissions template: each call the side makes, on the
//! resources it touches (see the module above for the scoping rules). ARNs are `Fn::Sub`
//! strings, so the installing account and partition fill themselves in.
//!
//! Each call's grant lists every resource type IAM checks for it (an AttachVolume is checked on
//! the instance and on the volume), so one statement authorises the whole call; calls with the
//! same resources and condition share a statement.

use super::{Scope, Side};
use crate::actions::failback::rds::aurora::global::Staging;
use crate::runbook::ResourceType;
use serde_json::{Value, json};

/// KMS calls copies, restores and imports of encrypted data make on the caller's behalf.
const KMS: &[&str] = &["kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"];

/// Where the ARNs of one side point.
struct Place<'a> {
    region: &'a str,
    /// `${AWS::AccountId}` for the installing account, else the account (or `*` when unknown).
    account: String,
}

fn sub(text: String) -> Value {
    json!({ "Fn::Sub": text })
}

impl Place<'_> {
    fn arn(&self, service: &str, rest: &str) -> Value {
        sub(format!("arn:${{AWS::Partition}}:{service}:{}:{}:{rest}", self.region, self.account))
    }
    /// EC2 snapshots have no account in their ARN.
    fn snapshot(&self) -> Value {
        sub(format!("arn:${{AWS::Partition}}:ec2:{}::snapshot/*", self.region))
    }
    fn rds(&self, rest: &str) -> Value {
        self.arn("rds", rest)
    }
}

/// One call on its resources, with an optional condition.
struct Grant {
    action: String,
    resources: Vec<Value>,
    condition: Option<Value>,
}

#[derive(Default)]
struct Grants(Vec<Grant>);

impl Grants {
    fn add(&mut self, actions: &[&str], resources: Vec<Value>, condition: Option<Value>) {
        if resources.is_empty() {
            return;
        }
        for a in actions {
            self.0.push(Grant { action: a.to_string(), resources: resources.clone(), condition: condition.clone() });
        }
    }

    /// One statement per distinct (resources, condition), its calls sorted.
    fn statements(self) -> Vec<Value> {
        let mut out: Vec<(Vec<Value>, Option<Value>, Vec<String>)> = Vec::new();
        for g in self.0 {
            match out.iter_mut().find(|(r, c, _)| *r == g.resources && *c == g.condition) {
                Some((_, _, actions)) if !actions.contains(&g.action) => actions.push(g.action),
                Some(_) => {}
                None => out.push((g.resources, g.condition, vec![g.action])),
            }
        }
        out.into_iter()
            .enumerate()
            .map(|(i, (resources, condition, actions))| {
                let mut s = json!({ "Sid": format!("Grant{}", i + 1), "Effect": "Allow", "Action": actions, "Resource": resources });
                if let Some(c) = condition {
                    s["Condition"] = c;
                }
                s
            })
            .collect()
    }
}

/// The places of primary and recovery as seen from a template installed for `side`.
fn places(scope: &Scope, side: Side) -> (Place<'_>, Place<'_>) {
    let own = "${AWS::AccountId}".to_string();
    let other = |a: &Option<String>| a.clone().unwrap_or_else(|| "*".to_string());
    let same = scope.primary_account.is_some() && scope.primary_account == scope.recovery_account;
    let (p, r) = match side {
        Side::Primary => (own.clone(), if same { own } else { other(&scope.recovery_account) }),
        Side::Recovery => (if same { own.clone() } else { other(&scope.primary_account) }, own),
        Side::Both => (own.clone(), own),
    };
    (Place { region: &scope.primary_region, account: p }, Place { region: &scope.recovery_region, account: r })
}

/// Named instances: by id (`instance/i-...`), or all instances with a condition on their `Name`
/// tag. Only for calls on an instance alone (the condition would apply to a volume too).
fn named_instances(g: &mut Grants, actions: &[&str], at: &Place<'_>, ids: &[&str]) {
    let (by_id, by_name): (Vec<&str>, Vec<&str>) = ids.iter().partition(|i| i.starts_with("i-"));
    g.add(actions, by_id.iter().map(|i| at.arn("ec2", &format!("instance/{i}"))).collect(), None);
    if !by_name.is_empty() {
        let condition = json!({ "StringEquals": { "aws:ResourceTag/Name": by_name } });
        g.add(actions, vec![at.arn("ec2", "instance/*")], Some(condition));
    }
}

/// `<kind>:<id>` and `<kind>:<id>-pre-failback-*` (where the original is kept), for each id.
fn kept_and_new(kind: &str, at: &Place<'_>, ids: &[&str]) -> Vec<Value> {
    ids.iter()
        .flat_map(|id| [at.rds(&format!("{kind}:{id}")), at.rds(&format!("{kind}:{id}-pre-failback-*"))])
        .collect()
}

fn with(mut a: Vec<Value>, more: impl IntoIterator<Item = Value>) -> Vec<Value> {
    a.extend(more);
    a
}

/// Every statement of the template for `side`.
pub fn all(scope: &Scope, side: Side) -> Vec<Value> {
    let (p, r) = places(scope, side);
    let mut g = Grants::default();
    reads(scope, side, (&p, &r), &mut g);
    let ids = |kind, primary| scope.ids(kind, primary);
    let conclude = scope.uses("recovery.conclude");
    let groups = |at: &Place<'_>, kinds: &[&str]| kinds.iter().map(|k| at.rds(&format!("{k}:*"))).collect::<Vec<_>>();
    let rehearse = scope.uses("failback.rehearse");
    // Deletes by the rehearsal, of what it tagged as its own only.
    let staged = |stages: &[&str]| Some(json!({ "StringEquals": { "aws:ResourceTag/pilotlight:stage": stages } }));

    if side.primary() && rehearse {
        g.add(&["ec2:CreateVolume", "ec2:CreateTags"], vec![p.arn("ec2", "volume/*"), p.snapshot()], None);
        g.add(&["ec2:CopySnapshot"], vec![p.snapshot(), r.snapshot()], None);
        g.add(&["ec2:DeleteVolume"], vec![p.arn("ec2", "volume/*")], staged(&["rehearsal-volume"]));
        g.add(&["ec2:DeleteSnapshot"], vec![p.snapshot()], staged(&["rehearsal-copy"]));
    }
    if side.recovery() && rehearse {
        g.add(&["ec2:DeleteSnapshot"], vec![r.snapshot()], staged(&["rehearsal-snapshot"]));
    }
    if side.primary() && scope.uses("ec2.failback") {
        let stop_start = ["ec2:StopInstances", "ec2:StartInstances", "ec2:ModifyInstanceAttribute"];
        named_instances(&mut g, &stop_start, &p, &ids(ResourceType::Ec2Instance, true));
        // Checked on the instance and the volume at once: the region's, without a tag condition.
        g.add(
            &["ec2:AttachVolume", "ec2:DetachVolume"],
            vec![p.arn("ec2", "instance/*"), p.arn("ec2", "volume/*")],
            None,
        );
        g.add(&["ec2:CreateVolume", "ec2:CreateTags"], vec![p.arn("ec2", "volume/*"), p.snapshot()], None);
        g.add(&["ec2:CopySnapshot"], vec![p.snapshot(), r.snapshot()], None);
        // `fast_snapshot_restore` (an input of the bundled runbook, whose template is installed
        // whatever the inputs): on the failback's own copies only.
        let fsr = ["ec2:EnableFastSnapshotRestores", "ec2:DisableFastSnapshotRestores"];
        g.add(&fsr, vec![p.snapshot()], staged(&["primary-copy"]));
        let hold = [
            "autoscaling:EnterStandby",
            "autoscaling:ExitStandby",
            "autoscaling:SuspendProcesses",
            "autoscaling:ResumeProcesses",
        ];
        g.add(&hold, vec![p.arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*")], None);
        // `pilotlight undo`: the kept tags off the original volumes once they are back.
        let kept = Some(json!({ "StringEquals": { "aws:ResourceTag/pilotlight:retained": "true" } }));
        g.add(&["ec2:DeleteTags"], vec![p.arn("ec2", "volume/*")], kept);
    }
    if side.recovery() && (scope.uses("ec2.failback") || conclude || rehearse) {
        let all_three = vec![r.arn("ec2", "instance/*"), r.arn("ec2", "volume/*"), r.snapshot()];
        g.add(&["ec2:CreateSnapshots"], all_three, None);
        g.add(&["ec2:CreateSnapshot"], vec![r.arn("ec2", "volume/*"), r.snapshot()], None);
        g.add(&["ec2:CreateTags"], vec![r.snapshot()], None);
        if scope.uses("ec2.failback") || rehearse {
            g.add(&["ec2:ModifySnapshotAttribute"], vec![r.snapshot()], None);
        }
        if conclude {
            named_instances(&mut g, &["ec2:StopInstances"], &r, &ids(ResourceType::Ec2Instance, false));
        }
    }
    if side.recovery() && scope.uses("recovery.fence") {
        // The fence stops recovery's compute; lifting it starts what the fence stopped.
        let stop_start = ["ec2:StopInstances", "ec2:StartInstances"];
        named_instances(&mut g, &stop_start, &r, &ids(ResourceType::Ec2Instance, false));
    }
    if side.primary() && scope.uses("rds.failback") {
        let dbs = ids(ResourceType::RdsInstance, true);
        let named = kept_and_new("db", &p, &dbs);
        g.add(&["rds:ModifyDBInstance"], with(named.clone(), groups(&p, &["og", "pg", "secgrp"])), None);
        g.add(&["rds:AddRoleToDBInstance"], named.clone(), None);
        let targets: Vec<Value> = dbs.iter().map(|d| p.rds(&format!("db:{d}"))).collect();
        // A parameter group set again takes effect only once the instance is rebooted.
        g.add(&["rds:RebootDBInstance"], targets.clone(), None);
        let restore = with(with(targets, [p.rds("snapshot:pl-*")]), groups(&p, &["og", "pg", "subgrp", "secgrp"]));
        g.add(&["rds:RestoreDBInstanceFromDBSnapshot"], restore, None);
        g.add(&["rds:CopyDBSnapshot"], vec![p.rds("snapshot:pl-*"), r.rds("snapshot:pl-*")], None);
        g.add(&["rds:AddTagsToResource"], with(named.clone(), [p.rds("snapshot:pl-*")]), None);
        // `pilotlight undo`: this run's tags off the original once it is back.
        g.add(&["rds:RemoveTagsFromResource"], named, None);
    }
    if side.primary() && rehearse {
        // The rehearsal's temporary instances (`<id>-pl-test-<run>`), made, set up and deleted.
        let tests: Vec<Value> =
            ids(ResourceType::RdsInstance, true).iter().map(|d| p.rds(&format!("db:{d}-pl-test-*"))).collect();
        let restore =
            with(with(tests.clone(), [p.rds("snapshot:pl-*")]), groups(&p, &["og", "pg", "subgrp", "secgrp"]));
        g.add(&["rds:RestoreDBInstanceFromDBSnapshot"], restore, None);
        g.add(&["rds:ModifyDBInstance"], with(tests.clone(), groups(&p, &["og", "pg", "secgrp"])), None);
        g.add(&["rds:AddRoleToDBInstance", "rds:DeleteDBInstance"], tests.clone(), None);
        g.add(&["rds:CopyDBSnapshot"], vec![p.rds("snapshot:pl-*"), r.rds("snapshot:pl-*")], None);
        g.add(&["rds:AddTagsToResource"], with(tests, [p.rds("snapshot:pl-*")]), None);
        g.add(&["rds:DeleteDBSnapshot"], vec![p.rds("snapshot:pl-*")], None);
        // The rehearsal's temporary clusters and their instances (`<id>-pl-test-<run>`).
        let clusters: Vec<Value> =
            ids(ResourceType::AuroraCluster, true).iter().map(|c| p.rds(&format!("cluster:{c}-pl-test-*"))).collect();
        if !clusters.is_empty() {
            let members: Vec<Value> =
                ids(ResourceType::AuroraCluster, true).iter().map(|c| p.rds(&format!("db:{c}*-pl-test-*"))).collect();
            let restore = with(
                with(clusters.clone(), [p.rds("cluster-snapshot:pl-*")]),
                groups(&p, &["cluster-pg", "og", "subgrp"]),
            );
            g.add(&["rds:RestoreDBClusterFromSnapshot"], restore, None);
            let modify = with(clusters.clone(), groups(&p, &["cluster-pg", "og"]));
            g.add(&["rds:ModifyDBCluster"], modify, None);
            g.add(&["rds:AddRoleToDBCluster"], clusters.clone(), None);
            // IAM also checks the final snapshot a delete could take; the rehearsal takes none.
            let finals = ids(ResourceType::AuroraCluster, true)
                .iter()
                .map(|c| p.rds(&format!("cluster-snapshot:{c}-pl-test-*")))
                .collect::<Vec<_>>();
            g.add(&["rds:DeleteDBCluster"], with(clusters.clone(), finals), None);
            let create = with(with(members.clone(), clusters.clone()), groups(&p, &["og", "pg", "subgrp", "secgrp"]));
            g.add(&["rds:CreateDBInstance"], create, None);
            g.add(&["rds:DeleteDBInstance"], members.clone(), None);
            let copies = vec![p.rds("cluster-snapshot:pl-*"), r.rds("cluster-snapshot:pl-*")];
            g.add(&["rds:CopyDBClusterSnapshot"], copies, None);
            let tagged = with(with(clusters, members), [p.rds("cluster-snapshot:pl-*")]);
            g.add(&["rds:AddTagsToResource"], tagged, None);
            g.add(&["rds:DeleteDBClusterSnapshot"], vec![p.rds("cluster-snapshot:pl-*")], None);
        }
    }
    if side.primary() && scope.uses("aurora.failback") {
        let clusters = ids(ResourceType::AuroraCluster, true);
        let named = kept_and_new("cluster", &p, &clusters);
        // Members are recorded when the failback reads the cluster; their identifiers are
        // expected to start with the cluster's (`inventory-1`).
        let members: Vec<Value> = clusters.iter().map(|c| p.rds(&format!("db:{c}*"))).collect();
        let targets: Vec<Value> = clusters.iter().map(|c| p.rds(&format!("cluster:{c}"))).collect();
        g.add(&["rds:ModifyDBCluster"], with(named.clone(), groups(&p, &["cluster-pg", "og"])), None);
        let restore =
            with(with(targets.clone(), [p.rds("cluster-snapshot:pl-*")]), groups(&p, &["cluster-pg", "og", "subgrp"]));
        g.add(&["rds:RestoreDBClusterFromSnapshot"], restore, None);
        g.add(&["rds:AddRoleToDBCluster"], named.clone(), None);
        let create = with(with(members.clone(), targets.clone()), groups(&p, &["og", "pg", "subgrp", "secgrp"]));
        g.add(&["rds:CreateDBInstance"], create, None);
        g.add(&["rds:DeleteDBInstance"], members.clone(), None);
        g.add(&["rds:CreateDBClusterEndpoint"], with(targets, [p.rds("cluster-endpoint:*")]), None);
        g.add(&["rds:DeleteDBClusterEndpoint"], vec![p.rds("cluster-endpoint:*")], None);
        let copies = vec![p.rds("cluster-snapshot:pl-*"), r.rds("cluster-snapshot:pl-*")];
        g.add(&["rds:CopyDBClusterSnapshot"], copies, None);
        let untagged = with(named.clone(), members.clone());
        let tagged = with(with(named, members), [p.rds("cluster-snapshot:pl-*"), p.rds("cluster-endpoint:*")]);
        g.add(&["rds:AddTagsToResource"], tagged, None);
        // `pilotlight undo`: this run's tags off the original cluster and its instances.
        g.add(&["rds:RemoveTagsFromResource"], untagged, None);
    }
    if side.primary() && (scope.uses("rds.failback") || scope.uses("aurora.failback") || rehearse) {
        // Not a call: RDS checks the caller may pass the roles a restored instance is given.
        let roles = vec![sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*".into())];
        let to_rds =
            json!({ "StringEquals": { "iam:PassedToService": ["rds.amazonaws.com", "monitoring.rds.amazonaws.com"] } });
        g.add(&["iam:PassRole"], roles, Some(to_rds));
    }
    if side.recovery() && (scope.uses("rds.failback") || conclude || rehearse) {
        let dbs: Vec<Value> = ids(ResourceType::RdsInstance, false).iter().map(|d| r.rds(&format!("db:{d}"))).collect();
        g.add(&["rds:CreateDBSnapshot"], with(dbs.clone(), [r.rds("snapshot:pl-*")]), None);
        g.add(&["rds:AddTagsToResource"], vec![r.rds("snapshot:pl-*")], None);
        if scope.uses("rds.failback") || rehearse {
            g.add(&["rds:ModifyDBSnapshotAttribute"], vec![r.rds("snapshot:pl-*")], None);
        }
        if rehearse {
            g.add(&["rds:DeleteDBSnapshot"], vec![r.rds("snapshot:pl-*")], None);
        }
        if conclude {
            g.add(&["rds:StopDBInstance"], dbs, None);
        }
    }
    let aurora_rehearsal = rehearse && !ids(ResourceType::AuroraCluster, false).is_empty();
    if side.recovery() && (scope.uses("aurora.failback") || conclude || aurora_rehearsal) {
        let clusters: Vec<Value> =
            ids(ResourceType::AuroraCluster, false).iter().map(|c| r.rds(&format!("cluster:{c}"))).collect();
        g.add(&["rds:CreateDBClusterSnapshot"], with(clusters.clone(), [r.rds("cluster-snapshot:pl-*")]), None);
        g.add(&["rds:AddTagsToResource"], vec![r.rds("cluster-snapshot:pl-*")], None);
        if scope.uses("aurora.failback") || aurora_rehearsal {
            g.add(&["rds:ModifyDBClusterSnapshotAttribute"], vec![r.rds("cluster-snapshot:pl-*")], None);
        }
        if aurora_rehearsal {
            g.add(&["rds:DeleteDBClusterSnapshot"], vec![r.rds("cluster-snapshot:pl-*")], None);
        }
        if conclude {
            g.add(&["rds:StopDBCluster"], clusters, None);
        }
    }
    aurora_global(scope, side, (&p, &r), &mut g);
    rds_replica(scope, side, (&p, &r), &mut g);
    dynamodb(scope, side, (&p, &r), &mut g);
    let dns_here = scope
        .dns_environments
        .iter()
        .any(|e| (e == "primary" && side.primary()) || (e == "recovery" && side.recovery()));
    if dns_here && !scope.record_names.is_empty() {
        let records = json!({
            "ForAllValues:StringEquals": { "route53:ChangeResourceRecordSetsNormalizedRecordNames": scope.record_names }
        });
        let zones = vec![sub("arn:${AWS::Partition}:route53:::hostedzone/*".into())];
        g.add(&["route53:ChangeResourceRecordSets"], zones, Some(records));
    }
    kms(scope, side, &mut g);
    g.statements()
}

/// DynamoDB's calls on the declared tables, and what its export and import do on the caller's
/// behalf (the staging bucket, the import's log group).
/// The declared tables of one side (and their backups, exports, streams, indexes); on primary,
/// with a rehearsal, its temporary tables `<table>-pl-test-<run>` too.
fn table_arns(scope: &Scope, at: &Place<'_>, primary: bool, rehearse: bool) -> Vec<Value> {
    let mut names: Vec<String> =
        scope.ids(ResourceType::DynamodbTable, primary).iter().map(|t| t.to_string()).collect();
    if primary && rehearse {
        names.extend(scope.ids(ResourceType::DynamodbTable, true).iter().map(|t| format!("{t}-pl-test-*")));
    }
    names
        .iter()
        .flat_map(|t| [at.arn("dynamodb", &format!("table/{t}")), at.arn("dynamodb", &format!("table/{t}/*"))])
        .collect()
}

/// An Aurora failback through a global database (`aurora.stage-secondary`, `aurora.failback`
/// with `method: switchover`): the staging global database, its secondary and staging instance
/// in primary (made, renamed in, detached, the instance deleted), the global database's making,
/// switchover, detach and delete in recovery. A global database has no region in its ARN.
fn aurora_global(scope: &Scope, side: Side, (p, r): (&Place<'_>, &Place<'_>), g: &mut Grants) {
    if !(scope.uses("aurora.stage-secondary") || scope.uses(super::AURORA_SWITCHOVER)) {
        return;
    }
    // The names the failback gives them (shortened as it shortens them).
    let staging: Vec<Staging> = scope.ids(ResourceType::AuroraCluster, true).iter().map(|c| Staging::of(c)).collect();
    let globals = |at: &Place<'_>| -> Vec<Value> {
        let arn = |s: &Staging| sub(format!("arn:${{AWS::Partition}}:rds::{}:global-cluster:{}", at.account, s.global));
        staging.iter().map(arn).collect()
    };
    let secondaries: Vec<Value> = staging.iter().map(|s| p.rds(&format!("cluster:{}", s.cluster))).collect();
    if side.primary() {
        let instances: Vec<Value> = staging.iter().map(|s| p.rds(&format!("db:{}", s.instance))).collect();
        let groups = ["cluster-pg", "og", "subgrp", "secgrp"].map(|k| p.rds(&format!("{k}:*")));
        g.add(&["rds:CreateDBCluster"], with(with(secondaries.clone(), globals(p)), groups), None);
        let in_cluster = with(instances.clone(), secondaries.clone());
        let groups = ["og", "pg", "subgrp", "secgrp"].map(|k| p.rds(&format!("{k}:*")));
        g.add(&["rds:CreateDBInstance"], with(in_cluster, groups), None);
        g.add(&["rds:AddTagsToResource"], with(secondaries.clone(), instances.clone()), None);
        g.add(&["rds:RemoveFromGlobalCluster"], with(secondaries.clone(), globals(p)), None);
        g.add(&["rds:DeleteDBInstance"], instances, None);
        g.add(&["rds:ModifyDBCluster"], secondaries.clone(), None);
    }
    if side.recovery() {
        let clusters: Vec<Value> =
            scope.ids(ResourceType::AuroraCluster, false).iter().map(|c| r.rds(&format!("cluster:{c}"))).collect();
        g.add(&["rds:CreateGlobalCluster"], with(clusters.clone(), globals(r)), None);
        g.add(&["rds:AddTagsToResource"], globals(r), None);
        g.add(&["rds:SwitchoverGlobalCluster"], with(with(clusters.clone(), secondaries), globals(r)), None);
        g.add(&["rds:RemoveFromGlobalCluster"], with(clusters, globals(r)), None);
        g.add(&["rds:DeleteGlobalCluster"], globals(r), None);
    }
}

/// An RDS failback through a read replica (`rds.stage-replica`, `rds.failback` with `method:
/// replica`): the staged replica `<id>-pl-replica` made in primary from recovery's instance (IAM
/// checks the caller on both ARNs: the replica's and its source's), tagged, promoted and renamed
/// in. CloudWatch's GetMetricData is among the reads.
fn rds_replica(scope: &Scope, side: Side, (p, r): (&Place<'_>, &Place<'_>), g: &mut Grants) {
    if !side.primary() || !(scope.uses("rds.stage-replica") || scope.uses(super::RDS_REPLICA)) {
        return;
    }
    let replicas: Vec<Value> = scope
        .ids(ResourceType::RdsInstance, true)
        .iter()
        .map(|d| p.rds(&format!("db:{}", crate::actions::failback::rds::replica::replica_id(d))))
        .collect();
    // A replica's source may also be a Multi-AZ DB cluster, a resource type IAM lists for the
    // call: granted under the instance's own name only.
    let sources: Vec<Value> = scope
        .ids(ResourceType::RdsInstance, false)
        .iter()
        .flat_map(|d| [r.rds(&format!("db:{d}")), r.rds(&format!("cluster:{d}"))])
        .collect();
    let groups = ["og", "pg", "subgrp", "secgrp"].map(|k| p.rds(&format!("{k}:*")));
    g.add(&["rds:CreateDBInstanceReadReplica"], with(with(replicas.clone(), sources), groups), None);
    g.add(&["rds:AddTagsToResource", "rds:PromoteReadReplica", "rds:ModifyDBInstance"], replicas, None);
    // A promoted replica a way back set aside (`<id>-failed-<run>`, `<id>-failed-back-<run>`) is
    // tagged and renamed in from there.
    let aside: Vec<Value> =
        scope.ids(ResourceType::RdsInstance, true).iter().map(|d| p.rds(&format!("db:{d}-failed-*"))).collect();
    g.add(&["rds:AddTagsToResource", "rds:ModifyDBInstance"], aside, None);
}

fn dynamodb(scope: &Scope, side: Side, (p, r): (&Place<'_>, &Place<'_>), g: &mut Grants) {
    let conclude = scope.uses("recovery.conclude");
    let rehearse = scope.uses("failback.rehearse");
    let tables = |at: &Place<'_>, primary| table_arns(scope, at, primary, rehearse);
    let buckets = |objects: bool| -> Vec<Value> {
        let arn = |b: &String| {
            if objects {
                format!("arn:${{AWS::Partition}}:s3:::{b}/*")
            } else {
                format!("arn:${{AWS::Partition}}:s3:::{b}")
            }
        };
        scope.staging_buckets.iter().map(|b| sub(arn(b))).collect()
    };
    let copies = scope.uses("dynamodb.failback") || rehearse;
    if side.primary() && copies {
        let replace = [
            "dynamodb:CreateBackup",
            "dynamodb:DeleteTable",
            "dynamodb:ImportTable",
            "dynamodb:UpdateTable",
            "dynamodb:UpdateTimeToLive",
            "dynamodb:UpdateContinuousBackups",
            "dynamodb:TagResource",
            // The way back: the table restored from its safety backup under its name.
            "dynamodb:RestoreTableFromBackup",
        ];
        g.add(&replace, tables(p, true), None);
        // Not calls: DynamoDB writes the restored table's items as the caller (its user guide,
        // "IAM policy to allow restoring from a backup").
        let restore_writes = [
            "dynamodb:BatchWriteItem",
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:Scan",
            "dynamodb:UpdateItem",
        ];
        g.add(&restore_writes, tables(p, true), None);
        g.add(&["s3:GetObject"], buckets(true), None);
        g.add(&["s3:ListBucket"], buckets(false), None);
        let logs = [
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:DescribeLogStreams",
            "logs:PutLogEvents",
            "logs:PutRetentionPolicy",
        ];
        g.add(&logs, vec![p.arn("logs", "log-group:/aws-dynamodb/*")], None);
        g.add(&["logs:DescribeLogGroups"], vec![json!("*")], None);
    }
    if side.recovery() && copies {
        g.add(&["dynamodb:ExportTableToPointInTime"], tables(r, false), None);
        g.add(&["s3:PutObject", "s3:PutObjectAcl", "s3:AbortMultipartUpload"], buckets(true), None);
    }
    if side.recovery() && conclude {
        g.add(&["dynamodb:CreateBackup"], tables(r, false), None);
    }
    if side.recovery() && scope.uses("recovery.fence") {
        // The fence's deny-writes policy, put and taken off again; PutItem for its probe, a
        // write whose condition never holds, which the policy must refuse.
        let fence = ["dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy", "dynamodb:PutItem"];
        g.add(&fence, tables(r, false), None);
    }
}

/// Reads: the tool reads before it acts. Those IAM can scope go to the declared resources'
/// kinds in the two regions; the rest (EC2 and Auto Scaling describes, STS, lists by name) to `*`.
fn reads(scope: &Scope, side: Side, (p, r): (&Place<'_>, &Place<'_>), g: &mut Grants) {
    // Each side this template is for, with whether it is primary.
    let places: Vec<(&Place<'_>, bool)> = [(p, true), (r, false)]
        .into_iter()
        .filter(|(_, primary)| if *primary { side.primary() } else { side.recovery() })
        .collect();
    let each = |rest: &str| places.iter().map(|(at, _)| at.rds(rest)).collect::<Vec<_>>();
    let rehearse = scope.uses("failback.rehearse");
    let tables: Vec<Value> =
        places.iter().flat_map(|(at, primary)| table_arns(scope, at, *primary, rehearse)).collect();
    for (service, op) in crate::aws::ops::READS.iter().flat_map(|list| list.iter()) {
        let action = format!("{service}:{op}");
        let resources = match (*service, *op) {
            ("cloudformation", _) => continue,
            ("rds", "DescribeDBInstances") => each("db:*"),
            ("rds", "DescribeDBClusters") => each("cluster:*"),
            ("rds", "DescribeOptionGroups") => each("og:*"),
            // A global database's ARN has no region.
            ("rds", "DescribeGlobalClusters") => {
                let accounts =
                    places.iter().map(|(at, _)| at.account.clone()).collect::<std::collections::BTreeSet<_>>();
                accounts.iter().map(|a| sub(format!("arn:${{AWS::Partition}}:rds::{a}:global-cluster:*"))).collect()
            }
            // The keys of each side's own account and region (preflight reads who manages them).
            // Preflight asks the policy simulator about the role itself.
            ("iam", "SimulatePrincipalPolicy") => {
                vec![sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${RoleName}".into())]
            }
            ("kms", "DescribeKey") => places.iter().map(|(at, _)| at.arn("kms", "key/*")).collect(),
            ("dynamodb", op) if !op.starts_with("List") || op == "ListTagsOfResource" => tables.clone(),
            ("route53", "GetChange") => vec![sub("arn:${AWS::Partition}:route53:::change/*".into())],
            ("route53", "ListResourceRecordSets") => vec![sub("arn:${AWS::Partition}:route53:::hostedzone/*".into())],
            _ => vec![json!("*")],
        };
        g.add(&[action.as_str()], resources, None);
    }
}

/// KMS for encrypted copies, restores and imports: any key, but only through the services that
/// use it on the caller's behalf (the tool itself only reads a key: DescribeKey, with the reads). A key the steps name
/// (`kms_key_id`) is not enough to scope by: a copy also decrypts with the source's key, which
/// is recovery's and not named anywhere.
fn kms(scope: &Scope, side: Side, g: &mut Grants) {
    let mut regions = Vec::new();
    if side.primary() {
        regions.push(scope.primary_region.as_str());
    }
    if side.recovery() && !regions.contains(&scope.recovery_region.as_str()) {
        regions.push(scope.recovery_region.as_str());
    }
    let via: Vec<String> = regions
        .iter()
        .flat_map(|region| ["ec2", "rds", "dynamodb"].map(|s| format!("{s}.{region}.amazonaws.com")))
        .collect();
    let any_key = vec![sub("arn:${AWS::Partition}:kms:*:*:key/*".into())];
    g.add(KMS, any_key, Some(json!({ "StringEquals": { "kms:ViaService": via } })));
}

#!/usr/bin/env python3
"""The benchmark's baseline (bench/README.md): the failback of bench/sequential.yaml as a careful
responder would script it by hand with boto3, for pilotlight's wall time to be compared against.

The same procedure as the tool's `ec2.failback`, `rds.failback`, `aurora.failback` and
`dynamodb.failback`, one resource after another (app-server, worker, orders-db, inventory,
sessions); primary us-east-1, recovery us-west-2. The originals are kept as the tool keeps them:
volumes detached and tagged, databases renamed with deletion protection, the table in a backup.
No journal, no resume, no rollback: the first failure stops the script.

    bench/baseline_failback.py --endpoint http://127.0.0.1:PORT [--count-calls]

Waits use boto3's waiters where one fits, else a describe loop; both poll at once, then on the
tool's schedule (200 ms, doubling up to 15 s, never more than a tenth of the time waited), so that
the comparison measures everything but the polling (bench/README.md). The tool's waits beyond the bare steps are kept, so both do the same work: status checks
after the start, the Aurora cluster's last change applied, continuous backups ready for PITR. Prints each resource's wall time (and the part spent in waits), then the total; exits 0
on success, 1 on a failure. --count-calls prints {resource: {service.Operation: n}} as JSON on
stderr at the end. Standard library and boto3 only.
"""

import argparse
import collections
import json
import os
import sys
import time

import boto3
from botocore.exceptions import ClientError, WaiterError

PRIMARY, RECOVERY = "us-east-1", "us-west-2"
STAGING_BUCKET = "pilotlight-failback-staging"
KEPT = "-pre-failback-bench"  # suffix of the renamed original databases
STAMP = time.strftime("%Y%m%dt%H%M%Sz", time.gmtime())  # names this run's snapshots, backup, export
RUN_TAG = {"Key": "bench:run", "Value": STAMP}
TIMEOUT = 24 * 3600  # seconds per wait, the tool's default step timeout
CALLS = collections.defaultdict(collections.Counter)  # resource -> "service.Operation" -> calls
WAITED = collections.Counter()  # resource -> seconds spent in waits
NOW = ["setup"]  # the resource being failed back


class Side:
    """One environment's clients."""

    def __init__(self, session, region, endpoint):
        make = lambda service: session.client(service, region_name=region, endpoint_url=endpoint)
        self.ec2, self.rds, self.ddb = make("ec2"), make("rds"), make("dynamodb")


def drop_none(params):
    return {k: v for k, v in params.items() if v is not None}


FIRST_POLL, MAX_POLL = 0.2, 15.0  # the tool's schedule (src/pauses.rs, src/aws/wait.rs)


def pauses(start):
    """The pauses between polls: 200 ms, doubling up to 15 s, at most a tenth of the time waited."""
    delay = FIRST_POLL
    while True:
        yield delay
        delay = min(delay * 2, MAX_POLL, max((time.monotonic() - start) / 10, FIRST_POLL))


def wait(what, probe):
    """Calls probe() at once, then on the tool's schedule, until it answers something truthy."""
    start = time.monotonic()
    try:
        for pause in pauses(start):
            done = probe()
            if done:
                return done
            if time.monotonic() - start > TIMEOUT:
                raise TimeoutError(f"gave up waiting for {what}")
            time.sleep(pause)
    finally:
        WAITED[NOW[0]] += time.monotonic() - start


def waiter(client, name, **params):
    """A boto3 waiter's test (its acceptors), polled at once, then on the tool's schedule."""

    def probe():
        try:
            client.get_waiter(name).wait(WaiterConfig={"Delay": 0, "MaxAttempts": 1}, **params)
            return True
        except WaiterError as e:
            if "Max attempts exceeded" in str(e):
                return False
            raise

    wait(name, probe)


def ec2_wait(what, describe, ids, ready):
    """Until each of `ids` is ready; one in state `error` fails. EC2 is eventually consistent: an id
    just made may be unknown to the next describe (InvalidSnapshot.NotFound, InvalidVolume.NotFound),
    which boto3's snapshot and volume waiters take for a failure; here it means "not yet"."""

    def probe():
        try:
            found = describe(ids)
        except ClientError as e:
            if e.response["Error"]["Code"].endswith(".NotFound"):
                return False
            raise
        if failed := [x for x in found if x["State"] == "error"]:
            raise RuntimeError(f"{what}: in state error: {failed}")
        return len(found) == len(ids) and all(ready(x) for x in found)

    wait(what, probe)


def tags_of(kind, **extra):
    tags = [RUN_TAG] + [{"Key": k, "Value": v} for k, v in extra.items()]
    return [{"ResourceType": kind, "Tags": tags}]


def instance(ec2, name):
    res = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [name]}])["Reservations"]
    live = [i for r in res for i in r["Instances"] if i["State"]["Name"] not in ("terminated", "shutting-down")]
    if len(live) != 1:
        raise RuntimeError(f"{len(live)} live instances named {name} in {ec2.meta.region_name}, want 1")
    return live[0]


def ebs(inst):
    """device -> {VolumeId, DeleteOnTermination, ...} of an instance's EBS volumes."""
    return {m["DeviceName"]: m["Ebs"] for m in inst["BlockDeviceMappings"] if "Ebs" in m}


def fail_back_instance(p, r, name):
    rec, pri = instance(r.ec2, name), instance(p.ec2, name)
    pid, zone = pri["InstanceId"], pri["Placement"]["AvailabilityZone"]
    vols = r.ec2.describe_volumes(VolumeIds=[e["VolumeId"] for e in ebs(rec).values()])["Volumes"]
    vols = {v["VolumeId"]: v for v in vols}
    # Each recovery volume goes to its device on primary, the root volume to primary's root device.
    device = lambda d: pri["RootDeviceName"] if d == rec["RootDeviceName"] else d
    source = {device(d): vols[e["VolumeId"]] for d, e in ebs(rec).items()}
    originals = {d: e for d, e in ebs(pri).items() if d in source}  # detached and kept

    # One crash-consistent set of snapshots of the recovery instance's volumes, then their copies.
    spec = {"InstanceId": rec["InstanceId"], "ExcludeBootVolume": False}
    made = r.ec2.create_snapshots(InstanceSpecification=spec, Description=f"failback of {name}",
                                  TagSpecifications=tags_of("snapshot", **{"bench:resource": name}))["Snapshots"]
    device_of = {v["VolumeId"]: d for d, v in source.items()}
    snaps = {device_of[s["VolumeId"]]: s["SnapshotId"] for s in made if s["VolumeId"] in device_of}
    if len(snaps) != len(source):
        raise RuntimeError(f"CreateSnapshots of {rec['InstanceId']} made {len(snaps)} of {len(source)} snapshots")
    snapshots = lambda ec2: lambda ids: ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]
    completed = lambda s: s["State"] == "completed"
    ec2_wait("recovery snapshots", snapshots(r.ec2), list(snaps.values()), completed)
    copies = {}
    for d, snap in snaps.items():
        copies[d] = p.ec2.copy_snapshot(SourceRegion=RECOVERY, SourceSnapshotId=snap, Description=f"failback of {name}",
                                        TagSpecifications=tags_of("snapshot", **{"bench:resource": name}))["SnapshotId"]
    ec2_wait("copies in primary", snapshots(p.ec2), list(copies.values()), completed)

    # New volumes in the primary instance's zone: same type, size, IOPS and throughput.
    new = {}
    for d, v in source.items():
        iops = v.get("Iops") if v["VolumeType"] in ("io1", "io2", "gp3") else None
        throughput = v.get("Throughput") if v["VolumeType"] == "gp3" else None
        new[d] = p.ec2.create_volume(**drop_none(dict(
            AvailabilityZone=zone, SnapshotId=copies[d], Size=v["Size"], VolumeType=v["VolumeType"], Iops=iops,
            Throughput=throughput, TagSpecifications=tags_of("volume", Name=f"{name}:{d}"))))["VolumeId"]
    volumes = lambda ids: p.ec2.describe_volumes(VolumeIds=ids)["Volumes"]
    ec2_wait("new volumes", volumes, list(new.values()), lambda v: v["State"] == "available")

    # The swap: stop, keep the originals (tagged, detached), attach the new ones, start.
    p.ec2.stop_instances(InstanceIds=[pid])
    waiter(p.ec2, "instance_stopped", InstanceIds=[pid])
    for d, e in originals.items():
        kept = {"pilotlight:retained": "true", "pilotlight:former-instance": pid, "pilotlight:former-device": d}
        p.ec2.create_tags(Resources=[e["VolumeId"]], Tags=[{"Key": k, "Value": v} for k, v in kept.items()])
        p.ec2.detach_volume(VolumeId=e["VolumeId"], InstanceId=pid, Device=d)
    old = [e["VolumeId"] for e in originals.values()]
    ec2_wait("originals detached", volumes, old, lambda v: v["State"] == "available")
    for d, v in new.items():
        p.ec2.attach_volume(VolumeId=v, InstanceId=pid, Device=d)
    # `in-use` comes while the attachment is still `attaching` (boto3's volume_in_use waiter stops
    # there), and an instance started then may boot without the volume: wait for `attached`.
    attached = lambda v: v["State"] == "in-use" and [a["State"] for a in v["Attachments"]] == ["attached"]
    ec2_wait("new volumes attached", volumes, list(new.values()), attached)
    # An attached volume does not get DeleteOnTermination: each device's flag as it was.
    flags = [{"DeviceName": d, "Ebs": {"DeleteOnTermination": e["DeleteOnTermination"]}} for d, e in originals.items()]
    p.ec2.modify_instance_attribute(InstanceId=pid, BlockDeviceMappings=flags)
    p.ec2.start_instances(InstanceIds=[pid])
    waiter(p.ec2, "instance_running", InstanceIds=[pid])
    # Running is not booted: a restored root volume that does not boot fails its status checks.
    waiter(p.ec2, "instance_status_ok", InstanceIds=[pid])


def db_status(rds, cluster, ident):
    """An instance's or cluster's status, `... (pending)` while a change is pending; None when gone."""
    try:
        if cluster:
            db = rds.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]
        else:
            db = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    except ClientError as e:
        if e.response["Error"]["Code"] in ("DBClusterNotFoundFault", "DBInstanceNotFound"):
            return None
        raise
    status = db["Status"] if cluster else db["DBInstanceStatus"]
    return status + (" (pending)" if db.get("PendingModifiedValues") else "")


def user_tags(tags):
    return [t for t in tags or [] if not t["Key"].startswith(("pilotlight:", "bench:"))] + [RUN_TAG]


def custom(groups, key):
    """The first group's name when it is worth naming: the engine's default comes with a restore anyway."""
    group = groups if isinstance(groups, str) else next(iter(groups or []), {}).get(key)
    return group if group and not group.startswith(("default.", "default:")) else None


def snapshot_and_copy(p, r, cluster, ident):
    """Snapshots recovery's instance or cluster and copies that to primary; returns the copy."""
    snap, copy = f"bench-{STAMP}-{ident}-recovery", f"bench-{STAMP}-{ident}-primary-copy"
    kind = "DBClusterSnapshot" if cluster else "DBSnapshot"
    if cluster:
        made = r.rds.create_db_cluster_snapshot(DBClusterSnapshotIdentifier=snap, DBClusterIdentifier=ident,
                                                Tags=[RUN_TAG])
    else:
        made = r.rds.create_db_snapshot(DBSnapshotIdentifier=snap, DBInstanceIdentifier=ident, Tags=[RUN_TAG])
    waiter(r.rds, f"db{'_cluster' if cluster else ''}_snapshot_available", **{f"{kind}Identifier": snap})
    # Across regions the source is named by its ARN; RDS needs no pre-signed URL outside GovCloud.
    params = {f"Source{kind}Identifier": made[kind][f"{kind}Arn"], f"Target{kind}Identifier": copy, "Tags": [RUN_TAG]}
    made = (p.rds.copy_db_cluster_snapshot if cluster else p.rds.copy_db_snapshot)(**params)[kind]
    waiter(p.rds, f"db{'_cluster' if cluster else ''}_snapshot_available", **{f"{kind}Identifier": copy})
    return made


def keep_original(p, cluster, ident, arn):
    """Tags the original, renames it IDENT-pre-failback-bench with deletion protection on, and waits
    until the renamed one is available and the identifier is free."""
    kept = ident + KEPT
    p.rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "pilotlight:retained", "Value": "true"}, RUN_TAG])
    if cluster:
        p.rds.modify_db_cluster(DBClusterIdentifier=ident, NewDBClusterIdentifier=kept, DeletionProtection=True,
                                ApplyImmediately=True)
    else:
        p.rds.modify_db_instance(DBInstanceIdentifier=ident, NewDBInstanceIdentifier=kept, DeletionProtection=True,
                                 ApplyImmediately=True)
    renamed = lambda: db_status(p.rds, cluster, kept) == "available" and db_status(p.rds, cluster, ident) is None
    wait(f"{ident} renamed", renamed)


def restore(p, cluster, ident, params):
    call = p.rds.restore_db_cluster_from_snapshot if cluster else p.rds.restore_db_instance_from_db_snapshot
    try:
        call(**drop_none(params))
    except ClientError as e:
        # moto, not AWS: a restore in the same minute as the original's creation answers
        # DB(Cluster)SnapshotAlreadyExists (its automated snapshot `rds:IDENT-<minute>` has the name
        # the new one's would get), yet restores. Going on when the restore is there.
        if "SnapshotAlreadyExists" not in e.response["Error"]["Code"] or db_status(p.rds, cluster, ident) is None:
            raise


def fail_back_rds(p, r, ident):
    r.rds.describe_db_instances(DBInstanceIdentifier=ident)  # recovery's is there
    pri = p.rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    copy = snapshot_and_copy(p, r, False, ident)
    keep_original(p, False, ident, pri["DBInstanceArn"])
    # The restore is given primary's configuration; never less storage than the snapshot holds, and
    # IOPS and throughput only where RDS takes them (io1/io2; gp3 from 400 GiB).
    size = max(pri.get("AllocatedStorage") or 0, copy.get("AllocatedStorage") or 0)
    kind, multi_az = pri.get("StorageType"), pri.get("MultiAZ", False)
    provisioned = kind in ("io1", "io2") or (kind == "gp3" and size >= 400)
    restore(p, False, ident, dict(
        DBInstanceIdentifier=ident, DBSnapshotIdentifier=copy["DBSnapshotIdentifier"],
        DBInstanceClass=pri["DBInstanceClass"], MultiAZ=multi_az,
        AvailabilityZone=None if multi_az else pri.get("AvailabilityZone"),
        StorageType=kind, AllocatedStorage=size, Iops=pri.get("Iops") if provisioned else None,
        StorageThroughput=pri.get("StorageThroughput") if provisioned and kind == "gp3" else None,
        DBSubnetGroupName=pri.get("DBSubnetGroup", {}).get("DBSubnetGroupName"),
        VpcSecurityGroupIds=[g["VpcSecurityGroupId"] for g in pri.get("VpcSecurityGroups", [])] or None,
        DBParameterGroupName=custom(pri.get("DBParameterGroups"), "DBParameterGroupName"),
        OptionGroupName=custom(pri.get("OptionGroupMemberships"), "OptionGroupName"),
        Port=pri.get("Endpoint", {}).get("Port") or pri.get("DbInstancePort") or None,
        PubliclyAccessible=pri.get("PubliclyAccessible"), AutoMinorVersionUpgrade=pri.get("AutoMinorVersionUpgrade"),
        BackupRetentionPeriod=pri.get("BackupRetentionPeriod"), PreferredBackupWindow=pri.get("PreferredBackupWindow"),
        CACertificateIdentifier=pri.get("CACertificateIdentifier"),
        EnableIAMDatabaseAuthentication=pri.get("IAMDatabaseAuthenticationEnabled") or None,
        EnableCloudwatchLogsExports=pri.get("EnabledCloudwatchLogsExports") or None,
        DeletionProtection=pri.get("DeletionProtection", False),
        CopyTagsToSnapshot=pri.get("CopyTagsToSnapshot", False),
        Tags=user_tags(pri.get("TagList"))))
    waiter(p.rds, "db_instance_available", DBInstanceIdentifier=ident)


def fail_back_aurora(p, r, ident):
    r.rds.describe_db_clusters(DBClusterIdentifier=ident)  # recovery's is there
    pri = p.rds.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]
    writer_first = sorted(pri["DBClusterMembers"], key=lambda m: not m["IsClusterWriter"])
    members = [p.rds.describe_db_instances(DBInstanceIdentifier=m["DBInstanceIdentifier"])["DBInstances"][0]
               for m in writer_first]
    ids = [m["DBInstanceIdentifier"] for m in members]
    copy = snapshot_and_copy(p, r, True, ident)
    # The members go (the data stays in the kept cluster's volume), then the cluster is kept.
    if pri.get("DeletionProtection"):
        p.rds.modify_db_cluster(DBClusterIdentifier=ident, DeletionProtection=False, ApplyImmediately=True)
    for m in ids:
        p.rds.delete_db_instance(DBInstanceIdentifier=m)
    for m in ids:
        waiter(p.rds, "db_instance_deleted", DBInstanceIdentifier=m)
    keep_original(p, True, ident, pri["DBClusterArn"])

    scaling = pri.get("ServerlessV2ScalingConfiguration")
    restore(p, True, ident, dict(
        DBClusterIdentifier=ident, SnapshotIdentifier=copy["DBClusterSnapshotIdentifier"], Engine=pri["Engine"],
        DBClusterParameterGroupName=custom(pri.get("DBClusterParameterGroup"), None),
        DBSubnetGroupName=pri.get("DBSubnetGroup") if pri.get("DBSubnetGroup") != "default" else None,
        VpcSecurityGroupIds=[g["VpcSecurityGroupId"] for g in pri.get("VpcSecurityGroups", [])] or None,
        Port=pri.get("Port"), EnableIAMDatabaseAuthentication=pri.get("IAMDatabaseAuthenticationEnabled") or None,
        EnableCloudwatchLogsExports=pri.get("EnabledCloudwatchLogsExports") or None,
        StorageType="aurora-iopt1" if pri.get("StorageType") == "aurora-iopt1" else None,
        BacktrackWindow=pri.get("BacktrackWindow") or None, BackupRetentionPeriod=pri.get("BackupRetentionPeriod"),
        ServerlessV2ScalingConfiguration={k: scaling[k] for k in ("MinCapacity", "MaxCapacity")} if scaling else None,
        CopyTagsToSnapshot=pri.get("CopyTagsToSnapshot", False), DeletionProtection=False,  # on again at the end
        Tags=user_tags(pri.get("TagList"))))
    waiter(p.rds, "db_cluster_available", DBClusterIdentifier=ident)
    for m in members:  # the same identifiers, classes and promotion tiers, the writer first
        p.rds.create_db_instance(**drop_none(dict(
            DBInstanceIdentifier=m["DBInstanceIdentifier"], DBClusterIdentifier=ident, Engine=pri["Engine"],
            DBInstanceClass=m["DBInstanceClass"], PromotionTier=m.get("PromotionTier"),
            DBParameterGroupName=custom(m.get("DBParameterGroups"), "DBParameterGroupName"),
            AvailabilityZone=m.get("AvailabilityZone"), PubliclyAccessible=m.get("PubliclyAccessible"),
            AutoMinorVersionUpgrade=m.get("AutoMinorVersionUpgrade"), Tags=user_tags(m.get("TagList")))))
    for m in ids:
        waiter(p.rds, "db_instance_available", DBInstanceIdentifier=m)
    if pri.get("DeletionProtection"):
        p.rds.modify_db_cluster(DBClusterIdentifier=ident, DeletionProtection=True, ApplyImmediately=True)
        wait(f"{ident} protected again", lambda: db_status(p.rds, True, ident) == "available")


def finished(d, kind):
    """An export's or import's description once COMPLETED, None while it runs; raises when it failed."""
    status = d[f"{kind}Status"]
    if status in ("FAILED", "CANCELLED", "CANCELLING"):
        raise RuntimeError(f"{kind.lower()} {status}: {d.get('FailureCode')} {d.get('FailureMessage')}")
    return d if status == "COMPLETED" else None


def fail_back_table(p, r, name):
    rec = r.ddb.describe_table(TableName=name)["Table"]
    old = p.ddb.describe_table(TableName=name)["Table"]  # recorded: after the delete nothing says what it was
    ttl = p.ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    tags = p.ddb.list_tags_of_resource(ResourceArn=old["TableArn"]).get("Tags", [])
    pitr = p.ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    pitr = pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED"
    if old.get("LocalSecondaryIndexes") or old.get("Replicas"):
        raise RuntimeError(f"{name}: an import cannot create local indexes or global-table replicas")

    prefix = f"bench/{STAMP}/{name}"
    arn = r.ddb.export_table_to_point_in_time(TableArn=rec["TableArn"], S3Bucket=STAGING_BUCKET, S3Prefix=prefix,
                                              ExportFormat="DYNAMODB_JSON")["ExportDescription"]["ExportArn"]
    export = wait("export", lambda: finished(r.ddb.describe_export(ExportArn=arn)["ExportDescription"], "Export"))
    if export.get("ExportManifest"):  # PREFIX/AWSDynamoDB/<export id>/manifest-summary.json
        data = export["ExportManifest"].rsplit("/", 1)[0] + "/data/"
    elif "/export/" in arn:
        data = f"{prefix}/AWSDynamoDB/{arn.rsplit('/export/', 1)[1]}/data/"
    else:  # moto names neither; the prefix is this run's, so its AWSDynamoDB/ holds this export only
        data = f"{prefix}/AWSDynamoDB/"

    backup = p.ddb.create_backup(TableName=name, BackupName=f"bench-{STAMP}-{name}")["BackupDetails"]["BackupArn"]
    status = lambda: p.ddb.describe_backup(BackupArn=backup)["BackupDescription"]["BackupDetails"]["BackupStatus"]
    wait("safety backup", lambda: status() == "AVAILABLE")
    if old.get("DeletionProtectionEnabled"):
        p.ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
        waiter(p.ddb, "table_exists", TableName=name)  # ACTIVE again
    p.ddb.delete_table(TableName=name)
    waiter(p.ddb, "table_not_exists", TableName=name)

    # A new table under the same name from the export: keys, global indexes, billing, encryption.
    billing = old.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    capacity = lambda t: {k: t["ProvisionedThroughput"][k] for k in ("ReadCapacityUnits", "WriteCapacityUnits")}
    table = dict(TableName=name, AttributeDefinitions=old["AttributeDefinitions"], KeySchema=old["KeySchema"],
                 BillingMode=billing, ProvisionedThroughput=capacity(old) if billing == "PROVISIONED" else None)
    indexes = [drop_none({"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"],
                          "ProvisionedThroughput": capacity(g) if billing == "PROVISIONED" else None})
               for g in old.get("GlobalSecondaryIndexes", [])]
    table["GlobalSecondaryIndexes"] = indexes or None
    if old.get("SSEDescription", {}).get("SSEType") == "KMS":
        kms = old["SSEDescription"]["KMSMasterKeyArn"]
        table["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": kms}
    source = {"S3Bucket": STAGING_BUCKET, "S3KeyPrefix": data}
    iarn = p.ddb.import_table(S3BucketSource=source, InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
                              TableCreationParameters=drop_none(table))["ImportTableDescription"]["ImportArn"]
    done = wait("import", lambda: finished(p.ddb.describe_import(ImportArn=iarn)["ImportTableDescription"], "Import"))
    if done.get("ErrorCount") or done.get("ImportedItemCount", 0) < export.get("ItemCount", 0):
        raise RuntimeError(f"the import brought {done.get('ImportedItemCount')} of {export.get('ItemCount')} items")
    waiter(p.ddb, "table_exists", TableName=name)
    # Point-in-time recovery can be turned on once the new table's continuous backups are ready.
    backups = lambda: p.ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    wait("continuous backups", lambda: backups()["ContinuousBackupsStatus"] == "ENABLED")

    # What an import drops: tags, TTL, PITR, stream, table class; deletion protection last.
    new = p.ddb.describe_table(TableName=name)["Table"]
    p.ddb.tag_resource(ResourceArn=new["TableArn"], Tags=user_tags(tags))
    if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        spec = {"Enabled": True, "AttributeName": ttl["AttributeName"]}
        p.ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
    if pitr:
        spec = {"PointInTimeRecoveryEnabled": True}
        p.ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=spec)
    changes = []  # UpdateTable, one at a time: DynamoDB refuses the next while the table is UPDATING
    if old.get("StreamSpecification", {}).get("StreamEnabled"):
        changes.append({"StreamSpecification": old["StreamSpecification"]})
    table_class = lambda t: t.get("TableClassSummary", {}).get("TableClass", "STANDARD")
    if table_class(old) != table_class(new):
        changes.append({"TableClass": table_class(old)})
    if old.get("DeletionProtectionEnabled"):
        changes.append({"DeletionProtectionEnabled": True})
    for change in changes:
        p.ddb.update_table(TableName=name, **change)
        waiter(p.ddb, "table_exists", TableName=name)


def count_call(model, **_):
    """Counts each API call once (a waiter's every poll too), however often botocore retries it."""
    CALLS[NOW[0]][f"{model.service_model.service_name}.{model.name}"] += 1


def main():
    parser = argparse.ArgumentParser(description="The benchmark's baseline failback (bench/README.md).")
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"), help="e.g. the sandbox's URL")
    parser.add_argument("--count-calls", action="store_true", help="print the AWS calls per resource on stderr")
    args = parser.parse_args()
    if args.endpoint:  # the sandbox takes any credentials
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    start = time.monotonic()
    session = boto3.Session()
    if args.count_calls:
        session.events.register("before-call", count_call)
    p, r = Side(session, PRIMARY, args.endpoint), Side(session, RECOVERY, args.endpoint)
    steps = [("app-server", fail_back_instance), ("worker", fail_back_instance), ("orders-db", fail_back_rds),
             ("inventory", fail_back_aurora), ("sessions", fail_back_table)]
    failed = False
    for name, step in steps:
        NOW[0], began = name, time.monotonic()
        try:
            step(p, r, name)
        except Exception as e:  # any failure stops the failback where it is
            print(f"{name:<11} FAILED after {time.monotonic() - began:.2f} s: {e}", file=sys.stderr)
            failed = True
            break
        print(f"{name:<11} {time.monotonic() - began:7.2f} s  (in waits {WAITED[name]:.2f} s)", flush=True)
    print(f"{'total':<11} {time.monotonic() - start:7.2f} s  (in waits {sum(WAITED.values()):.2f} s)")
    if args.count_calls:
        calls = {res: dict(sorted(c.items())) for res, c in CALLS.items()}
        calls["calls_per_resource"] = {res: sum(c.values()) for res, c in CALLS.items()}
        print(json.dumps(calls, indent=1), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

//! The bundled failback runbook on the seeded sandbox, headless and auto-approved, checked with
//! independent describe calls: every primary resource failed back with its original kept, DNS on
//! primary, recovery in pilot light, and every retained item listed.

use super::support::{block_on, journal, only_run, pilotlight, recorded, run, sdk, seeded_moto, state_dir};
use pilotlight::journal::Event;
use pilotlight::sandbox::moto_api;
use std::collections::BTreeMap;

fn tags<'a>(list: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>) -> BTreeMap<String, String> {
    list.filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string()))).collect()
}

#[test]
fn the_bundled_failback_fails_everything_back_and_leaves_recovery_in_pilot_light() {
    let (moto, url) = seeded_moto();
    // Through the AWS-rules layer: it applies the fence's table policy, which bare moto ignores.
    // Every check below reads moto itself (`url`).
    let proxy = super::realism::RealismProxy::with_aws_rules(moto.port, Vec::new());
    let state = state_dir();
    let mut cmd = pilotlight(state.path());
    cmd.args(["run", "runbooks/failback.yaml", "--headless", "--auto-approve", "--endpoint-url"]);
    cmd.arg(proxy.endpoint_url());
    moto_api::start_recording(moto.port).unwrap();
    let out = run(cmd);
    moto_api::stop_recording(moto.port).unwrap();
    assert_eq!(out.status.code(), Some(0), "the bundled failback runs with no --var");
    // The line mode ends on the outcome: RTO and RPO against the runbook's targets, what was kept,
    // and the command that writes the report.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let outcome: Vec<&str> = stdout.lines().skip_while(|l| *l != "outcome:").collect();
    assert!(outcome.iter().any(|l| l.starts_with("  RTO ") && l.contains(" target)")), "{outcome:?}");
    assert!(outcome.iter().any(|l| l.starts_with("  RPO ") && l.contains(" target)")), "{outcome:?}");
    assert!(outcome.iter().any(|l| l.starts_with("  Kept ")), "{outcome:?}");
    assert!(outcome.last().is_some_and(|l| l.starts_with("  Report: pilotlight report ")), "{outcome:?}");

    // The permissions stack is installed with the responder's own credentials; every change in
    // primary after it goes through the role the stack created (temporary credentials).
    let calls = recorded(moto.port);
    let stack = calls.iter().find(|c| c.operation == "CreateStack").expect("CreateStack");
    assert_eq!(stack.access_key, "testing", "the stack is installed as the responder");
    let through_role: Vec<&str> = calls
        .iter()
        .filter(|c| c.region == "us-east-1" && c.mutating())
        .filter(|c| !matches!(c.operation.as_str(), "CreateStack" | "DeleteStack" | "AssumeRole"))
        .map(|c| {
            assert!(
                c.access_key.starts_with("ASIA"),
                "{} in primary was not sent through the role ({})",
                c.operation,
                c.access_key
            );
            c.operation.as_str()
        })
        .collect();
    for op in ["StopInstances", "ModifyDBInstance", "RestoreDBClusterFromSnapshot", "DeleteTable", "ImportTable"] {
        assert!(through_role.contains(&op), "{op} went through the role: {through_role:?}");
    }

    // The fence stopped recovery's writers before any failback took its recovery point, and the
    // conclusion took its deny statement off recovery's table (pilot light takes writes again).
    let fence_stop = calls.iter().position(|c| c.operation == "StopInstances" && c.region == "us-west-2");
    let first_point = calls.iter().position(|c| {
        c.region == "us-west-2" && matches!(c.operation.as_str(), "CreateSnapshots" | "ExportTableToPointInTime")
    });
    let policy_put = calls.iter().position(|c| c.operation == "PutResourcePolicy");
    assert!(fence_stop.is_some() && policy_put.is_some(), "the fence ran");
    let rehearsal_points = calls.iter().filter(|c| c.operation == "ExportTableToPointInTime").count();
    assert_eq!(rehearsal_points, 2, "the rehearsal's export and the failback's");
    let failback_export =
        calls.iter().rposition(|c| c.operation == "ExportTableToPointInTime").expect("the failback's export");
    assert!(policy_put < Some(failback_export), "the table fenced before its recovery point");
    assert!(first_point < fence_stop, "the rehearsal's points come before the fence (it disrupts nothing)");
    let recovery_table = aws_sdk_dynamodb::Client::new(&sdk(&url, "us-west-2"));
    let arn = "arn:aws:dynamodb:us-west-2:123456789012:table/sessions";
    let policy = block_on(recovery_table.get_resource_policy().resource_arn(arn).send());
    assert!(policy.is_err(), "the fence's policy was the table's only one: deleted at the conclusion");

    let (p, r) = (sdk(&url, "us-east-1"), sdk(&url, "us-west-2"));
    block_on(async {
        // EC2: both primary instances run on restored volumes; their old volumes are kept.
        let ec2 = aws_sdk_ec2::Client::new(&p);
        let vols = ec2.describe_volumes().send().await.unwrap();
        let vol_tags: BTreeMap<String, BTreeMap<String, String>> = vols
            .volumes()
            .iter()
            .map(|v| (v.volume_id().unwrap().to_string(), tags(v.tags().iter().map(|t| (t.key(), t.value())))))
            .collect();
        let insts = ec2.describe_instances().send().await.unwrap();
        let mut primary_instances = 0;
        for i in insts.reservations().iter().flat_map(|r| r.instances()) {
            primary_instances += 1;
            assert_eq!(i.state().and_then(|s| s.name()).unwrap().as_str(), "running");
            for m in i.block_device_mappings() {
                let id = m.ebs().unwrap().volume_id().unwrap();
                assert_eq!(vol_tags[id].get("pilotlight:stage").map(String::as_str), Some("restored"), "{id}");
            }
        }
        assert_eq!(primary_instances, 2);
        let kept = vol_tags.values().filter(|t| t.contains_key("pilotlight:retained")).count();
        assert_eq!(kept, 5, "the five original volumes are kept");

        // RDS and Aurora: served under the original identifiers, originals kept renamed.
        let rds = aws_sdk_rds::Client::new(&p);
        let dbs = rds.describe_db_instances().send().await.unwrap();
        let db = |id: &str| dbs.db_instances().iter().find(|d| d.db_instance_identifier() == Some(id)).cloned();
        let orders = db("orders-db").expect("orders-db");
        assert_eq!(orders.db_instance_status(), Some("available"));
        assert!(tags(orders.tag_list().iter().map(|t| (t.key(), t.value())))["pilotlight:stage"] == "restored");
        let kept_db: Vec<_> = dbs
            .db_instances()
            .iter()
            .filter(|d| d.db_instance_identifier().unwrap().starts_with("orders-db-pre-failback-"))
            .collect();
        assert_eq!(kept_db.len(), 1);
        assert_eq!(kept_db[0].deletion_protection(), Some(true));
        let clusters = rds.describe_db_clusters().send().await.unwrap();
        let inventory =
            clusters.db_clusters().iter().find(|c| c.db_cluster_identifier() == Some("inventory")).expect("inventory");
        assert_eq!(inventory.db_cluster_members().len(), 2);
        assert_eq!(inventory.deletion_protection(), Some(true));
        assert!(
            clusters
                .db_clusters()
                .iter()
                .any(|c| c.db_cluster_identifier().unwrap().starts_with("inventory-pre-failback-"))
        );

        // DynamoDB: the table holds exactly the recovery items, its configuration is back, and
        // a safety backup of the old one is kept.
        let scan = |config: &aws_config::SdkConfig| {
            let ddb = aws_sdk_dynamodb::Client::new(config);
            async move {
                let out = ddb.scan().table_name("sessions").send().await.unwrap();
                let mut ids: Vec<String> = out.items().iter().map(|i| i["pk"].as_s().unwrap().to_string()).collect();
                ids.sort();
                ids
            }
        };
        let (p_items, r_items) = (scan(&p).await, scan(&r).await);
        assert_eq!(p_items, r_items, "primary holds exactly the recovery items");
        assert_eq!(p_items.len(), 25);
        let ddb = aws_sdk_dynamodb::Client::new(&p);
        let table = ddb.describe_table().table_name("sessions").send().await.unwrap();
        let table = table.table().unwrap();
        assert_eq!(table.global_secondary_indexes().len(), 1);
        assert!(table.stream_specification().is_some_and(|s| s.stream_enabled()), "stream back");
        assert_eq!(table.deletion_protection_enabled(), Some(true));
        let ttl = ddb.describe_time_to_live().table_name("sessions").send().await.unwrap();
        assert_eq!(ttl.time_to_live_description().and_then(|t| t.attribute_name()), Some("expires_at"));
        let pitr = ddb.describe_continuous_backups().table_name("sessions").send().await.unwrap();
        let pitr = pitr.continuous_backups_description().and_then(|d| d.point_in_time_recovery_description());
        assert_eq!(pitr.and_then(|d| d.point_in_time_recovery_status()).map(|s| s.as_str()), Some("ENABLED"));
        let backups = ddb.list_backups().table_name("sessions").send().await.unwrap();
        assert_eq!(backups.backup_summaries().len(), 1, "one safety backup");

        // DNS on primary.
        let r53 = aws_sdk_route53::Client::new(&p);
        let zones = r53.list_hosted_zones_by_name().dns_name("example.internal.").send().await.unwrap();
        let zone = zones.hosted_zones()[0].id().to_string();
        let sets = r53.list_resource_record_sets().hosted_zone_id(zone).send().await.unwrap();
        let app = sets.resource_record_sets().iter().find(|s| s.name() == "app.example.internal.").unwrap();
        assert_eq!(app.resource_records()[0].value(), "10.0.1.10");

        // Recovery in pilot light: compute stopped, nothing deleted.
        let ec2 = aws_sdk_ec2::Client::new(&r);
        let insts = ec2.describe_instances().send().await.unwrap();
        for i in insts.reservations().iter().flat_map(|r| r.instances()) {
            assert_eq!(i.state().and_then(|s| s.name()).unwrap().as_str(), "stopped");
        }
        let rds = aws_sdk_rds::Client::new(&r);
        let dbs = rds.describe_db_instances().db_instance_identifier("orders-db").send().await.unwrap();
        assert_eq!(dbs.db_instances()[0].db_instance_status(), Some("stopped"));
        let cl = rds.describe_db_clusters().db_cluster_identifier("inventory").send().await.unwrap();
        assert_eq!(cl.db_clusters()[0].status(), Some("stopped"));
    });

    // Every retained item is in the step outputs: kept volumes, renamed instance and cluster,
    // failback snapshots, final recovery points.
    let (_, dir) = only_run(state.path());
    let mut retained: Vec<(String, String)> = Vec::new();
    for e in journal(&dir) {
        if let Event::ActionFinished { ok: true, outputs, .. } = &e.event
            && let Some(items) = outputs.get("retained").and_then(|v| v.as_array())
        {
            retained
                .extend(items.iter().map(|i| (i["kind"].as_str().unwrap().into(), i["id"].as_str().unwrap().into())));
        }
    }
    let count = |kind: &str| retained.iter().filter(|(k, _)| k == kind).count();
    assert_eq!(count("ebs_volume"), 5);
    assert_eq!(
        count("ebs_snapshot"),
        5 * 2 + 5 * 2 + 5,
        "the rehearsal's staged snapshots and copies, the failback's, then the final recovery points"
    );
    assert_eq!((count("rds_instance"), count("aurora_cluster")), (1, 1));
    assert_eq!(count("dynamodb_backup"), 2, "the safety backup and the final recovery point");

    // The after-action report lists every one of them, and measures RTO.
    let (id, _) = only_run(state.path());
    let mut cmd = pilotlight(state.path());
    cmd.args(["report", &id, "--format", "json"]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let mut listed: Vec<(String, String)> = report["retained"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["kind"].as_str().unwrap().into(), i["id"].as_str().unwrap().into()))
        .collect();
    listed.sort();
    retained.sort();
    retained.dedup();
    assert_eq!(listed, retained, "the report lists every retained item");
    let rto = &report["objectives"]["rto"];
    assert!(rto["measured_ms"].as_u64().is_some(), "RTO measured from the journal: {rto}");
    assert_eq!(rto["verdict"], "ok", "within the runbook's 4h target: {rto}");
    let rpo = report["objectives"]["rpo"].as_array().unwrap();
    assert!(rpo.len() >= 4, "an RPO per failed-back resource type: {rpo:?}");

    // Every AWS call of a per-resource action is journaled with the sub-step, and so the
    // resource, that made it: the report's call table has a row per resource and none left
    // over under those steps.
    let per_resource = ["ec2.failback", "rds.failback", "aurora.failback", "dynamodb.failback", "recovery.conclude"];
    let steps = report["steps"].as_array().unwrap();
    let resource_steps: Vec<&str> = steps
        .iter()
        .filter(|s| per_resource.contains(&s["action"].as_str().unwrap_or("")))
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(resource_steps.len(), 5, "{resource_steps:?}");
    let mut by_sub = 0;
    for e in journal(&dir) {
        if let Event::AwsCall { step, sub, .. } = &e.event
            && resource_steps.contains(&step.as_str())
        {
            let sub = sub.as_ref().unwrap_or_else(|| panic!("a call of {step} with no sub-step: {e:?}"));
            assert!(sub.resource.is_some(), "a call of {step} outside any resource's sub-step: {e:?}");
            by_sub += 1;
        }
    }
    assert!(by_sub > 50, "the failback steps made {by_sub} calls");
    for row in report["aws_calls"].as_array().unwrap() {
        if resource_steps.contains(&row["step"].as_str().unwrap()) {
            assert!(row["resource"].is_string(), "calls of a per-resource step under no resource: {row}");
        }
    }
}

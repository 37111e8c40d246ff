//! The bundled failback on the hard sandbox world (`sandbox seed --variant hard`) under AWS's
//! rules ([`super::realism::rules`]): gp3 under 400 GiB whose recovery grew, an Aurora Serverless v2
//! cluster whose recovery side was upgraded, an `InService` Auto Scaling member, data on three
//! volumes. It fails everything back, checked with describe calls to moto itself (the databases'
//! whole Describe included: nothing differs from before without a reason), and a second failback
//! after it succeeds too.

use super::realism::RealismProxy;
use super::support::{block_on, moto, pilotlight, run, sdk, state_dir};
use pilotlight::actions::failback::rds::aurora::cluster_config::RULES as CLUSTER;
use pilotlight::actions::failback::rds::instance_config::RULES as INSTANCE;
use pilotlight::actions::failback::whole_diff::{UNKNOWN, differences};
use pilotlight::aws::answer_tree::tree;
use serde_json::Value;

/// The whole Describe of `orders-db`, the `inventory` cluster and each of its members, by name.
fn databases(rds: &aws_sdk_rds::Client) -> Vec<(String, Value)> {
    let out = block_on(rds.describe_db_instances().db_instance_identifier("orders-db").send()).unwrap();
    let mut all = vec![("orders-db".to_string(), tree(&out.db_instances()[0]))];
    let out = block_on(rds.describe_db_clusters().db_cluster_identifier("inventory").send()).unwrap();
    let cluster = &out.db_clusters()[0];
    all.push(("inventory".to_string(), tree(cluster)));
    let mut members: Vec<&str> =
        cluster.db_cluster_members().iter().filter_map(|m| m.db_instance_identifier()).collect();
    members.sort();
    for id in members {
        let out = block_on(rds.describe_db_instances().db_instance_identifier(id).send()).unwrap();
        all.push((id.to_string(), tree(&out.db_instances()[0])));
    }
    all
}

#[test]
fn the_bundled_failback_succeeds_twice_on_the_hard_world_under_aws_rules() {
    let moto = moto();
    let url = moto.endpoint_url();
    let mut seed = pilotlight(state_dir().path());
    seed.args(["sandbox", "seed", "--variant", "hard", "--endpoint-url", &url]);
    assert_eq!(run(seed).status.code(), Some(0), "the hard world seeds");
    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    // The whole Describe of the databases, as AWS answers it (through the rules layer).
    let ruled = aws_sdk_rds::Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    let before = databases(&ruled);
    for pass in ["test", "real"] {
        let state = state_dir();
        let mut cmd = pilotlight(state.path());
        cmd.args(["run", "runbooks/failback.yaml", "--headless", "--auto-approve"])
            .args(["--endpoint-url", &proxy.endpoint_url()]);
        let out = run(cmd);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "the {pass} failback: {stdout}");
        // Checked before the gate: what the restore takes from recovery is said there.
        if pass == "test" {
            assert!(
                stdout.contains("failback-rds: preflight WARN orders_db storage: recovery grew to 150 GiB"),
                "{stdout}"
            );
            assert!(stdout.contains("failback-aurora: preflight WARN inventory_cluster engine-version"), "{stdout}");
        }
        let after = databases(&ruled);
        let mut differ = Vec::new();
        for ((name, was), (_, is)) in before.iter().zip(&after) {
            let rules = if name == "inventory" { &CLUSTER } else { &INSTANCE };
            differ.extend(differences(was, is, rules).into_iter().map(|d| format!("{name}: {d}")));
        }
        let unexplained: Vec<&String> = differ.iter().filter(|d| d.contains(UNKNOWN)).collect();
        assert!(unexplained.is_empty(), "after the {pass} failback, with no reason: {unexplained:#?}\n{differ:#?}");
    }

    let rds = aws_sdk_rds::Client::new(&sdk(&url, "us-east-1"));
    let out = block_on(rds.describe_db_instances().db_instance_identifier("orders-db").send()).unwrap();
    let db = &out.db_instances()[0];
    assert_eq!((db.storage_type(), db.allocated_storage()), (Some("gp3"), Some(150)), "the snapshot's size");
    let out = block_on(rds.describe_db_clusters().db_cluster_identifier("inventory").send()).unwrap();
    let cluster = &out.db_clusters()[0];
    assert_eq!(cluster.engine_version(), Some("16.1"), "the snapshot's newer engine version");
    assert!(cluster.serverless_v2_scaling_configuration().is_some());
    let members: Vec<&str> = cluster.db_cluster_members().iter().filter_map(|m| m.db_instance_identifier()).collect();
    assert_eq!(members.len(), 2, "both db.serverless members back: {members:?}");
    let asg = aws_sdk_autoscaling::Client::new(&sdk(&url, "us-east-1"));
    let out = block_on(asg.describe_auto_scaling_groups().auto_scaling_group_names("app-server").send()).unwrap();
    let group = &out.auto_scaling_groups()[0];
    let states: Vec<&str> = group.instances().iter().filter_map(|i| i.lifecycle_state().map(|s| s.as_str())).collect();
    assert_eq!(states, ["InService"], "the app server is back in service, and nothing replaced it");
    assert!(group.suspended_processes().is_empty(), "the group at its minimum has its processes back");
}

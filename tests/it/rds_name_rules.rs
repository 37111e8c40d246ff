//! An RDS identifier in use is taken (the AWS-rules layer, [`pilotlight::sandbox::realism`]): a
//! rename, a cluster create or a cluster restore under the name of another instance or cluster of
//! the region is refused, and both are left as they were. Bare moto replaces the other one: a
//! failback, rollback or undo that renamed in the wrong order would destroy primary's original in
//! the sandbox and pass. Checked with describe calls to moto itself.

use super::realism::RealismProxy;
use super::support::{block_on, moto, postgres, rds_code, sdk};
use aws_sdk_rds::Client;
use aws_sdk_rds::types::Tag;

/// Each instance's identifier and its `who` tag (the name it was made under), in order.
fn instances(rds: &Client) -> Vec<(String, String)> {
    let out = block_on(rds.describe_db_instances().send()).expect("DescribeDBInstances");
    let mut all: Vec<(String, String)> = out
        .db_instances()
        .iter()
        .map(|d| {
            let who = d.tag_list().iter().find(|t| t.key() == Some("who")).and_then(|t| t.value()).unwrap_or("-");
            (d.db_instance_identifier().unwrap_or_default().to_string(), who.to_string())
        })
        .collect();
    all.sort();
    all
}

/// Each cluster's identifier and its `who` tag, in order.
fn clusters(rds: &Client) -> Vec<(String, String)> {
    let out = block_on(rds.describe_db_clusters().send()).expect("DescribeDBClusters");
    let mut all: Vec<(String, String)> = out
        .db_clusters()
        .iter()
        .map(|c| {
            let who = c.tag_list().iter().find(|t| t.key() == Some("who")).and_then(|t| t.value()).unwrap_or("-");
            (c.db_cluster_identifier().unwrap_or_default().to_string(), who.to_string())
        })
        .collect();
    all.sort();
    all
}

fn who(name: &str) -> Tag {
    Tag::builder().key("who").value(name).build()
}

fn cluster(rds: &Client, id: &str) {
    let create = rds
        .create_db_cluster()
        .db_cluster_identifier(id)
        .engine("aurora-postgresql")
        .master_username("pilot")
        .master_user_password("light-password-1")
        .tags(who(id));
    block_on(create.send()).expect("CreateDBCluster");
}

/// Catches a layer that lets a rename take a live instance's name: bare moto drops the other
/// instance (shown first, on its own), the layer refuses as RDS does and both stay; a name held
/// only in another region, or a free one, is still accepted.
#[test]
fn aws_rules_a_rename_into_a_live_instances_name_is_refused() {
    let moto = moto();
    let url = moto.endpoint_url();
    let bare = Client::new(&sdk(&url, "us-east-1"));
    for id in ["a", "b", "c"] {
        block_on(postgres(&bare, id).tags(who(id)).send()).expect("CreateDBInstance");
    }
    let rename = |c: &Client, from: &str, to: &str| {
        let req = c.modify_db_instance().db_instance_identifier(from).new_db_instance_identifier(to);
        rds_code(block_on(req.apply_immediately(true).send()))
    };
    // What moto does on its own: `c` takes `a`'s name and `a` is gone.
    assert_eq!(rename(&bare, "c", "a"), "accepted");
    assert_eq!(instances(&bare), [("a".into(), "c".into()), ("b".into(), "b".into())], "moto dropped the original");

    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let ruled = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    assert_eq!(rename(&ruled, "b", "a"), "DBInstanceAlreadyExists");
    assert_eq!(rename(&ruled, "b", "A"), "DBInstanceAlreadyExists", "identifiers are stored in lower case");
    assert_eq!(instances(&bare), [("a".into(), "c".into()), ("b".into(), "b".into())], "both as they were");
    assert_eq!(rename(&ruled, "b", "d"), "accepted", "a free name");
    assert_eq!(rename(&ruled, "d", "d"), "accepted", "its own name is not another's");
    let replica =
        ruled.create_db_instance_read_replica().db_instance_identifier("a").source_db_instance_identifier("d");
    assert_eq!(rds_code(block_on(replica.send())), "DBInstanceAlreadyExists", "a replica under a live name");
    let west = Client::new(&sdk(&url, "us-west-2"));
    block_on(postgres(&west, "e").send()).expect("CreateDBInstance");
    let ruled_west = Client::new(&sdk(&proxy.endpoint_url(), "us-west-2"));
    assert_eq!(rename(&ruled_west, "e", "a"), "accepted", "`a` is held in us-east-1 only");
}

/// Catches a layer that lets a cluster rename, create or restore take a live cluster's name:
/// bare moto replaces the cluster there (its tags gone); the layer refuses each as RDS does.
#[test]
fn aws_rules_a_cluster_rename_create_or_restore_into_a_live_clusters_name_is_refused() {
    let moto = moto();
    let url = moto.endpoint_url();
    let bare = Client::new(&sdk(&url, "us-east-1"));
    for id in ["x", "y", "z"] {
        cluster(&bare, id);
    }
    block_on(
        bare.create_db_cluster_snapshot().db_cluster_identifier("y").db_cluster_snapshot_identifier("y-snap").send(),
    )
    .expect("CreateDBClusterSnapshot");
    let rename = |c: &Client, from: &str, to: &str| {
        let req = c.modify_db_cluster().db_cluster_identifier(from).new_db_cluster_identifier(to);
        rds_code(block_on(req.apply_immediately(true).send()))
    };
    assert_eq!(rename(&bare, "z", "x"), "accepted");
    assert_eq!(clusters(&bare), [("x".into(), "z".into()), ("y".into(), "y".into())], "moto replaced `x`");

    let proxy = RealismProxy::with_aws_rules(moto.port, Vec::new());
    let ruled = Client::new(&sdk(&proxy.endpoint_url(), "us-east-1"));
    assert_eq!(rename(&ruled, "y", "x"), "DBClusterAlreadyExistsFault");
    let create = ruled
        .create_db_cluster()
        .db_cluster_identifier("x")
        .engine("aurora-postgresql")
        .master_username("pilot")
        .master_user_password("light-password-1");
    assert_eq!(rds_code(block_on(create.send())), "DBClusterAlreadyExistsFault");
    let restore = ruled
        .restore_db_cluster_from_snapshot()
        .db_cluster_identifier("x")
        .snapshot_identifier("y-snap")
        .engine("aurora-postgresql");
    assert_eq!(rds_code(block_on(restore.send())), "DBClusterAlreadyExistsFault");
    assert_eq!(clusters(&bare), [("x".into(), "z".into()), ("y".into(), "y".into())], "both as they were");
}

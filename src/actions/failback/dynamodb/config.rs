//! The primary table's configuration: what `read` records before anything changes, what the
//! import re-creates the table from, and what `reapply-config` puts back afterwards.
//!
//! An import from S3 creates a table with keys, attribute definitions, global secondary
//! indexes, billing and encryption only. Stream, TTL, point-in-time recovery, deletion
//! protection, table class and tags are lost (as with every DynamoDB restore), so they are
//! [`Settings`]: read from the old table, compared with the new one, set where they differ.

use crate::aws::ActionError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, OnDemandThroughput, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, SseSpecification, SseType, TableCreationParameters,
    TableDescription,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One element of a key: attribute name and `HASH` or `RANGE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct KeyPart {
    pub(super) attribute: String,
    pub(super) key_type: String,
}

/// Read and write capacity (provisioned units, or the on-demand maximums).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Capacity {
    pub(super) read: Option<i64>,
    pub(super) write: Option<i64>,
}

impl Capacity {
    /// As a provisioned throughput (a unit where none was recorded).
    pub(super) fn throughput(&self) -> Result<ProvisionedThroughput, aws_sdk_dynamodb::error::BuildError> {
        ProvisionedThroughput::builder()
            .read_capacity_units(self.read.unwrap_or(1))
            .write_capacity_units(self.write.unwrap_or(1))
            .build()
    }
}

/// A secondary index as declared on the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Index {
    pub(super) name: String,
    pub(super) keys: Vec<KeyPart>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub(super) projection: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) non_key_attributes: Vec<String>,
    /// Provisioned capacity (tables in PROVISIONED mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) provisioned: Option<Capacity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) on_demand: Option<Capacity>,
}

/// What an import drops and `reapply-config` sets again; compared field by field.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(super) struct Settings {
    /// The stream's view type when a stream is on.
    pub(super) stream: Option<String>,
    /// The TTL attribute when TTL is on (or being turned on).
    pub(super) ttl_attribute: Option<String>,
    pub(super) point_in_time_recovery: bool,
    pub(super) deletion_protection: bool,
    /// `STANDARD` or `STANDARD_INFREQUENT_ACCESS`.
    pub(super) table_class: String,
    pub(super) tags: BTreeMap<String, String>,
}

impl Settings {
    /// What a table fresh from an import has: none of the settings.
    pub(super) fn fresh_import() -> Settings {
        Settings { table_class: STANDARD.into(), ..Settings::default() }
    }
}

pub(super) const STANDARD: &str = "STANDARD";

/// The primary table's configuration, recorded before failback changes anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct TableConfig {
    pub(super) name: String,
    pub(super) arn: String,
    pub(super) key_schema: Vec<KeyPart>,
    /// Attribute name to `S`, `N` or `B`: those the keys and indexes use.
    pub(super) attributes: BTreeMap<String, String>,
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub(super) billing_mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) provisioned: Option<Capacity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) on_demand: Option<Capacity>,
    pub(super) global_indexes: Vec<Index>,
    /// Recorded so a refusal can name them: an import cannot create local indexes.
    pub(super) local_indexes: Vec<Index>,
    /// The customer-managed KMS key, when the table is encrypted with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) kms_key: Option<String>,
    /// Regions of global-table replicas (failback of a global table is refused).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) replicas: Vec<String>,
    /// Approximate (DynamoDB refreshes it about every six hours).
    pub(super) item_count: Option<i64>,
    pub(super) settings: Settings,
}

fn keys(elements: &[KeySchemaElement]) -> Vec<KeyPart> {
    elements
        .iter()
        .map(|k| KeyPart { attribute: k.attribute_name().to_string(), key_type: k.key_type().as_str().to_string() })
        .collect()
}

fn projection(p: Option<&Projection>) -> (String, Vec<String>) {
    match p {
        Some(p) => (
            p.projection_type().map(|t| t.as_str().to_string()).unwrap_or_else(|| "ALL".into()),
            p.non_key_attributes().to_vec(),
        ),
        None => ("ALL".into(), Vec::new()),
    }
}

/// Provisioned capacity worth recreating: moto (and AWS, for on-demand tables) report zeros.
fn provisioned(read: Option<i64>, write: Option<i64>) -> Option<Capacity> {
    (read.unwrap_or(0) > 0 || write.unwrap_or(0) > 0).then_some(Capacity { read, write })
}

fn on_demand(t: Option<&OnDemandThroughput>) -> Option<Capacity> {
    let t = t?;
    let c = Capacity { read: t.max_read_request_units(), write: t.max_write_request_units() };
    (c.read.is_some_and(|v| v > 0) || c.write.is_some_and(|v| v > 0)).then_some(c)
}

impl TableConfig {
    /// The configuration of a described table, with its separately read settings.
    pub(super) fn of(t: &TableDescription, settings: Settings) -> TableConfig {
        let billing_mode = t
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|b| b.as_str().to_string())
            .unwrap_or_else(|| "PROVISIONED".into());
        let is_provisioned = billing_mode == "PROVISIONED";
        let global_indexes = t
            .global_secondary_indexes()
            .iter()
            .map(|g| {
                let (projection, non_key_attributes) = projection(g.projection());
                let capacity = g.provisioned_throughput();
                Index {
                    name: g.index_name().unwrap_or_default().to_string(),
                    keys: keys(g.key_schema()),
                    projection,
                    non_key_attributes,
                    provisioned: capacity
                        .and_then(|c| provisioned(c.read_capacity_units(), c.write_capacity_units()))
                        .filter(|_| is_provisioned),
                    on_demand: on_demand(g.on_demand_throughput()),
                }
            })
            .collect();
        let local_indexes = t
            .local_secondary_indexes()
            .iter()
            .map(|l| {
                let (projection, non_key_attributes) = projection(l.projection());
                Index {
                    name: l.index_name().unwrap_or_default().to_string(),
                    keys: keys(l.key_schema()),
                    projection,
                    non_key_attributes,
                    provisioned: None,
                    on_demand: None,
                }
            })
            .collect();
        let kms_key = t
            .sse_description()
            .filter(|s| s.sse_type().is_some_and(|k| *k == SseType::Kms))
            .and_then(|s| s.kms_master_key_arn())
            .map(str::to_string);
        TableConfig {
            name: t.table_name().unwrap_or_default().to_string(),
            arn: t.table_arn().unwrap_or_default().to_string(),
            key_schema: keys(t.key_schema()),
            attributes: t
                .attribute_definitions()
                .iter()
                .map(|a| (a.attribute_name().to_string(), a.attribute_type().as_str().to_string()))
                .collect(),
            provisioned: t
                .provisioned_throughput()
                .and_then(|c| provisioned(c.read_capacity_units(), c.write_capacity_units()))
                .filter(|_| is_provisioned),
            on_demand: on_demand(t.on_demand_throughput()),
            billing_mode,
            global_indexes,
            local_indexes,
            kms_key,
            replicas: t.replicas().iter().filter_map(|r| r.region_name().map(str::to_string)).collect(),
            item_count: t.item_count(),
            settings,
        }
    }

    /// Why this table cannot be failed back by export and import, if it cannot: checked in
    /// `read`, before anything changes.
    pub(super) fn unsupported(&self) -> Option<String> {
        if !self.local_indexes.is_empty() {
            let names: Vec<&str> = self.local_indexes.iter().map(|i| i.name.as_str()).collect();
            return Some(format!(
                "table {} has local secondary indexes ({}), which an import from S3 cannot create; fail it back by hand (restore a backup of the recovery table)",
                self.name,
                names.join(", ")
            ));
        }
        if !self.replicas.is_empty() {
            return Some(format!(
                "table {} is a global table with replicas in {}; deleting it would delete them too, so this action refuses",
                self.name,
                self.replicas.join(", ")
            ));
        }
        None
    }

    /// Why the recovery table's items cannot be written into this one where it stands
    /// (`method: in-place`), if they cannot: a global table (its writes replicate), or keys that
    /// differ in name, role (`HASH`, `RANGE`) or type (`S`, `N`, `B`).
    pub(super) fn in_place_refusal(&self, recovery: &TableConfig) -> Option<String> {
        if !self.replicas.is_empty() {
            return Some(format!(
                "table {} is a global table with replicas in {}: its writes replicate",
                self.name,
                self.replicas.join(", ")
            ));
        }
        let typed = |c: &TableConfig| -> Vec<(String, String, Option<String>)> {
            c.key_schema
                .iter()
                .map(|k| (k.attribute.clone(), k.key_type.clone(), c.attributes.get(&k.attribute).cloned()))
                .collect()
        };
        let (mine, theirs) = (typed(self), typed(recovery));
        (mine != theirs).then(|| {
            format!(
                "the keys of the recovery table {} ({theirs:?}) are not the primary table {}'s ({mine:?}): its items cannot be written into it",
                recovery.name, self.name
            )
        })
    }

    /// The import's table: the recorded name, keys, attributes, global indexes, billing and
    /// encryption. Everything else is re-applied once the table exists.
    pub(super) fn creation_parameters(&self) -> Result<TableCreationParameters, ActionError> {
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| {
            ActionError::Failed(format!("the recorded configuration of table {} is incomplete: {e}", self.name))
        };
        let key_schema = |parts: &[KeyPart]| -> Result<Vec<KeySchemaElement>, ActionError> {
            parts
                .iter()
                .map(|k| {
                    KeySchemaElement::builder()
                        .attribute_name(&k.attribute)
                        .key_type(KeyType::from(k.key_type.as_str()))
                        .build()
                        .map_err(invalid)
                })
                .collect()
        };
        let throughput = |c: &Capacity| c.throughput().map_err(invalid);
        let on_demand = |c: &Capacity| {
            OnDemandThroughput::builder()
                .set_max_read_request_units(c.read)
                .set_max_write_request_units(c.write)
                .build()
        };
        let mut indexes = Vec::new();
        for g in &self.global_indexes {
            let mut p = Projection::builder().projection_type(ProjectionType::from(g.projection.as_str()));
            if !g.non_key_attributes.is_empty() {
                p = p.set_non_key_attributes(Some(g.non_key_attributes.clone()));
            }
            let mut index = GlobalSecondaryIndex::builder()
                .index_name(&g.name)
                .set_key_schema(Some(key_schema(&g.keys)?))
                .projection(p.build());
            if let Some(c) = &g.provisioned {
                index = index.provisioned_throughput(throughput(c)?);
            }
            if let Some(c) = &g.on_demand {
                index = index.on_demand_throughput(on_demand(c));
            }
            indexes.push(index.build().map_err(invalid)?);
        }
        let attributes = self
            .attributes
            .iter()
            .map(|(name, kind)| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::from(kind.as_str()))
                    .build()
                    .map_err(invalid)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut params = TableCreationParameters::builder()
            .table_name(&self.name)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(key_schema(&self.key_schema)?))
            .billing_mode(BillingMode::from(self.billing_mode.as_str()));
        if !indexes.is_empty() {
            params = params.set_global_secondary_indexes(Some(indexes));
        }
        if let Some(c) = &self.provisioned {
            params = params.provisioned_throughput(throughput(c)?);
        }
        if let Some(c) = &self.on_demand {
            params = params.on_demand_throughput(on_demand(c));
        }
        if let Some(key) = &self.kms_key {
            let sse = SseSpecification::builder().enabled(true).sse_type(SseType::Kms).kms_master_key_id(key);
            params = params.sse_specification(sse.build());
        }
        params.build().map_err(invalid)
    }
}

/// One setting to change on the new table, in the order they are applied: the cheap ones
/// first, deletion protection last (so a half-configured table is still deletable by hand).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Change {
    /// Tags to add or overwrite (existing tags not listed stay).
    Tags(BTreeMap<String, String>),
    /// TTL on this attribute, or off.
    Ttl(Option<String>),
    PointInTimeRecovery(bool),
    /// A stream with this view type, or none.
    Stream(Option<String>),
    TableClass(String),
    DeletionProtection(bool),
}

impl Change {
    /// For the journal and the dry-run plan.
    pub(super) fn describe(&self) -> String {
        let on_off = |b: bool| if b { "on" } else { "off" };
        match self {
            Change::Tags(t) => {
                let pairs: Vec<String> = t.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("tags {}", pairs.join(", "))
            }
            Change::Ttl(Some(a)) => format!("TTL on attribute {a}"),
            Change::Ttl(None) => "TTL off".into(),
            Change::PointInTimeRecovery(b) => format!("point-in-time recovery {}", on_off(*b)),
            Change::Stream(Some(v)) => format!("stream on ({v})"),
            Change::Stream(None) => "stream off".into(),
            Change::TableClass(c) => format!("table class {c}"),
            Change::DeletionProtection(b) => format!("deletion protection {}", on_off(*b)),
        }
    }
}

/// What to change so that `have` matches `want`. Tags are only added or overwritten: a tag the
/// new table has and `want` lacks is left alone.
pub(super) fn changes(want: &Settings, have: &Settings) -> Vec<Change> {
    let mut out = Vec::new();
    let tags: BTreeMap<String, String> =
        want.tags.iter().filter(|(k, v)| have.tags.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    if !tags.is_empty() {
        out.push(Change::Tags(tags));
    }
    if want.ttl_attribute != have.ttl_attribute {
        if want.ttl_attribute.is_some() && have.ttl_attribute.is_some() {
            out.push(Change::Ttl(None));
        }
        out.push(Change::Ttl(want.ttl_attribute.clone()));
    }
    if want.point_in_time_recovery != have.point_in_time_recovery {
        out.push(Change::PointInTimeRecovery(want.point_in_time_recovery));
    }
    if want.stream != have.stream {
        // A stream's view type cannot be changed in place: off first, then on.
        if want.stream.is_some() && have.stream.is_some() {
            out.push(Change::Stream(None));
        }
        out.push(Change::Stream(want.stream.clone()));
    }
    if want.table_class != have.table_class {
        out.push(Change::TableClass(want.table_class.clone()));
    }
    if want.deletion_protection != have.deletion_protection {
        out.push(Change::DeletionProtection(want.deletion_protection));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded() -> Settings {
        Settings {
            stream: Some("NEW_AND_OLD_IMAGES".into()),
            ttl_attribute: Some("expires_at".into()),
            point_in_time_recovery: true,
            deletion_protection: true,
            table_class: STANDARD.into(),
            tags: [("app".to_string(), "demo".to_string())].into(),
        }
    }

    #[test]
    fn a_fresh_import_needs_every_dropped_setting_back_with_protection_last() {
        let c = changes(&recorded(), &Settings::fresh_import());
        assert_eq!(
            c,
            vec![
                Change::Tags([("app".to_string(), "demo".to_string())].into()),
                Change::Ttl(Some("expires_at".into())),
                Change::PointInTimeRecovery(true),
                Change::Stream(Some("NEW_AND_OLD_IMAGES".into())),
                Change::DeletionProtection(true),
            ]
        );
    }

    #[test]
    fn nothing_changes_when_the_table_already_matches_and_extra_tags_stay() {
        let mut have = recorded();
        have.tags.insert("extra".into(), "x".into());
        assert!(changes(&recorded(), &have).is_empty());
    }

    #[test]
    fn a_different_stream_view_is_turned_off_before_it_is_turned_on() {
        let mut have = recorded();
        have.stream = Some("KEYS_ONLY".into());
        assert_eq!(
            changes(&recorded(), &have),
            vec![Change::Stream(None), Change::Stream(Some("NEW_AND_OLD_IMAGES".into()))]
        );
    }

    #[test]
    fn local_indexes_and_replicas_are_refused_before_anything_changes() {
        let mut c = TableConfig {
            name: "t".into(),
            arn: "arn".into(),
            key_schema: vec![KeyPart { attribute: "pk".into(), key_type: "HASH".into() }],
            attributes: [("pk".to_string(), "S".to_string())].into(),
            billing_mode: "PAY_PER_REQUEST".into(),
            provisioned: None,
            on_demand: None,
            global_indexes: vec![],
            local_indexes: vec![],
            kms_key: None,
            replicas: vec![],
            item_count: None,
            settings: recorded(),
        };
        assert!(c.unsupported().is_none());
        assert!(c.creation_parameters().is_ok());
        c.replicas = vec!["eu-west-1".into()];
        assert!(c.unsupported().is_some_and(|m| m.contains("global table") && m.contains("eu-west-1")));
        c.replicas.clear();
        c.local_indexes = vec![Index {
            name: "by_time".into(),
            keys: vec![],
            projection: "ALL".into(),
            non_key_attributes: vec![],
            provisioned: None,
            on_demand: None,
        }];
        assert!(c.unsupported().is_some_and(|m| m.contains("by_time")));
    }
}

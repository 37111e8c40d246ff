//! `compare-config`: the primary instance's whole Describe after the swap against before it, field
//! by field ([`whole_diff`]). The instance is the same one with other volumes, so little may
//! differ: the volume ids and times, and a public IP that a stop and start gives anew.

use super::Layout;
use super::One;
use super::reads::instance;
use crate::actions::failback::whole_diff::{self, Rules};
use crate::aws::{ActionError, answer_tree};
use serde_json::json;

/// How the instance's whole Describe after the failback is judged against before.
pub const RULES: Rules<'static> = Rules {
    must_differ: &[
        "state",
        "state_transition_reason",
        "state_reason",
        "launch_time",
        "usage_operation_update_time",
        "block_device_mappings[].ebs.volume_id",
        "block_device_mappings[].ebs.attach_time",
        "network_interfaces[].attachment.attach_time",
        "network_interfaces[].attachment.status",
    ],
    reasons: &[
        (
            "public_ip_address",
            "a stopped and started instance gets a new public IP unless it has an Elastic IP: update what points at it",
        ),
        (
            "public_dns_name",
            "a stopped and started instance gets a new public IP unless it has an Elastic IP: update what points at it",
        ),
        (
            "network_interfaces",
            "a stopped and started instance gets a new public IP unless it has an Elastic IP: update what points at it",
        ),
    ],
};

impl One<'_, '_> {
    pub(super) async fn compare(&self, l: &Layout) -> Result<Vec<String>, ActionError> {
        let cx = self.cx;
        let (inst, region) = (l.primary_instance.as_str(), l.primary_region.as_str());
        cx.sub(&self.sub_name("compare-config"), json!({ "instance": inst }), |_| async {
            if cx.dry_run {
                return Ok(Vec::new());
            }
            if l.describe.is_null() {
                cx.log.note(format!("{inst}: no whole Describe was recorded before (an older run): not compared"))?;
                return Ok(Vec::new());
            }
            let now = instance(cx.log, self.primary, inst, region).await?;
            let remaining = whole_diff::differences(&l.describe, &answer_tree::tree(&now), &RULES);
            for difference in &remaining {
                cx.log.note(format!("{inst} differs from before the failback: {difference}"))?;
            }
            Ok(remaining)
        })
        .await
    }
}

//! CloudFormation's and Route 53's in-between states: a stack `CREATE_IN_PROGRESS`, a DNS change
//! `PENDING` until it is in sync.

use super::super::wire::{field, param};
use super::{At, Call, Clock, What, after_id, begin};

/// Route 53's REST operations, from the request line.
pub(super) fn operation(head: &str) -> Option<&'static str> {
    let line = head.lines().next()?;
    if line.starts_with("POST ") && line.contains("/rrset") {
        Some("ChangeResourceRecordSets")
    } else if line.starts_with("GET ") && line.contains("/change/") {
        Some("GetChange")
    } else {
        None
    }
}

pub(super) fn note(call: &Call<'_>, answered: &str, at: At<'_>, clock: &Clock) {
    match call.operation {
        "CreateStack" => {
            let Some(name) = param(call.body, "StackName") else { return };
            begin(clock, at, What::Stack, name, "CREATE_IN_PROGRESS", "cloudformation.CreateStack", 0.0);
        }
        "ChangeResourceRecordSets" => {
            let Some(id) = field(answered, "Id") else { return };
            let id = id.trim_start_matches("/change/");
            begin(clock, at, What::Change, id, "PENDING", "route53.ChangeResourceRecordSets", 0.0);
        }
        _ => {}
    }
}

pub(super) fn show(call: &Call<'_>, answered: &str, at: At<'_>) -> String {
    match call.operation {
        "DescribeStacks" => after_id(answered, "StackName", "</StackStatus>", at, What::Stack, |stack, work| {
            stack.replacen("<StackStatus>CREATE_COMPLETE", &format!("<StackStatus>{}", work.state), 1)
        }),
        "GetChange" => {
            let id = field(answered, "Id").unwrap_or_default().trim_start_matches("/change/").to_string();
            match super::busy(at, What::Change, &id) {
                Some(work) => {
                    answered.replacen("<Status>INSYNC</Status>", &format!("<Status>{}</Status>", work.state), 1)
                }
                None => answered.to_string(),
            }
        }
        _ => answered.to_string(),
    }
}

//! The EC2 and Auto Scaling rules of the AWS-rules layer (the list: [`super`]): ids made a moment
//! ago not visible yet, attachments that take a moment, status checks after a start, a group that
//! replaces a stopped member, and Standby refused below a group's minimum.

use super::super::wire::{ec2_refusal, named_ids};
use super::{ask_upstream, field, param, refusal, rewrite_body};
use std::sync::Mutex;

/// Forgets what these rules noted about moto on `upstream` (see [`super::forget`]).
pub(super) fn forget(upstream: u16) {
    NOT_VISIBLE.lock().unwrap().retain(|e| e.0 != upstream);
    UNLISTED.lock().unwrap().retain(|e| e.0 != upstream);
    ATTACHING.lock().unwrap().retain(|e| e.0 != upstream);
    BOOTING.lock().unwrap().retain(|e| e.0 != upstream);
}

/// AWS's refusal of this EC2 or Auto Scaling request (`action`), if AWS would refuse it, after
/// noting what it starts.
pub(super) fn refuse(action: &str, head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    match action {
        "DescribeSnapshots" | "DescribeVolumes" => not_visible_yet(body, upstream),
        "AttachVolume" => {
            let (vol, inst) = (param(body, "VolumeId")?, param(body, "InstanceId")?);
            ATTACHING.lock().unwrap().push((upstream, vol.to_string(), inst.to_string(), 2));
            None
        }
        // A volume detached is attaching to nothing (a way back may detach one before any
        // describe saw its attachment end).
        "DetachVolume" => {
            let vol = param(body, "VolumeId")?;
            ATTACHING.lock().unwrap().retain(|(p, v, _, _)| !(*p == upstream && v == vol));
            None
        }
        "StartInstances" => start_while_attaching(body, upstream).or_else(|| {
            let mut booting = BOOTING.lock().unwrap();
            booting.extend(named_ids(body, "InstanceId.").into_iter().map(|i| (upstream, i.to_string(), 2)));
            None
        }),
        "EnterStandby" => standby_below_minimum(head, body, upstream),
        _ => None,
    }
}

/// Notes what moto's answer made, acts as a group would on a stop, and gives the describes AWS's
/// in-between states: `Some` with the answer rewritten, `None` to leave it to the other rules.
pub(super) fn answer(request: &str, upstream: u16, answer: &[u8]) -> Option<Vec<u8>> {
    note_made(request, &String::from_utf8_lossy(answer), upstream);
    if request.contains("Action=StopInstances") {
        terminate_stopped_members(request, upstream);
    }
    if request.contains("Action=DescribeVolumes") {
        return Some(rewrite_body(answer, |body| report_attaching(body, upstream)));
    }
    if request.contains("Action=DescribeSnapshots") && !request.contains("SnapshotId.") {
        return Some(rewrite_body(answer, |body| unlisted_yet(body, upstream)));
    }
    if request.contains("Action=DescribeInstanceStatus") {
        return Some(rewrite_body(answer, |body| report_booting(body, upstream)));
    }
    None
}

/// EC2 ids (moto port, id) made a moment ago and not visible to a describe by id yet.
static NOT_VISIBLE: Mutex<Vec<(u16, String)>> = Mutex::new(Vec::new());

/// An EC2 describe naming an id made a moment ago: "not found", once per id.
fn not_visible_yet(body: &str, upstream: u16) -> Option<Vec<u8>> {
    let (prefix, code, what) = match param(body, "Action")? {
        "DescribeSnapshots" => ("SnapshotId.", "InvalidSnapshot.NotFound", "snapshot"),
        "DescribeVolumes" => ("VolumeId.", "InvalidVolume.NotFound", "volume"),
        _ => return None,
    };
    let mut hidden = NOT_VISIBLE.lock().unwrap();
    let id = named_ids(body, prefix).into_iter().find(|id| hidden.iter().any(|(p, h)| *p == upstream && h == id))?;
    hidden.retain(|(p, h)| !(*p == upstream && h == id));
    let xml = format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>The {what} '{id}' does not exist.</Message></Error></Errors><RequestID>aws-rules</RequestID></Response>"
    );
    Some(
        format!("HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}", xml.len())
            .into_bytes(),
    )
}

/// Notes the id an EC2 create answered with: not visible to the next describe naming it; a
/// snapshot (made, copied, or one of CreateSnapshots') also missing from the next list.
fn note_made(request: &str, answer: &str, upstream: u16) {
    let tag = match param(request.split("\r\n\r\n").nth(1).unwrap_or_default(), "Action") {
        Some("CreateSnapshot" | "CopySnapshot") => "snapshotId",
        Some("CreateVolume") => "volumeId",
        Some("CreateSnapshots") => {
            let ids = answer.split("<snapshotId>").skip(1).filter_map(|s| s.split('<').next());
            UNLISTED.lock().unwrap().extend(ids.map(|id| (upstream, id.to_string())));
            return;
        }
        _ => return,
    };
    if let Some(id) = field(answer, tag) {
        NOT_VISIBLE.lock().unwrap().push((upstream, id.to_string()));
        if tag == "snapshotId" {
            UNLISTED.lock().unwrap().push((upstream, id.to_string()));
        }
    }
}

/// Snapshots (moto port, id) made a moment ago and missing from a list (a describe by filters,
/// naming no id) yet: EC2's eventual consistency (EC2 API reference, "Eventual consistency":
/// resources just made may not appear in the results of describes for a while).
static UNLISTED: Mutex<Vec<(u16, String)>> = Mutex::new(Vec::new());

/// A list of snapshots without those made a moment ago: each is missing from the first list
/// that would have shown it.
fn unlisted_yet(body: &str, upstream: u16) -> String {
    let mut unlisted = UNLISTED.lock().unwrap();
    let items = top_items(body, "snapshotSet");
    let mut hidden: Vec<(usize, usize)> = Vec::new();
    unlisted.retain(|(p, id)| {
        let own = format!("<snapshotId>{id}</snapshotId>");
        match items.iter().find(|(a, b)| *p == upstream && body[*a..*b].contains(&own)) {
            Some(item) => {
                hidden.push(*item);
                false
            }
            None => true,
        }
    });
    let mut body = body.to_string();
    hidden.sort();
    for (a, b) in hidden.into_iter().rev() {
        body.replace_range(a..b, "");
    }
    body
}

/// The spans of the items directly in `<{set}>` (a resource's own item, with the items nested in
/// it, such as its tags: moto may put them before its id).
fn top_items(xml: &str, set: &str) -> Vec<(usize, usize)> {
    let Some(from) = xml.find(&format!("<{set}>")) else { return Vec::new() };
    let mut out = Vec::new();
    let (mut depth, mut start, mut i) = (0usize, 0usize, from);
    loop {
        let (open, close) = (xml[i..].find("<item>"), xml[i..].find("</item>"));
        match (open, close) {
            (Some(o), Some(c)) if o < c => {
                if depth == 0 {
                    start = i + o;
                }
                depth += 1;
                i += o + "<item>".len();
            }
            (_, Some(c)) if depth > 0 => {
                depth -= 1;
                i += c + "</item>".len();
                if depth == 0 {
                    out.push((start, i));
                }
            }
            _ => return out,
        }
    }
}

/// Attachments (moto port, volume, instance, describes left) still `attaching`.
static ATTACHING: Mutex<Vec<(u16, String, String, u32)>> = Mutex::new(Vec::new());

/// A start while one of the instance's volumes is still attaching.
fn start_while_attaching(body: &str, upstream: u16) -> Option<Vec<u8>> {
    let ids = named_ids(body, "InstanceId.");
    let busy = ATTACHING.lock().unwrap();
    let (_, vol, inst, _) =
        busy.iter().find(|(p, _, i, left)| *p == upstream && *left > 0 && ids.contains(&i.as_str()))?;
    Some(ec2_refusal("IncorrectState", &format!("The volume {vol} is still attaching to {inst}.")))
}

/// Volumes whose attachment is still `attaching` say so, one describe at a time.
fn report_attaching(body: &str, upstream: u16) -> String {
    let mut body = body.to_string();
    let mut busy = ATTACHING.lock().unwrap();
    for (_, vol, _, left) in busy.iter_mut().filter(|(p, _, _, left)| *p == upstream && *left > 0) {
        let Some(at) = body.find(&format!("<volumeId>{vol}</volumeId>")) else { continue };
        let Some(a) = body[at..].find("<attachmentSet>").map(|a| at + a) else { continue };
        let Some(b) = body[a..].find("</attachmentSet>").map(|b| a + b) else { continue };
        let set = body[a..b].replacen("<status>attached</status>", "<status>attaching</status>", 1);
        body.replace_range(a..b, &set);
        *left -= 1;
    }
    body
}

/// Instances (moto port, id, answers left) whose status checks are still initializing.
static BOOTING: Mutex<Vec<(u16, String, u32)>> = Mutex::new(Vec::new());

/// Status checks of an instance started a moment ago say `initializing`.
fn report_booting(body: &str, upstream: u16) -> String {
    let mut body = body.to_string();
    let mut booting = BOOTING.lock().unwrap();
    for (_, inst, left) in booting.iter_mut().filter(|(p, _, left)| *p == upstream && *left > 0) {
        let Some(at) = body.find(&format!("<instanceId>{inst}</instanceId>")) else { continue };
        let Some(a) = body[at..].find("<instanceStatus>").map(|a| at + a) else { continue };
        let Some(b) = body[a..].find("</instanceStatus>").map(|b| a + b) else { continue };
        let checks = body[a..b].replacen("<status>ok</status>", "<status>initializing</status>", 1);
        body.replace_range(a..b, &checks);
        *left -= 1;
    }
    body
}

/// EnterStandby that lowers the desired capacity below the group's minimum is refused.
fn standby_below_minimum(head: &str, body: &str, upstream: u16) -> Option<Vec<u8>> {
    if param(body, "ShouldDecrementDesiredCapacity") != Some("true") {
        return None;
    }
    let group = param(body, "AutoScalingGroupName")?;
    let leaving = named_ids(body, "InstanceIds.member.").len() as i64;
    let query = format!("Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1={group}");
    let answer = ask_upstream(upstream, head, &query)?;
    let min: i64 = field(&answer, "MinSize")?.parse().ok()?;
    let desired: i64 = field(&answer, "DesiredCapacity")?.parse().ok()?;
    (desired - leaving < min).then(|| {
        refusal(
            "ValidationError",
            &format!(
                "AutoScalingGroup {group} has min-size={min} and desired-capacity={desired}: the desired capacity cannot be decremented below the min-size."
            ),
        )
    })
}

/// Terminates every `InService` Auto Scaling member the request stopped, as its group would
/// unless its `HealthCheck` or `ReplaceUnhealthy` process is suspended.
fn terminate_stopped_members(request: &str, upstream: u16) {
    let Some((head, body)) = request.split_once("\r\n\r\n") else { return };
    let as_autoscaling = head.replace("/ec2/aws4_request", "/autoscaling/aws4_request");
    for inst in named_ids(body, "InstanceId.") {
        let query = format!("Action=DescribeAutoScalingInstances&Version=2011-01-01&InstanceIds.member.1={inst}");
        let member = ask_upstream(upstream, &as_autoscaling, &query).unwrap_or_default();
        let Some(group) = field(&member, "AutoScalingGroupName") else { continue };
        let query =
            format!("Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1={group}");
        let described = ask_upstream(upstream, &as_autoscaling, &query).unwrap_or_default();
        let held = ["HealthCheck", "ReplaceUnhealthy"]
            .iter()
            .any(|p| described.contains(&format!("<ProcessName>{p}</ProcessName>")));
        if field(&member, "LifecycleState") == Some("InService") && !held {
            let terminate = format!("Action=TerminateInstances&Version=2016-11-15&InstanceId.1={inst}");
            let _ = ask_upstream(upstream, head, &terminate);
        }
    }
}

//! EBS fast snapshot restore, answered by the layer: moto 5.2.5 has no FastSnapshotRestores API
//! (EnableFastSnapshotRestores, DescribeFastSnapshotRestores and DisableFastSnapshotRestores
//! answer "not implemented"). The layer holds each snapshot's state per Availability Zone as the
//! EBS user guide describes it ("Check the fast snapshot restore state"):
//!
//! - **enabling** once asked, for `ec2.EnableFastSnapshotRestores`'s fixed part; then
//!   **optimizing** ("It takes 60 minutes per TiB to optimize a snapshot"; the model's per-GiB
//!   part, on the snapshot's volume size); then **enabled**. At the `instant` pace: enabled at once.
//! - **disabling** once asked to disable, for `ec2.DisableFastSnapshotRestores`; then it is gone
//!   from the describes (disabled).
//!
//! Refused as EC2 refuses: an unknown snapshot (`InvalidSnapshot.NotFound`), a zone outside the
//! request's region (`InvalidParameterValue`), a snapshot still `pending` (an unsuccessful item:
//! only a completed snapshot can be restored from; the code is the layer's own, AWS documents
//! none). Asked again for a snapshot already enabling, optimizing or enabled, the answer is its
//! state, nothing changes.

use super::super::timing::{self, Clock, What};
use super::super::wire::{ask_upstream, ec2_refusal, field, param};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// One snapshot's fast snapshot restore in one zone.
#[derive(Debug, Clone)]
struct Fsr {
    upstream: u16,
    region: String,
    snapshot: String,
    zone: String,
    asked: Instant,
    asked_at: SystemTime,
    /// How long `enabling`, then `optimizing` (wall, at the pace).
    enabling: Duration,
    optimizing: Duration,
    /// Asked to disable: when, and how long `disabling` lasts.
    disabling: Option<(Instant, Duration)>,
}

impl Fsr {
    /// The state now; `None` once disabled.
    fn state(&self) -> Option<&'static str> {
        if let Some((at, lasts)) = self.disabling {
            return (at.elapsed() < lasts).then_some("disabling");
        }
        let e = self.asked.elapsed();
        Some(if e < self.enabling {
            "enabling"
        } else if e < self.enabling + self.optimizing {
            "optimizing"
        } else {
            "enabled"
        })
    }

    fn item(&self, state: &str) -> String {
        let at = humantime::format_rfc3339_millis(self.asked_at);
        format!(
            "<item><snapshotId>{}</snapshotId><availabilityZone>{}</availabilityZone><state>{state}</state>\
             <stateTransitionReason>Client.UserInitiated</stateTransitionReason><ownerId>123456789012</ownerId>\
             <enablingTime>{at}</enablingTime></item>",
            self.snapshot, self.zone
        )
    }
}

static ALL: Mutex<Vec<Fsr>> = Mutex::new(Vec::new());

pub(super) fn forget(upstream: u16) {
    ALL.lock().unwrap_or_else(|p| p.into_inner()).retain(|f| f.upstream != upstream);
}

/// The numbered values of a query list parameter (`SourceSnapshotId.1`, `.2`, ...).
fn list<'a>(body: &'a str, name: &str) -> Vec<&'a str> {
    (1..).map_while(|i| param(body, &format!("{name}.{i}"))).collect()
}

fn answer(action: &str, inner: &str) -> Vec<u8> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
         <requestId>aws-rules</requestId>{inner}</{action}Response>"
    );
    format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}", xml.len()).into_bytes()
}

/// The answer to an EC2 FastSnapshotRestores call; `None` for any other request.
pub fn emulate(head: &str, body: &str, upstream: u16, clock: &Clock) -> Option<Vec<u8>> {
    let action = param(body, "Action")?;
    if !matches!(action, "EnableFastSnapshotRestores" | "DescribeFastSnapshotRestores" | "DisableFastSnapshotRestores")
    {
        return None;
    }
    let region = super::super::wire::region(head)?.to_string();
    // What moto knows of each snapshot named (its size; still `pending` in the layer's time),
    // asked before the lock is taken.
    let asked: Vec<(String, Option<f64>, bool)> = list(body, "SourceSnapshotId")
        .into_iter()
        .map(|snap| {
            let query = format!("Action=DescribeSnapshots&Version=2016-11-15&SnapshotId.1={snap}");
            let described = ask_upstream(upstream, head, &query).unwrap_or_default();
            let gib = field(&described, "volumeSize").and_then(|s| s.parse::<f64>().ok());
            let at = timing::At { upstream, region: &region };
            (snap.to_string(), gib, timing::state(at, What::Snapshot, snap).is_some())
        })
        .collect();
    let mut all = ALL.lock().unwrap_or_else(|p| p.into_inner());
    all.retain(|f| f.state().is_some());
    let here =
        |f: &Fsr, s: &str, z: &str| f.upstream == upstream && f.region == region && f.snapshot == s && f.zone == z;
    Some(match action {
        "DescribeFastSnapshotRestores" => {
            let filter = |name: &str| -> Option<Vec<String>> {
                (1..).map_while(|i| param(body, &format!("Filter.{i}.Name")).map(|n| (i, n))).find_map(|(i, n)| {
                    (n == name)
                        .then(|| list(body, &format!("Filter.{i}.Value")).into_iter().map(String::from).collect())
                })
            };
            let (snaps, zones, states) = (filter("snapshot-id"), filter("availability-zone"), filter("state"));
            let keep = |v: &Option<Vec<String>>, x: &str| v.as_ref().is_none_or(|v| v.iter().any(|w| w == x));
            let items: String = all
                .iter()
                .filter(|f| f.upstream == upstream && f.region == region)
                .filter_map(|f| Some((f, f.state()?)))
                .filter(|(f, s)| keep(&snaps, &f.snapshot) && keep(&zones, &f.zone) && keep(&states, s))
                .map(|(f, s)| f.item(s))
                .collect();
            answer(action, &format!("<fastSnapshotRestoreSet>{items}</fastSnapshotRestoreSet>"))
        }
        _ => {
            let zones = list(body, "AvailabilityZone");
            if asked.is_empty() || zones.is_empty() {
                return Some(ec2_refusal("MissingParameter", "SourceSnapshotId and AvailabilityZone are required."));
            }
            if let Some(z) = zones.iter().find(|z| !z.starts_with(region.as_str())) {
                return Some(ec2_refusal("InvalidParameterValue", &format!("Invalid availability zone: [{z}]")));
            }
            let (mut ok, mut failed) = (String::new(), String::new());
            for (snap, gib, pending) in &asked {
                let (snap, pending) = (snap.as_str(), *pending);
                let Some(gib) = *gib else {
                    return Some(ec2_refusal(
                        "InvalidSnapshot.NotFound",
                        &format!("The snapshot '{snap}' does not exist."),
                    ));
                };
                for zone in &zones {
                    if action == "DisableFastSnapshotRestores" {
                        if let Some(f) = all.iter_mut().find(|f| here(f, snap, zone)) {
                            if f.disabling.is_none() {
                                let lasts =
                                    clock.pace.wall(clock.model.duration("ec2.DisableFastSnapshotRestores", 0.0));
                                f.disabling = Some((Instant::now(), lasts));
                            }
                            ok.push_str(&f.item("disabling"));
                        }
                        continue;
                    }
                    if pending {
                        failed.push_str(&format!(
                            "<item><snapshotId>{snap}</snapshotId><fastSnapshotRestoreStateErrorSet><item>\
                             <availabilityZone>{zone}</availabilityZone><error><code>IncorrectState</code>\
                             <message>The snapshot {snap} is not completed.</message></error></item>\
                             </fastSnapshotRestoreStateErrorSet></item>"
                        ));
                        continue;
                    }
                    if let Some(f) = all.iter().find(|f| here(f, snap, zone) && f.disabling.is_none()) {
                        ok.push_str(&f.item(f.state().unwrap_or("enabling")));
                        continue;
                    }
                    let whole = clock.pace.wall(clock.model.duration("ec2.EnableFastSnapshotRestores", gib));
                    let enabling = clock.pace.wall(clock.model.duration("ec2.EnableFastSnapshotRestores", 0.0));
                    all.retain(|f| !here(f, snap, zone));
                    let f = Fsr {
                        upstream,
                        region: region.clone(),
                        snapshot: snap.to_string(),
                        zone: zone.to_string(),
                        asked: Instant::now(),
                        asked_at: SystemTime::now(),
                        enabling,
                        optimizing: whole.saturating_sub(enabling),
                        disabling: None,
                    };
                    ok.push_str(&f.item("enabling"));
                    all.push(f);
                }
            }
            answer(action, &format!("<successful>{ok}</successful><unsuccessful>{failed}</unsuccessful>"))
        }
    })
}

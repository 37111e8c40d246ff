//! What the resource panels show: every declared resource, primary and recovery side by side,
//! with when each side was last read and whether its poll is failing.

use crate::aws::resource_status::ResourceStatus;
use crate::runbook::{ResourceType, Runbook, Side};
use std::time::{Duration, SystemTime};

/// One side of one resource as last polled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SideView {
    /// The last good read (kept while later polls fail, marked stale).
    pub status: Option<ResourceStatus>,
    /// The last poll's error, when it failed.
    pub error: Option<String>,
    pub refreshed: Option<SystemTime>,
    /// Polls failed in a row.
    pub failures: u32,
}

impl SideView {
    /// Not refreshed for longer than three poll intervals.
    pub fn is_stale(&self, now: SystemTime, interval: Duration) -> bool {
        self.refreshed.is_none_or(|t| now.duration_since(t).unwrap_or_default() > interval * 3)
    }
}

/// One resource, both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceView {
    pub name: String,
    pub kind: ResourceType,
    /// `None` when the runbook names nothing on that side.
    pub primary: Option<SideView>,
    pub recovery: Option<SideView>,
    /// For a DNS record: which side's value it holds (`primary`, `recovery` or `neither`).
    pub points_to: Option<String>,
}

impl ResourceView {
    pub fn side(&self, side: Side) -> Option<&SideView> {
        match side {
            Side::Primary => self.primary.as_ref(),
            Side::Recovery => self.recovery.as_ref(),
        }
    }
    pub fn side_mut(&mut self, side: Side) -> Option<&mut SideView> {
        match side {
            Side::Primary => self.primary.as_mut(),
            Side::Recovery => self.recovery.as_mut(),
        }
    }
}

/// Every resource, and how the polling goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    pub rows: Vec<ResourceView>,
    /// The time between polls of one type when all is well.
    pub interval: Duration,
    /// Completed poll rounds over every type and side.
    pub cycles: u64,
    /// AWS calls made by the last complete round.
    pub calls_last_cycle: u32,
}

impl Resources {
    /// Every declared resource, nothing read yet. A DNS record has one "side": the record.
    pub fn new(runbook: &Runbook, interval: Duration) -> Resources {
        let rows = runbook
            .resources
            .iter()
            .map(|(name, r)| {
                let named = |side: Side| {
                    (r.kind == ResourceType::Route53Record && side == Side::Primary || r.side(side).is_some())
                        .then(SideView::default)
                };
                let recovery = if r.kind == ResourceType::Route53Record { None } else { named(Side::Recovery) };
                ResourceView {
                    name: name.clone(),
                    kind: r.kind,
                    primary: named(Side::Primary),
                    recovery,
                    points_to: None,
                }
            })
            .collect();
        Resources { rows, interval, cycles: 0, calls_last_cycle: 0 }
    }
}

//! The faults a scenario or a trainer asks the realism layer for, by kind: what AWS does when a
//! copy fails, an instance hangs, a zone has no capacity, a caller is throttled, an answer is
//! lost or late, a permission or a key is taken away. Each is one [`FaultSpec`] (a kind, the
//! operation and resource it hits, how many calls it lets through first and how many it spoils),
//! turned into the proxy's [`Rule`](super::proxy::Rule) here, so the scenario file, `drill
//! inject` and the tests name faults the same way.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kinds of fault a drill can meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[clap(rename_all = "snake_case")]
pub enum FaultKind {
    /// An EBS snapshot copy that ends in `error` (the copy call succeeds; describes say `error`).
    CopyError,
    /// An instance that stays `stopping` after StopInstances, until a forced stop.
    HangStopping,
    /// No capacity for the call in its zone (`InsufficientVolumeCapacity`,
    /// `InsufficientInstanceCapacity`, `InsufficientDBInstanceCapacity`).
    InsufficientCapacity,
    /// A throttling storm: calls refused with the service's throttling error.
    Throttling,
    /// The call happens; its answer never reaches the tool (the connection closes).
    LostAnswer,
    /// The call happens; the tool is answered HTTP 500 (AWS: the request may have succeeded).
    InternalError,
    /// The caller's permission for the operation is gone (`UnauthorizedOperation`,
    /// `AccessDenied`, `AccessDeniedException`): every matching call from then on.
    PermissionRemoved,
    /// The KMS key the call needs is disabled: an EBS copy ends in `error` with the reason (EC2
    /// copies asynchronously); RDS refuses the call (`KMSKeyNotAccessibleFault`).
    KmsDisabled,
    /// The call happens; its answer comes `delay_s` seconds late (by default past the tool's
    /// 60-second attempt timeout).
    DelayedAnswer,
}

impl FaultKind {
    /// The operation a kind hits when the spec names none.
    fn default_operation(self) -> Option<&'static str> {
        match self {
            FaultKind::CopyError => Some("ec2.CopySnapshot"),
            FaultKind::HangStopping => Some("ec2.StopInstances"),
            FaultKind::InsufficientCapacity => Some("ec2.CreateVolume"),
            FaultKind::KmsDisabled => Some("ec2.CopySnapshot"),
            _ => None,
        }
    }

    /// How many calls a kind spoils when the spec does not say.
    fn default_count(self) -> usize {
        match self {
            FaultKind::PermissionRemoved => usize::MAX,
            FaultKind::Throttling => 20,
            _ => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::CopyError => "copy_error",
            FaultKind::HangStopping => "hang_stopping",
            FaultKind::InsufficientCapacity => "insufficient_capacity",
            FaultKind::Throttling => "throttling",
            FaultKind::LostAnswer => "lost_answer",
            FaultKind::InternalError => "internal_error",
            FaultKind::PermissionRemoved => "permission_removed",
            FaultKind::KmsDisabled => "kms_disabled",
            FaultKind::DelayedAnswer => "delayed_answer",
        }
    }
}

/// Which requests a rule applies to, and which of them it spoils.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// Text the request (head and body) must contain.
    pub needle: Option<String>,
    /// The call, `service.Operation` (`ec2.CopySnapshot`), as the layer reads it.
    pub operation: Option<String>,
    /// Matching requests let through before the first one spoiled.
    pub after: usize,
    /// Matching requests spoiled after those (`usize::MAX`: every one).
    pub times: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The service's throttling error, in its protocol (EC2 `RequestLimitExceeded` HTTP 503,
    /// DynamoDB `ThrottlingException`, the others `Throttling`), as AWS answers under load.
    Throttle,
    /// AWS refuses the request with this code and message (HTTP 400, not retried by the SDK):
    /// what moto never says, such as `InsufficientDBInstanceCapacity`.
    Refuse { code: &'static str, message: &'static str },
    /// The request reaches moto; its answer is thrown away and the connection closed.
    DropAnswer,
    /// The request reaches moto; `from` is replaced by `to` in its answer. For states moto
    /// cannot reach (a stack that rolled back), and only there.
    Rewrite { from: &'static str, to: &'static str },
    /// The request reaches moto this many milliseconds late (a slow endpoint).
    Delay(u64),
    /// The request reaches moto at once; its answer comes this many milliseconds late (past the
    /// client's timeout: the call happened, the client gave up).
    DelayAnswer(u64),
    /// The request reaches moto; the client is answered HTTP 500 with the service's internal
    /// error code instead (AWS: the request may have succeeded).
    InternalError,
    /// The request reaches moto; what it made or changed stays in this state for every describe
    /// ([`super::timing::stick`]): a snapshot copy `error`, an instance `stopping`.
    Stick { state: &'static str, message: &'static str },
}

/// One fault: of a kind, on an operation and a resource, after some calls, for some calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// The call it hits, as `service.Operation` (`ec2.CopySnapshot`, `rds.CopyDBSnapshot`,
    /// `dynamodb.ImportTable`) [default: the kind's own: copy_error and kms_disabled
    /// `ec2.CopySnapshot`, hang_stopping `ec2.StopInstances`, insufficient_capacity
    /// `ec2.CreateVolume`; the others every call]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Text the request must contain: an id, a name, or a region (`us-east-1` is primary's side
    /// in the sandbox) [default: any]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Matching calls let through before the first one spoiled [default: 0]
    #[serde(default, skip_serializing_if = "is_zero")]
    pub after: usize,
    /// Matching calls spoiled [default: 1; throttling 20; permission_removed every one]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// delayed_answer only: how late the answer comes, in seconds [default: 65]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_s: Option<f64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl FaultSpec {
    /// A fault of `kind` with every default.
    pub fn of(kind: FaultKind) -> FaultSpec {
        FaultSpec { kind, operation: None, resource: None, after: 0, count: None, delay_s: None }
    }

    /// The operation it hits (`None`: every call).
    pub fn operation(&self) -> Option<&str> {
        self.operation.as_deref().or(self.kind.default_operation())
    }

    /// Says what is wrong with the spec (an operation the kind cannot apply to), if anything.
    pub fn problem(&self) -> Option<String> {
        let op = self.operation();
        if let Some(op) = op
            && op.split_once('.').is_none_or(|(s, o)| s.is_empty() || o.is_empty())
        {
            return Some(format!("operation `{op}`: give it as service.Operation, such as ec2.CopySnapshot"));
        }
        let service = op.and_then(|o| o.split_once('.')).map(|(s, _)| s);
        match self.kind {
            FaultKind::CopyError if op != Some("ec2.CopySnapshot") => {
                Some("copy_error applies to ec2.CopySnapshot (an EBS snapshot copy that ends in `error`)".into())
            }
            FaultKind::HangStopping if op != Some("ec2.StopInstances") => {
                Some("hang_stopping applies to ec2.StopInstances".into())
            }
            FaultKind::KmsDisabled if service == Some("ec2") && op != Some("ec2.CopySnapshot") => {
                Some("kms_disabled on EC2 applies to ec2.CopySnapshot (the copy fails, in `error`)".into())
            }
            FaultKind::InsufficientCapacity | FaultKind::KmsDisabled | FaultKind::PermissionRemoved
                if !matches!(service, Some("ec2" | "rds" | "dynamodb" | "cloudformation" | "route53")) =>
            {
                Some(format!(
                    "{} needs an operation of ec2, rds, dynamodb, cloudformation or route53",
                    self.kind.name()
                ))
            }
            FaultKind::DelayedAnswer if self.delay_s.is_some_and(|d| !(0.0..=3600.0).contains(&d)) => {
                Some("delay_s is seconds from 0 to 3600".into())
            }
            _ if self.delay_s.is_some() && self.kind != FaultKind::DelayedAnswer => {
                Some("delay_s applies to delayed_answer only".into())
            }
            _ => None,
        }
    }

    /// The proxy's matcher and fault for this spec (call [`FaultSpec::problem`] first: a spec
    /// with a problem gets the kind's nearest meaning).
    pub fn rule(&self) -> (Matcher, Fault) {
        let service = self.operation().and_then(|o| o.split_once('.')).map(|(s, _)| s).unwrap_or("");
        let matcher = Matcher {
            needle: self.resource.clone(),
            operation: self.operation().map(str::to_string),
            after: self.after,
            times: self.count.unwrap_or(self.kind.default_count()),
        };
        let fault = match self.kind {
            FaultKind::CopyError => {
                Fault::Stick { state: "error", message: "The snapshot copy failed (injected fault)." }
            }
            FaultKind::HangStopping => Fault::Stick { state: "stopping", message: "" },
            // EC2 copies encrypted snapshots asynchronously: a key it cannot use fails the copy
            // (`error`, the reason in StateMessage), not the call (EC2 API reference, Snapshot).
            FaultKind::KmsDisabled if service == "ec2" => Fault::Stick {
                state: "error",
                message: "The KMS key used to encrypt the snapshot copy is disabled (injected fault).",
            },
            FaultKind::InsufficientCapacity => {
                Fault::Refuse { code: capacity_code(operation_of(self)), message: NO_CAPACITY }
            }
            FaultKind::Throttling => Fault::Throttle,
            FaultKind::LostAnswer => Fault::DropAnswer,
            FaultKind::InternalError => Fault::InternalError,
            FaultKind::PermissionRemoved => {
                let code = match service {
                    "ec2" => "UnauthorizedOperation",
                    "dynamodb" => "AccessDeniedException",
                    _ => "AccessDenied",
                };
                Fault::Refuse {
                    code,
                    message: "You are not authorized to perform this operation (permission removed).",
                }
            }
            FaultKind::KmsDisabled => {
                let code = match service {
                    "rds" => "KMSKeyNotAccessibleFault",
                    "dynamodb" => "KMSAccessDeniedException",
                    _ => "KMSKeyNotAccessibleFault",
                };
                Fault::Refuse { code, message: "The KMS key is disabled." }
            }
            FaultKind::DelayedAnswer => Fault::DelayAnswer((self.delay_s.unwrap_or(65.0) * 1000.0) as u64),
        };
        (matcher, fault)
    }

    /// One line for people: `copy_error on ec2.CopySnapshot (us-east-1), 1 call`.
    pub fn describe(&self) -> String {
        let mut out = format!("{} on {}", self.kind.name(), self.operation().unwrap_or("every call"));
        if let Some(r) = &self.resource {
            out.push_str(&format!(" ({r})"));
        }
        if self.after > 0 {
            out.push_str(&format!(", after {}", self.after));
        }
        match self.count.unwrap_or(self.kind.default_count()) {
            usize::MAX => out.push_str(", every call"),
            1 => out.push_str(", 1 call"),
            n => out.push_str(&format!(", {n} calls")),
        }
        out
    }
}

const NO_CAPACITY: &str = "There is not enough capacity to fulfill your request in the requested Availability Zone.";

fn operation_of(spec: &FaultSpec) -> &str {
    spec.operation().unwrap_or("")
}

/// The capacity error AWS answers for the call.
fn capacity_code(operation: &str) -> &'static str {
    match operation {
        "ec2.CreateVolume" => "InsufficientVolumeCapacity",
        o if o.starts_with("ec2.") => "InsufficientInstanceCapacity",
        o if o.starts_with("rds.") => "InsufficientDBInstanceCapacity",
        _ => "InsufficientCapacity",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_kind() {
        let (m, f) = FaultSpec::of(FaultKind::CopyError).rule();
        assert_eq!((m.operation.as_deref(), m.times, m.after), (Some("ec2.CopySnapshot"), 1, 0));
        assert!(matches!(f, Fault::Stick { state: "error", .. }));
        let (_, f) = FaultSpec::of(FaultKind::KmsDisabled).rule();
        assert!(matches!(f, Fault::Stick { state: "error", .. }), "EC2 fails the copy, not the call");
        let (m, _) =
            FaultSpec { operation: Some("rds.ModifyDBInstance".into()), ..FaultSpec::of(FaultKind::PermissionRemoved) }
                .rule();
        assert_eq!(m.times, usize::MAX);
        let (_, f) = FaultSpec {
            operation: Some("rds.RestoreDBInstanceFromDBSnapshot".into()),
            ..FaultSpec::of(FaultKind::InsufficientCapacity)
        }
        .rule();
        assert!(matches!(f, Fault::Refuse { code: "InsufficientDBInstanceCapacity", .. }));
        let (_, f) = FaultSpec::of(FaultKind::DelayedAnswer).rule();
        assert!(f == Fault::DelayAnswer(65_000));
    }

    #[test]
    fn problems_name_what_is_wrong() {
        let wrong = FaultSpec { operation: Some("ec2.CreateVolume".into()), ..FaultSpec::of(FaultKind::CopyError) };
        assert!(wrong.problem().unwrap().contains("ec2.CopySnapshot"));
        assert!(FaultSpec::of(FaultKind::PermissionRemoved).problem().unwrap().contains("needs an operation"));
        let bare = FaultSpec { operation: Some("CopySnapshot".into()), ..FaultSpec::of(FaultKind::Throttling) };
        assert!(bare.problem().unwrap().contains("service.Operation"));
        assert!(FaultSpec::of(FaultKind::Throttling).problem().is_none());
        assert_eq!(FaultSpec::of(FaultKind::Throttling).describe(), "throttling on every call, 20 calls");
    }
}

//! Lost answers: a mutating call reaches AWS and its answer is lost on the way back (the
//! connection drops). Sending it again blindly could make a second snapshot, volume or export;
//! whatever the first one made must not be made twice. Each distinct mutating operation of a run
//! has its first answer dropped in turn by the fault proxy; the run must finish without help and
//! leave the end state of an undisturbed run (read with describe calls straight to moto).

use super::realism::{Fault, FaultRule, RealismProxy};
use super::support::{on_fresh_worlds, pilotlight, state_dir, uninterrupted};
use pilotlight::journal::{CallOutcome, Event};
use std::sync::atomic::Ordering;

/// How the fault proxy recognises a request of `operation` (query protocol for EC2, RDS and
/// CloudFormation; a target header for DynamoDB; the body's root element for Route 53).
fn needle(service: &str, operation: &str) -> String {
    match service {
        "dynamodb" => format!("DynamoDB_20120810.{operation}\r\n"),
        "route53" => format!("<{operation}Request"),
        _ => format!("Action={operation}&"),
    }
}

/// Drops the first answer to each distinct mutating operation of the run of `args`, one run per
/// operation on `workers` moto servers side by side; returns the operations.
pub fn lose_each_answer<S: PartialEq + std::fmt::Debug + Sync>(
    parts: &[pilotlight::sandbox::seed::Part],
    args: &[&str],
    workers: usize,
    end_state: impl Fn(&str) -> S + Sync,
) -> Vec<String> {
    spoil_each_answer(parts, args, workers, Fault::DropAnswer, end_state)
}

/// [`lose_each_answer`] with every run going through the AWS-rules layer (the answers the layer
/// gives itself, where moto cannot model a call, are lost alike).
pub fn lose_each_answer_under_aws_rules<S: PartialEq + std::fmt::Debug + Sync>(
    parts: &[pilotlight::sandbox::seed::Part],
    args: &[&str],
    workers: usize,
    end_state: impl Fn(&str) -> S + Sync,
) -> Vec<String> {
    spoil_answers(parts, args, (workers, true), Fault::DropAnswer, end_state)
}

/// Like [`lose_each_answer`], with another fault that leaves the call's outcome unknown
/// (`Fault::InternalError`: it happened, and the answer is an internal error).
pub fn spoil_each_answer<S: PartialEq + std::fmt::Debug + Sync>(
    parts: &[pilotlight::sandbox::seed::Part],
    args: &[&str],
    workers: usize,
    fault: Fault,
    end_state: impl Fn(&str) -> S + Sync,
) -> Vec<String> {
    spoil_answers(parts, args, (workers, false), fault, end_state)
}

fn spoil_answers<S: PartialEq + std::fmt::Debug + Sync>(
    parts: &[pilotlight::sandbox::seed::Part],
    args: &[&str],
    (workers, rules): (usize, bool),
    fault: Fault,
    end_state: impl Fn(&str) -> S + Sync,
) -> Vec<String> {
    let (entries, expected) = if rules {
        super::support::uninterrupted_under_aws_rules(parts, args, &end_state)
    } else {
        uninterrupted(parts, args, &end_state)
    };
    let mut ops: Vec<(String, String)> = Vec::new();
    for e in &entries {
        if let Event::AwsCall { service, operation, mutating: true, outcome: CallOutcome::Sending, .. } = &e.event {
            let op = (service.clone(), operation.clone());
            if !ops.contains(&op) {
                ops.push(op);
            }
        }
    }
    on_fresh_worlds(&ops, parts, workers, |server, (service, op)| {
        let needle: &'static str = Box::leak(needle(service, op).into_boxed_str());
        let rule = FaultRule { needle, times: 1, fault };
        let proxy = if rules {
            RealismProxy::with_aws_rules(server.port, vec![rule])
        } else {
            RealismProxy::start(server.port, rule)
        };
        let state = state_dir();
        let mut cmd = pilotlight(state.path());
        cmd.args(["run"]).args(args);
        cmd.args(["--headless", "--auto-approve", "--endpoint-url", &proxy.endpoint_url()]);
        let out = cmd.output().expect("run pilotlight");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "the run with the answer to {op} spoiled: {stdout}");
        assert_eq!(proxy.faults.load(Ordering::SeqCst), 1, "the answer to {op} ({needle:?}) was spoiled");
        assert_eq!(end_state(&server.endpoint_url()), expected, "the end state with the answer to {op} spoiled");
    });
    ops.into_iter().map(|(_, op)| op).collect()
}

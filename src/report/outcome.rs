//! A run's outcome in a few lines, for where the responder's eye is when it ends: the console's
//! current pane and the line mode's last lines. RTO and RPO against their targets, what was kept,
//! what to look at, and the command that writes the whole report.

use super::model::{Report, Verdict};
use super::time::human;

/// The outcome lines of `report` (its run finished, failed or was stopped).
pub fn lines(report: &Report) -> Vec<String> {
    let o = &report.objectives;
    let mut out = Vec::new();
    let against = |verdict: Verdict, target: Option<&str>| match (verdict, target) {
        (Verdict::Ok, Some(t)) => format!("within the {t} target"),
        (Verdict::Missed, Some(t)) => format!("MISSED the {t} target"),
        _ => "no target".to_string(),
    };
    out.push(match o.rto.measured_ms {
        Some(ms) => format!("RTO {} ({})", human(ms as i64), against(o.rto.verdict, o.rto.target.as_deref())),
        None => format!("RTO not measured{}", o.rto.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()),
    });
    let measured: Vec<_> = o.rpo.iter().filter(|p| p.measured_ms.is_some()).collect();
    match measured.iter().max_by_key(|p| p.measured_ms) {
        Some(worst) => {
            let missed = measured.iter().filter(|p| p.verdict == Verdict::Missed).count();
            let verdict = if missed > 0 { Verdict::Missed } else { worst.verdict };
            out.push(format!(
                "RPO {} at worst ({}), over {} resource{}{}",
                human(worst.measured_ms.unwrap_or_default()),
                against(verdict, o.rpo_target.as_deref()),
                measured.len(),
                if measured.len() == 1 { "" } else { "s" },
                if missed > 0 { format!("; {missed} missed it") } else { String::new() }
            ));
        }
        None if o.rpo.is_empty() => out.push("RPO not measured: no failback reported a recovery point".into()),
        None => out.push(format!("RPO not measured for any of {} resources", o.rpo.len())),
    }
    if report.retained.is_empty() {
        out.push("Kept nothing".into());
    } else {
        let mut kinds: Vec<(String, usize)> = Vec::new();
        for item in &report.retained {
            match kinds.iter_mut().find(|(k, _)| *k == item.kind) {
                Some((_, n)) => *n += 1,
                None => kinds.push((item.kind.clone(), 1)),
            }
        }
        let kinds: Vec<String> = kinds.into_iter().map(|(k, n)| format!("{n} {k}")).collect();
        out.push(format!(
            "Kept {} item{} ({}); the report says why and how to delete each",
            report.retained.len(),
            if report.retained.len() == 1 { "" } else { "s" },
            kinds.join(", ")
        ));
    }
    if !report.warnings.is_empty() {
        out.push(format!(
            "{} warning{} in the report",
            report.warnings.len(),
            if report.warnings.len() == 1 { "" } else { "s" }
        ));
    }
    out.push(format!("Report: pilotlight report {}", report.run.run_id));
    out
}

//! Line-by-line gates on the terminal: the operator front end until the console exists, and the
//! way `--headless` runs take decisions from standard input. End of input aborts (resumable).

use crate::engine::{FailureAnswer, FailureRequest, GateAnswer, GateRequest, Operator};
use crate::runbook::Gate;
use std::io::Write;
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};

pub struct LinePrompt {
    lines: Lines<BufReader<Stdin>>,
}

impl Default for LinePrompt {
    fn default() -> Self {
        LinePrompt { lines: BufReader::new(tokio::io::stdin()).lines() }
    }
}

impl LinePrompt {
    async fn ask(&mut self, prompt: &str) -> Option<String> {
        print!("{prompt}");
        let _ = std::io::stdout().flush();
        match self.lines.next_line().await {
            Ok(Some(l)) => Some(l.trim().to_string()),
            _ => {
                println!();
                None
            }
        }
    }
}

impl Operator for LinePrompt {
    async fn gate(&mut self, r: GateRequest<'_>) -> GateAnswer {
        println!();
        println!("── step {}/{}: {} [{}]", r.index + 1, r.total, r.title, r.step.id);
        for line in r.instructions.trim().lines() {
            println!("   {line}");
        }
        if let Some(a) = &r.action {
            println!("   action: {a}");
        }
        match &r.gate {
            Gate::TypeToConfirm(text) => {
                let Some(typed) = self.ask(&format!("   type `{text}` to proceed (:skip REASON, :abort): ")).await
                else {
                    return GateAnswer::Abort;
                };
                match special(&typed) {
                    Some(answer) => answer,
                    None => {
                        if &typed != text {
                            println!("   does not match; nothing was done");
                        }
                        GateAnswer::Approve { typed: Some(typed), checked: Vec::new() }
                    }
                }
            }
            Gate::Checklist(items) => {
                let mut checked = Vec::new();
                for item in items {
                    loop {
                        let Some(a) = self.ask(&format!("   [ ] {item}  done? (y / :skip REASON / :abort): ")).await
                        else {
                            return GateAnswer::Abort;
                        };
                        if let Some(answer) = special(&a) {
                            return answer;
                        }
                        if matches!(a.as_str(), "y" | "yes") {
                            checked.push(item.clone());
                            break;
                        }
                    }
                }
                GateAnswer::Approve { typed: None, checked }
            }
            Gate::Confirm | Gate::None => loop {
                let Some(a) = self.ask("   proceed? (y / :skip REASON / :abort): ").await else {
                    return GateAnswer::Abort;
                };
                if let Some(answer) = special(&a) {
                    return answer;
                }
                if matches!(a.as_str(), "y" | "yes") {
                    return GateAnswer::Approve { typed: None, checked: Vec::new() };
                }
            },
        }
    }

    async fn failure(&mut self, r: FailureRequest<'_>) -> FailureAnswer {
        println!("── step {} failed (attempt {}): {}", r.step.id, r.attempt, r.error);
        let question = if r.can_roll_back {
            "   retry, skip, abort, or roll back (primary as before this step, then stop)? (r / :skip REASON / :abort / :rollback): "
        } else {
            "   retry, skip or abort? (r / :skip REASON / :abort): "
        };
        loop {
            let Some(a) = self.ask(question).await else {
                return FailureAnswer::Abort;
            };
            if a == ":rollback" && r.can_roll_back {
                return FailureAnswer::Rollback;
            }
            match special(&a) {
                Some(GateAnswer::Skip { reason }) => return FailureAnswer::Skip { reason },
                Some(_) => return FailureAnswer::Abort,
                None if matches!(a.as_str(), "r" | "retry") => return FailureAnswer::Retry,
                None => {}
            }
        }
    }
}

/// `:skip REASON` and `:abort`, accepted at every prompt.
fn special(input: &str) -> Option<GateAnswer> {
    if input == ":abort" {
        return Some(GateAnswer::Abort);
    }
    let reason = input.strip_prefix(":skip")?.trim();
    Some(GateAnswer::Skip { reason: if reason.is_empty() { "skipped by operator".into() } else { reason.into() } })
}

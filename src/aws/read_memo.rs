//! Answers a step's action may take instead of asking AWS again, in two cases:
//!
//! - **The preflight's reads.** The preflight runs before the gate and the action right after it
//!   (`--auto-approve`, a quick decision); the action's first sub-step reads what the preflight
//!   has just read (both sides of each resource, its members, its settings).
//! - **A wait's last answer.** A wait polls until what it waits for is there; the next sub-step
//!   often begins by reading the same thing (the restored instance, the table's settings). The
//!   answer that ended the wait is that read, made a moment before.
//!
//! On AWS each of those round trips costs 50–300 ms of the window. What keeps it from hiding a
//! change: an answer is taken at most once, only while it is younger than [`FRESH`] (longer, and
//! the world may have moved while the operator read the checks: the action asks AWS), and every
//! answer kept is dropped when the step sends a mutating call (an answer kept after it, by a wait
//! that followed, is the world after the change). A wait's own polls never take an answer. A
//! read that failed (not found, refused) is not kept. A memo is used only where every
//! environment has a region of its own ([`ReadMemo::for_regions`]): a request's region then says
//! which environment's credentials it was sent with, so an answer from one account is never
//! taken for another's.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long after a read (the preflight's, a wait's) its answer stands for the action's.
pub const FRESH: Duration = Duration::from_secs(10);

/// A request: its operation, its region and its parameters (the SDK's `Debug` of its input).
pub type Key = String;

/// One step's kept answers: its preflight's, then each wait's latest.
#[derive(Default)]
pub struct ReadMemo {
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    answers: HashMap<Key, (Instant, Box<dyn Any + Send + Sync>)>,
    /// The same request answered twice by the preflight: which answer is the action's is not
    /// known, so neither.
    twice: Vec<Key>,
}

/// How a log uses its memo: the preflight keeps its answers, a wait keeps its latest, the
/// action takes them.
#[derive(Clone, Copy)]
pub enum MemoUse<'a> {
    Keep(&'a ReadMemo),
    KeepLatest(&'a ReadMemo),
    Take(&'a ReadMemo),
}

impl ReadMemo {
    /// A memo for a run whose environments are in `regions`; `None` when two share a region.
    pub fn for_regions<'r>(regions: impl IntoIterator<Item = &'r str>) -> Option<ReadMemo> {
        let regions: Vec<&str> = regions.into_iter().collect();
        let mut distinct = regions.clone();
        distinct.sort_unstable();
        distinct.dedup();
        (distinct.len() == regions.len()).then(ReadMemo::default)
    }

    /// The key of a request.
    pub fn key(service: &str, operation: &str, region: &str, request: &dyn std::fmt::Debug) -> Key {
        format!("{service}.{operation} {region} {request:?}")
    }

    /// Keeps an answer (a second answer to the same request makes the request's answer unknown).
    pub fn keep<T: Clone + Send + Sync + 'static>(&self, key: Key, answer: &T) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.answers.contains_key(&key) || held.twice.contains(&key) {
            held.answers.remove(&key);
            held.twice.push(key);
            return;
        }
        held.answers.insert(key, (Instant::now(), Box::new(answer.clone())));
    }

    /// Keeps a wait's answer in place of any earlier one (the latest poll is the world now).
    pub fn keep_latest<T: Clone + Send + Sync + 'static>(&self, key: Key, answer: &T) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.twice.retain(|k| *k != key);
        held.answers.insert(key, (Instant::now(), Box::new(answer.clone())));
    }

    /// The answer kept for this request, once, while fresh and before any mutating call since.
    pub fn take<T: Clone + 'static>(&self, key: &str) -> Option<T> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let (at, answer) = held.answers.remove(key)?;
        if at.elapsed() >= FRESH {
            return None;
        }
        answer.downcast::<T>().ok().map(|a| *a)
    }

    /// The step is about to change something: nothing read before is taken.
    pub fn clear(&self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.answers.clear();
        held.twice.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a memo that gives an answer twice, one kept before a mutating call, the preflight's
    /// answer to a request it made twice (which one is the action's?), a wait's older answer
    /// instead of its latest, or a memo where two environments share a region.
    #[test]
    fn an_answer_is_taken_once_before_any_change_and_only_when_it_is_unambiguous() {
        let memo = ReadMemo::for_regions(["us-east-1", "us-west-2"]).expect("distinct regions");
        let key = ReadMemo::key("rds", "DescribeDBInstances", "us-east-1", &"orders-db");
        memo.keep(key.clone(), &7u32);
        assert_eq!(memo.take::<u32>(&key), Some(7));
        assert_eq!(memo.take::<u32>(&key), None, "once");
        memo.keep(key.clone(), &7u32);
        memo.keep(key.clone(), &8u32);
        assert_eq!(memo.take::<u32>(&key), None, "answered twice: neither");
        let other = ReadMemo::key("rds", "DescribeDBInstances", "us-west-2", &"orders-db");
        memo.keep(other.clone(), &9u32);
        memo.clear();
        assert_eq!(memo.take::<u32>(&other), None, "after a mutating call");
        memo.keep_latest(other.clone(), &10u32);
        memo.keep_latest(other.clone(), &11u32);
        assert_eq!(memo.take::<u32>(&other), Some(11), "a wait's latest answer, kept after the change");
        assert!(ReadMemo::for_regions(["us-east-1", "us-east-1"]).is_none(), "two accounts in one region");
    }
}

//! The identity of a sub-step: which resource of the step it works on, and which part of the
//! work it is.
//!
//! In the journal a sub-step id is one string, `resource/part` (`orders_db/restore`), or `part`
//! for a step-wide one (`upsert`), as it always was, so older journals still read. In code it is
//! typed: the report and the console ask for the resource instead of splitting strings, and every
//! AWS call carries the id of the sub-step that made it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubId {
    /// The runbook resource the sub-step works on; `None` for a step-wide sub-step.
    pub resource: Option<String>,
    pub part: String,
}

impl SubId {
    /// A sub-step of one resource (`orders_db` / `restore`).
    pub fn of(resource: impl Into<String>, part: impl Into<String>) -> SubId {
        SubId { resource: Some(resource.into()), part: part.into() }
    }

    /// A step-wide sub-step (`upsert`, `record-old-value`).
    pub fn step(part: impl Into<String>) -> SubId {
        SubId { resource: None, part: part.into() }
    }

    /// Reads the journal's form: the text before the first `/` is the resource.
    pub fn parse(text: &str) -> SubId {
        match text.split_once('/') {
            Some((resource, part)) if !resource.is_empty() => SubId::of(resource, part),
            _ => SubId::step(text),
        }
    }
}

impl fmt::Display for SubId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resource {
            Some(r) => write!(f, "{r}/{}", self.part),
            None => f.write_str(&self.part),
        }
    }
}

impl Serialize for SubId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SubId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SubId, D::Error> {
        let text = String::deserialize(d)?;
        Ok(SubId::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a journal form that does not read back as the same id (a resumed run would not
    /// find its done sub-steps), and a step-wide id taken for a resource's.
    #[test]
    fn the_journal_form_reads_back_as_the_same_id() {
        for id in [SubId::of("orders_db", "restore"), SubId::step("upsert"), SubId::of("app", "attach/xvdf")] {
            let json = serde_json::to_value(&id).unwrap();
            assert!(json.is_string());
            assert_eq!(serde_json::from_value::<SubId>(json).unwrap(), id);
        }
        assert_eq!(SubId::parse("upsert").resource, None);
        assert_eq!(SubId::parse("/odd").resource, None, "an empty resource is no resource");
        assert_eq!(SubId::parse("worker/stop-primary"), SubId::of("worker", "stop-primary"));
    }
}

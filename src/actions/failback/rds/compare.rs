//! What still differs from primary's recorded configuration once the failback re-applied what it
//! could: compared field by field over everything recorded (the record's own fields, so a field
//! added to the record is compared without a change here), each difference with the reason it
//! remains. A difference is reported, never hidden: the step says what is not as it was.

use serde::Serialize;
use serde_json::Value;

/// `field: recorded -> now (reason)` for every recorded field that differs now. `reasons` names
/// the fields that may differ and why; any other field differs for a reason this version does
/// not know, and says so.
pub fn remaining<T: Serialize>(recorded: &T, now: &T, reasons: &[(&str, &str)]) -> Vec<String> {
    let (Ok(Value::Object(was)), Ok(Value::Object(is))) = (serde_json::to_value(recorded), serde_json::to_value(now))
    else {
        return Vec::new();
    };
    was.iter()
        .filter(|(field, value)| is.get(*field) != Some(value))
        .map(|(field, value)| {
            let why = reasons
                .iter()
                .find(|(f, _)| f == field)
                .map_or("not re-applied by this version of pilotlight: set it by hand if it matters", |(_, why)| why);
            format!("{field}: {value} -> {} ({why})", is.get(field).unwrap_or(&Value::Null))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Config {
        size: i32,
        class: &'static str,
        logs: Vec<&'static str>,
    }

    #[test]
    fn every_recorded_field_that_differs_is_named_with_its_reason() {
        let was = Config { size: 100, class: "db.t3.micro", logs: vec!["postgresql"] };
        let is = Config { size: 150, class: "db.t3.micro", logs: vec![] };
        let out = remaining(&was, &is, &[("size", "storage never shrinks")]);
        assert_eq!(
            out,
            [
                "size: 100 -> 150 (storage never shrinks)",
                "logs: [\"postgresql\"] -> [] (not re-applied by this version of pilotlight: set it by hand if it matters)"
            ]
        );
        assert!(remaining(&was, &was, &[]).is_empty());
    }
}

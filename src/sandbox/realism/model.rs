//! How long AWS takes: the figures of `assets/realism-model.json` (each with its public source),
//! and the pace that turns modelled time into the sandbox's wall-clock time.

use indexmap::IndexMap;
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// The bundled figures. A test proves every operation the sandbox times has one.
const BUNDLED: &str = include_str!("../../../assets/realism-model.json");

/// The time model: per operation (`ec2.CreateSnapshot`, `rds.ModifyDBInstance.rename`, ...), how
/// long it takes on AWS.
#[derive(Debug, Clone, Deserialize)]
pub struct Model {
    pub about: String,
    pub operations: IndexMap<String, Figure>,
}

/// One operation's duration: `fixed_s + per_gib_s × GiB`, at most `max_s`.
#[derive(Debug, Clone, Deserialize)]
pub struct Figure {
    pub fixed_s: f64,
    pub per_gib_s: f64,
    pub max_s: Option<f64>,
    pub source: String,
    pub basis: String,
}

impl Figure {
    /// The modelled duration for `gib` GiB (the size that matters to this operation).
    pub fn duration(&self, gib: f64) -> Duration {
        let secs = self.fixed_s + self.per_gib_s * gib.max(0.0);
        Duration::from_secs_f64(self.max_s.map_or(secs, |m| secs.min(m)).max(0.0))
    }
}

impl Model {
    /// The figures bundled with the tool.
    pub fn bundled() -> Model {
        // The file is part of the source tree; a test parses it, so this cannot fail at run time.
        serde_json::from_str(BUNDLED).expect("assets/realism-model.json is valid (see its test)")
    }

    /// The modelled duration of `operation` on `gib` GiB; zero for an operation without a figure.
    pub fn duration(&self, operation: &str, gib: f64) -> Duration {
        self.operations.get(operation).map_or(Duration::ZERO, |f| f.duration(gib))
    }
}

/// How fast the sandbox's clock runs against AWS's: `instant` (every operation done at once, as
/// moto does: most tests), or a factor (`1` real time, `60` a modelled minute per second).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Pace {
    #[default]
    Instant,
    Factor(f64),
}

/// The demo's pace: the bundled failback's modelled hour and a half in about a minute and a half.
pub const DEMO_PACE: Pace = Pace::Factor(60.0);

impl Pace {
    /// Wall-clock time for `modelled` time at this pace.
    pub fn wall(self, modelled: Duration) -> Duration {
        match self {
            Pace::Instant => Duration::ZERO,
            Pace::Factor(f) => modelled.div_f64(f),
        }
    }

    /// The factor a wall-clock duration is multiplied by to give modelled time; `None` when
    /// instant.
    pub fn factor(self) -> Option<f64> {
        match self {
            Pace::Instant => None,
            Pace::Factor(f) => Some(f),
        }
    }
}

impl std::str::FromStr for Pace {
    type Err = String;

    fn from_str(s: &str) -> Result<Pace, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("instant") {
            return Ok(Pace::Instant);
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && (0.01..=100_000.0).contains(&f) => Ok(Pace::Factor(f)),
            _ => Err(format!(
                "pace {s:?}: expected `instant` or a factor from 0.01 to 100000 (1 is real time, 60 a minute per second)"
            )),
        }
    }
}

impl fmt::Display for Pace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pace::Instant => f.write_str("instant"),
            Pace::Factor(x) => write!(f, "{x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a figure without a source, a negative one, or a bundled file that does not parse.
    #[test]
    fn every_bundled_figure_has_a_source_and_a_sane_size() {
        let model = Model::bundled();
        assert!(!model.operations.is_empty());
        for (name, f) in &model.operations {
            assert!(f.source.starts_with("https://"), "{name}: source {:?}", f.source);
            assert!(!f.basis.trim().is_empty(), "{name}: no basis");
            assert!(f.fixed_s >= 0.0 && f.per_gib_s >= 0.0, "{name}: negative figure");
            assert!(f.duration(0.0) <= f.duration(100.0), "{name}: larger is faster");
        }
    }

    #[test]
    fn pace_scales_modelled_time_and_refuses_nonsense() {
        assert_eq!("instant".parse::<Pace>().unwrap(), Pace::Instant);
        assert_eq!("60".parse::<Pace>().unwrap().wall(Duration::from_secs(120)), Duration::from_secs(2));
        assert_eq!(Pace::Instant.wall(Duration::from_secs(120)), Duration::ZERO);
        for bad in ["0", "-1", "fast", "NaN", "1e9"] {
            assert!(bad.parse::<Pace>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cap_bounds_a_large_operation() {
        let f =
            Figure { fixed_s: 10.0, per_gib_s: 1.0, max_s: Some(50.0), source: String::new(), basis: String::new() };
        assert_eq!(f.duration(20.0), Duration::from_secs(30));
        assert_eq!(f.duration(1000.0), Duration::from_secs(50));
    }
}

//! Times and durations as synack writes them: exact decimal numbers in JSON.

use std::time::Duration;

use serde::ser::{Serialize, Serializer};

use crate::model::time::Timestamp;

/// A timestamp in JSON: epoch seconds with all nine fractional digits, as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct JsonTime(pub Timestamp);

impl Serialize for JsonTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        exact_number(&self.0.to_string(), s)
    }
}

/// A duration in milliseconds with nanosecond digits, as an exact JSON number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub Duration);

impl Millis {
    pub fn as_f64(self) -> f64 {
        self.0.as_nanos() as f64 / 1e6
    }
}

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = self.0.as_nanos();
        write!(f, "{}.{:06}", ns / 1_000_000, ns % 1_000_000)
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        exact_number(&self.to_string(), s)
    }
}

/// A duration in seconds with nanosecond digits, as an exact JSON number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:09}", self.0.as_secs(), self.0.subsec_nanos())
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        exact_number(&self.to_string(), s)
    }
}

fn exact_number<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    match text.parse::<serde_json::Number>() {
        Ok(n) => n.serialize(s),
        Err(_) => s.serialize_str(text),
    }
}

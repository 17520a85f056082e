use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant as nanoseconds since the Unix epoch (UTC).
///
/// All of kdr's time logic (windows, baselines, throttles) runs on this event time, never on
/// the wall clock, so a replay gives the same alerts as live. Serialized as RFC 3339.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A span of event time in nanoseconds.
pub type Nanos = i64;

pub const NANOS_PER_SEC: i64 = 1_000_000_000;

#[derive(Debug, thiserror::Error)]
#[error("invalid timestamp {value:?}: expected RFC 3339 (e.g. 2024-05-01T12:00:00.123456Z)")]
pub struct TimestampError {
    pub value: String,
}

impl Timestamp {
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs * NANOS_PER_SEC)
    }

    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        let parsed = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| TimestampError {
            value: text.chars().take(64).collect(),
        })?;
        parsed
            .timestamp_nanos_opt()
            .map(Timestamp)
            .ok_or_else(|| TimestampError {
                value: text.chars().take(64).collect(),
            })
    }

    pub fn secs(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SEC)
    }

    pub fn saturating_add(self, span: Nanos) -> Self {
        Timestamp(self.0.saturating_add(span))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dt = chrono::DateTime::from_timestamp_nanos(self.0);
        write!(
            f,
            "{}",
            dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_nanoseconds() {
        let ts = Timestamp::parse_rfc3339("2024-05-01T12:00:00.123456789Z").unwrap();
        assert_eq!(ts.to_string(), "2024-05-01T12:00:00.123456789Z");
        let offset = Timestamp::parse_rfc3339("2024-05-01T14:00:00+02:00").unwrap();
        assert_eq!(offset.to_string(), "2024-05-01T12:00:00Z");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
        assert!(Timestamp::parse_rfc3339("").is_err());
    }
}
